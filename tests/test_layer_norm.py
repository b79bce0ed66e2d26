"""The layer-normalised GRU (GRU(layer_norm=True)): the library against the SymPy oracle
(float64 <= 1e-10 and float32 within check's tolerances, every tensor including the four
layer_norm tensors' gradients), against fourth-order finite differences, its Parameters
(views, names, initial values), streaming, model files (round trips; the reader's rules),
the converters that refuse it, and pygru.haste_io against a NumPy transcription of
Haste's LayerNormGRU equations."""
import os

import numpy as np
import pytest

pytest.importorskip("pygru._libgru")
import pygru  # noqa: E402
from pygru import check, haste_io, modelfile  # noqa: E402

LN_NAMES = ("layer_norm_ih_weight", "layer_norm_ih_bias", "layer_norm_hh_weight",
            "layer_norm_hh_bias")


def rel_err(a, b):
    b = np.asarray(b, np.float64)
    scale = np.max(np.abs(b))
    err = np.max(np.abs(np.asarray(a, np.float64) - b))
    return err / scale if scale > 0 else err


# ---- the oracle ------------------------------------------------------------------------

ORACLE_CASES = [c for c in check.CASES if c.layer_norm]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ORACLE_CASES, ids=lambda c: c.name)
def test_library_matches_oracle(case, dtype):
    got, expected = check.run_case(case, dtype, seed=7)
    rows = check.compare(got, expected, dtype)
    names = {r[0] for r in rows}
    # every layer_norm tensor's gradient is compared (an eval case has no backward)
    for layer in range(0 if case.eval else case.num_layers):
        for sfx in ("", "_reverse") if case.bidirectional else ("",):
            for k in LN_NAMES:
                assert f"grad_{k}_l{layer}{sfx}" in names
    bad = [r for r in rows if not r[3]]
    assert not bad, ", ".join(f"{n} {e:.1e}" for n, e, _, _ in rows)
    if dtype == "float64":
        assert max(r[1] for r in rows) <= 1e-10


def test_oracle_layer_norm_is_not_the_plain_gru():
    """The oracle's layer_norm flag changes the result (the cases above cannot pass by
    ignoring it on both sides)."""
    from pygru import oracle
    rng = np.random.default_rng(3)
    g = pygru.GRU(2, 2, layer_norm=True, dtype=np.float64, seed=0)
    p = {k: rng.standard_normal(v.shape) for k, v in g.state_dict().items()}
    x = rng.standard_normal((3, 1, 2))
    plain = {k: v for k, v in p.items() if not k.startswith("layer_norm_")}
    a = oracle.reference(p, input_size=2, hidden_size=2, x=x, layer_norm=True)["output"]
    b = oracle.reference(plain, input_size=2, hidden_size=2, x=x)["output"]
    assert rel_err(a, b) > 1e-3


# ---- finite differences -----------------------------------------------------------------

def fd4(f, arr, eps=1e-4):
    """Fourth-order central differences of the scalar f() along every entry of arr."""
    g = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        vals = []
        for d in (eps, -eps, 2 * eps, -2 * eps):
            arr[i] = old + d
            vals.append(f())
        arr[i] = old
        g[i] = (8 * (vals[0] - vals[1]) - (vals[2] - vals[3])) / (12 * eps)
    return g


@pytest.mark.parametrize("reset_after,bidirectional,num_layers,drop", [
    (True, False, 1, 0.0), (False, True, 1, 0.0), (True, True, 2, 0.3), (False, False, 2, 0.3)])
def test_gradients_match_finite_differences(reset_after, bidirectional, num_layers, drop):
    rng = np.random.default_rng(11)
    D = 2 if bidirectional else 1
    I, H, T, B = 3, 3, 4, 2
    model = pygru.GRU(I, H, num_layers=num_layers, bidirectional=bidirectional,
                      reset_after=reset_after, layer_norm=True, dtype=np.float64, seed=1,
                      dropout=drop if num_layers > 1 else 0.0, input_dropout=drop,
                      recurrent_dropout=drop)
    params = {k: (1.0 if k.startswith("layer_norm_") and "_weight" in k else 0.0)
              + 0.6 * rng.standard_normal(v.shape) for k, v in model.state_dict().items()}
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((num_layers * D, B, H))
    G = rng.standard_normal((T, B, D * H))
    Gh = rng.standard_normal((num_layers * D, B, H))
    lengths = np.array([T, 2])

    def loss():
        model.load_state_dict(params)
        model.set_seed(99)          # the same dropout masks at every forward
        out, h_n = model(x, h0=h0, lengths=lengths)
        return float(np.sum(out * G) + np.sum(h_n * Gh))

    loss()
    model.zero_grad()
    dx, dh0 = model.backward(G, Gh)
    analytic = {"x": dx, "h0": dh0, **model.grads}
    arrays = {"x": x, "h0": h0, **params}
    errs = {k: rel_err(analytic[k], fd4(loss, arrays[k])) for k in arrays}
    report = ", ".join(f"{k} {e:.1e}" for k, e in errs.items())
    assert all(e <= 1e-7 for e in errs.values()), report
    assert any(k.startswith("layer_norm_hh_weight") for k in errs)


# ---- parameters, construction, streaming ------------------------------------------------

def test_parameters_names_views_and_initial_values():
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, layer_norm=True, seed=5)
    names = list(g.state_dict())
    assert names[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "layer_norm_ih_weight_l0", "layer_norm_ih_bias_l0",
                         "layer_norm_hh_weight_l0", "layer_norm_hh_bias_l0"]
    assert len(names) == 2 * 2 * 8 and "layer_norm_hh_bias_l1_reverse" in names
    for n in names:
        if n.startswith("layer_norm_"):
            assert g.state_dict()[n].shape == (12,)
            assert np.all(g.state_dict()[n] == (1.0 if "_weight" in n else 0.0)), n
    # the same seed draws the same other parameters as without layer_norm
    plain = pygru.GRU(3, 4, num_layers=2, bidirectional=True, seed=5)
    for n, v in plain.state_dict().items():
        np.testing.assert_array_equal(g.state_dict()[n], v)
    # a Parameter is a view of libgru's storage: a write changes the next forward
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    before = g(x)[0]
    g.layer_norm_hh_weight_l1_reverse[0] = 3.0
    after = g(x)[0]
    assert not np.array_equal(before, after)
    assert g.layer_norm_hh_weight_l1_reverse.grad.shape == (12,)
    assert repr(g) == "GRU(3, 4, num_layers=2, bidirectional=True, layer_norm=True)"
    assert g.layer_norm is True and plain.layer_norm is False


@pytest.mark.parametrize("bad", ["yes", 2, None, 1.5])
def test_bad_layer_norm_argument_names_it(bad):
    with pytest.raises((TypeError, ValueError), match="layer_norm"):
        pygru.GRU(2, 3, layer_norm=bad)


@pytest.mark.parametrize("reset_after", [True, False])
def test_step_matches_forward_bitwise(reset_after):
    g = pygru.GRU(4, 5, num_layers=2, reset_after=reset_after, layer_norm=True, seed=2)
    rng = np.random.default_rng(1)
    for p in g.parameters():
        p.data[...] += 0.3 * rng.standard_normal(p.shape).astype(np.float32)
    x = rng.standard_normal((6, 3, 4)).astype(np.float32)
    out, h_n = g.eval()(x)
    state = g.new_state(3)
    for t in range(6):
        np.testing.assert_array_equal(g.step(x[t], state), out[t])
    np.testing.assert_array_equal(state, h_n)


def test_quantize_refuses_layer_norm():
    with pytest.raises(ValueError, match="layer_norm"):
        pygru.GRU(2, 3, layer_norm=True).quantize("int8")


# ---- model files ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, reset_after=False,
                  layer_norm=True, dtype=dtype, seed=3)
    for p in g.parameters():
        p.data[...] += 0.1
    path = g.save(tmp_path / "ln.safetensors")
    back = pygru.load(path)
    assert back.layer_norm and back.dtype == dtype
    for k, v in g.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    x = np.ones((4, 2, 3), dtype)
    np.testing.assert_array_equal(back(x)[0], g.eval()(x)[0])
    _, meta = modelfile.read_tensors(path)
    assert meta["layer_norm"] == "1"
    _, meta = modelfile.read_tensors(pygru.GRU(3, 4).save(tmp_path / "plain.safetensors"))
    assert meta["layer_norm"] == "0"


def test_file_without_metadata_infers_layer_norm(tmp_path):
    g = pygru.GRU(2, 3, layer_norm=True, seed=4)
    path = str(tmp_path / "bare.safetensors")
    modelfile.write_tensors(path, g.state_dict(), {})
    back = pygru.load(path)
    assert back.layer_norm
    np.testing.assert_array_equal(back.layer_norm_hh_weight_l0, g.layer_norm_hh_weight_l0)


@pytest.mark.parametrize("flag,drop,msg", [
    ("0", None, "layer_norm"),                      # metadata says no, tensors say yes
    ("1", "layer_norm_hh_bias_l0", "missing"),      # one of the four is absent
    ("yes", None, "layer_norm"),                    # not a flag
])
def test_reader_refuses_inconsistent_files(tmp_path, flag, drop, msg):
    g = pygru.GRU(2, 3, layer_norm=True, seed=4)
    sd = {k: v for k, v in g.state_dict().items() if k != drop}
    meta = modelfile.metadata("GRU", g._config())
    meta["layer_norm"] = flag
    path = str(tmp_path / "bad.safetensors")
    modelfile.write_tensors(path, sd, meta)
    with pytest.raises(ValueError, match=msg):
        pygru.load(path)


def test_reader_refuses_layer_norm_flag_without_tensors(tmp_path):
    g = pygru.GRU(2, 3, seed=4)
    meta = modelfile.metadata("GRU", g._config())
    meta["layer_norm"] = "1"
    path = str(tmp_path / "bad.safetensors")
    modelfile.write_tensors(path, g.state_dict(), meta)
    with pytest.raises(ValueError, match="layer_norm"):
        pygru.load(path)


# ---- converters --------------------------------------------------------------------------

def test_converters_refuse_layer_norm(tmp_path):
    g = pygru.GRU(2, 3, layer_norm=True)
    from pygru import keras_io, onnx_io, torch_io
    with pytest.raises(ValueError, match="layer_norm"):
        torch_io.to_torch(g)
    with pytest.raises(ValueError, match="layer_norm"):
        onnx_io.to_onnx(g, str(tmp_path / "x.onnx"))
    with pytest.raises(ValueError, match="layer_norm"):
        keras_io.to_keras(g)
    assert not os.path.exists(tmp_path / "x.onnx")


# ---- Haste ---------------------------------------------------------------------------------

def haste_forward(state, x, h0=None):
    """Haste's LayerNormGRU, transcribed in NumPy float64: x (T, B, I) -> (T, B, H)."""
    k, rk = state["kernel"].astype(np.float64), state["recurrent_kernel"].astype(np.float64)
    b, rb = state["bias"].astype(np.float64), state["recurrent_bias"].astype(np.float64)
    gamma = state["gamma"].astype(np.float64)
    H = rk.shape[0]

    def layer_norm(a, weight):
        mu = a.mean(axis=-1, keepdims=True)
        var = ((a - mu) ** 2).mean(axis=-1, keepdims=True)
        return weight * (a - mu) / np.sqrt(var + 1e-5)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    h = np.zeros((x.shape[1], H)) if h0 is None else h0
    out = []
    for t in range(x.shape[0]):
        Wx = layer_norm(x[t] @ k, gamma[0]) + b
        Rh = layer_norm(h @ rk, gamma[1]) + rb
        z = sigmoid(Wx[:, :H] + Rh[:, :H])
        r = sigmoid(Wx[:, H:2 * H] + Rh[:, H:2 * H])
        g = np.tanh(Wx[:, 2 * H:] + r * Rh[:, 2 * H:])
        h = z * h + (1 - z) * g
        out.append(h)
    return np.stack(out)


def haste_state(I, H, rng):
    return {"kernel": rng.standard_normal((I, 3 * H)) * 0.5,
            "recurrent_kernel": rng.standard_normal((H, 3 * H)) * 0.5,
            "bias": rng.standard_normal(3 * H) * 0.3,
            "recurrent_bias": rng.standard_normal(3 * H) * 0.3,
            "gamma": 1 + 0.3 * rng.standard_normal((2, 3 * H))}


def test_from_haste_matches_haste_equations():
    rng = np.random.default_rng(8)
    state = haste_state(4, 5, rng)
    x = rng.standard_normal((7, 3, 4))
    g = haste_io.from_haste(state, dtype=np.float64)
    assert g.layer_norm and g.reset_after and g.dtype == np.float64
    assert np.all(g.layer_norm_ih_bias_l0 == 0) and np.all(g.layer_norm_hh_bias_l0 == 0)
    out, h_n = g(x)
    want = haste_forward(state, x)
    assert rel_err(out, want) <= 1e-13
    np.testing.assert_allclose(h_n[0], want[-1], rtol=0, atol=1e-13)
    g32 = haste_io.from_haste({k: v.astype(np.float32) for k, v in state.items()})
    assert g32.dtype == np.float32 and rel_err(g32(x.astype(np.float32))[0], want) <= 1e-5


def test_to_haste_round_trip_and_folds_the_shifts():
    rng = np.random.default_rng(9)
    g = pygru.GRU(3, 4, layer_norm=True, dtype=np.float64, seed=1)
    for p in g.parameters():
        p.data[...] += 0.4 * rng.standard_normal(p.shape)   # shifts beta nonzero too
    state = haste_io.to_haste(g)
    assert state["kernel"].shape == (3, 12) and state["gamma"].shape == (2, 12)
    x = rng.standard_normal((5, 2, 3))
    assert rel_err(haste_forward(state, x), g(x)[0]) <= 1e-13
    back = haste_io.from_haste(state)
    assert rel_err(back(x)[0], g(x)[0]) <= 1e-13
    # without shifts the round trip is exact
    for k in ("layer_norm_ih_bias_l0", "layer_norm_hh_bias_l0"):
        getattr(g, k)[...] = 0
    again = haste_io.from_haste(haste_io.to_haste(g))
    for k, v in g.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v)


def test_haste_refusals():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="reset_after"):
        haste_io.to_haste(pygru.GRU(2, 3, layer_norm=True, reset_after=False))
    with pytest.raises(ValueError, match="reset_after"):
        haste_io.from_haste(haste_state(2, 3, rng), reset_after=False)
    with pytest.raises(ValueError, match="layer_norm"):
        haste_io.to_haste(pygru.GRU(2, 3))
    with pytest.raises(ValueError, match="num_layers=2"):
        haste_io.to_haste(pygru.GRU(2, 3, num_layers=2, layer_norm=True))
    with pytest.raises(ValueError, match="bidirectional=True"):
        haste_io.to_haste(pygru.GRU(2, 3, bidirectional=True, layer_norm=True))
    bad = haste_state(2, 3, rng)
    bad["gamma"] = bad["gamma"][0]
    with pytest.raises(ValueError, match="gamma"):
        haste_io.from_haste(bad)
    del bad["gamma"]
    with pytest.raises(ValueError, match="gamma"):
        haste_io.from_haste(bad)


@pytest.mark.parametrize("reset_after", [True, False])
def test_nan_in_the_padding_changes_nothing(reset_after):
    """Steps at or after a sequence's length are never read as input: NaN there gives
    bitwise the outputs and gradients of zeros (the normalisations of padded rows are
    kept out of the gain gradients)."""
    rng = np.random.default_rng(5)
    g = pygru.GRU(3, 4, num_layers=2, bidirectional=True, reset_after=reset_after,
                  layer_norm=True, dtype=np.float64, seed=3, input_dropout=0.2,
                  recurrent_dropout=0.2)
    x = rng.standard_normal((5, 3, 3))
    lengths = np.array([5, 2, 3])
    G = rng.standard_normal((5, 3, 8))
    results = []
    for fill in (0.0, np.nan):
        xf = x.copy()
        for b, n in enumerate(lengths):
            xf[n:, b] = fill
        g.zero_grad()
        g.set_seed(1)
        out, h_n = g(xf, lengths=lengths)
        dx, dh0 = g.backward(G)
        dx = np.where(np.arange(5)[:, None, None] < lengths[None, :, None], dx, 0.0)
        results.append([out, h_n, dx, dh0] + [v.copy() for v in g.grads.values()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reset_after", [True, False])
def test_layer_norm_with_zoneout_and_weight_dropout_matches_oracle(reset_after):
    """layer_norm composed with helper reg's regularisers: the normalisation sees the
    DropConnect-masked W_hh, zoneout acts on the cell's new state (float64 <= 1e-10)."""
    case = check.Case("GRU", 2, 2, reset_after=reset_after, h0=True, lengths=(4, 2, 3),
                      zoneout=0.3, weight_dropout=0.3, layer_norm=True)
    got, expected = check.run_case(case, "float64", seed=21)
    rows = check.compare(got, expected, "float64")
    assert any(r[0] == "grad_layer_norm_hh_weight_l0" for r in rows)
    assert all(r[3] for r in rows), ", ".join(f"{n} {e:.1e}" for n, e, _, _ in rows)
