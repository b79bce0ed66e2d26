"""test_torch_parity.py - pygru against PyTorch (torch.nn.GRU / GRUCell, autograd).

Weights are copied between the two through state_dict, in both directions; forward
outputs, final states, and every gradient (input, initial state, each parameter) are
compared with an error relative to the max magnitude of PyTorch's tensor:
float32 forward <= 1e-5, float32 gradients <= 1e-4, float64 everything <= 1e-10.
Failures list the error of every tensor. Sequence lengths go through PyTorch's packed
sequences (pack_padded_sequence(enforce_sorted=False) / pad_packed_sequence(
total_length=T)), whose h_n is the last valid state, like pygru's. reset_after=True
only (PyTorch has no other variant).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import pygru  # noqa: E402

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

TOL = {np.float32: {"forward": 1e-5, "grad": 1e-4}, np.float64: {"forward": 1e-10, "grad": 1e-10}}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
T, B, I, H = 5, 3, 4, 5
MIXED_LENGTHS = [T, 1, 3]       # full, 1, and in between; unsorted


def rel_err(actual, expected):
    actual = np.asarray(actual, np.float64)
    if torch.is_tensor(expected):
        expected = expected.detach().double().numpy()
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def assert_within(errors, dtype):
    """errors: {tensor name: (kind, error)}; the message reports every tensor."""
    bad = {n: e for n, (kind, e) in errors.items() if not e <= TOL[dtype][kind]}
    report = ", ".join("%s %.2e" % (n, e) for n, (_, e) in errors.items())
    assert not bad, "over tolerance %s: %s | all errors: %s" % (TOL[dtype], sorted(bad), report)


def torch_gru_run(tg, x, h0, lengths, batch_first, go, ghn):
    """PyTorch forward + backward of loss = sum(out * go) + sum(h_n * ghn). x, h0 are
    leaf tensors (h0 may be None). Returns out, h_n (tensors, after backward)."""
    if lengths is None:
        out, h_n = tg(x, h0)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                      enforce_sorted=False)
        out, h_n = tg(packed, h0)
        seq_len = x.shape[1 if batch_first else 0]
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=seq_len)
    loss = (out * torch.from_numpy(go)).sum() + (h_n * torch.from_numpy(ghn)).sum()
    loss.backward()
    return out, h_n


def compare_gru(num_layers, bidirectional, batch_first, use_h0, bias, lengths, dtype, seed=0,
                sizes=(T, B, I, H)):
    """Runs one configuration through both libraries; returns {name: (kind, error)}."""
    T, B, I, H = sizes
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    tdt = TORCH_DTYPE[dtype]
    kwargs = dict(num_layers=num_layers, bias=bias, batch_first=batch_first,
                  bidirectional=bidirectional)
    pg = pygru.GRU(I, H, dtype=dtype, seed=seed, **kwargs)
    torch.manual_seed(seed)
    tg = torch.nn.GRU(I, H, **kwargs).to(tdt)
    assert list(tg.state_dict()) == list(pg.state_dict())
    # Weights both ways: PyTorch's into pygru for some configurations, pygru's into
    # PyTorch for the others.
    if (num_layers + bidirectional + batch_first + use_h0) % 2:
        pg.load_state_dict(dict(tg.named_parameters()))      # tensors with requires_grad
    else:
        tg.load_state_dict({n: torch.from_numpy(np.array(v)) for n, v in pg.state_dict().items()})
    for n, v in pg.state_dict().items():
        np.testing.assert_array_equal(v, tg.state_dict()[n].numpy(), err_msg=n)

    shape = (B, T, I) if batch_first else (T, B, I)
    x = rng.standard_normal(shape).astype(dtype)
    h0 = rng.standard_normal((num_layers * D, B, H)).astype(dtype) if use_h0 else None
    out_shape = shape[:2] + (D * H,)
    go = rng.standard_normal(out_shape).astype(dtype)
    ghn = rng.standard_normal((num_layers * D, B, H)).astype(dtype)

    out, h_n = pg(x, h0, lengths)
    dx, dh0 = pg.backward(go, ghn)
    grads = pg.grads

    xt = torch.tensor(x, requires_grad=True)
    # Without h0, PyTorch gets hx=None; its gradient for the zero initial state comes
    # from a second run with explicit zeros.
    h0t = torch.tensor(h0, requires_grad=True) if use_h0 else None
    out_t, hn_t = torch_gru_run(tg, xt, h0t, lengths, batch_first, go, ghn)
    if not use_h0:
        h0z = torch.zeros((num_layers * D, B, H), dtype=tdt, requires_grad=True)
        tg2 = torch.nn.GRU(I, H, **kwargs).to(tdt)
        tg2.load_state_dict(tg.state_dict())
        torch_gru_run(tg2, xt.detach().clone().requires_grad_(True), h0z, lengths,
                      batch_first, go, ghn)
        dh0_t = h0z.grad
    else:
        dh0_t = h0t.grad

    errors = {"output": ("forward", rel_err(out, out_t)), "h_n": ("forward", rel_err(h_n, hn_t)),
              "grad_x": ("grad", rel_err(dx, xt.grad)), "grad_h0": ("grad", rel_err(dh0, dh0_t))}
    for n, p in tg.named_parameters():
        errors["grad_" + n] = ("grad", rel_err(grads[n], p.grad))
    return errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("lengths", [None, MIXED_LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("use_h0", [True, False], ids=["h0", "noh0"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tb", "bt"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3], ids=["L1", "L2", "L3"])
def test_gru_parity(num_layers, bidirectional, batch_first, use_h0, bias, lengths, dtype):
    assert_within(compare_gru(num_layers, bidirectional, batch_first, use_h0, bias, lengths,
                              dtype), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gru_parity_larger(dtype):
    # One less tiny case: longer sequences and wider layers accumulate more rounding.
    errors = compare_gru(2, True, False, True, True, [40, 1, 17, 40, 2, 33], dtype, seed=3,
                         sizes=(40, 6, 24, 48))
    assert_within(errors, dtype)


def compare_cell(bias, unbatched, use_h, dtype, seed=0):
    rng = np.random.default_rng(seed)
    tdt = TORCH_DTYPE[dtype]
    pc = pygru.GRUCell(I, H, bias=bias, dtype=dtype, seed=seed)
    torch.manual_seed(seed)
    tc = torch.nn.GRUCell(I, H, bias=bias).to(tdt)
    assert list(tc.state_dict()) == list(pc.state_dict())
    if use_h:
        pc.load_state_dict(dict(tc.named_parameters()))
    else:
        tc.load_state_dict({n: torch.from_numpy(np.array(v)) for n, v in pc.state_dict().items()})
    xs = (I,) if unbatched else (B, I)
    hs = (H,) if unbatched else (B, H)
    x = rng.standard_normal(xs).astype(dtype)
    h = rng.standard_normal(hs).astype(dtype) if use_h else np.zeros(hs, dtype)
    g = rng.standard_normal(hs).astype(dtype)
    h1 = pc(x, h if use_h else None)
    dx, dh = pc.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    ht = torch.tensor(h, requires_grad=True)
    h1t = tc(xt, ht)
    (h1t * torch.from_numpy(g)).sum().backward()
    errors = {"h1": ("forward", rel_err(h1, h1t)), "grad_x": ("grad", rel_err(dx, xt.grad)),
              "grad_h": ("grad", rel_err(dh, ht.grad))}
    grads = pc.grads
    for n, p in tc.named_parameters():
        errors["grad_" + n] = ("grad", rel_err(grads[n], p.grad))
    return errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("use_h", [True, False], ids=["h", "noh"])
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_cell_parity(bias, unbatched, use_h, dtype):
    assert_within(compare_cell(bias, unbatched, use_h, dtype), dtype)


def test_unbatched_gru_parity():
    rng = np.random.default_rng(0)
    pg = pygru.GRU(I, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    tg = torch.nn.GRU(I, H, num_layers=2, bidirectional=True).double()
    tg.load_state_dict({n: torch.from_numpy(np.array(v)) for n, v in pg.state_dict().items()})
    x, h0 = rng.standard_normal((T, I)), rng.standard_normal((4, H))
    go, ghn = rng.standard_normal((T, 2 * H)), rng.standard_normal((4, H))
    out, h_n = pg(x, h0)
    dx, dh0 = pg.backward(go, ghn)
    xt, h0t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    out_t, hn_t = torch_gru_run(tg, xt, h0t, None, False, go, ghn)
    errors = {"output": ("forward", rel_err(out, out_t)), "h_n": ("forward", rel_err(h_n, hn_t)),
              "grad_x": ("grad", rel_err(dx, xt.grad)), "grad_h0": ("grad", rel_err(dh0, h0t.grad))}
    assert_within(errors, np.float64)


def test_torch_tensors_as_inputs():
    rng = np.random.default_rng(0)
    pg = pygru.GRU(I, H, seed=0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    ref_out, ref_hn = pg(x, None, MIXED_LENGTHS)
    out, h_n = pg(torch.tensor(x, requires_grad=True), None, torch.tensor(MIXED_LENGTHS))
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(h_n, ref_hn)
    with pytest.raises(TypeError, match="x must be a real floating-point array; got dtype complex64"):
        pg(torch.zeros((T, B, I), dtype=torch.complex64))
    with pytest.raises(TypeError, match="lengths must be an integer array; got dtype bool"):
        pg(x, None, torch.ones(B, dtype=torch.bool))


@pytest.mark.parametrize("kwargs", [
    dict(), dict(num_layers=2, bidirectional=True), dict(bias=False, batch_first=True),
    dict(num_layers=3, dropout=0.25)])
def test_repr_and_state_dict_like_torch(kwargs):
    pg, tg = pygru.GRU(10, 20, **kwargs), torch.nn.GRU(10, 20, **kwargs)
    assert repr(pg) == repr(tg)
    assert [(n, v.shape) for n, v in pg.state_dict().items()] == \
        [(n, tuple(v.shape)) for n, v in tg.state_dict().items()]
    assert repr(pygru.GRUCell(3, 5, bias=False)) == repr(torch.nn.GRUCell(3, 5, bias=False))
    assert repr(pygru.GRUCell(3, 5)) == repr(torch.nn.GRUCell(3, 5))
