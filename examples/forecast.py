"""examples/forecast.py - forecast the yearly sunspot numbers with a GRU trained by pygru
alone (pygru.nn + pygru.optim: NumPy and libgru, no torch), and compare it on a held-out
tail of years with the naive forecast "next year = this year".

    python examples/forecast.py                     # defaults: about 2 s on 2 cores
    python examples/forecast.py --out runs/sunspots --horizon 3 --seed 1
    python examples/forecast.py --help

What it does, step by step (the numbered comments in prepare, train and main):
  1. split: the yearly mean sunspot numbers 1700-2008 shipped with pygru
     (pygru.data.load_sunspots). The last --test-years years (default 40: 1969-2008)
     are cut off FIRST; nothing is fitted on them or chosen by them. Of the years
     before, the last --val-years (default 30: 1939-1968) are a validation part, used
     only to pick the best epoch and to stop early; the model trains on the years
     before those (1700-1938).
  2. scaling: --transform sqrt (the default: customary for sunspot counts, it makes
     the high and the low cycles more alike; log1p and none are the others), then a
     pygru.data.Standardizer fitted on the training part (1700-1968) only.
  3. windows: the input is the --window previous years (default 20, about two
     11-year cycles), the target the next --horizon years (default 1). A window whose
     targets lie in the validation part or in the tail takes its inputs from the years
     just before its first target (known when the forecast is made); its targets all
     lie in that part.
  4. model: Forecaster below, an explicit pygru.nn.Module: nn.GRU (batch_first) ->
     its output at the last step -> nn.Linear -> horizon values. MSELoss on the scaled
     values, Adam, the gradient norm clipped to --clip, mini-batches in a new shuffled
     order every epoch. After each epoch the validation RMSE (sunspot units) is
     measured; the weights of the best epoch are kept, and training stops after
     --patience epochs without a better one. Those best weights are evaluated and saved.
  5. report on the tail: RMSE and MAE in sunspot units of the GRU and of the naive
     last-value forecast (y_hat[t+1] = y[t]; with --horizon > 1 every step is the last
     year seen), and their ratios: below 1, the GRU is better.

What it prints, on stdout: the split, the model, the training time and best epoch, the
table of errors and the files written (--quiet: only the table); on stderr a progress
bar over the epochs (pygru.progress.Progress). Into --out (default: the current
directory) it writes
  forecast_model.safetensors  the best model (Module.save); its metadata holds the
                              settings and the scaling: load_forecaster(path) below
                              rebuilds the model and the scaling from it
  forecast_tail.csv           every tail forecast: year, step, observed, gru, naive
  forecast_history.json       train and validation loss per epoch (pygru History)
  forecast_loss.png           the loss curves (pygru.plot.plot_history)
  forecast_tail.png           the tail: observed, GRU and naive forecasts
The PNGs need matplotlib: without it the script says so and goes on (--no-plot: none).
Exit status 0, 1 if training diverged, 2 for a bad argument.

Deterministic: the same --seed gives the same weights, batch order and numbers
(libgru's results are bitwise the same for any --threads).

Measured on a 2 vCPU Intel Xeon with the defaults (window 20, horizon 1, hidden 32,
1 layer, at most 200 epochs, patience 40, lr 0.003, batch 16, clip 1, sqrt, seed 0):
54 epochs run, the best 14, training 0.7 s, the whole script 1.5-2 s; on the 40 tail
years 1969-2008:
                  RMSE    MAE
    GRU          15.09  12.14
    naive        29.89  22.74
    GRU / naive  0.505  0.534
Seeds 0-9 give GRU RMSE 14.3-15.1 and MAE 11.0-12.1 (ratios 0.48-0.51 and 0.48-0.53).
--horizon 3 (seed 0): RMSE 27.1 against the naive 55.3 over the 38 three-year forecasts.
"""
import argparse
import math
import os
import sys
import time
import types

import numpy as np

import pygru
import pygru.nn as nn
import pygru.optim as optim
from pygru.data import (Standardizer, batches, load_sunspots, make_windows,
                        train_test_split_series)
from pygru.plot import have_matplotlib, plot_history
from pygru.progress import History, Progress

MODEL_FILE = "forecast_model.safetensors"
FORECASTS_FILE = "forecast_tail.csv"
HISTORY_FILE = "forecast_history.json"
LOSS_PNG = "forecast_loss.png"
TAIL_PNG = "forecast_tail.png"


# ---- the model ---------------------------------------------------------------------

class Forecaster(nn.Module):
    """x (B, window, 1) scaled values -> (B, horizon) scaled forecasts of the next years:
    GRU -> its output at the last step (B, hidden) -> Linear."""

    def __init__(self, hidden=32, layers=1, horizon=1, seed=0):
        super().__init__()
        self.gru = nn.GRU(1, hidden, layers, batch_first=True, seed=seed)
        self.last = nn.LastValid(batch_first=True)
        self.head = nn.Linear(hidden, horizon, seed=seed + 1)

    def forward(self, x):                          # (B, W, 1) -> (B, horizon)
        out, _ = self.gru(x)                       # (B, W, hidden)
        return self.head(self.last(out))           # (B, hidden) -> (B, horizon)

    def backward(self, grad):                      # (B, horizon) -> (B, W, 1)
        dx, _ = self.gru.backward(self.last.backward(self.head.backward(grad)))
        return dx


# ---- scaling: transform, then standardize (fitted on the training years only) -------

TRANSFORMS = {   # name: (forward, inverse)
    "sqrt": (np.sqrt, lambda z: np.square(np.maximum(z, 0.0))),
    "log1p": (np.log1p, lambda z: np.expm1(np.maximum(z, 0.0))),
    "none": (lambda v: v, lambda z: z),
}


class Scaling:
    """values (sunspot numbers) <-> the scaled values the model sees."""

    def __init__(self, transform, mean, std):
        self.transform, self.mean, self.std = transform, float(mean), float(std)
        self._forward, self._inverse = TRANSFORMS[transform]
        self._std = Standardizer()
        self._std.mean_, self._std.std_ = self.mean, self.std

    @classmethod
    def fit(cls, transform, train_values):
        s = Standardizer().fit(TRANSFORMS[transform][0](train_values))
        return cls(transform, s.mean_, s.std_)

    def scale(self, values):
        return self._std.transform(self._forward(np.asarray(values, np.float64)))

    def unscale(self, z):
        return self._inverse(self._std.inverse_transform(np.asarray(z, np.float64)))


# ---- data ---------------------------------------------------------------------------

def windows_for(values, start, stop, window, horizon):
    """Windows whose targets all lie in values[start:stop] and whose inputs are the
    `window` values before them (which may come from before start).
    Returns X (N, window, 1), y (N, horizon), first target index of each window (N,)."""
    X, y = make_windows(values[start - window:stop], window, horizon)
    return X, y, np.arange(start, start + len(y))


def forecast(model, X, batch=256):
    """The model's forecasts for X (N, W, 1), in eval mode, as float64 (N, horizon)."""
    model.eval()
    out = [model(X[i:i + batch]) for i in range(0, len(X), batch)]
    model.train()
    return np.concatenate(out).astype(np.float64)


def errors(truth, pred):
    """(RMSE, MAE) over all elements."""
    d = np.asarray(pred, np.float64) - np.asarray(truth, np.float64)
    return math.sqrt(np.mean(d * d)), float(np.mean(np.abs(d)))


def load_forecaster(path):
    """(model, Scaling, metadata) from a file this script saved."""
    from pygru.modelfile import read_tensors
    _, meta = read_tensors(path)
    model = Forecaster(int(meta["hidden"]), int(meta["layers"]), int(meta["horizon"]))
    model.load(path)
    scaling = Scaling(meta["transform"], float(meta["mean"]), float(meta["std"]))
    return model, scaling, meta


# ---- command line -------------------------------------------------------------------

def _option(kind, ok, what):
    """An argparse type: text -> kind(text), which must satisfy ok (else the error
    'argument --name: must be <what>; got ...')."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError("must be %s; got %r" % (what, text))
        return value
    return parse


positive_int = _option(int, lambda v: v >= 1, "an integer >= 1")
nonneg_int = _option(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _option(float, lambda v: 0 < v < math.inf, "a finite number > 0")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Forecast yearly sunspot numbers with a GRU trained by pygru, against "
                    "the naive last-value forecast, on a held-out tail of years.")
    a = p.add_argument
    a("--window", type=positive_int, default=20, help="years of history per input (default 20)")
    a("--horizon", type=positive_int, default=1, help="years to forecast (default 1)")
    a("--test-years", type=positive_int, default=40,
      help="held-out tail in years, never seen in training (default 40: 1969-2008)")
    a("--val-years", type=positive_int, default=30,
      help="validation years before the tail, for the best epoch (default 30)")
    a("--transform", choices=sorted(TRANSFORMS), default="sqrt",
      help="applied before standardizing (default sqrt)")
    a("--hidden", type=positive_int, default=32, help="GRU hidden size (default 32)")
    a("--layers", type=positive_int, default=1, help="GRU layers (default 1)")
    a("--epochs", type=positive_int, default=200, help="at most this many epochs (default 200)")
    a("--patience", type=nonneg_int, default=40,
      help="stop after this many epochs without a better validation RMSE (0: never; "
           "default 40)")
    a("--lr", type=positive_float, default=0.003, help="Adam learning rate (default 0.003)")
    a("--batch-size", type=positive_int, default=16, help="windows per batch (default 16)")
    a("--clip", type=positive_float, default=1.0, help="gradient norm clip (default 1.0)")
    a("--seed", type=nonneg_int, default=0, help="seed for weights and shuffling (default 0)")
    a("--out", default=".", help="folder for the model, history and PNGs (default: here)")
    a("--no-plot", action="store_true", help="do not write the PNGs")
    a("--quiet", action="store_true", help="no progress bar, only the table of errors")
    a("--threads", type=positive_int, default=None,
      help="libgru threads (default: GRU_NUM_THREADS, else 1)")
    args = p.parse_args(argv)
    n_years = len(load_sunspots()[0])
    fit_years = n_years - args.test_years - args.val_years
    need = args.window + args.horizon
    if args.test_years < args.horizon or args.val_years < args.horizon:
        p.error("--test-years and --val-years must be >= --horizon (%d)" % args.horizon)
    if fit_years < need + 1:
        p.error("--window %d, --horizon %d, --val-years %d and --test-years %d leave %d "
                "training years of %d; at least %d are needed"
                % (args.window, args.horizon, args.val_years, args.test_years,
                   max(fit_years, 0), n_years, need + 1))
    return args


# ---- steps 1-4 ------------------------------------------------------------------------

def prepare(values, window, horizon, val_years, test_years, transform):
    """Steps 1-3 of the docstring: split, scale, cut windows. values (T,) sunspot numbers.
    Returns a namespace: scaling; X_fit, y_fit (scaled inputs and targets of the
    training windows); X_val, y_val and X_test the same for the validation part and the
    tail; t_val, t_test the index of each window's first target year; truth_val,
    truth_test their targets in sunspot units (N, horizon); n_fit, n_train."""
    # 1. split before anything is fitted: values[:n_train] trains, the rest is the tail
    train_values, _ = train_test_split_series(values, test_years)
    n_train = len(train_values)
    n_fit = n_train - val_years                  # the model trains on values[:n_fit]
    # 2. scaling fitted on the training years only (the tail is not looked at)
    scaling = Scaling.fit(transform, train_values)
    z = scaling.scale(values).astype(np.float32)   # (T,) every year, scaled
    # 3. windows with targets in [window, n_fit), [n_fit, n_train) and [n_train, T)
    d = types.SimpleNamespace(scaling=scaling, n_fit=n_fit, n_train=n_train)
    d.X_fit, d.y_fit, _ = windows_for(z, window, n_fit, window, horizon)
    d.X_val, d.y_val, d.t_val = windows_for(z, n_fit, n_train, window, horizon)
    d.X_test, _, d.t_test = windows_for(z, n_train, len(values), window, horizon)
    d.truth_val = values[d.t_val[:, None] + np.arange(horizon)]     # (N_val, H)
    d.truth_test = values[d.t_test[:, None] + np.arange(horizon)]   # (N_test, H)
    return d


def train(model, d, args):
    """Step 4: trains model on d's training windows; keeps the weights of the epoch
    with the best validation RMSE (loaded into model at the end).
    Returns (history, best epoch, its validation RMSE, epochs run, seconds)."""
    criterion = nn.MSELoss()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    data = batches(d.X_fit, d.y_fit, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    history = History()
    best_rmse, best_epoch, best_state = math.inf, 0, None
    start = time.perf_counter()
    with Progress(args.epochs, desc="training", unit="epoch", item_unit="windows",
                  enabled=not args.quiet) as bar:
        for epoch in range(1, args.epochs + 1):
            total = 0.0
            for xb, yb in data:                  # a new shuffle every epoch
                opt.zero_grad()
                loss = criterion(model(xb), yb)  # mean over the batch, scaled units
                model.backward(criterion.backward())
                optim.clip_grad_norm_(model.parameters(), args.clip)
                opt.step()
                total += float(loss) * len(xb)
            z_val = forecast(model, d.X_val)
            val_rmse = errors(d.truth_val, d.scaling.unscale(z_val))[0]
            history.log(epoch, train_loss=total / len(d.X_fit),
                        val_loss=float(np.mean((z_val - d.y_val) ** 2)), val_rmse=val_rmse)
            bar.update(items=len(d.X_fit))
            if val_rmse < best_rmse:
                best_rmse, best_epoch, best_state = val_rmse, epoch, model.state_dict()
            elif args.patience and epoch - best_epoch >= args.patience:
                break
    seconds = time.perf_counter() - start
    if best_state is None:
        raise FloatingPointError("training diverged (the validation error is not finite "
                                 "from the first epoch on): try a smaller --lr")
    model.load_state_dict(best_state)
    return history, best_epoch, best_rmse, epoch, seconds


# ---- main: the steps, the report (step 5) and the files ----------------------------

def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.threads is not None:
        pygru.set_num_threads(args.threads)
    W, H = args.window, args.horizon

    years, values = load_sunspots()
    d = prepare(values, W, H, args.val_years, args.test_years, args.transform)
    say("sunspots %d-%d: training %d-%d, validation %d-%d, held-out tail %d-%d (%d years)"
        % (years[0], years[-1], years[0], years[d.n_fit - 1], years[d.n_fit],
           years[d.n_train - 1], years[d.n_train], years[-1], len(years) - d.n_train))

    model = Forecaster(args.hidden, args.layers, H, seed=args.seed)
    layers = "%d layer%s" % (args.layers, "s" if args.layers > 1 else "")
    say("model: GRU(1 -> %d, %s) -> Linear(%d -> %d), %d parameters; %s scaling, window "
        "%d, %d training windows" % (args.hidden, layers, args.hidden, H,
                                     sum(p.size for p in model.parameters()),
                                     args.transform, W, len(d.X_fit)))
    try:
        history, best_epoch, best_rmse, epochs, seconds = train(model, d, args)
    except FloatingPointError as e:
        print("forecast.py: %s" % e, file=sys.stderr)
        return 1
    say("trained %d epochs in %.1fs; best epoch %d (validation RMSE %.2f)"
        % (epochs, seconds, best_epoch, best_rmse))

    # 5. the held-out tail, in sunspot units
    gru = d.scaling.unscale(forecast(model, d.X_test))           # (N_test, H)
    naive = np.repeat(values[d.t_test - 1][:, None], H, axis=1)  # the last year seen
    (g_rmse, g_mae), (n_rmse, n_mae) = errors(d.truth_test, gru), errors(d.truth_test, naive)
    print("held-out tail %d-%d, %d %s forecasts, errors in sunspot numbers:"
          % (years[d.n_train], years[-1], len(d.t_test),
             "one-step" if H == 1 else "%d-year" % H))
    print("  %-12s %8s %8s" % ("", "RMSE", "MAE"))
    print("  %-12s %8.2f %8.2f" % ("GRU", g_rmse, g_mae))
    print("  %-12s %8.2f %8.2f" % ("naive", n_rmse, n_mae))
    print("  %-12s %8.3f %8.3f" % ("GRU / naive", g_rmse / n_rmse, g_mae / n_mae), flush=True)

    # files
    os.makedirs(args.out, exist_ok=True)
    meta = {"example": "forecast.py", "hidden": args.hidden, "layers": args.layers,
            "horizon": H, "window": W, "val_years": args.val_years,
            "test_years": args.test_years, "transform": args.transform,
            "mean": repr(d.scaling.mean), "std": repr(d.scaling.std), "seed": args.seed,
            "best_epoch": best_epoch}
    path = model.save(os.path.join(args.out, MODEL_FILE), {k: str(v) for k, v in meta.items()})
    say("saved the model to %s (load_forecaster(path) in this script reads it back)" % path)
    path = os.path.join(args.out, FORECASTS_FILE)
    write_forecasts(path, years, d, gru, naive)
    say("saved the tail forecasts to %s" % path)
    say("saved the history to %s" % history.save(os.path.join(args.out, HISTORY_FILE)))
    if args.no_plot:
        pass
    elif not have_matplotlib():
        print("matplotlib is not installed: no PNGs written (pip install matplotlib)",
              file=sys.stderr)
    else:
        title = "sunspots: GRU(%d, %s), window %d" % (args.hidden, layers, W)
        say("saved the loss curves to %s"
            % plot_history(history, os.path.join(args.out, LOSS_PNG), title=title))
        say("saved the tail plot to %s"
            % plot_tail(os.path.join(args.out, TAIL_PNG), years, values, d, gru, naive,
                        (g_rmse, n_rmse)))
    return 0


# ---- files --------------------------------------------------------------------------

def write_forecasts(path, years, d, gru, naive):
    """A CSV with a row per forecast: target year, step (1..horizon), observed, GRU,
    naive; the numbers written exactly (repr of the float64)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("year,step,observed,gru,naive\n")
        for i, t in enumerate(d.t_test):
            for k in range(gru.shape[1]):
                f.write("%d,%d,%r,%r,%r\n" % (years[t + k], k + 1, float(d.truth_test[i, k]),
                                               float(gru[i, k]), float(naive[i, k])))


def plot_tail(path, years, values, d, gru, naive, rmses):
    """The tail and the years before it: truth, and the first forecast step of the GRU
    and of the naive forecast for every target year; a PNG at path (Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_train, t_test = d.n_train, d.t_test
    lo = max(0, n_train - 30)
    fig = Figure(figsize=(9.0, 3.8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(years[lo:], values[lo:], color="black", label="observed")
    ax.plot(years[t_test], gru[:, 0], color="C0", marker="o", markersize=3,
            label="GRU (RMSE %.1f)" % rmses[0])
    ax.plot(years[t_test], naive[:, 0], color="C1", linestyle="--",
            label="naive: last year (RMSE %.1f)" % rmses[1])
    ax.axvline(years[n_train] - 0.5, color="grey", linewidth=0.8)
    ax.text(years[n_train], ax.get_ylim()[1] * 0.95, " held-out tail", color="grey",
            va="top")
    ax.set_xlabel("year")
    ax.set_ylabel("yearly mean sunspot number")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.savefig(path, format="png")
    return path


if __name__ == "__main__":
    sys.exit(main())
