"""pygru.gru - GRU and GRUCell, modules following torch.nn.GRU / GRUCell, running on
libgru (one C model per module; a GRUCell is a one-step, one-layer GRU); load() for
model files.

Guarantees:
  * same constructor arguments, parameter names, shapes, state-dict order and
    initialisation rule as PyTorch (every parameter ~ U(-1/sqrt(H), 1/sqrt(H)));
    weights drawn from numpy.random.default_rng(seed); the C dropout generator is
    seeded from the same seed, so the same seed gives the same weights and the same
    dropout masks;
  * both are pygru.Modules (usable in Sequential, state_dict, the optimizers,
    Module.save) whose Parameters are views of libgru's own storage, never copies:
    ``gru.weight_ih_l0[0, 0] = 5.0``, an optimizer's in-place step or
    load_state_dict write the model's memory and take effect at the next forward
    (bitwise as if loaded with those values); ``p.grad`` is libgru's gradient; a
    write through any other path raises (pygru._views);
  * forward returns new arrays of the model dtype; in training mode it keeps exactly
    what backward needs (the C workspace and the input as C saw it), in eval mode
    nothing;
  * backward returns the input and initial-state gradients and ADDS the parameter
    gradients to the model's (see zero_grad), like loss.backward() in PyTorch;
    a parameter write between a training forward and its backward makes backward
    raise (GRUError) instead of mixing two weight sets;
  * every bad argument raises TypeError/ValueError naming it, with the expected and
    the actual dtype or shape, before any C code runs.
This module imports no converter: pygru.torch_io, onnx_io and keras_io import it.
"""
from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _core, _validate, modelfile
from ._validate import as_real_array, check_shape, fmt_shape
from .module import Module, Parameter

__all__ = ["GRU", "GRUCell", "load"]

_NO_FORWARD = "backward() needs a forward() in training mode first (in the same thread)"


def _seeds(seed):
    """(numpy Generator for the weights, uint64 seed for the C dropout generator),
    both derived from one SeedSequence (fresh entropy when seed is None)."""
    ss = np.random.SeedSequence(seed)
    rng = np.random.default_rng(ss)
    c_seed = int(ss.spawn(1)[0].generate_state(1, np.uint64)[0])
    return rng, c_seed


class _Recurrent(Module):
    """What GRU and GRUCell share: the C model, its Parameters (views of its storage)
    under their public names, train/eval, the kept training forward. Subclasses call
    _setup with a public name -> C name map, in state-dict order."""

    _model: _core.CModel
    _names: Dict[str, str]
    _cfg: Dict[str, Any]

    def _setup(self, model, names, rng, cfg):
        """Adopts a new C model: registers a Parameter per tensor (data and grad are
        views of libgru's buffers), then draws the parameters from rng."""
        Module.__init__(self)
        self.__dict__.update(_model=model, _names=names, _cfg=cfg)
        for public, cname in names.items():
            Module.__setattr__(self, public, Parameter(model.param_view(cname),
                                                       model.grad_view(cname)))
        self.reset_parameters(rng)

    def _config(self):
        return dict(self._cfg, dtype=self.dtype)

    # -- parameters --
    def reset_parameters(self, rng: Optional[np.random.Generator] = None) -> None:
        """Draws every parameter from U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's rule), in
        state-dict order; the layer normalisations' (layer_norm=True) are set instead:
        gains layer_norm_*_weight_* to 1, biases layer_norm_*_bias_* to 0 (no draws,
        so the other parameters get the values of the same seed without layer_norm).
        rng: a numpy Generator, or None for fresh entropy."""
        if rng is None:
            rng = np.random.default_rng()
        k = 1.0 / np.sqrt(self._model.hidden_size)
        with self._model.rw.write():   # concurrent forwards see all-old or all-new weights
            for name, p in self.named_parameters():
                if name.startswith("layer_norm_"):
                    p.data[...] = 1.0 if "_weight" in name else 0.0
                else:
                    p.data[...] = rng.uniform(-k, k, size=p.shape).astype(self.dtype)

    def _write_lock(self):
        # Module.load_state_dict writes under it, also when called on a parent module:
        # a forward running in another thread sees all-old or all-new weights
        return self._model.rw

    def __setattr__(self, name, value):
        # gru.weight_ih_l0 = array copies the values into the model's storage (the
        # Parameter stays the same object: optimizers holding it stay valid)
        params = self.__dict__.get("_param_names")
        if params is not None and name in params:
            current = self.__dict__[name]
            if value is not current:
                shape = current.shape
                arr = as_real_array(value.data if isinstance(value, Parameter) else value,
                                    name, self.dtype)
                check_shape(arr, name, shape)
                current.data[...] = arr
            return
        Module.__setattr__(self, name, value)

    # -- gradients --
    @property
    def grads(self) -> Dict[str, np.ndarray]:
        """{name: the accumulated gradient}, keyed like state_dict; each value is the
        Parameter's .grad (a view of libgru's buffer)."""
        return {name: p.grad for name, p in self.named_parameters()}

    def zero_grad(self) -> None:
        """Sets every parameter gradient to zero (backward adds into them)."""
        self._model.zero_grad()

    # -- mode and configuration --
    @property
    def dtype(self) -> np.dtype:
        return self._model.dtype

    @property
    def isa(self) -> str:
        """The libgru kernel set this model runs on."""
        return self._model.isa

    @property
    def num_threads(self) -> int:
        """The threads this model's calls use (pygru.set_num_threads sets every
        model's)."""
        return self._model.num_threads()

    def set_seed(self, seed: Optional[int]) -> None:
        """Reseeds the C dropout generator as the constructor does for this seed."""
        self._model.set_seed(_seeds(_validate.check_seed(seed))[1])

    def _give_up_kept(self):
        """Drops this thread's kept training forward (a new one replaces it) and
        returns its workspace for the new forward to reuse, or None."""
        saved = self.__dict__["_cache"].pop(threading.get_ident(), None)
        return saved["ws"] if saved is not None else None

    def _kept(self):
        saved = self.__dict__["_cache"].get(threading.get_ident())
        if saved is None:
            raise RuntimeError(_NO_FORWARD)
        return saved

    # -- files --
    def save(self, path: Union[str, os.PathLike]) -> str:
        """Writes configuration and parameters to ``path`` as a safetensors file
        (pygru.load, libgru's gru_load and the safetensors package read it); atomic.
        Returns the path."""
        return modelfile.write_tensors(path, self.state_dict(),
                                       modelfile.metadata(type(self).__name__, self._config()))

    # -- copying and pickling: configuration + parameters (not gradients, not the
    # dropout generator's position) --
    def __reduce__(self):
        return (_rebuild, (type(self), self._config(), self.state_dict(), self.training))


def _rebuild(cls, config, state, training):
    obj = cls(**config)
    obj.load_state_dict(state)
    obj.train(training)
    return obj


class GRU(_Recurrent):
    """Multi-layer, optionally bidirectional GRU (torch.nn.GRU's interface, NumPy
    arrays in and out).

    gru(x, h0=None, lengths=None) -> (output, h_n)
      x        (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I)
      h0       (L*D, B, H) initial states (unbatched: (L*D, H)); None means zeros
      lengths  (B,) integers in 1..T (PyTorch's packed sequences): steps t >= lengths[b]
               output zeros and leave the state alone; h_n is the last valid state
               (unbatched: one length)
      output   (T, B, D*H) / (B, T, D*H) / unbatched (T, D*H)
      h_n      (L*D, B, H) / unbatched (L*D, H)
    reset_after=False selects the Cho et al. (2014) variant n = tanh(W_in x + b_in +
    W_hn (r * h) + b_hn); the default is PyTorch's n = tanh(W_in x + b_in + r *
    (W_hn h + b_hn)).

    Dropout in training mode (all off in eval mode), rates in [0, 1):
      dropout            PyTorch's: on the outputs of every layer but the last, a new
                         mask per element and step.
      input_dropout      Keras' ``dropout``: every layer's input is multiplied by a mask
                         m_x (entries 0 or 1/(1-p)) where it meets W_ih; one mask per
                         layer, direction and sequence, the same at every step.
      recurrent_dropout  Keras' ``recurrent_dropout`` (variational, Gal & Ghahramani):
                         h_{t-1} is multiplied by a mask m_h where it enters the
                         recurrent products (W_hh (m_h h), and W_hn (r * m_h h) when
                         reset_after=False); the blend h' = (1-z) n + z h keeps h. One
                         mask per layer, direction and sequence, fixed across time,
                         shared by the three gates (Keras 3 draws one per gate when
                         recurrent_dropout is set: the same rule, other draws).
    dropout_masks() returns the masks the last training forward used.

    Regularisers of the recurrence (training mode only), rates in [0, 1):
      zoneout            Krueger et al. (2016): at every step each unit keeps its previous
                         state with probability p: h_t = m h_{t-1} + (1 - m) h~_t, m in
                         {0, 1} per layer, direction, step, sequence and unit (h~_t the
                         cell's new state; the output is h_t). In eval mode (and step())
                         the expectation h_t = p h_{t-1} + (1 - p) h~_t. Haste's zoneout
                         mask is 1 - m. zoneout_masks() gives the masks of the last
                         training forward.
      weight_dropout     DropConnect on W_hh (Wan et al. 2013; AWD-LSTM's weight drop;
                         Haste's ``dropout``): each training forward draws one mask M
                         (3H, H) per layer and direction, entries 0 or 1/(1-p), and runs
                         every step with M * weight_hh. Eval mode uses weight_hh as it is.
                         weight_dropout_masks() gives the masks of the last training
                         forward.

    layer_norm=True: the layer-normalised GRU (Ba, Kiros & Hinton 2016, as Haste's
    LayerNormGRU): the input projection W_ih x and the recurrent projection W_hh h are
    each normalised over their row (mean 0, variance 1, eps 1e-5) with their own gain
    and bias before the GRU's biases (reset_after=False: the r, z part of W_hh h over
    2H and W_hn (r * h) over H; equations in docs/equations.md). Four more Parameters
    per layer and direction: layer_norm_ih_weight_l{l}, layer_norm_ih_bias_l{l},
    layer_norm_hh_weight_l{l}, layer_norm_hh_bias_l{l} (3H each, suffix _reverse for
    the backward direction), initialised to 1 (weights) and 0 (biases).
    augru=True: AUGRU, the GRU with an attentional update gate (Zhou et al. 2019, DIEN).
    forward(x, h0, lengths, attention) then requires ``attention``, one score a per step
    and sequence: (T, B), (B, T) with batch_first, (T,) unbatched, usually in [0, 1]
    (e.g. a softmax over the steps). It scales DIEN's update gate u = 1 - z in every
    layer and direction: u' = a u, computed as z' = 1 - a (1 - z) and
    h' = (1 - z') n + z' h (a = 1: the plain GRU, a = 0: the state is kept).
    backward() then returns (grad_x, grad_h0, grad_attention), grad_attention shaped
    like attention (0 at padded steps); step(x, state, attention=...) takes (B,)
    (docs/equations.md, "AUGRU"). An augru GRU cannot be quantized or exported to
    torch, ONNX or Keras (they have no such layer).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, reset_after: bool = True,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None,
                 reverse: bool = False, input_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, layer_norm: bool = False,
                 zoneout: float = 0.0, weight_dropout: float = 0.0,
                 augru: bool = False) -> None:
        input_size = _validate.check_size(input_size, "input_size")
        hidden_size = _validate.check_size(hidden_size, "hidden_size")
        num_layers = _validate.check_size(num_layers, "num_layers")
        bias = _validate.check_flag(bias, "bias")
        batch_first = _validate.check_flag(batch_first, "batch_first")
        bidirectional = _validate.check_flag(bidirectional, "bidirectional")
        reset_after = _validate.check_flag(reset_after, "reset_after")
        reverse = _validate.check_flag(reverse, "reverse")
        augru = _validate.check_flag(augru, "augru")
        layer_norm = _validate.check_flag(layer_norm, "layer_norm")
        if reverse and bidirectional:
            raise ValueError("reverse=True runs a single direction right to left; it cannot "
                             "be combined with bidirectional=True")
        dropout = _validate.check_rate(dropout, "dropout")
        input_dropout = _validate.check_rate(input_dropout, "input_dropout")
        recurrent_dropout = _validate.check_rate(recurrent_dropout, "recurrent_dropout")
        zoneout = _validate.check_rate(zoneout, "zoneout")
        weight_dropout = _validate.check_rate(weight_dropout, "weight_dropout")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so "
                "non-zero dropout expects num_layers greater than 1, but got "
                "dropout=%r and num_layers=%d" % (dropout, num_layers), UserWarning,
                stacklevel=2)
        dtype = _validate.model_dtype(dtype)
        seed = _validate.check_seed(seed)
        rng, c_seed = _seeds(seed)
        model = _core.CModel(input_size, hidden_size, num_layers, bidirectional, bias,
                             reset_after, dtype, dropout, c_seed, reverse, input_dropout,
                             recurrent_dropout, layer_norm, zoneout, weight_dropout, augru)
        self._setup(model, {n: n for n in model.shapes}, rng, dict(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
            bias=bias, batch_first=batch_first, dropout=dropout,
            bidirectional=bidirectional, reset_after=reset_after, reverse=reverse,
            input_dropout=input_dropout, recurrent_dropout=recurrent_dropout,
            layer_norm=layer_norm, zoneout=zoneout, weight_dropout=weight_dropout,
            augru=augru))

    input_size = property(lambda self: self._cfg["input_size"])
    hidden_size = property(lambda self: self._cfg["hidden_size"])
    num_layers = property(lambda self: self._cfg["num_layers"])
    bias = property(lambda self: self._cfg["bias"])
    batch_first = property(lambda self: self._cfg["batch_first"])
    dropout = property(lambda self: self._cfg["dropout"])
    bidirectional = property(lambda self: self._cfg["bidirectional"])
    reset_after = property(lambda self: self._cfg["reset_after"])
    reverse = property(lambda self: self._cfg["reverse"])
    input_dropout = property(lambda self: self._cfg["input_dropout"])
    recurrent_dropout = property(lambda self: self._cfg["recurrent_dropout"])
    layer_norm = property(lambda self: self._cfg.get("layer_norm", False))
    zoneout = property(lambda self: self._cfg.get("zoneout", 0.0))
    weight_dropout = property(lambda self: self._cfg.get("weight_dropout", 0.0))
    augru = property(lambda self: self._cfg["augru"])

    def __repr__(self):
        c = self._cfg
        s = "%d, %d" % (c["input_size"], c["hidden_size"])
        if c["num_layers"] != 1:
            s += ", num_layers=%d" % c["num_layers"]
        if not c["bias"]:
            s += ", bias=False"
        if c["batch_first"]:
            s += ", batch_first=True"
        if c["dropout"] != 0:
            s += ", dropout=%r" % c["dropout"]
        if c["bidirectional"]:
            s += ", bidirectional=True"
        if not c["reset_after"]:
            s += ", reset_after=False"
        if c["reverse"]:
            s += ", reverse=True"
        for k in ("input_dropout", "recurrent_dropout", "zoneout", "weight_dropout"):
            if c.get(k, 0) != 0:
                s += ", %s=%r" % (k, c[k])
        if c.get("layer_norm"):
            s += ", layer_norm=True"
        if c["augru"]:
            s += ", augru=True"
        if self.dtype != np.float32:
            s += ", dtype=%s" % self.dtype
        return "GRU(%s)" % s

    def dropout_masks(self) -> Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]]:
        """The input and recurrent dropout masks of the last training forward (the one
        backward would use): {(layer, direction): (m_x (B, in), m_h (B, H))}, in = input
        size for layer 0 and D*H above, entries 0 or 1/(1-p) (ones for a rate of 0).
        Unbatched forwards give B = 1."""
        s = self._kept()
        D = 2 if self._cfg["bidirectional"] else 1
        return {(l, d): self._model.dropout_masks(s["ws"], l, d, s["B"])
                for l in range(self._cfg["num_layers"]) for d in range(D)}

    def zoneout_masks(self) -> Dict[Tuple[int, int], np.ndarray]:
        """The zoneout masks of the last training forward (the one backward would use):
        {(layer, direction): m (T, B, H)}, time-major whatever batch_first is, m[t, b, j]
        = 1 where unit j of sequence b kept its previous state at step t (h_t = h_{t-1}),
        0 where it took the cell's new state (all 0 for zoneout=0). Haste's mask is 1 - m.
        Unbatched forwards give B = 1."""
        s = self._kept()
        D = 2 if self._cfg["bidirectional"] else 1
        return {(l, d): self._model.zoneout_masks(s["ws"], l, d, s["T"], s["B"])
                for l in range(self._cfg["num_layers"]) for d in range(D)}

    def weight_dropout_masks(self) -> Dict[Tuple[int, int], np.ndarray]:
        """The DropConnect masks of the last training forward: {(layer, direction):
        M (3H, H)}, row-major as weight_hh, entries 0 or 1/(1-p) (all 1 for
        weight_dropout=0); that forward (and its backward) used M * weight_hh."""
        s = self._kept()
        D = 2 if self._cfg["bidirectional"] else 1
        return {(l, d): self._model.weight_dropout_mask(s["ws"], l, d)
                for l in range(self._cfg["num_layers"]) for d in range(D)}

    def forward(self, x: ArrayLike, h0: Optional[ArrayLike] = None,
                lengths: Optional[ArrayLike] = None,
                attention: Optional[ArrayLike] = None) -> Tuple[np.ndarray, np.ndarray]:
        """See the class docstring. Returns (output, h_n), new arrays. attention: the
        AUGRU scores, required for augru=True and refused otherwise."""
        c = self._cfg
        I, H = c["input_size"], c["hidden_size"]
        D = 2 if c["bidirectional"] else 1
        LD = c["num_layers"] * D
        batch_first = c["batch_first"]
        training = self.training
        # training: the input kept for backward is the caller's values now, in memory
        # nobody else holds (whatever object x is: ndarray, memoryview, tensor, ...)
        xa = as_real_array(x, "x", self.dtype, own=training)
        given_shape = xa.shape
        if xa.ndim == 2:
            unbatched = True
            check_shape(xa, "x", (xa.shape[0], I), "(seq_len, input_size) [unbatched]")
            T, B = xa.shape[0], 1
            xa = xa.reshape(T, 1, I)
            layout_first = False
        elif xa.ndim == 3:
            unbatched = False
            if batch_first:
                B, T = xa.shape[0], xa.shape[1]
                check_shape(xa, "x", (B, T, I), "(batch, seq_len, input_size) [batch_first]")
            else:
                T, B = xa.shape[0], xa.shape[1]
                check_shape(xa, "x", (T, B, I), "(seq_len, batch, input_size)")
            layout_first = batch_first
        else:
            raise ValueError(
                "x must be 3-D %s or 2-D unbatched (seq_len, input_size=%d); got shape %s"
                % ("(batch, seq_len, input_size=%d)" % I if batch_first
                   else "(seq_len, batch, input_size=%d)" % I, I, fmt_shape(xa.shape)))
        if T == 0 or B == 0:
            raise ValueError("x must have a non-empty sequence and batch (T >= 1, B >= 1); "
                             "got shape %s" % fmt_shape(given_shape))
        if h0 is not None:
            h0a = as_real_array(h0, "h0", self.dtype)
            if unbatched:
                check_shape(h0a, "h0", (LD, H), "(num_layers*num_directions, hidden_size) [unbatched]")
                h0a = h0a.reshape(LD, 1, H)
            else:
                check_shape(h0a, "h0", (LD, B, H), "(num_layers*num_directions, batch, hidden_size)")
        else:
            h0a = None
        lens = None if lengths is None else _validate.as_lengths(lengths, B, T)
        att = _attention(attention, c["augru"], self.dtype,
                         (T,) if unbatched else (B, T) if layout_first else (T, B),
                         "(seq_len) [unbatched]" if unbatched else
                         "(batch, seq_len) [batch_first]" if layout_first else "(seq_len, batch)")
        if att is not None and unbatched:
            att = att.reshape(T, 1)
        reuse = self._give_up_kept() if training else None
        out, h_n, ws = self._model.forward(training, T, B, layout_first, xa, h0a, lens, reuse,
                                           att)
        if training:
            self._keep(x=xa, ws=ws, T=T, B=B, batch_first=layout_first, unbatched=unbatched,
                       out_shape=out.shape)
        if unbatched:
            return out.reshape(T, D * H), h_n.reshape(LD, H)
        return out, h_n

    def quantize(self, format: str = "int8"):
        """A new inference-only int8 or bf16 copy of this GRU (pygru.quant.QuantizedGRU).
        "int8": weights quantized per row, activations per row at every step, int32
        dot products, float32 gates; "bf16": weights and activations rounded to
        bfloat16, float32 sums and gates (docs/quantization.md). Not for augru=True
        (ValueError: the quantized kernels have no attentional update gate)."""
        if self._cfg["augru"]:
            raise ValueError("quantize: augru=True models cannot be quantized (the int8 and "
                             "bf16 kernels have no attentional update gate)")
        from .quant import QuantizedGRU
        return QuantizedGRU(self, format)

    def workspace_bytes(self, seq_len: int, batch: int, training: bool = True) -> int:
        """Bytes libgru needs for a forward of ``seq_len`` steps and ``batch``
        sequences: training=True, what the forward keeps for backward (per step, batch
        entry and layer-direction: the gates r, z, n, W_hn h + b_hn (reset_after) and
        the previous state; plus the inner layers' outputs); training=False, the
        inference scratch, which does not grow with seq_len (except one layer buffer of
        stacked bidirectional layers)."""
        seq_len = _validate.check_size(seq_len, "seq_len")
        batch = _validate.check_size(batch, "batch")
        return self._model.workspace_bytes(seq_len, batch, _validate.check_flag(training, "training"))

    # -- streaming inference: one time step at a time --
    def _check_streamable(self):
        if self._cfg["bidirectional"] or self._cfg["reverse"]:
            raise ValueError("step() needs a unidirectional, forward GRU: a right-to-left "
                             "pass needs the whole sequence (%s=True)"
                             % ("bidirectional" if self._cfg["bidirectional"] else "reverse"))

    def new_state(self, batch: int = 1) -> np.ndarray:
        """The state of ``batch`` fresh streams for step(): zeros of shape
        (num_layers, batch, hidden_size), owned by the caller."""
        self._check_streamable()
        batch = _validate.check_size(batch, "batch")
        return np.zeros((self._cfg["num_layers"], batch, self._cfg["hidden_size"]), self.dtype)

    def step(self, x: ArrayLike, state: np.ndarray,
             out: Optional[np.ndarray] = None,
             attention: Optional[ArrayLike] = None) -> np.ndarray:
        """Streaming inference: advances ``batch`` independent streams by one time step.

        x      (B, I) this step's input frames (or (I,) for one stream)
        state  (num_layers, B, H) from new_state(), updated IN PLACE with every layer's
               new state (for (I,) frames: (num_layers, H))
        out    optional (B, H) (or (H,)) array of the model dtype to write the result into
        x, state and out must not overlap (ValueError naming the two): libgru reads x
        and state while it writes state and out.
        Returns the last layer's new state (B, H) (out when given, else a new array).
        A step is always an inference step (no dropout, nothing kept for backward) and
        allocates nothing in libgru; stepping a sequence frame by frame gives bitwise
        the outputs of forward() over the whole sequence. Unidirectional GRUs only.
        attention  augru=True only (required): this step's score per stream, (B,) (for
               (I,) frames: (1,) or a number)."""
        c = self._cfg
        dt = self._model.dtype
        L, I, H = c["num_layers"], c["input_size"], c["hidden_size"]
        if not (type(x) is np.ndarray and x.dtype == dt and x.flags.c_contiguous
                and x.flags.aligned):
            x = as_real_array(x, "x", dt)   # a converted, contiguous, aligned copy
        if x.ndim == 1:
            check_shape(x, "x", (I,), "(input_size) [one stream]")
            B, st_shape, out_shape = 1, (L, H), (H,)
        elif x.ndim == 2:
            B = x.shape[0]
            check_shape(x, "x", (B, I), "(batch, input_size)")
            st_shape, out_shape = (L, B, H), (B, H)
        else:
            raise ValueError("x must be 2-D (batch, input_size=%d) or 1-D (input_size=%d,); "
                             "got shape %s" % (I, I, fmt_shape(x.shape)))
        self._check_streamable()
        if B == 0:
            raise ValueError("x must have a non-empty batch (B >= 1); got shape %s"
                             % fmt_shape(x.shape))
        _validate.check_buffer(state, "state", st_shape, dt,
                      "(num_layers, batch, hidden_size), e.g. from new_state()")
        _validate.check_disjoint(x, "x", state, "state")
        if out is None:
            out = np.empty(out_shape, dt)
        else:
            _validate.check_buffer(out, "out", out_shape, dt, "(batch, hidden_size)")
            _validate.check_disjoint(out, "out", state, "state")
            _validate.check_disjoint(out, "out", x, "x")
        att = None
        if attention is not None or c["augru"]:
            att = _attention(attention, c["augru"], dt, (B,), "(batch) [this step's scores]",
                             allow_scalar=x.ndim == 1)
        self._model.step(B, x, state, out, att)
        return out

    def reset_state(self, state: np.ndarray, index: int) -> None:
        """Zeros stream ``index`` of ``state`` (every layer), leaving the others alone."""
        self._check_streamable()
        L, H = self._cfg["num_layers"], self._cfg["hidden_size"]
        shape = getattr(state, "shape", ())
        B = shape[1] if len(shape) == 3 else 1
        _validate.check_buffer(state, "state", (L, H) if len(shape) == 2 else (L, B, H),
                      self._model.dtype, "(num_layers, batch, hidden_size), e.g. from new_state()")
        index = _validate.check_size(index, "index", minimum=0)
        if index >= B:
            raise ValueError("index must be in 0..%d (the batch of state); got %d" % (B - 1, index))
        self._model.step_reset(B, state, index)

    def backward(self, grad_output: Optional[ArrayLike],
                 grad_h_n: Optional[ArrayLike] = None) -> Tuple[np.ndarray, ...]:
        """Backpropagation through time for the last training forward.

        grad_output: dLoss/d output, the shape of output (None: zeros);
        grad_h_n: dLoss/d h_n, the shape of h_n (None: zeros).
        Returns (grad_x shaped like x, grad_h0 shaped like h0; grad_h0 is returned
        even when h0 was None: it is the gradient for the zero initial state), and for
        augru=True a third array, grad_attention shaped like attention; the
        parameter gradients are ADDED to self.grads. May be called more than once.
        Only the most recent training forward is kept."""
        s = self._kept()
        c = self._cfg
        D = 2 if c["bidirectional"] else 1
        LD, H = c["num_layers"] * D, c["hidden_size"]
        T, B = s["T"], s["B"]
        go = None
        if grad_output is not None:
            go = as_real_array(grad_output, "grad_output", self.dtype)
            if s["unbatched"]:
                check_shape(go, "grad_output", (T, D * H), "(the shape of output)")
            else:
                check_shape(go, "grad_output", s["out_shape"], "(the shape of output)")
            go = go.reshape(s["out_shape"])
        ghn = None
        if grad_h_n is not None:
            ghn = as_real_array(grad_h_n, "grad_h_n", self.dtype)
            check_shape(ghn, "grad_h_n", (LD, H) if s["unbatched"] else (LD, B, H),
                        "(the shape of h_n)")
            ghn = ghn.reshape(LD, B, H)
        grads = self._model.backward(T, B, s["batch_first"], s["x"], s["ws"], go, ghn)
        dx, dh0 = grads[0], grads[1]
        if s["unbatched"]:
            dx, dh0 = dx.reshape(T, c["input_size"]), dh0.reshape(LD, H)
        if c["augru"]:
            return dx, dh0, grads[2].reshape(T) if s["unbatched"] else grads[2]
        return dx, dh0


def _attention(value, augru, dtype, shape, meaning, allow_scalar=False):
    """The AUGRU attention scores as a C-contiguous array of the model dtype and
    ``shape`` (None for a plain model); ValueError when an augru model gets none or a
    plain one gets some, naming attention, the expected and the actual shape."""
    if not augru:
        if value is not None:
            raise ValueError("attention is only for an AUGRU (augru=True); this model has "
                             "augru=False: pass attention=None")
        return None
    if value is None:
        raise ValueError("attention is required for an AUGRU (augru=True): expected shape "
                         "%s %s, dtype %s; got None" % (fmt_shape(shape), meaning,
                                                        np.dtype(dtype).name))
    arr = as_real_array(value, "attention", dtype)
    if allow_scalar and arr.shape in ((), (1,)):
        return arr.reshape(1)
    check_shape(arr, "attention", shape, meaning)
    return arr


_CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class GRUCell(_Recurrent):
    """One GRU step (torch.nn.GRUCell's interface, NumPy arrays in and out).

    cell(x, h=None) -> h1
      x   (B, I) or unbatched (I,);  h  (B, H) or unbatched (H,), None means zeros;
      h1  (B, H) or (H,).
    Parameters weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
    augru=True: an AUGRU cell (see GRU); cell(x, h, attention) with attention (B,) (or
    a number / (1,) for an unbatched x) required, and backward returns (grad_x, grad_h,
    grad_attention (B,), or () unbatched).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 reset_after: bool = True, dtype: DTypeLike = np.float32,
                 seed: Optional[int] = None, augru: bool = False) -> None:
        input_size = _validate.check_size(input_size, "input_size")
        hidden_size = _validate.check_size(hidden_size, "hidden_size")
        bias = _validate.check_flag(bias, "bias")
        reset_after = _validate.check_flag(reset_after, "reset_after")
        augru = _validate.check_flag(augru, "augru")
        dtype = _validate.model_dtype(dtype)
        seed = _validate.check_seed(seed)
        rng, c_seed = _seeds(seed)
        model = _core.CModel(input_size, hidden_size, 1, False, bias, reset_after, dtype,
                             0.0, c_seed, augru=augru)
        names = {n: n + "_l0" for n in _CELL_NAMES if n + "_l0" in model.shapes}
        self._setup(model, names, rng, dict(
            input_size=input_size, hidden_size=hidden_size, bias=bias,
            reset_after=reset_after, augru=augru))

    input_size = property(lambda self: self._cfg["input_size"])
    hidden_size = property(lambda self: self._cfg["hidden_size"])
    bias = property(lambda self: self._cfg["bias"])
    reset_after = property(lambda self: self._cfg["reset_after"])
    augru = property(lambda self: self._cfg["augru"])

    def __repr__(self):
        c = self._cfg
        s = "%d, %d" % (c["input_size"], c["hidden_size"])
        if not c["bias"]:
            s += ", bias=False"
        if not c["reset_after"]:
            s += ", reset_after=False"
        if c["augru"]:
            s += ", augru=True"
        if self.dtype != np.float32:
            s += ", dtype=%s" % self.dtype
        return "GRUCell(%s)" % s

    def forward(self, x: ArrayLike, h: Optional[ArrayLike] = None,
                attention: Optional[ArrayLike] = None) -> np.ndarray:
        """Returns h1, a new array: (B, H), or (H,) for an unbatched x of shape (I,).
        attention: (B,) AUGRU scores (augru=True only, then required)."""
        I, H = self._cfg["input_size"], self._cfg["hidden_size"]
        training = self.training
        xa = as_real_array(x, "x", self.dtype, own=training)   # kept for backward: a snapshot
        if xa.ndim == 1:
            unbatched = True
            check_shape(xa, "x", (I,), "(input_size) [unbatched]")
            B = 1
        elif xa.ndim == 2:
            unbatched = False
            B = xa.shape[0]
            check_shape(xa, "x", (B, I), "(batch, input_size)")
        else:
            raise ValueError("x must be 2-D (batch, input_size=%d) or 1-D unbatched "
                             "(input_size=%d,); got shape %s" % (I, I, fmt_shape(xa.shape)))
        if B == 0:
            raise ValueError("x must have a non-empty batch (B >= 1); got shape %s"
                             % fmt_shape(xa.shape))
        ha = None
        if h is not None:
            ha = as_real_array(h, "h", self.dtype)
            check_shape(ha, "h", (H,) if unbatched else (B, H),
                        "(hidden_size) [unbatched]" if unbatched else "(batch, hidden_size)")
        att = _attention(attention, self._cfg["augru"], self.dtype, (B,),
                         "(batch) [one score per sequence]", allow_scalar=unbatched)
        if not training:   # one streaming step (libgru's gru_step), state = a fresh h1
            h1 = ha.copy() if ha is not None else np.zeros((H,) if unbatched else (B, H),
                                                           self.dtype)
            self._model.step(B, xa, h1, None, att)
            return h1
        xa = xa.reshape(1, B, I)
        if ha is not None:
            ha = ha.reshape(1, B, H)
        if att is not None:
            att = att.reshape(1, B)
        reuse = self._give_up_kept() if training else None
        _, h_n, ws = self._model.forward(training, 1, B, False, xa, ha, None, reuse, att)
        if training:
            self._keep(x=xa, ws=ws, B=B, unbatched=unbatched)
        return h_n.reshape(H) if unbatched else h_n.reshape(B, H)

    def quantize(self, format: str = "int8"):
        """A new inference-only int8 or bf16 copy of this cell
        (pygru.quant.QuantizedGRUCell), as GRU.quantize (docs/quantization.md).
        format: "int8" or "bf16". Not for augru=True (ValueError)."""
        if self._cfg["augru"]:
            raise ValueError("quantize: augru=True cells cannot be quantized (the int8 and "
                             "bf16 kernels have no attentional update gate)")
        from .quant import QuantizedGRUCell
        return QuantizedGRUCell(self, format)

    def backward(self, grad_h1: ArrayLike) -> Tuple[np.ndarray, ...]:
        """grad_h1: dLoss/d h1, the shape of h1. Returns (grad_x shaped like x, grad_h
        shaped like h), plus grad_attention ((B,), () unbatched) for augru=True;
        parameter gradients are ADDED to self.grads.

        Only the most recent training forward is kept: to backpropagate through many
        steps, run them as one GRU over the sequence (same parameter values, names
        with the _l0 suffix), not as a Python loop of cell calls."""
        s = self._kept()
        I, H, B = self._cfg["input_size"], self._cfg["hidden_size"], s["B"]
        g = as_real_array(grad_h1, "grad_h1", self.dtype)
        check_shape(g, "grad_h1", (H,) if s["unbatched"] else (B, H), "(the shape of h1)")
        # h1 is both output[0] and h_n: feed the gradient once, through h_n.
        grads = self._model.backward(1, B, False, s["x"], s["ws"], None, g.reshape(1, B, H))
        dx, dh = grads[0], grads[1]
        if s["unbatched"]:
            dx, dh = dx.reshape(I), dh.reshape(H)
        else:
            dx, dh = dx.reshape(B, I), dh.reshape(B, H)
        if self._cfg["augru"]:
            return dx, dh, grads[2].reshape(() if s["unbatched"] else (B,))
        return dx, dh


# ---- building from weights, loading model files -------------------------------------

_GRU_ARGS = ("input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, "
             "reset_after, dtype, seed, reverse, input_dropout, recurrent_dropout, layer_norm, "
             "zoneout, weight_dropout, augru")
_CELL_ARGS = "input_size, hidden_size, bias, reset_after, dtype, seed, augru"


def build(class_name, config, state_dict, overrides, dtype, who="from_torch"):
    """A GRU ("GRU") or GRUCell ("GRUCell") with configuration ``config`` plus
    ``overrides`` (keywords a caller passed; one that contradicts ``config`` raises
    ValueError), holding the weights of ``state_dict`` (strict)."""
    cls = GRU if class_name == "GRU" else GRUCell
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
        raise TypeError("%s: %s (a %s takes %s)" % (who, exc, class_name,
                        _GRU_ARGS if cls is GRU else _CELL_ARGS)) from None
    model.load_state_dict(state_dict, strict=True)
    return model


def _load_c(path):
    """(libgru model owned by the returned object, gru_file_info) of the file at path,
    read by gru_load_file (the one validator of model files, shared with C)."""
    from ._core import ffi, lib
    bpath = os.fsencode(path)
    if b"\0" in bpath:
        raise ValueError("%s is not a valid pygru model file: the path holds a NUL byte"
                         % path)
    pp, info, msg = ffi.new("gru_model **"), ffi.new("gru_file_info *"), ffi.new("char[1024]")
    status = lib.gru_load_file(bpath, pp, info, msg, 1024)
    if status == lib.GRU_OK:
        return ffi.gc(pp[0], lib.gru_destroy), info
    raw = ffi.string(msg)
    if raw.startswith(bpath + b": "):   # the C message starts with the path
        raw = raw[len(bpath) + 2:]
    detail = raw.decode("utf-8", "replace") or _core.strerror(status)
    if status == lib.GRU_ERR_FORMAT:
        raise ValueError("%s is not a valid pygru model file: %s" % (path, detail))
    if status == lib.GRU_ERR_IO:
        try:   # the usual FileNotFoundError / PermissionError, if that is what it is
            os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
        except OSError as exc:
            raise exc from None
        raise OSError(ffi.string(msg).decode("utf-8", "replace") or
                      "cannot load %s: %s" % (path, detail))
    if status == lib.GRU_ERR_NO_MEMORY:
        raise MemoryError("loading %s: %s" % (path, detail))
    _core.check(status, "loading %s (%s)" % (path, detail))


def _config_of_file(cm, info):
    """(class name, configuration dict) of a loaded libgru model: for a file without
    pygru metadata only what the names and shapes say."""
    from ._core import ffi, lib
    c = ffi.new("gru_config *")
    _core.check(lib.gru_get_config(cm, c), "reading the loaded model's configuration")
    cfg = dict(input_size=int(c.input_size), hidden_size=int(c.hidden_size), bias=bool(c.bias))
    if not info.cell:
        cfg.update(num_layers=int(c.num_layers), bidirectional=bool(c.bidirectional))
        if c.layer_norm:   # the tensor names say it, with or without pygru metadata
            cfg["layer_norm"] = True
    if info.pygru:
        cfg["reset_after"] = bool(c.reset_after)
        if c.augru:   # absent from files without it (a plain GRU): the default
            cfg["augru"] = True
        if not info.cell:
            cfg.update(dropout=float(c.dropout), reverse=bool(c.reverse),
                       input_dropout=float(c.input_dropout),
                       recurrent_dropout=float(c.recurrent_dropout),
                       zoneout=float(c.zoneout), weight_dropout=float(c.weight_dropout))
            if info.batch_first >= 0:
                cfg["batch_first"] = bool(info.batch_first)
    dtype = np.float64 if c.dtype == lib.GRU_FLOAT64 else np.float32
    return ("GRUCell" if info.cell else "GRU"), cfg, dtype


def _load_quantized(path, raw, cls_name, cfg, config, fmt):
    """The QuantizedGRU / QuantizedGRUCell of an int8 or bf16 file (fmt; raw: the loaded
    C model, handed over); keywords as load's (dtype: only float32)."""
    from .quant import QuantizedGRU, QuantizedGRUCell
    model = _core.CModel.loaded_quantized(raw)
    dtype = config.pop("dtype", np.float32)
    if np.dtype(dtype) != np.float32:
        raise ValueError("load: dtype=%s for the %s model in %s; %s models compute in "
                         "float32" % (np.dtype(dtype), fmt, path, fmt))
    sd = {(k[:-3] if cls_name == "GRUCell" else k): model.param_copy(k) for k in model.shapes}
    try:
        twin = build(cls_name, cfg, sd, config, np.float32, who="load")
    except ValueError as exc:
        raise ValueError("%s is not a valid pygru model file: %s" % (path, exc)) from None
    cls = QuantizedGRUCell if cls_name == "GRUCell" else QuantizedGRU
    return cls._of_loaded(model, twin, fmt)


def _weights_of_file(cm, cell, dtype):
    """{state-dict name: read-only ndarray view of the loaded model's storage}."""
    from ._core import ffi, lib
    count = ffi.new("size_t *")
    _core.check(lib.gru_param_count(cm, count), "counting the loaded model's parameters")
    name_p, ndim, shape = ffi.new("const char **"), ffi.new("int *"), ffi.new("int64_t[2]")
    data, n = ffi.new("void **"), ffi.new("size_t *")
    out = {}
    for i in range(count[0]):
        _core.check(lib.gru_param_info(cm, i, name_p, ndim, shape), "describing a parameter")
        name = ffi.string(name_p[0])
        _core.check(lib.gru_param_data(cm, name, data, n), "reading a parameter")
        arr = np.frombuffer(ffi.buffer(data[0], n[0] * np.dtype(dtype).itemsize), dtype=dtype)
        arr.flags.writeable = False
        key = name.decode("ascii")
        out[key[:-3] if cell else key] = arr.reshape([int(shape[k]) for k in range(ndim[0])])
    return out


def load(path: Union[str, os.PathLike], **config):
    """The GRU or GRUCell saved in ``path`` (by GRU.save, libgru's gru_save, or the
    safetensors package from a torch state dict), in eval mode. Keywords (dtype, seed,
    and for files without pygru metadata batch_first, dropout, reset_after) go to the
    constructor; the dtype defaults to the file's (float64 when every tensor is F64;
    a file mixing F32 and F64 tensors is read as float32, libgru's rule, so its F64
    values are rounded to float32 even with dtype=np.float64). The file is read by libgru's
    gru_load_file, so Python and C accept exactly the same files (its checks: gru.h). A
    malformed file raises ValueError("<path> is not a valid pygru model file: ..."), a
    file that cannot be read (missing, a directory, a FIFO) OSError. A file of an int8
    or bf16 model (QuantizedGRU.save, gru_save of such a model: "quantization": "int8"
    or "bf16") gives a QuantizedGRU or QuantizedGRUCell of that format computing bitwise
    what the saved one did."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    cm, info = _load_c(path)
    cls_name, cfg, file_dtype = _config_of_file(cm, info)
    from ._core import ffi, lib
    qfmt = lib.gru_quant_format(cm)
    if qfmt in (lib.GRU_INT8, lib.GRU_BF16):
        ffi.gc(cm, None)   # detached: the CModel below owns it
        return _load_quantized(path, cm, cls_name, cfg, config,
                               "int8" if qfmt == lib.GRU_INT8 else "bf16")
    tensors = _weights_of_file(cm, info.cell, file_dtype)
    dtype = config.pop("dtype", None)
    try:
        model = build(cls_name, cfg, tensors, config, file_dtype if dtype is None else dtype,
                      who="load")
    except ValueError as exc:   # a keyword that contradicts the file, ...
        raise ValueError("%s is not a valid pygru model file: %s" % (path, exc)) from None
    del tensors, cm
    return model.eval()
