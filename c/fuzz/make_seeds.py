#!/usr/bin/env python3
"""make_seeds.py - writes the seed corpora of the libFuzzer harnesses (c/fuzz/corpus/).

corpus/load/: model files for fuzz_load, in the format of gru.h (safetensors: 8-byte
little-endian header length, JSON header, tensor bytes): pygru files (the metadata
gru_save writes) of several configurations in float32 and float64, a GRUCell, files
with no metadata as the safetensors package writes a torch.nn.GRU state dict (one with
F32 and F64 tensors mixed), and a handful of malformed ones (each refused for a
different reason). All small: the corpus stays far under 200 KB.
corpus/api/: byte strings for fuzz_api (whose first bytes decode into a configuration,
the rest into calls; see fuzz_api.c), chosen to start from many configurations and
call sequences.

Pure standard library, deterministic: run `python3 c/fuzz/make_seeds.py` from anywhere;
it rewrites both folders (removing files it does not write).
"""
import json
import math
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def values(n, seed):
    """n deterministic values in (-0.5, 0.5)."""
    rng = random.Random(seed)
    return [rng.uniform(-0.5, 0.5) for _ in range(n)]


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype 'F32'/'F64'/'I8'/'BF16', shape, list of values; BF16:
    the bit patterns as integers)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, vals in tensors:
        fmt = "<%d%s" % (len(vals), {"F32": "f", "F64": "d", "I8": "b", "BF16": "H"}[dtype])
        raw = struct.pack(fmt, *vals)
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def gru_tensors(I, H, L, bidirectional=0, bias=1, dtype="F32", cell=False, seed=0):
    out, D = [], 2 if bidirectional else 1
    for l in range(L):
        for d in range(D):
            inp = I if l == 0 else D * H
            suffix = "" if cell else "_l%d%s" % (l, "_reverse" if d else "")
            shapes = [(3 * H, inp), (3 * H, H), (3 * H,), (3 * H,)]
            for k in range(4 if bias else 2):
                n = math.prod(shapes[k])
                out.append((KINDS[k] + suffix, dtype, shapes[k],
                            values(n, seed * 1000 + l * 10 + d * 4 + k)))
    return out


def pygru_meta(I, H, L, bidirectional=0, bias=1, reset_after=1, cls="GRU", dropout=0.0,
               reverse=0, input_dropout=0.0, recurrent_dropout=0.0):
    """The metadata gru_save writes (save.c), in its order."""
    return {"format": "pygru", "format_version": "1", "pygru_version": "0.2.0",
            "class": cls, "input_size": str(I), "hidden_size": str(H),
            "num_layers": str(L), "bias": str(bias), "batch_first": "0",
            "bidirectional": str(bidirectional), "reset_after": str(reset_after),
            "dropout": repr(dropout), "reverse": str(reverse),
            "input_dropout": repr(input_dropout),
            "recurrent_dropout": repr(recurrent_dropout)}


def load_seeds():
    s = {}
    # pygru files (valid)
    s["pygru_f32_i3_h4"] = safetensors(gru_tensors(3, 4, 1), pygru_meta(3, 4, 1))
    s["pygru_f64_i2_h3_l2_bidir"] = safetensors(
        gru_tensors(2, 3, 2, bidirectional=1, dtype="F64", seed=1),
        pygru_meta(2, 3, 2, bidirectional=1, dropout=0.25))
    s["pygru_f32_nobias_reset_before_l3"] = safetensors(
        gru_tensors(2, 2, 3, bias=0, seed=2), pygru_meta(2, 2, 3, bias=0, reset_after=0))
    s["pygru_f32_reverse_dropouts"] = safetensors(
        gru_tensors(4, 2, 2, seed=3),
        pygru_meta(4, 2, 2, reverse=1, dropout=0.5, input_dropout=0.125,
                   recurrent_dropout=0.75))
    s["pygru_f64_gru_cell"] = safetensors(
        gru_tensors(3, 2, 1, dtype="F64", cell=True, seed=4),
        {k: v for k, v in pygru_meta(3, 2, 1, cls="GRUCell").items()
         if k not in ("num_layers", "bidirectional")})
    s["pygru_f32_gru_cell_nobias"] = safetensors(
        gru_tensors(1, 1, 1, bias=0, cell=True, seed=5),
        {k: v for k, v in pygru_meta(1, 1, 1, bias=0, cls="GRUCell").items()
         if k not in ("num_layers", "bidirectional")})
    nan = gru_tensors(2, 2, 1, seed=6)
    nan[0][3][0] = float("nan")
    nan[1][3][1] = float("inf")
    s["pygru_f32_nan_inf_weights"] = safetensors(nan, pygru_meta(2, 2, 1))
    # torch-style files: no metadata, the configuration read off names and shapes
    s["torch_f32_i4_h2_l2"] = safetensors(gru_tensors(4, 2, 2, seed=7), None, pad=False)
    s["torch_f64_bidir_nobias"] = safetensors(
        gru_tensors(2, 3, 1, bidirectional=1, bias=0, dtype="F64", seed=8), {})
    mixed = gru_tensors(3, 2, 1, dtype="F64", seed=9)
    mixed[0] = (mixed[0][0], "F32") + mixed[0][2:]
    s["torch_mixed_f32_f64"] = safetensors(mixed, None)
    s["torch_gru_cell_f32"] = safetensors(gru_tensors(2, 2, 1, cell=True, seed=10), None)
    s["foreign_metadata"] = safetensors(gru_tensors(1, 2, 1, seed=11),
                                        {"format": "pt", "note": "written elsewhere"})
    s["foreign_metadata_escapes"] = safetensors(
        gru_tensors(2, 1, 1, seed=15), {"note": "\n\t\"\\/\u00e9", "k\u2028": ""})
    # malformed (refused, each for its own reason)
    good = s["pygru_f32_i3_h4"]
    s["bad_truncated"] = good[: len(good) - 5]
    s["bad_header_past_end"] = struct.pack("<Q", 1 << 20) + good[8:200]
    s["bad_short_file"] = b"\x10\x00\x00"
    s["bad_json"] = struct.pack("<Q", 16) + b'{"a":[1,2,}     '
    s["bad_not_object"] = struct.pack("<Q", 8) + b"[1,2,3] "
    s["bad_empty_object"] = struct.pack("<Q", 8) + b"{}      "
    t = gru_tensors(2, 2, 1, seed=12)
    s["bad_missing_tensor"] = safetensors(t[:3], pygru_meta(2, 2, 1))
    s["bad_extra_tensor"] = safetensors(t + [("running_mean", "F32", (2,), [0.0, 1.0])], None)
    s["bad_meta_mismatch"] = safetensors(t, pygru_meta(2, 5, 1))
    s["bad_meta_dropout"] = safetensors(t, pygru_meta(2, 2, 1, dropout=1.5))
    s["bad_dtype_f16"] = safetensors(t, None).replace(b'"F32"', b'"F16"', 1)
    s["bad_mixed_cell_and_layers"] = safetensors(
        t + gru_tensors(2, 2, 1, cell=True, seed=13), None)
    over = safetensors(t, None)
    hlen = struct.unpack("<Q", over[:8])[0]
    hdr = json.loads(over[8:8 + hlen])
    hdr["weight_hh_l0"]["data_offsets"] = [0, hdr["weight_hh_l0"]["data_offsets"][1]
                                           - hdr["weight_hh_l0"]["data_offsets"][0]]
    text = json.dumps(hdr, separators=(",", ":")).encode()
    s["bad_overlap"] = struct.pack("<Q", len(text)) + text + over[8 + hlen:]
    s["bad_shape_not_3h"] = safetensors(
        [("weight_ih_l0", "F32", (4, 2), values(8, 14))], None)
    s["bad_string_escapes"] = safetensors(
        t, {"format": "pygru\x00", "x\ud800": "\n\t\"\\", "class": "\u00e9"})
    int8_seeds(s)
    bf16_seeds(s)
    return s


def int8_tensors(I, H, L, bidirectional=0, bias=1, cell=False, seed=0):
    """An int8 model file's tensors: each weight I8 in [-127, 127] followed by its F32
    row scales "<name>.scale" (3H), biases F32 (docs/quantization.md)."""
    out = []
    for name, dtype, shape, vals in gru_tensors(I, H, L, bidirectional, bias, "F32", cell, seed):
        if len(shape) == 2:
            out.append((name, "I8", shape, [int(round(v * 254)) for v in vals]))
            out.append((name + ".scale", "F32", (shape[0],),
                        [abs(v) / 16 for v in values(shape[0], seed + 99)]))
        else:
            out.append((name, dtype, shape, vals))
    return out


def int8_seeds(s):
    """Valid int8 files (a GRU, a bidirectional 2-layer GRU without biases, a GRUCell)
    and a few refused ones (-128, a NaN scale, I8 in a float file)."""
    q = dict(quantization="int8")
    s["int8_i3_h4"] = safetensors(int8_tensors(3, 4, 1, seed=20), dict(pygru_meta(3, 4, 1), **q))
    s["int8_i2_h3_l2_bidir_nobias"] = safetensors(
        int8_tensors(2, 3, 2, bidirectional=1, bias=0, seed=21),
        dict(pygru_meta(2, 3, 2, bidirectional=1, bias=0, reset_after=0), **q))
    s["int8_gru_cell"] = safetensors(
        int8_tensors(2, 2, 1, cell=True, seed=22),
        dict({k: v for k, v in pygru_meta(2, 2, 1, cls="GRUCell").items()
              if k not in ("num_layers", "bidirectional")}, **q))
    t = int8_tensors(2, 2, 1, seed=23)
    t[0][3][0] = -128
    s["bad_int8_minus_128"] = safetensors(t, dict(pygru_meta(2, 2, 1), **q))
    t = int8_tensors(2, 2, 1, seed=24)
    t[1][3][2] = float("nan")
    s["bad_int8_nan_scale"] = safetensors(t, dict(pygru_meta(2, 2, 1), **q))
    s["bad_int8_in_float_file"] = safetensors(int8_tensors(2, 2, 1, seed=25), pygru_meta(2, 2, 1))


def bf16(v):
    """The bf16 bit pattern of v (a float; float32 first, then round to nearest even)."""
    u = struct.unpack("<I", struct.pack("<f", v))[0]
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return (u >> 16) | 0x40
    return (u + 0x7FFF + ((u >> 16) & 1)) >> 16


def bf16_tensors(I, H, L, bidirectional=0, bias=1, cell=False, seed=0):
    """A bf16 model file's tensors: each weight BF16 (bit patterns), no scales, biases F32
    (docs/quantization.md)."""
    return [(name, "BF16", shape, [bf16(v) for v in vals]) if len(shape) == 2
            else (name, dtype, shape, vals)
            for name, dtype, shape, vals in gru_tensors(I, H, L, bidirectional, bias, "F32",
                                                        cell, seed)]


def bf16_seeds(s):
    """Valid bf16 files (a GRU with a NaN and an infinite weight, a bidirectional 2-layer
    GRU without biases, a GRUCell) and a few refused ones (a scale tensor, BF16 in an
    int8 file, a BF16 bias)."""
    q = dict(quantization="bf16")
    t = bf16_tensors(3, 4, 1, seed=30)
    t[1][3][0], t[1][3][1] = 0x7FC0, 0xFF80
    s["bf16_i3_h4_nan_inf"] = safetensors(t, dict(pygru_meta(3, 4, 1), **q))
    s["bf16_i2_h3_l2_bidir_nobias"] = safetensors(
        bf16_tensors(2, 3, 2, bidirectional=1, bias=0, seed=31),
        dict(pygru_meta(2, 3, 2, bidirectional=1, bias=0, reset_after=0), **q))
    s["bf16_gru_cell"] = safetensors(
        bf16_tensors(2, 2, 1, cell=True, seed=32),
        dict({k: v for k, v in pygru_meta(2, 2, 1, cls="GRUCell").items()
              if k not in ("num_layers", "bidirectional")}, **q))
    t = bf16_tensors(2, 2, 1, seed=33)
    t.insert(1, ("weight_ih_l0.scale", "F32", (6,), [1.0] * 6))
    s["bad_bf16_scale_tensor"] = safetensors(t, dict(pygru_meta(2, 2, 1), **q))
    s["bad_bf16_in_int8_file"] = safetensors(bf16_tensors(2, 2, 1, seed=34),
                                             dict(pygru_meta(2, 2, 1), quantization="int8"))
    t = bf16_tensors(2, 2, 1, seed=35)
    t[2] = (t[2][0], "BF16", t[2][2], [bf16(v) for v in t[2][3]])
    s["bad_bf16_bias"] = safetensors(t, dict(pygru_meta(2, 2, 1), **q))


def api_seeds():
    """Byte strings for fuzz_api: a configuration, then calls. Valid sizes are selector
    bytes >= 5 (mod 16) followed by the size's byte; the op byte picks the call mod 13."""
    rng = random.Random(20261205)
    out = {}
    for k in range(40):
        # configuration: I, H, L as (selector, value); flags; dtype; rates; seed; isa
        b = bytearray()
        for mx in (16, 16, 3):
            b += bytes([5 + rng.randrange(11), rng.randrange(256)])
        bidir = k % 3 == 1
        b += bytes([4 + bidir, 4 + (k & 1 == 0), 4 + (k >> 1 & 1 == 0)])  # bidir, bias, reset_after
        b += bytes([4 | (k % 5 == 0), 4 * (k % 7 == 3)])               # reverse flag, its gate
        b += bytes([3 + (k & 1)])                                       # dtype 3 -> f64, 4 -> f32
        rates = [10, 10, 10]
        if k % 4 == 2:
            rates = [9, 7, 8]
        b += bytes(rates)
        if rates[2] == 8:
            b += bytes([rng.randrange(256)])
        b += bytes(rng.randrange(256) for _ in range(8))                # seed
        b += bytes([rng.randrange(8)])                                  # isa
        b += bytes([rng.randrange(256)])                                # thread min work
        # calls
        for _ in range(6 + k % 10):
            op = rng.choice([0, 2, 4, 4, 5, 7, 7, 8, 9, 10, 11, 12, 3, 6, 1])
            b += bytes([op])
            b += bytes(rng.randrange(256) for _ in range(12 + rng.randrange(40)))
        out["api_%02d" % k] = bytes(b)
    # a few hand-made: a valid f32 model, training forward then backward
    out["api_train_backward"] = bytes(
        [5, 3, 5, 4, 5, 1, 3, 3, 3, 4, 0, 3, 10, 10, 10] + [0] * 8 + [7, 1] +
        [4, 5, 2, 5, 1, 3, 3, 0x1c, 0] + [16] * 20 + [7, 0xf0] + [8] * 40)
    out["api_step"] = bytes(
        [5, 1, 5, 7, 5, 0, 4, 3, 3, 4, 0, 3, 10, 10, 10] + [0] * 8 + [7, 0] +
        [10, 5, 2, 0x60] + [1] * 30 + [11, 1, 10, 5, 3, 0x40] + [2] * 30)
    out["api_bad_config"] = bytes([0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 3, 1, 2, 3, 4] + [9] * 30)
    return out


def write(folder, seeds):
    path = os.path.join(HERE, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        if f not in seeds:
            os.remove(os.path.join(path, f))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(path, name), "wb") as fh:
            fh.write(data)
    return sum(len(d) for d in seeds.values())


if __name__ == "__main__":
    n1 = write("load", load_seeds())
    n2 = write("api", api_seeds())
    print("corpus/load: %d bytes, corpus/api: %d bytes" % (n1, n2))
