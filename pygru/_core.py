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
import contextlib
import itertools
import os
from typing import Any, Dict
import threading
import weakref

import numpy as np

from ._validate import check_size
from ._views import parameter_view, storage_array

try:
    from ._libgru import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the build state
    raise ImportError(
        "pygru's C extension (pygru._libgru) is not built: run `python build_ffi.py` "
        "in the source tree, or `pip install -e .` (%s)" % exc) from exc

__all__ = ["GRUError", "check", "info", "set_num_threads", "get_num_threads", "MAX_THREADS",
           "CModel", "RWLock", "hold_writes"]


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
    lib.GRU_ERR_MISALIGNED: ValueError,
    # GRU_ERR_BUSY (a thread-count change while calls ran): GRUError, the default;
    # CModel changes the count as the writer of its lock, so it does not occur here.
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

def info() -> Dict[str, Any]:
    """What libgru is loaded: its version, ABI version, the kernel set a new model
    uses (after GRU_ISA), the kernel sets this build and CPU offer, the thread
    count, and the int8 / bf16 kernel sets a quantized model (GRU.quantize("int8"),
    GRU.quantize("bf16")) uses with the sets available."""
    cfg = ffi.new("gru_config *")
    lib.gru_config_init(cfg)
    cfg.input_size = cfg.hidden_size = 1
    pp = ffi.new("gru_model **")
    status = lib.gru_create(cfg, pp)
    isa = quant_isa = bf16_isa = None   # e.g. GRU_ISA names a set this CPU lacks: report it
    if status == lib.GRU_OK:
        isa = ffi.string(lib.gru_isa(pp[0])).decode()
        qp = ffi.new("gru_model **")
        if lib.gru_quantize(pp[0], lib.GRU_INT8, qp) == lib.GRU_OK:
            quant_isa = ffi.string(lib.gru_quant_isa(qp[0])).decode()
            lib.gru_destroy(qp[0])
        if lib.gru_quantize(pp[0], lib.GRU_BF16, qp) == lib.GRU_OK:
            bf16_isa = ffi.string(lib.gru_quant_isa(qp[0])).decode()
            lib.gru_destroy(qp[0])
        lib.gru_destroy(pp[0])
    return {
        "version": ffi.string(lib.gru_version()).decode(),
        "abi_version": int(lib.gru_abi_version()),
        "isa": isa,
        "available_isas": ffi.string(lib.gru_available_isas()).decode().split(),
        "threads": get_num_threads(),
        "int8_isa": quant_isa,
        "available_int8_isas": ffi.string(lib.gru_available_quant_isas()).decode().split(),
        "bf16_isa": bf16_isa,
        "available_bf16_isas": ffi.string(lib.gru_available_bf16_isas()).decode().split(),
    }


# ---- threads ----------------------------------------------------------------------
# libgru gives every model its own pool; this module-level setting is pygru's, applied
# to every live model and to each new one. None: libgru's default (GRU_NUM_THREADS,
# else 1).

MAX_THREADS = int(lib.GRU_MAX_THREADS)   # set_num_threads' upper bound (256, gru.h)

_num_threads = None
_models = weakref.WeakSet()
_threads_lock = threading.Lock()     # _num_threads and _models (held only briefly)
_setting_lock = threading.Lock()     # one set_num_threads at a time


_lock_order = itertools.count()


class RWLock:
    """Many readers or one writer, phase-fair: a waiting writer keeps new readers out, so
    it waits only for the calls already running (bounded under any load), and when a
    writer leaves, every reader that queued meanwhile is let in before the next writer
    (a thread calling set_num_threads in a loop cannot starve the model's callers). The
    writing thread may re-enter as writer or reader. Readers must not nest (a nested
    read behind a waiting writer would wait for itself).

    exclusive: a plain Lock that a writer also holds while it writes, for readers that
    are serialised anyway (a model's streaming steps): they take only that lock, the
    cheapest read there is."""

    __slots__ = ("_cond", "_readers", "_writer", "_depth", "_waiting", "_queued",
                 "_released", "_exclusive", "order")

    def __init__(self, exclusive=None):
        self.order = next(_lock_order)   # hold_writes takes several locks in this order
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0        # readers inside, and readers let in by release_write
        self._writer = None
        self._depth = 0
        self._waiting = 0        # writers waiting
        self._queued = 0         # readers waiting for the next release_write
        self._released = 0       # release_write count: a queued reader's ticket
        self._exclusive = exclusive

    def acquire_read(self):
        with self._cond:
            if self._writer == threading.get_ident():
                self._depth += 1
                return
            if self._writer is None and not self._waiting:
                self._readers += 1
                return
            ticket = self._released
            self._queued += 1
            try:
                while self._released == ticket:   # release_write counts us in _readers
                    self._cond.wait()
            except BaseException:   # interrupted (KeyboardInterrupt): leave the queue
                if self._released == ticket:
                    self._queued -= 1
                else:                # already counted in: leave as a reader would
                    self._readers -= 1
                    if not self._readers:
                        self._cond.notify_all()
                raise

    def release_read(self):
        with self._cond:
            if self._writer == threading.get_ident():
                self._depth -= 1
                return
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self):
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return
            self._waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer, self._depth = me, 1
        if self._exclusive is not None:
            self._exclusive.acquire()

    def release_write(self):
        with self._cond:
            self._depth -= 1
            if self._depth:
                return
            if self._exclusive is not None:
                self._exclusive.release()
            self._writer = None
            self._released += 1                 # the queued readers go in now, as one
            self._readers += self._queued       # phase, ahead of any waiting writer
            self._queued = 0
            self._cond.notify_all()

    def read(self):
        return _Held(self.acquire_read, self.release_read)

    def write(self):
        return _Held(self.acquire_write, self.release_write)


@contextlib.contextmanager
def hold_writes(locks):
    """Holds every RWLock of ``locks`` as a writer, taken in creation order (so two
    threads taking overlapping sets cannot deadlock), released in reverse."""
    with contextlib.ExitStack() as stack:
        for lock in sorted(set(locks), key=lambda lk: lk.order):
            stack.enter_context(lock.write())
        yield


class _Held:
    __slots__ = ("_release",)

    def __init__(self, acquire, release):
        acquire()
        self._release = release

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._release()
        return False


def set_num_threads(n: int) -> None:
    """Sets the number of threads every pygru model uses (each model has its own
    small pool; results are bitwise identical for any number). n: int in
    1..MAX_THREADS (256). Returns once every live model uses n threads: each model
    waits only for its calls already running, and creating models is never blocked."""
    global _num_threads
    n = check_size(n, "n")
    if n > MAX_THREADS:
        raise ValueError("n must be at most %d (pygru.MAX_THREADS); got %d" % (MAX_THREADS, n))
    with _setting_lock:
        with _threads_lock:
            _num_threads = n
            models = list(_models)
        for model in models:
            model.apply_thread_setting()


def get_num_threads() -> int:
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


# ---- buffers -------------------------------------------------------------------

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
                 reverse=False, input_dropout=0.0, recurrent_dropout=0.0, layer_norm=False,
                 zoneout=0.0, weight_dropout=0.0, augru=False):
        self.dtype = np.dtype(dtype)
        self.augru = bool(augru)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        self._precheck_memory(bias, layer_norm)
        cfg = ffi.new("gru_config *")
        lib.gru_config_init(cfg)
        cfg.input_size, cfg.hidden_size, cfg.num_layers = input_size, hidden_size, num_layers
        cfg.bidirectional, cfg.bias, cfg.reset_after = int(bidirectional), int(bias), int(reset_after)
        cfg.dtype = 1 if self.dtype == np.float32 else 2   # gru_dtype
        cfg.dropout = float(dropout)
        cfg.seed = int(seed)
        cfg.reverse = int(reverse)
        cfg.input_dropout = float(input_dropout)
        cfg.recurrent_dropout = float(recurrent_dropout)
        cfg.layer_norm = int(layer_norm)
        cfg.zoneout = float(zoneout)
        cfg.weight_dropout = float(weight_dropout)
        cfg.augru = int(augru)
        pp = ffi.new("gru_model **")
        status = lib.gru_create(cfg, pp)
        if status == lib.GRU_ERR_ISA_UNAVAILABLE:
            check(status, "creating the GRU model with GRU_ISA=%r (available here: %s)" % (
                os.environ.get("GRU_ISA"), ffi.string(lib.gru_available_isas()).decode()))
        check(status, "creating the GRU model")
        self._adopt(pp[0])

    @classmethod
    def quantized(cls, src, fmt):
        """A new CModel owning gru_quantize(src, fmt) (GRU_INT8, GRU_BF16): an
        inference-only, read-only int8 / bf16 model of src's configuration (float32 in and out)."""
        pp = ffi.new("gru_model **")
        with src.rw.read():
            status = lib.gru_quantize(src.ptr, int(fmt), pp)
        check(status, "quantizing the GRU model")
        self = cls.__new__(cls)
        self.dtype = np.dtype(np.float32)
        self.input_size, self.hidden_size = src.input_size, src.hidden_size
        self.num_layers, self.directions = src.num_layers, src.directions
        self.augru = False
        self._adopt(pp[0])
        return self

    @classmethod
    def loaded_quantized(cls, raw):
        """A new CModel owning raw, an int8 or bf16 model gru_load_file made (the caller hands
        over ownership: raw carries no destructor)."""
        c = ffi.new("gru_config *")
        check(lib.gru_get_config(raw, c), "reading the loaded model's configuration")
        self = cls.__new__(cls)
        self.dtype = np.dtype(np.float32)
        self.input_size, self.hidden_size = int(c.input_size), int(c.hidden_size)
        self.num_layers = int(c.num_layers)
        self.directions = 2 if c.bidirectional else 1
        self.augru = False   # gru_load refuses augru in a quantized file
        self._adopt(raw)
        return self

    def _adopt(self, raw):
        """Takes ownership of the C model raw: parameter table, locks, threads."""
        self.ptr = ffi.gc(raw, lib.gru_destroy)
        # Parameter table, in PyTorch's state-dict order.
        count = ffi.new("size_t *")
        check(lib.gru_param_count(self.ptr, count), "counting the parameters")
        name_p, ndim, shape = ffi.new("const char **"), ffi.new("int *"), ffi.new("int64_t[2]")
        self.shapes = {}
        for i in range(count[0]):
            check(lib.gru_param_info(self.ptr, i, name_p, ndim, shape), "describing parameter %d" % i)
            self.shapes[ffi.string(name_p[0]).decode("ascii")] = tuple(int(shape[k]) for k in range(ndim[0]))
        self.isa = ffi.string(lib.gru_isa(self.ptr)).decode()
        qisa = lib.gru_quant_isa(self.ptr)
        self.quant_isa = ffi.string(qisa).decode() if qisa != ffi.NULL else None
        # The thread-safety contract (docs/RELIABILITY.md):
        #   rw    readers: every call that reads the weights (forwards, steps,
        #         backward); writers: weight writes (the Parameter views,
        #         load_state_dict) and thread-count changes. A forward sees all-old or
        #         all-new weights, never a mix; inference calls run concurrently.
        #   lock  serialises the calls that change the model's other state: training
        #         forwards (the dropout generator), backward (the gradients and its
        #         scratch), zero_grad, set_seed. Taken before rw.
        #   _step_lock  serialises the streaming steps (their cached scratch); writers
        #         hold it too, so a step needs no other lock.
        self._step_lock = threading.Lock()
        self.rw = RWLock(exclusive=self._step_lock)
        self.lock = threading.RLock()
        self._scratch = None                    # cached inference workspace (uint8)
        self._scratch_lock = threading.Lock()
        self._step_scratch = (0, None, None)    # (batch, uint8 buffer, its cdata)
        with _threads_lock:
            _models.add(self)
        if _num_threads is not None:
            self.apply_thread_setting()

    def _precheck_memory(self, bias, layer_norm=False):
        """Refuses, before the C library allocates, a model whose parameters and
        gradients alone exceed the machine's physical memory (guards against
        overcommitting kernels, where the allocation would succeed and the first
        write would summon the OOM killer). Sizes that overflow are left to C."""
        I, H, L, D = self.input_size, self.hidden_size, self.num_layers, self.directions
        per_dir = lambda inp: 3 * H * inp + 3 * H * H + (18 if layer_norm else 6) * H
        elems = D * per_dir(I) + (L - 1) * D * per_dir(D * H)
        nbytes = 2 * elems * self.dtype.itemsize
        phys = _physical_memory()
        if phys and phys < nbytes < 2 ** 62:
            raise MemoryError(
                "creating the GRU model failed: its parameters and gradients need %d bytes, "
                "more than this machine's %d bytes of memory" % (nbytes, phys))

    # -- parameters and gradients: views of the model's own storage --
    def _storage(self, fn, name):
        data, count = ffi.new("void **"), ffi.new("size_t *")
        check(fn(self.ptr, name.encode(), data, count), "locating %s" % name)
        return int(ffi.cast("uintptr_t", data[0])), self.shapes[name]

    def param_view(self, name):
        """Parameter ``name`` as a StorageView of libgru's buffer: writes through it
        reach the model and mark the tensor changed (repacked before the next
        forward); the view keeps this model alive."""
        address, shape = self._storage(lib.gru_param_data, name)
        cname = name.encode()
        ptr = self.ptr

        def notify():
            lib.gru_params_changed(ptr, cname)
        return parameter_view(address, shape, self.dtype, self, notify, self.rw)

    def grad_view(self, name):
        """The gradient of ``name`` as a writable ndarray over libgru's buffer
        (backward adds into it; it keeps this model alive)."""
        address, shape = self._storage(lib.gru_grad_data, name)
        return storage_array(address, shape, self.dtype, self)

    def quant_weight(self, name):
        """An int8 model's weight ``name``: (int8 values (rows, cols), float32 row
        scales (rows,)); the weight is values * scales[:, None]."""
        rows, cols = self.shapes[name]
        values = np.empty((rows, cols), np.int8)
        scales = np.empty(rows, np.float32)
        check(lib.gru_quant_weight_get(self.ptr, name.encode(),
                                       ffi.cast("int8_t *", _ptr(values, True)), values.size,
                                       ffi.cast("float *", _ptr(scales, True)), rows),
              "reading the int8 weight %s" % name)
        return values, scales

    def param_copy(self, name):
        """A copy of parameter ``name`` (gru_param_get; int8 models: dequantized)."""
        arr = np.empty(self.shapes[name], self.dtype)
        with self.rw.read():
            check(lib.gru_param_get(self.ptr, name.encode(), _ptr(arr, True), arr.size),
                  "reading %s" % name)
        return arr

    def zero_grad(self):
        with self.lock:
            check(lib.gru_zero_grad(self.ptr), "zeroing the gradients")

    def apply_thread_setting(self):
        """Applies pygru's current thread setting (read now, so that concurrent
        set_num_threads calls and model creation end in the latest value).
        gru_set_num_threads replaces the model's pool: as a writer, it waits for the
        calls already running and keeps new ones out meanwhile."""
        with self.rw.write():
            n = _num_threads
            if n is not None and n != self.num_threads():
                check(lib.gru_set_num_threads(self.ptr, int(n)), "setting the thread count")

    def num_threads(self):
        return int(lib.gru_get_num_threads(self.ptr))

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

    def zoneout_masks(self, ws, layer, direction, seq_len, batch):
        """(T, B, H) time-major zoneout masks the training forward that filled ws
        applied in (layer, direction): 1 = kept the previous state; zeros when off."""
        m = np.empty((seq_len, batch, self.hidden_size), dtype=self.dtype)
        check(lib.gru_zoneout_masks(self.ptr, _ptr(ws), ws.nbytes, layer, direction,
                                    _ptr(m, True), m.size), "reading the zoneout masks")
        return m

    def weight_dropout_mask(self, ws, layer, direction):
        """(3H, H) DropConnect mask of weight_hh that the training forward that filled
        ws applied in (layer, direction): entries 0 or 1/(1-p), ones when off."""
        H = self.hidden_size
        m = np.empty((3 * H, H), dtype=self.dtype)
        check(lib.gru_weight_dropout_mask(self.ptr, _ptr(ws), ws.nbytes, layer, direction,
                                          _ptr(m, True), m.size),
              "reading the weight_dropout mask")
        return m

    # -- forward and backward --
    def workspace_bytes(self, seq_len, batch, training):
        n = ffi.new("size_t *")
        check(lib.gru_workspace_size(self.ptr, seq_len, batch, int(training), n),
              "sizing the workspace")
        return int(n[0])

    def forward(self, training, seq_len, batch, batch_first, x, h0, lengths, reuse=None,
                attention=None):
        """x: (T, B, I) or (B, T, I) if batch_first; h0: (L*D, B, H) or None;
        lengths: (B,) int32 or None; reuse: a workspace of an earlier training forward
        that nothing needs any more, or None; attention: an augru model's (T, B) or
        (B, T) scores (gru_forward_att), else None. Returns (output (T, B, D*H) or
        (B, T, D*H), h_n (L*D, B, H), workspace uint8 or None)."""
        T, B, H, LD = seq_len, batch, self.hidden_size, self.num_layers * self.directions
        out_shape = (B, T, self.directions * H) if batch_first else (T, B, self.directions * H)
        out = np.empty(out_shape, dtype=self.dtype)      # (T, B, D*H) / (B, T, D*H)
        h_n = np.empty((LD, B, H), dtype=self.dtype)      # (L*D, B, H)
        h0_p = ffi.NULL if h0 is None else _ptr(h0)
        len_p = ffi.NULL if lengths is None else ffi.from_buffer("int32_t[]", lengths)
        if attention is not None:   # gru_forward_att: the same arguments after x, attention
            att_p = _ptr(attention)
            call = lambda *a: lib.gru_forward_att(*a[:6], att_p, *a[6:])  # noqa: E731
        else:
            call = lib.gru_forward
        if training:
            nbytes = self.workspace_bytes(T, B, True)
            # A fresh buffer costs page faults on every call: take the caller's previous
            # workspace when it fits (the caller has given up the forward it held).
            ws = reuse if reuse is not None and reuse.nbytes == nbytes else aligned_empty(nbytes)
            with self.lock, self.rw.read():
                status = call(self.ptr, 1, T, B, int(batch_first), _ptr(x), h0_p,
                              len_p, _ptr(out, True), _ptr(h_n, True),
                              _ptr(ws, True), nbytes)
        else:
            ws = None
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
                with self.rw.read():
                    status = call(self.ptr, 0, T, B, int(batch_first), _ptr(x),
                                  h0_p, len_p, _ptr(out, True), _ptr(h_n, True),
                                  ws_p, ws_n)
            finally:
                if cached:
                    self._scratch_lock.release()
        check(status, "GRU forward")
        return out, h_n, ws

    # -- streaming --
    def step_scratch_bytes(self, batch):
        n = ffi.new("size_t *")
        check(lib.gru_step_scratch_size(self.ptr, batch, n), "sizing the step scratch")
        return int(n[0])

    def step(self, batch, x, state, out, attention=None):
        """One inference step of ``batch`` streams, state updated in place (the lean
        path: arguments already checked). x (B, I), state (L, B, H) writable, out
        (B, H) writable or None; attention (B,) for an augru model (gru_step_att), else
        None; all C-contiguous arrays of the model dtype. Steps of
        one model run one at a time (its lock); the scratch is cached per batch size,
        so a step allocates nothing."""
        with self._step_lock:   # also excludes weight writes (see RWLock's exclusive)
            b, buf, ptr = self._step_scratch
            if b != batch:
                buf = aligned_empty(self.step_scratch_bytes(batch))
                ptr = ffi.from_buffer(buf, require_writable=True)
                self._step_scratch = (batch, buf, ptr)
            # (state and out were checked writable by the caller: from_buffer's own
            # check costs more than the rest of the call's Python work)
            out_p = ffi.NULL if out is None else ffi.from_buffer(out)
            if attention is None:
                status = lib.gru_step(self.ptr, batch, ffi.from_buffer(x),
                                      ffi.from_buffer(state), out_p, ptr, buf.nbytes)
            else:
                status = lib.gru_step_att(self.ptr, batch, ffi.from_buffer(x),
                                          ffi.from_buffer(attention), ffi.from_buffer(state),
                                          out_p, ptr, buf.nbytes)
        if status:
            check(status, "GRU step")

    def step_reset(self, batch, state, index):
        check(lib.gru_step_reset(self.ptr, batch, ffi.from_buffer(state, require_writable=True),
                                 index), "resetting stream %d" % index)

    def backward(self, seq_len, batch, batch_first, x, ws, grad_output, grad_h_n):
        """x and ws as returned/used by the training forward; grad_output: the shape of
        that output or None; grad_h_n: (L*D, B, H) or None. Returns (grad_x shaped like
        x, grad_h0 (L*D, B, H)), and for an augru model (gru_backward_att) a third,
        grad_attention (T, B) or (B, T) as batch_first; parameter gradients accumulate
        in the model."""
        grad_x = np.empty(x.shape, dtype=self.dtype)
        grad_h0 = np.empty((self.num_layers * self.directions, batch, self.hidden_size),
                           dtype=self.dtype)
        go_p = ffi.NULL if grad_output is None else _ptr(grad_output)
        ghn_p = ffi.NULL if grad_h_n is None else _ptr(grad_h_n)
        grad_att = None
        with self.lock, self.rw.read():
            if self.augru:
                grad_att = np.empty((batch, seq_len) if batch_first else (seq_len, batch),
                                    dtype=self.dtype)
                status = lib.gru_backward_att(self.ptr, seq_len, batch, int(batch_first),
                                              _ptr(x), _ptr(ws), ws.nbytes, go_p, ghn_p,
                                              _ptr(grad_x, True), _ptr(grad_h0, True),
                                              _ptr(grad_att, True))
            else:
                status = lib.gru_backward(self.ptr, seq_len, batch, int(batch_first), _ptr(x),
                                          _ptr(ws), ws.nbytes, go_p, ghn_p,
                                          _ptr(grad_x, True), _ptr(grad_h0, True))
        if status == lib.GRU_ERR_WORKSPACE:
            exc = GRUError("backward() needs a forward() in training mode first, with the "
                           "current parameters: a parameter was written since the last "
                           "training forward (%s)" % strerror(status))
            exc.status = status
            raise exc
        check(status, "GRU backward")
        if self.augru:
            return grad_x, grad_h0, grad_att
        return grad_x, grad_h0
