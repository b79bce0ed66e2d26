"""test_examples.py - one model, three languages: a model saved by pygru runs in C
(examples/c/run_model.c, frame by frame with gru_step) and in Rust (examples/rust,
`cargo test`, whole sequence and stream), and all three agree: C and Rust bitwise (the
same libgru), both with pygru to float32 rounding (pygru's extension is a separate build
of the same sources).

Builds libgru with `make -C c` first. A missing C compiler, make or cargo skips the
test, unless GRU_REQUIRE_EXAMPLES=1 (set by .ci/run), where it fails instead.
"""
import os
import runpy
import shutil
import subprocess

import numpy as np
import pytest

# builds and runs the C and Rust examples (not rerun per kernel set)
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "c", "build")
REQUIRED = os.environ.get("GRU_REQUIRE_EXAMPLES") == "1"


def need(tool):
    path = shutil.which(tool) or (
        os.path.expanduser("~/.cargo/bin/cargo") if tool == "cargo" and
        os.path.exists(os.path.expanduser("~/.cargo/bin/cargo")) else None)
    if path is None:
        if REQUIRED:
            pytest.fail("%s is needed for the C and Rust examples (GRU_REQUIRE_EXAMPLES=1)" % tool)
        pytest.skip("%s not found" % tool)
    return path


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s failed (%d):\n%s\n%s" % (" ".join(cmd), r.returncode,
                                                           r.stdout[-3000:], r.stderr[-3000:])
    return r


@pytest.fixture(scope="module")
def libgru():
    run([need("make"), "-C", os.path.join(ROOT, "c"), "-j2", "all"])
    return os.path.join(BUILD, "libgru.a")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("three_languages"))
    make = runpy.run_path(os.path.join(ROOT, "examples", "rust", "make_test_data.py"))
    x, out = make["write"](folder)
    return folder, x, out


def test_c_runs_the_python_model(libgru, data, tmp_path):
    folder, x, expected = data
    exe = str(tmp_path / "run_model")
    run([need("cc"), "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
         "-I" + os.path.join(ROOT, "c", "include"),
         os.path.join(ROOT, "examples", "c", "run_model.c"), libgru, "-lm", "-pthread",
         "-o", exe])
    T, B = x.shape[:2]
    out = os.path.join(folder, "c.f32")
    run([exe, os.path.join(folder, "model.safetensors"), os.path.join(folder, "input.f32"),
         str(T), str(B), out])
    got = np.fromfile(out, "<f4").reshape(expected.shape)
    err = np.abs(got - expected).max() / np.abs(expected).max()
    assert err <= 1e-5, "C vs pygru: max rel err %g" % err


def test_c_trains_every_variant(libgru, tmp_path):
    """examples/c/train_cells.c: the plain GRU, layer_norm, zoneout, weight_dropout and
    augru trained from C by gradient descent on the model's own storage; each at least
    halves its validation loss (the program checks that) and reloads bitwise from the
    file gru_save wrote, which pygru.load then reads too."""
    import pygru
    exe = str(tmp_path / "train_cells")
    run([need("cc"), "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
         "-I" + os.path.join(ROOT, "c", "include"),
         os.path.join(ROOT, "examples", "c", "train_cells.c"), libgru, "-lm", "-pthread",
         "-o", exe])
    r = run([exe, str(tmp_path)])
    lines = r.stdout.splitlines()
    for name in ("plain", "layer_norm", "zoneout", "weight_dropout", "augru"):
        line = next(l for l in lines if l.startswith(name + " "))
        before, after = (float(v) for v in line.split("MSE")[1].split("reloaded")[0].split("->"))
        assert after <= 0.5 * before and "bitwise equal" in line, line
        gru = pygru.load(str(tmp_path / ("train_cells_%s.safetensors" % name)))
        assert gru.layer_norm == (name == "layer_norm") and gru.augru == (name == "augru")
        assert gru.zoneout == (0.1 if name == "zoneout" else 0.0)
        assert gru.weight_dropout == (0.2 if name == "weight_dropout" else 0.0)


def test_rust_runs_the_python_model(libgru, data):
    folder, x, expected = data
    cargo = need("cargo")
    env = dict(os.environ, GRU_TEST_DIR=folder, GRU_LIB_DIR=BUILD,
               GRU_RUST_OUT=os.path.join(folder, "rust.f32"), CARGO_NET_OFFLINE="true",
               CARGO_TARGET_DIR=os.path.join(BUILD, "rust-target"))
    run([cargo, "test", "--offline", "--quiet"], cwd=os.path.join(ROOT, "examples", "rust"),
        env=env)
    rust = np.fromfile(os.path.join(folder, "rust.f32"), "<f4").reshape(expected.shape)
    err = np.abs(rust - expected).max() / np.abs(expected).max()
    assert err <= 1e-5, "Rust vs pygru: max rel err %g" % err
    c_out = os.path.join(folder, "c.f32")
    if os.path.exists(c_out):   # written by the C test above
        assert np.array_equal(rust, np.fromfile(c_out, "<f4").reshape(expected.shape)), \
            "C and Rust (the same libgru) differ"
