"""Applying ``reduction`` to element-wise losses, and scaling their gradients to match."""

from __future__ import annotations

import numpy as np

from ._validation import warn_empty_mean


def reduce_elementwise(loss: np.ndarray, reduction: str, out_dtype: np.dtype, func: str):
    """``none``: the array; ``sum``: its sum; ``mean``: the sum over the number of elements."""
    if reduction == "none":
        return loss.astype(out_dtype, copy=False)
    total = loss.sum()
    if reduction == "sum":
        return out_dtype.type(total)
    if loss.size == 0:
        warn_empty_mean(func, "an empty input", stacklevel=4)
        return out_dtype.type(np.nan)
    return out_dtype.type(total / loss.size)


def scale_elementwise_grad(grad: np.ndarray, reduction: str, out_dtype: np.dtype) -> np.ndarray:
    """The gradient of the reduced loss: divided by the element count for ``mean``.

    For ``none`` it is the gradient of the sum, which is each element's own derivative.
    """
    if reduction == "mean" and grad.size:
        grad = grad / grad.size
    return grad.astype(out_dtype, copy=False)
