"""Softmax, log-softmax, log-sum-exp and the sigmoid: the functions every loss is built on.

All are computed in a numerically stable way: log-sum-exp shifts by the maximum before
exponentiating, and the sigmoid never evaluates ``exp`` of a large positive number.
See the appendix "Numerical stability" for why.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_target_array, check_int, class_targets, float_array

__all__ = ["logsumexp", "softmax", "log_softmax", "sigmoid", "log_sigmoid", "one_hot"]


def _finite_max(x: np.ndarray, axis, name: str) -> np.ndarray:
    """The max along ``axis`` (kept), which must be finite for softmax to be defined."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    if not np.isfinite(m).all():
        if np.isposinf(m).any():
            raise ValueError(f"{name} must not contain +inf: softmax is inf/inf there")
        raise ValueError(
            f"{name} has a slice along axis {axis} that is entirely -inf: "
            "softmax of it is 0/0"
        )
    return m


def logsumexp(x, axis: int | None = -1, keepdims: bool = False) -> np.ndarray:
    r"""Log of the sum of exponentials, :math:`\log \sum_i e^{x_i}`, computed stably.

    The maximum :math:`m` is subtracted first, :math:`m + \log\sum_i e^{x_i - m}`, so no
    ``exp`` overflows. A non-finite maximum is replaced by 0 before shifting, so
    ``-inf`` entries contribute 0 and a ``+inf`` entry gives ``+inf``.

    Parameters
    ----------
    x : array_like
        Real numbers; NaN is refused. An empty slice gives ``-inf`` (the log of an empty
        sum), as in PyTorch.
    axis : int or None, default -1
        Axis to reduce; None reduces over all elements.
    keepdims : bool, default False
        Keep the reduced axis with size 1.

    Returns
    -------
    ndarray
        Same float dtype as ``x`` (integers give float64).

    Examples
    --------
    The naive formula overflows; the shifted one does not:

    >>> import numpy as np
    >>> x = np.array([1000.0, 1.0])
    >>> with np.errstate(over="ignore"):
    ...     print(np.log(np.sum(np.exp(x))))
    inf
    >>> print(logsumexp(x))
    1000.0
    """
    x, out_dtype = float_array(x, "x")
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # -inf for an empty slice
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf or empty slice is correct
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out.astype(out_dtype, copy=False)


def softmax(x, axis: int = -1) -> np.ndarray:
    r"""Softmax, :math:`e^{x_i} / \sum_j e^{x_j}`, along ``axis``.

    Parameters
    ----------
    x : array_like
        Logits. NaN and +inf are refused, as is a slice that is entirely -inf. An empty
        array gives an empty array.
    axis : int, default -1
        The class axis. (PyTorch's ``F.cross_entropy`` uses axis 1; pass ``axis=1``
        for ``(N, C, d1, ...)`` inputs.)

    Returns
    -------
    ndarray
        Probabilities summing to 1 along ``axis``, in the float dtype of ``x``.

    Examples
    --------
    >>> print(softmax([2.0, 1.0, 0.1]).round(4))
    [0.659  0.2424 0.0986]
    >>> print(softmax([1000.0, 1.0]))   # no overflow
    [1. 0.]
    """
    x, out_dtype = float_array(x, "x")
    if x.size == 0:
        return np.empty(x.shape, out_dtype)  # as PyTorch: the softmax of nothing is empty
    m = _finite_max(x, axis, "x")
    e = np.subtract(x, m)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e.astype(out_dtype, copy=False)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    r"""Log of the softmax, :math:`x_i - \log\sum_j e^{x_j}`, computed stably.

    ``np.log(softmax(x))`` loses every probability below the smallest float and
    returns ``-inf``; this function returns the exact finite value.

    Parameters
    ----------
    x : array_like
        Logits. NaN and +inf are refused, as is a slice that is entirely -inf.
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray
        Log-probabilities, in the float dtype of ``x``.

    Examples
    --------
    >>> x = np.array([1000.0, 1.0])
    >>> with np.errstate(divide="ignore"):
    ...     print(np.log(softmax(x)))
    [   0. -inf]
    >>> print(log_softmax(x))
    [   0. -999.]
    """
    x, out_dtype = float_array(x, "x")
    if x.size == 0:
        return np.empty(x.shape, out_dtype)
    m = _finite_max(x, axis, "x")
    out = np.subtract(x, m)
    out -= np.log(np.sum(np.exp(out), axis=axis, keepdims=True))
    return out.astype(out_dtype, copy=False)


def sigmoid(x) -> np.ndarray:
    r"""The logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`, without overflow.

    ``exp`` is only ever taken of :math:`-|x|`: for :math:`x < 0` the equivalent form
    :math:`e^{x} / (1 + e^{x})` is used.

    Parameters
    ----------
    x : array_like
        Logits; NaN is refused, infinities give 0 and 1.

    Returns
    -------
    ndarray
        Values in [0, 1], in the float dtype of ``x``.

    Examples
    --------
    >>> print(sigmoid([-1000.0, 0.0, 2.0]).round(4))
    [0.     0.5    0.8808]
    """
    x, out_dtype = float_array(x, "x")
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out.astype(out_dtype, copy=False)


def log_sigmoid(x) -> np.ndarray:
    r"""Log of the sigmoid, :math:`\log\sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`.

    Finite for every finite ``x``, where ``np.log(sigmoid(x))`` gives ``-inf`` below
    about -745 (float64).

    Parameters
    ----------
    x : array_like
        Logits; NaN is refused.

    Returns
    -------
    ndarray
        Values at most 0, in the float dtype of ``x``.

    Examples
    --------
    >>> print(log_sigmoid([-1000.0, 0.0, 1000.0]).tolist())
    [-1000.0, -0.6931471805599453, 0.0]
    """
    x, out_dtype = float_array(x, "x")
    out = np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))
    return out.astype(out_dtype, copy=False)


def one_hot(labels, num_classes: int, *, dtype=np.float64) -> np.ndarray:
    r"""One-hot encoding (独热编码): class index :math:`k` becomes the vector :math:`e_k`.

    Parameters
    ----------
    labels : array_like of int
        Class indices in ``[0, num_classes)``, any shape.
    num_classes : int
        Number of classes :math:`C \ge 1`; a new last axis of this length is added.
    dtype : dtype, default float64
        Unlike ``torch.nn.functional.one_hot`` (int64), celib returns floats so the
        result can be used directly as a probability target.

    Returns
    -------
    ndarray
        Shape ``labels.shape + (num_classes,)``.

    Examples
    --------
    Cat, dog, cow: the true class "cow" (index 2) becomes ``[0, 0, 1]``.

    >>> print(one_hot([2, 0], 3))
    [[0. 0. 1.]
     [1. 0. 0.]]
    """
    num_classes = check_int(num_classes, "num_classes")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    labels = as_target_array(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    labels = class_targets(labels, num_classes, labels.shape, None, name="labels")
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)
