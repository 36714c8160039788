r"""Distribution Focal Loss (DFL), from Generalized Focal Loss (Li et al., NeurIPS 2020).

A continuous target :math:`y` between two bins :math:`y_i \le y \le y_{i+1}` is
learned as a distribution over bins: DFL is cross-entropy against the "two-hot"
target that puts :math:`y_{i+1} - y` on bin :math:`i` and :math:`y - y_i` on bin
:math:`i+1`, and the prediction is decoded as the expected bin. Book chapter 6.

Bins lie on the *last* axis (as in mmdetection and ultralytics), unlike
:func:`~celib.multiclass.cross_entropy`, whose class axis is 1.
"""

from __future__ import annotations

import numpy as np

from .activations import softmax
from ._reduction import finish_reduction
from ._blocks import NonFiniteRow, exp_rows, exp_rows_shifted, neg_log_prob, row_offsets, run_in_row_blocks, sums_are_safe, take
from ._validation import (
    broadcast_weight,
    check_finite,
    check_int,
    check_reduction,
    float_array,
)

__all__ = ["distribution_focal_loss", "distribution_focal_loss_grad", "two_hot", "dfl_decode"]


def _check_n_bins(n_bins: int, name: str) -> int:
    if n_bins < 2:
        raise ValueError(f"{name} must have at least 2 bins on its last axis, got {n_bins}")
    return n_bins


def _bin_targets(target, n_bins: int, shape: tuple | None, dtype) -> np.ndarray:
    t = np.asarray(target)
    if t.dtype.kind not in "fiu":
        raise TypeError(f"target must hold real numbers (bin positions), got dtype {t.dtype}")
    if shape is not None and t.shape != tuple(shape):
        raise ValueError(
            f"target must have shape {tuple(shape)} (the logits' shape without the bin axis), "
            f"got shape {t.shape}"
        )
    t = t.astype(dtype, copy=False)
    check_finite(t, "target")
    bad = (t < 0) | (t > n_bins - 1)
    if bad.any():
        value = float(t[np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), t.shape)])
        raise ValueError(f"target must lie in [0, {n_bins - 1}] (the bin range), found {value!r}")
    return t


def _neighbours(t: np.ndarray, n_bins: int):
    """Left bin ``min(floor(y), n_bins-2)``, right bin, and their weights (GFL formula).

    The weights keep the target's float dtype; ``y - left`` is exact, so ``1 - (y - left)``
    is the correctly rounded ``right - y``."""
    left = np.minimum(np.floor(t), n_bins - 2)
    w_right = t - left
    left = left.astype(np.intp)
    return left, left + 1, 1 - w_right, w_right


def two_hot(target, n_bins: int) -> np.ndarray:
    r"""The two-bin target distribution of continuous targets.

    A target :math:`y` with :math:`y_i \le y \le y_{i+1}` (bins at the integers) gets
    weight :math:`y_{i+1} - y` on bin :math:`i` and :math:`y - y_i` on bin :math:`i+1`;
    its expected bin is exactly :math:`y`.

    Parameters
    ----------
    target : array_like
        Positions in ``[0, n_bins - 1]``, any shape.
    n_bins : int
        Number of bins, at least 2.

    Returns
    -------
    ndarray
        Shape ``target.shape + (n_bins,)``; rows sum to 1.

    Examples
    --------
    >>> print(two_hot([2.3, 4.0], 5))
    [[0.  0.  0.7 0.3 0. ]
     [0.  0.  0.  0.  1. ]]
    """
    n_bins = _check_n_bins(check_int(n_bins, "n_bins"), "n_bins")
    t = _bin_targets(target, n_bins, None, np.float64 if np.asarray(target).dtype != np.float32 else np.float32)
    left, right, w_left, w_right = _neighbours(t, n_bins)
    out = np.zeros(t.shape + (n_bins,), t.dtype)
    np.put_along_axis(out, left[..., None], w_left[..., None], axis=-1)
    np.put_along_axis(out, right[..., None], w_right[..., None], axis=-1)
    return out


def _prepare_dfl(logits, target, weight, reduction):
    reduction = check_reduction(reduction)
    x, out_dtype = float_array(logits, "logits", check_nan=False)  # the blocked pass checks
    if x.ndim == 0:
        raise ValueError("logits must have a last axis of bins, got a scalar")
    n_bins = _check_n_bins(x.shape[-1], "logits")
    t = _bin_targets(target, n_bins, x.shape[:-1], x.dtype)
    w = broadcast_weight(weight, t.shape, x.dtype)
    return x, t, w, reduction, out_dtype, n_bins


def _dfl_pass(x2, t1, w1, *, loss_out=None, grad=None, grad_scale=1.0) -> float:
    """One blocked pass over (M, n_bins) logits: per-row losses and/or the gradient.

    Per block: ``e = exp(x)`` and row sums ``s`` (shifted by each row's maximum only if
    needed); the loss is ``w_l log(s / e_l) + w_r log(s / e_r)`` (with a shift,
    ``log s - w_l (x_l - m) - w_r (x_r - m)``), and the gradient
    ``weight * (e / s - two_hot)``. Returns the sum of the (weighted) losses.
    """
    n_rows, n_bins = x2.shape
    ones = np.ones(n_bins, x2.dtype)
    offsets = row_offsets(n_rows, n_bins)

    def neighbours(start, stop):
        """Flat indices of each row's two bins in the block, and their weights."""
        left, _, w_left, w_right = _neighbours(t1[start:stop], n_bins)
        left += offsets[: stop - start]
        return left, left + 1, w_left, w_right

    def exp_block(xb, e):
        if not xb.min() > -np.inf:  # NaN or -inf (+inf is caught by the sums)
            raise NonFiniteRow
        return exp_rows(xb, e, ones)

    def loss_body(start, stop, e):
        xb = x2[start:stop]
        left, right, w_left, w_right = neighbours(start, stop)
        s = exp_block(xb, e)
        nll_left = neg_log_prob(e, s, left)
        nll_right = None if nll_left is None else neg_log_prob(e, s, right)
        if nll_right is not None:
            loss = w_left * nll_left + w_right * nll_right
        if nll_right is None or not np.isfinite(loss.sum(dtype=np.float64)):  # shift, redo
            s, shift = exp_rows_shifted(xb, e, ones)
            loss = np.log(s) - (w_left * (take(xb, left) - shift) + w_right * (take(xb, right) - shift))
        if w1 is not None:
            loss = w1[start:stop] * loss
        if loss_out is not None:
            loss_out[start:stop] = loss
        return float(loss.sum(dtype=np.float64))

    def grad_body(start, stop, e):
        xb = x2[start:stop]
        left, right, w_left, w_right = neighbours(start, stop)
        s = exp_block(xb, e)
        if not sums_are_safe(s):
            s, _ = exp_rows_shifted(xb, e, ones)
        coef = grad_scale if w1 is None else w1[start:stop] * grad_scale
        gb = grad[start:stop]
        np.multiply(e, (coef / s)[:, None], out=gb)
        flat = gb.reshape(-1)
        flat[left] -= w_left * coef
        flat[right] -= w_right * coef
        return 0.0

    return sum(run_in_row_blocks(n_rows, n_bins, x2.dtype, loss_body if grad is None else grad_body))


def _run_dfl_pass(x, t, w, **kwargs) -> float:
    n_bins = x.shape[-1]
    w1 = None if w is None else np.broadcast_to(w, t.shape).reshape(-1)
    try:
        return _dfl_pass(x.reshape(-1, n_bins), t.reshape(-1), w1, **kwargs)
    except NonFiniteRow:
        check_finite(x, "logits")  # names the first NaN or infinity
        raise


def distribution_focal_loss(logits, target, *, weight=None, reduction: str = "mean") -> np.ndarray:
    r"""Distribution Focal Loss: cross-entropy of the two bins around a continuous target.

    .. math::

        \mathrm{DFL}(S_i, S_{i+1}) = -\bigl((y_{i+1} - y)\log S_i + (y - y_i)\log S_{i+1}\bigr),
        \qquad S = \operatorname{softmax}(\text{logits}),

    with left bin :math:`i = \min(\lfloor y \rfloor, n - 2)` and :math:`y_i = i`. It
    equals ``cross_entropy`` against :func:`two_hot` and is smallest where the
    expected bin equals :math:`y`.

    Parameters
    ----------
    logits : array_like, shape (..., n_bins)
        Bin logits on the last axis, at least 2 bins; finite.
    target : array_like, shape (...)
        Positions in ``[0, n_bins - 1]``. At ``y = n_bins - 1`` the loss is the
        cross-entropy of the last bin (mmdetection's implementation would index bin
        ``n_bins`` and raise an IndexError there).
    weight : array_like, optional
        Non-negative per-target weight, broadcastable to the target's shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``mean`` divides the weighted sum by the number of targets, as mmdetection's
        ``weight_reduce_loss`` does without ``avg_factor``.

    Returns
    -------
    ndarray
        In the float dtype of ``logits``.

    Examples
    --------
    Target 2.3 between bins 2 and 3: weights 0.7 and 0.3.

    >>> from celib import log_softmax
    >>> x = np.array([0.0, 1.0, 3.0, 2.0, 0.0])
    >>> logp = log_softmax(x)
    >>> print(round(float(-(0.7 * logp[2] + 0.3 * logp[3])), 4))
    0.7717
    >>> print(round(float(distribution_focal_loss(x, 2.3)), 4))
    0.7717
    """
    x, t, w, reduction, out_dtype, n_bins = _prepare_dfl(logits, target, weight, reduction)
    loss = np.empty(t.shape, x.dtype) if reduction == "none" else None
    total = _run_dfl_pass(x, t, w, loss_out=None if loss is None else loss.reshape(-1))
    return finish_reduction(total, t.size, loss, reduction, out_dtype, "distribution_focal_loss", "no targets")


def distribution_focal_loss_grad(logits, target, *, weight=None, reduction: str = "mean") -> np.ndarray:
    r"""Gradient of :func:`distribution_focal_loss` with respect to ``logits``: :math:`w\,(S - \text{two-hot}(y))`.

    Because the two weights sum to 1, the gradient is the softmax minus the two-hot
    target, exactly as for cross-entropy with a probability target.

    Parameters
    ----------
    logits, target, weight, reduction
        As for :func:`distribution_focal_loss`.

    Returns
    -------
    ndarray
        Shape and float dtype of ``logits``.

    Examples
    --------
    >>> g = distribution_focal_loss_grad(np.zeros(3), 0.5)
    >>> print(g.round(4))
    [-0.1667 -0.1667  0.3333]
    """
    x, t, w, reduction, out_dtype, n_bins = _prepare_dfl(logits, target, weight, reduction)
    grad = np.empty(x.shape, x.dtype)
    scale = 1.0 / t.size if reduction == "mean" and t.size else 1.0
    _run_dfl_pass(x, t, w, grad=grad.reshape(-1, n_bins), grad_scale=scale)
    return grad.astype(out_dtype, copy=False)


def dfl_decode(logits) -> np.ndarray:
    r"""Decode bin logits to a continuous value: the expected bin :math:`\sum_i i\, S_i`.

    Parameters
    ----------
    logits : array_like, shape (..., n_bins)
        Bin logits on the last axis (at least 2 bins); finite.

    Returns
    -------
    ndarray
        Shape ``logits.shape[:-1]``, values in ``[0, n_bins - 1]``.

    Examples
    --------
    Logits proportional to the log of the two-hot target decode back to it:

    >>> x = np.log(np.array([1e-12, 0.7, 0.3]))
    >>> print(round(float(dfl_decode(x)), 6))
    1.3
    """
    x, out_dtype = float_array(logits, "logits")
    check_finite(x, "logits")
    if x.ndim == 0:
        raise ValueError("logits must have a last axis of bins, got a scalar")
    n_bins = _check_n_bins(x.shape[-1], "logits")
    probs = softmax(x, axis=-1)
    return (probs @ np.arange(n_bins, dtype=x.dtype)).astype(out_dtype, copy=False)
