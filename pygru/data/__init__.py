"""pygru.data - the data side of training with pygru alone (NumPy only, nothing
downloaded at run time): padding and mini-batches, a tokenizer and vocabulary, readers
for the IMDB review data on disk, a generated sentiment corpus that needs word order,
a bag-of-words baseline, and a real time series (yearly sunspots) with windowing.

    >>> from pygru.data import make_sentiment_corpus, pad_sequences, batches
    >>> c = make_sentiment_corpus(1000, seed=0)
    >>> x, lengths = pad_sequences(c.sequences)              # (N, T) int64, (N,) int32
    >>> for xb, yb, lb in batches(x, c.labels, batch_size=32, shuffle=True, seed=0,
    ...                           lengths=lengths):
    ...     pass                                              # xb: (32, lb.max())

Guarantees: every module here imports without pygru's C extension; everything is
deterministic for a given seed; bad arguments raise TypeError/ValueError naming them
(files: FileNotFoundError/ValueError naming the path and what is missing).
"""
from .baseline import BagOfWords
from .batching import Batches, batches, pad_sequences
from .corpus import (SentimentCorpus, make_sentiment_corpus, sentiment_rule,
                     sentiment_vocabulary)
from .imdb import load_aclimdb, load_imdb_npz, load_imdb_word_index, read_aclimdb
from .series import Standardizer, load_sunspots, make_windows, train_test_split_series
from .text import Vocabulary, detokenize, tokenize

__all__ = ["pad_sequences", "batches", "Batches", "tokenize", "detokenize", "Vocabulary",
           "load_imdb_npz", "load_imdb_word_index", "read_aclimdb", "load_aclimdb",
           "make_sentiment_corpus", "sentiment_rule", "sentiment_vocabulary",
           "SentimentCorpus", "BagOfWords", "load_sunspots", "make_windows",
           "train_test_split_series", "Standardizer"]
