"""test_qfiles.py - model files of int8 and bf16 models (docs/quantization.md, "Model
files"): QuantizedGRU.save / QuantizedGRUCell.save and pygru.load give back a model of
the same format whose forward, step and quantized weights (int8 values and scales, bf16
bit patterns) are bitwise the saved one's, also with NaN and infinite bf16 weights;
files written by libgru's gru_save load in Python and Python's in C; the tensors and
their bytes are the same from both writers; dtype keywords; a pygru.nn model's quantized
GRU saved alone; refusals with their messages; a float file's reader (read_tensors)
still refuses I8 and BF16 by default. The crafted files of tests/data/modelfiles
(test_load_corpus.py) cover every refusal rule."""
import os

import numpy as np
import pytest

import pygru
from pygru import modelfile
from pygru._core import ffi, lib
from pygru.quant import QuantizedGRU, QuantizedGRUCell

RNG = np.random.default_rng(77)

CASES = [dict(), dict(num_layers=2, bidirectional=True), dict(bias=False, reset_after=False),
         dict(num_layers=3, batch_first=True), dict(reverse=True, reset_after=False)]


def _same(a, b):
    if isinstance(a, tuple):
        return all(np.array_equal(u, v) for u, v in zip(a, b))
    return np.array_equal(a, b)


def _same_weights(q, r):
    """The quantized weights of q and r bitwise equal (int8: values and scales; bf16: bit
    patterns), and their state dicts."""
    if q.format == "int8":
        for k, (v, s) in q.int8_weights().items():
            v2, s2 = r.int8_weights()[k]
            assert np.array_equal(v, v2) and np.array_equal(s.view(np.uint32), s2.view(np.uint32))
    else:
        w, w2 = q.bf16_weights(), r.bf16_weights()
        assert list(w) == list(w2) and all(np.array_equal(w[k], w2[k]) for k in w)
    for k, v in q.state_dict().items():
        assert np.array_equal(v.view(np.uint32), r.state_dict()[k].view(np.uint32))


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
@pytest.mark.parametrize("kw", CASES)
def test_gru_roundtrip_bitwise(tmp_path, kw, fmt):
    g = pygru.GRU(6, 10, seed=5, **kw)
    q = g.quantize(fmt)
    path = q.save(tmp_path / "q.safetensors")
    r = pygru.load(path)
    assert type(r) is QuantizedGRU and repr(r) == repr(q) and r.format == fmt
    assert r.quant_isa == q.quant_isa
    bf = kw.get("batch_first", False)
    x = RNG.uniform(-2, 2, (3, 9, 6) if bf else (9, 3, 6)).astype(np.float32)
    h0 = RNG.uniform(-1, 1, (g.num_layers * (2 if g.bidirectional else 1), 3, 10)).astype(np.float32)
    lengths = np.array([9, 4, 1])
    assert _same(q(x), r(x)) and _same(q(x, h0, lengths=lengths), r(x, h0, lengths=lengths))
    if not g.bidirectional and not g.reverse:
        s1, s2 = q.new_state(3), r.new_state(3)
        for t in range(5):
            xt = x[:, t] if bf else x[t]
            assert np.array_equal(q.step(xt, s1), r.step(xt, s2))
    _same_weights(q, r)
    with pytest.raises(ValueError, match="inference-only"):
        r.train()


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_cell_roundtrip_bitwise(tmp_path, fmt):
    for kw in (dict(), dict(bias=False, reset_after=False)):
        c = pygru.GRUCell(4, 13, seed=9, **kw)
        q = c.quantize(fmt)
        r = pygru.load(q.save(tmp_path / "c.safetensors"))
        assert type(r) is QuantizedGRUCell and repr(r) == repr(q) and r.format == fmt
        x = RNG.uniform(-2, 2, (5, 4)).astype(np.float32)
        h = RNG.uniform(-1, 1, (5, 13)).astype(np.float32)
        assert np.array_equal(q(x, h), r(x, h))
        _same_weights(q, r)
        names = r.int8_weights() if fmt == "int8" else r.bf16_weights()
        assert sorted(names) == ["weight_hh", "weight_ih"]


def test_bf16_special_values_roundtrip(tmp_path):
    """NaN, infinities, a subnormal and a value beyond bf16's range in the float weights:
    the bf16 model keeps NaN (quiet) and infinities, and its file gives them back."""
    g = pygru.GRU(3, 5, seed=2)
    w = g.weight_hh_l0.data.copy()
    w[0, :5] = [np.nan, np.inf, -np.inf, 1e-40, 3.4e38]
    g.weight_hh_l0 = w
    q = g.quantize("bf16")
    bits = q.bf16_weights()["weight_hh_l0"][0, :5]
    assert (bits[0] & 0x7F80) == 0x7F80 and bits[0] & 0x7F and list(bits[1:3]) == [0x7F80, 0xFF80]
    assert bits[3] == 0x0001 and bits[4] == 0x7F80   # the subnormal kept; 3.4e38 -> +inf
    r = pygru.load(q.save(tmp_path / "s.safetensors"))
    _same_weights(q, r)
    x = RNG.uniform(-2, 2, (4, 2, 3)).astype(np.float32)
    o1, h1 = q(x)
    o2, h2 = r(x)
    assert o1.tobytes() == o2.tobytes() and h1.tobytes() == h2.tobytes()


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_both_writers(tmp_path, fmt):
    """gru_save's file loads in Python (bitwise), Python's in C; the tensors (names,
    order, dtypes, shapes, bytes) are the same; only the metadata's spelling differs
    (as for float files: key order, "0" / "0.0", batch_first)."""
    q = pygru.GRU(5, 7, num_layers=2, bidirectional=True, seed=1).quantize(fmt)
    pc, pp = str(tmp_path / "c.safetensors"), str(tmp_path / "p.safetensors")
    assert lib.gru_save(q._model.ptr, pc.encode()) == lib.GRU_OK
    q.save(pp)
    x = RNG.uniform(-2, 2, (6, 2, 5)).astype(np.float32)
    for p in (pc, pp):
        r = pygru.load(p)
        assert r.format == fmt and _same(r(x), q(x))
        _same_weights(q, r)
    out, msg = ffi.new("gru_model **"), ffi.new("char[512]")
    assert lib.gru_load_file(pp.encode(), out, ffi.NULL, msg, 512) == lib.GRU_OK, ffi.string(msg)
    assert lib.gru_quant_format(out[0]) == (lib.GRU_INT8 if fmt == "int8" else lib.GRU_BF16)
    lib.gru_destroy(out[0])
    dt = "I8" if fmt == "int8" else "BF16"
    tc, mc = modelfile.read_tensors(pc, dtypes=("F32", dt))
    tp, mp = modelfile.read_tensors(pp, dtypes=("F32", dt))
    assert list(tc) == list(tp) and mc["quantization"] == mp["quantization"] == fmt
    for k in tc:
        assert tc[k].dtype == tp[k].dtype and tc[k].tobytes() == tp[k].tobytes(), k
    if fmt == "int8":
        assert tc["weight_ih_l1.scale"].shape == (21,) and tc["weight_ih_l1"].dtype == np.int8
    else:
        assert not any(k.endswith(".scale") for k in tc)
        assert tc["weight_ih_l1"].dtype == np.uint16 and tc["weight_ih_l1"].shape == (21, 14)
        assert np.array_equal(tc["weight_ih_l1"], q.bf16_weights()["weight_ih_l1"])
        assert tc["bias_ih_l1"].dtype == np.float32
    with pytest.raises(ValueError, match=dt):
        modelfile.read_tensors(pc)   # the generic reader: I8 / BF16 only when asked


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_load_keywords(tmp_path, fmt):
    path = pygru.GRU(3, 4, seed=0).quantize(fmt).save(tmp_path / "q.safetensors")
    assert pygru.load(path, dtype=np.float32).format == fmt
    with pytest.raises(ValueError, match="dtype"):
        pygru.load(path, dtype=np.float64)
    with pytest.raises(ValueError, match="batch_first"):
        pygru.load(path, batch_first=True)   # contradicts the file's batch_first=0
    with pytest.raises(TypeError, match="pickled"):
        import pickle
        pickle.dumps(pygru.load(path))


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_save_is_atomic_and_overwrites(tmp_path, fmt):
    path = tmp_path / "q.safetensors"
    pygru.GRU(3, 4, seed=0).save(path)
    q = pygru.GRU(3, 4, seed=1).quantize(fmt)
    q.save(path)
    assert isinstance(pygru.load(path), QuantizedGRU) and pygru.load(path).format == fmt
    assert sorted(os.listdir(tmp_path)) == ["q.safetensors"]


def test_module_with_bf16_gru(tmp_path):
    """A pygru.nn model through bf16: as with int8, the whole model is not saved (its
    GRU has no trainable state dict), the quantized GRU's own file is, and loads back
    bitwise."""
    from pygru import nn

    class Net(pygru.Module):
        def __init__(self):
            super().__init__()
            self.gru = pygru.GRU(4, 6, batch_first=True, seed=3)
            self.head = nn.Linear(6, 2, seed=4)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.head(out[:, -1])

    q = pygru.quantize_module(Net(), "bf16")
    with pytest.raises(TypeError, match="holds a bf16 GRU"):
        q.save(tmp_path / "whole.safetensors")
    with pytest.raises(ValueError, match="holds a bf16 GRU"):
        q.train()
    r = pygru.load(q.gru.save(tmp_path / "g.safetensors"))
    assert r.format == "bf16"
    x = RNG.uniform(-1, 1, (2, 5, 4)).astype(np.float32)
    assert all(np.array_equal(a, b) for a, b in zip(q.gru(x), r(x)))


def test_refusals_name_the_tensor(tmp_path):
    """Files a writer could get wrong: BF16 weights under int8 metadata or none, a scale
    tensor in a bf16 file, BF16 bit patterns named with the wrong NumPy dtype."""
    q = pygru.GRU(3, 4, seed=0).quantize("bf16")
    good = str(q.save(tmp_path / "g.safetensors"))
    tensors, meta = modelfile.read_tensors(good, dtypes=("F32", "BF16"))
    bf16 = [k for k in tensors if k.startswith("weight_")]
    cases = [(dict(meta, quantization="int8"), {}, "'weight_ih_l0' has dtype BF16 in a file "
              "without quantization bf16"),
             ({k: v for k, v in meta.items() if k != "quantization"}, {},
              "'weight_ih_l0' has dtype BF16 in a file without quantization bf16"),
             (meta, {"weight_hh_l0.scale": np.ones(12, np.float32)},
              "scale tensor 'weight_hh_l0.scale' in a bf16 file")]
    for k, (m, extra, frag) in enumerate(cases):
        p = str(tmp_path / ("bad%d.safetensors" % k))
        modelfile.write_tensors(p, dict(tensors, **extra), m, bf16=bf16)
        with pytest.raises(ValueError) as exc:
            pygru.load(p)
        assert str(exc.value).startswith(p + " is not a valid pygru model file: ")
        assert frag in str(exc.value)
    with pytest.raises(TypeError, match="'weight_ih_l0' is to be BF16; it must hold uint16"):
        modelfile.write_tensors(tmp_path / "x.safetensors",
                                {"weight_ih_l0": np.zeros((3, 1), np.float32)}, bf16=["weight_ih_l0"])
    with pytest.raises(TypeError, match="bf16 must be a collection of tensor names"):
        modelfile.write_tensors(tmp_path / "x.safetensors", {}, bf16="weight_ih_l0")
    with pytest.raises(ValueError, match="bf16 names tensors that are not there"):
        modelfile.write_tensors(tmp_path / "x.safetensors", {}, bf16=["w"])
    assert sorted(os.listdir(tmp_path)) == ["bad0.safetensors", "bad1.safetensors",
                                            "bad2.safetensors", "g.safetensors"]


@pytest.mark.parametrize("fmt", ["int8", "bf16"])
def test_file_is_kernel_set_independent(tmp_path, monkeypatch, fmt):
    """The file holds the weights in PyTorch's layout, not a kernel set's: saved under
    one set, loaded under every available one (bf16: the bitwise sets,
    GRU_BF16_EXACT=1), the quantized weights and the results are the same bits."""
    monkeypatch.setenv("GRU_BF16_EXACT", "1")
    g = pygru.GRU(19, 21, num_layers=2, seed=8)
    x = RNG.uniform(-2, 2, (5, 3, 19)).astype(np.float32)
    ref = files = None
    for isa in pygru.info()["available_isas"]:
        monkeypatch.setenv("GRU_ISA", isa)
        q = g.quantize(fmt)
        if files is None:   # every file written under the first set
            files, ref = str(q.save(tmp_path / "q.safetensors")), q(x)
        r = pygru.load(files)
        assert r.isa == isa and r.format == fmt
        _same_weights(q, r)
        assert _same(r(x), ref) and _same(q(x), ref), (isa, r.quant_isa)
