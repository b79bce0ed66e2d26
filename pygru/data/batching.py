"""pygru.data.batching - from ragged token sequences to the padded arrays and aligned
mini-batches a GRU trains on: pad_sequences and Batches (batches()).

Guarantees:
  * pad_sequences returns the padded array and the kept length of every row, each in
    1..T, which is what pygru.GRU(..., lengths=) accepts: an empty sequence becomes
    one padding step of length 1 (or raises, with empty="error"), never length 0;
  * every batch holds the same rows of every array, in the same order;
  * shuffling is reproducible: Batches(..., seed=s) gives the same sequence of epochs
    for the same s, each epoch a new permutation (epoch k is the same whether it is
    reached by iterating k + 1 times or by calling epoch(k));
  * with lengths and trim=True, the time axis of each padded array in a batch is cut
    to that batch's longest sequence (less work, same GRU result with lengths);
  * every bad argument raises TypeError/ValueError naming it, with the expected and
    the actual value, type or shape.
"""
import math

import numpy as np

from .._validate import check_bool, check_choice, check_int, check_seed, fmt_shape

__all__ = ["pad_sequences", "batches", "Batches"]


# ---- argument checks: pygru._validate's, under the names pygru.data's modules use ----

_fmt_shape = fmt_shape
_check_int = check_int
_check_seed = check_seed
_check_choice = check_choice
_check_flag = check_bool


def _as_rows(value, name):
    """An array-like with a first (row) axis as an ndarray; ragged nested lists become
    a 1-D object array of their rows."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError("%s must be an array or a sequence of rows; got %s"
                            % (name, type(value).__name__))
        try:
            arr = np.asarray(value)
        except ValueError:          # ragged: keep the rows as objects
            arr = np.empty(len(value), dtype=object)
            for i, row in enumerate(value):
                arr[i] = row
    if arr.ndim == 0:
        raise ValueError("%s must have a row axis; got a 0-d array" % name)
    return arr


# ---- padding --------------------------------------------------------------------------

def pad_sequences(seqs, maxlen=None, dtype=np.int64, padding="post", truncating="post",
                  value=0, empty="pad"):
    """Pads (and truncates) sequences to one length T, keeping their lengths.

    seqs: a sequence of N sequences (lists, 1-D arrays; or (L, *features) arrays,
      all with the same trailing shape, giving an output of shape (N, T, *features)).
    maxlen: T; None means the longest sequence (at least 1). Longer sequences are
      truncated to maxlen.
    dtype: the output dtype (default int64, for token ids). Values that do not fit
      (fractions into an integer dtype, out-of-range integers) raise instead of
      being silently changed.
    padding: 'post' (default) puts the padding after the tokens, 'pre' before.
    truncating: 'post' (default) drops the tokens past maxlen, 'pre' drops the
      first ones (keeps the end of a long review).
    value: the padding value.
    empty: what an empty sequence becomes: 'pad' (default) one padding step with
      length 1 -- the GRU needs lengths in 1..T, so it reads one padding token, whose
      embedding a model learns to ignore; 'error' raises ValueError naming the row.

    Why 'post' padding (Keras pads 'pre' by default): pygru.GRU with lengths reads
    steps 0..length-1 of each row and returns the state after the last real token,
    so the tokens must come first. 'pre' padding is what a GRU *without* lengths
    needs (the padding then comes before the tokens and the last step is a real
    token), which is why Keras chose it; with 'pre' padding the lengths returned
    here are still the kept lengths, but they do not describe where the tokens are.

    Returns (x, lengths): x of shape (N, T, *features) and dtype, lengths (N,) int32
    with the number of real steps kept in each row (1 for an empty sequence).
    """
    if isinstance(seqs, (str, bytes)) or not hasattr(seqs, "__len__"):
        raise TypeError("seqs must be a sequence of sequences; got %s" % type(seqs).__name__)
    maxlen = _check_int(maxlen, "maxlen", minimum=1, allow_none=True)
    _check_choice(padding, "padding", ("post", "pre"))
    _check_choice(truncating, "truncating", ("post", "pre"))
    _check_choice(empty, "empty", ("pad", "error"))
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError("dtype must be a NumPy dtype; got %r" % (dtype,)) from None

    rows = []
    feature_shape = None
    for i, s in enumerate(seqs):
        if isinstance(s, (str, bytes)):
            raise TypeError("seqs[%d] must be a sequence of values, not a %s (tokenize "
                            "and encode text first)" % (i, type(s).__name__))
        try:
            arr = np.asarray(s)
        except ValueError as exc:
            raise ValueError("seqs[%d] could not be converted to an array: %s" % (i, exc)) from None
        if arr.ndim == 0:
            raise TypeError("seqs[%d] must be a sequence; got a scalar %r" % (i, arr.item()))
        if arr.shape[0] == 0:
            if empty == "error":
                raise ValueError("seqs[%d] is empty: a GRU needs at least one step per "
                                 "sequence (lengths in 1..T); use empty='pad'" % i)
        else:
            if feature_shape is None:
                feature_shape = arr.shape[1:]
            elif arr.shape[1:] != feature_shape:
                raise ValueError("seqs[%d] must have steps of shape %s like the first "
                                 "non-empty sequence; got %s"
                                 % (i, _fmt_shape(feature_shape), _fmt_shape(arr.shape[1:])))
            _check_values_fit(arr, dtype, "seqs[%d]" % i)
        rows.append(arr)
    if feature_shape is None:
        feature_shape = ()
    n = len(rows)
    if maxlen is None:
        maxlen = max([r.shape[0] for r in rows] + [1])
    _check_values_fit(np.asarray([value]), dtype, "value")

    x = np.full((n, maxlen) + feature_shape, value, dtype=dtype)
    lengths = np.empty(n, dtype=np.int32)
    for i, r in enumerate(rows):
        L = r.shape[0]
        if L == 0:
            lengths[i] = 1
            continue
        if L > maxlen:
            r = r[:maxlen] if truncating == "post" else r[L - maxlen:]
            L = maxlen
        if padding == "post":
            x[i, :L] = r
        else:
            x[i, maxlen - L:] = r
        lengths[i] = L
    return x, lengths


def _check_values_fit(arr, dtype, name):
    """Raises unless every value of arr is representable in dtype unchanged."""
    kind = arr.dtype.kind
    if dtype.kind in "iu":
        if kind == "f":
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(arr) | (arr != np.floor(arr))
            if bad.any():
                raise ValueError("%s must hold whole numbers for dtype %s; got %r"
                                 % (name, dtype, arr[bad].flat[0].item()))
        elif kind not in "iub":
            raise TypeError("%s must hold integers for dtype %s; got dtype %s"
                            % (name, dtype, arr.dtype))
        if arr.size:
            info = np.iinfo(dtype)
            lo, hi = arr.min(), arr.max()
            if lo < info.min or hi > info.max:
                raise ValueError("%s holds %r, outside the range of %s (%d..%d)"
                                 % (name, (lo if lo < info.min else hi).item(), dtype,
                                    info.min, info.max))
    elif dtype.kind == "f":
        if kind not in "iubf":
            raise TypeError("%s must hold numbers for dtype %s; got dtype %s"
                            % (name, dtype, arr.dtype))


# ---- mini-batches -------------------------------------------------------------------

class Batches:
    """Aligned mini-batches of several arrays, one epoch per iteration.

    Batches(*arrays, batch_size, shuffle=False, seed=None, drop_last=False,
            lengths=None, trim=True, bucket=None)

    arrays: one or more arrays (or array-likes; ragged lists become object arrays)
      with the same number of rows N. Every batch is a tuple holding the same rows of
      each array, in order, followed by those rows' lengths when lengths is given.
    batch_size: rows per batch; the last batch of an epoch is smaller when N is not
      a multiple, unless drop_last=True drops it.
    shuffle: a new random order of the rows every epoch. seed: int or None (fresh
      entropy); epoch k draws its order from numpy.random.default_rng on child k of
      numpy.random.SeedSequence(seed), so the same seed gives the same epochs, and
      epoch(k) does not depend on which epochs came before.
    lengths: (N,) integer lengths in 1..T of the padded arrays' time axis (axis 1),
      e.g. from pad_sequences.
    trim: with lengths, cut axis 1 of the padded arrays to the batch's longest
      sequence. True trims every array whose axis 1 has the size of the first
      array's axis 1 (so the first array must be the padded one, ndim >= 2); a
      tuple of indices into arrays names them explicitly; False trims nothing.
    bucket: None/0 (off), or k >= 1: bucketing by length -- the epoch's order (shuffled
      or not) is cut into chunks of k * batch_size rows, each chunk is sorted by
      length (longest first, stable), cut into batches, and with shuffle the batches
      of the epoch are then put in a random order (same generator, so reproducible).
      Batches then hold sequences of similar length, which trimming turns into speed.

    len(b) is the number of batches per epoch. Iterating b runs the next epoch
    (0, 1, 2, ...); b.epoch(k) runs epoch k explicitly and b.order(k) gives its row
    order. Batch arrays are new C-contiguous arrays (never views of the inputs).
    """

    def __init__(self, *arrays, batch_size, shuffle=False, seed=None, drop_last=False,
                 lengths=None, trim=True, bucket=None):
        if not arrays:
            raise TypeError("Batches needs at least one array")
        self._arrays = [_as_rows(a, "arrays[%d]" % i) for i, a in enumerate(arrays)]
        n = len(self._arrays[0])
        for i, a in enumerate(self._arrays):
            if len(a) != n:
                raise ValueError("arrays[%d] must have %d rows like arrays[0]; got shape %s"
                                 % (i, n, _fmt_shape(a.shape)))
        self.n = n
        self.batch_size = _check_int(batch_size, "batch_size", minimum=1)
        self.shuffle = _check_flag(shuffle, "shuffle")
        self.drop_last = _check_flag(drop_last, "drop_last")
        self._seed_seq = np.random.SeedSequence(_check_seed(seed))
        bucket = _check_int(bucket, "bucket", minimum=0, allow_none=True)
        self.bucket = bucket or None
        self._next_epoch = 0

        self._lengths = None
        self._trim = ()
        if lengths is not None:
            self._lengths = self._check_lengths(lengths, trim)
        elif self.bucket is not None:
            raise ValueError("bucket needs lengths (bucketing sorts by length)")

    def _check_lengths(self, lengths, trim):
        arr = np.asarray(lengths)
        if arr.dtype.kind not in "iu":
            raise TypeError("lengths must be an integer array; got dtype %s" % arr.dtype)
        if arr.shape != (self.n,):
            raise ValueError("lengths must have shape %s (one per row); got %s"
                             % (_fmt_shape((self.n,)), _fmt_shape(arr.shape)))
        if isinstance(trim, (bool, np.bool_)):
            if trim:
                first = self._arrays[0]
                if first.ndim < 2:
                    raise ValueError("trim=True trims the arrays shaped like arrays[0], "
                                     "which must be the padded (N, T, ...) array; got shape "
                                     "%s (pass trim=(indices,) or trim=False)"
                                     % _fmt_shape(first.shape))
                T = first.shape[1]
                self._trim = tuple(i for i, a in enumerate(self._arrays)
                                   if a.ndim >= 2 and a.shape[1] == T)
        else:
            try:
                idx = tuple(_check_int(i, "trim index") for i in trim)
            except TypeError:
                raise TypeError("trim must be a bool or a tuple of array indices; got %r"
                                % (trim,)) from None
            for i in idx:
                if not 0 <= i < len(self._arrays):
                    raise ValueError("trim index %d is not an array index (0..%d)"
                                     % (i, len(self._arrays) - 1))
                if self._arrays[i].ndim < 2:
                    raise ValueError("trim index %d names arrays[%d] of shape %s, which has "
                                     "no time axis (axis 1)"
                                     % (i, i, _fmt_shape(self._arrays[i].shape)))
            self._trim = idx
        if arr.size:
            T = min((self._arrays[i].shape[1] for i in self._trim), default=None)
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 1 or (T is not None and hi > T):
                bad = int(np.flatnonzero((arr < 1) | (arr > (T if T is not None else hi)))[0])
                raise ValueError("lengths must be in 1..%s (the padded length); got %d "
                                 "at index %d" % (T if T is not None else "T",
                                                  int(arr[bad]), bad))
        return np.ascontiguousarray(arr, dtype=np.int32)

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def _rng(self, k):
        child = np.random.SeedSequence(self._seed_seq.entropy, spawn_key=(k,))
        return np.random.default_rng(child)

    def _batch_indices(self, k):
        """The row indices of each batch of epoch k."""
        k = _check_int(k, "epoch", minimum=0)
        rng = self._rng(k) if self.shuffle else None
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        bs = self.batch_size
        if self.bucket is None:
            cuts = [order[i:i + bs] for i in range(0, self.n, bs)]
        else:
            chunk = self.bucket * bs
            cuts = []
            for start in range(0, self.n, chunk):
                part = order[start:start + chunk]
                part = part[np.argsort(-self._lengths[part], kind="stable")]
                cuts.extend(part[i:i + bs] for i in range(0, len(part), bs))
        if self.drop_last and cuts and len(cuts[-1]) < bs:
            cuts.pop()
        if self.bucket is not None and self.shuffle and cuts:
            cuts = [cuts[i] for i in rng.permutation(len(cuts))]
        return cuts

    def order(self, k):
        """The row order of epoch k (all its batches' indices, concatenated)."""
        cuts = self._batch_indices(k)
        return np.concatenate(cuts) if cuts else np.empty(0, dtype=np.intp)

    def epoch(self, k):
        """Iterator over the batches of epoch k (a tuple per batch)."""
        cuts = self._batch_indices(k)
        return (self._take(idx) for idx in cuts)

    def _take(self, idx):
        out = []
        tb = None
        if self._lengths is not None:
            lens = self._lengths[idx]
            tb = int(lens.max())
        for i, a in enumerate(self._arrays):
            if i in self._trim:
                out.append(np.ascontiguousarray(a[idx, :tb]))
            else:
                out.append(np.ascontiguousarray(a[idx]))
        if self._lengths is not None:
            out.append(lens)
        return tuple(out)

    def __iter__(self):
        k = self._next_epoch
        self._next_epoch += 1
        return self.epoch(k)


def batches(*arrays, batch_size, shuffle=False, seed=None, drop_last=False, lengths=None,
            trim=True, bucket=None):
    """Aligned mini-batches of arrays: a Batches object (see there). Iterate it once
    per epoch; each iteration is a new shuffle when shuffle=True.

        >>> x, lengths = pad_sequences(seqs)
        >>> data = batches(x, y, batch_size=32, shuffle=True, seed=0, lengths=lengths)
        >>> for epoch in range(3):
        ...     for xb, yb, lb in data:      # xb trimmed to lb.max() steps
        ...         ...
    """
    return Batches(*arrays, batch_size=batch_size, shuffle=shuffle, seed=seed,
                   drop_last=drop_last, lengths=lengths, trim=trim, bucket=bucket)
