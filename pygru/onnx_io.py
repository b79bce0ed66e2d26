"""pygru.onnx_io - weights in and out of ONNX: from_onnx(model_or_path) for a model with
an ONNX GRU node, and to_onnx(model, path) (onnx imported only inside these calls).

ONNX's GRU orders its gates z, r, h (pygru and PyTorch: r, z, n), holds W (D, 3H, I),
R (D, 3H, H) and B (D, 6H) = [Wb, Rb], and places the reset gate by
linear_before_reset: 1 is pygru's reset_after=True, 0 (ONNX's default) reset_after=False.
Both directions here convert the blocks explicitly and set linear_before_reset from the
model, never by default (PyTorch's exporter has got it wrong, pytorch/pytorch#189225).

Shapes: pygru's output (T, B, D*H) is ONNX's Y (T, D, B, H) with the direction axis moved
and merged (layout=1, batch-first: Y (B, T, D, H)); pygru's h_n (L*D, B, H) is ONNX's Y_h
(D, B, H) (layout=1: (B, D, H)). sequence_lens follows ONNX Runtime: outputs are zero past
each length and Y_h is the last valid state, pygru's lengths semantics.
"""
from typing import Any, Optional

import numpy as np

from .gru import GRU

__all__ = ["from_onnx", "to_onnx"]

# The rows of one gate block: ONNX z, r, h -> pygru r, z, n, and back.
_ONNX_TO_PYGRU = (1, 0, 2)


def _reorder(blocks, H, order):
    """(..., 3H, ...) on axis 0: the three H-row blocks in the given order."""
    return np.concatenate([blocks[g * H:(g + 1) * H] for g in order], axis=0)


def _attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _const_inputs(graph):
    """{name: array} of initializers and Constant node outputs."""
    import onnx
    from onnx import numpy_helper
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value":
                    values[n.output[0]] = numpy_helper.to_array(a.t)
                elif a.name in ("value_float", "value_floats", "value_int", "value_ints"):
                    values[n.output[0]] = np.array(onnx.helper.get_attribute_value(a))
    return values


def from_onnx(model_or_path: Any, node: Optional[str] = None) -> GRU:
    """A pygru GRU (eval mode) with the weights and configuration of an ONNX GRU node.

    model_or_path: an onnx.ModelProto or a path to one. node: the GRU node's name, when
    the graph has more than one. W, R and B must be initializers (or Constant outputs).
    Called with the node's X (and initial_h, sequence_lens as h0, lengths), the model
    returns the node's Y and Y_h reshaped as the module docstring says. Attributes
    pygru cannot honour (other activations, clip) raise ValueError naming them."""
    import onnx
    model = onnx.load(model_or_path) if not isinstance(model_or_path, onnx.ModelProto) \
        else model_or_path
    graph = model.graph
    grus = [n for n in graph.node if n.op_type == "GRU" and n.domain in ("", "ai.onnx")]
    if node is not None:
        grus = [n for n in grus if n.name == node]
    if len(grus) != 1:
        raise ValueError("from_onnx needs exactly one GRU node%s; the graph has %s" % (
            " named %r" % node if node is not None else " (pass node=NAME to choose)",
            ", ".join(repr(n.name) for n in grus) or "none"))
    n = grus[0]
    a = _attrs(n)
    D_of = {"forward": 1, "reverse": 1, "bidirectional": 2}
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in D_of:
        raise ValueError("from_onnx: GRU direction %r (forward, reverse or bidirectional)"
                         % direction)
    D = D_of[direction]
    acts = [x.decode() if isinstance(x, bytes) else x for x in a.get("activations", [])]
    if acts and [x.lower() for x in acts] != ["sigmoid", "tanh"] * D:
        raise ValueError("from_onnx: GRU activations %s cannot be honoured: pygru computes "
                         "Sigmoid and Tanh only" % acts)
    for unsupported in ("clip", "activation_alpha", "activation_beta"):
        if unsupported in a:
            raise ValueError("from_onnx: GRU attribute %r cannot be honoured by pygru"
                             % unsupported)
    lbr = int(a.get("linear_before_reset", 0))
    layout = int(a.get("layout", 0))
    if lbr not in (0, 1) or layout not in (0, 1):
        raise ValueError("from_onnx: linear_before_reset=%d, layout=%d (0 or 1)" % (lbr, layout))
    consts = _const_inputs(graph)
    ins = list(n.input) + [""] * (6 - len(n.input))

    def weight(i, what):
        if not ins[i]:
            return None
        if ins[i] not in consts:
            raise ValueError("from_onnx: the GRU's %s (%r) must be an initializer or a "
                             "Constant" % (what, ins[i]))
        return consts[ins[i]]

    W, R, B = weight(1, "W"), weight(2, "R"), weight(3, "B")
    if W is None or R is None:
        raise ValueError("from_onnx: the GRU has no W or R input")
    if W.ndim != 3 or W.shape[0] != D or W.shape[1] % 3:
        raise ValueError("from_onnx: W has shape %s; (%d, 3*hidden_size, input_size) expected"
                         % (W.shape, D))
    H, I = W.shape[1] // 3, W.shape[2]
    if "hidden_size" in a and int(a["hidden_size"]) != H:
        raise ValueError("from_onnx: hidden_size=%d but W has %d rows" % (a["hidden_size"], 3 * H))
    if R.shape != (D, 3 * H, H) or (B is not None and B.shape != (D, 6 * H)):
        raise ValueError("from_onnx: R %s / B %s do not fit W %s" % (
            R.shape, None if B is None else B.shape, W.shape))
    dtype = np.float64 if W.dtype == np.float64 else np.float32

    gru = GRU(I, H, bias=B is not None, batch_first=layout == 1, bidirectional=D == 2,
              reverse=direction == "reverse", reset_after=lbr == 1, dtype=dtype)
    state = {}
    for d in range(D):
        sfx = "_l0" + ("_reverse" if d == 1 else "")
        state["weight_ih" + sfx] = _reorder(W[d], H, _ONNX_TO_PYGRU)
        state["weight_hh" + sfx] = _reorder(R[d], H, _ONNX_TO_PYGRU)
        if B is not None:
            state["bias_ih" + sfx] = _reorder(B[d, :3 * H], H, _ONNX_TO_PYGRU)
            state["bias_hh" + sfx] = _reorder(B[d, 3 * H:], H, _ONNX_TO_PYGRU)
    gru.load_state_dict(state)
    return gru.eval()


def to_onnx(gru: GRU, path: str, initial_h: bool = False, sequence_lens: bool = False,
            opset: int = 17) -> str:
    """Writes ``gru`` (a pygru GRU) as an ONNX model that ONNX Runtime runs with pygru's
    results: one GRU node per layer (W, R, B in ONNX's z, r, h order, direction and
    linear_before_reset from the model), with Transpose/Reshape between layers.

    Inputs: "x" (T, B, I), or (B, T, I) for batch_first; with initial_h=True also
    "initial_h" (L*D, B, H); with sequence_lens=True also "sequence_lens" (B,) int32.
    Outputs: "output" (the shape of pygru's output) and "h_n" (L*D, B, H). The file is
    checked with onnx.checker; its IR version is 8 (ONNX Runtime reads <= 13; onnx >= 1.23
    would otherwise write 14). A float64 model exports as float64 (valid ONNX, but ONNX
    Runtime 1.32 has no double GRU kernel). An int8 or bf16 model (gru.quantize) exports
    its dequantized float32 weights, with a warning: ONNX's GRU has no quantized form,
    so ONNX Runtime runs it in float32 and its results differ from the quantized
    model's. layer_norm, zoneout and augru raise ValueError (ONNX's GRU operator has no
    layer normalisation and no attention input; zoneout's inference is not a plain GRU);
    weight_dropout is training-only and not carried (the exported model is the same
    inference function). Returns the path."""
    if getattr(gru, "_cfg", {}).get("layer_norm"):
        raise ValueError("to_onnx: layer_norm=True (layer-normalised projections) has no "
                         "equivalent in ONNX's GRU operator")
    if gru._config().get("augru"):
        raise ValueError("to_onnx: augru=True (DIEN's attentional update gate) has no ONNX "
                         "GRU form (ONNX's GRU operator has no attention input)")
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    fmt = getattr(gru, "format", None)
    if fmt in ("int8", "bf16"):
        import warnings
        warnings.warn("to_onnx: this %s model is exported with its dequantized float32 "
                      "weights (ONNX's GRU has no %s form); ONNX Runtime runs it in float32"
                      % (fmt, fmt), UserWarning, stacklevel=2)
    cfg = gru._config()
    if cfg.get("zoneout"):
        raise ValueError("to_onnx: zoneout=%r has no ONNX GRU equivalent (its inference "
                         "blends the previous and the new state: not a plain GRU)"
                         % cfg["zoneout"])
    # weight_dropout (DropConnect) is training-only: the inference exported is the plain
    # GRU with weight_hh as it is
    L, H, I = cfg["num_layers"], cfg["hidden_size"], cfg["input_size"]
    D = 2 if cfg["bidirectional"] else 1
    bf = cfg["batch_first"]
    direction = "bidirectional" if D == 2 else "reverse" if cfg["reverse"] else "forward"
    dt = np.dtype(cfg["dtype"])
    elem = TensorProto.DOUBLE if dt == np.float64 else TensorProto.FLOAT
    pygru_to_onnx = (1, 0, 2)   # r, z, n -> z, r, h (the same swap)
    sd = gru.state_dict()
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    x_in = "x"
    cur = x_in
    if bf:
        nodes.append(helper.make_node("Transpose", [cur], ["x_tm"], perm=[1, 0, 2]))
        cur = "x_tm"
    h_outs = []
    for l in range(L):
        Ws, Rs, Bs = [], [], []
        for d in range(D):
            sfx = "_l%d" % l + ("_reverse" if d == 1 else "")
            Ws.append(_reorder(sd["weight_ih" + sfx], H, pygru_to_onnx))
            Rs.append(_reorder(sd["weight_hh" + sfx], H, pygru_to_onnx))
            if cfg["bias"]:
                Bs.append(np.concatenate([_reorder(sd["bias_ih" + sfx], H, pygru_to_onnx),
                                          _reorder(sd["bias_hh" + sfx], H, pygru_to_onnx)]))
            else:
                Bs.append(np.zeros(6 * H, dt))
        w = init("W_l%d" % l, np.stack(Ws).astype(dt))
        r = init("R_l%d" % l, np.stack(Rs).astype(dt))
        b = init("B_l%d" % l, np.stack(Bs).astype(dt))
        h0 = ""
        if initial_h:
            h0 = "initial_h_l%d" % l
            nodes.append(helper.make_node(
                "Slice", ["initial_h", init("h0_start_l%d" % l, np.array([l * D], np.int64)),
                          init("h0_end_l%d" % l, np.array([(l + 1) * D], np.int64)),
                          init("h0_axes_l%d" % l, np.array([0], np.int64))], [h0]))
        y, yh = "Y_l%d" % l, "Y_h_l%d" % l
        nodes.append(helper.make_node(
            "GRU", [cur, w, r, b, "sequence_lens" if sequence_lens else "", h0], [y, yh],
            name="gru_l%d" % l, hidden_size=H, direction=direction,
            linear_before_reset=int(cfg["reset_after"])))
        # (T, D, B, H) -> (T, B, D, H) -> (T, B, D*H)
        nodes.append(helper.make_node("Transpose", [y], ["Y_tbdh_l%d" % l], perm=[0, 2, 1, 3]))
        out_l = "out_l%d" % l
        nodes.append(helper.make_node("Reshape", ["Y_tbdh_l%d" % l,
                                                  init("shape_l%d" % l,
                                                       np.array([0, 0, D * H], np.int64))],
                                      [out_l]))
        cur = out_l
        h_outs.append(yh)
    if bf:
        nodes.append(helper.make_node("Transpose", [cur], ["output"], perm=[1, 0, 2]))
    else:
        nodes.append(helper.make_node("Identity", [cur], ["output"]))
    nodes.append(helper.make_node("Concat", h_outs, ["h_n"], axis=0) if L > 1
                 else helper.make_node("Identity", h_outs, ["h_n"]))
    T_, B_ = "seq_len", "batch"
    inputs = [helper.make_tensor_value_info(x_in, elem, [B_, T_, I] if bf else [T_, B_, I])]
    if initial_h:
        inputs.append(helper.make_tensor_value_info("initial_h", elem, [L * D, B_, H]))
    if sequence_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [B_]))
    outputs = [helper.make_tensor_value_info("output", elem,
                                             [B_, T_, D * H] if bf else [T_, B_, D * H]),
               helper.make_tensor_value_info("h_n", elem, [L * D, B_, H])]
    graph = helper.make_graph(nodes, "pygru_GRU", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pygru")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
