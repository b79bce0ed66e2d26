#!/usr/bin/env python3
"""bench/step_bound.py - how close the streaming step (B = 1, float32) comes to the time
of only reading its weights (issue 15): the C step gru_step against bench/read_bw.c's
plain loop over exactly the weight bytes of the step (bench/step_bound.c, target C step
<= 1.15x the loop), and the Python step (pygru's GRU.step with the state fed back)
against the C step (target <= 1.3x), in one table, 1 and 2 threads.

    .venv/bin/python bench/step_bound.py --quick                      # ~15 s
    .venv/bin/python bench/step_bound.py --json step_bound.json --txt step_bound.txt
    .venv/bin/python bench/step_bound.py --steps 384,384,3 1024,1024 --threads 1

Per row (I, H, layers, threads):
  1. gates: pygru's step against torch.nn.GRU's on the same weights (max |a - ref| /
     max |ref| <= --check-tol), and step_bound.c's own gates (gru_step bitwise
     gru_forward over one step; the read loop's sum exact): a failed gate is reported,
     the row is not timed, and the run exits 1;
  2. the Python step: --rounds rounds, each k steps back to back timed as one block
     (garbage collector off), half of them before the C tool runs and half after (the
     C tool is another process, so the two are not interleaved call by call);
  3. step_bound.c (built against c/build/libgru.a; --c-step build runs make -C c
     first): 15 rounds alternating a block of steps and a block of read passes, paired.
Ratios: C step / read loop = the median over step_bound.c's rounds of the per-round
ratio; Python / C = the Python rounds' median / the C step's median round. Both also as
best / best. The level: where 3H(I+H) + (L-1) 3H(2H) floats live when each of the
threads reads its share (machine.weight_level, from the sysfs cache sizes).
"""
import argparse
import gc
import io
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import contenders as C  # noqa: E402
import machine  # noqa: E402
import timing  # noqa: E402

DEFAULT_STEPS = ["256,256", "384,384", "512,512", "1024,1024"]
QUICK_STEPS = ["256,256", "384,384"]
C_TARGET = 1.15    # C step / read loop
PY_TARGET = 1.3    # Python step / C step
LINE = re.compile(
    r"gru_step (?P<c_best>[\d.]+) us \(median (?P<c_med>[\d.]+) us\); read loop "
    r"(?P<r_best>[\d.]+) us \(median (?P<r_med>[\d.]+) us\) over (?P<bytes>\d+) bytes; "
    r"step/read (?P<ratio>[\d.]+) \(best/best (?P<ratio_best>[\d.]+)\) "
    r"\[q1 (?P<q1>[\d.]+), q3 (?P<q3>[\d.]+)\]")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: steps 256,256 384,384, 1 thread, 0.3 s per part")
    p.add_argument("--steps", nargs="+", metavar="I,H[,L]",
                   help="step sizes (default 256,256 384,384 512,512 1024,1024)")
    p.add_argument("--threads", default=None, help="comma-separated (default 1,2; quick 1)")
    p.add_argument("--seconds", type=float, default=None,
                   help="seconds of the C tool per row (steps + reads; default 2; quick 0.3)")
    p.add_argument("--py-seconds", type=float, default=None,
                   help="seconds of Python steps per row (default 1.5; quick 0.3)")
    p.add_argument("--rounds", type=int, default=16,
                   help="rounds of Python steps per row, half before and half after the "
                        "C tool (default 16)")
    p.add_argument("--c-step", choices=("build", "auto"), default="build",
                   help="build: make -C c first (default); auto: use c/build/libgru.a")
    p.add_argument("--check-tol", type=float, default=1e-4,
                   help="pygru's step vs torch, max|a-ref|/max|ref| (default 1e-4)")
    p.add_argument("--json", metavar="PATH", help="write every measurement to PATH")
    p.add_argument("--txt", metavar="PATH", help="write the printed table to PATH too")
    a = p.parse_args(argv)
    for name, full, fast in (("threads", "1,2", "1"), ("seconds", 2.0, 0.3),
                             ("py_seconds", 1.5, 0.3)):
        if getattr(a, name) is None:
            setattr(a, name, fast if a.quick else full)
    try:
        a.thread_list = [int(t) for t in a.threads.split(",") if t.strip()]
    except ValueError:
        p.error("--threads must be integers >= 1")
    if not a.thread_list or min(a.thread_list) < 1:
        p.error("--threads must be integers >= 1")
    if a.rounds < 2:
        p.error("--rounds must be >= 2")
    if not (a.seconds > 0 and a.py_seconds > 0):
        p.error("--seconds and --py-seconds must be > 0")
    a.step_list = []
    for spec in a.steps or (QUICK_STEPS if a.quick else DEFAULT_STEPS):
        parts = [x.strip() for x in spec.split(",")]
        if len(parts) not in (2, 3) or not all(x.isdigit() and int(x) > 0 for x in parts):
            p.error("--steps %r: expected I,H[,layers] with positive integers" % spec)
        v = [int(x) for x in parts]
        a.step_list.append((v[0], v[1], v[2] if len(v) == 3 else 1))
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def weight_bytes(I, H, L):
    """float32 weight bytes one step reads: 3H(I+H) + (L-1) 3H(2H) values."""
    return 4 * (3 * H * (I + H) + (L - 1) * 3 * H * 2 * H)


def run_c(exe, I, H, L, threads, seconds):
    """step_bound.c on one row: {"status", "line", "gates" (its gate line), in seconds
    "c_best", "c_median", "read_best", "read_median"; "ratio", "ratio_best", "ratio_q1",
    "ratio_q3", "bytes"}."""
    r = subprocess.run([exe, str(I), str(H), str(threads), str(L), repr(seconds)],
                       capture_output=True, text=True)
    lines = r.stdout.strip().split("\n") if r.stdout.strip() else [""]
    line = lines[-1]
    if r.returncode != 0:
        return {"status": "FAILED gate" if "gate FAILED" in line else "error",
                "line": line or r.stderr.strip()[-300:], "returncode": r.returncode}
    m = LINE.search(line)
    gates = [x for x in lines if x.startswith("gates passed:")]
    if not m or not gates:
        return {"status": "error: unreadable output", "line": r.stdout.strip()[-300:]}
    g = {k: float(v) for k, v in m.groupdict().items()}
    return {"status": "ok", "line": line, "gates": gates[0], "c_best": g["c_best"] * 1e-6,
            "c_median": g["c_med"] * 1e-6, "read_best": g["r_best"] * 1e-6,
            "read_median": g["r_med"] * 1e-6, "ratio": g["ratio"],
            "ratio_best": g["ratio_best"], "ratio_q1": g["q1"], "ratio_q3": g["q3"],
            "bytes": int(g["bytes"])}


class PyStep:
    """pygru's streaming step on torch.nn.GRU(I, H, L)'s weights: GRU.step(x, state, out)
    with x (1, I), the state (L, 1, H) fed back, out (1, H)."""

    def __init__(self, I, H, L):
        import torch
        import pygru
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        self.tmod = torch.nn.GRU(I, H, num_layers=L)
        self.x = rng.standard_normal((1, I)).astype(np.float32)                  # (1, I)
        self.h0 = (0.5 * rng.standard_normal((L, 1, H))).astype(np.float32)      # (L, 1, H)
        self.model = pygru.GRU(I, H, num_layers=L)
        self.model.load_state_dict({k: v.detach().clone()
                                    for k, v in self.tmod.state_dict().items()})
        self.model.eval()
        self.state = self.h0.copy()
        self.out = np.empty((1, H), np.float32)

    def check(self):
        """{"h1": rel err of pygru's new state vs torch's}."""
        import torch
        with torch.inference_mode():
            _, ref = self.tmod(torch.from_numpy(self.x[None]), torch.from_numpy(self.h0))
        st = self.h0.copy()
        self.model.step(self.x, st)
        return {"h1": C.rel_err(st, ref.numpy())}

    def block(self, k):
        """Mean seconds per step of k steps back to back."""
        step, x, state, out = self.model.step, self.x, self.state, self.out
        clock = time.perf_counter
        t0 = clock()
        for _ in range(k):
            step(x, state, out)
        return (clock() - t0) / k


def py_rounds(ps, rounds, seconds):
    """rounds blocks of k steps each (about seconds in all): per-round mean seconds."""
    t = timing.warm_up(timing.Contender("pygru", lambda: ps.block(1)), 0.05, min_calls=3)
    k = max(1, int(seconds / rounds / max(t, 1e-7)))
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return [ps.block(k) for _ in range(rounds)], k
    finally:
        if was:
            gc.enable()


def _children_cpu():
    """CPU seconds used by this process's finished children (the C tool)."""
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_row(exe, I, H, L, threads, args):
    import pygru
    pygru.set_num_threads(threads)
    nbytes = weight_bytes(I, H, L)
    row = {"I": I, "H": H, "layers": L, "threads": threads, "weight_bytes": nbytes,
           "level": machine.weight_level(nbytes, threads),
           "label": ("I=H=%d" % H if I == H else "I=%d H=%d" % (I, H))
           + (", %d layers" % L if L > 1 else "")}
    ps = PyStep(I, H, L)
    errs = ps.check()
    worst = max(errs.values())
    row["check"] = {"max_rel_err": worst, "per_tensor": errs, "tolerance": args.check_tol}
    if not np.isfinite(worst) or worst > args.check_tol:
        row["py"] = {"status": "FAILED check"}
        row["c"] = {"status": "not run (the Python gate failed)"}
        return row
    meter = timing.CpuMeter()
    children0, wall0 = _children_cpu(), time.perf_counter()
    meter.start()
    half = args.rounds // 2
    first, k = py_rounds(ps, half, args.py_seconds / 2)
    row["c"] = (run_c(exe, I, H, L, threads, args.seconds) if exe
                else {"status": "unavailable"})
    second, _ = py_rounds(ps, args.rounds - half, args.py_seconds / 2)
    row["load"] = meter.stop()
    if row["load"]["other_cores"] is not None:   # the C tool's CPU time is ours, not other
        own = (_children_cpu() - children0) / max(time.perf_counter() - wall0, 1e-9)
        row["load"]["other_cores"] = max(0.0, row["load"]["other_cores"] - own)
    rounds = first + second
    row["py"] = {"status": "ok", "round_means": rounds, "steps_per_round": k,
                 "best": float(min(rounds)), "median": float(np.median(rounds)),
                 "q1": float(np.percentile(rounds, 25)), "q3": float(np.percentile(rounds, 75)),
                 "median_first_half": float(np.median(first)),
                 "median_second_half": float(np.median(second))}
    c = row["c"]
    if c.get("status") == "ok":
        row["c_over_read"] = {"median": c["ratio"], "best": c["ratio_best"],
                              "q1": c["ratio_q1"], "q3": c["ratio_q3"],
                              "target": C_TARGET, "met": c["ratio"] <= C_TARGET}
        py = row["py"]
        r = py["median"] / c["c_median"]
        row["py_over_c"] = {"median": r, "best": py["best"] / c["c_best"],
                            "target": PY_TARGET, "met": r <= PY_TARGET}
    return row


def us(s):
    return "%.1f" % (s * 1e6)


def report(info, args, rows, out):
    pinfo = info.get("pygru_info") or {}
    print("pygru %s (float32 %s) streaming step, B = 1; CPU: %s (family/model %s), %s "
          "logical CPUs; caches %s" % (
              info["versions"]["pygru"], pinfo.get("isa"), info["cpu_model"],
              info["cpu_family_model"], info["logical_cpus"],
              ", ".join("%s %d KiB%s" % (c["name"], c["bytes"] >> 10,
                                         " shared by %d" % c["shared_cpus"]
                                         if c["shared_cpus"] > 1 else "")
                        for c in info["cache_levels"])), file=out)
    print("read: bench/read_bw.c over the step's weight bytes (level: where they live); C: "
          "gru_step from bench/step_bound.c; times per step in us, best (median) of rounds; "
          "C/read: median over rounds of paired ratios [q1-q3]; Py/C: Python median / C "
          "median (best/best in parentheses); bg: cores busy with other processes", file=out)
    head = "%-22s %3s | %9s %-5s | %-17s %-17s | %-25s | %-17s %-17s | %4s" % (
        "step B=1", "thr", "weights", "level", "read loop", "C gru_step",
        "C/read (<= %.2f)" % C_TARGET, "Python step", "Py/C (<= %.1f)" % PY_TARGET, "bg")
    print(head, file=out)
    print("-" * len(head), file=out)
    for row in rows:
        c, py = row["c"], row["py"]
        if c.get("status") == "ok":
            rd = "%s (%s)" % (us(c["read_best"]), us(c["read_median"]))
            cs = "%s (%s)" % (us(c["c_best"]), us(c["c_median"]))
            cr = row["c_over_read"]
            crt = "%.2f [%.2f-%.2f] %s" % (cr["median"], cr["q1"], cr["q3"],
                                          "met" if cr["met"] else "MISSED")
        else:
            rd, cs, crt = "-", c.get("status", "-")[:17], "-"
        pys = "%s (%s)" % (us(py["best"]), us(py["median"])) if py.get("status") == "ok" \
            else py.get("status", "-")
        pc = row.get("py_over_c")
        pct = "%.2f (%.2f) %s" % (pc["median"], pc["best"], "met" if pc["met"] else "MISSED") \
            if pc else "-"
        bg = (row.get("load") or {}).get("other_cores")
        print("%-22s %3d | %7.2fMB %-5s | %-17s %-17s | %-25s | %-17s %-17s | %4s" % (
            row["label"], row["threads"], row["weight_bytes"] / 1e6, row["level"], rd, cs, crt,
            pys, pct, "-" if bg is None else "%.1f" % bg), file=out)
    for row in rows:
        if row["py"].get("status") == "FAILED check":
            print("FAILED correctness gate: %s thr=%d pygru step vs torch: %s" % (
                row["label"], row["threads"], row["check"]), file=out)
        if row["c"].get("status") not in ("ok", "unavailable") and \
                row["py"].get("status") == "ok":
            print("C tool %s thr=%d: %s: %s" % (row["label"], row["threads"],
                                                row["c"]["status"], row["c"].get("line")),
                  file=out)


def failed(rows):
    return [r for r in rows if r["py"].get("status") == "FAILED check"
            or r["c"].get("status") not in ("ok", "unavailable")]


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    sys.path.insert(1, ROOT)   # this tree's pygru
    info = machine.machine_info(ROOT)
    info["cache_levels"] = machine.cache_levels()
    log("machine: %s (%s), %s logical CPUs, load %s; caches %s" % (
        info["cpu_model"], info["cpu_family_model"], info["logical_cpus"],
        info["loadavg_start"], info["cache_levels"]))
    try:   # step_bound.c + read_bw.c against c/build/libgru.a
        exe, why = machine.build_c_tool("step_bound", ("step_bound.c", "read_bw.c"),
                                        make=args.c_step == "build"), None
    except RuntimeError as exc:
        exe, why = None, str(exc)
    if why:
        log("C tool: %s" % why)
    rows = []
    for I, H, L in args.step_list:
        for threads in args.thread_list:
            row = run_row(exe, I, H, L, threads, args)
            rows.append(row)
            log("%s thr=%d: Python %s; C %s" % (
                row["label"], threads,
                "%s us" % us(row["py"]["median"]) if row["py"].get("status") == "ok"
                else row["py"]["status"], row["c"].get("line") or row["c"].get("status")))
    info["loadavg_end"] = os.getloadavg()
    buf = io.StringIO()
    report(info, args, rows, buf)
    text = buf.getvalue()
    print()
    print(text, end="")
    if args.txt:
        with open(args.txt, "w") as f:
            f.write("$ %s\n\n%s" % (" ".join(["bench/step_bound.py"] + sys.argv[1:]), text))
    if args.json:
        settings = {k: v for k, v in vars(args).items()}
        doc = {"machine": info, "settings": settings, "rows": rows, "c_unavailable": why,
               "targets": {"c_over_read": C_TARGET, "py_over_c": PY_TARGET},
               "wall_seconds": time.time() - started}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        log("wrote %s" % args.json)
    log("total %.0f s" % (time.time() - started))
    return 1 if failed(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
