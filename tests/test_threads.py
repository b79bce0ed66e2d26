"""test_threads.py - libgru's threads and its determinism guarantees.

* Bitwise identical results (outputs, final states, input/state gradients and every
  parameter gradient) for 1, 2 and 3 threads, with threading forced on for small
  problems (GRU_THREAD_MIN_WORK=0, read when a model is created) and hidden sizes that
  split into ragged slices of kernel panels.
* A sequence's results do not depend on the rest of its batch: alone (B = 1, the thin
  GEMM kernel) or at any position of a larger batch (register tiles and their edges),
  with other sequences of other lengths, its output, h_n, grad_input and grad_h0 are
  bitwise the same.
* pygru.set_num_threads / get_num_threads, and two Python threads using one model.
"""
import threading
import time

import numpy as np
import pytest

import pygru


@pytest.fixture
def forced_threads(monkeypatch):
    """Threads on for every call of models created inside the test; restored after."""
    monkeypatch.setenv("GRU_THREAD_MIN_WORK", "0")
    before = pygru.get_num_threads()
    yield
    pygru.set_num_threads(before)


def run(model, x, h0, lengths, go, ghn):
    """Forward + backward; every result as a dict of arrays."""
    model.zero_grad()
    out, h_n = model(x, h0=h0, lengths=lengths)
    dx, dh0 = model.backward(go, ghn)
    res = {"output": out, "h_n": h_n, "grad_input": dx, "grad_h0": dh0}
    res.update({"grad_" + k: v for k, v in model.grads.items()})
    return res


def assert_bitwise(a, b, what):
    for name in a:
        same = np.array_equal(a[name], b[name], equal_nan=True)
        assert same, "%s: %s differs (max |diff| %.3g)" % (
            what, name, np.abs(a[name].astype(np.float64) - b[name]).max())


CASES = [
    # hidden, layers, bidirectional, reset_after, batch_first, lengths, dropout, dtype
    (100, 1, False, True, False, None, 0.0, np.float32),
    (100, 2, True, True, True, [7, 1, 4, 7, 2], 0.0, np.float32),
    (100, 2, True, False, False, [3, 7, 7, 1, 5], 0.0, np.float32),
    (50, 3, False, False, True, None, 0.3, np.float32),
    (50, 2, True, True, False, [7, 2, 6, 1, 4], 0.5, np.float64),
    (30, 1, False, False, False, [1, 7, 3, 2, 6], 0.0, np.float64),
]


@pytest.mark.parametrize("H,L,bi,ra,bf,lengths,p,dtype", CASES)
def test_bitwise_identical_for_any_thread_count(forced_threads, H, L, bi, ra, bf, lengths,
                                                p, dtype):
    T, B, I = 7, 5, 9
    rng = np.random.default_rng(H + L)
    shape = (B, T, I) if bf else (T, B, I)
    x = rng.standard_normal(shape).astype(dtype)
    D = 2 if bi else 1
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    go = rng.standard_normal((B, T, D * H) if bf else (T, B, D * H)).astype(dtype)
    ghn = rng.standard_normal((L * D, B, H)).astype(dtype)
    results = {}
    for n in (1, 2, 3):
        pygru.set_num_threads(n)
        model = pygru.GRU(I, H, num_layers=L, bidirectional=bi, reset_after=ra,
                          batch_first=bf, dropout=p, dtype=dtype, seed=11)
        assert model.isa == pygru.info()["isa"] and model.num_threads == n
        results[n] = run(model, x, h0, lengths, go, ghn)
    assert_bitwise(results[2], results[1], "2 threads vs 1")
    assert_bitwise(results[3], results[1], "3 threads vs 1")


@pytest.mark.parametrize("ra", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_sequence_result_independent_of_its_batch(forced_threads, ra, dtype, threads):
    pygru.set_num_threads(threads)
    T, I, H, L = 6, 7, 37, 2
    model = pygru.GRU(I, H, num_layers=L, bidirectional=True, reset_after=ra, dtype=dtype,
                      seed=5)
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((T, 1, I)).astype(dtype)         # the sequence under test
    h01 = rng.standard_normal((2 * L, 1, H)).astype(dtype)
    go1 = rng.standard_normal((T, 1, 2 * H)).astype(dtype)
    ghn1 = rng.standard_normal((2 * L, 1, H)).astype(dtype)
    len1 = 5
    alone = run(model, x1, h01, [len1], go1, ghn1)
    for B, pos in [(2, 1), (3, 0), (9, 4), (13, 12), (20, 7)]:
        x = rng.standard_normal((T, B, I)).astype(dtype)
        h0 = rng.standard_normal((2 * L, B, H)).astype(dtype)
        go = rng.standard_normal((T, B, 2 * H)).astype(dtype)
        ghn = rng.standard_normal((2 * L, B, H)).astype(dtype)
        lengths = rng.integers(1, T + 1, size=B)
        x[:, pos], h0[:, pos], go[:, pos], ghn[:, pos] = x1[:, 0], h01[:, 0], go1[:, 0], ghn1[:, 0]
        lengths[pos] = len1
        batch = run(model, x, h0, lengths, go, ghn)
        for name in ("output", "h_n", "grad_input", "grad_h0"):
            got, want = batch[name][:, pos], alone[name][:, 0]
            assert np.array_equal(got, want), "%s of the sequence at %d of %d differs from " \
                "it alone (max |diff| %.3g)" % (name, pos, B, np.abs(got - want).max())


def test_set_and_get_num_threads():
    before = pygru.get_num_threads()
    try:
        pygru.set_num_threads(2)
        assert pygru.get_num_threads() == 2
        assert pygru.info()["threads"] == 2
        model = pygru.GRU(3, 4)                    # new models take the setting
        assert model.num_threads == 2
        pygru.set_num_threads(1)                   # live models follow it
        assert model.num_threads == 1
        for bad, exc in [(0, ValueError), (-3, ValueError), (1.5, TypeError), (True, TypeError)]:
            with pytest.raises(exc, match="n"):
                pygru.set_num_threads(bad)
    finally:
        pygru.set_num_threads(before)


def test_two_python_threads_share_one_model(forced_threads):
    """Inference from two Python threads at once on one model with a 2-thread pool:
    one of them finds the pool busy and runs alone; both get the serial answer."""
    pygru.set_num_threads(2)
    model = pygru.GRU(16, 64, num_layers=2, seed=3).eval()
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((30, 4, 16)).astype(np.float32) for _ in range(8)]
    want = [model(x) for x in xs]
    got = [None] * len(xs)

    def work(k):
        for i in range(k, len(xs), 2):
            for _ in range(5):
                got[i] = model(xs[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (o, h), (wo, wh) in zip(got, want):
        assert np.array_equal(o, wo) and np.array_equal(h, wh)


def test_set_num_threads_while_other_threads_run_inference(forced_threads):
    """Changing the thread count while Python threads run inference on the same models
    waits for their calls (it replaces the pools they use): no crash, same answers."""
    pygru.set_num_threads(2)
    model = pygru.GRU(8, 48, seed=4).eval()
    x = np.random.default_rng(3).standard_normal((20, 3, 8)).astype(np.float32)
    want = model(x)
    stop = threading.Event()
    bad = []

    def work():
        while not stop.is_set():
            out, h = model(x)
            if not (np.array_equal(out, want[0]) and np.array_equal(h, want[1])):
                bad.append(1)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for n in (1, 3, 2, 1, 2) * 4:
            pygru.set_num_threads(n)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not bad


def test_inference_scratch_reused_across_sizes():
    """Eval calls of growing and shrinking sizes on one model reuse its cached scratch;
    each result is bitwise that of a fresh model (which has no cache yet)."""
    model = pygru.GRU(6, 20, num_layers=3, bidirectional=True, seed=9).eval()
    rng = np.random.default_rng(5)
    for T, B in [(3, 2), (40, 7), (5, 1), (40, 7), (1, 9)]:
        x = rng.standard_normal((T, B, 6)).astype(np.float32)
        fresh = pygru.GRU(6, 20, num_layers=3, bidirectional=True, seed=9).eval()
        for got, want in zip(model(x), fresh(x)):
            assert np.array_equal(got, want), (T, B)


def test_variants_race_inference_forwards_and_steps(forced_threads):
    """The GRU variants' inference calls (gru_forward_att, gru_step_att of a layer-norm
    AUGRU with zoneout's blend and DropConnect) from four Python threads at once on one
    model, while the thread count changes: every result bitwise the serial one."""
    pygru.set_num_threads(2)
    model = pygru.GRU(12, 96, num_layers=2, layer_norm=True, zoneout=0.2,
                      weight_dropout=0.3, augru=True, seed=5).eval()
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((25, 3, 12)).astype(np.float32) for _ in range(4)]
    atts = [rng.uniform(0, 1, (25, 3)).astype(np.float32) for _ in range(4)]
    want = [model(x, attention=a) for x, a in zip(xs, atts)]
    want_steps = []
    for x, a in zip(xs, atts):
        state = model.new_state(3)
        want_steps.append(np.stack([model.step(x[t], state, attention=a[t]).copy()
                                    for t in range(25)]))
    assert np.array_equal(want_steps[0], want[0][0])   # step == forward, bitwise
    bad, done = [], []

    def work(k):
        x, a = xs[k], atts[k]
        for _ in range(15):
            out, h = model(x, attention=a)
            state = model.new_state(3)
            steps = np.stack([model.step(x[t], state, attention=a[t]).copy()
                              for t in range(25)])
            if not (np.array_equal(out, want[k][0]) and np.array_equal(h, want[k][1])
                    and np.array_equal(steps, want_steps[k])):
                bad.append(k)
        done.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    changes = 0
    while any(t.is_alive() for t in threads):   # the count changes while they run
        pygru.set_num_threads(1 + changes % 3)
        changes += 1
        time.sleep(0.002)   # calls between changes (a tight loop: see test_thread_contract)
    for t in threads:
        t.join()
    assert sorted(done) == [0, 1, 2, 3] and changes >= 5 and not bad, (done, changes, bad)
