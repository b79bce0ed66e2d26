"""pygru.nn.loss - BCEWithLogitsLoss, CrossEntropyLoss and MSELoss with an explicit
backward, following torch.nn's definitions exactly (reductions, weights, pos_weight,
ignore_index, label smoothing).

    loss = criterion(input, target)    # forward: a 0-d array of input's dtype
                                       # (an array of the elementwise loss for
                                       #  reduction='none')
    grad = criterion.backward()        # dLoss/d input, input's shape and dtype

Guarantees:
  * computed in input's dtype (float32 or float64; other real dtypes become float32),
    with the numerically stable forms (log-sum-exp; softplus through log1p(exp(-|x|)));
  * forward always keeps what backward needs (a loss has no train/eval behaviour);
    backward(grad_output=None) scales by an upstream gradient: a scalar for
    reduction 'mean'/'sum' (None: 1), an array of the loss's shape for 'none' (None:
    ones);
  * bad arguments raise TypeError/ValueError naming them, with the expected and the
    actual shape or dtype.
"""
import numbers

import numpy as np

from .. import _validate
from .._validate import as_real_array, check_shape, fmt_shape
from .._validate import float_array
from ..module import Module

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError("reduction must be one of 'mean', 'sum', 'none'; got %r" % (reduction,))
        self.reduction = reduction

    def extra_repr(self):
        return "reduction=%r" % self.reduction

    def _keep(self, **saved):
        self._set_kept(saved)                # in eval mode too

    def _upstream(self, grad_output, loss_shape, dtype):
        """The upstream gradient: a Python float for 'mean'/'sum', an array of the
        loss's shape for 'none'."""
        if self.reduction != "none":
            if grad_output is None:
                return 1.0
            g = np.asarray(grad_output)
            if g.size != 1 or g.dtype.kind not in "fiu":
                raise ValueError("grad_output must be a real scalar for reduction=%r; got %s"
                                 % (self.reduction, "shape " + fmt_shape(g.shape)
                                    if g.size != 1 else "dtype %s" % g.dtype))
            return float(g.reshape(()))
        if grad_output is None:
            return np.ones(loss_shape, dtype)
        g = as_real_array(grad_output, "grad_output", dtype)
        check_shape(g, "grad_output", loss_shape, "(the shape of the loss, reduction='none')")
        return g

    def _reduce(self, elementwise):
        if self.reduction == "mean":
            return np.asarray(elementwise.mean(), elementwise.dtype)
        if self.reduction == "sum":
            return np.asarray(elementwise.sum(), elementwise.dtype)
        return elementwise


def _same_shape(target, x, name="target"):
    t = as_real_array(target, name, x.dtype)
    check_shape(t, name, x.shape, "(the shape of input)")
    return t


def _broadcastable(value, name, x):
    """An optional weight array of x's dtype that broadcasts to x's shape."""
    if value is None:
        return None
    w = as_real_array(value, name, x.dtype)
    try:
        ok = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("%s must broadcast to input's shape %s; got %s"
                         % (name, fmt_shape(x.shape), fmt_shape(w.shape)))
    return w


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy on logits (torch.nn.BCEWithLogitsLoss).

    input, target  same shape (...); target in [0, 1]
    l = -w [pw y log σ(x) + (1 - y) log(1 - σ(x))]
      = w [(1 - y) x + (1 + (pw - 1) y) softplus(-x)]
    weight (broadcast to input) w, pos_weight (broadcast, usually (C,) for the last
    axis) pw; reduction 'mean' (over all elements), 'sum' or 'none'.
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        x = float_array(input, "input")                        # (...)
        y = _same_shape(target, x)                             # (...)
        w = _broadcastable(self.weight, "weight", x)
        pw = _broadcastable(self.pos_weight, "pos_weight", x)
        # softplus(-x) = log(1 + exp(-x)) = log1p(exp(-|x|)) + max(-x, 0)
        sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # (...)
        # log_weight = 1 + (pw - 1) y
        lw = None if pw is None else 1 + (pw - 1) * y          # (...)
        # l = (1 - y) x + log_weight softplus(-x), times w
        l = (1 - y) * x + (sp if lw is None else lw * sp)      # (...)
        if w is not None:
            l = l * w
        self._keep(x=x, y=y, sp=sp, w=w, pw=pw, lw=lw)
        return self._reduce(l)

    def backward(self, grad_output=None):
        s = self._kept()
        x, y = s["x"], s["y"]
        g = self._upstream(grad_output, x.shape, x.dtype)
        # dl/dx = log_weight σ(x) - pw y  (= σ(x) - y without pos_weight); σ(x) = exp(-softplus(-x))
        sig = np.exp(-s["sp"])                                 # (...)
        d = sig - y if s["pw"] is None else s["lw"] * sig - s["pw"] * y
        if s["w"] is not None:
            d = d * s["w"]
        if self.reduction == "mean":
            g = g / x.size
        return (d * g).astype(x.dtype, copy=False)


class CrossEntropyLoss(_Loss):
    """Log-softmax + negative log-likelihood over class indices (torch.nn.CrossEntropyLoss).

    input   logits (N, C), (N, C, d1, ...) or unbatched (C,)
    target  class indices (N,), (N, d1, ...) or () (integers in 0..C-1, or ignore_index)
    l_i = (1 - ε) w[y_i] (-log p_i[y_i]) + ε/C sum_c w[c] (-log p_i[c]),  p_i = softmax(x_i)
    (0 where y_i == ignore_index); reduction 'mean' divides the sum by sum_i w[y_i] over
    the non-ignored entries (their count without weight), 'sum' sums, 'none' keeps
    target's shape. weight (C,) per class, ε = label_smoothing in [0, 1].
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        if isinstance(ignore_index, (bool, np.bool_)) or \
                not isinstance(ignore_index, (numbers.Integral, np.integer)):
            raise TypeError("ignore_index must be an int; got %r" % (ignore_index,))
        if isinstance(label_smoothing, (bool, np.bool_)) or \
                not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError("label_smoothing must be a real number in [0, 1]; got %r"
                             % (label_smoothing,))
        self.weight, self.ignore_index = weight, int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        x = float_array(input, "input")                        # (N, C, d...) or (C,)
        if x.ndim == 0:
            raise ValueError("input must be (N, C), (N, C, d1, ...) or unbatched (C,); got shape ()")
        C = x.shape[0] if x.ndim == 1 else x.shape[1]
        t_shape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
        t = np.asarray(_validate.to_numpy(target, "target"))
        if t.dtype.kind not in "iu":
            raise TypeError("target must be an integer array of class indices; got dtype %s"
                            % t.dtype)
        check_shape(t, "target", t_shape, "(input's shape without the class axis 1)")
        w = None
        if self.weight is not None:
            w = as_real_array(self.weight, "weight", x.dtype)  # (C,)
            check_shape(w, "weight", (C,), "(one weight per class)")
        z = x.reshape(1, C) if x.ndim == 1 else np.moveaxis(x, 1, -1).reshape(-1, C)  # (M, C)
        ty = t.reshape(-1).astype(np.int64)                    # (M,)
        valid = ty != self.ignore_index                        # (M,)
        bad = valid & ((ty < 0) | (ty >= C))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError("target must be in 0..%d (C=%d classes) or ignore_index=%d; got %d "
                             "at position %s" % (C - 1, C, self.ignore_index, int(ty[i]),
                                                 np.unravel_index(i, t_shape) if t_shape else "()"))
        ty = np.where(valid, ty, 0)
        rows = np.arange(len(ty))
        # log p = z - max z - log sum_c exp(z_c - max z)
        e = z - z.max(axis=1, keepdims=True)                   # (M, C)
        logp = e - np.log(np.exp(e).sum(axis=1, keepdims=True))   # (M, C)
        wy = (np.ones(len(ty), x.dtype) if w is None else w[ty]) * valid   # (M,)
        # nll_i = -w[y_i] log p_i[y_i] ; smooth_i = -sum_c w[c] log p_i[c]
        nll = -logp[rows, ty] * wy                             # (M,)
        smooth = -(logp if w is None else logp * w).sum(axis=1) * valid   # (M,)
        eps = self.label_smoothing
        if self.reduction == "mean":
            denom = wy.sum()
            loss = (1 - eps) * (nll.sum() / denom) + (smooth.sum() / denom) * (eps / C)
        elif self.reduction == "sum":
            loss = (1 - eps) * nll.sum() + smooth.sum() * (eps / C)
        else:
            loss = ((1 - eps) * nll + smooth * (eps / C)).reshape(t_shape)
            denom = None
        self._keep(x_shape=x.shape, t_shape=t_shape, logp=logp, ty=ty, valid=valid, w=w,
                   denom=denom if self.reduction == "mean" else None)
        return np.asarray(loss, x.dtype)

    def backward(self, grad_output=None):
        s = self._kept()
        logp, ty, valid, w = s["logp"], s["ty"], s["valid"], s["w"]
        M, C = logp.shape
        dt = logp.dtype
        g = self._upstream(grad_output, s["t_shape"], dt)
        # a_i: the weight of row i in the reduced loss (0 for ignored rows)
        if self.reduction == "mean":
            a = valid * (g / s["denom"])                       # (M,)
        elif self.reduction == "sum":
            a = valid * dt.type(g)
        else:
            a = valid * g.reshape(-1)
        eps = self.label_smoothing
        # l_i = sum_c q_ic (-log p_ic), q_ic = (1 - ε) w[y_i] [c == y_i] + ε/C w[c]
        # dl_i/dz_i = (sum_c q_ic) p_i - q_i
        wc = np.ones(C, dt) if w is None else w                # (C,)
        q = np.broadcast_to(wc * dt.type(eps / C), (M, C)).copy()   # (M, C)
        q[np.arange(M), ty] += (1 - eps) * wc[ty]
        dz = (q.sum(axis=1, keepdims=True) * np.exp(logp) - q) * a[:, None]   # (M, C)
        dz = dz.astype(dt, copy=False)
        shape = s["x_shape"]
        if len(shape) == 1:
            return dz.reshape(shape)
        # (N, d..., C) -> (N, C, d...)
        return np.ascontiguousarray(np.moveaxis(dz.reshape((shape[0],) + shape[2:] + (C,)), -1, 1))


class MSELoss(_Loss):
    """Mean squared error (torch.nn.MSELoss): l = (x - y)^2, input and target of the
    same shape; reduction 'mean' (over all elements), 'sum' or 'none'."""

    def __init__(self, reduction="mean"):
        super().__init__(reduction)

    def forward(self, input, target):
        x = float_array(input, "input")                        # (...)
        y = _same_shape(target, x)                             # (...)
        # l = (x - y)^2
        diff = x - y                                           # (...)
        self._keep(diff=diff)
        return self._reduce(diff * diff)

    def backward(self, grad_output=None):
        diff = self._kept()["diff"]
        g = self._upstream(grad_output, diff.shape, diff.dtype)
        # dl/dx = 2 (x - y)
        if self.reduction == "mean":
            g = g / diff.size
        return (2 * diff * g).astype(diff.dtype, copy=False)
