"""make_corpus.py - writes the corpus of crafted model files that both readers (libgru's
gru_load_file, through c/tests/test_load_corpus.c, and pygru.load, through
tests/test_load_corpus.py) must accept or refuse alike, and EXPECTATIONS.tsv: one line
per file, tab-separated:

    name   verdict (accept | format | io)   generic (y: Python's read_tensors must
           refuse it too / accept it too; n: a GRU-specific rule)   message fragment

Run from anywhere: python tests/data/modelfiles/make_corpus.py (deterministic: the same
bytes every run; no pygru import, so the files do not change with pygru's version). The
files are small; the 1 MiB-header case is made by the tests at run time.
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def meta(cls="GRU", I=2, H=3, L=1, bidir=0, bias=1, ra=1, **extra):
    m = {"format": "pygru", "format_version": "1", "class": cls, "input_size": str(I),
         "hidden_size": str(H), "bias": str(bias), "reset_after": str(ra)}
    if cls == "GRU":
        m.update(num_layers=str(L), batch_first="0", bidirectional=str(bidir),
                 dropout="0.0", reverse="0", input_dropout="0.0", recurrent_dropout="0.0")
    m.update(extra)
    return m


def weights(I=2, H=3, L=1, bidir=0, bias=1, cell=False, dtype=np.float32, seed=0):
    """{name: array} in state-dict order, deterministic values."""
    rng = np.random.default_rng(seed)
    out = {}
    for l in range(L):
        for d in range(2 if bidir else 1):
            suffix = "" if cell else "_l%d%s" % (l, "_reverse" if d else "")
            cols = I if l == 0 else (2 if bidir else 1) * H
            shapes = [(3 * H, cols), (3 * H, H)] + ([(3 * H,), (3 * H,)] if bias else [])
            for kind, shape in zip(KINDS, shapes):
                out[kind + suffix] = rng.uniform(-1, 1, shape).astype(dtype)
    return out


def header_of(tensors, metadata):
    """The header dict of tensors laid out contiguously, and the data bytes."""
    header = {} if metadata is None else {"__metadata__": metadata}
    off, blobs = 0, []
    for name, arr in tensors.items():
        code = {"float32": "F32", "float64": "F64", "int8": "I8", "uint16": "BF16"}[arr.dtype.name]
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [off, off + arr.nbytes]}
        off += arr.nbytes
        blobs.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    return header, b"".join(blobs)


def frame(text, body, hlen=None):
    if isinstance(text, str):
        text = text.encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if hlen is None else hlen) + text + body


def dumps(header):
    return json.dumps(header, separators=(",", ":"))


def file_of(tensors, metadata, edit=None):
    header, body = header_of(tensors, metadata)
    if edit:
        body = edit(header, body) or body
    return frame(dumps(header), body)


CASES = []   # (name, bytes, verdict, generic, fragment)


def case(name, data, verdict, generic, fragment=""):
    CASES.append((name, data, verdict, generic, fragment))


def good(**kw):
    cell = kw.pop("cell", False)
    dtype = kw.pop("dtype", np.float32)
    mkw = dict(kw)
    w = weights(cell=cell, dtype=dtype, **{k: v for k, v in kw.items() if k in ("I", "H", "L", "bidir", "bias")})
    return w, meta("GRUCell" if cell else "GRU", **mkw)


def valid_files():
    for name, kw in [("valid_gru", {}), ("valid_gru_2layers", dict(L=2)),
                     ("valid_bidirectional", dict(L=2, bidir=1)),
                     ("valid_no_bias", dict(bias=0)), ("valid_reset_before", dict(ra=0)),
                     ("valid_float64", dict(dtype=np.float64)),
                     ("valid_gru_cell", dict(cell=True)),
                     ("valid_gru_cell_no_bias", dict(cell=True, bias=0, ra=0))]:
        w, m = good(**kw)
        case(name, file_of(w, m), "accept", "y")
    w, m = good(L=2)
    m.update(dropout="0.25", input_dropout="1e-05", recurrent_dropout="0.5")
    case("valid_dropout_rates", file_of(w, m), "accept", "y")
    w, m = good()
    del m["reverse"], m["batch_first"], m["dropout"], m["input_dropout"], m["recurrent_dropout"]
    case("valid_optional_keys_absent", file_of(w, m), "accept", "y")
    w, _ = good(L=2, bidir=1)
    case("valid_torch_no_metadata", file_of(dict(sorted(w.items())), {"framework": "pt"}), "accept", "y")
    case("valid_no_metadata_at_all", file_of(w, None), "accept", "y")
    w, m = good()
    m["note"] = "caf\u00e9 \U0001F600"
    case("valid_utf8_metadata", file_of(w, m), "accept", "y")
    text = dumps(header_of(w, m)[0]).replace("\U0001F600", "\\ud83d\\ude00")
    case("valid_surrogate_pair_escape", frame(text, header_of(w, m)[1]), "accept", "y")


def size_attacks():
    w, m = good(I=1, H=1)
    many = dict(w)
    for l in range(1, 150):   # every layer present, each of zero size
        for k in KINDS:
            many["%s_l%d" % (k, l)] = np.zeros((0, 0) if k.startswith("w") else (0,), np.float32)
    case("many_zero_size_layers", file_of(many, m), "format", "n", "has the wrong shape")
    holes = dict(w)
    for l in range(1, 400):
        holes["bias_hh_l%d" % (l * 50)] = np.zeros((0,), np.float32)
    case("many_zero_size_names", file_of(holes, m), "format", "n", "is missing")
    big = {"weight_ih_l0": np.full((3000, 1), 0.5, np.float32)}   # H = 1000, 12 KB
    for l in range(40):   # then nothing but zero-size tensors: a ~1 GB model if built
        for k in KINDS:
            name = "%s_l%d" % (k, l)
            big.setdefault(name, np.zeros((0, 0) if k.startswith("w") else (0,), np.float32))
    case("zero_size_layers_torch", file_of(big, None), "format", "n", "'weight_hh_l0' has the wrong shape")
    w, m = good(I=1, H=1)
    w["bias_hh_l999999"] = np.zeros((0,), np.float32)
    case("bias_hh_l999999", file_of(w, None), "format", "n", "'weight_ih_l1' is missing")
    w["bias_hh_l1000001"] = w.pop("bias_hh_l999999")
    case("layer_over_a_million", file_of(w, None), "format", "n", "is no GRU parameter")
    w, m = good()
    h, body = header_of(w, m)
    text = dumps(h).replace('"shape":[9,2]', '"shape":[' + ",".join(["1"] * 20000) + "]")
    case("long_shape_list", frame(text, body), "format", "y", "an array of more than 8 values")
    text = dumps(h).replace('"shape":[9,2]', '"shape":[9,2,1,1,1,1,1,1,1]')
    case("shape_of_9_dims", frame(text, body), "format", "y", "an array of more than 8 values")
    text = dumps(h).replace('"note"', '"x"') .replace('"format":"pygru"', '"format":"pygru","deep":' + "[" * 5000 + "]" * 5000)
    case("deep_nesting_5000", frame(text, body), "format", "y", "nesting deeper than 8")
    text = dumps(h).replace('"format":"pygru"', '"format":"pygru","deep":' + "[" * 9 + "]" * 9)
    case("deep_nesting_9", frame(text, body), "format", "y", "nesting deeper than 8")
    text = dumps(h).replace('"format":"pygru"', '"format":"pygru","big":' + "9" * 5000)
    case("huge_integer", frame(text, body), "format", "y", "number too large")


def json_attacks():
    w, m = good()
    h, body = header_of(w, m)
    t = dumps(h)
    subs = {
        "duplicate_metadata_key": (('"hidden_size":"3"', '"hidden_size":"3","hidden_size":"4"'), "y", "two members of the same key"),
        "duplicate_tensor_name": (('"weight_hh_l0":', '"weight_ih_l0":'), "y", "two members of the same key"),
        "duplicate_dtype_key": (('"dtype":"F32"', '"dtype":"F32","dtype":"F32"'), "y", "two members of the same key"),
        "float_in_shape": (('"shape":[9,2]', '"shape":[9.0,2]'), "y", "not an integer"),
        "exponent_in_offsets": (('"data_offsets":[0,72]', '"data_offsets":[0,7.2e1]'), "y", "not an integer"),
        "leading_zero_in_shape": (('"shape":[9,2]', '"shape":[09,2]'), "y", "leading zero"),
        "bool_in_shape": (('"shape":[9,2]', '"shape":[9,true]'), "y", "bad shape"),
        "negative_dim": (('"shape":[9,2]', '"shape":[-9,2]'), "y", "bad shape"),
        "nan_in_metadata": (('"format":"pygru"', '"format":"pygru","x":NaN'), "y", "unexpected character"),
        "lone_surrogate_escape": (('"format":"pygru"', '"format":"pygru","x":"\\ud800"'), "y", "lone surrogate"),
        "lone_low_surrogate": (('"format":"pygru"', '"format":"pygru","x":"\\udc00x"'), "y", "lone surrogate"),
        "nul_escape": (('"format":"pygru"', '"format":"pygru","x":"a\\u0000b"'), "y", "does not accept"),
        "trailing_comma": (('"format":"pygru"', '"format":"pygru",'), "y", "not valid JSON"),
        "single_quotes": (('"format":"pygru"', "'format':'pygru'"), "y", "not valid JSON"),
    }
    for name, ((a, b), generic, frag) in subs.items():
        assert a in t, name
        case(name, frame(t.replace(a, b, 1), body), "format", generic, frag)
    raw = t.encode()
    for name, bad, frag in [("non_utf8_metadata", b"\xff", "not valid UTF-8"),
                            ("overlong_utf8", b"\xc0\xaf", "not valid UTF-8"),
                            ("encoded_surrogate", b"\xed\xa0\x80", "not valid UTF-8"),
                            ("beyond_u10ffff", b"\xf4\x90\x80\x80", "not valid UTF-8"),
                            ("truncated_utf8", b"\xe2\x82", "not valid UTF-8")]:
        case(name, frame(raw.replace(b'"pygru_', b'"pygru_').replace(b'"class":"GRU"', b'"class":"GRU","x":"' + bad + b'"'), body),
             "format", "y", frag)
    case("non_utf8_outside_strings", frame(b"\xff" + raw[1:], body), "format", "y", "not valid")
    case("header_is_array", frame("[]", b""), "format", "y", "not a JSON object")
    case("header_is_empty_object", frame("{}", b""), "format", "n", "'weight_ih_l0' is missing")
    case("text_after_header", frame(t + "{}", body), "format", "y", "not valid JSON")
    case("metadata_not_object", frame(t.replace('"__metadata__":{', '"__metadata__":[{', 1).replace('},"weight_ih_l0"', '}],"weight_ih_l0"', 1), body),
         "format", "y", "__metadata__")
    case("metadata_int_value", frame(t.replace('"hidden_size":"3"', '"hidden_size":3'), body),
         "format", "y", "__metadata__ must map names to strings")


def metadata_attacks():
    bad_values = [
        ("hidden_size", "0_4", "'hidden_size' is \"0_4\""),
        ("hidden_size", "\u0663", "'hidden_size' is"),         # Arabic-Indic digit 3
        ("hidden_size", "\uff13", "'hidden_size' is"),         # fullwidth digit 3
        ("hidden_size", "+3", "'hidden_size' is \"+3\""),
        ("hidden_size", " 3", "'hidden_size' is \" 3\""),
        ("hidden_size", "3 ", "'hidden_size' is \"3 \""),
        ("hidden_size", "03", "'hidden_size' is \"03\""),
        ("hidden_size", "3.0", "'hidden_size' is \"3.0\""),
        ("hidden_size", "", "'hidden_size' is \"\""),
        ("hidden_size", "99999999999999999999", "'hidden_size' is"),
        ("input_size", "0", "'input_size' is \"0\""),
        ("hidden_size", "4", "says hidden_size=4 but the tensors' shapes give 3"),
        ("input_size", "3", "says input_size=3 but the tensors' shapes give 2"),
        ("num_layers", "2", "says num_layers=2 but the tensors' shapes give 1"),
        ("bias", "0", "says bias=0 but the tensors' shapes give 1"),
        ("bias", "true", "'bias' is \"true\""),
        ("bidirectional", "1", "says bidirectional=1 but the tensors' shapes give 0"),
        ("reset_after", "2", "'reset_after' is \"2\""),
        ("reverse", "2", "'reverse' is \"2\""),
        ("batch_first", "yes", "'batch_first' is \"yes\""),
        ("dropout", "0x1p-2", "'dropout' is \"0x1p-2\""),
        ("dropout", "inf", "'dropout' is \"inf\""),
        ("dropout", "nan", "'dropout' is \"nan\""),
        ("dropout", "1.0", "'dropout' is \"1.0\""),
        ("dropout", "-0.0", "'dropout' is \"-0.0\""),
        ("dropout", " 0.25", "'dropout' is \" 0.25\""),
        ("dropout", ".5", "'dropout' is \".5\""),
        ("dropout", "0,25", "'dropout' is \"0,25\""),
        ("dropout", "1e", "'dropout' is \"1e\""),
        ("input_dropout", "0.5\u0663", "'input_dropout' is"),
        ("recurrent_dropout", "1e400", "'recurrent_dropout' is \"1e400\""),
        ("class", "LSTM", "class LSTM"),
        ("class", "GRUCell", "says GRUCell but the tensors are a GRU's"),
        ("format_version", "2", "format_version 2; libgru reads 1"),
        ("format_version", "01", "format_version 01"),
    ]
    counts = {}
    for key, value, frag in bad_values:
        w, m = good()
        m[key] = value
        counts[key] = counts.get(key, 0) + 1
        case("meta_%s_%d" % (key, counts[key]), file_of(w, m), "format", "n", frag)
    for key in ("input_size", "hidden_size", "num_layers", "bias", "bidirectional", "reset_after"):
        w, m = good()
        del m[key]
        case("meta_lacks_%s" % key, file_of(w, m), "format", "n", "lacks '%s'" % key)
    w, m = good(L=2, bidir=1)
    m["reverse"] = "1"
    case("meta_reverse_with_bidirectional", file_of(w, m), "format", "n", "reverse=1 for a bidirectional GRU")
    w, m = good(cell=True)
    m["class"] = "GRU"
    case("meta_class_gru_on_cell", file_of(w, m), "format", "n", "says GRU but the tensors are a GRUCell's")


def name_attacks():
    for name, new, frag in [("layer_plus", "weight_hh_l+0", "is no GRU parameter"),
                            ("layer_space", "weight_hh_l 0", "is no GRU parameter"),
                            ("layer_leading_zero", "weight_hh_l00", "is no GRU parameter"),
                            ("layer_non_ascii", "weight_hh_l\u0660", "is no GRU parameter"),
                            ("layer_empty", "weight_hh_l", "is no GRU parameter"),
                            ("reverse_twice", "weight_hh_l0_reverse_reverse", "is no GRU parameter"),
                            ("unknown_kind", "weight_xx_l0", "is no GRU parameter")]:
        w, m = good()
        w = {(new if k == "weight_hh_l0" else k): v for k, v in w.items()}
        case("name_" + name, file_of(w, m), "format", "n", frag)
    w, m = good(L=2)
    del w["weight_hh_l1"]
    case("missing_tensor", file_of(w, m), "format", "n", "'weight_hh_l1' is missing")
    w, m = good(L=2)
    del w["bias_ih_l1"], w["bias_hh_l1"]
    case("bias_not_all_or_nothing", file_of(w, m), "format", "n", "'bias_ih_l1' is missing")
    w, m = good(L=2)
    w["weight_ih_l1_reverse"] = w["weight_ih_l1"]
    case("one_reverse_tensor", file_of(w, m), "format", "n", "is missing")
    w, m = good()
    w["weight_ih"] = w["weight_ih_l0"]
    case("gru_and_cell_names", file_of(w, None), "format", "n", "a mix of GRU and GRUCell")
    w, m = good(L=2)
    w["weight_ih_l1"] = np.zeros((9, 5), np.float32)
    case("wrong_shape_upper_layer", file_of(w, m), "format", "n", "has the wrong shape")
    w, m = good()
    w["weight_ih_l0"] = np.zeros((8, 2), np.float32)
    case("rows_not_multiple_of_3", file_of(w, m), "format", "n", "3 * hidden_size")
    w, m = good()
    w["weight_ih_l0"] = np.zeros((9, 0), np.float32)
    case("input_size_zero", file_of(w, m), "format", "n", "both >= 1")


def lies_and_truncations():
    w, m = good()
    data = file_of(w, m)
    (hlen,) = struct.unpack("<Q", data[:8])
    for at in (0, 3, 7, 8, 8 + hlen // 2, 8 + hlen, len(data) - 1):
        frag = ("shorter than the 8-byte" if at < 8 else "runs past the end" if at < 8 + hlen
                else "truncated")
        case("truncated_at_%d" % at, data[:at], "format", "y", frag)
    case("header_length_huge", struct.pack("<Q", 1 << 62) + data[8:], "format", "y", "runs past the end")
    case("header_length_short", struct.pack("<Q", hlen - 8) + data[8:], "format", "y", "not valid JSON")
    case("header_length_long", struct.pack("<Q", hlen + 8) + data[8:], "format", "y", "not valid JSON")
    def edit(fn):
        def go(h, b):
            return fn(h, b)
        return go
    lies = {
        "dtype_f16": (lambda h, b: h["bias_hh_l0"].update(dtype="F16"), "n", "has dtype F16"),
        "dtype_i64": (lambda h, b: h["bias_hh_l0"].update(dtype="I64"), "n", "has dtype I64"),
        "dtype_not_string": (lambda h, b: h["bias_hh_l0"].update(dtype=32), "n", "(not a string)"),
        "dtype_f64_on_f32_data": (lambda h, b: h["bias_hh_l0"].update(dtype="F64"), "y", "need 72 bytes, data_offsets give 36"),
        "shape_wrong_size": (lambda h, b: h["weight_ih_l0"].update(shape=[9, 3]), "y", "need 108 bytes, data_offsets give 72"),
        "shape_one_dim": (lambda h, b: h["weight_ih_l0"].update(shape=[18]), "n", "must have a shape of 2 integers"),
        "shape_string": (lambda h, b: h["weight_ih_l0"].update(shape="9x2"), "y", "shape"),
        "offsets_overlap": (lambda h, b: h["bias_ih_l0"].update(data_offsets=[0, 36]), "y", "overlap"),
        "offsets_beyond_data": (lambda h, b: h["bias_hh_l0"].update(data_offsets=[252, 288]), "y", "truncated"),
        "offsets_reversed": (lambda h, b: h["bias_hh_l0"].update(data_offsets=[252, 216]), "y", "data_offsets"),
        "offsets_negative": (lambda h, b: h["weight_ih_l0"].update(data_offsets=[-4, 68]), "y", "data_offsets"),
        "offsets_three": (lambda h, b: h["weight_ih_l0"].update(data_offsets=[0, 36, 72]), "y", "data_offsets"),
        "offsets_huge": (lambda h, b: h["bias_hh_l0"].update(data_offsets=[2 ** 63 - 37, 2 ** 63 - 1]), "y", "truncated"),
        "entry_extra_key": (lambda h, b: h["weight_ih_l0"].update(extra=1), "y", "exactly dtype, shape and data_offsets"),
        "entry_not_object": (lambda h, b: h.update(weight_ih_l0=[1, 2]), "y", "exactly dtype, shape and data_offsets"),
        "shape_overflow": (lambda h, b: h["weight_ih_l0"].update(shape=[2 ** 62, 2 ** 62]), "y", "too large"),
    }
    for name, (fn, generic, frag) in lies.items():
        w, m = good()
        case("lie_" + name, file_of(w, m, fn), "format", generic, frag)


def qgood(**kw):
    """An int8 model file's tensors (weights I8 followed by their F32 "<name>.scale",
    biases F32) and metadata ("quantization": "int8")."""
    w, m = good(**kw)
    rng = np.random.default_rng(13)
    out = {}
    for name, arr in w.items():
        if name.startswith("weight_"):
            out[name] = rng.integers(-127, 128, arr.shape).astype(np.int8)
            out[name + ".scale"] = rng.uniform(0.001, 0.02, arr.shape[0]).astype(np.float32)
        else:
            out[name] = arr
    m["quantization"] = "int8"
    return out, m


def int8_files():
    """Model files of int8 models (docs/quantization.md): valid ones and every rule the
    reader adds for them."""
    for name, kw in [("valid_int8_gru", {}), ("valid_int8_bidirectional", dict(L=2, bidir=1)),
                     ("valid_int8_no_bias_reset_before", dict(bias=0, ra=0)),
                     ("valid_int8_gru_cell", dict(cell=True))]:
        w, m = qgood(**kw)
        case(name, file_of(w, m), "accept", "n")
    w, m = qgood()
    w["weight_hh_l0"][4] = 0
    w["weight_hh_l0.scale"][4] = 0
    case("valid_int8_zero_row", file_of(w, m), "accept", "n")
    rules = [
        ("int8_value_minus_128", lambda w, m: w["weight_hh_l0"].__setitem__((2, 1), -128),
         "int8 values are in [-127, 127]"),
        ("int8_nonzero_in_zero_scale_row", lambda w, m: w["weight_ih_l0.scale"].__setitem__(5, 0),
         "0 in a row of scale 0"),
        ("int8_scale_nan", lambda w, m: w["weight_hh_l0.scale"].__setitem__(0, np.nan),
         "scales must be finite and >= 0"),
        ("int8_scale_inf", lambda w, m: w["weight_hh_l0.scale"].__setitem__(8, np.inf),
         "scales must be finite and >= 0"),
        ("int8_scale_negative", lambda w, m: w["weight_ih_l0.scale"].__setitem__(3, -0.01),
         "scales must be finite and >= 0"),
        ("int8_scale_wrong_shape", lambda w, m: w.__setitem__("weight_ih_l0.scale", w["weight_ih_l0.scale"][:8]),
         "has 8 rows; its weight has 9"),
        ("int8_scale_missing", lambda w, m: w.pop("weight_hh_l0.scale"),
         "must be I8 with a scale tensor"),
        ("int8_weight_f32", lambda w, m: w.__setitem__("weight_ih_l0", w["weight_ih_l0"].astype(np.float32)),
         "must be I8 with a scale tensor"),
        ("int8_scale_f64", lambda w, m: w.__setitem__("weight_ih_l0.scale", w["weight_ih_l0.scale"].astype(np.float64)),
         "must be F32"),
        ("int8_scale_i8", lambda w, m: w.__setitem__("weight_ih_l0.scale", np.ones(9, np.int8)),
         "has dtype I8; only weights may"),
        ("int8_bias_i8", lambda w, m: w.__setitem__("bias_ih_l0", np.ones(9, np.int8)),
         "has dtype I8; only weights may"),
        ("int8_bias_f64", lambda w, m: w.__setitem__("bias_hh_l0", w["bias_hh_l0"].astype(np.float64)),
         "of an int8 file must be F32"),
        ("int8_scale_of_a_bias", lambda w, m: w.__setitem__("bias_ih_l0.scale", np.ones(9, np.float32)),
         "is no GRU parameter"),
        ("int8_orphan_scale", lambda w, m: w.__setitem__("weight_ih_l1.scale", np.ones(9, np.float32)),
         "is missing"),
        ("int8_unknown_quantization", lambda w, m: m.__setitem__("quantization", "fp8"),
         "quantization is \"fp8\""),
        ("int8_quantization_empty", lambda w, m: m.__setitem__("quantization", ""),
         "quantization is \"\""),
        ("int8_i8_in_float_file", lambda w, m: [m.pop("quantization")] +
         [w.pop(k) for k in list(w) if k.endswith(".scale")],
         "has dtype I8 in a file without quantization int8"),
    ]
    for name, fn, frag in rules:
        w, m = qgood()
        fn(w, m)
        case(name, file_of(w, m), "format", "n", frag)
    w, m = good()
    w["weight_ih_l0.scale"] = np.ones(9, np.float32)
    case("int8_scale_in_float_file", file_of(w, m), "format", "n",
         "in a file without quantization int8")
    w, m = good()
    m["quantization"] = "int8"
    case("int8_float_weights", file_of(w, m), "format", "n", "must be I8 with a scale tensor")
    data = file_of(*qgood())
    case("int8_truncated", data[:-5], "format", "y", "truncated")


def bf16_of(arr):
    """float32 values rounded to bf16 (nearest, ties to even), as uint16 bit patterns (the
    corpus writes uint16 arrays as dtype BF16)."""
    u = np.asarray(arr, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bgood(**kw):
    """A bf16 model file's tensors (weights BF16, no scales, biases F32) and metadata
    ("quantization": "bf16")."""
    w, m = good(**kw)
    out = {k: bf16_of(v) if k.startswith("weight_") else v for k, v in w.items()}
    m["quantization"] = "bf16"
    return out, m


def bf16_files():
    """Model files of bf16 models (docs/quantization.md): valid ones (NaN, infinities and
    subnormals are values, as in a float file) and every rule the reader adds for them."""
    for name, kw in [("valid_bf16_gru", {}), ("valid_bf16_bidirectional", dict(L=2, bidir=1)),
                     ("valid_bf16_no_bias_reset_before", dict(bias=0, ra=0)),
                     ("valid_bf16_gru_cell", dict(cell=True))]:
        case(name, file_of(*bgood(**kw)), "accept", "n")
    w, m = bgood()
    w["weight_hh_l0"][:2] = [[0x7FC0, 0x7F81, 0xFFC1], [0x7F80, 0xFF80, 0x0001]]   # NaNs, +-inf, subnormal
    case("valid_bf16_nan_inf", file_of(w, m), "accept", "n")
    rules = [
        ("bf16_weight_f32", lambda w, m: w.__setitem__("weight_hh_l0", np.ones((9, 3), np.float32)),
         "tensor 'weight_hh_l0' of a bf16 file must be BF16"),
        ("bf16_weight_i8", lambda w, m: w.__setitem__("weight_ih_l0", np.ones((9, 2), np.int8)),
         "tensor 'weight_ih_l0' has dtype I8 in a file without quantization int8"),
        ("bf16_scale_tensor", lambda w, m: w.__setitem__("weight_ih_l0.scale", np.ones(9, np.float32)),
         "scale tensor 'weight_ih_l0.scale' in a bf16 file"),
        ("bf16_bias_bf16", lambda w, m: w.__setitem__("bias_ih_l0", bf16_of(w["bias_ih_l0"])),
         "tensor 'bias_ih_l0' has dtype BF16; only weights may"),
        ("bf16_bias_f64", lambda w, m: w.__setitem__("bias_hh_l0", w["bias_hh_l0"].astype(np.float64)),
         "bias 'bias_hh_l0' of a bf16 file must be F32"),
        ("bf16_in_int8_file", lambda w, m: m.__setitem__("quantization", "int8"),
         "tensor 'weight_ih_l0' has dtype BF16 in a file without quantization bf16"),
        ("bf16_in_float_file", lambda w, m: m.pop("quantization"),
         "tensor 'weight_ih_l0' has dtype BF16 in a file without quantization bf16"),
        ("bf16_quantization_uppercase", lambda w, m: m.__setitem__("quantization", "BF16"),
         "quantization is \"BF16\""),
    ]
    for name, fn, frag in rules:
        w, m = bgood()
        fn(w, m)
        case(name, file_of(w, m), "format", "n", frag)
    w, m = qgood()
    w["weight_hh_l0"] = bf16_of(np.ones((9, 3), np.float32))   # one BF16 weight in an int8 file
    case("bf16_weight_in_int8_file", file_of(w, m), "format", "n",
         "tensor 'weight_hh_l0' has dtype BF16 in a file without quantization bf16")
    w, m = good()
    w["weight_hh_l0"] = bf16_of(w["weight_hh_l0"])   # one BF16 weight in a float file
    case("bf16_weight_in_float_file", file_of(w, m), "format", "n",
         "tensor 'weight_hh_l0' has dtype BF16 in a file without quantization bf16")

    def odd_length(h, b):   # weight_ih_l0's range 1 byte short: an odd byte count
        h["weight_ih_l0"]["data_offsets"][1] -= 1
    case("bf16_wrong_byte_length", file_of(*bgood(), edit=odd_length), "format", "n",
         "tensor 'weight_ih_l0': its shape and dtype need 36 bytes, data_offsets give 35")
    data = file_of(*bgood())
    case("bf16_truncated", data[:-5], "format", "y", "truncated")


def main():
    valid_files()
    size_attacks()
    json_attacks()
    metadata_attacks()
    name_attacks()
    lies_and_truncations()
    int8_files()
    bf16_files()
    for f in os.listdir(HERE):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(HERE, f))
    names = set()
    with open(os.path.join(HERE, "EXPECTATIONS.tsv"), "w", encoding="utf-8", newline="\n") as out:
        out.write("# name\tverdict\tgeneric\tmessage fragment (made by make_corpus.py)\n")
        for name, data, verdict, generic, frag in CASES:
            assert name not in names and "\t" not in frag, name
            names.add(name)
            with open(os.path.join(HERE, name + ".safetensors"), "wb") as f:
                f.write(data)
            out.write("%s\t%s\t%s\t%s\n" % (name, verdict, generic, frag))
    print("%d files, %d bytes" % (len(CASES), sum(len(c[1]) for c in CASES)))


if __name__ == "__main__":
    main()
