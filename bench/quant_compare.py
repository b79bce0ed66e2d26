#!/usr/bin/env python3
"""bench/quant_compare.py - reduced-precision inference against its peers (issue 13):
pygru float32, int8 and bf16 (GRU.quantize), PyTorch's dynamically quantized int8 GRU,
PyTorch float32 and ONNX Runtime float32, in one process, alternately, on

  1. batch inference over the shapes of bench/compare.py (its default grid; the
     issue's targets apply to the compute-bound shapes, B >= 32 and H >= 512:
     int8 <= 0.5x and bf16 <= 0.6x pygru float32's time);
  2. the streaming step, B = 1, state fed back (I = H = 256, 384, a 3-layer 384 stack,
     I = H = 1024, and I = 1, H = 1024, whose step is nearly all recurrent work as in
     DeepBench's; targets int8 <= 0.4x, bf16 <= 0.6x), from Python, and from C
     (bench/step_c.c, one process per row timing float32, int8 and bf16 alternately:
     best and median of 15 rounds); the H = 1024 rows beside DeepBench's GTX 1080 Ti
     GRU inference figure;
  3. on 1 and 2 threads (pygru.set_num_threads, torch.set_num_threads, ORT
     intra_op_num_threads).

    .venv/bin/python bench/quant_compare.py --quick            # < 1 min
    .venv/bin/python bench/quant_compare.py --json out.json --txt out.txt   # full
    .venv/bin/python bench/quant_compare.py --shapes 100,64,512,512 --steps 256,256 \
        --threads 1 --contenders pygru,pygru-int8,torch-qint8

Method: bench/timing.py, as compare.py (bench/README.md): warm-up, rounds in which
every contender runs k individually timed calls, medians and IQRs of the calls, ratios
paired per round (contender's round median / pygru float32's round median; median and
quartiles over rounds). Every contender passes a correctness gate against torch float32
first (bench/quant_contenders.py); a failed gate is reported, not timed, and the run
exits 1. The bg column: cores used by OTHER processes while the row was timed.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import compare  # noqa: E402
import contenders as C  # noqa: E402
import machine  # noqa: E402
import quant_contenders as Q  # noqa: E402
import timing  # noqa: E402

DEFAULT_STEPS = ["256,256", "384,384", "384,384,3", "1024,1024", "1,1024"]
QUICK_SHAPES = ["100,1,256,256", "100,64,512,512"]
QUICK_STEPS = ["256,256", "384,384,3", "1024,1024"]
# (format, contender): the issue's targets, as ratios to pygru float32's time
BATCH_TARGETS = {"pygru-int8": 0.5, "pygru-bf16": 0.6}
STEP_TARGETS = {"pygru-int8": 0.4, "pygru-bf16": 0.6}
# DeepBench (github.com/baidu-research/DeepBench), inference server set
# (code/kernels/rnn_problems.h: hidden 1024, batch 1, 1500 time steps, "gru"), GTX 1080 Ti,
# results/inference/server/DeepBench_NV_1080Ti.xlsx: 64.3 ms for the 1500 steps.
DEEPBENCH = {"hidden": 1024, "batch": 1, "timesteps": 1500, "ms": 64.3, "gpu": "GTX 1080 Ti",
             "source": "baidu-research/DeepBench, results/inference/server/"
                       "DeepBench_NV_1080Ti.xlsx (problem list: code/kernels/rnn_problems.h)"}
C_FORMATS = {"pygru": "f32", "pygru-int8": "int8", "pygru-bf16": "bf16"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run (< 1 min): 2 batch shapes, 3 step sizes, 1 thread, target "
                        "0.1 s, 3-6 rounds, budget 0.5 s, warm-up at most 0.5 s")
    p.add_argument("--shapes", nargs="*", metavar="T,B,I,H[,L][,bi]",
                   help="batch shapes (default: compare.py's 7; quick: 2); none: no batch part")
    p.add_argument("--steps", nargs="*", metavar="I,H[,L]",
                   help="step sizes (default 256,256 384,384 384,384,3 1024,1024 1,1024); "
                        "none: no step part")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts (default 1,2; quick: 1)")
    p.add_argument("--contenders", default=",".join(Q.NAMES),
                   help="comma-separated subset of %s (pygru is always run: it is the "
                        "reference of the ratios)" % ",".join(Q.NAMES))
    p.add_argument("--target", type=float, default=None,
                   help="seconds each contender spends per case (default 1.5; quick 0.1)")
    p.add_argument("--min-rounds", type=int, default=None, help="default 7 (quick 3)")
    p.add_argument("--max-rounds", type=int, default=None, help="default 25 (quick 6)")
    p.add_argument("--warmup", type=float, default=None, help="default 0.3 s (quick 0.03)")
    p.add_argument("--budget", type=float, default=None,
                   help="max seconds of one call; slower contenders are skipped (5; quick 0.5)")
    p.add_argument("--c-step", choices=("build", "auto", "off"), default=None,
                   help="the C step (bench/step_c.c): build = make -C c first; auto = use "
                        "c/build/libgru.a if it exists; off (default: build; quick: auto)")
    p.add_argument("--c-seconds", type=float, default=None,
                   help="seconds per C step row (15 rounds; default 1.5; quick 0.3)")
    p.add_argument("--max-minutes", type=float, default=30.0,
                   help="cases not started after this many minutes are skipped (30)")
    p.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                   help="before a multi-thread case, wait up to SECONDS for other processes "
                        "to leave the cores idle (compare.py's; default 0: just report bg)")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH")
    p.add_argument("--txt", metavar="PATH", help="write the printed tables to PATH too")
    a = p.parse_args(argv)
    for name, full, fast in (("target", 1.5, 0.1), ("min_rounds", 7, 3), ("max_rounds", 25, 6),
                             ("warmup", 0.3, 0.03), ("budget", 5.0, 0.5),
                             ("c_step", "build", "auto"), ("c_seconds", 1.5, 0.3),
                             ("threads", "1,2", "1")):
        if getattr(a, name) is None:
            setattr(a, name, fast if a.quick else full)
    a.thread_list = [int(t) for t in a.threads.split(",") if t.strip()]
    a.names = [n.strip() for n in a.contenders.split(",") if n.strip()]
    for n in a.names:
        if n not in Q.NAMES:
            p.error("--contenders: unknown %r (choose from %s)" % (n, ", ".join(Q.NAMES)))
    a.names = [n for n in Q.NAMES if n in a.names or n == "pygru"]
    try:
        shapes = a.shapes if a.shapes is not None else (
            QUICK_SHAPES if a.quick else compare.DEFAULT_SHAPES)
        a.shape_list = [C.Shape.parse(s) for s in shapes]
        a.step_list = [parse_step(s) for s in (a.steps if a.steps is not None else (
            QUICK_STEPS if a.quick else DEFAULT_STEPS))]
    except ValueError as exc:
        p.error(str(exc))
    return a


def parse_step(spec):
    """'I,H' or 'I,H,L' -> (I, H, L)."""
    parts = [x.strip() for x in spec.split(",")]
    if len(parts) not in (2, 3) or not all(x.isdigit() and int(x) > 0 for x in parts):
        raise ValueError("--steps %r: expected I,H[,layers] with positive integers" % spec)
    v = [int(x) for x in parts]
    return v[0], v[1], v[2] if len(v) == 3 else 1


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def compute_bound(shape):
    return shape.B >= 32 and shape.H >= 512


def set_threads(n, quiet_wait=0.0):
    """torch's and pygru's thread counts; before a multi-thread case, waits up to
    quiet_wait seconds for the other processes to go idle. Returns the seconds waited."""
    import torch
    torch.set_num_threads(n)
    C.pygru_threads(n)
    return compare.wait_quiet(quiet_wait) if n > 1 else 0.0


# ---- one case -------------------------------------------------------------------------

def gate_and_warm(name, build, args):
    """Builds a contender, runs its correctness gate (the first call, timed) and warms it
    up. Returns (entry, contender or None, estimated seconds per call)."""
    entry = {}
    try:
        contender, check = build(name)
    except Exception as exc:
        entry["status"] = "error: %s: %s" % (type(exc).__name__, str(exc).split("\n")[0])
        return entry, None, None
    t0 = time.perf_counter()
    errs = check()
    first = time.perf_counter() - t0
    worst = max(errs.values()) if errs else 0.0
    tol = Q.TOLERANCE[name]
    entry["check"] = {"max_rel_err": worst, "per_tensor": errs, "tolerance": tol}
    if not np.isfinite(worst) or worst > tol:
        entry["status"] = "FAILED check"
        return entry, None, None
    # A first call can be far slower than the rest (a thread pool starting, a busy
    # neighbour): as compare.py, try twice more before giving up on the budget.
    for _ in range(2):
        if not args.budget < first < 4 * args.budget:
            break
        t0 = time.perf_counter()
        contender.call()
        first = min(first, time.perf_counter() - t0)
    if first > args.budget:
        entry["status"] = "skipped: budget"
        entry["note"] = "one call took %.2f s > budget %.2f s" % (first, args.budget)
        return entry, None, None
    est = timing.warm_up(contender, args.warmup, prior=[first],
                         min_calls=1 if first > args.warmup else 2,
                         max_s=0.5 if args.quick else None)
    return entry, contender, est


def run_case(build, args):
    """Gates, warms up and times every selected contender alternately. build(name) ->
    (Contender, check). Returns {"contenders": {name: entry}, "ratios": {name: r},
    "rounds", "load"}; ratios are name / pygru float32, paired per round."""
    res = {"contenders": {}, "ratios": {}}
    active, estimates = [], {}
    for name in Q.NAMES:
        if name not in args.names:
            res["contenders"][name] = {"status": "not selected"}
            continue
        entry, contender, est = gate_and_warm(name, build, args)
        res["contenders"][name] = entry
        if contender is not None:
            active.append(contender)
            estimates[name] = est
    if not active:
        return res
    t = timing.interleave(active, estimates, args.target, args.min_rounds, args.max_rounds)
    res["rounds"], res["load"] = t["rounds"], t["load"]
    for c in active:
        e = res["contenders"][c.name]
        e.update(status="ok", calls_per_round=t["calls_per_round"][c.name],
                 round_medians=t["round_medians"][c.name],
                 **timing.summarize(t["samples"][c.name]))
    ref = res["contenders"]["pygru"]
    for c in active:
        if c.name != "pygru" and ref.get("status") == "ok":
            r = timing.paired_ratio(t["round_medians"][c.name], ref["round_medians"])
            r["of_medians"] = res["contenders"][c.name]["median"] / ref["median"]
            res["ratios"][c.name] = r
    return res


def failed_gates(results):
    return [(r["label"], r["threads"], n, e["check"]) for r in results
            for n, e in r["contenders"].items() if e.get("status") == "FAILED check"]


# ---- the C step -----------------------------------------------------------------------

def run_step_c(exe, wl, threads, fmts, est, seconds):
    """step_c on the formats fmts (e.g. ["f32", "int8"]), timed alternately round by
    round in one process: {fmt: {"status", "best", "median", "steps", "line"}} in seconds
    per step. est: the slowest Python step's median (sizes a round)."""
    steps = int(min(20000, max(50, seconds / 15.0 / len(fmts) / max(est, 1e-7))))
    r = subprocess.run([exe, str(wl.I), str(wl.H), str(threads), str(steps), ",".join(fmts),
                        str(wl.L)], capture_output=True, text=True)
    if r.returncode != 0:
        return {f: {"status": "error: %s" % (r.stderr.strip() or r.returncode)} for f in fmts}
    lines = r.stdout.strip().split("\n")
    out = {}
    for fmt, line in zip(fmts, lines):
        try:
            best = float(line.split("gru_step ")[1].split(" us")[0]) * 1e-6
            med = float(line.split("(median ")[1].split(" us")[0]) * 1e-6
            out[fmt] = {"status": "ok", "best": best, "median": med, "steps": steps,
                        "line": line}
        except (IndexError, ValueError):
            out[fmt] = {"status": "error: unreadable output %r" % line}
    for fmt in fmts[len(lines):]:
        out[fmt] = {"status": "error: no output line"}
    return out


# ---- printing ---------------------------------------------------------------------------

def cell(e):
    return compare.cell_time(e) if e else "-"


def ratio_cell(r):
    return "%.2f [%.2f-%.2f]" % (r["median"], r["q1"], r["q3"]) if r else "-"


def print_rows(results, kind, out):
    others = [n for n in Q.NAMES if n != "pygru"]
    head = "%-26s %3s | %s | %s | %4s" % (
        "batch T,B,I,H" if kind == "batch" else "step B=1", "thr",
        " ".join("%-16s" % Q.LABELS[n] for n in Q.NAMES),
        " ".join("%-16s" % ("%s/f32" % Q.LABELS[n].replace(" f32", "")) for n in others), "bg")
    print(head, file=out)
    print("-" * len(head), file=out)
    for res in results:
        cs = res["contenders"]
        bg = (res.get("load") or {}).get("other_cores")
        flag = "!" if bg is not None and bg >= compare.BUSY and res["threads"] > 1 else ""
        label = res["label"] + (" *" if res.get("compute_bound") else "")
        print("%-26s %3d | %s | %s | %4s" % (
            label, res["threads"], " ".join("%-16s" % cell(cs.get(n)) for n in Q.NAMES),
            " ".join("%-16s" % ratio_cell(res["ratios"].get(n)) for n in others),
            "-" if bg is None else "%.1f%s" % (bg, flag)), file=out)


def print_c_rows(c_rows, out):
    print("%-26s %3s | %-24s %-24s %-24s | %-6s %-6s" % (
        "C step (step_c.c) B=1", "thr", "f32 best (median)", "int8 best (median)",
        "bf16 best (median)", "int8/f", "bf16/f"), file=out)
    for row in c_rows:
        cells, best = [], {}
        for fmt in ("f32", "int8", "bf16"):
            e = row["formats"].get(fmt) or {"status": "-"}
            if e.get("status") == "ok":
                best[fmt] = e["best"]
                cells.append("%.1f us (%.1f us)" % (e["best"] * 1e6, e["median"] * 1e6))
            else:
                cells.append(e["status"][:24])
        rat = ["%.2f" % (best[f] / best["f32"]) if f in best and "f32" in best else "-"
               for f in ("int8", "bf16")]
        print("%-26s %3d | %-24s %-24s %-24s | %-6s %-6s" % (
            row["label"], row["threads"], *cells, *rat), file=out)


def target_lines(batch, step):
    """[(text, met: bool)] for every measured (case, format) with a target."""
    lines = []
    for kind, results, targets in (("batch", batch, BATCH_TARGETS), ("step", step, STEP_TARGETS)):
        for res in results:
            if kind == "batch" and not res.get("compute_bound"):
                continue
            for name, bound in targets.items():
                r = res["ratios"].get(name)
                if r:
                    met = r["median"] <= bound
                    lines.append(("%s %s thr=%d: %s %.2fx (target <= %.1fx): %s" % (
                        kind, res["label"], res["threads"], Q.LABELS[name], r["median"], bound,
                        "met" if met else "MISSED"), met))
    return lines


def deepbench_lines(step, c_rows):
    per_step = DEEPBENCH["ms"] * 1e-3 / DEEPBENCH["timesteps"]
    out = ["DeepBench %s GRU inference, hidden %d, batch 1, %d steps: %.1f ms = %.1f us per "
           "step (%s; its timing excludes the input projection W x_t, which pygru's step "
           "includes)" % (DEEPBENCH["gpu"], DEEPBENCH["hidden"], DEEPBENCH["timesteps"],
                          DEEPBENCH["ms"], per_step * 1e6, DEEPBENCH["source"])]
    for res in step:
        if res["H"] != DEEPBENCH["hidden"] or res["layers"] != 1:
            continue
        for name in ("pygru", "pygru-int8", "pygru-bf16", "torch-qint8", "torch", "ort"):
            e = res["contenders"].get(name, {})
            if e.get("status") == "ok":
                out.append("  %s: %s thr=%d, Python: %.1f us per step = %.2fx the 1080 Ti's" % (
                    res["label"], Q.LABELS[name], res["threads"], e["median"] * 1e6,
                    e["median"] / per_step))
    for row in c_rows:
        if row["H"] != DEEPBENCH["hidden"] or row["layers"] != 1:
            continue
        for fmt, e in row["formats"].items():
            if e.get("status") == "ok":
                out.append("  %s: C step %s thr=%d: %.1f us per step (median %.1f) = %.2fx "
                           "the 1080 Ti's" % (row["label"], fmt, row["threads"], e["best"] * 1e6,
                                              e["median"] * 1e6, e["best"] / per_step))
    return out


def report(info, args, batch, step, c_rows, out):
    pinfo = info.get("pygru_info") or {}
    print("pygru %s (float32 %s, int8 %s, bf16 %s) vs torch %s (quantized engine %s) and "
          "onnxruntime %s; CPU: %s (family/model %s), %s logical CPUs" % (
              info["versions"]["pygru"], pinfo.get("isa"), pinfo.get("int8_isa"),
              pinfo.get("bf16_isa"), info["versions"]["torch"], info.get("torch_qengine"),
              info["versions"]["onnxruntime"], info["cpu_model"], info["cpu_family_model"],
              info["logical_cpus"]), file=out)
    print("times: median ±half-IQR of all timed calls; X/f32: X's time / pygru float32's, "
          "median [quartiles] over rounds of paired per-round ratios (<1: faster than pygru "
          "f32); * compute-bound (B >= 32, H >= 512); bg: cores busy with other processes "
          "while the row was timed (! = a multi-thread row with bg >= %.1f: thread pools wait "
          "for a preempted thread, unreliable)" % compare.BUSY, file=out)
    for kind, results in (("batch", batch), ("step", step)):
        if results:
            print(file=out)
            print_rows(results, kind, out)
    if c_rows:
        print(file=out)
        print_c_rows(c_rows, out)
    lines = target_lines(batch, step)
    if lines:
        print("\ntargets (issue 13):", file=out)
        for text, _ in lines:
            print("  " + text, file=out)
    if any(r["H"] == DEEPBENCH["hidden"] for r in step) or any(
            r["H"] == DEEPBENCH["hidden"] for r in c_rows):
        print(file=out)
        for line in deepbench_lines(step, c_rows):
            print(line, file=out)
    for label, thr, name, check in failed_gates(batch + step):
        print("FAILED correctness gate: %s thr=%d %s: %s" % (label, thr, name, check), file=out)


# ---- main -----------------------------------------------------------------------------

def run_batch(args, started):
    results = []
    for shape in args.shape_list:
        wl = C.Workload(shape)
        for threads in args.thread_list:
            res = {"label": shape.label(), "shape": shape.as_dict(), "threads": threads,
                   "compute_bound": compute_bound(shape),
                   "flops": C.forward_flops(shape.T, shape.B, shape.I, shape.H, shape.L, shape.D)}
            if time.time() - started > 60 * args.max_minutes:
                res.update(contenders={n: {"status": "skipped: time limit"} for n in Q.NAMES},
                           ratios={})
            else:
                res["waited_for_quiet_s"] = set_threads(threads, args.quiet_wait)
                wl.reference("infer")
                t0 = time.time()
                res.update(run_case(lambda n: Q.build_batch(n, wl, threads), args))
                res["seconds"] = time.time() - t0
            results.append(res)
            log_case("batch", res)
    return results


def run_steps(args, started, exe):
    results, c_rows = [], []
    for I, H, L in args.step_list:
        wl = Q.StepWorkload(I, H, L)
        for threads in args.thread_list:
            res = {"label": wl.label(), "I": I, "H": H, "layers": L, "threads": threads,
                   "weight_mb_f32": wl.weight_mb()}
            if time.time() - started > 60 * args.max_minutes:
                res.update(contenders={n: {"status": "skipped: time limit"} for n in Q.NAMES},
                           ratios={})
                results.append(res)
                continue
            res["waited_for_quiet_s"] = set_threads(threads, args.quiet_wait)
            wl.reference()
            t0 = time.time()
            res.update(run_case(lambda n: Q.build_step(n, wl, threads), args))
            res["seconds"] = time.time() - t0
            results.append(res)
            log_case("step", res)
            if exe is not None:
                c_rows.append(c_step_row(exe, wl, threads, res, args))
    return results, c_rows


def c_step_row(exe, wl, threads, res, args):
    row = {"label": wl.label(), "I": wl.I, "H": wl.H, "layers": wl.L, "threads": threads,
           "formats": {}}
    ok = [(fmt, res["contenders"][name]["median"]) for name, fmt in C_FORMATS.items()
          if res["contenders"].get(name, {}).get("status") == "ok"]
    if ok:
        row["formats"] = run_step_c(exe, wl, threads, [f for f, _ in ok],
                                    max(t for _, t in ok), args.c_seconds)
    log("C step %s thr=%d: %s" % (wl.label(), threads, "; ".join(
        "%s %s" % (f, compare.fmt_time(e["best"]) if e.get("status") == "ok" else e["status"])
        for f, e in row["formats"].items())))
    return row


def log_case(kind, res):
    parts = ["%s %s" % (n, compare.fmt_time(e["median"]) if e.get("status") == "ok"
                        else e.get("status")) for n, e in res["contenders"].items()
             if e.get("status") != "not selected"]
    log("%s %s thr=%d: %s" % (kind, res["label"], res["threads"], "; ".join(parts)))


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    sys.path.insert(1, ROOT)   # this tree's pygru
    import torch
    info = machine.machine_info(ROOT)
    info["torch_qengine"] = torch.backends.quantized.engine
    log("machine: %s (%s), %s logical CPUs, load %s; pygru %s" % (
        info["cpu_model"], info["cpu_family_model"], info["logical_cpus"],
        info["loadavg_start"], info["pygru_info"]))
    exe, why_no_c = None, "off"
    if args.c_step != "off" and args.step_list:
        try:   # step_c.c against c/build/libgru.a
            exe, why_no_c = machine.build_c_tool("step_c", ("step_c.c",),
                                                 make=args.c_step == "build"), None
        except RuntimeError as exc:
            why_no_c = str(exc)
    if why_no_c and why_no_c != "off":
        log("C step: %s" % why_no_c)
    batch = run_batch(args, started)
    step, c_rows = run_steps(args, started, exe)
    info["loadavg_end"] = os.getloadavg()
    buf = io.StringIO()
    report(info, args, batch, step, c_rows, buf)
    text = buf.getvalue()
    print()
    print(text, end="")
    if args.txt:
        with open(args.txt, "w") as f:
            f.write("$ %s\n\n%s" % (" ".join(["bench/quant_compare.py"] + sys.argv[1:]), text))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("shape_list",)}
        doc = {"machine": info, "settings": settings, "batch": batch, "step": step,
               "c_step": c_rows, "c_step_unavailable": why_no_c,
               "targets": [{"text": t, "met": m} for t, m in target_lines(batch, step)],
               "deepbench": dict(DEEPBENCH,
                                 us_per_step=DEEPBENCH["ms"] * 1e3 / DEEPBENCH["timesteps"]),
               "wall_seconds": time.time() - started}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=compare._json_default)
        log("wrote %s" % args.json)
    log("total %.0f s" % (time.time() - started))
    return 1 if failed_gates(batch + step) else 0


if __name__ == "__main__":
    sys.exit(main())
