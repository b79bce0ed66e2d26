"""test_keras.py - pygru.from_keras and pygru.to_keras against Keras 3 (KERAS_BACKEND=torch):
the pygru model reproduces the layer's sequence output and final state for reset_after
True and False, bias on/off and go_backwards (whose Keras sequence is in processing order:
pygru's output flipped in time), weights go back to Keras and give its results again, and
what cannot convert says why."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import pygru  # noqa: E402


def run_keras(layer, x):
    seq, state = layer(x)
    return keras.ops.convert_to_numpy(seq), keras.ops.convert_to_numpy(state)


def close(a, b, tol=2e-6):
    return np.abs(a - b).max() <= tol * max(np.abs(b).max(), 1.0)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_from_keras_reproduces_the_layer(reset_after, use_bias, go_backwards):
    keras.utils.set_random_seed(1)
    layer = keras.layers.GRU(6, return_sequences=True, return_state=True,
                             reset_after=reset_after, use_bias=use_bias,
                             go_backwards=go_backwards,
                             bias_initializer="random_uniform" if use_bias else "zeros")
    x = np.random.default_rng(0).standard_normal((3, 7, 4)).astype(np.float32)
    seq, state = run_keras(layer, x)
    g = pygru.from_keras(layer)
    assert g.batch_first and g.reverse == go_backwards and g.reset_after == reset_after
    out, h_n = g(x)
    if go_backwards:
        out = out[:, ::-1]
    assert close(out, seq) and close(h_n[0], state)
    back = pygru.to_keras(g)
    seq2, state2 = run_keras(back, x)
    assert close(seq2, seq) and close(state2, state)


def test_keras_refusals():
    layer = keras.layers.GRU(3, activation="relu")
    layer.build((None, None, 2))
    with pytest.raises(ValueError, match="activation=relu.*cannot be honoured"):
        pygru.from_keras(layer)
    with pytest.raises(ValueError, match="no weights yet"):
        pygru.from_keras(keras.layers.GRU(3))
    with pytest.raises(TypeError, match="takes a keras.layers.GRU; got LSTM"):
        pygru.from_keras(keras.layers.LSTM(3))
    with pytest.raises(ValueError, match="one layer, one direction.*num_layers=2"):
        pygru.to_keras(pygru.GRU(2, 3, num_layers=2))
