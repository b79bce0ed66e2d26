"""test_thread_contract.py - pygru's thread-safety contract, raced.

The contract (docs/RELIABILITY.md): inference on one model may run from any number of
threads at once; a weight write (a Parameter view, load_state_dict) and an inference
forward are serialised, so the forward sees all-old or all-new weights; training one
model from several threads is correct (each thread's backward uses its own forward;
the gradients add up); thread-count changes finish in bounded time under any load and
never block creating other models; thread counts above pygru.MAX_THREADS are refused.

Each race counts wrong results and must count zero; the iteration counts are the
figures docs/RELIABILITY.md reports.
"""
import sys
import threading
import time

import numpy as np
import pytest

import pygru
from pygru import _core

RACE_CALLS = 10_000


def _run_threads(targets, timeout):
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"


def test_inference_racing_weight_writes_sees_old_or_new_weights():
    rng = np.random.default_rng(0)
    g = pygru.GRU(4, 8, num_layers=2, seed=0).eval()
    a = {k: v.copy() for k, v in g.state_dict().items()}
    b = {k: rng.uniform(-0.3, 0.3, v.shape).astype(np.float32) for k, v in a.items()}
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    g.load_state_dict(b)
    out_b, step_b = g(x)[0], g.step(x[0], g.new_state(2))
    g.load_state_dict(a)
    out_a, step_a = g(x)[0], g.step(x[0], g.new_state(2))
    reads, wrong, writes, stop = [0, 0, 0], [0, 0, 0], [0], threading.Event()

    def reader(i):
        def run():
            for _ in range(RACE_CALLS // 3):
                out = g(x)[0]
                if not (np.array_equal(out, out_a) or np.array_equal(out, out_b)):
                    wrong[i] += 1
                reads[i] += 1
        return run

    def stepper(i):
        def run():
            for _ in range(RACE_CALLS - 2 * (RACE_CALLS // 3)):
                y = g.step(x[0], g.new_state(2))
                if not (np.array_equal(y, step_a) or np.array_equal(y, step_b)):
                    wrong[i] += 1
                reads[i] += 1
        return run

    def writer():
        k = 0
        while not stop.is_set():
            new = b if k % 2 else a
            g.load_state_dict(new)
            # single-tensor writes through the views (same values: no mix, but the
            # same locking and repacking as any write)
            g.weight_hh_l1[...] = new["weight_hh_l1"]
            g.bias_ih_l0.data[...] = new["bias_ih_l0"]
            k += 1
            writes[0] = k
            time.sleep(0.0002)   # more calls between writes (the lock is phase-fair anyway)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        _run_threads([reader(0), reader(1), stepper(2)], timeout=120)
    finally:
        stop.set()
        w.join(30)
    assert sum(reads) == RACE_CALLS and writes[0] > 10
    assert sum(wrong) == 0, "%d of %d forwards and steps saw a mix of two weight sets" % (
        sum(wrong), sum(reads))


class _Encoder(pygru.Module):
    """A parent module holding a GRU and a NumPy-only layer."""

    def __init__(self):
        super().__init__()
        self.gru = pygru.GRU(4, 8, num_layers=2, seed=3)
        self.head = pygru.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.gru(x)[0][-1])


def test_parent_load_state_dict_is_one_write_per_gru_inside():
    # Module.load_state_dict on a parent writes every GRU below it as one write
    # (before: tensor by tensor, so a forward in another thread could run on a GRU
    # whose weight_ih was new and weight_hh old)
    rng = np.random.default_rng(4)
    enc = _Encoder().eval()
    a = {k: np.array(v) for k, v in enc.state_dict().items()}
    b = {k: rng.uniform(-0.4, 0.4, v.shape).astype(v.dtype) for k, v in a.items()}
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    enc.load_state_dict(b)
    out_b = enc.gru(x)[0]
    enc.load_state_dict(a)
    out_a = enc.gru(x)[0]
    reads, wrong, stop = [0, 0], [0, 0], threading.Event()

    def reader(i):
        def run():
            for _ in range(RACE_CALLS // 2):
                out = enc.gru(x)[0]
                wrong[i] += not (np.array_equal(out, out_a) or np.array_equal(out, out_b))
                reads[i] += 1
        return run

    writes = [0]

    def writer():
        while not stop.is_set():
            enc.load_state_dict(b if writes[0] % 2 else a)
            writes[0] += 1
            time.sleep(0.0002)

    w = threading.Thread(target=writer, daemon=True)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # switch threads often: between two tensors' writes too
    w.start()
    try:
        _run_threads([reader(0), reader(1)], timeout=120)
    finally:
        stop.set()
        w.join(30)
        sys.setswitchinterval(switch)
    assert sum(reads) == RACE_CALLS and writes[0] > 10
    assert sum(wrong) == 0, "%d of %d forwards saw a mix of two weight sets" % (
        sum(wrong), sum(reads))


def test_writes_into_two_models_at_once_hold_both_locks():
    # a ufunc whose outputs are views of two models' storage writes both under their
    # locks, taken in one global order (two threads doing it crosswise cannot deadlock)
    g1, g2 = pygru.GRU(2, 3, seed=1), pygru.GRU(2, 3, seed=2)
    p1, p2 = g1.bias_ih_l0.data, g2.bias_ih_l0.data
    ones = np.ones(9, np.float32)
    done = [0, 0]

    def crosswise(i):
        def run():
            for _ in range(2000):
                if i:
                    np.divmod(ones, 1.0, out=(p2, p1))
                else:
                    np.divmod(ones, 1.0, out=(p1, p2))
                done[i] += 1
        return run

    _run_threads([crosswise(0), crosswise(1)], timeout=60)
    assert done == [2000, 2000]
    for g, p in ((g1, p1), (g2, p2)):
        # whole tensors of one value (quotient 1 or remainder 0), and both models were
        # told (the next forward repacks): each equals a fresh model with its weights
        assert np.array_equal(p, ones) or np.array_equal(p, 0 * ones)
        fresh = pygru.GRU(2, 3)
        fresh.load_state_dict(g.state_dict())
        x = np.ones((2, 1, 2), np.float32)
        np.testing.assert_array_equal(g(x)[0], fresh(x)[0])


def test_training_one_model_from_two_threads_is_correct():
    rng = np.random.default_rng(1)
    g = pygru.GRU(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=2)
    xs = [rng.standard_normal((4, 2, 3)) for _ in range(2)]
    gos = [rng.standard_normal((4, 2, 10)) for _ in range(2)]
    ref = {}
    for i in range(2):
        g.zero_grad()
        g(xs[i])
        dx, dh0 = g.backward(gos[i])
        ref[i] = (dx, dh0, {n: p.grad.copy() for n, p in g.named_parameters()})
    g.zero_grad()
    calls = RACE_CALLS // 4      # per thread: forward + backward = 2 calls each
    wrong = [0, 0]

    def trainer(i):
        def run():
            for _ in range(calls):
                g(xs[i])
                dx, dh0 = g.backward(gos[i])
                if not (np.array_equal(dx, ref[i][0]) and np.array_equal(dh0, ref[i][1])):
                    wrong[i] += 1
        return run

    _run_threads([trainer(0), trainer(1)], timeout=120)
    assert wrong == [0, 0], "backward returned another thread's gradients: %s" % wrong
    for name, p in g.named_parameters():   # every call's gradient added exactly once
        expected = calls * (ref[0][2][name] + ref[1][2][name])
        np.testing.assert_allclose(p.grad, expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_backward_in_another_thread_raises():
    g = pygru.GRU(3, 4, seed=0)
    out, _ = g(np.ones((2, 1, 3), np.float32))
    errors = []

    def other():
        try:
            g.backward(np.ones_like(out))
        except RuntimeError as exc:
            errors.append(str(exc))

    _run_threads([other], timeout=30)
    assert errors and "same thread" in errors[0]
    g.backward(np.ones_like(out))          # this thread's forward is still there


def test_thread_count_changes_are_bounded_under_load():
    """set_num_threads returns promptly while other threads run back-to-back inference
    on every model, and creating models is never blocked by it."""
    before = pygru.get_num_threads()
    models = [pygru.GRU(16, 64, seed=i).eval() for i in range(2)]
    x = np.ones((20, 4, 16), np.float32)
    stop = threading.Event()
    counts = {"inference": 0, "created": 0, "slowest_create": 0.0}

    def infer(m):
        def run():
            while not stop.is_set():
                m(x)
                counts["inference"] += 1
        return run

    def create():
        while not stop.is_set():
            t0 = time.perf_counter()
            pygru.GRU(3, 4)
            counts["slowest_create"] = max(counts["slowest_create"], time.perf_counter() - t0)
            counts["created"] += 1

    threads = [threading.Thread(target=f, daemon=True)
               for f in (infer(models[0]), infer(models[1]), create)]
    for t in threads:
        t.start()
    slowest = 0.0
    try:
        time.sleep(0.05)
        for n in (2, 1, 3, 1, 2, 1) * 5:
            t0 = time.perf_counter()
            pygru.set_num_threads(n)
            slowest = max(slowest, time.perf_counter() - t0)
            assert all(m.num_threads == n for m in models)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        pygru.set_num_threads(before)
    assert counts["inference"] > 30 and counts["created"] > 0
    assert slowest < 5.0, "set_num_threads took %.2f s under load" % slowest
    assert counts["slowest_create"] < 5.0, "creating a model took %.2f s" % counts["slowest_create"]


def test_a_writer_that_never_pauses_does_not_starve_the_callers():
    """The model lock is phase-fair: when a writer leaves, every call that queued
    meanwhile goes in before the next writer. Four threads make 150 forwards each while
    a fifth rewrites the model's weights (load_state_dict of the same values, a writer
    like set_num_threads) in a loop without pausing; the callers finish, every result is
    the serial one, and the writer kept writing while they ran. (With the
    writer-preferring lock before, the same race let 786,008 writes pass in 76 s.)"""
    g = pygru.GRU(4, 8, seed=0).eval()
    sd = {k: np.array(v) for k, v in g.state_dict().items()}
    x = np.linspace(-1, 1, 3 * 2 * 4, dtype=np.float32).reshape(3, 2, 4)
    ref = g(x)[0]
    calls, wrong, writes, stop = [0] * 4, [0] * 4, [0], threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            g.load_state_dict(sd)
            k += 1
            writes[0] = k

    def reader(i):
        def run():
            for _ in range(150):
                if not np.array_equal(g(x)[0], ref):
                    wrong[i] += 1
                calls[i] += 1
        return run

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        while writes[0] < 20:   # the writer is running before the callers start
            time.sleep(0.001)
        first = writes[0]
        _run_threads([reader(i) for i in range(4)], timeout=60)
        during = writes[0] - first
        still_writing = w.is_alive() and not stop.is_set()
    finally:
        stop.set()
        w.join(30)
    print("%d calls during %d writes" % (sum(calls), during))
    assert calls == [150] * 4 and sum(wrong) == 0
    assert still_writing and during > 0
    # each write lets every queued call in: a call waits for at most two writes
    assert during <= 2 * sum(calls), "%d writes during %d calls" % (during, sum(calls))


@pytest.mark.parametrize("n", [pygru.MAX_THREADS + 1, 512, 2 ** 31, 2 ** 70])
def test_thread_counts_have_an_upper_bound(n):
    with pytest.raises(ValueError, match=r"n (must be at most 256|is too large)"):
        pygru.set_num_threads(n)
    assert pygru.MAX_THREADS == 256



def test_max_threads_is_libgru_s():
    # pygru's bound is gru.h's GRU_MAX_THREADS, read through the cffi binding
    assert pygru.MAX_THREADS == int(_core.lib.GRU_MAX_THREADS) == 256


def test_c_set_num_threads_bound_and_busy_status():
    """libgru itself refuses n > GRU_MAX_THREADS; GRU_ERR_BUSY becomes a GRUError."""
    lib = _core.lib
    m = _core.CModel(2, 3)
    assert lib.gru_set_num_threads(m.ptr, lib.GRU_MAX_THREADS + 1) == lib.GRU_ERR_INVALID_ARG
    assert lib.gru_set_num_threads(m.ptr, 2) == lib.GRU_OK
    assert m.num_threads() == 2
    with pytest.raises(pygru.GRUError, match="GRU_ERR_BUSY") as info:
        _core.check(lib.GRU_ERR_BUSY, "setting the thread count")
    assert type(info.value) is pygru.GRUError
