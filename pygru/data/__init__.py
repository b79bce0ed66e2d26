"""pygru.data - the data side of training with pygru alone (NumPy only, nothing
downloaded at run time): padding and mini-batches, a tokenizer and vocabulary, readers
for the IMDB review data on disk, and a real time series (yearly sunspots) with
windowing. (The demo's generated sentiment corpus and bag-of-words baseline are not
library data tools: they live in pygru.demo.corpus and pygru.demo.baseline.)

    >>> from pygru.data import Vocabulary, batches, pad_sequences, tokenize
    >>> texts = ["a gripping film .", "the plot was not good at all ."]
    >>> vocab = Vocabulary.build([tokenize(t, keep_punctuation=True) for t in texts])
    >>> x, lengths = pad_sequences([vocab.encode(tokenize(t, keep_punctuation=True))
    ...                             for t in texts])         # (N, T) int64, (N,) int32
    >>> for xb, yb, lb in batches(x, [1, 0], batch_size=32, shuffle=True, seed=0,
    ...                           lengths=lengths):
    ...     pass                                              # xb: (2, lb.max())

Guarantees: every module here imports without pygru's C extension; everything is
deterministic for a given seed; bad arguments raise TypeError/ValueError naming them
(files: FileNotFoundError/ValueError naming the path and what is missing).
"""
from .batching import Batches, batches, pad_sequences
from .imdb import load_aclimdb, load_imdb_npz, load_imdb_word_index, read_aclimdb
from .series import Standardizer, load_sunspots, make_windows, train_test_split_series
from .text import Vocabulary, detokenize, tokenize

__all__ = ["pad_sequences", "batches", "Batches", "tokenize", "detokenize", "Vocabulary",
           "load_imdb_npz", "load_imdb_word_index", "read_aclimdb", "load_aclimdb",
           "load_sunspots", "make_windows", "train_test_split_series", "Standardizer"]
