"""test_quant_accuracy.py - int8 and bf16 inference of trained pygru.nn models
(pygru.quantize_module; numbers in docs/quantization.md, "Trained models"):

  * the demo's sentiment classifier (pygru.demo.sentiment.TorchStyle: Embedding ->
    2-layer bidirectional GRU -> LastValid -> BatchNorm1d -> Linear), trained by the
    demo's own train() on the short settings of tests/test_demo.py (2000 reviews, 3
    epochs, lr 1e-2, batch 32, seed 0): int8 test accuracy (2000 test reviews) within
    0.5 points of float32, for int8 and for bf16;
  * the sunspot forecaster of examples/forecast.py, trained by its own train() on the
    short settings of tests/test_forecast_example.py (10 epochs, seed 0): int8 and
    bf16 RMSE on the held-out tail within 2% of float32;
  * the trained GRUs over T = 1000: the int8 and bf16 outputs' error against float32 stays
    bounded (max < 0.2, mean < 0.01, and no 100-step window's mean error above 1.5
    times the first window's).
Slow: the trainings take ~10-30 s on two shared cores."""
import importlib.util
import math
import os

import numpy as np
import pytest

import pygru
from pygru.demo import sentiment

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def demo():
    data = sentiment.load_reviews(None, 2000, 2000, seed=0)
    model = sentiment.TorchStyle(data["vocab_size"], 32, 48, seed=0)
    sentiment.train(model, data["train"], None, epochs=3, batch_size=32, lr=1e-2, seed=0,
                    progress=False)
    return model.eval(), data


@pytest.fixture(scope="module")
def forecaster():
    spec = importlib.util.spec_from_file_location(
        "forecast_example_q", os.path.join(ROOT, "examples", "forecast.py"))
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    args = ex.parse_args(["--epochs", "10", "--seed", "0", "--quiet"])
    _, values = ex.load_sunspots()
    d = ex.prepare(values, args.window, args.horizon, args.val_years, args.test_years,
                   args.transform)
    model = ex.Forecaster(args.hidden, args.layers, args.horizon, seed=args.seed)
    ex.train(model, d, args)
    return ex, model.eval(), d


FORMATS = ["int8", "bf16"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_demo_classifier_accuracy(demo, fmt):
    model, data = demo
    q = pygru.quantize_module(model, fmt)
    x, y, lengths = data["test"]
    _, acc_f, p_f = sentiment.evaluate(model, x, y, lengths)
    _, acc_q, p_q = sentiment.evaluate(q, x, y, lengths)
    flips = int(np.sum((p_f > 0.5) != (p_q > 0.5)))
    print("demo classifier, %d test reviews: float32 %.2f%%, %s %.2f%% (%d predictions "
          "differ; max |p diff| %.2e)" % (len(y), 100 * acc_f, fmt, 100 * acc_q, flips,
                                          np.abs(p_f - p_q).max()))
    assert acc_f >= 0.80, "the float model did not learn (%.3f)" % acc_f
    assert abs(acc_q - acc_f) <= 0.005, (acc_f, acc_q)
    with pytest.raises(ValueError, match="inference-only"):
        q.train()


@pytest.mark.parametrize("fmt", FORMATS)
def test_forecaster_rmse(forecaster, fmt):
    ex, model, d = forecaster
    q = model.quantize(fmt)
    f = d.scaling.unscale(ex.forecast(model, d.X_test))
    g = d.scaling.unscale(np.concatenate([q(d.X_test[i:i + 256])
                                          for i in range(0, len(d.X_test), 256)]).astype(np.float64))
    (rf, mf), (rq, mq) = ex.errors(d.truth_test, f), ex.errors(d.truth_test, g)
    print("forecaster, %d held-out years: RMSE float32 %.3f, %s %.3f (%+.2f%%); MAE %.3f, "
          "%.3f; max |forecast diff| %.3f sunspots"
          % (len(d.X_test), rf, fmt, rq, 100 * (rq / rf - 1), mf, mq, np.abs(f - g).max()))
    assert abs(rq - rf) <= 0.02 * rf, (rf, rq)


def _long_run_errors(gru, x, fmt):
    """(max error per step (T,), mean error per step (T,)) of fmt against float32."""
    q = gru.quantize(fmt)
    of, _ = gru.eval()(x)
    oq, _ = q(x)
    e = np.abs(of.astype(np.float64) - oq)
    axis = 1 if gru.batch_first else 0
    others = tuple(a for a in range(e.ndim) if a != axis)
    return e.max(axis=others), e.mean(axis=others)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", ["demo", "forecaster"])
def test_trained_errors_stay_bounded_over_t1000(which, demo, forecaster, fmt):
    rng = np.random.default_rng(5)
    if which == "demo":
        model, data = demo
        tokens = data["test"][0]
        tokens = tokens[tokens > 0][:4000].reshape(4, 1000)   # test reviews, back to back
        x = model.embedding(tokens)
        gru = model.gru
    else:
        _, model, d = forecaster
        series = d.X_test[:, :, 0].ravel()
        x = np.resize(series, (1000,)).reshape(1, 1000, 1).repeat(3, 0).astype(np.float32)
        x += rng.normal(0, 0.05, x.shape).astype(np.float32)
        gru = model.gru
    mx, mean = _long_run_errors(gru, x, fmt)
    windows = [mean[a:a + 100].mean() for a in range(0, 1000, 100)]
    print("%s GRU over T=1000, %s: max %.2e, mean %.2e; per 100 steps: max %s, mean %s"
          % (which, fmt, mx.max(), mean.mean(),
             " ".join("%.3f" % mx[a:a + 100].max() for a in range(0, 1000, 100)),
             " ".join("%.5f" % w for w in windows)))
    # bounded: isolated maxima (one unit of one step) vary, the mean error must not grow
    assert mx.max() < 0.2 and mean.mean() < 0.01
    assert max(windows) <= 1.5 * windows[0] + 1e-4
