"""test_qfiles.py - model files of int8 models (docs/quantization.md, "Model files"):
QuantizedGRU.save / QuantizedGRUCell.save and pygru.load give back a model whose
forward, step and int8 weights are bitwise the saved one's; files written by libgru's
gru_save load in Python and Python's in C; the tensors and their bytes are the same from
both writers; dtype keywords; a float file's reader (read_tensors) still refuses I8 by
default. The crafted int8 files of tests/data/modelfiles (test_load_corpus.py) cover the
refusals."""
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


@pytest.mark.parametrize("kw", CASES)
def test_gru_roundtrip_bitwise(tmp_path, kw):
    g = pygru.GRU(6, 10, seed=5, **kw)
    q = g.quantize("int8")
    path = q.save(tmp_path / "q.safetensors")
    r = pygru.load(path)
    assert type(r) is QuantizedGRU and repr(r) == repr(q) and r.format == "int8"
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
    for k, (v, s) in q.int8_weights().items():
        v2, s2 = r.int8_weights()[k]
        assert np.array_equal(v, v2) and np.array_equal(s.view(np.uint32), s2.view(np.uint32))
    for k, v in q.state_dict().items():
        assert np.array_equal(v, r.state_dict()[k])
    with pytest.raises(ValueError, match="inference-only"):
        r.train()


def test_cell_roundtrip_bitwise(tmp_path):
    for kw in (dict(), dict(bias=False, reset_after=False)):
        c = pygru.GRUCell(4, 13, seed=9, **kw)
        q = c.quantize("int8")
        r = pygru.load(q.save(tmp_path / "c.safetensors"))
        assert type(r) is QuantizedGRUCell and repr(r) == repr(q)
        x = RNG.uniform(-2, 2, (5, 4)).astype(np.float32)
        h = RNG.uniform(-1, 1, (5, 13)).astype(np.float32)
        assert np.array_equal(q(x, h), r(x, h))
        assert sorted(r.int8_weights()) == ["weight_hh", "weight_ih"]


def test_both_writers(tmp_path):
    """gru_save's file loads in Python (bitwise), Python's in C; the tensors (names,
    order, dtypes, shapes, bytes) are the same; only the metadata's spelling differs
    (as for float files: key order, "0" / "0.0", batch_first)."""
    q = pygru.GRU(5, 7, num_layers=2, bidirectional=True, seed=1).quantize("int8")
    pc, pp = str(tmp_path / "c.safetensors"), str(tmp_path / "p.safetensors")
    assert lib.gru_save(q._model.ptr, pc.encode()) == lib.GRU_OK
    q.save(pp)
    x = RNG.uniform(-2, 2, (6, 2, 5)).astype(np.float32)
    assert _same(pygru.load(pc)(x), q(x)) and _same(pygru.load(pp)(x), q(x))
    out, msg = ffi.new("gru_model **"), ffi.new("char[512]")
    assert lib.gru_load_file(pp.encode(), out, ffi.NULL, msg, 512) == lib.GRU_OK, ffi.string(msg)
    assert lib.gru_quant_format(out[0]) == lib.GRU_INT8
    lib.gru_destroy(out[0])
    tc, mc = modelfile.read_tensors(pc, dtypes=("F32", "I8"))
    tp, mp = modelfile.read_tensors(pp, dtypes=("F32", "I8"))
    assert list(tc) == list(tp) and mc["quantization"] == mp["quantization"] == "int8"
    for k in tc:
        assert tc[k].dtype == tp[k].dtype and tc[k].tobytes() == tp[k].tobytes(), k
    assert tc["weight_ih_l1.scale"].shape == (21,) and tc["weight_ih_l1"].dtype == np.int8
    with pytest.raises(ValueError, match="I8"):
        modelfile.read_tensors(pc)   # the generic reader: I8 only when asked


def test_load_keywords(tmp_path):
    path = pygru.GRU(3, 4, seed=0).quantize("int8").save(tmp_path / "q.safetensors")
    assert pygru.load(path, dtype=np.float32).format == "int8"
    with pytest.raises(ValueError, match="dtype"):
        pygru.load(path, dtype=np.float64)
    with pytest.raises(ValueError, match="batch_first"):
        pygru.load(path, batch_first=True)   # contradicts the file's batch_first=0
    with pytest.raises(TypeError, match="pickled"):
        import pickle
        pickle.dumps(pygru.load(path))


def test_save_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "q.safetensors"
    pygru.GRU(3, 4, seed=0).save(path)
    q = pygru.GRU(3, 4, seed=1).quantize("int8")
    q.save(path)
    assert isinstance(pygru.load(path), QuantizedGRU)
    assert sorted(os.listdir(tmp_path)) == ["q.safetensors"]
