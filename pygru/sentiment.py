"""pygru.sentiment - the two GRU sentiment classifiers of the documents pygru grew from,
built from pygru.nn alone, and the loop that trains and evaluates them. Used by
`python -m pygru demo` and by examples/sentiment_torch_style.py and
examples/sentiment_keras_style.py.

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
"""
import time

import numpy as np

from . import nn, optim
from .data import batches
from .progress import History, Progress

__all__ = ["TorchStyle", "KerasStyle", "train", "evaluate", "accuracy_by_group"]


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
        g = self.gru.backward(g)                      # (B, T, E)
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
        g = self.gru.backward(None, g_hn)             # (B, T, E)
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
