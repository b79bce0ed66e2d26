"""test_nn_loss.py - pygru.nn's losses against torch 2.13 (torch.nn.functional with
autograd): values and input gradients for every reduction, with weight / pos_weight
(BCEWithLogitsLoss), class weights, ignore_index, label smoothing and extra dimensions
(CrossEntropyLoss); finite differences in float64; numerical stability at large
logits; upstream gradients for reduction='none'; argument errors.
"""
import numpy as np
import pytest

import pygru.nn as nn

torch = pytest.importorskip("torch")
from numerics import rel_err, assert_close, numeric_grad  # noqa: E402
F = torch.nn.functional

TOL = {np.float32: 1e-5, np.float64: 1e-12}
REDUCTIONS = ["mean", "sum", "none"]






def compare(loss, x, target, torch_fn, dtype, reduction, rng, upstream=True):
    """Our loss(x, target) and its backward against torch_fn(x tensor) with autograd;
    for reduction='none' with a random upstream gradient. Returns the errors."""
    value = loss(x, target)
    assert value.dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    vt = torch_fn(xt)
    if reduction == "none" and upstream:
        g = rng.standard_normal(value.shape).astype(dtype)
        grad = loss.backward(g)
        vt.backward(torch.tensor(g))
    elif reduction == "none":
        grad = loss.backward()
        vt.sum().backward()
    else:
        assert value.shape == ()
        grad = loss.backward(2.5)
        (2.5 * vt).backward()
    assert grad.dtype == dtype and grad.shape == x.shape
    return {"value": rel_err(value, vt), "grad": rel_err(grad, xt.grad)}




# ---- BCEWithLogitsLoss -----------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", ["none", "weight", "pos_weight", "both"])
def test_bce_with_logits_against_torch(dtype, reduction, weighted):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 3)) * 4).astype(dtype)
    x[0, 0], x[0, 1] = 80, -80                      # far in the tails: stable, no inf/nan
    y = rng.uniform(0, 1, (5, 3)).astype(dtype)
    y[1] = (y[1] > 0.5)
    w = rng.uniform(0.5, 2, (3,)).astype(dtype) if weighted in ("weight", "both") else None
    pw = rng.uniform(0.5, 3, (3,)).astype(dtype) if weighted in ("pos_weight", "both") else None
    loss = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw)
    tw = None if w is None else torch.from_numpy(w)
    tpw = None if pw is None else torch.from_numpy(pw)
    errors = compare(loss, x, y, lambda xt: F.binary_cross_entropy_with_logits(
        xt, torch.from_numpy(y), weight=tw, reduction=reduction, pos_weight=tpw), dtype, reduction, rng)
    assert_close(errors, TOL[dtype])


def test_bce_with_logits_finite_differences_and_errors():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2))
    y = rng.uniform(0, 1, (4, 2))
    loss = nn.BCEWithLogitsLoss(pos_weight=np.array([2.0, 0.5]))
    loss(x, y)
    grad = loss.backward()
    numeric = numeric_grad(lambda: float(loss(x, y)), x)
    assert_close({"grad vs FD": rel_err(grad, numeric)}, 1e-8)
    with pytest.raises(ValueError, match=r"target must have shape \(4, 2\) \(the shape of input\); got \(4,\)"):
        loss(x, y[:, 0])
    with pytest.raises(ValueError, match=r"pos_weight must broadcast to input's shape \(4, 3\); got \(2,\)"):
        loss(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.BCEWithLogitsLoss(reduction="avg")
    with pytest.raises(RuntimeError, match="needs a forward"):
        nn.BCEWithLogitsLoss().backward()


# ---- CrossEntropyLoss ------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 2)])
def test_cross_entropy_against_torch(dtype, reduction, weighted, smoothing, shape):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    target = rng.integers(0, 4, size=(shape[0],) + shape[2:])
    target.flat[1] = -100                            # ignored
    target.flat[3] = 3
    w = rng.uniform(0.5, 2, 4).astype(dtype) if weighted else None
    loss = nn.CrossEntropyLoss(weight=w, reduction=reduction, label_smoothing=smoothing)
    tw = None if w is None else torch.from_numpy(w)
    errors = compare(loss, x, target, lambda xt: F.cross_entropy(
        xt, torch.from_numpy(target), weight=tw, reduction=reduction, label_smoothing=smoothing),
        dtype, reduction, rng)
    assert_close(errors, TOL[dtype])


def test_cross_entropy_other_forms():
    rng = np.random.default_rng(3)
    # unbatched (C,) with a () target; a custom ignore_index; large logits
    x = rng.standard_normal(5)
    for target in (np.array(2), np.array(4)):
        errors = compare(nn.CrossEntropyLoss(label_smoothing=0.1), x, target, lambda xt: F.cross_entropy(
            xt, torch.from_numpy(target), label_smoothing=0.1), np.float64, "mean", rng)
        assert_close(errors, 1e-12)
    x = rng.standard_normal((4, 3)) * 300
    target = np.array([0, 2, 1, 2])
    loss = nn.CrossEntropyLoss(ignore_index=2, reduction="none")
    errors = compare(loss, x, target, lambda xt: F.cross_entropy(
        xt, torch.from_numpy(target), ignore_index=2, reduction="none"), np.float64, "none", rng,
        upstream=False)
    assert_close(errors, 1e-12)
    # finite differences
    x = rng.standard_normal((3, 4))
    loss = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5, 1.5]), label_smoothing=0.3)
    target = np.array([1, 3, 0])
    loss(x, target)
    grad = loss.backward()
    numeric = numeric_grad(lambda: float(loss(x, target)), x)
    assert_close({"grad vs FD": rel_err(grad, numeric)}, 1e-8)


def test_cross_entropy_errors():
    loss = nn.CrossEntropyLoss()
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"target must be in 0\.\.3 \(C=4 classes\) or ignore_index=-100; got 4"):
        loss(x, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match="target must be an integer array of class indices; got dtype float64"):
        loss(x, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\) \(input's shape without the class axis 1\); got \(2,\)"):
        loss(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\) \(one weight per class\); got \(3,\)"):
        nn.CrossEntropyLoss(weight=np.ones(3))(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="label_smoothing must be a real number in"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    loss(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"grad_output must be a real scalar for reduction='mean'; got shape \(3,\)"):
        loss.backward(np.ones(3))
    none = nn.CrossEntropyLoss(reduction="none")
    none(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(3,\)"):
        none.backward(np.ones(4))


# ---- MSELoss ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_against_torch(dtype, reduction):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 4)).astype(dtype)
    y = rng.standard_normal((3, 2, 4)).astype(dtype)
    errors = compare(nn.MSELoss(reduction), x, y, lambda xt: F.mse_loss(
        xt, torch.from_numpy(y), reduction=reduction), dtype, reduction, rng)
    assert_close(errors, TOL[dtype])
    with pytest.raises(ValueError, match=r"target must have shape \(3, 2, 4\)"):
        nn.MSELoss()(x, y[0])
