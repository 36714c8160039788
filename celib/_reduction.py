"""Applying ``reduction`` to element-wise losses, and scaling their gradients to match."""

from __future__ import annotations

import numpy as np

from ._validation import warn_empty_mean


def reduce_elementwise(loss: np.ndarray, reduction: str, out_dtype: np.dtype, func: str):
    """``none``: the array; ``sum``: its sum; ``mean``: the sum over the number of elements."""
    total = loss.sum() if reduction != "none" else 0.0
    return finish_reduction(total, loss.size, loss, reduction, out_dtype, func, "an empty input")


def finish_reduction(total: float, denominator: float, per_item, reduction: str, out_dtype, func: str, why: str):
    """Finish a reduction for a pass that computed the sum of the losses (and, for
    ``none``, the per-item losses): the sum, the mean over ``denominator``, or the items.
    A mean over a zero denominator is nan with a RuntimeWarning."""
    if reduction == "none":
        return per_item.astype(out_dtype, copy=False)
    if reduction == "sum":
        return out_dtype.type(total)
    if denominator == 0:
        warn_empty_mean(func, why, stacklevel=4)
        return out_dtype.type(np.nan)
    return out_dtype.type(total / denominator)


def mean_scale(count: int, reduction: str, func: str, why: str):
    """The factor a gradient of the sum is multiplied by: 1, or ``1/count`` for ``mean``
    (None, with a RuntimeWarning, for a mean over nothing: the gradient is then nan)."""
    if reduction != "mean":
        return 1.0
    if count == 0:
        warn_empty_mean(func, why, stacklevel=4)
        return None
    return 1.0 / count


def scale_elementwise_grad(grad: np.ndarray, reduction: str, out_dtype: np.dtype) -> np.ndarray:
    """The gradient of the reduced loss: divided by the element count for ``mean``.

    For ``none`` it is the gradient of the sum, which is each element's own derivative.
    """
    if reduction == "mean" and grad.size:
        grad = grad / grad.size
    return grad.astype(out_dtype, copy=False)
