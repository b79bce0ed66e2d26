"""bench/onnx_gru.py - an ONNX model of a torch.nn.GRU, built with onnx.helper, for
ONNX Runtime.

One ONNX GRU node per layer (linear_before_reset=1, which is PyTorch's formula
n = tanh(W_in x + b_in + r * (W_hn h + b_hn))), direction "forward" or
"bidirectional"; between layers Y (T, D, B, H) is transposed to (T, B, D, H) and
reshaped to (T, B, D*H), the next layer's input. Final states of all layers are
concatenated into h_n (L*D, B, H), PyTorch's order.

Weight conversion (PyTorch rows r, z, n -> ONNX rows z, r, h):
  W[d] = weight_ih_l{l}[z; r; n]           (D, 3H, in)
  R[d] = weight_hh_l{l}[z; r; n]           (D, 3H, H)
  B[d] = [bias_ih_l{l}[z; r; n], bias_hh_l{l}[z; r; n]]   (D, 6H)

Guarantees: the graph's inputs are X (T, B, I) and, if with_initial_h, initial_h
(L*D, B, H); its outputs are Y (T, B, D*H) and h_n (L*D, B, H), float32. The model's
IR version is lowered until the installed onnxruntime accepts it (onnx >= 1.23
writes a newer IR version than some runtimes load). Correctness is not assumed: the
harness compares every session with torch before timing it.
"""
import numpy as np

OPSET = 17   # GRU-14 semantics; a version every maintained onnxruntime supports


def _zrn(m, H):
    """Rows of a (3H, ...) or (3H,) PyTorch block reordered r, z, n -> z, r, n."""
    return np.concatenate([m[H:2 * H], m[0:H], m[2 * H:3 * H]], axis=0)


def onnx_weights(state_dict, layer, hidden_size, bidirectional):
    """(W (D, 3H, in), R (D, 3H, H), B (D, 6H)) float32 for one layer, from a torch
    state dict (tensors or arrays)."""
    H = hidden_size
    suffixes = [""] + (["_reverse"] if bidirectional else [])
    Ws, Rs, Bs = [], [], []
    for s in suffixes:
        def get(name):
            v = state_dict[name % layer + s]
            v = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
            return v.astype(np.float32)
        Ws.append(_zrn(get("weight_ih_l%d"), H))
        Rs.append(_zrn(get("weight_hh_l%d"), H))
        Bs.append(np.concatenate([_zrn(get("bias_ih_l%d"), H), _zrn(get("bias_hh_l%d"), H)]))
    return np.stack(Ws), np.stack(Rs), np.stack(Bs)


def build_model(state_dict, input_size, hidden_size, num_layers=1, bidirectional=False,
                with_initial_h=False):
    """onnx.ModelProto of the GRU (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, L = hidden_size, num_layers
    D = 2 if bidirectional else 1
    nodes, inits = [], []
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", input_size])]
    if with_initial_h:
        inputs.append(helper.make_tensor_value_info("initial_h", TensorProto.FLOAT,
                                                    [L * D, "B", H]))
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape_TB_"))
    x_name = "X"
    h_names = []
    for l in range(L):
        W, R, B = onnx_weights(state_dict, l, H, bidirectional)
        for name, arr in (("W%d" % l, W), ("R%d" % l, R), ("B%d" % l, B)):
            inits.append(numpy_helper.from_array(arr, name))
        gru_inputs = [x_name, "W%d" % l, "R%d" % l, "B%d" % l]
        if with_initial_h:
            # This layer's slice of initial_h: rows l*D .. l*D+D-1.
            inits.append(numpy_helper.from_array(np.array([l * D], np.int64), "h_start%d" % l))
            inits.append(numpy_helper.from_array(np.array([(l + 1) * D], np.int64),
                                                 "h_end%d" % l))
            inits.append(numpy_helper.from_array(np.array([0], np.int64), "h_axis%d" % l))
            nodes.append(helper.make_node("Slice", ["initial_h", "h_start%d" % l,
                                                    "h_end%d" % l, "h_axis%d" % l],
                                          ["h0_%d" % l]))
            gru_inputs += ["", "h0_%d" % l]   # no sequence_lens
        nodes.append(helper.make_node(
            "GRU", gru_inputs, ["Y%d" % l, "Yh%d" % l], hidden_size=H,
            linear_before_reset=1,
            direction="bidirectional" if bidirectional else "forward"))
        # Y (T, D, B, H) -> (T, B, D, H) -> (T, B, D*H)
        nodes.append(helper.make_node("Transpose", ["Y%d" % l], ["Yt%d" % l], perm=[0, 2, 1, 3]))
        out_name = "Y" if l == L - 1 else "X%d" % (l + 1)
        nodes.append(helper.make_node("Reshape", ["Yt%d" % l, "shape_TB_"], [out_name]))
        x_name = out_name
        h_names.append("Yh%d" % l)
    if L == 1:
        nodes.append(helper.make_node("Identity", h_names, ["h_n"]))
    else:
        nodes.append(helper.make_node("Concat", h_names, ["h_n"], axis=0))
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", "B", D * H]),
               helper.make_tensor_value_info("h_n", TensorProto.FLOAT, [L * D, "B", H])]
    graph = helper.make_graph(nodes, "pygru_bench_gru", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="pygru-bench")
    onnx.checker.check_model(model)
    return model


def make_session(model, threads, spinning=False):
    """An onnxruntime.InferenceSession of the model on the CPU with `threads`
    intra-op threads (inter-op 1, sequential execution). Intra-op spinning is off by
    default: spinning pool threads would keep burning a core while the next
    contender runs. Lowers model.ir_version until the runtime loads it."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    first_error, newest = None, model.ir_version
    for ir in range(newest, 6, -1):
        model.ir_version = ir
        try:
            return ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:   # e.g. "Unsupported model IR version": try lower
            if first_error is None:
                first_error = exc
            if "IR version" not in str(exc) and "ir_version" not in str(exc):
                raise
    raise RuntimeError("onnxruntime loads none of IR versions %d..7: %s"
                       % (newest, first_error))
