r"""The focal family: Focal Loss and Quality Focal Loss, binary cross-entropy re-weighted.

Focal Loss (Lin et al., ICCV 2017) multiplies binary cross-entropy by
:math:`(1 - p_t)^\gamma`, so that easy, well-classified examples count less. Quality
Focal Loss (Li et al., NeurIPS 2020, the Generalized Focal Loss paper) extends it to
soft targets :math:`y \in [0, 1]` with the factor :math:`|y - \sigma(x)|^\beta`. Book
chapter 6, beside :mod:`celib.dfl`.
"""

from __future__ import annotations

import numpy as np

from .binary import bce_with_logits_elements as _bce_elements
from ._reduction import elementwise_grad, reduce_elementwise
from ._validation import check_finite, check_real, check_reduction, check_unit_interval, float_array

#: Largest focusing exponent accepted (``gamma``, ``beta``): any finite value works, but
#: beyond this every modulating factor below 1 underflows to 0 and the loss is 0.
MAX_EXPONENT = 1e6

__all__ = ["sigmoid_focal_loss", "sigmoid_focal_loss_grad", "quality_focal_loss", "quality_focal_loss_grad"]


def _prepare(logits, target, reduction):
    reduction = check_reduction(reduction)
    x, out_dtype = float_array(logits, "logits")
    check_finite(x, "logits")
    t = np.asarray(target)
    if t.dtype.kind not in "fiub":
        raise TypeError(f"target must be an array of real numbers, got dtype {t.dtype}")
    if t.shape != x.shape:
        raise ValueError(f"target must have the shape of logits {x.shape}, got shape {t.shape}")
    if t.dtype.kind != "f":
        t = t.astype(x.dtype)
    check_unit_interval(t, "target")  # also refuses NaN and infinities
    return x, t, reduction, out_dtype


def _check_alpha(alpha):
    if alpha is None:
        return None
    alpha = check_real(alpha, "alpha", -np.inf, 1.0)
    return None if alpha < 0 else alpha  # torchvision: a negative alpha switches it off


def _sigmoids(x):
    """``sigmoid(x)`` and ``sigmoid(-x)``, each from ``exp(-|x|)``, never overflowing."""
    e = np.exp(-np.abs(x))
    one = 1 / (1 + e)
    return np.where(x >= 0, one, e * one), np.where(x >= 0, e * one, one)


def _powers(base: np.ndarray, exponent: float):
    """``base ** exponent`` and ``exponent * base ** (exponent - 1)``, with 0 where base is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = base**exponent
        # at base 0 the factor it multiplies, p (1 - p) or sign(0), is 0 as well
        deriv = np.where(base > 0, exponent * base ** (exponent - 1), 0.0)
    return value, deriv


def sigmoid_focal_loss(
    logits, target, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: str = "mean"
) -> np.ndarray:
    r"""Focal Loss: binary cross-entropy down-weighted on easy examples.

    .. math::

        \mathrm{FL} = -\alpha_t\,(1 - p_t)^\gamma \log p_t, \qquad
        p_t = p\,y + (1-p)(1-y), \quad \alpha_t = \alpha\,y + (1-\alpha)(1-y),

    with :math:`p = \sigma(x)`, computed as ``alpha_t * (1 - p_t)**gamma * BCE(x, y)``
    (the form of ``torchvision.ops.sigmoid_focal_loss``, which also accepts soft
    targets). With :math:`\gamma = 0` and no :math:`\alpha` it is binary cross-entropy.

    Parameters
    ----------
    logits : array_like
        Finite logits, any shape.
    target : array_like
        Same shape, values in [0, 1] (usually 0 or 1).
    alpha : float in [0, 1] or None, default 0.25
        Weight of the positive class; None (or a negative number, as in torchvision)
        switches the weighting off.
    gamma : float, default 2.0
        Focusing parameter, at least 0.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``torchvision.ops.sigmoid_focal_loss`` defaults to ``"none"``; celib uses
        ``"mean"`` like its other losses.

    Returns
    -------
    ndarray
        In the float dtype of ``logits``.

    Examples
    --------
    An easy positive (p = 0.9) costs 100 times less than its cross-entropy with gamma = 2:

    >>> x = np.log(0.9 / 0.1)
    >>> print(round(float(sigmoid_focal_loss([x], [1.0], alpha=None) / (-np.log(0.9))), 4))
    0.01
    """
    x, t, reduction, out_dtype = _prepare(logits, target, reduction)
    alpha = _check_alpha(alpha)
    gamma = check_real(gamma, "gamma", 0.0, MAX_EXPONENT)

    def kernel(x, t):
        p, q = _sigmoids(x)
        modulating, _ = _powers(q * t + p * (1 - t), gamma)  # (1 - p_t)^gamma
        loss = _bce_elements(x, t) * modulating
        return loss if alpha is None else (alpha * t + (1 - alpha) * (1 - t)) * loss

    return reduce_elementwise(kernel, [x, t], x, reduction, out_dtype, "sigmoid_focal_loss", n_temporaries=16)


def sigmoid_focal_loss_grad(
    logits, target, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: str = "mean"
) -> np.ndarray:
    r"""Gradient of :func:`sigmoid_focal_loss` with respect to ``logits``.

    With :math:`m = 1 - p_t`, :math:`\partial m / \partial x = (1 - 2y)\,p(1-p)` and
    :math:`\partial\,\mathrm{BCE} / \partial x = p - y`:

    .. math::

        \frac{\partial \mathrm{FL}}{\partial x}
        = \alpha_t \bigl[\, m^\gamma (p - y) + \gamma\, m^{\gamma-1} (1 - 2y)\, p (1-p)\, \mathrm{BCE} \,\bigr].

    Parameters
    ----------
    logits, target, alpha, gamma, reduction
        As for :func:`sigmoid_focal_loss`.

    Returns
    -------
    ndarray
        Shape and float dtype of ``logits``.

    Examples
    --------
    >>> print(sigmoid_focal_loss_grad([0.0], [1.0], alpha=None, gamma=0.0).round(4))   # p - y
    [-0.5]
    """
    x, t, reduction, out_dtype = _prepare(logits, target, reduction)
    alpha = _check_alpha(alpha)
    gamma = check_real(gamma, "gamma", 0.0, MAX_EXPONENT)

    def kernel(x, t):
        p, q = _sigmoids(x)
        modulating, d_modulating = _powers(q * t + p * (1 - t), gamma)
        grad = modulating * (p - t) + d_modulating * (1 - 2 * t) * p * q * _bce_elements(x, t)
        return grad if alpha is None else (alpha * t + (1 - alpha) * (1 - t)) * grad

    return elementwise_grad(kernel, [x, t], x, reduction, out_dtype, n_temporaries=16)


def quality_focal_loss(logits, target, *, beta: float = 2.0, reduction: str = "mean") -> np.ndarray:
    r"""Quality Focal Loss: binary cross-entropy on a soft target, scaled by the error.

    .. math::

        \mathrm{QFL} = -|y - \sigma|^\beta \bigl((1-y)\log(1-\sigma) + y \log \sigma\bigr),
        \qquad \sigma = \sigma(x),

    where :math:`y \in [0, 1]` is a quality score (in GFL, the IoU of the predicted box
    with its ground truth; 0 for negatives). It equals mmdetection's
    ``quality_focal_loss_tensor_target`` before its sum over classes.

    Parameters
    ----------
    logits : array_like
        Finite logits, any shape.
    target : array_like
        Same shape, soft targets in [0, 1].
    beta : float, default 2.0
        Focusing parameter, at least 0 (the GFL paper uses 2).
    reduction : {"mean", "sum", "none"}, default "mean"

    Returns
    -------
    ndarray
        In the float dtype of ``logits``.

    Examples
    --------
    When the prediction equals the soft target, the loss is 0 (not the target's entropy):

    >>> x = np.log(0.7 / 0.3)
    >>> print(round(float(quality_focal_loss([x], [0.7])), 6))
    0.0
    """
    x, t, reduction, out_dtype = _prepare(logits, target, reduction)
    beta = check_real(beta, "beta", 0.0, MAX_EXPONENT)

    def kernel(x, t):
        p, _ = _sigmoids(x)
        scale, _ = _powers(np.abs(t - p), beta)
        return _bce_elements(x, t) * scale

    return reduce_elementwise(kernel, [x, t], x, reduction, out_dtype, "quality_focal_loss", n_temporaries=16)


def quality_focal_loss_grad(logits, target, *, beta: float = 2.0, reduction: str = "mean") -> np.ndarray:
    r"""Gradient of :func:`quality_focal_loss` with respect to ``logits``.

    .. math::

        \frac{\partial \mathrm{QFL}}{\partial x} = |y-\sigma|^\beta (\sigma - y)
        + \beta\,|y-\sigma|^{\beta-1} \operatorname{sign}(\sigma - y)\,\sigma(1-\sigma)\,\mathrm{BCE}.

    Parameters
    ----------
    logits, target, beta, reduction
        As for :func:`quality_focal_loss`.

    Returns
    -------
    ndarray
        Shape and float dtype of ``logits``.

    Examples
    --------
    >>> print(quality_focal_loss_grad([0.0], [0.7], reduction="sum").round(4))
    [-0.0773]
    """
    x, t, reduction, out_dtype = _prepare(logits, target, reduction)
    beta = check_real(beta, "beta", 0.0, MAX_EXPONENT)

    def kernel(x, t):
        p, q = _sigmoids(x)
        diff = p - t
        scale, d_scale = _powers(np.abs(diff), beta)
        return scale * diff + d_scale * np.sign(diff) * p * q * _bce_elements(x, t)

    return elementwise_grad(kernel, [x, t], x, reduction, out_dtype, n_temporaries=16)
