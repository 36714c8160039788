r"""Reference implementations: every celib loss and gradient, written straight from its formula.

Each function here has the name, the arguments and the meaning of the celib function
of the same name, and computes it the plain way: whole arrays at once in float64, no
blocks, no threads, no shortcuts. Read these to see what a loss *is*; read the other
modules to see how it is made fast. ``tests/test_reference.py`` checks that the two
agree on inputs of every shape, dtype and memory layout.

Two things go beyond the bare formula, because without them it cannot be evaluated in
floating point: the log-softmax subtracts the maximum first,
:math:`\log p_i = x_i - m - \log\sum_j e^{x_j - m}`, and the softplus
:math:`\log(1 + e^{z})` is computed as ``np.logaddexp(0, z)``.

These functions assume valid input and do **no validation**: logits finite (a -inf
logit means probability 0), targets of the right shape, dtype and range, options in
range. On anything else they may return nonsense. The public functions check all of
that first.

The conventions are those of ``torch.nn.functional`` and of the rest of celib: the
class axis is 1 for inputs of shape ``(N, C, d1, ...)`` and 0 for a single ``(C,)``
sample (DFL's bins are on the last axis); ``reduction="none"`` returns one loss per
sample (or per element), ``"sum"`` their sum, ``"mean"`` the sum over the denominator
each docstring names, and a mean over zero items (or zero total weight) is nan; a
gradient is that of the reduced loss, for ``"none"`` that of the sum.

Examples
--------
>>> import celib
>>> from celib import reference
>>> x, y = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]]), np.array([2, 0])
>>> print(round(float(reference.cross_entropy(x, y)), 6), round(float(celib.cross_entropy(x, y)), 6))
0.479525 0.479525
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "sigmoid",
    "log_sigmoid",
    "one_hot",
    "cross_entropy",
    "cross_entropy_grad",
    "nll_loss",
    "nll_loss_grad",
    "categorical_cross_entropy",
    "categorical_cross_entropy_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "mse_loss",
    "mse_loss_grad",
    "distribution_focal_loss",
    "distribution_focal_loss_grad",
    "two_hot",
    "dfl_decode",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_grad",
    "quality_focal_loss",
    "quality_focal_loss_grad",
]

#: PyTorch clamps each log of :func:`binary_cross_entropy` at -100.
LOG_CLAMP = -100.0
#: PyTorch's BCE backward divides by :math:`\max(p(1-p), \epsilon)`, :math:`\epsilon` being
#: the C++ ``float`` 1e-12, which is 9.9999996e-13 (in every dtype).
BCE_GRAD_EPSILON = float(np.float32(1e-12))


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _class_axis(x: np.ndarray) -> int:
    return 0 if x.ndim == 1 else 1


def _reduce(loss: np.ndarray, reduction: str, denominator) -> np.ndarray:
    """``none``: the losses; ``sum``: their sum; ``mean``: the sum over ``denominator``, nan if it is 0."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(np.sum(loss))
    return np.asarray(np.sum(loss) / denominator if denominator > 0 else np.nan)


def _scale_grad(grad: np.ndarray, reduction: str, denominator) -> np.ndarray:
    """The gradient of the sum (``none``, ``sum``), or of the mean: divided by ``denominator``."""
    return grad / denominator if reduction == "mean" and denominator > 0 else grad


# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------
def _max(x: np.ndarray, axis) -> np.ndarray:
    """The maximum along ``axis`` (kept); -inf for an empty slice."""
    return np.max(x, axis=axis, keepdims=True, initial=-np.inf)


def logsumexp(x, axis=-1, keepdims=False) -> np.ndarray:
    r""":math:`\log\sum_i e^{x_i} = m + \log\sum_i e^{x_i - m}`, with :math:`m = \max_i x_i`.

    An empty slice gives :math:`\log 0 = -\infty`.

    Parameters
    ----------
    x : array_like
    axis : int or None, default -1
    keepdims : bool, default False
    """
    x = _f64(x)
    m = _max(x, axis)
    with np.errstate(divide="ignore"):  # log 0 = -inf, for an empty slice
        out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(x, axis=-1) -> np.ndarray:
    r""":math:`p_i = e^{x_i - m} / \sum_j e^{x_j - m}` (the same as :math:`e^{x_i} / \sum_j e^{x_j}`)."""
    x = _f64(x)
    e = np.exp(x - _max(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1) -> np.ndarray:
    r""":math:`\log p_i = x_i - m - \log\sum_j e^{x_j - m}`, with :math:`m = \max_j x_j`."""
    x = _f64(x)
    shifted = x - _max(x, axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid(x) -> np.ndarray:
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Below :math:`x \approx -709`, :math:`e^{-x}` overflows to ``inf`` and
    :math:`1 / \infty = 0` is the right answer, so the overflow warning is silenced.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-_f64(x)))


def log_sigmoid(x) -> np.ndarray:
    r""":math:`\log\sigma(x) = -\operatorname{softplus}(-x) = -\log(1 + e^{-x})`."""
    return -np.logaddexp(0.0, -_f64(x))


def one_hot(labels, num_classes, *, dtype=np.float64) -> np.ndarray:
    r"""Class index :math:`k` becomes the vector :math:`e_k` (a new last axis of ``num_classes``)."""
    return (np.asarray(labels)[..., None] == np.arange(num_classes)).astype(dtype)


# ---------------------------------------------------------------------------------------
# Multi-class cross-entropy
# ---------------------------------------------------------------------------------------
def _class_targets(logits, target, weight, ignore_index, label_smoothing):
    r"""Everything the cross-entropies share.

    Returns the logits (float64), the class axis, the target as a distribution
    :math:`t` over the classes (class axis in place), the class weights shaped to
    broadcast along the class axis, and the mean's denominator.

    A class index :math:`y` becomes the smoothed one-hot
    :math:`(1-\varepsilon)\,e_y + \varepsilon / C`, or all zeros if it is
    ``ignore_index``; the denominator is :math:`\sum_n w_{y_n}` over the samples that
    count. A probability target becomes :math:`(1-\varepsilon)\,t + \varepsilon / C`;
    the denominator is the number of samples.
    """
    x = _f64(logits)
    axis = _class_axis(x)
    n_classes = x.shape[axis]
    w = np.ones(n_classes) if weight is None else _f64(weight)
    w_along = w.reshape((n_classes,) + (1,) * (x.ndim - axis - 1))
    eps = label_smoothing
    y = np.asarray(target)
    if y.dtype.kind == "f":  # probabilities
        t = (1 - eps) * _f64(y) + eps / n_classes
        return x, axis, t, w_along, x.size // n_classes
    counts = y != ignore_index
    y = np.where(counts, y, 0)
    smoothed = (1 - eps) * np.moveaxis(one_hot(y, n_classes), -1, axis) + eps / n_classes
    return x, axis, np.expand_dims(counts, axis) * smoothed, w_along, np.sum(w[y] * counts)


def _cross_entropy_of(log_p: np.ndarray, wt: np.ndarray, axis: int) -> np.ndarray:
    r""":math:`-\sum_c w_c t_c \log p_c`, a term with :math:`w_c t_c = 0` being 0 (0 log 0 = 0)."""
    with np.errstate(invalid="ignore"):  # 0 * (-inf) is nan, and is then not used
        return -np.sum(np.where(wt == 0, 0.0, wt * log_p), axis=axis)


def cross_entropy(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    r"""Cross-entropy of :math:`p = \operatorname{softmax}(x)` along the class axis.

    For a class index :math:`y_n` (:math:`\varepsilon` the label smoothing)

    .. math::

        \ell_n = (1-\varepsilon)\, w_{y_n} (-\log p_{n,y_n})
                 + \frac{\varepsilon}{C} \sum_c w_c (-\log p_{n,c}),

    0 for ``ignore_index``; the mean divides by :math:`\sum_n w_{y_n}` over the samples
    that are not ignored. For a probability target (floats, the logits' shape),
    :math:`t \leftarrow (1-\varepsilon) t + \varepsilon / C`,
    :math:`\ell_n = -\sum_c w_c t_{n,c} \log p_{n,c}`, and the mean divides by the number
    of samples. Both are :math:`-\sum_c w_c t_{n,c} \log p_{n,c}` for the right :math:`t`.

    Parameters
    ----------
    logits, target, weight, ignore_index, reduction, label_smoothing
        As for :func:`celib.multiclass.cross_entropy`.
    """
    x, axis, t, w, denominator = _class_targets(logits, target, weight, ignore_index, label_smoothing)
    loss = _cross_entropy_of(log_softmax(x, axis=axis), w * t, axis)
    return _reduce(loss, reduction, denominator)


def cross_entropy_grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    .. math:: \frac{\partial \ell_n}{\partial x_{n,c}} = p_{n,c} \sum_k w_k t_{n,k} - w_c t_{n,c},

    that is :math:`p - y` without weights or smoothing, and
    :math:`a\,p - (1-\varepsilon) w_y e_y - \tfrac{\varepsilon}{C} w` with
    :math:`a = (1-\varepsilon) w_y + \tfrac{\varepsilon}{C}\sum_c w_c` for a class index;
    0 for an ignored sample. For ``mean``, divided by the loss's denominator; if that is
    0 the gradient is nan, except for ignored samples, which keep 0 (as in PyTorch).

    Parameters
    ----------
    logits, target, weight, ignore_index, reduction, label_smoothing
        As for :func:`celib.multiclass.cross_entropy`.
    """
    x, axis, t, w, denominator = _class_targets(logits, target, weight, ignore_index, label_smoothing)
    wt = w * t
    grad = softmax(x, axis=axis) * np.sum(wt, axis=axis, keepdims=True) - wt
    if reduction == "mean" and denominator == 0:
        return np.where(np.sum(t, axis=axis, keepdims=True) > 0, np.nan, grad)
    return _scale_grad(grad, reduction, denominator)


def nll_loss(log_probs, target, *, weight=None, ignore_index=-100, reduction="mean"):
    r"""Negative log-likelihood :math:`\ell_n = -w_{y_n} \log p_{n,y_n}`, 0 for ``ignore_index``.

    The mean divides by :math:`\sum_n w_{y_n}` over the samples that are not ignored.

    Parameters
    ----------
    log_probs, target, weight, ignore_index, reduction
        As for :func:`celib.multiclass.nll_loss`.
    """
    log_p, axis, t, w, denominator = _class_targets(log_probs, target, weight, ignore_index, 0.0)
    return _reduce(_cross_entropy_of(log_p, w * t, axis), reduction, denominator)


def nll_loss_grad(log_probs, target, *, weight=None, ignore_index=-100, reduction="mean"):
    r"""Gradient of :func:`nll_loss` with respect to the log-probabilities.

    :math:`-w_{y_n}` at the target class, 0 at the others and for ignored samples; for
    ``mean``, divided by :math:`\sum_n w_{y_n}` (nan at the targets if that is 0, as in
    PyTorch).

    Parameters
    ----------
    log_probs, target, weight, ignore_index, reduction
        As for :func:`celib.multiclass.nll_loss`.
    """
    _, _, t, w, denominator = _class_targets(log_probs, target, weight, ignore_index, 0.0)
    grad = -w * t
    if reduction == "mean" and denominator == 0:
        return np.where(t > 0, np.nan, grad)
    return _scale_grad(grad, reduction, denominator)


def _probs_and_vectors(probs, target):
    """Probabilities (float64), the target as vectors along the class axis, the class axis."""
    p = _f64(probs)
    axis = _class_axis(p)
    y = np.asarray(target)
    if y.shape != p.shape:  # class indices
        y = np.moveaxis(one_hot(y, p.shape[axis]), -1, axis)
    return p, _f64(y), axis


def categorical_cross_entropy(probs, target, *, reduction="mean"):
    r""":math:`E = -\sum_k y_k \log p_k` on probabilities, a term with :math:`y_k = 0` being 0.

    The target is a one-hot or probability vector, or a class index (its one-hot); the
    mean is over samples.

    Parameters
    ----------
    probs, target, reduction
        As for :func:`celib.multiclass.categorical_cross_entropy`.
    """
    p, y, axis = _probs_and_vectors(probs, target)
    with np.errstate(divide="ignore", invalid="ignore"):  # log 0 = -inf; 0 * -inf is not used
        loss = -np.sum(np.where(y == 0, 0.0, y * np.log(p)), axis=axis)
    return _reduce(loss, reduction, loss.size)


def categorical_cross_entropy_grad(probs, target, *, reduction="mean"):
    r"""Gradient of :func:`categorical_cross_entropy`: :math:`-y_k / p_k` where :math:`y_k > 0`, 0 elsewhere.

    Parameters
    ----------
    probs, target, reduction
        As for :func:`celib.multiclass.categorical_cross_entropy`.
    """
    p, y, axis = _probs_and_vectors(probs, target)
    with np.errstate(divide="ignore", invalid="ignore"):  # y / 0 is inf; 0 / 0 is not used
        grad = np.where(y == 0, 0.0, -y / p)
    return _scale_grad(grad, reduction, p.size // p.shape[axis])


# ---------------------------------------------------------------------------------------
# Binary cross-entropy
# ---------------------------------------------------------------------------------------
def binary_cross_entropy(probs, target, *, weight=None, reduction="mean"):
    r""":math:`E = -w\,[\,y \log p + (1-y) \log(1-p)\,]` per element, each log clamped at -100.

    The mean is over all elements. :math:`\log(1-p)` is ``np.log1p(-p)``, which keeps
    its digits when :math:`p` is tiny.

    Parameters
    ----------
    probs, target, weight, reduction
        As for :func:`celib.binary.binary_cross_entropy`.
    """
    p, y = _f64(probs), _f64(target)
    w = 1.0 if weight is None else _f64(weight)
    with np.errstate(divide="ignore"):  # log 0 = -inf, which the clamp makes -100
        log_p, log_1mp = np.maximum(np.log(p), LOG_CLAMP), np.maximum(np.log1p(-p), LOG_CLAMP)
    return _reduce(-w * (y * log_p + (1 - y) * log_1mp), reduction, p.size)


def binary_cross_entropy_grad(probs, target, *, weight=None, reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy`: :math:`w\,(p - y) / \max(p(1-p), \epsilon)`.

    :math:`\epsilon` is PyTorch's: the C++ ``float`` 1e-12, that is 9.9999996e-13.

    Parameters
    ----------
    probs, target, weight, reduction
        As for :func:`celib.binary.binary_cross_entropy`.
    """
    p, y = _f64(probs), _f64(target)
    w = 1.0 if weight is None else _f64(weight)
    grad = w * (p - y) / np.maximum(p * (1 - p), BCE_GRAD_EPSILON)
    return _scale_grad(grad, reduction, p.size)


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    r""":math:`E = w\,[\,(1-y)\,x + (1 + (q-1)\,y)\operatorname{softplus}(-x)\,]` per element.

    This is :math:`-w\,[\,q\,y \log\sigma(x) + (1-y)\log(1-\sigma(x))\,]`, with
    :math:`q` the ``pos_weight`` and :math:`\operatorname{softplus}(-x) = \log(1 + e^{-x})
    = -\log\sigma(x)`. The mean is over all elements.

    Parameters
    ----------
    logits, target, weight, pos_weight, reduction
        As for :func:`celib.binary.binary_cross_entropy_with_logits`.
    """
    x, y = _f64(logits), _f64(target)
    w = 1.0 if weight is None else _f64(weight)
    q = 1.0 if pos_weight is None else _f64(pos_weight)
    loss = w * ((1 - y) * x + (1 + (q - 1) * y) * np.logaddexp(0.0, -x))
    return _reduce(loss, reduction, x.size)


def binary_cross_entropy_with_logits_grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    r"""Gradient of :func:`binary_cross_entropy_with_logits`: :math:`w\,[(1-y)\,\sigma(x) - q\,y\,\sigma(-x)]`.

    This is the docstring's :math:`w\,[(1-y) - (1 + (q-1)y)(1-\sigma(x))]` with
    :math:`1 - \sigma(x) = \sigma(-x)`; without ``pos_weight``, :math:`w\,(\sigma(x) - y)`.

    Parameters
    ----------
    logits, target, weight, pos_weight, reduction
        As for :func:`celib.binary.binary_cross_entropy_with_logits`.
    """
    x, y = _f64(logits), _f64(target)
    w = 1.0 if weight is None else _f64(weight)
    q = 1.0 if pos_weight is None else _f64(pos_weight)
    grad = w * ((1 - y) * sigmoid(x) - q * y * sigmoid(-x))
    return _scale_grad(grad, reduction, x.size)


# ---------------------------------------------------------------------------------------
# Squared error
# ---------------------------------------------------------------------------------------
def mse_loss(input, target, *, reduction="mean"):
    r""":math:`(x - y)^2` per element; the mean is over all elements.

    Parameters
    ----------
    input, target, reduction
        As for :func:`celib.regression.mse_loss`.
    """
    x = _f64(input)
    return _reduce((x - _f64(target)) ** 2, reduction, x.size)


def mse_loss_grad(input, target, *, reduction="mean"):
    r"""Gradient of :func:`mse_loss`: :math:`2(x - y)`, over the number of elements for ``mean``.

    Parameters
    ----------
    input, target, reduction
        As for :func:`celib.regression.mse_loss`.
    """
    x = _f64(input)
    return _scale_grad(2 * (x - _f64(target)), reduction, x.size)


# ---------------------------------------------------------------------------------------
# Distribution Focal Loss (bins on the last axis)
# ---------------------------------------------------------------------------------------
def two_hot(target, num_bins) -> np.ndarray:
    r"""Weight :math:`y_{i+1} - y` on bin :math:`i` and :math:`y - y_i` on bin :math:`i+1`.

    The left bin is :math:`i = \min(\lfloor y \rfloor, n - 2)` and bin :math:`i` sits at
    :math:`y_i = i`. A new last axis of ``num_bins`` is added.

    Parameters
    ----------
    target, num_bins
        As for :func:`celib.dfl.two_hot`.
    """
    y = _f64(target)[..., None]
    left = np.minimum(np.floor(y), num_bins - 2)
    bins = np.arange(num_bins)
    return np.where(bins == left, left + 1 - y, 0.0) + np.where(bins == left + 1, y - left, 0.0)


def distribution_focal_loss(logits, target, *, weight=None, reduction="mean"):
    r"""Distribution Focal Loss, :math:`-\bigl((y_{i+1} - y)\log S_i + (y - y_i)\log S_{i+1}\bigr)`.

    :math:`S = \operatorname{softmax}(x)` over the bins. That is the cross-entropy of
    :math:`S` against :func:`two_hot`, times the per-target weight; the mean divides by
    the number of targets.

    Parameters
    ----------
    logits, target, weight, reduction
        As for :func:`celib.dfl.distribution_focal_loss`.
    """
    x = _f64(logits)
    loss = -np.sum(two_hot(target, x.shape[-1]) * log_softmax(x, axis=-1), axis=-1)
    w = 1.0 if weight is None else _f64(weight)
    return _reduce(w * loss, reduction, np.size(target))


def distribution_focal_loss_grad(logits, target, *, weight=None, reduction="mean"):
    r"""Gradient of :func:`distribution_focal_loss`: :math:`w\,(S - \text{two-hot}(y))`.

    Parameters
    ----------
    logits, target, weight, reduction
        As for :func:`celib.dfl.distribution_focal_loss`.
    """
    x = _f64(logits)
    w = 1.0 if weight is None else _f64(weight)
    grad = np.expand_dims(w, -1) * (softmax(x, axis=-1) - two_hot(target, x.shape[-1]))
    return _scale_grad(grad, reduction, np.size(target))


def dfl_decode(logits) -> np.ndarray:
    r"""The expected bin :math:`\sum_i i\, S_i`, :math:`S = \operatorname{softmax}(x)` on the last axis.

    Parameters
    ----------
    logits
        As for :func:`celib.dfl.dfl_decode`.
    """
    x = _f64(logits)
    return softmax(x, axis=-1) @ np.arange(x.shape[-1])


# ---------------------------------------------------------------------------------------
# Focal Loss and Quality Focal Loss
# ---------------------------------------------------------------------------------------
def _bce_with_logits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r""":math:`-[y\log\sigma(x) + (1-y)\log(1-\sigma(x))] = (1-y)\,x + \operatorname{softplus}(-x)`."""
    return (1 - y) * x + np.logaddexp(0.0, -x)


def _alpha_t(y: np.ndarray, alpha):
    r""":math:`\alpha_t = \alpha y + (1-\alpha)(1-y)`; 1 if ``alpha`` is None or negative."""
    return 1.0 if alpha is None or alpha < 0 else alpha * y + (1 - alpha) * (1 - y)


def sigmoid_focal_loss(logits, target, *, alpha=0.25, gamma=2.0, reduction="mean"):
    r""":math:`\mathrm{FL} = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(x, y)`, per element.

    With :math:`p = \sigma(x)`, :math:`p_t = p\,y + (1-p)(1-y)`, so
    :math:`1 - p_t = (1-p)\,y + p\,(1-y)`, where :math:`1 - p` is computed as
    :math:`\sigma(-x)` (an identity), not by a subtraction that would cancel. The mean
    is over all elements.

    Parameters
    ----------
    logits, target, alpha, gamma, reduction
        As for :func:`celib.focal.sigmoid_focal_loss`.
    """
    x, y = _f64(logits), _f64(target)
    m = sigmoid(-x) * y + sigmoid(x) * (1 - y)  # 1 - p_t
    loss = _alpha_t(y, alpha) * m**gamma * _bce_with_logits(x, y)
    return _reduce(loss, reduction, x.size)


def sigmoid_focal_loss_grad(logits, target, *, alpha=0.25, gamma=2.0, reduction="mean"):
    r"""Gradient of :func:`sigmoid_focal_loss`, by the chain rule.

    With :math:`m = 1 - p_t`, :math:`\partial m/\partial x = (1 - 2y)\,p(1-p)` and
    :math:`\partial\,\mathrm{BCE}/\partial x = p - y`:

    .. math::

        \frac{\partial \mathrm{FL}}{\partial x}
        = \alpha_t \bigl[\, m^\gamma (p - y) + \gamma\, m^{\gamma-1} (1 - 2y)\, p (1-p)\, \mathrm{BCE} \,\bigr].

    (:math:`m > 0` for every logit of magnitude below about 700.)

    Parameters
    ----------
    logits, target, alpha, gamma, reduction
        As for :func:`celib.focal.sigmoid_focal_loss`.
    """
    x, y = _f64(logits), _f64(target)
    p, q = sigmoid(x), sigmoid(-x)  # q = 1 - p
    m = q * y + p * (1 - y)
    grad = m**gamma * (p - y) + gamma * m ** (gamma - 1) * (1 - 2 * y) * p * q * _bce_with_logits(x, y)
    return _scale_grad(_alpha_t(y, alpha) * grad, reduction, x.size)


def quality_focal_loss(logits, target, *, beta=2.0, reduction="mean"):
    r""":math:`\mathrm{QFL} = |y - \sigma(x)|^\beta\,\mathrm{BCE}(x, y)`, per element; the mean is over all elements.

    Parameters
    ----------
    logits, target, beta, reduction
        As for :func:`celib.focal.quality_focal_loss`.
    """
    x, y = _f64(logits), _f64(target)
    loss = np.abs(y - sigmoid(x)) ** beta * _bce_with_logits(x, y)
    return _reduce(loss, reduction, x.size)


def quality_focal_loss_grad(logits, target, *, beta=2.0, reduction="mean"):
    r"""Gradient of :func:`quality_focal_loss`, by the chain rule.

    .. math::

        \frac{\partial \mathrm{QFL}}{\partial x} = |\sigma - y|^\beta (\sigma - y)
        + \beta\,|\sigma - y|^{\beta-1} \operatorname{sign}(\sigma - y)\,\sigma(1-\sigma)\,\mathrm{BCE}.

    Where :math:`\sigma = y` the second term is 0 for :math:`\beta \ge 1`; for
    :math:`\beta < 1` the factor :math:`|\sigma - y|^\beta` has no derivative there and the
    formula gives nan (the public function returns 0).

    Parameters
    ----------
    logits, target, beta, reduction
        As for :func:`celib.focal.quality_focal_loss`.
    """
    x, y = _f64(logits), _f64(target)
    p, q = sigmoid(x), sigmoid(-x)  # q = 1 - p
    d = p - y
    grad = np.abs(d) ** beta * d + beta * np.abs(d) ** (beta - 1) * np.sign(d) * p * q * _bce_with_logits(x, y)
    return _scale_grad(grad, reduction, x.size)
