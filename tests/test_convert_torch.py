"""test_convert_torch.py - pygru.from_torch and pygru.to_torch against the real
torch.nn.GRU / GRUCell: weights move bitwise both ways (same names, layout, gate order),
outputs agree to float rounding, the configuration and train/eval mode follow, and what
one side cannot express is refused with an error naming it."""
import numpy as np
import pytest

import pygru

torch = pytest.importorskip("torch")


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("L,bi,bias,bf,dtype", [
    (1, False, True, False, torch.float32), (2, True, True, True, torch.float32),
    (3, False, False, False, torch.float64), (2, True, False, True, torch.float64),
])
def test_from_torch_module(L, bi, bias, bf, dtype):
    torch.manual_seed(L)
    t = torch.nn.GRU(5, 9, num_layers=L, bias=bias, batch_first=bf, bidirectional=bi,
                     dtype=dtype).eval()
    g = pygru.from_torch(t)
    assert (g.num_layers, g.bidirectional, g.bias, g.batch_first) == (L, bi, bias, bf)
    assert g.dtype == (np.float64 if dtype == torch.float64 else np.float32)
    assert not g.training
    for name, value in t.state_dict().items():
        assert np.array_equal(getattr(g, name), value.numpy()), name
    x = torch.randn((4, 6, 5) if bf else (6, 4, 5), dtype=dtype)
    with torch.no_grad():
        ref, ref_h = t(x)
    out, h_n = g(x.numpy())
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    assert rel_err(out, ref.numpy()) <= tol and rel_err(h_n, ref_h.numpy()) <= tol


def test_from_torch_cell_and_state_dicts():
    tc = torch.nn.GRUCell(4, 6)
    c = pygru.from_torch(tc)
    assert isinstance(c, pygru.GRUCell) and c.training
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    with torch.no_grad():
        ref = tc(x, h).numpy()
    assert rel_err(c(x.numpy(), h.numpy()), ref) <= 2e-6
    # a state dict: sizes from the shapes, the rest from keywords
    t = torch.nn.GRU(3, 8, num_layers=2, bidirectional=True, batch_first=True)
    g = pygru.from_torch(t.state_dict(), batch_first=True, dropout=0.25)
    assert (g.input_size, g.hidden_size, g.num_layers, g.bidirectional) == (3, 8, 2, True)
    assert g.batch_first and g.dropout == 0.25 and g.dtype == np.float32
    assert all(np.array_equal(getattr(g, k), v.numpy()) for k, v in t.state_dict().items())
    c2 = pygru.from_torch(tc.state_dict())
    assert isinstance(c2, pygru.GRUCell)
    g64 = pygru.from_torch(t.double().state_dict())
    assert g64.dtype == np.float64


def test_from_torch_refuses():
    with pytest.raises(ValueError, match="batch_first=True contradicts the weights"):
        pygru.from_torch(torch.nn.GRU(3, 4), batch_first=True)
    with pytest.raises(ValueError, match="hidden_size=5 contradicts the weights.*hidden_size=4"):
        pygru.from_torch(torch.nn.GRU(3, 4).state_dict(), hidden_size=5)
    with pytest.raises(ValueError, match="reset_after=False contradicts"):
        pygru.from_torch(torch.nn.GRU(3, 4), reset_after=False)
    with pytest.raises(ValueError, match="float16.*float32 or float64"):
        pygru.from_torch(torch.nn.GRU(3, 4).half())
    with pytest.raises(TypeError, match="takes a torch.nn.GRU.*got LSTM"):
        pygru.from_torch(torch.nn.LSTM(3, 4))
    with pytest.raises(ValueError, match="a key that no GRU parameter has: 'weight'"):
        pygru.from_torch({"weight": np.zeros((3, 3))})
    sd = torch.nn.GRU(3, 4, num_layers=3).state_dict()
    del sd["weight_ih_l1"], sd["weight_hh_l1"], sd["bias_ih_l1"], sd["bias_hh_l1"]
    with pytest.raises(ValueError, match="skips layers"):
        pygru.from_torch(sd)
    with pytest.raises(TypeError, match="from_torch.*unexpected keyword"):
        pygru.from_torch(torch.nn.GRUCell(3, 4), num_layers=2)


@pytest.mark.parametrize("L,bi,dtype", [(1, False, np.float32), (2, True, np.float64)])
def test_to_torch_round_trip(L, bi, dtype):
    g = pygru.GRU(4, 6, num_layers=L, bidirectional=bi, batch_first=True, dtype=dtype, seed=3)
    t = pygru.to_torch(g)
    assert isinstance(t, torch.nn.GRU) and t.batch_first and t.training
    assert t.weight_ih_l0.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(dtype)
    g.eval()
    t.eval()
    with torch.no_grad():
        ref = t(torch.from_numpy(x))[0].numpy()
    tol = 1e-12 if dtype == np.float64 else 2e-6
    assert rel_err(g(x)[0], ref) <= tol
    back = pygru.from_torch(t)
    assert all(np.array_equal(a, b) for a, b in zip(back.parameters(), g.parameters()))
    cell = pygru.GRUCell(3, 5, seed=1).eval()
    tc = pygru.to_torch(cell)
    assert isinstance(tc, torch.nn.GRUCell) and not tc.training
    with pytest.raises(ValueError, match="reset_after=False.*cannot be expressed"):
        pygru.to_torch(pygru.GRU(3, 4, reset_after=False))
