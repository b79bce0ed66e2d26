"""bench/published.py - the published GRU shapes of issue 15 as rows of bench/compare.py
(`--set published`), and the bound each row is measured against.

    .venv/bin/python bench/compare.py --set published --json published.json
    .venv/bin/python bench/compare.py --set published --shapes-filter deepbench-h512,lpcnet

Rows (float32, I = H unless said; names are what --shapes-filter matches):
  deepbench-h{H}-b{B}  DeepBench's GRU inference server set (baidu-research/DeepBench,
                       code/kernels/rnn_problems.h, inference_server_set): H = 512,
                       1024, 1536, 2048, 2560, 2816, B = 1, 2, 4, input size = H. DeepBench
                       runs T = 187..1500 (T = 1 for H = 512); here T = --published-T
                       (default 25) so that the slowest call (H = 2816, B = 4: 190 MB of
                       weights streamed from DRAM every step) stays well under a second
                       on a 2-core machine; per-step times do not depend on T once the
                       sequence is longer than a few steps.
  ds2-mxnet            DeepSpeech2's GRU layer as MXNet benchmarked its fused CPU GRU
                       (apache/mxnet PR #10311): T 300, B 20, I = H = 800; inference 48 ms
                       on a 2-socket Skylake Xeon Gold 6148 (40 cores, MKL).
  ort-pr644-b{B}-h{H}  ONNX Runtime's GRU timings (microsoft/onnxruntime PR #644): T 30,
                       B 8, 16, 32, I = H = 512 and 1024; the PR's "new" column: 10.47,
                       15.15, 26.89 ms and 55.67, 72.32, 112.78 ms (machine not stated).
  rnnoise-3x384        RNNoise's newer model (xiph/rnnoise, rnnoise_data.h: GRU1..3 of 384
                       units, each fed 384 values): three stacked one-step layers, I = H =
                       384, B = 1, state fed back: the work of one 10 ms audio frame.
  lpcnet-384           LPCNet's main GRU (GRU_A, 384 units) as one step, I = H = 384, B = 1
                       (LPCNet itself folds its input product into embedding tables; the
                       row keeps the full step).

Bounds. Every row gets the time no implementation can beat on this machine, from two
measured ceilings:
  * compute: the matmul FLOPs (contenders.forward_flops) at the measured FMA peak
    (compare.py's reference: threads x one core's bench/fma_peak.c figure);
  * weight reads: the bytes of weights the row must read at bench/read_bw.c's measured
    bandwidth over a buffer of the weights' size (so it lives in the same cache level,
    decided from /sys/devices/system/cpu/cpu0/cache, machine.weight_level). A sequence
    must read W_hh (3H x H) at every step - h_t needs h_{t-1} - and W_ih (3H x I) at
    least once (every contender projects the inputs of many steps in one GEMM); a step
    reads all of 3H(I+H) per layer. The level is that of one layer's 3H(I+H) floats
    for a sequence (layers run one after the other), of every layer's for a step.
The bound is the larger of the two times ("FMA" or "L3 read", ...); "%bnd" = bound time /
measured time (100 % = at the ceiling). The rows with B <= 4 are the GEMV / skinny-GEMM
ones where the read bound is expected to apply; the table says which one does.

Guarantees: rows() returns the set in a fixed order and refuses a filter that matches
nothing; bounds() only reads a finished compare.py result and the measured ceilings.
"""
import math

import contenders as C

DEEPBENCH_H = (512, 1024, 1536, 2048, 2560, 2816)
DEEPBENCH_B = (1, 2, 4)
ORT_PR644_MS = {(8, 512): 10.47, (16, 512): 15.15, (32, 512): 26.89,
                (8, 1024): 55.67, (16, 1024): 72.32, (32, 1024): 112.78}

SOURCES = {
    "deepbench": "baidu-research/DeepBench code/kernels/rnn_problems.h, inference_server_set "
                 "(GRU, input = hidden; T 187-1500, here --published-T)",
    "ds2-mxnet": "apache/mxnet PR #10311 (fused CPU GRU): DS2 layer, 48 ms inference on "
                 "2 x Xeon Gold 6148, 40 cores, MKL",
    "ort-pr644": "microsoft/onnxruntime PR #644 (GRU batch >= 2 tuning), 'new' column",
    "rnnoise": "xiph/rnnoise rnnoise_data.h: GRU1..GRU3, 384 units each",
    "lpcnet": "LPCNet (Valin & Skoglund 2019): GRU_A of 384 units, one step per sample",
}


class Row:
    """One published shape: kind "seq" (a forward over T steps, compare.py's infer /
    train modes) or "step" (one step of every layer, B = 1, state fed back)."""

    def __init__(self, name, kind, shape, source, published=None):
        self.name, self.kind, self.shape, self.source = name, kind, shape, source
        self.published = published   # {"seconds", "text"} or None

    def as_dict(self):
        return {"name": self.name, "kind": self.kind, "shape": self.shape.as_dict(),
                "source": self.source, "published": self.published}


def rows(T=25, filters=None):
    """The published set, in order; filters: substrings, a row is kept when its name
    contains any of them (None: every row). ValueError when nothing matches."""
    out = []
    for H in DEEPBENCH_H:
        for B in DEEPBENCH_B:
            out.append(Row("deepbench-h%d-b%d" % (H, B), "seq", C.Shape(T, B, H, H),
                           SOURCES["deepbench"]))
    out.append(Row("ds2-mxnet", "seq", C.Shape(300, 20, 800, 800), SOURCES["ds2-mxnet"],
                   {"seconds": 0.048, "text": "MXNet fused GRU, 40 Xeon cores: 48 ms"}))
    for H in (512, 1024):
        for B in (8, 16, 32):
            ms = ORT_PR644_MS[(B, H)]
            out.append(Row("ort-pr644-b%d-h%d" % (B, H), "seq", C.Shape(30, B, H, H),
                           SOURCES["ort-pr644"],
                           {"seconds": ms * 1e-3, "text": "ORT PR #644: %.2f ms" % ms}))
    out.append(Row("rnnoise-3x384", "step", C.Shape(1, 1, 384, 384, L=3), SOURCES["rnnoise"]))
    out.append(Row("lpcnet-384", "step", C.Shape(1, 1, 384, 384), SOURCES["lpcnet"]))
    if filters:
        keep = [r for r in out if any(f in r.name for f in filters)]
        if not keep:
            raise ValueError("--shapes-filter %s matches no published row (names: %s)"
                             % (",".join(filters), ", ".join(r.name for r in out)))
        out = keep
    return out


def layer_inputs(shape):
    """The input width of each layer-direction: I, then D*H."""
    return [shape.I if l == 0 else shape.D * shape.H for l in range(shape.L)
            for _ in range(shape.D)]


def weight_bytes(shape, kind):
    """(bytes read per call at the least, bytes resident while it runs), float32.
    seq: per layer-direction T x 3H x H (W_hh, every step) + 3H x in (W_ih, once);
    resident: the largest layer-direction's 3H(in + H). step: every layer's 3H(in + H),
    read once and all resident."""
    H = shape.H
    per_layer = [4 * 3 * H * (i + H) for i in layer_inputs(shape)]
    if kind == "step":
        return sum(per_layer), sum(per_layer)
    read = sum(4 * (shape.T * 3 * H * H + 3 * H * i) for i in layer_inputs(shape))
    return read, max(per_layer)


def bounds(res, row, peak_gflops, bandwidth):
    """The bound of a finished compare.py result res for its row. bandwidth: a
    machine.measure_read_bandwidth() result over the row's resident weight bytes on
    res["threads"] threads. Returns {"bound", "level", "t_fma", "t_read", "t_bound",
    "read_bytes", "resident_bytes", "gbps", "peak_gflops", "steps", "contenders":
    {name: {"us_per_step", "pct_bound", "pct_fma", "pct_read"}}}."""
    shape = row.shape
    mode = res["mode"]
    read, resident = weight_bytes(shape, row.kind)
    if mode == "train":      # forward + backward: the weights are read again by backward
        read *= 2
    flops = res["flops"]
    gbps = bandwidth.get("gbps") if bandwidth else None
    t_fma = flops / (peak_gflops * 1e9) if peak_gflops else None
    t_read = read / (gbps * 1e9) if gbps else None
    level = (bandwidth or {}).get("level")
    cands = [(t, n) for t, n in ((t_fma, "FMA"), (t_read, "%s read" % level)) if t]
    t_bound, name = max(cands) if cands else (None, None)
    steps = shape.T if row.kind == "seq" else 1
    out = {"bound": name, "level": level, "t_fma": t_fma, "t_read": t_read,
           "t_bound": t_bound, "read_bytes": read, "resident_bytes": resident,
           "gbps": gbps, "peak_gflops": peak_gflops, "steps": steps, "contenders": {}}
    for cname, e in res["contenders"].items():
        if e.get("status") != "ok":
            continue
        med = e["median"]
        out["contenders"][cname] = {
            "us_per_step": med / steps * 1e6,
            "pct_bound": 100.0 * t_bound / med if t_bound else None,
            "pct_fma": 100.0 * t_fma / med if t_fma else None,
            "pct_read": 100.0 * t_read / med if t_read else None}
    return out


def _num(v, fmt):
    return "-" if v is None or not math.isfinite(v) else fmt % v


def print_bounds(results, out):
    """The per-row table of the published set: per-step times, the bound that applies,
    each contender's % of it, and the published figure where there is one."""
    head = "%-20s %-6s %3s | %-10s %9s | %9s %9s %9s | %5s %5s %5s | %s" % (
        "published row", "mode", "thr", "bound", "bound/st", "pygru/st", "torch/st",
        "ort/st", "%bnd:p", "t", "o", "published")
    print(head, file=out)
    print("-" * len(head), file=out)
    for res in results:
        b = res.get("bound")
        if b is None:
            continue
        cs = b["contenders"]

        def us(n, key="us_per_step"):
            return _num(cs.get(n, {}).get(key), "%.1f" if key == "us_per_step" else "%.0f")
        pub = res.get("published") or {}
        ptxt = pub.get("text", "")
        if pub.get("seconds") and "pygru" in cs:
            ptxt += " (pygru %.2fx its time)" % (
                res["contenders"]["pygru"]["median"] / pub["seconds"])
        print("%-20s %-6s %3d | %-10s %9s | %9s %9s %9s | %5s %5s %5s | %s" % (
            res["row"], res["mode"], res["threads"], b["bound"] or "-",
            _num(b["t_bound"] / b["steps"] * 1e6 if b["t_bound"] else None, "%.1f"),
            us("pygru"), us("torch"), us("ort"),
            us("pygru", "pct_bound"), us("torch", "pct_bound"), us("ort", "pct_bound"),
            ptxt), file=out)
    print("per-step times in us (call median / T); bound: the larger of the FMA-peak time "
          "and the weight-read time (W_hh every step + W_ih once; a step: all weights) at "
          "bench/read_bw.c's bandwidth in the weights' cache level; %bnd = bound / "
          "measured", file=out)
