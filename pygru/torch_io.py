"""pygru.torch_io - weights in and out of PyTorch: from_torch(module_or_state_dict)
and to_torch(model). torch is imported only inside these calls.

Guarantees:
  * the parameters keep PyTorch's names, layout and gate order (r, z, n): nothing is
    reordered, so a round trip is exact (bitwise, in the model's dtype);
  * the configuration comes from the module (or, for a state dict, from the tensor
    names and shapes) and keyword arguments may add what a state dict cannot say
    (batch_first, dropout, dtype, seed); a keyword that contradicts the weights raises
    ValueError naming it;
  * what the other side cannot express raises ValueError: torch modules of another
    dtype than float32/float64 (pygru), reset_after=False (torch), zoneout (torch: its
    inference is not a plain GRU);
  * weight_dropout (DropConnect on weight_hh) is training-only: to_torch exports the
    same inference function (weight_hh as it is) and warns that it is not carried.
"""
import collections.abc
import warnings
from typing import Any, Union

import numpy as np

from . import _validate
from .gru import GRU, GRUCell, build
from .modelfile import config_from_state_dict

__all__ = ["from_torch", "to_torch"]


def _dtype_of(value):
    """The NumPy dtype of an array-like, or the foreign dtype's name (e.g.
    "torch.bfloat16") when NumPy has no equivalent."""
    try:
        arr = _validate.to_numpy(value, "weight")
    except TypeError:
        return str(getattr(value, "dtype", type(value).__name__))
    dt = getattr(arr, "dtype", None)
    return np.dtype(dt) if dt is not None else None


def from_torch(module_or_state_dict: Any, **config: Any) -> Union[GRU, GRUCell]:
    """A pygru GRU or GRUCell holding the weights of a torch.nn.GRU / torch.nn.GRUCell,
    or of their state dict.

    From a module, the configuration is the module's (input_size, hidden_size,
    num_layers, bias, batch_first, dropout, bidirectional) and the dtype its weights'
    (float32 or float64); the result is in the module's train/eval mode. From a state
    dict, the sizes, layers, directions and bias are read off the names and shapes;
    batch_first, dropout, reset_after, dtype and seed may be passed as keywords
    (defaults as for pygru.GRU; dtype: the weights' when float64, else float32).
    Keywords that contradict the module or the weights raise ValueError."""
    obj = module_or_state_dict
    if isinstance(obj, collections.abc.Mapping):
        cls_name, cfg = config_from_state_dict(obj)
        dtype = config.pop("dtype", None)
        if dtype is None:
            dt = _dtype_of(obj["weight_ih" if cls_name == "GRUCell" else "weight_ih_l0"])
            dtype = np.float64 if dt == np.float64 else np.float32
        return build(cls_name, cfg, obj, config, dtype)
    kind = type(obj).__name__
    if not (callable(getattr(obj, "state_dict", None)) and kind in ("GRU", "GRUCell")):
        raise TypeError("from_torch takes a torch.nn.GRU, a torch.nn.GRUCell or a state dict; "
                        "got %s" % kind)
    sd = obj.state_dict()
    dt = _dtype_of(next(iter(sd.values())))
    if dt not in _validate.DTYPES:
        raise ValueError("from_torch: the module's weights are %s; pygru holds float32 or "
                         "float64 (call .float() or .double() on the module first)" % dt)
    if kind == "GRU":
        cfg = dict(input_size=obj.input_size, hidden_size=obj.hidden_size,
                   num_layers=obj.num_layers, bias=bool(obj.bias),
                   batch_first=bool(obj.batch_first), dropout=float(obj.dropout),
                   bidirectional=bool(obj.bidirectional), reset_after=True, reverse=False)
    else:
        cfg = dict(input_size=obj.input_size, hidden_size=obj.hidden_size, bias=bool(obj.bias),
                   reset_after=True)
    dtype = config.pop("dtype", dt)
    model = build(kind, cfg, sd, config, dtype)
    model.train(bool(getattr(obj, "training", True)))
    return model


def to_torch(model: Union[GRU, GRUCell]) -> Any:
    """A torch.nn.GRU / torch.nn.GRUCell with the model's configuration, dtype, weights
    and train/eval mode."""
    if getattr(model, "_cfg", {}).get("layer_norm"):
        raise ValueError("to_torch: layer_norm=True (layer-normalised projections) has no "
                         "torch.nn.GRU equivalent")
    if hasattr(model, "dequantize"):   # a QuantizedGRU: its dequantized float32 GRU
        model = model.dequantize()
    cfg = model._config()
    if cfg.get("augru"):
        raise ValueError("to_torch: augru=True (DIEN's attentional update gate) has no "
                         "torch.nn.GRU / GRUCell equivalent")
    import torch
    if not cfg["reset_after"]:
        raise ValueError("to_torch: reset_after=False (n = tanh(W_in x + b_in + W_hn (r h) + "
                         "b_hn)) cannot be expressed by torch.nn.GRU, which always applies r "
                         "after W_hn h + b_hn")
    if cfg.get("reverse"):
        raise ValueError("to_torch: reverse=True (a single right-to-left direction) has no "
                         "torch.nn.GRU equivalent")
    if cfg.get("zoneout"):
        raise ValueError("to_torch: zoneout=%r has no torch.nn.GRU equivalent (its inference "
                         "blends the previous and the new state: not a plain GRU)"
                         % cfg["zoneout"])
    if cfg.get("weight_dropout"):
        warnings.warn("to_torch: weight_dropout=%r (DropConnect on weight_hh) is training-only "
                      "and is not carried; the torch module computes the same inference "
                      "function" % cfg["weight_dropout"], UserWarning, stacklevel=3)
    if cfg.get("input_dropout") or cfg.get("recurrent_dropout"):
        warnings.warn("to_torch: torch.nn.GRU has no input or recurrent dropout; the torch "
                      "module computes the same function but trains without them "
                      "(input_dropout=%r, recurrent_dropout=%r)"
                      % (cfg["input_dropout"], cfg["recurrent_dropout"]), UserWarning,
                      stacklevel=3)
    tdtype = torch.float64 if cfg["dtype"] == np.float64 else torch.float32
    if isinstance(model, GRU):
        mod = torch.nn.GRU(cfg["input_size"], cfg["hidden_size"], num_layers=cfg["num_layers"],
                           bias=cfg["bias"], batch_first=cfg["batch_first"],
                           dropout=cfg["dropout"], bidirectional=cfg["bidirectional"],
                           dtype=tdtype)
    else:
        mod = torch.nn.GRUCell(cfg["input_size"], cfg["hidden_size"], bias=cfg["bias"],
                               dtype=tdtype)
    state = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}   # writable copies
    mod.load_state_dict(state, strict=True)
    mod.train(model.training)
    return mod
