"""Property tests (hypothesis): invariances, bounds and identities on generated inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import celib

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


@st.composite
def logits_and_targets(draw, max_classes=6):
    n = draw(st.integers(1, 6))
    c = draw(st.integers(2, max_classes))
    x = draw(arrays(np.float64, (n, c), elements=finite))
    t = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return x, t


settings.register_profile("celib", max_examples=60, deadline=None, derandomize=True, database=None)
settings.load_profile("celib")


@given(logits_and_targets(), st.floats(0, 1))
def test_cross_entropy_is_non_negative(xt, eps):
    x, t = xt
    assert (celib.cross_entropy(x, t, reduction="none", label_smoothing=eps) >= -1e-12).all()


@given(logits_and_targets(), st.floats(-1e3, 1e3))
def test_shift_invariance(xt, shift):
    x, t = xt
    np.testing.assert_allclose(
        celib.cross_entropy(x + shift, t, reduction="none"), celib.cross_entropy(x, t, reduction="none"), atol=1e-9, rtol=1e-9
    )
    np.testing.assert_allclose(celib.softmax(x + shift), celib.softmax(x), atol=1e-12)
    np.testing.assert_allclose(celib.cross_entropy_grad(x + shift, t), celib.cross_entropy_grad(x, t), atol=1e-12)


@given(logits_and_targets())
def test_gradient_rows_sum_to_zero(xt):
    # p - y sums to 0 over classes: shifting all logits changes nothing
    x, t = xt
    np.testing.assert_allclose(celib.cross_entropy_grad(x, t, reduction="sum").sum(axis=1), 0, atol=1e-12)


@given(logits_and_targets(), st.sampled_from(["mean", "sum", "none"]))
def test_reductions_consistent(xt, reduction):
    x, t = xt
    none = celib.cross_entropy(x, t, reduction="none")
    value = celib.cross_entropy(x, t, reduction=reduction)
    expected = {"none": none, "sum": none.sum(), "mean": none.mean()}[reduction]
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)


@given(logits_and_targets())
def test_index_and_one_hot_targets_agree(xt):
    x, t = xt
    np.testing.assert_allclose(
        celib.cross_entropy(x, t), celib.cross_entropy(x, celib.one_hot(t, x.shape[1])), rtol=1e-12, atol=1e-12
    )


@st.composite
def bins_and_targets(draw):
    n = draw(st.integers(1, 5))
    bins = draw(st.integers(2, 9))
    x = draw(arrays(np.float64, (n, bins), elements=finite))
    y = np.array(draw(st.lists(st.floats(0, bins - 1), min_size=n, max_size=n)))
    return x, y


@given(bins_and_targets())
def test_dfl_equals_cross_entropy_against_two_hot(xy):
    x, y = xy
    np.testing.assert_allclose(
        celib.distribution_focal_loss(x, y, reduction="none"),
        celib.cross_entropy(x, celib.two_hot(y, x.shape[1]), reduction="none"),
        rtol=1e-10, atol=1e-10,
    )


@given(bins_and_targets())
def test_two_hot_is_a_distribution_whose_mean_is_the_target(xy):
    _, y = xy
    th = celib.two_hot(y, xy[0].shape[1])
    np.testing.assert_allclose(th.sum(axis=1), 1.0)
    np.testing.assert_allclose(th @ np.arange(th.shape[1]), y, atol=1e-12)


@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e4, 1e4)), arrays(np.float64, 1, elements=st.floats(0, 1)))
def test_bce_with_logits_is_finite_non_negative_and_matches_the_definition(x, y):
    y = np.broadcast_to(y, x.shape)
    loss = celib.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert np.isfinite(loss).all() and (loss >= 0).all()
    moderate = np.abs(x) < 30
    p = 1 / (1 + np.exp(-x[moderate]))
    direct = -(y[moderate] * np.log(p) + (1 - y[moderate]) * np.log1p(-p))
    np.testing.assert_allclose(loss[moderate], direct, rtol=1e-9, atol=1e-9)
