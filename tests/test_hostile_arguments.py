"""test_hostile_arguments.py - issue 11: never a silently wrong number; a bad argument
gets a TypeError/ValueError naming it.

* Aliasing (finding 6): GRU.step refuses any overlap between x, state and out (libgru
  reads x and state while it writes state and out; on a 2-layer model out=state[-1]
  used to give a wrong output and state without a word), before any C code runs, with
  a ValueError naming both arguments; disjoint views of one buffer still work, bitwise.
* Snapshots (finding 7): a training forward keeps the caller's input values as they
  were at forward time whatever object they came in (memoryview, array.array, a torch
  tensor, an ndarray view, a Parameter): changing the buffer before backward changes
  neither grad_x nor the parameter gradients.
* Foreign objects (finding 8): torch tensors NumPy cannot take (bfloat16, float8,
  complex32, quantized, sparse, meta, conjugate views), objects whose conversion
  raises, complex/object/string arrays, None, ragged lists, 0-d arrays, NaN/Inf and
  huge lengths: each raises TypeError/ValueError naming the argument, in every
  conversion of pygru._validate, for every array argument of GRU and GRUCell.
"""
import array
import re
import warnings

import numpy as np
import pytest
import torch

import pygru
from pygru import _validate

F32, F64 = np.float32, np.float64


def rand(rng, *shape, dtype=F32):
    return rng.standard_normal(shape).astype(dtype)


# ---- finding 6: aliased step buffers -------------------------------------------------

def _step_case(L=2, I=5, H=5, B=1, seed=0):
    g = pygru.GRU(I, H, num_layers=L, seed=seed).eval()
    rng = np.random.default_rng(seed)
    return g, rand(rng, B, I), rand(rng, L, B, H)


def test_step_out_aliasing_state_is_refused():
    """The issue's case: on a 2-layer model, out=state[-1] gave a wrong output and a
    wrong state. Now a ValueError naming out and state, and state is left alone."""
    g, x, s0 = _step_case(L=2)
    ref_state = s0.copy()
    ref_out = g.step(x, ref_state)
    state = s0.copy()
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g.step(x, state, out=state[-1])
    np.testing.assert_array_equal(state, s0)   # refused before libgru ran
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g.step(x, state, out=state[0])
    # a partial overlap: out straddles the two layers' rows
    flat = state.reshape(-1)
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g.step(x, state, out=flat[2:7].reshape(1, 5))
    # one layer too: the rule is that step's buffers never overlap
    g1, x1, s1 = _step_case(L=1)
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g1.step(x1, s1, out=s1[0])
    # and the separate-buffer result is what the aliased call would have had to give
    state = s0.copy()
    out = np.empty_like(ref_out)
    g.step(x, state, out=out)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(state, ref_state)


@pytest.mark.parametrize("layer", [0, 1])
def test_step_x_aliasing_state_or_out_is_refused(layer):
    g, _, s0 = _step_case(L=2)
    state = s0.copy()
    with pytest.raises(ValueError, match=r"^x must not overlap state"):
        g.step(state[layer], state)
    # the conversion makes no copy of a memoryview: its ndarray is still state's memory
    with pytest.raises(ValueError, match=r"^x must not overlap state"):
        g.step(memoryview(state[layer]), state)
    with pytest.raises(ValueError, match=r"^x must not overlap state"):
        g.step(state[layer, 0], state[:, 0, :])          # one stream, 1-D frames
    np.testing.assert_array_equal(state, s0)
    x = s0[layer].copy()
    with pytest.raises(ValueError, match=r"^out must not overlap x"):
        g.step(x, state, out=x)


def test_step_disjoint_views_of_one_buffer_are_accepted():
    """No false alarm: x, state and out as disjoint contiguous pieces of one array give
    bitwise the results of separate arrays."""
    L, B, H = 2, 3, 5
    g = pygru.GRU(H, H, num_layers=L, seed=1).eval()
    rng = np.random.default_rng(1)
    x0, s0 = rand(rng, B, H), rand(rng, L, B, H)
    ref_state = s0.copy()
    ref_out = g.step(x0, ref_state)
    buf = np.empty((L + 2, B, H), F32)
    state, out, x = buf[:L], buf[L], buf[L + 1]
    state[...] = s0
    x[...] = x0
    assert g.step(x, state, out=out) is out
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(state, ref_state)
    np.testing.assert_array_equal(x, x0)


def test_reset_state_and_step_refuse_a_self_overlapping_state():
    """A state whose rows overlap one another (a stride-0 or short-stride view made
    writable by as_strided) cannot be updated in place: refused as not C-contiguous."""
    g = pygru.GRU(3, 4, num_layers=2, seed=0).eval()
    base = np.zeros(2 * 4, F32)
    state = np.lib.stride_tricks.as_strided(base, shape=(2, 2, 4), strides=(16, 0, 4))
    with pytest.raises(ValueError, match=r"^state must be C-contiguous"):
        g.reset_state(state, 0)
    with pytest.raises(ValueError, match=r"^state must be C-contiguous"):
        g.step(np.zeros((2, 3), F32), state)


def test_check_disjoint_on_strided_arrays():
    """pygru._validate.check_disjoint is exact for strided arrays too: interleaved
    columns of one array do not overlap (bounds overlap, memory does not)."""
    a = np.zeros((4, 6), F32)
    _validate.check_disjoint(a[:, ::2], "a", a[:, 1::2], "b")
    with pytest.raises(ValueError, match=r"^a must not overlap b"):
        _validate.check_disjoint(a[:, ::2], "a", a[:, 2::2], "b")


# ---- finding 7: the input kept for backward is a snapshot ----------------------------

def _grads(model):
    return {k: v.copy() for k, v in model.grads.items()}


SNAPSHOT_MAKERS = [
    # (id, make(x) -> (object to pass, function that scribbles over its memory))
    ("memoryview", lambda x: (lambda a: (memoryview(a), lambda: a.fill(100.0)))(x.copy())),
    ("memoryview-bytearray", lambda x: (lambda b: (
        memoryview(b).cast("f", x.shape),
        lambda: np.frombuffer(b, F32).fill(100.0)))(bytearray(x.tobytes()))),
    ("torch", lambda x: (lambda t: (t, lambda: t.fill_(100.0)))(torch.tensor(x))),
    ("torch-requires-grad", lambda x: (lambda t: (t, lambda: t.data.fill_(100.0)))(
        torch.tensor(x, requires_grad=True))),
    ("ndarray-view", lambda x: (lambda big: (big[1], lambda: big.fill(100.0)))(
        np.stack([x, x, x]))),
    ("parameter", lambda x: (lambda p: (p, lambda: p.data.fill(100.0)))(pygru.Parameter(x))),
]


@pytest.mark.parametrize("make", [m for _, m in SNAPSHOT_MAKERS],
                         ids=[i for i, _ in SNAPSHOT_MAKERS])
def test_gru_training_input_is_a_snapshot(make):
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, num_layers=2, seed=0)
    x = rand(rng, 5, 2, 3)
    go = rand(rng, 5, 2, 4)
    g(x.copy())
    dx_ref, dh_ref = g.backward(go)
    ref = _grads(g)
    g.zero_grad()
    obj, scribble = make(x)
    out, _ = g(obj)
    scribble()           # the caller reuses its buffer before backward
    dx, dh = g.backward(go)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dh, dh_ref)
    for name, v in g.grads.items():
        np.testing.assert_array_equal(v, ref[name], err_msg=name)


CELL_MAKERS = SNAPSHOT_MAKERS + [
    ("array.array", lambda x: (lambda a: (a, lambda: a.__setitem__(slice(None), array.array(
        "f", [100.0] * len(a)))))(array.array("f", x.ravel().tolist()))),
]


@pytest.mark.parametrize("make", [m for _, m in CELL_MAKERS], ids=[i for i, _ in CELL_MAKERS])
def test_cell_training_input_is_a_snapshot(make):
    rng = np.random.default_rng(1)
    c = pygru.GRUCell(3, 4, seed=0)
    x = rand(rng, 3)                 # unbatched, so that array.array (1-D) fits
    g1 = rand(rng, 4)
    c(x.copy())
    dx_ref, dh_ref = c.backward(g1)
    ref = _grads(c)
    c.zero_grad()
    obj, scribble = make(x)
    c(obj)
    scribble()
    dx, dh = c.backward(g1)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dh, dh_ref)
    for name, v in c.grads.items():
        np.testing.assert_array_equal(v, ref[name], err_msg=name)


def test_own_copies_only_when_needed():
    """as_real_array(own=True) does not copy twice: a conversion that allocated (a list,
    a dtype change) is kept as it is; the caller's memory is always copied."""
    a = np.arange(6, dtype=F64).reshape(2, 3)
    for value in (a.tolist(), a, a.astype(F32), memoryview(a.astype(F32)), torch.tensor(a)):
        out = _validate.as_real_array(value, "x", np.dtype(F32), own=True)
        assert out.flags.owndata and out.flags.writeable and out.flags.c_contiguous
        np.testing.assert_array_equal(out, a)
        if isinstance(value, np.ndarray):
            assert not np.may_share_memory(out, value)


# ---- finding 8: foreign objects and hostile values -----------------------------------

def _bad_tensors(shape):
    """(id, tensor, pattern of what the message says it got). torch warns that some of
    these are experimental or deprecated: made quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _make_bad_tensors(shape)


def _make_bad_tensors(shape):
    base = torch.zeros(shape)
    q = torch.quantize_per_tensor(base, 1.0, 0, torch.qint8)
    return [
        ("bfloat16", base.to(torch.bfloat16),
         r"got a torch tensor of dtype torch\.bfloat16 \(call \.float\(\) first\)"),
        ("float8", base.to(torch.float8_e4m3fn),
         r"got a torch tensor of dtype torch\.float8_e4m3fn"),
        ("complex32", base.to(torch.complex32), r"got a torch tensor of dtype torch\.complex32"),
        ("qint8", q, r"got a torch tensor of dtype torch\.qint8 \(call \.dequantize\(\) first\)"),
        ("sparse", base.to_sparse(), r"got a sparse torch tensor \(call \.to_dense\(\)\)"),
        ("sparse-csr", torch.zeros(shape[-2:]).to_sparse_csr() if len(shape) >= 2 else
         base.to_sparse(), r"got a sparse torch tensor"),
        ("meta", torch.zeros(shape, device="meta"), r"got a meta tensor \(no data\)"),
        ("conj", torch.zeros(shape, dtype=torch.complex64).conj(), r"got dtype complex64"),
    ]


GRU_ARGS = {   # argument -> (shape, how to call with it) on GRU(3, 4), T=5, B=2
    "x": (5, 2, 3), "h0": (1, 2, 4), "lengths": (2,), "grad_output": (5, 2, 4),
    "grad_h_n": (1, 2, 4)}


def _call_gru(arg, value):
    g = pygru.GRU(3, 4, seed=0)
    good = {"x": np.ones((5, 2, 3), F32), "h0": np.zeros((1, 2, 4), F32), "lengths": [5, 3]}
    if arg in good:
        return g(**dict(good, **{arg: value}))
    g(good["x"])
    return g.backward(**dict({"grad_output": None}, **{arg: value}))


@pytest.mark.parametrize("arg", list(GRU_ARGS))
@pytest.mark.parametrize("which", range(8))
def test_unconvertible_torch_tensors_name_the_argument(arg, which):
    """bfloat16/float8/complex32/quantized/sparse/meta/conjugate tensors used to raise
    torch's own errors (from .numpy(), .cpu()); now TypeError naming the argument."""
    tid, tensor, pattern = _bad_tensors(GRU_ARGS[arg])[which]
    expected = "an integer array" if arg == "lengths" else "a real floating-point array"
    if arg == "lengths":
        pattern = pattern.replace(r"\.float\(\)", r"\.long\(\)")
    with pytest.raises(TypeError, match="^%s must be %s; %s" % (arg, expected, pattern)):
        _call_gru(arg, tensor)


@pytest.mark.parametrize("which", range(8))
def test_unconvertible_torch_tensors_cell_and_step(which):
    c = pygru.GRUCell(3, 4, seed=0)
    tid, t, pattern = _bad_tensors((2, 3))[which]
    with pytest.raises(TypeError, match="^x must be a real floating-point array; " + pattern):
        c(t)
    tid, t, pattern = _bad_tensors((2, 4))[which]
    with pytest.raises(TypeError, match="^h must be a real floating-point array; " + pattern):
        c(np.ones((2, 3)), t)
    c(np.ones((2, 3)))
    with pytest.raises(TypeError, match="^grad_h1 must be a real floating-point array; " + pattern):
        c.backward(t)
    g = pygru.GRU(3, 4, seed=0).eval()
    tid, t, pattern = _bad_tensors((2, 3))[which]
    with pytest.raises(TypeError, match="^x must be a real floating-point array; " + pattern):
        g.step(t, g.new_state(2))


class _Failing:
    """A foreign array-like whose conversion raises something unexpected."""

    def __init__(self, where):
        self.where = where

    def detach(self):
        if self.where == "detach":
            raise RuntimeError("detach exploded")
        return self

    def cpu(self):
        if self.where == "cpu":
            raise RuntimeError("no device here")
        return self

    def numpy(self):
        raise KeyError("numpy exploded")


class _BadArray:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("__array__ exploded")


@pytest.mark.parametrize("where", ["detach", "cpu", "numpy"])
def test_failing_foreign_conversion_is_wrapped(where):
    msg = {"detach": "detach exploded", "cpu": "no device here", "numpy": "numpy exploded"}[where]
    with pytest.raises(TypeError, match=r"^x must be a real floating-point array; got a "
                       r"test_hostile_arguments\._Failing whose conversion to an array failed "
                       r"\((RuntimeError|KeyError): .*%s" % msg):
        pygru.GRU(3, 4)(_Failing(where))
    with pytest.raises(TypeError, match=r"^lengths must be an integer array; got .*%s" % msg):
        pygru.GRU(3, 4)(np.ones((5, 1, 3)), lengths=_Failing(where))


def test_failing_array_protocol_is_wrapped():
    with pytest.raises(ValueError, match=r"^x could not be converted to an array: "
                       r"RuntimeError: __array__ exploded"):
        pygru.GRU(3, 4)(_BadArray())
    with pytest.raises(ValueError, match=r"^h could not be converted to an array: "):
        pygru.GRUCell(3, 4)(np.ones(3), _BadArray())


def test_every_validate_conversion_names_the_argument():
    bf = torch.zeros(2, 3, dtype=torch.bfloat16)
    meta = torch.zeros(2, 3, device="meta")
    sparse = torch.zeros(2, 3).to_sparse()
    for fn in (lambda v: _validate.to_numpy(v, "arg", "a real floating-point array"),
               lambda v: _validate.as_real_array(v, "arg", np.dtype(F32)),
               lambda v: _validate.float_array(v, "arg"),
               lambda v: _validate.float_array(v, "arg", F64),
               lambda v: _validate.as_lengths(v, 2, 3, name="arg")):
        for bad, what in ((bf, "torch.bfloat16"), (meta, "meta tensor"), (sparse, "sparse")):
            with pytest.raises(TypeError, match=r"^arg must be .*; got .*%s" % re.escape(what)):
                fn(bad)


class _DeviceTensor:
    """A tensor on another device (like a CUDA tensor): .numpy() only after .cpu()."""

    def __init__(self, data):
        self.data, self.on_cpu = data, False

    def detach(self):
        return self

    def cpu(self):
        t = _DeviceTensor(self.data)
        t.on_cpu = True
        return t

    def numpy(self):
        if not self.on_cpu:
            raise TypeError("can't convert a device tensor to numpy; use .cpu()")
        return self.data


def test_device_tensors_and_negative_bit_views_still_work():
    rng = np.random.default_rng(0)
    g = pygru.GRU(3, 4, seed=0).eval()
    x = rand(rng, 5, 2, 3)
    ref_out, ref_hn = g(x)
    out, h_n = g(_DeviceTensor(x))
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(h_n, ref_hn)
    # the imaginary part of a conjugate view is a real tensor with torch's negative bit:
    # its values (not its raw memory) are what pygru takes
    c = torch.complex(torch.zeros(5, 2, 3), torch.tensor(-x)).conj()
    neg = c.imag
    assert neg.is_neg()
    out, h_n = g(neg)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(h_n, ref_hn)
    out, _ = g(x, lengths=torch.tensor([5, 3]))
    np.testing.assert_array_equal(out, g(x, lengths=[5, 3])[0])


HOSTILE = [
    # (id, value, exception, what the message must say after "<arg> ")
    ("complex", lambda s: np.ones(s, complex), TypeError, r"must be .*; got dtype complex128"),
    ("object", lambda s: np.empty(s, object), TypeError, r"must be .*; got dtype object"),
    ("string", lambda s: "abc", TypeError, r"must be .*; got a str"),
    ("bytes", lambda s: b"abc", TypeError, r"must be .*; got a bytes"),
    ("ragged", lambda s: [[1.0, 2.0], [3.0]], ValueError, r"could not be converted to an array"),
    ("0-d", lambda s: np.array(1.0), ValueError, r"must (be|have)"),
    ("scalar", lambda s: 2.5, ValueError, r"must (be|have)"),
    ("huge-int", lambda s: np.full(s, 10 ** 30, dtype=object), TypeError,
     r"must be .*; got dtype object"),
    ("dict", lambda s: {"a": 1}, TypeError, r"must be .*; got dtype object"),
]


@pytest.mark.parametrize("arg", ["x", "h0", "grad_output", "grad_h_n"])
@pytest.mark.parametrize("vid, make, exc, pattern", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_values_name_the_argument(arg, vid, make, exc, pattern):
    with pytest.raises(exc, match="^%s %s" % (arg, pattern)):
        _call_gru(arg, make(GRU_ARGS[arg]))


@pytest.mark.parametrize("vid, make, exc, pattern", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_values_cell_and_step(vid, make, exc, pattern):
    c = pygru.GRUCell(3, 4, seed=0)
    with pytest.raises(exc, match="^x %s" % pattern):
        c(make((2, 3)))
    with pytest.raises(exc, match="^h %s" % pattern):
        c(np.ones((2, 3)), make((2, 4)))
    g = pygru.GRU(3, 4, seed=0).eval()
    with pytest.raises(exc, match="^x %s" % pattern):
        g.step(make((2, 3)), g.new_state(2))


def test_none_where_an_array_is_required():
    g = pygru.GRU(3, 4, seed=0)
    with pytest.raises(TypeError, match=r"^x must be a real floating-point array; got None"):
        g(None)
    with pytest.raises(TypeError, match=r"^x must be a real floating-point array; got None"):
        pygru.GRUCell(3, 4)(None)
    g.eval()
    with pytest.raises(TypeError, match=r"^x must be a real floating-point array; got None"):
        g.step(None, g.new_state(1))
    with pytest.raises(TypeError, match=r"^state must be a NumPy array"):
        g.step(np.ones(3, F32), None)
    with pytest.raises(TypeError, match=r"^state must be a NumPy array"):
        g.reset_state(None, 0)
    c = pygru.GRUCell(3, 4)
    c(np.ones(3))
    with pytest.raises(TypeError, match=r"^grad_h1 must be a real floating-point array; got None"):
        c.backward(None)


@pytest.mark.parametrize("lengths, exc, pattern", [
    ([float("nan"), 1], ValueError, r"lengths must hold whole numbers; got nan at index 0"),
    ([1, float("-inf")], ValueError, r"lengths must hold whole numbers; got -inf at index 1"),
    (np.array([np.inf, 1], F32), ValueError, r"lengths must hold whole numbers; got inf"),
    ([10 ** 30, 1], ValueError, r"lengths must be in 1\.\.5 \(the sequence length\); "
                                r"got 1000000000000000000000000000000 at index 0"),
    ([1, -10 ** 30], ValueError, r"lengths must be in 1\.\.5 .*got -10+ at index 1"),
    ([2 ** 64, 1], ValueError, r"lengths must be in 1\.\.5"),
    (np.array([2 ** 63, 1], np.uint64), ValueError, r"lengths must be in 1\.\.5"),
    ([1e300, 1], ValueError, r"lengths must be in 1\.\.5"),
    (np.array(3), ValueError, r"lengths must have shape \(2,\)"),
    ([[1, 2], [3]], ValueError, r"lengths could not be converted"),
    ("12", TypeError, r"lengths must be an integer array; got a str"),
    ([1 + 0j, 1], TypeError, r"lengths must be an integer array; got dtype complex128"),
    ([None, 1], TypeError, r"lengths must be an integer array; got dtype object"),
    (np.array([1, 2], dtype=object), None, None),          # small Python ints: fine
    (torch.tensor([5, 3], dtype=torch.bfloat16), TypeError,
     r"lengths must be an integer array; got a torch tensor of dtype torch\.bfloat16 "
     r"\(call \.long\(\) first\)"),
])
def test_hostile_lengths(lengths, exc, pattern):
    g = pygru.GRU(3, 4, seed=0)
    x = np.ones((5, 2, 3), F32)
    if exc is None:
        np.testing.assert_array_equal(g(x, lengths=lengths)[0], g(x, lengths=[1, 2])[0])
        return
    with pytest.raises(exc, match="^" + pattern):
        g(x, lengths=lengths)


def test_bfloat16_message_does_not_depend_on_ml_dtypes():
    """ml_dtypes (imported by keras, onnx, jax) teaches NumPy the name "bfloat16"; torch's
    .numpy() still cannot convert such a tensor, and the message stays the same."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    assert np.dtype(ml_dtypes.bfloat16).name == "bfloat16"
    with pytest.raises(TypeError, match=r"^x must be a real floating-point array; got a torch "
                       r"tensor of dtype torch\.bfloat16 \(call \.float\(\) first\)$"):
        pygru.GRU(3, 4)(torch.zeros(5, 1, 3, dtype=torch.bfloat16))
