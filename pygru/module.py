"""pygru.module - Parameter, Module and Sequential: the small framework that the GRU,
the GRUCell and every layer and loss of pygru.nn are built on (NumPy only).

The rules, stated once:
  * forward(...) computes the output; in training mode it keeps exactly what
    backward needs (in eval mode nothing, and backward then raises RuntimeError),
    by reference: do not modify a forward's input in place before its backward;
  * backward(grad_output) returns the gradient for the input (a GRU: for the input
    and the initial state) and ADDS the parameter gradients into each Parameter's
    .grad (zero them with zero_grad() or the optimizer's zero_grad(), like torch);
    it may be called more than once;
  * a model is an explicit class: its forward calls its children's forward, its
    backward calls their backward in reverse order;
  * what a forward keeps is kept per thread: a backward uses the last training
    forward of ITS thread, so two threads training one model never mix their
    contexts (a backward in a thread that ran no training forward raises);
  * children, parameters and buffers are registered by attribute assignment (or
    register_buffer); named_parameters() and state_dict() use torch's dotted names
    and order (own parameters, own buffers, then each child in registration order),
    so state dicts move to and from torch unchanged;
  * a Parameter is the model's own storage, never a copy: writing to it (item
    assignment, in-place arithmetic, an optimizer's step, load_state_dict) changes
    the model, and a GRU's Parameters are views of libgru's memory (pygru._views);
    state_dict() returns read-only copies, so a write to one raises instead of
    being lost;
  * load_state_dict checks every key, shape and dtype before it writes anything.
"""
from __future__ import annotations

import collections
import collections.abc
import os
import threading
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np

from . import _validate
from ._validate import as_real_array, check_shape, fmt_shape, float_array, make_rng
from ._views import StorageView

__all__ = ["Parameter", "Module", "Sequential", "IncompatibleKeys", "float_array", "make_rng"]

IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _array_of(value):
    return value._data if isinstance(value, Parameter) else value


class Parameter(np.lib.mixins.NDArrayOperatorsMixin):
    """A trainable array: ``data`` (float32/float64, C-contiguous, the model's own
    storage) and ``grad`` (same shape and dtype; backward adds into it).

    Parameter(data): a new parameter owning a copy of ``data`` (zero gradient).
    It behaves like its data in NumPy expressions (``p * 2``, ``np.asarray(p)``,
    ``p[0]``), and writes reach the storage: ``p[0, 0] = 5.0``, ``p += 1``,
    ``p.data -= lr * p.grad``. Assigning ``p.data = a`` or ``p.grad = a`` copies
    ``a`` into the storage (same shape; ``p.grad = None`` zeros the gradient)."""

    __slots__ = ("_data", "_grad", "__weakref__")
    __hash__ = object.__hash__   # an identity (== is elementwise, as for arrays)

    def __init__(self, data: Any, grad: Optional[np.ndarray] = None) -> None:
        if isinstance(data, StorageView):
            self._data, self._grad = data, grad
            return
        data = _validate.to_numpy(_array_of(data), "data")
        if not isinstance(data, np.ndarray) or data.dtype not in _validate.DTYPES:
            raise TypeError("Parameter data must be a float32 or float64 ndarray; got %s"
                            % (getattr(data, "dtype", None) or type(data).__name__))
        self._data = np.array(data, order="C", copy=True)
        self._grad = np.zeros_like(self._data) if grad is None else grad

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value):
        if value is self._data:   # p.data -= x rebinds p.data to itself
            return
        src = as_real_array(_array_of(value), "data", self._data.dtype)
        check_shape(src, "data", self._data.shape, "(the parameter's shape)")
        self._data[...] = src

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is self._grad:
            return
        if value is None:
            self._grad[...] = 0
            return
        src = as_real_array(value, "grad", self._grad.dtype)
        check_shape(src, "grad", self._grad.shape, "(the parameter's shape)")
        self._grad[...] = src

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    size = property(lambda self: self._data.size)
    ndim = property(lambda self: self._data.ndim)

    def zero_grad(self) -> None:
        self._grad[...] = 0

    def copy(self) -> np.ndarray:
        """A plain ndarray copy of the data."""
        return np.array(self._data, copy=True)

    # -- NumPy interplay: a Parameter acts as its data --
    def __array__(self, dtype=None, copy=None):
        data = self._data.view(np.ndarray) if isinstance(self._data, StorageView) else self._data
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(_array_of(x) for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_array_of(o) for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:   # p += 1 rebinds p to what is returned: the Parameter
            return out[0] if len(out) == 1 else out
        return result

    def __getitem__(self, index):
        return self._data[index]

    def __setitem__(self, index, value):
        self._data[index] = _array_of(value)

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return iter(self._data)

    def __repr__(self):
        return "Parameter(shape=%s, dtype=%s)" % (fmt_shape(self._data.shape), self._data.dtype)


class Module:
    """Base class of every layer and model. Subclasses call super().__init__() first,
    then assign Parameters, child Modules and buffers (register_buffer) as attributes,
    and define forward(...) and backward(grad_output)."""

    training: bool
    _param_names: list
    _buffer_names: list
    _module_names: list
    _cache: Dict[int, dict]

    def __init__(self) -> None:
        d = self.__dict__
        d["_param_names"] = []     # own parameters, registration order
        d["_buffer_names"] = []    # own buffers (arrays in the state dict, not trained)
        d["_module_names"] = []    # children
        d["training"] = True
        d["_cache"] = {}           # thread ident -> what its last training forward kept

    def __setattr__(self, name, value):
        d = self.__dict__
        if "_param_names" not in d:
            raise RuntimeError("%s.__init__ must call super().__init__() before assigning "
                               "attributes" % type(self).__name__)
        kinds = (("_param_names", Parameter, "a Parameter"),
                 ("_module_names", Module, "a Module"))
        for names, cls, what in kinds:
            if name in d[names] and not isinstance(value, cls):
                raise TypeError("cannot assign %s to %s.%s (%s expected)"
                                % (type(value).__name__, type(self).__name__, name, what))
        for names, cls, _ in kinds:
            if isinstance(value, cls) and name not in d[names]:
                d[names].append(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for names in ("_param_names", "_buffer_names", "_module_names"):
            if name in self.__dict__[names]:
                self.__dict__[names].remove(name)
        object.__delattr__(self, name)

    def register_buffer(self, name, value):
        """Registers an ndarray that belongs in the state dict but is not trained
        (e.g. BatchNorm1d's running_mean)."""
        if not isinstance(value, np.ndarray):
            raise TypeError("buffer %s must be an ndarray; got %s" % (name, type(value).__name__))
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        object.__setattr__(self, name, value)

    # -- computing --
    def forward(self, *args, **kwargs):
        raise NotImplementedError("%s does not define forward()" % type(self).__name__)

    def backward(self, grad_output):
        raise NotImplementedError("%s does not define backward()" % type(self).__name__)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _keep(self, **saved):
        """forward's helper: keeps ``saved`` for backward in training mode (for the
        calling thread); in eval mode drops what an earlier forward of this thread
        kept."""
        self._set_kept(saved if self.training else None)

    def _set_kept(self, saved):
        cache = self.__dict__["_cache"]
        if saved is None:
            cache.pop(threading.get_ident(), None)
        else:
            cache[threading.get_ident()] = saved

    def _kept(self):
        """backward's helper: what the last training forward of this thread kept, or
        RuntimeError."""
        saved = self.__dict__["_cache"].get(threading.get_ident())
        if saved is None:
            raise RuntimeError("%s.backward() needs a forward() in training mode first "
                               "(in the same thread)" % type(self).__name__)
        return saved

    def _drop_kept(self):
        """Forgets what every thread's training forward kept (eval(), new weights)."""
        self.__dict__["_cache"] = {}

    # -- children and parameters --
    def named_children(self):
        for name in self._module_names:
            yield name, self.__dict__[name]

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix=""):
        """(dotted name, module) for self ("") and every descendant, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(prefix + "." + name if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, Parameter]]:
        """(dotted name, Parameter) in torch's order; a Parameter shared by several
        modules is yielded once (under its first name)."""
        seen = set()
        for mod_name, mod in self.named_modules(prefix):
            for name in mod._param_names:
                p = mod.__dict__[name]
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (mod_name + "." + name if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        """Sets every parameter gradient to zero (backward adds into them)."""
        for p in self.parameters():
            p.zero_grad()

    # -- mode --
    def train(self, mode: bool = True) -> Module:
        """Training mode (True) or eval mode (False) for self and every descendant;
        eval also drops what forward kept for backward. Returns self."""
        mode = _validate.check_flag(mode, "mode")
        for m in self.modules():   # every module may refuse before any changes
            m._check_mode(mode)
        for m in self.modules():
            m.__dict__["training"] = mode
            if not mode:
                m._drop_kept()
            m._set_mode(mode)
        return self

    def _set_mode(self, mode):
        """Hook for modules that own something with its own mode (nn.GRU)."""

    def _check_mode(self, mode):
        """Hook: raises if this module cannot take the mode (int8 layers: training)."""

    def quantize(self, format: str = "int8"):
        """A copy of this model for int8 or bf16 inference: pygru.quantize_module(self, format)
        (every pygru.GRU / GRUCell in it quantized; eval mode only)."""
        from .quant import quantize_module
        return quantize_module(self, format)

    def _quantized_inside(self, what):
        for name, m in self.named_modules():
            if getattr(type(m), "_int8_layer", False):
                fmt = getattr(m, "format", "int8")
                raise TypeError("%s: %s holds %s %s GRU (%s), which has no trainable "
                                "state dict; %s the float model and quantize it again"
                                % (what, type(self).__name__, "an" if fmt == "int8" else "a",
                                   fmt, name or "itself", what))

    def eval(self) -> Module:
        return self.train(False)

    # -- state dict --
    def _state_items(self, prefix=""):
        """(dotted name, owner module, attribute name) of every parameter and buffer, in
        torch's state-dict order."""
        for mod_name, mod in self.named_modules(prefix):
            for name in mod._param_names + mod._buffer_names:
                yield (mod_name + "." + name if mod_name else name), mod, name

    def state_dict(self) -> Dict[str, np.ndarray]:
        """{dotted name: read-only copy of the array}, parameters and buffers in torch's
        order. Read-only, so that writing to one raises instead of silently missing
        the model (torch's state dict shares the model's storage): write through the
        Parameters, or load_state_dict a modified copy."""
        out = collections.OrderedDict()
        for key, mod, name in self._state_items():
            arr = np.array(_array_of(mod.__dict__[name]), copy=True)
            arr.flags.writeable = False
            out[key] = arr
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Loads parameters and buffers from a mapping of array-likes (NumPy arrays,
        lists, CPU torch tensors), cast to each array's dtype; every key, shape and
        dtype is checked before anything is written. strict: missing or unexpected
        keys raise ValueError listing them; otherwise they are skipped and returned as
        (missing_keys, unexpected_keys). Parameters are written in place (an optimizer
        holding them stays valid)."""
        self._quantized_inside("load_state_dict")
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError("state_dict must be a mapping of name -> array; got %s"
                            % type(state_dict).__name__)
        items = list(self._state_items())
        own = {key for key, _, _ in items}
        missing = [key for key, _, _ in items if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        _validate.check_state_keys(type(self).__name__, missing, unexpected, strict)
        converted = []
        for key, mod, name in items:
            if key not in state_dict:
                continue
            value = mod.__dict__[name]
            dst = value.data if isinstance(value, Parameter) else value
            if dst.dtype.kind in "iu":   # integer buffers (num_batches_tracked)
                src = np.asarray(_validate.to_numpy(state_dict[key], key, "an integer array"))
                if src.dtype.kind not in "iu":
                    raise TypeError("%s must be an integer array; got dtype %s" % (key, src.dtype))
            else:
                src = as_real_array(state_dict[key], key, dst.dtype)
            check_shape(src, key, dst.shape)
            converted.append((dst, src))
        from ._core import hold_writes
        # one write per C model inside (a GRU anywhere below): its forwards in other
        # threads see all-old or all-new weights
        with hold_writes(m._write_lock() for m in self.modules() if m._write_lock()):
            for dst, src in converted:
                np.copyto(dst, src, casting="unsafe")
        for m in self.modules():
            m._drop_kept()
        return IncompatibleKeys(missing, unexpected)

    def _write_lock(self):
        """The lock that serialises weight writes with this module's own forwards (an
        RWLock), or None: modules over a C model (pygru.GRU) return its lock."""
        return None

    # -- files --
    def save(self, path: Union[str, os.PathLike], metadata: Optional[Dict[str, str]] = None) -> str:
        """Writes state_dict() to ``path`` as a safetensors file (torch's names; float32
        / float64 parameters, int64 buffers such as num_batches_tracked), atomically,
        with metadata {str: str} (e.g. the model's hyperparameters) and the class name
        under "module". Readable by load(), by the safetensors package and, for its
        GRU tensors, by libgru's gru_load only via pygru.GRU.save. Returns the path."""
        from .modelfile import write_tensors
        self._quantized_inside("save")
        meta = {"format": "pygru.nn", "module": type(self).__name__}
        meta.update(metadata or {})
        return write_tensors(path, self.state_dict(), meta)

    def load(self, path: Union[str, os.PathLike], strict: bool = True) -> Dict[str, str]:
        """Loads a file written by save() (or any safetensors file of this model's
        state-dict names) through load_state_dict(strict=strict); returns its metadata."""
        from .modelfile import read_tensors
        tensors, meta = read_tensors(path)
        self.load_state_dict(tensors, strict=strict)
        return meta

    # -- printing --
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = ["  (%s): %s" % (n, repr(m).replace("\n", "\n  ")) for n, m in self.named_children()]
        head = "%s(%s" % (type(self).__name__, self.extra_repr())
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


class Sequential(Module):
    """A chain of modules that each take one array and return one: forward runs them
    in order, backward runs their backward in reverse. Children are named "0", "1",
    ... (torch's names)."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError("Sequential takes Modules; argument %d is %s" % (i, type(m).__name__))
            setattr(self, str(i), m)

    def __len__(self):
        return len(self._module_names)

    def __iter__(self):
        return iter(list(self.children()))

    def __getitem__(self, i):
        return list(self.children())[i]

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def backward(self, grad_output):
        g = grad_output
        for m in reversed(list(self.children())):
            g = m.backward(g)
        return g
