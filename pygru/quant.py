"""pygru.quant - int8 and bfloat16 inference GRUs: ``GRU.quantize("int8")`` (or
``"bf16"``) returns a QuantizedGRU, which runs libgru's int8 or bf16 model
(gru_quantize; semantics and measured accuracy in docs/quantization.md).

Guarantees:
  * the same forward / __call__ / step / new_state / reset_state signatures as
    pygru.GRU (its code runs them), float32 in and out (other inputs are converted as
    GRU converts them), batch_first as the source GRU;
  * the quantized model is a snapshot: later writes to the source GRU do not reach it;
  * inference only and read-only: train(True), backward, and writes to the weights
    raise; state_dict() returns the dequantized float32 weights (values * scales, as
    copies; bf16: the bf16 values, exact); int8_weights() the int8 values and row
    scales, bf16_weights() the bf16 bit patterns (uint16);
  * results are bitwise identical for every kernel set (int8: scalar, avx2,
    avx512vnni; bf16: scalar) and thread count.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from . import _core
from ._core import lib

__all__ = ["QuantizedGRU", "QuantizedGRUCell", "FORMATS"]

FORMATS = {"int8": "GRU_INT8", "bf16": "GRU_BF16"}


def _format_code(fmt):
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ValueError("quantize: format must be one of %s; got %r (weight-only modes "
                         "are not implemented yet)" % (sorted(FORMATS), fmt))
    return int(getattr(lib, FORMATS[fmt]))


class QuantizedGRU:
    """An int8 or bf16, inference-only copy of a pygru.GRU (made by
    GRU.quantize("int8") or GRU.quantize("bf16")).

    qgru(x, h0=None, lengths=None) -> (output, h_n), qgru.step(x, state, out=None),
    new_state, reset_state: as pygru.GRU's, in float32. ``format`` is "int8" or "bf16",
    ``isa`` the float kernel set, ``quant_isa`` the int8 / bf16 kernel set it runs on
    (also as ``int8_isa`` / ``bf16_isa``, None for the other format)."""

    training = False

    def __init__(self, gru, fmt: str = "int8") -> None:
        code = _format_code(fmt)
        model = _core.CModel.quantized(gru._model, code)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_cfg", dict(gru._cfg))
        object.__setattr__(self, "_names", dict(gru._names))   # public -> C name
        object.__setattr__(self, "format", fmt)

    # the float GRU's inference code, which needs only _cfg, _model, dtype, training
    from .gru import GRU as _GRU
    forward = _GRU.forward
    step = _GRU.step
    new_state = _GRU.new_state
    reset_state = _GRU.reset_state
    _check_streamable = _GRU._check_streamable
    del _GRU

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    input_size = property(lambda self: self._cfg["input_size"])
    hidden_size = property(lambda self: self._cfg["hidden_size"])
    num_layers = property(lambda self: self._cfg["num_layers"])
    bias = property(lambda self: self._cfg["bias"])
    batch_first = property(lambda self: self._cfg["batch_first"])
    bidirectional = property(lambda self: self._cfg["bidirectional"])
    reset_after = property(lambda self: self._cfg["reset_after"])
    reverse = property(lambda self: self._cfg["reverse"])
    dtype = property(lambda self: np.dtype(np.float32))
    isa = property(lambda self: self._model.isa)
    quant_isa = property(lambda self: self._model.quant_isa)
    int8_isa = property(lambda self: self._model.quant_isa if self.format == "int8" else None)
    bf16_isa = property(lambda self: self._model.quant_isa if self.format == "bf16" else None)

    @property
    def num_threads(self) -> int:
        return self._model.num_threads()

    def __repr__(self):
        c = self._cfg
        extra = "".join(", %s=True" % k for k in ("bidirectional", "batch_first", "reverse")
                        if c[k])
        if c["num_layers"] != 1:
            extra = ", num_layers=%d" % c["num_layers"] + extra
        if not c["reset_after"]:
            extra += ", reset_after=False"
        return "QuantizedGRU(%d, %d%s, format=%r)" % (c["input_size"], c["hidden_size"],
                                                       extra, self.format)

    # -- read-only, inference-only --
    def _config(self):
        return dict(self._cfg, dtype=np.dtype(np.float32))

    def __setattr__(self, name, value):
        if name in self._names:
            raise AttributeError("a QuantizedGRU's weights are read-only (%s): quantize "
                                 "the float GRU again after changing it" % name)
        raise AttributeError("QuantizedGRU has no settable attribute %r" % name)

    def __reduce__(self):
        raise TypeError("a QuantizedGRU cannot be pickled or saved yet (model files of int8 "
                        "and bf16 models are not implemented); pickle the float GRU and quantize it "
                        "after loading")

    def eval(self) -> "QuantizedGRU":
        return self

    def train(self, mode: bool = True) -> "QuantizedGRU":
        if mode:
            raise ValueError("a QuantizedGRU is inference-only: train() is not supported "
                             "(train the float GRU, then quantize it)")
        return self

    def backward(self, *args: Any, **kwargs: Any):
        raise _core.GRUError("a QuantizedGRU is inference-only: it has no backward() "
                             "(train the float GRU, then quantize it)")

    def parameters(self):
        raise _core.GRUError("a QuantizedGRU has no trainable parameters; state_dict() "
                             "gives its dequantized weights, int8_weights() the int8 ones")

    named_parameters = parameters
    zero_grad = parameters

    def state_dict(self) -> Dict[str, np.ndarray]:
        """{name: float32 copy}: the dequantized weights (int8 values times the row
        scale, as libgru computes with them) and the biases, in PyTorch's order."""
        return {pub: self._model.param_copy(c) for pub, c in self._names.items()}

    def int8_weights(self) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
        """{weight name: (int8 values (3H, in), float32 row scales (3H,))}; int8 models
        only."""
        if self.format != "int8":
            raise ValueError("int8_weights(): this model is %s (bf16_weights() gives its "
                             "weights)" % self.format)
        return {pub: self._model.quant_weight(c) for pub, c in self._names.items()
                if pub.startswith("weight_")}

    def bf16_weights(self) -> Dict[str, np.ndarray]:
        """{weight name: the bf16 values (3H, in) as their uint16 bit patterns (the high
        halves of the float32 values state_dict() gives)}; bf16 models only."""
        if self.format != "bf16":
            raise ValueError("bf16_weights(): this model is %s (int8_weights() gives its "
                             "weights)" % self.format)
        return {pub: (self._model.param_copy(c).view(np.uint32) >> 16).astype(np.uint16)
                for pub, c in self._names.items() if pub.startswith("weight_")}

    def dequantize(self):
        """A float32 pygru.GRU holding the dequantized weights (the function the int8
        or bf16 model approximates, without the activation rounding)."""
        from .gru import GRU
        c = self._cfg
        g = GRU(c["input_size"], c["hidden_size"], num_layers=c["num_layers"], bias=c["bias"],
                batch_first=c["batch_first"], bidirectional=c["bidirectional"],
                reset_after=c["reset_after"], reverse=c["reverse"], seed=0)
        g.load_state_dict(self.state_dict())
        return g.eval()

    def to_torch(self):
        """torch.nn.GRU with the dequantized float32 weights (pygru.to_torch's rules)."""
        from .torch_io import to_torch
        return to_torch(self.dequantize())


class QuantizedGRUCell(QuantizedGRU):
    """An int8 or bf16, inference-only copy of a pygru.GRUCell (GRUCell.quantize):
    cell(x, h=None) -> h1 as GRUCell's (float32), state_dict / int8_weights under the
    cell's names (weight_ih, ...), to_torch -> torch.nn.GRUCell (dequantized)."""

    from .gru import GRUCell as _Cell
    forward = _Cell.forward
    del _Cell

    def _no_step(self, *args, **kwargs):
        raise AttributeError("a GRUCell has no step(): call the cell on each frame")

    step = new_state = reset_state = _no_step
    num_layers = batch_first = bidirectional = reverse = property(lambda self: None)

    def __repr__(self):
        c = self._cfg
        extra = "" if c["reset_after"] else ", reset_after=False"
        return "QuantizedGRUCell(%d, %d%s, format=%r)" % (c["input_size"], c["hidden_size"],
                                                           extra, self.format)

    def dequantize(self):
        """A float32 pygru.GRUCell holding the dequantized weights."""
        from .gru import GRUCell
        c = self._cfg
        g = GRUCell(c["input_size"], c["hidden_size"], bias=c["bias"],
                    reset_after=c["reset_after"], seed=0)
        g.load_state_dict(self.state_dict())
        return g.eval()
