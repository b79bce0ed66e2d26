"""pygru._validate - the one place where pygru checks and converts user arguments.

Every public entry point of the package (GRU, GRUCell, the layers, losses and
optimisers, the data tools, the converters) validates through these functions, so
that a bad argument gets the same kind of error everywhere:

  * TypeError for a wrong kind of value (a float where an int is needed, a complex or
    object array, a bool where a number is needed), naming the argument and what it
    got;
  * ValueError for a value of the right kind but wrong size or range, naming the
    argument, the expected and the actual shape or value.

The conversions (to_numpy, as_real_array, float_array, as_lengths) never let a foreign
object's own exception through: a tensor NumPy cannot hold (bfloat16, sparse, meta,
...) or a conversion that raises becomes TypeError/ValueError naming the argument.
as_real_array(own=True) gives memory nobody else holds (an input kept for later);
check_disjoint refuses arrays that overlap where the library writes one of them.

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


def _foreign_kind(value):
    """"a torch tensor", "a memoryview", ... for error messages."""
    cls = type(value)
    root = cls.__module__.split(".")[0]
    if root == "torch" or any(c.__module__.split(".")[0] == "torch" for c in cls.__mro__):
        return "a torch tensor"
    return "a %s" % (cls.__name__ if root == "builtins" else "%s.%s" % (root, cls.__name__))


# The torch dtypes that Tensor.numpy() converts (a fixed list: asking NumPy whether it
# knows a name such as "bfloat16" depends on whether ml_dtypes was imported)
_TORCH_NUMPY_DTYPES = frozenset("torch." + n for n in (
    "float16", "float32", "float64", "complex64", "complex128", "bool", "int8", "int16",
    "int32", "int64", "uint8", "uint16", "uint32", "uint64"))


def _tensor_problem(value, hint):
    """Why a tensor-like object cannot become an ndarray, found before trying: no data
    (meta), a sparse layout, a dtype NumPy lacks (bfloat16, float8, complex32,
    quantized, bits); or None."""
    kind = _foreign_kind(value)
    if getattr(value, "is_meta", False) is True:
        return "a meta tensor (no data)"
    layout = str(getattr(value, "layout", ""))
    if "sparse" in layout:
        return "a sparse %s (call .to_dense())" % kind[2:]
    if layout.startswith("torch.") and layout != "torch.strided":
        return "%s with layout %s (call .to_dense())" % (kind, layout)
    dtype = str(getattr(value, "dtype", ""))
    if dtype.startswith("torch.") and dtype not in _TORCH_NUMPY_DTYPES:
        if "qint" in dtype or "quint" in dtype:
            hint = ".dequantize()"
        return "%s of dtype %s%s" % (kind, dtype, " (call %s first)" % hint if hint else "")
    return None


def to_numpy(value, name="value", expected="an array", hint=".float()"):
    """NumPy view of array-likes, including tensors that require grad (anything with
    .detach() and .numpy(), e.g. a torch.Tensor; one on another device is copied to the
    CPU through .cpu()); other values are returned unchanged. A tensor's negative or
    conjugate bit is resolved (its values, not its raw memory). A tensor that cannot
    become an ndarray (bfloat16, sparse, meta, ...) or whose conversion raises gives
    TypeError "<name> must be <expected>; got <what it is>" (``hint``: the call that
    would convert it), with the original message appended when there is one."""
    if isinstance(value, np.ndarray):
        return value
    detach, numpy_ = getattr(value, "detach", None), getattr(value, "numpy", None)
    if not (callable(detach) or callable(numpy_)):
        return value
    problem = _tensor_problem(value, hint)
    if problem is not None:
        raise TypeError("%s must be %s; got %s" % (name, expected, problem))
    original = value
    try:
        if callable(detach):
            value = value.detach()
            if callable(getattr(value, "cpu", None)):
                value = value.cpu()
            for bit, resolve in (("is_conj", "resolve_conj"), ("is_neg", "resolve_neg")):
                if callable(getattr(value, bit, None)) and getattr(value, bit)() is True:
                    value = getattr(value, resolve)()
        if callable(getattr(value, "numpy", None)):
            value = value.numpy()
    except MemoryError:
        raise
    except Exception as exc:
        raise TypeError("%s must be %s; got %s whose conversion to an array failed (%s: %s)"
                        % (name, expected, _foreign_kind(original), type(exc).__name__, exc)
                        ) from exc
    return value


def _asarray(value, name):
    """np.asarray, any failure (a ragged nested list, an object whose __array__ or
    buffer raises) as ValueError naming the argument; MemoryError passes through."""
    try:
        return np.asarray(value)
    except MemoryError:
        raise
    except Exception as exc:
        raise ValueError("%s could not be converted to an array: %s%s"
                         % (name, "" if isinstance(exc, (ValueError, TypeError))
                            else type(exc).__name__ + ": ", exc)) from None


def _got(value, arr):
    """What a caller passed, for a dtype error: "None", "a str", or "dtype <dtype>"."""
    if value is None:
        return "None"
    if isinstance(value, (str, bytes)):
        return "a %s" % type(value).__name__
    return "dtype %s" % arr.dtype


def as_real_array(value, name, dtype, own=False):
    """``value`` as a C-contiguous, aligned ndarray of ``dtype`` (float32 or float64).

    Real inputs of any other dtype (float16, float64 on a float32 model, integers),
    any memory order (Fortran, strided views) and nested lists are converted. Complex,
    bool, object, string, bytes, datetime and structured data raise TypeError naming
    the argument and its dtype; ragged nested lists raise ValueError.

    own=True: the result is memory that nothing else can reach (for an input kept for
    later, e.g. until backward): the conversion's own new array when it made one,
    otherwise a copy, whatever the caller passed (an ndarray or a view of one, a
    memoryview, array.array, a torch tensor, a Parameter, ...)."""
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous \
            and value.flags.aligned:
        return value.copy() if own else value  # the common case, cheap for one-step calls
    src = to_numpy(value, name, "a real floating-point array", ".float()")
    arr = _asarray(src, name)
    if arr.dtype.kind not in "fiu":
        raise TypeError("%s must be a real floating-point array; got %s" % (name, _got(value, arr)))
    out = np.require(arr, dtype=dtype, requirements=["C", "A"])
    if own:
        # Fresh: np.asarray built it from Python objects (a list, tuple or number), or
        # np.require made a new array from the caller's memory.
        fresh = type(src) in (list, tuple, int, float) or (
            out.flags.owndata and not np.may_share_memory(out, arr))
        if not fresh:
            out = out.copy()
    return out


def float_array(value, name, dtype=None):
    """``value`` as a C-contiguous float32/float64 ndarray: of ``dtype`` when given,
    else of its own dtype when that is float32 or float64, else float32."""
    if dtype is None:
        value = to_numpy(value, name, "a real floating-point array", ".float()")
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
    """Sequence lengths as a contiguous, aligned int32 array of shape (batch,), every
    value in 1..seq_len. Accepts any integer array-like (lists, NumPy arrays, CPU tensors) and
    floats without a fractional part; rejects bools, fractions, NaN, 0, negatives,
    values > seq_len (Python integers beyond 64 bits too) and a wrong count."""
    arr = _asarray(to_numpy(value, name, "an integer array", ".long()"), name)
    kind = arr.dtype.kind
    # An object array of Python integers (some beyond 64 bits, or an explicit
    # dtype=object): checked as integers, not refused as a type
    ints = kind == "O" and arr.size > 0 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in arr.flat)
    if kind not in "iuf" and not ints:
        raise TypeError("%s must be an integer array; got %s" % (name, _got(value, arr)))
    if arr.ndim != 1 or arr.shape[0] != batch:
        raise ValueError("%s must have shape %s (one length per batch entry); got %s"
                         % (name, fmt_shape((batch,)), fmt_shape(arr.shape)))
    if ints:
        bad = [i for i, v in enumerate(arr) if not 1 <= v <= seq_len]
        if bad:
            raise ValueError("%s must be in 1..%d (the sequence length); got %d at index %d"
                             % (name, seq_len, arr[bad[0]], bad[0]))
        return np.array([int(v) for v in arr], dtype=np.int32)
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
    # C-contiguous and aligned (libgru refuses a misaligned buffer): a copy when needed
    return np.require(arr, dtype=np.int32, requirements=["C", "A"])


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


_TooHardError = getattr(np, "exceptions", np).TooHardError   # np.exceptions: NumPy >= 1.25


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
        except _TooHardError:
            pass
    raise ValueError("%s must not overlap %s (the call writes one while it reads the "
                     "other); pass separate arrays" % (a_name, b_name))
