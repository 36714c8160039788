"""Binary cross-entropy (二元交叉熵), from probabilities and from logits.

Book chapter 1. Semantics follow ``torch.nn.functional.binary_cross_entropy`` and
``binary_cross_entropy_with_logits``: element-wise losses, ``weight`` broadcast over the
input, ``mean`` over all elements.
"""

from __future__ import annotations

import numpy as np

from ._blocks import Elements, in_dtype, run_tiles, scratch
from ._reduction import elementwise_grad, finish_reduction, reduce_elementwise
from ._validation import (
    broadcast_weight,
    check_finite,
    check_reduction,
    check_unit_interval,
    float_array,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
]

# PyTorch clamps each log at -100 so that p = 0 or 1 gives a large finite loss.
LOG_CLAMP = -100.0
# PyTorch's backward divides by max(p (1 - p), EPSILON), EPSILON being the C++ float
# 1e-12 (which is 9.9999996e-13 once rounded to float32).
GRAD_EPSILON = float(np.float32(1e-12))


def _same_shape_target(target, x: np.ndarray, name: str) -> np.ndarray:
    t = np.asarray(target)
    if t.dtype.kind not in "fiub":
        raise TypeError(f"target must be an array of real numbers, got dtype {t.dtype}")
    if t.shape != x.shape:
        raise ValueError(f"target must have the shape of {name} {x.shape}, got shape {t.shape}")
    if t.dtype.kind != "f":
        t = t.astype(x.dtype)  # 0/1 labels as integers or booleans
    check_unit_interval(t, "target")  # also refuses NaN and infinities
    return t  # a float target of another dtype is converted a tile at a time


def _prepare_bce(probs, target, weight, reduction):
    reduction = check_reduction(reduction)
    p, out_dtype = float_array(probs, "probs")
    check_unit_interval(p, "probs")
    t = _same_shape_target(target, p, "probs")
    w = broadcast_weight(weight, p.shape, p.dtype)
    return p, t, w, reduction, out_dtype


def binary_cross_entropy(probs, target, *, weight=None, reduction: str = "mean") -> np.ndarray:
    r"""Binary cross-entropy :math:`E = -w\,[\,y \log p + (1-y)\log(1-p)\,]` per element.

    ``probs`` are probabilities of the positive class (label 1). If :math:`y = 1`
    only :math:`-\log p` remains; if :math:`y = 0`, only :math:`-\log(1-p)`.

    Parameters
    ----------
    probs : array_like
        Probabilities in [0, 1], any shape.
    target : array_like
        Same shape; labels 0/1 or soft targets in [0, 1].
    weight : array_like, optional
        Non-negative, broadcastable to the shape of ``probs``.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``mean`` divides by the number of elements (weights do not change it).

    Returns
    -------
    ndarray
        In the float dtype of ``probs``.

    Notes
    -----
    As in PyTorch, each log is clamped at -100, so ``p = 0`` with ``y = 1`` costs 100
    rather than ``inf``. For numerical safety, prefer
    :func:`binary_cross_entropy_with_logits`.

    Examples
    --------
    >>> print(round(float(binary_cross_entropy([0.9], [1.0])), 4))   # -log 0.9
    0.1054
    >>> print(binary_cross_entropy([0.9, 0.9], [1.0, 0.0], reduction="none").round(4))
    [0.1054 2.3026]
    >>> print(float(binary_cross_entropy([0.0], [1.0])))   # clamped, as in PyTorch
    100.0
    """
    p, t, w, reduction, out_dtype = _prepare_bce(probs, target, weight, reduction)

    def kernel(p, t, w):
        loss = -(t * np.maximum(np.log(p), LOG_CLAMP) + (1 - t) * np.maximum(np.log1p(-p), LOG_CLAMP))
        return loss if w is None else w * loss

    return reduce_elementwise(kernel, [p, t, w], p, reduction, out_dtype, "binary_cross_entropy")


def binary_cross_entropy_grad(probs, target, *, weight=None, reduction: str = "mean") -> np.ndarray:
    r"""Gradient of :func:`binary_cross_entropy` with respect to ``probs``.

    .. math:: \frac{\partial E}{\partial p} = w\,\frac{p - y}{p\,(1-p)}

    with the denominator kept at least ``1e-12``, exactly as PyTorch's backward does.

    Parameters
    ----------
    probs, target, weight, reduction
        As for :func:`binary_cross_entropy`; ``reduction="none"`` gives the
        element-wise derivatives (the gradient of the sum).

    Returns
    -------
    ndarray
        Shape and float dtype of ``probs``.

    Examples
    --------
    >>> print(binary_cross_entropy_grad([0.8], [1.0]).round(4))   # -1/p
    [-1.25]
    """
    p, t, w, reduction, out_dtype = _prepare_bce(probs, target, weight, reduction)

    def kernel(p, t, w):
        grad = (p - t) / np.maximum(p * (1 - p), GRAD_EPSILON)
        return grad if w is None else w * grad

    return elementwise_grad(kernel, [p, t, w], p, reduction, out_dtype)


def _prepare_bce_logits(logits, target, weight, pos_weight, reduction, *, check_logits=True):
    reduction = check_reduction(reduction)
    x, out_dtype = float_array(logits, "logits", check_nan=False)
    if check_logits:  # the blocked loss pass finds NaN and infinities itself, in passing
        check_finite(x, "logits")
    t = _same_shape_target(target, x, "logits")
    w = broadcast_weight(weight, x.shape, x.dtype)
    pw = broadcast_weight(pos_weight, x.shape, x.dtype, name="pos_weight")
    return x, t, w, pw, reduction, out_dtype


def bce_with_logits_elements(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Element-wise ``(1 - y) x + log(1 + e^-x)``: binary cross-entropy with logits, unweighted."""
    return (1 - t) * x + np.logaddexp(0, -x)


def _log1p_unit(e, u, out):
    """``out = log(1 + e)`` for ``e`` in [0, 1], to within an ulp: ``u = 1 + e`` rounded,
    then ``log(u) - ((u - 1) - e)``, which puts back what the rounding lost. (NumPy's
    ``log1p`` is exact too, but several times slower than ``log`` in float32.)"""
    np.add(e, 1, out=u)
    np.subtract(u, 1, out=out)
    np.subtract(out, e, out=out)  # the rounding error of 1 + e, exactly
    np.log(u, out=u)
    return np.subtract(u, out, out=out)


def _bce_logits_pass(x, t, w, pw, loss_out) -> float:
    """Element-wise BCE with logits, in blocks of the flattened input; returns the sum.

    Per block: ``e = exp(-|x|)``, then ``softplus(-x) = max(-x, 0) + log(1 + e)``, and the
    loss ``(1 - y) x + (1 + (q - 1) y) softplus(-x)`` (without ``pos_weight``, the same as
    ``max(x, 0) - y x + log(1 + e)``), times the weight. Each element's loss is formed
    before it is summed: summing ``max(x, 0)`` and ``y x`` separately would cancel
    catastrophically when every prediction is confidently right. A sum that is
    not finite means a NaN or an infinity in the logits; the caller then names it.
    """
    grid = Elements(x.shape)
    x2, t2, w2, pw2 = (grid.operand(a) for a in (x, t, w, pw))
    out2 = None if loss_out is None else loss_out.reshape(grid.grid)

    def body(tile, e, u, loss):
        xb, tb = grid.tile(x2, tile), in_dtype(grid.tile(t2, tile), x.dtype)
        e, u, loss = (scratch(b, xb.shape) for b in (e, u, loss))
        np.abs(xb, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)
        log1p = _log1p_unit(e, u, out=loss)  # log(1 + e^-|x|)
        if pw2 is None:  # loss = max(x, 0) - y x + log(1 + e^-|x|), summed per element
            np.maximum(xb, 0, out=e)
            np.subtract(e, np.multiply(tb, xb, out=u), out=e)
            np.add(log1p, e, out=loss)
        else:  # loss = (1 - y) x + (1 + (q - 1) y) softplus(-x), softplus(-x) = max(-x, 0) + log(1 + e^-|x|)
            np.maximum(np.negative(xb, out=e), 0, out=e)
            np.add(log1p, e, out=loss)
            np.subtract(grid.tile(pw2, tile), 1, out=e)
            e *= tb
            e += 1
            loss *= e
            np.subtract(1, tb, out=e)
            e *= xb
            loss += e
        if w2 is not None:
            loss *= grid.tile(w2, tile)
        if out2 is not None:
            grid.tile(out2, tile)[...] = loss
        return float(loss.sum(dtype=np.float64))

    total = sum(run_tiles(grid.plan(x.dtype.itemsize, 3), body, (1,), x.dtype, n_buffers=3))
    if not np.isfinite(total):
        check_finite(x, "logits")
    return total


def binary_cross_entropy_with_logits(
    logits, target, *, weight=None, pos_weight=None, reduction: str = "mean"
) -> np.ndarray:
    r"""Binary cross-entropy of :math:`p = \sigma(x)`, computed from the logit :math:`x`.

    .. math::

        E = -w\,[\,q\,y \log\sigma(x) + (1-y) \log(1-\sigma(x))\,]
          = w\,[\,(1-y)\,x + (1 + (q-1)\,y)\,\operatorname{softplus}(-x)\,]

    where :math:`q` is ``pos_weight`` and
    :math:`\operatorname{softplus}(-x) = \log(1+e^{-x}) = -\log\sigma(x)` is evaluated
    as :math:`\max(-x, 0) + \log(1 + e^{-|x|})`, which never overflows and keeps the
    digits of tiny losses. No probability is ever formed, so nothing is clamped.

    Parameters
    ----------
    logits : array_like
        Finite real numbers, any shape.
    target : array_like
        Same shape; values in [0, 1].
    weight : array_like, optional
        Non-negative, broadcastable to the logits' shape.
    pos_weight : array_like, optional
        Non-negative weight of the positive term, broadcast along the last axis (one
        per class for multi-label problems, shape (C,)).
    reduction : {"mean", "sum", "none"}, default "mean"

    Returns
    -------
    ndarray
        In the float dtype of ``logits``.

    Examples
    --------
    A logit of 1000 for a negative example: the naive form overflows, this one does not.

    >>> print(float(binary_cross_entropy_with_logits([1000.0], [0.0])))
    1000.0
    >>> print(round(float(binary_cross_entropy_with_logits([0.0], [1.0])), 4))   # log 2
    0.6931
    """
    x, t, w, pw, reduction, out_dtype = _prepare_bce_logits(
        logits, target, weight, pos_weight, reduction, check_logits=False
    )
    loss = np.empty(x.shape, x.dtype) if reduction == "none" else None
    total = _bce_logits_pass(x, t, w, pw, loss)
    return finish_reduction(total, x.size, loss, reduction, out_dtype, "binary_cross_entropy_with_logits", "an empty input")


def binary_cross_entropy_with_logits_grad(
    logits, target, *, weight=None, pos_weight=None, reduction: str = "mean"
) -> np.ndarray:
    r"""Gradient of :func:`binary_cross_entropy_with_logits` with respect to ``logits``.

    Without ``pos_weight`` it is :math:`w\,(\sigma(x) - y)`; with it,
    :math:`w\,[(1-y) - (1 + (q-1)y)\,(1-\sigma(x))]`.

    Parameters
    ----------
    logits, target, weight, pos_weight, reduction
        As for :func:`binary_cross_entropy_with_logits`.

    Returns
    -------
    ndarray
        Shape and float dtype of ``logits``.

    Examples
    --------
    >>> print(binary_cross_entropy_with_logits_grad([0.0, 2.0], [1.0, 1.0], reduction="sum").round(4))
    [-0.5    -0.1192]
    """
    x, t, w, pw, reduction, out_dtype = _prepare_bce_logits(
        logits, target, weight, pos_weight, reduction, check_logits=False
    )
    scale = 1.0 / x.size if reduction == "mean" and x.size else 1.0  # an empty gradient is empty
    grad = np.empty(x.shape, x.dtype)
    if not _bce_logits_grad_pass(x, t, w, pw, scale, grad):
        check_finite(x, "logits")  # raises, naming the first bad logit
    return grad.astype(out_dtype, copy=False)


def _bce_logits_grad_pass(x, t, w, pw, scale, grad_out) -> bool:
    r"""``grad_out = scale * w * [(1 - y) sigma(x) - q y sigma(-x)]``, in blocks; False if
    a logit is NaN or infinite.

    This is :math:`w\,[(1-y) - (1 + (q-1)y)\,\sigma(-x)]` rearranged so that neither
    hard label cancels: for :math:`y = 0` it is :math:`\sigma(x)`, for :math:`y = 1`
    :math:`-q\,\sigma(-x)`, to the last digits however small (``sigmoid(x) - y`` would
    round :math:`1 - 10^{-9}` to 1 and return 0). Both sigmoids come from one
    exponential, :math:`\sigma(x) = 1/(1 + e^{-x})` and :math:`\sigma(-x) = 1/(1 + 1/e^{-x})`,
    each accurate to a few units in the last place for either sign of :math:`x`; where
    :math:`e^{-x}` overflows, ``1/inf = 0`` gives the right limits.
    """
    grid = Elements(x.shape)
    x2, t2, w2, pw2 = (grid.operand(a) for a in (x, t, w, pw))
    out2 = grad_out.reshape(grid.grid)

    def body(tile, sig_x, sig_neg):
        xb, tb, gb = grid.tile(x2, tile), in_dtype(grid.tile(t2, tile), x.dtype), grid.tile(out2, tile)
        sig_x, sig_neg = scratch(sig_x, xb.shape), scratch(sig_neg, xb.shape)
        if not (-np.inf < xb.min() and xb.max() < np.inf):  # NaN or an infinity
            return False
        np.exp(np.negative(xb, out=sig_x), out=sig_x)  # e^-x
        np.divide(1, sig_x, out=sig_neg)  # e^x
        np.divide(1, np.add(sig_x, 1, out=sig_x), out=sig_x)
        np.divide(1, np.add(sig_neg, 1, out=sig_neg), out=sig_neg)
        np.subtract(1, tb, out=gb)
        gb *= sig_x
        sig_neg *= tb
        if pw2 is not None:
            sig_neg *= grid.tile(pw2, tile)
        gb -= sig_neg
        if w2 is not None:
            gb *= grid.tile(w2, tile)
        if scale != 1:
            gb *= scale
        return True

    return all(run_tiles(grid.plan(x.dtype.itemsize, 2), body, (1,), x.dtype, n_buffers=2))
