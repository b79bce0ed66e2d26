"""examples/distributed_forecast.py - the sunspot forecaster of examples/forecast.py
trained data-parallel over MPI (pygru.distributed), with weights that are bitwise the
same on any number of processes.

    mpirun -n 2 python examples/distributed_forecast.py          # about 10 s on 2 cores
    mpirun -n 3 --oversubscribe python examples/distributed_forecast.py
    python examples/distributed_forecast.py                      # one process, same bits
    (as root, Open MPI also wants --allow-run-as-root; needs pip install 'pygru[mpi]')

What it does:
  1. every rank prepares the same data as examples/forecast.py (split, scaling,
     windows; imported from it) and builds the Forecaster with --seed; rank 0's
     weights are broadcast (broadcast_parameters) so every rank starts equal;
  2. each epoch's shuffled batches of --batch-size windows are cut into micro-batches
     of --micro-batch windows shared out among the ranks (ShardedSampler); each rank
     runs forward and backward on its micro-batches (MicroBatches.micro_batch), the
     gradients are summed over all ranks in a fixed tree over the global micro-batch
     indices (allreduce_gradients), and every rank clips and steps the same gradient
     with Adam: the ranks stay bitwise equal, and so do runs on 1, 2 or 3 ranks;
  3. after each epoch the validation windows are scored in slices (predict_sharded),
     and the weights of the best epoch are kept (the same choice on every rank);
  4. rank 0 prints the RMSE and MAE on the held-out tail next to the naive forecast,
     a SHA-256 of the trained weights (compare it between runs with different -n:
     it is the same), and saves the model (--out, default: the current directory).
Only rank 0 prints and writes. Exit status 0; 2 for a bad argument.
"""
import argparse
import hashlib
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forecast import Forecaster, errors, prepare   # noqa: E402

import pygru.distributed as dist   # noqa: E402  (ImportError: pip install 'pygru[mpi]')
import pygru.nn as nn   # noqa: E402
import pygru.optim as optim   # noqa: E402
from pygru.data import load_sunspots   # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=60, help="epochs (60)")
    p.add_argument("--batch-size", type=int, default=16, help="windows per global batch (16)")
    p.add_argument("--micro-batch", type=int, default=4,
                   help="windows per micro-batch, the unit shared out among ranks (4)")
    p.add_argument("--hidden", type=int, default=32, help="GRU hidden size (32)")
    p.add_argument("--window", type=int, default=20, help="input years (20)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (0.003)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (1)")
    p.add_argument("--seed", type=int, default=0, help="weights, batches, micro-batch seeds")
    p.add_argument("--out", default=".", help="folder for the model (.)")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "micro_batch", "hidden", "window"):
        if getattr(args, name) < 1:
            p.error("--%s must be >= 1; got %d" % (name.replace("_", "-"), getattr(args, name)))
    return args


def main(argv=None):
    args = parse_args(argv)
    comm = dist.init()
    leader = dist.rank() == 0
    say = (lambda *a: print(*a, flush=True)) if leader else (lambda *a: None)
    start = time.perf_counter()

    # 1. the same data on every rank; rank 0's weights everywhere
    years, values = load_sunspots()
    d = prepare(values, args.window, 1, 30, 40, "sqrt")
    model = Forecaster(args.hidden, 1, 1, seed=args.seed + dist.rank())   # differ on purpose:
    dist.broadcast_parameters(model)                                      # rank 0's win
    say("%d rank(s); %d training windows, batches of %d cut into micro-batches of %d"
        % (dist.world_size(), len(d.X_fit), args.batch_size, args.micro_batch))

    # 2. data-parallel epochs
    opt = optim.Adam(model.parameters(), lr=args.lr)
    crit = nn.MSELoss(reduction="sum")
    sampler = dist.ShardedSampler(len(d.X_fit), args.micro_batch, batch_size=args.batch_size,
                                  seed=args.seed)
    micro = dist.MicroBatches(model, seed=args.seed)
    best = (math.inf, 0, None)
    for epoch in range(args.epochs):
        for step in sampler.epoch(epoch):
            for index, rows in step.micro_batches:
                with micro.micro_batch(index):
                    crit(model(d.X_fit[rows]), d.y_fit[rows])
                    # the gradient of the global batch's mean squared error
                    model.backward(crit.backward() / np.float32(step.size))
            dist.allreduce_gradients(model, average=False, micro_batches=micro)
            optim.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
        # 3. validation, scored in slices; every rank gets the forecasts
        model.eval()
        z_val = dist.predict_sharded(model, d.X_val, batch_size=64, all_ranks=True)
        model.train()
        rmse = errors(d.truth_val, d.scaling.unscale(z_val))[0]
        if rmse < best[0]:
            best = (rmse, epoch + 1, model.state_dict())
    model.load_state_dict(best[2])
    model.eval()

    # 4. the report, on rank 0 (the tail is scored in slices too)
    z_test = dist.predict_sharded(model, d.X_test, batch_size=64)
    if leader:
        gru = errors(d.truth_test, d.scaling.unscale(z_test))
        naive_pred = values[d.t_test - 1][:, None]
        naive = errors(d.truth_test, naive_pred)
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(v).tobytes()
                                         for v in model.state_dict().values())).hexdigest()
        say("best epoch %d of %d (validation RMSE %.2f); %.1f s"
            % (best[1], args.epochs, best[0], time.perf_counter() - start))
        say("tail %d-%d        RMSE    MAE" % (years[d.n_train], years[-1]))
        say("    GRU          %6.2f %6.2f" % gru[:2])
        say("    naive        %6.2f %6.2f" % naive[:2])
        say("weights sha256 %s (the same for any number of ranks)" % digest[:16])
        os.makedirs(args.out, exist_ok=True)
        path = model.save(os.path.join(args.out, "distributed_forecast_model.safetensors"),
                          metadata={"hidden": str(args.hidden), "window": str(args.window)})
        say("saved %s" % os.path.abspath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
