"""examples/rust/make_test_data.py - writes the data of tests/agree.rs: a 2-layer float32
pygru model saved with gru.save, an input, pygru's output for it, and the sizes.

    python examples/rust/make_test_data.py [DIR]     (default: examples/rust/tests/data)
"""
import os
import sys

import numpy as np

import pygru

T, B, I, H, L = 10, 3, 4, 8, 2


def write(folder):
    os.makedirs(folder, exist_ok=True)
    gru = pygru.GRU(I, H, num_layers=L, seed=2026).eval()
    x = np.random.default_rng(7).uniform(-1.5, 1.5, (T, B, I)).astype("<f4")
    out, _ = gru(x)
    gru.save(os.path.join(folder, "model.safetensors"))
    x.tofile(os.path.join(folder, "input.f32"))
    out.astype("<f4").tofile(os.path.join(folder, "expected.f32"))
    with open(os.path.join(folder, "dims.txt"), "w") as f:
        f.write("%d %d\n" % (T, B))
    return x, out


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "tests", "data"))
