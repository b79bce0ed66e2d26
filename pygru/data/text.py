"""pygru.data.text - turning review text into token lists and token lists into ids:
tokenize, detokenize and a Vocabulary that follows Keras' IMDB id convention.

Guarantees:
  * tokenize is a pure function of its input string, documented rule by rule below;
    the same text gives the same tokens on every platform (no locale, no model);
  * a Vocabulary built from the same token lists with the same arguments is the same
    whatever the order of the lists: words are ranked by count, ties broken by the
    words themselves (code-point order);
  * ids follow keras.datasets.imdb: 0 = padding, 1 = start, 2 = out-of-vocabulary,
    words from ``index_from`` (default 3) on, the most frequent first, so a Vocabulary
    decodes the sequences load_imdb_npz returns (see Vocabulary.from_word_index);
  * encode/decode round-trip every in-vocabulary token; save/load round-trip the whole
    vocabulary through a small JSON file, and load rejects a malformed file with a
    ValueError naming the path and what is wrong.
"""
import collections
import html
import json
import numbers
import re

__all__ = ["tokenize", "detokenize", "Vocabulary", "PAD", "START", "OOV",
           "PUNCTUATION"]

PAD, START, OOV = 0, 1, 2
_RESERVED_NAMES = ("<pad>", "<start>", "<oov>")

#: the marks tokenize(..., keep_punctuation=True) keeps as tokens of their own
PUNCTUATION = ".,!?;:"

_TAG = re.compile(r"<[^>]*>")
# a word: letters/digits (Unicode), optionally joined by single inner apostrophes
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_WORD_OR_PUNCT = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.,!?;:]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def tokenize(text, keep_punctuation=False):
    """Splits review text into lowercase word tokens. The rule, step by step:

      1. HTML tags (anything from ``<`` to the next ``>``, e.g. IMDB's ``<br />``) are
         replaced by a space; then HTML entities are decoded (``&amp;`` -> ``&``).
      2. The text is lowercased (str.lower) and the typographic apostrophes
         U+2019, U+2018, U+02BC and the backtick become ``'``.
      3. A token is a maximal run of letters and digits (Unicode; the underscore
         does not count) in which single apostrophes may stand *between* two such
         characters: ``don't``, ``rock'n'roll`` and ``o'brien`` stay whole, while the
         quotes in ``'great'`` and the apostrophe in ``actors'`` are dropped.
      4. Everything else is a separator and is dropped: spaces, hyphens
         (``well-made`` -> ``well``, ``made``), slashes (``7/10`` -> ``7``, ``10``),
         and punctuation -- except that with keep_punctuation=True each of
         ``. , ! ? ; :`` becomes a token of its own.

    text: a str. Returns a list of str.

        >>> tokenize("A <i>well-made</i> film.<br /><br />Don't miss it: 9/10!")
        ['a', 'well', 'made', 'film', "don't", 'miss', 'it', '9', '10']
    """
    if not isinstance(text, str):
        raise TypeError("text must be a str; got %s" % type(text).__name__)
    text = html.unescape(_TAG.sub(" ", text)).lower().translate(_APOSTROPHES)
    return (_WORD_OR_PUNCT if keep_punctuation else _WORD).findall(text)


def detokenize(tokens):
    """Joins tokens into readable text: one space between words, none before
    punctuation marks (``. , ! ? ; :``). tokenize(detokenize(t), keep_punctuation=True)
    gives back t for any tokens that tokenize itself produced."""
    out = []
    for tok in tokens:
        if out and tok not in PUNCTUATION:
            out.append(" ")
        out.append(tok)
    return "".join(out)


def _check_index_from(index_from):
    if isinstance(index_from, bool) or not isinstance(index_from, numbers.Integral):
        raise TypeError("index_from must be an int; got %s" % type(index_from).__name__)
    if index_from < 3:
        raise ValueError("index_from must be >= 3 (0, 1 and 2 are padding, start and "
                         "out-of-vocabulary); got %d" % index_from)
    return int(index_from)


def _check_num_words(num_words, index_from):
    if num_words is None:
        return None
    if isinstance(num_words, bool) or not isinstance(num_words, numbers.Integral):
        raise TypeError("num_words must be None or an int; got %s" % type(num_words).__name__)
    if num_words < index_from:
        raise ValueError("num_words must be >= index_from (%d): it counts the reserved "
                         "ids too; got %d" % (index_from, num_words))
    return int(num_words)


class Vocabulary:
    """A fixed mapping between words and integer ids, Keras' IMDB convention:

        id 0            padding ("<pad>")
        id 1            start of a sequence ("<start>")
        id 2            out of vocabulary ("<oov>"): any word not kept
        ids 3 .. index_from-1   reserved, unused (only when index_from > 3)
        id index_from + r       the word of rank r (0 = the most frequent)

    len(vocab) is the size of the id space (reserved ids included), i.e. the number
    of rows an embedding table needs.

    Vocabulary(words, index_from=3, counts=None): words in rank order (most frequent
    first), no duplicates, none of them a reserved name. Usually built with
    Vocabulary.build(token_lists, num_words=...) or Vocabulary.from_word_index(...).
    """

    def __init__(self, words, index_from=3, counts=None):
        index_from = _check_index_from(index_from)
        words = list(words)
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w:
                raise TypeError("words[%d] must be a non-empty str; got %r" % (i, w))
        index = {}
        for i, w in enumerate(words):
            if w in index:
                raise ValueError("words holds %r twice (at %d and %d)" % (w, index[w], i))
            if w in _RESERVED_NAMES:
                raise ValueError("words[%d] is the reserved name %r" % (i, w))
            index[w] = i + index_from
        if counts is not None:
            counts = [int(c) for c in counts]
            if len(counts) != len(words):
                raise ValueError("counts must have one entry per word (%d); got %d"
                                 % (len(words), len(counts)))
        self._words = words
        self._index = index
        self._counts = counts
        self.index_from = index_from

    # -- building --
    @classmethod
    def build(cls, token_lists, num_words=None, index_from=3, min_count=1):
        """Counts the tokens of an iterable of token lists and keeps the most frequent.

        num_words: None keeps every word seen min_count times or more; an int is
        the size of the id space, as in keras.datasets.imdb (ids < num_words):
        the num_words - index_from most frequent words are kept. Words are ranked by
        count, descending; equal counts are ordered by the words themselves
        (code-point order), so the result does not depend on the input order.
        """
        index_from = _check_index_from(index_from)
        num_words = _check_num_words(num_words, index_from)
        if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral) \
                or min_count < 1:
            raise ValueError("min_count must be an int >= 1; got %r" % (min_count,))
        if isinstance(token_lists, str):
            raise TypeError("token_lists must be an iterable of token lists, not a str")
        counter = collections.Counter()
        for i, tokens in enumerate(token_lists):
            if isinstance(tokens, str):
                raise TypeError("token_lists[%d] must be a list of tokens, not a str "
                                "(tokenize it first)" % i)
            counter.update(tokens)
        ranked = sorted((item for item in counter.items() if item[1] >= min_count),
                        key=lambda wc: (-wc[1], wc[0]))
        if num_words is not None:
            ranked = ranked[:num_words - index_from]
        return cls([w for w, _ in ranked], index_from, [c for _, c in ranked])

    @classmethod
    def from_word_index(cls, word_index, index_from=3, num_words=None):
        """The vocabulary of a Keras word index ({word: rank}, ranks from 1, as in
        imdb_word_index.json), with the ids that keras.datasets.imdb.load_data (and
        load_imdb_npz) give: the word of rank r has id r + index_from. Because Keras
        counts ranks from 1, id index_from itself (3 by default) is never used: it
        decodes as "<unused>", like any other missing rank. num_words: keep ids
        < num_words only, as load_imdb_npz(num_words=...) does."""
        index_from = _check_index_from(index_from)
        num_words = _check_num_words(num_words, index_from)
        by_rank = {}
        for w, r in word_index.items():
            if not isinstance(w, str) or isinstance(r, bool) or not isinstance(r, numbers.Integral):
                raise TypeError("word_index must map str -> int; got %r -> %r" % (w, r))
            if r < 1:
                raise ValueError("word_index ranks start at 1; got %r -> %d" % (w, r))
            if r in by_rank:
                raise ValueError("word_index gives rank %d to %r and %r" % (r, by_rank[r], w))
            by_rank[r] = w
        top = max(by_rank, default=0)
        if num_words is not None:
            top = min(top, num_words - 1 - index_from)
        # Keras ids are rank + index_from; ours are position + index_from, so
        # position = rank, and position 0 (rank 0, which Keras never uses) is a hole.
        words = [by_rank.get(r) for r in range(0, top + 1)]
        vocab = cls([w for w in words if w is not None], index_from)
        vocab._words = words          # holes (None) keep the later ids aligned
        vocab._index = {w: i + index_from for i, w in enumerate(words) if w is not None}
        return vocab

    # -- mapping --
    def __len__(self):
        return self.index_from + len(self._words)

    def __contains__(self, word):
        return word in self._index

    def __repr__(self):
        return "Vocabulary(%d words, index_from=%d)" % (len(self._index), self.index_from)

    def __eq__(self, other):
        return (isinstance(other, Vocabulary) and self.index_from == other.index_from
                and self._words == other._words)

    @property
    def words(self):
        """The kept words in id order (a copy); entry i has id index_from + i
        (None marks a hole left by from_word_index)."""
        return list(self._words)

    @property
    def word_index(self):
        """{word: id} (a copy)."""
        return dict(self._index)

    @property
    def counts(self):
        """The training counts of the words in id order, or None if unknown."""
        return None if self._counts is None else list(self._counts)

    def id(self, word):
        """The id of one word; OOV (2) if it is not kept."""
        return self._index.get(word, OOV)

    def word(self, i):
        """The token of one id: the word, or "<pad>", "<start>", "<oov>", "<unused>"."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError("id must be an int; got %s" % type(i).__name__)
        i = int(i)
        if 0 <= i < 3:
            return _RESERVED_NAMES[i]
        k = i - self.index_from
        if i < 0 or k >= len(self._words):
            raise ValueError("id must be in 0..%d (the vocabulary size - 1); got %d"
                             % (len(self) - 1, i))
        if k < 0 or self._words[k] is None:
            return "<unused>"
        return self._words[k]

    def encode(self, tokens, add_start=False):
        """Token list -> list of int ids; words not kept become OOV (2). add_start:
        begin with START (1), as every keras.datasets.imdb sequence does."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a list of tokens, not a str (tokenize it first)")
        get = self._index.get
        ids = [get(t, OOV) for t in tokens]
        return [START] + ids if add_start else ids

    def decode(self, ids, skip_special=False):
        """Ids -> list of tokens (see word()). skip_special: drop padding, start and
        unused ids (OOV stays, as "<oov>")."""
        words = [self.word(i) for i in ids]
        if skip_special:
            words = [w for w in words if w not in ("<pad>", "<start>", "<unused>")]
        return words

    def decode_text(self, ids):
        """Ids -> readable text: decode(ids, skip_special=True), detokenized."""
        return detokenize(self.decode(ids, skip_special=True))

    # -- files --
    _FORMAT = "pygru.vocabulary"

    def save(self, path):
        """Writes the vocabulary as UTF-8 JSON: {"format": "pygru.vocabulary",
        "version": 1, "index_from": ..., "words": [...], "counts": [...] or null}."""
        doc = {"format": self._FORMAT, "version": 1, "index_from": self.index_from,
               "words": self._words, "counts": self._counts}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
            f.write("\n")

    @classmethod
    def load(cls, path):
        """Reads a file written by save(). ValueError names the path and the problem."""
        with open(path, encoding="utf-8") as f:
            try:
                doc = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError("%s is not a vocabulary file: invalid JSON (%s)"
                                 % (path, exc)) from None
        if not isinstance(doc, dict) or doc.get("format") != cls._FORMAT:
            raise ValueError("%s is not a vocabulary file: expected a JSON object with "
                             "\"format\": %r" % (path, cls._FORMAT))
        if doc.get("version") != 1:
            raise ValueError("%s: unsupported vocabulary version %r (this pygru reads 1)"
                             % (path, doc.get("version")))
        words, index_from = doc.get("words"), doc.get("index_from")
        if not isinstance(words, list) or isinstance(index_from, bool) \
                or not isinstance(index_from, int):
            raise ValueError("%s: \"words\" must be a list and \"index_from\" an int" % path)
        try:
            kept = [w for w in words if w is not None]
            vocab = cls(kept, index_from, doc.get("counts"))
        except (TypeError, ValueError) as exc:
            raise ValueError("%s: %s" % (path, exc)) from None
        if len(kept) != len(words):    # holes from from_word_index
            vocab._words = list(words)
            vocab._index = {w: i + index_from for i, w in enumerate(words) if w is not None}
        return vocab
