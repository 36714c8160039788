"""Mean squared error (均方误差): the loss Chapter 5 compares with cross-entropy."""

from __future__ import annotations

import numpy as np

from ._reduction import elementwise_grad, reduce_elementwise
from ._validation import check_finite, check_reduction, float_array

__all__ = ["mse_loss", "mse_loss_grad"]


def _prepare_mse(input, target, reduction):
    reduction = check_reduction(reduction)
    x, out_dtype = float_array(input, "input")
    check_finite(x, "input")
    t, _ = float_array(target, "target", check_nan=False)
    check_finite(t, "target")
    if t.shape != x.shape:
        raise ValueError(
            f"target must have the shape of input {x.shape}, got shape {t.shape} "
            "(PyTorch would broadcast with a warning; celib refuses)"
        )
    return x, t, reduction, out_dtype  # a target of another dtype is converted a tile at a time


def mse_loss(input, target, *, reduction: str = "mean") -> np.ndarray:
    r"""Squared error :math:`(x - y)^2` per element; ``mean`` averages over *all* elements.

    For predictions of shape (M, C), PyTorch's default (and this one) divides the total
    by :math:`M C`. The "per-sample squared error summed over classes, then averaged
    over samples" of many notes is ``mse_loss(p, y, reduction="sum") / M``, which is
    :math:`C` times larger. Chapter 5 shows both.

    Parameters
    ----------
    input : array_like
        Predictions, any shape; finite.
    target : array_like
        Same shape as ``input`` (no broadcasting); finite.
    reduction : {"mean", "sum", "none"}, default "mean"

    Returns
    -------
    ndarray
        In the float dtype of ``input``.

    Examples
    --------
    >>> p = np.array([[0.3, 0.3, 0.4]]); y = np.array([[0.0, 0.0, 1.0]])
    >>> print(round(float(mse_loss(p, y, reduction="sum")), 4))   # 0.09 + 0.09 + 0.36
    0.54
    >>> print(round(float(mse_loss(p, y)), 4))                    # divided by 3 elements
    0.18
    """
    x, t, reduction, out_dtype = _prepare_mse(input, target, reduction)
    return reduce_elementwise(lambda x, t: np.square(x - t), [x, t], x, reduction, out_dtype, "mse_loss")


def mse_loss_grad(input, target, *, reduction: str = "mean") -> np.ndarray:
    r"""Gradient of :func:`mse_loss` with respect to ``input``: :math:`2(x - y)`, over the count for ``mean``.

    Parameters
    ----------
    input, target, reduction
        As for :func:`mse_loss`.

    Returns
    -------
    ndarray
        Shape and float dtype of ``input``.

    Examples
    --------
    >>> print(mse_loss_grad([0.3, 0.3, 0.4], [0.0, 0.0, 1.0], reduction="sum").round(4))
    [ 0.6  0.6 -1.2]
    """
    x, t, reduction, out_dtype = _prepare_mse(input, target, reduction)
    return elementwise_grad(lambda x, t: 2 * (x - t), [x, t], x, reduction, out_dtype)
