"""pygru.oracle - a float64 reference for the GRU whose calculus is done by SymPy.

The GRU cell is written once, below, as SymPy expressions (both variants, reset_after
True and False). SymPy differentiates the new state h' with respect to x, h and every
weight and bias entry; the resulting one-step Jacobians are lambdified to NumPy float64
functions (cached per (input_size, hidden_size, reset_after)). This module's own Python
code only does bookkeeping: it runs the cell over time, layers and directions, and
chains the Jacobians backwards through time as vector-Jacobian products:

    dtheta += J_theta^T dh',   dh = J_h^T dh',   dx = J_x^T dh'

Guarantees: float64 results for forward (output, h_n) and, given grad_output and/or
grad_h_n, for every gradient (input, h0, each parameter by its PyTorch name); PyTorch's
semantics for multi-layer, bidirectional, batch_first and lengths (packed sequences);
Keras-style input and recurrent dropout with given masks (the masks are symbols of the
cell, so SymPy's derivatives include them); zoneout (Krueger et al.) with given masks
m, h_t = m h_{t-1} + (1 - m) h~_t, or its inference blend (m = p everywhere); DropConnect
on W_hh with a given mask M (the cell reads M * W_hh, M a symbol matrix too); the
layer-normalised cell (layer_norm=True: symbolic means and variances over each normalised
row, the equations of docs/equations.md, with its four gain and bias tensors per layer
and direction); AUGRU (DIEN's attentional update gate: an attention score a per step and
sequence, a symbol of the cell, so SymPy also gives dh'/da); no inter-layer dropout.
Imports nothing
else from pygru, so it runs without the C library.
Intended for small problems (input and hidden sizes up to ~6): the Jacobians are dense.
"""

import functools
import time

import numpy as np
import sympy as sp

__all__ = ["reference", "cell_reference", "cell_functions", "cell_forward",
           "param_names"]


# The layer normalisations' epsilon (libgru's GRU_LN_EPS, PyTorch's and Haste's default).
LN_EPS = 1e-5


@functools.lru_cache(maxsize=None)
def cell_functions(input_size, hidden_size, reset_after, masked=False, weight_masked=False,
                   zoneout=False, augru=False, layer_norm=False):
    """Lambdified float64 functions for one GRU step, built once per shape and variant.

    Returns (step, build_seconds) where step(x, h, w_ih, w_hh, b_ih, b_hh) takes
    x (I,), h (H,), w_ih (3H*I,), w_hh (3H*H,), b_ih (3H,), b_hh (3H,) (weights
    flattened row-major) -- masked=True: step(x, h, w_ih, w_hh, b_ih, b_hh, m_x, m_h)
    with dropout masks m_x (I,) on x where it meets W_ih and m_h (H,) on h where it
    meets W_hh (not in the blend); augru=True: a last argument a (the step's attention
    score, a float) -- and returns the tuple
    (h1 (H,), J_x (H, I), J_h (H, H), J_w_ih (H, 3H*I), J_w_hh (H, 3H*H),
     J_b_ih (H, 3H), J_b_hh (H, 3H)[, J_a (H, 1)]), each J = d h1 / d argument.
    weight_masked=True appends the argument m_w (3H*H,): the DropConnect mask, the cell
    reads m_w * w_hh wherever it reads w_hh. zoneout=True appends m_z (H,): the new
    state is m_z * h + (1 - m_z) * h~ (m_z in {0, 1} in training, p in inference).
    layer_norm=True: step(..., ln=(g_ih, c_ih, g_hh, c_hh)) with the normalisations' gains
    and biases (3H,) each, and four more Jacobians (H, 3H) after J_b_hh, one per tensor.
    The extra positional arguments come in this order: m_x, m_h, m_w, m_z, a; the
    Jacobians: J_x, J_h, J_w_ih, J_w_hh, J_b_ih, J_b_hh[, the four LN ones][, J_a].
    """
    start = time.perf_counter()
    I, H = int(input_size), int(hidden_size)
    # real=True matters: without it SymPy differentiates several times slower.
    x = sp.Matrix(sp.symbols(f"x0:{I}", real=True))                          # (I, 1)
    h = sp.Matrix(sp.symbols(f"h0:{H}", real=True))                          # (H, 1)
    w_ih = sp.Matrix(3 * H, I, sp.symbols(f"wi0:{3 * H * I}", real=True))    # (3H, I)
    w_hh = sp.Matrix(3 * H, H, sp.symbols(f"wh0:{3 * H * H}", real=True))    # (3H, H)
    b_ih = sp.Matrix(sp.symbols(f"bi0:{3 * H}", real=True))                  # (3H, 1)
    b_hh = sp.Matrix(sp.symbols(f"bh0:{3 * H}", real=True))                  # (3H, 1)
    if masked:
        m_x = sp.Matrix(sp.symbols(f"mx0:{I}", real=True))                   # (I, 1)
        m_h = sp.Matrix(sp.symbols(f"mh0:{H}", real=True))                   # (H, 1)
        xd, hd = x.multiply_elementwise(m_x), h.multiply_elementwise(m_h)   # what W meets
    else:
        xd, hd = x, h
    if weight_masked:   # DropConnect: the cell meets M * W_hh
        m_w = sp.Matrix(3 * H, H, sp.symbols(f"mw0:{3 * H * H}", real=True))  # (3H, H)
        w_hhd = w_hh.multiply_elementwise(m_w)
    else:
        w_hhd = w_hh
    if zoneout:
        m_z = sp.Matrix(sp.symbols(f"mz0:{H}", real=True))                    # (H, 1)

    def sigmoid(a):
        # = 1 / (1 + exp(-a)), written through tanh so that neither it nor its
        # derivative overflows for large |a| (exp(-a) / (1 + exp(-a))**2 would be inf/inf)
        return (1 + sp.tanh(a / 2)) / 2

    def rows(m, g):          # rows of gate g (0 = r, 1 = z, 2 = n), PyTorch order
        return m[g * H:(g + 1) * H, :]

    defs = []   # layer_norm: (symbols, their defining expression), in order
    if layer_norm:
        g_ih = sp.Matrix(sp.symbols(f"gi0:{3 * H}", real=True))              # (3H, 1)
        c_ih = sp.Matrix(sp.symbols(f"ci0:{3 * H}", real=True))              # (3H, 1)
        g_hh = sp.Matrix(sp.symbols(f"gh0:{3 * H}", real=True))              # (3H, 1)
        c_hh = sp.Matrix(sp.symbols(f"ch0:{3 * H}", real=True))              # (3H, 1)

    def layer_norm_of(a, gain, shift, name):
        # LN(a) = gain * (a - mean) / sqrt(var + eps) + shift, mean and (biased)
        # variance over the entries of the column a; returned as symbols y of their own
        # whose defining expressions go to defs (after a's)
        n = a.shape[0]
        mean = sum(a) / n
        var = sum((ai - mean) ** 2 for ai in a) / n
        y = sp.Matrix(sp.symbols(f"{name}0:{n}", real=True))
        defs.append((y, sp.Matrix([gain[i] * (a[i] - mean) / sp.sqrt(var + LN_EPS) + shift[i]
                                   for i in range(n)])))
        return y

    # ---- the GRU cell: the only place the equations appear ---------------------------
    # (with dropout masks, x and h read m_x * x and m_h * h inside the products)
    if layer_norm:
        # The products the normalisations see are symbols of their own (a_i, a_h, a_n),
        # each with its defining expression (defs); the derivatives below follow them
        # by the chain rule (SymPy differentiating a normalisation of expanded sums
        # directly takes minutes even for H = 2).
        nrz = 3 * H if reset_after else 2 * H      # rows of W_hh that meet h directly
        a_i = sp.Matrix(sp.symbols(f"ai0:{3 * H}", real=True))                # (3H, 1)
        a_h = sp.Matrix(sp.symbols(f"ah0:{nrz}", real=True))                  # (nrz, 1)
        # a_i = W_ih x,  a_h = W_hh h (reset_after=False: [W_hr h, W_hz h]); W_hh read as
        # m_w * W_hh with DropConnect
        defs += [(a_i, w_ih * xd), (a_h, w_hhd[0:nrz, :] * hd)]
        # gi = LN_{g_ih, c_ih}(a_i) + b_ih                            (over 3H)
        gi = layer_norm_of(a_i, g_ih, c_ih, "yi") + b_ih
        # gh = LN_{g_hh, c_hh}(a_h) + b_hh (over 3H); reset_after=False:
        # [gh_r, gh_z] = LN_{g_hh[0:2H], c_hh[0:2H]}(a_h) + b_h{r,z}   (over 2H)
        gh = layer_norm_of(a_h, g_hh[0:nrz, :], c_hh[0:nrz, :], "yh") + b_hh[0:nrz, :]
        # r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
        r = (rows(gi, 0) + rows(gh, 0)).applyfunc(sigmoid)
        z = (rows(gi, 1) + rows(gh, 1)).applyfunc(sigmoid)
        if reset_after:
            # n = tanh(gi_n + r * gh_n)
            n = (rows(gi, 2) + r.multiply_elementwise(rows(gh, 2))).applyfunc(sp.tanh)
        else:
            a_n = sp.Matrix(sp.symbols(f"an0:{H}", real=True))                # (H, 1)
            # a_n = W_hn (r * h)
            defs.append((a_n, rows(w_hhd, 2) * r.multiply_elementwise(hd)))
            # gh_n = LN_{g_hh[2H:3H], c_hh[2H:3H]}(a_n) + b_hn          (over H)
            gh_n = layer_norm_of(a_n, rows(g_hh, 2), rows(c_hh, 2), "yn") + rows(b_hh, 2)
            # n = tanh(gi_n + gh_n)
            n = (rows(gi, 2) + gh_n).applyfunc(sp.tanh)
    else:
        # r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        r = (rows(w_ih, 0) * xd + rows(b_ih, 0) + rows(w_hhd, 0) * hd + rows(b_hh, 0)).applyfunc(sigmoid)
        # z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        z = (rows(w_ih, 1) * xd + rows(b_ih, 1) + rows(w_hhd, 1) * hd + rows(b_hh, 1)).applyfunc(sigmoid)
        if reset_after:
            # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
            n = (rows(w_ih, 2) * xd + rows(b_ih, 2)
                 + r.multiply_elementwise(rows(w_hhd, 2) * hd + rows(b_hh, 2))).applyfunc(sp.tanh)
        else:
            # n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
            n = (rows(w_ih, 2) * xd + rows(b_ih, 2)
                 + rows(w_hhd, 2) * r.multiply_elementwise(hd) + rows(b_hh, 2)).applyfunc(sp.tanh)
    if augru:
        # AUGRU (DIEN, Zhou et al. 2019): update gate u = 1 - z scaled by the attention a,
        # u' = a u, h' = (1 - u') * h + u' * n   (the unmasked h)
        a = sp.Symbol("a", real=True)
        u = a * (sp.ones(H, 1) - z)
        h1 = (sp.ones(H, 1) - u).multiply_elementwise(h) + u.multiply_elementwise(n)
    else:
        # h' = (1 - z) * n + z * h   (the unmasked h)
        h1 = (sp.ones(H, 1) - z).multiply_elementwise(n) + z.multiply_elementwise(h)
    if zoneout:
        # zoneout: h_t = m * h_{t-1} + (1 - m) * h~_t
        h1 = m_z.multiply_elementwise(h) + (sp.ones(H, 1) - m_z).multiply_elementwise(h1)
    # -----------------------------------------------------------------------------------

    def jacobian(f, v):  # = f.jacobian(v), skipping symbols an entry does not contain
        free = [fk.free_symbols for fk in f]
        return sp.Matrix(len(f), len(v),
                         lambda k, i: f[k].diff(v[i]) if v[i] in free[k] else 0)

    partial, totals = {}, {}   # J_{a_k} f and d f / d v, each computed once

    def total(f, v, upto):
        # d f / d v through the intermediate symbols defs[:upto] (chain rule):
        # J_v f + sum_k J_{a_k} f . d a_k / d v
        key = (id(f), id(v))
        if key in totals:
            return totals[key]
        J = jacobian(f, v)
        for k in range(upto):
            sym, expr = defs[k]
            if (id(f), k) not in partial:
                partial[(id(f), k)] = jacobian(f, sym)
            J_a = partial[(id(f), k)]
            if any(e != 0 for e in J_a):
                J += J_a * total(expr, v, k)
        totals[key] = J
        return J

    wrt = [x, h, w_ih.reshape(3 * H * I, 1), w_hh.reshape(3 * H * H, 1), b_ih, b_hh]
    if layer_norm:
        wrt += [g_ih, c_ih, g_hh, c_hh]
    if augru:
        wrt.append(sp.Matrix([a]))
    jacobians = [total(h1, v, len(defs)) for v in wrt]
    args = [list(x), list(h), list(w_ih), list(w_hh), list(b_ih), list(b_hh)]
    if masked:
        args += [list(m_x), list(m_h)]
    if weight_masked:
        args += [list(m_w)]
    if zoneout:
        args += [list(m_z)]
    if augru:
        args.append(a)
    if layer_norm:
        args += [list(g_ih), list(c_ih), list(g_hh), list(c_hh)]
    # the intermediates, in order (a_n needs a_i and a_h), then h1 and the Jacobians
    inter = [sp.lambdify(args + [list(d[0]) for d in defs[:k]], d[1], modules="numpy",
                         cse=True) for k, d in enumerate(defs)]
    fn = sp.lambdify(args + [list(d[0]) for d in defs], [h1] + jacobians, modules="numpy",
                     cse=True)

    def step(x_, h_, w_ih_, w_hh_, b_ih_, b_hh_, *extra, ln=()):
        vals = [x_, h_, w_ih_, w_hh_, b_ih_, b_hh_, *extra, *ln]
        for f in inter:
            vals.append(np.asarray(f(*vals), dtype=np.float64).ravel())
        res = fn(*vals)
        h1_ = np.asarray(res[0], dtype=np.float64).reshape(H)
        return (h1_,) + tuple(np.asarray(j, dtype=np.float64) for j in res[1:])

    return step, time.perf_counter() - start


def cell_forward(params, x, h, *, reset_after=True, suffix="", masks=None,
                 weight_mask=None, zoneout_mask=None, attention=None, layer_norm=False):
    """One GRU step, x (B, I), h (B, H) -> (h1 (B, H), jacobians per batch element).

    params holds weight_ih{suffix} (3H, I), weight_hh{suffix} (3H, H) and optionally
    bias_ih{suffix}, bias_hh{suffix} (3H,). masks: None, or (m_x (B, I), m_h (B, H))
    dropout masks. weight_mask: None or the DropConnect mask (3H, H) of W_hh.
    zoneout_mask: None or (B, H) (1 = keep the previous state; p for the inference
    blend). attention: None (a GRU), or (B,) AUGRU attention scores (the jacobians then
    end with J_a (H, 1)). layer_norm: the layer-normalised cell, params then also holding
    layer_norm_ih_weight{suffix}, layer_norm_ih_bias{suffix}, layer_norm_hh_weight{suffix},
    layer_norm_hh_bias{suffix} (3H,). Used by the GRUCell check and by reference().
    """
    w_ih = np.asarray(params["weight_ih" + suffix], dtype=np.float64)
    w_hh = np.asarray(params["weight_hh" + suffix], dtype=np.float64)
    H, I = w_hh.shape[1], w_ih.shape[1]
    b_ih = np.asarray(params.get("bias_ih" + suffix, np.zeros(3 * H)), dtype=np.float64)
    b_hh = np.asarray(params.get("bias_hh" + suffix, np.zeros(3 * H)), dtype=np.float64)
    step, _ = cell_functions(I, H, bool(reset_after), masks is not None,
                             weight_mask is not None, zoneout_mask is not None,
                             augru=attention is not None, layer_norm=bool(layer_norm))
    ln = () if not layer_norm else tuple(
        np.asarray(params[f"layer_norm_{k}{suffix}"], dtype=np.float64)
        for k in ("ih_weight", "ih_bias", "hh_weight", "hh_bias"))
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    out = np.empty_like(h)
    jacs = []
    for b in range(x.shape[0]):
        extra = () if masks is None else (masks[0][b], masks[1][b])
        if weight_mask is not None:
            extra += (np.asarray(weight_mask, dtype=np.float64).ravel(),)
        if zoneout_mask is not None:
            extra += (np.asarray(zoneout_mask, dtype=np.float64)[b],)
        if attention is not None:
            extra += (float(attention[b]),)
        res = step(x[b], h[b], w_ih.ravel(), w_hh.ravel(), b_ih, b_hh, *extra, ln=ln)
        out[b] = res[0]
        jacs.append(res[1:])
    return out, jacs


def cell_reference(params, *, x, h=None, reset_after=True, grad_h1=None, attention=None):
    """One GRUCell step in float64 (PyTorch's GRUCell names, no layer suffix).

    params: weight_ih (3H, I), weight_hh (3H, H) and, with bias, bias_ih, bias_hh (3H,).
    x (B, I); h (B, H) or None for zeros; grad_h1 (B, H) or None; attention (B,) AUGRU
    scores or None (a GRU cell).
    Returns {'h1' (B, H)} and, given grad_h1, 'grad_input' (B, I), 'grad_hx' (B, H),
    'grad_<name>' for every parameter in params and, with attention, 'grad_attention'
    (B,).
    """
    keys = sorted(params)
    if keys not in (["weight_hh", "weight_ih"], ["bias_hh", "bias_ih", "weight_hh", "weight_ih"]):
        raise ValueError(f"params: expected keys weight_ih, weight_hh[, bias_ih, bias_hh], "
                         f"got {keys}")
    H, I = np.shape(params["weight_hh"])[1], np.shape(params["weight_ih"])[1]
    for name, shape in (("weight_ih", (3 * H, I)), ("weight_hh", (3 * H, H)),
                        ("bias_ih", (3 * H,)), ("bias_hh", (3 * H,))):
        if name in params:
            _as_float64(name, params[name], shape)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != I:
        raise ValueError(f"x: expected shape (batch, {I}), got {x.shape}")
    B = x.shape[0]
    h = np.zeros((B, H)) if h is None else _as_float64("h", h, (B, H))
    if attention is not None:
        attention = _as_float64("attention", attention, (B,))
    h1, jacs = cell_forward(params, x, h, reset_after=reset_after, attention=attention)
    result = {"h1": h1}
    if grad_h1 is None:
        return result
    g = _as_float64("grad_h1", grad_h1, (B, H))                    # (B, H)
    result["grad_input"] = np.stack([j[0].T @ g[b] for b, j in enumerate(jacs)])
    result["grad_hx"] = np.stack([j[1].T @ g[b] for b, j in enumerate(jacs)])
    for k, name in enumerate(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
        if name in params:
            shape = np.shape(params[name])
            result["grad_" + name] = sum(j[2 + k].T @ g[b] for b, j in enumerate(jacs)
                                         ).reshape(shape)
    if attention is not None:
        result["grad_attention"] = np.array([(j[-1].T @ g[b])[0] for b, j in enumerate(jacs)])
    return result


LN_KINDS = ("layer_norm_ih_weight", "layer_norm_ih_bias", "layer_norm_hh_weight",
            "layer_norm_hh_bias")


def param_names(num_layers, bidirectional, bias, layer_norm=False):
    """PyTorch's state-dict names, in its order (pygru's layer_norm tensors after the
    others of each layer and direction)."""
    names = []
    for layer in range(num_layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
            kinds += LN_KINDS if layer_norm else ()
            names += [f"{k}_l{layer}{suffix}" for k in kinds]
    return names


def _param_shape(name, input_size, hidden_size, num_directions):
    kind, layer = name.split("_l")[0], int(name.split("_l")[1].split("_")[0])
    in_size = input_size if layer == 0 else num_directions * hidden_size
    return {"weight_ih": (3 * hidden_size, in_size), "weight_hh": (3 * hidden_size, hidden_size)
            }.get(kind, (3 * hidden_size,))


def _as_float64(name, value, shape):
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    return arr


def reference(params, *, input_size, hidden_size, num_layers=1, bidirectional=False,
              bias=True, reset_after=True, x, h0=None, lengths=None, batch_first=False,
              grad_output=None, grad_h_n=None, masks=None, weight_masks=None,
              zoneout_masks=None, zoneout=0.0, attention=None, layer_norm=False):
    """Forward (and, given grad_output and/or grad_h_n, backward) of a GRU in float64.

    params: dict of PyTorch-named arrays (no bias keys when bias=False).
    x: (T, B, I), or (B, T, I) if batch_first. h0: (L*D, B, H) or None for zeros.
    lengths: (B,) ints in 1..T or None. grad_output: shape of output; grad_h_n:
    (L*D, B, H); either may be None (zeros) as long as the other is given.
    masks: None, or {(layer, direction): (m_x (B, in), m_h (B, H))} for every
    layer-direction (in = I for layer 0, D*H above): Keras-style input and recurrent
    dropout masks, fixed across time (pygru's GRU.dropout_masks() gives them).
    layer_norm: the layer-normalised GRU (params with its four tensors per layer and
    direction, param_names(..., layer_norm=True)).
    weight_masks: None, or {(layer, direction): M (3H, H)}: DropConnect masks of W_hh
    (pygru's GRU.weight_dropout_masks()). zoneout_masks: None, or {(layer, direction):
    m (T, B, H) time-major}: training zoneout (1 = keep the previous state; pygru's
    GRU.zoneout_masks()); without them, zoneout > 0 gives the inference blend
    h_t = p h_{t-1} + (1 - p) h~_t.
    attention: None (a GRU), or the AUGRU attention scores (T, B) ((B, T) if
    batch_first), the same in every layer and direction.
    Returns a dict of float64 arrays: 'output' (T, B, D*H) (or (B, T, D*H)), 'h_n'
    (L*D, B, H), and with gradients 'grad_input' (shape of x), 'grad_h0' (L*D, B, H),
    'grad_<name>' for every parameter name in params and, with attention,
    'grad_attention' (the shape of attention; 0 at padded steps).
    """
    I, H, L = int(input_size), int(hidden_size), int(num_layers)
    D = 2 if bidirectional else 1
    names = param_names(L, bidirectional, bias, layer_norm)
    if set(params) != set(names):
        raise ValueError(f"params: expected keys {sorted(names)}, got {sorted(params)}")
    p = {n: _as_float64(n, params[n], _param_shape(n, I, H, D)) for n in names}

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != I:
        raise ValueError(f"x: expected a 3-d array with last dimension {I}, got {x.shape}")
    if batch_first:
        x = x.transpose(1, 0, 2)
    T, B = x.shape[0], x.shape[1]
    h0 = np.zeros((L * D, B, H)) if h0 is None else _as_float64("h0", h0, (L * D, B, H))
    if lengths is None:
        lengths = np.full(B, T, dtype=np.int64)
    lengths = np.asarray(lengths).astype(np.int64)
    if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths: expected ({B},) values in 1..{T}, got {lengths!r}")
    if attention is not None:
        attention = _as_float64("attention", attention, (B, T) if batch_first else (T, B))
        if batch_first:
            attention = attention.T                 # (T, B)
    if masks is not None:
        masks = {(l, d): (_as_float64(f"masks[{l}, {d}][0]", masks[(l, d)][0],
                                      (B, I if l == 0 else D * H)),
                          _as_float64(f"masks[{l}, {d}][1]", masks[(l, d)][1], (B, H)))
                 for l in range(L) for d in range(D)}
    if weight_masks is not None:
        weight_masks = {(l, d): _as_float64(f"weight_masks[{l}, {d}]", weight_masks[(l, d)],
                                            (3 * H, H)) for l in range(L) for d in range(D)}
    if zoneout_masks is not None:
        zoneout_masks = {(l, d): _as_float64(f"zoneout_masks[{l}, {d}]",
                                             zoneout_masks[(l, d)], (T, B, H))
                         for l in range(L) for d in range(D)}
    elif zoneout:
        p_z = float(zoneout)
        zoneout_masks = {(l, d): np.full((T, B, H), p_z) for l in range(L) for d in range(D)}

    # ---- forward, keeping every step's Jacobians -------------------------------------
    layer_in = x                                  # (T, B, in)
    h_n = np.zeros((L * D, B, H))
    tape = []                                     # per layer: {d: {(t, b): jacobians}}
    for layer in range(L):
        out = np.zeros((T, B, D * H))
        layer_tape = {}
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            h = h0[layer * D + d].copy()          # (B, H)
            jac = {}
            for t in (range(T - 1, -1, -1) if d else range(T)):
                for b in range(B):
                    if t >= lengths[b]:
                        continue                  # padding: output 0, state unchanged
                    mk = None if masks is None else tuple(
                        m[b:b + 1] for m in masks[(layer, d)])
                    wm = None if weight_masks is None else weight_masks[(layer, d)]
                    zm = (None if zoneout_masks is None
                          else zoneout_masks[(layer, d)][t, b:b + 1])
                    at = None if attention is None else attention[t, b:b + 1]
                    h1, (j,) = cell_forward(p, layer_in[t, b:b + 1], h[b:b + 1],
                                            reset_after=reset_after, suffix=suffix, masks=mk,
                                            weight_mask=wm, zoneout_mask=zm, attention=at,
                                            layer_norm=layer_norm)
                    h[b] = h1[0]
                    out[t, b, d * H:(d + 1) * H] = h[b]
                    jac[(t, b)] = j
            h_n[layer * D + d] = h
            layer_tape[d] = jac
        tape.append(layer_tape)
        layer_in = out
    result = {"output": out.transpose(1, 0, 2).copy() if batch_first else out, "h_n": h_n}
    if grad_output is None and grad_h_n is None:
        return result

    # ---- backward through time: vector-Jacobian products -----------------------------
    out_shape = (B, T, D * H) if batch_first else (T, B, D * H)
    g_out = (np.zeros(out_shape) if grad_output is None
             else _as_float64("grad_output", grad_output, out_shape))
    if batch_first:
        g_out = g_out.transpose(1, 0, 2)
    g_h_n = (np.zeros((L * D, B, H)) if grad_h_n is None
             else _as_float64("grad_h_n", grad_h_n, (L * D, B, H)))
    grads = {n: np.zeros_like(p[n]) for n in names}
    grad_h0 = np.zeros((L * D, B, H))
    grad_att = None if attention is None else np.zeros((T, B))
    for layer in range(L - 1, -1, -1):
        in_size = I if layer == 0 else D * H
        g_in = np.zeros((T, B, in_size))          # dLoss / d(input of this layer)
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            dh = g_h_n[layer * D + d].copy()      # (B, H) dLoss / d(current state)
            for t in (range(T) if d else range(T - 1, -1, -1)):   # reverse of forward
                for b in range(B):
                    if t >= lengths[b]:
                        continue
                    j_x, j_h, j_wih, j_whh, j_bih, j_bhh = tape[layer][d][(t, b)][:6]
                    dh1 = dh[b] + g_out[t, b, d * H:(d + 1) * H]   # (H,)
                    if grad_att is not None:                       # J_a (H, 1)
                        grad_att[t, b] += (tape[layer][d][(t, b)][-1].T @ dh1)[0]
                    g_in[t, b] += j_x.T @ dh1
                    grads["weight_ih" + suffix] += (j_wih.T @ dh1).reshape(3 * H, in_size)
                    grads["weight_hh" + suffix] += (j_whh.T @ dh1).reshape(3 * H, H)
                    if bias:
                        grads["bias_ih" + suffix] += j_bih.T @ dh1
                        grads["bias_hh" + suffix] += j_bhh.T @ dh1
                    if layer_norm:
                        for k, j_ln in zip(LN_KINDS, tape[layer][d][(t, b)][6:]):
                            grads[f"{k}{suffix}"] += j_ln.T @ dh1
                    dh[b] = j_h.T @ dh1
            grad_h0[layer * D + d] = dh
        g_out = g_in
    result["grad_input"] = g_out.transpose(1, 0, 2).copy() if batch_first else g_out
    result["grad_h0"] = grad_h0
    if grad_att is not None:
        result["grad_attention"] = grad_att.T.copy() if batch_first else grad_att
    result.update({"grad_" + n: g for n, g in grads.items()})
    return result
