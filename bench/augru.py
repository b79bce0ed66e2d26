"""bench/augru.py - training time of an AUGRU (augru=True) against the plain GRU of the
same size: forward (training) + backward, float32, 1 thread, the two models alternated
in one process, median of N repetitions each.

    python bench/augru.py [--reps 7]
"""
import argparse
import statistics
import time

import numpy as np

import pygru


def one(model, x, a, g):
    t0 = time.perf_counter()
    if a is None:
        out, _ = model(x)
    else:
        out, _ = model(x, attention=a)
    model.backward(g)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    pygru.set_num_threads(1)
    print("pygru", pygru.__version__, pygru.info()["isa"], "1 thread, float32, forward+backward")
    for T, B, H in ((100, 64, 512), (50, 32, 256)):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, H)).astype(np.float32)
        a = rng.uniform(0, 1, (T, B)).astype(np.float32)
        g = rng.standard_normal((T, B, H)).astype(np.float32)
        plain = pygru.GRU(H, H, seed=0).train()
        aug = pygru.GRU(H, H, seed=0, augru=True).train()
        one(plain, x, None, g), one(aug, x, a, g)          # warm-up
        tp, ta = [], []
        for _ in range(args.reps):
            tp.append(one(plain, x, None, g))
            ta.append(one(aug, x, a, g))
        mp, ma = statistics.median(tp), statistics.median(ta)
        print("T=%d B=%d I=H=%d: plain %.1f ms, augru %.1f ms, ratio %.3f"
              % (T, B, H, 1e3 * mp, 1e3 * ma, ma / mp))


if __name__ == "__main__":
    main()
