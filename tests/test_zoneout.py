"""Zoneout and weight_dropout (DropConnect on weight_hh) through pygru.

- float64 library vs the SymPy oracle (pygru.oracle) with the library's masks held
  fixed: every tensor (output, h_n, grad_input, grad_h0, every parameter gradient)
  within 1e-10 relative to the oracle's largest magnitude; the inference blend too.
- central finite differences of the float64 library, masks held fixed by reseeding.
- the masks: shapes, entries, rates, layouts; step() == eval forward bitwise.
- arguments: rates out of range or not numbers name the argument and the value.
- model files round-trip both rates; quantize refuses zoneout; converters raise on
  zoneout and export weight_dropout models as the plain GRU they are at inference.
"""
import os
import warnings

import numpy as np
import pytest

from numerics import numeric_grad, rel_err

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("pygru._libgru")
import pygru  # noqa: E402
from pygru import oracle  # noqa: E402

ORACLE_TOL = 1e-10
FD_TOL = 1e-7


def _problem(cfg, seq_len, batch, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = 2 if cfg.get("bidirectional") else 1
    L, H, I = cfg.get("num_layers", 1), cfg["hidden_size"], cfg["input_size"]
    model = pygru.GRU(dtype=dtype, seed=seed, **cfg)
    params = {k: (0.6 * rng.standard_normal(v.shape)).astype(dtype).astype(np.float64)
              for k, v in model.state_dict().items()}
    model.load_state_dict(params)
    lead = (batch, seq_len) if cfg.get("batch_first") else (seq_len, batch)
    x = rng.standard_normal(lead + (I,))
    h0 = rng.standard_normal((L * D, batch, H))
    G = rng.standard_normal(lead + (D * H,))
    Gh = rng.standard_normal((L * D, batch, H))
    return model, params, x, h0, G, Gh


ORACLE_CASES = [
    dict(input_size=2, hidden_size=3, zoneout=0.4),
    dict(input_size=2, hidden_size=3, reset_after=False, zoneout=0.5, batch_first=True),
    dict(input_size=3, hidden_size=2, weight_dropout=0.4),
    dict(input_size=3, hidden_size=2, reset_after=False, weight_dropout=0.5),
    dict(input_size=2, hidden_size=2, num_layers=2, bidirectional=True, zoneout=0.3,
         weight_dropout=0.3),
    dict(input_size=2, hidden_size=3, num_layers=2, reset_after=False, batch_first=True,
         zoneout=0.3, weight_dropout=0.3, input_dropout=0.2, recurrent_dropout=0.3),
]


@pytest.mark.parametrize("lengths", [None, [4, 1, 3]])
@pytest.mark.parametrize("cfg", ORACLE_CASES, ids=lambda c: "-".join(
    "%s=%s" % kv for kv in c.items() if kv[0] not in ("input_size", "hidden_size")))
def test_float64_matches_oracle_with_library_masks(cfg, lengths):
    model, params, x, h0, G, Gh = _problem(cfg, 4, 3, seed=11)
    lengths = None if lengths is None else np.array(lengths)
    out, h_n = model(x, h0=h0, lengths=lengths)
    dx, dh0 = model.backward(G, Gh)
    got = {"output": out, "h_n": h_n, "grad_input": dx, "grad_h0": dh0,
           **{"grad_" + k: v for k, v in model.grads.items()}}
    masks = None
    if cfg.get("input_dropout") or cfg.get("recurrent_dropout"):
        masks = {k: tuple(m.astype(np.float64) for m in v)
                 for k, v in model.dropout_masks().items()}
    zm = model.zoneout_masks() if cfg.get("zoneout") else None
    wm = model.weight_dropout_masks() if cfg.get("weight_dropout") else None
    if zm is not None:   # the masks act: some units kept, some not
        allz = np.concatenate([m.ravel() for m in zm.values()])
        assert 0 < allz.mean() < 1
    if wm is not None:
        allw = np.concatenate([m.ravel() for m in wm.values()])
        assert 0 < (allw == 0).mean() < 1
    oc = {k: v for k, v in cfg.items() if k in ("input_size", "hidden_size", "num_layers",
                                                "bidirectional", "batch_first", "reset_after")}
    expected = oracle.reference(params, x=x, h0=h0, lengths=lengths, grad_output=G,
                                grad_h_n=Gh, masks=masks, weight_masks=wm,
                                zoneout_masks=zm, **oc)
    errors = {k: rel_err(got[k], expected[k]) for k in expected}
    bad = {k: e for k, e in errors.items() if not e <= ORACLE_TOL}
    assert not bad, errors

    # and without the masks the oracle disagrees (the masks matter)
    plain = oracle.reference(params, x=x, h0=h0, lengths=lengths, masks=masks, **oc)
    assert rel_err(out, plain["output"]) > 1e-3


@pytest.mark.parametrize("reset_after", [True, False])
def test_inference_blend_matches_oracle(reset_after):
    cfg = dict(input_size=3, hidden_size=3, num_layers=2, reset_after=reset_after,
               zoneout=0.35, weight_dropout=0.4)
    model, params, x, h0, _, _ = _problem(cfg, 5, 2, seed=3)
    model.eval()
    out, h_n = model(x, h0=h0, lengths=np.array([5, 2]))
    exp = oracle.reference(params, input_size=3, hidden_size=3, num_layers=2,
                           reset_after=reset_after, x=x, h0=h0, lengths=np.array([5, 2]),
                           zoneout=0.35)
    assert rel_err(out, exp["output"]) <= ORACLE_TOL
    assert rel_err(h_n, exp["h_n"]) <= ORACLE_TOL


def _gradcheck(cfg, seq_len=3, batch=2, lengths=None, seed=0):
    model, params, x, h0, G, Gh = _problem(cfg, seq_len, batch, seed)
    lengths = None if lengths is None else np.asarray(lengths)

    def forward():
        model.load_state_dict(params)
        model.set_seed(77)                 # the same masks at every forward
        return model(x, h0=h0, lengths=lengths)

    def loss():
        out, h_n = forward()
        return float(np.sum(out * G) + np.sum(h_n * Gh))

    forward()
    model.zero_grad()
    dx, dh0 = model.backward(G, Gh)
    analytic = {"grad_input": dx, "grad_h0": dh0,
                **{"grad_" + k: v for k, v in model.grads.items()}}
    arrays = {"grad_input": x, "grad_h0": h0, **{"grad_" + k: v for k, v in params.items()}}
    errors = {k: rel_err(analytic[k], numeric_grad(loss, a, 1e-5)) for k, a in arrays.items()}
    bad = {k: e for k, e in errors.items() if not e <= FD_TOL}
    assert not bad, errors
    return errors


@pytest.mark.parametrize("cfg", [
    dict(input_size=3, hidden_size=2, zoneout=0.5),
    dict(input_size=3, hidden_size=2, reset_after=False, weight_dropout=0.5),
    dict(input_size=2, hidden_size=2, num_layers=2, bidirectional=True, batch_first=True,
         zoneout=0.3, weight_dropout=0.3),
    dict(input_size=2, hidden_size=3, num_layers=2, reverse=True, reset_after=False,
         zoneout=0.4, weight_dropout=0.4, recurrent_dropout=0.3),
], ids=["zo", "wd-ra0", "bi-bf", "reverse-all"])
def test_backward_matches_finite_differences(cfg):
    _gradcheck(cfg, lengths=[3, 1])


def test_masks_shapes_layouts_and_rates():
    cfg = dict(input_size=3, hidden_size=8, num_layers=2, bidirectional=True,
               zoneout=0.25, weight_dropout=0.4, seed=9)
    a = pygru.GRU(**cfg)
    b = pygru.GRU(batch_first=True, **cfg)
    x = np.random.default_rng(0).standard_normal((20, 6, 3)).astype(np.float32)
    a(x)
    b(x.transpose(1, 0, 2).copy())
    za, zb = a.zoneout_masks(), b.zoneout_masks()
    wa, wb = a.weight_dropout_masks(), b.weight_dropout_masks()
    assert set(za) == set(wa) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    for k in za:
        assert za[k].shape == (20, 6, 8) and za[k].dtype == np.float32
        assert wa[k].shape == (24, 8)
        np.testing.assert_array_equal(za[k], zb[k])   # time-major in both layouts
        np.testing.assert_array_equal(wa[k], wb[k])
        assert set(np.unique(za[k])) <= {0.0, 1.0}
        assert set(np.unique(wa[k])) <= {0.0, np.float32(1 / 0.6)}
    allz = np.concatenate([m.ravel() for m in za.values()])
    allw = np.concatenate([m.ravel() for m in wa.values()])
    assert abs(allz.mean() - 0.25) < 4.5 * np.sqrt(0.25 * 0.75 / allz.size)
    assert abs((allw == 0).mean() - 0.4) < 4.5 * np.sqrt(0.4 * 0.6 / allw.size)
    assert not np.array_equal(za[(0, 0)], za[(1, 1)])
    assert not np.array_equal(wa[(0, 0)], wa[(0, 1)])
    a(x)   # the next training forward draws new masks
    assert not np.array_equal(a.zoneout_masks()[(0, 0)], za[(0, 0)])
    assert not np.array_equal(a.weight_dropout_masks()[(0, 0)], wa[(0, 0)])


def test_masks_of_a_model_without_them():
    g = pygru.GRU(2, 3)
    g(np.zeros((4, 1, 2), np.float32))
    assert not g.zoneout_masks()[(0, 0)].any()
    assert (g.weight_dropout_masks()[(0, 0)] == 1).all()


def test_step_equals_eval_forward_bitwise():
    g = pygru.GRU(3, 5, num_layers=2, zoneout=0.3, weight_dropout=0.2, seed=4)
    g.eval()
    x = np.random.default_rng(1).standard_normal((6, 2, 3)).astype(np.float32)
    out, _ = g(x)
    state = g.new_state(2)
    for t in range(6):
        y = g.step(x[t], state)
        np.testing.assert_array_equal(y, out[t])


def test_weight_dropout_inference_is_the_plain_gru():
    g = pygru.GRU(3, 4, num_layers=2, weight_dropout=0.5, seed=2)
    p = pygru.GRU(3, 4, num_layers=2, seed=2)
    p.load_state_dict(g.state_dict())
    x = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32)
    g.eval(), p.eval()
    np.testing.assert_array_equal(g(x)[0], p(x)[0])
    g.train(), p.train()
    assert not np.array_equal(g(x)[0], p(x)[0])   # training does drop weights


@pytest.mark.parametrize("name", ["zoneout", "weight_dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_bad_rate_is_a_value_error_naming_it(name, value):
    with pytest.raises(ValueError, match=name) as exc:
        pygru.GRU(2, 3, **{name: value})
    assert repr(value) in str(exc.value) or str(value) in str(exc.value)


@pytest.mark.parametrize("name", ["zoneout", "weight_dropout"])
def test_rate_of_the_wrong_type_is_a_type_error(name):
    with pytest.raises(TypeError, match=name):
        pygru.GRU(2, 3, **{name: "0.5"})


def test_repr_properties_and_model_file_round_trip(tmp_path):
    g = pygru.GRU(3, 4, num_layers=2, zoneout=0.25, weight_dropout=0.125, seed=3)
    assert g.zoneout == 0.25 and g.weight_dropout == 0.125
    assert "zoneout=0.25" in repr(g) and "weight_dropout=0.125" in repr(g)
    path = g.save(tmp_path / "m.safetensors")
    h = pygru.load(path)
    assert h.zoneout == 0.25 and h.weight_dropout == 0.125
    g.eval(), h.eval()
    x = np.random.default_rng(3).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(g(x)[0], h(x)[0])
    from pygru import modelfile
    meta = modelfile.metadata("GRU", g._config())
    assert meta["zoneout"] == "0.25" and meta["weight_dropout"] == "0.125"


def test_quantize_refuses_zoneout_and_keeps_weight_dropout():
    with pytest.raises(ValueError, match="zoneout"):
        pygru.GRU(3, 4, zoneout=0.2).quantize("int8")
    g = pygru.GRU(3, 4, weight_dropout=0.3, seed=1)
    q = g.quantize("int8")
    x = np.random.default_rng(4).standard_normal((4, 2, 3)).astype(np.float32)
    g.eval()
    assert np.max(np.abs(q(x)[0] - g(x)[0])) < 0.05


def test_torch_export():
    pytest.importorskip("torch")
    import torch
    from pygru import torch_io
    with pytest.raises(ValueError, match="zoneout"):
        torch_io.to_torch(pygru.GRU(3, 4, zoneout=0.1))
    g = pygru.GRU(3, 4, num_layers=2, weight_dropout=0.3, dtype=np.float64, seed=5).eval()
    with pytest.warns(UserWarning, match="weight_dropout"):
        t = torch_io.to_torch(g)
    x = np.random.default_rng(5).standard_normal((4, 2, 3))
    with torch.no_grad():
        ty, _ = t(torch.from_numpy(x))
    assert rel_err(g(x)[0], ty.numpy()) < 1e-12


def test_onnx_export(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from pygru import onnx_io
    with pytest.raises(ValueError, match="zoneout"):
        onnx_io.to_onnx(pygru.GRU(3, 4, zoneout=0.1), str(tmp_path / "z.onnx"))
    g = pygru.GRU(3, 4, weight_dropout=0.3, seed=6).eval()
    path = onnx_io.to_onnx(g, str(tmp_path / "w.onnx"))
    x = np.random.default_rng(6).standard_normal((4, 2, 3)).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(["output"], {"x": x})[0]
    assert rel_err(y, g(x)[0]) < 1e-5


def test_keras_export_refuses_zoneout():
    from pygru import keras_io
    with pytest.raises(ValueError, match="zoneout"):
        keras_io.to_keras(pygru.GRU(3, 4, zoneout=0.1))


def test_keras_export_of_weight_dropout():
    keras = pytest.importorskip("keras")
    from pygru import keras_io
    g = pygru.GRU(3, 4, weight_dropout=0.3, seed=7).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = keras_io.to_keras(g)
    assert any("weight_dropout" in str(w.message) for w in caught)
    x = np.random.default_rng(7).standard_normal((2, 4, 3)).astype(np.float32)
    y = keras.ops.convert_to_numpy(layer(x)[0])
    assert rel_err(y, g(x.transpose(1, 0, 2))[0].transpose(1, 0, 2)) < 1e-5
