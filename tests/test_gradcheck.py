"""Central finite differences on the float64 library: a second, oracle-free check of
backward. Every entry of x, h0 and every parameter of a small problem is perturbed by
+-eps; the gradient of loss = sum(output * G) + sum(h_n * Gh) from pygru's backward must
match (loss(+eps) - loss(-eps)) / (2 eps) to 1e-7 relative to each gradient tensor's max
magnitude. Dropout is included with its masks held fixed: the model's generator is
reseeded (GRU.set_seed) before every training forward, so each forward draws the same
masks. A few configurations are fixed; more come from hypothesis (derandomized, so CI
is reproducible). Assertion messages give the error of every tensor.
"""

import numpy as np
import pytest

from numerics import numeric_grad

pytest.importorskip("pygru._libgru")
import pygru  # noqa: E402

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

EPS = 1e-5
TOL = 1e-7


def rel_err(actual, expected):
    scale = np.max(np.abs(expected))
    err = np.max(np.abs(np.asarray(actual) - expected))
    return err / scale if scale > 0 else err


def assert_grads_close(analytic, numeric, what):
    errs = {k: rel_err(analytic[k], numeric[k]) for k in sorted(numeric)}
    table = ", ".join(f"{k}={e:.1e}" for k, e in errs.items())
    bad = sorted(k for k, e in errs.items() if not e <= TOL)
    assert not bad, f"{what}: finite differences disagree on {bad} (tol {TOL:.0e}); {table}"


def central_differences(evaluate, arrays):
    """{name: d evaluate() / d arrays[name]}, perturbing each entry in place."""
    return {name: numeric_grad(evaluate, arr, EPS) for name, arr in arrays.items()}


def gru_gradcheck(*, input_size, hidden_size, num_layers, bidirectional, bias, reset_after,
                  batch_first, seq_len, batch, with_h0, lengths, dropout=0.0, seed=0):
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    cfg = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
               bidirectional=bidirectional, bias=bias, reset_after=reset_after,
               batch_first=batch_first, dropout=dropout)
    model = pygru.GRU(dtype=np.float64, seed=seed, **cfg)
    params = {k: 0.6 * rng.standard_normal(v.shape) for k, v in model.state_dict().items()}
    lead = (batch, seq_len) if batch_first else (seq_len, batch)
    x = rng.standard_normal(lead + (input_size,))
    h0 = rng.standard_normal((num_layers * D, batch, hidden_size))
    G = rng.standard_normal(lead + (D * hidden_size,))
    Gh = rng.standard_normal((num_layers * D, batch, hidden_size))
    lengths = None if lengths is None else np.asarray(lengths)
    mask_seed = 1234 + seed

    def forward():
        model.load_state_dict(params)
        model.set_seed(mask_seed)          # same dropout masks at every forward
        return model(x, h0=h0 if with_h0 else None, lengths=lengths)

    def loss():
        out, h_n = forward()
        return float(np.sum(out * G) + np.sum(h_n * Gh))

    out, h_n = forward()
    model.zero_grad()
    dx, dh0 = model.backward(G, Gh)
    analytic = {"grad_input": dx, **{"grad_" + k: v for k, v in model.grads.items()}}
    arrays = {"grad_input": x, **{"grad_" + k: v for k, v in params.items()}}
    if with_h0:
        analytic["grad_h0"], arrays["grad_h0"] = dh0, h0
    numeric = central_differences(loss, arrays)
    assert_grads_close(analytic, numeric, f"GRU gradcheck {cfg} T={seq_len} B={batch} "
                                          f"h0={with_h0} lengths={lengths}")
    return dict(cfg=cfg, params=params, x=x, h0=h0 if with_h0 else None, lengths=lengths,
                output=out)


FIXED = [
    dict(num_layers=1, bidirectional=False, bias=True, reset_after=True, batch_first=False,
         seq_len=4, batch=2, with_h0=True, lengths=None),
    dict(num_layers=1, bidirectional=False, bias=True, reset_after=False, batch_first=False,
         seq_len=4, batch=2, with_h0=True, lengths=[4, 2]),
    dict(num_layers=2, bidirectional=True, bias=True, reset_after=True, batch_first=True,
         seq_len=3, batch=3, with_h0=True, lengths=[3, 1, 2]),
    dict(num_layers=2, bidirectional=True, bias=False, reset_after=False, batch_first=False,
         seq_len=3, batch=2, with_h0=False, lengths=[1, 3]),
    dict(num_layers=3, bidirectional=False, bias=True, reset_after=False, batch_first=True,
         seq_len=2, batch=1, with_h0=True, lengths=None),
]


@pytest.mark.parametrize("case", FIXED, ids=lambda c: "L{num_layers}-bi{bidirectional:d}-"
                         "ra{reset_after:d}-bias{bias:d}-bf{batch_first:d}".format(**c))
def test_gru_backward_matches_finite_differences(case):
    gru_gradcheck(input_size=3, hidden_size=2, **case)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_dropout_backward_matches_finite_differences(reset_after):
    """Inter-layer dropout with masks held fixed by reseeding before each forward."""
    case = dict(input_size=3, hidden_size=3, num_layers=3, bidirectional=True, bias=True,
                reset_after=reset_after, batch_first=False, seq_len=3, batch=2,
                with_h0=True, lengths=[3, 2], dropout=0.5, seed=5)
    run = gru_gradcheck(**case)
    # The masks must actually act (else this would not test dropout): the same weights
    # and input without dropout give a different output.
    ref = pygru.GRU(dtype=np.float64, **dict(run["cfg"], dropout=0.0))
    ref.load_state_dict(run["params"])
    out_nodrop, _ = ref(run["x"], h0=run["h0"], lengths=run["lengths"])
    assert np.max(np.abs(run["output"] - out_nodrop)) > 1e-3, "dropout had no effect"


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_backward_matches_finite_differences(reset_after, bias):
    rng = np.random.default_rng(3)
    I, H, B = 3, 4, 2
    cell = pygru.GRUCell(I, H, bias=bias, reset_after=reset_after, dtype=np.float64, seed=0)
    params = {k: 0.6 * rng.standard_normal(v.shape) for k, v in cell.state_dict().items()}
    x, h, g = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def loss():
        cell.load_state_dict(params)
        return float(np.sum(cell(x, h) * g))

    loss()
    cell.zero_grad()
    dx, dh = cell.backward(g)
    analytic = {"grad_input": dx, "grad_hx": dh,
                **{"grad_" + k: v for k, v in cell.grads.items()}}
    numeric = central_differences(loss, {"grad_input": x, "grad_hx": h,
                                         **{"grad_" + k: v for k, v in params.items()}})
    assert_grads_close(analytic, numeric,
                       f"GRUCell gradcheck reset_after={reset_after} bias={bias}")


@st.composite
def gru_configs(draw):
    seq_len = draw(st.integers(1, 5))
    batch = draw(st.integers(1, 3))
    num_layers = draw(st.integers(1, 3))
    lengths = draw(st.none() | st.lists(st.integers(1, seq_len), min_size=batch,
                                        max_size=batch))
    return dict(input_size=draw(st.integers(1, 4)), hidden_size=draw(st.integers(1, 4)),
                num_layers=num_layers, bidirectional=draw(st.booleans()),
                bias=draw(st.booleans()), reset_after=draw(st.booleans()),
                batch_first=draw(st.booleans()), seq_len=seq_len, batch=batch,
                with_h0=draw(st.booleans()), lengths=lengths,
                dropout=draw(st.sampled_from([0.0, 0.3])) if num_layers > 1 else 0.0,
                seed=draw(st.integers(0, 2**16)))


@settings(max_examples=30, deadline=None, derandomize=True, print_blob=True)
@given(gru_configs())
def test_gru_backward_matches_finite_differences_random(config):
    gru_gradcheck(**config)
