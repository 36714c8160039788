"""Input checks shared by every celib function.

Each check raises ``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind,
bad value) with a message that names the argument and quotes the offending value,
and each runs before any arithmetic. ``assert`` is never used for user input, since
``python -O`` removes it.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def _where(mask: np.ndarray) -> str:
    """Describe the first True position of ``mask`` as ``'at index (i, j)'``."""
    idx = np.unravel_index(int(np.flatnonzero(mask.ravel())[0]), mask.shape)
    if not idx:
        return ""
    return f" at index {tuple(int(i) for i in idx) if len(idx) > 1 else int(idx[0])}"


def float_array(x, name: str, *, check_nan: bool = True) -> tuple[np.ndarray, np.dtype]:
    """Return ``x`` as a floating array to compute with, and the dtype to return.

    float32 and float64 are kept; float16 is computed in float32 and returned as
    float16; integers compute (and return) in float64. Booleans, complex numbers,
    strings and objects are refused. NaN anywhere is refused.
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        out_dtype = arr.dtype
        if arr.dtype.itemsize < 4:
            arr = arr.astype(np.float32)
    elif kind in "iu":
        out_dtype = np.dtype(np.float64)
        arr = arr.astype(np.float64)
    else:
        raise TypeError(
            f"{name} must be an array of real numbers, got dtype {arr.dtype}"
            + (f" (value {x!r})" if arr.size <= 8 else "")
        )
    if check_nan:
        check_no_nan(arr, name)
    return arr, out_dtype


def _extremes(arr: np.ndarray):
    """(min, max) of a non-empty array, with no temporary array; NaN if it holds one."""
    return arr.min(), arr.max()


def check_no_nan(arr: np.ndarray, name: str) -> None:
    if arr.size == 0 or not np.isnan(_extremes(arr)).any():
        return  # min and max propagate NaN: no mask needed in the common case
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(f"{name} must not contain NaN; found nan{_where(nan)}")


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.size == 0 or np.isfinite(_extremes(arr)).all():
        return
    check_no_nan(arr, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        value = arr[np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), arr.shape)]
        raise ValueError(f"{name} must be finite; found {float(value)}{_where(bad)}")


def check_unit_interval(arr: np.ndarray, name: str) -> None:
    """Values must lie in [0, 1] (probabilities); NaN and infinities are refused first."""
    if arr.size == 0:
        return
    lo, hi = _extremes(arr)
    if lo >= 0 and hi <= 1:
        return  # which also means finite
    check_finite(arr, name)
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        value = arr[np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), arr.shape)]
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; found {float(value)!r}{_where(bad)}"
        )


def check_reduction(reduction) -> str:
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be a string ('mean', 'sum' or 'none'), got {reduction!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def check_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_real(value, name: str, low: float, high: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not low <= value <= high:  # also False for nan
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    return value


def class_weight(weight, n_classes: int, dtype: np.dtype) -> np.ndarray | None:
    """A 1-D vector of ``n_classes`` finite, non-negative weights, or None."""
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.dtype.kind not in "fiu":
        raise TypeError(f"weight must be an array of real numbers, got dtype {w.dtype}")
    if w.shape != (n_classes,):
        raise ValueError(
            f"weight must have shape ({n_classes},), one weight per class, got shape {w.shape}"
        )
    w = w.astype(dtype)
    check_finite(w, "weight")
    check_non_negative(w, "weight")
    return w


def broadcast_weight(weight, shape: tuple, dtype: np.dtype, name: str = "weight"):
    """A finite, non-negative array that broadcasts to ``shape``, or None."""
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {w.dtype}")
    try:
        ok = np.broadcast_shapes(w.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} of shape {w.shape} does not broadcast to the input's shape {tuple(shape)}")
    w = w.astype(dtype)
    check_finite(w, name)
    check_non_negative(w, name)
    return w


def check_non_negative(arr: np.ndarray, name: str) -> None:
    if arr.size == 0 or arr.min() >= 0:
        return
    bad = arr < 0
    if bad.any():
        value = arr[np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), arr.shape)]
        raise ValueError(f"{name} must be non-negative; found {float(value)!r}{_where(bad)}")


def as_target_array(target) -> np.ndarray:
    """``target`` as an array; an empty list (or tuple) is an empty array of class indices
    (int64), not of float64 as ``np.asarray([])`` would make it."""
    t = np.asarray(target)
    if t.size == 0 and not isinstance(target, np.ndarray):
        t = t.astype(np.int64)
    return t


def class_targets(
    target: np.ndarray, n_classes: int, shape: tuple, ignore_index: int | None, name: str = "target"
) -> np.ndarray:
    """Integer class indices of ``shape``, each in [0, n_classes) or equal to ignore_index."""
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integer class indices (or, with the input's shape, "
            f"floating-point probabilities); got dtype {target.dtype}"
        )
    if target.shape != tuple(shape):
        raise ValueError(
            f"{name} of class indices must have shape {tuple(shape)} for an input of this shape, "
            f"got shape {target.shape}"
        )
    if target.size == 0 or (target.min() >= 0 and target.max() < n_classes):
        return target  # the common case, checked without a temporary array
    bad = (target < 0) | (target >= n_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bad.any():
        value = int(target[np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), target.shape)])
        also = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(
            f"{name} must hold class indices in [0, {n_classes - 1}]{also}; found {value}{_where(bad)}"
        )
    return target


def warn_empty_mean(func: str, why: str, stacklevel: int = 3) -> None:
    """Warn that a mean is 0/0 (celib returns nan *with* this warning; PyTorch silently)."""
    warnings.warn(f"{func}: reduction='mean' over {why} is 0/0; returning nan", RuntimeWarning, stacklevel=stacklevel)
