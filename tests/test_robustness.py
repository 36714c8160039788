"""celib in the situations a reviewer tries first: fork, non-finite values, float32 near
overflow, empty inputs, every integer dtype, the types of results.

Each class of input is checked on the small path and on the tiled, threaded path (tiny
tiles, forced threads), for a loss and its gradient, so that one rule holds everywhere.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import celib
import celib._blocks as blocks
from celib import reference


@pytest.fixture(params=["small", "tiled"])
def path(request, monkeypatch):
    """The same call through the one-tile path and through many tiny tiles on 3 threads."""
    if request.param == "tiled":
        monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 24)
        monkeypatch.setattr(blocks, "PARALLEL_ELEMENTS", 1)
        monkeypatch.setattr(blocks, "THREADS", 3)
    return request.param


# ---------------------------------------------------------------------------------------
# Fork: the thread pool must not be inherited half-alive by a child process.
# ---------------------------------------------------------------------------------------
FORK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys
    import numpy as np
    import celib

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400_000, 10), dtype=np.float32)  # large: the pool starts
    t = rng.integers(0, 10, 400_000)
    expected = float(celib.cross_entropy(x, t))
    grad = celib.cross_entropy_grad(x, t)

    def check(_=None):
        ok = float(celib.cross_entropy(x, t)) == expected
        ok &= bool(np.array_equal(celib.cross_entropy_grad(x, t), grad))
        return ok

    pid = os.fork()
    if pid == 0:
        os._exit(0 if check() else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "forked child got a wrong answer"

    with mp.get_context("fork").Pool(2) as pool:
        assert all(pool.map(check, range(4))), "a fork-started pool worker got a wrong answer"
    assert check()  # and the parent's pool still works
    print("fork-ok")
    """
)


def test_calls_complete_and_are_right_after_fork():
    """A forked child and a fork-started multiprocessing pool compute on large inputs
    after the parent's thread pool exists. Run in a subprocess with a timeout, so a
    regression (a deadlock) fails instead of hanging the test run."""
    if not hasattr(__import__("os"), "fork"):
        pytest.skip("no os.fork on this platform")
    try:
        done = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("celib hung after os.fork (the thread pool was inherited)")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("fork-ok")


def test_the_pool_is_forgotten_in_a_forked_child():
    blocks._get_pool()
    assert blocks._pool is not None
    pool, lock = blocks._pool, blocks._pool_lock
    blocks._forget_pool_in_child()  # what os.register_at_fork runs in the child
    try:
        assert blocks._pool is None and blocks._pool_lock is not lock
    finally:
        blocks._pool = pool


# ---------------------------------------------------------------------------------------
# Non-finite values: one rule, every path, loss and gradient alike.
# ---------------------------------------------------------------------------------------
BAD_ROWS = {
    "nan": (np.nan, "NaN"),
    "+inf": (np.inf, "+inf"),
    "all -inf": (-np.inf, "all -inf"),
}


def _logits_with_bad_row(kind: str, row: int, n: int = 13, c: int = 5):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c)) * 3
    value, _ = BAD_ROWS[kind]
    if kind == "all -inf":
        x[row] = -np.inf
    else:
        x[row, 2] = value
    return x, rng.integers(0, c, n)


@pytest.mark.parametrize("kind", list(BAD_ROWS))
@pytest.mark.parametrize("row", [0, 6, 12])
@pytest.mark.parametrize("func", [celib.cross_entropy, celib.cross_entropy_grad])
def test_a_bad_row_that_counts_is_refused_and_named(path, kind, row, func):
    x, t = _logits_with_bad_row(kind, row)
    with pytest.raises(ValueError, match=r"logits") as err:
        func(x, t)
    message = str(err.value)
    assert BAD_ROWS[kind][1] in message
    assert f"({row}, 2)" in message or f"index {row}" in message


@pytest.mark.parametrize("kind", list(BAD_ROWS))
@pytest.mark.parametrize("row", [0, 6, 12])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_an_ignored_row_never_affects_anything(path, kind, row, smoothing):
    """PyTorch leaves an ignored sample out of the loss whatever it holds; celib also
    leaves it out of the gradient (0 there), on every path."""
    x, t = _logits_with_bad_row(kind, row)
    t[row] = -100
    clean = x.copy()
    clean[row] = 0.0
    for reduction in ("mean", "sum", "none"):
        kw = dict(reduction=reduction, label_smoothing=smoothing)
        np.testing.assert_array_equal(celib.cross_entropy(x, t, **kw), celib.cross_entropy(clean, t, **kw))
        grad = celib.cross_entropy_grad(x, t, **kw)
        np.testing.assert_array_equal(grad, celib.cross_entropy_grad(clean, t, **kw))
        assert np.all(grad[row] == 0)


def test_minus_inf_at_the_true_class_gives_inf_loss_and_the_finite_gradient(path):
    """As PyTorch: -log 0 = inf, and the gradient p - y is finite (p_y = 0, so -1 there)."""
    x = np.array([[0.0, 1.0, -np.inf], [2.0, -np.inf, 0.0]])
    t = np.array([2, 0])
    assert np.isinf(celib.cross_entropy(x, t, reduction="none")[0])
    grad = celib.cross_entropy_grad(x, t, reduction="sum")
    np.testing.assert_allclose(grad, reference.cross_entropy_grad(x, t, reduction="sum"), rtol=1e-12, atol=1e-15)
    assert grad[0, 2] == -1.0 and grad[1, 1] == 0.0


@pytest.mark.parametrize("func", [celib.nll_loss, celib.nll_loss_grad])
def test_nll_refuses_nan_only_where_it_counts(path, func):
    logp = np.log(np.full((6, 3), 1 / 3))
    t = np.array([0, 1, 2, 0, 1, 2])
    logp[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"log_probs must not contain NaN; found nan at index \(3, 1\)"):
        func(logp, t)
    t[3] = -100
    clean = logp.copy()
    clean[3] = 0
    np.testing.assert_array_equal(func(logp, t), func(clean, t))


# ---------------------------------------------------------------------------------------
# float32 near the top of its range, where an unshifted exponential loses digits.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("low", [0.0, 40.0, 80.0, 86.0, -100.0])
def test_float32_gradients_keep_their_digits(path, low):
    rng = np.random.default_rng(int(abs(low)))
    x = (low + rng.uniform(0, 6, (64, 10))).astype(np.float32)
    t = rng.integers(0, 10, 64)
    for func in ("cross_entropy", "cross_entropy_grad"):
        got = getattr(celib, func)(x, t, reduction="sum")
        want = getattr(reference, func)(x.astype(np.float64), t, reduction="sum")
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert err < 1e-6, (func, low, err)  # a few float32 eps, relative to the largest entry


def test_a_tiny_loss_keeps_its_digits():
    """-log p_y for p_y near 1 is computed as log1p(rest / e_y), not log(s / e_y)."""
    x = np.array([[40.0, 0.0, 0.0]])
    want = np.log1p(2 * np.exp(-40.0))  # 8.5e-18
    got = celib.cross_entropy(x, np.array([0]))
    assert abs(got - want) <= 4 * np.finfo(float).eps * want
    grad = celib.cross_entropy_grad(x, np.array([0]))
    assert abs(grad[0, 0] + 2 * np.exp(-40.0)) <= 4 * np.finfo(float).eps * 2 * np.exp(-40.0)


# ---------------------------------------------------------------------------------------
# Targets of every integer dtype, Python lists, empty inputs, result types.
# ---------------------------------------------------------------------------------------
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("func", ["cross_entropy", "cross_entropy_grad", "nll_loss", "nll_loss_grad",
                                  "categorical_cross_entropy", "categorical_cross_entropy_grad", "one_hot"])
def test_every_integer_dtype_gives_the_int64_answer(path, dtype, func):
    rng = np.random.default_rng(3)
    x = celib.softmax(rng.standard_normal((2, 4, 3)), axis=1)
    t = rng.integers(0, 4, (2, 3))
    f = getattr(celib, func)
    if func == "one_hot":
        np.testing.assert_array_equal(f(t.astype(dtype), 4), f(t, 4))
        return
    np.testing.assert_array_equal(f(x, t.astype(dtype)), f(x, t))
    np.testing.assert_array_equal(f(x, t.tolist()), f(x, t))


@pytest.mark.parametrize("func", ["cross_entropy", "cross_entropy_grad", "nll_loss", "nll_loss_grad",
                                  "categorical_cross_entropy", "categorical_cross_entropy_grad"])
def test_an_empty_batch_with_an_empty_list(func):
    x = np.zeros((0, 3))
    f = getattr(celib, func)
    assert f(x, [], reduction="sum").shape in {(), (0, 3)}
    assert f(x, [], reduction="none").shape in {(0,), (0, 3)}
    with pytest.warns(RuntimeWarning, match="0/0"):
        out = f(x, [], reduction="mean")
    assert (np.isnan(out) if out.shape == () else out.shape == (0, 3))


def test_empty_softmax_and_logsumexp_as_pytorch():
    assert celib.logsumexp([]) == -np.inf
    np.testing.assert_array_equal(celib.logsumexp(np.zeros((3, 0))), [-np.inf] * 3)
    assert celib.softmax(np.zeros((3, 0))).shape == (3, 0)
    assert celib.log_softmax(np.zeros((0, 4)), axis=1).shape == (0, 4)


LOSSES = {
    "cross_entropy": lambda x: celib.cross_entropy(x, np.array([0, 1])),
    "nll_loss": lambda x: celib.nll_loss(x, np.array([0, 1])),
    "categorical_cross_entropy": lambda x: celib.categorical_cross_entropy(np.full_like(x, 1 / 3), np.array([0, 1])),
    "binary_cross_entropy": lambda x: celib.binary_cross_entropy(np.full_like(x, 0.5), np.ones_like(x)),
    "binary_cross_entropy_with_logits": lambda x: celib.binary_cross_entropy_with_logits(x, np.ones_like(x)),
    "mse_loss": lambda x: celib.mse_loss(x, np.ones_like(x)),
    "distribution_focal_loss": lambda x: celib.distribution_focal_loss(x, np.array([0.5, 1.5], x.dtype)),
    "sigmoid_focal_loss": lambda x: celib.sigmoid_focal_loss(x, np.ones_like(x)),
    "quality_focal_loss": lambda x: celib.quality_focal_loss(x, np.ones_like(x)),
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_reduced_loss_is_a_numpy_scalar_of_the_input_dtype(name, dtype):
    """One documented type for reduced results: a NumPy scalar (``np.float32`` or
    ``np.float64``), which has ``.shape == ()`` and ``.dtype`` like a 0-d array."""
    out = LOSSES[name](np.zeros((2, 3), dtype))
    assert type(out) is dtype and out.shape == ()


def test_every_loss_has_its_gradient():
    names = set(celib.__all__)
    losses = {n for n in names if n.endswith(("_loss", "_entropy", "entropy_with_logits"))}
    assert losses and all(f"{n}_grad" in names for n in losses), sorted(n for n in losses if f"{n}_grad" not in names)


@pytest.mark.parametrize("name,value", [("gamma", np.inf), ("gamma", np.nan), ("beta", np.inf), ("gamma", -1.0)])
def test_focusing_exponents_must_be_finite(name, value):
    f = celib.sigmoid_focal_loss if name == "gamma" else celib.quality_focal_loss
    with pytest.raises(ValueError, match=name):
        f([0.0], [1.0], **{name: value})


def test_two_hot_names_its_count_like_one_hot():
    np.testing.assert_array_equal(celib.two_hot([1.5], num_bins=3), [[0, 0.5, 0.5]])
    with pytest.warns(DeprecationWarning, match="num_bins"):
        old = celib.two_hot([1.5], n_bins=3)
    np.testing.assert_array_equal(old, [[0, 0.5, 0.5]])


def test_an_invalid_index_is_never_clipped():
    """The flat ``take`` in the kernels is bounds-checked (it used mode='clip')."""
    with pytest.raises(IndexError):
        blocks.take(np.zeros((2, 3)), np.array([6]))


def test_no_warning_escapes_from_a_normal_call():
    x = np.random.default_rng(0).standard_normal((50, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        celib.cross_entropy_grad(x * 300, np.arange(50) % 4, label_smoothing=0.1)
        celib.distribution_focal_loss_grad(x * 300, np.full(50, 1.5))
