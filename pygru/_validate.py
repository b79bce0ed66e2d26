"""pygru._validate - the one place where pygru checks and converts user arguments.

Every public entry point of the package (GRU, GRUCell, the layers, losses and
optimisers, the data tools, the converters) validates through these functions, so
that a bad argument gets the same kind of error everywhere:

  * TypeError for a wrong kind of value (a float where an int is needed, a complex or
    object array, a bool where a number is needed), naming the argument and what it
    got;
  * ValueError for a value of the right kind but wrong size or range, naming the
    argument, the expected and the actual shape or value.

Nothing here touches the C library, so it imports without the compiled extension.
"""
import numbers

import numpy as np

__all__ = ["DTYPES", "to_numpy", "as_real_array", "float_array", "fmt_shape", "check_shape",
           "as_lengths", "check_int", "check_size", "check_flag", "check_bool", "check_choice",
           "check_eps", "check_rate", "check_real",
           "check_seed", "make_rng", "model_dtype", "check_state_keys", "check_buffer",
           "check_disjoint"]

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def to_numpy(value):
    """NumPy view of array-likes, including tensors that require grad (anything with
    .detach() and .numpy(), e.g. a CPU torch.Tensor)."""
    if isinstance(value, np.ndarray):
        return value
    if callable(getattr(value, "detach", None)):
        value = value.detach()
        if callable(getattr(value, "cpu", None)):
            value = value.cpu()
    if callable(getattr(value, "numpy", None)):
        value = value.numpy()
    return value


def _asarray(value, name):
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s could not be converted to an array: %s" % (name, exc)) from None


def as_real_array(value, name, dtype):
    """``value`` as a C-contiguous, aligned ndarray of ``dtype`` (float32 or float64).

    Real inputs of any other dtype (float16, float64 on a float32 model, integers),
    any memory order (Fortran, strided views) and nested lists are converted. Complex,
    bool, object, string, bytes, datetime and structured data raise TypeError naming
    the argument and its dtype; ragged nested lists raise ValueError."""
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous \
            and value.flags.aligned:
        return value   # the common case, kept cheap for one-step calls
    arr = _asarray(to_numpy(value), name)
    if arr.dtype.kind not in "fiu":
        raise TypeError("%s must be a real floating-point array; got dtype %s" % (name, arr.dtype))
    return np.require(arr, dtype=dtype, requirements=["C", "A"])


def float_array(value, name, dtype=None):
    """``value`` as a C-contiguous float32/float64 ndarray: of ``dtype`` when given,
    else of its own dtype when that is float32 or float64, else float32."""
    if dtype is None:
        value = to_numpy(value)
        if not isinstance(value, np.ndarray):
            value = _asarray(value, name)
        dtype = value.dtype if value.dtype in DTYPES else np.float32
    return as_real_array(value, name, np.dtype(dtype))


def fmt_shape(shape):
    """(2, 3) -> "(2, 3)", (4,) -> "(4,)"."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_shape(arr, name, expected, meaning=None):
    """ValueError naming the argument, the expected and the actual shape."""
    if tuple(arr.shape) != tuple(expected):
        raise ValueError("%s must have shape %s%s; got %s" % (
            name, fmt_shape(expected), " " + meaning if meaning else "", fmt_shape(arr.shape)))


def as_lengths(value, batch, seq_len, name="lengths"):
    """Sequence lengths as a contiguous int32 array of shape (batch,), every value in
    1..seq_len. Accepts any integer array-like (lists, NumPy arrays, CPU tensors) and
    floats without a fractional part; rejects bools, fractions, NaN, 0, negatives,
    values > seq_len and a wrong count."""
    arr = _asarray(to_numpy(value), name)
    kind = arr.dtype.kind
    if kind not in "iuf":
        raise TypeError("%s must be an integer array; got dtype %s" % (name, arr.dtype))
    if arr.ndim != 1 or arr.shape[0] != batch:
        raise ValueError("%s must have shape %s (one length per batch entry); got %s"
                         % (name, fmt_shape((batch,)), fmt_shape(arr.shape)))
    if kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            raise ValueError("%s must hold whole numbers; got %r at index %d"
                             % (name, arr[bad][0].item(), int(np.flatnonzero(bad)[0])))
    out_of_range = (arr < 1) | (arr > seq_len)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise ValueError("%s must be in 1..%d (the sequence length); got %r at index %d"
                         % (name, seq_len, arr[i].item(), i))
    return np.ascontiguousarray(arr, dtype=np.int32)


def check_int(value, name, minimum=None, allow_none=False):
    """A Python or NumPy integer (bool rejected) -> int, optionally >= minimum."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError("%s must be %san int; got %s"
                        % (name, "None or " if allow_none else "", type(value).__name__))
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError("%s must be >= %d; got %d" % (name, minimum, value))
    return value


def check_size(value, name, minimum=1):
    """A size: an integer >= minimum (default 1) that fits in int64 -> int."""
    value = check_int(value, name, minimum)
    if value >= 2 ** 63:
        raise ValueError("%s is too large (must fit in int64); got %d" % (name, value))
    return value


def check_flag(value, name):
    """bool, or an integer 0/1 -> bool."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral, np.integer)) and int(value) in (0, 1):
        return bool(value)
    raise TypeError("%s must be a bool; got %r" % (name, value))


def check_bool(value, name):
    """A bool (or NumPy bool) -> bool; integers are refused (stricter than check_flag,
    for options where 1 would more likely be a mistake than a flag)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError("%s must be a bool; got %s" % (name, type(value).__name__))
    return bool(value)


def check_choice(value, name, choices):
    """One of ``choices`` -> value; ValueError listing them otherwise."""
    if value not in choices:
        raise ValueError("%s must be one of %s; got %r"
                         % (name, ", ".join(repr(c) for c in choices), value))
    return value


def check_eps(eps, name="eps"):
    """A real number >= 0 (a numerical-stability constant) -> float."""
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError("%s must be a real number >= 0; got %r" % (name, eps))
    return float(eps)


def check_real(value, name, lo, hi, hi_open):
    """A real number (bool rejected) in [lo, hi] or [lo, hi) -> float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a real number; got %r" % (name, value))
    value = float(value)
    if not (lo <= value and (value < hi if hi_open else value <= hi)):
        raise ValueError("%s must be in [%g, %g%s; got %r"
                         % (name, lo, hi, ")" if hi_open else "]", value))
    return value


def check_rate(p, name):
    """A dropout rate: a real number in [0, 1) -> float."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError("%s must be a real number in [0, 1); got %r" % (name, p))
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError("%s must be in [0, 1); got %r" % (name, p))
    return p


def check_seed(seed):
    """None or an int >= 0 -> None or int."""
    return check_int(seed, "seed", minimum=0, allow_none=True)


def make_rng(seed):
    """numpy Generator for ``seed`` (None: fresh entropy); seed must be an int >= 0."""
    return np.random.default_rng(check_seed(seed))


def model_dtype(dtype):
    """np.float32 / 'float32' / np.dtype('float32') (and float64) -> np.dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError("dtype must be float32 or float64; got %r" % (dtype,)) from None
    if dt not in DTYPES:
        raise TypeError("dtype must be float32 or float64; got %s" % dt)
    return dt


def check_state_keys(owner, missing, unexpected, strict):
    """load_state_dict's key check (PyTorch's message): with strict, missing or
    unexpected keys raise ValueError listing them."""
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append("missing keys: %s" % ", ".join(map(repr, missing)))
        if unexpected:
            parts.append("unexpected keys: %s" % ", ".join(map(repr, unexpected)))
        raise ValueError("error loading state_dict into %s: %s" % (owner, "; ".join(parts)))


def check_buffer(arr, name, shape, dtype, meaning):
    """An array the library writes into: exactly ``shape``, ``dtype``, C-contiguous,
    aligned and writable (it is updated in place, so no conversion can be made)."""
    if type(arr) is np.ndarray and arr.dtype == dtype and arr.shape == shape and \
            arr.flags.c_contiguous and arr.flags.writeable and arr.flags.aligned:
        return
    if not isinstance(arr, np.ndarray):
        raise TypeError("%s must be a NumPy array (it is updated in place); got %s"
                        % (name, type(arr).__name__))
    if arr.dtype != dtype:
        raise TypeError("%s must have dtype %s (the model's; it is updated in place); got %s"
                        % (name, dtype, arr.dtype))
    check_shape(arr, name, shape, meaning)
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        raise ValueError("%s must be C-contiguous and aligned (it is updated in place)" % name)
    raise ValueError("%s must be writable (it is updated in place)" % name)


def check_disjoint(a, a_name, b, b_name, max_work=10 ** 4):
    """ValueError naming both arguments when arrays ``a`` and ``b`` share memory and
    one of them is written by the call (libgru reads and writes them in an order that
    assumes separate buffers). Exact and cheap for contiguous arrays (one bounds
    comparison); strided ones get np.shares_memory with ``max_work``, and an overlap
    too costly to rule out counts as one."""
    if not np.may_share_memory(a, b):   # bounds only
        return
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        try:
            if not np.shares_memory(a, b, max_work=max_work):
                return
        except np.exceptions.TooHardError:
            pass
    raise ValueError("%s must not overlap %s (the call writes one while it reads the "
                     "other); pass separate arrays" % (a_name, b_name))
