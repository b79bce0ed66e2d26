"""test_nn_recurrent.py - the GRU as a pygru.nn Module (nn.GRU is pygru.GRU), the
selections last_valid / final_states, and a small model trained end to end.

The GRU layer must give torch's results within the parity tolerances, accumulate into
its Parameters, and see in-place updates of its Parameters (an optimizer step) at the
next forward. The selections
are checked by finite differences in float64 and against torch indexing + autograd.
A whole model (Embedding -> GRU -> last_valid -> Linear) is compared with the same
torch model, and one is trained with Adam on a learnable toy problem.
"""
import numpy as np
import pytest

import pygru
import pygru.nn as nn
import pygru.optim as optim

torch = pytest.importorskip("torch")
from numerics import rel_err, assert_close, numeric_grad  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: 1e-4, np.float64: 1e-10}


def torch_state(module):
    return {k: torch.from_numpy(np.array(v)) for k, v in module.state_dict().items()}


# ---- nn.GRU is pygru.GRU -------------------------------------------------------------

CONFIGS = [dict(), dict(num_layers=2, bidirectional=True, batch_first=True),
           dict(num_layers=2, reset_after=False)]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_gru_layer_is_pygru_gru_and_accumulates(cfg):
    assert nn.GRU is pygru.GRU and nn.GRUCell is pygru.GRUCell
    rng = np.random.default_rng(0)
    layer = nn.GRU(3, 4, dtype=np.float64, seed=5, **cfg)
    assert isinstance(layer, nn.Module)
    assert [n for n, _ in layer.named_parameters()] == list(layer.state_dict())
    T, B = 5, 3
    x = rng.standard_normal((B, T, 3) if cfg.get("batch_first") else (T, B, 3))
    h0 = rng.standard_normal((layer.num_layers * (2 if layer.bidirectional else 1), B, 4))
    out, h_n = layer(x, h0, [5, 2, 4])
    go, ghn = rng.standard_normal(out.shape), rng.standard_normal(h_n.shape)
    dx, dh0 = layer.backward(go, ghn)
    assert dx.shape == x.shape and dh0.shape == h0.shape
    first = {name: p.grad.copy() for name, p in layer.named_parameters()}
    # backward adds into .grad (libgru's gradient buffers)
    layer.backward(go, ghn)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[name], rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_layer_against_torch(dtype):
    rng = np.random.default_rng(1)
    layer = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=dtype, seed=2)
    ref = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True,
                       dtype=TORCH_DTYPE[dtype])
    assert list(layer.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(torch_state(layer))
    lengths = [4, 1, 3]
    x = rng.standard_normal((3, 4, 3)).astype(dtype)
    out, h_n = layer(x, lengths=lengths)
    go = rng.standard_normal(out.shape).astype(dtype)
    ghn = rng.standard_normal(h_n.shape).astype(dtype)
    dx, _ = layer.backward(go, ghn)
    xt = torch.tensor(x, requires_grad=True)
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    ot, hnt = ref(packed)
    ot, _ = pad_packed_sequence(ot, batch_first=True, total_length=4)
    ((ot * torch.tensor(go)).sum() + (hnt * torch.tensor(ghn)).sum()).backward()
    errors = {"output": rel_err(out, ot), "h_n": rel_err(h_n, hnt), "grad x": rel_err(dx, xt.grad)}
    for name, p in layer.named_parameters():
        errors["grad " + name] = rel_err(p.grad, getattr(ref, name).grad)
    assert_close(errors, TOL[dtype])


def test_gru_layer_sees_optimizer_updates():
    rng = np.random.default_rng(2)
    layer = nn.GRU(3, 4, num_layers=2, seed=0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out0, _ = layer(x)
    layer.backward(np.ones_like(out0))
    opt = optim.SGD(layer.parameters(), lr=0.5)
    opt.step()
    out1, h1 = layer(x)
    assert not np.allclose(out0, out1)
    # exactly a fresh pygru.GRU with the updated values
    ref = pygru.GRU(3, 4, num_layers=2)
    ref.load_state_dict(layer.state_dict())
    out_r, h_r = ref(x)
    assert np.array_equal(out1, out_r) and np.array_equal(h1, h_r)
    # loading a state dict writes the Parameters in place
    w = layer.weight_ih_l0
    layer.load_state_dict(ref.state_dict())
    assert layer.weight_ih_l0 is w and np.array_equal(w.data, ref.weight_ih_l0)


def test_gru_layer_modes_and_arguments():
    layer = nn.GRU(2, 3, num_layers=2, dropout=0.5, seed=1)
    x = np.ones((4, 1, 2), np.float32)
    model = nn.Sequential(layer)
    model.eval()
    assert not layer.training
    a, _ = layer(x)
    b, _ = layer(x)
    assert np.array_equal(a, b)                    # no dropout in eval mode
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\) in training mode"):
        layer.backward(np.zeros_like(a))
    model.train()
    assert layer.training
    assert nn.GRU(2, 3, reverse=True, dtype=np.float64).reverse
    assert nn.GRU(2, 3, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError):
        nn.GRU(2, 3, no_such_option=1)
    with pytest.raises(ValueError, match=r"x must have shape"):
        nn.GRU(2, 3)(np.zeros((4, 1, 5)))


# ---- selections ------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, [3, 1, 2, 3]])
def test_last_valid(batch_first, lengths):
    rng = np.random.default_rng(3)
    T, B, F = 3, 4, 5
    shape = (B, T, F) if batch_first else (T, B, F)
    out = rng.standard_normal(shape)
    sel = nn.LastValid(batch_first=batch_first)
    y = sel(out, lengths)
    # torch indexing: gru_out[:, -1] / gru_out[-1], or gather at lengths - 1
    ot = torch.tensor(out, requires_grad=True)
    steps = torch.full((B,), T - 1) if lengths is None else torch.tensor(lengths) - 1
    yt = ot[torch.arange(B), steps] if batch_first else ot[steps, torch.arange(B)]
    if lengths is None:
        assert torch.equal(yt, ot[:, -1] if batch_first else ot[-1])
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    d = sel.backward(g)
    numeric = numeric_grad(lambda: float(np.sum(nn.last_valid(out, lengths, batch_first) * g)), out)
    assert_close({"output": rel_err(y, yt), "grad": rel_err(d, ot.grad),
                  "grad vs FD": rel_err(d, numeric)}, 1e-9)
    assert np.array_equal(nn.last_valid_backward(g, shape, lengths, batch_first), d)
    with pytest.raises(ValueError, match=r"lengths must be in 1\.\.3"):
        nn.last_valid(out, [4, 1, 1, 1], batch_first)
    with pytest.raises(ValueError, match=r"output must be 3-D"):
        nn.last_valid(out[0], None, batch_first)


@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (2, True), (1, True)])
def test_final_states(num_layers, bidirectional):
    rng = np.random.default_rng(4)
    D, B, H = 2 if bidirectional else 1, 3, 4
    h_n = rng.standard_normal((num_layers * D, B, H))
    sel = nn.FinalStates(num_layers, bidirectional)
    y = sel(h_n)
    ht = torch.tensor(h_n, requires_grad=True)
    yt = torch.cat([ht[-2], ht[-1]], dim=1) if bidirectional else ht[-1]
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    d = sel.backward(g)
    numeric = numeric_grad(lambda: float(np.sum(nn.final_states(h_n, num_layers, bidirectional) * g)), h_n)
    assert_close({"output": rel_err(y, yt), "grad": rel_err(d, ht.grad),
                  "grad vs FD": rel_err(d, numeric)}, 1e-9)
    assert np.array_equal(nn.final_states_backward(g, num_layers, bidirectional), d)
    with pytest.raises(ValueError, match=r"h_n must have shape \(num_layers\*num_directions=%d"
                       % (num_layers * D)):
        nn.final_states(h_n[:1] if num_layers * D > 1 else np.zeros((2, B, H)), num_layers, bidirectional)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(3, %d\)" % (D * H)):
        sel.backward(np.zeros((3, D * H + 1)))


# ---- whole models ----------------------------------------------------------------

class Classifier(nn.Module):
    """Embedding -> GRU -> last valid step -> Linear, the usual torch classifier."""

    def __init__(self, vocab, emb, hidden, dtype=np.float32, seed=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0, dtype=dtype, seed=seed)
        self.gru = nn.GRU(emb, hidden, batch_first=True, dtype=dtype, seed=seed + 1)
        self.last = nn.LastValid(batch_first=True)
        self.fc = nn.Linear(hidden, 1, dtype=dtype, seed=seed + 2)

    def forward(self, tokens, lengths):                  # (B, T) -> (B, 1)
        out, _ = self.gru(self.embedding(tokens), lengths=lengths)
        return self.fc(self.last(out, lengths))

    def backward(self, grad):                            # (B, 1)
        g = self.last.backward(self.fc.backward(grad))
        dx, _ = self.gru.backward(g)
        self.embedding.backward(dx)


def test_classifier_gradients_against_torch():
    dtype = np.float64
    model = Classifier(8, 3, 5, dtype=dtype)
    tokens = np.array([[3, 1, 4, 0, 0], [5, 2, 6, 7, 1], [2, 0, 0, 0, 0]])
    lengths = [3, 5, 1]
    labels = np.array([[1.0], [0.0], [1.0]])
    crit = nn.BCEWithLogitsLoss()
    loss = crit(model(tokens, lengths), labels)
    model.backward(crit.backward())

    ref = torch.nn.ModuleDict(dict(embedding=torch.nn.Embedding(8, 3, padding_idx=0),
                                   gru=torch.nn.GRU(3, 5, batch_first=True),
                                   fc=torch.nn.Linear(5, 1))).double()
    ref.load_state_dict(torch_state(model))
    emb = ref["embedding"](torch.from_numpy(tokens))
    packed = pack_padded_sequence(emb, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(ref["gru"](packed)[0], batch_first=True, total_length=5)
    last = out[torch.arange(3), torch.tensor(lengths) - 1]
    loss_t = torch.nn.functional.binary_cross_entropy_with_logits(ref["fc"](last), torch.from_numpy(labels))
    loss_t.backward()
    errors = {"loss": rel_err(loss, loss_t)}
    ref_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        errors["grad " + name] = rel_err(p.grad, ref_params[name].grad)
    assert_close(errors, 1e-10)


@pytest.mark.slow
def test_classifier_learns_a_toy_problem():
    """Label: does the sequence contain token 1? Adam, a few dozen steps, fixed seeds."""
    rng = np.random.default_rng(0)
    B, T = 32, 6
    lengths = rng.integers(2, T + 1, size=B)
    tokens = rng.integers(2, 6, size=(B, T))
    positive = np.arange(B) % 2 == 0
    tokens[positive, rng.integers(0, 2, size=B)[positive]] = 1
    tokens[np.arange(T)[None, :] >= lengths[:, None]] = 0
    labels = positive.astype(np.float32)[:, None]
    model = Classifier(6, 4, 8)
    crit = nn.BCEWithLogitsLoss()
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        losses.append(float(crit(model(tokens, lengths), labels)))
        model.backward(crit.backward())
        optim.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    model.eval()
    accuracy = np.mean((model(tokens, lengths) > 0) == (labels > 0))
    assert losses[-1] < 0.25 * losses[0], "loss %.3f -> %.3f" % (losses[0], losses[-1])
    assert accuracy == 1.0, "accuracy %.2f" % accuracy
