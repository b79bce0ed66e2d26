"""test_padding.py - what the padding of a batch holds cannot change any result.

Steps at or after lengths[b] are never read as inputs (PyTorch's packed sequences), so
NaN, Inf or huge values there must give bitwise the outputs and gradients of zeros
there: outputs, h_n, grad_x, grad_h0 and every parameter gradient (issue 11, finding 5:
NaN in the padding made every entry of dW_ih NaN, and for reset_after=False also the n
rows of dW_hh). Both variants, both layouts, one and two layers, with and without input
and recurrent dropout, float32 and float64.
"""
import numpy as np
import pytest

import pygru


def _run(cfg, x, lengths, go, ghn):
    g = pygru.GRU(**cfg)
    out, h_n = g(x, lengths=lengths)
    dx, dh0 = g.backward(go, ghn)
    res = {"output": out, "h_n": h_n, "grad_x": dx, "grad_h0": dh0}
    res.update({"grad " + n: p.grad.copy() for n, p in g.named_parameters()})
    return res


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 1e30])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("layers,bi,dropouts", [(1, False, (0.0, 0.0)), (2, True, (0.0, 0.0)),
                                                (1, False, (0.3, 0.4))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padding_values_change_nothing(fill, reset_after, batch_first, layers, bi, dropouts,
                                       dtype):
    T, B, I, H = 6, 4, 3, 5
    lengths = [6, 2, 4, 1]
    cfg = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bi,
               reset_after=reset_after, batch_first=batch_first, dtype=dtype, seed=3,
               input_dropout=dropouts[0], recurrent_dropout=dropouts[1])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    D = 2 if bi else 1
    go = rng.standard_normal((B, T, D * H) if batch_first else (T, B, D * H)).astype(dtype)
    ghn = rng.standard_normal((layers * D, B, H)).astype(dtype)
    clean, dirty = x.copy(), x.copy()
    for b, n in enumerate(lengths):
        if batch_first:
            clean[b, n:], dirty[b, n:] = 0, fill
        else:
            clean[n:, b], dirty[n:, b] = 0, fill
    want, got = _run(cfg, clean, lengths, go, ghn), _run(cfg, dirty, lengths, go, ghn)
    for name in want:
        if name == "grad_x":   # the padded rows of grad_x are zero in both
            assert np.array_equal(got[name], want[name]), name
        assert np.all(np.isfinite(got[name])), "%s is not finite with %r in the padding" % (
            name, fill)
        assert np.array_equal(got[name], want[name]), "%s differs with %r in the padding" % (
            name, fill)
