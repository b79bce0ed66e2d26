"""test_load_corpus.py - the committed corpus of crafted model files
(tests/data/modelfiles, made by its make_corpus.py) through pygru.load, which reads
through libgru's gru_load_file: every file accepted or refused as EXPECTATIONS.tsv says,
with the message fragment; c/tests/test_load_corpus.c checks the same list in C, so both
languages agree file by file. Python's generic reader (read_tensors, for Module.load)
must agree on the files marked generic. Also: a directory and a FIFO (OSError, without
blocking), a header over 1 MiB, and the memory and time bounds of the size attacks
(issue 10, 11, 12)."""
import os
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pygru
from pygru import modelfile
from pygru._core import ffi, lib

CORPUS = os.path.join(os.path.dirname(__file__), "data", "modelfiles")


def expectations():
    with open(os.path.join(CORPUS, "EXPECTATIONS.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    return {r[0]: tuple(r[1:]) for r in rows}


EXPECT = expectations()


def test_corpus_is_complete():
    files = {f[:-len(".safetensors")] for f in os.listdir(CORPUS) if f.endswith(".safetensors")}
    assert files == set(EXPECT)
    assert len(EXPECT) >= 100
    assert {v[0] for v in EXPECT.values()} == {"accept", "format"}


def c_load(path):
    """(status, message) of libgru's gru_load_file."""
    pp, info, msg = ffi.new("gru_model **"), ffi.new("gru_file_info *"), ffi.new("char[1024]")
    st = lib.gru_load_file(os.fsencode(path), pp, info, msg, 1024)
    if st == lib.GRU_OK:
        lib.gru_destroy(pp[0])
    return st, ffi.string(msg).decode("utf-8", "replace")


def _check_int8_file(path):
    """An int8 file loads as a QuantizedGRU(Cell) holding exactly the file's int8
    values, scales and biases."""
    from pygru.quant import QuantizedGRU
    model = pygru.load(path)
    tensors, meta = modelfile.read_tensors(path, dtypes=("F32", "I8"))
    assert isinstance(model, QuantizedGRU) and meta["quantization"] == "int8"
    q, sd = model.int8_weights(), model.state_dict()
    key = lambda k: k if k in sd else k + "_l0"
    for k, v in tensors.items():
        if k.endswith(".scale"):
            assert np.array_equal(q[key(k[:-6])][1], v), k
        elif v.dtype == np.int8:
            assert np.array_equal(q[key(k)][0], v), k
            s = tensors[k + ".scale"]
            assert np.array_equal(sd[key(k)], v.astype(np.float32) * s[:, None]), k
        else:
            assert np.array_equal(sd[key(k)], v), k


def _check_bf16_file(path):
    """A bf16 file loads as a QuantizedGRU(Cell) of format bf16 holding exactly the
    file's bf16 bit patterns (NaN and infinities included) and biases."""
    from pygru.quant import QuantizedGRU
    model = pygru.load(path)
    tensors, meta = modelfile.read_tensors(path, dtypes=("F32", "BF16"))
    assert isinstance(model, QuantizedGRU) and model.format == "bf16"
    assert meta["quantization"] == "bf16"
    w, sd = model.bf16_weights(), model.state_dict()
    key = lambda k: k if k in sd else k + "_l0"
    for k, v in tensors.items():
        if v.dtype == np.uint16:
            assert np.array_equal(w[key(k)], v), k
            assert np.array_equal(sd[key(k)].view(np.uint32), v.astype(np.uint32) << 16), k
        else:
            assert np.array_equal(sd[key(k)], v), k


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corpus_file(name):
    verdict, generic, fragment = EXPECT[name]
    path = os.path.join(CORPUS, name + ".safetensors")
    st, cmsg = c_load(path)
    if verdict == "accept" and name.startswith("valid_int8"):
        assert st == lib.GRU_OK and cmsg == "", cmsg
        _check_int8_file(path)
        return
    if verdict == "accept" and name.startswith("valid_bf16"):
        assert st == lib.GRU_OK and cmsg == "", cmsg
        _check_bf16_file(path)
        return
    if verdict == "accept":
        assert st == lib.GRU_OK and cmsg == "", cmsg
        model = pygru.load(path)
        tensors, _ = modelfile.read_tensors(path)
        sd = model.state_dict()
        assert len(sd) == len(tensors)
        for k, v in tensors.items():
            key = k if k in sd else k + "_l0"
            assert np.array_equal(np.asarray(sd[key], np.float64), v.astype(np.float64)), k
        assert model.dtype == (np.float64 if all(v.dtype == np.float64 for v in tensors.values())
                               else np.float32)
        return
    assert st == lib.GRU_ERR_FORMAT and fragment in cmsg and cmsg.startswith(path + ": "), cmsg
    with pytest.raises(ValueError) as exc:
        pygru.load(path)
    text = str(exc.value)
    assert text.startswith(path + " is not a valid pygru model file: ") and fragment in text
    assert text == path + " is not a valid pygru model file: " + cmsg[len(path) + 2:]
    if generic == "y":
        with pytest.raises(ValueError, match="is not a valid pygru model file"):
            modelfile.read_tensors(path)


def test_saved_files_load_in_both():
    for model in (pygru.GRU(3, 4, num_layers=2, bidirectional=True, dropout=0.1, seed=1),
                  pygru.GRUCell(2, 5, bias=False, dtype=np.float64, seed=2)):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            p = model.save(os.path.join(d, "m.safetensors"))
            assert c_load(p) == (lib.GRU_OK, "")
            assert repr(pygru.load(p)) == repr(model)


def test_header_over_1mib(tmp_path):
    p = tmp_path / "big.safetensors"
    text = b'{"__metadata__":{"x":"' + b"a" * (1 << 20) + b'"}}'
    p.write_bytes(struct.pack("<Q", len(text)) + text)
    st, msg = c_load(p)
    assert st == lib.GRU_ERR_FORMAT and "a header of 1048601 bytes (at most 1048576)" in msg
    for reader in (pygru.load, modelfile.read_tensors):
        with pytest.raises(ValueError, match="a header of 1048601 bytes"):
            reader(p)


def test_directory_is_refused(tmp_path):
    st, msg = c_load(tmp_path)
    assert st == lib.GRU_ERR_IO and msg == "%s is a directory, not a model file" % tmp_path
    with pytest.raises(OSError, match="is a directory"):
        pygru.load(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = textwrap.dedent("""
        import sys, pygru
        try:
            pygru.load(sys.argv[1])
        except OSError as exc:
            print("OSError:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert "OSError: %s is a FIFO, not a model file" % fifo in proc.stdout, \
        proc.stdout + proc.stderr


MEASURE = textwrap.dedent("""
    import resource, sys, time, pygru
    try:   # the first call's one-time costs (cffi) apart
        pygru.load(sys.argv[1] + ".missing")
    except OSError:
        pass
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        pygru.load(sys.argv[1])
        print("ACCEPTED")
    except ValueError as exc:
        print("VALUEERROR", exc)
    print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""")


def measure(path):
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    out = proc.stdout.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("VALUEERROR"), proc.stdout + proc.stderr
    seconds, kib = out[1].split()
    return float(seconds), int(kib)


def shape_list_file(path, nbytes):
    text = b'{"weight_ih_l0":{"dtype":"F32","data_offsets":[0,0],"shape":[' + \
        b",".join([b"1"] * (nbytes // 2)) + b"]}}"
    text = text[:0] + text
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    return len(text)


@pytest.mark.parametrize("name", ["bias_hh_l999999", "zero_size_layers_torch", "many_zero_size_layers",
                                  "many_zero_size_names", "deep_nesting_5000"])
def test_size_attacks_are_cheap(name):
    seconds, kib = measure(os.path.join(CORPUS, name + ".safetensors"))
    print("%s: refused in %.4f s, RSS growth %d KiB" % (name, seconds, kib))
    assert seconds < 0.05 and kib < 4096


def test_one_mib_shape_list_is_refused_fast(tmp_path):
    p = tmp_path / "shape.safetensors"
    n = shape_list_file(p, (1 << 20) - 80)
    assert n <= 1 << 20
    seconds, kib = measure(p)
    print("1 MiB shape list: refused in %.4f s, RSS growth %d KiB" % (seconds, kib))
    assert seconds < 0.25 and kib < 8192
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="an array of more than 8 values"):
        modelfile.read_tensors(p)
    assert time.perf_counter() - t0 < 2.0


def test_deep_header_in_read_tensors(tmp_path):
    """json.loads would raise RecursionError: the depth is scanned first."""
    p = tmp_path / "deep.safetensors"
    text = b'{"a":' + b"[" * 200000 + b"]" * 200000 + b"}"
    p.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(ValueError, match="nesting deeper than 8"):
        modelfile.read_tensors(p)
    with pytest.raises(ValueError, match="nesting deeper than 8"):
        pygru.load(p)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        pygru.load(tmp_path / "missing.safetensors")
