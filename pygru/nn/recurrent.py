"""pygru.nn.recurrent - the two selections that turn a GRU's outputs into one vector
per sequence: last_valid (each sequence's output at its last valid step) and
final_states (the last layer's final states, directions side by side). The GRU
itself is pygru.GRU (also pygru.nn.GRU).

Guarantees: the functions and their backward functions are exact selections (copies
and scatters, no arithmetic); LastValid / FinalStates are the same as Modules that
remember what their backward needs.
"""
import numpy as np

from .. import _validate
from .._validate import check_shape, float_array, fmt_shape
from ..module import Module

__all__ = ["LastValid", "FinalStates", "last_valid", "last_valid_backward",
           "final_states", "final_states_backward"]


# ---- last_valid: each sequence's output at its last valid step -------------------

def _last_steps(shape, lengths, batch_first):
    """(batch index (B,), step index (B,)) of each sequence's last valid step."""
    if len(shape) != 3:
        raise ValueError("output must be 3-D (seq_len, batch, features), or (batch, seq_len, "
                         "features) with batch_first; got shape %s" % fmt_shape(shape))
    T, B = (shape[1], shape[0]) if batch_first else (shape[0], shape[1])
    if lengths is None:
        steps = np.full(B, T - 1, dtype=np.intp)
    else:
        steps = _validate.as_lengths(lengths, B, T).astype(np.intp) - 1
    return np.arange(B), steps


def last_valid(output, lengths=None, batch_first=False):
    """y[b] = output[lengths[b] - 1, b] (output[b, lengths[b] - 1] with batch_first):
    what gru_out[-1] / gru_out[:, -1] means for a padded batch. lengths None: the last
    step.  output (T, B, F) or (B, T, F) -> y (B, F).
    (For a bidirectional output the reverse half at that step has seen one step only:
    final_states gives both directions' summaries.)"""
    out = float_array(output, "output")                        # (T, B, F) / (B, T, F)
    b, t = _last_steps(out.shape, lengths, batch_first)         # (B,), (B,)
    return out[b, t] if batch_first else out[t, b]             # (B, F)


def last_valid_backward(grad, output_shape, lengths=None, batch_first=False):
    """d output: zeros of output_shape with grad (B, F) scattered to the selected steps."""
    output_shape = tuple(output_shape)
    b, t = _last_steps(output_shape, lengths, batch_first)      # (B,), (B,)
    g = float_array(grad, "grad")                               # (B, F)
    check_shape(g, "grad", (len(b), output_shape[2]), "(batch, features)")
    d = np.zeros(output_shape, g.dtype)                         # (T, B, F) / (B, T, F)
    if batch_first:
        d[b, t] = g
    else:
        d[t, b] = g
    return d


class LastValid(Module):
    """last_valid as a Module: forward(output, lengths=None) -> (B, F);
    backward(grad (B, F)) -> the gradient for output (its shape)."""

    def __init__(self, batch_first=False):
        super().__init__()
        self.batch_first = _validate.check_flag(batch_first, "batch_first")

    def extra_repr(self):
        return "batch_first=%s" % self.batch_first

    def forward(self, output, lengths=None):
        y = last_valid(output, lengths, self.batch_first)
        self._keep(shape=np.shape(output), lengths=lengths)
        return y

    def backward(self, grad_output):
        s = self._kept()
        return last_valid_backward(grad_output, s["shape"], s["lengths"], self.batch_first)


# ---- final_states: the last layer's final states, directions side by side --------

def _directions(num_layers, bidirectional):
    num_layers = _validate.check_size(num_layers, "num_layers")
    return num_layers, 2 if _validate.check_flag(bidirectional, "bidirectional") else 1


def final_states(h_n, num_layers, bidirectional):
    """y[b] = concat(h_n[-D, b], ..., h_n[-1, b]): the last layer's final state of
    each direction (forward, then reverse), as torch.cat([h_n[-2], h_n[-1]], 1).
    h_n (L*D, B, H) -> y (B, D*H)."""
    L, D = _directions(num_layers, bidirectional)
    h = float_array(h_n, "h_n")                                 # (L*D, B, H)
    if h.ndim != 3 or h.shape[0] != L * D:
        raise ValueError("h_n must have shape (num_layers*num_directions=%d, batch, hidden_size); "
                         "got %s" % (L * D, fmt_shape(h.shape)))
    B, H = h.shape[1], h.shape[2]
    return np.ascontiguousarray(h[-D:].transpose(1, 0, 2)).reshape(B, D * H)   # (B, D*H)


def final_states_backward(grad, num_layers, bidirectional):
    """d h_n (L*D, B, H): grad (B, D*H) in the last layer's D rows, zeros elsewhere."""
    L, D = _directions(num_layers, bidirectional)
    g = float_array(grad, "grad")                               # (B, D*H)
    if g.ndim != 2 or g.shape[1] % D:
        raise ValueError("grad must have shape (batch, num_directions*hidden_size) with "
                         "num_directions=%d; got %s" % (D, fmt_shape(g.shape)))
    B, H = g.shape[0], g.shape[1] // D
    d = np.zeros((L * D, B, H), g.dtype)                        # (L*D, B, H)
    d[-D:] = g.reshape(B, D, H).transpose(1, 0, 2)
    return d


class FinalStates(Module):
    """final_states as a Module: forward(h_n) -> (B, D*H); backward(grad) -> the
    gradient for h_n (L*D, B, H)."""

    def __init__(self, num_layers, bidirectional=False):
        super().__init__()
        self.num_layers, D = _directions(num_layers, bidirectional)
        self.bidirectional = D == 2

    def extra_repr(self):
        return "num_layers=%d, bidirectional=%s" % (self.num_layers, self.bidirectional)

    def forward(self, h_n):
        y = final_states(h_n, self.num_layers, self.bidirectional)
        self._keep(shape=np.shape(h_n))
        return y

    def backward(self, grad_output):
        LD, B, H = self._kept()["shape"]
        D = 2 if self.bidirectional else 1
        g = float_array(grad_output, "grad_output")             # (B, D*H)
        check_shape(g, "grad_output", (B, D * H), "(batch, num_directions*hidden_size)")
        return final_states_backward(g, self.num_layers, self.bidirectional)
