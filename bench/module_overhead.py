"""bench/module_overhead.py - what the Python object model costs around libgru's calls.

Three comparisons, each timed alternately in one process with bench/timing.py (medians
of every call, paired ratios per round):

  step      one-step inference through the module (gru(x) in eval mode, T = B = 1, the
            path a pygru.nn model takes) against a bare streaming step (gru.step on a
            caller-owned state): the target is <= 1.2x;
  train     a training forward + backward (T = 20, B = 8), this tree's GRU against a
            baseline pygru (--baseline DIR) as pygru.GRU and as its nn.GRU layer;
  train+opt the same plus an SGD step (the weights change every iteration, so this
            tree's GRU repacks them lazily before the next forward; the baseline's
            nn.GRU copied every weight into its C model at every forward).

The baseline is a pygru package built under another name so that both load in one
process: `bench/module_overhead.py --make-baseline REV DIR` checks REV out into a
temporary worktree, builds its extension as `pygru_old._libgru` and copies the package
to DIR/pygru_old. Sizes: I = 256, H = 512 (the issue's), float32, one thread.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from timing import Contender, interleave, paired_ratio, summarize, warm_up  # noqa: E402


def make_baseline(rev, dest):
    """Builds git revision ``rev`` of this repository as the package pygru_old in dest."""
    tree = tempfile.mkdtemp(prefix="pygru-baseline-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, rev], check=True)
    try:
        # the baseline's build script, told to name its extension pygru_old._libgru
        bf = os.path.join(tree, "build_ffi.py")
        with open(bf) as f:
            text = f.read()
        if '"pygru._libgru",' not in text:
            raise SystemExit("%s: cannot find the extension's name to rename it" % bf)
        with open(bf, "w") as f:
            f.write(text.replace('"pygru._libgru",', '"pygru_old._libgru",'))
        script = ("import sys; sys.path.insert(0, %r); import build_ffi\n"
                  "print(build_ffi.make_builder(absolute=True).compile(tmpdir=%r))\n"
                  % (tree, os.path.join(tree, "build", "baseline")))
        so = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True).stdout.strip().splitlines()[-1]
        pkg = os.path.join(dest, "pygru_old")
        shutil.rmtree(pkg, ignore_errors=True)
        shutil.copytree(os.path.join(tree, "pygru"), pkg,
                        ignore=shutil.ignore_patterns("_libgru*.so", "__pycache__"))
        shutil.copy(so, os.path.join(pkg, "_libgru.abi3.so"))
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], check=True)
    return pkg


def run(contenders, target):
    est = {c.name: warm_up(c, 0.3) for c in contenders}
    res = interleave(contenders, est, target)
    out = {c.name: summarize(res["samples"][c.name]) for c in contenders}
    base = contenders[0].name
    for c in contenders[1:]:
        out[c.name]["ratio_to_" + base] = paired_ratio(res["round_medians"][c.name],
                                                       res["round_medians"][base])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", help="folder holding a pygru_old package (see --make-baseline)")
    ap.add_argument("--make-baseline", nargs=2, metavar=("REV", "DIR"))
    ap.add_argument("--target", type=float, default=3.0, help="seconds per contender per case")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.make_baseline:
        print(make_baseline(*args.make_baseline))
        return 0
    import pygru
    import pygru.optim as optim
    pygru.set_num_threads(1)
    I, H = 256, 512
    rng = np.random.default_rng(0)
    results = {"cpu": _cpu(), "isa": pygru.info()["isa"], "sizes": {"I": I, "H": H}}

    # -- one step through the module against a bare step --
    g = pygru.GRU(I, H, seed=0).eval()
    x1 = rng.standard_normal((1, 1, I)).astype(np.float32)
    state = g.new_state(1)
    frame = x1[0]
    results["step"] = run([Contender("bare step", lambda: g.step(frame, state)),
                           Contender("module forward T=1", lambda: g(x1))], args.target)

    # -- training forward + backward (and an optimiser step) --
    T, B = 20, 8
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    go = np.ones((T, B, H), np.float32)
    new = pygru.GRU(I, H, seed=0)
    opt = optim.SGD(new.parameters(), lr=1e-6)

    def fb(model):
        def call():
            model(x)
            model.backward(go)
        return call

    def fbo(model, o):
        def call():
            o.zero_grad()
            model(x)
            model.backward(go)
            o.step()
        return call

    train = [Contender("pygru.GRU (this tree)", fb(new))]
    train_opt = [Contender("pygru.GRU + SGD (this tree)", fbo(new, opt))]
    if args.baseline:
        sys.path.insert(0, args.baseline)
        import pygru_old
        import pygru_old.nn as old_nn
        import pygru_old.optim as old_optim
        pygru_old.set_num_threads(1)
        old = pygru_old.GRU(I, H, seed=0)
        layer = old_nn.GRU(I, H, seed=0)
        layer_opt = old_optim.SGD(layer.parameters(), lr=1e-6)

        def old_layer_fb():
            layer(x)
            layer.backward(go)

        def old_layer_fbo():
            layer_opt.zero_grad()
            layer(x)
            layer.backward(go)
            layer_opt.step()
        train += [Contender("baseline pygru.GRU", fb(old)),
                  Contender("baseline nn.GRU", old_layer_fb)]
        train_opt += [Contender("baseline nn.GRU + SGD", old_layer_fbo)]
        results["baseline_version"] = pygru_old.__version__
        # and the baseline's one-step inference through its nn.GRU layer (the 40x gap)
        old_layer = old_nn.GRU(I, H, seed=0).eval()
        results["step_baseline"] = run([Contender("baseline bare step",
                                                  _old_step(old_layer, frame)),
                                        Contender("baseline nn.GRU forward T=1",
                                                  lambda: old_layer(x1))], args.target)
    results["train"] = run(train, args.target)
    results["train+opt"] = run(train_opt, args.target)
    _print(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def _old_step(layer, frame):
    g = layer.gru
    state = g.new_state(1)
    return lambda: g.step(frame, state)


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _print(results):
    print("CPU: %s, kernels: %s, I=%d H=%d, one thread"
          % (results["cpu"], results["isa"], results["sizes"]["I"], results["sizes"]["H"]))
    for case in ("step", "step_baseline", "train", "train+opt"):
        if case not in results:
            continue
        print("\n" + case)
        for name, r in results[case].items():
            line = "  %-32s median %9.1f us  [q1 %9.1f, q3 %9.1f]" % (
                name, r["median"] * 1e6, r["q1"] * 1e6, r["q3"] * 1e6)
            for k, v in r.items():
                if k.startswith("ratio_to_"):
                    line += "   %.3fx of %s [%.3f-%.3f]" % (v["median"], k[9:], v["q1"], v["q3"])
            print(line)


if __name__ == "__main__":
    sys.exit(main())
