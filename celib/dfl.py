r"""Distribution Focal Loss (DFL), from Generalized Focal Loss (Li et al., NeurIPS 2020).

A continuous target :math:`y` between two bins :math:`y_i \le y \le y_{i+1}` is
learned as a distribution over bins: DFL is cross-entropy against the "two-hot"
target that puts :math:`y_{i+1} - y` on bin :math:`i` and :math:`y - y_i` on bin
:math:`i+1`, and the prediction is decoded as the expected bin. Book chapter 6.

Bins lie on the *last* axis (as in mmdetection and ultralytics), unlike
:func:`~celib.multiclass.cross_entropy`, whose class axis is 1.
"""

from __future__ import annotations

import warnings

import numpy as np

from .activations import softmax
from ._reduction import finish_reduction
from ._blocks import MIN_TERM, BadRow, ClassRows, neg_log_prob, run_tiles, scratch, softmax_parts, take
from ._validation import (
    broadcast_weight,
    check_finite,
    check_int,
    check_reduction,
    float_array,
)

__all__ = ["distribution_focal_loss", "distribution_focal_loss_grad", "two_hot", "dfl_decode"]


_NUM_BINS = "num_bins (formerly n_bins)"  # how error messages name two_hot's argument


def _check_n_bins(n_bins: int, name: str) -> int:
    if n_bins < 2:
        where = "" if name == _NUM_BINS else " on its last axis"
        raise ValueError(f"{name} must have at least 2 bins{where}, got {n_bins}")
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
    if t.size == 0 or (t.min() >= 0 and t.max() <= n_bins - 1):
        return t
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


def two_hot(target, num_bins: int | None = None, *, n_bins: int | None = None) -> np.ndarray:
    r"""The two-bin target distribution of continuous targets.

    A target :math:`y` with :math:`y_i \le y \le y_{i+1}` (bins at the integers) gets
    weight :math:`y_{i+1} - y` on bin :math:`i` and :math:`y - y_i` on bin :math:`i+1`;
    its expected bin is exactly :math:`y`. The counterpart of :func:`~celib.activations.one_hot`,
    and named like it (``one_hot(labels, num_classes)``, ``two_hot(target, num_bins)``).

    Parameters
    ----------
    target : array_like
        Positions in ``[0, num_bins - 1]``, any shape.
    num_bins : int
        Number of bins, at least 2. (``n_bins=`` is accepted too, with a
        DeprecationWarning: it was this argument's name in celib 0.1.)

    Returns
    -------
    ndarray
        Shape ``target.shape + (num_bins,)``; rows sum to 1.

    Examples
    --------
    >>> print(two_hot([2.3, 4.0], 5))
    [[0.  0.  0.7 0.3 0. ]
     [0.  0.  0.  0.  1. ]]
    """
    if n_bins is not None:
        if num_bins is not None:
            raise TypeError("two_hot: give num_bins only (n_bins is its old name)")
        warnings.warn("two_hot(n_bins=...) is deprecated: use num_bins", DeprecationWarning, stacklevel=2)
        num_bins = n_bins
    if num_bins is None:
        raise TypeError("two_hot() missing required argument: 'num_bins'")
    n_bins = _check_n_bins(check_int(num_bins, _NUM_BINS), _NUM_BINS)
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


def _dfl_pass(x, t, w, *, loss2=None, grad3=None, scale=1.0) -> float:
    r"""Distribution Focal Loss over all rows of bins, a tile at a time (see
    :func:`celib.reference.distribution_focal_loss`).

    With :math:`p = e / s` from :func:`~celib._blocks.softmax_parts` and the two
    neighbour bins' terms :math:`e_l, e_r`:

    - loss: :math:`w_l \log(s / e_l) + w_r \log(s / e_r)`, each log accurate to a few
      ulps (:func:`~celib._blocks.neg_log_prob`);
    - gradient: :math:`p - \text{two-hot}(y)`, whose two neighbour entries, with the
      ``rest`` of the row sum :math:`s` summed without them, are
      :math:`(w_r e_l - w_l (\mathit{rest} + e_r)) / s` and
      :math:`(w_l e_r - w_r (\mathit{rest} + e_l)) / s`;

    both times the sample's weight. Every logit must be finite.
    """
    rows = ClassRows(x, axis=-1)
    n_bins, dtype = rows.n_classes, x.dtype
    t2 = rows.row_grid(t)
    w2 = None if w is None else rows.row_grid(np.broadcast_to(w, t.shape))

    def body(tile, e, xbuf=None):
        xb = rows.read(tile, xbuf)
        e = scratch(e, xb.shape)
        left, _, w_left, w_right = _neighbours(rows.per_row(t2, tile), n_bins)
        try:
            if not xb.min(initial=np.inf) > -np.inf:  # NaN or -inf (+inf fails in softmax_parts)
                raise BadRow(0)
            (il, ir), (e_l, e_r), sums, m = softmax_parts(xb, e, (left, left + 1), None, apart=grad3 is not None)
        except BadRow:
            check_finite(x, "logits")  # names the first NaN or infinity
            raise
        coef = None if w2 is None else rows.per_row(w2, tile)
        if grad3 is None:
            nll_l, nll_r = neg_log_prob(e, sums, e_l, il), neg_log_prob(e, sums, e_r, ir)
            if m is not None:  # where a term underflowed, -log p_k = lse - x_k
                lse = np.log(sums) + m
                nll_l = np.where(e_l >= MIN_TERM, nll_l, lse - take(xb, il))
                nll_r = np.where(e_r >= MIN_TERM, nll_r, lse - take(xb, ir))
            loss = w_left * nll_l + w_right * nll_r
            if coef is not None:
                loss = coef * loss
            if loss2 is not None:
                rows.set_per_row(loss2, tile, loss)
            return float(loss.sum(dtype=np.float64))
        rest = sums
        s = rest + e_l + e_r
        coef = scale if coef is None else coef * scale
        direct = rows.out_rows(tile, grad3)
        g = e if direct is None else direct
        np.multiply(e, (coef / s)[:, None], out=g)  # p, with 0 at the two neighbours
        flat = g.reshape(-1)
        flat[il] = coef * (w_right * e_l - w_left * (rest + e_r)) / s
        flat[ir] = coef * (w_left * e_r - w_right * (rest + e_l)) / s
        if direct is None:
            rows.write(tile, grad3, g)
        return 0.0

    n_buffers = 1 + rows.needs_copy
    return sum(run_tiles(rows.plan(dtype.itemsize, n_buffers), body, (n_bins,), dtype, n_buffers))


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
    total = _dfl_pass(x, t, w, loss2=None if loss is None else loss.reshape(-1, 1))
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
    _dfl_pass(x, t, w, grad3=grad.reshape(-1, n_bins, 1), scale=scale)
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
