"""examples/cells.py - what each GRU variant of pygru is for, shown on a small task per
effect, trained by pygru alone (pygru.GRU, pygru.nn, pygru.optim; no torch): each task
trains a plain GRU and the variant(s) with the same seed, data, optimiser and budget,
and prints a table of the numbers that show the effect.

    python examples/cells.py                        # all three tasks, seed 0
    python examples/cells.py --tasks attention --seeds 0,1,2 --out runs/cells
    python examples/cells.py --quick                # the test suite's smoke run
    python examples/cells.py --help

The tasks (section "tasks" below builds their data):
  long       the adding problem over T=200 steps (Hochreiter & Schmidhuber 1997): each
             step is (value in [0, 1], marker); two steps are marked, one in each half;
             the target is the sum of the two marked values, read from the output at the
             last step (MSE; always answering the mean 1 scores 0.167). Contenders:
             GRU and GRU(layer_norm=True) (layer normalisation of W_ih x and of W_hh h
             before the biases, as Haste's LayerNormGRU). Number: the epoch at which
             the validation MSE first falls below 0.01.
  overfit    noisy sine waves: windows of 30 values of a sin(w t + phi) + N(0, 0.3^2)
             noise (a, w, phi drawn per window) -> the next value, with a GRU far too
             large for its 64 training windows (hidden 128), trained 150 epochs without
             early stopping, so it over-fits (training MSE -> 0.001; the noise alone
             costs 0.09). Contenders: GRU, GRU(zoneout=0.3) (in training every unit
             keeps its previous state with probability 0.3), GRU(weight_dropout=0.5)
             (DropConnect: one mask over W_hh per training forward). Numbers: the MSE on
             2000 held-out windows, averaged over the last 10 epochs (an over-fitted
             model's error jumps from epoch to epoch), and at the epoch with the best
             validation MSE (500 other windows). --overfit-data sunspots runs the same
             on the sunspot numbers (window 20 years -> the next year; 220 training
             windows; held out 1969-2008, validation 1939-1968), where the effects are
             less robust (see below).
  attention  T=50 steps of 4 random features; 5 steps are marked relevant by a given
             score a_t = 1 (else 0); the target is the sum of feature 0 over the relevant
             steps (divided by sqrt 5). Contenders: a GRU that gets a_t as a fifth input
             feature, and an AUGRU (augru=True, DIEN's attentional update gate: the
             update u = 1 - z is scaled by a_t, so a step with a_t = 0 leaves the state
             unchanged) that gets the 4 features and a as its attention. Number: the
             epoch at which the validation MSE first falls below 0.05, and the best one.

Each task's model is GRU -> its output at the last step -> Linear, MSELoss, Adam with
the gradient norm clipped to 1; the batches come in a new shuffled order every epoch.

What it prints: a line per run and the table of every task (with --seeds a,b,...: every
seed and the median over seeds). Into --out (default: the current directory) it writes
cells_results.json (every run's numbers and curves) and cells_<task>.png (the
validation curves of the contenders; needs matplotlib, otherwise the script says that
the PNG was skipped and goes on). Exit status 0, 2 for a bad argument.

The variants are keyword arguments of pygru.GRU (layer_norm=..., zoneout=...,
weight_dropout=..., augru=...). A pygru without one of them runs the plain GRU of that
task and prints "skipped (this pygru has no <argument>)" for the variant.

Deterministic: the same --seeds give the same data, weights, batch order and numbers
(libgru's results are bitwise the same for any --threads).

The tasks were designed with a scratch torch prototype of the four variants (torch
autograd, 1 thread, the same sizes, data and optimiser):
  long:      val MSE < 0.01 at epoch 8 with layer_norm (seed 0); the plain GRU stays at
             0.16-0.17 (the level of always answering the mean) for all 30 epochs
             (seeds 0, 1).
  overfit:   held-out MSE over the last 10 epochs, seeds 0 / 1 / 2: plain 0.295 /
             0.287 / 0.358, zoneout 0.3: 0.221 / 0.246 / 0.241, weight_dropout 0.5:
             0.253 / 0.262 (seed 2 not run).
             On the sunspots (held-out MSE after 150 epochs, seeds 0 / 1 / 2): plain
             0.44 / 0.28 / 0.34, zoneout 0.3: 0.17 / 0.20 / 0.24, weight_dropout 0.3:
             0.34 / 0.24 / 0.38 -- DropConnect is not robust there, hence the sines.
  attention: val MSE < 0.05 at epoch 2 / 2 / 2 with AUGRU, 11 / 13 / 12 with the
             plain GRU (seeds 0 / 1 / 2); best val MSE about 0.001 against 0.02-0.04.

Measured with pygru (2 vCPU AMD EPYC shared with other jobs, 1 thread; each variant
from its feature branch before the merge), seeds 0 / 1 / 2:
  long:      val MSE < 0.01 at epoch 6 / 7 / 6 with layer_norm=True; the plain GRU
             never (final val MSE 0.175 / 0.150 / 0.157 after 30 epochs).
  overfit:   held-out MSE over the last 10 epochs: plain 0.284 / 0.290 / 0.310,
             zoneout=0.3 0.236 / 0.269 / 0.218, weight_dropout=0.5 0.252 / 0.252 /
             0.231; at the best validation epoch: plain 0.194 / 0.193 / 0.185, zoneout
             0.188 / 0.206 / 0.166, weight_dropout 0.182 / 0.187 / 0.183.
  attention: val MSE < 0.05 at epoch 1 / 1 / 2 with augru=True, 13 / 9 / 10 for the GRU
             with a as an input; best val MSE 0.0007 / 0.0009 / 0.0007 against 0.035 /
             0.023 / 0.022.
Times per seed and contender on one core (plain GRU, nearly idle machine): long 10.8 s,
overfit 17.9 s, attention 2.6 s; the variants cost up to about 1.3x that (bench/cells.py),
so `python examples/cells.py` (seed 0, all seven runs) takes about 1.5 minutes. The plain
runs give the same numbers on every build (0.1747, 0.2839, epoch 13 for seed 0).
"""
import argparse
import inspect
import json
import math
import os
import sys
import time

import numpy as np

import pygru
import pygru.nn as nn
import pygru.optim as optim
from pygru.data import Standardizer, batches, load_sunspots, make_windows
from pygru.plot import have_matplotlib

RESULTS_FILE = "cells_results.json"
TASKS = ("long", "overfit", "attention")


# ---- the model -----------------------------------------------------------------------

class LastStepRegressor(nn.Module):
    """x (B, T, I) [, attention (B, T)] -> (B, 1): GRU (batch_first) -> its output at
    the last step -> Linear. gru_options go to pygru.GRU (layer_norm=True, zoneout=p,
    weight_dropout=p, augru=True, ...)."""

    def __init__(self, input_size, hidden, seed=0, **gru_options):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden, batch_first=True, seed=seed, **gru_options)
        self.last = nn.LastValid(batch_first=True)
        self.head = nn.Linear(hidden, 1, seed=seed + 1)
        self.uses_attention = bool(gru_options.get("augru", False))

    def forward(self, x, attention=None):          # (B, T, I) [, (B, T)] -> (B, 1)
        if self.uses_attention:
            out, _ = self.gru(x, attention=attention)
        else:
            out, _ = self.gru(x)                   # (B, T, H)
        return self.head(self.last(out))           # (B, H) -> (B, 1)

    def backward(self, grad):                      # (B, 1) -> (B, T, I)
        grads = self.gru.backward(self.last.backward(self.head.backward(grad)))
        return grads[0]                            # AUGRU: (dx, dh0, d attention)


def gru_supports(option):
    """True if this pygru.GRU takes the keyword argument `option`."""
    return option in inspect.signature(pygru.GRU.__init__).parameters


# ---- tasks: data ---------------------------------------------------------------------

def adding_problem(n, T, rng):
    """n sequences of the adding problem: x (n, T, 2) float32 (value, marker), y (n, 1)."""
    values = rng.uniform(0.0, 1.0, (n, T))
    markers = np.zeros((n, T))
    rows = np.arange(n)
    markers[rows, rng.integers(0, T // 2, n)] = 1.0
    markers[rows, rng.integers(T // 2, T, n)] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)
    return x, y


def relevant_steps(n, T, rng, k=5, features=4):
    """n sequences of `features` normal values per step, k of the T steps marked
    relevant. Returns x (n, T, features), attention (n, T) in {0, 1}, y (n, 1) = the sum
    of feature 0 over the relevant steps / sqrt(k); float32."""
    x = rng.standard_normal((n, T, features)).astype(np.float32)
    attention = np.zeros((n, T), np.float32)
    for b in range(n):
        attention[b, rng.choice(T, k, replace=False)] = 1.0
    y = (x[:, :, 0] * attention).sum(axis=1, keepdims=True) / math.sqrt(k)
    return x, attention, y.astype(np.float32)


def sunspot_windows(window=20, val_years=30, test_years=40):
    """The sunspot numbers as (train, val, test) sets of (X (n, window, 1), y (n, 1))
    in scaled units (sqrt, then standardized on the years before the test tail), and
    the standard deviation that turns a scaled error back into sqrt-sunspot units.
    Validation targets are 1939-1968, test targets 1969-2008 (inputs: the years before
    each target)."""
    _, values = load_sunspots()
    n = len(values)
    n_train = n - test_years
    scaler = Standardizer().fit(np.sqrt(values[:n_train]))
    z = scaler.transform(np.sqrt(values)).astype(np.float32)

    def part(start, stop):                         # targets z[start:stop]
        X, y = make_windows(z[start - window:stop], window, 1)
        return X.reshape(-1, window, 1), y.reshape(-1, 1)

    return (part(window, n_train - val_years), part(n_train - val_years, n_train),
            part(n_train, n)), scaler


# ---- training ------------------------------------------------------------------------

def mse(model, x, y, attention=None, batch=500):
    """Mean squared error of the model (eval mode) over x, y."""
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch):
        a = None if attention is None else attention[i:i + batch]
        d = model(x[i:i + batch], a).astype(np.float64) - y[i:i + batch]
        total += float(np.sum(d * d))
    model.train()
    return total / y.size


def fit(model, train, val, epochs, lr, batch_size, seed, test=None, clip=1.0,
        threshold=None):
    """Trains model on train = (x, y) or (x, attention, y) for `epochs` epochs; after
    each epoch measures the validation MSE (and the test MSE when test is given).
    Returns a dict: train_mse, val_mse [, test_mse] (one per epoch), reached (first
    epoch with val MSE < threshold, or None), seconds."""
    criterion = nn.MSELoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    data = batches(*train, batch_size=batch_size, shuffle=True, seed=seed)
    run = {"train_mse": [], "val_mse": [], "reached": None}
    if test is not None:
        run["test_mse"] = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        total, count = 0.0, 0
        for b in data:
            xb, yb = b[0], b[-1]
            ab = b[1] if len(b) == 3 else None
            opt.zero_grad()
            loss = criterion(model(xb, ab), yb)
            model.backward(criterion.backward())
            optim.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            total += float(loss) * len(xb)
            count += len(xb)
        run["train_mse"].append(total / count)
        v = mse(model, val[0], val[-1], val[1] if len(val) == 3 else None)
        run["val_mse"].append(v)
        if test is not None:
            run["test_mse"].append(mse(model, test[0], test[-1]))
        if threshold is not None and run["reached"] is None and v < threshold:
            run["reached"] = epoch
    run["seconds"] = time.perf_counter() - start
    return run


# ---- the three tasks -----------------------------------------------------------------
# Each returns {contender: run dict or {"skipped": why}} for one seed.

def contend(contenders, train_one, say):
    """Runs train_one(gru_options) for every (name, option, gru_options) in contenders
    whose option pygru has (option None: the plain GRU)."""
    runs = {}
    for name, option, options in contenders:
        if option is not None and not gru_supports(option):
            runs[name] = {"skipped": "this pygru has no %s" % option}
            say("  %-24s skipped (this pygru has no %s)" % (name, option))
            continue
        runs[name] = train_one(name, options)
    return runs


def task_long(seed, quick, hidden, say):
    T, n_train, n_val, epochs = (60, 200, 100, 3) if quick else (200, 1000, 500, 30)
    rng = np.random.default_rng([seed, 1])
    train = adding_problem(n_train, T, rng)
    val = adding_problem(n_val, T, rng)

    def train_one(name, options):
        model = LastStepRegressor(2, hidden, seed=seed, **options)
        run = fit(model, train, val, epochs, lr=3e-3, batch_size=50, seed=seed,
                  threshold=0.01)
        say("  %-24s val MSE < 0.01 at epoch %s, final %.4f (%.1fs)"
            % (name, run["reached"] or ">%d" % epochs, run["val_mse"][-1],
               run["seconds"]))
        return run

    return contend([("GRU", None, {}),
                    ("GRU layer_norm", "layer_norm", {"layer_norm": True})], train_one, say)


def noisy_sines(n, T, rng, noise=0.3):
    """n windows of a noisy sine wave: a sin(w t + phi) + noise N(0, noise^2), with a in
    [0.5, 1.5], w in [0.2, 0.6] rad per step and phi in [0, 2 pi) drawn per window.
    Returns x (n, T, 1), the first T values, and y (n, 1), the next (noisy) value;
    float32. The best possible MSE is about noise^2 (0.09)."""
    t = np.arange(T + 1)[None, :]
    a = rng.uniform(0.5, 1.5, (n, 1))
    w = rng.uniform(0.2, 0.6, (n, 1))
    phi = rng.uniform(0.0, 2.0 * math.pi, (n, 1))
    s = a * np.sin(w * t + phi) + noise * rng.standard_normal((n, T + 1))
    return s[:, :T, None].astype(np.float32), s[:, T:].astype(np.float32)


def overfit_data(kind, seed, quick):
    """(train, val, test) sets of (x (n, T, 1), y (n, 1)) for the over-fitting task."""
    if kind == "sunspots":
        train, val, test = sunspot_windows()[0]
        return ((train[0][:64], train[1][:64]) if quick else train), val, test
    rng = np.random.default_rng([seed, 2])
    n_train, n_val, n_test = (32, 100, 200) if quick else (64, 500, 2000)
    return (noisy_sines(n_train, 30, rng), noisy_sines(n_val, 30, rng),
            noisy_sines(n_test, 30, rng))


def task_overfit(seed, quick, hidden, say, data="sines", p_zoneout=0.3,
                 p_weight_dropout=0.5):
    epochs = 4 if quick else 150
    train, val, test = overfit_data(data, seed, quick)

    def train_one(name, options):
        model = LastStepRegressor(1, hidden, seed=seed, **options)
        run = fit(model, train, val, epochs, lr=3e-3, batch_size=16, seed=seed, test=test)
        best = int(np.argmin(run["val_mse"]))
        run["best_epoch"] = best + 1
        run["test_mse_at_best_val"] = run["test_mse"][best]
        run["test_mse_last10"] = float(np.mean(run["test_mse"][-10:]))
        say("  %-24s held-out MSE over the last 10 epochs %.4f, at the best validation "
            "epoch %d %.4f; train MSE %.4f (%.1fs)"
            % (name, run["test_mse_last10"], best + 1, run["test_mse"][best],
               run["train_mse"][-1], run["seconds"]))
        return run

    return contend([("GRU", None, {}),
                    ("GRU zoneout=%g" % p_zoneout, "zoneout", {"zoneout": p_zoneout}),
                    ("GRU weight_dropout=%g" % p_weight_dropout, "weight_dropout",
                     {"weight_dropout": p_weight_dropout})], train_one, say)


def task_attention(seed, quick, hidden, say):
    T, n_train, n_val, epochs = (30, 200, 100, 3) if quick else (50, 2000, 1000, 15)
    rng = np.random.default_rng([seed, 3])
    x, a, y = relevant_steps(n_train, T, rng)
    xv, av, yv = relevant_steps(n_val, T, rng)
    with_a = lambda x_, a_: np.concatenate([x_, a_[..., None]], axis=-1)  # noqa: E731

    def train_one(name, options):
        if options.get("augru"):     # attention as AUGRU's attention
            model = LastStepRegressor(4, hidden, seed=seed, **options)
            run = fit(model, (x, a, y), (xv, av, yv), epochs, lr=3e-3, batch_size=50,
                      seed=seed, threshold=0.05)
        else:                        # attention as a fifth input feature
            model = LastStepRegressor(5, hidden, seed=seed, **options)
            run = fit(model, (with_a(x, a), y), (with_a(xv, av), yv), epochs, lr=3e-3,
                      batch_size=50, seed=seed, threshold=0.05)
        say("  %-24s val MSE < 0.05 at epoch %s, best %.4f, final %.4f (%.1fs)"
            % (name, run["reached"] or ">%d" % epochs, min(run["val_mse"]), run["val_mse"][-1],
               run["seconds"]))
        return run

    return contend([("GRU, a as input", None, {}),
                    ("AUGRU, a as attention", "augru", {"augru": True})], train_one, say)


TASK_RUNNERS = {"long": (task_long, 32), "overfit": (task_overfit, 128),
                "attention": (task_attention, 32)}

# what the table shows per task: (column title, function of a run -> number or None)
COLUMNS = {
    "long": [("epoch val<0.01", lambda r: r["reached"]),
             ("final val MSE", lambda r: r["val_mse"][-1])],
    "overfit": [("held-out MSE last 10", lambda r: r["test_mse_last10"]),
                ("at best val", lambda r: r["test_mse_at_best_val"]),
                ("train MSE", lambda r: r["train_mse"][-1])],
    "attention": [("epoch val<0.05", lambda r: r["reached"]),
                  ("best val MSE", lambda r: min(r["val_mse"])),
                  ("final val MSE", lambda r: r["val_mse"][-1])],
}


# ---- report --------------------------------------------------------------------------

def fmt(v):
    """An epoch (int; None: never reached) or an error (float)."""
    if v is None:
        return "never"
    if isinstance(v, (int, np.integer)):
        return "%d" % v
    return "%.4f" % v


def median(vals):
    """The median of a column over seeds, "never" counting as infinitely late (an epoch
    column): an epoch as %g, an error as %.4f."""
    m = float(np.median([math.inf if v is None else v for v in vals]))
    if m == math.inf:
        return "never"
    return "%g" % m if all(isinstance(v, (int, np.integer)) or v is None
                           for v in vals) else fmt(m)


def print_table(task, per_seed, seeds, out=sys.stdout):
    """One row per contender: every seed's numbers, and the median over seeds."""
    cols = COLUMNS[task]
    names = list(per_seed[seeds[0]])
    print("\n%s (seeds %s)" % (task, ",".join(map(str, seeds))), file=out)
    head = "  %-24s" % "" + "".join(" %28s" % title for title, _ in cols)
    print(head, file=out)
    for name in names:
        runs = [per_seed[s][name] for s in seeds]
        if "skipped" in runs[0]:
            print("  %-24s skipped (%s)" % (name, runs[0]["skipped"]), file=out)
            continue
        cells = []
        for _, get in cols:
            vals = [get(r) for r in runs]
            text = "/".join(fmt(v) for v in vals)
            if len(seeds) > 1:
                text = "%s (med %s)" % (text, median(vals))
            cells.append(" %28s" % text)
        print("  %-24s" % name + "".join(cells), file=out)


def plot_task(path, task, per_seed, seeds):
    """The validation (overfit: held-out) MSE per epoch of every contender and seed,
    log scale, into a PNG at path (Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    key = "test_mse" if task == "overfit" else "val_mse"
    fig = Figure(figsize=(7.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    names = list(per_seed[seeds[0]])
    for i, name in enumerate(names):
        for j, s in enumerate(seeds):
            run = per_seed[s][name]
            if "skipped" in run:
                continue
            ys = run[key]
            ax.plot(range(1, len(ys) + 1), ys, color="C%d" % i, alpha=1.0 if j == 0 else 0.5,
                    label=name if j == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out MSE" if task == "overfit" else "validation MSE")
    ax.set_title("%s, seeds %s" % (task, ",".join(map(str, seeds))))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.savefig(path, format="png")
    return path


# ---- command line --------------------------------------------------------------------

def parse_seeds(text):
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            "must be distinct integers >= 0 separated by commas; got %r" % text)
    return seeds


def parse_tasks(text):
    tasks = text.split(",")
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks or len(set(tasks)) != len(tasks):
        raise argparse.ArgumentTypeError(
            "must be distinct names among %s separated by commas; got %r"
            % (",".join(TASKS), text))
    return tasks


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Train a plain GRU and each pygru GRU variant (layer_norm, zoneout, "
                    "weight_dropout, augru) on a task that shows its effect.")
    p.add_argument("--tasks", type=parse_tasks, default=list(TASKS),
                   help="comma-separated subset of %s (default: all)" % ",".join(TASKS))
    p.add_argument("--seeds", type=parse_seeds, default=[0],
                   help="comma-separated seeds (default 0); the table shows each and "
                        "the median")
    p.add_argument("--overfit-data", choices=("sines", "sunspots"), default="sines",
                   help="the over-fitting task's data (default sines)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and 3-4 epochs: a smoke run (seconds), not a result")
    p.add_argument("--out", default=".", help="folder for the JSON and PNGs (default: here)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNGs")
    p.add_argument("--quiet", action="store_true", help="only the tables")
    p.add_argument("--threads", type=int, default=None,
                   help="libgru threads (default: GRU_NUM_THREADS, else 1)")
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("argument --threads: must be an integer >= 1; got %d" % args.threads)
    return args


def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.threads is not None:
        pygru.set_num_threads(args.threads)
    results = {"quick": args.quick, "seeds": args.seeds, "tasks": {}}
    for task in args.tasks:
        runner, hidden = TASK_RUNNERS[task]
        per_seed = {}
        for seed in args.seeds:
            say("%s, seed %d, hidden %d:" % (task, seed, hidden))
            extra = {"data": args.overfit_data} if task == "overfit" else {}
            per_seed[seed] = runner(seed, args.quick, hidden, say, **extra)
        results["tasks"][task] = {str(s): r for s, r in per_seed.items()}
        print_table(task, per_seed, args.seeds)
        sys.stdout.flush()
        if args.no_plot:
            continue
        os.makedirs(args.out, exist_ok=True)
        png = os.path.join(args.out, "cells_%s.png" % task)
        if have_matplotlib():
            say("saved the curves to %s" % plot_task(png, task, per_seed, args.seeds))
        else:
            print("matplotlib is not installed: %s skipped (pip install matplotlib)" % png,
                  file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, RESULTS_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    say("saved the numbers to %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
