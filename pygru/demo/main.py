"""python -m pygru demo - trains the seed's PyTorch-style sentiment GRU with pygru alone
on a corpus pygru generates (no download, no framework), in about a minute on 2 cores.

What it does, in order:
  1. generates the sentiment corpus (pygru.demo.corpus.make_sentiment_corpus): short
     reviews whose label needs word order -- negations ("was not at all bad") and
     verdicts after "but" -- plus plain ones; a train and a test split;
  2. fits a bag-of-words logistic regression (pygru.demo.baseline.BagOfWords) as the
     baseline;
  3. trains pygru.demo.sentiment.TorchStyle (Embedding -> 2-layer bidirectional GRU ->
     BatchNorm1d -> Linear, BCEWithLogits, Adam) with a progress bar;
  4. prints test accuracy overall and on the plain, negated and contrast reviews for
     both models, and chance (the majority class);
  5. saves into --out (default: the current directory) the trained classifier
     (pygru-demo-model.safetensors, pygru.nn Module.save), its GRU alone as a pygru /
     libgru model file (pygru-demo-gru.safetensors: pygru.load, gru_load from C), the
     training history (pygru-demo-history.json) and the loss / accuracy curves
     (pygru-demo-curves.png, if matplotlib is installed), and says where.
With --distributed (run under MPI: `mpirun -n 2 python -m pygru demo --distributed`;
needs pip install 'pygru[mpi]') step 3 is data-parallel over the MPI ranks
(sentiment.train_data_parallel: each batch cut into micro-batches of --micro-batch
reviews shared out among the ranks, gradients summed in a fixed order, so the trained
weights are bitwise the same on any number of ranks) and the test set is scored in
slices (evaluate_sharded); only rank 0 prints, draws the progress bar and writes files,
and an error on any rank aborts them all (MPI_Abort) instead of leaving the others
waiting. Without mpirun, --distributed runs the same algorithm on one rank.
Exit status 0 when the GRU beats both chance and the bag-of-words model on the negated
reviews by the margins it prints (see PASS_MARGIN), 1 otherwise; 2 on a bad option
(argparse). pygru/__main__.py calls main(argv) here; run(args, out) is the same job with
parsed arguments, returning the status and the results.
"""
import argparse
import os
import sys
import time

import numpy as np

PASS_MARGIN = 0.10   # the GRU must beat chance and bag-of-words by 10 points (negated)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m pygru demo", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=".", help="folder for the model, history and plot "
                   "(default: the current directory)")
    p.add_argument("--train", type=_positive, default=8000, help="training reviews (8000)")
    p.add_argument("--test", type=_positive, default=2000, help="test reviews (2000)")
    p.add_argument("--epochs", type=_positive, default=5, help="epochs (5)")
    p.add_argument("--batch-size", type=_positive, default=32, help="batch size (32)")
    p.add_argument("--hidden", type=_positive, default=48, help="GRU hidden size (48)")
    p.add_argument("--embedding", type=_positive, default=32, help="embedding size (32)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (5e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of corpus, weights, batches")
    p.add_argument("--threads", type=_positive, default=None,
                   help="libgru threads (default: GRU_NUM_THREADS or 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI (launch with mpirun -n N; needs "
                        "pip install 'pygru[mpi]')")
    p.add_argument("--micro-batch", type=_positive, default=8,
                   help="with --distributed: reviews per micro-batch, the unit shared out "
                        "among the ranks (8)")
    return p


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive integer, got %r" % text)
    if v < 1:
        raise argparse.ArgumentTypeError("expected a positive integer, got %d" % v)
    return v


def run(args, out=sys.stdout):
    """The demo with parsed arguments; returns (exit status, results dict)."""
    import pygru
    from . import sentiment
    from ..data import pad_sequences
    from ..plot import have_matplotlib, plot_history
    from .baseline import BagOfWords
    from .corpus import make_sentiment_corpus

    comm = None
    if getattr(args, "distributed", False):
        from .. import distributed as dist
        comm = dist.init()
    leader = comm is None or comm.Get_rank() == 0

    def say(*a):   # only rank 0 prints (and draws progress, and writes files)
        if leader:
            print(*a, file=out, flush=True)

    if args.threads:
        pygru.set_num_threads(args.threads)
    if leader:
        os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()

    corpus = make_sentiment_corpus(args.train + args.test, seed=args.seed)
    x, lengths = pad_sequences(corpus.sequences)                 # (N, T) int64, (N,)
    y = corpus.labels
    tr, te = slice(0, args.train), slice(args.train, None)
    groups = {"plain": ~corpus.negated[te] & ~corpus.contrast[te],
              "negated": corpus.negated[te], "contrast": corpus.contrast[te]}
    say("pygru demo: %d training and %d test reviews, vocabulary %d, %d..%d tokens; "
        "libgru %s, %d thread(s)" % (args.train, args.test, len(corpus.vocab),
                                     lengths.min(), lengths.max(), pygru.info()["isa"],
                                     pygru.get_num_threads()))
    if comm is not None:
        say("data-parallel over %d MPI rank(s), micro-batches of %d reviews"
            % (comm.Get_size(), args.micro_batch))
    for i in (0, 1, 2):
        say("  e.g. [%d] %s" % (y[i], corpus.vocab.decode_text(corpus.sequences[i])))

    # the baseline: logistic regression on word counts (rank 0 alone prints it)
    bow_acc = None
    if leader:
        bow = BagOfWords().fit(x[tr], y[tr])
        bow_p = bow.predict_proba(x[te])
        bow_acc = sentiment.accuracy_by_group(bow_p, y[te],
                                              dict(all=np.ones(args.test, bool), **groups))

    model = sentiment.TorchStyle(len(corpus.vocab), args.embedding, args.hidden, seed=args.seed)
    say("model: %s" % _describe(model))
    on_epoch = lambda e, r: say(  # noqa: E731
        "epoch %d: train loss %.4f acc %.3f | test loss %.4f acc %.3f | %.1f s"
        % (e, r["train_loss"], r["train_acc"], r["test_loss"], r["test_acc"], r["seconds"]))
    train_set, test_set = (x[tr], y[tr], lengths[tr]), (x[te], y[te], lengths[te])
    if comm is None:
        history = sentiment.train(model, train_set, test_set, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                  progress=not args.quiet, val_name="test", on_epoch=on_epoch)
        _, _, probs = sentiment.evaluate(model, *test_set)
    else:
        history = sentiment.train_data_parallel(
            model, train_set, test_set, epochs=args.epochs, batch_size=args.batch_size,
            micro_batch_size=args.micro_batch, lr=args.lr, seed=args.seed,
            progress=not args.quiet, val_name="test", on_epoch=on_epoch, comm=comm)
        _, _, probs = sentiment.evaluate_sharded(model, *test_set, comm=comm)
        if not leader:   # the other ranks end here, with rank 0's status
            return comm.bcast(None, root=0), {"gru": None, "history": history}
    gru_acc = sentiment.accuracy_by_group(probs, y[te], dict(all=np.ones(args.test, bool), **groups))
    chance = max(np.mean(y[te]), 1 - np.mean(y[te]))

    say("")
    say("test accuracy        all    plain  negated contrast")
    for name, acc in (("GRU (pygru)", gru_acc), ("bag of words", bow_acc)):
        say("  %-16s %6.3f %8.3f %8.3f %8.3f" % (name, acc["all"], acc.get("plain", np.nan),
                                                 acc.get("negated", np.nan),
                                                 acc.get("contrast", np.nan)))
    say("  %-16s %6.3f" % ("chance", chance))

    paths = {"model": model.save(os.path.join(args.out, "pygru-demo-model.safetensors"),
                                 metadata={k: str(v) for k, v in model.config.items()}),
             "gru": model.gru.save(os.path.join(args.out, "pygru-demo-gru.safetensors")),
             "history": history.save(os.path.join(args.out, "pygru-demo-history.json"))}
    if have_matplotlib():
        paths["curves"] = plot_history(history, os.path.join(args.out, "pygru-demo-curves.png"),
                                       title="pygru demo: TorchStyle GRU on the generated corpus")
    else:
        say("matplotlib is not installed: no curves plotted (pip install 'pygru[plot]')")
    say("")
    for what, path in paths.items():
        say("saved %-8s %s" % (what, os.path.abspath(path)))

    margin_chance = gru_acc["negated"] - chance
    margin_bow = gru_acc["negated"] - bow_acc["negated"]
    ok = margin_chance >= PASS_MARGIN and margin_bow >= PASS_MARGIN
    say("negated reviews: the GRU is %+.1f points over chance and %+.1f over bag-of-words "
        "(needs +%.0f): %s; %.0f s in all"
        % (100 * margin_chance, 100 * margin_bow, 100 * PASS_MARGIN,
           "PASS" if ok else "FAIL", time.perf_counter() - t_start))
    results = {"gru": gru_acc, "bag_of_words": bow_acc, "chance": float(chance),
               "paths": paths, "history": history}
    if comm is not None:
        comm.bcast(0 if ok else 1, root=0)
    return (0 if ok else 1), results


def _describe(model):
    n = sum(p.size for p in model.parameters())
    c = model.config
    return ("Embedding(%d, %d) -> GRU(%d, %d, layers=%d, bidirectional, dropout=%g) -> "
            "BatchNorm1d -> Linear: %d parameters"
            % (c["vocab_size"], c["embedding_dim"], c["embedding_dim"], c["hidden_dim"],
               c["num_layers"], c["dropout"], n))


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.distributed:
        return run(args)[0]
    from .. import distributed as dist
    try:
        comm = dist.init()
    except ImportError as e:   # no mpi4py: the message names the extra
        print("python -m pygru demo --distributed: %s" % e, file=sys.stderr)
        return 2
    try:
        return run(args)[0]
    except BaseException:
        if comm.Get_size() == 1:
            raise
        # the other ranks may wait in a collective for this one: end them all
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)


if __name__ == "__main__":
    sys.exit(main())
