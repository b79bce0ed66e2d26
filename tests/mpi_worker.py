"""tests/mpi_worker.py - what every rank runs in tests/test_distributed.py, launched as
`mpirun -n N python tests/mpi_worker.py SCENARIO OUT` (not a test module itself).

Each scenario computes on every rank and gathers to rank 0, which writes OUT (an .npz
of arrays, or a .json) for the test to compare; the comparisons and assertions live
in the test, so that a failure names the tensor and the error. Scenarios:
  broadcast   models built with a different seed on each rank, broadcast from
              root=last rank: every rank's state before and after;
  train-det   a few steps of data-parallel training of a small TorchStyle model
              (embedding, 2-layer bidirectional GRU with dropout, BatchNorm, Linear)
              with micro-batches of 4 and uneven shards: the final state of every rank;
  train-ranksum  the same with each rank's micro-batches summed locally first and then
              reduced deterministically over ranks (the rank-ordered sum the issue
              says is not enough): for the test's control;
  train-fast  the same with deterministic=False (MPI's Allreduce);
  allreduce   a pygru.GRU (gradients reduced in place, zero-copy) with each rank's own
              gradient: the gradients before (all ranks) and after (all ranks), both
              modes, and whether the reduction wrote into libgru's own buffer;
  predict     predict_sharded of a pygru.GRU (lengths) against one call on all rows,
              and of a TorchStyle in eval mode against one process over the same
              batches, on rank 0;
  mismatch    the last rank's model has another hidden size, then another dropout:
              every rank records the ValueError of broadcast_parameters,
              allreduce_gradients and MicroBatches indices recorded twice;
  isa         (rank 0 launched with another GRU_ISA) the deterministic all-reduce
              refuses kernels that differ across ranks; the fast mode accepts them.
"""
import json
import sys

import numpy as np

import pygru
import pygru.distributed as dist
import pygru.nn as nn
import pygru.optim as optim
from pygru.demo.sentiment import TorchStyle

comm = dist.init()
RANK, SIZE = dist.rank(), dist.world_size()


def gather_states(model):
    """{'<rank>/<key>': array} of every rank's state, on rank 0 (None elsewhere)."""
    states = comm.gather(dict(model.state_dict()), root=0)
    if RANK != 0:
        return None
    return {"%d/%s" % (r, k): np.asarray(v) for r, s in enumerate(states) for k, v in s.items()}


def toy_data(n=50, t=7, vocab=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, t))
    lengths = rng.integers(1, t + 1, n).astype(np.int32)
    y = rng.integers(0, 2, n)
    return x, lengths, y


def scenario_broadcast(out):
    model = TorchStyle(30, 8, 6, seed=RANK)
    model.batch_norm.running_mean[...] = RANK     # buffers differ too
    gru = pygru.GRU(5, 4, num_layers=2, seed=10 + RANK)
    before = gather_states(model)
    root = SIZE - 1
    dist.broadcast_parameters(model, root=root)
    dist.broadcast_parameters(gru, root=root)
    after = gather_states(model)
    after_gru = gather_states(gru)
    if RANK == 0:
        arrays = {"before/" + k: v for k, v in before.items()}
        arrays.update({"after/" + k: v for k, v in after.items()})
        arrays.update({"gru/" + k: v for k, v in after_gru.items()})
        np.savez(out, root=root, **arrays)


def train(mode, steps_per_epoch_cap=None):
    x, lengths, y = toy_data()
    model = TorchStyle(30, 8, 6, seed=RANK)       # broadcast makes rank 0's the start
    dist.broadcast_parameters(model)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    crit = nn.BCEWithLogitsLoss(reduction="sum")
    micro = dist.MicroBatches(model, seed=3)
    # 50 rows, batches of 12: 5 steps per epoch, the last one of 2 rows; micro-batches
    # of 4: 3, 3, 3, 3, 1 per step, shared out unevenly over 2 or 3 ranks
    sampler = dist.ShardedSampler(len(y), micro_batch_size=4, batch_size=12, seed=1)
    for epoch in range(2):
        for step in sampler.epoch(epoch):
            for index, rows in step.micro_batches:
                with micro.micro_batch(index):
                    logits = model(x[rows], lengths[rows])
                    crit(logits, y[rows].astype(np.float32))
                    model.backward(crit.backward() / np.float32(step.size))
            if mode == "det":
                dist.allreduce_gradients(model, average=False, micro_batches=micro)
            elif mode == "fast":
                dist.allreduce_gradients(model, average=False, deterministic=False,
                                         micro_batches=micro)
            else:   # ranksum: this rank's micro-batches summed first, then over ranks
                mine = sorted(micro._leaves)
                total = None
                for i in mine:
                    v = micro._leaves[i][0][:micro._flat.size]
                    total = v.copy() if total is None else total + v
                micro._flat.scatter(np.zeros(micro._flat.size, micro._flat.dtype)
                                    if total is None else total)
                dist.allreduce_gradients(model, average=False)
                micro._finish()
            optim.clip_grad_norm_(list(model.parameters()), 1.0)
            opt.step()
    return model


def scenario_train(out, mode):
    states = gather_states(train(mode))
    if RANK == 0:
        np.savez(out, size=SIZE, **states)


def scenario_allreduce(out):
    gru = pygru.GRU(6, 5, num_layers=2, bidirectional=True, seed=0)
    rng = np.random.default_rng(100 + RANK)
    results = {}
    for mode in ("det", "fast"):
        gru.zero_grad()
        out_, _ = gru(rng.standard_normal((4, 3, 6)).astype(np.float32))
        gru.backward(rng.standard_normal(out_.shape).astype(np.float32))
        before = gather_states_of_grads(gru)
        first = gru.weight_ih_l0.grad
        address = first.__array_interface__["data"][0]
        dist.allreduce_gradients(gru, average=True, deterministic=(mode == "det"))
        after = gather_states_of_grads(gru)
        in_place = address == gru.weight_ih_l0.grad.__array_interface__["data"][0]
        if RANK == 0:
            results.update({"%s/before/%s" % (mode, k): v for k, v in before.items()})
            results.update({"%s/after/%s" % (mode, k): v for k, v in after.items()})
    flat = dist._FlatGrads(gru)
    zero_copy = comm.gather(flat.view is not None, root=0)
    if RANK == 0:
        np.savez(out, size=SIZE, zero_copy=np.array(zero_copy), **results)


def gather_states_of_grads(model):
    grads = comm.gather({k: np.array(p.grad, copy=True) for k, p in model.named_parameters()},
                        root=0)
    if RANK != 0:
        return None
    return {"%d/%s" % (r, k): v for r, g in enumerate(grads) for k, v in g.items()}


def scenario_predict(out):
    rng = np.random.default_rng(7)
    n = 37
    gru = pygru.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True, seed=1)
    x = rng.standard_normal((n, 9, 5)).astype(np.float32)
    lengths = rng.integers(1, 10, n).astype(np.int32)
    sharded = dist.predict_sharded(lambda xb, lb: gru(xb, lengths=lb)[0], (x, lengths),
                                   batch_size=4)
    everywhere = dist.predict_sharded(lambda xb, lb: gru(xb, lengths=lb)[0], (x, lengths),
                                      batch_size=5, all_ranks=True)
    model = TorchStyle(30, 8, 6, seed=2).eval()
    tx, tl, _ = toy_data(n)
    logits = dist.predict_sharded(lambda xb, lb: model(xb, lb), (tx, tl), batch_size=3)
    agree = comm.gather(bool(np.array_equal(everywhere, gru(x, lengths=lengths)[0])), root=0)
    if RANK == 0:
        # the GRU: one call on all rows; TorchStyle (NumPy's matmul in Linear): one
        # process over the same batches of 3 rows
        in_threes = np.concatenate([model(tx[i:i + 3], tl[i:i + 3]) for i in range(0, n, 3)])
        np.savez(out, size=SIZE, gru_sharded=sharded, gru_whole=gru(x, lengths=lengths)[0],
                 torchstyle_sharded=logits, torchstyle_whole=in_threes,
                 all_ranks_equal=np.array(agree))


def scenario_mismatch(out):
    last = RANK == SIZE - 1
    records = []

    def attempt(what, fn):
        try:
            fn()
            records.append([what, "no error"])
        except ValueError as e:
            records.append([what, "ValueError: %s" % e])

    model = TorchStyle(30, 8, 7 if last else 6, seed=0)
    attempt("broadcast, other hidden size", lambda: dist.broadcast_parameters(model))
    attempt("allreduce, other hidden size", lambda: dist.allreduce_gradients(model))
    model = TorchStyle(30, 8, 6, dropout=0.3 if last else 0.2, seed=0)
    attempt("broadcast, other dropout", lambda: dist.broadcast_parameters(model))
    same = TorchStyle(30, 8, 6, seed=0)
    attempt("allreduce, other mode", lambda: dist.allreduce_gradients(
        same, deterministic=not last))
    micro = dist.MicroBatches(same)
    x, lengths, y = toy_data()
    with micro.micro_batch(0):                      # every rank records index 0
        same(x[:4], lengths[:4])
        same.backward(np.ones(4, np.float32))
    if SIZE > 1:
        attempt("micro-batch 0 on every rank",
                lambda: dist.allreduce_gradients(same, micro_batches=micro))
    everything = comm.gather(records, root=0)
    if RANK == 0:
        with open(out, "w") as f:
            json.dump({"size": SIZE, "ranks": everything}, f, indent=1)


def scenario_isa(out):
    """Launched with another GRU_ISA on rank 0 than on the others."""
    gru = pygru.GRU(3, 4, seed=0)
    records = []
    for deterministic in (True, False):
        try:
            dist.allreduce_gradients(gru, deterministic=deterministic)
            records.append([gru.isa, deterministic, "no error"])
        except ValueError as e:
            records.append([gru.isa, deterministic, "ValueError: %s" % e])
    everything = comm.gather(records, root=0)
    if RANK == 0:
        with open(out, "w") as f:
            json.dump({"size": SIZE, "ranks": everything}, f, indent=1)


if __name__ == "__main__":
    name, path = sys.argv[1], sys.argv[2]
    if name.startswith("train-"):
        scenario_train(path, name[len("train-"):])
    else:
        globals()["scenario_" + name](path)
    comm.Barrier()
