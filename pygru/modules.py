"""pygru.modules - GRU and GRUCell, NumPy modules following torch.nn.GRU / GRUCell,
running on libgru (one C model per module; a GRUCell is a one-step, one-layer GRU).

Guarantees:
  * same constructor arguments, parameter names, shapes, state-dict order and
    initialisation rule as PyTorch (every parameter ~ U(-1/sqrt(H), 1/sqrt(H)));
    weights drawn from numpy.random.default_rng(seed); the C dropout generator is
    seeded from the same seed, so the same seed gives the same weights and the same
    dropout masks;
  * forward returns new arrays of the model dtype; in training mode it keeps exactly
    what backward needs (the C workspace and the input as C saw it), in eval mode
    nothing;
  * backward returns the input and initial-state gradients and ADDS the parameter
    gradients to the model's (see zero_grad), like loss.backward() in PyTorch;
  * every bad argument raises TypeError/ValueError naming it, with the expected and
    the actual dtype or shape, before any C code runs.
"""
import collections
import collections.abc
import numbers
import warnings

import numpy as np

from . import _core
from ._core import as_real_array, check_shape, fmt_shape

__all__ = ["GRU", "GRUCell"]

IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_NO_FORWARD = "backward() needs a forward() in training mode first"


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError("seed must be None or an int; got %s" % type(seed).__name__)
    if int(seed) < 0:
        raise ValueError("seed must be >= 0; got %d" % int(seed))
    return int(seed)


def _seeds(seed):
    """(numpy Generator for the weights, uint64 seed for the C dropout generator),
    both derived from one SeedSequence (fresh entropy when seed is None)."""
    ss = np.random.SeedSequence(seed)
    rng = np.random.default_rng(ss)
    c_seed = int(ss.spawn(1)[0].generate_state(1, np.uint64)[0])
    return rng, c_seed


class _Recurrent:
    """What GRU and GRUCell share: the C model, parameters by public name, gradients,
    train/eval, the saved forward state. Subclasses set self._names: public name ->
    C name, in state-dict order."""

    _names = {}   # replaced per instance

    def _setup(self, model, names, rng, cfg):
        """Adopts a new C model (public name -> C name map, constructor arguments) in
        training mode, and draws its parameters from rng."""
        self.__dict__.update(_model=model, _names=names, _cfg=cfg, _training=True,
                             _saved=None)
        self.reset_parameters(rng)

    def _config(self):
        return dict(self._cfg, dtype=self.dtype)

    # -- parameters --
    def reset_parameters(self, rng=None):
        """Draws every parameter from U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's rule), in
        state-dict order. rng: a numpy Generator, or None for fresh entropy."""
        if rng is None:
            rng = np.random.default_rng()
        k = 1.0 / np.sqrt(self._model.hidden_size)
        for public, cname in self._names.items():
            shape = self._model.shapes[cname]
            value = rng.uniform(-k, k, size=shape).astype(self._model.dtype)
            self._model.param_set(cname, value)
        self._invalidate()

    def _invalidate(self):
        # The parameters changed: a saved training forward no longer matches them.
        self.__dict__["_saved"] = None

    def _convert_param(self, public, value):
        shape = self._model.shapes[self._names[public]]
        arr = as_real_array(value, public, self._model.dtype)
        check_shape(arr, public, shape)
        return arr

    def _set_param(self, public, value):
        arr = self._convert_param(public, value)
        self._model.param_set(self._names[public], arr)
        self._invalidate()

    def __getattr__(self, name):
        # Only reached when normal lookup fails: parameters read as attributes.
        names = self.__dict__.get("_names")
        if names is not None and name in names and "_model" in self.__dict__:
            return self._model.param_get(names[name])
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    def __setattr__(self, name, value):
        names = self.__dict__.get("_names")
        if names is not None and name in names:
            self._set_param(name, value)
        else:
            object.__setattr__(self, name, value)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._names))

    def named_parameters(self):
        """Iterator of (name, copy of the parameter), in state-dict order."""
        for public, cname in self._names.items():
            yield public, self._model.param_get(cname)

    def parameters(self):
        """Iterator of copies of the parameters, in state-dict order."""
        for _, value in self.named_parameters():
            yield value

    def state_dict(self):
        """{name: copy}, in PyTorch's order (per layer, forward then _reverse,
        weight_ih, weight_hh, bias_ih, bias_hh)."""
        return dict(self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Loads parameters from a mapping of array-likes (NumPy arrays, lists, CPU
        torch tensors, with or without requires_grad), cast to the model dtype. All
        values are checked before any is written. strict: missing or unexpected keys
        raise ValueError listing them; otherwise they are skipped and reported in the
        returned (missing_keys, unexpected_keys)."""
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError("state_dict must be a mapping of name -> array; got %s"
                            % type(state_dict).__name__)
        missing = [n for n in self._names if n not in state_dict]
        unexpected = [k for k in state_dict if k not in self._names]
        _core.check_state_keys(type(self).__name__, missing, unexpected, strict)
        converted = [(n, self._convert_param(n, state_dict[n]))
                     for n in self._names if n in state_dict]
        for public, arr in converted:
            self._model.param_set(self._names[public], arr)
        self._invalidate()
        return IncompatibleKeys(missing, unexpected)

    # -- gradients --
    @property
    def grads(self):
        """{name: copy of the accumulated gradient}, keyed like state_dict."""
        return {public: self._model.grad_get(cname) for public, cname in self._names.items()}

    def zero_grad(self):
        """Sets every parameter gradient to zero (backward adds into them)."""
        self._model.zero_grad()

    # -- mode --
    @property
    def training(self):
        return self.__dict__["_training"]

    @training.setter
    def training(self, mode):
        self.train(mode)

    def train(self, mode=True):
        """Training mode (mode=True): forward applies dropout and keeps what backward
        needs. Returns self."""
        mode = _core.check_flag(mode, "mode")
        self.__dict__["_training"] = mode
        if not mode:
            self.__dict__["_saved"] = None
        return self

    def eval(self):
        """Inference mode: no dropout, nothing kept (frees the saved workspace).
        Returns self."""
        return self.train(False)

    @property
    def dtype(self):
        return self._model.dtype

    @property
    def isa(self):
        """The libgru kernel set this model runs on."""
        return self._model.isa

    def set_seed(self, seed):
        """Reseeds the C dropout generator as the constructor does for this seed."""
        seed = _check_seed(seed)
        self._model.set_seed(_seeds(seed)[1])

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _save(self, **saved):
        self.__dict__["_saved"] = saved

    def _give_up_saved(self):
        """Drops the saved training forward (a new one replaces it) and returns its
        workspace for the new forward to reuse, or None."""
        saved = self.__dict__["_saved"]
        self.__dict__["_saved"] = None
        return saved["ws"] if saved is not None else None

    def _take_saved(self):
        saved = self.__dict__["_saved"]
        if saved is None:
            raise RuntimeError(_NO_FORWARD)
        return saved

    # -- other libraries and files --
    def to_torch(self):
        """The same model as a torch.nn.GRU / torch.nn.GRUCell (configuration, dtype,
        weights, train/eval mode); imports torch. reset_after=False has no torch
        equivalent (ValueError)."""
        from .convert import to_torch
        return to_torch(self)

    def save(self, path):
        """Writes configuration and parameters to ``path`` as a safetensors file
        (pygru.load, libgru's gru_load and the safetensors package read it); atomic.
        Returns the path."""
        from .modelfile import save
        return save(self, path)

    # -- copying and pickling: configuration + parameters (not gradients, not the
    # dropout generator's position) --
    def __reduce__(self):
        return (_rebuild, (type(self), self._config(), self.state_dict(), self.training))


def _check_rate(p, name):
    """A dropout rate: a real number in [0, 1), as float."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError("%s must be a real number in [0, 1); got %r" % (name, p))
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError("%s must be in [0, 1); got %r" % (name, p))
    return p


def _rebuild(cls, config, state, training):
    obj = cls(**config)
    obj.load_state_dict(state)
    obj.train(training)
    return obj


def _check_buffer(arr, name, shape, dtype, meaning):
    """An array libgru writes into: exactly ``shape``, ``dtype``, C-contiguous and
    writable (it is updated in place, so no conversion can be made)."""
    if type(arr) is np.ndarray and arr.dtype == dtype and arr.shape == shape and \
            arr.flags.c_contiguous and arr.flags.writeable and arr.flags.aligned:
        return
    if not isinstance(arr, np.ndarray):
        raise TypeError("%s must be a NumPy array (it is updated in place); got %s"
                        % (name, type(arr).__name__))
    if arr.dtype != dtype:
        raise TypeError("%s must have dtype %s (the model's; it is updated in place); got %s"
                        % (name, dtype, arr.dtype))
    check_shape(arr, name, shape, meaning)
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        raise ValueError("%s must be C-contiguous and aligned (it is updated in place)" % name)
    raise ValueError("%s must be writable (it is updated in place)" % name)


def _input_for_training(arr, original):
    """The input kept for backward must not change until then: copy it when the
    converted array is still the caller's memory."""
    if isinstance(original, np.ndarray) and np.may_share_memory(arr, original):
        return arr.copy()
    return arr


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
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, reset_after=True, dtype=np.float32,
                 seed=None, reverse=False, input_dropout=0.0, recurrent_dropout=0.0):
        input_size = _core.check_size(input_size, "input_size")
        hidden_size = _core.check_size(hidden_size, "hidden_size")
        num_layers = _core.check_size(num_layers, "num_layers")
        bias = _core.check_flag(bias, "bias")
        batch_first = _core.check_flag(batch_first, "batch_first")
        bidirectional = _core.check_flag(bidirectional, "bidirectional")
        reset_after = _core.check_flag(reset_after, "reset_after")
        reverse = _core.check_flag(reverse, "reverse")
        if reverse and bidirectional:
            raise ValueError("reverse=True runs a single direction right to left; it cannot "
                             "be combined with bidirectional=True")
        dropout = _check_rate(dropout, "dropout")
        input_dropout = _check_rate(input_dropout, "input_dropout")
        recurrent_dropout = _check_rate(recurrent_dropout, "recurrent_dropout")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so "
                "non-zero dropout expects num_layers greater than 1, but got "
                "dropout=%r and num_layers=%d" % (dropout, num_layers), UserWarning,
                stacklevel=2)
        dtype = _core.model_dtype(dtype)
        seed = _check_seed(seed)
        rng, c_seed = _seeds(seed)
        model = _core.CModel(input_size, hidden_size, num_layers, bidirectional, bias,
                             reset_after, dtype, dropout, c_seed, reverse, input_dropout,
                             recurrent_dropout)
        self._setup(model, {n: n for n in model.shapes}, rng, dict(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
            bias=bias, batch_first=batch_first, dropout=dropout,
            bidirectional=bidirectional, reset_after=reset_after, reverse=reverse,
            input_dropout=input_dropout, recurrent_dropout=recurrent_dropout))

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
        for k in ("input_dropout", "recurrent_dropout"):
            if c[k] != 0:
                s += ", %s=%r" % (k, c[k])
        if self.dtype != np.float32:
            s += ", dtype=%s" % self.dtype
        return "GRU(%s)" % s

    def dropout_masks(self):
        """The input and recurrent dropout masks of the last training forward (the one
        backward would use): {(layer, direction): (m_x (B, in), m_h (B, H))}, in = input
        size for layer 0 and D*H above, entries 0 or 1/(1-p) (ones for a rate of 0).
        Unbatched forwards give B = 1."""
        s = self._take_saved()
        D = 2 if self._cfg["bidirectional"] else 1
        return {(l, d): self._model.dropout_masks(s["ws"], l, d, s["B"])
                for l in range(self._cfg["num_layers"]) for d in range(D)}

    def forward(self, x, h0=None, lengths=None):
        """See the class docstring. Returns (output, h_n), new arrays."""
        c = self._cfg
        I, H = c["input_size"], c["hidden_size"]
        D = 2 if c["bidirectional"] else 1
        LD = c["num_layers"] * D
        batch_first = c["batch_first"]
        xa = as_real_array(x, "x", self.dtype)
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
        lens = None if lengths is None else _core.as_lengths(lengths, B, T)
        training = self.training
        if training:
            xa = _input_for_training(xa, _core.to_numpy(x))
        reuse = self._give_up_saved() if training else None
        out, h_n, ws = self._model.forward(training, T, B, layout_first, xa, h0a, lens, reuse)
        if training:
            self._save(x=xa, ws=ws, T=T, B=B, batch_first=layout_first, unbatched=unbatched,
                       out_shape=out.shape)
        if unbatched:
            return out.reshape(T, D * H), h_n.reshape(LD, H)
        return out, h_n

    def workspace_bytes(self, seq_len, batch, training=True):
        """Bytes libgru needs for a forward of ``seq_len`` steps and ``batch``
        sequences: training=True, what the forward keeps for backward (per step, batch
        entry and layer-direction: the gates r, z, n, W_hn h + b_hn (reset_after) and
        the previous state; plus the inner layers' outputs); training=False, the
        inference scratch, which does not grow with seq_len (except one layer buffer of
        stacked bidirectional layers)."""
        seq_len = _core.check_size(seq_len, "seq_len")
        batch = _core.check_size(batch, "batch")
        return self._model.workspace_bytes(seq_len, batch, _core.check_flag(training, "training"))

    def to_onnx(self, path, initial_h=False, sequence_lens=False):
        """Writes this GRU as an ONNX model (GRU nodes, ONNX's gate order, the right
        linear_before_reset) that ONNX Runtime runs with pygru's results; optional
        "initial_h" and "sequence_lens" inputs. See pygru.onnx_io.to_onnx."""
        from .onnx_io import to_onnx
        return to_onnx(self, path, initial_h=initial_h, sequence_lens=sequence_lens)

    def to_keras(self):
        """This one-layer, one-direction GRU as a built keras.layers.GRU (Keras 3). See
        pygru.keras_io.to_keras."""
        from .keras_io import to_keras
        return to_keras(self)

    # -- streaming inference: one time step at a time --
    def _check_streamable(self):
        if self._cfg["bidirectional"] or self._cfg["reverse"]:
            raise ValueError("step() needs a unidirectional, forward GRU: a right-to-left "
                             "pass needs the whole sequence (%s=True)"
                             % ("bidirectional" if self._cfg["bidirectional"] else "reverse"))

    def new_state(self, batch=1):
        """The state of ``batch`` fresh streams for step(): zeros of shape
        (num_layers, batch, hidden_size), owned by the caller."""
        self._check_streamable()
        batch = _core.check_size(batch, "batch")
        return np.zeros((self._cfg["num_layers"], batch, self._cfg["hidden_size"]), self.dtype)

    def step(self, x, state, out=None):
        """Streaming inference: advances ``batch`` independent streams by one time step.

        x      (B, I) this step's input frames (or (I,) for one stream)
        state  (num_layers, B, H) from new_state(), updated IN PLACE with every layer's
               new state (for (I,) frames: (num_layers, H))
        out    optional (B, H) (or (H,)) array of the model dtype to write the result into
        Returns the last layer's new state (B, H) (out when given, else a new array).
        A step is always an inference step (no dropout, nothing kept for backward) and
        allocates nothing in libgru; stepping a sequence frame by frame gives bitwise
        the outputs of forward() over the whole sequence. Unidirectional GRUs only."""
        c = self._cfg
        dt = self._model.dtype
        L, I, H = c["num_layers"], c["input_size"], c["hidden_size"]
        if not (type(x) is np.ndarray and x.dtype == dt and x.flags.c_contiguous):
            x = as_real_array(x, "x", dt)
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
        _check_buffer(state, "state", st_shape, dt,
                      "(num_layers, batch, hidden_size), e.g. from new_state()")
        if out is None:
            out = np.empty(out_shape, dt)
        else:
            _check_buffer(out, "out", out_shape, dt, "(batch, hidden_size)")
        self._model.step(B, x, state, out)
        return out

    def reset_state(self, state, index):
        """Zeros stream ``index`` of ``state`` (every layer), leaving the others alone."""
        self._check_streamable()
        L, H = self._cfg["num_layers"], self._cfg["hidden_size"]
        shape = getattr(state, "shape", ())
        B = shape[1] if len(shape) == 3 else 1
        _check_buffer(state, "state", (L, H) if len(shape) == 2 else (L, B, H),
                      self._model.dtype, "(num_layers, batch, hidden_size), e.g. from new_state()")
        index = _core.check_size(index, "index", minimum=0)
        if index >= B:
            raise ValueError("index must be in 0..%d (the batch of state); got %d" % (B - 1, index))
        self._model.step_reset(B, state, index)

    def backward(self, grad_output, grad_h_n=None):
        """Backpropagation through time for the last training forward.

        grad_output: dLoss/d output, the shape of output (None: zeros);
        grad_h_n: dLoss/d h_n, the shape of h_n (None: zeros).
        Returns (grad_x shaped like x, grad_h0 shaped like h0; grad_h0 is returned
        even when h0 was None: it is the gradient for the zero initial state); the
        parameter gradients are ADDED to self.grads. May be called more than once.
        Only the most recent training forward is kept."""
        s = self._take_saved()
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
        dx, dh0 = self._model.backward(T, B, s["batch_first"], s["x"], s["ws"], go, ghn)
        if s["unbatched"]:
            return dx.reshape(T, c["input_size"]), dh0.reshape(LD, H)
        return dx, dh0


_CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class GRUCell(_Recurrent):
    """One GRU step (torch.nn.GRUCell's interface, NumPy arrays in and out).

    cell(x, h=None) -> h1
      x   (B, I) or unbatched (I,);  h  (B, H) or unbatched (H,), None means zeros;
      h1  (B, H) or (H,).
    Parameters weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
    """

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True,
                 dtype=np.float32, seed=None):
        input_size = _core.check_size(input_size, "input_size")
        hidden_size = _core.check_size(hidden_size, "hidden_size")
        bias = _core.check_flag(bias, "bias")
        reset_after = _core.check_flag(reset_after, "reset_after")
        dtype = _core.model_dtype(dtype)
        seed = _check_seed(seed)
        rng, c_seed = _seeds(seed)
        model = _core.CModel(input_size, hidden_size, 1, False, bias, reset_after, dtype,
                             0.0, c_seed)
        names = {n: n + "_l0" for n in _CELL_NAMES if n + "_l0" in model.shapes}
        self._setup(model, names, rng, dict(
            input_size=input_size, hidden_size=hidden_size, bias=bias,
            reset_after=reset_after))

    input_size = property(lambda self: self._cfg["input_size"])
    hidden_size = property(lambda self: self._cfg["hidden_size"])
    bias = property(lambda self: self._cfg["bias"])
    reset_after = property(lambda self: self._cfg["reset_after"])

    def __repr__(self):
        c = self._cfg
        s = "%d, %d" % (c["input_size"], c["hidden_size"])
        if not c["bias"]:
            s += ", bias=False"
        if not c["reset_after"]:
            s += ", reset_after=False"
        if self.dtype != np.float32:
            s += ", dtype=%s" % self.dtype
        return "GRUCell(%s)" % s

    def forward(self, x, h=None):
        """Returns h1, a new array: (B, H), or (H,) for an unbatched x of shape (I,)."""
        I, H = self._cfg["input_size"], self._cfg["hidden_size"]
        xa = as_real_array(x, "x", self.dtype)
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
        training = self.training
        if not training:   # one streaming step (libgru's gru_step), state = a fresh h1
            h1 = ha.copy() if ha is not None else np.zeros((H,) if unbatched else (B, H),
                                                           self.dtype)
            self._model.step(B, xa, h1, None)
            return h1
        xa = xa.reshape(1, B, I)
        if ha is not None:
            ha = ha.reshape(1, B, H)
        if training:
            xa = _input_for_training(xa, _core.to_numpy(x))
        reuse = self._give_up_saved() if training else None
        _, h_n, ws = self._model.forward(training, 1, B, False, xa, ha, None, reuse)
        if training:
            self._save(x=xa, ws=ws, B=B, unbatched=unbatched)
        return h_n.reshape(H) if unbatched else h_n.reshape(B, H)

    def backward(self, grad_h1):
        """grad_h1: dLoss/d h1, the shape of h1. Returns (grad_x shaped like x, grad_h
        shaped like h); parameter gradients are ADDED to self.grads.

        Only the most recent training forward is kept: to backpropagate through many
        steps, run them as one GRU over the sequence (same parameter values, names
        with the _l0 suffix), not as a Python loop of cell calls."""
        s = self._take_saved()
        I, H, B = self._cfg["input_size"], self._cfg["hidden_size"], s["B"]
        g = as_real_array(grad_h1, "grad_h1", self.dtype)
        check_shape(g, "grad_h1", (H,) if s["unbatched"] else (B, H), "(the shape of h1)")
        # h1 is both output[0] and h_n: feed the gradient once, through h_n.
        dx, dh = self._model.backward(1, B, False, s["x"], s["ws"], None, g.reshape(1, B, H))
        if s["unbatched"]:
            return dx.reshape(I), dh.reshape(H)
        return dx.reshape(B, I), dh.reshape(B, H)
