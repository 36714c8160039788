"""Hand-derived values, the notes' worked examples, dtypes and reductions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import celib

# The corrected worked example of Chapter 5 (classes in order, true class as index).
MODEL_A = np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]])
MODEL_B = np.array([[0.1, 0.2, 0.7], [0.1, 0.7, 0.2], [0.3, 0.4, 0.3]])
TRUE_CLASS = np.array([2, 1, 0])


def test_notes_cross_entropy_example():
    ce_a = celib.categorical_cross_entropy(MODEL_A, TRUE_CLASS)
    ce_b = celib.categorical_cross_entropy(MODEL_B, TRUE_CLASS)
    assert ce_a == pytest.approx((-2 * math.log(0.4) - math.log(0.1)) / 3)
    assert ce_b == pytest.approx((-2 * math.log(0.7) - math.log(0.3)) / 3)
    assert round(float(ce_a), 3) == 1.378 and round(float(ce_b), 3) == 0.639
    # the notes' "1.37 vs 0.63" are these values truncated, not rounded
    assert math.floor(ce_a * 100) / 100 == 1.37 and math.floor(ce_b * 100) / 100 == 0.63
    # on logits = log p, cross_entropy gives the same numbers
    assert celib.cross_entropy(np.log(MODEL_A), TRUE_CLASS) == pytest.approx(ce_a)


def test_notes_mse_example():
    y = celib.one_hot(TRUE_CLASS, 3)
    per_sample_a = celib.mse_loss(MODEL_A, y, reduction="none").sum(axis=1)
    per_sample_b = celib.mse_loss(MODEL_B, y, reduction="none").sum(axis=1)
    np.testing.assert_allclose(per_sample_a, [0.54, 0.54, 1.34])
    np.testing.assert_allclose(per_sample_b, [0.14, 0.14, 0.74])
    assert per_sample_a.mean() == pytest.approx(0.8067, abs=1e-4)
    assert per_sample_b.mean() == pytest.approx(0.34)
    # PyTorch's default divides by all 9 elements: 3 times smaller
    assert celib.mse_loss(MODEL_A, y) == pytest.approx(2.42 / 9)
    assert celib.mse_loss(MODEL_B, y) == pytest.approx(1.02 / 9)


@pytest.mark.parametrize(
    "p,y,expected",
    [(0.9, 1, -math.log(0.9)), (0.9, 0, -math.log(0.1)), (0.5, 1, math.log(2)), (0.2, 0.5, -0.5 * math.log(0.2) - 0.5 * math.log(0.8))],
    ids=["confident-right", "confident-wrong", "coin", "soft-target"],
)
def test_binary_cross_entropy_by_hand(p, y, expected):
    assert celib.binary_cross_entropy([p], [y]) == pytest.approx(expected)
    logit = math.log(p / (1 - p))
    assert celib.binary_cross_entropy_with_logits([logit], [y]) == pytest.approx(expected)


def test_binary_p1_p0_table():
    """The 003 notes' table: with y = 1 only log p1 counts, with y = 0 only log p0 = log(1 - p1)."""
    p1 = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(celib.binary_cross_entropy(p1, np.ones(3), reduction="none"), -np.log(p1))
    np.testing.assert_allclose(celib.binary_cross_entropy(p1, np.zeros(3), reduction="none"), -np.log(1 - p1))


def test_two_class_cross_entropy_equals_bce():
    x = np.array([[0.3, 1.7], [2.0, -1.0], [0.0, 0.0]])
    y = np.array([1, 0, 1])
    ce = celib.cross_entropy(x, y, reduction="none")
    bce = celib.binary_cross_entropy_with_logits(x[:, 1] - x[:, 0], y.astype(float), reduction="none")
    np.testing.assert_allclose(ce, bce)


def test_cross_entropy_by_hand_with_weights_smoothing_and_ignore():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [0.0, 5.0, 0.0]])
    t = np.array([0, 2, -100])
    w = np.array([2.0, 1.0, 0.5])
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    nll = np.array([-w[0] * logp[0, 0], -w[2] * logp[1, 2]])
    smooth = np.array([-(w * logp[0]).sum(), -(w * logp[1]).sum()])
    eps = 0.3
    per = (1 - eps) * nll + eps / 3 * smooth
    got = celib.cross_entropy(x, t, weight=w, label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(got, [per[0], per[1], 0.0])
    mean = celib.cross_entropy(x, t, weight=w, label_smoothing=eps)
    assert mean == pytest.approx(per.sum() / (w[0] + w[2]))  # divides by the target weights, not 2


def test_probability_target_mean_divides_by_samples():
    x = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]])
    t = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    per = -(t * celib.log_softmax(x, axis=1)).sum(axis=1)
    assert celib.cross_entropy(x, t) == pytest.approx(per.mean())
    eps = 0.1
    ts = t * (1 - eps) + eps / 2
    assert celib.cross_entropy(x, t, label_smoothing=eps) == pytest.approx(-(ts * celib.log_softmax(x, axis=1)).sum(1).mean())


def test_spatial_inputs_use_class_axis_1():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    t = rng.integers(0, 3, size=(2, 4))
    flat = np.moveaxis(x, 1, -1).reshape(-1, 3)
    np.testing.assert_allclose(
        celib.cross_entropy(x, t, reduction="none"), celib.cross_entropy(flat, t.reshape(-1), reduction="none").reshape(2, 4)
    )


@pytest.mark.parametrize("dtype,expected", [(np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float16), (np.int64, np.float64)])
def test_dtypes_are_kept(dtype, expected):
    x = np.array([[1, 2, 3], [3, 2, 1]]).astype(dtype)
    assert np.asarray(celib.cross_entropy(x, np.array([0, 1]))).dtype == expected
    assert celib.cross_entropy_grad(x, np.array([0, 1])).dtype == expected
    assert celib.softmax(x).dtype == expected
    assert np.asarray(celib.binary_cross_entropy_with_logits(x, np.ones((2, 3)))).dtype == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e4, -1e4])
def test_extreme_logits_are_finite_and_correct(dtype, big):
    x = np.array([[big, 0.0, -big]], dtype)
    # true class 0: loss is 0 if big > 0, 2|big| if big < 0 (up to the log of a sum near 1)
    assert float(celib.cross_entropy(x, np.array([0]))) == pytest.approx(max(0.0, -2 * big), abs=1e-3)
    assert float(celib.cross_entropy(x, np.array([1]))) == pytest.approx(abs(big), rel=1e-6)
    assert np.isfinite(celib.cross_entropy_grad(x, np.array([2]), label_smoothing=0.1)).all()
    assert float(celib.binary_cross_entropy_with_logits(np.array([big], dtype), np.array([0.0], dtype))) == pytest.approx(max(big, 0.0), abs=1e-3)
    assert np.isfinite(celib.log_softmax(x)).all()
    assert celib.logsumexp(x) == pytest.approx(abs(big), rel=1e-6)


def test_log_softmax_is_exact_where_log_of_softmax_fails():
    x = np.array([1000.0, 1.0])
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(celib.softmax(x))[1])
    np.testing.assert_array_equal(celib.log_softmax(x), [0.0, -999.0])


def test_logsumexp_handles_infinities_like_scipy():
    assert celib.logsumexp([-np.inf, -np.inf]) == -np.inf
    assert celib.logsumexp([np.inf, 1.0]) == np.inf
    assert celib.logsumexp([-np.inf, 0.0]) == 0.0
    np.testing.assert_allclose(celib.logsumexp(np.zeros((2, 3)), axis=None), math.log(6))
    assert celib.logsumexp(np.zeros((2, 3)), axis=0, keepdims=True).shape == (1, 3)


def test_neg_inf_logit_means_probability_zero():
    x = np.array([[0.0, -np.inf, 0.0]])
    assert celib.cross_entropy(x, np.array([0])) == pytest.approx(math.log(2))
    assert celib.cross_entropy(x, np.array([1])) == np.inf
    np.testing.assert_allclose(celib.cross_entropy_grad(x, np.array([0])), [[-0.5, 0.0, 0.5]])


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "distribution_focal_loss"])
def test_reductions_agree(loss):
    rng = np.random.default_rng(1)
    if loss == "cross_entropy":
        x, t = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    elif loss == "distribution_focal_loss":
        x, t = rng.normal(size=(6, 5)), rng.uniform(0, 4, 6)
    else:
        x, t = rng.normal(size=(6, 4)), rng.uniform(size=(6, 4))
    f = getattr(celib, loss)
    none = f(x, t, reduction="none")
    assert f(x, t, reduction="sum") == pytest.approx(none.sum())
    assert f(x, t, reduction="mean") == pytest.approx(none.mean())
    g = getattr(celib, loss + "_grad")
    np.testing.assert_allclose(g(x, t, reduction="none"), g(x, t, reduction="sum"))
    np.testing.assert_allclose(g(x, t, reduction="mean") * none.size, g(x, t, reduction="sum"))


def test_all_ignored_mean_is_nan_with_a_warning():
    x = np.zeros((2, 3))
    t = np.array([-100, -100])
    with pytest.warns(RuntimeWarning, match="0/0"):
        assert np.isnan(celib.cross_entropy(x, t))
    with pytest.warns(RuntimeWarning, match="0/0"):
        np.testing.assert_array_equal(celib.cross_entropy_grad(x, t), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert celib.cross_entropy(x, t, reduction="sum") == 0.0


def test_bce_clamps_logs_at_minus_100():
    assert celib.binary_cross_entropy([0.0, 1.0], [1.0, 0.0], reduction="none").tolist() == [100.0, 100.0]
    assert celib.binary_cross_entropy([0.0, 1.0], [0.0, 1.0], reduction="sum") == 0.0


def test_pos_weight_scales_the_positive_term():
    x = np.array([[0.5, -1.0]])
    y = np.array([[1.0, 1.0]])
    base = celib.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(celib.binary_cross_entropy_with_logits(x, y, pos_weight=[3.0, 0.5], reduction="none"), base * [3.0, 0.5])


def test_one_hot_and_categorical_forms_agree():
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    y = np.array([1, 0])
    assert celib.categorical_cross_entropy(p, y) == pytest.approx(celib.categorical_cross_entropy(p, celib.one_hot(y, 3)))
    assert celib.categorical_cross_entropy(p, y) == pytest.approx(-(math.log(0.5) + math.log(0.6)) / 2)
    assert celib.categorical_cross_entropy([0.0, 1.0], [1.0, 0.0]) == np.inf


def test_dfl_by_hand_and_at_the_last_bin():
    x = np.array([0.0, 1.0, 3.0, 2.0, 0.0])
    logp = celib.log_softmax(x)
    assert celib.distribution_focal_loss(x, 2.3) == pytest.approx(-(0.7 * logp[2] + 0.3 * logp[3]))
    assert celib.distribution_focal_loss(x, 4.0) == pytest.approx(-logp[4])  # CE at the last bin
    assert celib.distribution_focal_loss(x, 2.0) == pytest.approx(-logp[2])  # on a bin: plain CE
    np.testing.assert_allclose(celib.two_hot([0.0, 4.0, 1.25], 5), [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0.75, 0.25, 0, 0]])
    np.testing.assert_allclose(celib.dfl_decode(np.log(celib.two_hot([1.25, 3.9], 5) + 1e-300)), [1.25, 3.9])


def test_dfl_equals_cross_entropy_against_two_hot():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 7))
    y = rng.uniform(0, 6, size=8)
    np.testing.assert_allclose(
        celib.distribution_focal_loss(x, y, reduction="none"), celib.cross_entropy(x, celib.two_hot(y, 7), reduction="none")
    )


def test_focal_loss_reduces_to_bce_and_down_weights_easy_examples():
    x = np.array([-3.0, -0.5, 0.0, 2.0, 4.0])
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    bce = celib.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(celib.sigmoid_focal_loss(x, y, alpha=None, gamma=0.0, reduction="none"), bce)
    p = celib.sigmoid(x)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, 0.25, 0.75)
    np.testing.assert_allclose(celib.sigmoid_focal_loss(x, y, reduction="none"), alpha_t * (1 - p_t) ** 2 * bce)


def test_quality_focal_loss_by_hand():
    x = np.array([0.0, 1.0, -2.0])
    y = np.array([0.7, 0.0, 1.0])
    s = celib.sigmoid(x)
    bce = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    np.testing.assert_allclose(celib.quality_focal_loss(x, y, reduction="none"), np.abs(y - s) ** 2 * bce)
