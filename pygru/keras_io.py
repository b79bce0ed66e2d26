"""pygru.keras_io - weights in and out of Keras 3: from_keras(layer) for a
keras.layers.GRU and to_keras(model) (keras imported only inside these calls).

Keras keeps kernel (I, 3H) and recurrent_kernel (H, 3H) with gate columns z, r, h, and a
bias of (3H,) when reset_after=False or (2, 3H) (input bias, recurrent bias) when
reset_after=True (Keras 3's default); its cell is pygru's: h' = z h + (1 - z) hh. The
pygru model is batch-first like Keras. With go_backwards=True the Keras layer runs right
to left (pygru's reverse=True) and returns its sequence in processing order: the Keras
sequence is pygru's output flipped in time, out[:, ::-1]; the final states agree.
Keras' dropout / recurrent_dropout are pygru's input_dropout / recurrent_dropout (one
mask per sequence, fixed in time; the recurrent mask on h where it meets the recurrent
kernel), carried both ways; the masks themselves are drawn by each library.
"""
import numpy as np
from typing import Any, Optional

from numpy.typing import DTypeLike

from .gru import GRU

__all__ = ["from_keras", "to_keras"]

_ORDER = (1, 0, 2)   # z, r, h <-> r, z, n: the same swap both ways


def _swap(a, H):
    """Gate blocks of the last axis (3H) swapped between the two orders."""
    return np.concatenate([a[..., g * H:(g + 1) * H] for g in _ORDER], axis=-1)


def _name(fn):
    return getattr(fn, "__name__", str(fn)).lower()


def from_keras(layer: Any, dtype: Optional[DTypeLike] = None) -> GRU:
    """A pygru GRU (batch_first=True, eval mode) computing what the Keras GRU layer
    computes (see the module docstring for go_backwards). The layer must be built (have
    weights). Activations other than tanh / sigmoid raise ValueError naming them.
    dtype: the layer's (float32 unless its weights are float64) when None."""

    kind = type(layer).__name__
    if kind != "GRU" or not hasattr(layer, "get_weights"):
        raise TypeError("from_keras takes a keras.layers.GRU; got %s" % kind)
    weights = layer.get_weights()
    if not weights:
        raise ValueError("from_keras: the layer has no weights yet (build it, or call it once)")
    if _name(layer.activation) != "tanh" or _name(layer.recurrent_activation) != "sigmoid":
        raise ValueError("from_keras: activation=%s, recurrent_activation=%s cannot be "
                         "honoured: pygru computes tanh and sigmoid" % (
                             _name(layer.activation), _name(layer.recurrent_activation)))
    kernel, rkernel = weights[0], weights[1]
    I, H = kernel.shape[0], rkernel.shape[0]
    if kernel.shape != (I, 3 * H) or rkernel.shape != (H, 3 * H):
        raise ValueError("from_keras: kernel %s / recurrent_kernel %s are not (I, 3H) / (H, 3H)"
                         % (kernel.shape, rkernel.shape))
    ra, use_bias = bool(layer.reset_after), bool(layer.use_bias)
    if dtype is None:
        dtype = np.float64 if kernel.dtype == np.float64 else np.float32
    gru = GRU(I, H, bias=use_bias, batch_first=True, reset_after=ra,
              reverse=bool(layer.go_backwards), dtype=dtype,
              input_dropout=float(layer.dropout), recurrent_dropout=float(layer.recurrent_dropout))
    state = {"weight_ih_l0": _swap(kernel, H).T, "weight_hh_l0": _swap(rkernel, H).T}
    if use_bias:
        b = weights[2]
        if ra:
            state["bias_ih_l0"], state["bias_hh_l0"] = _swap(b[0], H), _swap(b[1], H)
        else:
            state["bias_ih_l0"], state["bias_hh_l0"] = _swap(b, H), np.zeros(3 * H, b.dtype)
    gru.load_state_dict(state)
    return gru.eval()


def to_keras(gru: GRU) -> Any:
    """A built keras.layers.GRU (return_sequences=True, return_state=True) computing
    what ``gru`` computes: one layer, one direction (reverse=True becomes
    go_backwards=True). With reset_after=False Keras has one bias per gate, so
    bias_ih + bias_hh is stored (the same function, rounded once more). layer_norm, zoneout
    and augru raise ValueError (Keras' GRU has no layer normalisation; zoneout's inference
    is not a plain GRU; Keras has no AUGRU); weight_dropout is training-only and not
    carried (a warning; the layer computes the same inference function)."""
    if getattr(gru, "_cfg", {}).get("layer_norm"):
        raise ValueError("to_keras: layer_norm=True (layer-normalised projections) has no "
                         "keras.layers.GRU equivalent (pygru.haste_io.to_haste exports a "
                         "one-layer reset_after model to Haste's LayerNormGRU)")
    cfg = gru._config()
    if cfg.get("augru"):
        raise ValueError("to_keras: augru=True (DIEN's attentional update gate) has no "
                         "keras.layers.GRU equivalent")
    if cfg.get("zoneout"):
        raise ValueError("to_keras: zoneout=%r has no keras.layers.GRU equivalent (its "
                         "inference blends the previous and the new state: not a plain GRU)"
                         % cfg["zoneout"])
    import keras
    if cfg["num_layers"] != 1 or cfg["bidirectional"]:
        raise ValueError("to_keras: a Keras GRU layer is one layer, one direction; this model "
                         "has num_layers=%d, bidirectional=%s (convert layer by layer, with "
                         "keras.layers.Bidirectional)" % (cfg["num_layers"], cfg["bidirectional"]))
    if cfg.get("weight_dropout"):
        import warnings
        warnings.warn("to_keras: weight_dropout=%r (DropConnect on weight_hh) is training-only "
                      "and is not carried; the Keras layer computes the same inference "
                      "function" % cfg["weight_dropout"], UserWarning, stacklevel=2)
    H, I = cfg["hidden_size"], cfg["input_size"]
    sd = gru.state_dict()
    dt = "float64" if cfg["dtype"] == np.float64 else "float32"
    layer = keras.layers.GRU(H, return_sequences=True, return_state=True,
                             reset_after=cfg["reset_after"], use_bias=cfg["bias"],
                             go_backwards=cfg["reverse"], dtype=dt,
                             dropout=cfg["input_dropout"],
                             recurrent_dropout=cfg["recurrent_dropout"])
    layer.build((None, None, I))
    weights = [_swap(sd["weight_ih_l0"].T, H), _swap(sd["weight_hh_l0"].T, H)]
    if cfg["bias"]:
        bi, bh = _swap(sd["bias_ih_l0"], H), _swap(sd["bias_hh_l0"], H)
        weights.append(np.stack([bi, bh]) if cfg["reset_after"] else bi + bh)
    layer.set_weights(weights)
    return layer
