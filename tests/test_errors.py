"""Bad input gets a ValueError or TypeError that names the argument and the bad value."""

from __future__ import annotations

import numpy as np
import pytest

import celib

X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
T = np.array([2, 0])
P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
NAN_X = X.copy()
NAN_X[1, 2] = np.nan

BAD = [
    # (call, exception, words that must appear in the message)
    (lambda: celib.cross_entropy(X, np.array([3, 0])), ValueError, ["target", "3", "[0, 2]"]),
    (lambda: celib.cross_entropy(X, np.array([-1, 0])), ValueError, ["target", "-1"]),
    (lambda: celib.cross_entropy(X, np.array([2.0, 0.0])), TypeError, ["target", "float64"]),
    (lambda: celib.cross_entropy(X, np.array([True, False])), TypeError, ["target", "bool"]),
    (lambda: celib.cross_entropy(X, np.array([2, 0, 1])), ValueError, ["target", "(2,)", "(3,)"]),
    (lambda: celib.cross_entropy(X, P[:, :2]), ValueError, ["target", "shape"]),
    (lambda: celib.cross_entropy(X, T, weight=[1.0, 2.0]), ValueError, ["weight", "(3,)", "(2,)"]),
    (lambda: celib.cross_entropy(X, T, weight=[1.0, -2.0, 1.0]), ValueError, ["weight", "-2.0"]),
    (lambda: celib.cross_entropy(X, T, weight=[1.0, np.nan, 1.0]), ValueError, ["weight", "nan"]),
    (lambda: celib.cross_entropy(X, T, label_smoothing=1.5), ValueError, ["label_smoothing", "1.5"]),
    (lambda: celib.cross_entropy(X, T, label_smoothing=-0.1), ValueError, ["label_smoothing", "-0.1"]),
    (lambda: celib.cross_entropy(X, T, label_smoothing="0.1"), TypeError, ["label_smoothing", "'0.1'"]),
    (lambda: celib.cross_entropy(X, T, reduction="avg"), ValueError, ["reduction", "'avg'"]),
    (lambda: celib.cross_entropy(X, T, reduction=None), TypeError, ["reduction", "None"]),
    (lambda: celib.cross_entropy(X, T, ignore_index=1.5), TypeError, ["ignore_index", "1.5"]),
    (lambda: celib.cross_entropy(NAN_X, T), ValueError, ["logits", "NaN", "(1, 2)"]),
    (lambda: celib.cross_entropy(np.array([[np.inf, 0.0]]), np.array([0])), ValueError, ["logits", "+inf"]),
    (lambda: celib.cross_entropy(np.array([[-np.inf, -np.inf]]), np.array([0])), ValueError, ["logits", "-inf"]),
    (lambda: celib.cross_entropy(np.float64(1.0), 0), ValueError, ["logits", "scalar"]),
    (lambda: celib.cross_entropy(X, np.array(["a", "b"])), TypeError, ["target"]),
    (lambda: celib.cross_entropy(X.astype(complex), T), TypeError, ["logits", "complex"]),
    (lambda: celib.cross_entropy(X, np.array([[0.5, 0.6, 0.0], [1.0, 0.0, 0.0]])), ValueError, ["target", "sums to", "1.1"]),
    (lambda: celib.cross_entropy(X, np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]])), ValueError, ["target", "[0, 1]", "1.5"]),
    (lambda: celib.cross_entropy(X, P, ignore_index=1), ValueError, ["ignore_index=1", "probability"]),
    (lambda: celib.cross_entropy(X, P, ignore_index=-1), ValueError, ["ignore_index=-1", "probability"]),
    (lambda: celib.cross_entropy_grad(X, P, ignore_index=0), ValueError, ["ignore_index=0", "probability"]),
    (lambda: celib.cross_entropy(X, np.where(np.isnan(NAN_X), np.nan, P)), ValueError, ["target", "NaN"]),
    (lambda: celib.cross_entropy_grad(X, np.array([5, 0])), ValueError, ["target", "5"]),
    (lambda: celib.nll_loss(np.log(P), np.array([0, 3])), ValueError, ["target", "3"]),
    (lambda: celib.nll_loss(np.log(P), P), TypeError, ["target", "cross_entropy"]),
    (lambda: celib.nll_loss(NAN_X, T), ValueError, ["log_probs", "NaN"]),
    (lambda: celib.categorical_cross_entropy(np.array([[0.5, 0.6, 0.0]]), np.array([0])), ValueError, ["probs", "sums to"]),
    (lambda: celib.categorical_cross_entropy(np.array([[1.2, -0.2, 0.0]]), np.array([0])), ValueError, ["probs", "1.2"]),
    (lambda: celib.categorical_cross_entropy(P, np.array([0, 4])), ValueError, ["target", "4"]),
    (lambda: celib.categorical_cross_entropy(P, np.array([[0.5, 0.0, 0.0], [1.0, 0.0, 0.0]])), ValueError, ["target", "sums to"]),
    (lambda: celib.categorical_cross_entropy_grad(P, np.array([0, 4])), ValueError, ["target", "4"]),
    (lambda: celib.binary_cross_entropy([1.2], [1.0]), ValueError, ["probs", "1.2"]),
    (lambda: celib.binary_cross_entropy([-0.2], [1.0]), ValueError, ["probs", "-0.2"]),
    (lambda: celib.binary_cross_entropy([0.2], [2.0]), ValueError, ["target", "2.0"]),
    (lambda: celib.binary_cross_entropy([0.2, 0.3], [1.0]), ValueError, ["target", "shape"]),
    (lambda: celib.binary_cross_entropy([np.nan], [1.0]), ValueError, ["probs", "NaN"]),
    (lambda: celib.binary_cross_entropy([0.2], [1.0], weight=[-1.0]), ValueError, ["weight", "-1.0"]),
    (lambda: celib.binary_cross_entropy(P, P, weight=[1.0, 2.0]), ValueError, ["weight", "broadcast"]),
    (lambda: celib.binary_cross_entropy_grad([1.2], [1.0]), ValueError, ["probs", "1.2"]),
    (lambda: celib.binary_cross_entropy_with_logits([0.0], [1.5]), ValueError, ["target", "1.5"]),
    (lambda: celib.binary_cross_entropy_with_logits([np.nan], [1.0]), ValueError, ["logits", "NaN"]),
    (lambda: celib.binary_cross_entropy_with_logits([np.inf], [1.0]), ValueError, ["logits", "inf"]),
    (lambda: celib.binary_cross_entropy_with_logits(X, P, pos_weight=[1.0, 2.0]), ValueError, ["pos_weight", "broadcast"]),
    (lambda: celib.binary_cross_entropy_with_logits(X, P, pos_weight=[1.0, -2.0, 1.0]), ValueError, ["pos_weight", "-2.0"]),
    (lambda: celib.binary_cross_entropy_with_logits(X, P, reduction="mea"), ValueError, ["reduction", "'mea'"]),
    (lambda: celib.binary_cross_entropy_with_logits_grad(X, P[:1]), ValueError, ["target", "shape"]),
    (lambda: celib.mse_loss(X, X[:1]), ValueError, ["target", "shape"]),
    (lambda: celib.mse_loss(NAN_X, X), ValueError, ["input", "NaN"]),
    (lambda: celib.mse_loss_grad(X, NAN_X), ValueError, ["target", "NaN"]),
    (lambda: celib.distribution_focal_loss(np.zeros((2, 5)), np.array([1.0, 4.5])), ValueError, ["target", "[0, 4]", "4.5"]),
    (lambda: celib.distribution_focal_loss(np.zeros((2, 5)), np.array([-0.1, 1.0])), ValueError, ["target", "-0.1"]),
    (lambda: celib.distribution_focal_loss(np.zeros((2, 1)), np.array([0.0, 0.0])), ValueError, ["logits", "2 bins", "1"]),
    (lambda: celib.distribution_focal_loss(np.zeros((2, 5)), np.array([1.0, 2.0, 3.0])), ValueError, ["target", "(2,)", "(3,)"]),
    (lambda: celib.distribution_focal_loss(np.zeros((2, 5)), np.array([1.0, np.nan])), ValueError, ["target", "NaN"]),
    (lambda: celib.distribution_focal_loss(np.zeros((2, 5)), np.array([1.0, 2.0]), weight=[-1.0, 1.0]), ValueError, ["weight", "-1.0"]),
    (lambda: celib.distribution_focal_loss_grad(np.zeros((2, 5)), np.array([1.0, 5.0])), ValueError, ["target", "5.0"]),
    (lambda: celib.two_hot([1.0, 7.0], 5), ValueError, ["target", "7.0"]),
    (lambda: celib.two_hot([1.0], 1), ValueError, ["num_bins", "1"]),
    (lambda: celib.two_hot([1.0], 2.5), TypeError, ["num_bins", "2.5"]),
    (lambda: celib.dfl_decode(np.zeros((3, 1))), ValueError, ["logits", "2 bins"]),
    (lambda: celib.dfl_decode(np.full((1, 3), np.nan)), ValueError, ["logits", "NaN"]),
    (lambda: celib.one_hot([0, 3], 3), ValueError, ["labels", "3"]),
    (lambda: celib.one_hot([0.0, 1.0], 3), TypeError, ["labels", "float64"]),
    (lambda: celib.one_hot([0, 1], 0), ValueError, ["num_classes", "0"]),
    (lambda: celib.sigmoid_focal_loss(X, P, gamma=-1.0), ValueError, ["gamma", "-1.0"]),
    (lambda: celib.sigmoid_focal_loss(X, P, alpha=1.5), ValueError, ["alpha", "1.5"]),
    (lambda: celib.sigmoid_focal_loss(X, P * 2), ValueError, ["target", "[0, 1]"]),
    (lambda: celib.sigmoid_focal_loss_grad(X, P[:1]), ValueError, ["target", "shape"]),
    (lambda: celib.quality_focal_loss(X, P, beta="2"), TypeError, ["beta", "'2'"]),
    (lambda: celib.quality_focal_loss(NAN_X, P), ValueError, ["logits", "NaN"]),
    (lambda: celib.quality_focal_loss_grad(X, -P), ValueError, ["target", "-0.2"]),
    (lambda: celib.softmax([1.0, np.nan]), ValueError, ["x", "NaN"]),
    (lambda: celib.softmax([1.0, np.inf]), ValueError, ["x", "+inf"]),
    (lambda: celib.log_softmax([-np.inf, -np.inf]), ValueError, ["x", "-inf"]),
    (lambda: celib.logsumexp([np.nan]), ValueError, ["x", "NaN"]),
    (lambda: celib.sigmoid(["a"]), TypeError, ["x"]),
    (lambda: celib.log_sigmoid([np.nan]), ValueError, ["x", "NaN"]),
]


@pytest.mark.parametrize("call,exc,words", BAD, ids=[f"bad{i:02d}" for i in range(len(BAD))])
def test_bad_input_gets_a_clear_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_errors_come_before_any_arithmetic():
    """A bad target is reported even when the logits would also overflow a naive formula."""
    with np.errstate(all="raise"):
        with pytest.raises(ValueError, match="target"):
            celib.cross_entropy(np.array([[1e308, -1e308]]), np.array([7]))


def test_nan_logits_are_found_in_any_block():
    x = np.zeros((100_000, 3))
    x[-1, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*\(99999, 1\)"):
        celib.cross_entropy(x, np.zeros(100_000, dtype=int))
