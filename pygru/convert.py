"""pygru.convert - weights in and out of PyTorch: from_torch(module_or_state_dict) and
the to_torch() methods of GRU and GRUCell. torch is imported only inside these calls.

Guarantees:
  * the parameters keep PyTorch's names, layout and gate order (r, z, n): nothing is
    reordered, so a round trip is exact (bitwise, in the model's dtype);
  * the configuration comes from the module (or, for a state dict, from the tensor
    names and shapes) and keyword arguments may add what a state dict cannot say
    (batch_first, dropout, dtype, seed); a keyword that contradicts the weights raises
    ValueError naming it;
  * what the other side cannot express raises ValueError: torch modules of another
    dtype than float32/float64 (pygru), reset_after=False (torch).
"""
import collections.abc
import re
import warnings

import numpy as np

from . import _core

__all__ = ["from_torch", "to_torch", "config_from_state_dict"]

_LAYER_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")
_CELL_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _shape(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        shape = np.shape(value)
    return tuple(int(s) for s in shape)


def _dtype_of(value):
    arr = _core.to_numpy(value)
    dt = getattr(arr, "dtype", None)
    return np.dtype(dt) if dt is not None else None


def config_from_state_dict(state_dict):
    """(class name "GRU" or "GRUCell", config dict) read off a state dict's names and
    shapes: input_size, hidden_size, and for a GRU num_layers, bidirectional, bias.
    ValueError when the names do not form a complete GRU / GRUCell."""
    if not isinstance(state_dict, collections.abc.Mapping):
        raise TypeError("state_dict must be a mapping of name -> array; got %s"
                        % type(state_dict).__name__)
    keys = list(state_dict)
    if "weight_ih" in state_dict:   # a GRUCell
        extra = [k for k in keys if k not in _CELL_KEYS]
        if extra or "weight_hh" not in state_dict:
            raise ValueError("state_dict is neither a GRUCell's (weight_ih, weight_hh, bias_ih, "
                             "bias_hh) nor a GRU's; unexpected or missing keys: %s"
                             % ", ".join(map(repr, extra or ["weight_hh"])))
        g3, inp = _shape(state_dict["weight_ih"])
        if g3 % 3:
            raise ValueError("weight_ih must have 3 * hidden_size rows; got shape %s"
                             % (_shape(state_dict["weight_ih"]),))
        return "GRUCell", dict(input_size=inp, hidden_size=g3 // 3,
                               bias="bias_ih" in state_dict)
    layers, reverse, bias = set(), False, False
    for k in keys:
        m = _LAYER_KEY.match(k)
        if not m:
            raise ValueError("state_dict has a key that no GRU parameter has: %r" % k)
        layers.add(int(m.group(2)))
        reverse |= m.group(3) is not None
        bias |= m.group(1).startswith("bias")
    if "weight_ih_l0" not in state_dict or "weight_hh_l0" not in state_dict:
        raise ValueError("state_dict must hold weight_ih_l0 and weight_hh_l0 (a torch.nn.GRU's "
                         "parameters); got keys %s" % ", ".join(map(repr, keys)))
    L = max(layers) + 1
    if sorted(layers) != list(range(L)):
        raise ValueError("state_dict skips layers: it has layers %s" % sorted(layers))
    g3, inp = _shape(state_dict["weight_ih_l0"])
    if g3 % 3:
        raise ValueError("weight_ih_l0 must have 3 * hidden_size rows; got shape %s"
                         % (_shape(state_dict["weight_ih_l0"]),))
    return "GRU", dict(input_size=inp, hidden_size=g3 // 3, num_layers=L,
                       bidirectional=reverse, bias=bias)


def _build(cls_name, config, state_dict, overrides, dtype):
    from .modules import GRU, GRUCell
    cls = GRU if cls_name == "GRU" else GRUCell
    for key, value in overrides.items():
        if key in config and config[key] != value:
            raise ValueError("%s=%r contradicts the weights, which give %s=%r"
                             % (key, value, key, config[key]))
    cfg = dict(config, **overrides)
    if dtype is not None:
        cfg["dtype"] = dtype
    try:
        model = cls(**cfg)
    except TypeError as exc:
        raise TypeError("from_torch: %s (a %s takes %s)" % (exc, cls_name, (
            "input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, "
            "reset_after, dtype, seed, reverse, input_dropout, recurrent_dropout" if cls is GRU
            else "input_size, hidden_size, bias, reset_after, dtype, seed"))) from None
    model.load_state_dict(state_dict, strict=True)
    return model


def from_torch(module_or_state_dict, **config):
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
        return _build(cls_name, cfg, obj, config, dtype)
    kind = type(obj).__name__
    if not (callable(getattr(obj, "state_dict", None)) and kind in ("GRU", "GRUCell")):
        raise TypeError("from_torch takes a torch.nn.GRU, a torch.nn.GRUCell or a state dict; "
                        "got %s" % kind)
    sd = obj.state_dict()
    dt = _dtype_of(next(iter(sd.values())))
    if dt not in _core.DTYPES:
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
    model = _build(kind, cfg, sd, config, dtype)
    model.train(bool(getattr(obj, "training", True)))
    return model


def to_torch(model):
    """A torch.nn.GRU / torch.nn.GRUCell with the model's configuration, dtype, weights
    and train/eval mode (used by GRU.to_torch and GRUCell.to_torch)."""
    import torch
    from .modules import GRU
    cfg = model._config()
    if not cfg["reset_after"]:
        raise ValueError("to_torch: reset_after=False (n = tanh(W_in x + b_in + W_hn (r h) + "
                         "b_hn)) cannot be expressed by torch.nn.GRU, which always applies r "
                         "after W_hn h + b_hn")
    if cfg.get("reverse"):
        raise ValueError("to_torch: reverse=True (a single right-to-left direction) has no "
                         "torch.nn.GRU equivalent")
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
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.state_dict().items()}
    mod.load_state_dict(state, strict=True)
    mod.train(model.training)
    return mod
