#!/usr/bin/env python3
"""bench/memory.py - what a training forward keeps for backward: pygru's workspace
(GRU.workspace_bytes, what libgru stores: gates, W_hn h + b_hn, previous states, inner
layer outputs) against what PyTorch's autograd saves for torch.nn.GRU's backward on the
CPU (every tensor its graph saves, counted once per storage through
torch.autograd.graph.saved_tensors_hooks), and pygru's inference scratch, on the grid of
bench/compare.py. float32. Prints a Markdown table; --json PATH writes the numbers.

    .venv/bin/python bench/memory.py
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import compare  # noqa: E402
import contenders as C  # noqa: E402


def torch_saved_bytes(shape):
    """Bytes of the distinct storages autograd saves in a training forward."""
    import torch
    m = torch.nn.GRU(shape.I, shape.H, num_layers=shape.L, bidirectional=shape.bidir)
    x = torch.randn(shape.T, shape.B, shape.I, requires_grad=True)
    seen = {}

    def pack(t):
        st = t.untyped_storage()
        seen[st.data_ptr()] = max(seen.get(st.data_ptr(), 0), st.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = m(x)
    params = {p.untyped_storage().data_ptr() for p in m.parameters()}
    params.add(x.untyped_storage().data_ptr())   # the input and weights exist anyway
    return sum(n for p, n in seen.items() if p not in params)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", nargs="+", default=compare.DEFAULT_SHAPES)
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args()
    import pygru
    rows = []
    print("| shape T,B,I,H | pygru training workspace | per step | torch autograd saves | "
          "pygru / torch | pygru inference scratch |")
    print("|---|--:|--:|--:|--:|--:|")
    for s in a.shapes:
        shape = C.Shape.parse(s)
        g = pygru.GRU(shape.I, shape.H, num_layers=shape.L, bidirectional=shape.bidir)
        train = g.workspace_bytes(shape.T, shape.B, training=True)
        infer = g.workspace_bytes(shape.T, shape.B, training=False)
        saved = torch_saved_bytes(shape)
        rows.append(dict(shape=s, pygru_training=train, pygru_inference=infer,
                         torch_saved=saved, per_step=train / shape.T))
        print("| %s | %.2f MB | %.1f kB | %.2f MB | %.2f | %.2f MB |" % (
            shape.label(), train / 1e6, train / shape.T / 1e3, saved / 1e6, train / saved,
            infer / 1e6))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
