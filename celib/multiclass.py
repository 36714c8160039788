"""Multi-class cross-entropy (交叉熵): from logits, from log-probabilities, from probabilities.

The semantics follow ``torch.nn.functional``: the class axis is 1 for inputs of two or
more dimensions, ``(N, C, d1, ...)``, and 0 for a single ``(C,)`` input. Each loss has
its gradient right below it.

Book chapters: 2 (multi-class CE and one-hot), 3 (averaging over a batch),
4 (why only the true class counts).
"""

from __future__ import annotations

import numpy as np

from ._reduction import finish_reduction
from ._blocks import (
    NonFiniteRow,
    exp_rows,
    exp_rows_shifted,
    neg_log_prob,
    row_offsets,
    run_in_row_blocks,
    sums_are_safe,
    take,
)
from ._validation import (
    _where,
    check_distribution,
    check_int,
    check_no_nan,
    check_no_posinf,
    check_real,
    check_reduction,
    class_targets,
    class_weight,
    float_array,
    warn_empty_mean,
)

__all__ = [
    "cross_entropy",
    "cross_entropy_grad",
    "nll_loss",
    "categorical_cross_entropy",
    "categorical_cross_entropy_grad",
]

_NO_TARGETS = "no targets (none given, all ignored, or all of weight 0)"

# ---------------------------------------------------------------------------------------
# Shapes: every input is viewed as rows of C classes, (M, C), and results are put back.
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


def _as_rows(x: np.ndarray) -> np.ndarray:
    """View ``x`` as (M, C) rows, class axis last (a copy only for (N, C, d1, ...))."""
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _from_rows(rows: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_as_rows` for an (M, C) array."""
    if like.ndim == 1:
        return rows[0]
    moved = rows.reshape((like.shape[0],) + like.shape[2:] + (like.shape[1],))
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def _reduce(loss: np.ndarray, reduction: str, denominator, batch_shape, out_dtype, func, why):
    total = loss.sum(dtype=np.float64) if reduction != "none" else 0.0
    return finish_reduction(total, denominator, loss.reshape(batch_shape), reduction, out_dtype, func, why)


# ---------------------------------------------------------------------------------------
# Argument checking shared by cross_entropy and cross_entropy_grad
# ---------------------------------------------------------------------------------------
def _prepare_ce(logits, target, weight, ignore_index, reduction, label_smoothing):
    reduction = check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    eps = check_real(label_smoothing, "label_smoothing", 0.0, 1.0)
    # NaN and +inf in the logits are found cheaply inside the blocked loop (they make
    # a row's max non-finite); only probability targets check them up front.
    x, out_dtype = float_array(logits, "logits", check_nan=False)
    n_classes = _class_axis_first_check(x, "logits")
    w = class_weight(weight, n_classes, x.dtype)
    t = np.asarray(target)
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
        t = t.astype(x.dtype, copy=False)
        check_no_nan(t, "target")
        check_distribution(t, "target", axis=0 if x.ndim == 1 else 1)
        if not np.isfinite(x.max(axis=0 if x.ndim == 1 else 1)).all():
            _raise_non_finite(x)
        probs = True
    else:
        t = class_targets(t, n_classes, _batch_shape(x), ignore_index)
        probs = False
    return x, t, w, probs, ignore_index, reduction, eps, out_dtype, n_classes


def _raise_non_finite(x: np.ndarray) -> None:
    """Called when some row's max is not finite: name the culprit in the caller's shape."""
    check_no_nan(x, "logits")
    check_no_posinf(x, "logits")
    bad = np.all(np.isneginf(x), axis=0 if x.ndim == 1 else 1)
    raise ValueError(f"logits has a sample whose logits are all -inf{_where(bad)}: its softmax is 0/0")


# ---------------------------------------------------------------------------------------
# The blocked kernel for class-index targets
# ---------------------------------------------------------------------------------------
def _index_target_pass(x2, t1, w, ignore_index, eps, *, loss_out=None, grad=None, grad_scale=1.0):
    """One pass over the rows, in blocks, for class-index targets.

    Per block: ``e = exp(x)`` and the row sums ``s`` (shifted by each row's maximum only
    if needed), then ``-log p_y = log(s / e_y)``. Writes the per-row losses into
    ``loss_out`` if given, and the gradient ``scale * [a p - (1-eps) w_y e_y - (eps/C) w]``
    into ``grad`` if given, where ``a = (1-eps) w_y + (eps/C) sum(w)``. Returns ``(sum of
    losses, sum of the target weights that count)``.
    """
    n_rows, n_classes = x2.shape
    ones = np.ones(n_classes, x2.dtype)
    w_vec = ones if w is None else w
    w_sum = float(n_classes) if w is None else float(w.sum(dtype=np.float64))
    any_ignored = bool((t1 == ignore_index).any()) if n_rows else False
    offsets = row_offsets(n_rows, n_classes)

    def targets(start, stop):
        """Flat index of each row's target in the block, 0/1 validity, target weights."""
        tb = t1[start:stop]
        valid = None
        if any_ignored:
            valid = tb != ignore_index
            tb = np.where(valid, tb, 0)
        if w is not None:
            wt = w[tb] if valid is None else np.where(valid, w[tb], 0).astype(x2.dtype)
        else:
            wt = None if valid is None else valid.astype(x2.dtype)
        return offsets[: stop - start] + tb, valid, wt

    def weighted(nll, xb, s, shift, valid, wt):
        """The per-row loss from -log p_y: weights, ignored rows, label smoothing."""
        if valid is not None:
            nll = np.where(valid, nll, 0)  # an ignored row counts 0, even if its -log p is inf
        loss = nll if wt is None else wt * nll
        if eps:
            lse = np.log(s) if shift is None else np.log(s) + shift
            smooth = w_sum * lse - xb @ w_vec  # sum_c w_c (lse - x_c)
            if valid is not None:
                smooth = np.where(valid, smooth, 0)
            loss = (1 - eps) * loss + (eps / n_classes) * smooth
        return loss

    def loss_body(start, stop, e):
        xb = x2[start:stop]
        index, valid, wt = targets(start, stop)
        s = exp_rows(xb, e, ones)
        nll = neg_log_prob(e, s, index)
        if nll is not None:
            loss = weighted(nll, xb, s, None, valid, wt)
            total = float(loss.sum(dtype=np.float64))
        if nll is None or not np.isfinite(total):  # overflow or lost digits: shift, redo
            s, shift = exp_rows_shifted(xb, e, ones)
            nll = np.log(s) - (take(xb, index) - shift)
            loss = weighted(nll, xb, s, shift, valid, wt)
            total = float(loss.sum(dtype=np.float64))
        if loss_out is not None:
            loss_out[start:stop] = loss
        return total, float(stop - start if wt is None else wt.sum(dtype=np.float64))

    def grad_body(start, stop, e):
        xb = x2[start:stop]
        index, valid, wt = targets(start, stop)
        s = exp_rows(xb, e, ones)
        if not sums_are_safe(s):
            s, _ = exp_rows_shifted(xb, e, ones)
        w_true = 1.0 if wt is None else wt
        a = (1 - eps) * w_true
        if eps:
            a = a + (eps / n_classes) * w_sum * (1.0 if valid is None else valid)
        gb = grad[start:stop]
        np.multiply(e, (a * grad_scale / s)[:, None], out=gb)  # a * softmax
        gb.reshape(-1)[index] -= (1 - eps) * grad_scale * w_true
        if eps:
            if valid is None:
                gb -= (eps / n_classes * grad_scale) * w_vec
            else:
                gb[valid] -= (eps / n_classes * grad_scale) * w_vec
        return 0.0, 0.0

    parts = run_in_row_blocks(n_rows, n_classes, x2.dtype, loss_body if grad is None else grad_body)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def _run_index_pass(x, x2, *args, **kwargs):
    """The blocked pass, with a bad row reported in the shape the caller passed."""
    try:
        return _index_target_pass(x2, *args, **kwargs)
    except NonFiniteRow:
        pass
    _raise_non_finite(x)


def _prob_target_terms(x2, t2, w, eps):
    """Per-row loss and the unscaled gradient for probability targets."""
    n_classes = x2.shape[1]
    if eps:
        t2 = t2 * (1 - eps) + eps / n_classes
    tw = t2 if w is None else t2 * w
    m = x2.max(axis=1, keepdims=True)
    shifted = x2 - m
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    logp = shifted - np.log(s)
    loss = -np.where(tw == 0, 0, tw * logp).sum(axis=1)  # 0 * log 0 = 0
    grad = (e / s) * tw.sum(axis=1, keepdims=True) - tw
    return loss, grad


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
        Unnormalised scores; the class axis is 1 (0 for a single sample). NaN and
        +inf are refused; -inf means probability 0.
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
    x, t, w, probs, ignore_index, reduction, eps, out_dtype, _ = _prepare_ce(
        logits, target, weight, ignore_index, reduction, label_smoothing
    )
    x2 = _as_rows(x)
    batch_shape = _batch_shape(x)
    if probs:
        loss, _ = _prob_target_terms(x2, _as_rows(t), w, eps)
        return _reduce(loss, reduction, loss.size, batch_shape, out_dtype, "cross_entropy", "no samples")
    loss = np.empty(batch_shape, x.dtype) if reduction == "none" else None
    total, denominator = _run_index_pass(
        x, x2, t.reshape(-1), w, ignore_index, eps, loss_out=None if loss is None else loss.reshape(-1)
    )
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
    x, t, w, probs, ignore_index, reduction, eps, out_dtype, _ = _prepare_ce(
        logits, target, weight, ignore_index, reduction, label_smoothing
    )
    x2 = _as_rows(x)
    if probs:
        _, grad = _prob_target_terms(x2, _as_rows(t), w, eps)
        if reduction == "mean":
            if grad.shape[0] == 0:
                warn_empty_mean("cross_entropy_grad", "no samples")
            else:
                grad /= grad.shape[0]
        return _from_rows(grad, x).astype(out_dtype, copy=False)
    t1 = t.reshape(-1)
    scale = 1.0
    if reduction == "mean":
        valid = t1 != ignore_index
        denominator = float(
            valid.sum() if w is None else w[np.where(valid, t1, 0)][valid].sum(dtype=np.float64)
        )
        if denominator == 0:
            warn_empty_mean("cross_entropy_grad", _NO_TARGETS)
            # As PyTorch: no target at all gives a zero gradient, zero weights give nan.
            fill = 0.0 if not valid.any() else np.nan
            return np.full(x.shape, fill, dtype=out_dtype)
        scale = 1.0 / denominator
    grad = np.empty_like(x2)
    _run_index_pass(x, x2, t1, w, ignore_index, eps, grad=grad, grad_scale=scale)
    return _from_rows(grad, x).astype(out_dtype, copy=False)


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
        Log-probabilities, class axis 1. NaN is refused; -inf means probability 0.
        As in PyTorch, the values are not checked to be log-probabilities.
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
    reduction = check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    x, out_dtype = float_array(log_probs, "log_probs")
    n_classes = _class_axis_first_check(x, "log_probs")
    w = class_weight(weight, n_classes, x.dtype)
    t = np.asarray(target)
    if t.dtype.kind == "f":
        raise TypeError(
            f"target must hold integer class indices for nll_loss, got dtype {t.dtype}; "
            "for probability targets use cross_entropy"
        )
    t = class_targets(t, n_classes, _batch_shape(x), ignore_index).reshape(-1)
    x2 = _as_rows(x)
    valid = t != ignore_index
    t_safe = np.where(valid, t, 0)
    w_t = np.where(valid, 1.0 if w is None else w[t_safe], 0.0).astype(x.dtype)
    picked = x2[np.arange(x2.shape[0]), t_safe]
    loss = np.where(w_t == 0, 0, -w_t * picked).astype(x.dtype)
    return _reduce(
        loss, reduction, float(w_t.sum(dtype=np.float64)), _batch_shape(x), out_dtype, "nll_loss",
        _NO_TARGETS,
    )


def _prepare_categorical(probs, target, reduction):
    reduction = check_reduction(reduction)
    p, out_dtype = float_array(probs, "probs")
    n_classes = _class_axis_first_check(p, "probs")
    axis = 0 if p.ndim == 1 else 1
    check_distribution(p, "probs", axis=axis)
    t = np.asarray(target)
    if t.dtype.kind == "f" or (t.shape == p.shape and t.dtype.kind in "iu"):
        if t.shape != p.shape:
            raise ValueError(
                f"a floating-point target is a one-hot or probability vector and must have "
                f"the shape of probs {p.shape}, got shape {t.shape}"
            )
        t = t.astype(p.dtype, copy=False)
        check_no_nan(t, "target")
        check_distribution(t, "target", axis=axis)
        t_rows = _as_rows(t)
    else:
        t = class_targets(t, n_classes, _batch_shape(p), None)
        t_rows = np.eye(n_classes, dtype=p.dtype)[t.reshape(-1)]
    return p, _as_rows(p), t_rows, reduction, out_dtype


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
    p, p2, t2, reduction, out_dtype = _prepare_categorical(probs, target, reduction)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = -np.where(t2 == 0, 0, t2 * np.log(p2)).sum(axis=1)
    return _reduce(loss, reduction, loss.size, _batch_shape(p), out_dtype, "categorical_cross_entropy", "no samples")


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
    p, p2, t2, reduction, out_dtype = _prepare_categorical(probs, target, reduction)
    with np.errstate(divide="ignore", invalid="ignore"):
        grad = np.where(t2 == 0, 0, -t2 / p2)
    if reduction == "mean":
        if grad.shape[0] == 0:
            warn_empty_mean("categorical_cross_entropy_grad", "no samples")
        else:
            grad /= grad.shape[0]
    return _from_rows(grad, p).astype(out_dtype, copy=False)
