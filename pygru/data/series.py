"""pygru.data.series - a real time series shipped with pygru (yearly sunspot numbers,
1700-2008) and the helpers to turn a series into GRU training data: sliding windows, a
chronological train/test split and a standardizer fitted on the training part only.

The data (sunspots.csv, next to this file): the yearly mean sunspot numbers
1700-2008, version 1 of the international sunspot number series, from WDC-SILSO,
Royal Observatory of Belgium, Brussels, as distributed by NOAA's National Geophysical
Data Center; the copy is the one in statsmodels (statsmodels.datasets.sunspots, whose
notes say the data are public domain). 309 consecutive years; e.g. 1700 = 5.0,
1957 = 190.2 (the maximum), 2008 = 2.9. SILSO has since published a recalibrated
version 2 series (2015) with different values: this file is version 1.

Guarantees:
  * load_sunspots reads the file from the installed package (importlib.resources),
    checks it (309 consecutive years, finite values >= 0) and returns fresh arrays;
  * make_windows' sample i is X[i] = series[i : i+window], y[i] = series[i+window :
    i+window+horizon], in time order, no sample overlapping the end;
  * train_test_split_series never shuffles: the test part is the tail;
  * Standardizer uses only the data given to fit; transform/inverse_transform are
    exact inverses (up to rounding).
"""
import csv
import io
import math
import numbers
from importlib import resources

import numpy as np

from .batching import _check_int, _fmt_shape

__all__ = ["load_sunspots", "make_windows", "train_test_split_series", "Standardizer"]

_SUNSPOTS_FIRST, _SUNSPOTS_COUNT = 1700, 309


def load_sunspots():
    """The yearly mean sunspot numbers 1700-2008 (see the module docstring).
    Returns (years, values): (309,) int64 and (309,) float64."""
    text = resources.files(__package__).joinpath("sunspots.csv").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(rows)))
    header = next(reader)
    if header != ["YEAR", "SUNACTIVITY"]:
        raise ValueError("sunspots.csv: expected the header YEAR,SUNACTIVITY; got %r" % header)
    years, values = [], []
    for rec in reader:
        years.append(int(rec[0]))
        values.append(float(rec[1]))
    years = np.asarray(years, np.int64)
    values = np.asarray(values, np.float64)
    expected = np.arange(_SUNSPOTS_FIRST, _SUNSPOTS_FIRST + _SUNSPOTS_COUNT)
    if years.shape != expected.shape or (years != expected).any() \
            or not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("sunspots.csv is damaged: expected %d consecutive years from %d "
                         "with finite values >= 0" % (_SUNSPOTS_COUNT, _SUNSPOTS_FIRST))
    return years, values


def _as_series(series, name="series"):
    arr = np.asarray(series)
    if arr.dtype.kind not in "iuf":
        raise TypeError("%s must be a real numeric array; got dtype %s" % (name, arr.dtype))
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError("%s must have shape (T,) or (T, 1); got %s"
                         % (name, _fmt_shape(arr.shape)))
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def make_windows(series, window, horizon=1):
    """Sliding windows over a 1-D series for one-step (or multi-step) forecasting.

    series: (T,) or (T, 1), real. window: steps of input; horizon: steps to predict.
    Returns (X, y): X (N, window, 1), y (N, horizon), N = T - window - horizon + 1,
    with X[i, :, 0] = series[i:i+window] and y[i] = series[i+window:i+window+horizon];
    float arrays of the series' float dtype (integers become float64), new memory.
    X is batch-first: use pygru.GRU(..., batch_first=True), or X.transpose(1, 0, 2)
    for the default (T, B, I) layout.
    """
    s = _as_series(series)
    window = _check_int(window, "window", minimum=1)
    horizon = _check_int(horizon, "horizon", minimum=1)
    n = s.shape[0] - window - horizon + 1
    if n < 1:
        raise ValueError("series of length %d is too short for window=%d and horizon=%d "
                         "(needs at least %d steps)" % (s.shape[0], window, horizon,
                                                         window + horizon))
    idx = np.arange(n)[:, None]
    X = s[idx + np.arange(window)][:, :, None]
    y = s[idx + window + np.arange(horizon)]
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


def train_test_split_series(series, test_size):
    """Splits a series in time order: (train, test), test being the last part.

    test_size: an int (number of steps) or a float in (0, 1) (fraction of the
    length, rounded up). Both parts must be non-empty. Works on any array whose
    first axis is time (a series, or windows from make_windows); returns views.
    """
    arr = np.asarray(series)
    if arr.ndim == 0:
        raise ValueError("series must have a time axis; got a 0-d array")
    T = arr.shape[0]
    if isinstance(test_size, (bool, np.bool_)):
        raise TypeError("test_size must be an int or a float; got bool")
    if isinstance(test_size, (numbers.Integral, np.integer)):
        k = int(test_size)
    elif isinstance(test_size, (numbers.Real, np.floating)):
        if not 0 < test_size < 1:
            raise ValueError("test_size as a fraction must be in (0, 1); got %r" % test_size)
        k = math.ceil(test_size * T)
    else:
        raise TypeError("test_size must be an int or a float; got %s" % type(test_size).__name__)
    if not 1 <= k <= T - 1:
        raise ValueError("test_size must leave both parts non-empty: 1..%d steps of %d; "
                         "got %d" % (T - 1, T, k))
    return arr[:T - k], arr[T - k:]


class Standardizer:
    """z = (x - mean) / std, with mean and std from the training data only.

    Standardizer(axis=None): axis=None uses one mean and std over all values; axis=0
    one per column (e.g. per feature of a (T, F) array). A std of 0 is replaced by 1
    (the values are then only centred). After fit: mean_, std_.
    """

    def __init__(self, axis=None):
        if axis not in (None, 0):
            raise ValueError("axis must be None or 0; got %r" % (axis,))
        self.axis = axis
        self.mean_ = None
        self.std_ = None

    def fit(self, x):
        """Computes mean_ and std_ (population std, ddof=0) of x. Returns self."""
        arr = np.asarray(x, dtype=np.float64)
        if arr.size == 0:
            raise ValueError("x must not be empty")
        if not np.isfinite(arr).all():
            raise ValueError("x must hold finite values only")
        self.mean_ = arr.mean(axis=self.axis)
        std = arr.std(axis=self.axis)
        self.std_ = np.where(std > 0, std, 1.0) if self.axis is not None else (
            float(std) if std > 0 else 1.0)
        if self.axis is None:
            self.mean_ = float(self.mean_)
        return self

    def _check(self):
        if self.mean_ is None:
            raise RuntimeError("Standardizer is not fitted: call fit(train) first")

    def transform(self, x):
        """(x - mean_) / std_, a new float array (x's float dtype, else float64)."""
        self._check()
        arr = np.asarray(x)
        dt = arr.dtype if arr.dtype.kind == "f" else np.float64
        return ((arr - self.mean_) / self.std_).astype(dt, copy=False)

    def inverse_transform(self, z):
        """z * std_ + mean_, back in the original units."""
        self._check()
        arr = np.asarray(z)
        dt = arr.dtype if arr.dtype.kind == "f" else np.float64
        return (arr * self.std_ + self.mean_).astype(dt, copy=False)

    def fit_transform(self, x):
        return self.fit(x).transform(x)
