"""AUGRU (augru=True): the GRU with DIEN's attentional update gate.

Part 1 (no C library): the SymPy oracle's AUGRU agrees with an independent NumPy forward
(DIEN's form, u' = a (1 - z), h' = (1 - u') h + u' n) and its gradients, grad_attention
included, with central finite differences of its own forward.
Part 2: the library against the oracle (float64 <= 1e-10 on every tensor, grad_attention
included; float32 1e-5 / 1e-4), against finite differences of itself (with dropout),
a = 1 (the plain GRU) and a = 0 (the state kept), step() == forward() bitwise, 1, 2 and
3 threads bitwise, model files, pickling, the refusals (quantize, converters) and every
argument error. Assertion messages give each tensor's error.
"""
import copy
import pickle

import numpy as np
import pytest

from numerics import numeric_grad, rel_err

from test_oracle import oracle   # the oracle, importable without the C library


def _np_augru(params, x, a, h0, reset_after):
    """One layer, one direction, time-major (T, B, I), in NumPy float64 (DIEN's form)."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]
    H = w_hh.shape[1]
    h = h0.copy()
    outs = []
    for t in range(x.shape[0]):
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        r = sig(gi[:, :H] + gh[:, :H])
        z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        if reset_after:
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        else:
            n = np.tanh(gi[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + b_hh[2 * H:])
        u = a[t][:, None] * (1 - z)
        h = (1 - u) * h + u * n
        outs.append(h)
    return np.stack(outs), h


def _problem(seed, I=3, H=4, L=1, bidirectional=False, T=4, B=3, batch_first=False):
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    params = {}
    for name in oracle.param_names(L, bidirectional, True):
        layer = int(name.split("_l")[1].split("_")[0])
        inp = I if layer == 0 else D * H
        shape = {"weight_ih": (3 * H, inp), "weight_hh": (3 * H, H)}.get(
            name.split("_l")[0], (3 * H,))
        params[name] = 0.5 * rng.standard_normal(shape)
    lead = (B, T) if batch_first else (T, B)
    return dict(params=params, x=rng.standard_normal(lead + (I,)),
                attention=rng.uniform(0, 1, lead), h0=0.5 * rng.standard_normal((L * D, B, H)),
                grad_output=rng.standard_normal(lead + (D * H,)),
                grad_h_n=rng.standard_normal((L * D, B, H)))


# ---- part 1: the oracle -----------------------------------------------------------------

@pytest.mark.parametrize("reset_after", [True, False])
def test_oracle_forward_matches_numpy(reset_after):
    p = _problem(1)
    ref = oracle.reference(p["params"], input_size=3, hidden_size=4, reset_after=reset_after,
                           x=p["x"], h0=p["h0"], attention=p["attention"])
    out, h = _np_augru(p["params"], p["x"], p["attention"], p["h0"][0], reset_after)
    assert rel_err(ref["output"], out) <= 1e-14, rel_err(ref["output"], out)
    assert rel_err(ref["h_n"][0], h) <= 1e-14


@pytest.mark.parametrize("reset_after", [True, False])
def test_oracle_gradients_match_finite_differences(reset_after):
    p = _problem(2, I=2, H=3, L=2, bidirectional=True, T=3, B=2, batch_first=True)
    kw = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True,
              reset_after=reset_after, batch_first=True, lengths=[3, 2])
    att, x = p["attention"].copy(), p["x"].copy()

    def loss():
        r = oracle.reference(p["params"], x=x, h0=p["h0"], attention=att, **kw)
        return np.sum(r["output"] * p["grad_output"]) + np.sum(r["h_n"] * p["grad_h_n"])
    ref = oracle.reference(p["params"], x=x, h0=p["h0"], attention=att,
                           grad_output=p["grad_output"], grad_h_n=p["grad_h_n"], **kw)
    errs = {"grad_attention": rel_err(ref["grad_attention"], numeric_grad(loss, att)),
            "grad_input": rel_err(ref["grad_input"], numeric_grad(loss, x))}
    assert all(e <= 1e-7 for e in errs.values()), errs
    assert ref["grad_attention"][1, 2] == 0.0   # a padded step


# ---- part 2: the library ------------------------------------------------------------------

pygru = pytest.importorskip("pygru")
pytest.importorskip("pygru._libgru")

CASES = [
    dict(I=3, H=4, L=1, bidirectional=False, reset_after=True, batch_first=False, lengths=None),
    dict(I=3, H=4, L=1, bidirectional=False, reset_after=False, batch_first=True,
         lengths=[4, 1, 2]),
    dict(I=2, H=3, L=2, bidirectional=True, reset_after=True, batch_first=True,
         lengths=[2, 4, 1]),
    dict(I=2, H=3, L=2, bidirectional=True, reset_after=False, batch_first=False,
         lengths=[3, 4, 1]),
]


def _model(c, dtype=np.float64, **kw):
    return pygru.GRU(c["I"], c["H"], num_layers=c["L"], bidirectional=c["bidirectional"],
                     reset_after=c["reset_after"], batch_first=c["batch_first"], augru=True,
                     dtype=dtype, seed=0, **kw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c", CASES, ids=lambda c: "L%d%s ra=%d bf=%d len=%s" % (
    c["L"], "bi" if c["bidirectional"] else "uni", c["reset_after"], c["batch_first"],
    c["lengths"] is not None))
def test_library_matches_oracle(c, dtype):
    p = _problem(3, I=c["I"], H=c["H"], L=c["L"], bidirectional=c["bidirectional"],
                 batch_first=c["batch_first"])
    r = lambda a: a.astype(dtype).astype(np.float64)  # noqa: E731
    p = {k: ({n: r(v) for n, v in p[k].items()} if k == "params" else r(p[k])) for k in p}
    g = _model(c, dtype)
    g.load_state_dict(p["params"])
    g.train()
    out, hn = g(p["x"], p["h0"], c["lengths"], attention=p["attention"])
    dx, dh0, da = g.backward(p["grad_output"], p["grad_h_n"])
    ref = oracle.reference(p["params"], input_size=c["I"], hidden_size=c["H"],
                           num_layers=c["L"], bidirectional=c["bidirectional"],
                           reset_after=c["reset_after"], batch_first=c["batch_first"],
                           x=p["x"], h0=p["h0"], lengths=c["lengths"],
                           attention=p["attention"], grad_output=p["grad_output"],
                           grad_h_n=p["grad_h_n"])
    got = {"output": out, "h_n": hn, "grad_input": dx, "grad_h0": dh0, "grad_attention": da}
    got.update({"grad_" + k: v for k, v in g.grads.items()})
    errs = {k: rel_err(got[k], ref[k]) for k in ref}
    fwd_tol, grad_tol = (1e-10, 1e-10) if dtype == np.float64 else (1e-5, 1e-4)
    bad = {k: e for k, e in errs.items()
           if not e <= (grad_tol if k.startswith("grad_") else fwd_tol)}
    assert not bad, "over tolerance: %s; all: %s" % (bad, errs)
    assert da.shape == p["attention"].shape and da.dtype == dtype


@pytest.mark.parametrize("reset_after", [True, False])
def test_finite_differences_with_dropout(reset_after):
    c = dict(I=2, H=3, L=2, bidirectional=True, reset_after=reset_after, batch_first=False,
             lengths=[3, 1])
    g = _model(c, dropout=0.3, input_dropout=0.2, recurrent_dropout=0.25)
    p = _problem(4, I=2, H=3, L=2, bidirectional=True, T=3, B=2)
    g.train()

    def loss():
        g.set_seed(11)
        out, hn = g(p["x"], p["h0"], c["lengths"], attention=p["attention"])
        return np.sum(out * p["grad_output"]) + np.sum(hn * p["grad_h_n"])
    loss()
    g.zero_grad()
    dx, dh0, da = g.backward(p["grad_output"], p["grad_h_n"])
    params = {k: v.grad.copy() for k, v in g.named_parameters()}
    errs = {"grad_attention": rel_err(da, numeric_grad(loss, p["attention"])),
            "grad_input": rel_err(dx, numeric_grad(loss, p["x"])),
            "grad_h0": rel_err(dh0, numeric_grad(loss, p["h0"]))}
    for name in ("weight_hh_l0", "bias_ih_l1_reverse"):
        data = getattr(g, name).data
        errs[name] = rel_err(params[name], numeric_grad(loss, data))
    assert all(e <= 1e-7 for e in errs.values()), errs
    assert np.all(da[1:, 1] == 0), "grad_attention must be 0 at padded steps"


def test_attention_one_is_the_gru_and_zero_keeps_the_state():
    c = CASES[3]
    g = _model(c)
    plain = pygru.GRU(2, 3, num_layers=2, bidirectional=True, reset_after=False,
                      dtype=np.float64)
    plain.load_state_dict(g.state_dict())
    p = _problem(5, I=2, H=3, L=2, bidirectional=True)
    out1, hn1 = g(p["x"], p["h0"], attention=np.ones((4, 3)))
    out, hn = plain(p["x"], p["h0"])
    assert rel_err(out1, out) <= 1e-14 and rel_err(hn1, hn) <= 1e-14
    out0, hn0 = g(p["x"], p["h0"], attention=np.zeros((4, 3)))
    assert np.array_equal(hn0, p["h0"]), "a = 0 must keep every state bitwise"


def test_step_matches_forward_bitwise_and_cell():
    g = pygru.GRU(3, 5, num_layers=2, augru=True, seed=1)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    a = rng.uniform(0, 1, (6, 2)).astype(np.float32)
    out, _ = g(x, attention=a)
    state = g.new_state(2)
    steps = np.stack([g.step(x[t], state, attention=a[t]) for t in range(6)])
    assert np.array_equal(steps, out[:, :, :])
    one = g.new_state(1)[:, 0]
    assert np.array_equal(g.step(x[0, 0], one, attention=a[0, 0]), out[0, 0])
    with pytest.raises(ValueError, match="attention is required"):
        g.step(x[0], g.new_state(2))
    with pytest.raises(ValueError, match=r"attention must have shape \(2,\)"):
        g.step(x[0], g.new_state(2), attention=a[:2])
    # GRUCell(augru=True): one step, eval (gru_step_att) == train, and its gradients
    cell = pygru.GRUCell(3, 5, augru=True, dtype=np.float64, seed=2)
    gru1 = pygru.GRU(3, 5, augru=True, dtype=np.float64)
    gru1.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    xc, hc, ac = x[0].astype(np.float64), rng.standard_normal((2, 5)), a[0].astype(np.float64)
    h_eval = cell.eval()(xc, hc, ac)
    h_train = cell.train()(xc, hc, ac)
    assert np.array_equal(h_eval, h_train)
    gru1.train()
    _, hn = gru1(xc[None], hc[None], attention=ac[None])
    assert np.array_equal(hn[0], h_train)
    gh = rng.standard_normal((2, 5))
    dx, dh, da = cell.backward(gh)
    ex, eh, ea = gru1.backward(None, gh[None])
    assert np.array_equal(da, ea[0]) and np.array_equal(dx, ex[0]) and da.shape == (2,)


def test_threads_bitwise(monkeypatch):
    monkeypatch.setenv("GRU_THREAD_MIN_WORK", "0")
    results = []
    p = _problem(7, I=4, H=37, L=2, bidirectional=True, T=5, B=3)
    try:
        for n in (1, 2, 3):
            pygru.set_num_threads(n)
            g = pygru.GRU(4, 37, num_layers=2, bidirectional=True, augru=True, seed=3,
                          recurrent_dropout=0.2)
            g.train()
            out, hn = g(p["x"], p["h0"], [5, 2, 4], attention=p["attention"])
            grads = g.backward(p["grad_output"], p["grad_h_n"])
            results.append([out, hn, *grads] + [v.grad.copy() for v in g.parameters()])
    finally:
        pygru.set_num_threads(1)
    for n, r in zip((2, 3), results[1:]):
        for k, (a, b) in enumerate(zip(results[0], r)):
            assert np.array_equal(a, b), "%d threads: tensor %d differs" % (n, k)


def test_files_pickle_and_refusals(tmp_path):
    g = pygru.GRU(3, 4, num_layers=2, augru=True, seed=4, batch_first=True)
    x = np.random.default_rng(8).standard_normal((2, 5, 3)).astype(np.float32)
    a = np.random.default_rng(9).uniform(size=(2, 5)).astype(np.float32)
    out, _ = g(x, attention=a)
    path = g.save(tmp_path / "augru.safetensors")
    from pygru import modelfile
    assert modelfile.read_tensors(path)[1]["augru"] == "1"
    back = pygru.load(path)
    assert back.augru and np.array_equal(back(x, attention=a)[0], out)
    assert "augru=True" in repr(back)
    for other in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert other.augru and np.array_equal(other(x, attention=a)[0], out)
    plain_path = pygru.GRU(3, 4).save(tmp_path / "plain.safetensors")
    assert modelfile.read_tensors(plain_path)[1]["augru"] == "0"
    assert not pygru.load(plain_path).augru
    cell = pygru.GRUCell(3, 4, augru=True, seed=1)
    cback = pygru.load(cell.save(tmp_path / "cell.safetensors"))
    assert cback.augru and np.array_equal(cback(x[:, 0], None, a[:, 0]),
                                          cell.eval()(x[:, 0], None, a[:, 0]))
    with pytest.raises(ValueError, match="augru"):
        g.quantize("int8")
    with pytest.raises(ValueError, match="augru"):
        cell.quantize("bf16")
    with pytest.raises(ValueError, match="augru"):
        pygru.quantize_module(pygru.Sequential(g), "int8")
    from pygru import onnx_io, torch_io, keras_io
    with pytest.raises(ValueError, match="augru"):
        torch_io.to_torch(g)
    with pytest.raises(ValueError, match="augru"):
        torch_io.to_torch(cell)
    with pytest.raises(ValueError, match="augru"):
        onnx_io.to_onnx(g, str(tmp_path / "g.onnx"))
    with pytest.raises(ValueError, match="augru"):
        keras_io.to_keras(pygru.GRU(3, 4, augru=True))


def test_argument_errors():
    g = pygru.GRU(3, 4, augru=True)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"attention is required .*\(5, 2\) \(seq_len, "
                                         r"batch\), dtype float32; got None"):
        g(x)
    with pytest.raises(ValueError, match=r"attention must have shape \(5, 2\) \(seq_len, "
                                         r"batch\); got \(2, 5\)"):
        g(x, attention=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"attention must have shape \(5,\)"):
        g(x[:, 0], attention=np.zeros((5, 1)))
    with pytest.raises(TypeError, match="attention"):
        g(x, attention=np.zeros((5, 2), complex))
    with pytest.raises(ValueError, match="attention is only for an AUGRU"):
        pygru.GRU(3, 4)(x, attention=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="attention is only for an AUGRU"):
        pygru.GRUCell(3, 4)(x[0], None, np.zeros(2))
    with pytest.raises(ValueError, match=r"attention must have shape \(2,\)"):
        pygru.GRUCell(3, 4, augru=True)(x[0], None, np.zeros(3))
    with pytest.raises((TypeError, ValueError), match="augru"):
        pygru.GRU(3, 4, augru="yes")
    bf = pygru.GRU(3, 4, augru=True, batch_first=True)
    with pytest.raises(ValueError, match=r"\(batch, seq_len\) \[batch_first\]; got \(5, 2\)"):
        bf(np.zeros((2, 5, 3)), attention=np.zeros((5, 2)))
    # unbatched: attention (T,), grad_attention (T,)
    g.train()
    out, _ = g(x[:, 0], attention=np.full(5, 0.5))
    assert g.backward(np.ones_like(out))[2].shape == (5,)


def test_target_attention_and_dien_chain_finite_differences():
    """nn.TargetAttention alone, then GRU -> TargetAttention -> AUGRU end to end,
    against central differences in float64 (x, target and the attention weight)."""
    from pygru import nn
    rng = np.random.default_rng(10)
    T, B, I, H, E = 4, 3, 3, 4, 2
    gru1 = nn.GRU(I, H, dtype=np.float64, seed=1).train()
    att = nn.TargetAttention(H, E, dtype=np.float64, seed=2).train()
    augru = nn.GRU(H, H, augru=True, dtype=np.float64, seed=3).train()
    x, target = rng.standard_normal((T, B, I)), rng.standard_normal((B, E))
    lengths = [4, 2, 3]
    G, Gh = rng.standard_normal((T, B, H)), rng.standard_normal((1, B, H))

    def loss():
        h1, _ = gru1(x, lengths=lengths)
        a = att(h1, target, lengths)
        out, hn = augru(h1, lengths=lengths, attention=a)
        return np.sum(out * G) + np.sum(hn * Gh), a
    _, a = loss()
    assert np.allclose(a.sum(0), 1) and a[2:, 1].tolist() == [0, 0]
    for m in (gru1, att, augru):
        m.zero_grad()
    dh1, _, da = augru.backward(G, Gh)
    dh1_att, dtarget = att.backward(da)
    dx, _ = gru1.backward(dh1 + dh1_att)
    f = lambda: loss()[0]  # noqa: E731
    errs = {"x": rel_err(dx, numeric_grad(f, x)),
            "target": rel_err(dtarget, numeric_grad(f, target))}
    w_grad = att.weight.grad.copy()
    errs["attention weight"] = rel_err(w_grad, numeric_grad(f, att.weight.data))
    assert all(e <= 1e-7 for e in errs.values()), errs
    with pytest.raises(ValueError, match=r"target must have shape \(3, 2\)"):
        att(np.zeros((T, B, H)), np.zeros((B, 3)))
    with pytest.raises(ValueError, match="states must have shape"):
        att(np.zeros((T, B, H + 1)), target)


@pytest.mark.parametrize("reset_after", [True, False])
def test_padding_values_change_nothing(reset_after):
    """NaN / Inf attention and input at padded steps (t >= lengths[b]) give bitwise the
    outputs and every gradient of zeros there (backward reads the kept copy of the
    attention, padded entries included)."""
    p = _problem(12, I=3, H=5, L=2, bidirectional=True, T=5, B=3)
    lengths = [5, 2, 3]
    results = []
    for fill in (0.0, np.nan, np.inf):
        g = pygru.GRU(3, 5, num_layers=2, bidirectional=True, reset_after=reset_after,
                      augru=True, dtype=np.float64, seed=5).train()
        x, a = p["x"].copy(), p["attention"].copy()
        for b, n in enumerate(lengths):
            x[n:, b], a[n:, b] = fill, fill
        out, hn = g(x, p["h0"], lengths, attention=a)
        grads = g.backward(p["grad_output"], p["grad_h_n"])
        results.append([out, hn, *grads] + [v.grad.copy() for v in g.parameters()])
    for fill, r in zip(("nan", "inf"), results[1:]):
        for k, (u, v) in enumerate(zip(results[0], r)):
            assert np.array_equal(u, v), "padding %s: tensor %d differs" % (fill, k)
