"""test_modelfile.py - GRU.save / pygru.load (safetensors): round trips of every
configuration (bitwise parameters, same configuration and outputs), files without pygru
metadata (as the safetensors package writes them from a torch state dict), atomic
saving, and every kind of malformed file rejected with a ValueError that says what is
wrong (never a crash, never a model with wrong numbers)."""
import json
import os
import struct

import numpy as np
import pytest

import pygru


def configs():
    yield pygru.GRU(3, 5, seed=1)
    yield pygru.GRU(4, 6, num_layers=3, bidirectional=True, batch_first=True, dropout=0.25,
                    reset_after=False, dtype=np.float64, seed=2)
    yield pygru.GRU(2, 3, num_layers=2, bias=False, seed=3)
    yield pygru.GRUCell(4, 7, seed=4)
    yield pygru.GRUCell(2, 3, bias=False, reset_after=False, dtype=np.float64, seed=5)


@pytest.mark.parametrize("model", list(configs()), ids=repr)
def test_round_trip(tmp_path, model):
    path = model.save(tmp_path / "m.safetensors")
    back = pygru.load(path)
    assert type(back) is type(model) and repr(back) == repr(model)
    assert back._config() == model._config() and not back.training
    for (n1, a), (n2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert n1 == n2 and a.dtype == b.dtype and np.array_equal(a, b)
    rng = np.random.default_rng(0)
    if isinstance(model, pygru.GRU):
        x = rng.standard_normal((3, 2, model.input_size)).astype(model.dtype)
        assert np.array_equal(back(x)[0], model.eval()(x)[0])
    else:
        x = rng.standard_normal((2, model.input_size)).astype(model.dtype)
        assert np.array_equal(back(x), model.eval()(x))


def test_file_layout_is_safetensors(tmp_path):
    g = pygru.GRU(2, 3, num_layers=2, seed=0)
    data = open(g.save(tmp_path / "m.safetensors"), "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == "pygru" and meta["class"] == "GRU" and meta["num_layers"] == "2"
    assert all(isinstance(v, str) for v in meta.values())
    assert list(header) == list(g.state_dict())
    end = 0
    for name, entry in header.items():
        assert entry["dtype"] == "F32" and entry["data_offsets"][0] == end
        end = entry["data_offsets"][1]
        raw = np.frombuffer(data, "<f4", offset=8 + n + entry["data_offsets"][0],
                            count=int(np.prod(entry["shape"])))
        assert np.array_equal(raw.reshape(entry["shape"]), getattr(g, name))
    assert 8 + n + end == len(data)


def write_safetensors(path, tensors, metadata=None, order=None):
    """A file as the safetensors package writes one (keys sorted, header padded with
    spaces), from {name: float array}."""
    header, offset, blobs = {}, 0, []
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in order or sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        header[name] = {"dtype": {"float32": "F32", "float64": "F64"}[arr.dtype.name],
                        "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        blobs.append(arr.tobytes())
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def test_file_without_pygru_metadata(tmp_path):
    torch = pytest.importorskip("torch")
    t = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    sd = {k: v.numpy() for k, v in t.state_dict().items()}
    p = write_safetensors(tmp_path / "t.safetensors", sd, metadata={"framework": "pt"})
    g = pygru.load(p, batch_first=True)
    assert g.dtype == np.float64 and g.bidirectional and g.num_layers == 2 and g.batch_first
    assert all(np.array_equal(getattr(g, k), v) for k, v in sd.items())
    try:
        from safetensors.numpy import save_file
    except ImportError:
        return
    save_file(sd, str(tmp_path / "pkg.safetensors"))
    g2 = pygru.load(tmp_path / "pkg.safetensors")
    assert all(np.array_equal(getattr(g2, k), v) for k, v in sd.items())


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old = pygru.GRU(2, 3, seed=1)
    old.save(path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("simulated crash before the rename")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        pygru.GRU(2, 3, seed=2).save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]   # no temporary left
    monkeypatch.undo()
    new = pygru.GRU(2, 3, seed=2)
    new.save(path)
    assert np.array_equal(pygru.load(path).weight_ih_l0, new.weight_ih_l0)


def good_file(tmp_path):
    g = pygru.GRU(2, 3, num_layers=2, seed=0)
    data = open(g.save(tmp_path / "good.safetensors"), "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def rewrite(tmp_path, header, body, name="bad.safetensors"):
    text = json.dumps(header).encode()
    p = tmp_path / name
    p.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return p


def edited(tmp_path, edit):
    header, body = good_file(tmp_path)
    body = edit(header, body)
    return rewrite(tmp_path, header, body)


MALFORMED = {
    "truncated data": (lambda h, b: b[:-5], r"ends at byte \d+ of the data, which has \d+ \(truncated\?\)"),
    "unknown dtype": (lambda h, b: (h["bias_hh_l1"].update(dtype="F16"), b)[1],
                      "dtype F16; libgru reads F32 and F64"),
    "shape/offset mismatch": (lambda h, b: (h["weight_ih_l0"].update(shape=[9, 3]), b)[1],
                              "need 108 bytes, data_offsets give 72"),
    "overlap": (lambda h, b: (h["bias_ih_l0"].update(
        data_offsets=[0, 36]), b)[1], "overlap"),
    "missing tensor": (lambda h, b: (h.pop("bias_hh_l1"), b)[1], "tensor 'bias_hh_l1' is missing"),
    "extra tensor": (lambda h, b: (h.update(extra={"dtype": "F32", "shape": [1], "data_offsets":
                                                   [len(b), len(b) + 4]}), b + bytes(4))[1],
                     "tensor 'extra' is no GRU parameter"),
    "config vs shapes": (lambda h, b: (h["__metadata__"].update(hidden_size="4"), b)[1],
                         "says hidden_size=4 but the tensors' shapes give 3"),
    "layers vs tensors": (lambda h, b: (h["__metadata__"].update(num_layers="3"), b)[1],
                          "says num_layers=3 but the tensors' shapes give 2"),
    "bad flag": (lambda h, b: (h["__metadata__"].update(bias="yes"), b)[1],
                 '\'bias\' is "yes"'),
    "missing config": (lambda h, b: (h["__metadata__"].pop("reset_after"), b)[1],
                       "lacks 'reset_after'"),
    "non-string metadata": (lambda h, b: (h["__metadata__"].update(num_layers=2), b)[1],
                            "__metadata__ must map names to strings"),
    "format version": (lambda h, b: (h["__metadata__"].update(format_version="9"), b)[1],
                       "format_version 9; libgru reads 1"),
    "negative offset": (lambda h, b: (h["weight_ih_l0"].update(data_offsets=[-4, 20]), b)[1],
                        r"'weight_ih_l0' has bad data_offsets"),
    "bad shape": (lambda h, b: (h["weight_ih_l0"].update(shape="9x2"), b)[1],
                  "must have a shape of 2 integers"),
    "bad entry": (lambda h, b: (h.update(weight_ih_l0=[1, 2]), b)[1],
                  "must have exactly dtype, shape and data_offsets"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_rejected(tmp_path, case):
    edit, message = MALFORMED[case]
    p = edited(tmp_path, edit)
    with pytest.raises(ValueError, match="is not a valid pygru model file: .*" + message):
        pygru.load(p)


def test_malformed_framing(tmp_path):
    p = tmp_path / "x.safetensors"
    for raw, message in [
        (b"\x01\x02\x03", "3 bytes, shorter than the 8-byte header length"),
        (struct.pack("<Q", 1 << 40) + b"{}", "header length 1099511627776 runs past the end"),
        (struct.pack("<Q", 5) + b"{nope", "not valid JSON"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not valid UTF-8"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (struct.pack("<Q", 2) + b"{}", "'weight_ih_l0' is missing"),
    ]:
        p.write_bytes(raw)
        with pytest.raises(ValueError, match="not a valid pygru model file: .*" + message):
            pygru.load(p)
    with pytest.raises(FileNotFoundError):
        pygru.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("model", [pygru.GRU(3, 4, num_layers=2, bidirectional=True,
                                             reset_after=False, dropout=0.2, seed=7),
                                   pygru.GRU(2, 5, dtype=np.float64, bias=False, seed=8),
                                   pygru.GRUCell(3, 4, seed=9)], ids=repr)
def test_python_and_c_read_each_others_files(tmp_path, model):
    """pygru's file loads in libgru (gru_load) with the same parameters, and libgru's
    file (gru_save) loads in pygru as the same model (a GRUCell comes back as a
    one-layer GRU: libgru has no cell class)."""
    from pygru._core import ffi, lib
    path = str(model.save(tmp_path / "py.safetensors"))
    pp, msg = ffi.new("gru_model **"), ffi.new("char[256]")
    assert lib.gru_load(path.encode(), pp, msg, 256) == lib.GRU_OK, ffi.string(msg)
    cm = ffi.gc(pp[0], lib.gru_destroy)
    cfg = ffi.new("gru_config *")
    lib.gru_get_config(cm, cfg)
    assert cfg.reset_after == model.reset_after and cfg.bias == model.bias
    assert cfg.dtype == (2 if model.dtype == np.float64 else 1)
    c_path = str(tmp_path / "c.safetensors")
    assert lib.gru_save(cm, c_path.encode()) == lib.GRU_OK
    back = pygru.load(c_path)
    names = [n if n.endswith(("_l0", "_l1", "_reverse")) else n + "_l0"
             for n in model.state_dict()]
    for (name, value), cname in zip(model.state_dict().items(), names):
        assert np.array_equal(getattr(back, cname), value), name
    if isinstance(model, pygru.GRU):
        assert back._config() == model._config()


def test_c_reports_malformed_files(tmp_path):
    from pygru._core import ffi, lib
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", 3) + b"{x}")
    pp, msg = ffi.new("gru_model **"), ffi.new("char[256]")
    assert lib.gru_load(str(p).encode(), pp, msg, 256) == lib.GRU_ERR_FORMAT
    assert b"not valid JSON" in ffi.string(msg) and pp[0] == ffi.NULL


def test_saved_file_has_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = pygru.GRU(2, 3).save(tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert os.stat(p).st_mode & 0o777 == 0o644
