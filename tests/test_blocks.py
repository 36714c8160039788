"""The blocked, threaded kernels against the straightforward formulas.

The fast code processes rows in blocks, on several threads for large inputs, and skips
the max-shift when it is safe. These tests shrink the block size so that small inputs
cross many block boundaries (and odd sizes leave a ragged last block), force the
threaded path, and compare every result with the textbook computation in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import celib
import celib._blocks as blocks


@pytest.fixture(params=["one-thread", "threads"])
def tiny_blocks(request, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 50)  # a few rows per block
    monkeypatch.setattr(blocks, "PARALLEL_ELEMENTS", 1 if request.param == "threads" else 10**12)
    monkeypatch.setattr(blocks, "THREADS", 3 if request.param == "threads" else 1)
    return request.param


def reference_ce(x, t, w=None, ignore_index=-100, eps=0.0):
    """Straightforward cross-entropy per row, in float64."""
    x = x.astype(np.float64)
    logp = x - x.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    n, c = x.shape
    w = np.ones(c) if w is None else w.astype(np.float64)
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    nll = -w[ts] * logp[np.arange(n), ts]
    smooth = -(logp * w).sum(axis=1)
    loss = np.where(valid, (1 - eps) * nll + eps / c * smooth, 0.0)
    grad = np.exp(logp) * ((1 - eps) * w[ts] + eps / c * w.sum())[:, None]
    grad[np.arange(n), ts] -= (1 - eps) * w[ts]
    grad -= eps / c * w
    grad[~valid] = 0
    return loss, grad, (w[ts] * valid).sum()


CASES = [
    # rows, classes, logit scale (large scales take the shifted path), weights, ignore, smoothing
    (37, 13, 1.0, False, False, 0.0),
    (37, 13, 80.0, True, True, 0.1),
    (101, 3, 5.0, True, False, 0.0),
    (9, 61, 200.0, False, True, 0.3),
    (53, 7, 30.0, True, True, 0.0),
    (1, 5, 1.0, False, False, 0.0),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,c,scale,weighted,ignore,eps", CASES, ids=[f"{n}x{c}-s{s}" for n, c, s, *_ in CASES])
def test_blocked_cross_entropy_matches_the_formula(tiny_blocks, n, c, scale, weighted, ignore, eps, dtype):
    rng = np.random.default_rng(n * c)
    x = (rng.standard_normal((n, c)) * scale).astype(dtype)
    x[0, :] += 3 * scale  # rows on very different scales within one block
    t = rng.integers(0, c, size=n)
    if ignore and n > 2:
        t[1::4] = -100
    w = rng.uniform(0.5, 2.0, c).astype(dtype) if weighted else None
    loss, grad, denom = reference_ce(x, t, w, eps=eps)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5 * max(1.0, scale / 10))
    kw = dict(weight=w, label_smoothing=eps)
    np.testing.assert_allclose(celib.cross_entropy(x, t, reduction="none", **kw), loss, **tol)
    np.testing.assert_allclose(celib.cross_entropy(x, t, reduction="sum", **kw), loss.sum(), **tol)
    np.testing.assert_allclose(celib.cross_entropy(x, t, **kw), loss.sum() / denom, **tol)
    np.testing.assert_allclose(celib.cross_entropy_grad(x, t, reduction="sum", **kw), grad, **tol)
    np.testing.assert_allclose(celib.cross_entropy_grad(x, t, **kw), grad / denom, **tol)


def test_tiny_losses_keep_their_digits_without_a_shift(tiny_blocks):
    """Confident, right rows have losses near 1e-6: log(s / e_y) keeps them accurate in float32."""
    x = np.zeros((20, 10), np.float32)
    x[np.arange(20), np.arange(20) % 10] = 15.0  # p_true = 1 - 9 e^-15
    t = np.arange(20) % 10
    got = celib.cross_entropy(x, t, reduction="none")
    expected = np.log1p(9 * np.exp(-15.0))
    np.testing.assert_allclose(got, expected, rtol=1e-2)  # PyTorch float32 is off by 4% here


def test_nan_is_found_in_any_block_and_thread(tiny_blocks):
    x = np.zeros((40, 6))
    x[33, 4] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*\(33, 4\)"):
        celib.cross_entropy(x, np.zeros(40, dtype=int))
    x[33, 4] = np.inf
    with pytest.raises(ValueError, match=r"\+inf"):
        celib.cross_entropy_grad(x, np.zeros(40, dtype=int))


@pytest.mark.parametrize("scale", [1.0, 60.0])
def test_blocked_dfl_matches_the_formula(tiny_blocks, scale):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((41, 9)) * scale
    y = rng.uniform(0, 8, size=41)
    y[:3] = [0.0, 8.0, 3.0]
    logp = x - x.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    th = celib.two_hot(y, 9)
    expected = -(th * logp).sum(axis=1)
    w = rng.uniform(0.5, 2, size=41)
    np.testing.assert_allclose(celib.distribution_focal_loss(x, y, reduction="none"), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(celib.distribution_focal_loss(x, y, weight=w), (w * expected).mean(), rtol=1e-10)
    np.testing.assert_allclose(
        celib.distribution_focal_loss_grad(x, y, weight=w, reduction="sum"), w[:, None] * (np.exp(logp) - th), rtol=1e-10, atol=1e-12
    )


def test_blocked_bce_with_logits_matches_the_formula(tiny_blocks):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(1001) * 20
    y = rng.uniform(size=1001)
    pw = 2.5
    # the textbook logit form, exact in float64 for |x| < 700
    expected = (1 - y) * x + (1 + (pw - 1) * y) * np.log1p(np.exp(-x))
    got = celib.binary_cross_entropy_with_logits(x, y, pos_weight=[pw], reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_allclose(celib.binary_cross_entropy_with_logits(x, y, pos_weight=[pw]), expected.mean(), rtol=1e-9)


@pytest.mark.parametrize("weights", ["none", "per-element", "per-column", "scalar"])
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_blocked_bce_with_logits_grad_matches_the_formula(tiny_blocks, weights, with_pos_weight):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((143, 7)) * 20  # 1001 elements: a ragged last block
    y = rng.uniform(size=x.shape)
    y[::3] = np.round(y[::3])
    w = {"none": None, "per-element": rng.uniform(size=x.shape), "per-column": rng.uniform(size=7), "scalar": 0.7}[weights]
    q = rng.uniform(0.5, 3, size=7) if with_pos_weight else None
    sig = 1 / (1 + np.exp(-x))  # the textbook derivative, exact enough in float64 for |x| < 700
    expected = (1 - y) - (1 + ((1 if q is None else q) - 1) * y) * (1 - sig)
    if w is not None:
        expected = expected * w
    for reduction, scale in (("sum", 1), ("mean", 1 / x.size)):
        got = celib.binary_cross_entropy_with_logits_grad(x, y, weight=w, pos_weight=q, reduction=reduction)
        np.testing.assert_allclose(got, expected * scale, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_grad_keeps_tiny_gradients(tiny_blocks, dtype):
    """For a hard label the gradient is sigma(x) (label 0) or -sigma(-x) (label 1), to
    the last digit even when it is far below the float's epsilon, where sigmoid(x) - y
    would round it to 0."""
    x = np.linspace(-60, 60, 1001).astype(dtype)
    x64 = x.astype(np.float64)
    rtol = 4 * np.finfo(dtype).eps
    got0 = celib.binary_cross_entropy_with_logits_grad(x, np.zeros_like(x), reduction="sum")
    np.testing.assert_allclose(got0, 1 / (1 + np.exp(-x64)), rtol=rtol, atol=0)
    got1 = celib.binary_cross_entropy_with_logits_grad(x, np.ones_like(x), reduction="sum")
    np.testing.assert_allclose(got1, -1 / (1 + np.exp(x64)), rtol=rtol, atol=0)
    assert got0.dtype == got1.dtype == dtype
    assert got0[0] > 0 and got1[-1] < 0  # 1e-26: kept, not rounded to 0


def test_the_real_threaded_path_on_a_large_input():
    """Default settings: an input large enough to be split across threads."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5000, 300)).astype(np.float32)
    t = rng.integers(0, 300, 5000)
    loss, grad, denom = reference_ce(x, t)
    np.testing.assert_allclose(celib.cross_entropy(x, t), loss.mean(), rtol=1e-5)
    np.testing.assert_allclose(celib.cross_entropy_grad(x, t), grad / denom, rtol=1e-4, atol=1e-9)
    first = celib.cross_entropy(x, t)
    assert all(celib.cross_entropy(x, t) == first for _ in range(3)), "results must not depend on thread timing"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_keeps_tiny_losses_exact(tiny_blocks, dtype):
    """log(1 + e) is computed as log(u) plus the rounding error of u = 1 + e: as exact as
    log1p, also when e is far below the float's epsilon (confident, right predictions)."""
    x = np.linspace(-30, 60, 1001).astype(dtype)
    expected = np.log1p(np.exp(-x.astype(np.float64)))  # y = 1: the loss is softplus(-x)
    y = np.ones_like(x)
    got = celib.binary_cross_entropy_with_logits(x, y, reduction="none")
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)
    np.testing.assert_allclose(celib.binary_cross_entropy_with_logits(x, y, reduction="sum"), expected.sum(), rtol=rtol)
    np.testing.assert_allclose(celib.binary_cross_entropy_with_logits(x[-50:], y[-50:]), expected[-50:].mean(), rtol=rtol)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("target", [0.0, 1.0])
def test_bce_with_logits_finds_a_bad_logit_in_any_block(tiny_blocks, bad, target):
    x = np.zeros(1000)
    x[777] = bad
    for reduction in ("mean", "none"):
        with pytest.raises(ValueError, match=r"logits.*777"):
            celib.binary_cross_entropy_with_logits(x, np.full(1000, target), reduction=reduction)
        with pytest.raises(ValueError, match=r"logits.*777"):
            celib.binary_cross_entropy_with_logits_grad(x, np.full(1000, target), reduction=reduction)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_dfl_finds_a_bad_logit_in_any_block(tiny_blocks, bad):
    """-inf is refused too (unlike cross_entropy), even on a bin the target does not use."""
    x = np.zeros((40, 5))
    x[29, 4] = bad
    y = np.full(40, 1.5)
    for f in (celib.distribution_focal_loss, celib.distribution_focal_loss_grad):
        with pytest.raises(ValueError, match=r"logits.*\(29, 4\)"):
            f(x, y)


def test_an_ignored_row_counts_zero_whatever_its_logits(tiny_blocks):
    """An ignored sample whose class-0 logit is -inf (its '-log p' would be inf) adds
    nothing, as in PyTorch, on the unshifted and on the shifted path."""
    x = np.zeros((30, 4))
    x[7, 0] = -np.inf
    x[20, :] = [-np.inf, 900.0, 0.0, 0.0]  # forces the shifted path in its block
    t = np.ones(30, dtype=int)
    t[[7, 20]] = -100
    loss = celib.cross_entropy(x, t, reduction="none")
    assert loss[7] == 0 and loss[20] == 0
    np.testing.assert_allclose(loss[t != -100], np.log(4.0), rtol=1e-12)
    np.testing.assert_allclose(celib.cross_entropy(x, t), np.log(4.0), rtol=1e-12)
    grad = celib.cross_entropy_grad(x, t)
    assert np.all(grad[[7, 20]] == 0) and np.isfinite(grad).all()


def test_an_error_in_one_thread_stops_the_others(monkeypatch):
    """A NaN in the first block: the other threads stop taking blocks instead of
    finishing the whole input before the error is reported."""
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 100)
    monkeypatch.setattr(blocks, "PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(blocks, "THREADS", 2)
    done = []

    def body(tile, buffer):
        if tile.o0 == 0:
            raise ValueError("bad block")
        done.append(tile.o0)
        return 0.0

    plan = blocks.make_plan(100_000, 1, 10, 8, 1)
    assert plan.n_tiles == 10_000 and plan.n_threads == 2
    with pytest.raises(ValueError, match="bad block"):
        blocks.run_tiles(plan, body, (10,), np.float64)
    assert len(done) < 5_000  # of the 9,999 other blocks
