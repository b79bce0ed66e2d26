"""pygru.nn.module - Parameter, Module and Sequential: the small framework that the
layers, the GRU layer and the losses of pygru.nn are built on (NumPy only).

The rules, stated once:
  * forward(...) computes the output; in training mode it keeps exactly what
    backward needs (in eval mode nothing, and backward then raises RuntimeError),
    by reference: do not modify a forward's input in place before its backward;
  * backward(grad_output) returns the gradient for the input and ADDS the parameter
    gradients into each Parameter's .grad (zero them with zero_grad() or the
    optimizer's zero_grad(), like torch); it may be called more than once;
  * a model is an explicit class: its forward calls its children's forward, its
    backward calls their backward in reverse order;
  * children, parameters and buffers are registered by attribute assignment (or
    register_buffer); named_parameters() and state_dict() use torch's dotted names
    and order (own parameters, own buffers, then each child in registration order),
    so state dicts move to and from torch unchanged;
  * load_state_dict checks every key, shape and dtype before it writes anything.
"""
import collections
import collections.abc
import numbers

import numpy as np

from .. import _core
from .._core import as_real_array, check_shape, fmt_shape

__all__ = ["Parameter", "Module", "Sequential", "IncompatibleKeys"]

IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def make_rng(seed):
    """numpy Generator for ``seed`` (None: fresh entropy); seed must be an int >= 0."""
    if seed is not None:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
            raise TypeError("seed must be None or an int; got %s" % type(seed).__name__)
        if int(seed) < 0:
            raise ValueError("seed must be >= 0; got %d" % int(seed))
        seed = int(seed)
    return np.random.default_rng(seed)


def float_array(value, name, dtype=None):
    """``value`` as a C-contiguous float32/float64 ndarray: of ``dtype`` when given,
    else of its own dtype when that is float32 or float64, else float32. Complex, bool,
    object and string data raise TypeError naming the argument."""
    if dtype is None:
        value = _core.to_numpy(value)
        if not isinstance(value, np.ndarray):
            try:
                value = np.asarray(value)
            except (ValueError, TypeError) as exc:
                raise ValueError("%s could not be converted to an array: %s" % (name, exc)) from None
        dtype = value.dtype if value.dtype in _core.DTYPES else np.float32
    return as_real_array(value, name, np.dtype(dtype))


class Parameter:
    """A trainable array: ``data`` (C-contiguous float32/float64 ndarray, updated in
    place by optimizers) and ``grad`` (same shape and dtype, zeros at creation;
    backward adds into it)."""

    __slots__ = ("data", "grad")

    def __init__(self, data):
        data = _core.to_numpy(data)
        if not isinstance(data, np.ndarray) or data.dtype not in _core.DTYPES:
            raise TypeError("Parameter data must be a float32 or float64 ndarray; got %s"
                            % (getattr(data, "dtype", None) or type(data).__name__))
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def zero_grad(self):
        self.grad[...] = 0

    def __repr__(self):
        return "Parameter(shape=%s, dtype=%s)" % (fmt_shape(self.data.shape), self.data.dtype)


class Module:
    """Base class of every layer and model. Subclasses call super().__init__() first,
    then assign Parameters, child Modules and buffers (register_buffer) as attributes,
    and define forward(...) and backward(grad_output)."""

    def __init__(self):
        d = self.__dict__
        d["_param_names"] = []     # own parameters, registration order
        d["_buffer_names"] = []    # own buffers (arrays in the state dict, not trained)
        d["_module_names"] = []    # children
        d["training"] = True
        d["_cache"] = None         # what forward kept for backward (training mode)

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
        """forward's helper: keeps ``saved`` for backward in training mode; in eval
        mode drops what an earlier forward kept."""
        self.__dict__["_cache"] = saved if self.training else None

    def _kept(self):
        """backward's helper: what the last training forward kept, or RuntimeError."""
        saved = self.__dict__["_cache"]
        if saved is None:
            raise RuntimeError("%s.backward() needs a forward() in training mode first"
                               % type(self).__name__)
        return saved

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

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) in torch's order; a Parameter shared by several
        modules is yielded once (under its first name)."""
        seen = set()
        for mod_name, mod in self.named_modules(prefix):
            for name in mod._param_names:
                p = mod.__dict__[name]
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (mod_name + "." + name if mod_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self):
        """Sets every parameter gradient to zero (backward adds into them)."""
        for p in self.parameters():
            p.zero_grad()

    # -- mode --
    def train(self, mode=True):
        """Training mode (True) or eval mode (False) for self and every descendant;
        eval also drops what forward kept for backward. Returns self."""
        mode = _core.check_flag(mode, "mode")
        for m in self.modules():
            m.__dict__["training"] = mode
            if not mode:
                m.__dict__["_cache"] = None
            m._set_mode(mode)
        return self

    def _set_mode(self, mode):
        """Hook for modules that own something with its own mode (nn.GRU)."""

    def eval(self):
        return self.train(False)

    # -- state dict --
    def _state_items(self, prefix=""):
        """(dotted name, owner module, attribute name) of every parameter and buffer, in
        torch's state-dict order."""
        for mod_name, mod in self.named_modules(prefix):
            for name in mod._param_names + mod._buffer_names:
                yield (mod_name + "." + name if mod_name else name), mod, name

    def state_dict(self):
        """{dotted name: copy of the array}, parameters and buffers in torch's order."""
        out = collections.OrderedDict()
        for key, mod, name in self._state_items():
            value = mod.__dict__[name]
            out[key] = (value.data if isinstance(value, Parameter) else value).copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Loads parameters and buffers from a mapping of array-likes (NumPy arrays,
        lists, CPU torch tensors), cast to each array's dtype; every key, shape and
        dtype is checked before anything is written. strict: missing or unexpected
        keys raise ValueError listing them; otherwise they are skipped and returned as
        (missing_keys, unexpected_keys). Parameters are written in place (an optimizer
        holding them stays valid)."""
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError("state_dict must be a mapping of name -> array; got %s"
                            % type(state_dict).__name__)
        items = list(self._state_items())
        own = {key for key, _, _ in items}
        missing = [key for key, _, _ in items if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        _core.check_state_keys(type(self).__name__, missing, unexpected, strict)
        converted = []
        for key, mod, name in items:
            if key not in state_dict:
                continue
            value = mod.__dict__[name]
            dst = value.data if isinstance(value, Parameter) else value
            if dst.dtype.kind in "iu":   # integer buffers (num_batches_tracked)
                src = np.asarray(_core.to_numpy(state_dict[key]))
                if src.dtype.kind not in "iu":
                    raise TypeError("%s must be an integer array; got dtype %s" % (key, src.dtype))
            else:
                src = as_real_array(state_dict[key], key, dst.dtype)
            check_shape(src, key, dst.shape)
            converted.append((dst, src))
        for dst, src in converted:
            np.copyto(dst, src, casting="unsafe")
        for m in self.modules():
            m.__dict__["_cache"] = None
        return IncompatibleKeys(missing, unexpected)

    # -- files --
    def save(self, path, metadata=None):
        """Writes state_dict() to ``path`` as a safetensors file (torch's names; float32
        / float64 parameters, int64 buffers such as num_batches_tracked), atomically,
        with metadata {str: str} (e.g. the model's hyperparameters) and the class name
        under "module". Readable by load(), by the safetensors package and, for its
        GRU tensors, by libgru's gru_load only via pygru.GRU.save. Returns the path."""
        from ..modelfile import write_tensors
        meta = {"format": "pygru.nn", "module": type(self).__name__}
        meta.update(metadata or {})
        return write_tensors(path, self.state_dict(), meta)

    def load(self, path, strict=True):
        """Loads a file written by save() (or any safetensors file of this model's
        state-dict names) through load_state_dict(strict=strict); returns its metadata."""
        from ..modelfile import read_tensors
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
