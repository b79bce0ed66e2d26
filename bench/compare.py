#!/usr/bin/env python3
"""bench/compare.py - times pygru against torch.nn.GRU and ONNX Runtime on the CPU and
prints times, ratios, GFLOP/s and % of the measured float32 FMA peak.

    .venv/bin/python bench/compare.py                  # the default grid (~5 min)
    .venv/bin/python bench/compare.py --quick          # smoke run (~1 min)
    .venv/bin/python bench/compare.py --shapes 100,32,128,256 --modes infer --threads 1
    .venv/bin/python bench/compare.py --sweep hidden --json sweep_hidden.json
    .venv/bin/python bench/plot.py sweep_hidden.json
    .venv/bin/python bench/compare.py --set published --json published.json   # ~10 min

Method (see bench/README.md): all contenders run in one process, alternately
(pygru, torch, ort, pygru, torch, ort, ...), after a warm-up; each spends about
--target seconds per case; every call is timed; medians and IQRs are reported, and
ratios are the median over rounds of the per-round ratio pygru / peer (> 1 means
pygru is slower). Before anything is timed, pygru's and ORT's results are compared
with torch's on the same weights and input (a wrong result is never timed). A
contender whose single call would exceed --budget seconds is reported as
'skipped: budget' instead of being run. --set published runs issue 15's published
shapes (bench/published.py: DeepBench, DeepSpeech2 / MXNet, ONNX Runtime's PR #644,
RNNoise and LPCNet steps) and adds a table of per-step times against each row's bound
(the FMA peak or the measured weight-read bandwidth of the weights' cache level).

Exit status: 0 when every correctness gate passed, 1 when a pygru gate failed (the
case is reported and not timed); a wrong ONNX conversion raises AssertionError.
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import contenders as C  # noqa: E402
import machine  # noqa: E402
import published  # noqa: E402
import quant_contenders as Q  # noqa: E402
import timing  # noqa: E402

DEFAULT_SHAPES = ["100,1,64,128", "100,1,256,256", "100,32,128,256", "100,64,512,512",
                  "50,128,1024,1024", "500,32,128,128", "200,32,128,256,2,bi"]
SWEEPS = {   # kind: (default values, how a value makes a shape)
    "hidden": ([32, 64, 128, 256, 512], lambda v, a: C.Shape(a.sweep_T, a.sweep_batch, v, v)),
    "seqlen": ([10, 25, 50, 100, 200, 400],
               lambda v, a: C.Shape(v, a.sweep_batch, a.sweep_size, a.sweep_size)),
}
NAMES = ("pygru", "torch", "ort")
PEERS = ("torch", "ort")
PUBLISHED_MODES = ("infer", "train", "step")
PROBE = C.Shape(10, 8, 128, 128)   # for the first estimate of a contender's speed
BUSY = 0.5   # other processes using >= this many cores make multi-thread rows unreliable


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: target 0.1 s, 3-8 rounds, budget 0.5 s, short warm-up")
    p.add_argument("--shapes", nargs="+", metavar="T,B,I,H[,L][,bi]",
                   help="shapes to run (default: the built-in list of 7)")
    p.add_argument("--set", choices=("grid", "published"), default="grid",
                   help="grid: --shapes or the built-in list (default); published: the "
                        "published shapes of bench/published.py (modes infer and step by "
                        "default, plus a table of per-step times against each row's bound)")
    p.add_argument("--published-T", type=int, default=25,
                   help="T of the DeepBench rows of --set published (default 25)")
    p.add_argument("--shapes-filter", default=None, metavar="NAME[,NAME...]",
                   help="--set published: only the rows whose name contains one of these "
                        "(e.g. deepbench-h512,lpcnet)")
    p.add_argument("--modes", default=None,
                   help="comma-separated subset of infer,train,stream (default: all); "
                        "--set published: of infer,train,step (default infer,step)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--contenders", default="pygru,torch,ort",
                   help="comma-separated subset of pygru,torch,ort")
    p.add_argument("--target", type=float, default=None,
                   help="seconds each contender spends per case (default 1.5; quick 0.1)")
    p.add_argument("--min-rounds", type=int, default=None, help="default 5 (quick 3)")
    p.add_argument("--max-rounds", type=int, default=None, help="default 20 (quick 8)")
    p.add_argument("--warmup", type=float, default=None,
                   help="warm-up seconds per contender and case, at least 1 call "
                        "(default 0.3; quick 0.05)")
    p.add_argument("--budget", type=float, default=None,
                   help="max seconds of ONE call; slower contenders are skipped "
                        "(default 5; quick 0.5)")
    p.add_argument("--isa", default=None,
                   help="pygru kernel set to force (sets GRU_ISA, e.g. scalar, avx2, avx512; "
                        "default: pygru's own choice, the best this CPU runs)")
    p.add_argument("--pygru-path", metavar="DIR", default=None,
                   help="directory holding the pygru package to benchmark (e.g. a copy of "
                        "another build); default: this source tree")
    p.add_argument("--stream-size", type=int, default=256,
                   help="I = H of the streaming GRUCell step (default 256)")
    p.add_argument("--sweep", choices=sorted(SWEEPS),
                   help="instead of --shapes: vary the hidden size (I = H, T = --sweep-T) "
                        "or the sequence length (I = H = --sweep-size); default mode infer, "
                        "threads 1")
    p.add_argument("--sweep-values", help="comma-separated values for the sweep")
    p.add_argument("--sweep-batch", type=int, default=16, help="B of a sweep (default 16)")
    p.add_argument("--sweep-T", type=int, default=100, help="T of a hidden sweep (default 100)")
    p.add_argument("--sweep-size", type=int, default=128, help="I = H of a seqlen sweep")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="wall-clock limit of the whole run; cases not started by then are "
                        "reported 'skipped: time limit' (default 10; --set published 20)")
    p.add_argument("--check-tol", type=float, default=1e-4,
                   help="max relative error (max|a-ref|/max|ref|) vs torch (default 1e-4)")
    p.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                   help="before a multi-thread case, wait up to SECONDS for other processes "
                        "to leave the cores idle (default 0: do not wait, just report)")
    p.add_argument("--ort-spin", action="store_true",
                   help="let ORT's intra-op threads spin between runs (off by default: "
                        "spinning steals a core from the next contender)")
    p.add_argument("--peak-flops-per-cycle", type=float, default=None,
                   help="override the assumed FLOPs/cycle/core of the theoretical peak")
    p.add_argument("--json", metavar="PATH", help="write all measurements to PATH")
    a = p.parse_args(argv)
    quick = a.quick
    for name, full, fast in (("target", 1.5, 0.1), ("min_rounds", 5, 3), ("max_rounds", 20, 8),
                             ("warmup", 0.3, 0.05), ("budget", 5.0, 0.5)):
        if getattr(a, name) is None:
            setattr(a, name, fast if quick else full)
    pub = a.set == "published"
    if a.max_minutes is None:
        a.max_minutes = 20.0 if pub else 10.0
    if a.modes is None:
        a.modes = "infer,step" if pub else "infer,train,stream"
    a.mode_list = [m.strip() for m in a.modes.split(",") if m.strip()]
    a.thread_list = [int(t) for t in a.threads.split(",") if t.strip()]
    a.contender_list = [c.strip() for c in a.contenders.split(",") if c.strip()]
    modes = PUBLISHED_MODES if pub else C.MODES
    for m in a.mode_list:
        if m not in modes:
            p.error("--modes: unknown mode %r (choose from %s%s)" % (
                m, ", ".join(modes), "" if pub else "; step belongs to --set published"))
    if not a.thread_list or min(a.thread_list) < 1:
        p.error("--threads must be integers >= 1")
    for c in a.contender_list:
        if c not in NAMES:
            p.error("--contenders: unknown %r (choose from %s)" % (c, ", ".join(NAMES)))
    if a.shapes_filter and not pub:
        p.error("--shapes-filter selects rows of --set published")
    if pub:
        if a.shapes or a.sweep:
            p.error("--set published and --shapes / --sweep are exclusive")
        if a.published_T < 1:
            p.error("--published-T must be >= 1")
        filters = [f.strip() for f in (a.shapes_filter or "").split(",") if f.strip()]
        try:
            a.published_rows = published.rows(a.published_T, filters or None)
        except ValueError as exc:
            p.error(str(exc))
        a.shape_list = [r.shape for r in a.published_rows]
        return a
    a.published_rows = None
    if a.sweep:
        if a.shapes:
            p.error("--sweep and --shapes are exclusive")
        if "--modes" not in " ".join(sys.argv if argv is None else argv):
            a.mode_list = ["infer"]
        if "--threads" not in " ".join(sys.argv if argv is None else argv):
            a.thread_list = [1]
        values, make = SWEEPS[a.sweep]
        if a.sweep_values:
            values = [int(v) for v in a.sweep_values.split(",")]
        a.sweep_values_list = values
        a.shape_list = [make(v, a) for v in values]
        a.mode_list = [m for m in a.mode_list if m != "stream"]
    else:
        try:
            a.shape_list = [C.Shape.parse(s) for s in (a.shapes or DEFAULT_SHAPES)]
        except ValueError as exc:
            p.error("--shapes: %s" % exc)
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def available(args):
    """{name: None if usable else why not}."""
    why = {}
    for name in NAMES:
        if name not in args.contender_list:
            why[name] = "not selected"
            continue
        try:
            if name == "pygru":
                import pygru
                pygru.info()
            elif name == "torch":
                import torch  # noqa: F401
            else:
                import onnx  # noqa: F401
                import onnxruntime  # noqa: F401
            why[name] = None
        except Exception as exc:
            why[name] = "unavailable (%s: %s)" % (type(exc).__name__, str(exc).split("\n")[0])
    return why


def wait_quiet(limit_s):
    """Waits (up to limit_s seconds) until other processes use < BUSY cores over a
    0.5 s window. Returns the seconds waited."""
    if limit_s <= 0:
        return 0.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        meter = timing.CpuMeter()
        meter.start()
        time.sleep(0.5)
        other = meter.stop()["other_cores"]
        if other is None or other < BUSY:
            break
    return time.perf_counter() - t0


def set_threads(n):
    """torch and pygru thread counts; returns pygru's effective count."""
    import torch
    torch.set_num_threads(n)
    try:
        return C.pygru_threads(n)
    except Exception:
        return None


class StepWorkload:
    """A published step row (--set published, mode step): quant_contenders.StepWorkload
    (torch.nn.GRU(I, H, L) seeded, one frame, a start state) with the interface the
    Runner expects (shape, reference(mode))."""

    def __init__(self, shape):
        self.shape = shape
        self.inner = Q.StepWorkload(shape.I, shape.H, shape.L)

    def reference(self, mode):
        return self.inner.reference()


def build(name, wl, mode, threads, args):
    if mode == "step":   # one step of every layer, B = 1, the state fed back
        return Q.build_step(name, wl.inner, threads)
    if name == "pygru":
        return C.build_pygru(wl, mode)
    if name == "torch":
        return C.build_torch(wl, mode)
    return C.build_ort(wl, mode, threads, args.ort_spin)


def measure_peaks(args):
    """The float32 FMA peak the %-of-peak column refers to: fma_peak.c's measured
    one-core figure x threads (falls back to torch.mm when no C compiler works), plus
    the concurrent n-core FMA figure, a practical sgemm (torch.mm) and the nominal
    theoretical peak for the record."""
    quick = args.quick
    # Many short runs: on a busy machine the best 5 ms window is still uninterrupted,
    # while a 100 ms run rarely is.
    reps = 20 if quick else 40
    one = machine.measure_fma_peak(1, seconds=0.005, repeats=reps)
    peaks = {"fma_1core": one, "fma_concurrent": {}, "sgemm_torch": {},
             "theoretical_nominal": {}, "reference": {}}
    for n in sorted(set(args.thread_list)):
        peaks["sgemm_torch"][n] = machine.measure_matmul_peak(
            n, n=1024 if quick else 2048, repeats=3 if quick else 5)
        peaks["theoretical_nominal"][n] = machine.theoretical_peak(n, args.peak_flops_per_cycle)
        if n > 1 and one.get("gflops"):
            peaks["fma_concurrent"][n] = machine.measure_fma_peak(n, seconds=0.005, repeats=reps)
        peaks["reference"][n] = (n * one["gflops"] if one.get("gflops")
                                 else peaks["sgemm_torch"][n]["gflops"])
    fpc = peaks["theoretical_nominal"][min(peaks["theoretical_nominal"])]["flops_per_cycle_per_core"]
    if one.get("gflops"):
        peaks["effective_ghz"] = one["gflops"] / fpc
        peaks["reference_text"] = (
            "measured with bench/fma_peak.c (%s): %.0f GFLOP/s per core = %.2f GHz x %d "
            "FLOP/cycle; n threads: n x that" % (one["isa"], one["gflops"],
                                                 peaks["effective_ghz"], fpc))
    else:
        peaks["reference_text"] = ("torch.mm sgemm (fma_peak.c did not compile: %s)"
                                   % one.get("error"))
    log("FMA peak: %s" % peaks["reference_text"])
    for n in sorted(set(args.thread_list)):
        log("  %d thread(s): reference %.0f GFLOP/s; concurrent FMA %s; torch.mm %.0f GFLOP/s; "
            "nominal theoretical %.0f GFLOP/s (%s at %.0f MHz)" % (
                n, peaks["reference"][n],
                "%.0f" % peaks["fma_concurrent"][n]["gflops"] if n in peaks["fma_concurrent"]
                else "-", peaks["sgemm_torch"][n]["gflops"],
                peaks["theoretical_nominal"][n]["gflops"],
                peaks["theoretical_nominal"][n]["assumption"],
                peaks["theoretical_nominal"][n]["mhz"]))
    return peaks


def probe_rates(args, why):
    """{(name, mode): GFLOP/s} on a small probe shape, 1 thread: a conservative
    first guess of each contender's speed, used to skip hopeless cases unrun."""
    rates = {}
    set_threads(1)
    wl = C.Workload(PROBE)
    swl = C.Workload(C.Shape(1, 1, args.stream_size, args.stream_size), stream=True)
    for name in NAMES:
        if why[name] is not None:
            continue
        for mode in ("infer", "train", "stream"):
            if name == "ort" and mode == "train":
                continue
            w = swl if mode == "stream" else wl
            try:
                contender, _ = build(name, w, mode, 1, args)
                t = timing.warm_up(contender, 0.02, min_calls=2, max_calls=20)
            except Exception as exc:
                log("probe %s %s failed: %s" % (name, mode, exc))
                continue
            rates[(name, mode)] = C.mode_flops(w.shape, mode) / t / 1e9
    return rates


class Runner:
    def __init__(self, args, why, rates, peaks):
        self.args, self.why, self.rates, self.peaks = args, why, rates, peaks
        self.single_call = {}   # (name, shape label, mode) -> (threads, seconds)
        self.gate_failures = []

    def estimate(self, name, shape, mode, threads, flops):
        """(seconds one call is expected to take or None, measured: bool). A call
        measured at another thread count is scaled by the thread ratio, unless the
        contender is pygru without threads; otherwise the best GFLOP/s seen so far
        for the contender and mode (probe included) gives the estimate."""
        known = self.single_call.get((name, shape.label(), mode))
        if known is not None:
            t0, secs = known
            threaded = name != "pygru" or C.pygru_is_threaded()
            return (secs * t0 / threads if threaded else secs), True
        rate = self.rates.get((name, mode))
        est = flops / (rate * 1e9) if rate else None
        fwd = self.single_call.get((name, shape.label(), "infer"))
        if mode == "train" and fwd is not None and fwd[0] == threads:
            # forward + backward costs at least twice the forward just measured
            est = max(est or 0.0, 2.0 * fwd[1])
        return est, False

    def run_case(self, wl, shape, mode, threads, pygru_threads):
        args = self.args
        flops = C.mode_flops(shape, mode)
        res = {"shape": shape.as_dict(), "label": shape.label(), "mode": mode,
               "threads": threads, "pygru_threads": pygru_threads, "flops": flops,
               "contenders": {}, "ratios": {}}
        active, estimates = [], {}
        for name in NAMES:
            entry = res["contenders"][name] = {}
            if self.why[name] is not None:
                entry["status"] = self.why[name]
                continue
            if name == "ort" and mode == "train":
                entry["status"] = "n/a (inference only)"
                continue
            est, measured = self.estimate(name, shape, mode, threads, flops)
            if est is not None and (est > 2 * args.budget or (measured and est > args.budget)):
                entry["status"] = "skipped: budget"
                entry["note"] = ("%s %.1f s per call > %s budget %.1f s"
                                 % ("measured" if measured else "estimated", est,
                                    "the" if measured else "2 x the", args.budget))
                continue
            try:
                contender, check = build(name, wl, mode, threads, args)
            except Exception as exc:
                entry["status"] = "error: %s: %s" % (type(exc).__name__, exc)
                continue
            if name != "torch":
                wl.reference(mode)   # torch's result, computed once and outside the timing
            # Correctness gate: the first call, also timed as a first guess.
            t0 = time.perf_counter()
            errs = check()
            first = time.perf_counter() - t0
            worst = max(errs.values()) if errs else 0.0
            entry["check"] = {"max_rel_err": worst, "per_tensor": errs,
                              "tolerance": args.check_tol}
            if name == "ort":
                assert worst <= args.check_tol, (
                    "ONNX Runtime disagrees with torch on %s %s: %s (tolerance %g): the "
                    "ONNX conversion is wrong, refusing to time it"
                    % (shape.label(), mode, errs, args.check_tol))
            if worst > args.check_tol or not math.isfinite(worst):
                entry["status"] = "FAILED check"
                self.gate_failures.append((name, shape.label(), mode, errs))
                continue
            # A first call can be far slower than the rest (thread pools starting,
            # a noisy neighbour): when it contradicts the estimate, try twice more.
            tries = 1
            while (args.budget < first < 4 * args.budget and est is not None
                   and est < args.budget / 2 and tries < 3):
                t0 = time.perf_counter()
                contender.call()
                first = min(first, time.perf_counter() - t0)
                tries += 1
            if first > args.budget:
                self.single_call[(name, shape.label(), mode)] = (threads, first)
                entry["status"] = "skipped: budget"
                entry["note"] = "one call took %.1f s > budget %.1f s" % (first, args.budget)
                continue
            est = timing.warm_up(contender, args.warmup, prior=[first],
                                 min_calls=1 if first > args.warmup else 2)
            self.single_call[(name, shape.label(), mode)] = (threads, est)
            if threads == 1:   # the best speed seen so far guides later estimates
                key = (name, mode)
                self.rates[key] = max(self.rates.get(key, 0.0), flops / est / 1e9)
            active.append(contender)
            estimates[name] = est
        if not active:
            return res
        t = timing.interleave(active, estimates, args.target, args.min_rounds, args.max_rounds)
        res["rounds"] = t["rounds"]
        res["load"] = t["load"]
        peak = self.peaks["reference"].get(threads)
        for c in active:
            e = res["contenders"][c.name]
            st = timing.summarize(t["samples"][c.name])
            e.update(status="ok", calls_per_round=t["calls_per_round"][c.name],
                     round_medians=t["round_medians"][c.name], **st)
            e["gflops"] = flops / st["median"] / 1e9
            e["pct_peak"] = 100.0 * e["gflops"] / peak if peak else None
            e["pct_sgemm"] = 100.0 * e["gflops"] / self.peaks["sgemm_torch"][threads]["gflops"]
        for peer in PEERS:
            a, b = res["contenders"]["pygru"], res["contenders"][peer]
            if a.get("status") == "ok" and b.get("status") == "ok":
                r = timing.paired_ratio(a["round_medians"], b["round_medians"])
                r["of_medians"] = a["median"] / b["median"]
                res["ratios"]["pygru/" + peer] = r
        return res


# ---- printing --------------------------------------------------------------------

def fmt_time(s):
    if s >= 1.0:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    return "%.1f us" % (s * 1e6)


def cell_time(e):
    st = e.get("status", "")
    if st == "ok":
        return "%s ±%.0f%%" % (fmt_time(e["median"]), 50.0 * e["iqr"] / e["median"])
    if st.startswith("skipped"):
        return st
    if st.startswith("n/a"):
        return "n/a"
    if st == "not selected":
        return "-"
    return st[:18]


def cell_ratio(r):
    if not r:
        return "-"
    return "%.2fx [%.2f-%.2f]" % (r["median"], r["q1"], r["q3"])


def print_table(results, out=sys.stdout):
    head = "%-23s %-6s %3s | %-18s %-18s %-18s | %-19s %-19s | %6s %6s %6s | %5s %5s %5s | %4s" % (
        "shape T,B,I,H", "mode", "thr", "pygru", "torch", "onnxruntime",
        "pygru/torch", "pygru/ort", "GF/s:p", "t", "o", "%pk:p", "t", "o", "bg")
    print(head, file=out)
    print("-" * len(head), file=out)
    for res in results:
        cs = res["contenders"]

        def num(name, key, fmt):
            v = cs[name].get(key)
            return fmt % v if (cs[name].get("status") == "ok" and v is not None) else "-"
        label = res.get("row") or (res["label"] if res["mode"] != "stream"
                                   else "cell B=1 I=H=%d" % res["shape"]["H"])
        bg = (res.get("load") or {}).get("other_cores")
        flag = "!" if (bg is not None and bg >= BUSY and res["threads"] > 1) else ""
        print("%-23s %-6s %3d | %-18s %-18s %-18s | %-19s %-19s | %6s %6s %6s | %5s %5s %5s | %4s" % (
            label, res["mode"], res["threads"],
            cell_time(cs["pygru"]), cell_time(cs["torch"]), cell_time(cs["ort"]),
            cell_ratio(res["ratios"].get("pygru/torch")), cell_ratio(res["ratios"].get("pygru/ort")),
            num("pygru", "gflops", "%.1f"), num("torch", "gflops", "%.1f"),
            num("ort", "gflops", "%.1f"),
            num("pygru", "pct_peak", "%.1f"), num("torch", "pct_peak", "%.1f"),
            num("ort", "pct_peak", "%.1f"), "-" if bg is None else "%.1f%s" % (bg, flag)), file=out)


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    if args.isa:
        os.environ["GRU_ISA"] = args.isa   # read by libgru at each model's creation
        if args.isa == "avx2":             # %pk against the AVX2 FMA peak (fma_peak.c)
            os.environ["FMA_PEAK_ISA"] = "avx2"

    pygru_dir = os.path.abspath(args.pygru_path) if args.pygru_path else ROOT
    if os.path.isdir(os.path.join(pygru_dir, "pygru")):
        sys.path.insert(1, pygru_dir)      # benchmark this pygru, not an installed one
    why = available(args)
    if why["torch"] is not None:
        log("torch is required (it is the reference): %s" % why["torch"])
        return 2
    info = machine.machine_info(pygru_dir)
    log("machine: %s, %s logical CPUs, load %s" % (info["cpu_model"], info["logical_cpus"],
                                                  info["loadavg_start"]))
    log("versions: %s" % info["versions"])
    log("pygru: %s" % (info["pygru_info"],))
    for name in NAMES:
        if why[name] is not None:
            log("%s: %s" % (name, why[name]))
    pygru_threaded = why["pygru"] is None and C.pygru_is_threaded()

    peaks = measure_peaks(args)
    meter = timing.CpuMeter()
    meter.start()
    time.sleep(1.0)
    info["other_cores_at_start"] = meter.stop()["other_cores"]
    if info["other_cores_at_start"] is not None and info["other_cores_at_start"] >= BUSY:
        log("WARNING: other processes are using %.1f of %s cores right now: timings will be "
            "noisy (see the bg column)" % (info["other_cores_at_start"], info["logical_cpus"]))
    rates = probe_rates(args, why)
    runner = Runner(args, why, rates, peaks)
    cases = []   # (shape, mode, published row or None)
    if args.published_rows:
        for row in args.published_rows:
            for mode in args.mode_list:
                if (mode == "step") == (row.kind == "step"):
                    cases.append((row.shape, mode, row))
    else:
        for shape in args.shape_list:
            for mode in args.mode_list:
                if mode != "stream":
                    cases.append((shape, mode, None))
        if "stream" in args.mode_list:
            cases.append((C.Shape(1, 1, args.stream_size, args.stream_size), "stream", None))
    total = len(cases) * len(args.thread_list)
    results, k = [], 0
    workloads = {}
    bandwidths = {}   # (resident bytes, threads) -> machine.measure_read_bandwidth()
    for shape, mode, row in cases:
        key = (shape.label(), mode == "stream", mode == "step")
        if key not in workloads:
            workloads.clear()   # one shape's data at a time
            workloads[key] = (StepWorkload(shape) if mode == "step"
                              else C.Workload(shape, stream=(mode == "stream")))
        wl = workloads[key]
        for threads in args.thread_list:
            k += 1
            name = row.name if row else shape.label()
            if time.time() - started > 60.0 * args.max_minutes:
                res = {"shape": shape.as_dict(), "label": shape.label(), "mode": mode,
                       "threads": threads, "flops": C.mode_flops(shape, mode), "ratios": {},
                       "contenders": {n: {"status": "skipped: time limit"} for n in NAMES}}
                if row:
                    res.update(row=row.name, source=row.source, published=row.published)
                results.append(res)
                log("[%d/%d] %s %s thr=%d: skipped: time limit (--max-minutes %g)"
                    % (k, total, name, mode, threads, args.max_minutes))
                continue
            pthreads = set_threads(threads)
            waited = wait_quiet(args.quiet_wait) if threads > 1 else 0.0
            bw = None
            if row:   # the read ceiling of this row's weights, measured before its timing
                resident = published.weight_bytes(shape, row.kind)[1]
                if (resident, threads) not in bandwidths:
                    bandwidths[(resident, threads)] = machine.measure_read_bandwidth(
                        resident, threads, seconds=0.05 if args.quick else 0.2)
                bw = bandwidths[(resident, threads)]
            t0 = time.time()
            res = runner.run_case(wl, shape, mode, threads, pthreads)
            res["seconds"] = time.time() - t0
            res["waited_for_quiet_s"] = waited
            if row:
                res.update(row=row.name, source=row.source, published=row.published,
                           read_bandwidth=bw)
                res["bound"] = published.bounds(res, row, peaks["reference"].get(threads), bw)
            results.append(res)
            parts = []
            for cname in NAMES:
                e = res["contenders"][cname]
                if e.get("status") == "ok":
                    parts.append("%s %s" % (cname, fmt_time(e["median"])))
                elif e.get("status") != "not selected":
                    parts.append("%s %s" % (cname, e.get("status")))
            log("[%d/%d] %s %s thr=%d (%.1f s): %s" % (k, total, name, mode, threads,
                                                     res["seconds"], "; ".join(parts)))
    workloads.clear()

    print()
    pinfo = info["pygru_info"] or {}
    print("pygru %s (%s kernels%s) vs torch %s%s, float32, CPU: %s (%s logical CPUs)" % (
        info["versions"]["pygru"], pinfo.get("isa"),
        ", GRU_ISA forced" if args.isa else "", info["versions"]["torch"],
        (" and onnxruntime %s" % info["versions"]["onnxruntime"]) if why["ort"] is None else "",
        info["cpu_model"], info["logical_cpus"]))
    print("times: median ±half-IQR over all timed calls; ratios: pygru time / peer time "
          "(>1 = pygru slower), median [IQR] over rounds of paired per-round ratios;")
    print("bg: CPU cores busy with OTHER processes while the case was timed (noise indicator)")
    print("GF/s: matmul GFLOP/s (2TB3H(I+H) per layer-direction, x3 for train); %%pk: %% of the "
          "FMA peak for that thread count, %s" % peaks["reference_text"])
    if why["pygru"] is None and not pygru_threaded:
        print("pygru has no set_num_threads: it runs single-threaded at every thread count")
    print()
    print_table(results)
    if any((r.get("load") or {}).get("other_cores") is not None and r["threads"] > 1
           and r["load"]["other_cores"] >= BUSY for r in results):
        print("! other processes kept >= %.1f core busy during this multi-thread row: with "
              "2 cores, thread pools wait on a preempted thread; treat it as unreliable" % BUSY)
    if args.published_rows:
        print()
        published.print_bounds(results, sys.stdout)
    if runner.gate_failures:
        print()
        for name, label, mode, errs in runner.gate_failures:
            worst = max(errs, key=lambda k: errs[k])
            print("FAILED correctness gate: %s %s %s: worst %s rel err %.3g (tolerance %g)"
                  % (name, label, mode, worst, errs[worst], args.check_tol))
    info["loadavg_end"] = os.getloadavg()
    if args.json:
        settings = {k: v for k, v in vars(args).items()
                    if k not in ("shape_list", "published_rows") and not callable(v)}
        settings["published_rows"] = ([r.as_dict() for r in args.published_rows]
                                      if args.published_rows else None)
        doc = {"machine": info, "settings": settings, "peaks": peaks,
               "probe_gflops": {"%s/%s" % k: v for k, v in rates.items()},
               "sweep": ({"kind": args.sweep, "values": args.sweep_values_list,
                          "batch": args.sweep_batch,
                          "T": args.sweep_T if args.sweep == "hidden" else None,
                          "size": args.sweep_size if args.sweep == "seqlen" else None}
                         if args.sweep else None),
               "pygru_threaded": pygru_threaded,
               "cache_levels": machine.cache_levels(),
               "results": results, "wall_seconds": time.time() - started}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=_json_default)
        log("wrote %s" % args.json)
    log("total %.0f s" % (time.time() - started))
    return 1 if runner.gate_failures else 0


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
