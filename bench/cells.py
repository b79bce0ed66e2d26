#!/usr/bin/env python3
"""bench/cells.py - the training time (forward + backward) of pygru's GRU variants
against the plain GRU of the same size: layer_norm=True, zoneout=0.1,
weight_dropout=0.3 and augru=True (with an attention input), on 1 thread (and 2 with
--threads 1,2).

    .venv/bin/python bench/cells.py                    # the 3 default rows, 1 thread
    .venv/bin/python bench/cells.py --quick            # smoke run (< 1 min)
    .venv/bin/python bench/cells.py --threads 1,2 --json cells.json --txt cells.txt
    .venv/bin/python bench/cells.py --shapes 100,32,128,128 --contenders plain,layer_norm

Method: bench/timing.py, as compare.py and quant_compare.py (bench/README.md): in one
process, a warm-up, then rounds in which every contender runs k individually timed
training calls (forward in training mode, then backward with a fixed output gradient),
alternately; medians and IQRs of the calls; ratios variant / plain paired per round
(median and quartiles over rounds). Targets: layer_norm <= 1.3x, zoneout and
weight_dropout <= 1.1x the plain GRU's time; augru is reported without a target.

Correctness gate, before anything is timed (a failed gate is reported, the variant is
not timed, and the run exits 1); every variant is built with the same weights as the
plain GRU:
  * every variant against a float64 torch autograd reference written here (_reference):
    output, h_n, grad_x, grad_h0, the gradients of the four plain weights and, for augru,
    grad_attention; layer_norm in training mode with its initial gains 1 and biases 0;
    zoneout and weight_dropout in training mode with the masks the GRU reports for its
    last forward (zoneout_masks(), weight_dropout_masks()), and in eval mode (zoneout:
    h = p h_prev + (1-p) h_new; weight_dropout: unmasked);
  * the neutral settings against the plain GRU: zoneout=0 and weight_dropout=0 in
    training mode, augru with attention 1 (h' = (1 - (1-z)) h + (1-z) n is the plain
    update up to rounding).
The gate's tolerance is 1e-4 relative to the largest reference value (float32 results).

A variant this pygru does not have (pygru.GRU without the keyword argument) is reported
"unavailable" and not timed; the plain GRU always runs.
"""
import argparse
import inspect
import io
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import compare  # noqa: E402
import contenders as C  # noqa: E402
import machine  # noqa: E402
import timing  # noqa: E402

DEFAULT_SHAPES = ["100,64,512,512", "50,32,256,256", "100,32,128,128"]
QUICK_SHAPES = ["20,8,32,32", "10,4,16,24"]
# name: (pygru.GRU keyword arguments, the keyword that must exist, target ratio or None)
VARIANTS = {
    "plain": ({}, None, None),
    "layer_norm": ({"layer_norm": True}, "layer_norm", 1.3),
    "zoneout": ({"zoneout": 0.1}, "zoneout", 1.1),
    "weight_dropout": ({"weight_dropout": 0.3}, "weight_dropout", 1.1),
    "augru": ({"augru": True}, "augru", None),
}
NAMES = tuple(VARIANTS)
TOLERANCE = 1e-4
LN_EPS = 1e-5
PLAIN_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 tiny shapes, target 0.1 s, 3-6 rounds")
    p.add_argument("--shapes", nargs="+", metavar="T,B,I,H",
                   help="shapes (default %s; quick %s)" % (" ".join(DEFAULT_SHAPES),
                                                            " ".join(QUICK_SHAPES)))
    p.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    p.add_argument("--contenders", default=",".join(NAMES),
                   help="comma-separated subset of %s (plain always runs: it is the "
                        "reference of the ratios)" % ",".join(NAMES))
    p.add_argument("--target", type=float, default=None,
                   help="seconds each contender spends per case (default 1.5; quick 0.1)")
    p.add_argument("--min-rounds", type=int, default=None, help="default 7 (quick 3)")
    p.add_argument("--max-rounds", type=int, default=None, help="default 25 (quick 6)")
    p.add_argument("--warmup", type=float, default=None, help="default 0.3 s (quick 0.03)")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH")
    p.add_argument("--txt", metavar="PATH", help="write the printed table to PATH too")
    a = p.parse_args(argv)
    for name, full, fast in (("target", 1.5, 0.1), ("min_rounds", 7, 3), ("max_rounds", 25, 6),
                             ("warmup", 0.3, 0.03)):
        if getattr(a, name) is None:
            setattr(a, name, fast if a.quick else full)
    for name in ("target", "warmup"):
        if not getattr(a, name) > 0:
            p.error("--%s must be > 0; got %r" % (name, getattr(a, name)))
    if not 1 <= a.min_rounds <= a.max_rounds:
        p.error("need 1 <= --min-rounds <= --max-rounds; got %d and %d"
                % (a.min_rounds, a.max_rounds))
    try:
        a.thread_list = [int(t) for t in a.threads.split(",") if t.strip()]
    except ValueError:
        a.thread_list = []
    if not a.thread_list or min(a.thread_list) < 1:
        p.error("--threads must be integers >= 1 separated by commas; got %r" % a.threads)
    names = [n.strip() for n in a.contenders.split(",") if n.strip()]
    for n in names:
        if n not in NAMES:
            p.error("--contenders: unknown %r (choose from %s)" % (n, ", ".join(NAMES)))
    a.names = [n for n in NAMES if n in names or n == "plain"]
    shapes = a.shapes if a.shapes is not None else (QUICK_SHAPES if a.quick else DEFAULT_SHAPES)
    a.shape_list = []
    for spec in shapes:
        try:
            s = C.Shape.parse(spec)
        except ValueError as exc:
            p.error(str(exc))
        if s.L != 1 or s.bidir:
            p.error("--shapes %r: bench/cells.py times one unidirectional layer (T,B,I,H)"
                    % spec)
        a.shape_list.append(s)
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def available(name):
    """True if this pygru.GRU takes the variant's keyword argument."""
    import pygru
    option = VARIANTS[name][1]
    return option is None or option in inspect.signature(pygru.GRU.__init__).parameters


# ---- the reference --------------------------------------------------------------------

def _reference(w, x, attention, grad, mode, p=0.0, zoneout_mask=None, weight_mask=None):
    """float64 torch autograd GRU (torch's gate layout r, z, n; reset_after) with the
    variant `mode`: "plain", "layer_norm" (LN over W_ih x and over W_hh h, 3H wide, gain
    1 and bias 0, before the biases), "zoneout_eval" (h = p h_prev + (1-p) h_new),
    "augru" (u = a (1 - z), h' = (1 - u) h + u n). w: the four plain weights (NumPy);
    x (T, B, I); attention (T, B) or None; grad (T, B, H) dLoss/d output;
    zoneout_mask (T, B, H): 1 where a unit keeps h_prev (training zoneout), or None;
    weight_mask (3H, H): the DropConnect mask M (W_hh is used as M * W_hh), or None. Returns
    {name: ndarray}: output, h_n, grad_x, grad_h0, grad_<weight> [, grad_attention]."""
    import torch
    t = {k: torch.tensor(np.asarray(v, np.float64), requires_grad=True) for k, v in w.items()}
    W_ih, W_hh, b_ih, b_hh = (t[k] for k in PLAIN_KEYS)
    H = W_hh.shape[1]
    xt = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    at = None if attention is None else torch.tensor(np.asarray(attention, np.float64),
                                                     requires_grad=True)
    h0 = torch.zeros(x.shape[1], H, dtype=torch.float64, requires_grad=True)
    W_rec = W_hh if weight_mask is None else torch.tensor(
        np.asarray(weight_mask, np.float64)) * W_hh      # (3H, H)

    def ln(v):
        m = v.mean(-1, keepdim=True)
        var = ((v - m) ** 2).mean(-1, keepdim=True)
        return (v - m) / torch.sqrt(var + LN_EPS)

    gx = xt @ W_ih.t()                                   # (T, B, 3H)
    if mode == "layer_norm":
        gx = ln(gx)
    gx = gx + b_ih
    h, outs = h0, []
    for s in range(x.shape[0]):
        gh = h @ W_rec.t()                               # (B, 3H)
        if mode == "layer_norm":
            gh = ln(gh)
        gh = gh + b_hh
        r = torch.sigmoid(gx[s, :, :H] + gh[:, :H])
        z = torch.sigmoid(gx[s, :, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gx[s, :, 2 * H:] + r * gh[:, 2 * H:])
        if mode == "augru":
            u = at[s][:, None] * (1 - z)
            h_new = (1 - u) * h + u * n
        else:
            h_new = (1 - z) * n + z * h
        if mode == "zoneout_eval":
            h_new = p * h + (1 - p) * h_new
        if zoneout_mask is not None:
            m = torch.tensor(np.asarray(zoneout_mask[s], np.float64))
            h_new = m * h + (1 - m) * h_new
        h = h_new
        outs.append(h)
    out = torch.stack(outs)
    out.backward(torch.tensor(np.asarray(grad, np.float64)))
    ref = {"output": out.detach().numpy(), "h_n": h.detach().numpy()[None],
           "grad_x": xt.grad.numpy(), "grad_h0": h0.grad.numpy()[None]}
    for k in PLAIN_KEYS:
        ref["grad_" + k] = t[k].grad.numpy()
    if at is not None:
        ref["grad_attention"] = at.grad.numpy()
    return ref


# ---- contenders -------------------------------------------------------------------------

class Case:
    """One shape's data: x (T, B, I), attention (T, B) in (0, 1], output gradient
    (T, B, H), and the weights every contender starts from."""

    def __init__(self, shape, seed=0):
        import pygru
        s = self.shape = shape
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((s.T, s.B, s.I)).astype(np.float32)
        self.attention = rng.uniform(0.05, 1.0, (s.T, s.B)).astype(np.float32)
        self.grad = rng.standard_normal((s.T, s.B, s.H)).astype(np.float32)
        base = pygru.GRU(s.I, s.H, seed=seed)
        self.weights = {k: v.copy() for k, v in base.state_dict().items()}

    def model(self, name, **override):
        """A pygru.GRU of the variant, with the plain weights loaded (the variant's own
        parameters, e.g. layer_norm's gains, keep their initial values)."""
        import pygru
        options = dict(VARIANTS[name][0], **override)
        m = pygru.GRU(self.shape.I, self.shape.H, seed=1, **options)
        m.load_state_dict(self.weights, strict=False)
        m.train()
        return m


def run_model(m, case, attention=None, training=True):
    """forward (+ backward in training mode) -> {name: ndarray} like _reference."""
    m.train(training)
    m.zero_grad()
    kw = {} if attention is None else {"attention": attention}
    out, h_n = m(case.x, **kw)
    res = {"output": out, "h_n": h_n}
    if training:
        grads = m.backward(case.grad)
        res["grad_x"], res["grad_h0"] = grads[0], grads[1]
        if attention is not None:
            res["grad_attention"] = grads[2]
        for k in PLAIN_KEYS:
            res["grad_" + k] = m.grads[k].copy()
    return res


def compare_results(got, ref):
    """{tensor: relative error} over the tensors both have (C.rel_err: max abs diff /
    max abs reference); a tensor missing from got counts as inf."""
    return {k: C.rel_err(got[k], ref[k]) if k in got else float("inf") for k in ref}


def gate(name, case):
    """The correctness checks of the variant (see the module docstring):
    {check name: {tensor: relative error}}."""
    w = case.weights
    checks = {}
    if name == "plain":
        checks["vs reference"] = compare_results(
            run_model(case.model("plain"), case), _reference(w, case.x, None, case.grad, "plain"))
    elif name == "layer_norm":
        checks["vs reference"] = compare_results(
            run_model(case.model(name), case),
            _reference(w, case.x, None, case.grad, "layer_norm"))
    elif name in ("zoneout", "weight_dropout"):
        p = VARIANTS[name][0][name]
        eval_ref = _reference(w, case.x, None, case.grad,
                              "zoneout_eval" if name == "zoneout" else "plain", p=p)
        got = run_model(case.model(name), case, training=False)
        checks["eval vs reference"] = compare_results(
            got, {k: eval_ref[k] for k in ("output", "h_n")})
        # training mode with the masks the library reports (if it reports them)
        m = case.model(name)
        got = run_model(m, case)
        masks = getattr(m, "zoneout_masks" if name == "zoneout" else "weight_dropout_masks",
                        None)
        if masks is not None:
            mask = masks()[(0, 0)]
            checks["training vs reference with its masks"] = compare_results(got, _reference(
                w, case.x, None, case.grad, "plain",
                **{"zoneout_mask" if name == "zoneout" else "weight_mask": mask}))
        plain = run_model(case.model("plain"), case)
        checks["p=0 vs plain"] = compare_results(run_model(case.model(name, **{name: 0.0}),
                                                           case), plain)
    elif name == "augru":
        checks["vs reference"] = compare_results(
            run_model(case.model(name), case, attention=case.attention),
            _reference(w, case.x, case.attention, case.grad, "augru"))
        ones = np.ones_like(case.attention)
        got = run_model(case.model(name), case, attention=ones)
        got.pop("grad_attention", None)
        checks["a=1 vs plain"] = compare_results(got, run_model(case.model("plain"), case))
    return checks


def contender(name, case):
    """The timed call: forward in training mode + backward, the variant's options."""
    m = case.model(name)
    a = case.attention if name == "augru" else None
    kw = {} if a is None else {"attention": a}
    x, g = case.x, case.grad

    def call():
        m(x, **kw)
        m.backward(g)
    return timing.Contender(name, call)


# ---- one case ------------------------------------------------------------------------------

def run_case(case, args):
    res = {"contenders": {}, "ratios": {}}
    active, estimates = [], {}
    for name in NAMES:
        if name not in args.names:
            res["contenders"][name] = {"status": "not selected"}
            continue
        if not available(name):
            res["contenders"][name] = {"status": "unavailable (this pygru.GRU has no %s)"
                                       % VARIANTS[name][1]}
            continue
        entry = res["contenders"][name] = {}
        try:
            checks = gate(name, case)
        except Exception as exc:   # an API mismatch is reported, not fatal to the others
            entry["status"] = "error: %s: %s" % (type(exc).__name__, str(exc).split("\n")[0])
            continue
        worst = max((e for c in checks.values() for e in c.values()), default=0.0)
        entry["check"] = {"max_rel_err": worst, "checks": checks, "tolerance": TOLERANCE}
        if not np.isfinite(worst) or worst > TOLERANCE:
            entry["status"] = "FAILED check"
            continue
        c = contender(name, case)
        active.append(c)
        estimates[name] = timing.warm_up(c, args.warmup, max_s=0.5 if args.quick else None)
    if not active:
        return res
    t = timing.interleave(active, estimates, args.target, args.min_rounds, args.max_rounds)
    res["rounds"], res["load"] = t["rounds"], t["load"]
    for c in active:
        res["contenders"][c.name].update(
            status="ok", calls_per_round=t["calls_per_round"][c.name],
            round_medians=t["round_medians"][c.name], **timing.summarize(t["samples"][c.name]))
    ref = res["contenders"]["plain"]
    for c in active:
        if c.name != "plain" and ref.get("status") == "ok":
            r = timing.paired_ratio(t["round_medians"][c.name], ref["round_medians"])
            r["of_medians"] = res["contenders"][c.name]["median"] / ref["median"]
            res["ratios"][c.name] = r
    return res


# ---- report ---------------------------------------------------------------------------------

def target_lines(results):
    """[(text, met)] for every measured (row, variant) with a target."""
    lines = []
    for res in results:
        for name, r in res["ratios"].items():
            bound = VARIANTS[name][2]
            if bound is not None:
                met = r["median"] <= bound
                lines.append(("%s thr=%d: %s %.2fx (target <= %.1fx): %s" % (
                    res["label"], res["threads"], name, r["median"], bound,
                    "met" if met else "MISSED"), met))
    return lines


def report(info, results, out):
    print("pygru %s (%s) training time (forward + backward) of the GRU variants; CPU: %s, %s "
          "logical CPUs" % (info["versions"]["pygru"], (info.get("pygru_info") or {}).get("isa"),
                            info["cpu_model"], info["logical_cpus"]), file=out)
    print("times: median ±half-IQR of all timed calls; X/plain: median [quartiles] over "
          "rounds of the paired per-round ratio; gate: max relative error of the "
          "correctness checks; bg: cores busy with other processes", file=out)
    others = [n for n in NAMES if n != "plain"]
    head = "%-22s %3s | %s | %s | %4s" % (
        "T,B,I,H", "thr", " ".join("%-16s" % n for n in NAMES),
        " ".join("%-18s" % ("%s/plain" % n[:8]) for n in others), "bg")
    print(head, file=out)
    print("-" * len(head), file=out)
    for res in results:
        cs = res["contenders"]
        cells = []
        for n in NAMES:
            e = cs.get(n, {})
            cells.append("%-16s" % (compare.cell_time(e) if e.get("status") == "ok"
                                    else e.get("status", "-")[:16]))
        ratios = []
        for n in others:
            r = res["ratios"].get(n)
            ratios.append("%-18s" % ("%.2f [%.2f-%.2f]" % (r["median"], r["q1"], r["q3"])
                                     if r else "-"))
        bg = (res.get("load") or {}).get("other_cores")
        print("%-22s %3d | %s | %s | %4s" % (res["label"], res["threads"], " ".join(cells),
                                             " ".join(ratios),
                                             "-" if bg is None else "%.1f" % bg), file=out)
    print("\ngates (max relative error, tolerance %g):" % TOLERANCE, file=out)
    for res in results:
        for n, e in res["contenders"].items():
            chk = e.get("check")
            if chk:
                print("  %s thr=%d %s: %.2g %s" % (
                    res["label"], res["threads"], n, chk["max_rel_err"],
                    "" if e.get("status") != "FAILED check" else "FAILED " + json.dumps(
                        chk["checks"])), file=out)
            elif e.get("status", "").startswith(("error", "unavailable")):
                print("  %s thr=%d %s: %s" % (res["label"], res["threads"], n, e["status"]),
                      file=out)
    lines = target_lines(results)
    if lines:
        print("\ntargets:", file=out)
        for text, _ in lines:
            print("  " + text, file=out)


def failed(results):
    return [(r["label"], r["threads"], n) for r in results
            for n, e in r["contenders"].items()
            if e.get("status") == "FAILED check" or e.get("status", "").startswith("error")]


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    sys.path.insert(1, ROOT)   # this tree's pygru
    info = machine.machine_info(ROOT)
    log("machine: %s, %s logical CPUs, load %s; pygru %s" % (
        info["cpu_model"], info["logical_cpus"], info["loadavg_start"], info["pygru_info"]))
    results = []
    for shape in args.shape_list:
        case = Case(shape)
        for threads in args.thread_list:
            C.pygru_threads(threads)
            res = {"label": shape.label(), "shape": shape.as_dict(), "threads": threads}
            t0 = time.time()
            res.update(run_case(case, args))
            res["seconds"] = time.time() - t0
            results.append(res)
            log("%s thr=%d: %s" % (res["label"], threads, "; ".join(
                "%s %s" % (n, compare.fmt_time(e["median"]) if e.get("status") == "ok"
                           else e.get("status")) for n, e in res["contenders"].items()
                if e.get("status") != "not selected")))
    info["loadavg_end"] = os.getloadavg()
    buf = io.StringIO()
    report(info, results, buf)
    text = buf.getvalue()
    print()
    print(text, end="")
    if args.txt:
        with open(args.txt, "w") as f:
            f.write("$ %s\n\n%s" % (" ".join(["bench/cells.py"] + sys.argv[1:]), text))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "shape_list"}
        doc = {"machine": info, "settings": settings, "results": results,
               "targets": [{"text": t, "met": m} for t, m in target_lines(results)],
               "wall_seconds": time.time() - started}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=compare._json_default)
        log("wrote %s" % args.json)
    log("total %.0f s" % (time.time() - started))
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
