"""test_demo_corpus.py - the data side of the demo application (pygru.demo): the
generated sentiment corpus (pygru.demo.corpus) and its bag-of-words baseline
(pygru.demo.baseline), both NumPy-only; and the line between library and demo: the
library's modules do not import pygru.demo, importing pygru.demo imports none of its
modules, and pygru.data no longer carries the demo's names.

References: the corpus' label rule written again here from its description, on the
decoded text; the baseline's two solvers against each other.
"""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import pygru.data
from pygru.data import pad_sequences, tokenize
from pygru.demo import corpus as corpus_mod
from pygru.demo.baseline import BagOfWords
from pygru.demo.corpus import make_sentiment_corpus, sentiment_rule, sentiment_vocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- the generated sentiment corpus ------------------------------------------------------

def _rule_from_text(text):
    """The corpus' label rule, written again from its description, on the review's text:
    the last polar word decides; each negator before it in its clause flips it."""
    tokens = tokenize(text, keep_punctuation=True)
    polar = {w: +1 for w in corpus_mod.POSITIVE}
    polar.update({w: -1 for w in corpus_mod.NEGATIVE})
    negators = set(corpus_mod.NEGATORS)
    for j in range(len(tokens) - 1, -1, -1):
        if tokens[j] in polar:
            k = j
            while k > 0 and tokens[k - 1] not in (".", ","):
                k -= 1
            flips = sum(t in negators for t in tokens[k:j])
            return int(polar[tokens[j]] * (-1) ** flips > 0)
    return None


@pytest.fixture(scope="module")
def corpus():
    return make_sentiment_corpus(10000, seed=0)


def test_corpus_is_deterministic_and_prefix_stable(corpus):
    again = make_sentiment_corpus(10000, seed=0)
    assert again.sequences == corpus.sequences
    for name in ("labels", "negated", "contrast", "distance"):
        np.testing.assert_array_equal(getattr(again, name), getattr(corpus, name))
    head = make_sentiment_corpus(50, seed=0)
    assert head.sequences == corpus.sequences[:50]
    assert make_sentiment_corpus(50, seed=1).sequences != head.sequences
    assert sentiment_vocabulary() is corpus.vocab


def test_corpus_label_rule_on_decoded_text(corpus):
    vocab = corpus.vocab
    assert 200 <= len(vocab) <= 600
    for i, seq in enumerate(corpus.sequences[:5000]):
        text = vocab.decode_text(seq)
        tokens = vocab.decode(seq)
        assert tokenize(text, keep_punctuation=True) == tokens     # text <-> tokens
        assert _rule_from_text(text) == corpus.labels[i] == sentiment_rule(tokens), text
        assert 15 <= len(seq) <= 60
    assert all(15 <= len(s) <= 60 for s in corpus.sequences)
    assert all(sentiment_rule(vocab.decode(s)) == y
               for s, y in zip(corpus.sequences, corpus.labels))
    assert max(max(s) for s in corpus.sequences) < len(vocab)
    assert min(min(s) for s in corpus.sequences) >= vocab.index_from
    assert corpus.distance.min() >= 1 and corpus.distance.max() > 20   # cues at any distance
    vocab_words = set(vocab.words)
    polar = set(corpus_mod.POSITIVE) | set(corpus_mod.NEGATIVE)
    assert polar <= vocab_words and not polar & set(corpus_mod.NEGATORS)


def test_corpus_balance(corpus):
    pos, neg = set(corpus_mod.POSITIVE), set(corpus_mod.NEGATIVE)
    negators = set(corpus_mod.NEGATORS)
    y, negated, contrast = corpus.labels, corpus.negated, corpus.contrast
    assert abs(y.mean() - 0.5) < 0.02
    assert abs(negated.mean() - 0.5) < 0.02 and abs(contrast.mean() - 0.2) < 0.02
    hard = negated | contrast
    stats = {0: [], 1: []}
    for seq, label, h in zip(corpus.sequences, y, hard):
        words = corpus.vocab.decode(seq)
        n_pos, n_neg = sum(w in pos for w in words), sum(w in neg for w in words)
        if h:    # as many positive as negative adjectives, whatever the label
            assert n_pos == n_neg
            stats[label].append((len(words), sum(w in negators for w in words)))
        else:    # plain reviews: every adjective has the label's sign
            assert (n_neg if label else n_pos) == 0
    # the label does not shift the lengths or the negator counts of the hard reviews
    for col in (0, 1):
        m0 = np.mean([s[col] for s in stats[0]])
        m1 = np.mean([s[col] for s in stats[1]])
        assert abs(m0 - m1) < 0.05 * max(m0, m1), (col, m0, m1)


def test_bag_of_words_is_at_chance_on_negated_reviews(corpus):
    tr, te = slice(0, 8000), slice(8000, None)
    model = BagOfWords().fit(corpus.sequences[tr], corpus.labels[tr])
    assert model.converged_
    pred, y = model.predict(corpus.sequences[te]), corpus.labels[te]
    neg, con = corpus.negated[te], corpus.contrast[te]
    acc = {name: float(np.mean(pred[m] == y[m])) for name, m in (
        ("all", slice(None)), ("negated", neg), ("not negated", ~neg),
        ("plain", ~neg & ~con), ("contrast", con))}
    print("BagOfWords accuracy:", ", ".join("%s %.3f" % kv for kv in acc.items()))
    assert acc["negated"] < 0.58
    assert acc["not negated"] > 0.85 and acc["plain"] > 0.97
    assert 0.62 < acc["all"] < 0.78


def test_corpus_is_fast_and_checks_arguments():
    t = time.perf_counter()
    make_sentiment_corpus(10000, seed=3)
    assert time.perf_counter() - t < 2.0
    c = make_sentiment_corpus(200, seed=0, p_negated=1.0, p_contrast=0.0)
    assert c.negated.all() and not c.contrast.any()
    c = make_sentiment_corpus(200, seed=0, p_negated=0.0, p_contrast=0.0, min_len=20,
                              max_len=40)
    assert not (c.negated | c.contrast).any()
    assert all(20 <= len(s) <= 40 for s in c.sequences)
    assert make_sentiment_corpus(0).labels.shape == (0,)
    with pytest.raises(ValueError, match="p_negated must be a probability"):
        make_sentiment_corpus(10, p_negated=1.5)
    with pytest.raises(ValueError, match="p_negated \\+ p_contrast must be <= 1"):
        make_sentiment_corpus(10, p_negated=0.7, p_contrast=0.7)
    with pytest.raises(ValueError, match="min_len must be >= 15"):
        make_sentiment_corpus(10, min_len=5)
    with pytest.raises(TypeError, match="seed must be None or an int"):
        make_sentiment_corpus(10, seed=1.5)


# ---- BagOfWords ----------------------------------------------------------------------------

def test_bag_of_words_solvers_agree_and_padding_is_ignored():
    c = make_sentiment_corpus(600, seed=5)
    newton = BagOfWords(l2=1e-2).fit(c.sequences, c.labels)
    agd = BagOfWords(l2=1e-2, max_dense=10).fit(c.sequences, c.labels)
    assert newton.converged_ and agd.converged_
    np.testing.assert_allclose(agd.coef_, newton.coef_, atol=1e-4)
    x, _ = pad_sequences(c.sequences)
    np.testing.assert_allclose(newton.decision_function(x),
                               newton.decision_function(c.sequences), atol=1e-12)
    again = BagOfWords(l2=1e-2).fit(c.sequences, c.labels)
    np.testing.assert_array_equal(again.coef_, newton.coef_)
    binary = BagOfWords(binary=True).fit([[3, 3, 3], [4]], [1, 0])
    assert binary.predict([[3], [4], [4, 4, 4, 9]]).tolist() == [1, 0, 0]
    assert binary.score([[3], [4]], [1, 0]) == 1.0
    with pytest.raises(RuntimeError, match="not fitted"):
        BagOfWords().predict([[1]])
    with pytest.raises(ValueError, match="labels must be a 1-D array of 0/1"):
        BagOfWords().fit([[3], [4]], [1, 2])
    with pytest.raises(ValueError, match="labels must have one entry per sequence"):
        BagOfWords().fit([[3], [4]], [1])
    with pytest.raises(ValueError, match="l2 must be a number >= 0"):
        BagOfWords(l2=-1)


# ---- the line between the library and the demo --------------------------------------------

def _run(code):
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_demo_data_is_importable_without_the_c_extension():
    out = _run(
        "import sys, pygru.demo\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pygru.demo.'))\n"
        "assert not loaded, 'importing pygru.demo imported %s' % loaded\n"
        "from pygru.demo.corpus import make_sentiment_corpus\n"
        "from pygru.demo.baseline import BagOfWords\n"
        "c = make_sentiment_corpus(40, seed=0)\n"
        "BagOfWords().fit(c.sequences, c.labels).predict(c.sequences)\n"
        "print(sorted(m for m in sys.modules if m.startswith('pygru._libgru') "
        "or m == 'pygru._core'))\n")
    assert out.strip() == "[]", "the demo's corpus and baseline loaded " + out


def test_the_library_does_not_import_the_demo():
    # every module of the library (pygru and its subpackages, except the demo and the
    # command line that dispatches to it), imported in a fresh interpreter
    out = _run(
        "import importlib, pkgutil, sys, pygru\n"
        "todo, seen = [('pygru', pygru.__path__)], []\n"
        "while todo:\n"
        "    prefix, path = todo.pop()\n"
        "    for m in pkgutil.iter_modules(path, prefix + '.'):\n"
        "        if m.name in ('pygru.demo', 'pygru.__main__'):\n"
        "            continue\n"
        "        mod = importlib.import_module(m.name)\n"
        "        seen.append(m.name)\n"
        "        if m.ispkg:\n"
        "            todo.append((m.name, mod.__path__))\n"
        "assert 'pygru.nn' in seen and 'pygru.data.batching' in seen, seen\n"
        "print(sorted(m for m in sys.modules if m.startswith('pygru.demo')))\n")
    assert out.strip() == "[]", "the library imported " + out
    moved = {"make_sentiment_corpus", "sentiment_rule", "sentiment_vocabulary",
             "SentimentCorpus", "BagOfWords", "corpus", "baseline"}
    assert not moved & set(pygru.data.__all__)
    assert not [name for name in moved if hasattr(pygru.data, name)]
    with pytest.raises(ImportError):
        from pygru.data import make_sentiment_corpus as _  # noqa: F401
