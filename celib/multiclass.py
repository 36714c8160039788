"""Multi-class cross-entropy (交叉熵): from logits, from log-probabilities, from probabilities.

The semantics follow ``torch.nn.functional``: the class axis is 1 for inputs of two or
more dimensions, ``(N, C, d1, ...)``, and 0 for a single ``(C,)`` input. Each loss has
its gradient right below it.

Book chapters: 2 (multi-class CE and one-hot), 3 (averaging over a batch),
4 (why only the true class counts).
"""

from __future__ import annotations

import numpy as np

from ._blocks import (
    MIN_TERM,
    BadRow,
    ClassRows,
    flat_index,
    neg_log_prob,
    row_max,
    run_tiles,
    scratch,
    softmax_parts,
    take,
)
from ._reduction import finish_reduction, mean_scale
from ._validation import (
    check_int,
    check_real,
    check_reduction,
    as_target_array,
    check_unit_interval,
    class_targets,
    class_weight,
    float_array,
    warn_empty_mean,
)

__all__ = [
    "cross_entropy",
    "cross_entropy_grad",
    "nll_loss",
    "nll_loss_grad",
    "categorical_cross_entropy",
    "categorical_cross_entropy_grad",
]

_NO_TARGETS = "no targets (none given, all ignored, or all of weight 0)"

# ---------------------------------------------------------------------------------------
# Shapes and targets
# ---------------------------------------------------------------------------------------
def _class_axis_first_check(x: np.ndarray, name: str) -> int:
    if x.ndim == 0:
        raise ValueError(f"{name} must have shape (C,) or (N, C, d1, ...), got a scalar")
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    if n_classes == 0:
        raise ValueError(f"{name} must have at least one class, got shape {x.shape}")
    return n_classes


def _batch_shape(x: np.ndarray) -> tuple:
    """Shape of one loss per sample: () for (C,), (N, d1, ...) for (N, C, d1, ...)."""
    return () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]


def _valid_and_classes(tb: np.ndarray, ignore_index: int | None):
    """Which targets of a tile count (None: all), and their classes as ``intp`` (0 where ignored)."""
    if ignore_index is None:
        return None, tb.astype(np.intp, copy=False)
    valid = tb != ignore_index
    if valid.all():
        return None, tb.astype(np.intp, copy=False)
    return valid, np.where(valid, tb, 0).astype(np.intp, copy=False)


def _target_weights(w, y, valid, dtype):
    """Each row's target weight ``w_y`` (0 where ignored), or None when all are 1."""
    if w is None:
        return None if valid is None else valid.astype(dtype)
    wy = np.take(w, y)
    if valid is not None:
        wy[~valid] = 0
    return wy


def _target_weight_sum(t2: np.ndarray, w, ignore_index: int, chunk: int = 1 << 16) -> float:
    """The mean's denominator: the sum of the weights of the targets that count."""
    if w is None and ignore_index is None:
        return float(t2.size)
    total = 0.0
    step = max(1, chunk // max(t2.shape[1], 1))
    for n0 in range(0, t2.shape[0], step):
        valid, y = _valid_and_classes(t2[n0 : n0 + step].reshape(-1), ignore_index)
        wy = _target_weights(w, y, valid, np.float64)
        total += float(y.size if wy is None else wy.sum(dtype=np.float64))
    return total


def _index_mean_scale(t2, w, ignore_index: int, reduction: str, func: str):
    """What a gradient of the sum is multiplied by: 1, or 1 / the mean's denominator.

    Over no target the mean is 0/0 (with a RuntimeWarning): None when no target counts
    (the gradient is then 0), and nan when the targets that count all weigh 0 (their
    rows' gradients are then nan, the ignored rows' 0), as PyTorch."""
    if reduction != "mean":
        return 1.0
    denominator = _target_weight_sum(t2, w, ignore_index)
    if denominator != 0:
        return 1.0 / denominator
    warn_empty_mean(func, _NO_TARGETS, stacklevel=4)
    return None if _target_weight_sum(t2, None, ignore_index) == 0 else np.nan


def _bad_row_error(rows: ClassRows, tile, k: int, xb: np.ndarray, name: str) -> ValueError:
    """The error for row ``k`` of a tile whose maximum is not finite: name the element."""
    row = xb[k]
    for test, what in ((np.isnan, "must not contain NaN; found nan"),
                       (np.isposinf, "must not contain +inf (the softmax would be inf/inf); found inf")):
        hit = np.flatnonzero(test(row))
        if hit.size:
            return ValueError(f"{name} {what} at index {rows.element_index(tile, k, int(hit[0]))}")
    return ValueError(
        f"{name} has a sample whose logits are all -inf at index {rows.row_index(tile, k)}: "
        "its softmax is 0/0"
    )


def _check_row_sums(rows: ClassRows, tile, sums: np.ndarray, name: str, *dtypes) -> None:
    """Each row of a tile must sum to 1, to within sqrt(eps) * sqrt(C) for the least
    precise of ``dtypes`` (the array's own and the one it is computed in)."""
    eps = max([np.finfo(d).eps for d in dtypes if np.dtype(d).kind == "f"], default=np.finfo(float).eps)
    tol = float(np.sqrt(eps)) * max(1.0, np.sqrt(rows.n_classes))
    bad = ~(np.abs(sums - 1.0) <= tol)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be a probability distribution along axis {rows.axis} "
            f"(each slice summing to 1); a slice at index {rows.row_index(tile, k)} "
            f"sums to {float(sums[k])!r}"
        )


# ---------------------------------------------------------------------------------------
# Argument checking shared by cross_entropy and cross_entropy_grad
# ---------------------------------------------------------------------------------------
def _prepare_ce(logits, target, weight, ignore_index, reduction, label_smoothing):
    reduction = check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    eps = check_real(label_smoothing, "label_smoothing", 0.0, 1.0)
    # NaN and infinities in the logits are found inside the blocked pass, row by row.
    x, out_dtype = float_array(logits, "logits", check_nan=False)
    n_classes = _class_axis_first_check(x, "logits")
    w = class_weight(weight, n_classes, x.dtype)
    t = as_target_array(target)
    if t.dtype.kind == "f":
        if t.shape == _batch_shape(x) and t.shape != x.shape:
            raise TypeError(
                f"target of shape {t.shape} holds class indices, which must be integers; "
                f"got dtype {t.dtype} (PyTorch: 'expected scalar type Long')"
            )
        if t.shape != x.shape:
            raise ValueError(
                f"a floating-point target holds class probabilities and must have the logits' "
                f"shape {x.shape}, got shape {t.shape}; for class indices use an integer array"
            )
        if ignore_index != -100:
            raise ValueError(
                f"ignore_index={ignore_index} cannot be used with probability targets: "
                "there are no class indices to ignore (PyTorch raises for ignore_index >= 0 "
                "and silently ignores a negative one)"
            )
        check_unit_interval(t, "target")  # also refuses NaN and infinities; the sums are checked per tile
        probs = True
    else:
        t = class_targets(t, n_classes, _batch_shape(x), ignore_index)
        probs = False
    return x, t, w, probs, ignore_index, reduction, eps, out_dtype


def _ignored_in(t: np.ndarray, ignore_index: int) -> int | None:
    """``ignore_index`` if some target may equal it, else None (the kernels then skip
    the per-row mask); the targets are already known to be valid classes otherwise."""
    if t.size == 0 or not (t.min() <= ignore_index <= t.max()):
        return None
    return ignore_index


# ---------------------------------------------------------------------------------------
# The kernels. Each walks the rows a tile at a time (celib._blocks) and returns the sum of
# the losses and of their weights; it writes per-row losses into ``loss2`` and the
# gradient (times ``scale``) into ``grad3`` when they are given. celib.reference holds
# the same formulas written plainly, and the tests check one against the other.
# ---------------------------------------------------------------------------------------
def _ce_index_pass(rows: ClassRows, t2, w, ignore_index, eps, *, loss2=None, grad3=None, scale=1.0):
    r"""Cross-entropy with class-index targets (see :func:`celib.reference.cross_entropy`).

    With :math:`p = e / s` from :func:`~celib._blocks.softmax_parts` and the true
    class's term :math:`e_y` (for the gradient, apart from the ``rest`` of the row sum):

    - loss: :math:`(1-\varepsilon)\, w_y \log(s/e_y)` (accurate to a few ulps even when
      tiny, :func:`~celib._blocks.neg_log_prob`)
      + \tfrac{\varepsilon}{C} \sum_c w_c (\log s + m - x_c)`;
    - gradient: :math:`a\,p - (1-\varepsilon) w_y\, \mathbb{1}_y - \tfrac{\varepsilon}{C} w`
      with :math:`a = (1-\varepsilon) w_y + \tfrac{\varepsilon}{C}\sum_c w_c`, whose true-class
      entry is computed as :math:`(\tfrac{\varepsilon}{C}\sum_c w_c\, e_y
      - (1-\varepsilon) w_y\, \mathit{rest}) / s - \tfrac{\varepsilon}{C} w_y`, never as
      the difference of two numbers near 1.

    Ignored rows count 0 and get a zero gradient, whatever they hold.
    """
    n_classes, dtype = rows.n_classes, rows.x3.dtype
    w_vec = np.ones(n_classes, dtype) if w is None else w
    w_sum = float(n_classes) if w is None else float(w.sum(dtype=np.float64))
    smooth = eps / n_classes

    def body(tile, e, xbuf=None):
        xb = rows.read(tile, xbuf)
        e = scratch(e, xb.shape)
        valid, y = _valid_and_classes(rows.per_row(t2, tile), ignore_index)
        wy = _target_weights(w, y, valid, dtype)
        try:
            (index,), (e_y,), sums, m = softmax_parts(xb, e, (y,), valid, apart=grad3 is not None)
        except BadRow as bad:
            raise _bad_row_error(rows, tile, bad.k, xb, "logits") from None
        if grad3 is None:
            nll = neg_log_prob(e, sums, e_y, index)
            if m is not None:  # where e_y underflowed, -log p_y = lse - x_y
                nll = np.where(e_y >= MIN_TERM, nll, np.log(sums) - (take(xb, index) - m))
            if valid is not None:
                nll[~valid] = 0  # an ignored row counts 0, even if its -log p is inf or nan
            loss = nll if wy is None else wy * nll
            if eps:
                lse = np.log(sums) if m is None else np.log(sums) + m
                smoothing = w_sum * lse - xb @ w_vec  # sum_c w_c (lse - x_c)
                if valid is not None:
                    smoothing[~valid] = 0
                loss = (1 - eps) * loss + smooth * smoothing
            if loss2 is not None:
                rows.set_per_row(loss2, tile, loss)
            return float(loss.sum(dtype=np.float64)), float(y.size if wy is None else wy.sum(dtype=np.float64))
        rest = sums
        s = rest + e_y
        w_true = 1.0 if wy is None else wy
        a = (1 - eps) * w_true + (smooth * w_sum if valid is None else smooth * w_sum * valid)
        direct = rows.out_rows(tile, grad3)
        g = e if direct is None else direct
        np.multiply(e, (a * scale / s)[:, None], out=g)  # a p, with 0 at the true class
        g_y = ((1 - eps) * scale) * w_true * rest  # (1 - p_y) times the true class's weight
        if eps:
            g_y = (smooth * w_sum * scale) * (e_y if valid is None else e_y * valid) - g_y
        else:
            np.negative(g_y, out=g_y)
        g.reshape(-1)[index] = g_y / s
        if eps:
            if valid is None:
                g -= (smooth * scale) * w_vec
            else:
                g[valid] -= (smooth * scale) * w_vec
        if valid is not None:
            g[~valid] = 0  # an ignored row may hold NaN or inf: its gradient is 0 all the same
        if direct is None:
            rows.write(tile, grad3, g)
        return 0.0, 0.0

    plan = rows.plan(np.dtype(dtype).itemsize, 1 + rows.needs_copy)
    parts = run_tiles(plan, body, (n_classes,), dtype, 1 + rows.needs_copy)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def _ce_prob_pass(rows: ClassRows, t3, w, eps, *, loss2=None, grad3=None, scale=1.0):
    r"""Cross-entropy with probability targets (see :func:`celib.reference.cross_entropy`).

    With :math:`\tilde t = w \odot ((1-\varepsilon) t + \varepsilon / C)`: the loss is
    :math:`-\sum_c \tilde t_c \log p_c` (a term with :math:`\tilde t_c = 0` is 0, even where
    :math:`p_c = 0`) and the gradient :math:`p \sum_c \tilde t_c - \tilde t`.
    """
    n_classes, dtype = rows.n_classes, rows.x3.dtype

    def body(tile, e, tw, xbuf=None):
        xb = rows.read(tile, xbuf)
        e = scratch(e, xb.shape)
        _check_row_sums(rows, tile, rows.view(t3, tile).sum(axis=2).reshape(-1), "target", t3.dtype, dtype)
        tb = rows.read(tile, tw, t3)  # the target's rows, in the logits' dtype
        tw = scratch(tw, xb.shape)
        np.multiply(tb, 1 - eps, out=tw)
        if eps:
            tw += eps / n_classes
        if w is not None:
            tw *= w
        m = row_max(xb)
        bad = ~np.isfinite(m)
        if bad.any():
            raise _bad_row_error(rows, tile, int(np.flatnonzero(bad)[0]), xb, "logits")
        np.subtract(xb, m[:, None], out=e)
        np.exp(e, out=e)
        s = e.sum(axis=1)
        if grad3 is None:
            np.subtract(xb, (np.log(s) + m)[:, None], out=e)  # log p
            np.multiply(e, tw, out=e)
            np.copyto(e, 0, where=tw == 0)  # 0 log 0 = 0
            loss = -e.sum(axis=1)
            if loss2 is not None:
                rows.set_per_row(loss2, tile, loss)
            return float(loss.sum(dtype=np.float64))
        direct = rows.out_rows(tile, grad3)
        g = e if direct is None else direct
        np.multiply(e, (tw.sum(axis=1) * scale / s)[:, None], out=g)
        tw *= scale
        g -= tw
        if direct is None:
            rows.write(tile, grad3, g)
        return 0.0

    n_buffers = 2 + rows.needs_copy
    plan = rows.plan(np.dtype(dtype).itemsize, n_buffers)
    return sum(run_tiles(plan, body, (n_classes,), dtype, n_buffers))


def cross_entropy(
    logits,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> np.ndarray:
    r"""Cross-entropy (交叉熵) between the softmax of ``logits`` and the targets.

    For a class-index target :math:`y_n`, with class weights :math:`w` (all 1 by
    default) and label smoothing :math:`\varepsilon`,

    .. math::

        \ell_n = (1-\varepsilon)\, w_{y_n} \bigl(-\log p_{n,y_n}\bigr)
                 + \frac{\varepsilon}{C} \sum_{c} w_c \bigl(-\log p_{n,c}\bigr),
        \qquad p_n = \operatorname{softmax}(x_n),

    and ``reduction="mean"`` divides :math:`\sum_n \ell_n` by :math:`\sum_n w_{y_n}`
    over the targets that are not ``ignore_index`` (the number of such targets when
    there are no weights). For a probability target :math:`t_n` (same shape as the
    logits), :math:`t \leftarrow (1-\varepsilon) t + \varepsilon / C`,
    :math:`\ell_n = -\sum_c w_c t_{n,c} \log p_{n,c}`, and the mean divides by the
    number of samples.

    Parameters
    ----------
    logits : array_like, shape (C,) or (N, C) or (N, C, d1, ...)
        Unnormalised scores; the class axis is 1 (0 for a single sample). -inf means
        probability 0. A sample that counts may not hold NaN or +inf, nor be all -inf
        (its softmax is undefined): that raises a ``ValueError`` naming the element. A
        sample whose target is ``ignore_index`` may hold anything.
    target : array_like
        Class indices, integers of shape () or (N,) or (N, d1, ...), in ``[0, C)`` or
        equal to ``ignore_index``; or probabilities, floats of the logits' shape,
        each slice along the class axis a distribution.
    weight : array_like, shape (C,), optional
        Non-negative weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing, not even to the mean's denominator.
        Only for class-index targets.
    reduction : {"mean", "sum", "none"}, default "mean"
    label_smoothing : float in [0, 1], default 0.0

    Returns
    -------
    ndarray
        A scalar, or the per-sample losses (shape of the class-index target) for
        ``reduction="none"``, in the logits' float dtype.

    Notes
    -----
    Same semantics as ``torch.nn.functional.cross_entropy``. Differences: bad input
    raises ``ValueError``/``TypeError`` (PyTorch accepts negative weights, target
    rows that are not distributions, NaN, and a negative non-default ``ignore_index``
    with probability targets); when every target is ignored,
    ``reduction="mean"`` returns nan *with a RuntimeWarning* (PyTorch: a silent nan).

    Examples
    --------
    Three classes (cat, dog, cow); the true class is cow:

    >>> from celib import softmax
    >>> logits = np.array([[1.0, 2.0, 3.0]])
    >>> print(round(float(cross_entropy(logits, np.array([2]))), 4))
    0.4076
    >>> print(round(float(-np.log(softmax(logits)[0, 2])), 4))   # = -log p_cow
    0.4076

    Ignored targets are left out of the mean:

    >>> x = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> print(cross_entropy(x, np.array([0, -100]), reduction="none").round(4))
    [0.1269 0.    ]
    >>> print(round(float(cross_entropy(x, np.array([0, -100]))), 4))
    0.1269
    """
    x, t, w, probs, ignore_index, reduction, eps, out_dtype = _prepare_ce(
        logits, target, weight, ignore_index, reduction, label_smoothing
    )
    rows = ClassRows(x)
    loss = np.empty(_batch_shape(x), x.dtype) if reduction == "none" else None
    loss2 = None if loss is None else rows.row_grid(loss)
    if probs:
        total = _ce_prob_pass(rows, rows.as_grid(t), w, eps, loss2=loss2)
        return finish_reduction(total, rows.n_rows, loss, reduction, out_dtype, "cross_entropy", "no samples")
    total, denominator = _ce_index_pass(rows, rows.row_grid(t), w, _ignored_in(t, ignore_index), eps, loss2=loss2)
    return finish_reduction(total, denominator, loss, reduction, out_dtype, "cross_entropy", _NO_TARGETS)


def cross_entropy_grad(
    logits,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> np.ndarray:
    r"""Gradient of :func:`cross_entropy` with respect to ``logits``.

    For one sample with a one-hot (or probability) target :math:`y` and no weights
    or smoothing, it is the famous

    .. math:: \frac{\partial \ell}{\partial x} = \operatorname{softmax}(x) - y ,

    so every class gets a gradient, not only the true one. With weights and
    smoothing it is :math:`a\,p - (1-\varepsilon) w_y e_y - \tfrac{\varepsilon}{C} w`
    with :math:`a = (1-\varepsilon) w_y + \tfrac{\varepsilon}{C}\sum_c w_c`, divided
    by the same denominator as the loss for ``reduction="mean"``.

    Parameters
    ----------
    logits, target, weight, ignore_index, reduction, label_smoothing
        As for :func:`cross_entropy`. With ``reduction="none"`` the result is the
        gradient of the sum (each sample's loss depends on its own logits only),
        which is what ``torch.autograd.grad(loss, x, torch.ones_like(loss))`` gives.

    Returns
    -------
    ndarray
        Same shape and float dtype as ``logits``. Ignored samples get 0.

    Examples
    --------
    >>> from celib import one_hot, softmax
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> print(cross_entropy_grad(x, np.array([2])).round(4))
    [[ 0.09    0.2447 -0.3348]]
    >>> print((softmax(x) - one_hot([2], 3)).round(4))   # p - y
    [[ 0.09    0.2447 -0.3348]]
    """
    x, t, w, probs, ignore_index, reduction, eps, out_dtype = _prepare_ce(
        logits, target, weight, ignore_index, reduction, label_smoothing
    )
    rows = ClassRows(x)
    grad = np.empty(x.shape, x.dtype)
    if probs:
        scale = mean_scale(rows.n_rows, reduction, "cross_entropy_grad", "no samples")
        if scale is not None:
            _ce_prob_pass(rows, rows.as_grid(t), w, eps, grad3=rows.as_grid(grad), scale=scale)
            return grad.astype(out_dtype, copy=False)
        return np.full(x.shape, np.nan, out_dtype)
    t2, ignore_index = rows.row_grid(t), _ignored_in(t, ignore_index)
    scale = _index_mean_scale(t2, w, ignore_index, reduction, "cross_entropy_grad")
    if scale is None:
        return np.zeros(x.shape, out_dtype)
    _ce_index_pass(rows, t2, w, ignore_index, eps, grad3=rows.as_grid(grad), scale=scale)
    return grad.astype(out_dtype, copy=False)


def nll_loss(
    log_probs,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> np.ndarray:
    r"""Negative log-likelihood: :math:`\ell_n = -w_{y_n} \log p_{n,y_n}` from log-probabilities.

    ``cross_entropy(x, y)`` equals ``nll_loss(log_softmax(x, axis=1), y)``.

    Parameters
    ----------
    log_probs : array_like, shape (C,) or (N, C) or (N, C, d1, ...)
        Log-probabilities, class axis 1. NaN in a sample that counts is refused; -inf
        means probability 0. As in PyTorch, the values are not checked to be
        log-probabilities, and an ignored sample may hold anything.
    target : array_like of int
        Class indices of shape () or (N,) or (N, d1, ...), in ``[0, C)`` or equal to
        ``ignore_index``.
    weight : array_like, shape (C,), optional
    ignore_index : int, default -100
    reduction : {"mean", "sum", "none"}, default "mean"
        The mean divides by the sum of the target classes' weights, as
        :func:`cross_entropy` does.

    Returns
    -------
    ndarray
        As for :func:`cross_entropy`.

    Notes
    -----
    Same semantics as ``torch.nn.functional.nll_loss``; bad input raises, and a mean
    over no (weighted) target returns nan with a RuntimeWarning.

    Examples
    --------
    >>> logp = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    >>> print(round(float(nll_loss(logp, np.array([0, 2]))), 4))   # (-log 0.7 - log 0.8) / 2
    0.2899
    """
    x, t2, w, ignore_index, reduction, out_dtype, rows = _prepare_nll(
        log_probs, target, weight, ignore_index, reduction
    )
    loss = np.empty(_batch_shape(x), x.dtype) if reduction == "none" else None
    total, denominator = _nll_pass(rows, t2, w, ignore_index, loss2=None if loss is None else rows.row_grid(loss))
    return finish_reduction(total, denominator, loss, reduction, out_dtype, "nll_loss", _NO_TARGETS)


def nll_loss_grad(
    log_probs,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> np.ndarray:
    r"""Gradient of :func:`nll_loss` with respect to ``log_probs``: :math:`-w_{y_n}` at each target.

    Every other entry is 0: the loss reads one log-probability per sample. Through a
    log-softmax this becomes :math:`p - y` (see :func:`cross_entropy_grad`).

    Parameters
    ----------
    log_probs, target, weight, ignore_index, reduction
        As for :func:`nll_loss`; divided by the same denominator for
        ``reduction="mean"``; ``reduction="none"`` gives the gradient of the sum.

    Returns
    -------
    ndarray
        Shape and float dtype of ``log_probs``. Ignored samples get 0.

    Examples
    --------
    >>> logp = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    >>> print(nll_loss_grad(logp, np.array([0, 2])))
    [[-0.5  0.   0. ]
     [ 0.   0.  -0.5]]
    """
    x, t2, w, ignore_index, reduction, out_dtype, rows = _prepare_nll(
        log_probs, target, weight, ignore_index, reduction
    )
    scale = _index_mean_scale(t2, w, ignore_index, reduction, "nll_loss_grad")
    if scale is None:
        return np.zeros(x.shape, out_dtype)
    grad = np.zeros(x.shape, x.dtype)
    _nll_pass(rows, t2, w, ignore_index, grad3=rows.as_grid(grad), scale=scale)
    return grad.astype(out_dtype, copy=False)


def _prepare_nll(log_probs, target, weight, ignore_index, reduction):
    reduction = check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    x, out_dtype = float_array(log_probs, "log_probs", check_nan=False)  # NaN: per row, below
    n_classes = _class_axis_first_check(x, "log_probs")
    w = class_weight(weight, n_classes, x.dtype)
    t = as_target_array(target)
    if t.dtype.kind == "f":
        raise TypeError(
            f"target must hold integer class indices for nll_loss, got dtype {t.dtype}; "
            "for probability targets use cross_entropy"
        )
    t = class_targets(t, n_classes, _batch_shape(x), ignore_index)
    rows = ClassRows(x)
    return x, rows.row_grid(t), w, ignore_index, reduction, out_dtype, rows


def _nll_pass(rows: ClassRows, t2, w, ignore_index, *, loss2=None, grad3=None, scale=1.0):
    """``-w_y log p_y`` per row (0 where ignored or where ``w_y = 0``), or its gradient
    ``-scale w_y`` at the target. A counted row that holds NaN is refused."""
    x3, dtype = rows.x3, rows.x3.dtype
    has_nan = x3.size > 0 and np.isnan(x3.min())

    def body(tile):
        view = rows.view(x3, tile)  # (n, d, C), strided
        valid, y = _valid_and_classes(rows.per_row(t2, tile), ignore_index)
        if has_nan:
            nan_rows = np.isnan(view).any(axis=2).reshape(-1)
            if valid is not None:
                nan_rows &= valid
            if nan_rows.any():
                k = int(np.flatnonzero(nan_rows)[0])
                c = int(np.flatnonzero(np.isnan(view.reshape(-1, rows.n_classes)[k]))[0])
                raise ValueError(
                    f"log_probs must not contain NaN; found nan at index {rows.element_index(tile, k, c)}"
                )
        wy = _target_weights(w, y, valid, dtype)
        weight = np.ones(y.size, dtype) if wy is None else wy
        y3 = y.reshape(view.shape[:2] + (1,))
        if grad3 is not None:
            values = 0.0 - scale * weight
            if valid is not None:
                values[~valid] = 0  # an ignored sample's gradient is 0, even when scale is nan
            np.put_along_axis(rows.view(grad3, tile), y3, values.reshape(y3.shape), axis=2)
            return 0.0, 0.0
        picked = np.take_along_axis(view, y3, axis=2).reshape(-1)
        loss = np.where(weight == 0, 0, -weight * picked).astype(dtype, copy=False)
        if loss2 is not None:
            rows.set_per_row(loss2, tile, loss)
        return float(loss.sum(dtype=np.float64)), float(weight.sum(dtype=np.float64))

    plan = rows.plan(np.dtype(dtype).itemsize, 0)
    parts = run_tiles(plan, body, (rows.n_classes,), dtype, 0)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def _prepare_categorical(probs, target, reduction):
    reduction = check_reduction(reduction)
    p, out_dtype = float_array(probs, "probs")
    _class_axis_first_check(p, "probs")
    check_unit_interval(p, "probs")  # the sums to 1 are checked per tile
    rows = ClassRows(p)
    t = as_target_array(target)
    if t.dtype.kind == "f" or (t.shape == p.shape and t.dtype.kind in "iu"):
        if t.shape != p.shape:
            raise ValueError(
                f"a floating-point target is a one-hot or probability vector and must have "
                f"the shape of probs {p.shape}, got shape {t.shape}"
            )
        check_unit_interval(t, "target")
        return p, rows, rows.as_grid(t), True, reduction, out_dtype
    t = class_targets(t, rows.n_classes, _batch_shape(p), None)
    return p, rows, rows.row_grid(t), False, reduction, out_dtype


def _categorical_pass(rows: ClassRows, t, vectors: bool, *, loss2=None, grad3=None, scale=1.0) -> float:
    r"""The notes' :math:`-\sum_k y_k \log p_k` per row (a term with :math:`y_k = 0` is 0),
    or its gradient :math:`-y/p` (0 where :math:`y_k = 0`); ``t`` holds one-hot/probability
    vectors (``vectors``) or class indices."""
    n_classes, dtype = rows.n_classes, rows.x3.dtype

    def body(tile, pbuf, tbuf):
        pb = rows.read(tile, pbuf)
        _check_row_sums(rows, tile, pb.sum(axis=1), "probs", dtype)
        if vectors:
            _check_row_sums(rows, tile, rows.view(t, tile).sum(axis=2).reshape(-1), "target", t.dtype, dtype)
            tb = rows.read(tile, tbuf, t)
        else:
            y = rows.per_row(t, tile).astype(np.intp, copy=False)
            tb = scratch(tbuf, pb.shape)
            tb[...] = 0
            tb.reshape(-1)[flat_index(tb, n_classes, y)] = 1
        direct = None if grad3 is None else rows.out_rows(tile, grad3)
        out = scratch(pbuf, pb.shape) if direct is None else direct
        if grad3 is None:
            np.log(pb, out=out)
            np.multiply(out, tb, out=out)
            np.copyto(out, 0, where=tb == 0)  # 0 log 0 = 0
            loss = -out.sum(axis=1)
            if loss2 is not None:
                rows.set_per_row(loss2, tile, loss)
            return float(loss.sum(dtype=np.float64))
        np.divide(tb, pb, out=out)
        out *= -scale
        np.copyto(out, 0, where=tb == 0)  # only classes with y > 0 get a gradient
        if direct is None:
            rows.write(tile, grad3, out)
        return 0.0

    plan = rows.plan(np.dtype(dtype).itemsize, 2)
    return sum(run_tiles(plan, body, (n_classes,), dtype, 2))


def categorical_cross_entropy(probs, target, *, reduction: str = "mean") -> np.ndarray:
    r"""Cross-entropy in the notes' form, :math:`E = -\sum_k y_k \log p_k`, on probabilities.

    This is the textbook formula: ``probs`` are already probabilities (the output of
    a softmax), ``target`` a one-hot vector, a probability vector, or a class index.
    Terms with :math:`y_k = 0` are exactly 0 (``0 log 0 = 0``), so for a one-hot target
    only the true class's :math:`-\log p` remains.

    Parameters
    ----------
    probs : array_like, shape (C,) or (N, C) or (N, C, d1, ...)
        Probabilities, class axis 1; each slice must sum to 1.
    target : array_like
        Class indices (integers of shape () or (N,) or (N, d1, ...)), or one-hot /
        probability vectors of the shape of ``probs``.
    reduction : {"mean", "sum", "none"}, default "mean"
        The mean is over samples, :math:`\frac1M\sum_m E_m`.

    Returns
    -------
    ndarray
        In the float dtype of ``probs``. A true class of probability 0 gives ``inf``
        (the exact value of :math:`-\log 0`): no ``eps`` is added. Keras'
        ``categorical_crossentropy`` instead clips probabilities to ``[1e-7, 1-1e-7]``.

    Examples
    --------
    Model A's first sample in Chapter 5: true class 3 predicted with probability 0.4.

    >>> print(round(float(categorical_cross_entropy([0.3, 0.3, 0.4], [0, 0, 1.0])), 4))
    0.9163
    >>> print(round(float(categorical_cross_entropy([[0.3, 0.3, 0.4]], [2])), 4))
    0.9163
    """
    p, rows, t, vectors, reduction, out_dtype = _prepare_categorical(probs, target, reduction)
    loss = np.empty(_batch_shape(p), p.dtype) if reduction == "none" else None
    total = _categorical_pass(rows, t, vectors, loss2=None if loss is None else rows.row_grid(loss))
    return finish_reduction(total, rows.n_rows, loss, reduction, out_dtype, "categorical_cross_entropy", "no samples")


def categorical_cross_entropy_grad(probs, target, *, reduction: str = "mean") -> np.ndarray:
    r"""Gradient of :func:`categorical_cross_entropy` with respect to ``probs``: :math:`-y/p`.

    Only classes with :math:`y_k > 0` get a gradient here (0 elsewhere). That is the
    sense in which "only the true class counts"; through a softmax the gradient on the
    logits is nevertheless :math:`p - y` for every class (see
    :func:`cross_entropy_grad`).

    Parameters
    ----------
    probs, target, reduction
        As for :func:`categorical_cross_entropy`. ``reduction="none"`` gives the
        gradient of the sum. Where :math:`y_k > 0` and :math:`p_k = 0` the result is
        ``-inf``.

    Returns
    -------
    ndarray
        Shape and float dtype of ``probs``.

    Examples
    --------
    >>> print(categorical_cross_entropy_grad([0.3, 0.3, 0.4], [0, 0, 1.0]))
    [ 0.    0.   -2.5]
    """
    p, rows, t, vectors, reduction, out_dtype = _prepare_categorical(probs, target, reduction)
    scale = mean_scale(rows.n_rows, reduction, "categorical_cross_entropy_grad", "no samples")
    if scale is None:
        return np.full(p.shape, np.nan, out_dtype)
    grad = np.empty(p.shape, p.dtype)
    _categorical_pass(rows, t, vectors, grad3=rows.as_grid(grad), scale=scale)
    return grad.astype(out_dtype, copy=False)
