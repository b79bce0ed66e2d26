"""test_progress_plot.py - pygru.progress and pygru.plot, fast and without a screen: the
plain line (rate limited when not a terminal, redrawn in place on one, a final line with
totals, speeds and metric means), metric averaging, the tqdm switch (a fake tqdm stands
in for the real one), History's JSON round trip and its errors, and plot_history's PNG
(its signature and size, and pixels that are not blank) and its message when matplotlib
is missing."""
import builtins
import io
import json
import math
import os
import struct
import subprocess
import sys
import types

import pytest

from pygru import progress
from pygru.progress import History, Progress


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress, "_clock", fake)
    return fake


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)   # `import tqdm` raises ImportError


class TTY(io.StringIO):
    def isatty(self):
        return True


# ---- Progress: the plain line ---------------------------------------------------------

def test_log_output_is_rate_limited_and_ends_with_totals(clock):
    buf = io.StringIO()
    with Progress(80, desc="train", file=buf, use_tqdm=False) as bar:
        for i in range(80):        # 0.125 s per batch: 10 s in all
            clock.t += 0.125
            bar.update(items=32, loss=1.0 + (i % 2), acc=0.5)
    lines = buf.getvalue().splitlines()
    print(buf.getvalue())
    assert "\r" not in buf.getvalue()
    # a line at 5 s (Progress.log_interval); none at 10 s, the last step: the final line
    assert len(lines) == 2, lines
    assert lines[0].startswith("train: 40/80 batch 50% 5.0s eta 5.0s (8.00 batch/s, 256 samples/s)")
    assert lines[-1] == ("train: 80/80 batch, 2560 samples in 10.0s "
                         "(8.00 batch/s, 256 samples/s)  loss=1.5 acc=0.5")


def test_tty_redraws_one_line_at_most_10_times_a_second(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    buf = TTY()
    bar = Progress(100, file=buf, use_tqdm=False)
    for _ in range(100):           # 0.015625 s per batch: 1.5625 s in all
        clock.t += 0.015625
        bar.update(loss=0.25)
    bar.close()
    out = buf.getvalue()
    print(repr(out))
    assert out.count("\n") == 1 and out.endswith("\n")
    # one draw at the start, <= 16 in 1.56 s at 0.1 s apart, the final one
    assert 10 <= out.count("\r") <= 18
    assert out.rstrip().rsplit("\r", 1)[-1] == "100/100 batch in 1.6s (64.0 batch/s)  loss=0.25"


def test_tty_line_is_cut_to_the_terminal_and_cleared(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")
    buf = TTY()
    bar = Progress(None, desc="a long description of this bar", file=buf, use_tqdm=False)
    clock.t += 1
    bar.update(loss=1)
    draws = buf.getvalue().split("\r")[1:]
    assert all(len(d) <= 29 for d in draws), draws
    bar.close()
    assert buf.getvalue().endswith("1 batch in 1.0s (1.00 batch/s)  loss=1\n")


def test_metric_means_are_weighted_by_n_or_items(clock):
    bar = Progress(10, enabled=False, use_tqdm=False)
    for v in (1.0, 2.0, 6.0):
        bar.update(loss=v)
    bar.update(2, loss=0.5)        # counts twice
    bar.update(0, loss=100.0)      # weight 0: ignored
    assert bar.means == {"loss": 2.0} and bar.n == 5
    bar = Progress(10, enabled=False, use_tqdm=False)
    bar.update(items=3, loss=1.0, acc=1.0)
    bar.update(items=1, loss=5.0)  # a smaller last batch weighs less
    assert bar.means == {"loss": 2.0, "acc": 1.0} and bar.items == 4


def test_disabled_writes_nothing(clock):
    buf = TTY()
    with Progress(3, file=buf, enabled=False, use_tqdm=False) as bar:
        bar.update(loss=1.0)
    assert buf.getvalue() == "" and bar.means == {"loss": 1.0}


def test_update_after_close_raises(clock):
    bar = Progress(3, file=io.StringIO(), use_tqdm=False)
    bar.close()
    bar.close()                    # a second close does nothing
    with pytest.raises(ValueError, match="after close"):
        bar.update()


# ---- Progress: tqdm -------------------------------------------------------------------

@pytest.fixture
def fake_tqdm(monkeypatch):
    made = []

    class FakeBar:
        def __init__(self, **kwargs):
            self.kwargs, self.n, self.postfix, self.closed = kwargs, 0, None, False
            made.append(self)

        def update(self, n):
            self.n += n

        def set_postfix_str(self, s, refresh=True):
            self.postfix = s

        def close(self):
            self.closed = True

    module = types.ModuleType("tqdm")
    module.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", module)
    return made


def test_tqdm_is_used_when_importable(clock, fake_tqdm):
    buf = io.StringIO()
    with Progress(4, desc="val", file=buf) as bar:
        clock.t += 2
        bar.update(items=8, loss=0.5)
    (t,) = fake_tqdm
    assert t.kwargs["total"] == 4 and t.kwargs["desc"] == "val" and t.kwargs["file"] is buf
    assert t.kwargs["mininterval"] == Progress.log_interval   # not a terminal
    assert t.n == 1 and t.closed and t.postfix == "4.00 samples/s loss=0.5"
    assert buf.getvalue() == ""    # all output was tqdm's


def test_tqdm_forced_off(clock, fake_tqdm):
    buf = io.StringIO()
    with Progress(4, file=buf, use_tqdm=False) as bar:
        bar.update()
    assert fake_tqdm == [] and buf.getvalue().startswith("1/4 batch in ")


def test_tqdm_required_but_missing(no_tqdm):
    with pytest.raises(ImportError, match="pip install tqdm"):
        Progress(4, use_tqdm=True)
    Progress(4, file=io.StringIO()).close()   # auto: falls back to the plain line


# ---- History --------------------------------------------------------------------------

def test_history_round_trip(tmp_path):
    h = History()
    h.log(2, train_loss=0.5, train_acc=0.75)
    h.log(1, train_loss=0.9, train_acc=0.5, val_loss=1.0, val_acc=0.25)
    h.log(2, val_loss=0.625)       # adds to epoch 2's record
    assert len(h) == 2
    assert h.as_dict() == {"epoch": [1, 2], "train_loss": [0.9, 0.5], "train_acc": [0.5, 0.75],
                           "val_loss": [1.0, 0.625], "val_acc": [0.25, None]}
    path = h.save(tmp_path / "new" / "history.json")   # creates the folder
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["history.json"]
    back = History.load(path)
    assert back.as_dict() == h.as_dict() and back.records == h.records
    h.log(3, train_loss=math.nan)
    assert math.isnan(History.load(h.save(path)).records[-1]["train_loss"])


@pytest.mark.parametrize("text, message", [
    ("not json", "not a JSON file"),
    ('{"epochs": []}', "not a pygru history"),
    ('{"format": "pygru-history", "version": 9}', "version 9"),
    ('{"format": "pygru-history", "version": 1, "epochs": [{"loss": 1}]}', "bad record 0"),
    ('{"format": "pygru-history", "version": 1, "epochs": [{"epoch": 1.5}]}', "not an integer"),
    ('{"format": "pygru-history", "version": 1, "epochs": [{"epoch": 1, "a": "x"}]}',
     "not a number"),
])
def test_history_load_rejects_bad_files(tmp_path, text, message):
    path = tmp_path / "h.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        History.load(path)


# ---- plot_history ---------------------------------------------------------------------

def _png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _history(epochs=12):
    h = History()
    for e in range(1, epochs + 1):
        h.log(e, train_loss=1.2 / e, train_acc=1 - 0.5 / e,
              val_loss=1.3 / e + 0.01 * e, val_acc=0.95 - 0.6 / e)
    return h


def test_plot_history_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    from pygru.plot import have_matplotlib, plot_history

    assert have_matplotlib()
    path = plot_history(_history(), tmp_path / "plots" / "curves.png", title="pygru GRU")
    assert path == str(tmp_path / "plots" / "curves.png")
    data = open(path, "rb").read()
    assert _png_size(data) == (1000, 360)      # two panels, 5 x 3.6 inches each at 100 dpi
    assert len(data) > 20000
    pixels = imread(path)[..., :3]
    ink = (pixels < 0.9).any(axis=-1).mean()    # not white: axes, text, curves
    colours = len({tuple(p) for p in (pixels.reshape(-1, 3) * 255).astype(int)})
    assert 0.01 < ink < 0.5 and colours > 50, (ink, colours)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["curves.png"]


def test_plot_history_only_the_metrics_that_exist(tmp_path):
    pytest.importorskip("matplotlib")
    from pygru.plot import plot_history

    h = History()
    for e in range(3):
        h.log(e, loss=1.0 / (e + 1))
    path = plot_history(h.as_dict(), tmp_path / "loss.png")    # columns work too
    assert _png_size(open(path, "rb").read()) == (500, 360)   # one panel
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history({"epoch": [1], "lr": [0.1]}, tmp_path / "lr.png")
    assert not (tmp_path / "lr.png").exists()


def test_plot_history_without_matplotlib(tmp_path, monkeypatch):
    from pygru import plot

    real_import = builtins.__import__

    def hiding_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError("No module named %r" % name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", hiding_import)
    assert not plot.have_matplotlib()
    with pytest.raises(ImportError) as info:
        plot.plot_history(_history(), tmp_path / "curves.png")
    message = str(info.value)
    print(message)
    assert "pip install matplotlib" in message and "pip install 'pygru[plot]'" in message
    assert not (tmp_path / "curves.png").exists()


def test_importing_does_not_import_matplotlib_or_tqdm():
    code = ("import sys, pygru.progress, pygru.plot; "
            "print(sorted(m for m in ('matplotlib', 'tqdm', 'pygru._core') if m in sys.modules))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout
    assert json.loads(out.replace("'", '"')) == []
