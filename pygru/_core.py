"""pygru._core - the thin layer between NumPy and libgru: loading the cffi extension,
turning status codes into Python exceptions, checking and converting user arrays,
and owning one C model (class CModel).

Guarantees:
  * every C status other than GRU_OK becomes an exception carrying gru_strerror's
    text and what was being done (MemoryError, ValueError or GRUError);
  * nothing reaches C before its dtype, shape and contiguity have been checked:
    arrays cross as C-contiguous, aligned buffers of the model dtype through
    ffi.from_buffer, and stay referenced for the whole call;
  * a C model is freed by ffi.gc(ptr, gru_destroy) when its Python owner goes away;
  * cffi API-mode calls release the GIL while the C code runs.
"""
import numbers
import os
import threading
import weakref

import numpy as np

try:
    from ._libgru import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the build state
    raise ImportError(
        "pygru's C extension (pygru._libgru) is not built: run `python build_ffi.py` "
        "in the source tree, or `pip install -e .` (%s)" % exc) from exc

__all__ = ["GRUError", "check", "info", "set_num_threads", "get_num_threads", "as_real_array", "check_shape", "as_lengths",
           "CModel", "DTYPES"]


class GRUError(RuntimeError):
    """A libgru failure that is neither bad input (ValueError) nor memory
    (MemoryError): an unknown parameter name, a stale or mismatched workspace, an
    unavailable kernel set (GRU_ISA), ... The status code is in ``.status``."""


_STATUS_NAMES = {getattr(lib, n): n for n in dir(lib)
                 if n.startswith("GRU_OK") or n.startswith("GRU_ERR_")}

_STATUS_EXCEPTIONS = {
    lib.GRU_ERR_NO_MEMORY: MemoryError,
    lib.GRU_ERR_INVALID_ARG: ValueError,
    lib.GRU_ERR_BAD_LENGTHS: ValueError,
    lib.GRU_ERR_SIZE_MISMATCH: ValueError,
    lib.GRU_ERR_OVERFLOW: ValueError,
    lib.GRU_ERR_NULL: ValueError,
    lib.GRU_ERR_UNSUPPORTED: ValueError,
    lib.GRU_ERR_IO: OSError,
    lib.GRU_ERR_FORMAT: ValueError,
}


def strerror(status):
    return ffi.string(lib.gru_strerror(int(status))).decode("utf-8", "replace")


def check(status, what):
    """Raises the exception for a libgru status (nothing for GRU_OK). ``what`` says
    what was being done, e.g. "creating the GRU model"."""
    status = int(status)
    if status == lib.GRU_OK:
        return
    name = _STATUS_NAMES.get(status, "status %d" % status)
    exc = _STATUS_EXCEPTIONS.get(status, GRUError)(
        "%s failed: %s (%s)" % (what, strerror(status), name))
    exc.status = status
    raise exc


# ---- information ----------------------------------------------------------------

def info():
    """What libgru is loaded: its version, ABI version, the kernel set a new model
    uses (after GRU_ISA), the kernel sets this build and CPU offer, and the thread
    count (libgru is single-threaded for now)."""
    cfg = ffi.new("gru_config *")
    lib.gru_config_init(cfg)
    cfg.input_size = cfg.hidden_size = 1
    pp = ffi.new("gru_model **")
    status = lib.gru_create(cfg, pp)
    if status == lib.GRU_OK:
        isa = ffi.string(lib.gru_isa(pp[0])).decode()
        lib.gru_destroy(pp[0])
    else:   # e.g. GRU_ISA names a kernel set this CPU lacks: report it, do not fail
        isa = None
    return {
        "version": ffi.string(lib.gru_version()).decode(),
        "abi_version": int(lib.gru_abi_version()),
        "isa": isa,
        "available_isas": ffi.string(lib.gru_available_isas()).decode().split(),
        "threads": get_num_threads(),
    }


# ---- threads ----------------------------------------------------------------------
# libgru gives every model its own pool; this module-level setting is pygru's, applied
# to every live model and to each new one. None: libgru's default (GRU_NUM_THREADS,
# else 1).

_num_threads = None
_models = weakref.WeakSet()
_threads_lock = threading.Lock()


def set_num_threads(n):
    """Sets the number of threads every pygru model uses (each model has its own
    small pool; results are bitwise identical for any number). n: int >= 1."""
    global _num_threads
    n = check_size(n, "n")
    with _threads_lock:
        for model in list(_models):
            model.set_num_threads(n)
        _num_threads = n


def get_num_threads():
    """The number of threads pygru models use (set_num_threads, else the environment
    variable GRU_NUM_THREADS, else 1)."""
    if _num_threads is not None:
        return _num_threads
    cfg = ffi.new("gru_config *")
    lib.gru_config_init(cfg)
    cfg.input_size = cfg.hidden_size = 1
    pp = ffi.new("gru_model **")
    if lib.gru_create(cfg, pp) != lib.GRU_OK:
        return 1
    n = int(lib.gru_get_num_threads(pp[0]))
    lib.gru_destroy(pp[0])
    return n


# ---- argument checking ----------------------------------------------------------

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_C_DTYPE = {np.dtype(np.float32): 1, np.dtype(np.float64): 2}   # gru_dtype


def model_dtype(dtype):
    """np.float32 / 'float32' / np.dtype('float32') (and float64) -> np.dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError("dtype must be float32 or float64; got %r" % (dtype,)) from None
    if dt not in DTYPES:
        raise TypeError("dtype must be float32 or float64; got %s" % dt)
    return dt


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


def _real_dtype_or_raise(arr, name):
    kind = arr.dtype.kind
    if kind in "fiu":
        return
    raise TypeError("%s must be a real floating-point array; got dtype %s" % (name, arr.dtype))


def as_real_array(value, name, dtype):
    """``value`` as a C-contiguous, aligned ndarray of ``dtype`` (a model dtype).

    Real inputs of any other dtype (float16, float64 on a float32 model, integers),
    any memory order (Fortran, strided views) and nested lists are converted. Complex,
    bool, object, string, bytes, datetime and structured data raise TypeError naming
    the argument and its dtype; ragged nested lists raise ValueError."""
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous \
            and value.flags.aligned:
        return value   # the common case, kept cheap for one-step calls
    value = to_numpy(value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s could not be converted to an array: %s" % (name, exc)) from None
    _real_dtype_or_raise(arr, name)
    return np.require(arr, dtype=dtype, requirements=["C", "A"])


def fmt_shape(shape):
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
    value = to_numpy(value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s could not be converted to an array: %s" % (name, exc)) from None
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


def check_size(value, name, minimum=1):
    """A positive Python or NumPy integer (bool rejected) -> int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError("%s must be an int; got %s" % (name, type(value).__name__))
    value = int(value)
    if value < minimum:
        raise ValueError("%s must be >= %d; got %d" % (name, minimum, value))
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


def aligned_empty(nbytes, align=64):
    """An uninitialised uint8 buffer of nbytes whose address is a multiple of align."""
    raw = np.empty(nbytes + align, dtype=np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset:offset + nbytes]


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


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


def _ptr(arr, writable=False):
    return ffi.from_buffer(arr, require_writable=writable)


# ---- one C model ----------------------------------------------------------------

class CModel:
    """Owns one C ``gru_model`` (freed through ffi.gc) and its parameter table.

    Sizes are the C names: input_size I, hidden_size H, num_layers L, D = 2 if
    bidirectional else 1. Parameter names are the C (PyTorch GRU) names, e.g.
    "weight_ih_l0_reverse". Methods are thin: callers pass arrays already checked
    and converted (C-contiguous, model dtype)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False,
                 bias=True, reset_after=True, dtype=np.float32, dropout=0.0, seed=0,
                 reverse=False, input_dropout=0.0, recurrent_dropout=0.0):
        self.dtype = np.dtype(dtype)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        self._precheck_memory(bias)
        cfg = ffi.new("gru_config *")
        lib.gru_config_init(cfg)
        cfg.input_size, cfg.hidden_size, cfg.num_layers = input_size, hidden_size, num_layers
        cfg.bidirectional, cfg.bias, cfg.reset_after = int(bidirectional), int(bias), int(reset_after)
        cfg.dtype = _C_DTYPE[self.dtype]
        cfg.dropout = float(dropout)
        cfg.seed = int(seed)
        cfg.reverse = int(reverse)
        cfg.input_dropout = float(input_dropout)
        cfg.recurrent_dropout = float(recurrent_dropout)
        pp = ffi.new("gru_model **")
        status = lib.gru_create(cfg, pp)
        if status == lib.GRU_ERR_ISA_UNAVAILABLE:
            check(status, "creating the GRU model with GRU_ISA=%r (available here: %s)" % (
                os.environ.get("GRU_ISA"), ffi.string(lib.gru_available_isas()).decode()))
        check(status, "creating the GRU model")
        self.ptr = ffi.gc(pp[0], lib.gru_destroy)
        # Parameter table, in PyTorch's state-dict order.
        count = ffi.new("size_t *")
        check(lib.gru_param_count(self.ptr, count), "counting the parameters")
        name_p, ndim, shape = ffi.new("const char **"), ffi.new("int *"), ffi.new("int64_t[2]")
        self.shapes = {}
        for i in range(count[0]):
            check(lib.gru_param_info(self.ptr, i, name_p, ndim, shape), "describing parameter %d" % i)
            self.shapes[ffi.string(name_p[0]).decode("ascii")] = tuple(int(shape[k]) for k in range(ndim[0]))
        self.isa = ffi.string(lib.gru_isa(self.ptr)).decode()
        with _threads_lock:
            if _num_threads is not None:
                check(lib.gru_set_num_threads(self.ptr, _num_threads), "starting threads")
            _models.add(self)
        # Serialises the calls that change the model (training forward: dropout
        # generator; backward: gradients; parameter writes). Inference forwards only
        # read the model and may run concurrently (gru.h), but not while its thread
        # pool is replaced: they count themselves in _inference (under _gate).
        self.lock = threading.RLock()
        self._gate = threading.Condition(threading.Lock())
        self._inference = 0
        self._scratch = None                    # cached inference workspace (uint8)
        self._scratch_lock = threading.Lock()
        self._step_scratch = (0, None, None)    # (batch, uint8 buffer, its cdata)

    def _precheck_memory(self, bias):
        """Refuses, before the C library allocates, a model whose parameters and
        gradients alone exceed the machine's physical memory (guards against
        overcommitting kernels, where the allocation would succeed and the first
        write would summon the OOM killer). Sizes that overflow are left to C."""
        I, H, L, D = self.input_size, self.hidden_size, self.num_layers, self.directions
        per_dir = lambda inp: 3 * H * inp + 3 * H * H + 6 * H
        elems = D * per_dir(I) + (L - 1) * D * per_dir(D * H)
        nbytes = 2 * elems * self.dtype.itemsize
        phys = _physical_memory()
        if phys and phys < nbytes < 2 ** 62:
            raise MemoryError(
                "creating the GRU model failed: its parameters and gradients need %d bytes, "
                "more than this machine's %d bytes of memory" % (nbytes, phys))

    # -- parameters --
    def param_get(self, name):
        dst = np.empty(self.shapes[name], dtype=self.dtype)
        check(lib.gru_param_get(self.ptr, name.encode(), _ptr(dst, True), dst.size),
              "reading parameter %s" % name)
        return dst

    def param_set(self, name, arr):
        """arr: C-contiguous, model dtype, shape self.shapes[name] (checked by caller)."""
        with self.lock:
            check(lib.gru_param_set(self.ptr, name.encode(), _ptr(arr), arr.size),
                  "setting parameter %s" % name)

    def grad_get(self, name):
        dst = np.empty(self.shapes[name], dtype=self.dtype)
        with self.lock:
            check(lib.gru_grad_get(self.ptr, name.encode(), _ptr(dst, True), dst.size),
                  "reading the gradient of %s" % name)
        return dst

    def zero_grad(self):
        with self.lock:
            check(lib.gru_zero_grad(self.ptr), "zeroing the gradients")

    def set_num_threads(self, n):
        # gru_set_num_threads replaces the model's pool: no call may be running.
        with self.lock, self._gate:
            while self._inference:
                self._gate.wait()
            check(lib.gru_set_num_threads(self.ptr, int(n)), "setting the thread count")

    def set_seed(self, seed):
        with self.lock:
            check(lib.gru_set_seed(self.ptr, int(seed)), "seeding the dropout generator")

    def dropout_masks(self, ws, layer, direction, batch):
        """(input mask (B, in), recurrent mask (B, H)) the training forward that filled
        ws applied in (layer, direction): entries 0 or 1/(1-p), ones when off."""
        H = self.hidden_size
        width = self.input_size if layer == 0 else self.directions * H
        mx = np.empty((batch, width), dtype=self.dtype)
        mh = np.empty((batch, H), dtype=self.dtype)
        check(lib.gru_dropout_masks(self.ptr, _ptr(ws), ws.nbytes, layer, direction,
                                    _ptr(mx, True), mx.size, _ptr(mh, True), mh.size),
              "reading the dropout masks")
        return mx, mh

    # -- forward and backward --
    def workspace_bytes(self, seq_len, batch, training):
        n = ffi.new("size_t *")
        check(lib.gru_workspace_size(self.ptr, seq_len, batch, int(training), n),
              "sizing the workspace")
        return int(n[0])

    def forward(self, training, seq_len, batch, batch_first, x, h0, lengths, reuse=None):
        """x: (T, B, I) or (B, T, I) if batch_first; h0: (L*D, B, H) or None;
        lengths: (B,) int32 or None; reuse: a workspace of an earlier training forward
        that nothing needs any more, or None. Returns (output (T, B, D*H) or
        (B, T, D*H), h_n (L*D, B, H), workspace uint8 or None)."""
        T, B, H, LD = seq_len, batch, self.hidden_size, self.num_layers * self.directions
        out_shape = (B, T, self.directions * H) if batch_first else (T, B, self.directions * H)
        out = np.empty(out_shape, dtype=self.dtype)      # (T, B, D*H) / (B, T, D*H)
        h_n = np.empty((LD, B, H), dtype=self.dtype)      # (L*D, B, H)
        h0_p = ffi.NULL if h0 is None else _ptr(h0)
        len_p = ffi.NULL if lengths is None else ffi.from_buffer("int32_t[]", lengths)
        if training:
            nbytes = self.workspace_bytes(T, B, True)
            # A fresh buffer costs page faults on every call: take the caller's previous
            # workspace when it fits (the caller has given up the forward it held).
            ws = reuse if reuse is not None and reuse.nbytes == nbytes else aligned_empty(nbytes)
            with self.lock:
                status = lib.gru_forward(self.ptr, 1, T, B, int(batch_first), _ptr(x), h0_p,
                                         len_p, _ptr(out, True), _ptr(h_n, True),
                                         _ptr(ws, True), nbytes)
        else:
            ws = None
            with self._gate:
                self._inference += 1
            # One cached inference scratch per model (fresh pages on every call cost
            # page faults); a concurrent inference call that finds it taken passes
            # NULL and libgru allocates its own.
            cached = self._scratch_lock.acquire(blocking=False)
            try:
                if cached:
                    nbytes = self.workspace_bytes(T, B, False)
                    if self._scratch is None or self._scratch.nbytes < nbytes:
                        self._scratch = aligned_empty(nbytes)
                    ws_p, ws_n = _ptr(self._scratch, True), self._scratch.nbytes
                else:
                    ws_p, ws_n = ffi.NULL, 0
                status = lib.gru_forward(self.ptr, 0, T, B, int(batch_first), _ptr(x), h0_p,
                                         len_p, _ptr(out, True), _ptr(h_n, True), ws_p, ws_n)
            finally:
                if cached:
                    self._scratch_lock.release()
                with self._gate:
                    self._inference -= 1
                    if not self._inference:
                        self._gate.notify_all()
        check(status, "GRU forward")
        return out, h_n, ws

    # -- streaming --
    def step_scratch_bytes(self, batch):
        n = ffi.new("size_t *")
        check(lib.gru_step_scratch_size(self.ptr, batch, n), "sizing the step scratch")
        return int(n[0])

    def step(self, batch, x, state, out):
        """One inference step of ``batch`` streams, state updated in place (the lean
        path: arguments already checked). x (B, I), state (L, B, H) writable, out
        (B, H) writable or None; all C-contiguous arrays of the model dtype. Steps of
        one model run one at a time (its lock); the scratch is cached per batch size,
        so a step allocates nothing."""
        with self.lock:
            b, buf, ptr = self._step_scratch
            if b != batch:
                buf = aligned_empty(self.step_scratch_bytes(batch))
                ptr = ffi.from_buffer(buf, require_writable=True)
                self._step_scratch = (batch, buf, ptr)
            # (state and out were checked writable by the caller: from_buffer's own
            # check costs more than the rest of the call's Python work)
            status = lib.gru_step(self.ptr, batch, ffi.from_buffer(x), ffi.from_buffer(state),
                                  ffi.NULL if out is None else ffi.from_buffer(out),
                                  ptr, buf.nbytes)
        if status:
            check(status, "GRU step")

    def step_reset(self, batch, state, index):
        check(lib.gru_step_reset(self.ptr, batch, ffi.from_buffer(state, require_writable=True),
                                 index), "resetting stream %d" % index)

    def backward(self, seq_len, batch, batch_first, x, ws, grad_output, grad_h_n):
        """x and ws as returned/used by the training forward; grad_output: the shape of
        that output or None; grad_h_n: (L*D, B, H) or None. Returns (grad_x shaped like
        x, grad_h0 (L*D, B, H)); parameter gradients accumulate in the model."""
        grad_x = np.empty(x.shape, dtype=self.dtype)
        grad_h0 = np.empty((self.num_layers * self.directions, batch, self.hidden_size),
                           dtype=self.dtype)
        go_p = ffi.NULL if grad_output is None else _ptr(grad_output)
        ghn_p = ffi.NULL if grad_h_n is None else _ptr(grad_h_n)
        with self.lock:
            status = lib.gru_backward(self.ptr, seq_len, batch, int(batch_first), _ptr(x),
                                      _ptr(ws), ws.nbytes, go_p, ghn_p,
                                      _ptr(grad_x, True), _ptr(grad_h0, True))
        check(status, "GRU backward")
        return grad_x, grad_h0
