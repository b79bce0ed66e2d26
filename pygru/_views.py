"""pygru._views - NumPy views of memory that libgru owns (a model's parameters and
gradients), with no copy in either direction.

libgru keeps each model's parameters in one flat buffer and, beside it, the weights
in a packed form its kernels read; the packed form must be rebuilt when a weight
changes (gru_params_changed). So a view of a parameter must never be written without
telling the model. The views made here guarantee it:

  * ``StorageView``, the parameter view, is an ndarray flagged read-only whose
    writes through NumPy's own paths (item assignment, in-place operators and every
    ufunc with ``out=``, ``ufunc.at``, ``np.copyto`` / ``put`` / ``place`` /
    ``putmask`` / ``fill_diagonal`` / ``put_along_axis``, ``fill``) go to the storage
    and then call the view's ``notify`` (which tells the model). Views of it
    (slices, reshapes, transposes) are StorageViews of the same storage;
  * every other way to write is refused by NumPy itself: a plain ndarray taken from
    it (``np.asarray``, ``.view(np.ndarray)``, a memoryview) is read-only, and its
    WRITEABLE flag cannot be set again (the read-only flag sits on the base that owns
    the memory). So a write is never silently lost: it takes effect, or it raises;
  * copies (``.copy()``, ``astype``, arithmetic results) are plain ndarrays;
  * every array made here keeps its owner (the C model) alive through its base, so
    a view outliving the Python GRU object stays valid;
  * a write holds the model's lock as a writer (pygru._core.RWLock): no forward,
    step or backward of that model runs meanwhile, so each sees the weights from
    before or after the write, never half of it.
Gradient views are plain writable ndarrays: libgru keeps no derived form of them.
"""
import numpy as np

__all__ = ["StorageView", "storage_array", "parameter_view"]


class _Memory:
    """Exposes ``nbytes`` at ``address`` to NumPy (array interface) and keeps
    ``owner`` alive for as long as any array made from it exists."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, address, shape, dtype, readonly, owner):
        self.__array_interface__ = {"data": (int(address), bool(readonly)), "shape": tuple(shape),
                                    "typestr": np.dtype(dtype).str, "version": 3}
        self.owner = owner


def storage_array(address, shape, dtype, owner, readonly=False):
    """An ndarray over memory libgru owns, keeping ``owner`` alive."""
    return np.asarray(_Memory(address, shape, dtype, readonly, owner))


def _address(arr):
    return arr.__array_interface__["data"][0]


def _plain(value):
    """A StorageView as a plain (read-only) ndarray; anything else unchanged; lists
    and tuples one level deep (np.concatenate([...]))."""
    if isinstance(value, StorageView):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(v.view(np.ndarray) if isinstance(v, StorageView) else v for v in value)
    return value


class StorageView(np.ndarray):
    """A parameter's storage inside a C model, written only through paths that tell
    the model (see the module docstring). ``_root``: the writable array over the whole
    tensor (private); ``_notify``: called after every write."""

    def __array_finalize__(self, obj):
        self._root = self._notify = self._lock = None
        root = getattr(obj, "_root", None)
        if root is None:
            return
        lo, a = _address(root), _address(self)
        if lo <= a <= lo + root.nbytes and (self.size == 0 or a + self.itemsize <= lo + root.nbytes):
            # a view of the same storage
            self._root, self._notify, self._lock = root, obj._notify, obj._lock

    def _twin(self):
        """A writable plain ndarray over the same elements, or None for a copy."""
        root = self._root
        if root is None:
            return None
        return np.ndarray(self.shape, self.dtype, buffer=root,
                          offset=_address(self) - _address(root), strides=self.strides)

    def _write(self, fn):
        twin = self._twin()
        if twin is None:   # a copy that kept the subclass: its own memory
            return fn(self.view(np.ndarray))
        with self._lock.write():   # no call of the model reads the weights meanwhile
            result = fn(twin)
            self._notify()
        return result

    # -- writes --
    def __setitem__(self, index, value):
        if self._root is None:
            return np.ndarray.__setitem__(self, index, value)
        self._write(lambda a: a.__setitem__(index, _plain(value)))

    def fill(self, value):
        self._write(lambda a: a.fill(value))

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        targets = []
        if method == "at" and isinstance(inputs[0], StorageView) and inputs[0]._root is not None:
            targets.append(inputs[0])
            inputs = (inputs[0]._twin(),) + inputs[1:]
        inputs = tuple(_plain(x) for x in inputs)
        if out is not None:
            outs = []
            for o in out:
                twin = o._twin() if isinstance(o, StorageView) else None
                if twin is not None:
                    targets.append(o)
                outs.append(twin if twin is not None else _plain(o))
            kwargs["out"] = tuple(outs)
        if not targets:
            result = getattr(ufunc, method)(*inputs, **kwargs)
        else:
            from ._core import hold_writes   # (_core imports this module)
            with hold_writes(t._lock for t in targets):   # outputs in several models
                result = getattr(ufunc, method)(*inputs, **kwargs)
                for t in targets:
                    t._notify()
        if out is not None:   # in-place operators rebind to what is returned: the caller's
            return out[0] if len(out) == 1 else out
        return result

    def __array_function__(self, func, types, args, kwargs):
        target = None
        if func in _WRITERS and args and isinstance(args[0], StorageView):
            target, args = args[0], args[1:]
        elif isinstance(kwargs.get("out"), StorageView):
            target = kwargs.pop("out")
        args = tuple(_plain(a) for a in args)
        kwargs = {k: _plain(v) for k, v in kwargs.items()}
        if target is None:
            return func(*args, **kwargs)
        if func in _WRITERS:
            return target._write(lambda a: func(a, *args, **kwargs))
        target._write(lambda a: func(*args, out=a, **kwargs))
        return target

    # -- copies are plain arrays --
    def copy(self, order="C"):
        return np.array(self.view(np.ndarray), order=order, copy=True)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return self.copy().__reduce__()


_WRITERS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}


def parameter_view(address, shape, dtype, owner, notify, lock):
    """A StorageView of the (shape, dtype) tensor at ``address`` whose writes hold
    ``lock.write()`` (an RWLock: the model's calls read under it) and call notify()
    before releasing it; both its arrays keep ``owner`` alive."""
    root = storage_array(address, shape, dtype, owner)                    # writable, private
    view = storage_array(address, shape, dtype, owner, readonly=True).view(StorageView)
    view._root, view._notify, view._lock = root, notify, lock
    return view
