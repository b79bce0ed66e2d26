"""Hostile .npz files against pygru.data.load_imdb_npz(allow_pickle=False) (issue 11,
finding 9): crafted pickles that forge dtypes (object pointers made of file bytes),
ask for code (os.system, builtins.exec), or claim sizes that would exhaust memory must
raise ValueError saying why, without crashing and without running anything; genuine
files (as np.savez writes them, compressed or not, and as NumPy 1 / Python 2 wrote
them) must still load.

Every hostile load runs in a subprocess (with an address-space limit), so that a
segfault or an exhausted memory fails the test instead of killing pytest.
"""
import io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import pygru
from pygru.data import load_imdb_npz

# ---- a small pickle assembler: every crafted stream below is spelled out opcode by opcode


def P_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def P_int(v):
    return b"J" + struct.pack("<i", v)          # BININT


def P_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def P_bytes(b):
    return b"B" + struct.pack("<I", len(b)) + b  # BINBYTES


def P_tuple(*items):
    return b"(" + b"".join(items) + b"t"


def P_list(*items):
    return b"]" + (b"(" + b"".join(items) + b"e" if items else b"")


def P_dict(*pairs):
    return b"}" + (b"(" + b"".join(k + v for k, v in pairs) + b"u" if pairs else b"")


NONE, TRUE, FALSE, REDUCE, BUILD = b"N", b"\x88", b"\x89", b"R", b"b"
RECONSTRUCT = P_global("numpy._core.multiarray", "_reconstruct")


def P_dtype(name, state):
    """numpy.dtype(name, False, True) with state set by BUILD (what NumPy writes)."""
    return P_global("numpy", "dtype") + P_tuple(P_str(name), FALSE, TRUE) + REDUCE + \
        P_tuple(*state) + BUILD


def plain_state(order, flags):
    return (P_int(3), P_str(order), NONE, NONE, NONE, P_int(-1), P_int(-1), P_int(flags))


OBJECT_DTYPE = P_dtype("O8", plain_state("|", 63))


def P_array(dtype, shape, data):
    """_reconstruct(ndarray, (0,), b'b') with state (1, shape, dtype, False, data)."""
    return (RECONSTRUCT + P_tuple(P_global("numpy", "ndarray"), P_tuple(P_int(0)),
                                  P_bytes(b"b")) + REDUCE +
            P_tuple(P_int(1), P_tuple(*map(P_int, shape)), dtype, FALSE, data) + BUILD)


def pickle_stream(body, proto=3):
    return b"\x80" + bytes([proto]) + body + b"."


def npy(header_descr, shape, payload):
    fp = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        fp, {"descr": header_descr, "fortran_order": False, "shape": shape})
    return fp.getvalue() + payload


def write_npz(path, x, y=None, compress=False):
    """x, y: the .npy bytes of x_train/x_test and y_train/y_test."""
    if y is None:
        buf = io.BytesIO()
        np.save(buf, np.zeros(1, np.int64))
        y = buf.getvalue()
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as z:
        for k in ("x_train", "x_test"):
            z.writestr(k + ".npy", x)
        for k in ("y_train", "y_test"):
            z.writestr(k + ".npy", y)
    return path


def x_member(body, shape=(1,), proto=3):
    return npy("|O", shape, pickle_stream(body, proto))


# ---- the crafted files ------------------------------------------------------------------

def forged_object_field(flags):
    """Finding 9: a void dtype whose state declares an object field over 8 file bytes,
    with flags that hide it (0) or not (63): NumPy copies the bytes as data, and
    reading the item dereferences 0x4141414141414141."""
    state = (P_int(3), P_str("|"), NONE, P_tuple(P_str("a")),
             P_dict((P_str("a"), P_tuple(OBJECT_DTYPE, P_int(0)))), P_int(8), P_int(1),
             P_int(flags))
    return x_member(P_array(P_dtype("V8", state), (1,), P_bytes(b"\x41" * 8)))


def object_field_in_plain_name():
    """A dtype named like a plain one ('i8') whose state adds an object field."""
    state = (P_int(3), P_str("<"), NONE, P_tuple(P_str("a")),
             P_dict((P_str("a"), P_tuple(OBJECT_DTYPE, P_int(0)))), P_int(8), P_int(1),
             P_int(0))
    return x_member(P_array(P_dtype("i8", state), (1,), P_bytes(b"\x41" * 8)))


def object_subarray():
    """A subarray of two objects over 16 file bytes (flags 0 hide the objects)."""
    state = (P_int(3), P_str("|"), P_tuple(OBJECT_DTYPE, P_tuple(P_int(2))), NONE, NONE,
             P_int(16), P_int(8), P_int(0))
    return x_member(P_array(P_dtype("V16", state), (1,), P_bytes(b"\x41" * 16)))


def object_flags_on_int():
    """'i8' with the object flags (63): would NumPy treat its bytes as pointers?"""
    return x_member(P_array(P_dtype("i8", plain_state("<", 63)), (1,),
                            P_list(P_list(P_int(1)))))


def int_flags_on_object():
    """'O8' with flags 0: an object dtype that claims not to hold objects."""
    return x_member(P_array(P_dtype("O8", plain_state("|", 0)), (1,),
                            P_bytes(b"\x41" * 8)))


def structured_dtype():
    """A structured (no object) dtype where the header says object."""
    i8 = P_dtype("i8", plain_state("<", 0))
    state = (P_int(3), P_str("|"), NONE, P_tuple(P_str("a")),
             P_dict((P_str("a"), P_tuple(i8, P_int(0)))), P_int(8), P_int(1), P_int(0))
    return x_member(P_array(P_dtype("V8", state), (1,), P_bytes(b"\x41" * 8)))


def structured_header():
    """The .npy header itself declares a structured dtype with an object field."""
    return npy([("a", "|O")], (1,), pickle_stream(P_array(OBJECT_DTYPE, (1,),
                                                          P_list(P_list(P_int(1))))))


def scalar_with_forged_dtype():
    """numpy's scalar(dtype, bytes), which the old reader allowed, with a forged dtype."""
    state = (P_int(3), P_str("|"), NONE, P_tuple(P_str("a")),
             P_dict((P_str("a"), P_tuple(OBJECT_DTYPE, P_int(0)))), P_int(8), P_int(1),
             P_int(0))
    scalar = (P_global("numpy._core.multiarray", "scalar") +
              P_tuple(P_dtype("V8", state), P_bytes(b"\x41" * 8)) + REDUCE)
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(scalar)))


def os_system(marker):
    """GLOBAL posix.system (what pickling os.system writes), called with a command."""
    call = P_global("posix", "system") + P_tuple(P_str("touch " + marker)) + REDUCE
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(call)))


def builtins_exec(marker):
    """REDUCE of builtins.exec with Python code that would create the marker."""
    code = "open(%r, 'w').close()" % marker
    call = P_global("builtins", "exec") + P_tuple(P_str(code)) + REDUCE
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(call)))


def getattr_gadget(marker):
    """builtins.getattr(numpy.dtype, ...) to reach something callable through an
    allowed name."""
    call = (P_global("builtins", "getattr") + P_tuple(P_global("numpy", "dtype"),
                                                       P_str("__class__")) + REDUCE)
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(call)))


def build_on_allowed_global(marker):
    """BUILD (state with slot values) on an allowed global, to overwrite its attributes."""
    body = RECONSTRUCT + P_tuple(P_dict((P_str("__doc__"), P_str("x"))),
                                 P_dict((P_str("__defaults__"), P_tuple(P_int(1))))) + BUILD
    return x_member(body)


def huge_shape():
    """An array state that claims 2**40 items (NumPy would allocate by the claim)."""
    return x_member(P_array(OBJECT_DTYPE, (1 << 20, 1 << 20), P_list(P_list(P_int(1)))),
                    shape=(1 << 20, 1 << 20))


def huge_reconstruct_shape():
    """_reconstruct(ndarray, (2**40,), b'b'): a terabyte allocation by claim."""
    body = (RECONSTRUCT + P_tuple(P_global("numpy", "ndarray"), P_tuple(P_int(1 << 30) +
                                  b"J" + struct.pack("<i", 1 << 10)), P_bytes(b"b")) + REDUCE)
    return x_member(body)


def huge_bytes_claim():
    """BINBYTES8 claiming 2**62 bytes (the unpickler allocates by the claim)."""
    return x_member(b"\x8e" + struct.pack("<Q", 1 << 62) + b"\x41" * 16, proto=4)


def huge_list_by_reference():
    """One list of 20000 ints put 20000 times into the array by memo reference:
    4e8 numbers from a 200 kB pickle (quadratic blow-up in whoever walks it)."""
    row = b"]q\x00(" + b"K\x01" * 20000 + b"e"          # EMPTY_LIST, BINPUT 0, APPENDS
    items = b"(" + row + b"h\x00" * 19999 + b"e"         # BINGET 0 repeated
    return x_member(P_array(OBJECT_DTYPE, (20000,), b"]" + items), shape=(20000,))


def huge_numeric_header():
    """y_train's header claims 2**40 int64 values over 8 bytes of data."""
    return npy("<i8", (1 << 40,), b"\x00" * 8)


def deep_nesting():
    """A list nested 300,000 deep as an item (recursion in whoever walks it)."""
    n = 300_000
    nested = b"]" * n + b"a" * (n - 1)
    return x_member(P_array(OBJECT_DTYPE, (1,), b"]" + b"(" + nested + b"e"))


def deep_tuples():
    """Tuples nested 300,000 deep as the array's items."""
    n = 300_000
    return x_member(P_array(OBJECT_DTYPE, (1,), b"(" * n + b"t" * n))


def zip_bomb():
    """A genuine-looking array of 20 million zeros (40 MB of pickle) deflated to a
    member of about 40 kB."""
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(b"]" + (b"(" + b"K\x00" * 1000 +
                                                                b"e") * 20000)))


def not_an_array():
    """A pickle of a plain list where the header says an object array."""
    return x_member(P_list(P_list(P_int(1))))


def float_items():
    """Items that are lists of floats, not ints."""
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(P_list(b"G" + struct.pack(">d", 1.5)))))


def object_array_in_object_array():
    """An object array nested as an item (deeper than a genuine file goes)."""
    inner = P_array(OBJECT_DTYPE, (1,), P_list(P_list(P_int(1))))
    return x_member(P_array(OBJECT_DTYPE, (1,), P_list(inner)))


def dtype_state_twice():
    """BUILD twice on one dtype: a valid state first, then a forged one."""
    state = (P_int(3), P_str("|"), NONE, P_tuple(P_str("a")),
             P_dict((P_str("a"), P_tuple(OBJECT_DTYPE, P_int(0)))), P_int(8), P_int(1),
             P_int(0))
    dt = P_dtype("O8", plain_state("|", 63)) + P_tuple(*state) + BUILD
    return x_member(P_array(dt, (1,), P_list(P_list(P_int(1)))))


def memo_index_bomb():
    """A 6-byte LONG_BINPUT with index 2**30: CPython's unpickler allocates and zeroes a
    memo of 2**31 pointers (16 GiB) for it."""
    return x_member(P_list() + b"r" + struct.pack("<I", 1 << 30))


def frame_claim():
    """A protocol-4 FRAME claiming 2**60 bytes."""
    return x_member(b"\x95" + struct.pack("<Q", 1 << 60) + P_list(), proto=4)


def string_claim():
    """A BINUNICODE claiming 4 GiB - 1 in a kilobyte file."""
    return x_member(b"X" + struct.pack("<I", (1 << 32) - 1) + b"\x41" * 16)


def persistent_id():
    """BINPERSID: asks the reader for an object by id."""
    return x_member(P_str("x") + b"Q")


def newobj_of_allowed_global():
    """NEWOBJ on an allowed name, to make the object without calling it."""
    return x_member(P_global("numpy", "ndarray") + b")" + b"\x81")


EMPTY_DICT = r"uses EMPTY_DICT \(b'}'\) at byte \d+, which pickle never writes"
SCAN = "scan"       # the opcode check refuses it; the rest is checked without that check

# name -> (builder(marker) -> (x member, y member or None, compressed),
#          what the message says,
#          what it says when the opcode check is skipped (the unpickler's own checks))
HOSTILE = {
    "forged_object_field_flags0": (lambda m: (forged_object_field(0), None, False),
                                   EMPTY_DICT, r"numpy\.dtype\('V8'\), which is not a plain"),
    "forged_object_field_flags16": (lambda m: (forged_object_field(16), None, False),
                                    EMPTY_DICT, r"numpy\.dtype\('V8'\), which is not a plain"),
    "forged_object_field_flags63": (lambda m: (forged_object_field(63), None, False),
                                    EMPTY_DICT, r"numpy\.dtype\('V8'\), which is not a plain"),
    "object_field_in_plain_name": (lambda m: (object_field_in_plain_name(), None, False),
                                   EMPTY_DICT, r"declares a subarray or fields"),
    "object_subarray": (lambda m: (object_subarray(), None, False), r"numpy\.dtype\('V16'\)",
                        None),
    "object_flags_on_int": (lambda m: (object_flags_on_int(), None, False),
                            r"has flags 63; NumPy writes 0", None),
    "int_flags_on_object": (lambda m: (int_flags_on_object(), None, False),
                            r"has flags 0; NumPy writes 63", None),
    "structured_dtype": (lambda m: (structured_dtype(), None, False),
                         EMPTY_DICT, r"numpy\.dtype\('V8'\), which is not a plain"),
    "structured_header": (lambda m: (structured_header(), None, False),
                          r"header declares dtype .*structured dtype with object fields", None),
    "scalar_with_forged_dtype": (lambda m: (scalar_with_forged_dtype(), None, False),
                                 EMPTY_DICT, r"asks for numpy\._core\.multiarray\.scalar"),
    "os_system": (lambda m: (os_system(m), None, False), r"asks for posix\.system", None),
    "builtins_exec": (lambda m: (builtins_exec(m), None, False), r"asks for builtins\.exec",
                      None),
    "getattr_gadget": (lambda m: (getattr_gadget(m), None, False),
                       r"asks for builtins\.getattr", None),
    "build_on_allowed_global": (lambda m: (build_on_allowed_global(m), None, False),
                                EMPTY_DICT,
                                r"sets the state of numpy\.core\.multiarray\._reconstruct"),
    "newobj_of_allowed_global": (lambda m: (newobj_of_allowed_global(), None, False),
                                 r"uses NEWOBJ \(b'\\x81'\)", r"NEWOBJ class argument"),
    "persistent_id": (lambda m: (persistent_id(), None, False), r"uses BINPERSID \(b'Q'\)",
                      r"asks for a persistent object"),
    "dtype_state_twice": (lambda m: (dtype_state_twice(), None, False),
                          EMPTY_DICT, r"sets the state of numpy\.dtype\('O8'\) twice"),
    "huge_shape": (lambda m: (huge_shape(), None, False),
                   r"object array of shape \(1048576, 1048576\) has a list as its items, "
                   r"not a list of 1099511627776", None),
    "huge_reconstruct_shape": (lambda m: (huge_reconstruct_shape(), None, False),
                               r"calls _reconstruct with arguments other than", None),
    "huge_bytes_claim": (lambda m: (huge_bytes_claim(), None, False),
                         r"uses BINBYTES8 \(b'\\x8e'\)",
                         r"a length in the pickle asks for more memory than there is"),
    "string_claim": (lambda m: (string_claim(), None, False),
                     r"BINUNICODE \(b'X'\) at byte \d+ claims 4294967295 bytes; the pickle "
                     r"has 17 left", r"UnpicklingError: pickle data was truncated"),
    "frame_claim": (lambda m: (frame_claim(), None, False),
                    r"a FRAME at byte \d+ claims more bytes than the pickle has",
                    r"UnpicklingError: pickle data was truncated"),
    "memo_index_bomb": (lambda m: (memo_index_bomb(), None, False),
                        r"stores memo entry 1073741824 at byte \d+ after only 0 entries",
                        r"asks for more memory than there is"),
    "huge_list_by_reference": (lambda m: (huge_list_by_reference(),
                                          npy("<i8", (20000,), bytes(8 * 20000)), False),
                               r"more numbers than its \d+ bytes of pickle can", None),
    "huge_numeric_header": (lambda m: (None, huge_numeric_header(), False),
                            r"y_train\.npy declares shape \(1099511627776,\) of int64 "
                            r"\(8796093022208 bytes\) but holds 8 bytes", None),
    "deep_nesting": (lambda m: (deep_nesting(), None, False),
                     r"item 0 of the object array is a list of something other than int64",
                     None),
    "deep_tuples": (lambda m: (deep_tuples(), None, False), r"has a tuple as its items", None),
    "zip_bomb": (lambda m: (zip_bomb(), None, True), r"expands to more than \d+ bytes", None),
    "not_an_array": (lambda m: (not_an_array(), None, False),
                     r"the pickle holds a list, not an array", None),
    "float_items": (lambda m: (float_items(), None, False), r"uses BINFLOAT \(b'G'\)",
                    r"list of something other than int64 integers"),
    "object_array_in_object_array": (lambda m: (object_array_in_object_array(), None, False),
                                     r"item 0 of the object array is an array", None),
}

# Runs in a fresh interpreter limited to 4 GiB of address space: prints the outcome as
# JSON; a crash shows as a negative return code. "no-scan" skips the opcode check, to
# test what the unpickler and the array checks refuse on their own.
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    sys.path.insert(0, sys.argv[2])
    from pygru.data import imdb, load_imdb_npz
    if sys.argv[3] == "no-scan":
        imdb._check_opcodes = lambda buf, pos: None
    try:
        load_imdb_npz(sys.argv[1])
        print(json.dumps(["returned", ""]))
    except BaseException as exc:
        print(json.dumps([type(exc).__name__, str(exc)]))
""")


def load_in_subprocess(path, mode="full", timeout=120):
    root = os.path.dirname(os.path.dirname(pygru.__file__))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), root, mode],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, ("the reader crashed (return code %d) on %s:\n%s"
                                  % (proc.returncode, path, proc.stderr[-2000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name,mode", [(n, "full") for n in sorted(HOSTILE)] +
                         [(n, "no-scan") for n in sorted(HOSTILE) if HOSTILE[n][2]])
def test_crafted_npz_raises_valueerror_without_crashing_or_running_code(tmp_path, name,
                                                                         mode):
    builder, why, why_no_scan = HOSTILE[name]
    if mode == "no-scan":
        why = why_no_scan
    marker = str(tmp_path / "code-ran")
    x, y, compress = builder(marker)
    if x is None:
        x = x_member(P_array(OBJECT_DTYPE, (1,), P_list(P_list(P_int(1)))))
    path = write_npz(tmp_path / (name + ".npz"), x, y, compress)
    kind, message = load_in_subprocess(path, mode)
    assert not os.path.exists(marker), "code from the file ran"
    assert kind == "ValueError", (kind, message[:2000])
    assert str(path) in message
    if "x_train" in message:   # refusing a pickle says how to read a file one trusts
        assert "allow_pickle=True only if you trust" in message
    assert re.search(why, message), message[:2000]


def test_forged_dtype_is_what_numpy_itself_refuses(tmp_path):
    """np.load(allow_pickle=False) refuses the file; the crafted file really is the
    crash: np.load(allow_pickle=True) dies on reading its item (in a subprocess)."""
    path = write_npz(tmp_path / "forged.npz", forged_object_field(0))
    with np.load(path, allow_pickle=False) as f, pytest.raises(ValueError, match="pickle"):
        f["x_train"]
    crash = textwrap.dedent("""
        import sys, numpy as np
        with np.load(sys.argv[1], allow_pickle=True) as f:
            print(repr(f["x_train"][0]))
    """)
    proc = subprocess.run([sys.executable, "-c", crash, str(path)], capture_output=True,
                          timeout=120)
    assert proc.returncode < 0, "the crafted file no longer forges a pointer"


# ---- genuine files still load -----------------------------------------------------------

def _rows(rng, n, dtype=None):
    out = np.empty(n, dtype=object)
    for i in range(n):
        row = [int(w) for w in rng.integers(1, 5000, rng.integers(0, 30))]
        out[i] = np.asarray(row, dtype) if dtype else row
    return out


def _check_same_as_numpy(path):
    """load_imdb_npz without pickle == np.load with pickle (shuffled the same way)."""
    ours = load_imdb_npz(path, seed=7, start_char=None, index_from=0)
    rng = np.random.RandomState(7)
    with np.load(path, allow_pickle=True) as f:
        for (x, y), split in zip(ours, ("train", "test")):
            perm = np.arange(len(f["x_" + split]))
            rng.shuffle(perm)
            ref_x, ref_y = f["x_" + split][perm], f["y_" + split][perm]
            assert [list(map(int, s)) for s in x] == [list(map(int, s)) for s in ref_x]
            np.testing.assert_array_equal(y, ref_y)
            assert y.dtype == ref_y.dtype


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("item_dtype", [None, np.int64, np.int32, ">i4", np.uint16])
def test_genuine_npz_files_load_without_pickle(tmp_path, compress, item_dtype):
    rng = np.random.default_rng(3)
    path = tmp_path / "imdb.npz"
    save = np.savez_compressed if compress else np.savez
    save(path, x_train=_rows(rng, 50, item_dtype), y_train=rng.integers(0, 2, 50),
         x_test=_rows(rng, 40, item_dtype), y_test=rng.integers(0, 2, 40).astype(np.uint8))
    _check_same_as_numpy(path)


def test_numpy1_python2_style_pickle_loads(tmp_path):
    """Protocol 2 as NumPy 1 under Python 2 wrote it: numpy.core.multiarray, str (not
    bytes) typecode and dtype name, int (not bool) dtype arguments, BININT1/2 items."""
    def s(text):
        return b"U" + bytes([len(text)]) + text.encode()          # SHORT_BINSTRING

    def k(v):
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)

    dtype = (P_global("numpy", "dtype") + P_tuple(s("O8"), k(0), k(1)) + REDUCE +
             P_tuple(k(3), s("|"), NONE, NONE, NONE, P_int(-1), P_int(-1), k(63)) + BUILD)
    rows = [[1, 14, 22, 300], [], [9, 65535]]
    items = P_list(*[P_list(*map(k, r)) for r in rows])
    body = (P_global("numpy.core.multiarray", "_reconstruct") +
            P_tuple(P_global("numpy", "ndarray"), P_tuple(k(0)), s("b")) + REDUCE +
            P_tuple(k(1), P_tuple(k(3)), dtype, FALSE, items) + BUILD)
    y = io.BytesIO()
    np.save(y, np.array([1, 0, 1], np.int64))
    path = write_npz(tmp_path / "py2.npz", npy("|O", (3,), pickle_stream(body, proto=2)),
                     y.getvalue())
    _check_same_as_numpy(path)
    with np.load(path, allow_pickle=True) as f:   # the crafting is what NumPy reads
        assert [list(r) for r in f["x_train"]] == rows
