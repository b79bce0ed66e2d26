"""test_bench.py - bench/quant_compare.py (the reduced-precision benchmark) runs end to
end in its quick mode on tiny shapes and writes a complete report: every contender
passes its correctness gate against torch float32 and is timed, the quantized ones
really differ from float32 (their gate error is above float32 rounding), every ratio is
there, and the C step rows come from bench/step_c.c when libgru is built. Also: a
contender whose result is wrong is reported "FAILED check" and never timed, and bad
arguments are refused. Likewise bench/cells.py (the GRU variants), bench/contention.py
(2 threads against 1 under contention: every row, mode and condition gated bitwise
against the idle 1-thread result, then timed; a result one ulp off is not timed),
bench/compare.py --set published (issue 15's published shapes: gated, timed, each row's
bound and per-step times present, finite and positive), bench/read_bw.c (the read loop
reads every float exactly once, on any thread count), the cache levels read from a
sysfs-like tree, and bench/step_bound.py (the C step and the read loop from
bench/step_bound.c with its gates, the Python step gated against torch, both ratios
finite; a failed gate fails the run). No timing assertions: speed is measured in bench/,
not here.

Needs torch, onnx and onnxruntime (bench/requirements.txt); skipped without them.
"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

# runs a script outside the package (bench/) in a subprocess and builds libgru, ~20 s
pytestmark = pytest.mark.integration

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
NAMES = ("pygru", "pygru-int8", "pygru-bf16", "torch-qint8", "torch", "ort")


def run_bench(script, *args, env=None):
    """bench/<script> with args in a subprocess on this tree's pygru (PYTHONPATH and cwd
    the repository; env: more environment variables): its CompletedProcess (text)."""
    env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, os.path.join(BENCH, script)] + list(args),
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def run_bench_report(script, out_dir, *args, txt=True, env=None, check=True):
    """bench/<script> with args and --json out_dir/out.json (and, with txt, --txt
    out_dir/out.txt) appended: (CompletedProcess, the JSON document, the text report or
    None). check: its exit status must be 0 (the assertion shows the output's tail); a
    report that was not written fails as well."""
    js, tx = os.path.join(str(out_dir), "out.json"), os.path.join(str(out_dir), "out.txt")
    r = run_bench(script, *args, "--json", js, *(("--txt", tx) if txt else ()), env=env)
    if check:
        assert r.returncode == 0, "%s %s failed (%d):\n%s\n%s" % (
            script, " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    with open(js) as f:
        doc = json.load(f)
    text = None
    if txt:
        with open(tx) as f:
            text = f.read()
    return r, doc, text


# The C step needs libgru built: --c-step build runs make -C c (incremental), so the
# step_c rows are checked wherever make and a C compiler exist.
C_STEP = "build" if shutil.which("make") and shutil.which(os.environ.get("CC", "cc")) else "off"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    r, doc, text = run_bench_report(
        "quant_compare.py", tmp_path_factory.mktemp("quant_compare"), "--quick", "--shapes",
        "12,4,16,24", "8,32,16,24,2,bi", "--steps", "16,24", "16,24,2", "--threads", "1,2",
        "--target", "0.02", "--c-step", C_STEP, "--c-seconds", "0.02", "--budget", "30")
    return doc, text, r.stdout


def test_every_contender_is_gated_and_timed(quick_run):
    doc, _, _ = quick_run
    assert len(doc["batch"]) == 4 and len(doc["step"]) == 4   # 2 cases x 2 thread counts
    for res in doc["batch"] + doc["step"]:
        for name in NAMES:
            e = res["contenders"][name]
            assert e["status"] == "ok", (res["label"], name, e)
            chk = e["check"]
            print("%s thr=%d %s: max rel err %.3g (per tensor %s, tolerance %g)" % (
                res["label"], res["threads"], name, chk["max_rel_err"], chk["per_tensor"],
                chk["tolerance"]))
            assert chk["max_rel_err"] <= chk["tolerance"]
            assert e["n"] >= 3 and 0 < e["q1"] <= e["median"] <= e["q3"]
            assert len(e["round_medians"]) == res["rounds"]
        for name in NAMES[1:]:
            r = res["ratios"][name]
            assert r["rounds"] == res["rounds"]
            assert math.isfinite(r["median"]) and 0 < r["q1"] <= r["median"] <= r["q3"]


def test_quantized_contenders_are_really_quantized(quick_run):
    # float32 agrees with torch to rounding; int8 and bf16 cannot (a model that silently
    # stayed float32, e.g. quantize_dynamic on a bare nn.GRU, would pass as "quantized")
    doc, _, _ = quick_run
    for res in doc["batch"] + doc["step"]:
        errs = {n: res["contenders"][n]["check"]["max_rel_err"] for n in NAMES}
        assert errs["pygru"] < 1e-5 and errs["ort"] < 1e-5, errs
        for name in ("pygru-int8", "pygru-bf16", "torch-qint8"):
            assert errs[name] > 1e-4, (res["label"], name, errs)
        assert errs["pygru-bf16"] < errs["pygru-int8"], errs


def test_report(quick_run):
    doc, text, stdout = quick_run
    assert text.startswith("$ bench/quant_compare.py --quick")
    assert text.split("\n", 2)[2] in stdout
    for head in ("batch T,B,I,H", "step B=1", "pygru int8/f32", "targets (issue 13):"):
        assert head in text
    assert "compute-bound" in text and "FAILED" not in text
    assert doc["machine"]["cpu_model"] and doc["machine"]["pygru_info"]["int8_isa"]
    assert doc["deepbench"]["us_per_step"] == pytest.approx(64.3e3 / 1500)
    assert all(not r["compute_bound"] for r in doc["batch"])   # B >= 32 but H < 512
    # the step targets (int8 0.4x, bf16 0.6x) are evaluated for every step row
    assert len(doc["targets"]) == 2 * len(doc["step"])
    for t in doc["targets"]:
        assert t["text"].endswith(": met" if t["met"] else ": MISSED")


def test_c_step_rows(quick_run):
    doc, text, _ = quick_run
    if C_STEP == "off":
        assert doc["c_step_unavailable"] == "off" and doc["c_step"] == []
        pytest.skip("no make or C compiler: the C step is not built")
    assert doc["c_step_unavailable"] is None
    assert len(doc["c_step"]) == len(doc["step"])
    for row in doc["c_step"]:
        assert set(row["formats"]) == {"f32", "int8", "bf16"}
        for fmt, e in row["formats"].items():
            assert e["status"] == "ok", (row["label"], fmt, e)
            assert 0 < e["best"] <= e["median"]
            assert ("layers=%d" % row["layers"]) in e["line"]
            if fmt != "f32":
                assert fmt in e["line"]   # the model really was quantized
    assert "C step (step_c.c)" in text


def test_a_wrong_result_is_not_timed(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    monkeypatch.syspath_prepend(ROOT)
    import contenders as C
    import quant_compare
    import quant_contenders as Q
    args = quant_compare.parse_args(["--quick", "--contenders", "pygru,pygru-int8"])
    wl = C.Workload(C.Shape(5, 2, 8, 8))
    wl.reference("infer")
    # a reference that is off by 10 % everywhere: float32 and int8 both fail their gate
    wl._ref["infer"] = {k: v * 1.1 + 0.1 for k, v in wl._ref["infer"].items()}
    res = quant_compare.run_case(lambda n: Q.build_batch(n, wl, 1), args)
    for name in ("pygru", "pygru-int8"):
        e = res["contenders"][name]
        assert e["status"] == "FAILED check" and "median" not in e, e
        assert e["check"]["max_rel_err"] > e["check"]["tolerance"]
    assert res["ratios"] == {} and "rounds" not in res
    assert res["contenders"]["torch"]["status"] == "not selected"


def test_torch_dynamic_quantization_replaces_the_gru(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import torch
    import quant_contenders as Q
    g = torch.nn.GRU(8, 16)
    q = Q.quantize_torch(g)
    assert type(q).__module__.startswith("torch.ao.nn.quantized.dynamic")
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 2, 8)).astype(np.float32))
    with torch.inference_mode():
        assert not torch.equal(q(x)[0], g(x)[0])


@pytest.mark.parametrize("args, message", [
    (["--steps", "0,5"], "--steps '0,5': expected I,H[,layers]"),
    (["--shapes", "1,2,3"], "expected T,B,I,H"),
    (["--contenders", "pygru,tf"], "--contenders: unknown 'tf'"),
])
def test_bad_arguments(args, message):
    r = run_bench("quant_compare.py", *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


# ---- bench/cells.py: the GRU variants' training time against the plain GRU ------------

CELL_VARIANTS = ("layer_norm", "zoneout", "weight_dropout", "augru")


@pytest.fixture(scope="module")
def cells_run(tmp_path_factory):
    # the exit status is checked by test_cells_variants_are_gated_and_timed alone
    return run_bench_report("cells.py", tmp_path_factory.mktemp("cells"), "--quick",
                            "--shapes", "10,4,16,24", "7,3,5,8", "--target", "0.02",
                            check=False)


def test_cells_plain_is_gated_and_timed(cells_run):
    r, doc, text = cells_run
    assert len(doc["results"]) == 2
    for res in doc["results"]:
        e = res["contenders"]["plain"]
        assert e["status"] == "ok", e
        # pygru float32 against the bench's float64 torch autograd reference
        assert e["check"]["max_rel_err"] <= 1e-5, e["check"]
        assert set(e["check"]["checks"]["vs reference"]) >= {
            "output", "h_n", "grad_x", "grad_h0", "grad_weight_hh_l0"}
        assert e["n"] >= 3 and 0 < e["q1"] <= e["median"] <= e["q3"]
    assert text.startswith("$ bench/cells.py --quick") and "FAILED" not in text


def test_cells_variants_are_gated_and_timed(cells_run):
    # fails until pygru.GRU has layer_norm, zoneout, weight_dropout and augru
    r, doc, text = cells_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for res in doc["results"]:
        for name in CELL_VARIANTS:
            e = res["contenders"][name]
            assert e["status"] == "ok", (res["label"], name, e)
            assert e["check"]["max_rel_err"] <= e["check"]["tolerance"]
            ratio = res["ratios"][name]
            assert math.isfinite(ratio["median"]) and ratio["rounds"] == res["rounds"]
        for name in ("zoneout", "weight_dropout"):
            assert "training vs reference with its masks" in res["contenders"][name]["check"][
                "checks"], "the gate of %s did not check training mode" % name
    assert len(doc["targets"]) == 3 * len(doc["results"])


def test_cells_wrong_result_is_not_timed(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    monkeypatch.syspath_prepend(ROOT)
    import contenders as C
    import cells
    args = cells.parse_args(["--quick", "--contenders", "plain"])
    case = cells.Case(C.Shape(5, 2, 8, 8))
    right = cells._reference
    monkeypatch.setattr(cells, "_reference",
                        lambda *a, **k: {n: v * 1.1 + 0.1 for n, v in right(*a, **k).items()})
    res = cells.run_case(case, args)
    e = res["contenders"]["plain"]
    assert e["status"] == "FAILED check" and "median" not in e, e
    assert res["ratios"] == {} and "rounds" not in res
    assert res["contenders"]["augru"]["status"] == "not selected"


def test_cells_reference(monkeypatch):
    # the bench's reference: plain = torch.nn.GRU; AUGRU with a = 1 = plain; zoneout
    # masks of ones keep h0 = 0; LN of the projections changes the result
    monkeypatch.syspath_prepend(BENCH)
    import torch
    import cells
    rng = np.random.default_rng(1)
    T, B, I, H = 4, 3, 5, 6
    g = torch.nn.GRU(I, H).double()
    w = {k + "_l0": getattr(g, k + "_l0").detach().numpy() for k in
         ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    x, grad = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    ref = cells._reference(w, x, None, grad, "plain")
    xt = torch.tensor(x, requires_grad=True)
    out, h_n = g(xt)
    out.backward(torch.tensor(grad))
    np.testing.assert_allclose(ref["output"], out.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref["h_n"], h_n.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref["grad_x"], xt.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref["grad_weight_hh_l0"], g.weight_hh_l0.grad.numpy(),
                               rtol=0, atol=1e-12)
    aug = cells._reference(w, x, np.ones((T, B)), grad, "augru")
    for k in ref:
        np.testing.assert_allclose(aug[k], ref[k], rtol=0, atol=1e-12)
    assert np.abs(aug["grad_attention"]).max() > 1e-3
    kept = cells._reference(w, x, None, grad, "plain", zoneout_mask=np.ones((T, B, H)))
    assert np.abs(kept["output"]).max() == 0.0
    ones = cells._reference(w, x, None, grad, "plain", weight_mask=np.ones((3 * H, H)))
    np.testing.assert_allclose(ones["output"], ref["output"], rtol=0, atol=1e-15)
    ln = cells._reference(w, x, None, grad, "layer_norm")
    assert np.abs(ln["output"] - ref["output"]).max() > 1e-3


@pytest.mark.parametrize("args, message", [
    (["--shapes", "10,4,16,24,2"], "times one unidirectional layer"),
    (["--contenders", "plain,lstm"], "--contenders: unknown 'lstm'"),
    (["--threads", "0"], "--threads must be integers >= 1"),
])
def test_cells_bad_arguments(args, message):
    r = run_bench("cells.py", *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


# ---- bench/contention.py: 2 threads against 1 while a core is kept busy (issue 15) ----------

def _have_spinner():
    sys.path.insert(0, BENCH)
    import spinner
    try:
        spinner.load_library()
        return True
    except spinner.SpinnerUnavailable:
        return False


@pytest.fixture(scope="module")
def contention_run(tmp_path_factory):
    # GRU_THREAD_MIN_WORK=0: libgru splits even these tiny rows over the threads, so the
    # pool really runs under every condition
    r, doc, text = run_bench_report(
        "contention.py", tmp_path_factory.mktemp("contention"), "--quick", "--shapes",
        "12,4,16,24", "8,3,8,16,2,bi", "--stream-size", "16", "--stream-steps", "5",
        "--target", "0.02", env={"GRU_THREAD_MIN_WORK": "0"})
    return doc, text, r.stdout


def test_contention_every_case_is_gated_and_timed(contention_run):
    doc, _, _ = contention_run
    spin = _have_spinner()
    rows = [("12,4,16,24", "infer"), ("12,4,16,24", "train"), ("8,3,8,16 L2 bidir", "infer"),
            ("8,3,8,16 L2 bidir", "train"), ("cell B=1 I=H=16", "stream"),
            ("step L2 B=1 I=H=16", "stream")]
    got = [(r["row"], r["mode"], r["condition"]) for r in doc["results"]]
    assert got == [(row, mode, c) for row, mode in rows for c in ("idle", "spin", "torch")]
    for res in doc["results"]:
        assert res["pool_used"], res["row"]
        errs = res["reference_vs_torch"]
        assert errs and max(errs.values()) <= 1e-4, errs
        if res["condition"] == "spin" and not spin:
            assert res["status"] == "unavailable" and "spin.c" in res["note"]
            continue
        assert res["status"] == "ok", res
        chk = res["check"]
        assert chk["bitwise_equal_to_idle_1_thread"] is True and chk["differences"] == {}
        want = {"infer": {"output", "h_n"}, "cell": {"h1"}, "step2": {"h1", "state"},
                "train": {"output", "h_n", "grad_x", "grad_weight_ih_l0", "grad_bias_hh_l0"}
                }[res["kind"]]
        if res["kind"] == "train" and "bidir" in res["row"]:
            want.add("grad_weight_hh_l1_reverse")
        assert want <= set(chk["tensors"]), (res["row"], chk["tensors"])
        for n in ("1", "2"):
            e = res["threads"][n]
            assert e["n"] >= 3 and 0 < e["q1"] <= e["median"] <= e["q3"]
            assert len(e["round_medians"]) == res["rounds"] >= 3
            assert e["calls_per_sample"] == (5 if res["mode"] == "stream" else 1)
        r = res["ratio"]
        assert r["rounds"] == res["rounds"] and 0 < r["q1"] <= r["median"] <= r["q3"]
        assert res["over_bound"] == (r["median"] > 1.2)
        if res["condition"] == "spin":
            info = res["condition_info"]
            assert info["iterations"] > 0 and 0 < info["core_share"] <= 1.05
            assert res["load"]["own_cores"] > 0.5   # the spinner's core shows in the process
    conds = [t["condition"] for t in doc["targets"]]
    assert conds == (["spin", "torch"] if spin else ["torch"])
    for t in doc["targets"]:
        assert t["text"].endswith("met") or "MISSED on" in t["text"]


def test_contention_report(contention_run):
    doc, text, stdout = contention_run
    assert text.startswith("$ bench/contention.py --quick")
    assert text.split("\n", 2)[2] in stdout
    assert "2/1 [q1-q3]" in text and "FAILED" not in text
    assert "targets (issue 15: 2 threads <= 1.20x 1 thread" in text
    assert doc["machine"]["cpu_model"] and doc["settings"]["bound"] == 1.2


def test_contention_wrong_result_is_not_timed(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    monkeypatch.syspath_prepend(ROOT)
    import contenders as C
    import contention
    import pygru
    args = contention.parse_args(["--quick", "--conditions", "idle"])
    row = contention.Row("infer", C.Shape(5, 2, 8, 8))
    row.build()
    before = pygru.get_num_threads()
    try:
        contention.prepare_reference(row, pygru.set_num_threads)
        row.reference["output"] = row.reference["output"].copy()
        row.reference["output"][0, 0, 0] = np.nextafter(row.reference["output"][0, 0, 0],
                                                         np.float32(np.inf))   # one ulp off
        res = contention.run_case(row, "idle", args, pygru.set_num_threads)
    finally:
        pygru.set_num_threads(before)
    assert res["status"] == "FAILED check" and "ratio" not in res and "rounds" not in res
    diff = res["check"]["differences"]
    assert set(diff) == {"1 threads", "2 threads"} and set(diff["1 threads"]) == {"output"}
    assert "of 320 bytes differ" in diff["1 threads"]["output"]   # (5, 2, 8) float32


@pytest.mark.parametrize("args, message", [
    (["--conditions", "idle,busy"], "--conditions: unknown 'busy'"),
    (["--modes", "infer,step"], "--modes: unknown 'step'"),
    (["--shapes", "1,2,3"], "expected T,B,I,H"),
    (["--stream-steps", "0"], "must be >= 1"),
])
def test_contention_bad_arguments(args, message):
    r = run_bench("contention.py", *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


# ---- bench/compare.py --set published: issue 15's published shapes and their bounds --

@pytest.fixture(scope="module")
def published_run(tmp_path_factory):
    # one DeepBench sequence row (T = 5 instead of 25) and the LPCNet step, 1 thread
    r, doc, _ = run_bench_report(
        "compare.py", tmp_path_factory.mktemp("published"), "--set", "published", "--quick",
        "--shapes-filter", "deepbench-h512-b1,lpcnet", "--published-T", "5", "--threads", "1",
        "--target", "0.02", txt=False)
    return doc, r.stdout


def test_published_rows_are_gated_timed_and_bounded(published_run):
    doc, stdout = published_run
    rows = [(res["row"], res["mode"]) for res in doc["results"]]
    assert rows == [("deepbench-h512-b1", "infer"), ("lpcnet-384", "step")]
    for res in doc["results"]:
        steps = res["shape"]["T"] if res["mode"] == "infer" else 1
        assert res["shape"]["T"] == (5 if res["mode"] == "infer" else 1)
        b = res["bound"]
        assert b["steps"] == steps
        assert b["bound"] == "FMA" or b["bound"] == "%s read" % b["level"], b
        assert b["level"] in [c["name"] for c in doc["cache_levels"]] + ["DRAM"]
        assert res["read_bandwidth"]["gbps"] > 0 and res["read_bandwidth"]["level"] == b["level"]
        assert 0 < b["t_bound"] == max(b["t_fma"], b["t_read"])
        for name in ("pygru", "torch", "ort"):
            e = res["contenders"][name]
            assert e["status"] == "ok", (res["row"], name, e)
            if name != "torch":   # torch is the reference; the others passed its gate
                assert e["check"]["max_rel_err"] <= e["check"]["tolerance"] == 1e-4
            c = b["contenders"][name]
            assert c["us_per_step"] == pytest.approx(e["median"] / steps * 1e6)
            for key in ("pct_bound", "pct_fma", "pct_read"):
                assert math.isfinite(c[key]) and c[key] > 0, (res["row"], name, key, c)
        for peer in ("torch", "ort"):
            r = res["ratios"]["pygru/" + peer]
            assert math.isfinite(r["median"]) and r["median"] > 0
    # the LPCNet step reads all of its 3H(I+H) weights; the sequence W_hh every step
    step = doc["results"][1]["bound"]
    assert step["read_bytes"] == step["resident_bytes"] == 4 * 3 * 384 * 768
    seq = doc["results"][0]["bound"]
    assert seq["read_bytes"] == 4 * (5 * 3 * 512 * 512 + 3 * 512 * 512)
    assert "published row" in stdout and "lpcnet-384" in stdout and "FAILED" not in stdout


def test_published_set_definition(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import contenders as C
    import published
    rows = published.rows()
    names = [r.name for r in rows]
    assert len(names) == len(set(names)) == 18 + 1 + 6 + 2
    deepbench = [r for r in rows if r.name.startswith("deepbench-")]
    assert {(r.shape.H, r.shape.B) for r in deepbench} == {
        (h, b) for h in (512, 1024, 1536, 2048, 2560, 2816) for b in (1, 2, 4)}
    assert all(r.shape.I == r.shape.H and r.shape.T == 25 and r.kind == "seq" for r in deepbench)
    ds2 = rows[names.index("ds2-mxnet")]
    assert (ds2.shape.T, ds2.shape.B, ds2.shape.I, ds2.shape.H) == (300, 20, 800, 800)
    assert ds2.published["seconds"] == 0.048
    rn = rows[names.index("rnnoise-3x384")]
    assert rn.kind == "step" and (rn.shape.L, rn.shape.I, rn.shape.H, rn.shape.B) == (
        3, 384, 384, 1)
    assert [r.name for r in published.rows(50, ["ort-pr644-b8"])] == [
        "ort-pr644-b8-h512", "ort-pr644-b8-h1024"]
    assert published.rows(50, ["deepbench-h1024-b2"])[0].shape.T == 50
    with pytest.raises(ValueError, match="matches no published row"):
        published.rows(25, ["lstm"])
    # bytes: a 2-layer step reads 3H(I+H) + 3H(2H); a sequence W_hh T times, W_ih once
    assert published.weight_bytes(C.Shape(1, 1, 10, 20, L=2), "step") == (
        4 * (3 * 20 * 30 + 3 * 20 * 40),) * 2
    assert published.weight_bytes(C.Shape(7, 3, 10, 20), "seq") == (
        4 * (7 * 3 * 20 * 20 + 3 * 20 * 10), 4 * 3 * 20 * 30)


def test_published_bound_is_the_larger_ceiling(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import contenders as C
    import published
    row = published.Row("x", "seq", C.Shape(10, 1, 100, 100), "test")
    read = 4 * (10 * 3 * 100 * 100 + 3 * 100 * 100)
    flops = C.forward_flops(10, 1, 100, 100)
    res = {"mode": "infer", "flops": flops, "threads": 1,
           "contenders": {"pygru": {"status": "ok", "median": 1e-3},
                          "torch": {"status": "skipped: budget"}}}
    bw = {"gbps": 10.0, "level": "L2"}
    # read-bound: the reads take read / 10e9 s, the FLOPs at 1000 GFLOP/s far less
    b = published.bounds(res, row, 1000.0, bw)
    assert b["bound"] == "L2 read" and b["t_bound"] == pytest.approx(read / 10e9)
    assert b["contenders"]["pygru"]["pct_bound"] == pytest.approx(100 * read / 10e9 / 1e-3)
    assert b["contenders"]["pygru"]["us_per_step"] == pytest.approx(100.0)
    assert "torch" not in b["contenders"]
    # compute-bound: a slow FMA peak makes the FLOPs the longer time
    b = published.bounds(res, row, 0.001, bw)
    assert b["bound"] == "FMA" and b["t_bound"] == pytest.approx(flops / 1e6)


@pytest.mark.parametrize("args, message", [
    (["--shapes-filter", "lpcnet"], "--shapes-filter selects rows of --set published"),
    (["--set", "published", "--modes", "stream"], "--modes: unknown mode 'stream'"),
    (["--set", "published", "--shapes-filter", "lstm"], "matches no published row"),
    (["--modes", "step"], "step belongs to --set published"),
    (["--set", "published", "--shapes", "10,1,8,8"], "exclusive"),
    (["--set", "published", "--contenders", "pygru,tf"], "--contenders: unknown 'tf'"),
])
def test_published_bad_arguments(args, message):
    r = run_bench("compare.py", *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


# ---- bench/read_bw.c (the plain weight-read loop) and the cache levels -----------------

def test_read_loop_reads_every_float(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import ctypes
    import machine
    if not (shutil.which(os.environ.get("CC", "cc"))):
        pytest.skip("no C compiler")
    lib = machine.read_bw_lib()
    fp = ctypes.POINTER(ctypes.c_float)
    isas = {lib.read_bw_isa().decode()}
    for force in ("plain", "avx2"):    # every kernel this CPU runs, not just the widest
        monkeypatch.setenv("READ_BW_ISA", force)
        isas.add(lib.read_bw_isa().decode())
        _read_loop_sums(lib, fp)
    monkeypatch.delenv("READ_BW_ISA")
    assert "plain C" in isas and len(isas) == 1 + ("avx2" in machine.cpu_flags()) + (
        "avx512f" in machine.cpu_flags())
    _read_loop_sums(lib, fp)
    buf = np.ones(64, np.float32)
    ptr = buf.ctypes.data_as(fp)
    assert lib.read_seconds(ptr, 64, 0) == -1.0               # reps < 1
    assert lib.read_seconds_threads(ptr, 64, 1, 0) == -1.0    # threads < 1
    assert lib.read_seconds_threads(ptr, 64, 1, 65) == -1.0   # > READ_BW_MAX_THREADS
    assert lib.read_seconds(None, 64, 1) == -1.0
    assert math.isnan(lib.read_sum(None, 64, 1))
    assert lib.read_bw_isa().decode() in ("avx512f", "avx2", "plain C")
    bw = machine.measure_read_bandwidth(256 << 10, 1, seconds=0.01)
    assert bw["gbps"] > 0 and bw["bytes"] == 256 << 10


def _read_loop_sums(lib, fp):
    for n in (0, 1, 15, 17, 129, 1000, 100003):
        # nonzero multiples of 2^-10 whose partial sums are exact in float32: any float
        # read twice or skipped changes the sum
        buf = ((np.arange(n) % 4 + 1) / 1024.0).astype(np.float32)
        exact = float(np.sum(buf, dtype=np.float64))
        ptr = buf.ctypes.data_as(fp)
        for threads in (1, 2, 3):
            assert lib.read_sum(ptr, n, threads) == exact, (n, threads)
            assert lib.read_seconds_threads(ptr, n, 3, threads) >= 0.0
            assert lib.read_mean_seconds(ptr, n, 3, threads) >= 0.0
        assert lib.read_seconds(ptr, n, 2) >= 0.0


def test_cache_levels_and_weight_level(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import machine
    for i, (level, kind, size, shared) in enumerate([
            (1, "Data", "48K", "0"), (1, "Instruction", "32K", "0"),
            (2, "Unified", "2048K", "0"), (3, "Unified", "32M", "0-3,8-11")]):
        d = tmp_path / ("index%d" % i)
        d.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size),
                            ("shared_cpu_list", shared)):
            (d / name).write_text("%s\n" % value)
    levels = machine.cache_levels(str(tmp_path))
    assert [(c["name"], c["bytes"], c["shared_cpus"]) for c in levels] == [
        ("L1", 48 << 10, 1), ("L2", 2 << 20, 1), ("L3", 32 << 20, 8)]
    wl = machine.weight_level
    assert wl(40 << 10, 1, levels) == "L1"
    assert wl(80 << 10, 1, levels) == "L2" and wl(80 << 10, 2, levels) == "L1"
    assert wl(3 << 20, 1, levels) == "L3" and wl(3 << 20, 2, levels) == "L2"
    assert wl(33 << 20, 2, levels) == "DRAM"
    assert machine.cache_levels(str(tmp_path / "missing")) == []


# ---- bench/step_bound.py: the C and Python steps against the read loop -----------------

@pytest.mark.skipif(C_STEP == "off", reason="no make or C compiler: the C tool is not built")
def test_step_bound_script(tmp_path):
    _, doc, text = run_bench_report(
        "step_bound.py", tmp_path, "--quick", "--steps", "16,24", "24,24,2", "--threads",
        "1,2", "--seconds", "0.05", "--py-seconds", "0.05", "--rounds", "4")
    assert [(row["I"], row["H"], row["layers"], row["threads"]) for row in doc["rows"]] == [
        (16, 24, 1, 1), (16, 24, 1, 2), (24, 24, 2, 1), (24, 24, 2, 2)]
    for row in doc["rows"]:
        assert row["check"]["max_rel_err"] <= row["check"]["tolerance"] == 1e-4
        assert row["weight_bytes"] == 4 * (3 * 24 * (row["I"] + 24)
                                           + (row["layers"] - 1) * 3 * 24 * 48)
        c, py = row["c"], row["py"]
        assert c["status"] == "ok", c
        assert c["gates"].startswith("gates passed: gru_step == gru_forward")
        assert ("layers=%d threads=%d" % (row["layers"], row["threads"])) in c["line"]
        assert c["bytes"] == row["weight_bytes"]
        assert 0 < c["c_best"] <= c["c_median"] and 0 < c["read_best"] <= c["read_median"]
        assert py["status"] == "ok" and len(py["round_means"]) == 4
        assert 0 < py["best"] <= py["median"]
        for key in ("c_over_read", "py_over_c"):
            for v in (row[key]["median"], row[key]["best"]):
                assert math.isfinite(v) and v > 0, (key, row[key])
            assert row[key]["met"] == (row[key]["median"] <= row[key]["target"])
        assert row["py_over_c"]["median"] == pytest.approx(py["median"] / c["c_median"])
    assert text.startswith("$ bench/step_bound.py --quick") and "C/read (<= 1.15)" in text
    assert "FAILED" not in text


def test_step_bound_gates(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(BENCH)
    monkeypatch.syspath_prepend(ROOT)
    import step_bound
    args = step_bound.parse_args(["--quick", "--rounds", "2"])
    # a C tool whose gate fails: reported, and the run counts it as a failure
    fake = tmp_path / "fake_tool"
    fake.write_text("#!/bin/sh\necho 'gate FAILED: the read loop sum differs'\nexit 1\n")
    fake.chmod(0o755)
    c = step_bound.run_c(str(fake), 8, 8, 1, 1, 0.01)
    assert c["status"] == "FAILED gate" and "read loop" in c["line"]
    assert step_bound.failed([{"py": {"status": "ok"}, "c": c}])
    # a Python step that disagrees with torch: not timed, the C tool not run
    monkeypatch.setattr(step_bound.PyStep, "check", lambda self: {"h1": 0.5})
    row = step_bound.run_row(str(fake), 8, 8, 1, 1, args)
    assert row["py"]["status"] == "FAILED check" and "median" not in row["py"]
    assert row["c"]["status"].startswith("not run")
    assert step_bound.failed([row])


@pytest.mark.parametrize("args, message", [
    (["--steps", "0,5"], "--steps '0,5': expected I,H[,layers]"),
    (["--threads", "0"], "--threads must be integers >= 1"),
    (["--rounds", "1"], "--rounds must be >= 2"),
])
def test_step_bound_bad_arguments(args, message):
    r = run_bench("step_bound.py", *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
