"""test_nn_layers.py - pygru.nn's Module machinery and layers (Embedding, Linear,
Dropout, BatchNorm1d, LayerNorm).

Every layer's input and parameter gradients are checked by central finite
differences in float64 (loss = sum(out * g) with a random upstream g), and against
torch 2.13 with the same weights and input (forward output, input gradient, parameter
gradients; BatchNorm1d's running statistics over several training steps and its eval
output). Errors are relative to the largest magnitude of the reference and reported
per tensor. Bad arguments must raise errors that name them.
"""
import numpy as np
import pytest

import pygru.nn as nn

torch = pytest.importorskip("torch")
from numerics import rel_err, assert_close, numeric_grad  # noqa: E402

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: 2e-5, np.float64: 1e-12}
FD_TOL = 1e-7








def fd_check(layer, x, rng, input_grad=True):
    """Compares layer.backward with finite differences of sum(layer(x) * g) for the
    input and every parameter; returns {name: relative error}."""
    layer.train()
    out = layer(x)
    g = rng.standard_normal(out.shape)
    layer.zero_grad()
    dx = layer.backward(g)
    loss = lambda: float(np.sum(layer(x) * g))
    errors = {}
    if input_grad:
        errors["input"] = rel_err(dx, numeric_grad(loss, x))
    for name, p in layer.named_parameters():
        analytic = p.grad.copy()
        errors[name] = rel_err(analytic, numeric_grad(loss, p.data))
    return errors


def torch_state(module):
    """module's state dict as torch tensors (for torch's load_state_dict)."""
    return {k: torch.from_numpy(np.array(v)) for k, v in module.state_dict().items()}


# ---- Module ----------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(7, 3, seed=0)
        self.body = nn.Sequential(nn.Linear(3, 4, seed=1), nn.LayerNorm(4), nn.Dropout(0.2))
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 2, bias=False, seed=2)

    def forward(self, idx):
        return self.fc(self.bn(self.body(self.embedding(idx))))

    def backward(self, g):
        return self.embedding.backward(self.body.backward(self.bn.backward(self.fc.backward(g))))


def test_names_and_state_dict_follow_torch():
    net = Net()
    ref = torch.nn.Module()
    ref.embedding = torch.nn.Embedding(7, 3)
    ref.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Dropout(0.2))
    ref.bn = torch.nn.BatchNorm1d(4)
    ref.fc = torch.nn.Linear(4, 2, bias=False)
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert list(net.state_dict()) == list(ref.state_dict())
    # a torch state dict loads as it is, in place
    w = net.fc.weight
    net.load_state_dict(ref.state_dict())
    assert net.fc.weight is w
    for k, v in ref.state_dict().items():
        assert rel_err(net.state_dict()[k], v) == 0, k
    assert net.bn.num_batches_tracked.dtype == np.int64


def test_load_state_dict_checks_before_writing():
    net = Net()
    sd = net.state_dict()
    before = {k: v.copy() for k, v in sd.items()}
    bad = dict(sd)
    bad["body.0.weight"] = np.zeros((4, 3)) + 1      # fine
    bad["fc.weight"] = np.zeros((3, 3))               # wrong shape
    with pytest.raises(ValueError, match=r"fc\.weight must have shape \(2, 4\); got \(3, 3\)"):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():
        assert np.array_equal(v, before[k]), "%s was written before the check failed" % k
    missing = {k: v for k, v in sd.items() if k != "bn.bias"}
    missing["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys: 'bn.bias'; unexpected keys: 'extra'"):
        net.load_state_dict(missing)
    result = net.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["bn.bias"] and result.unexpected_keys == ["extra"]
    with pytest.raises(TypeError, match="embedding.weight must be a real"):
        net.load_state_dict(dict(sd, **{"embedding.weight": np.zeros((7, 3), complex)}))
    with pytest.raises(TypeError, match="num_batches_tracked must be an integer"):
        net.load_state_dict(dict(sd, **{"bn.num_batches_tracked": np.zeros((), np.float32)}))


def test_train_eval_zero_grad_and_shared_parameters():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    out = net(np.array([1, 2, 3, 4, 5, 6]))
    net.backward(np.ones_like(out))
    assert any(np.any(p.grad != 0) for p in net.parameters())
    net.zero_grad()
    assert all(np.all(p.grad == 0) for p in net.parameters())
    # a shared Parameter is listed once, under its first name
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    seq = nn.Sequential(a, b)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    with pytest.raises(TypeError, match=r"cannot assign ndarray to Linear.weight \(a Parameter expected\)"):
        a.weight = np.zeros((3, 3))


def test_backward_needs_a_training_forward():
    for layer, x in [(nn.Linear(3, 2), np.zeros((2, 3))), (nn.Embedding(4, 2), np.array([1])),
                     (nn.Dropout(), np.zeros(3)), (nn.BatchNorm1d(2), np.ones((3, 2))),
                     (nn.LayerNorm(3), np.zeros((1, 3)))]:
        with pytest.raises(RuntimeError, match="backward\\(\\) needs a forward\\(\\) in training mode"):
            layer.backward(np.zeros(1))
        layer.eval()
        out = layer(x)
        with pytest.raises(RuntimeError, match="needs a forward\\(\\) in training mode"):
            layer.backward(np.zeros_like(out))


# ---- Linear ----------------------------------------------------------------------

def test_linear_finite_differences():
    rng = np.random.default_rng(0)
    for bias in (True, False):
        layer = nn.Linear(4, 3, bias=bias, dtype=np.float64, seed=1)
        assert_close(fd_check(layer, rng.standard_normal((2, 3, 4)), rng), FD_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_against_torch(dtype):
    rng = np.random.default_rng(1)
    layer = nn.Linear(5, 3, dtype=dtype, seed=0)
    ref = torch.nn.Linear(5, 3, dtype=TORCH_DTYPE[dtype])
    ref.load_state_dict(torch_state(layer))
    x = rng.standard_normal((2, 4, 5)).astype(dtype)
    g = rng.standard_normal((2, 4, 3)).astype(dtype)
    out = layer(x)
    dx = layer.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    ot = ref(xt)
    ot.backward(torch.tensor(g))
    assert out.dtype == dtype and dx.dtype == dtype
    assert_close({"output": rel_err(out, ot), "grad x": rel_err(dx, xt.grad),
                  "grad weight": rel_err(layer.weight.grad, ref.weight.grad),
                  "grad bias": rel_err(layer.bias.grad, ref.bias.grad)}, TOL[dtype])
    # backward adds into .grad
    layer.backward(g)
    assert rel_err(layer.weight.grad, 2 * ref.weight.grad) <= TOL[dtype]


def test_linear_init_and_errors():
    layer = nn.Linear(16, 8, seed=3)
    k = 1 / np.sqrt(16)
    assert layer.weight.dtype == np.float32 and layer.weight.shape == (8, 16)
    assert np.abs(layer.weight.data).max() <= k and np.abs(layer.bias.data).max() <= k
    assert np.abs(layer.weight.data).max() > 0.8 * k
    assert np.array_equal(nn.Linear(16, 8, seed=3).weight.data, layer.weight.data)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., in_features=16\); got \(2, 15\)"):
        layer(np.zeros((2, 15)))
    with pytest.raises(TypeError, match="x must be a real floating-point array; got dtype complex128"):
        layer(np.zeros((2, 16), complex))
    layer(np.zeros((2, 16)))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 8\) \(the shape of the output\); got \(2, 7\)"):
        layer.backward(np.zeros((2, 7)))
    with pytest.raises(TypeError, match="in_features must be an int"):
        nn.Linear(2.5, 3)


# ---- Embedding -------------------------------------------------------------------

def test_embedding_finite_differences():
    rng = np.random.default_rng(2)
    layer = nn.Embedding(6, 3, padding_idx=2, dtype=np.float64, seed=0)
    idx = np.array([[0, 2, 5], [5, 5, 1]])
    layer.train()
    out = layer(idx)
    g = rng.standard_normal(out.shape)
    assert layer.backward(g) is None
    numeric = numeric_grad(lambda: float(np.sum(layer(idx) * g)), layer.weight.data)
    numeric[2] = 0     # the padding row gets no gradient (torch's rule), although it is used
    assert_close({"grad weight": rel_err(layer.weight.grad, numeric)}, FD_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_against_torch(dtype):
    rng = np.random.default_rng(3)
    layer = nn.Embedding(10, 4, padding_idx=0, dtype=dtype, seed=1)
    assert np.all(layer.weight.data[0] == 0)
    ref = torch.nn.Embedding(10, 4, padding_idx=0, dtype=TORCH_DTYPE[dtype])
    ref.load_state_dict(torch_state(layer))
    idx = rng.integers(0, 10, size=(3, 7))
    idx[0, :3] = 0
    idx[1, :] = 4      # repeated indices accumulate
    g = rng.standard_normal(idx.shape + (4,)).astype(dtype)
    out = layer(idx)
    layer.backward(g)
    ot = ref(torch.from_numpy(idx))
    ot.backward(torch.tensor(g))
    assert out.shape == (3, 7, 4) and out.dtype == dtype
    assert_close({"output": rel_err(out, ot),
                  "grad weight": rel_err(layer.weight.grad, ref.weight.grad)}, TOL[dtype])
    assert np.all(layer.weight.grad[0] == 0)
    # torch tensors and negative padding_idx are accepted
    assert np.array_equal(layer(torch.from_numpy(idx)), out)
    assert nn.Embedding(10, 4, padding_idx=-1).padding_idx == 9


def test_embedding_init_and_errors():
    w = nn.Embedding(2000, 8, seed=0).weight.data
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    layer = nn.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"indices must be in 0\.\.4 \(num_embeddings=5\); got 5 at position \(1, 0\)"):
        layer(np.array([[0, 1], [5, 2]]))
    with pytest.raises(ValueError, match="got -1 at position"):
        layer(np.array([-1]))
    with pytest.raises(TypeError, match="indices must be an integer array; got dtype float64"):
        layer(np.array([1.0]))
    with pytest.raises(TypeError, match="indices must be an integer array; got dtype bool"):
        layer(np.array([True]))
    with pytest.raises(ValueError, match=r"padding_idx must be in -5\.\.4"):
        nn.Embedding(5, 2, padding_idx=5)
    layer(np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(1, 2, 2\)"):
        layer.backward(np.zeros((2, 2)))


# ---- Dropout ---------------------------------------------------------------------

def test_dropout_statistics_mask_and_modes():
    p = 0.3
    layer = nn.Dropout(p, seed=0)
    x = np.random.default_rng(4).uniform(1, 2, (200, 250)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    kept = out != 0
    frac = 1 - kept.mean()
    sigma = np.sqrt(p * (1 - p) / x.size)
    assert abs(frac - p) < 5 * sigma, "dropped fraction %.4f, expected %.2f" % (frac, p)
    # the kept values are x / (1 - p), as torch's
    with torch.random.fork_rng():
        torch.manual_seed(0)
        ref = torch.nn.functional.dropout(torch.from_numpy(x), p, training=True).numpy()
    scale = np.float32(1) / np.float32(1 - p)
    assert rel_err(out[kept], x[kept] * scale) < 1e-6
    assert rel_err(ref[ref != 0], x[ref != 0] * scale) < 1e-6
    assert abs(1 - (ref != 0).mean() - p) < 5 * sigma
    # backward applies the same mask and scale
    g = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(g)
    assert np.array_equal(dx == 0, ~kept | (g == 0))
    assert rel_err(dx[kept], g[kept] * scale) < 1e-6
    # a second forward draws a new mask; the same seed repeats the masks
    assert not np.array_equal(layer(x) != 0, kept)
    assert np.array_equal(nn.Dropout(p, seed=0)(x), out)
    # eval mode and p = 0 are the identity; p = 1 drops everything
    assert np.array_equal(layer.eval()(x), x)
    zero = nn.Dropout(0.0)
    assert np.array_equal(zero(x), x) and np.array_equal(zero.backward(g), g)
    one = nn.Dropout(1.0)
    assert not one(x).any() and not one.backward(g).any()
    assert nn.Dropout(0.5)(np.ones(4)).dtype == np.float64
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]; got 1.5"):
        nn.Dropout(1.5)


# ---- BatchNorm1d -----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_finite_differences(shape, affine):
    rng = np.random.default_rng(6)
    layer = nn.BatchNorm1d(3, affine=affine, dtype=np.float64)
    if affine:
        layer.weight.data[:] = rng.uniform(0.5, 1.5, 3)
        layer.bias.data[:] = rng.standard_normal(3)
    assert_close(fd_check(layer, rng.standard_normal(shape), rng), FD_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,momentum,affine,track", [
    ((8, 3), 0.1, True, True),
    ((4, 3, 5), 0.3, True, True),
    ((5, 3), None, True, True),          # cumulative average
    ((4, 3, 2), 0.1, False, True),
    ((6, 3), 0.1, True, False),          # batch statistics in eval mode too
])
def test_batchnorm_against_torch(dtype, shape, momentum, affine, track):
    rng = np.random.default_rng(7)
    layer = nn.BatchNorm1d(3, momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
    ref = torch.nn.BatchNorm1d(3, momentum=momentum, affine=affine, track_running_stats=track,
                               dtype=TORCH_DTYPE[dtype])
    if affine:
        layer.weight.data[:] = rng.uniform(0.5, 1.5, 3)
        layer.bias.data[:] = rng.standard_normal(3)
    ref.load_state_dict(torch_state(layer))
    assert list(layer.state_dict()) == list(ref.state_dict())
    for step in range(3):
        x = (rng.standard_normal(shape) * 2 + step).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        layer.zero_grad()
        ref.zero_grad()
        out = layer(x)
        dx = layer.backward(g)
        xt = torch.tensor(x, requires_grad=True)
        ot = ref(xt)
        ot.backward(torch.tensor(g))
        errors = {"output": rel_err(out, ot), "grad x": rel_err(dx, xt.grad)}
        if affine:
            errors.update({"grad weight": rel_err(layer.weight.grad, ref.weight.grad),
                           "grad bias": rel_err(layer.bias.grad, ref.bias.grad)})
        if track:
            errors.update({"running_mean": rel_err(layer.running_mean, ref.running_mean),
                           "running_var": rel_err(layer.running_var, ref.running_var)})
            assert int(layer.num_batches_tracked) == int(ref.num_batches_tracked) == step + 1
        assert_close({"step %d %s" % (step, k): e for k, e in errors.items()}, TOL[dtype] * 5)
    layer.eval()
    ref.eval()
    x = rng.standard_normal(shape).astype(dtype)
    assert_close({"eval output": rel_err(layer(x), ref(torch.tensor(x)))}, TOL[dtype] * 5)


def test_batchnorm_errors():
    layer = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C=3\) or \(N, C=3, L\); got \(4, 2\)"):
        layer(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        layer(np.zeros((1, 3)))
    assert layer.eval()(np.zeros((1, 3))).shape == (1, 3)


# ---- LayerNorm -------------------------------------------------------------------

@pytest.mark.parametrize("normalized_shape,affine,bias", [(4, True, True), ((3, 4), True, True),
                                                         (4, False, True), (4, True, False)])
def test_layernorm_finite_differences(normalized_shape, affine, bias):
    rng = np.random.default_rng(8)
    layer = nn.LayerNorm(normalized_shape, elementwise_affine=affine, bias=bias, dtype=np.float64)
    for p in layer.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    assert_close(fd_check(layer, rng.standard_normal((2, 3, 4)), rng), FD_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalized_shape,affine,bias", [(4, True, True), ((3, 4), True, True),
                                                         (4, False, True), (4, True, False)])
def test_layernorm_against_torch(dtype, normalized_shape, affine, bias):
    rng = np.random.default_rng(9)
    layer = nn.LayerNorm(normalized_shape, eps=1e-4, elementwise_affine=affine, bias=bias, dtype=dtype)
    ref = torch.nn.LayerNorm(normalized_shape, eps=1e-4, elementwise_affine=affine, bias=bias,
                             dtype=TORCH_DTYPE[dtype])
    for p in layer.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    ref.load_state_dict(torch_state(layer))
    x = (rng.standard_normal((2, 3, 4)) * 3 + 1).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    out = layer(x)
    dx = layer.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    ot = ref(xt)
    ot.backward(torch.tensor(g))
    errors = {"output": rel_err(out, ot), "grad x": rel_err(dx, xt.grad)}
    for name, p in layer.named_parameters():
        errors["grad " + name] = rel_err(p.grad, getattr(ref, name).grad)
    assert_close(errors, TOL[dtype] * 5)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 5\) \(normalized_shape\); got \(2, 4\)"):
        nn.LayerNorm(5)(np.zeros((2, 4)))


def test_module_save_load_round_trip(tmp_path):
    """Module.save / Module.load: every parameter and buffer (BatchNorm's int64
    num_batches_tracked included) comes back bitwise; metadata is kept; a file of
    another model is refused naming the keys."""
    from pygru import nn

    class Net(nn.Module):
        def __init__(self, seed):
            super().__init__()
            self.emb = nn.Embedding(7, 3, padding_idx=0, seed=seed)
            self.gru = nn.GRU(3, 4, batch_first=True, bidirectional=True, seed=seed)
            self.bn = nn.BatchNorm1d(8)
            self.fc = nn.Linear(8, 1, seed=seed)

    a, b = Net(1), Net(2)
    a.bn.train()
    a.bn(np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32))
    path = a.save(tmp_path / "net.safetensors", metadata={"hidden": "4"})
    meta = b.load(path)
    assert meta["hidden"] == "4" and meta["module"] == "Net"
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and va.dtype == vb.dtype
        np.testing.assert_array_equal(va, vb, err_msg=ka)
    other = nn.Linear(8, 2)
    with pytest.raises(ValueError, match="missing keys"):
        other.load(path)
