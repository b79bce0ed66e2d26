"""pygru.optim - SGD, Adam, AdamW and clip_grad_norm_ for pygru.nn Parameters, with
torch.optim's update formulas, defaults, parameter groups and state-dict layout.

Guarantees:
  * step() updates every Parameter.data IN PLACE (so modules holding the Parameters,
    nn.GRU's C model included, see the new values) from its .grad, in the Parameter's
    dtype, with torch 2.13's single-tensor formulas in torch's order of operations;
    optimizer state (momentum buffers, moments) is kept per Parameter in its dtype;
  * params: an iterable of Parameters, or of dicts {'params': [...], option: value}
    whose options override the constructor's (torch's param groups); a Parameter may
    appear once only;
  * state_dict() / load_state_dict() use torch's layout ({'state': {index: {...}},
    'param_groups': [{..., 'params': [indices]}]}) with copies of the arrays;
    load_state_dict checks the group sizes and every array's shape before writing;
  * clip_grad_norm_ computes the total norm of all gradients and scales them in place
    by min(max_norm / (total_norm + 1e-6), 1), as torch.nn.utils.clip_grad_norm_.
"""
import collections.abc
import math
import numbers

import numpy as np

from ._validate import as_real_array, check_shape
from .module import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_"]


def _param_list(params, what):
    if isinstance(params, Parameter):
        return [params]
    if isinstance(params, (str, bytes, collections.abc.Mapping)) or \
            not isinstance(params, collections.abc.Iterable):
        raise TypeError("%s must be an iterable of Parameters; got %s" % (what, type(params).__name__))
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, Parameter):
            raise TypeError("%s must hold pygru.nn.Parameter objects; got %s at index %d"
                            % (what, type(p).__name__, i))
    return out


def _real(group, key, lo=0.0, hi=None):
    v = group[key]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not v >= lo \
            or (hi is not None and not v < hi):
        raise ValueError("%s must be a real number >= %g%s; got %r"
                         % (key, lo, " and < %g" % hi if hi is not None else "", v))
    group[key] = float(v)


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state dicts.
    Subclasses define _check_group(group) and _update(p, state, group)."""

    def __init__(self, params, defaults):
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters or of dicts; got a "
                            "single Parameter (wrap it in a list)")
        if not isinstance(params, collections.abc.Iterable):
            raise TypeError("params must be an iterable of Parameters or of dicts; got %s"
                            % type(params).__name__)
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}                      # Parameter -> its state dict
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], collections.abc.Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Adds a group {'params': Parameters, option: value, ...}; missing options
        take the constructor's values."""
        if not isinstance(param_group, collections.abc.Mapping) or "params" not in param_group:
            raise TypeError("a parameter group must be a dict with a 'params' entry; got %r"
                            % (param_group,))
        group = dict(param_group)
        group["params"] = _param_list(group["params"], "params")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids) or seen & set(ids):
            raise ValueError("a Parameter appears more than once in the optimizer's parameter groups")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        raise NotImplementedError

    def _params(self):
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self):
        """Sets every parameter's gradient to zero (backward adds into them)."""
        for p in self._params():
            p.grad[...] = 0

    def step(self):
        """One update of every parameter from its current .grad."""
        for group in self.param_groups:
            for p in group["params"]:
                self._update(p, self.state.setdefault(p, {}), group)

    # -- state dict --
    def state_dict(self):
        """{'state': {index: {name: copy}}, 'param_groups': [{options, 'params': [index]}]},
        indices counting the parameters over the groups in order (torch's layout)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v
                                for k, v in st.items()}
                 for p, st in self.state.items() if st}
        groups = [dict({k: v for k, v in g.items() if k != "params"},
                       params=[index[id(p)] for p in g["params"]]) for g in self.param_groups]
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restores options and state saved by state_dict() of an optimizer over
        parameters of the same shapes, in the same groups."""
        if not isinstance(state_dict, collections.abc.Mapping) or \
                "state" not in state_dict or "param_groups" not in state_dict:
            raise TypeError("state_dict must be a dict with 'state' and 'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("state_dict has %d parameter groups; this optimizer has %d"
                             % (len(saved_groups), len(self.param_groups)))
        for i, (sg, g) in enumerate(zip(saved_groups, self.param_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError("parameter group %d of state_dict has %d parameters; this "
                                 "optimizer's has %d" % (i, len(sg["params"]), len(g["params"])))
        params = {}
        for sg, g in zip(saved_groups, self.param_groups):
            params.update(zip(sg["params"], g["params"]))
        new_state = {}
        for key, st in state_dict["state"].items():
            if key not in params:
                raise ValueError("state_dict has state for parameter %r, which no group lists" % (key,))
            p = params[key]
            converted = {}
            for name, value in st.items():
                if value is None or isinstance(value, numbers.Number):
                    converted[name] = value
                    continue
                arr = as_real_array(value, "state[%r][%r]" % (key, name), p.dtype)
                if arr.ndim == 0:
                    converted[name] = arr.item()
                    continue
                check_shape(arr, "state[%r][%r]" % (key, name), p.shape, "(its parameter's shape)")
                converted[name] = arr.copy()
            new_state[p] = converted
        new_groups = []
        for sg, g in zip(saved_groups, self.param_groups):
            group = dict({k: v for k, v in sg.items() if k != "params"}, params=g["params"])
            self._check_group(group)
            new_groups.append(group)
        self.param_groups, self.state = new_groups, new_state

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append("Parameter Group %d" % i)
            lines += ["    %s: %r" % (k, v) for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (torch.optim.SGD). Per parameter:
        g = ±grad + weight_decay * θ
        b = g (first step), else b = momentum * b + (1 - dampening) * g
        g = g + momentum * b (nesterov), else g = b          (when momentum != 0)
        θ = θ - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group):
        for key in ("lr", "momentum", "weight_decay"):
            _real(group, key)
        _real(group, "dampening", lo=-math.inf)
        group["nesterov"], group["maximize"] = bool(group["nesterov"]), bool(group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov momentum requires a momentum > 0 and zero dampening; "
                             "got momentum=%r, dampening=%r" % (group["momentum"], group["dampening"]))

    def _update(self, p, state, group):
        lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
        g = -p.grad if group["maximize"] else p.grad           # (shape of θ)
        if wd != 0:
            # g = g + λ θ
            g = g + wd * p.data
        if mom != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # b = g
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                # b = μ b + (1 - τ) g
                buf *= mom
                buf += (1 - group["dampening"]) * g
            # g = g + μ b (nesterov) | g = b
            g = g + mom * buf if group["nesterov"] else buf
        # θ = θ - lr g
        p.data -= lr * g


class Adam(Optimizer):
    """Adam (torch.optim.Adam; AdamW = decoupled weight decay). Per parameter, step t:
        g = ±grad (+ weight_decay * θ, Adam)   |   θ = θ (1 - lr * weight_decay) (AdamW)
        m = lerp(m, g, 1 - β1)          v = β2 v + (1 - β2) g²
        v_max = max(v_max, v) (amsgrad; used for v below)
        θ = θ - lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _check_group(self, group):
        for key in ("lr", "eps", "weight_decay"):
            _real(group, key)
        try:
            b1, b2 = group["betas"]
        except (TypeError, ValueError):
            raise ValueError("betas must be a pair (beta1, beta2); got %r" % (group["betas"],)) from None
        pair = {"beta1": b1, "beta2": b2}
        _real(pair, "beta1", hi=1.0)
        _real(pair, "beta2", hi=1.0)
        group["betas"] = (pair["beta1"], pair["beta2"])
        group["amsgrad"], group["maximize"] = bool(group["amsgrad"]), bool(group["maximize"])

    def _update(self, p, state, group):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)           # m (shape of θ)
            state["exp_avg_sq"] = np.zeros_like(p.data)        # v (shape of θ)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        g = -p.grad if group["maximize"] else p.grad
        if wd != 0:
            if self._decoupled:
                # θ = θ (1 - lr λ)
                p.data *= 1 - lr * wd
            else:
                # g = g + λ θ
                g = g + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # m = lerp(m, g, 1 - β1)  (torch's lerp: m + w (g - m) for w < 0.5, else g - (g - m)(1 - w))
        w = 1 - b1
        if abs(w) < 0.5:
            m += w * (g - m)
        else:
            m[...] = g - (g - m) * (1 - w)
        # v = β2 v + (1 - β2) g g
        v *= b2
        v += (1 - b2) * g * g
        bias_correction1 = 1 - b1 ** t
        bias_correction2_sqrt = (1 - b2 ** t) ** 0.5
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            vmax = state.setdefault("max_exp_avg_sq", np.zeros_like(p.data))
            np.maximum(vmax, v, out=vmax)
            v = vmax
        # θ = θ - lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)
        denom = np.sqrt(v) / bias_correction2_sqrt + eps
        p.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): θ = θ (1 - lr * weight_decay)
    before the Adam step; weight_decay defaults to 1e-2."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales the gradients of ``parameters`` (a Parameter or an iterable of them) in
    place so that their total norm is at most max_norm, like
    torch.nn.utils.clip_grad_norm_:
        total = ||(||g_1||_p, ..., ||g_k||_p)||_p        (p = norm_type > 0, or inf)
        g_i = g_i * min(max_norm / (total + 1e-6), 1)
    Returns total (a Python float; computed in the gradients' dtype). A non-finite
    total raises RuntimeError when error_if_nonfinite."""
    params = _param_list(parameters, "parameters")
    if isinstance(max_norm, (bool, np.bool_)) or not isinstance(max_norm, numbers.Real):
        raise TypeError("max_norm must be a real number; got %r" % (max_norm,))
    if isinstance(norm_type, (bool, np.bool_)) or not isinstance(norm_type, (numbers.Real, str)):
        raise TypeError("norm_type must be a positive real number or inf; got %r" % (norm_type,))
    p = float(norm_type)
    if not p > 0:
        raise ValueError("norm_type must be a positive real number or inf; got %r" % (norm_type,))
    grads = [q.grad for q in params]
    if not grads:
        return 0.0
    dtype = np.result_type(*grads)

    def norm(x):                                       # ||x||_p, accumulated in float64
        x = np.abs(np.asarray(x, np.float64).ravel())
        if not x.size:
            return 0.0
        if p == math.inf:
            return x.max()
        if p == 2.0:
            return math.sqrt(np.dot(x, x))
        return (x ** p).sum() ** (1.0 / p)

    norms = np.array([norm(g) for g in grads]).astype(dtype)   # (k,) in the grads' dtype
    total = dtype.type(norm(norms))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError("the total norm of order %r of the gradients is non-finite (%r), so "
                           "it cannot be clipped; pass error_if_nonfinite=False to scale them "
                           "anyway" % (norm_type, float(total)))
    # clip_coef = max_norm / (total + 1e-6), clamped to 1
    coef = min(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    for g in grads:
        g *= g.dtype.type(coef)
    return float(total)
