"""tests/test_distributed.py - pygru.distributed over real MPI processes: each test
launches `mpirun -n N python tests/mpi_worker.py SCENARIO OUT` (N = 1, 2, 3; 3 with
--oversubscribe on this 2-core machine), with a timeout, and compares what rank 0
wrote: bitwise (np.array_equal) where the module promises bits (broadcast, the
deterministic all-reduce, world-size invariance of training, sharded inference), and
with the error per tensor otherwise (the fast mode). The sampler and shard() run in
this process on one rank. Controls show the comparisons can fail: the ranks' models
differ before the broadcast, and a rank-ordered sum of per-rank partial sums (what
the deterministic mode replaces) does change the trained weights.

The tests that need MPI are skipped, with the reason, only where mpi4py is not
installed (pip install 'pygru[mpi]'); shard(), the sampler and the ImportError naming
the extra are tested either way. With mpi4py, mpirun must exist too (Open MPI's or
MPICH's, found beside the Python executable or on the PATH). Marker integration: these start processes, so
.ci/run's per-kernel-set reruns of the numerical suite leave them out.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "mpi_worker.py")
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI4PY, reason="mpi4py is not installed (the optional "
                               "extra: pip install 'pygru[mpi]')")
TIMEOUT = 180   # seconds for one mpirun: a hang fails the test instead of the CI run


def _mpirun():
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    exe = shutil.which("mpirun", path=path) or shutil.which("mpiexec", path=path)
    if exe is None:
        pytest.fail("mpi4py is installed but no mpirun/mpiexec was found beside %s or on the "
                    "PATH (pip install 'pygru[mpi]' brings Open MPI's)" % sys.executable)
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    return exe, "Open MPI" in version.stdout + version.stderr


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # Open MPI refuses to run as root without these (CI runs as root)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("GRU_NUM_THREADS", "1")
    return env


def mpirun(n, args, cwd=None, allowed=(0,)):
    """Runs `mpirun -n n python ARGS`; fails the test, showing every rank's output, on
    an exit status not in ``allowed`` or after TIMEOUT seconds. Returns the
    CompletedProcess."""
    exe, openmpi = _mpirun()
    cmd = [exe, "-n", str(n)]
    if openmpi:
        cmd += ["--oversubscribe", "-x", "PYTHONPATH", "-x", "GRU_NUM_THREADS"]
    cmd += [sys.executable] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(),
                           cwd=cwd or ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail("timed out after %d s (a hang?): %s\n--- stdout\n%s\n--- stderr\n%s"
                    % (TIMEOUT, " ".join(cmd), e.stdout, e.stderr))
    if r.returncode not in allowed:
        pytest.fail("exit status %d: %s\n--- stdout\n%s\n--- stderr\n%s"
                    % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r


_runs = {}


def run_scenario(tmp_path_factory, scenario, n):
    """The file rank 0 of `scenario` on n ranks wrote (each (scenario, n) runs once)."""
    key = (scenario, n)
    if key not in _runs:
        ext = ".json" if scenario == "mismatch" else ".npz"
        out = str(tmp_path_factory.mktemp("mpi") / ("%s-%d%s" % (scenario, n, ext)))
        mpirun(n, [WORKER, scenario, out])
        _runs[key] = out
    return _runs[key]


def _ranks_of(arrays, n):
    """{rank: {key: array}} from the '<rank>/<key>' entries of an npz."""
    out = {r: {} for r in range(n)}
    for name in arrays.files:
        head, _, key = name.partition("/")
        if head.isdigit():
            out[int(head)][key] = arrays[name]
    return out


def _differences(a, b):
    """[(key, max |a - b|)] of the tensors of a and b that are not bitwise equal."""
    assert sorted(a) == sorted(b)
    return [(k, float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))))
            for k in a if not np.array_equal(a[k], b[k])]


# ---- broadcast --------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_broadcast_makes_every_rank_bitwise_equal_to_root(tmp_path_factory, n):
    data = np.load(run_scenario(tmp_path_factory, "broadcast", n))
    root = int(data["root"])
    def sub(prefix):
        return {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
    before, after, gru = _ranks_of_prefixed(sub("before/"), n), \
        _ranks_of_prefixed(sub("after/"), n), _ranks_of_prefixed(sub("gru/"), n)
    # control: the ranks' models did differ (weights and the BatchNorm buffer)
    for r in range(n):
        if r != root:
            diff = dict(_differences(before[r], before[root]))
            assert "gru.weight_ih_l0" in diff and "batch_norm.running_mean" in diff, diff
    for r in range(n):
        assert _differences(after[r], before[root]) == [], "rank %d differs from root" % r
        assert _differences(gru[r], gru[root]) == [], "rank %d's GRU differs from root's" % r


def _ranks_of_prefixed(d, n):
    out = {r: {} for r in range(n)}
    for name, v in d.items():
        head, _, key = name.partition("/")
        out[int(head)][key] = v
    return out


# ---- deterministic training: world-size invariant ------------------------------------------

@needs_mpi
def test_deterministic_training_is_bitwise_the_same_on_1_2_and_3_ranks(tmp_path_factory):
    states = {}
    for n in (1, 2, 3):
        ranks = _ranks_of(np.load(run_scenario(tmp_path_factory, "train-det", n)), n)
        for r in range(1, n):
            assert _differences(ranks[r], ranks[0]) == [], "n=%d: rank %d differs from 0" % (n, r)
        states[n] = ranks[0]
    for n in (2, 3):
        diff = _differences(states[n], states[1])
        assert diff == [], "%d ranks against 1 rank, not bitwise equal: %s" % (n, diff)
    # the training did move every tensor (not a trivially equal result)
    assert states[1]["batch_norm.num_batches_tracked"] == 10   # 5 steps x 2 epochs


@needs_mpi
def test_control_a_rank_ordered_sum_of_partial_sums_changes_the_weights(tmp_path_factory):
    # 2 ranks: rank 0 holds micro-batches 0, 1 of a 3-micro-batch step and sums them
    # first: (g0 + g1) + g2, where the global tree is g0 + (g1 + g2)
    det = _ranks_of(np.load(run_scenario(tmp_path_factory, "train-det", 1)), 1)[0]
    ranksum = _ranks_of(np.load(run_scenario(tmp_path_factory, "train-ranksum", 2)), 2)[0]
    # (its buffers are each rank's last micro-batch's: only the parameters compare)
    params = lambda s: {k: v for k, v in s.items() if "running" not in k}  # noqa: E731
    diff = _differences(params(ranksum), params(det))
    assert diff, "the rank-ordered sum gave the same bits: this control no longer tests anything"
    assert max(d for _, d in diff) < 1e-4, diff   # the same training, up to rounding


@needs_mpi
def test_fast_mode_is_close_but_makes_no_bitwise_promise(tmp_path_factory):
    det = _ranks_of(np.load(run_scenario(tmp_path_factory, "train-det", 1)), 1)[0]
    fast = _ranks_of(np.load(run_scenario(tmp_path_factory, "train-fast", 3)), 3)
    errors = {k: float(np.max(np.abs(fast[0][k].astype(np.float64) - det[k])))
              for k in det}
    print("fast mode on 3 ranks against deterministic on 1, max |error| per tensor:", errors)
    assert max(errors.values()) < 1e-3, errors


# ---- all-reduce of a pygru.GRU's gradients ---------------------------------------------------

def _tree(vs, lo, hi):
    """The documented tree: [lo, hi) = [lo, mid) + [mid, hi), mid = (lo + hi) // 2."""
    if hi - lo == 1:
        return vs[lo]
    mid = (lo + hi) // 2
    return _tree(vs, lo, mid) + _tree(vs, mid, hi)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_allreduce_of_a_gru_in_place(tmp_path_factory, n):
    data = np.load(run_scenario(tmp_path_factory, "allreduce", n))
    assert data["zero_copy"].tolist() == [True] * n    # one view of libgru's gradient buffer
    for mode in ("det", "fast"):
        sub = {k[len(mode) + 1:]: data[k] for k in data.files if k.startswith(mode + "/")}
        before = _ranks_of_prefixed({k[7:]: v for k, v in sub.items()
                                     if k.startswith("before/")}, n)
        after = _ranks_of_prefixed({k[6:]: v for k, v in sub.items()
                                    if k.startswith("after/")}, n)
        for key in before[0]:
            grads = [before[r][key] for r in range(n)]
            assert not all(np.array_equal(g, grads[0]) for g in grads[1:])   # ranks differed
            for r in range(n):
                assert np.array_equal(after[r][key], after[0][key]), (mode, key, r)
            if mode == "det":
                expected = _tree(grads, 0, n) / np.float32(n)
                assert np.array_equal(after[0][key], expected), (
                    key, float(np.max(np.abs(after[0][key] - expected))))
            else:
                exact = np.sum([g.astype(np.float64) for g in grads], axis=0) / n
                err = float(np.max(np.abs(after[0][key] - exact)))
                assert err <= 1e-6 * max(1.0, float(np.max(np.abs(exact)))), (key, err)


# ---- sharded inference -------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("n", [1, 2, 3])
def test_predict_sharded_is_bitwise_single_process_inference(tmp_path_factory, n):
    data = np.load(run_scenario(tmp_path_factory, "predict", n))
    for name in ("gru", "torchstyle"):
        a, b = data[name + "_sharded"], data[name + "_whole"]
        assert a.shape == b.shape and a.dtype == b.dtype, (name, a.shape, b.shape)
        assert np.array_equal(a, b), (name, float(np.max(np.abs(a - b))))
    assert data["all_ranks_equal"].tolist() == [True] * n


# ---- mismatched models: an error on every rank, no hang ------------------------------------------

@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_mismatched_models_raise_on_every_rank(tmp_path_factory, n):
    with open(run_scenario(tmp_path_factory, "mismatch", n)) as f:
        result = json.load(f)
    assert result["size"] == n and len(result["ranks"]) == n
    for r, records in enumerate(result["ranks"]):
        got = dict(records)
        assert len(got) == 5, got
        for what, message in got.items():
            assert message.startswith("ValueError: "), (r, what, message)
        last = "rank %d has module gru (GRU) with " % (n - 1)
        for what in ("broadcast, other hidden size", "allreduce, other hidden size"):
            assert last + "hidden_size=7 where rank 0 has module gru (GRU) with hidden_size=6" \
                in got[what], got[what]
        assert last + "dropout=0.3 where rank 0" in got["broadcast, other dropout"], got
        assert "deterministic" in got["allreduce, other mode"], got
        assert "recorded on ranks 0 and 1" in got["micro-batch 0 on every rank"], got


@needs_mpi
def test_deterministic_mode_refuses_other_kernels_on_another_rank(tmp_path):
    import pygru
    isas = pygru.info()["available_isas"]
    best = pygru.info()["isa"]
    other = next((i for i in isas if i != best), None)
    assert other is not None, "every build has the scalar kernels beside the best: %s" % isas
    out = str(tmp_path / "isa.json")
    # MPMD launch: rank 0 with GRU_ISA=other, rank 1 with the default kernels
    exe, openmpi = _mpirun()
    extra = ["--oversubscribe", "-x", "PYTHONPATH"] if openmpi else []
    cmd = ([exe] + extra + ["-n", "1", "env", "GRU_ISA=" + other, sys.executable, WORKER,
                            "isa", out, ":"] + ["-n", "1", sys.executable, WORKER, "isa", out])
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(),
                           cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail("timed out after %d s: %s\n%s\n%s" % (TIMEOUT, cmd, e.stdout, e.stderr))
    assert r.returncode == 0, (r.stdout, r.stderr)
    with open(out) as f:
        ranks = json.load(f)["ranks"]
    assert [rec[0][0] for rec in ranks] == [other, best]
    for rec in ranks:
        assert "ValueError" in rec[0][2] and "GRU_ISA" in rec[0][2] and \
            "'%s' where rank 0 has" % best in rec[0][2], rec
        assert rec[1][2] == "no error", rec   # fast mode: no promise, no check


# ---- the demo ------------------------------------------------------------------------------------

@needs_mpi
def test_demo_distributed_gives_the_same_table_on_1_and_2_ranks(tmp_path):
    args = ["-m", "pygru", "demo", "--distributed", "--train", "240", "--test", "80",
            "--epochs", "1", "--hidden", "8", "--embedding", "8"]
    outs = {}
    for n in (1, 2):
        folder = tmp_path / ("n%d" % n)
        r = subprocess.run([sys.executable, "-m", "pygru"] + args[2:] + ["--out", str(folder)],
                           capture_output=True, text=True, timeout=TIMEOUT, env=_env(),
                           cwd=ROOT) if n == 1 else mpirun(n, args + ["--out", str(folder)],
                                                 allowed=(0, 1))
        assert r.returncode in (0, 1), (r.stdout, r.stderr)   # 1: too small to PASS
        outs[n] = r
        assert {"pygru-demo-gru.safetensors", "pygru-demo-history.json",
                "pygru-demo-model.safetensors"} <= set(os.listdir(folder))
    strip = lambda text: [line.split("|")[0] if line.startswith("epoch") else line  # noqa: E731
                          for line in text.splitlines()
                          if not line.startswith(("saved", "negated", "pygru demo",
                                                  "data-parallel"))]
    assert strip(outs[2].stdout) == strip(outs[1].stdout)
    assert outs[2].stdout.count("test accuracy") == 1       # rank 0 alone prints
    assert outs[2].stderr.count("epoch 1/1") == 1             # rank 0 alone draws the bar
    assert "data-parallel over 2 MPI rank(s)" in outs[2].stdout


# ---- in this process: shard() and the sampler (no MPI), errors (one rank) ----------

def test_without_mpi4py_the_error_names_the_extra():
    # the module imports (and shard() works) without mpi4py; what needs MPI raises
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import pygru.distributed as d\n"
            "print(d.shard(10, 1, 3))\n"
            "try:\n d.init()\nexcept ImportError as e:\n print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env=_env(), cwd=ROOT)
    assert "slice(4, 7, None)" in r.stdout, (r.stdout, r.stderr)
    assert "pygru.distributed needs mpi4py and an MPI runtime: pip install 'pygru[mpi]'" \
        in r.stdout, (r.stdout, r.stderr)
    demo = subprocess.run([sys.executable, "-c", "import sys; sys.modules['mpi4py'] = None\n"
                           "from pygru.demo.main import main; sys.exit(main(['--distributed']))"],
                          capture_output=True, text=True, timeout=120, env=_env(), cwd=ROOT)
    assert demo.returncode == 2 and "pip install 'pygru[mpi]'" in demo.stderr, (
        demo.returncode, demo.stderr)


def test_shard_cuts_rows_contiguously_and_unevenly():
    from pygru.distributed import shard
    for n in (0, 1, 5, 7, 10):
        for size in (1, 2, 3, 4):
            parts = [shard(n, r, size) for r in range(size)]
            assert np.concatenate([np.arange(n)[p] for p in parts]).tolist() == list(range(n))
            sizes = [p.stop - p.start for p in parts]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
            # with batch_size: whole batches of the global grid, shared out the same way
            for b in (1, 3, 4):
                parts = [shard(n, r, size, batch_size=b) for r in range(size)]
                assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]]
                assert parts[0].start == 0 and parts[-1].stop == n
                assert all(p.start % b == 0 or p.start == n for p in parts)
                nb = [-(-(p.stop - p.start) // b) for p in parts]
                assert max(nb) - min(nb) <= 1, (n, size, b, parts)
    with pytest.raises(ValueError, match="rank must be in 0..1"):
        shard(5, 2, 2)
    with pytest.raises(TypeError, match="n"):
        shard(2.5, 0, 1)


@pytest.mark.parametrize("micro", [3, None])
def test_sampler_covers_every_row_once_per_epoch_on_any_world_size(micro):
    from pygru.data import Batches
    from pygru.distributed import ShardedSampler
    n = 23
    lengths = np.random.default_rng(0).integers(1, 6, n)
    for source in (dict(source=n, batch_size=5, seed=4),
                   dict(source=Batches(np.zeros((n, 5)), batch_size=5, shuffle=True, seed=4,
                                       lengths=lengths, bucket=2))):
        orders = {}
        for size in (1, 2, 3, 5):
            steps = [ShardedSampler(**source, micro_batch_size=micro, rank=r,
                                    world_size=size).epoch(1) for r in range(size)]
            assert len({len(s) for s in steps}) == 1          # same step count everywhere
            order = []
            for k in range(len(steps[0])):
                mine = [mb for r in range(size) for mb in steps[r][k].micro_batches]
                assert [i for i, _ in mine] == list(range(steps[0][k].num_micro_batches))
                order += [int(i) for _, rows in mine for i in rows]
            assert sorted(order) == list(range(n))
            orders[size] = order
        # the epoch's rows in the same order whatever the world size; epoch 1 is not 0
        assert all(o == orders[1] for o in orders.values())
        if micro is not None:   # and so are the micro-batches: world-size invariant
            cut = lambda s: [[int(i) for i in rows] for st in  # noqa: E731
                             ShardedSampler(**source, micro_batch_size=micro, rank=0,
                                            world_size=1).epoch(s)
                             for _, rows in st.micro_batches]
            assert cut(1) == cut(1) and cut(0) != cut(1)


@needs_mpi
def test_arguments_are_checked_with_their_names():
    import pygru
    import pygru.distributed as dist
    gru = pygru.GRU(3, 2)
    with pytest.raises(TypeError, match="model must be a pygru Module"):
        dist.broadcast_parameters(np.zeros(3))
    with pytest.raises(ValueError, match="root must be a rank in 0..0; got 1"):
        dist.broadcast_parameters(gru, root=1)
    with pytest.raises(TypeError, match="micro_batches must be a MicroBatches"):
        dist.allreduce_gradients(gru, micro_batches=[0])
    with pytest.raises(ValueError, match="no rank recorded a micro-batch"):
        dist.allreduce_gradients(gru, micro_batches=dist.MicroBatches(gru))
    with pytest.raises(TypeError, match="predict must be callable"):
        dist.predict_sharded(None, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="batch_size is needed"):
        dist.ShardedSampler(10, 2)
    with pytest.raises(TypeError, match="comm must be an mpi4py Intracomm"):
        dist.init("world")
