"""pygru.progress - training progress for pygru's examples and `python -m pygru demo`: a
progress bar (Progress) and per-epoch records of named metrics (History).

    history = History()
    for epoch in range(1, epochs + 1):
        with Progress(len(batches), desc="epoch %d" % epoch) as bar:
            for x, y in batches:
                loss, acc = step(x, y)
                bar.update(items=len(x), loss=loss, acc=acc)
        history.log(epoch, train_loss=bar.means["loss"], train_acc=bar.means["acc"])
    history.save("runs/history.json")

Progress shows the step count, the mean of every metric passed to update() and the
speed: steps per second, and items per second (e.g. samples/s) once update() is given
items=. Speeds are averages since the bar started.

Metrics are means over the whole bar, not moving averages, so that a bar per epoch ends
on the epoch's mean -- the number History records. Each update() weighs its values by
its items= when given (a per-sample mean, exact when the last batch is smaller), else by
its n; an update of weight 0 leaves the means alone.

Output: with tqdm importable (use_tqdm=None) the bar is tqdm's; use_tqdm=True requires
tqdm, use_tqdm=False never uses it. Otherwise Progress writes a plain line itself:
  * to a terminal: one line redrawn in place with '\\r', at most 10 times a second
    (Progress.tty_interval), cut to the terminal's width;
  * to anything else (a CI log, a pipe, a file): a full line at most every 5 seconds
    (Progress.log_interval) and none at the last step, whose line close() writes, so
    logs never flood; tqdm is held to the same interval there.
close() (or leaving the `with` block) writes the final line: steps, items, elapsed time,
speeds and the metrics' means. Progress writes only to its file (sys.stderr by default)
and nothing at all with enabled=False (it still counts and averages).

History.save writes JSON (format "pygru-history", version 1, a list of records) under a
temporary name beside the target, then renames it over the target: the file is complete
or untouched. Missing parent folders are created. NaN and infinities are written the
way Python's json module writes and reads them (NaN, Infinity).
"""
import json
import operator
import os
import shutil
import sys
import time

from ._files import write_atomic

__all__ = ["Progress", "History"]

_clock = time.monotonic   # seconds; the tests replace it with a fake clock


def _fmt_time(seconds):
    if seconds < 60:
        return "%.1fs" % seconds
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


def _fmt_rate(rate):
    return "%.0f" % rate if rate >= 100 else "%.1f" % rate if rate >= 10 else "%.2f" % rate


def _isatty(file):
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):   # no isatty(), or a closed file
        return False


class Progress:
    """A progress bar over `total` steps (None: unknown) of `unit`; see the module
    docstring. item_unit names what update(items=...) counts."""

    tty_interval = 0.1   # seconds between redraws on a terminal
    log_interval = 5.0   # seconds between lines anywhere else

    def __init__(self, total, desc="", unit="batch", file=None, enabled=True, use_tqdm=None,
                 item_unit="samples"):
        self.total = None if total is None else operator.index(total)
        self.desc, self.unit, self.item_unit = desc, unit, item_unit
        self.file = sys.stderr if file is None else file
        self.enabled = enabled
        self.n = 0             # steps so far
        self.items = None      # items so far; None until update() is given items=
        self._sums, self._weights = {}, {}
        self._start = self._last = _clock()
        self._tty = _isatty(self.file)
        self._shown = 0        # length of the line now on the terminal
        self._closed = False
        self._tqdm = None
        tqdm = None
        if use_tqdm is None or use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError as e:
                if use_tqdm:
                    raise ImportError("Progress(use_tqdm=True) needs tqdm, which is not "
                                      "installed: pip install tqdm (or pass use_tqdm=None "
                                      "to fall back to a plain line)") from e
        if tqdm is not None and enabled:
            self._tqdm = tqdm(total=self.total, desc=desc or None, unit=unit, file=self.file,
                              mininterval=self.tty_interval if self._tty else self.log_interval)
        elif enabled and self._tty:
            self._columns = shutil.get_terminal_size().columns - 1
            self._draw(self._start)

    @property
    def means(self):
        """{metric name: its mean so far}."""
        return {name: s / self._weights[name] for name, s in self._sums.items()}

    def update(self, n=1, items=None, **metrics):
        """Counts n more steps and `items` more items (e.g. the batch's samples), and adds
        each metric (a number) to its mean."""
        if self._closed:
            raise ValueError("Progress.update() after close()")
        self.n += n
        if items is not None:
            self.items = (self.items or 0) + items
        weight = n if items is None else items
        if weight > 0:
            for name, value in metrics.items():
                self._sums[name] = self._sums.get(name, 0.0) + weight * float(value)
                self._weights[name] = self._weights.get(name, 0) + weight
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(self._extras(_clock()), refresh=False)
            self._tqdm.update(n)
        elif self.enabled:
            now = _clock()
            if self._tty:
                if now - self._last >= self.tty_interval:
                    self._draw(now)
            elif now - self._last >= self.log_interval and self.n != self.total:
                self._draw(now)   # (at n == total the final line follows)

    def close(self):
        """Writes the final line (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(self._extras(_clock()), refresh=False)
            self._tqdm.close()
        elif self.enabled:
            self._draw(_clock(), final=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the plain line ------------------------------------------------------------

    def _extras(self, now):
        """The items rate and the metrics: what tqdm's own bar does not show."""
        elapsed = now - self._start
        parts = []
        if self.items is not None and elapsed > 0:
            parts.append("%s %s/s" % (_fmt_rate(self.items / elapsed), self.item_unit))
        parts += ["%s=%.4g" % kv for kv in self.means.items()]
        return " ".join(parts)

    def _line(self, now, final):
        # running: "epoch 3: 37/100 batch 37% 12.3s eta 21.0s (3.01 batch/s, 96.2 samples/s)  loss=0.4123"
        # final:   "epoch 3: 100/100 batch, 3200 samples in 33.2s (3.01 batch/s, ...)  loss=0.4123"
        elapsed = now - self._start
        text = (self.desc + ": ") if self.desc else ""
        text += "%d/%d %s" % (self.n, self.total, self.unit) if self.total is not None \
            else "%d %s" % (self.n, self.unit)
        rate = self.n / elapsed if elapsed > 0 else None
        if final:
            if self.items is not None:
                text += ", %d %s" % (self.items, self.item_unit)
            text += " in " + _fmt_time(elapsed)
        else:
            if self.total:
                text += " %d%%" % (100 * self.n // self.total)
            text += " " + _fmt_time(elapsed)
            if rate and self.total is not None and self.n < self.total:
                text += " eta " + _fmt_time((self.total - self.n) / rate)
        if rate is not None:
            speeds = ["%s %s/s" % (_fmt_rate(rate), self.unit)]
            if self.items is not None:
                speeds.append("%s %s/s" % (_fmt_rate(self.items / elapsed), self.item_unit))
            text += " (" + ", ".join(speeds) + ")"
        if self._sums:
            text += "  " + " ".join("%s=%.4g" % kv for kv in self.means.items())
        return text

    def _draw(self, now, final=False):
        self._last = now
        line = self._line(now, final)
        if self._tty:
            if not final:   # a wrapped line could not be redrawn by '\r'
                line = line[:self._columns]
            text = "\r" + line + " " * max(0, self._shown - len(line)) + ("\n" if final else "")
            self._shown = len(line)
        else:
            text = line + "\n"
        self.file.write(text)
        self.file.flush()


class History:
    """Per-epoch records of named metrics (floats), e.g.
    history.log(3, train_loss=0.41, train_acc=0.83, val_loss=0.45, val_acc=0.80)."""

    FORMAT, VERSION = "pygru-history", 1

    def __init__(self):
        self._records = {}   # epoch -> {name: value}, names in the order logged

    def log(self, epoch, **metrics):
        """Records metrics for epoch (an int). Logging an epoch again adds to its record;
        a name logged again replaces its value."""
        record = self._records.setdefault(operator.index(epoch), {})
        record.update((name, float(value)) for name, value in metrics.items())

    def __len__(self):
        return len(self._records)

    @property
    def records(self):
        """[{"epoch": e, name: value, ...}, ...], by epoch."""
        return [dict(epoch=e, **self._records[e]) for e in sorted(self._records)]

    def as_dict(self):
        """Columns by epoch: {"epoch": [1, 2, ...], "train_loss": [...], ...}; a metric
        missing from an epoch is None there."""
        epochs = sorted(self._records)
        names = list(dict.fromkeys(n for e in epochs for n in self._records[e]))
        columns = {"epoch": epochs}
        for name in names:
            columns[name] = [self._records[e].get(name) for e in epochs]
        return columns

    def save(self, path):
        """Writes the history to path as JSON (see the module docstring). Returns the path."""
        path = os.fspath(path)
        data = {"format": self.FORMAT, "version": self.VERSION, "epochs": self.records}
        text = json.dumps(data, indent=1).encode("utf-8") + b"\n"
        write_atomic(path, lambda f: f.write(text), make_parents=True)
        return path

    @classmethod
    def load(cls, path):
        """Reads a file written by save(); raises ValueError naming what is wrong."""
        path = os.fspath(path)
        with open(path, "rb") as f:
            try:
                data = json.loads(f.read().decode("utf-8"))
            except ValueError as e:
                raise ValueError("%s: not a JSON file (%s)" % (path, e)) from None
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise ValueError("%s: not a pygru history (no \"format\": %r)" % (path, cls.FORMAT))
        if data.get("version") != cls.VERSION:
            raise ValueError("%s: history version %r, expected %d"
                             % (path, data.get("version"), cls.VERSION))
        history = cls()
        for i, record in enumerate(data.get("epochs", ())):
            try:
                record = dict(record)
                epoch = record.pop("epoch")
                if isinstance(epoch, bool) or not isinstance(epoch, int):
                    raise TypeError("epoch %r is not an integer" % (epoch,))
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in record.values()):
                    raise TypeError("a value is not a number")
                history.log(epoch, **record)
            except (TypeError, ValueError, KeyError) as e:
                raise ValueError("%s: bad record %d (%s): %r" % (path, i, e, record)) from None
        return history

