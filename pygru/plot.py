"""pygru.plot - training curves: plot_history(history, path) draws loss and accuracy per
epoch, train against validation, into a PNG.

    from pygru.plot import have_matplotlib, plot_history
    if have_matplotlib():
        plot_history(history, "runs/curves.png", title="GRU, 2 layers")
    else:
        print("no matplotlib: skipping the plot (pip install 'pygru[plot]')")

The panels are "loss" (metrics named loss or *_loss) and "accuracy" (acc, accuracy,
*_acc, *_accuracy), only those that have values; each line is named by its prefix
(train, val -> validation, ...) and keeps its colour in both panels. Other metrics are
not drawn. A line joins the epochs that have its metric (e.g. validation every few
epochs); a NaN value (a diverged loss) leaves a gap.

matplotlib is optional: it is imported inside the functions, never by `import pygru`.
Without it plot_history raises an ImportError that says how to install it, and
have_matplotlib() lets a caller skip plotting with a message instead. The figure is
drawn on matplotlib's Agg canvas directly, without pyplot: no screen is needed, and the
caller's backend and pyplot state are left alone.

Guarantees: the file at path is a complete PNG or untouched (written under a temporary
name in the same folder, then renamed); missing parent folders are created; the file is
a PNG whatever path's suffix says.
"""
import os

from ._files import write_atomic

__all__ = ["plot_history", "have_matplotlib"]

_PANELS = (("loss", ("loss",)), ("accuracy", ("acc", "accuracy")))
_LABELS = {"val": "validation", "valid": "validation"}
_INSTALL = "pip install matplotlib (or pip install 'pygru[plot]')"


def have_matplotlib():
    """True if matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _series(columns, suffixes):
    """[(label, name)] of the columns of one panel that hold at least one value."""
    found = []
    for name, values in columns.items():
        for suffix in suffixes:
            if name == suffix or name.endswith("_" + suffix):
                if any(v is not None for v in values):
                    prefix = name[:-len(suffix)].rstrip("_") or name
                    found.append((_LABELS.get(prefix, prefix), name))
                break
    return found


def plot_history(history, path, title=None):
    """Saves history's loss and accuracy curves as a PNG at path and returns the path.
    history: a pygru.progress.History, or its as_dict() columns."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError("plot_history needs matplotlib, which is not installed: "
                          + _INSTALL) from e
    columns = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    epochs = list(columns.pop("epoch", ()))
    panels = [(ylabel, _series(columns, suffixes)) for ylabel, suffixes in _PANELS]
    panels = [(ylabel, series) for ylabel, series in panels if series]
    if not epochs or not panels:
        raise ValueError("plot_history: nothing to plot (no epochs, or no loss or accuracy "
                         "metric; have %s)" % (sorted(columns) or "none"))
    labels = list(dict.fromkeys(label for _, series in panels for label, _ in series))
    colours = {label: "C%d" % i for i, label in enumerate(labels)}
    marker = "o" if len(epochs) <= 30 else None

    fig = Figure(figsize=(5.0 * len(panels), 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    for i, (ylabel, series) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, name in series:
            points = [(e, v) for e, v in zip(epochs, columns[name]) if v is not None]
            ax.plot(*zip(*points), label=label, color=colours[label], marker=marker,
                    markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)

    path = os.fspath(path)
    write_atomic(path, lambda f: fig.savefig(f, format="png"), make_parents=True)
    return path
