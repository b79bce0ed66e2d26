"""pygru.modelfile - the model file shared by Python and C: the safetensors format,
written here (write_tensors for any state dict, metadata for a GRU's configuration) and
read by libgru's gru_load_file (pygru.load, a GRU's file: one validator for both
languages) or by read_tensors here (Module.load: any state dict, also I64/I32), which
follows the same rules where they apply. Readable by the safetensors package too; this
module imports no model class.

Layout (https://github.com/huggingface/safetensors):
  8 bytes   N, the header's length, unsigned little-endian
  N bytes   JSON object, UTF-8, padded with spaces to a multiple of 8:
              {"__metadata__": {...strings...},
               "<name>": {"dtype": "F32"|"F64", "shape": [...], "data_offsets": [a, b]}, ...}
            (quantized models: also "I8" int8 weights with F32 "<name>.scale" tensors,
            or "BF16" bfloat16 weights; docs/quantization.md, "Model files")
  the data  tensors' bytes, little-endian, C order; a tensor occupies [a, b) of it
Tensor names are the state dict's (weight_ih_l0, ..., or weight_ih, ... for a GRUCell),
written in state-dict order, contiguously. __metadata__ holds the configuration, every
value a string (a safetensors rule): format "pygru", version 1, class GRU|GRUCell, and
input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
reset_after, reverse, input_dropout, recurrent_dropout, layer_norm, zoneout,
weight_dropout, augru (integers as decimal strings, flags "0"/"1", dropout rates as
repr(float); reverse, layer_norm, augru and the rates may be absent, meaning "0").

Guarantees:
  * writing is atomic: the file is written under a temporary name in the same folder,
    flushed and fsynced, then renamed over the target (and the folder fsynced), so a
    crash never leaves a half-written file under the target's name;
  * read_tensors checks everything before it returns and raises ValueError naming what
    is wrong, as gru_load_file does (gru.h): a short file, a header length beyond the
    file or over 1 MiB, bad UTF-8 (also lone surrogates) or JSON (also duplicate keys,
    non-integer numbers, nesting deeper than 8, arrays of more than 8 values), an
    unknown dtype, a shape or offset that disagrees with the data, overlapping or
    out-of-range offsets; nothing is allocated from a size before it is checked against
    the file's size, and time is linear in the file's size;
  * files without pygru metadata (e.g. written by the safetensors package from a torch
    state dict) load too: the configuration is then read off the names and shapes, and
    keyword arguments add what they cannot say (batch_first, dropout, reset_after).
"""
import json
import os
import struct

import numpy as np

import collections.abc
import re

from ._files import write_atomic

__all__ = ["write_tensors", "read_tensors", "metadata", "config_from_state_dict"]

FORMAT_VERSION = "1"
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
           "I32": np.dtype("<i4"), "I8": np.dtype("i1")}
_NAMES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
# BF16 (bfloat16: 2 bytes little-endian, a float32's high half; NumPy has no such dtype)
# is read and written as uint16 bit patterns, only where asked for by name.
_DTYPES["BF16"] = np.dtype("<u2")
_READ_DTYPES = ("F32", "F64", "I64", "I32")   # I8, BF16 (quantized weights) only when asked
_MAX_HEADER = 1024 * 1024     # as libgru's MODELFILE_MAX_HEADER
_MAX_DEPTH = 8                # as json.h's JSON_MAX_DEPTH and JSON_MAX_ARRAY
_MAX_ARRAY = 8


def metadata(class_name, cfg):
    """The __metadata__ of a model file for a "GRU" or "GRUCell" with configuration
    ``cfg`` (the constructor's arguments)."""
    from . import __version__
    meta = {"format": "pygru", "format_version": FORMAT_VERSION,
            "pygru_version": __version__, "class": class_name}
    meta["input_size"] = str(cfg["input_size"])
    meta["hidden_size"] = str(cfg["hidden_size"])
    meta["bias"] = str(int(cfg["bias"]))
    meta["reset_after"] = str(int(cfg["reset_after"]))
    if class_name == "GRU":
        meta["num_layers"] = str(cfg["num_layers"])
        meta["batch_first"] = str(int(cfg["batch_first"]))
        meta["bidirectional"] = str(int(cfg["bidirectional"]))
        meta["dropout"] = repr(float(cfg["dropout"]))
        meta["reverse"] = str(int(cfg["reverse"]))
        meta["input_dropout"] = repr(float(cfg["input_dropout"]))
        meta["recurrent_dropout"] = repr(float(cfg["recurrent_dropout"]))
        meta["layer_norm"] = str(int(cfg.get("layer_norm", False)))
        meta["zoneout"] = repr(float(cfg.get("zoneout", 0.0)))
        meta["weight_dropout"] = repr(float(cfg.get("weight_dropout", 0.0)))
    meta["augru"] = str(int(cfg.get("augru", False)))
    return meta


def _dtype_name(name, arr, bf16):
    """The safetensors dtype of tensor name (arr): BF16 for the names in bf16 (uint16 bit
    patterns), else as its NumPy dtype says."""
    if name in bf16:
        if arr.dtype.newbyteorder("=") != np.dtype(np.uint16):
            raise TypeError("write_tensors: tensor %r is to be BF16; it must hold uint16 bit "
                            "patterns, got dtype %s" % (name, arr.dtype))
        return "BF16"
    if arr.dtype.newbyteorder("=") not in _NAMES:
        raise TypeError("write_tensors: tensor %r has dtype %s; float32, float64, int64, "
                        "int32 and int8 can be written (and bf16 as uint16, named in bf16=)"
                        % (name, arr.dtype))
    return _NAMES[arr.dtype.newbyteorder("=")]


def write_tensors(path, tensors, metadata=None, bf16=()):
    """Writes {name: array} (float32, float64, int64, int32 or int8; any shape) and metadata
    ({str: str}) to ``path`` as a safetensors file, in the mapping's order, atomically
    (see the module docstring). bf16: names of tensors written as dtype BF16, given as
    uint16 arrays of bfloat16 bit patterns. Returns the path. Used by GRU.save, by
    QuantizedGRU.save and by pygru.Module.save."""
    path = os.fspath(path)
    tensors = {str(k): np.asarray(v) for k, v in tensors.items()}
    if isinstance(bf16, (str, bytes)):
        raise TypeError("write_tensors: bf16 must be a collection of tensor names; got the "
                        "string %r" % (bf16,))
    bf16 = {str(k) for k in bf16}
    if not bf16 <= set(tensors):
        raise ValueError("write_tensors: bf16 names tensors that are not there: %s"
                         % sorted(bf16 - set(tensors)))
    codes = {name: _dtype_name(name, arr, bf16) for name, arr in tensors.items()}
    metadata = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("write_tensors: metadata must map strings to strings")
    header = {"__metadata__": metadata}
    offset = 0
    for name, arr in tensors.items():
        header[name] = {"dtype": codes[name], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())

    return write_atomic(path, write)


def _bad(path, what):
    return ValueError("%s is not a valid pygru model file: %s" % (path, what))


def _depth(text):
    """The deepest nesting of [ and { in JSON text (outside strings), in one pass."""
    depth = deepest = 0
    in_str = escaped = False
    for c in text:
        if in_str:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _no_dup_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("an object has two members of the same key")
    return dict(pairs)


def _strict_int(text):
    """A JSON integer as libgru reads one: ASCII digits (json's scanner also matches
    other Unicode digits), fitting int64."""
    if not text.isascii() or len(text.lstrip("-")) > 19:
        raise ValueError("a number too large or not in ASCII digits: %.30s" % text)
    v = int(text)
    if not -2 ** 63 <= v < 2 ** 63:
        raise ValueError("a number too large: %s" % text)
    return v


def _no_floats(text):
    raise ValueError("a number that is not an integer: %.30s" % text)


def _check_strings(obj):
    """Lone surrogates (from \\u escapes) are not UTF-8: refuse them, as libgru does;
    and nested arrays of more than _MAX_ARRAY values."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            for k, v in o.items():
                k.encode("utf-8")
                stack.append(v)
        elif isinstance(o, list):
            if len(o) > _MAX_ARRAY:
                raise ValueError("an array of more than %d values" % _MAX_ARRAY)
            stack.extend(o)
        elif isinstance(o, str):
            o.encode("utf-8")


def _read_header(path, data):
    if len(data) < 8:
        raise _bad(path, "%d bytes, shorter than the 8-byte header length" % len(data))
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise _bad(path, "the header length %d runs past the end of the file (%d bytes)"
                   % (n, len(data)))
    if n > _MAX_HEADER:
        raise _bad(path, "a header of %d bytes (at most %d)" % (n, _MAX_HEADER))
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(path, "the header is not valid JSON (the header is not valid UTF-8: %s)"
                   % exc) from None
    if _depth(text) > _MAX_DEPTH + 1:
        raise _bad(path, "the header is not valid JSON (nesting deeper than %d)" % _MAX_DEPTH)
    if "\\u0000" in text.replace("\\\\", ""):
        raise _bad(path, "the header is not valid JSON (a \\u escape pygru does not accept)")
    try:
        header = json.loads(text, object_pairs_hook=_no_dup_keys, parse_int=_strict_int,
                            parse_float=_no_floats, parse_constant=_no_floats)
        _check_strings(header)
    except UnicodeEncodeError:
        raise _bad(path, "the header is not valid JSON (a \\u escape pygru does not accept: "
                   "a lone surrogate)") from None
    except ValueError as exc:
        raise _bad(path, "the header is not valid JSON (%s)" % exc) from None
    if not isinstance(header, dict):
        raise _bad(path, "the header is not a JSON object")
    return header, 8 + n


def read_tensors(path, dtypes=_READ_DTYPES):
    """({name: array}, {metadata}) of a safetensors file, every entry checked as load()
    checks a model file (ValueError naming what is wrong); dtypes: the dtype names
    accepted ("F32", "F64", "I64", "I32"; also "I8", "BF16": a BF16 tensor is returned as
    uint16 bit patterns). The arrays are read-only views of the file's bytes, in the
    file's order."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    header, start = _read_header(path, data)
    tensors = _tensors(path, header, data, start, dtypes)
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _bad(path, "__metadata__ must map names to strings")
    return tensors, meta


def _tensors(path, header, data, start, dtypes):
    """{name: array} of every tensor entry, each checked against the data."""
    size = len(data) - start
    out, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _bad(path, "tensor %r must have exactly dtype, shape and data_offsets" % name)
        dt = _DTYPES.get(entry["dtype"]) if entry["dtype"] in dtypes else None
        if dt is None:
            raise _bad(path, "tensor %r has dtype %r; pygru reads %s"
                       % (name, entry["dtype"], " and ".join(dtypes)))
        shape, offs = entry["shape"], entry["data_offsets"]
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise _bad(path, "tensor %r has shape %r (a list of integers >= 0)" % (name, shape))
        if not (isinstance(offs, list) and len(offs) == 2 and
                all(type(o) is int and o >= 0 for o in offs) and offs[0] <= offs[1]):
            raise _bad(path, "tensor %r has data_offsets %r ([begin, end])" % (name, offs))
        if offs[1] > size:
            raise _bad(path, "tensor %r ends at byte %d of the data, which has %d (truncated?)"
                       % (name, offs[1], size))
        numel = 1
        for s in shape:
            numel *= s
        if numel * dt.itemsize != offs[1] - offs[0]:
            raise _bad(path, "tensor %r: shape %s of %s needs %d bytes, data_offsets %r give %d"
                       % (name, tuple(shape), entry["dtype"], numel * dt.itemsize, offs,
                          offs[1] - offs[0]))
        spans.append((offs[0], offs[1], name))
        out[name] = np.frombuffer(data, dtype=dt, count=numel,
                                  offset=start + offs[0]).reshape(shape)
    spans.sort()
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise _bad(path, "tensors %r and %r overlap in the data" % (an, bn))
    return out


# ---- the configuration a state dict's names and shapes imply -----------------------

_LAYER_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")
_CELL_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _shape(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        shape = np.shape(value)
    return tuple(int(s) for s in shape)


def config_from_state_dict(state_dict):
    """(class name "GRU" or "GRUCell", config dict) read off a state dict's names and
    shapes: input_size, hidden_size, and for a GRU num_layers, bidirectional, bias.
    ValueError when the names do not form a complete GRU / GRUCell."""
    if not isinstance(state_dict, collections.abc.Mapping):
        raise TypeError("state_dict must be a mapping of name -> array; got %s"
                        % type(state_dict).__name__)
    keys = list(state_dict)
    if "weight_ih" in state_dict:   # a GRUCell
        extra = [k for k in keys if k not in _CELL_KEYS]
        if extra or "weight_hh" not in state_dict:
            raise ValueError("state_dict is neither a GRUCell's (weight_ih, weight_hh, bias_ih, "
                             "bias_hh) nor a GRU's; unexpected or missing keys: %s"
                             % ", ".join(map(repr, extra or ["weight_hh"])))
        g3, inp = _shape(state_dict["weight_ih"])
        if g3 % 3:
            raise ValueError("weight_ih must have 3 * hidden_size rows; got shape %s"
                             % (_shape(state_dict["weight_ih"]),))
        return "GRUCell", dict(input_size=inp, hidden_size=g3 // 3,
                               bias="bias_ih" in state_dict)
    layers, reverse, bias = set(), False, False
    for k in keys:
        m = _LAYER_KEY.match(k)
        if not m:
            raise ValueError("state_dict has a key that no GRU parameter has: %r" % k)
        layers.add(int(m.group(2)))
        reverse |= m.group(3) is not None
        bias |= m.group(1).startswith("bias")
    if "weight_ih_l0" not in state_dict or "weight_hh_l0" not in state_dict:
        raise ValueError("state_dict must hold weight_ih_l0 and weight_hh_l0 (a torch.nn.GRU's "
                         "parameters); got keys %s" % ", ".join(map(repr, keys)))
    L = max(layers) + 1
    if sorted(layers) != list(range(L)):
        raise ValueError("state_dict skips layers: it has layers %s" % sorted(layers))
    g3, inp = _shape(state_dict["weight_ih_l0"])
    if g3 % 3:
        raise ValueError("weight_ih_l0 must have 3 * hidden_size rows; got shape %s"
                         % (_shape(state_dict["weight_ih_l0"]),))
    return "GRU", dict(input_size=inp, hidden_size=g3 // 3, num_layers=L,
                       bidirectional=reverse, bias=bias)
