"""test_cells_example.py - examples/cells.py (a task per GRU variant) in its --quick mode:
the script runs in a subprocess, prints the table of every task, writes the JSON of the
runs and the PNGs (or says it skipped them without matplotlib), gives the same numbers
for the same seed, refuses bad arguments naming the option, and -- once pygru has
layer_norm, zoneout, weight_dropout and augru -- runs every variant (that test fails on
a pygru without them: a variant that silently stays skipped would hide an API mismatch).

--quick trains 3-4 epochs on tiny data: a smoke run of the code paths, not of the effects
(those are measured by the full run; see the script's docstring). About 2 s per run.
"""
import json
import math
import os
import subprocess
import sys

import pytest

# trains the example's models (a smoke run): once, not per kernel set
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "cells.py")
TASKS = {"long": ["GRU", "GRU layer_norm"],
         "overfit": ["GRU", "GRU zoneout=0.3", "GRU weight_dropout=0.5"],
         "attention": ["GRU, a as input", "AUGRU, a as attention"]}
PLAIN = {"long": "GRU", "overfit": "GRU", "attention": "GRU, a as input"}


def _run(args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, SCRIPT] + args, cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    runs = []
    for k in range(2):    # twice: the same seed must give the same numbers
        out = tmp_path_factory.mktemp("cells%d" % k)
        proc = _run(["--quick", "--out", str(out), "--seeds", "0,1"], cwd=out)
        assert proc.returncode == 0, "exit %d\n%s\n%s" % (proc.returncode, proc.stdout,
                                                          proc.stderr)
        with open(os.path.join(str(out), "cells_results.json")) as f:
            runs.append((proc, out, json.load(f)))
    return runs


def test_plain_runs_and_table(quick):
    proc, out, doc = quick[0]
    assert doc["quick"] is True and doc["seeds"] == [0, 1]
    for task, names in TASKS.items():
        assert "\n%s (seeds 0,1)" % task in proc.stdout
        for seed in ("0", "1"):
            runs = doc["tasks"][task][seed]
            assert list(runs) == names
            plain = runs[PLAIN[task]]
            epochs = len(plain["train_mse"])
            assert epochs >= 3 and len(plain["val_mse"]) == epochs
            assert all(math.isfinite(v) and v > 0 for v in plain["train_mse"] + plain["val_mse"])
        for name in names:
            assert "  " + name in proc.stdout
    over = doc["tasks"]["overfit"]["0"]["GRU"]
    assert len(over["test_mse"]) == len(over["train_mse"])
    assert over["test_mse_at_best_val"] == over["test_mse"][over["best_epoch"] - 1]
    assert over["test_mse_last10"] == pytest.approx(sum(over["test_mse"][-10:]) / len(
        over["test_mse"][-10:]))
    # the two seeds are different runs
    assert doc["tasks"]["long"]["0"]["GRU"]["val_mse"] != doc["tasks"]["long"]["1"]["GRU"]["val_mse"]


def test_sunspots_data(tmp_path):
    proc = _run(["--quick", "--tasks", "overfit", "--overfit-data", "sunspots", "--no-plot",
                 "--out", str(tmp_path)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(str(tmp_path), "cells_results.json")) as f:
        run = json.load(f)["tasks"]["overfit"]["0"]["GRU"]
    assert len(run["test_mse"]) == len(run["train_mse"]) >= 3
    assert not os.path.exists(os.path.join(str(tmp_path), "cells_overfit.png"))


def test_pngs_or_message(quick):
    proc, out, _ = quick[0]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        for task in TASKS:
            assert "cells_%s.png skipped" % task in proc.stderr
        return
    for task in TASKS:
        with open(os.path.join(str(out), "cells_%s.png" % task), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_numbers(quick):
    (_, _, a), (_, _, b) = quick
    for task in TASKS:
        for seed in ("0", "1"):
            for name, run in a["tasks"][task][seed].items():
                other = b["tasks"][task][seed][name]
                run = {k: v for k, v in run.items() if k != "seconds"}
                other = {k: v for k, v in other.items() if k != "seconds"}
                assert run == other, (task, seed, name)


def test_every_variant_runs(quick):
    # fails until pygru.GRU has layer_norm, zoneout, weight_dropout and augru
    proc, _, doc = quick[0]
    assert "skipped" not in proc.stdout
    for task, names in TASKS.items():
        for name in names:
            run = doc["tasks"][task]["0"][name]
            assert "skipped" not in run, (task, name, run)
            assert all(math.isfinite(v) for v in run["val_mse"])


@pytest.mark.parametrize("args, message", [
    (["--tasks", "long,lstm"], "argument --tasks: must be distinct names"),
    (["--seeds", "0,-1"], "argument --seeds: must be distinct integers >= 0"),
    (["--threads", "0"], "argument --threads: must be an integer >= 1"),
])
def test_bad_arguments(args, message, tmp_path):
    proc = _run(args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
