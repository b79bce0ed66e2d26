"""pygru.data.imdb - reading the IMDB movie-review sentiment data from local files
(nothing is downloaded): Keras' preprocessed imdb.npz (+ imdb_word_index.json), and
the Stanford aclImdb/ folder of raw review texts.

Guarantees:
  * load_imdb_npz returns what keras.datasets.imdb.load_data returns for the same
    file and arguments -- the same shuffle (numpy RandomState(seed)), start, index
    shift, maxlen filter, num_words/skip_top cut and OOV replacement -- with the two
    differences stated in its docstring (x is always a 1-D object array, and
    num_words=None keeps every word);
  * reading an .npz never runs code from the file unless allow_pickle=True is passed:
    the ragged object arrays are rebuilt by an unpickler that can only make NumPy
    arrays, dtypes, NumPy scalars and plain Python lists and numbers;
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


# ---- a pickle reader that can only rebuild arrays --------------------------------------

# What pickling a 1-D object array of lists (or of int arrays / NumPy ints) refers to,
# under NumPy 1 (numpy.core) and NumPy 2 (numpy._core) names. None of these can run
# code: they allocate an array, describe a dtype, or make a scalar from bytes.
_SAFE_GLOBALS = frozenset([
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
])


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError("the pickle asks for %s.%s, which is not a NumPy "
                                     "array part" % (module, name))


def _read_npy_member(archive, member, path, allow_pickle):
    with archive.open(member) as raw:
        fp = io.BytesIO(raw.read())
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version[0] in (2, 3):
        # format 3.0 differs from 2.0 only in the header's text encoding (UTF-8)
        _, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError("%s: member %s has an unsupported .npy version %d.%d"
                         % (path, member, version[0], version[1]))
    if not dtype.hasobject or allow_pickle:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=allow_pickle)
    # An object array: after the header comes the pickle of the whole array.
    try:
        arr = _ArrayOnlyUnpickler(fp).load()
    except Exception as exc:   # UnpicklingError, EOFError, ... from a broken stream
        raise ValueError(
            "%s: member %s could not be read as a NumPy object array without running "
            "code from the file (%s: %s). Pass allow_pickle=True only if you trust "
            "this file: unpickling runs whatever code it holds."
            % (path, member, type(exc).__name__, exc)) from None
    if not isinstance(arr, np.ndarray):
        raise ValueError("%s: member %s holds a pickled %s, not an array"
                         % (path, member, type(arr).__name__))
    return arr


def _read_npz(path, allow_pickle):
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError("%s is not an .npz file (not a zip archive)" % path) from None
    with archive:
        names = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}
        missing = [k for k in _NPZ_KEYS if k not in names]
        if missing:
            raise ValueError("%s does not hold the IMDB arrays: missing %s (it has: %s)"
                             % (path, ", ".join(missing), ", ".join(sorted(names)) or "none"))
        return {k: _read_npy_member(archive, names[k], path, allow_pickle) for k in _NPZ_KEYS}


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
      and unpickling can run arbitrary code stored in the file. False (default):
      they are read by a restricted unpickler that can only rebuild NumPy arrays,
      dtypes, NumPy scalars and Python lists/numbers -- enough for the real file;
      anything else raises ValueError and nothing from the file runs. True: plain
      np.load(allow_pickle=True), which runs any code in the file -- only for files
      you trust.
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

