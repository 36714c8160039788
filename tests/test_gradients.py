"""Every gradient against a fourth-order central difference, in float64."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_grad

import celib

RNG = np.random.default_rng(12345)
X3 = RNG.normal(size=(4, 3)) * 2
T3 = np.array([0, 2, 1, 2])


def _ce_case(**kw):
    return celib.cross_entropy, celib.cross_entropy_grad, X3, T3, kw


def _ce_prob_case(**kw):
    t = celib.softmax(RNG.normal(size=(4, 3)), axis=1)
    return celib.cross_entropy, celib.cross_entropy_grad, X3, t, kw


def _spatial_case():
    x = RNG.normal(size=(2, 3, 2))
    t = np.array([[0, 2], [-100, 1]])
    return celib.cross_entropy, celib.cross_entropy_grad, x, t, dict(weight=[1.0, 2.0, 0.5], label_smoothing=0.1)


CASES = {
    "ce": _ce_case(),
    "ce-sum": _ce_case(reduction="sum"),
    "ce-weight": _ce_case(weight=np.array([0.5, 2.0, 1.0])),
    "ce-smoothing": _ce_case(label_smoothing=0.25),
    "ce-weight-smoothing-ignore": (
        celib.cross_entropy, celib.cross_entropy_grad, X3, np.array([0, -1, 1, 2]),
        dict(weight=np.array([0.5, 2.0, 1.0]), label_smoothing=0.25, ignore_index=-1),
    ),
    "ce-1d": (celib.cross_entropy, celib.cross_entropy_grad, X3[0], 1, dict(label_smoothing=0.1)),
    "ce-spatial": _spatial_case(),
    "ce-prob": _ce_prob_case(),
    "ce-prob-weight-smoothing": _ce_prob_case(weight=np.array([0.5, 2.0, 1.0]), label_smoothing=0.3),
    "categorical": (
        celib.categorical_cross_entropy, celib.categorical_cross_entropy_grad,
        celib.softmax(X3 / 4, axis=1), T3, {},
    ),
    "bce": (
        celib.binary_cross_entropy, celib.binary_cross_entropy_grad,
        RNG.uniform(0.1, 0.9, size=(3, 2)), RNG.uniform(size=(3, 2)), dict(weight=np.array([1.0, 3.0])),
    ),
    "bce-logits": (
        celib.binary_cross_entropy_with_logits, celib.binary_cross_entropy_with_logits_grad,
        X3, RNG.uniform(size=(4, 3)), dict(weight=RNG.uniform(0.5, 2, size=(4, 1)), pos_weight=np.array([0.5, 1.0, 4.0])),
    ),
    "mse": (celib.mse_loss, celib.mse_loss_grad, X3, RNG.normal(size=(4, 3)), {}),
    "focal": (
        celib.sigmoid_focal_loss, celib.sigmoid_focal_loss_grad,
        X3, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.3, 0.0, 1.0]]), {},
    ),
    "focal-gamma-half-no-alpha": (
        celib.sigmoid_focal_loss, celib.sigmoid_focal_loss_grad,
        X3, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.3, 0.0, 1.0]]), dict(alpha=None, gamma=0.5),
    ),
    "qfl": (
        celib.quality_focal_loss, celib.quality_focal_loss_grad,
        X3, np.array([[0.9, 0.0, 0.4], [0.0, 0.0, 0.75], [0.2, 1.0, 0.0], [0.3, 0.0, 1.0]]), {},
    ),
    "qfl-beta-1.5": (
        celib.quality_focal_loss, celib.quality_focal_loss_grad,
        X3, np.array([[0.9, 0.0, 0.4], [0.0, 0.0, 0.75], [0.2, 1.0, 0.0], [0.3, 0.0, 1.0]]), dict(beta=1.5),
    ),
    "dfl": (
        celib.distribution_focal_loss, celib.distribution_focal_loss_grad,
        RNG.normal(size=(5, 6)), np.array([0.0, 2.5, 4.99, 5.0, 3.0]), dict(weight=np.array([1.0, 2.0, 0.5, 1.0, 1.0])),
    ),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_gradient_matches_finite_differences(case, reduction):
    loss, grad, x, t, kw = CASES[case]
    kw = dict(kw, reduction=reduction)

    def total(xd):
        # for "none", the gradient is that of the sum of the per-sample losses
        return np.sum(loss(xd, t, **kw))

    if case == "categorical":
        # a perturbed row no longer sums to 1, which the loss refuses: differentiate
        # the formula -sum y log p itself
        y = celib.one_hot(t, 3)
        count = len(t) if reduction == "mean" else 1
        numeric = numerical_grad(lambda xd: np.sum(-y * np.log(xd)) / count, x)
    else:
        numeric = numerical_grad(total, x)
    np.testing.assert_allclose(grad(x, t, **kw), numeric, rtol=1e-6, atol=1e-8)
