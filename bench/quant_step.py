"""bench/quant_step.py - pygru float32 against its int8 or bf16 quantization
(GRU.quantize("int8") / GRU.quantize("bf16"); --format, default both) in one process, on 1 thread: the streaming step (B = 1; I = H = 256, 384 and a 3-layer
384 stack, one RNNoise-style frame) and a batch inference (T = 100, B = 64, I = H = 512).

Contenders alternate within every round (float32, int8, then int8, float32 in the next
round), each call is timed on its own (time.perf_counter), a round's value is the median
of its calls, and the report gives the median over rounds and the median of the paired
per-round ratios int8 / float32 (with quartiles). The garbage collector is off while
timing. Python's per-call overhead (about 2 us for a step) is in both contenders' times;
bench/step_c.c times the step from C.

    PYTHONPATH=$PWD python bench/quant_step.py [--rounds 21] [--quick] [--format bf16]
"""
import argparse
import gc
import os
import platform
import subprocess
import time

import numpy as np

import pygru


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def step_case(I, H, L, fmt):
    g = pygru.GRU(I, H, num_layers=L, seed=0).eval()
    q = g.quantize(fmt)
    x = np.random.default_rng(0).standard_normal((1, I)).astype(np.float32)

    def make(m):
        state, out = m.new_state(1), np.empty((1, H), np.float32)
        return lambda: m.step(x, state, out)
    return make(g), make(q), 2000, q.quant_isa


def batch_case(T, B, I, H, fmt):
    g = pygru.GRU(I, H, seed=0).eval()
    q = g.quantize(fmt)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    return (lambda: g(x)), (lambda: q(x)), 3, q.quant_isa


def time_calls(fn, k):
    ts = np.empty(k)
    for i in range(k):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return float(np.median(ts))


def run(name, f32, q8, k, isa, rounds):
    for _ in range(max(3, k // 10)):
        f32(); q8()
    a, b = [], []
    gc.disable()
    try:
        for r in range(rounds):
            if r % 2 == 0:
                a.append(time_calls(f32, k)); b.append(time_calls(q8, k))
            else:
                b.append(time_calls(q8, k)); a.append(time_calls(f32, k))
    finally:
        gc.enable()
    ratio = np.array(b) / np.array(a)
    q1, med, q3 = np.percentile(ratio, [25, 50, 75])
    unit, scale = ("us", 1e6) if np.median(a) < 1e-3 else ("ms", 1e3)
    print("| %s | %.1f %s | %.1f %s | **%.2f** (%.2f-%.2f) | %s |" % (
        name, np.median(a) * scale, unit, np.median(b) * scale, unit, med, q1, q3, isa))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--quick", action="store_true", help="5 rounds, fewer calls")
    ap.add_argument("--format", choices=["int8", "bf16", "both"], default="both")
    args = ap.parse_args()
    rounds = 5 if args.quick else args.rounds
    pygru.set_num_threads(1)
    info = pygru.info()
    print("CPU: %s; pygru %s, float32 kernels %s, int8 kernels %s, bf16 kernels %s, 1 thread, "
          "%d rounds" % (cpu_name(), info["version"], info["isa"], info["int8_isa"],
                         info["bf16_isa"], rounds))
    for fmt in (["int8", "bf16"] if args.format == "both" else [args.format]):
        print()
        print("| case | float32 | %s | %s / float32 (quartiles) | %s kernels |" % ((fmt,) * 3))
        print("|---|---|---|---|---|")
        cases = [("step B=1, I=H=256", step_case(256, 256, 1, fmt)),
                 ("step B=1, I=H=384", step_case(384, 384, 1, fmt)),
                 ("step B=1, I=H=384, 3 layers", step_case(384, 384, 3, fmt)),
                 ("forward T=100, B=64, I=H=512", batch_case(100, 64, 512, 512, fmt))]
        for name, (f32, q8, k, isa) in cases:
            run(name, f32, q8, k if not args.quick else max(3, k // 10), isa, rounds)


if __name__ == "__main__":
    main()
