"""Tests of the SymPy oracle (pygru/oracle.py) and of the library against it.

Part 1 (no C library needed): the oracle agrees with torch.nn.GRU / GRUCell in float64
(forward and every gradient, <= 1e-12 relative to each tensor's max magnitude) for
reset_after=True; for reset_after=False (which torch lacks) its forward agrees with an
independent NumPy forward and its gradients with central finite differences of its own
forward.
Part 2 (needs pygru._libgru): the library, float64 and float32, agrees with the oracle on
every tensor; `python -m pygru check` passes, and its comparison can fail.
Every assertion message names the tensor and its error.
"""

import importlib.util
import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from numerics import numeric_grad

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_oracle():
    """pygru.oracle, also when pygru/__init__ cannot be imported yet (no C library)."""
    try:
        from pygru import oracle
        return oracle
    except ImportError:
        spec = importlib.util.spec_from_file_location("pygru_oracle_standalone",
                                                      ROOT / "pygru" / "oracle.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


oracle = _load_oracle()


# ---- helpers ---------------------------------------------------------------------------

def rel_err(actual, expected):
    """max |actual - expected| / max |expected| (absolute error if expected is all 0)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    err = np.max(np.abs(actual - expected)) if expected.size else 0.0
    return err / scale if scale > 0 else err


def assert_close(actual, expected, tol, what):
    """Compares dicts of tensors key by key; the message lists every tensor's error."""
    assert set(actual) == set(expected), f"{what}: keys {sorted(actual)} != {sorted(expected)}"
    errs = {k: rel_err(actual[k], expected[k]) for k in sorted(expected)}
    bad = {k: e for k, e in errs.items() if not e <= tol}
    table = ", ".join(f"{k}={e:.2e}" for k, e in errs.items())
    assert not bad, f"{what}: tolerance {tol:.0e} exceeded by {sorted(bad)}; errors: {table}"
    return errs


def make_problem(seed, *, input_size, hidden_size, num_layers, bidirectional, bias,
                 seq_len, batch, with_h0, with_lengths, batch_first, reset_after=None,
                 scale=0.5):
    """Random parameters, inputs and output gradients (all float64); reset_after is
    accepted so a model's config can be passed whole (the shapes do not depend on it)."""
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    params = {}
    for name in oracle.param_names(num_layers, bidirectional, bias):
        layer = int(name.split("_l")[1].split("_")[0])
        in_size = input_size if layer == 0 else D * hidden_size
        shape = {"weight_ih": (3 * hidden_size, in_size),
                 "weight_hh": (3 * hidden_size, hidden_size)}.get(name.split("_l")[0],
                                                                  (3 * hidden_size,))
        params[name] = scale * rng.standard_normal(shape)
    xs = (batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size)
    x = rng.standard_normal(xs)
    h0 = rng.standard_normal((num_layers * D, batch, hidden_size)) if with_h0 else None
    lengths = None
    if with_lengths:
        lengths = rng.integers(1, seq_len + 1, size=batch)
        lengths[0] = seq_len                 # include both extremes when batch > 1
        if batch > 1:
            lengths[-1] = 1
    os_ = xs[:2] + (D * hidden_size,)
    grad_output = rng.standard_normal(os_)
    grad_h_n = rng.standard_normal((num_layers * D, batch, hidden_size))
    return dict(params=params, x=x, h0=h0, lengths=lengths,
                grad_output=grad_output, grad_h_n=grad_h_n)


def numpy_forward(params, *, hidden_size, num_layers, bidirectional, reset_after, x,
                  h0=None, lengths=None, batch_first=False):
    """An independent forward in plain NumPy (no SymPy), for both variants."""
    def sig(a):          # 1 / (1 + exp(-a)) without overflow
        return np.exp(-np.logaddexp(0.0, -a))

    H, D = hidden_size, 2 if bidirectional else 1
    inp = x.transpose(1, 0, 2) if batch_first else x
    T, B = inp.shape[:2]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    h_n = np.zeros((num_layers * D, B, H))
    for l in range(num_layers):
        out = np.zeros((T, B, D * H))
        for d in range(D):
            sfx = f"_l{l}" + ("_reverse" if d else "")
            w_ih, w_hh = params["weight_ih" + sfx], params["weight_hh" + sfx]
            b_ih = params.get("bias_ih" + sfx, np.zeros(3 * H))
            b_hh = params.get("bias_hh" + sfx, np.zeros(3 * H))
            h = np.zeros((B, H)) if h0 is None else h0[l * D + d].copy()
            for t in (reversed(range(T)) if d else range(T)):
                gi, gh = inp[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
                r = sig(gi[:, :H] + gh[:, :H])
                z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
                if reset_after:
                    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                else:
                    n = np.tanh(gi[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + b_hh[2 * H:])
                valid = (t < lengths)[:, None]
                h = np.where(valid, (1 - z) * n + z * h, h)
                out[t, :, d * H:(d + 1) * H] = np.where(valid, h, 0.0)
            h_n[l * D + d] = h
        inp = out
    return {"output": out.transpose(1, 0, 2) if batch_first else out, "h_n": h_n}


def torch_reference(prob, *, input_size, hidden_size, num_layers, bidirectional, bias,
                    batch_first):
    """torch.nn.GRU in float64: forward and autograd gradients, named as the oracle's."""
    torch = pytest.importorskip("torch")
    gru = torch.nn.GRU(input_size, hidden_size, num_layers=num_layers, bias=bias,
                       batch_first=batch_first, bidirectional=bidirectional,
                       dtype=torch.float64)
    gru.load_state_dict({k: torch.tensor(v) for k, v in prob["params"].items()})
    D = 2 if bidirectional else 1
    x = torch.tensor(prob["x"], requires_grad=True)
    B = x.shape[0] if batch_first else x.shape[1]
    T = x.shape[1] if batch_first else x.shape[0]
    h0_np = prob["h0"] if prob["h0"] is not None else np.zeros((num_layers * D, B, hidden_size))
    h0 = torch.tensor(h0_np, requires_grad=True)
    if prob["lengths"] is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(prob["lengths"]), batch_first=batch_first, enforce_sorted=False)
        out_p, h_n = gru(packed, h0)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=batch_first,
                                                        total_length=T)
    else:
        out, h_n = gru(x, h0)
    loss = (out * torch.tensor(prob["grad_output"])).sum() + \
        (h_n * torch.tensor(prob["grad_h_n"])).sum()
    loss.backward()
    res = {"output": out.detach().numpy(), "h_n": h_n.detach().numpy(),
           "grad_input": x.grad.numpy(), "grad_h0": h0.grad.numpy()}
    for name, p in gru.named_parameters():
        res["grad_" + name] = p.grad.numpy()
    return res


def oracle_run(prob, cfg, *, grads=True):
    return oracle.reference(
        prob["params"], x=prob["x"], h0=prob["h0"], lengths=prob["lengths"],
        grad_output=prob["grad_output"] if grads else None,
        grad_h_n=prob["grad_h_n"] if grads else None, **cfg)


# ---- part 1: the oracle against torch (reset_after=True) -------------------------------

ORACLE_GRID = list(itertools.product(
    [1, 2],            # num_layers
    [False, True],     # bidirectional
    [False, True],     # batch_first
    [False, True],     # with_h0
    [False, True],     # bias
    [False, True],     # with_lengths
))


@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_h0,bias,with_lengths",
                         ORACLE_GRID)
def test_oracle_matches_torch(num_layers, bidirectional, batch_first, with_h0, bias,
                              with_lengths):
    pytest.importorskip("torch")
    cfg = dict(input_size=3, hidden_size=2, num_layers=num_layers,
               bidirectional=bidirectional, bias=bias, batch_first=batch_first)
    seed = hash((num_layers, bidirectional, batch_first, with_h0, bias, with_lengths)) % 2**31
    prob = make_problem(seed, seq_len=4, batch=3, with_h0=with_h0,
                        with_lengths=with_lengths, **cfg)
    expected = torch_reference(prob, **cfg)
    got = oracle_run(prob, dict(cfg, reset_after=True))
    assert_close(got, expected, 1e-12, f"oracle vs torch {cfg}")


@pytest.mark.parametrize("bias", [False, True])
def test_oracle_cell_matches_torch(bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7 + bias)
    I, H, B = 3, 4, 2
    cell = torch.nn.GRUCell(I, H, bias=bias, dtype=torch.float64)
    params = {k: 0.5 * rng.standard_normal(tuple(v.shape)) for k, v in cell.state_dict().items()}
    cell.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    x, h, g = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)
    h1 = cell(xt, ht)
    (h1 * torch.tensor(g)).sum().backward()
    expected = {"h1": h1.detach().numpy(), "grad_input": xt.grad.numpy(),
                "grad_hx": ht.grad.numpy()}
    expected.update({"grad_" + k: p.grad.numpy() for k, p in cell.named_parameters()})
    got = oracle.cell_reference(params, x=x, h=h, reset_after=True, grad_h1=g)
    assert_close(got, expected, 1e-12, f"oracle cell vs torch (bias={bias})")


@pytest.mark.parametrize("reset_after", [True, False])
def test_oracle_saturated_gates_stay_finite(reset_after):
    """Pre-activations in the hundreds (exp(-a) would overflow in a naive sigmoid): the
    oracle stays finite; its forward matches NumPy to 1e-12 relative, and (reset_after)
    torch's gradients to 1e-12 absolute once scaled by max(1, max|g|), since saturated
    derivatives are ~1e-60 where torch and the oracle round differently."""
    cfg = dict(input_size=3, hidden_size=2, num_layers=2, bidirectional=True, bias=True,
               batch_first=False)
    prob = make_problem(99, seq_len=3, batch=2, with_h0=True, with_lengths=False,
                        scale=20.0, **cfg)
    prob["x"] *= 50.0
    with np.errstate(over="raise", invalid="raise"):
        got = oracle_run(prob, dict(cfg, reset_after=reset_after))
    bad = [k for k, v in got.items() if not np.all(np.isfinite(v))]
    assert not bad, f"non-finite oracle tensors: {bad}"
    fwd = numpy_forward(prob["params"], hidden_size=2, num_layers=2, bidirectional=True,
                        reset_after=reset_after, x=prob["x"], h0=prob["h0"])
    assert_close({k: got[k] for k in fwd}, fwd, 1e-12, f"saturated forward vs NumPy {cfg}")
    if reset_after and importlib.util.find_spec("torch") is not None:
        expected = torch_reference(prob, **cfg)
        errs = {k: np.max(np.abs(got[k] - v)) / max(1.0, np.max(np.abs(v)))
                for k, v in expected.items()}
        assert max(errs.values()) <= 1e-12, f"saturated oracle vs torch: {errs}"


# ---- part 1: reset_after=False, against NumPy and finite differences -------------------

@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_h0,bias,with_lengths",
                         [(1, False, False, False, True, False),
                          (2, True, True, True, True, True),
                          (2, False, False, True, False, True),
                          (1, True, False, False, True, True)])
def test_oracle_forward_matches_numpy(reset_after, num_layers, bidirectional, batch_first,
                                      with_h0, bias, with_lengths):
    """The NumPy forward is itself checked by the reset_after=True rows (torch agrees)."""
    cfg = dict(input_size=3, hidden_size=2, num_layers=num_layers,
               bidirectional=bidirectional, bias=bias, batch_first=batch_first)
    prob = make_problem(11 + num_layers, seq_len=5, batch=3, with_h0=with_h0,
                        with_lengths=with_lengths, **cfg)
    got = oracle_run(prob, dict(cfg, reset_after=reset_after), grads=False)
    expected = numpy_forward(prob["params"], hidden_size=2, num_layers=num_layers,
                             bidirectional=bidirectional, reset_after=reset_after,
                             x=prob["x"], h0=prob["h0"], lengths=prob["lengths"],
                             batch_first=batch_first)
    assert_close(got, expected, 1e-13, f"oracle forward vs NumPy {cfg} reset_after={reset_after}")


def finite_difference_grads(forward, prob, eps=1e-5):
    """Central differences of loss = sum(out * G) + sum(h_n * Gh) w.r.t. x, h0 and params.

    forward(params, x, h0) -> (output, h_n). h0 must be an array (zeros for "no h0")."""
    G, Gh = prob["grad_output"], prob["grad_h_n"]

    def loss(params, x, h0):
        out, h_n = forward(params, x, h0)
        return float(np.sum(out * G) + np.sum(h_n * Gh))

    def fd(array, evaluate):
        return numeric_grad(evaluate, array, eps)

    params = {k: v.copy() for k, v in prob["params"].items()}
    x, h0 = prob["x"].copy(), prob["h0"].copy()
    ev = lambda: loss(params, x, h0)  # noqa: E731
    res = {"grad_input": fd(x, ev), "grad_h0": fd(h0, ev)}
    for name in params:
        res["grad_" + name] = fd(params[name], ev)
    return res


@pytest.mark.parametrize("num_layers,bidirectional,batch_first,bias,with_lengths",
                         [(1, False, False, True, False), (2, True, True, True, True),
                          (1, True, False, False, True)])
def test_oracle_reset_before_gradients_match_finite_differences(
        num_layers, bidirectional, batch_first, bias, with_lengths):
    cfg = dict(input_size=2, hidden_size=2, num_layers=num_layers,
               bidirectional=bidirectional, bias=bias, batch_first=batch_first,
               reset_after=False)
    prob = make_problem(23 + num_layers, seq_len=3, batch=2, with_h0=True,
                        with_lengths=with_lengths, **cfg)
    got = oracle_run(prob, cfg)

    def forward(params, x, h0):
        r = oracle.reference(params, x=x, h0=h0, lengths=prob["lengths"], **cfg)
        return r["output"], r["h_n"]

    expected = finite_difference_grads(forward, prob)
    got_grads = {k: v for k, v in got.items() if k.startswith("grad_")}
    assert_close(got_grads, expected, 1e-8, f"oracle gradients vs finite differences {cfg}")


def test_oracle_rejects_bad_input():
    cfg = dict(input_size=3, hidden_size=2, num_layers=1, bidirectional=False, bias=True,
               batch_first=False)
    prob = make_problem(1, seq_len=2, batch=2, with_h0=False, with_lengths=False, **cfg)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        bad = dict(prob["params"], weight_hh_l0=np.zeros((6, 3)))
        oracle.reference(bad, x=prob["x"], **cfg)
    with pytest.raises(ValueError, match="lengths"):
        oracle.reference(prob["params"], x=prob["x"], lengths=[0, 2], **cfg)
    with pytest.raises(ValueError, match="params"):
        oracle.reference({}, x=prob["x"], **cfg)


# ---- part 2: the library against the oracle --------------------------------------------

LIB_TOL = {np.float64: {"forward": 1e-10, "grad": 1e-10},
           np.float32: {"forward": 1e-5, "grad": 1e-4}}

# (seq_len, batch, with_h0, bias, batch_first, lengths): each flag on and off, T and B
# from 1 to their maximum, lengths including 1 and T.
FLAVOURS = [(5, 3, True, True, False, (5, 1, 3)),
            (1, 1, False, True, True, (1,)),
            (3, 2, True, False, True, (1, 3)),
            (4, 3, False, False, False, None),
            (2, 2, False, True, False, (2, 1))]
LIB_GRID = [(L, bi, ra) + fl for L in (1, 2, 3) for bi in (False, True)
            for ra in (True, False) for fl in FLAVOURS]


def _round_problem(prob, dtype):
    """The problem rounded to dtype (kept as float64) so the oracle sees what C sees."""
    def rnd(a):
        return None if a is None else np.asarray(a).astype(dtype).astype(np.float64)

    out = {k: rnd(v) for k, v in prob.items() if k not in ("params", "lengths")}
    out["params"] = {k: rnd(v) for k, v in prob["params"].items()}
    out["lengths"] = prob["lengths"]
    return out


def library_run(prob, cfg, dtype):
    """pygru.GRU on the problem: the oracle's dict layout, float64 copies."""
    pygru = pytest.importorskip("pygru")
    gru = pygru.GRU(dtype=dtype, seed=0, **cfg)
    gru.load_state_dict({k: v.astype(dtype) for k, v in prob["params"].items()})
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    out, h_n = gru(cast(prob["x"]), h0=cast(prob["h0"]), lengths=prob["lengths"])
    dx, dh0 = gru.backward(cast(prob["grad_output"]), cast(prob["grad_h_n"]))
    assert out.dtype == dtype and dx.dtype == dtype
    res = {"output": out, "h_n": h_n, "grad_input": dx, "grad_h0": dh0}
    res.update({"grad_" + k: g for k, g in gru.grads.items()})
    return res


def assert_close_by_kind(got, expected, tol, what):
    """Forward tensors against tol['forward'], gradients against tol['grad']."""
    for kind in ("forward", "grad"):
        keys = [k for k in expected if k.startswith("grad_") == (kind == "grad")]
        assert_close({k: got[k] for k in keys if k in got}, {k: expected[k] for k in keys},
                     tol[kind], f"{what} [{kind}]")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("num_layers,bidirectional,reset_after,seq_len,batch,with_h0,bias,"
                         "batch_first,lengths", LIB_GRID)
def test_library_matches_oracle(dtype, num_layers, bidirectional, reset_after, seq_len, batch,
                                with_h0, bias, batch_first, lengths):
    pytest.importorskip("pygru._libgru")
    cfg = dict(input_size=3, hidden_size=2, num_layers=num_layers,
               bidirectional=bidirectional, bias=bias, batch_first=batch_first,
               reset_after=reset_after)
    prob = make_problem(100 + seq_len * 7 + batch, seq_len=seq_len, batch=batch,
                        with_h0=with_h0, with_lengths=False, **cfg)
    prob["lengths"] = None if lengths is None else np.array(lengths)
    prob = _round_problem(prob, dtype)
    expected = oracle_run(prob, cfg)
    got = library_run(prob, cfg, dtype)
    assert_close_by_kind(got, expected, LIB_TOL[dtype],
                         f"library ({np.dtype(dtype).name}) vs oracle {cfg} T={seq_len} "
                         f"B={batch} h0={with_h0} lengths={lengths}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bias,with_h,batch", [(True, True, 3), (False, True, 1), (True, False, 2)])
def test_library_cell_matches_oracle(dtype, reset_after, bias, with_h, batch):
    pytest.importorskip("pygru._libgru")
    import pygru
    I, H = 4, 3
    rng = np.random.default_rng(31 + batch)
    rnd = lambda *s: (0.7 * rng.standard_normal(s)).astype(dtype).astype(np.float64)  # noqa: E731
    params = {"weight_ih": rnd(3 * H, I), "weight_hh": rnd(3 * H, H)}
    if bias:
        params.update(bias_ih=rnd(3 * H), bias_hh=rnd(3 * H))
    x, h, g = rnd(batch, I), (rnd(batch, H) if with_h else None), rnd(batch, H)
    cell = pygru.GRUCell(I, H, bias=bias, reset_after=reset_after, dtype=dtype, seed=0)
    cell.load_state_dict({k: v.astype(dtype) for k, v in params.items()})
    h1 = cell(x.astype(dtype), None if h is None else h.astype(dtype))
    dx, dh = cell.backward(g.astype(dtype))
    got = {"h1": h1, "grad_input": dx, "grad_hx": dh}
    got.update({"grad_" + k: v for k, v in cell.grads.items()})
    expected = oracle.cell_reference(params, x=x, h=h, reset_after=reset_after, grad_h1=g)
    assert_close_by_kind(got, expected, LIB_TOL[dtype],
                         f"GRUCell ({np.dtype(dtype).name}) vs oracle reset_after={reset_after} "
                         f"bias={bias} h={with_h} B={batch}")


# ---- part 2: `python -m pygru check` ---------------------------------------------------

def _check_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def test_check_command_passes():
    pytest.importorskip("pygru._libgru")
    proc = subprocess.run([sys.executable, "-m", "pygru", "check"], cwd=ROOT, env=_check_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    assert any(line.startswith("case") and "max rel err" in line for line in lines), proc.stdout
    rows = [line for line in lines if line.startswith(("GRU ", "GRUCell "))]
    check = pytest.importorskip("pygru.check")
    assert len(rows) == 2 * len(check.CASES), proc.stdout
    assert all(line.endswith("OK") for line in rows), proc.stdout
    assert {"float64", "float32"} <= {line.split()[-5] for line in rows}, proc.stdout
    assert "all OK" in lines[-1], proc.stdout


def test_check_command_usage_error():
    proc = subprocess.run([sys.executable, "-m", "pygru", "no-such-command"], cwd=ROOT,
                          env=_check_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr, proc.stderr


def test_check_compare_detects_errors():
    check = pytest.importorskip("pygru.check")
    rng = np.random.default_rng(3)
    expected = {"output": rng.standard_normal((4, 2, 3)),
                "grad_input": rng.standard_normal((4, 2, 5))}
    exact = {k: v.copy() for k, v in expected.items()}
    assert all(ok for *_, ok in check.compare(exact, expected, "float64"))
    for dtype, kind, rel in (("float64", "output", 2e-10), ("float64", "grad_input", 2e-10),
                             ("float32", "output", 2e-5), ("float32", "grad_input", 2e-4)):
        bad = {k: v.copy() for k, v in expected.items()}
        bad[kind][1, 1, 1] += rel * np.max(np.abs(expected[kind]))
        rows = {name: (err, ok) for name, err, _, ok in check.compare(bad, expected, dtype)}
        assert not rows[kind][1] and rows[kind][0] == pytest.approx(rel, rel=1e-3), (dtype, rows)
        other = "grad_input" if kind == "output" else "output"
        assert rows[other][1], (dtype, rows)
    for broken in ({"output": expected["output"]},                              # missing
                   dict(expected, output=expected["output"][:2]),               # shape
                   dict(expected, output=np.full((4, 2, 3), np.nan))):          # NaN
        assert not all(ok for *_, ok in check.compare(broken, expected, "float64"))


def test_check_fails_on_a_perturbed_library_result(monkeypatch, capsys):
    """Makes one tensor of every float64 case 1e-9 off: check must print FAIL, exit 1."""
    pytest.importorskip("pygru._libgru")
    from pygru import check
    real_run_case = check.run_case

    def perturbed(case, dtype, seed=0):
        got, expected = real_run_case(case, dtype, seed)
        if dtype == "float64":
            name = sorted(k for k in got if k.startswith("grad_"))[0]
            got[name] = got[name] + 1e-9 * np.max(np.abs(expected[name]))
        return got, expected

    monkeypatch.setattr(check, "run_case", perturbed)
    status = check.main(quick=True)
    out = capsys.readouterr().out
    assert status == 1, out
    fail_rows = [line for line in out.splitlines() if line.endswith("FAIL")]
    assert len(fail_rows) == len(check.QUICK_CASES), out
    assert all("float64" in line for line in fail_rows), out
    assert "FAILED" in out.splitlines()[-1], out
