"""bench/quant_contenders.py - the contenders of bench/quant_compare.py: pygru float32,
int8 and bf16 (GRU.quantize), PyTorch float32 and its dynamically quantized int8 GRU
(torch.ao.quantization.quantize_dynamic, qint8 weights, activations quantized per
call), and ONNX Runtime float32, on a batch inference (contenders.Workload, mode infer)
or on a streaming step (StepWorkload: B = 1, state fed back).

Every contender gets the SAME weights (the torch module's state dict; the quantized
ones quantize them) and passes a correctness gate before it is timed: its result is
compared with torch float32's on the same input (max |a - ref| / max |ref| per tensor),
within TOLERANCE[name] (float32: 1e-4; the quantized models: a bound on their
quantization error, see docs/quantization.md, "Accuracy"). A wrong weight conversion
or a broken quantized path therefore never produces a benchmark number.

Guarantees: build_batch(name, wl, threads) and build_step(name, wl, threads) return
(timing.Contender, check) where call() does exactly one unit of work (one forward over
the sequence; one step of every layer) and check() runs the same work once and returns
the relative error of each tensor against torch float32.
"""
import warnings

import numpy as np

import contenders as C
from timing import Contender

# name: (label in tables, format) ; "pygru" is the reference of every ratio
NAMES = ("pygru", "pygru-int8", "pygru-bf16", "torch-qint8", "torch", "ort")
LABELS = {"pygru": "pygru f32", "pygru-int8": "pygru int8", "pygru-bf16": "pygru bf16",
          "torch-qint8": "torch qint8", "torch": "torch f32", "ort": "ORT f32"}
# Gate tolerances (relative to max |ref|). pygru int8: per-row int8 weights and
# activations, measured 0.007-0.02 on these workloads (docs/quantization.md: max abs
# errors ~0.015); bf16 about 3x less (0.002-0.005). torch's dynamic quantization has one
# scale per weight tensor and per activation tensor: measured 0.014-0.05. A wrong weight
# conversion gives errors of order 1.
TOLERANCE = {"pygru": 1e-4, "ort": 1e-4, "torch": 0.0, "pygru-int8": 0.08,
             "torch-qint8": 0.15, "pygru-bf16": 0.03}


class StepWorkload:
    """A streaming step: torch.nn.GRU(I, H, L) seeded, one frame x (1, I), a start
    state h0 (L, 1, H); the reference is torch float32's new state (L, 1, H)."""

    def __init__(self, I, H, L=1, seed=0):
        import torch
        self.I, self.H, self.L = I, H, L
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.tmod = torch.nn.GRU(I, H, num_layers=L)
        self.x = rng.standard_normal((1, I)).astype(np.float32)                  # (1, I)
        self.h0 = (0.5 * rng.standard_normal((L, 1, H))).astype(np.float32)      # (L, 1, H)
        self.state_dict = {k: v.detach().clone() for k, v in self.tmod.state_dict().items()}
        self._ref = None
        self._tq = None

    def label(self):
        s = "I=H=%d" % self.H if self.I == self.H else "I=%d H=%d" % (self.I, self.H)
        return s + (", %d layers" % self.L if self.L > 1 else "")

    def as_dict(self):
        return {"I": self.I, "H": self.H, "layers": self.L, "B": 1}

    def weight_mb(self):
        """float32 weight megabytes read per step: 3H(I+H) + (L-1) 3H(2H) values."""
        n = 3 * self.H * (self.I + self.H) + (self.L - 1) * 3 * self.H * 2 * self.H
        return 4 * n / 1e6

    def reference(self):
        import torch
        if self._ref is None:
            with torch.inference_mode():
                _, h1 = self.tmod(torch.from_numpy(self.x[None]), torch.from_numpy(self.h0))
            self._ref = h1.numpy().copy()
        return self._ref

    def torch_qint8(self):
        if self._tq is None:
            self._tq = quantize_torch(self.tmod)
        return self._tq


def quantize_torch(tmod):
    """torch.nn.GRU -> its dynamically quantized copy (qint8 weights; the module type is
    torch.ao.nn.quantized.dynamic.GRU). quantize_dynamic swaps children only, so the GRU
    is wrapped in a container. Its deprecation warnings are swallowed here (the API is
    deprecated in favour of torchao, which has no GRU)."""
    import torch

    class Holder(torch.nn.Module):
        def __init__(self, gru):
            super().__init__()
            self.gru = gru

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(Holder(tmod), {torch.nn.GRU},
                                                   dtype=torch.qint8).gru
    if type(q) is type(tmod):
        raise RuntimeError("quantize_dynamic left the GRU unquantized (%s)" % type(q))
    return q


def _quiet(fn):
    """fn with warnings ignored (torch's quantized modules warn on some calls)."""
    def call(*a):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*a)
    return call


# ---- batch inference ----------------------------------------------------------------

def build_batch(name, wl, threads):
    """(Contender, check) for a batch inference of contenders.Workload wl."""
    if name == "pygru":
        return C.build_pygru(wl, "infer")
    if name == "torch":
        return C.build_torch(wl, "infer")
    if name == "ort":
        return C.build_ort(wl, "infer", threads)
    if name in ("pygru-int8", "pygru-bf16"):
        return _batch_pygru_q(wl, name.split("-")[1], name)
    if name == "torch-qint8":
        return _batch_torch_q(wl, name)
    raise ValueError("unknown contender %r (expected one of %s)" % (name, ", ".join(NAMES)))


def _batch_errors(out, h_n, wl):
    ref = wl.reference("infer")
    return {"output": C.rel_err(out, ref["output"]), "h_n": C.rel_err(h_n, ref["h_n"])}


def _batch_pygru_q(wl, fmt, name):
    import pygru
    s = wl.shape
    m = pygru.GRU(s.I, s.H, num_layers=s.L, bidirectional=s.bidir)
    m.load_state_dict(wl.state_dict)
    q = m.eval().quantize(fmt)
    x = wl.x

    def call():
        q(x)

    def check():
        return _batch_errors(*q(x), wl)
    return Contender(name, call), check


def _batch_torch_q(wl, name):
    import torch
    if getattr(wl, "_tq", None) is None:
        wl._tq = quantize_torch(wl.tmod)
    tq = wl._tq
    xt = torch.from_numpy(wl.x)
    run = _quiet(tq)

    def call():
        run(xt)

    def check():
        with torch.inference_mode():
            out, h_n = run(xt)
        return _batch_errors(out.numpy(), h_n.numpy(), wl)
    return Contender(name, call, context=torch.inference_mode), check


# ---- streaming step -----------------------------------------------------------------

def build_step(name, wl, threads):
    """(Contender, check) for one step (B = 1, every layer) of StepWorkload wl; call()
    feeds the state back, as a real-time stream does."""
    if name in ("pygru", "pygru-int8", "pygru-bf16"):
        return _step_pygru(wl, None if name == "pygru" else name.split("-")[1], name)
    if name in ("torch", "torch-qint8"):
        return _step_torch(wl, name)
    if name == "ort":
        return _step_ort(wl, threads)
    raise ValueError("unknown contender %r (expected one of %s)" % (name, ", ".join(NAMES)))


def _step_pygru(wl, fmt, name):
    import pygru
    m = pygru.GRU(wl.I, wl.H, num_layers=wl.L)
    m.load_state_dict(wl.state_dict)
    m.eval()
    model = m.quantize(fmt) if fmt else m
    x = wl.x
    state, out = wl.h0.copy(), np.empty((1, wl.H), np.float32)   # (L, 1, H), (1, H)

    def call():
        model.step(x, state, out)

    def check():
        st = wl.h0.copy()
        model.step(x, st)
        return {"h1": C.rel_err(st, wl.reference())}
    return Contender(name, call), check


def _step_torch(wl, name):
    import torch
    tm = wl.tmod if name == "torch" else wl.torch_qint8()
    run = _quiet(tm) if name != "torch" else tm
    xt = torch.from_numpy(wl.x[None])                 # (1, 1, I)
    state = [torch.from_numpy(wl.h0.copy())]          # (L, 1, H)

    def call():
        state[0] = run(xt, state[0])[1]

    def check():
        with torch.inference_mode():
            h1 = run(xt, torch.from_numpy(wl.h0))[1]
        return {"h1": C.rel_err(h1.numpy(), wl.reference())}
    return Contender(name, call, context=torch.inference_mode), check


def _step_ort(wl, threads):
    import onnx_gru
    model = onnx_gru.build_model(wl.state_dict, wl.I, wl.H, wl.L, False, with_initial_h=True)
    sess = onnx_gru.make_session(model, threads)
    x = wl.x[None]                                    # (1, 1, I)
    state = [wl.h0.copy()]                            # (L, 1, H)
    outs = ["h_n"]

    def call():
        state[0] = sess.run(outs, {"X": x, "initial_h": state[0]})[0]

    def check():
        h1 = sess.run(outs, {"X": x, "initial_h": wl.h0})[0]
        return {"h1": C.rel_err(h1, wl.reference())}
    return Contender("ort", call), check
