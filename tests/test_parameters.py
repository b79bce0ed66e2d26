"""test_parameters.py - a GRU's Parameters are libgru's own storage, and no write to a
weight is ever silently lost.

Every public path to a weight (attribute item assignment and attribute assignment,
in-place arithmetic on the Parameter and on .data, NumPy functions writing into it,
parameters(), named_parameters(), load_state_dict, the optimizers) must take effect
at the next forward, bitwise as a fresh model loaded with the same values; every
other path (state_dict() values, np.asarray of a Parameter, plain views) must raise.
Gradients are views of libgru's gradient buffers. Checked for GRU (forward, backward
and the streaming step) and GRUCell, float32 and float64.
"""
import gc

import numpy as np
import pytest

import pygru
import pygru.nn as nn
import pygru.optim as optim
from pygru._core import ffi, lib


def _fresh_like(model):
    """A new model of the same configuration loaded with ``model``'s values."""
    cls = type(model)
    ref = cls(**model._config())
    ref.load_state_dict(model.state_dict())
    return ref.train(model.training)


def _same_results(model, rng):
    """model and a fresh copy of its values give bitwise the same inference forward,
    training forward + backward (outputs and every gradient) and streaming step."""
    ref = _fresh_like(model)
    if isinstance(model, pygru.GRUCell):
        x = rng.standard_normal((3, model.input_size))
        model.train(), ref.train()
        h1, h1r = model(x), ref(x)
        assert np.array_equal(h1, h1r)
        g = rng.standard_normal(h1.shape)
        model.zero_grad(), ref.zero_grad()
        for a, b in zip(model.backward(g), ref.backward(g)):
            assert np.array_equal(a, b)
        model.eval(), ref.eval()
        assert np.array_equal(model(x), ref(x))
    else:
        x = rng.standard_normal((4, 2, model.input_size))
        model.eval(), ref.eval()
        for a, b in zip(model(x), ref(x)):
            assert np.array_equal(a, b)
        state, state_r = model.new_state(2), ref.new_state(2)
        for t in range(3):
            assert np.array_equal(model.step(x[t], state), ref.step(x[t], state_r))
        model.train(), ref.train()
        out, h_n = model(x)
        out_r, _ = ref(x)
        assert np.array_equal(out, out_r)
        model.zero_grad(), ref.zero_grad()
        for a, b in zip(model.backward(np.ones_like(out)), ref.backward(np.ones_like(out))):
            assert np.array_equal(a, b)
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        assert np.array_equal(p.data, q.data), name
        assert np.array_equal(p.grad, q.grad), name


WRITES = {
    "item": lambda m, p: p.__setitem__((0, 0), 5.0),
    "attribute item": lambda m, p: getattr(m, _name(m, p)).__setitem__((1, slice(None)), -0.25),
    "data item": lambda m, p: p.data.__setitem__((0, slice(0, 2)), 0.75),
    "in-place add": lambda m, p: p.__iadd__(0.125),
    "data in-place mul": lambda m, p: _imul(p),
    "view of data": lambda m, p: p.data.T.__setitem__((0, 0), 3.0),
    "reshaped data": lambda m, p: p.data.reshape(-1).__setitem__(2, -4.0),
    "np.copyto": lambda m, p: np.copyto(p.data, np.full(p.shape, 0.5)),
    "ufunc out=": lambda m, p: np.multiply(p.data, -1, out=p.data),
    "ufunc.at": lambda m, p: np.add.at(p.data, (0, 0), 2.0),
    "fill": lambda m, p: p.data.fill(0.0625),
    "attribute assignment": lambda m, p: setattr(m, _name(m, p), np.full(p.shape, 0.25)),
    "data assignment": lambda m, p: setattr(p, "data", np.full(p.shape, -0.5)),
    "load_state_dict": lambda m, p: m.load_state_dict({_name(m, p): np.full(p.shape, 1.5)},
                                                      strict=False),
}


def _name(model, param):
    return next(n for n, q in model.named_parameters() if q is param)


def _imul(p):
    p.data *= 2


MODELS = {
    "GRU f32": lambda: pygru.GRU(3, 4, num_layers=2, seed=0),
    "GRU f64 reset_before": lambda: pygru.GRU(3, 4, reset_after=False, dtype=np.float64, seed=1),
    "GRUCell": lambda: pygru.GRUCell(3, 4, dtype=np.float64, seed=2),
}


@pytest.mark.parametrize("how", list(WRITES))
@pytest.mark.parametrize("kind", list(MODELS))
def test_every_write_path_takes_effect(kind, how):
    rng = np.random.default_rng(0)
    model = MODELS[kind]()
    model.eval()
    x = rng.standard_normal((4, 2, 3)) if kind != "GRUCell" else rng.standard_normal((2, 3))
    before = model(x)
    before = before[0] if isinstance(before, tuple) else before
    weights = dict(model.named_parameters())
    # the weight matrices of the first layer (packed by libgru) and a bias (not packed)
    for name in [n for n in weights if n.startswith("weight_ih")][:1] + \
                [n for n in weights if n.startswith("weight_hh")][:1] + \
                [n for n in weights if n.startswith("bias_hh")][:1]:
        p = weights[name]
        old = p.copy()
        if p.ndim == 1 and how in ("item", "attribute item", "data item", "view of data",
                                   "ufunc.at"):
            p[0] = 5.0
        else:
            WRITES[how](model, p)
        assert not np.array_equal(p.copy(), old), (how, name)
    after = model(x)
    after = after[0] if isinstance(after, tuple) else after
    assert not np.array_equal(after, before), how
    _same_results(model, rng)


def test_parameters_are_libgru_storage_not_copies():
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, seed=0)
    for name, p in g.named_parameters():
        assert p is getattr(g, name) and p is g.__dict__[name]
        data, count = ffi.new("void **"), ffi.new("size_t *")
        assert lib.gru_param_data(g._model.ptr, name.encode(), data, count) == 0
        assert p.data.__array_interface__["data"][0] == int(ffi.cast("uintptr_t", data[0]))
        assert count[0] == p.size
        assert lib.gru_grad_data(g._model.ptr, name.encode(), data, count) == 0
        assert p.grad.__array_interface__["data"][0] == int(ffi.cast("uintptr_t", data[0]))
    assert [p for p in g.parameters()] == [p for _, p in g.named_parameters()]
    assert len(list(g.parameters())) == 16
    w = g.weight_hh_l1_reverse
    g.load_state_dict(_fresh_like(g).state_dict())   # loading writes in place
    assert g.weight_hh_l1_reverse is w


def test_other_paths_raise_instead_of_losing_the_write():
    g = pygru.GRU(3, 4, seed=0)
    sd = g.state_dict()
    with pytest.raises(ValueError, match="read-only"):
        sd["weight_ih_l0"][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(g.weight_ih_l0)[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        g.weight_hh_l0.data.view(np.ndarray)[0, 0] = 1.0
    with pytest.raises(ValueError):
        np.asarray(g.weight_hh_l0.data).flags.writeable = True
    with pytest.raises(TypeError, match="read-only"):
        memoryview(g.bias_ih_l0.data)[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        g.weight_ih_l0.data.sort()
    with pytest.raises(ValueError, match=r"weight_ih_l0 must have shape \(12, 3\)"):
        g.weight_ih_l0 = np.zeros((3, 12))
    with pytest.raises(ValueError, match=r"data must have shape \(12, 3\)"):
        g.weight_ih_l0.data = np.zeros(4)
    # none of these changed the model
    for name, value in g.state_dict().items():
        assert np.array_equal(value, sd[name]), name
    # copies and arithmetic results are plain arrays, free to modify
    c = g.weight_ih_l0.copy()
    c[0, 0] = 7.0
    r = g.weight_ih_l0 * 2
    r[0, 0] = 7.0
    assert type(c) is np.ndarray and type(r) is np.ndarray
    assert np.array_equal(g.weight_ih_l0, sd["weight_ih_l0"])


@pytest.mark.parametrize("opt_cls", [optim.SGD, optim.Adam])
def test_optimizer_steps_update_the_model_in_place(opt_cls):
    rng = np.random.default_rng(3)
    g = pygru.GRU(3, 4, num_layers=2, dtype=np.float64, seed=4)
    x = rng.standard_normal((5, 2, 3))
    opt = opt_cls(g.parameters(), lr=0.1)
    addresses = [p.data.__array_interface__["data"][0] for p in g.parameters()]
    for _ in range(3):
        opt.zero_grad()
        out, _ = g(x)
        g.backward(np.ones_like(out))
        expected = {n: p.data - 0.1 * p.grad for n, p in g.named_parameters()}
        opt.step()
        if opt_cls is optim.SGD:
            for n, p in g.named_parameters():
                assert np.array_equal(p.data, expected[n]), n
    assert addresses == [p.data.__array_interface__["data"][0] for p in g.parameters()]
    _same_results(g, rng)


def test_gradients_are_views_of_libgru_gradients():
    rng = np.random.default_rng(5)
    g = pygru.GRU(3, 4, dtype=np.float64, seed=6)
    x = rng.standard_normal((5, 2, 3))
    out, _ = g(x)
    g.backward(np.ones_like(out))
    first = {n: p.grad.copy() for n, p in g.named_parameters()}
    assert all(np.any(v != 0) for v in first.values())
    assert all(g.grads[n] is p.grad for n, p in g.named_parameters())
    g.weight_hh_l0.grad[...] = 0          # zeroing one gradient by hand
    g.bias_ih_l0.grad = None              # torch's way of clearing one
    g.backward(np.ones_like(out))         # backward adds into libgru's buffers
    for n, p in g.named_parameters():
        factor = 1 if n in ("weight_hh_l0", "bias_ih_l0") else 2
        # (the second backward continues libgru's sums: equal to rounding, not bitwise)
        np.testing.assert_allclose(p.grad, factor * first[n], rtol=1e-12, atol=1e-14, err_msg=n)
    g.zero_grad()
    assert all(not np.any(p.grad) for p in g.parameters())


def test_a_write_between_forward_and_backward_is_refused():
    g = pygru.GRU(3, 4, seed=0)
    out, _ = g(np.ones((2, 1, 3), np.float32))
    g.weight_ih_l0[0, 0] += 1.0
    with pytest.raises(pygru.GRUError, match="a parameter was written"):
        g.backward(np.ones_like(out))


def test_views_keep_the_model_alive():
    g = pygru.GRU(3, 4, seed=0)
    expected = g.weight_hh_l0.copy()
    data, grad = g.weight_hh_l0.data, g.weight_hh_l0.grad
    plain = np.asarray(g.weight_hh_l0)
    del g
    gc.collect()
    assert np.array_equal(data, expected) and np.array_equal(plain, expected)
    assert not np.any(grad)


def test_gru_in_a_model_trains_without_copies(tmp_path):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 5, batch_first=True, seed=0)
            self.fc = nn.Linear(5, 1, seed=1)

        def forward(self, x):
            out, _ = self.gru(x)
            self._keep(shape=out.shape)
            return self.fc(out[:, -1])

        def backward(self, grad):
            g_out = np.zeros(self._kept()["shape"], np.float32)
            g_out[:, -1] = self.fc.backward(grad)
            dx, _ = self.gru.backward(g_out)
            return dx

    assert nn.GRU is pygru.GRU and nn.GRUCell is pygru.GRUCell
    model = Model()
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == ["gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0",
                         "gru.bias_hh_l0"]
    assert next(model.parameters()) is model.gru.weight_ih_l0
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 6, 3)).astype(np.float32), rng.standard_normal((8, 1))
    opt, loss = optim.Adam(model.parameters(), lr=0.05), nn.MSELoss()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        losses.append(float(loss(model(x), y.astype(np.float32))))
        model.backward(loss.backward())
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    model.save(tmp_path / "m.safetensors")
    other = Model()
    other.load(tmp_path / "m.safetensors")
    model.eval(), other.eval()
    assert np.array_equal(model(x), other(x))
