"""`python -m pygru demo` (pygru.demo.main) and examples/sentiment_*.py (their models
and loop: pygru.demo.sentiment): they train with pygru alone and learn.

- The demo, on a short run with a fixed seed (2000 training reviews, 3 epochs: ~5 s),
  reaches >= 0.80 test accuracy and >= 0.70 on the negated reviews, where the
  bag-of-words baseline stays near chance (<= 0.62), exits 0, writes the classifier,
  its GRU (a libgru model file), the history and the PNG into --out, and the saved
  classifier predicts what the trained one did.
- Its command line: --help, and a bad option named in an argparse error (exit 2).
- Both seed models learn the same short run (>= 0.80), and both examples run on IMDB
  data in the two on-disk forms (a small aclImdb/ folder and a small imdb.npz made
  here), saving a model that loads back.
"""
import argparse
import importlib.util
import io
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

# learning tests: they train models for seconds (deselect with -m 'not slow')
pytestmark = pytest.mark.slow

import pygru
from pygru.demo import main as demo
from pygru.demo import sentiment
from pygru.plot import have_matplotlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHORT = ["--train", "2000", "--test", "600", "--epochs", "3", "--lr", "1e-2",
         "--batch-size", "32", "--seed", "0", "--quiet"]


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / (name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_demo_learns_what_bag_of_words_cannot(tmp_path):
    args = demo.build_parser().parse_args(SHORT + ["--out", str(tmp_path)])
    log = io.StringIO()
    status, res = demo.run(args, out=log)
    text = log.getvalue()
    gru, bow = res["gru"], res["bag_of_words"]
    summary = "GRU %s, bag-of-words %s, chance %.3f" % (gru, bow, res["chance"])
    assert status == 0, "demo failed: " + summary + "\n" + text
    assert gru["all"] >= 0.80 and gru["negated"] >= 0.70, summary
    assert bow["negated"] <= 0.62 and bow["plain"] >= 0.9, summary
    assert "PASS" in text and "test accuracy" in text
    names = {"model": "pygru-demo-model.safetensors", "gru": "pygru-demo-gru.safetensors",
             "history": "pygru-demo-history.json"}
    if have_matplotlib():
        names["curves"] = "pygru-demo-curves.png"
    for what, name in names.items():
        path = tmp_path / name
        assert path.is_file(), "%s not written" % name
        assert str(path.resolve()) in text, "the demo did not say where %s went" % what
    if have_matplotlib():
        assert (tmp_path / names["curves"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    epochs = json.loads((tmp_path / names["history"]).read_text())
    assert epochs, "empty history"

    # the saved classifier predicts what the trained one did; its GRU is a model file
    data = sentiment.load_reviews(None, 2000, 600, seed=0)
    x, y, lengths = data["test"]
    again = sentiment.TorchStyle(data["vocab_size"], 32, 48, seed=123)
    meta = again.load(tmp_path / names["model"])
    assert meta["hidden_dim"] == "48"
    _, acc, _ = sentiment.evaluate(again, x, y, lengths)
    assert abs(acc - gru["all"]) < 1e-12, "reloaded accuracy %.4f != %.4f" % (acc, gru["all"])
    g = pygru.load(tmp_path / names["gru"])
    assert (g.num_layers, g.bidirectional, g.hidden_size) == (2, True, 48)


def test_demo_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "pygru", "demo", "--help"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--out" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "pygru", "demo", "--epochs", "0"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--epochs" in r.stderr, r.stderr


@pytest.mark.parametrize("style", ["keras"])   # torch-style: the demo test above
def test_seed_models_learn_the_short_run(style, tmp_path):
    ex = _example("sentiment_%s_style" % style)
    args = sentiment.example_parser("x", epochs=3, hidden=48 if style == "torch" else 64,
                                    embedding=32, lr=1e-2, batch_size=32).parse_args(
        ["--train", "2000", "--test", "600", "--quiet", "--out", str(tmp_path)])
    res = sentiment.run_example(style, args, ex.make_model, out=io.StringIO())
    acc = res["accuracy"]
    assert acc["all"] >= 0.80 and acc["negated"] >= 0.70, "%s-style: %s" % (style, acc)


def _write_aclimdb(root, rng):
    good, bad = ["great", "wonderful", "moving"], ["awful", "boring", "dull"]
    filler = ["the", "film", "plot", "was", "acting", "a", "story"]
    for split in ("train", "test"):
        for label, words in (("pos", good), ("neg", bad)):
            d = root / "aclImdb" / split / label
            d.mkdir(parents=True)
            for i in range(24):
                toks = list(rng.choice(filler, 6)) + [rng.choice(words)] + list(rng.choice(filler, 3))
                rating = 8 if label == "pos" else 2
                (d / ("%d_%d.txt" % (i, rating))).write_text(" ".join(toks) + " <br /> end.")


def test_examples_run_on_aclimdb_folder(tmp_path):
    _write_aclimdb(tmp_path, np.random.default_rng(0))
    ex = _example("sentiment_keras_style")
    args = sentiment.example_parser("x", epochs=6, hidden=8, embedding=8, lr=2e-2,
                                    batch_size=8).parse_args(
        ["--imdb", str(tmp_path / "aclImdb"), "--quiet", "--out", str(tmp_path / "out"),
         "--num-words", "50"])
    res = sentiment.run_example("keras_style", args, ex.make_model, out=io.StringIO())
    assert res["accuracy"]["all"] >= 0.75, res["accuracy"]   # one polar word per review
    assert (tmp_path / "out" / "keras_style-model.safetensors").is_file()


def test_examples_run_on_imdb_npz(tmp_path):
    rng = np.random.default_rng(1)

    def split(n):
        xs, ys = np.empty(n, dtype=object), rng.integers(0, 2, n)
        for i in range(n):
            xs[i] = [int(v) for v in rng.integers(4, 40, rng.integers(5, 30))] + [int(1 + ys[i])]
        return xs, ys

    (xtr, ytr), (xte, yte) = split(64), split(32)
    np.savez(tmp_path / "imdb.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    ex = _example("sentiment_torch_style")
    args = sentiment.example_parser("x", epochs=1, hidden=8, embedding=8, lr=1e-2,
                                    batch_size=16).parse_args(
        ["--imdb", str(tmp_path / "imdb.npz"), "--quiet", "--out", str(tmp_path),
         "--num-words", "100", "--maxlen", "20"])
    log = io.StringIO()
    res = sentiment.run_example("torch_style", args, ex.make_model, out=log)
    assert set(res["accuracy"]) == {"all"} and "IMDB" in log.getvalue()
    again = ex.make_model(100, argparse.Namespace(embedding=8, hidden=8, seed=5))
    again.load(res["paths"]["model"])


def test_readme_training_example_runs():
    """The README's 'Training with pygru alone' code runs as printed and learns."""
    import re
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Training with pygru alone.*?```python\n(.*?)```", text, re.S).group(1)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    loss, acc, _ = sentiment.evaluate(scope["model"], scope["x"], scope["corpus"].labels,
                                      scope["lengths"])
    assert acc >= 0.8, "README example: training accuracy %.3f, loss %.3f" % (acc, loss)
