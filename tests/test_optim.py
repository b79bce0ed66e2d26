"""test_optim.py - pygru.optim against torch.optim 2.13: the same parameters and the
same sequence of gradients through several steps of SGD (momentum, dampening,
nesterov, weight decay, maximize), Adam (weight decay, amsgrad) and AdamW, in float32
(relative error <= 1e-6) and float64 (<= 1e-12); parameter groups; state dicts
(saving mid-run and resuming gives the uninterrupted run); clip_grad_norm_ (total norm
and clipped gradients, norms 2, 1.5 and inf). Errors are reported per tensor.
"""
import numpy as np
import pytest

import pygru.nn as nn
import pygru.optim as optim

torch = pytest.importorskip("torch")
from numerics import rel_err, assert_close  # noqa: E402

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: 1e-6, np.float64: 1e-12}
SHAPES = [(3, 4), (5,), (2, 2, 3)]
STEPS = 6






def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    ours = [nn.Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]
    theirs = [torch.nn.Parameter(torch.tensor(p.data)) for p in ours]
    return ours, theirs


def gradients(dtype, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    # varying scales, so that the moments matter
    return [[(rng.standard_normal(s) * rng.uniform(0.1, 3)).astype(dtype) for s in SHAPES]
            for _ in range(steps)]


def run(ours, theirs, opt, ref, grads):
    for step_grads in grads:
        opt.zero_grad()
        ref.zero_grad()
        for p, t, g in zip(ours, theirs, step_grads):
            p.grad += g
            t.grad = torch.tensor(g)
        opt.step()
        ref.step()


def compare(make_ours, make_torch, dtype, steps=STEPS):
    ours, theirs = make_params(dtype)
    opt, ref = make_ours(ours), make_torch(theirs)
    run(ours, theirs, opt, ref, gradients(dtype, steps))
    errors = {"param %d" % i: rel_err(p.data, t) for i, (p, t) in enumerate(zip(ours, theirs))}
    assert all(p.data.dtype == dtype for p in ours)
    assert_close(errors, TOL[dtype])
    return ours, opt


SGD_CASES = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.05, momentum=0.8, nesterov=True), dict(lr=0.1, weight_decay=0.1),
             dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join("%s=%s" % i for i in kw.items()))
def test_sgd_against_torch(dtype, kw):
    compare(lambda ps: optim.SGD(ps, **kw), lambda ps: torch.optim.SGD(ps, **kw), dtype)


ADAM_CASES = [dict(), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, amsgrad=True),
              dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.05, amsgrad=True),
              dict(lr=0.01, betas=(0.3, 0.99)), dict(lr=0.01, maximize=True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", ADAM_CASES,
                         ids=lambda kw: ",".join("%s=%s" % i for i in kw.items()) or "defaults")
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_adam_against_torch(dtype, kw, cls):
    compare(lambda ps: getattr(optim, cls)(ps, **kw), lambda ps: getattr(torch.optim, cls)(ps, **kw), dtype)


def test_defaults_follow_torch():
    p = [nn.Parameter(np.zeros(2))]
    for name in ("SGD", "Adam", "AdamW"):
        ours = getattr(optim, name)(p).param_groups[0]
        ref = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))]).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert ref[key] == value, (name, key, value, ref[key])


def test_param_groups_against_torch():
    dtype = np.float64
    ours, theirs = make_params(dtype)
    opt = optim.Adam([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.1, "weight_decay": 0.2}], lr=0.01)
    ref = torch.optim.Adam([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.1, "weight_decay": 0.2}],
                           lr=0.01)
    run(ours, theirs, opt, ref, gradients(dtype))
    assert_close({"param %d" % i: rel_err(p.data, t) for i, (p, t) in enumerate(zip(ours, theirs))}, 1e-12)
    # a learning-rate change between steps applies at the next step
    opt.param_groups[0]["lr"] = ref.param_groups[0]["lr"] = 0.5
    run(ours, theirs, opt, ref, gradients(dtype, 2, seed=7))
    assert_close({"param %d" % i: rel_err(p.data, t) for i, (p, t) in enumerate(zip(ours, theirs))}, 1e-12)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.AdamW(ps, lr=0.01, amsgrad=True)])
def test_state_dict_resumes_the_run(make):
    dtype = np.float64
    grads = gradients(dtype, 6)
    ours, _ = make_params(dtype)
    opt = make(ours)
    for step_grads in grads:
        opt.zero_grad()
        for p, g in zip(ours, step_grads):
            p.grad += g
        opt.step()
    # the same run, saved after 3 steps into a fresh optimizer over copies of the values
    half, _ = make_params(dtype)
    first = make(half)
    for step_grads in grads[:3]:
        first.zero_grad()
        for p, g in zip(half, step_grads):
            p.grad += g
        first.step()
    sd = first.state_dict()
    assert sorted(sd) == ["param_groups", "state"] and sd["param_groups"][0]["params"] == [0, 1, 2]
    resumed_params = [nn.Parameter(p.data.copy()) for p in half]
    resumed = make(resumed_params)
    resumed.load_state_dict(sd)
    for step_grads in grads[3:]:
        resumed.zero_grad()
        for p, g in zip(resumed_params, step_grads):
            p.grad += g
        resumed.step()
    for i, (p, q) in enumerate(zip(resumed_params, ours)):
        assert np.array_equal(p.data, q.data), "param %d differs after resuming" % i
    truncated = {k: (v[:1] if isinstance(v, np.ndarray) else v) for k, v in sd["state"][0].items()}
    bad = dict(sd, state={0: truncated})
    with pytest.raises(ValueError, match=r"must have shape \(3, 4\)"):
        make(resumed_params).load_state_dict(bad)
    with pytest.raises(ValueError, match="state_dict has 1 parameter groups; this optimizer has 2"):
        optim.SGD([{"params": resumed_params[:1]}, {"params": resumed_params[1:]}]).load_state_dict(sd)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)),
                                     ("Adam", dict(lr=0.01, amsgrad=True))])
def test_loads_a_torch_optimizer_state_dict(name, kw):
    dtype = np.float64
    grads = gradients(dtype)
    _, theirs = make_params(dtype)
    ref = getattr(torch.optim, name)(theirs, **kw)
    for step_grads in grads[:3]:
        ref.zero_grad()
        for t, g in zip(theirs, step_grads):
            t.grad = torch.tensor(g)
        ref.step()
    ours = [nn.Parameter(t.detach().numpy().copy()) for t in theirs]
    opt = getattr(optim, name)(ours, **kw)
    opt.load_state_dict(ref.state_dict())
    run(ours, theirs, opt, ref, grads[3:])
    assert_close({"param %d" % i: rel_err(p.data, t) for i, (p, t) in enumerate(zip(ours, theirs))}, 1e-12)


def test_optimizer_errors():
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(TypeError, match="single Parameter"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match=r"params must hold pygru.nn.Parameter objects; got ndarray at index 1"):
        optim.SGD([p, np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([p, p])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="nesterov momentum requires a momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"lr must be a real number >= 0; got -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match=r"beta2 must be a real number >= 0 and < 1; got 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.5, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])        # clipping, and none (coefficient 1)
def test_clip_grad_norm_against_torch(dtype, norm_type, max_norm):
    ours, theirs = make_params(dtype)
    for p, t, g in zip(ours, theirs, gradients(dtype, 1)[0]):
        p.grad += g
        t.grad = torch.tensor(g)
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    errors = {"total norm": rel_err(total, total_t)}
    errors.update({"grad %d" % i: rel_err(p.grad, t.grad) for i, (p, t) in enumerate(zip(ours, theirs))})
    assert isinstance(total, float)
    assert_close(errors, TOL[dtype] * 2)
    with pytest.raises(RuntimeError, match="non-finite"):
        ours[0].grad[0] = np.nan
        optim.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
