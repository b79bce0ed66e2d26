"""pygru.data.imdb - reading the IMDB movie-review sentiment data from local files
(nothing is downloaded): Keras' preprocessed imdb.npz (+ imdb_word_index.json), and
the Stanford aclImdb/ folder of raw review texts.

Guarantees:
  * load_imdb_npz returns what keras.datasets.imdb.load_data returns for the same
    file and arguments -- the same shuffle (numpy RandomState(seed)), start, index
    shift, maxlen filter, num_words/skip_top cut and OOV replacement -- with the two
    differences stated in its docstring (x is always a 1-D object array, and
    num_words=None keeps every word);
  * reading an .npz never runs code from the file, nor trusts its pickled data, unless
    allow_pickle=True is passed: the pickle's opcodes are first checked against those
    pickle writes for an object array (no dicts, sets, floats, NEWOBJ, persistent ids;
    every length and memo index within the file), then the ragged object arrays are
    rebuilt by an unpickler that hands the file nothing real (only stand-ins for
    numpy.dtype, ndarray and _reconstruct), checks every dtype and array state against
    what NumPy writes for a 1-D object array of lists of ints (or of plain numeric
    arrays), and caps sizes against the file's; numeric members must have a plain
    numeric dtype and exactly the bytes their header declares. Anything else raises
    ValueError saying why;
  * load_aclimdb builds its Vocabulary on the training split only, and returns the
    same result for the same folder and arguments (files are read in sorted order,
    then shuffled by numpy.random.default_rng(seed));
  * a wrong path or layout raises FileNotFoundError or ValueError naming the path and
    what is missing or wrong.
"""
import hashlib
import io
import json
import numbers
import os
import pickle
import re
import zipfile

import numpy as np

from .batching import _check_int, _check_seed
from .text import Vocabulary, tokenize

__all__ = ["load_imdb_npz", "load_imdb_word_index", "read_aclimdb", "load_aclimdb",
           "KERAS_IMDB_SHA256"]

#: sha256 of Keras' imdb.npz (the file_hash keras.datasets.imdb.load_data checks)
KERAS_IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


# ---- reading .npy members without trusting pickled data ---------------------------------
#
# x_* are ragged, so NumPy stores them as a pickle of the whole object array. Unpickling
# lets the file call whatever callables find_class hands out, and NumPy's own
# dtype.__setstate__ and ndarray.__setstate__ trust their state: a forged dtype state
# can declare an object field over plain bytes, and those bytes then become object
# pointers (a crash, or worse). So nothing real is handed out: find_class gives inert
# stand-ins for exactly the three names a genuine file uses, they only record what the
# pickle asks for, and every record is checked against what NumPy itself writes for a
# 1-D object array of lists of ints (or of plain numeric arrays) before one array is
# built here, by our code, from validated parts. Before any of that, _check_opcodes
# walks the stream: the C unpickler itself trusts lengths and memo indexes.

# np.dtype(...).__reduce__() gives (dtype, (name, False, True), state); these names are
# the plain dtypes a genuine file can hold ('O8'/'O4': object, on 64/32-bit builds).
_PLAIN_DTYPE_NAMES = frozenset(["O8", "O4", "b1", "i1", "i2", "i4", "i8", "u1", "u2",
                                "u4", "u8", "f2", "f4", "f8"])
_RECONSTRUCT_MODULES = frozenset(["numpy.core.multiarray", "numpy._core.multiarray"])
_PLAIN_KINDS = "biuf"     # bool, signed, unsigned, float: what a numeric member may be
_MAX_NDIM = 32            # NumPy's own limit (64 in NumPy 2; no genuine file needs more)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_MAX_EXPANSION = 64       # how many times its size in the .npz a member may expand to


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something a genuine NumPy object array never needs."""


class _Inert:
    """What find_class hands out: no state may be set on it (BUILD is refused)."""
    __slots__ = ()

    def __setstate__(self, state):
        raise _Refused("the pickle sets the state of %s, which a genuine array never does"
                       % self)


class _NdarrayName(_Inert):
    __slots__ = ()

    def __str__(self):
        return "numpy.ndarray (the class)"


class _Maker(_Inert):
    """A stand-in for numpy.dtype or _reconstruct: calling it checks the arguments and
    returns a record (_DtypeRecord / _ArrayRecord), never a real object."""
    __slots__ = ("name", "make")

    def __init__(self, name, make):
        self.name, self.make = name, make

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise _Refused("the pickle calls %s with keyword arguments" % self.name)
        return self.make(*args)

    def __str__(self):
        return self.name


def _is_int(value, *allowed):
    return type(value) is int and (not allowed or value in allowed)


def _is_flag(value, expected):
    # NumPy 2 writes False/True; NumPy 1 and Python 2 files have 0/1
    return type(value) in (bool, int) and value == expected


class _DtypeRecord(_Inert):
    __slots__ = ("name", "dtype")

    def __init__(self, name):
        self.name, self.dtype = name, None

    def __str__(self):
        return "numpy.dtype(%r)" % self.name

    def __setstate__(self, state):
        if self.dtype is not None:
            raise _Refused("the pickle sets the state of %s twice" % self)
        # what NumPy writes for a plain dtype: (3, byteorder, None, None, None, -1, -1,
        # flags). Subarray, field names, fields, itemsize, alignment and flags other
        # than those of the plain dtype are what forges object fields: refused.
        if type(state) is not tuple or len(state) != 8 or not _is_int(state[0], 3):
            raise _Refused("the state of %s is not the one NumPy writes for a plain "
                           "dtype (a tuple (3, byteorder, None, None, None, -1, -1, "
                           "flags))" % self)
        _, order, subarray, names, fields, itemsize, alignment, flags = state
        if not (subarray is None and names is None and fields is None):
            raise _Refused("the state of %s declares a subarray or fields (a structured "
                           "dtype, which can place object pointers over file bytes)" % self)
        plain = np.dtype(self.name)
        orders = ("|",) if plain.itemsize == 1 or plain.kind == "O" else ("<", ">")
        if type(order) is not str or order not in orders:
            raise _Refused("the state of %s has byte order %s; NumPy writes %s"
                           % (self, _describe(order), " or ".join(map(repr, orders))))
        if not (_is_int(itemsize, -1) and _is_int(alignment, -1)):
            raise _Refused("the state of %s sets an item size or alignment, which NumPy "
                           "writes only for structured dtypes" % self)
        if not _is_int(flags, plain.flags):
            raise _Refused("the state of %s has flags %s; NumPy writes %d for this dtype "
                           "(flags decide whether items are object pointers)"
                           % (self, _describe(flags), plain.flags))
        self.dtype = np.dtype(object) if plain.kind == "O" else np.dtype(order + self.name)


class _ArrayRecord(_Inert):
    __slots__ = ("shape", "dtype", "fortran", "data")

    def __init__(self):
        self.shape = self.dtype = self.fortran = self.data = None

    def __str__(self):
        return "an array"

    def __setstate__(self, state):
        if self.shape is not None:
            raise _Refused("the pickle sets the state of an array twice")
        # what ndarray.__reduce__ writes: (1, shape, dtype, is_fortran, data), data a list
        # for object arrays and the raw bytes otherwise
        if type(state) is not tuple or len(state) != 5 or not _is_int(state[0], 1):
            raise _Refused("the state of an array is not the one NumPy writes (a tuple "
                           "(1, shape, dtype, is_fortran, data))")
        _, shape, dtype, fortran, data = state
        if (type(shape) is not tuple or len(shape) > _MAX_NDIM
                or not all(type(n) is int and 0 <= n <= _INT64[1] for n in shape)):
            raise _Refused("an array's shape is not a tuple of at most %d sizes in 0..2**63-1"
                           % _MAX_NDIM)
        if type(dtype) is not _DtypeRecord or dtype.dtype is None:
            raise _Refused("an array's dtype is %s, not a dtype NumPy wrote"
                           % _describe(dtype))
        if not (_is_flag(fortran, 0) or _is_flag(fortran, 1)):
            raise _Refused("an array's is_fortran is %s, not a bool" % _describe(fortran))
        size = 1
        for n in shape:
            size *= n
        if dtype.dtype.kind == "O":
            if type(data) is not list or len(data) != size:
                raise _Refused("an object array of shape %s has %s as its items, not a "
                               "list of %d" % (shape, _describe(data), size))
        elif type(data) is not bytes or len(data) != size * dtype.dtype.itemsize:
            raise _Refused("a %s array of shape %s has %s as its data, not %d bytes"
                           % (dtype.dtype, shape, _describe(data), size * dtype.dtype.itemsize))
        self.shape, self.dtype, self.fortran, self.data = shape, dtype.dtype, bool(fortran), data


def _describe(value):
    """Names what value is without repr (which could recurse or be huge)."""
    if type(value) in (int, bool) or value is None:
        return repr(value) if type(value) is not int or abs(value) < 1 << 64 else "a huge int"
    if type(value) is str and len(value) <= 16:
        return repr(value)
    if isinstance(value, _Inert):
        return str(value)
    return "a %s" % type(value).__name__


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def __init__(self, fp):
        super().__init__(fp)   # encoding="ASCII", as np.load: Python 2 files read too
        self._names = {("numpy", "ndarray"): _NdarrayName(),
                       ("numpy", "dtype"): _Maker("numpy.dtype", self._dtype)}
        reconstruct = _Maker("numpy.core.multiarray._reconstruct", self._reconstruct)
        for module in _RECONSTRUCT_MODULES:
            self._names[(module, "_reconstruct")] = reconstruct

    def find_class(self, module, name):
        try:
            return self._names[(module, name)]
        except (KeyError, TypeError):
            raise _Refused("the pickle asks for %s.%s, which is not a part of a NumPy "
                           "array" % (module, name)) from None

    def persistent_load(self, pid):
        raise _Refused("the pickle asks for a persistent object")

    def _dtype(self, name=None, align=None, copy=None, *rest):
        if rest or type(name) is not str or name not in _PLAIN_DTYPE_NAMES:
            raise _Refused("the pickle makes numpy.dtype(%s), which is not a plain "
                           "numeric or object dtype" % _describe(name))
        if not (_is_flag(align, 0) and _is_flag(copy, 1)):
            raise _Refused("the pickle makes numpy.dtype(%r) with arguments NumPy does not "
                           "write" % name)
        return _DtypeRecord(name)

    def _reconstruct(self, cls=None, shape=None, typecode=None, *rest):
        # ndarray.__reduce__ writes _reconstruct(ndarray, (0,), b'b'); Python 2 files 'b'
        if (rest or type(cls) is not _NdarrayName or type(shape) is not tuple
                or len(shape) != 1 or not _is_int(shape[0], 0)
                or type(typecode) not in (bytes, str) or typecode not in (b"b", "b")):
            raise _Refused("the pickle calls _reconstruct with arguments other than "
                           "(numpy.ndarray, (0,), b'b')")
        return _ArrayRecord()


# ---- the opcodes a genuine pickle uses, checked before the unpickler sees a byte ----------
#
# CPython's C unpickler trusts some numbers in the stream: a memo index of 2**30 in a
# 6-byte LONG_BINPUT makes it allocate and zero 16 GiB. So the stream is first walked
# here, opcode by opcode, the way the unpickler will read it: only the opcodes that
# pickle writes for an object array of lists of ints (protocols 2 to 4, as NumPy 1 and
# 2 under Python 2 and 3 wrote them) are admitted; every length must fit in what is
# left of the stream; a memo index may not exceed the number of memo entries made so
# far. Dicts, sets, floats, persistent ids, extension codes, NEWOBJ, INST/OBJ and the
# 8-byte-length forms never occur in a genuine file and are refused.
_NO_ARG = {ord(c): name for c, name in (
    ("(", "MARK"), (")", "EMPTY_TUPLE"), ("t", "TUPLE"), ("\x85", "TUPLE1"),
    ("\x86", "TUPLE2"), ("\x87", "TUPLE3"), ("]", "EMPTY_LIST"), ("a", "APPEND"),
    ("e", "APPENDS"), ("l", "LIST"), ("R", "REDUCE"), ("b", "BUILD"), ("N", "NONE"),
    ("\x88", "NEWTRUE"), ("\x89", "NEWFALSE"), ("\x93", "STACK_GLOBAL"), ("\x94", "MEMOIZE"))}
_FIXED_ARG = {ord("K"): 1, ord("M"): 2, ord("J"): 4, ord("q"): 1, ord("r"): 4, ord("h"): 1,
              ord("j"): 4, 0x80: 1, 0x95: 8}       # ints, (LONG_)BINPUT/GET, PROTO, FRAME
_COUNTED_ARG = {ord("C"): (1, False), ord("U"): (1, False), 0x8C: (1, False), 0x8A: (1, False),
                ord("B"): (4, False), ord("X"): (4, False), ord("T"): (4, True)}
_PUT, _LONG_PUT, _MEMOIZE, _STOP, _GLOBAL = ord("q"), ord("r"), 0x94, ord("."), ord("c")
_INT_RUN = re.compile(rb"(?:K.|M..|J....)*", re.S)   # the bulk of a genuine file, in C
_MAX_GLOBAL_LINE = 256


def _opcode_name(op):
    for name in dir(pickle):
        value = getattr(pickle, name)
        if name.isupper() and type(value) is bytes and value == bytes([op]):
            return "%s (%r)" % (name, bytes([op]))
    return "byte %r, no opcode" % bytes([op])


def _check_opcodes(buf, pos):
    """Walks the pickle in buf from pos to its STOP; raises _Refused at the first opcode
    or argument a genuine file does not have."""
    end, puts, skip_ints = len(buf), 0, _INT_RUN.match
    while True:
        pos = skip_ints(buf, pos).end()
        if pos >= end:
            raise _Refused("the pickle ends without STOP (truncated)")
        op, at = buf[pos], pos
        pos += 1
        if op in _NO_ARG:
            puts += op == _MEMOIZE
            continue
        if op == _STOP:
            return
        if op in _FIXED_ARG:
            size = _FIXED_ARG[op]
            if pos + size > end:
                raise _Refused("the pickle ends inside an opcode (truncated)")
            if op in (_PUT, _LONG_PUT):
                index = int.from_bytes(buf[pos:pos + size], "little")
                if index > puts:
                    raise _Refused("the pickle stores memo entry %d at byte %d after only "
                                   "%d entries (the unpickler would allocate by the index)"
                                   % (index, at, puts))
                puts += 1
            elif op == 0x95 and int.from_bytes(buf[pos:pos + 8], "little") > end - pos - 8:
                raise _Refused("a FRAME at byte %d claims more bytes than the pickle has" % at)
            pos += size
        elif op in _COUNTED_ARG:
            size, signed = _COUNTED_ARG[op]
            if pos + size > end:
                raise _Refused("the pickle ends inside an opcode (truncated)")
            length = int.from_bytes(buf[pos:pos + size], "little", signed=signed)
            pos += size
            if not 0 <= length <= end - pos:
                raise _Refused("%s at byte %d claims %d bytes; the pickle has %d left"
                               % (_opcode_name(op), at, length, end - pos))
            pos += length
        elif op == _GLOBAL:
            for _ in range(2):   # module and name, each a line
                nl = buf.find(b"\n", pos, pos + _MAX_GLOBAL_LINE + 1)
                if nl < 0:
                    raise _Refused("a GLOBAL at byte %d has no name line of at most %d bytes"
                                   % (at, _MAX_GLOBAL_LINE))
                pos = nl + 1
        else:
            raise _Refused("the pickle uses %s at byte %d, which pickle never writes for a "
                           "NumPy object array of lists of ints" % (_opcode_name(op), at))


def _build_object_array(record, budget):
    """The object array a validated _ArrayRecord describes. Its items must be lists of
    ints in int64 range or plain numeric arrays (no deeper nesting); budget caps the
    total number of numbers, so lists the pickle repeats by reference cannot multiply
    the work (a genuine file spends at least one byte per number)."""
    if type(record) is not _ArrayRecord or record.shape is None:
        raise _Refused("the pickle holds %s, not an array with its state"
                       % _describe(record))
    if record.dtype.kind != "O":
        raise _Refused("the pickle holds a %s array where the header says object"
                       % record.dtype)
    out = np.empty(len(record.data), dtype=object)
    total = 0
    for i, item in enumerate(record.data):
        if type(item) is list:
            if item and not (set(map(type, item)) == {int}
                             and _INT64[0] <= min(item) and max(item) <= _INT64[1]):
                raise _Refused("item %d of the object array is a list of something other "
                               "than int64 integers" % i)
            total += len(item)
        elif type(item) is _ArrayRecord and item.shape is not None and item.dtype.kind != "O":
            total += len(item.data) // max(item.dtype.itemsize, 1)
            item = np.frombuffer(item.data, item.dtype).reshape(
                item.shape, order="F" if item.fortran else "C").copy()
        else:
            raise _Refused("item %d of the object array is %s; a genuine file holds lists "
                           "of ints (or numeric arrays)" % (i, _describe(item)))
        if total > budget:
            raise _Refused("the object array's items hold more numbers than its %d bytes "
                           "of pickle can (lists repeated by reference)" % budget)
        out[i] = item
    return out.reshape(record.shape, order="F" if record.fortran else "C")


def _read_header(fp, path, member):
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version[0] in (2, 3):
        # format 3.0 differs from 2.0 only in the header's text encoding (UTF-8)
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError("%s: member %s has an unsupported .npy version %d.%d"
                         % (path, member, version[0], version[1]))
    return shape, fortran, dtype


def _read_npy_member(archive, member, path, allow_pickle, max_bytes):
    """One .npy member of the .npz. With allow_pickle=False nothing pickled is trusted:
    numeric members must have a plain numeric dtype and exactly the bytes their header
    declares; object members are rebuilt by _ArrayOnlyUnpickler and checked."""
    with archive.open(member) as raw:
        data = raw.read(max_bytes + 1 if max_bytes is not None else -1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError("%s: member %s expands to more than %d bytes, more than a genuine "
                         "file of this size holds (pass allow_pickle=True only if you trust "
                         "this file)" % (path, member, max_bytes))
    fp = io.BytesIO(data)
    try:
        shape, fortran, dtype = _read_header(fp, path, member)
    except ValueError as exc:
        if str(exc).startswith(path):
            raise
        raise ValueError("%s: member %s has no valid .npy header (%s)"
                         % (path, member, exc)) from None
    if allow_pickle:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=True)
    if not dtype.hasobject:
        if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype:
            raise ValueError("%s: member %s has dtype %s; without allow_pickle only plain "
                             "numeric members (bool, int, float) are read"
                             % (path, member, dtype))
        size = 1
        for n in shape:
            size *= n
        body = data[fp.tell():]
        if len(body) != size * dtype.itemsize:
            raise ValueError("%s: member %s declares shape %s of %s (%d bytes) but holds %d "
                             "bytes of data" % (path, member, shape, dtype,
                                                size * dtype.itemsize, len(body)))
        return np.frombuffer(body, dtype).reshape(shape, order="F" if fortran else "C").copy()
    try:
        if dtype != np.dtype(object):
            raise _Refused("its header declares dtype %s, a structured dtype with object "
                           "fields" % (dtype,))
        budget = len(data) - fp.tell()        # the pickle's size in bytes
        _check_opcodes(data, fp.tell())
        record = _ArrayOnlyUnpickler(fp).load()
        arr = _build_object_array(record, budget)
        if arr.shape != shape:
            raise _Refused("its header declares shape %s but the pickle holds shape %s"
                           % (shape, arr.shape))
    except Exception as exc:   # _Refused, and UnpicklingError, EOFError, ... of a broken stream
        if isinstance(exc, _Refused):
            why = str(exc)
        elif isinstance(exc, MemoryError):
            why = "a length in the pickle asks for more memory than there is (MemoryError)"
        else:
            why = "%s: %s" % (type(exc).__name__, exc)
        raise ValueError(
            "%s: member %s could not be read as a NumPy object array without running "
            "code from the file (%s). Pass allow_pickle=True only if you trust "
            "this file: unpickling runs whatever code it holds."
            % (path, member, why)) from None
    return arr


def _read_npz(path, allow_pickle):
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError("%s is not an .npz file (not a zip archive)" % path) from None
    # a member may expand (compression) to at most this; a genuine .npz of int lists
    # compresses a few times at most, a zip bomb a thousand times
    max_bytes = None if allow_pickle else _MAX_EXPANSION * os.path.getsize(path) + (1 << 20)
    with archive:
        names = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}
        missing = [k for k in _NPZ_KEYS if k not in names]
        if missing:
            raise ValueError("%s does not hold the IMDB arrays: missing %s (it has: %s)"
                             % (path, ", ".join(missing), ", ".join(sorted(names)) or "none"))
        return {k: _read_npy_member(archive, names[k], path, allow_pickle, max_bytes)
                for k in _NPZ_KEYS}


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- Keras' imdb.npz ----------------------------------------------------------------

def _object_array(rows):
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


def _optional_id(value, name):
    return _check_int(value, name, minimum=0, allow_none=True)


def load_imdb_npz(path, num_words=None, skip_top=0, maxlen=None, start_char=1, oov_char=2,
                  index_from=3, seed=113, allow_pickle=False, sha256=None):
    """Reads Keras' imdb.npz (the file keras.datasets.imdb.load_data downloads to
    ~/.keras/datasets/imdb.npz) with load_data's arguments and results.

    path: the .npz file, holding x_train, y_train, x_test, y_test; x_* are 1-D
      object arrays of lists of word ranks (1 = the most frequent word), y_* 0/1.
    num_words: keep ids < num_words; other words become oov_char (or are dropped
      when oov_char is None). None keeps every word.
    skip_top: ids < skip_top also become oov_char (this applies to start_char too,
      as in Keras).
    maxlen: drop (not truncate) every sequence of maxlen ids or more, start_char
      included, as Keras does; ValueError if a split ends up empty. Use
      pad_sequences(maxlen=...) to truncate instead.
    start_char: the id put first in every sequence (None: none).
    oov_char: the id of cut words (None: cut words are removed).
    index_from: added to every word rank, so ids 0..index_from are free for
      padding, start and OOV (Keras counts ranks from 1: id index_from is unused).
    seed: the train split, then the test split, are shuffled by one
      numpy.random.RandomState(seed), exactly as Keras does (None: unseeded).
    allow_pickle: the x_* arrays are ragged, so NumPy stores them as pickle streams,
      and unpickling can run arbitrary code stored in the file (or, through a forged
      dtype, turn file bytes into object pointers). False (default): they are read
      by a restricted unpickler that admits only what a genuine file holds -- 1-D
      object arrays of lists of int64-range ints (or of plain numeric arrays), with
      dtypes exactly as NumPy writes them -- and nothing from the file runs; anything
      else (code, structured or forged dtypes, sizes the file cannot back, a member
      expanding more than 64 times its file's size) raises ValueError saying why.
      True: plain np.load(allow_pickle=True), which runs any code in the file --
      only for files you trust.
    sha256: if given, the file's sha256 (hex) must equal it before anything is read
      (KERAS_IMDB_SHA256 is the one of Keras' file).

    Returns ((x_train, y_train), (x_test, y_test)) like Keras: x_* 1-D object arrays
    of lists of int, y_* the label arrays from the file (int64 in Keras' file).

    Differences from keras.datasets.imdb.load_data, both deliberate:
      * x_* is always a 1-D object array; Keras' np.array(xs, dtype="object") gives a
        2-D array when every kept sequence has the same length;
      * num_words=None keeps every word, as Keras documents; Keras' code sets
        num_words to the largest id and then keeps ids < num_words, which turns
        that single largest id into oov_char.
    """
    path = os.fspath(path)
    num_words = _check_int(num_words, "num_words", minimum=1, allow_none=True)
    skip_top = _check_int(skip_top, "skip_top", minimum=0)
    maxlen = _check_int(maxlen, "maxlen", minimum=1, allow_none=True)
    start_char = _optional_id(start_char, "start_char")
    oov_char = _optional_id(oov_char, "oov_char")
    index_from = _check_int(index_from, "index_from", minimum=0)
    seed = _check_seed(seed)
    if not isinstance(allow_pickle, bool):
        raise TypeError("allow_pickle must be a bool; got %s" % type(allow_pickle).__name__)
    if not os.path.isfile(path):
        raise FileNotFoundError("%s: no such file (the IMDB .npz that "
                                "keras.datasets.imdb.load_data downloads)" % path)
    if sha256 is not None:
        actual = _sha256(path)
        if actual != str(sha256).lower():
            raise ValueError("%s has sha256 %s, expected %s" % (path, actual, sha256))

    f = _read_npz(path, allow_pickle)
    for split in ("train", "test"):
        x, y = f["x_" + split], f["y_" + split]
        if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
            raise ValueError("%s: x_%s and y_%s must be 1-D with one label per sequence; "
                             "got shapes %s and %s" % (path, split, split, x.shape, y.shape))

    rng = np.random.RandomState(seed)
    splits = []
    for split in ("train", "test"):
        x, y = f["x_" + split], f["y_" + split]
        idx = np.arange(len(x))
        rng.shuffle(idx)
        x, y = x[idx], y[idx]
        shifted = []
        for i, row in enumerate(x):
            try:
                ids = [int(w) + index_from for w in row]
            except (TypeError, ValueError):
                raise ValueError("%s: x_%s[%d] is not a sequence of integers"
                                 % (path, split, int(idx[i]))) from None
            shifted.append(([start_char] if start_char is not None else []) + ids)
        if maxlen is not None:
            keep = [i for i, s in enumerate(shifted) if len(s) < maxlen]
            shifted = [shifted[i] for i in keep]
            y = y[np.asarray(keep, dtype=np.intp)]
        splits.append((shifted, y))
    if maxlen is not None and not (splits[0][0] and splits[1][0]):
        raise ValueError("after dropping the sequences of maxlen=%d ids or more, no "
                         "sequence was left in %s; increase maxlen"
                         % (maxlen, "x_train" if not splits[0][0] else "x_test"))

    def cut(s):
        if oov_char is not None:
            return [w if (skip_top <= w and (num_words is None or w < num_words))
                    else oov_char for w in s]
        return [w for w in s if skip_top <= w and (num_words is None or w < num_words)]

    return tuple((_object_array([cut(s) for s in xs]), y) for xs, y in splits)


def load_imdb_word_index(path):
    """Reads Keras' imdb_word_index.json: {word: rank}, rank 1 = the most frequent
    word (its id in load_imdb_npz's sequences is rank + index_from). Build a
    decoder with text.Vocabulary.from_word_index(...)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError("%s: no such file (Keras' imdb_word_index.json)" % path)
    with open(path, encoding="utf-8") as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError("%s is not a word index: invalid JSON (%s)" % (path, exc)) from None
    if not isinstance(doc, dict):
        raise ValueError("%s is not a word index: expected a JSON object {word: rank}, "
                         "got a %s" % (path, type(doc).__name__))
    for w, r in doc.items():
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1:
            raise ValueError("%s: the rank of %r must be an int >= 1; got %r" % (path, w, r))
    return doc


# ---- Stanford aclImdb/ ------------------------------------------------------------------

_REVIEW_FILE = re.compile(r"^(\d+)_(\d+)\.txt$")
_SPLIT_LAYOUT = "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt"


def _aclimdb_dir(root):
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError("%s: no such directory (expected the aclImdb folder, "
                                "layout %s)" % (root, _SPLIT_LAYOUT))
    inner = os.path.join(root, "aclImdb")
    if not os.path.isdir(os.path.join(root, "train")) and os.path.isdir(inner):
        return inner
    return root


def read_aclimdb(root, split):
    """The raw reviews of one split of the aclImdb folder.

    root: the aclImdb folder (or the folder that contains it). split: 'train' or
    'test'. Reads split/pos/*.txt then split/neg/*.txt, each in increasing order of
    the review id; file names must be <id>_<rating>.txt with ratings 7..10 in pos/
    and 1..4 in neg/ (as in the dataset). Files are UTF-8; undecodable bytes become
    U+FFFD, which tokenize drops. split/unsup and the other files are ignored.

    Returns (texts, labels, ratings): a list of str, and int64 arrays (label 1 = pos).
    """
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'; got %r" % (split,))
    base = _aclimdb_dir(root)
    texts, labels, ratings = [], [], []
    for label, folder, valid in ((1, "pos", range(7, 11)), (0, "neg", range(1, 5))):
        d = os.path.join(base, split, folder)
        if not os.path.isdir(d):
            raise FileNotFoundError("%s: missing folder %s/%s (expected the layout %s)"
                                    % (d, split, folder, _SPLIT_LAYOUT))
        entries = []
        for name in os.listdir(d):
            if not name.endswith(".txt"):
                continue
            m = _REVIEW_FILE.match(name)
            if m is None:
                raise ValueError("%s: review file names must be <id>_<rating>.txt; got %r"
                                 % (d, name))
            rating = int(m.group(2))
            if rating not in valid:
                raise ValueError("%s: %s has rating %d, but %s reviews are rated %d..%d"
                                 % (d, name, rating, folder, valid[0], valid[-1]))
            entries.append((int(m.group(1)), rating, name))
        if not entries:
            raise ValueError("%s holds no review files (<id>_<rating>.txt)" % d)
        entries.sort()
        for _, rating, name in entries:
            with open(os.path.join(d, name), encoding="utf-8", errors="replace") as fh:
                texts.append(fh.read())
            labels.append(label)
            ratings.append(rating)
    return texts, np.asarray(labels, np.int64), np.asarray(ratings, np.int64)


def load_aclimdb(root, num_words=10000, maxlen=None, seed=113, add_start=True,
                 min_count=1):
    """The aclImdb reviews as id sequences, in load_imdb_npz's format.

    Every review is tokenized with text.tokenize; a text.Vocabulary is built on the
    training split only (num_words: the size of the id space, reserved ids included,
    as in Keras; None keeps every word seen min_count times); both splits are encoded
    with it (words it does not hold become OOV = 2), each sequence starting with
    START = 1 when add_start.

    maxlen: as in load_imdb_npz and Keras, sequences of maxlen ids or more are
      dropped (ValueError if a split is left empty); pad_sequences truncates instead.
    seed: each split is shuffled by numpy.random.default_rng(seed) (train first);
      None keeps the file order (pos then neg, by id).

    Returns ((x_train, y_train), (x_test, y_test), vocab): x_* 1-D object arrays of
    lists of int, y_* int64 labels (1 = positive), vocab the Vocabulary.
    """
    maxlen = _check_int(maxlen, "maxlen", minimum=1, allow_none=True)
    seed = _check_seed(seed)
    if not isinstance(add_start, bool):
        raise TypeError("add_start must be a bool; got %s" % type(add_start).__name__)
    train_texts, y_train, _ = read_aclimdb(root, "train")
    test_texts, y_test, _ = read_aclimdb(root, "test")
    train_tokens = [tokenize(t) for t in train_texts]
    test_tokens = [tokenize(t) for t in test_texts]
    vocab = Vocabulary.build(train_tokens, num_words=num_words, min_count=min_count)

    rng = np.random.default_rng(seed) if seed is not None else None
    out = []
    for name, tokens, y in (("train", train_tokens, y_train), ("test", test_tokens, y_test)):
        xs = [vocab.encode(t, add_start=add_start) for t in tokens]
        if rng is not None:
            perm = rng.permutation(len(xs))
            xs, y = [xs[i] for i in perm], y[perm]
        if maxlen is not None:
            keep = [i for i, s in enumerate(xs) if len(s) < maxlen]
            if not keep:
                raise ValueError("after dropping the sequences of maxlen=%d ids or more, "
                                 "no %s review was left; increase maxlen" % (maxlen, name))
            xs, y = [xs[i] for i in keep], y[np.asarray(keep, dtype=np.intp)]
        out.append((_object_array(xs), y))
    return out[0], out[1], vocab

