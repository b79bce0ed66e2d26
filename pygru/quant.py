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
    avx512vnni, neon, neonmull; bf16: scalar, avx2, avx512, neon; the vdpbf16ps and BFDOT
    sets avx512bf16 and neonbf16 within their stated bounds) and thread count;
  * save(path) writes a model file (int8: I8 weights, F32 row scales "<name>.scale",
    "quantization": "int8"; bf16: BF16 weights, "quantization": "bf16") that pygru.load
    and libgru's gru_load read back into a model with bitwise the same results;
  * quantize_module(model) runs a pygru.nn model's GRUs in int8 or bf16
    (QuantizedModule, eval only).
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from . import _core
from ._core import lib

__all__ = ["QuantizedGRU", "QuantizedGRUCell", "QuantizedModule", "quantize_module", "FORMATS"]

FORMATS = {"int8": "GRU_INT8", "bf16": "GRU_BF16"}


def _format_code(fmt):
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ValueError("quantize: format must be one of %s; got %r (weight-only modes "
                         "are not implemented yet)" % (sorted(FORMATS), fmt))
    return int(getattr(lib, FORMATS[fmt]))


def _bf16_bits(values):
    """The bf16 bit patterns (uint16) of a bf16 model's float32 weights, which hold bf16
    values exactly (the high halves; the low halves are 0)."""
    return (values.view(np.uint32) >> 16).astype(np.uint16)


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
        if gru._cfg.get("layer_norm"):
            raise ValueError("quantize: a layer_norm=True GRU cannot be quantized (libgru "
                             "has no %s kernels for the layer normalisations)" % fmt)
        if gru._cfg.get("zoneout"):
            raise ValueError("quantize: zoneout=%r is not supported by the int8 and bf16 "
                             "models (their paths have no zoneout blend); weight_dropout "
                             "models can be quantized" % gru._cfg["zoneout"])
        if gru._cfg.get("augru"):
            raise ValueError("quantize: augru=True models cannot be quantized (the int8 and "
                             "bf16 kernels have no attentional update gate)")
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
        raise TypeError("a QuantizedGRU cannot be pickled: save it with .save(path) and "
                        "read it back with pygru.load(path)")

    # -- files --
    def save(self, path) -> str:
        """Writes the model to ``path`` as a safetensors file (atomic; pygru.load and
        libgru's gru_load read it back, bitwise the same model) with the float file's
        metadata plus "quantization": "int8" or "bf16" and the biases float32. int8: each
        weight as int8 values (dtype I8, same name) followed by its float32 row scales
        ("<name>.scale", shape (3H,)); bf16: each weight as its bf16 values (dtype BF16,
        same name and shape; bf16_weights()), no scales (docs/quantization.md). Returns
        the path."""
        from . import modelfile
        tensors, bf16 = {}, []
        for pub, c in self._names.items():
            if not pub.startswith("weight_"):
                tensors[pub] = self._model.param_copy(c)
            elif self.format == "int8":
                tensors[pub], tensors[pub + ".scale"] = self._model.quant_weight(c)
            else:
                tensors[pub] = _bf16_bits(self._model.param_copy(c))
                bf16.append(pub)
        meta = modelfile.metadata("GRUCell" if isinstance(self, QuantizedGRUCell) else "GRU",
                                  self._cfg)
        meta["quantization"] = self.format
        return modelfile.write_tensors(path, tensors, meta, bf16=bf16)

    @classmethod
    def _of_loaded(cls, model, float_twin, fmt="int8"):
        """The QuantizedGRU (or Cell) running model (a CModel of a loaded int8 or bf16 file),
        configured as float_twin (the float GRU built from the file's configuration)."""
        self = cls.__new__(cls)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_cfg", dict(float_twin._cfg))
        object.__setattr__(self, "_names", dict(float_twin._names))
        object.__setattr__(self, "format", fmt)
        return self

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
        return {pub: _bf16_bits(self._model.param_copy(c))
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


# ---- pygru.nn models through int8 ------------------------------------------------------

from .module import Module as _Module   # noqa: E402  (module.py does not import quant)


class QuantizedModule(_Module):
    """A pygru.nn child running a QuantizedGRU / QuantizedGRUCell (made by
    quantize_module): called as the GRU it replaces (forward, step, new_state, ... and
    its attributes are the quantized model's), eval mode only: train(True), backward and
    state-dict writes raise. ``quantized`` is the QuantizedGRU."""

    _int8_layer = True

    def __init__(self, quantized):
        super().__init__()
        self.__dict__["quantized"] = quantized
        self.__dict__["training"] = False

    def forward(self, *args, **kwargs):
        return self.__dict__["quantized"].forward(*args, **kwargs)

    def __getattr__(self, name):   # only for names not found the usual way
        q = self.__dict__.get("quantized")
        if q is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(q, name)

    def backward(self, *args, **kwargs):
        raise _core.GRUError("%r is quantized and inference-only: it has no backward() "
                             "(train the float model, then quantize it)"
                             % self.__dict__["quantized"])

    def _check_mode(self, mode):
        if mode:
            q = self.__dict__["quantized"]
            raise ValueError("train(True): the model holds %s %s GRU (%r), which is "
                             "inference-only; train the float model, then quantize it"
                             % ("an" if q.format == "int8" else "a", q.format, q))

    def extra_repr(self):
        return repr(self.__dict__["quantized"])

    def save(self, path, metadata=None) -> str:
        """The QuantizedGRU's model file (QuantizedGRU.save; pygru.load reads it)."""
        if metadata:
            raise TypeError("save: a quantized GRU's model file takes no metadata")
        return self.__dict__["quantized"].save(path)

    def __deepcopy__(self, memo):
        return self   # read-only: copies share it


def quantize_module(model, format: str = "int8"):
    """A copy of the pygru.nn model ``model`` (any Module) for inference in int8: every
    pygru.GRU / pygru.GRUCell in it (at any depth, shared ones once) is replaced by a
    QuantizedModule running its quantize(format); the other layers are deep copies.
    The copy is in eval mode and stays there (train(True) raises ValueError, backward
    GRUError); ``model`` is not changed. Also ``model.quantize(format)`` for a Module
    that is not itself a GRU. docs/quantization.md gives the accuracy on trained models."""
    import copy
    from .gru import GRU, GRUCell
    if not isinstance(model, _Module):
        raise TypeError("quantize_module: model must be a pygru.nn Module; got %s"
                        % type(model).__name__)
    _format_code(format)
    memo = {}
    for m in model.modules():
        if isinstance(m, (GRU, GRUCell)) and id(m) not in memo:
            memo[id(m)] = QuantizedModule(m.quantize(format))
    if id(model) in memo:
        return memo[id(model)]
    out = copy.deepcopy(model, memo)
    return out.eval()
