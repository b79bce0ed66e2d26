"""Keras-style input and recurrent dropout (GRU(input_dropout=, recurrent_dropout=)).

- The library's training forward and backward equal the SymPy oracle run with the masks
  the forward reports (GRU.dropout_masks()): output, h_n and every gradient, float64,
  both variants, stacked and bidirectional, lengths, batch-first. The oracle puts m_x on
  x where it meets W_ih and m_h on h where it meets W_hh (not in the blend), so this
  pins down the semantics, not only self-consistency.
- Central finite differences of the training loss with the masks held fixed (the
  generator reseeded before every forward) agree with backward.
- Masks: entries 0 or 1/(1-p), one per (layer, direction, sequence), new per forward,
  repeated by set_seed, absent in eval mode.
- Rates are checked (ValueError / TypeError naming the argument), kept by save/load,
  repr, pickling, carried to and from Keras, and to_torch warns that torch lacks them.
Every assertion message names the tensor and its error.
"""
import pickle
import warnings

import numpy as np
import pytest

import pygru
from numerics import rel_err
from pygru import oracle


def assert_tensors_close(got, want, tol, what):
    errs = {k: rel_err(got[k], want[k]) for k in sorted(want)}
    bad = [k for k, e in errs.items() if not e <= tol]
    table = ", ".join("%s=%.2e" % kv for kv in errs.items())
    assert not bad, "%s: tolerance %.0e exceeded by %s; errors: %s" % (what, tol, bad, table)


CASES = [  # L, bidirectional, reset_after, batch_first, lengths, p_in, p_rec
    (1, False, True, False, None, 0.3, 0.4),
    (1, False, False, True, [4, 2, 1], 0.3, 0.4),
    (2, True, True, True, [4, 1, 3], 0.25, 0.5),
    (2, True, False, False, [2, 4, 3], 0.5, 0.25),
    (1, True, True, False, [3, 4, 2], 0.0, 0.5),
    (2, False, False, True, None, 0.4, 0.0),
]


@pytest.mark.parametrize("L,bidir,ra,bf,lengths,p_in,p_rec", CASES)
def test_training_pass_matches_oracle_with_reported_masks(L, bidir, ra, bf, lengths, p_in, p_rec):
    I, H, T, B = 2, 3, 4, 3
    gru = pygru.GRU(I, H, num_layers=L, bidirectional=bidir, reset_after=ra, batch_first=bf,
                    dtype=np.float64, seed=5, input_dropout=p_in, recurrent_dropout=p_rec)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((B, T, I) if bf else (T, B, I))
    out, h_n = gru(x, lengths=lengths)
    masks = gru.dropout_masks()
    go, ghn = rng.standard_normal(out.shape), rng.standard_normal(h_n.shape)
    gru.zero_grad()
    dx, dh0 = gru.backward(go, ghn)
    ref = oracle.reference(gru.state_dict(), input_size=I, hidden_size=H, num_layers=L,
                           bidirectional=bidir, reset_after=ra, x=x, lengths=lengths,
                           batch_first=bf, grad_output=go, grad_h_n=ghn, masks=masks)
    got = {"output": out, "h_n": h_n, "grad_input": dx, "grad_h0": dh0}
    got.update({"grad_" + k: v for k, v in gru.grads.items()})
    assert_tensors_close(got, ref, 1e-10, "f64 training pass vs oracle with masks")
    # the masks really are in play: without them the oracle's output differs
    plain = oracle.reference(gru.state_dict(), input_size=I, hidden_size=H, num_layers=L,
                             bidirectional=bidir, reset_after=ra, x=x, lengths=lengths,
                             batch_first=bf)
    assert rel_err(out, plain["output"]) > 1e-3, "masks had no effect on the output"


def test_float32_training_pass_matches_oracle():
    I, H, T, B = 2, 3, 5, 4
    gru = pygru.GRU(I, H, num_layers=2, bidirectional=True, seed=2, input_dropout=0.3,
                    recurrent_dropout=0.3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    out, h_n = gru(x)
    go = rng.standard_normal(out.shape).astype(np.float32)
    gru.zero_grad()
    dx, dh0 = gru.backward(go)
    ref = oracle.reference(gru.state_dict(), input_size=I, hidden_size=H, num_layers=2,
                           bidirectional=True, x=x, grad_output=go, masks=gru.dropout_masks())
    got = {"output": out, "h_n": h_n, "grad_input": dx, "grad_h0": dh0}
    got.update({"grad_" + k: v for k, v in gru.grads.items()})
    assert_tensors_close(got, ref, 5e-5, "f32 training pass vs oracle with masks")


@pytest.mark.parametrize("ra", [True, False])
def test_finite_differences_with_fixed_masks(ra):
    I, H, T, B, eps = 2, 3, 4, 2, 1e-6
    gru = pygru.GRU(I, H, num_layers=2, bidirectional=True, reset_after=ra, dtype=np.float64,
                    seed=9, input_dropout=0.4, recurrent_dropout=0.4, dropout=0.2)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((T, B, I))
    go = rng.standard_normal((T, B, 2 * H))
    lengths = [4, 2]

    def loss(xv):
        gru.set_seed(9)          # the same masks at every evaluation
        out, _ = gru(xv, lengths=lengths)
        return float(np.sum(out * go))

    loss(x)
    gru.zero_grad()
    dx, _ = gru.backward(go)
    grads = gru.grads
    fd = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        fd[i] = (loss(xp) - loss(xm)) / (2 * eps)
    errs = {"grad_input": rel_err(dx, fd)}
    for name in ("weight_hh_l0", "weight_ih_l1_reverse", "bias_hh_l1"):
        w = gru.state_dict()[name]
        fdw = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            wp, wm = w.copy(), w.copy()
            wp[i] += eps
            setattr(gru, name, wp)
            lp = loss(x)
            wm[i] -= eps
            setattr(gru, name, wm)
            lm = loss(x)
            fdw[i] = (lp - lm) / (2 * eps)
        setattr(gru, name, w)
        errs["grad_" + name] = rel_err(grads[name], fdw)
    bad = {k: e for k, e in errs.items() if not e < 1e-6}
    assert not bad, "finite differences vs backward: %s" % errs


def test_masks_values_rates_and_lifetime():
    p_in, p_rec, B = 0.3, 0.6, 64
    gru = pygru.GRU(8, 16, num_layers=2, bidirectional=True, seed=1, input_dropout=p_in,
                    recurrent_dropout=p_rec)
    x = np.random.default_rng(0).standard_normal((3, B, 8)).astype(np.float32)
    gru(x)
    m1 = gru.dropout_masks()
    assert sorted(m1) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for (l, d), (mx, mh) in m1.items():
        assert mx.shape == (B, 8 if l == 0 else 32) and mh.shape == (B, 16)
        assert set(np.unique(mx)) <= {0.0, np.float32(1 / (1 - p_in))}, "input mask values"
        assert set(np.unique(mh)) <= {0.0, np.float32(1 / (1 - p_rec))}, "recurrent mask values"
        for m, p in ((mx, p_in), (mh, p_rec)):
            rate, sd = np.mean(m == 0), np.sqrt(p * (1 - p) / m.size)
            assert abs(rate - p) < 5 * sd, "drop rate %.3f for p = %g" % (rate, p)
    assert not np.array_equal(m1[(0, 0)][1], m1[(0, 1)][1]), "directions share a mask"
    gru(x)
    m2 = gru.dropout_masks()
    assert not np.array_equal(m1[(0, 0)][0], m2[(0, 0)][0]), "a new forward kept the masks"
    gru.set_seed(1)
    gru(x)
    m3 = gru.dropout_masks()
    for k in m1:
        np.testing.assert_array_equal(m3[k][0], m1[k][0], err_msg="input mask after set_seed")
        np.testing.assert_array_equal(m3[k][1], m1[k][1], err_msg="recurrent mask after set_seed")
    # eval mode: no dropout, nothing kept
    gru.eval()
    out_eval, _ = gru(x)
    ref, _ = pygru.GRU(8, 16, num_layers=2, bidirectional=True, seed=1).eval()(x)
    np.testing.assert_array_equal(out_eval, ref, err_msg="eval output with dropout rates set")
    with pytest.raises(RuntimeError, match="training"):
        gru.dropout_masks()


def test_rates_checked_kept_and_converted(tmp_path):
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="input_dropout"):
            pygru.GRU(2, 3, input_dropout=bad)
        with pytest.raises(ValueError, match="recurrent_dropout"):
            pygru.GRU(2, 3, recurrent_dropout=bad)
    with pytest.raises(TypeError, match="recurrent_dropout"):
        pygru.GRU(2, 3, recurrent_dropout="0.2")
    gru = pygru.GRU(2, 3, input_dropout=0.25, recurrent_dropout=0.125, seed=0)
    assert "input_dropout=0.25" in repr(gru) and "recurrent_dropout=0.125" in repr(gru)
    back = pygru.load(gru.save(tmp_path / "m.safetensors"))
    assert (back.input_dropout, back.recurrent_dropout) == (0.25, 0.125)
    clone = pickle.loads(pickle.dumps(gru))
    assert (clone.input_dropout, clone.recurrent_dropout) == (0.25, 0.125)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pytest.importorskip("torch")
        pygru.to_torch(gru)
    assert any("recurrent dropout" in str(w.message) for w in caught), "to_torch did not warn"


def test_keras_rates_round_trip(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    layer = keras.layers.GRU(3, dropout=0.2, recurrent_dropout=0.3, return_sequences=True)
    layer.build((None, None, 2))
    gru = pygru.from_keras(layer)
    assert (gru.input_dropout, gru.recurrent_dropout) == pytest.approx((0.2, 0.3))
    back = pygru.to_keras(gru)
    assert (back.dropout, back.recurrent_dropout) == pytest.approx((0.2, 0.3))
