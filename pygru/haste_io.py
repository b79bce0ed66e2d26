"""pygru.haste_io - weights in and out of Haste's LayerNormGRU (the layer-normalised GRU
of the haste library): to_haste(gru) -> a dict of NumPy arrays, from_haste(state) ->
pygru.GRU with layer_norm=True. Haste itself is not imported (nor needed).

Haste's LayerNormGRU keeps, for one layer and one direction,
  kernel            (I, 3H)  input weights, gate columns in the order z, r, h
  recurrent_kernel  (H, 3H)  recurrent weights, same column order
  bias              (3H,)    input bias
  recurrent_bias    (3H,)    recurrent bias
  gamma             (2, 3H)  the gains of the input (row 0) and recurrent (row 1)
                             layer normalisations; Haste's have no shift (beta)
and computes, per step,
  Wx = LN(x kernel; gamma[0]) + bias,  Rh = LN(h recurrent_kernel; gamma[1]) + recurrent_bias
  z = s(Wx_z + Rh_z), r = s(Wx_r + Rh_r), g = tanh(Wx_g + r * Rh_g),  h' = z h + (1 - z) g
with LN over all 3H entries of a row (epsilon 1e-5): pygru's layer_norm=True,
reset_after=True GRU (docs/equations.md) with its gate blocks r, z, n as Haste's r, z,
h (the same z: no sign change), since a normalisation's statistics do not depend on the
order of the row's entries.

Rules:
  * only what Haste's layer has: one layer, one direction, reset_after=True (a
    reset_after=False model, or from_haste(..., reset_after=False), raises ValueError
    naming reset_after; several layers, bidirectional or reverse raise naming them);
  * pygru's normalisation shifts layer_norm_*_bias (beta) have no place in Haste: to_haste
    folds them into Haste's biases (bias = layer_norm_ih_bias + bias_ih, recurrent_bias =
    layer_norm_hh_bias + bias_hh: the same function, in float32 rounded once more);
    from_haste sets them to 0;
  * a model without biases (bias=False) exports zero biases unless its shifts are nonzero.
"""
from typing import Any, Dict, Mapping, Optional

import numpy as np
from numpy.typing import DTypeLike

from . import _validate
from .gru import GRU

__all__ = ["to_haste", "from_haste"]

_ORDER = (1, 0, 2)   # r, z, n <-> z, r, h: the same swap both ways


def _swap(a, H):
    """Gate blocks of the last axis (3H) swapped between the two orders."""
    return np.concatenate([a[..., g * H:(g + 1) * H] for g in _ORDER], axis=-1)


def to_haste(gru: GRU) -> Dict[str, np.ndarray]:
    """Haste's LayerNormGRU weights (kernel, recurrent_kernel, bias, recurrent_bias,
    gamma; new arrays of the model's dtype) computing what ``gru`` computes. ``gru``:
    a pygru.GRU with layer_norm=True, reset_after=True, one layer, one direction."""
    if not isinstance(gru, GRU):
        raise TypeError("to_haste: gru must be a pygru.GRU, got %s" % type(gru).__name__)
    cfg = gru._config()
    if not cfg.get("layer_norm"):
        raise ValueError("to_haste: Haste's LayerNormGRU is layer-normalised; this GRU has "
                         "layer_norm=False")
    if not cfg["reset_after"]:
        raise ValueError("to_haste: Haste's LayerNormGRU applies r after the recurrent "
                         "projection (reset_after=True); this GRU has reset_after=False")
    if cfg["num_layers"] != 1 or cfg["bidirectional"] or cfg["reverse"]:
        raise ValueError("to_haste: a LayerNormGRU is one layer, one direction, left to "
                         "right; this GRU has num_layers=%d, bidirectional=%s, reverse=%s"
                         % (cfg["num_layers"], cfg["bidirectional"], cfg["reverse"]))
    H = cfg["hidden_size"]
    sd = gru.state_dict()
    zeros = np.zeros(3 * H, gru.dtype)
    bias = sd["layer_norm_ih_bias_l0"] + sd.get("bias_ih_l0", zeros)
    rbias = sd["layer_norm_hh_bias_l0"] + sd.get("bias_hh_l0", zeros)
    return {
        "kernel": np.ascontiguousarray(_swap(sd["weight_ih_l0"].T, H)),
        "recurrent_kernel": np.ascontiguousarray(_swap(sd["weight_hh_l0"].T, H)),
        "bias": _swap(bias, H),
        "recurrent_bias": _swap(rbias, H),
        "gamma": np.stack([_swap(sd["layer_norm_ih_weight_l0"], H),
                           _swap(sd["layer_norm_hh_weight_l0"], H)]),
    }


def _get(state, key, shape, dtype):
    if key not in state:
        raise ValueError("from_haste: state lacks %r (expected kernel, recurrent_kernel, "
                         "bias, recurrent_bias, gamma)" % key)
    arr = _validate.as_real_array(state[key], "state[%r]" % key, dtype)
    _validate.check_shape(arr, "state[%r]" % key, shape)
    return arr


def from_haste(state: Mapping[str, Any], *, reset_after: bool = True,
               batch_first: bool = False, dtype: Optional[DTypeLike] = None,
               seed: Optional[int] = None) -> GRU:
    """A pygru.GRU (layer_norm=True, reset_after=True, one layer) holding Haste
    LayerNormGRU weights ``state`` (kernel (I, 3H), recurrent_kernel (H, 3H), bias (3H),
    recurrent_bias (3H), gamma (2, 3H); NumPy arrays or anything array-like). The
    normalisation shifts are 0 (Haste has none). dtype: float32 (default: the kernel's
    dtype when it is float64, else float32) or float64. reset_after=False raises
    ValueError: Haste's layer has only the reset-after cell."""
    if not _validate.check_flag(reset_after, "reset_after"):
        raise ValueError("from_haste: reset_after=False is not Haste's LayerNormGRU, which "
                         "applies r after the recurrent projection (reset_after=True)")
    if not isinstance(state, Mapping):
        raise TypeError("from_haste: state must be a mapping of Haste's weight names to "
                        "arrays, got %s" % type(state).__name__)
    if "kernel" not in state or "recurrent_kernel" not in state:
        raise ValueError("from_haste: state lacks %r (expected kernel, recurrent_kernel, "
                         "bias, recurrent_bias, gamma)"
                         % ("kernel" if "kernel" not in state else "recurrent_kernel"))
    if dtype is None:
        dtype = np.float64 if np.asarray(state["kernel"]).dtype == np.float64 else np.float32
    dtype = _validate.model_dtype(dtype)
    k = np.asarray(state["kernel"])
    if k.ndim != 2 or k.shape[1] % 3 or k.shape[1] == 0 or k.shape[0] == 0:
        raise ValueError("from_haste: state['kernel'] must have shape (input_size, "
                         "3 * hidden_size), both >= 1; got %s" % (k.shape,))
    I, H = k.shape[0], k.shape[1] // 3
    kernel = _get(state, "kernel", (I, 3 * H), dtype)
    rkernel = _get(state, "recurrent_kernel", (H, 3 * H), dtype)
    bias = _get(state, "bias", (3 * H,), dtype)
    rbias = _get(state, "recurrent_bias", (3 * H,), dtype)
    gamma = _get(state, "gamma", (2, 3 * H), dtype)
    gru = GRU(I, H, batch_first=batch_first, reset_after=True, layer_norm=True, dtype=dtype,
              seed=seed)
    gru.load_state_dict({
        "weight_ih_l0": _swap(kernel, H).T,
        "weight_hh_l0": _swap(rkernel, H).T,
        "bias_ih_l0": _swap(bias, H),
        "bias_hh_l0": _swap(rbias, H),
        "layer_norm_ih_weight_l0": _swap(gamma[0], H),
        "layer_norm_ih_bias_l0": np.zeros(3 * H, dtype),
        "layer_norm_hh_weight_l0": _swap(gamma[1], H),
        "layer_norm_hh_bias_l0": np.zeros(3 * H, dtype),
    })
    return gru
