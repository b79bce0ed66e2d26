"""test_hypothesis_modelfile.py - generated damage to valid model files through
pygru.load (which reads through libgru's gru_load_file) and read_tensors: byte flips,
truncations, insertions, length-field lies and edits of header fields (tensor entries
and metadata values replaced by generated JSON values). Whatever the damage, the result
is either a model whose save / load round trip gives back the same model, or a
ValueError / OSError naming the path; never another exception, never a crash. libgru
called directly must agree (GRU_OK exactly when pygru.load returns a model)."""
import atexit
import json
import os
import shutil
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import pygru
from pygru import modelfile
from pygru._core import ffi, lib

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

TMP = tempfile.mkdtemp(prefix="pygru_hyp_modelfile_")
atexit.register(shutil.rmtree, TMP, True)
MODELS = [pygru.GRU(2, 3, seed=1),
          pygru.GRU(3, 2, num_layers=2, bidirectional=True, dropout=0.25, seed=2),
          pygru.GRU(2, 2, bias=False, reset_after=False, dtype=np.float64, seed=3),
          pygru.GRUCell(3, 2, seed=4)]
GOOD = [open(m.save(os.path.join(TMP, "good%d.safetensors" % i)), "rb").read()
        for i, m in enumerate(MODELS)]
PATH = os.path.join(TMP, "mutant.safetensors")
BACK = os.path.join(TMP, "back.safetensors")


def split(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def frame(header_text, body, hlen=None):
    text = header_text.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(text) if hlen is None else hlen) + text + body


def check_outcome(data):
    """Loads data through pygru.load, libgru and read_tensors; checks the contract."""
    with open(PATH, "wb") as f:
        f.write(data)
    pp, msg = ffi.new("gru_model **"), ffi.new("char[1024]")
    st = lib.gru_load_file(PATH.encode(), pp, ffi.NULL, msg, 1024)
    if st == lib.GRU_OK:
        lib.gru_destroy(pp[0])
    else:
        assert st in (lib.GRU_ERR_FORMAT, lib.GRU_ERR_IO), ffi.string(msg)
    try:
        model = pygru.load(PATH)
    except (ValueError, OSError) as exc:
        assert PATH in str(exc)
        assert st != lib.GRU_OK, "C accepted what Python refused: %s" % exc
        model = None
    if model is not None:
        assert st == lib.GRU_OK
        model.save(BACK)
        back = pygru.load(BACK)
        assert repr(back) == repr(model) and back._config() == model._config()
        for (k1, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
            assert k1 == k2 and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    try:
        modelfile.read_tensors(PATH)
    except ValueError as exc:
        assert PATH in str(exc)
    event("loaded" if model is not None else "refused")
    return model is not None


@settings(max_examples=400, **SETTINGS)
@given(which=st.integers(0, len(GOOD) - 1),
       edits=st.lists(st.tuples(st.sampled_from(["flip", "set", "cut", "insert", "length"]),
                                st.integers(0, 10 ** 6), st.integers(0, 255)),
                      min_size=1, max_size=4))
def test_byte_damage(which, edits):
    data = bytearray(GOOD[which])
    for kind, at, value in edits:
        at %= max(len(data), 1)
        if kind == "flip" and data:
            data[at] ^= 1 << (value % 8)
        elif kind == "set" and data:
            data[at] = value
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = bytes([b"{}[]\",:0123456789-e. x\\u"[value % 23]])
        elif kind == "length" and len(data) >= 8:
            (n,) = struct.unpack("<Q", bytes(data[:8]))
            data[:8] = struct.pack("<Q", max(0, n + value - 128))
    check_outcome(bytes(data))


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
    st.sampled_from([0, 1, 2, 3, 9, 18, 36, 72, -1, 2 ** 63 - 1, 2 ** 63, 2 ** 64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["F32", "F64", "F16", "I64", "0", "1", "2", "+1", " 1", "01", "0_4",
                     "\u0663", "0.25", "1e-05", "0x1p-2", "inf", "nan", "1.0", "GRU",
                     "GRUCell", "pygru", ""]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=400, **SETTINGS)
@given(which=st.integers(0, len(GOOD) - 1), data=st.data())
def test_header_field_edits(which, data):
    header, body = split(GOOD[which])
    names = sorted(header)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        name = data.draw(st.sampled_from(names), label="entry")
        entry = header[name]
        key = data.draw(st.sampled_from(sorted(entry) + ["<new>"]), label="field")
        value = data.draw(JSON_VALUES, label="value")
        if key == "<new>":
            key = data.draw(st.text(max_size=8), label="new key")
        if name == "__metadata__" and data.draw(st.booleans(), label="as string"):
            value = json.dumps(value) if not isinstance(value, str) else value
        entry[key] = value
    text = json.dumps(header, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    check_outcome(frame(text, body))


@settings(max_examples=150, **SETTINGS)
@given(which=st.integers(0, len(GOOD) - 1), data=st.data())
def test_metadata_values_agree(which, data):
    """Every metadata value either loads (and then means what a strict reading says) or
    is refused; a file with a changed rate loads with exactly that rate."""
    header, body = split(GOOD[which])
    meta = header["__metadata__"]
    key = data.draw(st.sampled_from(sorted(meta)), label="key")
    meta[key] = data.draw(st.one_of(st.text(max_size=8), st.sampled_from(
        ["0", "1", "2", "0.5", "1e-05", "0.0", "5e-324", "0.99999999999999989"])), label="value")
    loaded = check_outcome(frame(json.dumps(header), body))
    rates = ("dropout", "input_dropout", "recurrent_dropout", "zoneout", "weight_dropout")
    if loaded and key in rates and isinstance(MODELS[which], pygru.GRU):
        assert getattr(pygru.load(PATH), key) == float(meta[key])
