"""test_stream.py - streaming inference (GRU.new_state / step / reset_state, and
GRUCell in eval mode, both on libgru's gru_step).

* Stepping a sequence frame by frame gives bitwise the outputs and final states of the
  whole-sequence forward: 1-3 layers, both reset variants, bias on/off, float32 and
  float64, one or many streams, 1-3 threads (threading forced on for small sizes).
* GRUCell in eval mode (the step path) equals GRUCell in training mode (the forward
  path) bitwise, and torch.nn.GRUCell to float rounding.
* reset_state zeros one stream and leaves the others alone; a reset stream then steps
  exactly like a fresh one.
* Bad arguments raise ValueError / TypeError naming the argument.
"""
import numpy as np
import pytest

import pygru


def sequence(T, B, I, dtype, seed):
    return np.random.default_rng(seed).uniform(-1.5, 1.5, (T, B, I)).astype(dtype)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("L,ra,bias,dtype,B", [
    (1, True, True, np.float32, 1), (2, True, True, np.float32, 5),
    (3, False, True, np.float64, 3), (2, False, False, np.float32, 1),
    (1, True, False, np.float64, 4),
])
def test_steps_equal_whole_sequence_forward(monkeypatch, threads, L, ra, bias, dtype, B):
    monkeypatch.setenv("GRU_THREAD_MIN_WORK", "0")
    before = pygru.get_num_threads()
    try:
        pygru.set_num_threads(threads)
        gru = pygru.GRU(9, 70, num_layers=L, reset_after=ra, bias=bias, dtype=dtype,
                        seed=L).eval()
        x = sequence(12, B, 9, dtype, seed=B)
        h0 = np.random.default_rng(3).uniform(-0.9, 0.9, (L, B, 70)).astype(dtype)
        out, h_n = gru(x, h0)
        state = h0.copy()
        ys = np.stack([gru.step(x[t], state) for t in range(len(x))])
        assert np.array_equal(ys, out), "stepped outputs differ from forward (max %g)" % (
            np.abs(ys.astype(np.float64) - out).max())
        assert np.array_equal(state, h_n)
        # one stream as 1-D frames, an out= buffer, the state from new_state()
        s1 = gru.new_state(1)[:, 0, :].copy()
        o = np.empty(70, dtype)
        gru_one, _ = gru(x[:, :1], None)
        for t in range(len(x)):
            assert gru.step(x[t, 0], s1, out=o) is o
            assert np.array_equal(o, gru_one[t, 0])
    finally:
        pygru.set_num_threads(before)


def test_new_state_and_reset_state():
    gru = pygru.GRU(4, 6, num_layers=2, seed=0)
    st = gru.new_state(3)
    assert st.shape == (2, 3, 6) and st.dtype == np.float32 and not st.any()
    x = sequence(5, 3, 4, np.float32, seed=1)
    for t in range(5):
        gru.step(x[t], st)
    before = st.copy()
    gru.reset_state(st, 1)
    assert not st[:, 1].any()
    assert np.array_equal(st[:, 0], before[:, 0]) and np.array_equal(st[:, 2], before[:, 2])
    # a reset stream steps like a fresh one, whatever the others hold
    y = gru.step(x[0], st)
    fresh = gru.new_state(1)
    assert np.array_equal(y[1], gru.step(x[0, 1:2], fresh)[0])


def test_step_is_inference_in_training_mode():
    # dropout between layers is a training-forward feature: a step never applies it
    gru = pygru.GRU(4, 6, num_layers=2, dropout=0.5, seed=0)
    assert gru.training
    x = sequence(3, 2, 4, np.float32, seed=2)
    st = gru.new_state(2)
    ys = np.stack([gru.step(x[t], st) for t in range(3)])
    out, _ = gru.eval()(x)
    assert np.array_equal(ys, out)


@pytest.mark.parametrize("ra", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grucell_eval_step_path(ra, dtype):
    cell = pygru.GRUCell(7, 11, reset_after=ra, dtype=dtype, seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7)).astype(dtype)
    h = rng.standard_normal((3, 11)).astype(dtype)
    h_train = cell.train()(x, h)
    h_eval = cell.eval()(x, h)
    assert np.array_equal(h_train, h_eval)
    assert not np.shares_memory(h_eval, h)
    assert np.array_equal(cell(x[0], h[0]), h_eval[0])             # unbatched
    assert np.array_equal(cell(x), cell.train()(x))                 # h = None: zeros
    cell.eval()
    h1 = cell(x[0])                                                 # unbatched, h = None
    assert h1.shape == (11,) and np.array_equal(h1, cell.train()(x[0]))


def test_grucell_eval_matches_torch():
    torch = pytest.importorskip("torch")
    tc = torch.nn.GRUCell(16, 24)
    cell = pygru.GRUCell(16, 24).eval()
    cell.load_state_dict(tc.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    h = np.zeros((2, 24), np.float32)
    th = torch.zeros(2, 24)
    with torch.no_grad():
        for _ in range(20):
            h = cell(x, h)
            th = tc(torch.from_numpy(x), th)
    err = np.abs(h - th.numpy()).max()
    assert err <= 1e-5, "h after 20 steps: max |pygru - torch| = %g" % err


def test_step_errors():
    gru = pygru.GRU(4, 6, num_layers=2, seed=0)
    st = gru.new_state(2)
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"state must have shape \(2, 2, 6\).*got \(2, 6\)"):
        gru.step(x, np.zeros((2, 6), np.float32))
    with pytest.raises(TypeError, match="state must have dtype float32.*got float64"):
        gru.step(x, st.astype(np.float64))
    with pytest.raises(TypeError, match="state must be a NumPy array"):
        gru.step(x, st.tolist())
    with pytest.raises(ValueError, match="state must be C-contiguous"):
        gru.step(x, np.zeros((2, 6, 2), np.float32).transpose(0, 2, 1))
    ro = st.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="state must be writable"):
        gru.step(x, ro)
    with pytest.raises(ValueError, match=r"x must have shape \(2, 4\).*got \(2, 5\)"):
        gru.step(np.zeros((2, 5), np.float32), st)
    with pytest.raises(ValueError, match="x must be 2-D"):
        gru.step(np.zeros((1, 2, 4), np.float32), st)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 6\)"):
        gru.step(x, st, out=np.empty((2, 5), np.float32))
    with pytest.raises(TypeError, match="x must be a real floating-point array"):
        gru.step(np.zeros((2, 4), np.complex64), st)
    with pytest.raises(ValueError, match="index must be in 0..1"):
        gru.reset_state(st, 2)
    with pytest.raises(TypeError, match="index must be an int"):
        gru.reset_state(st, 0.5)
    with pytest.raises(TypeError, match="state must be a NumPy array"):
        gru.reset_state(st.tolist(), 0)
    with pytest.raises(ValueError, match=r"state must have shape \(2, 1, 6\)"):
        gru.reset_state(np.zeros(6, np.float32), 0)
    one = gru.new_state(1)[:, 0].copy()    # a single stream's (num_layers, H) state
    one[:] = 1
    gru.reset_state(one, 0)
    assert not one.any()
    for bad, flag in ((pygru.GRU(4, 6, bidirectional=True), "bidirectional"),
                      (pygru.GRU(4, 6, reverse=True), "reverse")):
        for call in (lambda: bad.new_state(1), lambda: bad.step(x, st),
                     lambda: bad.reset_state(st, 0)):
            with pytest.raises(ValueError, match=r"step\(\) needs a unidirectional, forward "
                               r"GRU.*\(%s=True\)" % flag):
                call()
    # x of another real dtype is converted; nothing else changes
    y = gru.step(x.astype(np.float64), st)
    assert y.dtype == np.float32 and y.shape == (2, 6)


@pytest.mark.parametrize("L,bi,ra", [(1, False, True), (3, False, False), (2, True, True)])
def test_workspace_bytes(L, bi, ra):
    H, I, B = 40, 8, 3
    gru = pygru.GRU(I, H, num_layers=L, bidirectional=bi, reset_after=ra)
    D = 2 if bi else 1
    # training: exactly what the math needs per step (gates, W_hn h + b_hn, h_prev per
    # layer-direction; inner layers' outputs), up to 64-byte rounding and the header
    T = 500
    per_step = B * 4 * (L * D * (3 * H + (H if ra else 0) + H) + (L - 1) * D * H)
    got = gru.workspace_bytes(T, B, training=True)
    assert T * per_step <= got <= T * per_step + 64 * (3 * L * D + L + 8) + 4096
    # inference: independent of T unless layers are stacked bidirectionally
    # (once seq_len exceeds one chunk, about 128 rows)
    a, b = gru.workspace_bytes(1000, B, False), gru.workspace_bytes(10000, B, False)
    if bi and L > 1:
        assert b - a >= (10000 - 1000) * B * 2 * H * 4
    else:
        assert a == b < 64 * 1024
    with pytest.raises(ValueError, match="seq_len must be >= 1"):
        gru.workspace_bytes(0, B)
