"""celib against torch.nn.functional on random and edge-case inputs: values and gradients.

Skipped (with one line saying why) when PyTorch is not installed; CI installs
``torch==2.13.0`` so these always run there.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import celib

torch = pytest.importorskip("torch", reason="PyTorch not installed (CI installs torch==2.13.0)")
F = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def _torch_value_and_grad(fn, x: np.ndarray, reduction: str):
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt)
    grad_out = torch.ones_like(out)
    (g,) = torch.autograd.grad(out, xt, grad_out)
    return out.detach().numpy(), g.numpy()


def _close(a, b, dtype, scale=1.0):
    tol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol["rtol"], atol=tol["atol"] * scale)


SHAPES = [(5,), (7, 4), (3, 5, 2), (2, 3, 2, 2)]
CE_CASES = list(
    itertools.product(SHAPES, REDUCTIONS, [False, True], [0.0, 0.2], [None, 1], [np.float64, np.float32])
)


@pytest.mark.parametrize(
    "shape,reduction,weighted,eps,ignore,dtype",
    CE_CASES,
    ids=[f"{s}-{r}-w{int(w)}-ls{e}-ign{i}-{d.__name__}" for s, r, w, e, i, d in CE_CASES],
)
def test_cross_entropy_index_targets(shape, reduction, weighted, eps, ignore, dtype):
    rng = np.random.default_rng(hash((shape, reduction, weighted, eps, ignore)) % 2**32)
    x = (rng.normal(size=shape) * 3).astype(dtype)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, n_classes, size=tshape)
    ignore_index = -100
    if ignore is not None and t.ndim > 0:
        ignore_index = ignore
        t.flat[0] = ignore_index
    w = rng.uniform(0.2, 2.0, size=n_classes).astype(dtype) if weighted else None
    kw = dict(weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=eps)
    tkw = dict(kw, weight=None if w is None else torch.tensor(w))
    ref, ref_g = _torch_value_and_grad(lambda xt: F.cross_entropy(xt, torch.tensor(t), **tkw), x, reduction)
    got = celib.cross_entropy(x, t, **kw)
    got_g = celib.cross_entropy_grad(x, t, **kw)
    assert np.asarray(got).dtype == dtype and got_g.dtype == dtype
    assert np.shape(got) == ref.shape
    _close(got, ref, dtype, scale=10)
    _close(got_g, ref_g, dtype)


PROB_CASES = list(itertools.product(SHAPES, REDUCTIONS, [False, True], [0.0, 0.3], [np.float64, np.float32]))


@pytest.mark.parametrize(
    "shape,reduction,weighted,eps,dtype",
    PROB_CASES,
    ids=[f"{s}-{r}-w{int(w)}-ls{e}-{d.__name__}" for s, r, w, e, d in PROB_CASES],
)
def test_cross_entropy_probability_targets(shape, reduction, weighted, eps, dtype):
    rng = np.random.default_rng(7)
    x = (rng.normal(size=shape) * 2).astype(dtype)
    axis = 0 if len(shape) == 1 else 1
    t = celib.softmax(rng.normal(size=shape) * 2, axis=axis).astype(dtype)
    n_classes = shape[axis]
    w = rng.uniform(0.2, 2.0, size=n_classes).astype(dtype) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=eps)
    tkw = dict(kw, weight=None if w is None else torch.tensor(w))
    ref, ref_g = _torch_value_and_grad(lambda xt: F.cross_entropy(xt, torch.tensor(t), **tkw), x, reduction)
    _close(celib.cross_entropy(x, t, **kw), ref, dtype, scale=10)
    _close(celib.cross_entropy_grad(x, t, **kw), ref_g, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_cross_entropy_extreme_logits(dtype, scale):
    x = np.array([[scale, 0.0, -scale], [0.0, scale, 1.0], [1.0, 2.0, 3.0]], dtype)
    t = np.array([2, 1, 0])
    ref, ref_g = _torch_value_and_grad(lambda xt: F.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1), x, "mean")
    got = celib.cross_entropy(x, t, label_smoothing=0.1)
    assert np.isfinite(got)
    _close(got, ref, dtype, scale=10)
    _close(celib.cross_entropy_grad(x, t, label_smoothing=0.1), ref_g, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    rng = np.random.default_rng(3)
    logp = celib.log_softmax(rng.normal(size=(6, 4, 3)), axis=1)
    t = rng.integers(0, 4, size=(6, 3))
    t[0, 0] = -100
    w = rng.uniform(0.5, 2, 4) if weighted else None
    ref = F.nll_loss(torch.tensor(logp), torch.tensor(t), weight=None if w is None else torch.tensor(w), reduction=reduction)
    _close(celib.nll_loss(logp, t, weight=w, reduction=reduction), ref.numpy(), np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy(reduction, weighted, dtype):
    rng = np.random.default_rng(11)
    p = rng.uniform(0.01, 0.99, size=(5, 3)).astype(dtype)
    p[0, :2] = [0.0, 1.0]  # the clamp at -100
    y = rng.uniform(size=(5, 3)).astype(dtype)
    y[0, :2] = [1.0, 0.0]
    w = rng.uniform(0.5, 2, size=(3,)).astype(dtype) if weighted else None
    tw = None if w is None else torch.tensor(w)
    ref, ref_g = _torch_value_and_grad(
        lambda pt: F.binary_cross_entropy(pt, torch.tensor(y), weight=tw, reduction=reduction), p, reduction
    )
    _close(celib.binary_cross_entropy(p, y, weight=w, reduction=reduction), ref, dtype, scale=100)
    _close(celib.binary_cross_entropy_grad(p, y, weight=w, reduction=reduction), ref_g, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,pos", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_with_logits(reduction, weighted, pos, dtype):
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(4, 3)) * 5).astype(dtype)
    x[0] = [1e4, -1e4, 0.0]
    y = rng.uniform(size=(4, 3)).astype(dtype)
    w = rng.uniform(0.5, 2, size=(4, 1)).astype(dtype) if weighted else None
    pw = rng.uniform(0.5, 3, size=(3,)).astype(dtype) if pos else None
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    tkw = dict(reduction=reduction, weight=None if w is None else torch.tensor(w), pos_weight=None if pw is None else torch.tensor(pw))
    ref, ref_g = _torch_value_and_grad(lambda xt: F.binary_cross_entropy_with_logits(xt, torch.tensor(y), **tkw), x, reduction)
    _close(celib.binary_cross_entropy_with_logits(x, y, **kw), ref, dtype, scale=1e4)
    _close(celib.binary_cross_entropy_with_logits_grad(x, y, **kw), ref_g, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2, 4, 3))
    ref, ref_g = _torch_value_and_grad(lambda xt: F.mse_loss(xt, torch.tensor(y), reduction=reduction), x, reduction)
    _close(celib.mse_loss(x, y, reduction=reduction), ref, np.float64)
    _close(celib.mse_loss_grad(x, y, reduction=reduction), ref_g, np.float64)


def test_softmax_family():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5)) * 10
    for axis in (0, 1, -1):
        _close(celib.softmax(x, axis=axis), torch.softmax(torch.tensor(x), dim=axis).numpy(), np.float64)
        _close(celib.log_softmax(x, axis=axis), torch.log_softmax(torch.tensor(x), dim=axis).numpy(), np.float64)
        _close(celib.logsumexp(x, axis=axis), torch.logsumexp(torch.tensor(x), dim=axis).numpy(), np.float64)
    _close(celib.sigmoid(x), torch.sigmoid(torch.tensor(x)).numpy(), np.float64)
    _close(celib.log_sigmoid(x), F.logsigmoid(torch.tensor(x)).numpy(), np.float64)
    labels = rng.integers(0, 5, size=(2, 3))
    np.testing.assert_array_equal(celib.one_hot(labels, 5), F.one_hot(torch.tensor(labels), 5).numpy())


def _mmdet_dfl(pred, label):
    """mmdetection's distribution_focal_loss (mmdet/models/losses/gfocal_loss.py)."""
    dis_left = label.long()
    dis_right = dis_left + 1
    weight_left = dis_right.float() - label
    weight_right = label - dis_left.float()
    return (
        F.cross_entropy(pred, dis_left, reduction="none") * weight_left
        + F.cross_entropy(pred, dis_right, reduction="none") * weight_right
    )


def test_dfl_matches_mmdetection_inside_the_range():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 17)).astype(np.float32)
    y = rng.uniform(0, 15.999, size=50).astype(np.float32)
    ref = _mmdet_dfl(torch.tensor(x), torch.tensor(y)).numpy()
    _close(celib.distribution_focal_loss(x, y, reduction="none"), ref, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        celib.distribution_focal_loss(x, y)


def _torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss (reduction="none"), line for line."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1, 2.0), (0.5, 0.0), (0.75, 1.5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_loss_matches_torchvision(alpha, gamma, reduction):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(6, 4)) * 3
    y = (rng.uniform(size=(6, 4)) < 0.3).astype(float)

    def ref_fn(xt):
        loss = _torchvision_sigmoid_focal_loss(xt, torch.tensor(y), alpha, gamma)
        return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]

    ref, ref_g = _torch_value_and_grad(ref_fn, x, reduction)
    _close(celib.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction=reduction), ref, np.float64)
    _close(celib.sigmoid_focal_loss_grad(x, y, alpha=alpha, gamma=gamma, reduction=reduction), ref_g, np.float64)


def _mmdet_qfl_tensor_target(pred, target, beta=2.0):
    """mmdetection's quality_focal_loss_tensor_target, without its final sum over classes."""
    pred_sigmoid = pred.sigmoid()
    zerolabel = pred_sigmoid.new_zeros(pred.shape)
    loss = F.binary_cross_entropy_with_logits(pred, zerolabel, reduction="none") * pred_sigmoid.pow(beta)
    pos = target != 0
    scale_factor = target[pos] - pred_sigmoid[pos]
    loss[pos] = F.binary_cross_entropy_with_logits(pred[pos], target[pos], reduction="none") * scale_factor.abs().pow(beta)
    return loss


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_quality_focal_loss_matches_mmdetection(beta):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(8, 5)) * 2
    y = np.where(rng.uniform(size=(8, 5)) < 0.3, rng.uniform(size=(8, 5)), 0.0)
    ref, ref_g = _torch_value_and_grad(lambda xt: _mmdet_qfl_tensor_target(xt, torch.tensor(y), beta).sum(), x, "sum")
    _close(celib.quality_focal_loss(x, y, beta=beta, reduction="sum"), ref, np.float64)
    _close(celib.quality_focal_loss_grad(x, y, beta=beta, reduction="sum"), ref_g, np.float64)
