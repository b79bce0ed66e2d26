"""pygru.demo.baseline - a bag-of-words logistic regression in NumPy, the order-blind
baseline a GRU is compared with.

Guarantees:
  * deterministic: no random numbers; the same data and arguments give the same
    weights (up to floating-point summation order of the BLAS);
  * the features ignore order entirely: a sequence is reduced to the count (or the
    presence, binary=True) of each id, padding and other ignored ids left out;
  * fit minimises mean logistic loss + l2/2 * |w|^2 (the intercept is not penalised)
    with Newton's method and a backtracking line search (dense, for up to max_dense
    features) or accelerated full-batch gradient descent on sparse features (more
    features, e.g. a 10 000-word IMDB vocabulary), both to a stated tolerance;
  * NumPy and pygru.data only: it imports without pygru's C extension.
"""
import numpy as np

from ..data.batching import _check_int

__all__ = ["BagOfWords"]


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _log1pexp(z):
    return np.logaddexp(0.0, z)


class _Sparse:
    """Rows x features in coordinate form (deduplicated), with the two products
    gradient descent needs."""

    def __init__(self, rows, cols, vals, n, v):
        self.rows, self.cols, self.vals, self.n, self.v = rows, cols, vals, n, v

    def dot(self, w):            # X @ w, (n,)
        return np.bincount(self.rows, weights=self.vals * w[self.cols], minlength=self.n)

    def tdot(self, r):           # X.T @ r, (v,)
        return np.bincount(self.cols, weights=self.vals * r[self.rows], minlength=self.v)

    def dense(self):
        x = np.zeros((self.n, self.v))
        x[self.rows, self.cols] = self.vals
        return x


class BagOfWords:
    """Logistic regression on bag-of-words features.

    BagOfWords(binary=False, l2=1e-3, ignore=(0, 1), num_features=None,
               max_iter=None, tol=1e-6, max_dense=2000)

    binary: features are 0/1 presence instead of counts.
    l2: the L2 penalty (>= 0; > 0 keeps the problem strictly convex).
    ignore: ids that are not features (default: padding 0 and start 1).
    num_features: ids 0..num_features-1 are features; None: 1 + the largest id seen
      by fit. Ids >= num_features at predict time are ignored.
    max_iter: iteration limit (None: 50 Newton steps or 5000 gradient steps).
    tol: stop when the largest gradient entry is below tol.
    max_dense: up to this many features (and at most 5e7 matrix entries, 400 MB),
      Newton's method on a dense matrix; above, accelerated gradient descent on
      sparse features.

    Inputs (fit, predict, ...) are sequences of ids: a list of lists, an object array
    of lists (as load_imdb_npz returns), or a padded 2-D integer array (its padding,
    id 0, is ignored by default). After fit: coef_ (num_features,), intercept_,
    n_iter_, converged_.
    """

    def __init__(self, binary=False, l2=1e-3, ignore=(0, 1), num_features=None,
                 max_iter=None, tol=1e-6, max_dense=2000):
        if not isinstance(binary, bool):
            raise TypeError("binary must be a bool; got %s" % type(binary).__name__)
        if not isinstance(l2, (int, float)) or isinstance(l2, bool) or not l2 >= 0:
            raise ValueError("l2 must be a number >= 0; got %r" % (l2,))
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0:
            raise ValueError("tol must be a number > 0; got %r" % (tol,))
        self.binary = binary
        self.l2 = float(l2)
        self.ignore = tuple(_check_int(i, "ignore id", minimum=0) for i in ignore)
        self.num_features = _check_int(num_features, "num_features", minimum=1,
                                       allow_none=True)
        self.max_iter = _check_int(max_iter, "max_iter", minimum=1, allow_none=True)
        self.tol = float(tol)
        self.max_dense = _check_int(max_dense, "max_dense", minimum=1)
        self.coef_ = None
        self.intercept_ = None

    # -- features --
    def _ids(self, sequences, name="sequences"):
        """(row index, id) of every token, as two int64 arrays, and the row count."""
        if isinstance(sequences, np.ndarray) and sequences.dtype != object:
            if sequences.ndim != 2 or sequences.dtype.kind not in "iu":
                raise ValueError("%s must be a padded 2-D integer array or a sequence of id "
                                 "lists; got an array of shape %s and dtype %s"
                                 % (name, sequences.shape, sequences.dtype))
            n = sequences.shape[0]
            rows = np.repeat(np.arange(n), sequences.shape[1])
            ids = sequences.reshape(-1).astype(np.int64)
        else:
            if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
                raise TypeError("%s must be a sequence of id lists; got %s"
                                % (name, type(sequences).__name__))
            n = len(sequences)
            lens = np.fromiter((len(s) for s in sequences), np.int64, count=n)
            rows = np.repeat(np.arange(n), lens)
            flat = [t for s in sequences for t in s]
            ids = np.asarray(flat, dtype=np.int64) if flat else np.empty(0, np.int64)
        if ids.size and ids.min() < 0:
            raise ValueError("%s must hold ids >= 0; got %d" % (name, int(ids.min())))
        return rows, ids, n

    def _features(self, sequences, v):
        rows, ids, n = self._ids(sequences)
        keep = ids < v
        for i in self.ignore:
            keep &= ids != i
        rows, ids = rows[keep], ids[keep]
        key = np.unique(rows * v + ids, return_counts=True)
        rows, cols = key[0] // v, key[0] % v
        vals = np.ones(len(rows)) if self.binary else key[1].astype(np.float64)
        return _Sparse(rows, cols, vals, n, v)

    # -- training --
    def fit(self, sequences, labels):
        """Fits the weights; labels: 0/1, one per sequence. Returns self."""
        y = np.asarray(labels)
        if y.ndim != 1 or y.dtype.kind not in "iub" or not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be a 1-D array of 0/1; got shape %s, dtype %s"
                             % (y.shape, y.dtype))
        v = self.num_features
        if v is None:
            _, ids, _ = self._ids(sequences)
            v = int(ids.max()) + 1 if ids.size else 1
        x = self._features(sequences, v)
        if x.n != len(y):
            raise ValueError("labels must have one entry per sequence (%d); got %d"
                             % (x.n, len(y)))
        y = y.astype(np.float64)
        if v <= self.max_dense and x.n * (v + 1) <= 5e7:
            w, b, it, ok = self._newton(x.dense(), y)
        else:
            w, b, it, ok = self._agd(x, y)
        self.coef_, self.intercept_, self.n_iter_, self.converged_ = w, b, it, ok
        self.num_features_ = v
        return self

    def _loss(self, z, y, w):
        return np.mean(_log1pexp(z) - y * z) + 0.5 * self.l2 * (w @ w)

    def _newton(self, x, y):
        n, v = x.shape
        xa = np.hstack([x, np.ones((n, 1))])          # last column: the intercept
        theta = np.zeros(v + 1)
        pen = np.full(v + 1, self.l2)
        pen[-1] = 0.0
        max_iter = self.max_iter or 50
        z = xa @ theta
        loss = self._loss(z, y, theta[:-1])
        for it in range(1, max_iter + 1):
            p = _sigmoid(z)
            g = xa.T @ (p - y) / n + pen * theta
            if np.abs(g).max() < self.tol:
                return theta[:-1], float(theta[-1]), it - 1, True
            h = (xa * (p * (1 - p))[:, None]).T @ xa / n
            h[np.diag_indices_from(h)] += pen + 1e-12
            step = np.linalg.solve(h, g)
            t = 1.0
            while True:   # backtracking (Armijo) line search
                cand = theta - t * step
                zc = xa @ cand
                lc = self._loss(zc, y, cand[:-1])
                if lc <= loss - 1e-4 * t * (g @ step) or t < 1e-10:
                    break
                t *= 0.5
            theta, z, loss = cand, zc, lc
        p = _sigmoid(z)
        g = xa.T @ (p - y) / n + pen * theta
        return theta[:-1], float(theta[-1]), max_iter, bool(np.abs(g).max() < self.tol)

    def _agd(self, x, y):
        """Nesterov-accelerated gradient descent with adaptive restart, step 1/L
        from a power-iteration bound on the largest eigenvalue of X^T X / (4n)."""
        n = x.n
        u = np.ones(x.v + 1) / np.sqrt(x.v + 1)

        def mat(theta):
            return x.dot(theta[:-1]) + theta[-1]

        def tmat(r):
            return np.append(x.tdot(r), r.sum())

        for _ in range(30):
            u = tmat(mat(u))
            u /= np.linalg.norm(u)
        lam = np.linalg.norm(tmat(mat(u)))
        lip = 1.1 * lam / (4 * n) + self.l2
        pen = np.full(x.v + 1, self.l2)
        pen[-1] = 0.0
        theta = np.zeros(x.v + 1)
        prev = theta.copy()
        k = 0                       # momentum counter, reset on restarts
        max_iter = self.max_iter or 5000
        for it in range(1, max_iter + 1):
            look = theta + (k - 1) / (k + 2) * (theta - prev) if k else theta
            g = tmat(_sigmoid(mat(look)) - y) / n + pen * look
            if np.abs(g).max() < self.tol:
                return look[:-1], float(look[-1]), it - 1, True
            new = look - g / lip
            # adaptive restart (O'Donoghue & Candes): drop the momentum when it
            # points uphill
            k = 0 if g @ (new - theta) > 0 else k + 1
            prev, theta = theta, new
        return theta[:-1], float(theta[-1]), max_iter, False

    # -- prediction --
    def _check_fitted(self):
        if self.coef_ is None:
            raise RuntimeError("BagOfWords is not fitted: call fit(sequences, labels) first")

    def decision_function(self, sequences):
        """The logit of class 1 for each sequence, (n,) float64."""
        self._check_fitted()
        x = self._features(sequences, self.num_features_)
        return x.dot(self.coef_) + self.intercept_

    def predict_proba(self, sequences):
        """P(label = 1) for each sequence, (n,) float64."""
        return _sigmoid(self.decision_function(sequences))

    def predict(self, sequences):
        """0/1 predictions, (n,) int64 (1 where the logit is > 0)."""
        return (self.decision_function(sequences) > 0).astype(np.int64)

    def score(self, sequences, labels):
        """Accuracy on the given sequences and 0/1 labels."""
        y = np.asarray(labels)
        pred = self.predict(sequences)
        if y.shape != pred.shape:
            raise ValueError("labels must have shape %s (one per sequence); got %s"
                             % (pred.shape, y.shape))
        return float(np.mean(pred == y))
