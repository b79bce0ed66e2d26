"""test_reverse.py - GRU(reverse=True): every layer runs right to left (ONNX's direction
"reverse"), outputs in the original time order. Checked against a forward GRU with the
same weights run on each sequence's valid part flipped in time: outputs and final states
bitwise, input and parameter gradients to float64 rounding (the weight gradients sum the
same terms in another order); with lengths, each sequence starts at its last valid step.
Also: the model file keeps the flag, and what cannot reverse says so."""
import numpy as np
import pytest

import pygru


def flip_valid(a, lengths, bf):
    """Each sequence's first lengths[b] steps reversed in time, the padding left alone."""
    a = a.copy()
    for b, n in enumerate(lengths):
        if bf:
            a[b, :n] = a[b, :n][::-1].copy()
        else:
            a[:n, b] = a[:n, b][::-1].copy()
    return a


@pytest.mark.parametrize("L,ra,bf,use_len", [(1, True, False, False), (2, False, True, True),
                                             (3, True, False, True)])
def test_reverse_is_forward_on_flipped_sequences(L, ra, bf, use_len):
    T, B, I, H = 7, 4, 3, 5
    rev = pygru.GRU(I, H, num_layers=L, reset_after=ra, batch_first=bf, reverse=True,
                    dtype=np.float64, seed=1)
    fwd = pygru.GRU(I, H, num_layers=L, reset_after=ra, batch_first=bf, dtype=np.float64)
    fwd.load_state_dict(rev.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I) if bf else (T, B, I))
    lengths = [7, 3, 1, 5] if use_len else [T] * B
    kw = dict(lengths=lengths) if use_len else {}
    out, h_n = rev(x, **kw)
    out_f, h_f = fwd(flip_valid(x, lengths, bf), **kw)
    assert np.array_equal(out, flip_valid(out_f, lengths, bf))
    assert np.array_equal(h_n, h_f)
    g = rng.standard_normal(out.shape)
    if use_len:   # padding carries no gradient in either model
        g = np.where(out == 0, 0, g)
    dx, dh0 = rev.backward(g)
    dx_f, dh0_f = fwd.backward(flip_valid(g, lengths, bf))
    assert np.allclose(dx, flip_valid(dx_f, lengths, bf), rtol=0, atol=1e-12)
    assert np.allclose(dh0, dh0_f, rtol=0, atol=1e-12)
    for name, value in rev.grads.items():
        assert np.allclose(value, fwd.grads[name], rtol=0, atol=1e-12), name


def test_reverse_round_trips_and_refusals(tmp_path):
    g = pygru.GRU(3, 4, num_layers=2, reverse=True, seed=0)
    assert repr(g) == "GRU(3, 4, num_layers=2, reverse=True)" and g.reverse
    back = pygru.load(g.save(tmp_path / "r.safetensors"))
    assert back.reverse
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    assert np.array_equal(back(x)[0], g.eval()(x)[0])
    with pytest.raises(ValueError, match="cannot be combined with bidirectional=True"):
        pygru.GRU(3, 4, bidirectional=True, reverse=True)
    with pytest.raises(TypeError, match="reverse must be a bool"):
        pygru.GRU(3, 4, reverse="yes")
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="reverse=True.*no torch.nn.GRU equivalent"):
        pygru.to_torch(g)
