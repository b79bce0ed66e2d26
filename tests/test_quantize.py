"""test_quantize.py - GRU.quantize("int8") and GRU.quantize("bf16")
(pygru.quant.QuantizedGRU, libgru's int8 and bf16 models; semantics in
docs/quantization.md): the same interface as GRU, bitwise equal results for every kernel
set and thread count, step == forward, the accuracy bound against the float32 GRU,
dequantized weights, to_torch, and the clear errors of an inference-only, read-only
model. bf16 also against a NumPy emulation of its stated semantics."""
import numpy as np
import pytest

import pygru
from pygru.quant import QuantizedGRU

RNG = np.random.default_rng(1234)


def _x(T, B, I, bf=False):
    shape = (B, T, I) if bf else (T, B, I)
    return RNG.uniform(-2, 2, size=shape).astype(np.float32)


def test_info_lists_int8_kernels():
    info = pygru.info()
    assert info["int8_isa"] in info["available_int8_isas"]
    assert info["available_int8_isas"][0] == "scalar"
    q = pygru.GRU(3, 4).quantize("int8")
    assert isinstance(q, QuantizedGRU) and q.int8_isa == info["int8_isa"]
    assert q.format == "int8" and q.dtype == np.float32 and not q.training
    assert "QuantizedGRU(3, 4" in repr(q)


@pytest.mark.parametrize("kw", [
    dict(), dict(reset_after=False), dict(num_layers=2, bidirectional=True),
    dict(num_layers=3, reverse=True, reset_after=False), dict(batch_first=True, bias=False),
])
def test_close_to_float_and_same_interface(kw):
    g = pygru.GRU(13, 37, seed=3, **kw).eval()
    q = g.quantize()
    bf = kw.get("batch_first", False)
    x = _x(30, 5, 13, bf)
    D = 2 if kw.get("bidirectional") else 1
    h0 = RNG.uniform(-0.5, 0.5, size=(kw.get("num_layers", 1) * D, 5, 37)).astype(np.float32)
    lengths = np.array([30, 1, 17, 29, 5])
    o, h = g(x, h0, lengths)
    oq, hq = q(x, h0, lengths)
    assert oq.dtype == np.float32 and oq.shape == o.shape and hq.shape == h.shape
    assert np.abs(o - oq).max() < 0.03 and np.abs(h - hq).max() < 0.03
    # unbatched
    ou, hu = q(x[:, 0] if not bf else x[0])
    assert ou.shape == (30, D * 37)
    # float64 inputs are converted, as GRU does
    o64, _ = q(x.astype(np.float64), h0, lengths)
    assert np.array_equal(o64, oq)


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_bitwise_across_kernel_sets_and_threads(monkeypatch, fmt):
    """int8: every table; bf16: the bitwise tables (GRU_BF16_EXACT=1: scalar, avx2,
    avx512, neon); the vdpbf16ps / BFDOT tables are within a stated bound
    (test_bf16_hw_bound)."""
    g = pygru.GRU(21, 45, num_layers=2, bidirectional=True, seed=5).eval()
    x = _x(17, 9, 21)
    lengths = RNG.integers(1, 18, size=9)
    ref = None
    monkeypatch.setenv("GRU_THREAD_MIN_WORK", "0")
    if fmt == "bf16":
        monkeypatch.setenv("GRU_BF16_EXACT", "1")
    before = pygru.get_num_threads()
    try:
        for isa in pygru.info()["available_isas"]:
            monkeypatch.setenv("GRU_ISA", isa)
            for n in (1, 2, 3):
                pygru.set_num_threads(n)
                q = g.quantize(fmt)
                assert q.num_threads == n
                out = q(x, None, lengths)
                if ref is None:
                    ref = out
                    continue
                assert np.array_equal(out[0], ref[0]) and np.array_equal(out[1], ref[1]), (
                    isa, getattr(q, fmt + "_isa"), n)
    finally:
        pygru.set_num_threads(before)


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_step_equals_forward(reset_after, fmt):
    g = pygru.GRU(10, 24, num_layers=2, reset_after=reset_after, seed=7)
    q = g.quantize(fmt)
    x = _x(12, 4, 10)
    out, h_n = q(x)
    state = q.new_state(4)
    steps = np.stack([q.step(x[t], state) for t in range(12)])
    assert np.array_equal(steps, out) and np.array_equal(state, h_n)
    q.reset_state(state, 1)
    assert not state[:, 1].any()
    with pytest.raises(ValueError, match="unidirectional"):
        pygru.GRU(2, 3, bidirectional=True).quantize().new_state(1)


def test_accuracy_long_sequence():
    """T = 1000 at PyTorch's initialisation (docs/quantization.md states the numbers)."""
    g = pygru.GRU(64, 64, seed=11).eval()
    q = g.quantize()
    x = _x(1000, 4, 64)
    d = np.abs(g(x)[0] - q(x)[0])
    assert d.max() < 0.02 and d.mean() < 0.0025
    assert d[-100:].max() < 0.02   # bounded through the recurrence


def test_weights_snapshot_and_dequantized():
    g = pygru.GRU(6, 8, num_layers=2, seed=2)
    q = g.quantize("int8")
    sd, q8 = q.state_dict(), q.int8_weights()
    assert list(sd) == list(g.state_dict())
    for name, (values, scales) in q8.items():
        assert values.dtype == np.int8 and np.abs(values).max() <= 127
        assert np.array_equal(sd[name], values.astype(np.float32) * scales[:, None])
        w = g.state_dict()[name]
        assert np.allclose(scales, np.abs(w).max(axis=1) / 127, rtol=1e-6)
        assert np.abs(sd[name] - w).max() <= scales.max() / 2 * 1.0001
    assert np.array_equal(sd["bias_ih_l0"], g.bias_ih_l0.data)
    x = _x(4, 2, 6)
    before = q(x)[0]
    g.weight_ih_l0[0, 0] = 3.0            # the source changes; the snapshot does not
    assert np.array_equal(q(x)[0], before)
    # a float64 GRU quantizes as its float32 rounding
    g64 = pygru.GRU(6, 8, num_layers=2, seed=2, dtype=np.float64)
    g32 = pygru.GRU(6, 8, num_layers=2, seed=0)
    g32.load_state_dict({k: v.astype(np.float32) for k, v in g64.state_dict().items()})
    assert np.array_equal(g64.quantize()(x)[0], g32.quantize()(x)[0])


def test_to_torch_is_dequantized():
    torch = pytest.importorskip("torch")
    g = pygru.GRU(5, 7, num_layers=2, seed=9)
    q = g.quantize()
    t = q.to_torch()
    assert isinstance(t, torch.nn.GRU) and not t.training
    assert np.array_equal(t.weight_hh_l1.detach().numpy(), q.state_dict()["weight_hh_l1"])
    t2 = pygru.to_torch(q)
    assert np.array_equal(t2.weight_ih_l0.detach().numpy(), q.state_dict()["weight_ih_l0"])
    x = _x(6, 2, 5)
    ref = t(torch.from_numpy(x))[0].detach().numpy()
    assert np.abs(ref - q(x)[0]).max() < 0.02   # the activation quantization's share


def test_inference_only_errors():
    g = pygru.GRU(4, 5, seed=1)
    q = g.quantize()
    with pytest.raises(ValueError, match="inference-only"):
        q.train()
    assert q.eval() is q and q.train(False) is q
    with pytest.raises(pygru.GRUError, match="no backward"):
        q.backward(np.zeros((3, 1, 5), np.float32))
    with pytest.raises(AttributeError, match="read-only"):
        q.weight_ih_l0 = np.zeros((15, 4), np.float32)
    with pytest.raises(pygru.GRUError, match="no trainable parameters"):
        q.parameters()
    for bad in ("int4", "float16", 8, None):
        with pytest.raises(ValueError, match="format must be one of"):
            g.quantize(bad)
    # the C calls refuse too
    from pygru._core import lib, ffi
    assert lib.gru_zero_grad(q._model.ptr) == lib.GRU_ERR_UNSUPPORTED
    with pytest.raises(ValueError, match="int8 or bf16 model is inference-only"):
        q._model.forward(True, 3, 1, False, _x(3, 1, 4), None, None)
    assert lib.gru_quantize(q._model.ptr, lib.GRU_INT8, ffi.new("gru_model **")) == \
        lib.GRU_ERR_UNSUPPORTED


def test_cell():
    cell = pygru.GRUCell(7, 12, seed=4)
    q = cell.quantize("int8")
    assert "QuantizedGRUCell(7, 12" in repr(q)
    x, h = _x(1, 5, 7)[0], RNG.uniform(-0.5, 0.5, (5, 12)).astype(np.float32)
    h1 = q(x, h)
    assert h1.shape == (5, 12) and np.abs(h1 - cell.eval()(x, h)).max() < 0.02
    # a one-step, one-layer int8 GRU with the same weights gives the same bits
    g = pygru.GRU(7, 12, seed=0)
    g.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    out, _ = g.quantize()(x[None], h[None])
    assert np.array_equal(out[0], h1)
    assert list(q.state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    v, s = q.int8_weights()["weight_hh"]
    assert np.array_equal(q.state_dict()["weight_hh"], v.astype(np.float32) * s[:, None])
    assert q(x[0]).shape == (12,)
    with pytest.raises(AttributeError, match="no step"):
        q.step(x, h)
    with pytest.raises(ValueError, match="inference-only"):
        q.train()
    torch = pytest.importorskip("torch")
    t = q.to_torch()
    assert isinstance(t, torch.nn.GRUCell)
    assert np.array_equal(t.weight_ih.detach().numpy(), q.state_dict()["weight_ih"])


# ---- bfloat16 -----------------------------------------------------------------------

def _bf16(a):
    """Round float32 to bfloat16 (nearest, ties to even), as float32 values."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def _bf16_linear(W, x, b):
    """(B, K) x (N, K) -> (B, N): float32 sums in the stated order (pairs, odd first,
    over K padded to a multiple of 32), then + b."""
    K = W.shape[1]
    Kp = -(-K // 32) * 32
    Wp = np.zeros((W.shape[0], Kp), np.float32)
    Wp[:, :K] = W
    xp = np.zeros((x.shape[0], Kp), np.float32)
    xp[:, :K] = _bf16(x)
    acc = np.zeros((x.shape[0], W.shape[0]), np.float32)
    for k in range(0, Kp, 2):
        acc = acc + xp[:, k + 1, None] * Wp[None, :, k + 1]
        acc = acc + xp[:, k, None] * Wp[None, :, k]
    return acc if b is None else acc + b


def _bf16_emulate(sd, ra, x, states=None):
    """One-layer unidirectional forward of the bf16 semantics (sigmoid / tanh in
    float64, so the comparison allows their ulps). states (T, B, H): step t starts from
    states[t - 1] (zeros at t = 0) instead of the emulation's own state ("teacher
    forcing": a sigmoid ulp that flips the bf16 rounding of a state element then changes
    one step only, instead of being carried through the recurrence)."""
    sig = lambda v: (1 / (1 + np.exp(-v.astype(np.float64)))).astype(np.float32)
    tanh = lambda v: np.tanh(v.astype(np.float64)).astype(np.float32)
    Wi, Wh, bi, bh = (sd["weight_ih_l0"], sd["weight_hh_l0"], sd.get("bias_ih_l0"),
                      sd.get("bias_hh_l0"))
    H = Wh.shape[1]
    h = np.zeros((x.shape[1], H), np.float32)
    outs = []
    for t in range(x.shape[0]):
        gi = _bf16_linear(Wi, x[t], bi)
        gh = _bf16_linear(Wh if ra else Wh[:2 * H], h, bh if ra or bh is None else bh[:2 * H])
        r = sig(gi[:, :H] + gh[:, :H])
        z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        if ra:
            n = tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        else:
            n = tanh(gi[:, 2 * H:] + _bf16_linear(Wh[2 * H:], r * h,
                                                  None if bh is None else bh[2 * H:]))
        h = (1 - z) * n + z * h
        outs.append(h)
        if states is not None:
            h = states[t]
    return np.stack(outs)


def test_bf16_info_and_interface():
    info = pygru.info()
    assert info["bf16_isa"] in info["available_bf16_isas"]
    assert info["available_bf16_isas"][0] == "scalar"
    q = pygru.GRU(3, 4).quantize("bf16")
    assert isinstance(q, QuantizedGRU) and q.format == "bf16"
    assert q.bf16_isa == info["bf16_isa"] == q.quant_isa and q.int8_isa is None
    assert "format='bf16'" in repr(q)
    with pytest.raises(ValueError, match="bf16_weights"):
        q.int8_weights()
    with pytest.raises(ValueError, match="int8_weights"):
        pygru.GRU(3, 4).quantize("int8").bf16_weights()


@pytest.mark.parametrize("ra", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_bf16_matches_emulation(ra, bias, monkeypatch):
    """The reference semantics (GRU_BF16_EXACT=1: the hardware tables have their own
    bound, test_bf16_hw_bound)."""
    monkeypatch.setenv("GRU_BF16_EXACT", "1")
    g = pygru.GRU(37, 45, reset_after=ra, bias=bias, seed=21).eval()
    q = g.quantize("bf16")
    x = _x(20, 3, 37)
    out = q(x)[0]
    sd = q.state_dict()
    emu = _bf16_emulate(sd, ra, x, states=out)
    # Each step from the library's previous state: the products are the same float32
    # operations, sigmoid / tanh differ by ulps; reset_before also rounds r * h to bf16,
    # where an r one ulp off can flip an element by one bf16 ulp (2^-8 relative): allow
    # two such flips in a row's W_hn product, and 1e-6 for all but 1 % of the outputs
    # (measured over 160 random cases: max 1.8e-7 in both variants).
    d = np.abs(out - emu)
    tol = 1e-6
    if not ra:
        tol += 2 * 2.0 ** -8 * np.abs(sd["weight_hh_l0"][90:]).max() * np.abs(out).max()
    assert d.max() <= tol and np.mean(d <= 1e-6) >= 0.99, (d.max(), np.mean(d <= 1e-6))
    assert np.abs(out - g(x)[0]).max() > 1e-4   # the rounding is really there


@pytest.mark.parametrize("kw", [
    dict(), dict(reset_after=False), dict(num_layers=2, bidirectional=True),
    dict(num_layers=3, reverse=True, reset_after=False), dict(batch_first=True, bias=False),
])
def test_bf16_close_to_float(kw):
    g = pygru.GRU(13, 37, seed=3, **kw).eval()
    q = g.quantize("bf16")
    bf = kw.get("batch_first", False)
    x = _x(30, 5, 13, bf)
    D = 2 if kw.get("bidirectional") else 1
    h0 = RNG.uniform(-0.5, 0.5, size=(kw.get("num_layers", 1) * D, 5, 37)).astype(np.float32)
    lengths = np.array([30, 1, 17, 29, 5])
    o, h = g(x, h0, lengths)
    oq, hq = q(x, h0, lengths)
    assert oq.dtype == np.float32 and oq.shape == o.shape and hq.shape == h.shape
    assert np.abs(o - oq).max() < 0.01 and np.abs(h - hq).max() < 0.01


def test_bf16_accuracy_long_sequence():
    """T = 1000 at PyTorch's initialisation (docs/quantization.md states the numbers)."""
    g = pygru.GRU(64, 64, seed=11).eval()
    q = g.quantize("bf16")
    x = _x(1000, 4, 64)
    d = np.abs(g(x)[0] - q(x)[0])
    assert d.max() < 0.007 and d.mean() < 0.0008
    assert d[-100:].max() < 0.007


def test_bf16_weights_and_errors():
    g = pygru.GRU(6, 8, num_layers=2, seed=2)
    q = g.quantize("bf16")
    sd, wb = q.state_dict(), q.bf16_weights()
    for name, bits in wb.items():
        assert bits.dtype == np.uint16
        assert np.array_equal(sd[name], _bf16(g.state_dict()[name]))
        assert np.array_equal((bits.astype(np.uint32) << 16).view(np.float32), sd[name])
    assert np.array_equal(sd["bias_hh_l1"], g.bias_hh_l1.data)
    with pytest.raises(ValueError, match="inference-only"):
        q.train()
    with pytest.raises(pygru.GRUError, match="no backward"):
        q.backward(np.zeros((3, 1, 8), np.float32))
    with pytest.raises(AttributeError, match="read-only"):
        q.weight_ih_l0 = np.zeros((24, 6), np.float32)
    from pygru._core import lib, ffi
    assert lib.gru_quantize(q._model.ptr, lib.GRU_BF16, ffi.new("gru_model **")) == \
        lib.GRU_ERR_UNSUPPORTED


def test_bf16_models_save_as_bf16(tmp_path):
    # a bf16 model's file holds BF16 weights (its 2-byte values), never I8 rows
    # (the round trips: tests/test_qfiles.py)
    q = pygru.GRU(4, 6, seed=1).quantize("bf16")
    path = q.save(tmp_path / "q.safetensors")
    from pygru import modelfile
    t, meta = modelfile.read_tensors(path, dtypes=("F32", "BF16"))
    assert meta["quantization"] == "bf16" and t["weight_hh_l0"].dtype == np.uint16
    assert np.array_equal(t["weight_hh_l0"], q.bf16_weights()["weight_hh_l0"])


def test_bf16_cell():
    cell = pygru.GRUCell(7, 12, seed=4)
    q = cell.quantize("bf16")
    assert "QuantizedGRUCell(7, 12" in repr(q) and q.format == "bf16"
    x, h = _x(1, 5, 7)[0], RNG.uniform(-0.5, 0.5, (5, 12)).astype(np.float32)
    h1 = q(x, h)
    assert h1.shape == (5, 12) and np.abs(h1 - cell.eval()(x, h)).max() < 0.01
    g = pygru.GRU(7, 12, seed=0)
    g.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    out, _ = g.quantize("bf16")(x[None], h[None])
    assert np.array_equal(out[0], h1)


def test_bf16_hw_bound(monkeypatch):
    """avx512bf16 (vdpbf16ps) against the bitwise reference: within 2e-5 (measured 0 on
    AMD Zen 4); neonbf16 (BFDOT, rounds to odd) within 2**-8 (docs/quantization.md);
    the same bits for any thread count."""
    avail = pygru.info()["available_bf16_isas"]
    hw, fset, bound = (("avx512bf16", "avx512", 2e-5) if "avx512bf16" in avail else
                       ("neonbf16", "neon", 2.0 ** -8) if "neonbf16" in avail else
                       (None, None, None))
    if hw is None:
        pytest.skip("no AVX512_BF16 or BF16 (aarch64) on this CPU")
    if pygru.info()["isa"] != fset:
        pytest.skip("GRU_ISA=%s: models use that kernel set, not %s"
                    % (pygru.info()["isa"], hw))
    g = pygru.GRU(40, 70, num_layers=2, seed=6).eval()
    x = _x(25, 6, 40)
    monkeypatch.setenv("GRU_BF16_EXACT", "1")
    ref = g.quantize("bf16")(x)[0]
    monkeypatch.delenv("GRU_BF16_EXACT")
    monkeypatch.setenv("GRU_THREAD_MIN_WORK", "0")
    before = pygru.get_num_threads()
    try:
        outs = []
        for n in (1, 3):
            pygru.set_num_threads(n)
            q = g.quantize("bf16")
            assert q.bf16_isa == hw
            outs.append(q(x)[0])
    finally:
        pygru.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1])
    assert np.abs(outs[0] - ref).max() <= bound


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_to_onnx_of_a_quantized_model_warns_and_exports_dequantized(fmt, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    q = pygru.GRU(3, 5, seed=4).quantize(fmt)
    with pytest.warns(UserWarning, match="dequantized float32"):
        path = pygru.to_onnx(q, str(tmp_path / "q.onnx"))
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    out = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    f = pygru.GRU(3, 5)
    f.load_state_dict(q.state_dict())   # the dequantized weights, in float32
    np.testing.assert_allclose(out, f(x)[0], rtol=0, atol=1e-5)
