"""Applying ``reduction`` to losses, and scaling their gradients to match."""

from __future__ import annotations

import numpy as np

from ._blocks import elementwise
from ._validation import warn_empty_mean


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


def reduce_elementwise(kernel, operands, x, reduction, out_dtype, func, n_temporaries=6):
    """Run an element-wise loss ``kernel`` (which makes at most ``n_temporaries`` tile-sized
    arrays at once) over tiles and apply the reduction."""
    loss = np.empty(x.shape, x.dtype) if reduction == "none" else None
    total = elementwise(kernel, operands, x.shape, x.dtype, out=loss, n_temporaries=n_temporaries)
    return finish_reduction(total, x.size, loss, reduction, out_dtype, func, "an empty input")


def elementwise_grad(kernel, operands, x, reduction, out_dtype, n_temporaries=6):
    """Run an element-wise gradient ``kernel`` (of the sum, at most ``n_temporaries``
    tile-sized arrays at once) over tiles, scaled for ``mean``."""
    scale = 1.0 / x.size if reduction == "mean" and x.size else 1.0  # an empty gradient is empty
    grad = np.empty(x.shape, x.dtype)
    elementwise(lambda *tiles: kernel(*tiles) * scale, operands, x.shape, x.dtype, out=grad,
                n_temporaries=n_temporaries)
    return grad.astype(out_dtype, copy=False)
