"""pygru.demo.sentiment - the two GRU sentiment classifiers of the documents pygru grew
from, built from pygru.nn alone, and the loop that trains and evaluates them. Part of
the demo application, not of the library: used by `python -m pygru demo` and by
examples/sentiment_torch_style.py and examples/sentiment_keras_style.py.

TorchStyle (the PyTorch SentimentGRU of the seed article):
    Embedding(V, E, padding_idx=0) -> GRU(E, H, num_layers=2, bidirectional=True,
    dropout=0.2, batch_first=True) -> each sequence's last valid step (B, 2H) ->
    BatchNorm1d(2H) -> Linear(2H, 1) -> logit;  loss BCEWithLogitsLoss.
  The article's gru_out[:, -1, :] on a padded batch is the output at step T-1, which
  for shorter sequences is padding; here each sequence's own last step is taken
  (pygru.nn.LastValid, with the lengths), which is what the article means.

KerasStyle (the Keras Sequential of the seed article):
    Embedding(V, E) -> GRU(E, H, dropout=0.2, recurrent_dropout=0.2) -> final state
    (B, H) -> Dense(1, sigmoid);  loss binary cross-entropy, Adam.
  Dense(1, sigmoid) + binary cross-entropy is computed as Linear + BCEWithLogitsLoss,
  the same function without the log(sigmoid) round trip. Keras' dropout and
  recurrent_dropout are pygru's input_dropout and recurrent_dropout (one mask per
  sequence, fixed in time). Initialised as Keras does: embedding U(-0.05, 0.05),
  kernels Glorot-uniform, the recurrent kernel orthogonal, biases zero.

Both models: forward(tokens (B, T) int, lengths (B,)) -> logits (B,); backward(dlogits
(B,)) propagates through every layer in reverse order and accumulates the parameter
gradients. train() runs epochs of mini-batches (length-bucketed, trimmed to each
batch's longest sequence) with Adam and gradient-norm clipping, shows progress and
records a History; evaluate() returns loss, accuracy and the predictions.
train_data_parallel() and evaluate_sharded() are the same over MPI (pygru.distributed):
every global batch is cut into micro-batches of a fixed size shared out among the
ranks, and the weights after training are bitwise the same on any number of ranks.
load_reviews() gives the data of the examples (the generated corpus, or IMDB from an
imdb.npz file or an aclImdb/ folder) and run_example() is their command line.
"""
import argparse
import os
import time

import numpy as np

from .. import nn, optim
from ..data import batches
from ..progress import History, Progress

__all__ = ["TorchStyle", "KerasStyle", "train", "evaluate", "accuracy_by_group",
           "train_data_parallel", "evaluate_sharded"]


class TorchStyle(nn.Module):
    """Embedding -> 2-layer bidirectional GRU -> last valid step -> BatchNorm1d ->
    Linear (the seed's SentimentGRU)."""

    def __init__(self, vocab_size, embedding_dim=32, hidden_dim=48, num_layers=2,
                 dropout=0.2, bidirectional=True, seed=0):
        super().__init__()
        D = 2 if bidirectional else 1
        self.config = dict(vocab_size=vocab_size, embedding_dim=embedding_dim,
                           hidden_dim=hidden_dim, num_layers=num_layers, dropout=dropout,
                           bidirectional=bidirectional)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0, seed=seed)
        self.gru = nn.GRU(embedding_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0,
                          bidirectional=bidirectional, seed=seed + 1)
        self.last = nn.LastValid(batch_first=True)
        self.batch_norm = nn.BatchNorm1d(D * hidden_dim)
        self.fc = nn.Linear(D * hidden_dim, 1, seed=seed + 2)

    def forward(self, tokens, lengths):
        e = self.embedding(tokens)                 # (B, T, E)
        out, _ = self.gru(e, lengths=lengths)      # (B, T, D*H)
        y = self.last(out, lengths)                # (B, D*H) each sequence's last step
        y = self.batch_norm(y)                     # (B, D*H)
        return self.fc(y)[:, 0]                    # (B,) logits

    def backward(self, grad_logits):
        g = self.fc.backward(grad_logits[:, None])   # (B, D*H)
        g = self.batch_norm.backward(g)               # (B, D*H)
        g = self.last.backward(g)                     # (B, T, D*H)
        g, _ = self.gru.backward(g)                   # (B, T, E)
        self.embedding.backward(g)                    # token ids: no gradient


def _glorot_uniform(rng, fan_out, fan_in):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_out, fan_in))


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))               # Haar-distributed orthogonal (n, n)


class KerasStyle(nn.Module):
    """Embedding -> GRU(dropout, recurrent_dropout) -> final state -> Dense(1) (the
    seed's Keras Sequential), with Keras' initialisation."""

    def __init__(self, vocab_size, embedding_dim=32, hidden_dim=48, dropout=0.2,
                 recurrent_dropout=0.2, seed=0):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, embedding_dim=embedding_dim,
                           hidden_dim=hidden_dim, dropout=dropout,
                           recurrent_dropout=recurrent_dropout)
        rng = np.random.default_rng(seed)
        E, H = embedding_dim, hidden_dim
        self.embedding = nn.Embedding(vocab_size, E, seed=seed)
        self.embedding.weight.data[...] = rng.uniform(-0.05, 0.05, (vocab_size, E))
        self.gru = nn.GRU(E, H, batch_first=True, input_dropout=dropout,
                          recurrent_dropout=recurrent_dropout, seed=seed + 1)
        # Keras: kernel (E, 3H) Glorot-uniform over the whole matrix, recurrent kernel
        # orthogonal per gate block, zero biases (PyTorch layout: rows r, z, n)
        self.gru.weight_ih_l0.data[...] = _glorot_uniform(rng, 3 * H, E)
        self.gru.weight_hh_l0.data[...] = np.concatenate([_orthogonal(rng, H) for _ in range(3)])
        self.gru.bias_ih_l0.data[...] = 0
        self.gru.bias_hh_l0.data[...] = 0
        self.final = nn.FinalStates(num_layers=1, bidirectional=False)
        self.fc = nn.Linear(H, 1, seed=seed + 2)
        self.fc.weight.data[...] = _glorot_uniform(rng, 1, H)
        self.fc.bias.data[...] = 0

    def forward(self, tokens, lengths):
        e = self.embedding(tokens)                 # (B, T, E)
        _, h_n = self.gru(e, lengths=lengths)      # (1, B, H) the state after each
        y = self.final(h_n)                        # sequence's last token: (B, H)
        return self.fc(y)[:, 0]                    # (B,) logits

    def backward(self, grad_logits):
        g = self.fc.backward(grad_logits[:, None])   # (B, H)
        g_hn = self.final.backward(g)                 # (1, B, H)
        g, _ = self.gru.backward(None, g_hn)          # (B, T, E)
        self.embedding.backward(g)


def evaluate(model, x, y, lengths, batch_size=256):
    """Eval-mode pass over (x (N, T) ids, y (N,) 0/1, lengths (N,)): (mean loss,
    accuracy, probabilities (N,)). Restores the model's mode."""
    was_training = model.training
    model.eval()
    crit = nn.BCEWithLogitsLoss(reduction="sum")
    total, probs = 0.0, np.empty(len(y))
    start = 0
    for xb, yb, lb in batches(x, y, batch_size=batch_size, lengths=lengths):
        logits = model(xb, lb)                                      # (b,)
        total += float(crit(logits, yb.astype(logits.dtype)))
        probs[start:start + len(yb)] = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        start += len(yb)
    model.train(was_training)
    return total / len(y), float(np.mean((probs > 0.5) == (y == 1))), probs


def accuracy_by_group(probs, y, groups):
    """{name: accuracy} over the rows where each boolean mask in groups is true."""
    hit = (probs > 0.5) == (y == 1)
    return {name: float(np.mean(hit[mask])) for name, mask in groups.items() if mask.any()}


def train(model, train_set, val_set=None, epochs=5, batch_size=64, lr=3e-3, clip=1.0,
          seed=0, progress=True, history=None, on_epoch=None, val_name="val"):
    """Trains model on train_set = (x (N, T), y (N,), lengths (N,)) with Adam and
    gradient-norm clipping (clip None: off) for `epochs` epochs; after each epoch
    evaluates val_set (same form) when given. Logs train_loss, train_acc (running, in
    training mode), <val_name>_loss, <val_name>_acc and seconds per epoch into history
    (a new History when None), calls on_epoch(epoch, record) if given, and returns
    history. Nothing is selected on val_set: it may be a test set."""
    x, y, lengths = train_set
    history = History() if history is None else history
    opt = optim.Adam(model.parameters(), lr=lr)
    crit = nn.BCEWithLogitsLoss()
    data = batches(x, y, batch_size=batch_size, shuffle=True, seed=seed, lengths=lengths,
                   bucket=8)
    params = list(model.parameters())
    model.train()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        with Progress(len(data), desc="epoch %d/%d" % (epoch, epochs), enabled=progress,
                      item_unit="reviews") as bar:
            for xb, yb, lb in data:
                opt.zero_grad()
                logits = model(xb, lb)                               # (b,)
                target = yb.astype(logits.dtype)
                loss = float(crit(logits, target))
                model.backward(crit.backward())
                if clip is not None:
                    optim.clip_grad_norm_(params, clip)
                opt.step()
                acc = float(np.mean((logits > 0) == (yb == 1)))
                bar.update(items=len(yb), loss=loss, acc=acc)
        record = dict(train_loss=bar.means["loss"], train_acc=bar.means["acc"],
                      seconds=time.perf_counter() - t0)
        if val_set is not None:
            vloss, vacc, _ = evaluate(model, *val_set)
            record.update({val_name + "_loss": vloss, val_name + "_acc": vacc})
        history.log(epoch, **record)
        if on_epoch is not None:
            on_epoch(epoch, record)
    return history


def evaluate_sharded(model, x, y, lengths, batch_size=256, comm=None):
    """evaluate() over MPI: each rank scores a contiguous slice of the rows
    (pygru.distributed.predict_sharded), every rank gets all the logits. Returns the
    same (mean loss, accuracy, probabilities (N,)) on every rank; the probabilities
    are bitwise those of a single process (the loss is summed in float64)."""
    from .. import distributed as dist
    was_training = model.training
    model.eval()

    def logits_of(xb, lb):
        return model(np.ascontiguousarray(xb[:, :int(lb.max())]), lb)   # (b,)
    try:
        logits = dist.predict_sharded(logits_of, (x, lengths), batch_size=batch_size,
                                      all_ranks=True, comm=comm).astype(np.float64)
    finally:
        model.train(was_training)
    t = (np.asarray(y) == 1).astype(np.float64)
    # BCE with logits, stable form: max(z, 0) - z t + log(1 + exp(-|z|))
    losses = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
    probs = 1.0 / (1.0 + np.exp(-logits))
    return float(np.mean(losses)), float(np.mean((probs > 0.5) == (t == 1))), probs


def train_data_parallel(model, train_set, val_set=None, epochs=5, batch_size=64,
                        micro_batch_size=8, lr=3e-3, clip=1.0, seed=0, progress=True,
                        history=None, on_epoch=None, val_name="val", comm=None):
    """train() over MPI, data-parallel: call it on every rank with the same arguments.
    Rank 0's weights are broadcast first; each global batch (the same length-bucketed,
    shuffled batches as train()) is cut into micro-batches of micro_batch_size rows,
    shared out among the ranks (pygru.distributed.ShardedSampler); each micro-batch's
    gradient is recorded (MicroBatches), the gradients are summed in a fixed tree over
    the global micro-batch indices (allreduce_gradients, deterministic), then every
    rank clips and steps the same gradient. So the weights are bitwise the same on
    every rank and for any number of ranks (1, 2, 3, ...). The loss is the global
    batch's mean, as in train(); BatchNorm sees micro-batches (its running statistics
    move once per step, by the micro-batches' mean). Only rank 0 shows progress
    (progress=True); every rank returns the same History (train_loss/acc: the
    global batch's, summed in micro-batch order; the validation by evaluate_sharded)."""
    from .. import distributed as dist
    comm = dist.get_comm(comm)
    leader = comm.Get_rank() == 0
    x, y, lengths = train_set
    history = History() if history is None else history
    dist.broadcast_parameters(model, comm=comm)
    opt = optim.Adam(model.parameters(), lr=lr)
    crit = nn.BCEWithLogitsLoss(reduction="sum")
    data = batches(x, y, batch_size=batch_size, shuffle=True, seed=seed, lengths=lengths,
                   bucket=8)
    sampler = dist.ShardedSampler(data, micro_batch_size, comm=comm)
    micro = dist.MicroBatches(model, seed=seed)
    params = list(model.parameters())
    model.train()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        steps = sampler.epoch(epoch - 1)
        with Progress(len(steps), desc="epoch %d/%d" % (epoch, epochs),
                      enabled=progress and leader, item_unit="reviews") as bar:
            for step in steps:
                mine = []
                for index, rows in step.micro_batches:
                    xb, yb, lb = data._take(rows)
                    with micro.micro_batch(index):
                        logits = model(xb, lb)                               # (b,)
                        loss_sum = float(crit(logits, yb.astype(logits.dtype)))
                        # the gradient of the global batch's mean loss
                        model.backward(crit.backward() / logits.dtype.type(step.size))
                    mine.append((index, loss_sum, int(np.sum((logits > 0) == (yb == 1)))))
                dist.allreduce_gradients(model, average=False, micro_batches=micro, comm=comm)
                stats = sorted(s for part in comm.allgather(mine) for s in part)
                if clip is not None:
                    optim.clip_grad_norm_(params, clip)
                opt.step()
                bar.update(items=step.size, loss=sum(s[1] for s in stats) / step.size,
                           acc=sum(s[2] for s in stats) / step.size)
        record = dict(train_loss=bar.means["loss"], train_acc=bar.means["acc"],
                      seconds=time.perf_counter() - t0)
        if val_set is not None:
            vloss, vacc, _ = evaluate_sharded(model, *val_set, comm=comm)
            record.update({val_name + "_loss": vloss, val_name + "_acc": vacc})
        history.log(epoch, **record)
        if on_epoch is not None:
            on_epoch(epoch, record)
    return history


# ---- the examples' data and command line ---------------------------------------------

def load_reviews(imdb=None, n_train=8000, n_test=2000, num_words=10000, maxlen=200, seed=0):
    """The reviews of the examples, padded after the tokens ('post', with lengths).

    imdb None: the generated corpus (pygru.demo.corpus.make_sentiment_corpus,
    n_train + n_test reviews). imdb a folder: the Stanford aclImdb/ reviews
    (pygru.data.load_aclimdb, vocabulary of num_words built on the training split); a
    file: Keras' imdb.npz (pygru.data.load_imdb_npz(num_words=...)); both all
    25 000 + 25 000 reviews, n_train/n_test ignored. IMDB reviews longer than maxlen keep their last maxlen tokens (where the
    verdict usually is), as Keras' pad_sequences does.
    Returns dict(train=(x, y, lengths), test=(x, y, lengths), vocab_size, groups
    {name: boolean mask over the test rows}, name, decode: ids -> text or None)."""
    from ..data import load_aclimdb, load_imdb_npz, pad_sequences
    from .corpus import make_sentiment_corpus
    if imdb is None:
        corpus = make_sentiment_corpus(n_train + n_test, seed=seed)
        x, lengths = pad_sequences(corpus.sequences)               # (N, T), (N,)
        y, te = corpus.labels, slice(n_train, None)
        return dict(train=(x[:n_train], y[:n_train], lengths[:n_train]),
                    test=(x[te], y[te], lengths[te]), vocab_size=len(corpus.vocab),
                    groups={"plain": ~corpus.negated[te] & ~corpus.contrast[te],
                            "negated": corpus.negated[te], "contrast": corpus.contrast[te]},
                    name="the generated corpus", decode=corpus.vocab.decode_text)
    if os.path.isdir(imdb):
        (xtr, ytr), (xte, yte), vocab = load_aclimdb(imdb, num_words=num_words, seed=seed)
        decode, vocab_size = vocab.decode_text, len(vocab)
    else:
        (xtr, ytr), (xte, yte) = load_imdb_npz(imdb, num_words=num_words)
        decode, vocab_size = None, num_words
    sets = {}
    for name, xs, ys in (("train", xtr, ytr), ("test", xte, yte)):
        x, lengths = pad_sequences(xs, maxlen=maxlen, truncating="pre")
        sets[name] = (x, np.asarray(ys, np.int64), lengths)
    return dict(sets, vocab_size=max(vocab_size, int(max(sets["train"][0].max(),
                                                          sets["test"][0].max())) + 1),
                groups={}, name="IMDB (%s)" % imdb, decode=decode)


def example_parser(description, epochs, hidden, embedding, lr, batch_size):
    """The command line of examples/sentiment_*.py, with that example's defaults."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--imdb", metavar="PATH", default=None,
                   help="train on IMDB: Keras' imdb.npz file or the aclImdb/ folder "
                        "(default: pygru's generated corpus)")
    p.add_argument("--num-words", type=int, default=10000, help="IMDB vocabulary (10000)")
    p.add_argument("--maxlen", type=int, default=200, help="IMDB tokens kept per review (200)")
    p.add_argument("--train", type=int, default=8000, help="generated training reviews (8000)")
    p.add_argument("--test", type=int, default=2000, help="generated test reviews (2000)")
    p.add_argument("--epochs", type=int, default=epochs, help="epochs (%d)" % epochs)
    p.add_argument("--batch-size", type=int, default=batch_size,
                   help="batch size (%d)" % batch_size)
    p.add_argument("--hidden", type=int, default=hidden, help="GRU hidden size (%d)" % hidden)
    p.add_argument("--embedding", type=int, default=embedding,
                   help="embedding size (%d)" % embedding)
    p.add_argument("--lr", type=float, default=lr, help="Adam learning rate (%g)" % lr)
    p.add_argument("--seed", type=int, default=0, help="seed of data order and weights (0)")
    p.add_argument("--threads", type=int, default=None, help="libgru threads")
    p.add_argument("--out", default=".", help="folder for the model and the curves (.)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def example_main(name, description, make_model, argv=None, **defaults):
    """examples/sentiment_*.py's main: parse argv with example_parser(description,
    **defaults), then run_example(name, args, make_model); returns the exit status."""
    args = example_parser(description, **defaults).parse_args(argv)
    run_example(name, args, make_model)
    return 0


def run_example(name, args, make_model, out=None):
    """What examples/sentiment_*.py do with their parsed arguments: load the reviews,
    build make_model(vocab_size, args), train and evaluate it on the test split (per
    group on the generated corpus), save the model (<name>-model.safetensors) and the
    curves (<name>-curves.png, if matplotlib is installed) into args.out.
    Returns {"accuracy": {group: acc}, "paths": {...}, "history": History}."""
    import sys
    import pygru
    from ..plot import have_matplotlib, plot_history
    out = sys.stdout if out is None else out
    say = lambda *a: print(*a, file=out, flush=True)   # noqa: E731
    for opt in ("num_words", "maxlen", "train", "test", "epochs", "batch_size", "hidden",
                "embedding"):
        if getattr(args, opt) < 1:
            raise SystemExit("--%s must be >= 1; got %d" % (opt.replace("_", "-"),
                                                             getattr(args, opt)))
    if args.threads:
        pygru.set_num_threads(args.threads)
    data = load_reviews(args.imdb, args.train, args.test, args.num_words, args.maxlen,
                        args.seed)
    model = make_model(data["vocab_size"], args)
    n_params = sum(p.size for p in model.parameters())
    say("%s on %s: %d training, %d test reviews; %d parameters"
        % (type(model).__name__, data["name"], len(data["train"][1]), len(data["test"][1]),
           n_params))
    history = train(model, data["train"], data["test"], epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                    progress=not args.quiet, val_name="test",
                    on_epoch=lambda e, r: say("epoch %d: train loss %.4f acc %.3f | test "
                                              "loss %.4f acc %.3f | %.1f s"
                                              % (e, r["train_loss"], r["train_acc"],
                                                 r["test_loss"], r["test_acc"],
                                                 r["seconds"])))
    _, _, probs = evaluate(model, *data["test"])
    y = data["test"][1]
    acc = accuracy_by_group(probs, y, dict(all=np.ones(len(y), bool), **data["groups"]))
    say("test accuracy: " + ", ".join("%s %.3f" % kv for kv in acc.items()))
    os.makedirs(args.out, exist_ok=True)
    paths = {"model": model.save(os.path.join(args.out, name + "-model.safetensors"),
                                 metadata={k: str(v) for k, v in model.config.items()})}
    if have_matplotlib():
        paths["curves"] = plot_history(history, os.path.join(args.out, name + "-curves.png"),
                                       title="%s on %s" % (type(model).__name__, data["name"]))
    else:
        say("matplotlib is not installed: no curves plotted (pip install 'pygru[plot]')")
    for what, path in paths.items():
        say("saved %-7s %s" % (what, os.path.abspath(path)))
    return {"accuracy": acc, "paths": paths, "history": history}
