"""bench/timing.py - interleaved timing of several contenders in one process.

Every contender is timed in rounds, in a fixed order (A, B, C, A, B, C, ...), so that
a slow patch of a shared, noisy machine hits all of them alike. Within a round a
contender runs k calls back to back (k chosen so each contender spends about the
same time per round); every call is timed on its own with time.perf_counter.

Guarantees:
  * every call is timed individually; statistics are medians and quartiles, never
    means (one preempted call cannot move them);
  * paired ratios: for contenders A and B, the ratio of A's to B's median within each
    round is computed, and its median and quartiles over the rounds are reported,
    so the spread of a ratio reflects the noise that both shared;
  * the garbage collector is off while timing (as in timeit) and restored after;
  * a run never exceeds max(target, min_rounds x one call) per contender by much:
    rounds stop early once the case has taken 3x its planned time.
"""
import gc
import math
import os
import time

import numpy as np


class Contender:
    """One thing to time: call() does one unit of work (its result is discarded);
    context() returns a context manager entered around each batch of calls (e.g.
    torch.inference_mode), or None."""

    def __init__(self, name, call, context=None):
        self.name = name
        self.call = call
        self.context = context


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _ctx(contender):
    return contender.context() if contender.context is not None else _NullContext()


def time_calls(contender, k):
    """Times k calls of the contender; returns their durations in seconds."""
    out = []
    call = contender.call
    clock = time.perf_counter
    with _ctx(contender):
        for _ in range(k):
            t0 = clock()
            call()
            out.append(clock() - t0)
    return out


def warm_up(contender, warmup_s, min_calls=2, max_calls=50, max_s=None, prior=()):
    """Untimed warm-up: at least min_calls calls, then more until warmup_s has
    passed AND the last two calls agree within 1.5x (first calls after a thread
    count change or a cold cache can be 100x slower), at most max_calls calls or
    max_s seconds (default 10 x warmup_s + 2 s). prior: durations of calls already
    made (e.g. the correctness check), counted as warm-up. Returns the median of
    the last three calls (seconds): the estimate of one call."""
    max_s = 10.0 * warmup_s + 2.0 if max_s is None else max_s
    durations = list(prior) + time_calls(contender, min_calls)
    spent = sum(durations)
    while len(durations) < max_calls and spent < max_s:
        a, b = durations[-2:] if len(durations) >= 2 else (durations[-1], durations[-1])
        if spent >= warmup_s and max(a, b) <= 1.5 * min(a, b):
            break
        d = time_calls(contender, 1)[0]
        durations.append(d)
        spent += d
    return float(np.median(durations[-3:]))


class CpuMeter:
    """CPU time used by OTHER processes while timing (a noise indicator on a shared
    machine): (all CPUs' busy time from /proc/stat - this process's CPU time) / wall,
    in cores, and the hypervisor's steal time in cores. None where /proc/stat is
    missing."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _read(self):
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        busy = v[0] + v[1] + v[2] + v[5] + v[6]   # user nice system irq softirq
        steal = v[7] if len(v) > 7 else 0
        return busy / self.tick, steal / self.tick, time.process_time(), time.perf_counter()

    def start(self):
        self.s0 = self._read()

    def stop(self):
        s1 = self._read()
        if self.s0 is None or s1 is None:
            return {"other_cores": None, "steal_cores": None}
        wall = max(s1[3] - self.s0[3], 1e-9)
        other = (s1[0] - self.s0[0]) - (s1[2] - self.s0[2])
        return {"other_cores": max(0.0, other / wall), "steal_cores": (s1[1] - self.s0[1]) / wall}


def summarize(samples):
    """Median, quartiles, IQR, min and count of a list of durations (seconds)."""
    a = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3),
            "iqr": float(q3 - q1), "min": float(a.min()), "n": int(a.size)}


def interleave(contenders, estimates, target_s, min_rounds=5, max_rounds=20):
    """Times the contenders alternately.

    contenders: list of Contender, timed in this order in every round;
    estimates: {name: seconds per call} from the warm-up;
    target_s: the time each contender should spend in total (about).
    Returns {"rounds": R, "calls_per_round": {name: k}, "samples": {name: [s, ...]},
             "round_medians": {name: [median of round r, ...]},
             "load": CpuMeter result over the timed part}."""
    slowest = max(estimates[c.name] for c in contenders)
    rounds = int(min(max_rounds, max(min_rounds, math.floor(target_s / max(slowest, 1e-9)))))
    per_round = target_s / rounds
    k = {c.name: max(1, int(round(per_round / max(estimates[c.name], 1e-9))))
         for c in contenders}
    planned = sum(k[c.name] * estimates[c.name] for c in contenders) * rounds
    samples = {c.name: [] for c in contenders}
    round_medians = {c.name: [] for c in contenders}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    meter = CpuMeter()
    meter.start()
    start = time.perf_counter()
    done = 0
    try:
        for r in range(rounds):
            for c in contenders:
                d = time_calls(c, k[c.name])
                samples[c.name].extend(d)
                round_medians[c.name].append(float(np.median(d)))
            done = r + 1
            if done >= min_rounds and time.perf_counter() - start > 3.0 * planned + 1.0:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    load = meter.stop()
    return {"rounds": done, "calls_per_round": k, "samples": samples,
            "round_medians": round_medians, "load": load}


def paired_ratio(round_medians_a, round_medians_b):
    """Median and quartiles over rounds of (A's round median / B's round median)."""
    r = np.asarray(round_medians_a, np.float64) / np.asarray(round_medians_b, np.float64)
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "rounds": int(r.size)}
