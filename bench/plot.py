#!/usr/bin/env python3
"""bench/plot.py - PNG charts from the JSON that bench/compare.py --json writes.

    .venv/bin/python bench/plot.py sweep_hidden.json [more.json ...] [--out DIR]

A sweep JSON (compare.py --sweep hidden|seqlen) gives one PNG per (mode, threads),
named <json stem>_<mode>_t<threads>.png:
left, the median time per call of each contender against the swept size (log-log,
bars from the first to the third quartile); right, pygru's time divided by each
peer's (paired per-round ratios, median and IQR; below 1 means pygru is faster).
Any other JSON gives <json stem>_ratios.png: the ratios per case (points with IQR
bars, log scale).

Guarantees: only reads the JSON; skipped or failed measurements are left out of a
line (and said so in the legend), never drawn as zero. Needs matplotlib (a
benchmark-only dependency, bench/requirements.txt).
"""
import argparse
import json
import os
import sys

COLORS = {"pygru": "tab:blue", "torch": "tab:orange", "ort": "tab:green"}
LABELS = {"pygru": "pygru", "torch": "torch.nn.GRU", "ort": "ONNX Runtime"}


def _title(doc):
    m = doc["machine"]
    info = m.get("pygru_info") or {}
    return "%s, %s CPUs, pygru %s (%s kernels), torch %s, onnxruntime %s, %s" % (
        m.get("cpu_model"), m.get("logical_cpus"), m["versions"].get("pygru"),
        info.get("isa", "?"), m["versions"].get("torch"), m["versions"].get("onnxruntime"),
        m.get("date_utc", "")[:10])


def _log_axes(ax, xvalues, ratio=False):
    """Log-log axes with the swept values as plain-number x ticks and readable y
    labels (1, 2, 5, 10, ... instead of powers of ten only)."""
    from matplotlib import ticker
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sorted(set(xvalues)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: "%g" % v))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    fmt = (lambda v, _: "%gx" % v) if ratio else (lambda v, _: "%g" % v)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(fmt))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _busy(r):
    bg = (r.get("load") or {}).get("other_cores")
    return bg is not None and bg >= 0.5 and r["threads"] > 1


def plot_sweep(doc, out_dir, stem, plt):
    sweep = doc["sweep"]
    kind = sweep["kind"]
    xkey = "H" if kind == "hidden" else "T"
    xlabel = ("hidden size H (= input size I; T=%s, B=%s)" % (sweep["T"], sweep["batch"])
              if kind == "hidden" else
              "sequence length T (I = H = %s, B = %s)" % (sweep["size"], sweep["batch"]))
    groups = {}
    for r in doc["results"]:
        groups.setdefault((r["mode"], r["threads"]), []).append(r)
    written = []
    for (mode, threads), rows in sorted(groups.items()):
        rows.sort(key=lambda r: r["shape"][xkey])
        fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(13, 5.2))
        for name in ("pygru", "torch", "ort"):
            xs, med, lo, hi, missing = [], [], [], [], []
            for r in rows:
                e = r["contenders"].get(name, {})
                if e.get("status") == "ok":
                    xs.append(r["shape"][xkey])
                    med.append(e["median"] * 1e3)
                    lo.append((e["median"] - e["q1"]) * 1e3)
                    hi.append((e["q3"] - e["median"]) * 1e3)
                elif e.get("status") not in (None, "not selected") and not str(
                        e.get("status")).startswith("n/a"):
                    missing.append("%s=%d: %s" % (xkey, r["shape"][xkey], e["status"]))
            if not xs:
                continue
            label = LABELS[name]
            if missing:
                label += " (missing %s)" % ", ".join(m.split(":")[0] for m in missing)
            ax_t.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3,
                          color=COLORS[name], label=label)
        _log_axes(ax_t, [r["shape"][xkey] for r in rows])
        ax_t.set_xlabel(xlabel)
        ax_t.set_ylabel("time per call, ms (median, IQR bars)")
        ax_t.set_title("time: %s, %d thread(s)" % (mode, threads))
        ax_t.grid(True, which="both", alpha=0.3)
        ax_t.legend(fontsize=8)
        any_ratio = False
        for peer in ("torch", "ort"):
            xs, med, lo, hi = [], [], [], []
            for r in rows:
                q = r["ratios"].get("pygru/" + peer)
                if q:
                    xs.append(r["shape"][xkey])
                    med.append(q["median"])
                    lo.append(q["median"] - q["q1"])
                    hi.append(q["q3"] - q["median"])
            if xs:
                any_ratio = True
                ax_r.errorbar(xs, med, yerr=[lo, hi], marker="s", capsize=3,
                              color=COLORS[peer], label="pygru / %s" % LABELS[peer])
        ax_r.axhline(1.0, color="black", lw=0.8, ls="--")
        _log_axes(ax_r, [r["shape"][xkey] for r in rows], ratio=True)
        ax_r.set_xlabel(xlabel)
        ax_r.set_ylabel("pygru time / peer time (>1: pygru slower)")
        ax_r.set_title("ratio: %s, %d thread(s)" % (mode, threads))
        ax_r.grid(True, which="both", alpha=0.3)
        if any_ratio:
            ax_r.legend(fontsize=8)
        fig.suptitle(_title(doc), fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, "%s_%s_t%d.png" % (stem, mode, threads))
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def plot_ratios(doc, out_dir, stem, plt):
    rows = [r for r in doc["results"] if r["ratios"]]
    if not rows:
        return []
    labels = ["%s %s t%d%s" % (r["label"] if r["mode"] != "stream" else "cell", r["mode"],
                               r["threads"], " (!busy)" if _busy(r) else "") for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(rows) + 3), 5.5))
    offset = 0.15
    for i, peer in enumerate(("torch", "ort")):
        xs, med, lo, hi = [], [], [], []
        for j, r in enumerate(rows):
            q = r["ratios"].get("pygru/" + peer)
            if q:
                xs.append(j + (i - 0.5) * 2 * offset)
                med.append(q["median"])
                lo.append(q["median"] - q["q1"])
                hi.append(q["q3"] - q["median"])
        if xs:
            # Points, not bars: on a log axis a bar's length from an arbitrary floor
            # means nothing; the dashed line at 1 is the reference.
            ax.errorbar(xs, med, yerr=[lo, hi], fmt="o" if peer == "torch" else "s",
                        capsize=3, color=COLORS[peer], label="pygru / %s" % LABELS[peer])
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    from matplotlib import ticker
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: "%gx" % v))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("pygru time / peer time (>1: pygru slower)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_title(doc) + "\n(!busy: other processes used >= 0.5 core; unreliable)",
                 fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, "%s_ratios.png" % stem)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def main(argv=None):
    p = argparse.ArgumentParser(description="PNG charts from compare.py --json output")
    p.add_argument("json", nargs="+", help="JSON files written by compare.py --json")
    p.add_argument("--out", default=None, help="output directory (default: next to each JSON)")
    a = p.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot.py needs matplotlib: pip install -r bench/requirements.txt", file=sys.stderr)
        return 2
    for path in a.json:
        with open(path) as f:
            doc = json.load(f)
        out_dir = a.out or os.path.dirname(os.path.abspath(path))
        os.makedirs(out_dir, exist_ok=True)
        stem = os.path.splitext(os.path.basename(path))[0]
        if doc.get("sweep"):
            written = plot_sweep(doc, out_dir, stem, plt)
        else:
            written = plot_ratios(doc, out_dir, stem, plt)
        for w in written:
            print(w)
        if not written:
            print("%s: nothing to plot (no measured case)" % path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
