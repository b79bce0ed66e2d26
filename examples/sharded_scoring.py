"""examples/sharded_scoring.py - score many time series with one GRU model across MPI
processes (pygru.distributed.predict_sharded), with the same bits as one process.

    mpirun -n 2 python examples/sharded_scoring.py                  # 20 000 series
    mpirun -n 3 --oversubscribe python examples/sharded_scoring.py --series 100000
    mpirun -n 2 python examples/sharded_scoring.py --model distributed_forecast_model.safetensors
    mpirun -n 2 python examples/sharded_scoring.py --per-rank-files  # no gather
    (as root, Open MPI also wants --allow-run-as-root; needs pip install 'pygru[mpi]')

What it does:
  1. every rank builds the same --series noisy sine waves of --length steps (seeded:
     in real use each rank would read only its own slice from storage, see
     --per-rank-files), and the model: the Forecaster of examples/forecast.py, loaded
     from --model (e.g. what examples/distributed_forecast.py saved) or with random
     weights from --seed;
  2. predict_sharded cuts the series into batches of --batch-size, gives each rank a
     contiguous run of whole batches, and gathers the scores on rank 0, in order;
     rank 0 writes them to scores.npy in --out. With --per-rank-files each rank
     instead writes its own slice, scores-rank<r>-of-<n>.npy with the row range in
     the name (pygru.distributed.shard(N, batch_size=...) gives the slice: the same
     whole batches as predict_sharded), and nothing is gathered;
  3. rank 0 prints the time and a SHA-256 of all scores (with --per-rank-files each
     rank prints its slice's): the same for any number of ranks.
Only rank 0 writes the gathered file. Exit status 0; 2 for a bad argument.
"""
import argparse
import hashlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forecast import Forecaster   # noqa: E402

import pygru.distributed as dist   # noqa: E402  (ImportError: pip install 'pygru[mpi]')


def make_series(n, length, seed):
    """n noisy sine waves (n, length, 1) float32, scaled like the forecaster's inputs."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    period = rng.uniform(8, 14, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(2 * np.pi * t / period + phase) + 0.1 * rng.standard_normal((n, length))
    return x[:, :, None].astype(np.float32)


def load_model(path, hidden, window, seed):
    if path is None:
        return Forecaster(hidden, 1, 1, seed=seed).eval()
    from pygru.modelfile import read_tensors
    tensors, meta = read_tensors(path)
    model = Forecaster(int(meta.get("hidden", hidden)), 1, 1)
    model.load_state_dict(tensors)
    return model.eval()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", type=int, default=20000, help="number of series (20000)")
    p.add_argument("--length", type=int, default=20, help="steps per series (20)")
    p.add_argument("--batch-size", type=int, default=512, help="series per batch (512)")
    p.add_argument("--model", default=None, help="a Forecaster file (default: random weights)")
    p.add_argument("--hidden", type=int, default=32, help="hidden size without --model (32)")
    p.add_argument("--seed", type=int, default=0, help="series and weights (0)")
    p.add_argument("--per-rank-files", action="store_true",
                   help="each rank writes its own slice; nothing is gathered")
    p.add_argument("--out", default=".", help="folder for the scores (.)")
    args = p.parse_args(argv)
    for name in ("series", "length", "batch_size", "hidden"):
        if getattr(args, name) < 1:
            p.error("--%s must be >= 1; got %d" % (name.replace("_", "-"), getattr(args, name)))

    dist.init()
    r, n = dist.rank(), dist.world_size()
    x = make_series(args.series, args.length, args.seed)        # (N, L, 1)
    model = load_model(args.model, args.hidden, args.length, args.seed)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    if args.per_rank_files:
        # the other recipe: each rank scores and writes only its own rows
        # the rows predict_sharded would give this rank: whole batches of the same grid,
        # so the files hold bitwise the scores it would have gathered
        mine = dist.shard(args.series, batch_size=args.batch_size)
        scores = np.concatenate([model(x[i:min(i + args.batch_size, mine.stop)])
                                 for i in range(mine.start, mine.stop, args.batch_size)]
                                or [np.empty((0, 1), np.float32)])
        path = os.path.join(args.out, "scores-rank%d-of-%d-rows%d-%d.npy"
                            % (r, n, mine.start, mine.stop))
        np.save(path, scores)
        print("rank %d: rows %d..%d -> %s (sha256 %s)"
              % (r, mine.start, mine.stop, path,
                 hashlib.sha256(scores.tobytes()).hexdigest()[:16]), flush=True)
        return 0
    scores = dist.predict_sharded(model, x, batch_size=args.batch_size)   # rank 0: (N, 1)
    if r == 0:
        seconds = time.perf_counter() - start
        path = os.path.join(args.out, "scores.npy")
        np.save(path, scores)
        print("%d series of %d steps scored on %d rank(s) in %.2f s (%.0f series/s); "
              "scores sha256 %s (the same for any number of ranks); saved %s"
              % (args.series, args.length, n, seconds, args.series / seconds,
                 hashlib.sha256(scores.tobytes()).hexdigest()[:16], os.path.abspath(path)),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
