"""test_data.py - pygru.data: padding and mini-batches, the tokenizer and vocabulary,
the IMDB readers (on small files made here in the real formats: an .npz of object
arrays and an aclImdb/ tree), and the sunspot series with its windowing helpers. (The
demo's generated corpus and bag-of-words baseline: tests/test_demo_corpus.py.)

References: Keras' own load_data and pad_sequences where Keras is installed, and
independent re-implementations written here (the Keras IMDB semantics). Everything is NumPy-only except one check that trimmed
batches give the same GRU result, which needs the C extension.
"""
import json
import os

import numpy as np
import pytest

from pygru.data import (Batches, Standardizer, Vocabulary, batches, detokenize, load_aclimdb,
                        load_imdb_npz, load_imdb_word_index, load_sunspots, make_windows,
                        pad_sequences, read_aclimdb, tokenize, train_test_split_series)
from pygru.data.imdb import KERAS_IMDB_SHA256


def _keras():
    """Keras 3 on torch, or skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


# ---- pad_sequences ---------------------------------------------------------------------

SEQS = [[1, 2, 3, 4], [5, 6], [7]]


@pytest.mark.parametrize("padding, truncating, expected, lengths", [
    ("post", "post", [[1, 2, 3], [5, 6, 0], [7, 0, 0]], [3, 2, 1]),
    ("post", "pre", [[2, 3, 4], [5, 6, 0], [7, 0, 0]], [3, 2, 1]),
    ("pre", "post", [[1, 2, 3], [0, 5, 6], [0, 0, 7]], [3, 2, 1]),
    ("pre", "pre", [[2, 3, 4], [0, 5, 6], [0, 0, 7]], [3, 2, 1]),
])
def test_pad_sequences_sides(padding, truncating, expected, lengths):
    x, lens = pad_sequences(SEQS, maxlen=3, padding=padding, truncating=truncating)
    assert x.dtype == np.int64 and lens.dtype == np.int32
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(lens, lengths)


def test_pad_sequences_defaults_value_and_dtype():
    x, lens = pad_sequences(SEQS)
    np.testing.assert_array_equal(x, [[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]])
    np.testing.assert_array_equal(lens, [4, 2, 1])
    x, _ = pad_sequences(SEQS, maxlen=5, value=-1, dtype=np.int32)
    assert x.dtype == np.int32 and x.shape == (3, 5)
    np.testing.assert_array_equal(x[2], [7, -1, -1, -1, -1])
    x, lens = pad_sequences([np.ones((2, 3)), np.zeros((3, 3))], dtype=np.float32)
    assert x.shape == (2, 3, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(lens, [2, 3])
    np.testing.assert_array_equal(x[0, 2], 0)
    x, lens = pad_sequences([])
    assert x.shape == (0, 1) and lens.shape == (0,)


def test_pad_sequences_empty_sequence_gets_one_padding_step():
    x, lens = pad_sequences([[], [3, 4]])
    np.testing.assert_array_equal(x, [[0, 0], [3, 4]])
    np.testing.assert_array_equal(lens, [1, 2])
    x, lens = pad_sequences([[], []])
    assert x.shape == (2, 1) and list(lens) == [1, 1]
    with pytest.raises(ValueError, match=r"seqs\[0\] is empty"):
        pad_sequences([[], [1]], empty="error")


def test_pad_sequences_matches_keras():
    keras = _keras()
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 50, size=rng.integers(1, 9))) for _ in range(20)]
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            for maxlen in (None, 3, 12):
                ref = keras.utils.pad_sequences(seqs, maxlen=maxlen, padding=padding,
                                                truncating=truncating, dtype="int64")
                ours, _ = pad_sequences(seqs, maxlen=maxlen, padding=padding,
                                        truncating=truncating)
                np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(seqs=[[1]], padding="middle"), ValueError, "padding must be one of 'post', 'pre'"),
    (dict(seqs=[[1]], truncating="x"), ValueError, "truncating must be one of"),
    (dict(seqs=[[1]], maxlen=0), ValueError, "maxlen must be >= 1; got 0"),
    (dict(seqs=[[1]], maxlen=2.0), TypeError, "maxlen must be None or an int; got float"),
    (dict(seqs="abc"), TypeError, "seqs must be a sequence of sequences"),
    (dict(seqs=["abc"]), TypeError, r"seqs\[0\] must be a sequence of values, not a str"),
    (dict(seqs=[[1], 5]), TypeError, r"seqs\[1\] must be a sequence"),
    (dict(seqs=[[1.5]]), ValueError, r"seqs\[0\] must hold whole numbers for dtype int64"),
    (dict(seqs=[[300]], dtype=np.uint8), ValueError, "outside the range of uint8"),
    (dict(seqs=[[1]], value=-1, dtype=np.uint8), ValueError, "value holds -1"),
    (dict(seqs=[np.ones((2, 3)), np.ones((2, 4))], dtype=float), ValueError,
     r"seqs\[1\] must have steps of shape \(3,\).*got \(4,\)"),
])
def test_pad_sequences_errors(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        pad_sequences(**kwargs)


# ---- batches ------------------------------------------------------------------------------

def _toy(n=23, T=7, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=n).astype(np.int32)
    x = np.zeros((n, T), np.int64)
    for i, L in enumerate(lengths):
        x[i, :L] = 100 * i + np.arange(1, L + 1)   # row i is recognisable from x alone
    y = np.arange(n)
    return x, y, lengths


def test_batches_align_rows_and_cover_each_row_once():
    x, y, _ = _toy()
    b = batches(x, y, batch_size=5)
    assert len(b) == 5
    got = list(b)
    assert [len(bx) for bx, _ in got] == [5, 5, 5, 5, 3]
    for bx, by in got:
        np.testing.assert_array_equal(bx, x[by])
        assert bx.flags.c_contiguous
    np.testing.assert_array_equal(np.concatenate([by for _, by in got]), y)   # no shuffle
    b = batches(x, y, batch_size=5, drop_last=True)
    assert len(b) == 4 and [len(by) for _, by in b] == [5, 5, 5, 5]


def test_batches_shuffle_is_reproducible_and_new_each_epoch():
    x, y, _ = _toy()
    a = batches(x, y, batch_size=4, shuffle=True, seed=7)
    b = Batches(x, y, batch_size=4, shuffle=True, seed=7)
    epochs_a = [np.concatenate([by for _, by in a]) for _ in range(3)]
    epochs_b = [np.concatenate([by for _, by in b.epoch(k)]) for k in range(3)]
    for ea, eb in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(ea, eb)               # same seed, same epochs
        np.testing.assert_array_equal(np.sort(ea), y)       # a permutation of the rows
    assert not np.array_equal(epochs_a[0], epochs_a[1])     # a new order each epoch
    np.testing.assert_array_equal(b.order(2), epochs_a[2])  # epoch(k) needs no history
    for bx, by in a.epoch(1):
        np.testing.assert_array_equal(bx, x[by])
    other = np.concatenate([by for _, by in batches(x, y, batch_size=4, shuffle=True, seed=8)])
    assert not np.array_equal(other, epochs_a[0])
    fresh = Batches(x, y, batch_size=4, shuffle=True)        # seed None: fixed per object
    np.testing.assert_array_equal(fresh.order(0), fresh.order(0))


def test_batches_trim_to_the_longest_sequence_of_each_batch():
    x, y, lengths = _toy()
    onehot = np.eye(x.shape[1])[y % x.shape[1]]       # (N, T) too, but not a time axis
    b = batches(x, y, onehot, batch_size=4, shuffle=True, seed=1, lengths=lengths,
                trim=(0,))
    for bx, by, boh, bl in b:
        assert bx.shape == (len(by), bl.max())
        np.testing.assert_array_equal(bx, x[by, :bl.max()])
        np.testing.assert_array_equal(bl, lengths[by])
        np.testing.assert_array_equal(boh, onehot[by])        # not trimmed
    # trim=True: every array shaped like arrays[0] along axis 1
    for bx, by, bl in batches(x, y, batch_size=6, lengths=lengths):
        assert bx.shape[1] == bl.max()
    for bx, by, bl in batches(x, y, batch_size=6, lengths=lengths, trim=False):
        assert bx.shape[1] == x.shape[1]


def test_batches_bucketing_sorts_within_chunks_reproducibly():
    x, y, lengths = _toy(n=40)
    b = batches(x, y, batch_size=4, shuffle=True, seed=3, lengths=lengths, bucket=3)
    first = [by.copy() for _, by, _ in b]
    again = [by for _, by, _ in b.epoch(0)]
    assert all(np.array_equal(p, q) for p, q in zip(first, again))
    np.testing.assert_array_equal(np.sort(np.concatenate(first)), y)
    for _, by, bl in b.epoch(0):
        assert list(bl) == sorted(bl, reverse=True)          # sorted inside a batch
    # without shuffle: chunk c holds rows 12c..12c+11, sorted longest first (stable)
    plain = np.concatenate([by for _, by, _ in
                            batches(x, y, batch_size=4, lengths=lengths, bucket=3)])
    for c in range(0, 40, 12):
        part = np.arange(c, min(c + 12, 40))
        np.testing.assert_array_equal(plain[c:c + 12],
                                      part[np.argsort(-lengths[part], kind="stable")])
    # bucketing makes batches tighter: less padding in total
    pad = lambda bb: sum(bx.size for bx, _, _ in bb)          # noqa: E731
    assert pad(b.epoch(0)) < pad(batches(x, y, batch_size=4, shuffle=True, seed=3,
                                         lengths=lengths))


@pytest.mark.parametrize("args, kwargs, exc, pattern", [
    ((np.zeros((3, 2)), np.zeros(4)), dict(batch_size=2), ValueError,
     r"arrays\[1\] must have 3 rows like arrays\[0\]; got shape \(4,\)"),
    ((np.zeros((3, 2)),), dict(batch_size=0), ValueError, "batch_size must be >= 1; got 0"),
    ((np.zeros((3, 2)),), dict(batch_size=2, shuffle=1), TypeError, "shuffle must be a bool"),
    ((np.zeros((3, 2)),), dict(batch_size=2, seed=-1), ValueError, "seed must be >= 0"),
    ((np.zeros((3, 2)),), dict(batch_size=2, lengths=[1, 2]), ValueError,
     r"lengths must have shape \(3,\)"),
    ((np.zeros((3, 2)),), dict(batch_size=2, lengths=[1, 2, 3]), ValueError,
     r"lengths must be in 1..2 \(the padded length\); got 3 at index 2"),
    ((np.zeros((3, 2)),), dict(batch_size=2, lengths=[0, 1, 1]), ValueError,
     "lengths must be in 1..2"),
    ((np.zeros((3, 2)),), dict(batch_size=2, lengths=[1.0, 1, 1]), TypeError,
     "lengths must be an integer array"),
    ((np.zeros((3, 2)),), dict(batch_size=2, bucket=2), ValueError, "bucket needs lengths"),
    ((np.zeros(3), np.zeros((3, 2))), dict(batch_size=2, lengths=[1, 1, 1]), ValueError,
     r"trim=True trims the arrays shaped like arrays\[0\]"),
    ((), dict(batch_size=2), TypeError, "at least one array"),
])
def test_batches_errors(args, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        Batches(*args, **kwargs)


def test_trimmed_batches_give_the_same_gru_result():
    pygru = pytest.importorskip("pygru")
    try:
        gru = pygru.GRU(3, 5, batch_first=True, seed=0, dtype=np.float64)
    except ImportError as exc:      # the C extension is not built
        pytest.skip(str(exc))
    gru.eval()
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((L, 3)) for L in rng.integers(1, 12, size=10)]
    x, lengths = pad_sequences(seqs, dtype=np.float64)
    _, h_full = gru(x, lengths=lengths)
    for bx, bi, bl in batches(x, np.arange(10), batch_size=4, lengths=lengths, bucket=1):
        assert bx.shape[1] == bl.max()
        _, h = gru(bx, lengths=bl)
        np.testing.assert_allclose(h, h_full[:, bi], rtol=0, atol=1e-12)


# ---- tokenizer and vocabulary ----------------------------------------------------------

@pytest.mark.parametrize("text, tokens", [
    ("A <i>well-made</i> film.<br /><br />Don't miss it: 9/10!",
     ["a", "well", "made", "film", "don't", "miss", "it", "9", "10"]),
    ("'Great' actors' rock'n'roll -- O\u2019Brien's", ["great", "actors", "rock'n'roll",
                                                      "o'brien's"]),
    ("Tom &amp; Jerry &lt;3 snake_case", ["tom", "jerry", "3", "snake", "case"]),
    ("Café NOIR, déjà-vu", ["café", "noir", "déjà", "vu"]),
    ("<br/>", []),
    ("", []),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_keep_punctuation_and_detokenize():
    toks = tokenize("Not good, but... great!<br />Fine; ok: yes?", keep_punctuation=True)
    assert toks == ["not", "good", ",", "but", ".", ".", ".", "great", "!", "fine", ";",
                    "ok", ":", "yes", "?"]
    assert detokenize(toks) == "not good, but... great! fine; ok: yes?"
    assert tokenize(detokenize(toks), keep_punctuation=True) == toks
    with pytest.raises(TypeError, match="text must be a str; got list"):
        tokenize(["a"])


def test_vocabulary_build_top_k_ties_and_reserved_ids():
    docs = [["b", "a", "c", "a"], ["c", "d", "b"], ["e", "a"]]
    # counts: a 3, b 2, c 2, d 1, e 1 -> ties broken by the words themselves
    v = Vocabulary.build(docs)
    assert v.words == ["a", "b", "c", "d", "e"] and v.counts == [3, 2, 2, 1, 1]
    assert len(v) == 8 and v.index_from == 3
    assert [v.id(w) for w in "abcde"] == [3, 4, 5, 6, 7]
    assert Vocabulary.build(docs[::-1]) == v                      # order-independent
    top = Vocabulary.build(docs, num_words=5)                     # ids < 5: 2 words
    assert top.words == ["a", "b"] and len(top) == 5
    assert top.encode(["a", "c", "zzz", "b"]) == [3, 2, 2, 4]
    assert top.encode(["b"], add_start=True) == [1, 4]
    assert Vocabulary.build(docs, min_count=2).words == ["a", "b", "c"]
    assert Vocabulary.build(docs, num_words=3).words == []
    v5 = Vocabulary.build(docs, index_from=5)
    assert v5.id("a") == 5 and v5.decode([3, 4, 5]) == ["<unused>", "<unused>", "a"]
    assert v.decode([0, 1, 2, 3]) == ["<pad>", "<start>", "<oov>", "a"]
    assert v.decode([1, 3, 2, 0, 0], skip_special=True) == ["a", "<oov>"]
    assert v.decode_text([1, 3, 4, 0]) == "a b"
    with pytest.raises(ValueError, match="num_words must be >= index_from"):
        Vocabulary.build(docs, num_words=2)
    with pytest.raises(TypeError, match=r"token_lists\[0\] must be a list of tokens"):
        Vocabulary.build(["a text"])
    with pytest.raises(ValueError, match=r"id must be in 0..7.*got 8"):
        v.decode([8])
    with pytest.raises(ValueError, match="twice"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="reserved name"):
        Vocabulary(["<oov>"])


def test_vocabulary_round_trip_and_json(tmp_path):
    docs = [tokenize(t) for t in ("A great, great film.", "Not a great plot at all!",
                                  "The plot: dull. The cast: ça va.")]
    v = Vocabulary.build(docs, num_words=12)
    # great 3; a, plot, the 2; then the words seen once in code-point order ("ça" last)
    assert v.words == ["great", "a", "plot", "the", "all", "at", "cast", "dull", "film"]
    assert "ça" not in v and len(v) == 12
    for d in docs:
        assert v.decode(v.encode(d)) == [w if w in v else "<oov>" for w in d]
    assert v.decode(v.encode(docs[0])) == docs[0]
    path = tmp_path / "vocab.json"
    v.save(path)
    w = Vocabulary.load(path)
    assert w == v and w.counts == v.counts and w.word_index == v.word_index
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "pygru.vocabulary"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not a vocabulary file: invalid JSON"):
        Vocabulary.load(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="bad.json is not a vocabulary file"):
        Vocabulary.load(bad)
    bad.write_text(json.dumps({"format": "pygru.vocabulary", "version": 1,
                               "index_from": 3, "words": ["a", "a"], "counts": None}))
    with pytest.raises(ValueError, match="bad.json: words holds 'a' twice"):
        Vocabulary.load(bad)


# ---- IMDB: Keras' imdb.npz --------------------------------------------------------------

def _object_array(rows):
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


def _fake_imdb(path, seed=0, n_train=40, n_test=30, top=60):
    """An .npz in Keras' format: object arrays of lists of word ranks (1 = most
    frequent) and int64 labels."""
    rng = np.random.default_rng(seed)

    def rows(n):
        return _object_array([[int(w) for w in rng.integers(1, top + 1, rng.integers(1, 25))]
                              for _ in range(n)])
    np.savez(path, x_train=rows(n_train), y_train=rng.integers(0, 2, n_train),
             x_test=rows(n_test), y_test=rng.integers(0, 2, n_test))
    with np.load(path, allow_pickle=True) as f:
        return {k: f[k] for k in f.files}


def _keras_semantics(raw, num_words=None, skip_top=0, maxlen=None, start_char=1,
                     oov_char=2, index_from=3, seed=113):
    """keras.datasets.imdb.load_data's documented behaviour, written out again."""
    rng = np.random.RandomState(seed)
    out = []
    for split in ("train", "test"):
        perm = np.arange(len(raw["x_" + split]))
        rng.shuffle(perm)
        xs = [([start_char] if start_char is not None else []) +
              [w + index_from for w in raw["x_" + split][i]] for i in perm]
        ys = raw["y_" + split][perm]
        if maxlen:
            keep = [i for i, s in enumerate(xs) if len(s) < maxlen]
            xs, ys = [xs[i] for i in keep], ys[keep]
        out.append((xs, ys))
    kept = lambda w: w >= skip_top and (num_words is None or w < num_words)  # noqa: E731
    result = []
    for xs, ys in out:
        if oov_char is None:
            xs = [[w for w in s if kept(w)] for s in xs]
        else:
            xs = [[w if kept(w) else oov_char for w in s] for s in xs]
        result.append((xs, ys))
    return result


def _same(ours, ref):
    for (ox, oy), (rx, ry) in zip(ours, ref):
        assert ox.dtype == object and ox.ndim == 1
        assert [list(s) for s in ox] == [list(s) for s in rx]
        np.testing.assert_array_equal(oy, ry)


IMDB_ARGS = [
    dict(),
    dict(num_words=20),
    dict(num_words=30, skip_top=6),
    dict(num_words=25, oov_char=None),
    dict(maxlen=15),
    dict(start_char=None, index_from=0, num_words=40),
    dict(index_from=5, start_char=4, oov_char=3, seed=0),
    dict(skip_top=2, maxlen=10, num_words=50, seed=5),
]


@pytest.mark.parametrize("kwargs", IMDB_ARGS)
def test_load_imdb_npz_keras_semantics(tmp_path, kwargs):
    raw = _fake_imdb(tmp_path / "imdb.npz")
    ours = load_imdb_npz(tmp_path / "imdb.npz", **kwargs)
    _same(ours, _keras_semantics(raw, **kwargs))
    assert ours[0][1].dtype == np.int64


def test_load_imdb_npz_matches_keras_load_data(tmp_path, monkeypatch):
    _keras()
    from keras.src.datasets import imdb as keras_imdb
    path = tmp_path / "imdb.npz"
    _fake_imdb(path)
    monkeypatch.setattr(keras_imdb, "get_file", lambda *a, **k: str(path))
    for kwargs in IMDB_ARGS:
        ref = keras_imdb.load_data(**kwargs)
        ours = load_imdb_npz(path, **kwargs)
        if kwargs.get("num_words") is None:
            # Keras' code (not its docs) turns the single largest id into oov_char
            top = max(max(s) for x, _ in ours for s in x)
            oov = kwargs.get("oov_char", 2)
            ours = tuple((_object_array([[oov if w == top else w for w in s] for s in x]), y)
                         for x, y in ours)
            if oov is None:
                continue
        _same(ours, ref)


def test_load_imdb_npz_never_runs_code_from_the_file(tmp_path):
    ran = []

    class Payload:
        def __reduce__(self):
            return (ran.append, ("ran",))   # what a hostile file would do, harmlessly

    rows = _object_array([[1, 2], Payload()])
    path = tmp_path / "evil.npz"
    np.savez(path, x_train=rows, y_train=np.zeros(2, np.int64), x_test=rows,
             y_test=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"evil.npz: member x_train.npy could not be read.*"
                                         r"allow_pickle=True only if you trust"):
        load_imdb_npz(path)
    assert ran == []
    # numeric members never need pickle; a trusted file can be read with allow_pickle
    good = tmp_path / "imdb.npz"
    raw = _fake_imdb(good)
    _same(load_imdb_npz(good, allow_pickle=True), _keras_semantics(raw))


def test_load_imdb_npz_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz: no such file"):
        load_imdb_npz(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text.npz is not an .npz file"):
        load_imdb_npz(tmp_path / "text.npz")
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 2), np.int64),
             y_train=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="partial.npz does not hold the IMDB arrays: "
                                         "missing x_test, y_test"):
        load_imdb_npz(tmp_path / "partial.npz")
    _fake_imdb(tmp_path / "imdb.npz")
    with pytest.raises(ValueError, match="has sha256 .*, expected %s" % KERAS_IMDB_SHA256):
        load_imdb_npz(tmp_path / "imdb.npz", sha256=KERAS_IMDB_SHA256)
    with pytest.raises(ValueError, match="after dropping the sequences of maxlen=2"):
        load_imdb_npz(tmp_path / "imdb.npz", maxlen=2)
    with pytest.raises(ValueError, match="num_words must be >= 1"):
        load_imdb_npz(tmp_path / "imdb.npz", num_words=0)
    with pytest.raises(TypeError, match="allow_pickle must be a bool"):
        load_imdb_npz(tmp_path / "imdb.npz", allow_pickle="yes")


def test_imdb_word_index_decodes_the_npz_ids(tmp_path):
    words = ["the", "and", "a", "of", "film", "great", "bad"]
    (tmp_path / "wi.json").write_text(json.dumps({w: r + 1 for r, w in enumerate(words)}))
    index = load_imdb_word_index(tmp_path / "wi.json")
    assert index["the"] == 1
    np.savez(tmp_path / "imdb.npz", x_train=_object_array([[1, 5, 6], [7]]),
             y_train=np.array([1, 0]), x_test=_object_array([[2, 3]]), y_test=np.array([1]))
    (x_train, _), _ = load_imdb_npz(tmp_path / "imdb.npz", seed=0)
    vocab = Vocabulary.from_word_index(index)
    decoded = sorted(vocab.decode(s) for s in x_train)
    assert decoded == [["<start>", "bad"], ["<start>", "the", "film", "great"]]
    assert vocab.decode([3]) == ["<unused>"] and vocab.id("the") == 4
    small = Vocabulary.from_word_index(index, num_words=7)        # ids < 7: ranks 1..3
    assert small.encode(["the", "a", "of"]) == [4, 6, 2]
    small.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").encode(["the", "a", "of"]) == [4, 6, 2]
    (tmp_path / "bad.json").write_text(json.dumps({"the": 0}))
    with pytest.raises(ValueError, match="bad.json: the rank of 'the' must be an int >= 1"):
        load_imdb_word_index(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json is not a word index"):
        load_imdb_word_index(tmp_path / "list.json")
    with pytest.raises(FileNotFoundError, match="missing.json: no such file"):
        load_imdb_word_index(tmp_path / "missing.json")


# ---- IMDB: the aclImdb/ folder ----------------------------------------------------------

ACL = {
    ("train", "pos"): {"0_9.txt": "A great film.<br /><br />Great acting!",
                       "12_7.txt": "Good story, great cast.",
                       "3_10.txt": "Wonderful. Simply wonderful."},
    ("train", "neg"): {"1_2.txt": "A bad film. Bad acting, bad story.",
                       "5_1.txt": "Awful.<br />Just awful and dull."},
    ("test", "pos"): {"0_8.txt": "Great great zebra film"},
    ("test", "neg"): {"4_3.txt": "Dull, bad, unseen-word"},
}


def _acl(root):
    for (split, label), files in ACL.items():
        d = root / "aclImdb" / split / label
        d.mkdir(parents=True)
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("ignored")
    (root / "aclImdb" / "README").write_text("not a review")
    return root / "aclImdb"


def test_read_aclimdb_layout_order_and_labels(tmp_path):
    base = _acl(tmp_path)
    texts, labels, ratings = read_aclimdb(base, "train")
    assert texts[0].startswith("A great film") and texts[1].startswith("Wonderful")
    assert texts[2].startswith("Good story")                   # pos by id: 0, 3, 12
    np.testing.assert_array_equal(labels, [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(ratings, [9, 10, 7, 2, 1])
    texts2, _, _ = read_aclimdb(tmp_path, "train")             # the parent folder works too
    assert texts2 == texts


def test_load_aclimdb_vocabulary_from_train_only(tmp_path):
    base = _acl(tmp_path)
    (x_train, y_train), (x_test, y_test), vocab = load_aclimdb(base, num_words=None, seed=None)
    assert "zebra" not in vocab and "unseen" not in vocab and "great" in vocab
    train_tokens = [tokenize(t) for t in read_aclimdb(base, "train")[0]]
    assert vocab == Vocabulary.build(train_tokens)
    assert vocab.words[:2] == ["bad", "great"]       # 3 each: the tie goes by the words
    assert x_train.dtype == object and y_train.dtype == np.int64
    assert [list(s) for s in x_train] == [vocab.encode(t, add_start=True) for t in train_tokens]
    assert vocab.decode(x_test[0]) == ["<start>", "great", "great", "<oov>", "film"]
    np.testing.assert_array_equal(y_test, [1, 0])
    # shuffled reproducibly, same pairs of sequence and label
    (xa, ya), _, _ = load_aclimdb(base, seed=1)
    (xb, yb), _, _ = load_aclimdb(base, seed=1)
    assert [list(s) for s in xa] == [list(s) for s in xb] and list(ya) == list(yb)
    pairs = {tuple(s): y for s, y in zip(x_train, y_train)}
    assert all(pairs[tuple(s)] == y for s, y in zip(xa, ya))
    # num_words counts the reserved ids; maxlen drops (start included) as Keras does
    (xs, _), _, small = load_aclimdb(base, num_words=5, seed=None)
    assert small.words == ["bad", "great"] and max(max(s) for s in xs) <= 4
    (xm, ym), (xt, _), _ = load_aclimdb(base, maxlen=7, seed=None)
    assert all(len(s) < 7 for s in xm) and len(xm) == 4 and len(xt) == 2
    np.testing.assert_array_equal(ym, [1, 1, 1, 0])   # "A bad film. Bad acting, ..." dropped


def test_aclimdb_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing: no such directory"):
        load_aclimdb(tmp_path / "nothing")
    base = _acl(tmp_path)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        read_aclimdb(base, "unsup")
    for name in os.listdir(base / "test" / "neg"):
        os.remove(base / "test" / "neg" / name)
    with pytest.raises(ValueError, match=r"test[/\\]neg holds no review files"):
        load_aclimdb(base)
    os.rmdir(base / "test" / "neg")
    with pytest.raises(FileNotFoundError, match=r"missing folder test/neg"):
        load_aclimdb(base)
    (base / "train" / "pos" / "review.txt").write_text("x")
    with pytest.raises(ValueError, match=r"pos: review file names must be <id>_<rating>.txt; "
                                         r"got 'review.txt'"):
        read_aclimdb(base, "train")
    os.remove(base / "train" / "pos" / "review.txt")
    (base / "train" / "pos" / "9_3.txt").write_text("x")
    with pytest.raises(ValueError, match="9_3.txt has rating 3, but pos reviews are rated 7..10"):
        read_aclimdb(base, "train")


# ---- sunspots and series helpers ----------------------------------------------------------

def test_sunspots_data():
    years, values = load_sunspots()
    assert years.shape == values.shape == (309,)
    assert years.dtype == np.int64 and values.dtype == np.float64
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    known = {1700: 5.0, 1711: 0.0, 1749: 80.9, 1778: 154.4, 1816: 45.8, 1870: 139.0,
             1957: 190.2, 1989: 157.6, 2000: 119.6, 2008: 2.9}
    for year, value in known.items():
        assert values[year - 1700] == value, year
    assert values.max() == 190.2 and values.min() == 0.0
    assert round(values.sum(), 1) == 15373.4                    # checksum of the file
    values[0] = -1                                              # a fresh copy each time
    assert load_sunspots()[1][0] == 5.0


def test_make_windows_and_split():
    s = np.arange(10.0)
    X, y = make_windows(s, window=3, horizon=2)
    assert X.shape == (6, 3, 1) and y.shape == (6, 2)
    np.testing.assert_array_equal(X[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(y[0], [3, 4])
    np.testing.assert_array_equal(X[-1, :, 0], [5, 6, 7])
    np.testing.assert_array_equal(y[-1], [8, 9])
    X32, _ = make_windows(np.arange(5, dtype=np.float32)[:, None], 2)
    assert X32.dtype == np.float32 and X32.shape == (3, 2, 1)
    assert make_windows([1, 2, 3], 2)[0].dtype == np.float64
    with pytest.raises(ValueError, match="series of length 4 is too short for window=3 "
                                         "and horizon=2"):
        make_windows(np.arange(4.0), 3, 2)
    with pytest.raises(ValueError, match=r"series must have shape \(T,\) or \(T, 1\); "
                                         r"got \(2, 2\)"):
        make_windows(np.zeros((2, 2)), 1)
    train, test = train_test_split_series(s, 3)
    np.testing.assert_array_equal(train, np.arange(7.0))
    np.testing.assert_array_equal(test, [7, 8, 9])
    train, test = train_test_split_series(s, 0.25)            # ceil(2.5) = 3
    assert len(test) == 3
    _, values = load_sunspots()
    train, test = train_test_split_series(values, 0.2)
    assert len(train) == 247 and test[-1] == 2.9
    with pytest.raises(ValueError, match="test_size must leave both parts non-empty"):
        train_test_split_series(s, 10)
    with pytest.raises(ValueError, match=r"test_size as a fraction must be in \(0, 1\)"):
        train_test_split_series(s, 1.5)


def test_standardizer_fits_on_train_only():
    _, values = load_sunspots()
    train, test = train_test_split_series(values, 50)
    sc = Standardizer().fit(train)
    assert sc.mean_ == pytest.approx(train.mean()) and sc.std_ == pytest.approx(train.std())
    z = sc.transform(train)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12
    np.testing.assert_allclose(sc.inverse_transform(sc.transform(test)), test, atol=1e-12)
    assert sc.transform(test).mean() != pytest.approx(0, abs=1e-3)     # test not used
    cols = Standardizer(axis=0).fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(cols.mean_, [2, 5])
    np.testing.assert_array_equal(cols.std_, [1, 1])                    # zero std -> 1
    assert Standardizer().fit(np.ones(3)).std_ == 1.0
    assert sc.transform(np.float32([1, 2])).dtype == np.float32
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().transform([1.0])
    with pytest.raises(ValueError, match="axis must be None or 0"):
        Standardizer(axis=1)


def test_package_data_is_importable_without_the_c_extension():
    import subprocess
    import sys
    code = ("import sys, pygru.data as d; d.load_sunspots(); d.pad_sequences([[3]]); "
            "sys.exit(any(m.startswith('pygru._libgru') or m == 'pygru._core' "
            "for m in sys.modules))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

