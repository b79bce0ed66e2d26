#!/usr/bin/env python3
"""bench/contention.py - pygru at 2 threads against 1 thread while another thread keeps a
core busy (issue 15: "pygru at 2 threads is never slower than 1.2x its 1-thread time on
any grid row, the step included").

    .venv/bin/python bench/contention.py --quick          # smoke run, ~30 s
    .venv/bin/python bench/contention.py --json contention.json --txt contention.txt
    .venv/bin/python bench/contention.py --shapes 100,32,128,256 --modes infer --conditions spin

Rows: compare.py's default grid (--shapes), inference and training (forward + backward),
plus the streaming steps (--modes stream): a GRUCell step with B = 1, I = H = 256, and a
2-layer GRU step (GRU.step) of the same size. Conditions (--conditions):
  idle   nothing else runs;
  spin   a thread of this process spins in C (bench/spinner.py, bench/spin.c: ctypes
         releases the GIL, so it really keeps one core busy) for the whole case;
  torch  before every pygru call (timed or not) the script runs the row's torch module
         once (torch.nn.GRU forward of the same shape, or the GRUCell / 2-layer GRU step,
         inference_mode) with torch.set_num_threads(2) (--torch-threads), so torch's
         OpenMP workers are still spinning on the cores when pygru starts; only pygru's
         calls are timed.
Method: pygru's thread count is process-wide (pygru.set_num_threads), so the two thread
counts alternate in rounds: set 1, warm up (2 samples; 1 when a sample takes > 0.25 s),
time k1 samples; set 2, warm up, time k2 samples; ... A sample is one call of a batch
row, and --stream-steps (100) steps of a step row with the state fed back (every call is
timed on its own, the sample is their sum: a minority of stalled steps counts as it does
in a stream, where a per-step median would hide it). Each thread count spends about
--target seconds per case. Reported: per thread count the median (and IQR) of its
samples, per call (per step); the ratio 2-thread / 1-thread = the median [quartiles]
over rounds of (2-thread round median / 1-thread round median); > --bound (1.2) is
marked "!!". bg: cores busy with other processes (a noise indicator; "!" at >= 0.5:
the case ran under more contention than its condition says; --quiet-wait S waits up to
S seconds before each case for the machine to go idle).

Guarantees: before a case is timed its correctness gate runs under the same condition at
both thread counts: pygru's results (output and h_n; in training also grad_x and every
parameter gradient; the step's new states) must equal, bit for bit, its own 1-thread
results on the idle machine (which are first checked against torch, max|a-ref|/max|ref|
<= 1e-4). A case that fails is reported "FAILED check", not timed, and the exit status
is 1. The 2-thread / 1-thread targets do not change the exit status.
"""
import argparse
import gc
import io
import json
import math
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
import spinner  # noqa: E402
import timing  # noqa: E402

CONDITIONS = ("idle", "spin", "torch")
MODES = ("infer", "train", "stream")
QUICK_SHAPES = ["100,1,256,256", "100,32,128,256"]
REF_TOL = 1e-4        # the idle 1-thread reference against torch
LONG_CALL = 0.25      # seconds: samples longer than this warm up with 1 sample, not 2


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: shapes %s (unless --shapes), target 0.1 s, 3-6 rounds"
                        % " ".join(QUICK_SHAPES))
    p.add_argument("--shapes", nargs="+", metavar="T,B,I,H[,L][,bi]",
                   help="rows to run (default: compare.py's grid of 7)")
    p.add_argument("--modes", default="infer,train,stream",
                   help="comma-separated subset of infer,train,stream (default: all)")
    p.add_argument("--conditions", default="idle,spin,torch",
                   help="comma-separated subset of idle,spin,torch (default: all)")
    p.add_argument("--stream-size", type=int, default=256,
                   help="I = H of the streaming steps (default 256)")
    p.add_argument("--stream-steps", type=int, default=100,
                   help="steps per timed sample of a step row (default 100): a sample's "
                        "time is the sum of its steps' times, reported per step, so a "
                        "minority of stalled steps counts as it does in a stream")
    p.add_argument("--target", type=float, default=None,
                   help="seconds each thread count is timed per case (default 1.0; quick 0.1)")
    p.add_argument("--min-rounds", type=int, default=None, help="default 5 (quick 3)")
    p.add_argument("--max-rounds", type=int, default=None, help="default 20 (quick 6)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of samples per thread count before the rounds, to estimate "
                        "a sample (at least 2; default 0.2, quick 0.05)")
    p.add_argument("--warm-calls", type=int, default=2,
                   help="untimed samples after each change of the thread count (default 2; "
                        "1 for samples longer than %g s)" % LONG_CALL)
    p.add_argument("--torch-threads", type=int, default=2,
                   help="torch.set_num_threads in the torch condition (default 2)")
    p.add_argument("--bound", type=float, default=1.2,
                   help="the 2-thread / 1-thread ratio the rows are held to (default 1.2)")
    p.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                   help="before each case, wait up to SECONDS for other processes to leave "
                        "the cores idle (compare.py's; default 0: do not wait, just report)")
    p.add_argument("--max-minutes", type=float, default=20.0,
                   help="wall-clock limit; cases not started by then are 'skipped: time "
                        "limit' (default 20)")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH")
    p.add_argument("--txt", metavar="PATH", help="write the printed report to PATH too")
    a = p.parse_args(argv)
    for name, full, fast in (("target", 1.0, 0.1), ("min_rounds", 5, 3), ("max_rounds", 20, 6),
                             ("warmup", 0.2, 0.05)):
        if getattr(a, name) is None:
            setattr(a, name, fast if a.quick else full)
    a.mode_list = _subset(p, "--modes", a.modes, MODES)
    a.condition_list = _subset(p, "--conditions", a.conditions, CONDITIONS)
    if a.target <= 0 or a.min_rounds < 1 or a.max_rounds < a.min_rounds:
        p.error("--target must be > 0 and 1 <= --min-rounds <= --max-rounds")
    if min(a.warm_calls, a.torch_threads, a.stream_size, a.stream_steps) < 1:
        p.error("--warm-calls, --torch-threads, --stream-size and --stream-steps must be >= 1")
    try:
        a.shape_list = [C.Shape.parse(s) for s in
                        (a.shapes or (QUICK_SHAPES if a.quick else compare.DEFAULT_SHAPES))]
    except ValueError as exc:
        p.error("--shapes: %s" % exc)
    return a


def _subset(p, flag, text, allowed):
    out = [m.strip() for m in text.split(",") if m.strip()]
    for m in out:
        if m not in allowed:
            p.error("%s: unknown %r (choose from %s)" % (flag, m, ", ".join(allowed)))
    if not out:
        p.error("%s: nothing selected" % flag)
    return out


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- rows: what is called, its results, and the torch work run between calls ----------

class Row:
    """One row of the table: kind 'infer' or 'train' on a grid shape, or 'cell' (GRUCell
    step, B = 1) or 'step2' (2-layer GRU step, B = 1). build() makes the workload (torch
    weights, seed 0), the pygru model, and
      call()      one unit of work (the timed thing; a step feeds its state back),
      results()   {name: ndarray} of a fixed input (the correctness gate),
      torch_op()  the row's torch module run once (the torch condition)."""

    def __init__(self, kind, shape, per_sample=1):
        self.kind, self.shape = kind, shape
        self.mode = "stream" if kind in ("cell", "step2") else kind
        self.per_sample = per_sample   # calls summed into one timed sample

    def label(self):
        if self.kind == "cell":
            return "cell B=1 I=H=%d" % self.shape.H
        if self.kind == "step2":
            return "step L2 B=1 I=H=%d" % self.shape.H
        return self.shape.label()

    def threaded(self):
        """Whether libgru splits this row's steps over threads at all: a call whose
        recurrent product per step is small (3 B H^2 < GRU_THREAD_MIN_WORK, default
        27648) runs on one thread whatever the setting (gru.h)."""
        try:
            least = int(os.environ.get("GRU_THREAD_MIN_WORK", "27648"))
        except ValueError:
            least = 27648
        return 3 * self.shape.B * self.shape.H ** 2 >= least

    def build(self):
        import pygru
        import torch
        s = self.shape
        if self.kind == "cell":
            wl = C.Workload(s, stream=True)
            cell = pygru.GRUCell(s.I, s.H)
            cell.load_state_dict(wl.state_dict)
            cell.eval()
            x, h0, state = wl.x, wl.h0, [wl.h0.copy()]
            xt, ht = torch.from_numpy(x), torch.from_numpy(h0)

            def call():
                state[0] = cell(x, state[0])

            def results():
                return {"h1": cell(x, h0)}

            def torch_op():
                with torch.inference_mode():
                    wl.tmod(xt, ht)

            def torch_ref():
                return wl.reference("stream")
            self.model = cell
        elif self.kind == "step2":
            wl = C.Workload(s)                       # torch.nn.GRU(I, H, 2), x (1, 1, I)
            g = pygru.GRU(s.I, s.H, num_layers=s.L)
            g.load_state_dict(wl.state_dict)
            g.eval()
            x = wl.x[0]                                                        # (1, I)
            h0 = (0.5 * np.random.default_rng(1).standard_normal((s.L, 1, s.H))).astype(
                np.float32)                                                    # (L, 1, H)
            state, out = h0.copy(), np.empty((1, s.H), np.float32)
            xt, ht = torch.from_numpy(wl.x), torch.from_numpy(h0)

            def call():
                g.step(x, state, out=out)

            def results():
                st = h0.copy()
                h1 = g.step(x, st)
                return {"h1": h1, "state": st}

            def torch_op():
                with torch.inference_mode():
                    wl.tmod(xt, ht)

            def torch_ref():
                with torch.inference_mode():
                    y, h_n = wl.tmod(xt, ht)
                return {"h1": y[0].numpy().copy(), "state": h_n.numpy().copy()}
            self.model = g
        else:
            wl = C.Workload(s)
            m = pygru.GRU(s.I, s.H, num_layers=s.L, bidirectional=s.bidir)
            m.load_state_dict(wl.state_dict)
            x, grad = wl.x, wl.grad
            xt = torch.from_numpy(x)

            def torch_op():
                with torch.inference_mode():
                    wl.tmod(xt)

            def torch_ref():
                return wl.reference(self.kind)
            if self.kind == "infer":
                m.eval()

                def call():
                    m(x)

                def results():
                    out, h_n = m(x)
                    return {"output": out, "h_n": h_n}
            else:
                m.train()

                def call():
                    m(x)
                    m.backward(grad)

                def results():
                    m.zero_grad()
                    out, h_n = m(x)
                    dx, _ = m.backward(grad)
                    res = {"output": out, "h_n": h_n, "grad_x": dx}
                    for name, gr in m.grads.items():
                        res["grad_" + name] = np.array(gr, copy=True)
                    m.zero_grad()
                    return res
            self.model = m
        self.workload = wl
        self.call, self.torch_op, self.torch_ref = call, torch_op, torch_ref
        self.results = lambda: {k: np.array(v, copy=True) for k, v in results().items()}

    def free(self):
        for name in ("model", "workload", "call", "torch_op", "torch_ref", "results"):
            self.__dict__.pop(name, None)


def make_rows(args):
    rows = []
    for shape in args.shape_list:
        for mode in args.mode_list:
            if mode != "stream":
                rows.append(Row(mode, shape))
    if "stream" in args.mode_list:
        n = args.stream_size
        rows.append(Row("cell", C.Shape(1, 1, n, n), args.stream_steps))
        rows.append(Row("step2", C.Shape(1, 1, n, n, L=2), args.stream_steps))
    return rows


def bitwise_diff(res, ref):
    """{tensor: why it differs} for every tensor of res that is not bit for bit ref's."""
    bad = {}
    for k, r in ref.items():
        a = res.get(k)
        if a is None:
            bad[k] = "missing"
        elif a.shape != r.shape or a.dtype != r.dtype:
            bad[k] = "shape/dtype %s %s != %s %s" % (a.shape, a.dtype, r.shape, r.dtype)
        elif a.tobytes() != r.tobytes():
            differ = a.view(np.uint8).reshape(-1) != r.view(np.uint8).reshape(-1)
            bad[k] = "%d of %d bytes differ, max |diff| %.3g" % (
                int(differ.sum()), differ.size,
                float(np.max(np.abs(a.astype(np.float64) - r.astype(np.float64)))))
    return bad


# ---- one case: a row under a condition ----------------------------------------------

class Condition:
    """Sets up one condition for a case (a context manager); before() is what runs ahead
    of every pygru call (None: nothing)."""

    def __init__(self, name, row, args):
        self.name, self.row, self.args = name, row, args
        self.spinner = None
        self.before = None

    def __enter__(self):
        if self.name == "spin":
            self.spinner = spinner.Spinner().start()
        elif self.name == "torch":
            import torch
            self._torch_threads = torch.get_num_threads()
            torch.set_num_threads(self.args.torch_threads)
            self.before = self.row.torch_op
        return self

    def __exit__(self, *exc):
        if self.spinner is not None:
            self.spinner.stop()
        if self.name == "torch":
            import torch
            torch.set_num_threads(self._torch_threads)
        return False

    def describe(self):
        if self.name == "spin":
            return dict(self.spinner.summary(), what="a thread of this process spinning in "
                        "C (bench/spin.c) for the whole case")
        if self.name == "torch":
            return {"what": "torch module of the row run once before every pygru call",
                    "torch_threads": self.args.torch_threads}
        return {"what": "nothing else runs"}


def _run(row, before, k):
    """k samples of the row: each the summed time of row.per_sample calls (1 for a batch
    row, --stream-steps for a step row), every call timed on its own, before() run ahead
    of each call, untimed. Returns seconds per sample."""
    call, clock, m, out = row.call, time.perf_counter, row.per_sample, []
    for _ in range(k):
        total = 0.0
        for _ in range(m):
            if before is not None:
                before()
            t0 = clock()
            call()
            total += clock() - t0
        out.append(total)
    return out


def _estimate(row, before, warmup_s):
    """(seconds of one sample, seconds of one sample with its before() calls) at the
    current thread count: at least 2 samples, more until warmup_s has passed (at most
    200); medians of the last three."""
    calls, iters = [], []
    while len(calls) < 2 or (sum(iters) < warmup_s and len(calls) < 200):
        t0 = time.perf_counter()
        calls += _run(row, before, 1)
        iters.append(time.perf_counter() - t0)
    return float(np.median(calls[-3:])), float(np.median(iters[-3:]))


def _gate(row, cond, set_threads):
    """{"n threads": {tensor: why}} for each thread count whose results under the
    condition differ from the idle 1-thread reference ({} when all are bitwise equal)."""
    bad = {}
    for n in (1, 2):
        set_threads(n)
        if cond.before is not None:
            cond.before()
        diff = bitwise_diff(row.results(), row.reference)
        if diff:
            bad["%d threads" % n] = diff
    return bad


def _time_rounds(row, cond, args, set_threads):
    """The timed part of a case: estimates, then rounds alternating 1 and 2 threads."""
    est, est_iter = {}, {}
    for n in (1, 2):
        set_threads(n)
        est[n], est_iter[n] = _estimate(row, cond.before, args.warmup)
    slowest = max(est.values())
    rounds = int(min(args.max_rounds, max(args.min_rounds,
                                          math.floor(args.target / max(slowest, 1e-9)))))
    k = {n: max(1, int(round(args.target / rounds / max(est[n], 1e-9)))) for n in est}
    warm = {n: 1 if est[n] > LONG_CALL else args.warm_calls for n in est}   # samples
    planned = rounds * sum((k[n] + warm[n]) * est_iter[n] for n in est)
    samples, medians = {1: [], 2: []}, {1: [], 2: []}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    meter = timing.CpuMeter()
    meter.start()
    cpu0, start = time.process_time(), time.perf_counter()
    done = 0
    try:
        for r in range(rounds):
            for n in (1, 2):
                set_threads(n)
                _run(row, cond.before, warm[n])
                d = _run(row, cond.before, k[n])
                samples[n].extend(d)
                medians[n].append(float(np.median(d)))
            done = r + 1
            if done >= args.min_rounds and time.perf_counter() - start > 3 * planned + 1:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    wall = time.perf_counter() - start
    load = meter.stop()
    load["own_cores"] = (time.process_time() - cpu0) / max(wall, 1e-9)
    out = {"status": "ok", "rounds": done, "load": load, "seconds_timed_rounds": wall,
           "threads": {}}
    m = row.per_sample
    for n in (1, 2):   # seconds per call: a step row's samples are m steps each
        out["threads"][str(n)] = dict(
            timing.summarize([d / m for d in samples[n]]), calls_per_sample=m,
            samples_per_round=k[n], warm_samples=warm[n], estimate_per_sample=est[n],
            round_medians=[d / m for d in medians[n]])
    out["ratio"] = timing.paired_ratio(medians[2], medians[1])   # m cancels
    out["ratio"]["of_medians"] = out["threads"]["2"]["median"] / out["threads"]["1"]["median"]
    out["over_bound"] = out["ratio"]["median"] > args.bound
    return out


def run_case(row, cond_name, args, set_threads):
    """Gate, then time row under the condition at 1 and 2 threads, alternating per
    round. set_threads(n) sets pygru's thread count. Returns the result dict."""
    res = {"row": row.label(), "mode": row.mode, "kind": row.kind,
           "shape": row.shape.as_dict(), "condition": cond_name,
           "pool_used": row.threaded()}
    with Condition(cond_name, row, args) as cond:
        bad = _gate(row, cond, set_threads)
        res["check"] = {"bitwise_equal_to_idle_1_thread": not bad, "differences": bad,
                        "tensors": sorted(row.reference)}
        if bad:
            res["status"] = "FAILED check"
        else:
            res.update(_time_rounds(row, cond, args, set_threads))
    res["condition_info"] = cond.describe()
    return res


def prepare_reference(row, set_threads):
    """pygru's 1-thread results on the idle machine (the gate's reference), checked
    against torch. Returns the worst relative error against torch."""
    set_threads(1)
    row.reference = row.results()
    ref = row.torch_ref()
    errs = {k: C.rel_err(v, ref[k]) for k, v in row.reference.items() if k in ref}
    missing = sorted(set(row.reference) - set(ref))
    if missing:
        raise AssertionError("%s: no torch reference for %s" % (row.label(), missing))
    return errs


# ---- report ---------------------------------------------------------------------------

def _cell(e):
    return "%s ±%.0f%%" % (compare.fmt_time(e["median"]), 50.0 * e["iqr"] / e["median"])


def report(info, results, args, out):
    pinfo = info.get("pygru_info") or {}
    print("pygru %s (%s kernels), 2 threads against 1 under contention; CPU: %s (%s logical "
          "CPUs)" % (info["versions"]["pygru"], pinfo.get("isa"), info["cpu_model"],
                     info["logical_cpus"]), file=out)
    print("idle: nothing else; spin: a thread of this process spinning in C (one core busy); "
          "torch: the row's torch module (torch.set_num_threads(%d)) run before every pygru "
          "call, untimed" % args.torch_threads, file=out)
    print("times per call (step rows: per step of samples of %d steps): median ±half-IQR "
          "of the samples; 2/1: median [quartiles] over rounds of (2-thread round median / "
          "1-thread round median); !! = above %.2f; bg: cores busy with other processes; "
          "spin: the spinner's share of a core; * = a row libgru runs on one thread anyway "
          "(3BH^2 < GRU_THREAD_MIN_WORK)" % (args.stream_steps, args.bound), file=out)
    head = "%-24s %-6s %-6s | %-15s %-15s | %-20s %2s | %5s %5s" % (
        "row", "mode", "cond", "1 thread", "2 threads", "2/1 [q1-q3]", "", "bg", "spin")
    print(head, file=out)
    print("-" * len(head), file=out)
    noisy = False
    for res in results:
        label = res["row"] + ("" if res.get("pool_used", True) else " *")
        if res.get("status") != "ok":
            print("%-24s %-6s %-6s | %s%s" % (label, res["mode"], res["condition"],
                                              res.get("status"),
                                              ": " + res["note"] if res.get("note") else ""),
                  file=out)
            continue
        r = res["ratio"]
        bg = res["load"].get("other_cores")
        noisy = noisy or (bg is not None and bg >= compare.BUSY)
        share = (res.get("condition_info") or {}).get("core_share")
        print("%-24s %-6s %-6s | %-15s %-15s | %-20s %2s | %5s %5s" % (
            label, res["mode"], res["condition"], _cell(res["threads"]["1"]),
            _cell(res["threads"]["2"]), "%.2f [%.2f-%.2f]" % (r["median"], r["q1"], r["q3"]),
            "!!" if res["over_bound"] else "",
            "-" if bg is None else "%.1f%s" % (bg, "!" if bg >= compare.BUSY else ""),
            "-" if share is None else "%.2f" % share), file=out)
    if noisy:
        print("! other processes kept >= %.1f core busy during this case (bg): it ran under more "
              "contention than its condition says; treat it as unreliable (--quiet-wait)"
              % compare.BUSY, file=out)
    failed = [r for r in results if r.get("status") == "FAILED check"]
    if failed:
        print("", file=out)
        for res in failed:
            print("FAILED correctness gate: %s %s %s: %s" % (
                res["row"], res["mode"], res["condition"],
                json.dumps(res["check"]["differences"])), file=out)
    lines = target_lines(results, args)
    if lines:
        print("\ntargets (issue 15: 2 threads <= %.2fx 1 thread with a core kept busy):"
              % args.bound, file=out)
        for t in lines:
            print("  " + t["text"], file=out)


def target_lines(results, args):
    """Per busy condition (spin, torch) measured: the worst row and the rows over the
    bound."""
    lines = []
    for cond in ("spin", "torch"):
        rows = [r for r in results if r["condition"] == cond and r.get("status") == "ok"]
        if not rows:
            continue
        worst = max(rows, key=lambda r: r["ratio"]["median"])
        over = [r for r in rows if r["over_bound"]]
        met = not over
        text = "%s: %d rows, worst %s %s %.2fx; %s" % (
            cond, len(rows), worst["row"], worst["mode"], worst["ratio"]["median"],
            "met" if met else "MISSED on %d: %s" % (len(over), ", ".join(
                "%s %s %.2fx" % (r["row"], r["mode"], r["ratio"]["median"]) for r in over)))
        lines.append({"condition": cond, "text": text, "met": met, "rows": len(rows),
                      "worst": worst["ratio"]["median"]})
    return lines


# ---- main -----------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    sys.path.insert(1, ROOT)   # this tree's pygru
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        log("torch is required (the weights, the reference and the torch condition): %s" % exc)
        return 2
    import pygru
    unavailable = {}
    if "spin" in args.condition_list:
        try:
            spinner.load_library()
        except spinner.SpinnerUnavailable as exc:
            unavailable["spin"] = str(exc)
            log("spin condition unavailable: %s" % exc)
    info = machine.machine_info(ROOT)
    log("machine: %s, %s logical CPUs, load %s; pygru %s" % (
        info["cpu_model"], info["logical_cpus"], info["loadavg_start"], info["pygru_info"]))
    threads_before = pygru.get_num_threads()

    def set_threads(n):
        pygru.set_num_threads(n)

    rows = make_rows(args)
    total = len(rows) * len(args.condition_list)
    results, k = [], 0
    ref_errors = {}
    for row in rows:
        row.build()
        errs = prepare_reference(row, set_threads)
        ref_errors[row.label() + " " + row.mode] = errs
        worst = max(errs.values()) if errs else 0.0
        ref_ok = worst <= REF_TOL and math.isfinite(worst)
        for cond in args.condition_list:
            k += 1
            base = {"row": row.label(), "mode": row.mode, "kind": row.kind,
                    "shape": row.shape.as_dict(), "condition": cond,
                    "pool_used": row.threaded(), "reference_vs_torch": errs}
            if not ref_ok:
                res = dict(base, status="FAILED check",
                           check={"bitwise_equal_to_idle_1_thread": None,
                                  "differences": {"1 thread idle vs torch": errs}})
            elif cond in unavailable:
                res = dict(base, status="unavailable", note=unavailable[cond])
            elif time.time() - started > 60.0 * args.max_minutes:
                res = dict(base, status="skipped: time limit")
            else:
                waited = compare.wait_quiet(args.quiet_wait)
                t0 = time.time()
                res = run_case(row, cond, args, set_threads)
                res["waited_for_quiet_s"] = waited
                res["reference_vs_torch"] = errs
                res["seconds"] = time.time() - t0
            results.append(res)
            if res.get("status") == "ok":
                msg = "1 thr %s, 2 thr %s, 2/1 %.2f%s" % (
                    compare.fmt_time(res["threads"]["1"]["median"]),
                    compare.fmt_time(res["threads"]["2"]["median"]), res["ratio"]["median"],
                    " !!" if res["over_bound"] else "")
            else:
                msg = res.get("status")
            log("[%d/%d] %s %s %s: %s" % (k, total, row.label(), row.mode, cond, msg))
        row.free()
    pygru.set_num_threads(threads_before)
    info["loadavg_end"] = os.getloadavg()
    buf = io.StringIO()
    report(info, results, args, buf)
    text = buf.getvalue()
    print()
    print(text, end="")
    if args.txt:
        cmd = " ".join(["bench/contention.py"] + list(sys.argv[1:] if argv is None else argv))
        with open(args.txt, "w") as f:
            f.write("$ %s\n\n%s" % (cmd, text))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "shape_list"}
        doc = {"machine": info, "settings": settings, "results": results,
               "reference_vs_torch": ref_errors, "targets": target_lines(results, args),
               "wall_seconds": time.time() - started}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=compare._json_default)
        log("wrote %s" % args.json)
    log("total %.0f s" % (time.time() - started))
    return 1 if any(r.get("status") == "FAILED check" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
