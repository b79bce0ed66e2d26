"""test_api.py - the behaviour of pygru's Python API (GRU, GRUCell, info, errors).

Numerical results are compared with a float64 NumPy reference written here from the
GRU equations (ref_gru), with finite differences, or with the same model on a
canonical input; every comparison reports its error. The rest checks the contract:
argument validation (messages name the argument, the expected and the actual
shape/dtype), state-dict order and round trips, train/eval, gradient accumulation,
seeding and dropout, unbatched inputs, pickling, and that C calls release the GIL.
"""
import copy
import gc
import os
import pickle
import re
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest

import pygru
from pygru import _core

F32, F64 = np.float32, np.float64


# ---- reference ------------------------------------------------------------------

def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def ref_gru(params, x, h0=None, lengths=None, num_layers=1, bidirectional=False,
            reset_after=True):
    """float64 GRU straight from the equations. params: state-dict names; x (T, B, I);
    h0 (L*D, B, H) or None; lengths (B,) or None. Returns output (T, B, D*H) and
    h_n (L*D, B, H), with PyTorch's packed-sequence semantics for lengths."""
    x = np.asarray(x, F64)
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    H = params["weight_hh_l0"].shape[1]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    h_n = np.zeros((num_layers * D, B, H))
    inp = x
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = "_l%d%s" % (layer, "_reverse" if d else "")
            w_ih = params["weight_ih" + sfx].astype(F64)   # (3H, in)
            w_hh = params["weight_hh" + sfx].astype(F64)   # (3H, H)
            b_ih = params.get("bias_ih" + sfx, np.zeros(3 * H)).astype(F64)
            b_hh = params.get("bias_hh" + sfx, np.zeros(3 * H)).astype(F64)
            h = np.zeros((B, H)) if h0 is None else np.asarray(h0, F64)[layer * D + d].copy()
            out = np.zeros((T, B, H))
            for t in (range(T) if d == 0 else reversed(range(T))):
                gi = inp[t] @ w_ih.T + b_ih
                if reset_after:
                    gh = h @ w_hh.T + b_hh
                    r = _sigmoid(gi[:, :H] + gh[:, :H])
                    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                else:
                    gh = h @ w_hh[:2 * H].T + b_hh[:2 * H]
                    r = _sigmoid(gi[:, :H] + gh[:, :H])
                    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                    n = np.tanh(gi[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + b_hh[2 * H:])
                valid = (t < lengths)[:, None]
                h = np.where(valid, (1 - z) * n + z * h, h)
                out[t] = np.where(valid, h, 0.0)
            outs.append(out)
            h_n[layer * D + d] = h
        inp = np.concatenate(outs, axis=2)
    return inp, h_n


def rel_err(actual, expected):
    """max |actual - expected| relative to max |expected| (absolute if that is 0)."""
    actual, expected = np.asarray(actual, F64), np.asarray(expected, F64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.max(np.abs(expected), initial=0.0), 1e-30)
    return float(np.max(np.abs(actual - expected), initial=0.0) / scale)


def assert_close(actual, expected, tol, what):
    err = rel_err(actual, expected)
    assert err <= tol, "%s: relative error %.3g > %.3g" % (what, err, tol)


def rand(rng, *shape, dtype=F32):
    return rng.standard_normal(shape).astype(dtype)


def expected_keys(num_layers, bidirectional, bias, cell=False):
    if cell:
        return ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    keys = []
    for layer in range(num_layers):
        for sfx in ["", "_reverse"][: 2 if bidirectional else 1]:
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
            keys += ["%s_l%d%s" % (n, layer, sfx) for n in names]
    return keys


# ---- construction -----------------------------------------------------------------

def test_defaults_and_repr():
    g = pygru.GRU(4, 6)
    assert (g.input_size, g.hidden_size, g.num_layers) == (4, 6, 1)
    assert (g.bias, g.batch_first, g.dropout, g.bidirectional, g.reset_after) == (
        True, False, 0.0, False, True)
    assert g.dtype == np.float32 and g.training is True
    assert repr(g) == "GRU(4, 6)"
    c = pygru.GRUCell(4, 6)
    assert (c.input_size, c.hidden_size, c.bias, c.reset_after) == (4, 6, True, True)
    assert repr(c) == "GRUCell(4, 6)" and c.training and c.dtype == np.float32


@pytest.mark.parametrize("kwargs, text", [
    (dict(num_layers=2, bidirectional=True), "GRU(10, 20, num_layers=2, bidirectional=True)"),
    (dict(bias=False, batch_first=True), "GRU(10, 20, bias=False, batch_first=True)"),
    (dict(num_layers=3, dropout=0.25), "GRU(10, 20, num_layers=3, dropout=0.25)"),
    (dict(reset_after=False, dtype=np.float64), "GRU(10, 20, reset_after=False, dtype=float64)"),
])
def test_repr_variants(kwargs, text):
    assert repr(pygru.GRU(10, 20, **kwargs)) == text


def test_cell_repr_variants():
    assert repr(pygru.GRUCell(3, 5, bias=False)) == "GRUCell(3, 5, bias=False)"
    assert repr(pygru.GRUCell(3, 5, reset_after=False, dtype="float64")) == \
        "GRUCell(3, 5, reset_after=False, dtype=float64)"


@pytest.mark.parametrize("arg", ["input_size", "hidden_size", "num_layers"])
@pytest.mark.parametrize("value, exc", [
    (0, ValueError), (-3, ValueError), (True, TypeError), (2.0, TypeError), ("4", TypeError),
    (None, TypeError), (2 ** 63, ValueError)])
def test_bad_sizes(arg, value, exc):
    kwargs = dict(input_size=3, hidden_size=4, num_layers=1)
    kwargs[arg] = value
    with pytest.raises(exc, match=arg):
        pygru.GRU(**kwargs)


def test_numpy_integer_sizes_accepted():
    g = pygru.GRU(np.int64(3), np.int32(4), num_layers=np.uint8(2))
    assert (g.input_size, g.hidden_size, g.num_layers) == (3, 4, 2)
    assert type(g.input_size) is int
    assert pygru.GRUCell(np.int16(2), np.int64(3)).hidden_size == 3


@pytest.mark.parametrize("value, exc", [
    (-0.1, ValueError), (1.0, ValueError), (1.5, ValueError), (float("nan"), ValueError),
    ("0.5", TypeError), (True, TypeError), (None, TypeError)])
def test_bad_dropout(value, exc):
    with pytest.raises(exc, match="dropout"):
        pygru.GRU(3, 4, num_layers=2, dropout=value)


def test_dropout_warning_like_torch():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        pygru.GRU(3, 4, num_layers=1, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pygru.GRU(3, 4, num_layers=2, dropout=0.5)
        pygru.GRU(3, 4, num_layers=1, dropout=0.0)


@pytest.mark.parametrize("flag", ["bias", "batch_first", "bidirectional", "reset_after"])
def test_bad_flags(flag):
    with pytest.raises(TypeError, match=flag):
        pygru.GRU(3, 4, **{flag: "yes"})


@pytest.mark.parametrize("dtype, expected", [
    (np.float32, F32), ("float32", F32), (np.dtype("float64"), F64), ("float64", F64),
    (float, F64)])
def test_dtype_accepted(dtype, expected):
    g = pygru.GRU(2, 3, dtype=dtype, seed=0)
    assert g.dtype == expected
    assert all(v.dtype == expected for v in g.state_dict().values())
    out, h_n = g(np.ones((2, 1, 2)))
    assert out.dtype == expected and h_n.dtype == expected


@pytest.mark.parametrize("dtype", [np.float16, np.int32, "complex64", "bogus", object])
def test_dtype_rejected(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        pygru.GRU(2, 3, dtype=dtype)
    with pytest.raises(TypeError, match="dtype"):
        pygru.GRUCell(2, 3, dtype=dtype)


@pytest.mark.parametrize("kwargs", [
    dict(input_size=2, hidden_size=2 ** 40),
    dict(input_size=2 ** 40, hidden_size=2),
    dict(input_size=2, hidden_size=2, num_layers=2 ** 40),
    dict(input_size=2 ** 62, hidden_size=2 ** 20, num_layers=2 ** 30),
])
def test_absurd_sizes_fail_before_allocating(kwargs):
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises((MemoryError, ValueError)) as info:
            pygru.GRU(**kwargs)
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, "allocated %d bytes before failing" % peak
    assert elapsed < 5, "took %.1f s to fail" % elapsed
    assert "creating the GRU model" in str(info.value)


def test_absurd_cell_size():
    with pytest.raises((MemoryError, ValueError)):
        pygru.GRUCell(3, 2 ** 40)


def test_bad_seed():
    with pytest.raises(TypeError, match="seed"):
        pygru.GRU(2, 3, seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        pygru.GRU(2, 3, seed=-1)
    pygru.GRU(2, 3, seed=np.int64(7))


# ---- parameters -----------------------------------------------------------------

@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_keys_order_shapes(num_layers, bidirectional, bias):
    I, H = 3, 5
    D = 2 if bidirectional else 1
    g = pygru.GRU(I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    sd = g.state_dict()
    assert list(sd) == expected_keys(num_layers, bidirectional, bias)
    for name, value in sd.items():
        layer = int(re.search(r"_l(\d+)", name).group(1))
        if name.startswith("weight_ih"):
            shape = (3 * H, I if layer == 0 else D * H)
        elif name.startswith("weight_hh"):
            shape = (3 * H, H)
        else:
            shape = (3 * H,)
        assert value.shape == shape, (name, value.shape, shape)
        assert value.dtype == np.float32 and value.flags.c_contiguous
    assert [n for n, _ in g.named_parameters()] == list(sd)
    assert len(list(g.parameters())) == len(sd)
    assert list(g.grads) == list(sd)


def test_cell_state_dict_keys():
    assert list(pygru.GRUCell(3, 4).state_dict()) == expected_keys(1, False, True, cell=True)
    sd = pygru.GRUCell(3, 4, bias=False).state_dict()
    assert list(sd) == expected_keys(1, False, False, cell=True)
    assert sd["weight_ih"].shape == (12, 3) and sd["weight_hh"].shape == (12, 4)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_init_uniform_like_torch(dtype):
    H = 16
    g = pygru.GRU(8, H, num_layers=2, bidirectional=True, dtype=dtype, seed=3)
    k = 1 / np.sqrt(H)
    for name, v in g.state_dict().items():
        assert v.dtype == dtype
        assert v.min() >= -k and v.max() <= k, name
        # U(-k, k) over >= 48 values: both ends reached within 25% (fails with
        # probability < 1e-5 per tensor), mean near 0.
        assert v.min() < -0.75 * k and v.max() > 0.75 * k, (name, v.min(), v.max())
        assert abs(v.mean()) < 0.3 * k, name


def test_same_seed_same_weights():
    a = pygru.GRU(3, 4, num_layers=2, bidirectional=True, seed=11).state_dict()
    b = pygru.GRU(3, 4, num_layers=2, bidirectional=True, seed=11).state_dict()
    c = pygru.GRU(3, 4, num_layers=2, bidirectional=True, seed=12).state_dict()
    d = pygru.GRU(3, 4, num_layers=2, bidirectional=True).state_dict()
    e = pygru.GRU(3, 4, num_layers=2, bidirectional=True).state_dict()
    for n in a:
        np.testing.assert_array_equal(a[n], b[n], err_msg=n)
        assert not np.array_equal(a[n], c[n]), n
        assert not np.array_equal(d[n], e[n]), n
    ca, cb = pygru.GRUCell(3, 4, seed=5).state_dict(), pygru.GRUCell(3, 4, seed=5).state_dict()
    for n in ca:
        np.testing.assert_array_equal(ca[n], cb[n], err_msg=n)


def test_state_dict_is_a_read_only_copy():
    g = pygru.GRU(3, 4, seed=0)
    sd = g.state_dict()
    before = sd["weight_ih_l0"].copy()
    with pytest.raises(ValueError, match="read-only"):
        sd["weight_ih_l0"][:] = 0          # would not reach the model: refused
    g.weight_ih_l0[:] = 1                  # the Parameter is the model's storage
    np.testing.assert_array_equal(sd["weight_ih_l0"], before)
    np.testing.assert_array_equal(g.state_dict()["weight_ih_l0"], np.ones((12, 3)))


@pytest.mark.parametrize("cls, kwargs", [
    (pygru.GRU, dict(num_layers=2, bidirectional=True)),
    (pygru.GRU, dict(num_layers=3, bias=False)),
    (pygru.GRUCell, dict()),
])
def test_state_dict_round_trip(cls, kwargs):
    rng = np.random.default_rng(0)
    a, b = cls(3, 4, seed=1, **kwargs), cls(3, 4, seed=2, **kwargs)
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for n, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[n], v, err_msg=n)
    x = rand(rng, 5, 2, 3) if cls is pygru.GRU else rand(rng, 2, 3)
    ya, yb = a(x), b(x)
    for u, v in zip(ya if cls is pygru.GRU else [ya], yb if cls is pygru.GRU else [yb]):
        np.testing.assert_array_equal(u, v)


def test_load_state_dict_casts_and_accepts_array_likes():
    g = pygru.GRU(2, 3, seed=0)
    src = {n: v.astype(F64) + 0.5 for n, v in g.state_dict().items()}
    src["bias_hh_l0"] = src["bias_hh_l0"].tolist()            # nested list
    src["weight_hh_l0"] = np.asfortranarray(src["weight_hh_l0"])

    class TensorLike:     # what a torch tensor with requires_grad offers
        def __init__(self, a):
            self.a = a

        def __array__(self, *args, **kw):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad")

        def detach(self):
            return TensorLike2(self.a)

    class TensorLike2:
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def numpy(self):
            return self.a

    src["bias_ih_l0"] = TensorLike(src["bias_ih_l0"])
    g.load_state_dict(src)
    sd = g.state_dict()
    for n in sd:
        expected = src[n].a if isinstance(src[n], TensorLike) else np.asarray(src[n])
        assert sd[n].dtype == F32
        np.testing.assert_array_equal(sd[n], np.asarray(expected, F64).astype(F32), err_msg=n)


def test_load_state_dict_strict_errors():
    g = pygru.GRU(2, 3, num_layers=2, seed=0)
    sd = g.state_dict()
    del sd["bias_hh_l1"]
    sd["weight_ih_l2"] = np.zeros((9, 3))
    sd["bogus"] = 1.0
    with pytest.raises(ValueError) as info:
        g.load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys: 'bias_hh_l1'" in msg
    assert "unexpected keys: 'weight_ih_l2', 'bogus'" in msg
    # non-strict: loads what matches, reports the rest
    before = g.state_dict()
    sd2 = {n: v + 1 for n, v in before.items() if n != "bias_hh_l1"}
    sd2["bogus"] = 0
    result = g.load_state_dict(sd2, strict=False)
    assert result.missing_keys == ["bias_hh_l1"] and result.unexpected_keys == ["bogus"]
    after = g.state_dict()
    np.testing.assert_array_equal(after["bias_hh_l1"], before["bias_hh_l1"])
    np.testing.assert_array_equal(after["weight_ih_l0"], before["weight_ih_l0"] + 1)
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        g.load_state_dict([("weight_ih_l0", before["weight_ih_l0"])])


def test_load_state_dict_wrong_shape_or_dtype_is_atomic():
    g = pygru.GRU(2, 3, seed=0)
    before = g.state_dict()
    bad = {n: v + 1 for n, v in before.items()}
    bad["weight_hh_l0"] = np.zeros((9, 2))
    with pytest.raises(ValueError) as info:
        g.load_state_dict(bad)
    assert "weight_hh_l0" in str(info.value)
    assert "(9, 3)" in str(info.value) and "(9, 2)" in str(info.value)
    bad["weight_hh_l0"] = np.zeros((9, 3), complex)
    with pytest.raises(TypeError, match="weight_hh_l0 must be a real floating-point array; "
                                        "got dtype complex128"):
        g.load_state_dict(bad)
    for n, v in g.state_dict().items():    # nothing was written
        np.testing.assert_array_equal(v, before[n], err_msg=n)


def test_parameter_attributes():
    rng = np.random.default_rng(1)
    g = pygru.GRU(2, 3, num_layers=2, bidirectional=True, seed=0)
    np.testing.assert_array_equal(g.weight_hh_l1_reverse, g.state_dict()["weight_hh_l1_reverse"])
    new = rng.standard_normal((9, 6))
    g.weight_ih_l1_reverse = new
    np.testing.assert_array_equal(g.weight_ih_l1_reverse, new.astype(F32))
    assert "weight_ih_l1_reverse" in dir(g)
    with pytest.raises(ValueError, match=r"weight_ih_l1_reverse must have shape \(9, 6\).*got \(6, 9\)"):
        g.weight_ih_l1_reverse = new.T
    with pytest.raises(TypeError, match="bias_ih_l0 must be a real floating-point array; got dtype <U"):
        g.bias_ih_l0 = ["a"] * 9
    with pytest.raises(AttributeError):
        g.weight_ih_l2
    nb = pygru.GRU(2, 3, bias=False)
    with pytest.raises(AttributeError):
        nb.bias_ih_l0
    with pytest.raises(AttributeError):
        g.hidden_size = 5          # configuration is read-only
    c = pygru.GRUCell(2, 3, seed=0)
    c.bias_hh = np.arange(9)
    np.testing.assert_array_equal(c.bias_hh, np.arange(9, dtype=F32))
    with pytest.raises(AttributeError):
        c.weight_ih_l0


def test_reset_parameters_redraws():
    g = pygru.GRU(2, 3, seed=0)
    before = g.state_dict()
    g.reset_parameters(np.random.default_rng(1))
    assert not np.array_equal(before["weight_ih_l0"], g.weight_ih_l0)
    g.reset_parameters(np.random.default_rng(0))    # seed=s draws from default_rng(s)
    for n, v in g.state_dict().items():
        np.testing.assert_array_equal(v, before[n], err_msg=n)


def test_pickle_and_deepcopy():
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True,
                  reset_after=False, dtype=F64, seed=0).eval()
    x = rand(rng, 2, 5, 3, dtype=F64)
    for clone in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert repr(clone) == repr(g) and clone.training is False
        for u, v in zip(clone(x), g(x)):
            np.testing.assert_array_equal(u, v)
    c = pygru.GRUCell(3, 4, seed=0)
    c2 = pickle.loads(pickle.dumps(c))
    assert repr(c2) == repr(c)
    xs = rand(rng, 2, 3)
    np.testing.assert_array_equal(c2(xs), c(xs))


# ---- forward: numerics against the reference ------------------------------------

@pytest.mark.parametrize("num_layers, bidirectional, reset_after, bias, use_h0, use_len", [
    (1, False, True, True, False, False),
    (2, True, True, True, True, True),
    (3, False, False, True, True, False),
    (2, True, False, False, False, True),
    (1, True, False, True, True, True),
])
def test_forward_matches_reference(num_layers, bidirectional, reset_after, bias, use_h0, use_len):
    rng = np.random.default_rng(42)
    T, B, I, H = 6, 3, 4, 5
    D = 2 if bidirectional else 1
    g = pygru.GRU(I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                  reset_after=reset_after, dtype=F64, seed=0)
    x = rand(rng, T, B, I, dtype=F64)
    h0 = rand(rng, num_layers * D, B, H, dtype=F64) if use_h0 else None
    lengths = [T, 1, 4] if use_len else None
    for mode in (True, False):
        g.train(mode)
        out, h_n = g(x, h0, lengths)
        ref_out, ref_hn = ref_gru(g.state_dict(), x, h0, lengths, num_layers, bidirectional,
                                  reset_after)
        assert_close(out, ref_out, 1e-12, "output (training=%s)" % mode)
        assert_close(h_n, ref_hn, 1e-12, "h_n (training=%s)" % mode)
    # float32 model with the same weights
    g32 = pygru.GRU(I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                    reset_after=reset_after, dtype=F32)
    g32.load_state_dict(g.state_dict())
    out, h_n = g32(x.astype(F32), None if h0 is None else h0.astype(F32), lengths)
    ref_out, ref_hn = ref_gru(g32.state_dict(), x.astype(F32), h0, lengths, num_layers,
                              bidirectional, reset_after)
    assert_close(out, ref_out, 1e-5, "float32 output")
    assert_close(h_n, ref_hn, 1e-5, "float32 h_n")


def test_batch_first_is_a_transpose():
    rng = np.random.default_rng(0)
    a = pygru.GRU(3, 4, num_layers=2, bidirectional=True, seed=0)
    b = pygru.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, seed=0)
    x = rand(rng, 5, 2, 3)
    h0 = rand(rng, 4, 2, 4)
    g_out = rand(rng, 5, 2, 8)
    out_a, hn_a = a(x, h0, [5, 3])
    out_b, hn_b = b(x.transpose(1, 0, 2), h0, [5, 3])
    assert_close(out_b, out_a.transpose(1, 0, 2), 1e-6, "output")
    assert_close(hn_b, hn_a, 1e-6, "h_n")
    dx_a, dh_a = a.backward(g_out)
    dx_b, dh_b = b.backward(g_out.transpose(1, 0, 2))
    assert_close(dx_b, dx_a.transpose(1, 0, 2), 1e-5, "grad_x")
    assert_close(dh_b, dh_a, 1e-5, "grad_h0")


def test_forward_returns_new_arrays():
    g = pygru.GRU(2, 3, seed=0)
    x = np.ones((2, 1, 2), F32)
    out1, hn1 = g(x)
    out2, hn2 = g(x)
    assert not np.shares_memory(out1, out2) and not np.shares_memory(hn1, hn2)
    assert not np.shares_memory(out1, x)
    assert g.forward is not None and np.array_equal(g.forward(x)[0], out1)


# ---- unbatched inputs -----------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_gru(batch_first):
    rng = np.random.default_rng(0)
    T, I, H, L = 5, 3, 4, 2
    g = pygru.GRU(I, H, num_layers=L, bidirectional=True, batch_first=batch_first,
                  dtype=F64, seed=0)
    x = rand(rng, T, I, dtype=F64)
    h0 = rand(rng, 2 * L, H, dtype=F64)
    out, h_n = g(x, h0)
    assert out.shape == (T, 2 * H) and h_n.shape == (2 * L, H)
    ref_out, ref_hn = ref_gru(g.state_dict(), x[:, None, :], h0[:, None, :], None, L, True)
    assert_close(out, ref_out[:, 0], 1e-12, "output")
    assert_close(h_n, ref_hn[:, 0], 1e-12, "h_n")
    g_out, g_hn = rand(rng, T, 2 * H, dtype=F64), rand(rng, 2 * L, H, dtype=F64)
    dx, dh0 = g.backward(g_out, g_hn)
    assert dx.shape == (T, I) and dh0.shape == (2 * L, H)
    # same as a batch of one
    xb = x[None] if batch_first else x[:, None]
    g(xb, h0[:, None, :])
    dxb, dh0b = g.backward(g_out[None] if batch_first else g_out[:, None], g_hn[:, None, :])
    assert_close(dx, dxb[0] if batch_first else dxb[:, 0], 1e-14, "grad_x vs batch of one")
    assert_close(dh0, dh0b[:, 0], 1e-14, "grad_h0 vs batch of one")
    with pytest.raises(ValueError, match=r"grad_output must have shape \(5, 8\).*got \(5, 1, 8\)"):
        g(x, h0)
        g.backward(g_out[:, None])
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 4\).*got \(4, 1, 4\)"):
        g(x, h0[:, None, :])
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 1, 4\).*got \(4, 4\)"):
        g(xb, h0)


def test_unbatched_cell():
    rng = np.random.default_rng(0)
    c = pygru.GRUCell(3, 4, dtype=F64, seed=0)
    x, h = rand(rng, 3, dtype=F64), rand(rng, 4, dtype=F64)
    h1 = c(x, h)
    assert h1.shape == (4,)
    dx, dh = c.backward(np.ones(4))
    h1b = c(x[None], h[None])
    assert_close(h1, h1b[0], 1e-15, "h1 vs batch of one")
    dxb, dhb = c.backward(np.ones((1, 4)))
    assert_close(dx, dxb[0], 1e-15, "grad_x vs batch of one")
    assert_close(dh, dhb[0], 1e-15, "grad_h vs batch of one")
    assert dx.shape == (3,) and dh.shape == (4,)
    with pytest.raises(ValueError, match=r"h must have shape \(4,\).*got \(1, 4\)"):
        c(x, h[None])
    with pytest.raises(ValueError, match=r"h must have shape \(1, 4\).*got \(4,\)"):
        c(x[None], h)


# ---- input handling ---------------------------------------------------------------

def _canonical(g, x, **kw):
    return g(np.ascontiguousarray(np.asarray(x), dtype=g.dtype), **kw)


@pytest.mark.parametrize("make", [
    pytest.param(lambda x: x[:, :, ::-1].copy()[:, :, ::-1], id="negative-stride"),
    pytest.param(lambda x: np.asfortranarray(x), id="fortran"),
    pytest.param(lambda x: np.repeat(x, 2, axis=1)[:, ::2], id="strided-view"),
    pytest.param(lambda x: x.astype(np.float16), id="float16"),
    pytest.param(lambda x: x.astype(F64), id="float64"),
    pytest.param(lambda x: np.round(x * 3).astype(np.int64), id="int64"),
    pytest.param(lambda x: np.round(x * 3).astype(np.uint8), id="uint8"),
    pytest.param(lambda x: x.tolist(), id="nested-list"),
    pytest.param(lambda x: np.frombuffer(b"\0" + x.tobytes(), F32, offset=1).reshape(x.shape),
                 id="unaligned"),
])
def test_input_conversions(make):
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, seed=0)
    x = np.abs(rand(rng, 5, 2, 3))
    xin = make(x)
    out, h_n = g(xin)
    # Reference: the same model on the input converted by NumPy the obvious way.
    ref_out, ref_hn = _canonical(g, np.asarray(xin, dtype=F64).astype(F32))
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(h_n, ref_hn)
    # backward uses the converted input too
    go = rand(rng, *out.shape)
    dx, _ = g.backward(go)
    g(np.asarray(xin, dtype=F64).astype(F32))
    dx_ref, _ = g.backward(go)
    np.testing.assert_array_equal(dx, dx_ref)


def test_other_arguments_converted():
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, seed=0)
    x, h0 = rand(rng, 5, 2, 3), rand(rng, 1, 2, 4)
    ref = g(x, h0)
    out = g(x, np.asfortranarray(h0.astype(F64)).tolist())
    for u, v in zip(out, ref):
        np.testing.assert_array_equal(u, v)
    go, ghn = rand(rng, 5, 2, 4), rand(rng, 1, 2, 4)
    dref = g.backward(go, ghn)
    d = g.backward(np.asfortranarray(go).astype(F64), ghn.tolist())
    for u, v in zip(d, dref):
        np.testing.assert_array_equal(u, v)


BAD_DTYPE_VALUES = [
    pytest.param(lambda s: np.ones(s, complex), "complex128", id="complex"),
    pytest.param(lambda s: np.ones(s, object), "object", id="object"),
    pytest.param(lambda s: np.full(s, "a"), "<U1", id="string"),
    pytest.param(lambda s: np.full(s, b"a"), "|S1", id="bytes"),
    pytest.param(lambda s: np.ones(s, bool), "bool", id="bool"),
    pytest.param(lambda s: np.zeros(s, "datetime64[s]"), "datetime64[s]", id="datetime"),
    pytest.param(lambda s: np.zeros(s, "timedelta64[s]"), "timedelta64[s]", id="timedelta"),
]


@pytest.mark.parametrize("make, dtname", BAD_DTYPE_VALUES)
@pytest.mark.parametrize("arg", ["x", "h0", "grad_output", "grad_h_n"])
def test_bad_dtypes_gru(make, dtname, arg):
    g = pygru.GRU(3, 4, seed=0)
    good = {"x": np.ones((5, 2, 3)), "h0": np.ones((1, 2, 4)),
            "grad_output": np.ones((5, 2, 4)), "grad_h_n": np.ones((1, 2, 4))}
    bad = make(good[arg].shape)
    msg = re.escape("%s must be a real floating-point array; got dtype %s"
                    % (arg, np.dtype(dtname)))
    if arg in ("x", "h0"):
        with pytest.raises(TypeError, match=msg):
            g(**{k: (bad if k == arg else v) for k, v in good.items() if k in ("x", "h0")})
    else:
        g(good["x"])
        with pytest.raises(TypeError, match=msg):
            g.backward(**{k: (bad if k == arg else v) for k, v in good.items()
                          if k in ("grad_output", "grad_h_n")})


@pytest.mark.parametrize("make, dtname", BAD_DTYPE_VALUES)
def test_bad_dtypes_cell(make, dtname):
    c = pygru.GRUCell(3, 4, seed=0)
    for arg, shape in (("x", (2, 3)), ("h", (2, 4))):
        kwargs = {"x": np.ones((2, 3)), "h": np.ones((2, 4))}
        kwargs[arg] = make(shape)
        with pytest.raises(TypeError, match=re.escape(
                "%s must be a real floating-point array; got dtype %s" % (arg, np.dtype(dtname)))):
            c(**kwargs)
    c(np.ones((2, 3)))
    with pytest.raises(TypeError, match="grad_h1 must be a real floating-point array"):
        c.backward(make((2, 4)))


def test_ragged_list_is_a_value_error():
    g = pygru.GRU(2, 3)
    with pytest.raises(ValueError, match="x could not be converted"):
        g([[[1.0, 2.0]], [[1.0]]])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("shape, pattern", [
    ((5,), r"x must be 3-D .*got shape \(5,\)"),
    ((5, 2, 3, 1), r"x must be 3-D .*got shape \(5, 2, 3, 1\)"),
    ((5, 2, 7), r"x must have shape \((5, 2|2, 5), 3\).*got \(5, 2, 7\)"),
    ((5, 7), r"x must have shape \(5, 3\).*unbatched.*got \(5, 7\)"),
    ((), r"x must be 3-D .*got shape \(\)"),
])
def test_bad_x_shapes(batch_first, shape, pattern):
    g = pygru.GRU(3, 4, batch_first=batch_first)
    with pytest.raises(ValueError, match=pattern):
        g(np.ones(shape))


@pytest.mark.parametrize("shape", [(0, 2, 3), (4, 0, 3), (0, 3)])
def test_empty_sequence_or_batch(shape):
    g = pygru.GRU(3, 4)
    with pytest.raises(ValueError, match=r"x must have a non-empty .*got shape \(%s" % shape[0]):
        g(np.ones(shape))
    with pytest.raises(ValueError, match="x must have a non-empty batch"):
        pygru.GRUCell(3, 4)(np.ones((0, 3)))


def test_bad_h0_and_grad_shapes():
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True)
    x = np.ones((5, 2, 3))
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 2, 4\).*got \(2, 2, 4\)"):
        g(x, np.ones((2, 2, 4)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 2, 4\).*got \(4, 4\)"):
        g(x, np.ones((4, 4)))
    g(x)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(5, 2, 8\).*got \(5, 2, 4\)"):
        g.backward(np.ones((5, 2, 4)))
    with pytest.raises(ValueError, match=r"grad_h_n must have shape \(4, 2, 4\).*got \(1, 2, 4\)"):
        g.backward(np.ones((5, 2, 8)), np.ones((1, 2, 4)))
    c = pygru.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"x must be 2-D .*got shape \(1, 2, 3\)"):
        c(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"x must have shape \(2, 3\).*got \(2, 5\)"):
        c(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"h must have shape \(2, 4\).*got \(2, 3\)"):
        c(np.ones((2, 3)), np.ones((2, 3)))
    c(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_h1 must have shape \(2, 4\).*got \(4,\)"):
        c.backward(np.ones(4))


@pytest.mark.parametrize("lengths, exc, pattern", [
    ([5, 0, 3], ValueError, r"lengths must be in 1\.\.5 .*got 0 at index 1"),
    ([5, -1, 3], ValueError, r"lengths must be in 1\.\.5 .*got -1 at index 1"),
    ([5, 6, 3], ValueError, r"lengths must be in 1\.\.5 .*got 6 at index 1"),
    ([5, 2.5, 3], ValueError, r"lengths must hold whole numbers; got 2\.5 at index 1"),
    ([5, float("nan"), 3], ValueError, r"lengths must hold whole numbers; got nan"),
    ([5, float("inf"), 3], ValueError, r"lengths must hold whole numbers; got inf"),
    ([True, True, True], TypeError, r"lengths must be an integer array; got dtype bool"),
    (["5", "1", "2"], TypeError, r"lengths must be an integer array; got dtype <U1"),
    ([1 + 0j, 1, 1], TypeError, r"lengths must be an integer array; got dtype complex128"),
    ([5, 3], ValueError, r"lengths must have shape \(3,\) .*got \(2,\)"),
    ([[5, 3, 1]], ValueError, r"lengths must have shape \(3,\) .*got \(1, 3\)"),
    (5, ValueError, r"lengths must have shape \(3,\) .*got \(\)"),
    ([2 ** 40, 1, 1], ValueError, r"lengths must be in 1\.\.5"),
])
def test_bad_lengths(lengths, exc, pattern):
    g = pygru.GRU(3, 4)
    with pytest.raises(exc, match=pattern):
        g(np.ones((5, 3, 3)), lengths=lengths)


@pytest.mark.parametrize("lengths", [
    [5, 1, 3], np.array([5, 1, 3], np.int64), np.array([5, 1, 3], np.uint8),
    np.array([5.0, 1.0, 3.0]), (5, 1, 3), np.array([5, 1, 3], np.int16)])
def test_good_lengths(lengths):
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, bidirectional=True, dtype=F64, seed=0)
    x = rand(rng, 5, 3, 3, dtype=F64)
    out, h_n = g(x, lengths=lengths)
    ref_out, ref_hn = ref_gru(g.state_dict(), x, None, [5, 1, 3], 1, True)
    assert_close(out, ref_out, 1e-12, "output")
    assert_close(h_n, ref_hn, 1e-12, "h_n")
    assert np.all(out[1:, 1] == 0) and np.all(out[3:, 2] == 0)


def test_nan_propagates():
    g = pygru.GRU(3, 4, num_layers=2, seed=0)
    x = np.ones((6, 2, 3), F32)
    x[2, 0, 1] = np.nan
    out, h_n = g(x)
    assert np.isnan(out[2:, 0]).all() and np.isnan(h_n[:, 0]).all()
    assert np.isfinite(out[:2, 0]).all() and np.isfinite(out[:, 1]).all()
    assert np.isfinite(h_n[:, 1]).all()
    dx, dh0 = g.backward(np.ones_like(out))
    assert np.isfinite(dx[:, 1]).all() and np.isnan(dx[:3, 0]).any()


# ---- train / eval / backward ----------------------------------------------------

def test_train_eval():
    g = pygru.GRU(2, 3)
    assert g.train() is g and g.training
    assert g.eval() is g and not g.training
    assert g.train(False) is g and not g.training
    g.training = True
    assert g.training
    with pytest.raises(TypeError, match="mode"):
        g.train("no")


def test_backward_needs_training_forward():
    msg = re.escape("backward() needs a forward() in training mode first")
    g = pygru.GRU(2, 3)
    with pytest.raises(RuntimeError, match=msg):
        g.backward(np.ones((1, 1, 3)))
    g.eval()
    g(np.ones((1, 1, 2)))
    with pytest.raises(RuntimeError, match=msg):
        g.backward(np.ones((1, 1, 3)))
    g.train()
    g(np.ones((1, 1, 2)))
    g.eval()                      # frees the saved forward
    with pytest.raises(RuntimeError, match=msg):
        g.backward(np.ones((1, 1, 3)))
    g.train()
    g(np.ones((1, 1, 2)))
    g.weight_hh_l0 = np.zeros((9, 3))   # parameters changed since the forward
    with pytest.raises(pygru.GRUError, match=msg + ".*parameter was written"):
        g.backward(np.ones((1, 1, 3)))
    c = pygru.GRUCell(2, 3)
    with pytest.raises(RuntimeError, match=msg):
        c.backward(np.ones((1, 3)))


def test_eval_keeps_nothing():
    """A training forward holds its workspace (what backward needs) until eval() or the
    next forward; an eval forward holds nothing."""
    g = pygru.GRU(8, 16).eval()
    x = np.ones((300, 4, 8), np.float32)
    need = g.workspace_bytes(300, 4, training=True)
    tracemalloc.start()
    try:
        g(x)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        g.train()
        g(x)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        g.eval()
        gc.collect()
        freed = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held - base >= need and held - freed >= need


def _loss(g, x, h0, go, ghn):
    out, h_n = g(x, h0)
    return float(np.sum(out * go) + np.sum(h_n * ghn))


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64, seed=0)
    x, h0 = rand(rng, 4, 2, 3, dtype=F64), rand(rng, 4, 2, 4, dtype=F64)
    go, ghn = rand(rng, 4, 2, 8, dtype=F64), rand(rng, 4, 2, 4, dtype=F64)
    g.zero_grad()
    g(x, h0)
    dx, dh0 = g.backward(go, ghn)
    grads = g.grads
    eps = 1e-6

    def fd(arr_name, base, idx):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        if arr_name == "x":
            return (_loss(g, plus, h0, go, ghn)
                    - _loss(g, minus, h0, go, ghn)) / (2 * eps)
        if arr_name == "h0":
            return (_loss(g, x, plus, go, ghn)
                    - _loss(g, x, minus, go, ghn)) / (2 * eps)
        setattr(g, arr_name, plus)
        lp = _loss(g, x, h0, go, ghn)
        setattr(g, arr_name, minus)
        lm = _loss(g, x, h0, go, ghn)
        setattr(g, arr_name, base)
        return (lp - lm) / (2 * eps)

    checks = [("x", x, dx), ("h0", h0, dh0)] + [
        (n, getattr(g, n), grads[n]) for n in ("weight_ih_l1_reverse", "weight_hh_l0", "bias_hh_l1")]
    for name, base, analytic in checks:
        idxs = [tuple(rng.integers(0, s) for s in base.shape) for _ in range(4)]
        numeric = np.array([fd(name, base, i) for i in idxs])
        got = np.array([analytic[i] for i in idxs])
        err = np.max(np.abs(got - numeric)) / np.max(np.abs(analytic))
        assert err <= 1e-6, "d loss / d %s: error %.3g relative to the tensor's max" % (name, err)


def test_backward_repeatable_and_grads_accumulate():
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64, seed=0)
    x = rand(rng, 5, 2, 3, dtype=F64)
    go, ghn = rand(rng, 5, 2, 8, dtype=F64), rand(rng, 4, 2, 4, dtype=F64)
    assert all(np.all(v == 0) for v in g.grads.values())
    g(x)
    dx1, dh1 = g.backward(go, ghn)
    first = {n: v.copy() for n, v in g.grads.items()}
    assert any(np.any(v != 0) for v in first.values())
    dx2, dh2 = g.backward(go, ghn)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(dh1, dh2)
    second = g.grads
    for n in first:
        assert_close(second[n], 2 * first[n], 1e-13, "accumulated grad %s" % n)
    second["weight_ih_l0"][:] = 123    # the gradient itself (libgru's buffer)
    assert np.all(g.weight_ih_l0.grad == 123)
    g.zero_grad()
    assert all(np.all(v == 0) for v in g.grads.values())
    # None gradients mean zeros
    g.backward(None, ghn)
    only_hn = {n: v.copy() for n, v in g.grads.items()}
    g.zero_grad()
    g.backward(np.zeros_like(go), ghn)
    for n, v in g.grads.items():
        np.testing.assert_array_equal(v, only_hn[n], err_msg=n)


def test_input_kept_for_backward_is_a_snapshot():
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, seed=0)
    x = rand(rng, 5, 2, 3)
    go = rand(rng, 5, 2, 4)
    g(x)
    dx_ref, _ = g.backward(go)
    ref_grads = g.grads
    g.zero_grad()
    g(x)
    x[:] = 100.0           # the caller changes its array between forward and backward
    dx, _ = g.backward(go)
    np.testing.assert_array_equal(dx, dx_ref)
    for n, v in g.grads.items():
        np.testing.assert_array_equal(v, ref_grads[n], err_msg=n)


def test_cell_matches_reference_and_gru():
    rng = np.random.default_rng(0)
    for reset_after in (True, False):
        c = pygru.GRUCell(3, 4, reset_after=reset_after, dtype=F64, seed=0)
        x, h = rand(rng, 2, 3, dtype=F64), rand(rng, 2, 4, dtype=F64)
        h1 = c(x, h)
        params = {n + "_l0": v for n, v in c.state_dict().items()}
        _, ref_hn = ref_gru(params, x[None], h[None], reset_after=reset_after)
        assert_close(h1, ref_hn[0], 1e-13, "h1 (reset_after=%s)" % reset_after)
        g = pygru.GRU(3, 4, reset_after=reset_after, dtype=F64)
        g.load_state_dict(params)
        gh = rand(rng, 2, 4, dtype=F64)
        dx, dh = c.backward(gh)
        g(x[None], h[None])
        gdx, gdh = g.backward(None, gh[None])
        assert_close(dx, gdx[0], 1e-14, "cell grad_x vs GRU")
        assert_close(dh, gdh[0], 1e-14, "cell grad_h vs GRU")
        for n, v in c.grads.items():
            assert_close(v, g.grads[n + "_l0"], 1e-14, "cell grad %s vs GRU" % n)
        assert_close(c(x), ref_gru(params, x[None], reset_after=reset_after)[1][0], 1e-13, "h1 with h=None")


# ---- seeds and dropout ----------------------------------------------------------

def _dropout_pair(seed_a, seed_b, p=0.5):
    a = pygru.GRU(3, 8, num_layers=3, dropout=p, dtype=F64, seed=seed_a)
    b = pygru.GRU(3, 8, num_layers=3, dropout=p, dtype=F64, seed=seed_b)
    b.load_state_dict(a.state_dict())
    return a, b


def test_dropout_reproducible_with_seed():
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    a, b = _dropout_pair(5, 5)
    for _ in range(2):       # the generator advances identically
        oa, ha = a(x)
        ob, hb = b(x)
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_array_equal(ha, hb)
    o1, _ = a(x)
    o2, _ = a(x)
    assert not np.array_equal(o1, o2), "consecutive training forwards drew the same masks"
    c, d = _dropout_pair(5, 6)
    assert not np.array_equal(c(x)[0], d(x)[0]), "different seeds drew the same masks"
    a.set_seed(9)
    b.set_seed(9)
    np.testing.assert_array_equal(a(x)[0], b(x)[0])


def test_dropout_absent_in_eval_and_present_in_training():
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    a, _ = _dropout_pair(1, 1)
    plain = pygru.GRU(3, 8, num_layers=3, dtype=F64)
    plain.load_state_dict(a.state_dict())
    ref_out, ref_hn = ref_gru(a.state_dict(), x, num_layers=3)
    for model in (a.eval(), plain.eval(), plain.train()):
        out, h_n = model(x)
        assert_close(out, ref_out, 1e-12, "output without dropout")
        assert_close(h_n, ref_hn, 1e-12, "h_n without dropout")
    out, h_n = a.train()(x)
    assert rel_err(out, ref_out) > 1e-3, "dropout had no effect in training"
    # Layer 0's state is before any dropout; layers 1 and 2 see dropped inputs.
    assert_close(h_n[0], ref_hn[0], 1e-12, "h_n of layer 0 (before dropout)")


def test_dropout_backward_uses_the_forward_masks():
    # With the dropout generator reseeded before each forward, the loss is a smooth
    # function of x, and backward must match its finite differences.
    rng = np.random.default_rng(0)
    g = pygru.GRU(2, 3, num_layers=2, dropout=0.4, dtype=F64, seed=0)
    x, go = rand(rng, 4, 2, 2, dtype=F64), rand(rng, 4, 2, 3, dtype=F64)

    def loss(xv):
        g.set_seed(123)
        return float(np.sum(g(xv)[0] * go))

    loss(x)
    dx, _ = g.backward(go)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        p, m = x.copy(), x.copy()
        p[idx] += eps
        m[idx] -= eps
        numeric[idx] = (loss(p) - loss(m)) / (2 * eps)
    assert_close(dx, numeric, 1e-6, "grad_x with dropout")


# ---- errors, info, environment ----------------------------------------------------

@pytest.mark.parametrize("status, exc", [
    ("GRU_ERR_NULL", ValueError), ("GRU_ERR_INVALID_ARG", ValueError),
    ("GRU_ERR_OVERFLOW", ValueError), ("GRU_ERR_NO_MEMORY", MemoryError),
    ("GRU_ERR_UNKNOWN_NAME", pygru.GRUError), ("GRU_ERR_SIZE_MISMATCH", ValueError),
    ("GRU_ERR_BAD_LENGTHS", ValueError), ("GRU_ERR_WORKSPACE", pygru.GRUError),
    ("GRU_ERR_WRONG_MODE", pygru.GRUError), ("GRU_ERR_ISA_UNAVAILABLE", pygru.GRUError),
    ("GRU_ERR_UNSUPPORTED", ValueError), ("GRU_ERR_IO", OSError),
    ("GRU_ERR_FORMAT", ValueError), ("GRU_ERR_BUSY", pygru.GRUError),
    ("GRU_ERR_MISALIGNED", ValueError),
])
def test_check_maps_status_codes(status, exc):
    code = getattr(_core.lib, status)
    text = _core.ffi.string(_core.lib.gru_strerror(code)).decode()
    assert text and text != "unknown status code"
    with pytest.raises(exc) as info:
        _core.check(code, "doing the thing")
    assert type(info.value) is exc
    assert "doing the thing" in str(info.value) and text in str(info.value)
    assert status in str(info.value) and info.value.status == code
    _core.check(_core.lib.GRU_OK, "nothing")   # no exception
    assert issubclass(pygru.GRUError, RuntimeError)


def test_check_unknown_status():
    with pytest.raises(pygru.GRUError, match="unknown status code"):
        _core.check(999, "x")


def test_info():
    info = pygru.info()
    assert set(info) == {"version", "abi_version", "isa", "available_isas", "threads",
                         "int8_isa", "available_int8_isas", "bf16_isa", "available_bf16_isas"}
    assert info["int8_isa"] in info["available_int8_isas"]
    assert info["bf16_isa"] in info["available_bf16_isas"]
    assert "scalar" in info["available_int8_isas"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["version"])
    assert info["version"] == pygru.__version__
    assert isinstance(info["abi_version"], int) and info["abi_version"] >= 1
    assert info["available_isas"] and info["isa"] in info["available_isas"]
    assert "scalar" in info["available_isas"]
    env = os.environ.get("GRU_NUM_THREADS", "")
    default = int(env) if env.isdigit() and int(env) > 1 else 1   # gru.h's rule
    assert info["threads"] == pygru.get_num_threads() == default
    g = pygru.GRU(2, 3)
    assert g.isa == info["isa"] and g.num_threads == default


def test_isa_environment_variable(monkeypatch):
    monkeypatch.setenv("GRU_ISA", "scalar")
    assert pygru.GRU(2, 3).isa == "scalar" and pygru.info()["isa"] == "scalar"
    monkeypatch.setenv("GRU_ISA", "no-such-isa")
    with pytest.raises(pygru.GRUError,
                       match=r"GRU_ISA='no-such-isa' \(available here: scalar[a-z0-9 ]*\) failed"):
        pygru.GRU(2, 3)
    assert pygru.info()["isa"] is None


# ---- threads and the GIL ----------------------------------------------------------

def _progress_during(fn):
    """Runs fn() in a thread while this thread counts loop iterations. Returns
    (duration of fn, iterations counted while fn ran, longest pause of the counting
    loop while fn ran). With the GIL released by fn, the loop keeps running."""
    started, done = threading.Event(), threading.Event()
    result = {}

    def worker():
        started.set()
        t0 = time.perf_counter()
        fn()
        result["t"] = (t0, time.perf_counter())
        done.set()

    th = threading.Thread(target=worker)
    th.start()
    started.wait()
    stamps = []
    while not done.is_set():
        stamps.append(time.perf_counter())
    th.join()
    t0, t1 = result["t"]
    inside = [s for s in stamps if t0 <= s <= t1]
    edges = [t0] + inside + [t1]
    return t1 - t0, len(inside), max(b - a for a, b in zip(edges, edges[1:]))


def test_forward_releases_the_gil():
    # A behaviour check, not a benchmark: while a ~0.5 s C forward runs in another
    # thread, this thread keeps running Python. The control (a C call that holds the
    # GIL) shows the measurement would catch a forward that held it.
    rng = np.random.default_rng(0)
    g = pygru.GRU(32, 96, seed=0).eval()
    T, duration = 20, 0.0
    for _ in range(6):   # lengthen the sequence until the forward takes ~0.5 s (a warm-up
        # estimate alone can be off several-fold on a busy machine)
        x = rand(rng, T, 8, 32)
        duration, count, longest_pause = _progress_during(lambda: g(x))
        if duration > 0.25:
            break
        T = int(min(T * min(max(0.5 / max(duration, 1e-4), 2), 50), 200_000))
    assert duration > 0.1, "the forward was too short (%.3f s) to tell" % duration
    assert count > 1000, "only %d iterations in %.2f s: the GIL was held" % (count, duration)
    assert longest_pause < 0.5 * duration, (
        "the main thread stalled %.3f s of a %.3f s forward" % (longest_pause, duration))

    import sys
    if getattr(sys, "_is_gil_enabled", lambda: True)():
        big = np.random.default_rng(0).permutation(1_000_000).tolist()
        c_dur, c_count, c_pause = _progress_during(lambda: sorted(big))
        assert c_pause > 0.5 * c_dur, "control: sorted() should hold the GIL"


def test_concurrent_inference_on_one_model():
    rng = np.random.default_rng(0)
    g = pygru.GRU(4, 8, num_layers=2, bidirectional=True, seed=0).eval()
    xs = [rand(rng, 30, 3, 4) for _ in range(4)]
    expected = [g(x) for x in xs]
    results = [None] * len(xs)

    def run(i):
        for _ in range(5):
            results[i] = g(xs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(xs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for (o, h), (eo, eh) in zip(results, expected):
        np.testing.assert_array_equal(o, eo)
        np.testing.assert_array_equal(h, eh)


def test_new_training_forward_reuses_workspace_and_backward_follows_it():
    """A second training forward takes over the first one's workspace (no fresh pages
    per call); backward then gives the second forward's gradients, bit for bit those
    of a model that only ever saw the second input."""
    rng = np.random.default_rng(7)
    x1, x2 = rng.standard_normal((2, 6, 3, 5))
    g = rng.standard_normal((6, 3, 2 * 8))
    a = pygru.GRU(5, 8, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    b = pygru.GRU(5, 8, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    a(x1)
    a(x2)
    dxa, dha = a.backward(g)
    b(x2)
    dxb, dhb = b.backward(g)
    assert np.array_equal(dxa, dxb) and np.array_equal(dha, dhb)
    for name, value in b.grads.items():
        assert np.array_equal(a.grads[name], value), name


# ---- alignment: libgru refuses misaligned buffers (GRU_ERR_MISALIGNED) -------------

def _misaligned(values, dtype):
    """A C-contiguous view of ``values`` as ``dtype`` whose address is 1 byte past an
    aligned one: built on a uint8 buffer, so NumPy marks it unaligned."""
    src = np.ascontiguousarray(values, dtype=dtype)
    raw = np.zeros(src.nbytes + 32, np.uint8)
    start = (-raw.ctypes.data) % 16 + 1
    view = raw[start:start + src.nbytes].view(dtype).reshape(src.shape)
    view[...] = src
    assert not view.flags.aligned and view.ctypes.data % src.itemsize != 0
    return view


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_views_are_copied_for_forward_and_step(dtype):
    """Misaligned x, h0 and lengths reach libgru as aligned copies (never a misaligned
    pointer: undefined behaviour, now GRU_ERR_MISALIGNED); the results are bitwise those
    of aligned inputs. A misaligned state, which step updates in place, is refused."""
    rng = np.random.default_rng(16)
    g = pygru.GRU(3, 4, num_layers=2, dtype=dtype)
    x = rng.standard_normal((5, 2, 3)).astype(dtype)
    h0 = rng.standard_normal((2, 2, 4)).astype(dtype)
    lengths = np.array([5, 3], np.int32)
    out, hn = g(x, h0, lengths=lengths)
    out_m, hn_m = g(_misaligned(x, dtype), _misaligned(h0, dtype),
                    lengths=_misaligned(lengths, np.int32))
    assert out_m.tobytes() == out.tobytes() and hn_m.tobytes() == hn.tobytes()

    state = g.new_state(2)
    ref = g.step(x[0], state)
    state2 = g.new_state(2)
    got = g.step(_misaligned(x[0], dtype), state2)
    assert got.tobytes() == ref.tobytes() and state2.tobytes() == state.tobytes()
    with pytest.raises(ValueError, match="state must be C-contiguous and aligned"):
        g.step(x[0], _misaligned(g.new_state(2), dtype))
    with pytest.raises(ValueError, match="out must be C-contiguous and aligned"):
        g.step(x[0], g.new_state(2), out=_misaligned(np.zeros((2, 4)), dtype))


def test_libgru_refuses_a_misaligned_pointer():
    """Straight through the binding: x one byte off gives GRU_ERR_MISALIGNED, mapped to
    ValueError, and the output is left as it was."""
    lib, ffi = _core.lib, _core.ffi
    m = _core.CModel(3, 4)
    raw = np.zeros(5 * 2 * 3 * 4 + 16, np.uint8)
    out = np.full((5, 2, 4), 7.0, np.float32)
    xp = ffi.cast("char *", ffi.from_buffer(raw)) + (-raw.ctypes.data) % 16 + 1
    status = lib.gru_forward(m.ptr, 0, 5, 2, 0, xp, ffi.NULL, ffi.NULL, ffi.from_buffer(out),
                             ffi.NULL, ffi.NULL, 0)
    assert status == lib.GRU_ERR_MISALIGNED
    assert (out == 7.0).all()
    with pytest.raises(ValueError, match="misaligned"):
        _core.check(status, "GRU forward")
