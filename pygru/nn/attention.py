"""pygru.nn.attention - TargetAttention: DIEN's attention scores for an AUGRU
(pygru.GRU(augru=True)): how relevant each step's state is to a target vector, as a
softmax over each sequence's valid steps.

    s[t, b] = states[t, b] . (W target[b])         (a bilinear score)
    a[:, b] = softmax over t < lengths[b] of s[:, b];  a[t, b] = 0 at padded steps

forward(states, target, lengths) -> a, shaped like states without the feature axis;
backward(grad_a) -> (grad_states, grad_target), and W's gradient added to weight.grad.
Guarantees: arithmetic in the layer's dtype (float32 or float64); padded steps get exactly 0
and no gradient; every bad argument raises ValueError/TypeError naming it.
"""
import numpy as np

from .. import _validate
from .._validate import as_real_array, check_shape, fmt_shape, make_rng
from ..module import Module, Parameter

__all__ = ["TargetAttention"]


class TargetAttention(Module):
    """Attention scores of a sequence of states against one target vector per
    sequence (DIEN's interest-to-item attention, with a bilinear score).

    states  (T, B, state_size), or (B, T, state_size) with batch_first
    target  (B, target_size)
    lengths (B,) in 1..T or None
    a       (T, B) (or (B, T)): a softmax over each sequence's valid steps, 0 elsewhere
    weight  (state_size, target_size) ~ U(-1/sqrt(target_size), 1/sqrt(target_size))
    """

    def __init__(self, state_size, target_size, batch_first=False, dtype=np.float32,
                 seed=None):
        super().__init__()
        self.state_size = _validate.check_size(state_size, "state_size")
        self.target_size = _validate.check_size(target_size, "target_size")
        self.batch_first = _validate.check_flag(batch_first, "batch_first")
        self.dtype = _validate.model_dtype(dtype)
        k = 1.0 / np.sqrt(self.target_size)
        self.weight = Parameter(make_rng(seed).uniform(
            -k, k, (self.state_size, self.target_size)).astype(self.dtype))   # (S, E)

    def extra_repr(self):
        return "state_size=%d, target_size=%d, batch_first=%s" % (
            self.state_size, self.target_size, self.batch_first)

    def forward(self, states, target, lengths=None):
        h = as_real_array(states, "states", self.dtype)
        if h.ndim != 3 or h.shape[2] != self.state_size:
            raise ValueError("states must have shape %s; got %s" % (
                "(batch, seq_len, state_size=%d)" % self.state_size if self.batch_first
                else "(seq_len, batch, state_size=%d)" % self.state_size, fmt_shape(h.shape)))
        if self.batch_first:
            h = h.transpose(1, 0, 2)                           # (T, B, S)
        T, B = h.shape[0], h.shape[1]
        e = as_real_array(target, "target", self.dtype)
        check_shape(e, "target", (B, self.target_size), "(batch, target_size)")
        steps = np.arange(T)[:, None]
        valid = (steps < (T if lengths is None else
                          _validate.as_lengths(lengths, B, T)[None, :]))   # (T, B)
        q = e @ self.weight.data.T                             # (B, S)  q_b = W e_b
        s = np.einsum("tbs,bs->tb", h, q)                      # (T, B)
        s = np.where(valid, s, -np.inf)
        s = s - s.max(axis=0, keepdims=True)
        w = np.where(valid, np.exp(s), 0)
        a = (w / w.sum(axis=0, keepdims=True)).astype(self.dtype)   # (T, B)
        self._keep(h=h, e=e, q=q, a=a)
        return np.ascontiguousarray(a.T) if self.batch_first else a

    def backward(self, grad_a):
        k = self._kept()
        h, e, q, a = k["h"], k["e"], k["q"], k["a"]
        T, B = a.shape
        g = as_real_array(grad_a, "grad_a", self.dtype)
        check_shape(g, "grad_a", (B, T) if self.batch_first else (T, B),
                    "(the shape of the attention)")
        if self.batch_first:
            g = g.T                                            # (T, B)
        # softmax: ds = a (g - sum_t a g); padded steps have a = 0, so ds = 0 there
        ds = a * (g - (a * g).sum(axis=0, keepdims=True))     # (T, B)
        dh = ds[:, :, None] * q[None]                          # (T, B, S)
        dq = np.einsum("tb,tbs->bs", ds, h)                    # (B, S)
        self.weight.grad += dq.T @ e                           # (S, E)
        de = dq @ self.weight.data                             # (B, E)
        if self.batch_first:
            dh = dh.transpose(1, 0, 2)
        return np.ascontiguousarray(dh), de
