"""pygru - a gated recurrent unit (GRU) in portable C11 (libgru) with a NumPy API that
follows torch.nn.GRU / GRUCell: forward pass, backpropagation through time, float32 and
float64, PyTorch's parameter names, layout and initialisation.

    >>> import numpy as np, pygru
    >>> gru = pygru.GRU(10, 20, num_layers=2, seed=0)
    >>> out, h_n = gru(np.zeros((5, 3, 10), np.float32))   # (T, B, I) -> (T, B, H)
    >>> dx, dh0 = gru.backward(np.ones_like(out))           # gradients add into p.grad
    >>> gru.weight_ih_l0[0, 0] = 0.5                         # the model's own storage

The names below are loaded on first use, so that submodules which do not need the C
extension (e.g. pygru.oracle) import without it.
"""
from ._version import __version__  # read from c/include/gru.h: see _version.py

__all__ = ["GRU", "GRUCell", "Module", "Parameter", "Sequential", "GRUError", "info",
           "set_num_threads", "get_num_threads", "MAX_THREADS", "load", "from_torch",
           "to_torch", "from_onnx", "to_onnx", "from_keras", "to_keras", "quantize_module",
           "__version__"]

_LAZY = {"GRU": "gru", "GRUCell": "gru", "load": "gru", "Module": "module",
         "Parameter": "module", "Sequential": "module", "GRUError": "_core", "info": "_core",
         "set_num_threads": "_core", "get_num_threads": "_core", "MAX_THREADS": "_core",
         "from_torch": "torch_io",
         "to_torch": "torch_io", "from_onnx": "onnx_io", "to_onnx": "onnx_io",
         "from_keras": "keras_io", "to_keras": "keras_io", "quantize_module": "quant"}


_SUBMODULES = ("nn", "optim", "data", "progress", "plot", "oracle")


def __getattr__(name):
    if name in _SUBMODULES:   # pygru.nn etc. without importing them by name
        import importlib
        return importlib.import_module("." + name, __name__)
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module("." + _LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__():
    return sorted(set(globals()) | set(__all__))
