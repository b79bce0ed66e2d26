"""pygru.nn.layers - Embedding, Linear, Dropout, BatchNorm1d and LayerNorm as NumPy
modules with an explicit backward, following torch.nn's definitions.

Guarantees:
  * the constructor arguments, defaults, parameter and buffer names, state-dict order
    and initialisation rules are torch's (Linear: weight and bias ~ U(-1/sqrt(in),
    1/sqrt(in)); Embedding: N(0, 1), the padding_idx row zero; norms: weight ones,
    bias zeros), drawn from numpy.random.default_rng(seed);
  * float32 (the default) and float64; inputs of another real dtype are converted to
    the layer's dtype (Dropout keeps a float32/float64 input's dtype);
  * forward keeps, in training mode, exactly what backward needs, by reference (do not
    modify an input in place before backward); backward returns the input gradient
    and ADDS the parameter gradients into .grad (see pygru.module);
  * a bad argument raises TypeError/ValueError naming it, with the expected and the
    actual shape or dtype.
"""
import numbers

import numpy as np

from .. import _validate
from .._validate import as_real_array, check_shape, fmt_shape
from .._validate import float_array, make_rng
from ..module import Module, Parameter

__all__ = ["Embedding", "Linear", "Dropout", "BatchNorm1d", "LayerNorm"]


def _check_grad(grad_output, shape, dtype):
    """dLoss/d output as an array of the layer dtype, exactly the output's shape."""
    g = as_real_array(grad_output, "grad_output", dtype)
    check_shape(g, "grad_output", shape, "(the shape of the output)")
    return g


_check_real = _validate.check_real
_check_eps = _validate.check_eps


# ---- Embedding ------------------------------------------------------------------

def check_indices(indices, num_embeddings, name="indices"):
    """Integer indices of any shape, every value in 0..num_embeddings-1 -> intp array."""
    idx = _validate.to_numpy(indices, name, "an integer array", ".long()")
    try:
        idx = np.asarray(idx)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s could not be converted to an array: %s" % (name, exc)) from None
    if idx.dtype.kind not in "iu":
        raise TypeError("%s must be an integer array; got dtype %s" % (name, idx.dtype))
    bad = (idx < 0) | (idx >= num_embeddings)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError("%s must be in 0..%d (num_embeddings=%d); got %d at position %s"
                         % (name, num_embeddings - 1, num_embeddings, int(idx[pos]), pos))
    return idx.astype(np.intp, copy=False)


class Embedding(Module):
    """A lookup table: embedding(indices) -> weight[indices].

    indices  integers of any shape (...), each in 0..num_embeddings-1
    output   (..., embedding_dim)
    weight   (num_embeddings, embedding_dim) ~ N(0, 1); row padding_idx is zero and
             never receives a gradient. backward returns None (indices have none).
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32,
                 seed=None):
        super().__init__()
        n = _validate.check_size(num_embeddings, "num_embeddings")
        dim = _validate.check_size(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if isinstance(padding_idx, (bool, np.bool_)) or \
                    not isinstance(padding_idx, (numbers.Integral, np.integer)):
                raise TypeError("padding_idx must be None or an int; got %r" % (padding_idx,))
            padding_idx = int(padding_idx)
            if not -n <= padding_idx < n:
                raise ValueError("padding_idx must be in %d..%d (num_embeddings=%d); got %d"
                                 % (-n, n - 1, n, padding_idx))
            if padding_idx < 0:
                padding_idx += n
        self.num_embeddings, self.embedding_dim, self.padding_idx = n, dim, padding_idx
        self.dtype = _validate.model_dtype(dtype)
        w = make_rng(seed).standard_normal((n, dim)).astype(self.dtype)   # (n, dim)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = Parameter(w)                                        # (n, dim)

    def extra_repr(self):
        s = "%d, %d" % (self.num_embeddings, self.embedding_dim)
        return s + (", padding_idx=%d" % self.padding_idx if self.padding_idx is not None else "")

    def forward(self, indices):
        idx = check_indices(indices, self.num_embeddings)    # (...)
        self._keep(idx=idx)
        # out[k] = W[idx[k]]
        return self.weight.data[idx]                          # (..., dim)

    def backward(self, grad_output):
        idx = self._kept()["idx"]                             # (...)
        dim = self.embedding_dim
        g = _check_grad(grad_output, idx.shape + (dim,), self.dtype)   # (..., dim)
        # dW[i] += sum of g[k] over the positions k with idx[k] == i (i != padding_idx)
        flat = idx.reshape(-1)                                # (K,)
        g2 = g.reshape(-1, dim)                               # (K, dim)
        if self.padding_idx is not None:
            keep = flat != self.padding_idx
            flat, g2 = flat[keep], g2[keep]
        if flat.size:
            order = np.argsort(flat, kind="stable")
            rows, starts = np.unique(flat[order], return_index=True)      # (U,), (U,)
            self.weight.grad[rows] += np.add.reduceat(g2[order], starts, axis=0)  # (U, dim)
        return None


# ---- Linear ---------------------------------------------------------------------

class Linear(Module):
    """y = x W^T + b.

    x       (..., in_features)         y  (..., out_features)
    weight  (out_features, in_features) ~ U(-1/sqrt(in), 1/sqrt(in))
    bias    (out_features,)             ~ U(-1/sqrt(in), 1/sqrt(in)), or None (bias=False)
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None):
        super().__init__()
        self.in_features = _validate.check_size(in_features, "in_features")
        self.out_features = _validate.check_size(out_features, "out_features")
        bias = _validate.check_flag(bias, "bias")
        self.dtype = _validate.model_dtype(dtype)
        rng = make_rng(seed)
        k = 1.0 / np.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(rng.uniform(-k, k, shape).astype(self.dtype))   # (out, in)
        if bias:
            self.bias = Parameter(rng.uniform(-k, k, self.out_features).astype(self.dtype))  # (out,)
        else:
            self.bias = None

    def extra_repr(self):
        return "in_features=%d, out_features=%d, bias=%s" % (
            self.in_features, self.out_features, self.bias is not None)

    def forward(self, x):
        xa = as_real_array(x, "x", self.dtype)                 # (..., in)
        if xa.ndim == 0 or xa.shape[-1] != self.in_features:
            raise ValueError("x must have shape (..., in_features=%d); got %s"
                             % (self.in_features, fmt_shape(xa.shape)))
        self._keep(x=xa)
        # y = x W^T + b
        y = xa @ self.weight.data.T                            # (..., out)
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_output):
        x = self._kept()["x"]                                  # (..., in)
        g = _check_grad(grad_output, x.shape[:-1] + (self.out_features,), self.dtype)  # (..., out)
        g2 = g.reshape(-1, self.out_features)                  # (M, out)
        x2 = x.reshape(-1, self.in_features)                   # (M, in)
        # dW += g^T x ; db += sum_m g[m] ; dx = g W
        self.weight.grad += g2.T @ x2                          # (out, in)
        if self.bias is not None:
            self.bias.grad += g2.sum(axis=0)                   # (out,)
        return g @ self.weight.data                            # (..., in)


# ---- Dropout --------------------------------------------------------------------

class Dropout(Module):
    """Inverted dropout (torch.nn.Dropout): in training mode each element is zeroed
    with probability p and the others are scaled by 1/(1-p); in eval mode (or p = 0)
    the input is returned unchanged. Masks come from the module's own numpy
    Generator (default_rng(seed)); backward applies the mask of the last forward.
    x: float array of any shape; the output has its shape and dtype (float32 unless
    x is float32 or float64)."""

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        self.p = _check_real(p, "p", 0.0, 1.0, hi_open=False)
        self._rng = make_rng(seed)

    def extra_repr(self):
        return "p=%r" % self.p

    def forward(self, x):
        xa = float_array(x, "x")                               # (...)
        if not self.training or self.p == 0.0:
            self._keep(noise=None, shape=xa.shape, dtype=xa.dtype)
            return xa
        # noise = bernoulli(1 - p) / (1 - p) ; y = x * noise
        keep = self._rng.random(xa.shape) >= self.p            # (...) bool
        noise = keep.astype(xa.dtype)                          # (...)
        if self.p < 1.0:
            noise /= xa.dtype.type(1.0 - self.p)
        self._keep(noise=noise, shape=xa.shape, dtype=xa.dtype)
        return xa * noise                                      # (...)

    def backward(self, grad_output):
        s = self._kept()
        g = _check_grad(grad_output, s["shape"], s["dtype"])   # (...)
        # dx = g * noise
        return g.copy() if s["noise"] is None else g * s["noise"]


# ---- normalisation --------------------------------------------------------------

def _norm_forward(x, mean, var, eps, cshape):
    """xhat = (x - mean) / sqrt(var + eps); returns xhat (x's shape), invstd (cshape)."""
    invstd = 1.0 / np.sqrt(var.reshape(cshape) + x.dtype.type(eps))
    return (x - mean.reshape(cshape)) * invstd, invstd


def _norm_backward(dxhat, xhat, invstd, axes):
    """Gradient through xhat = (x - mean(x)) * invstd with the batch mean and biased
    variance over ``axes``:
    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))."""
    return invstd * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                     - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


class BatchNorm1d(Module):
    """Batch normalisation over the batch (and length) axes (torch.nn.BatchNorm1d).

    x        (N, C) or (N, C, L);  y  the shape of x
    y = (x - mean) / sqrt(var + eps) * weight + bias, per channel c
    training (or track_running_stats=False): mean and the biased var of the batch over
      N (and L); running_mean/var <- (1 - m) * running + m * (mean, unbiased var), with
      m = momentum, or 1/num_batches_tracked when momentum is None (cumulative average)
    eval (with track_running_stats): the running statistics
    weight (C,) ones, bias (C,) zeros (affine); buffers running_mean (C,) zeros,
    running_var (C,) ones, num_batches_tracked () int64.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=np.float32):
        super().__init__()
        C = self.num_features = _validate.check_size(num_features, "num_features")
        self.eps = _check_eps(eps)
        self.momentum = None if momentum is None else _check_real(momentum, "momentum", 0.0, 1.0, False)
        self.affine = _validate.check_flag(affine, "affine")
        self.track_running_stats = _validate.check_flag(track_running_stats, "track_running_stats")
        self.dtype = _validate.model_dtype(dtype)
        if self.affine:
            self.weight = Parameter(np.ones(C, self.dtype))          # (C,)
            self.bias = Parameter(np.zeros(C, self.dtype))           # (C,)
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(C, self.dtype))   # (C,)
            self.register_buffer("running_var", np.ones(C, self.dtype))     # (C,)
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def extra_repr(self):
        return "%d, eps=%r, momentum=%r, affine=%s, track_running_stats=%s" % (
            self.num_features, self.eps, self.momentum, self.affine, self.track_running_stats)

    def forward(self, x):
        C = self.num_features
        xa = as_real_array(x, "x", self.dtype)                 # (N, C) or (N, C, L)
        if xa.ndim not in (2, 3) or xa.shape[1] != C:
            raise ValueError("x must have shape (N, C=%d) or (N, C=%d, L); got %s"
                             % (C, C, fmt_shape(xa.shape)))
        axes = (0,) if xa.ndim == 2 else (0, 2)
        cshape = (1, C) if xa.ndim == 2 else (1, C, 1)
        n = xa.size // C                                       # values per channel
        batch_stats = self.training or not self.track_running_stats
        if batch_stats:
            if self.training and n <= 1:
                raise ValueError("x must have more than 1 value per channel when training; "
                                 "got shape %s" % fmt_shape(xa.shape))
            # mean = sum x / n ; var = sum (x - mean)^2 / n  (biased)
            mean = xa.mean(axis=axes)                          # (C,)
            var = ((xa - mean.reshape(cshape)) ** 2).mean(axis=axes)   # (C,)
            if self.training and self.track_running_stats:
                self.num_batches_tracked += 1
                m = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
                # running <- (1 - m) running + m stat  (var unbiased: * n / (n - 1))
                self.running_mean *= 1.0 - m
                self.running_mean += m * mean
                self.running_var *= 1.0 - m
                self.running_var += m * var * (n / (n - 1.0))
        else:
            mean, var = self.running_mean, self.running_var    # (C,), (C,)
        xhat, invstd = _norm_forward(xa, mean, var, self.eps, cshape)   # (x), cshape
        # (backward exists for training forwards, which always use the batch statistics)
        self._keep(xhat=xhat, invstd=invstd, axes=axes, cshape=cshape)
        if not self.affine:
            return xhat
        # y = xhat * weight + bias
        return xhat * self.weight.data.reshape(cshape) + self.bias.data.reshape(cshape)

    def backward(self, grad_output):
        s = self._kept()
        xhat, invstd, axes, cshape = s["xhat"], s["invstd"], s["axes"], s["cshape"]
        g = _check_grad(grad_output, xhat.shape, self.dtype)  # the shape of x
        if self.affine:
            # dweight += sum g * xhat ; dbias += sum g ; dxhat = g * weight
            self.weight.grad += (g * xhat).sum(axis=axes)      # (C,)
            self.bias.grad += g.sum(axis=axes)                 # (C,)
            dxhat = g * self.weight.data.reshape(cshape)
        else:
            dxhat = g
        return _norm_backward(dxhat, xhat, invstd, axes)      # batch statistics


class LayerNorm(Module):
    """Normalisation over the last len(normalized_shape) axes (torch.nn.LayerNorm).

    x  (..., *normalized_shape);  y  the shape of x
    y = (x - mean) / sqrt(var + eps) * weight + bias, mean and biased var over those axes
    weight normalized_shape ones, bias normalized_shape zeros (elementwise_affine; bias=False
    leaves out the bias).
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, (numbers.Integral, np.integer)):
            normalized_shape = (normalized_shape,)
        try:
            shape = tuple(normalized_shape)
        except TypeError:
            raise TypeError("normalized_shape must be an int or a tuple of ints; got %r"
                            % (normalized_shape,)) from None
        if not shape:
            raise ValueError("normalized_shape must have at least one dimension; got ()")
        self.normalized_shape = tuple(_validate.check_size(s, "normalized_shape") for s in shape)
        self.eps = _check_eps(eps)
        self.elementwise_affine = _validate.check_flag(elementwise_affine, "elementwise_affine")
        bias = _validate.check_flag(bias, "bias")
        self.dtype = _validate.model_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, self.dtype))   # normalized_shape
            self.bias = Parameter(np.zeros(self.normalized_shape, self.dtype)) if bias else None
        else:
            self.weight = self.bias = None

    def extra_repr(self):
        return "%s, eps=%r, elementwise_affine=%s" % (
            self.normalized_shape, self.eps, self.elementwise_affine)

    def forward(self, x):
        ns = self.normalized_shape
        xa = as_real_array(x, "x", self.dtype)                 # (..., *ns)
        k = len(ns)
        if xa.ndim < k or xa.shape[xa.ndim - k:] != ns:
            raise ValueError("x must have shape (..., %s) (normalized_shape); got %s"
                             % (", ".join(map(str, ns)), fmt_shape(xa.shape)))
        axes = tuple(range(xa.ndim - k, xa.ndim))
        cshape = xa.shape[:xa.ndim - k] + (1,) * k
        # mean = mean x ; var = mean (x - mean)^2 over the normalized axes
        mean = xa.mean(axis=axes, keepdims=True)               # (..., 1, ..., 1)
        var = ((xa - mean) ** 2).mean(axis=axes, keepdims=True)
        xhat, invstd = _norm_forward(xa, mean, var, self.eps, cshape)
        self._keep(xhat=xhat, invstd=invstd, axes=axes)
        y = xhat
        # y = xhat * weight + bias
        if self.weight is not None:
            y = y * self.weight.data
        if self.bias is not None:
            y = y + self.bias.data
        return y

    def backward(self, grad_output):
        s = self._kept()
        xhat, invstd, axes = s["xhat"], s["invstd"], s["axes"]
        g = _check_grad(grad_output, xhat.shape, self.dtype)  # (..., *ns)
        lead = tuple(range(xhat.ndim - len(axes)))             # the batch axes
        if self.weight is not None:
            # dweight += sum over batch axes of g * xhat ; dbias += sum of g
            self.weight.grad += (g * xhat).sum(axis=lead)
            if self.bias is not None:
                self.bias.grad += g.sum(axis=lead)
            dxhat = g * self.weight.data
        else:
            dxhat = g
        return _norm_backward(dxhat, xhat, invstd, axes)
