"""bench/contenders.py - the workloads (shapes, weights, inputs) and the three
contenders that run them: pygru, torch and ONNX Runtime, each with the correctness
gate it must pass before it is timed.

A Workload holds one shape's torch reference module (weights from a fixed seed),
its input x (T, B, I) and output gradient (T, B, D*H), float32. Every contender gets
the SAME weights: pygru through load_state_dict(torch_module.state_dict()), ONNX
Runtime through the converted W/R/B tensors (bench/onnx_gru.py).

Modes:
  infer   forward only: pygru .eval(), torch under torch.inference_mode(), ORT run;
  train   forward + backward: pygru train-mode forward then .backward(grad), torch
          autograd with requires_grad input then out.backward(grad); ORT: n/a;
  stream  one GRUCell step (B=1) called from Python, the state fed back: pygru.GRUCell
          (eval), torch.nn.GRUCell (inference_mode), ORT GRU with T=1 and initial_h.

Guarantees: build(...) returns a timing.Contender whose call() does exactly one unit
of the mode's work, and a check() that runs the same work once and returns the
relative error of every tensor against torch (max |a - ref| / max |ref|).
"""
import numpy as np

from timing import Contender

MODES = ("infer", "train", "stream")


class Shape:
    """T, B, I, H, num_layers L, bidirectional; float32."""

    def __init__(self, T, B, I, H, L=1, bidir=False):
        self.T, self.B, self.I, self.H, self.L, self.bidir = T, B, I, H, L, bool(bidir)

    @property
    def D(self):
        return 2 if self.bidir else 1

    def label(self):
        s = "%d,%d,%d,%d" % (self.T, self.B, self.I, self.H)
        if self.L != 1 or self.bidir:
            s += " L%d%s" % (self.L, " bidir" if self.bidir else "")
        return s

    def as_dict(self):
        return {"T": self.T, "B": self.B, "I": self.I, "H": self.H, "layers": self.L,
                "bidirectional": self.bidir}

    @classmethod
    def parse(cls, spec):
        """'T,B,I,H' with optional ',L' and ',bi' (e.g. '200,32,128,256,2,bi')."""
        parts = [p.strip().lower() for p in spec.replace("x", ",").split(",") if p.strip()]
        bidir = False
        if parts and parts[-1] in ("bi", "bidir", "bidirectional"):
            bidir, parts = True, parts[:-1]
        if len(parts) not in (4, 5) or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError("shape %r: expected T,B,I,H[,layers][,bi] with positive "
                             "integers" % spec)
        nums = [int(p) for p in parts]
        return cls(*nums[:4], L=nums[4] if len(nums) == 5 else 1, bidir=bidir)


def forward_flops(T, B, I, H, L=1, D=1):
    """Matmul FLOPs of one forward: 2 T B 3H (in + H) per layer and direction, where
    in = I for the first layer and D*H above it."""
    total, inp = 0, I
    for _ in range(L):
        total += D * 2 * T * B * 3 * H * (inp + H)
        inp = D * H
    return total


def mode_flops(shape, mode):
    f = forward_flops(shape.T, shape.B, shape.I, shape.H, shape.L, shape.D)
    return 3 * f if mode == "train" else f


def rel_err(a, ref):
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    if a.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
    return float(np.max(np.abs(a - ref))) / scale if ref.size else 0.0


class Workload:
    """One shape's reference module and data. For mode 'stream' the shape is
    (T=1, B=1, I, H) and the module is a torch.nn.GRUCell."""

    def __init__(self, shape, stream=False, seed=0):
        import torch
        self.shape, self.stream = shape, stream
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        s = shape
        if stream:
            self.tmod = torch.nn.GRUCell(s.I, s.H)
            self.x = rng.standard_normal((s.B, s.I)).astype(np.float32)       # (B, I)
            self.h0 = (0.5 * rng.standard_normal((s.B, s.H))).astype(np.float32)  # (B, H)
            self.grad = None
        else:
            self.tmod = torch.nn.GRU(s.I, s.H, num_layers=s.L, bidirectional=s.bidir)
            self.x = rng.standard_normal((s.T, s.B, s.I)).astype(np.float32)  # (T, B, I)
            self.h0 = None
            self.grad = rng.standard_normal((s.T, s.B, s.D * s.H)).astype(np.float32)
        self.state_dict = {k: v.detach().clone() for k, v in self.tmod.state_dict().items()}
        self._ref = {}

    def reference(self, mode):
        """torch's results for the gate: {tensor name: ndarray}. Cached per mode."""
        import torch
        if mode in self._ref:
            return self._ref[mode]
        tm = self.tmod
        if mode == "stream":
            with torch.inference_mode():
                h1 = tm(torch.from_numpy(self.x), torch.from_numpy(self.h0))
            ref = {"h1": h1.numpy().copy()}
        elif mode == "infer":
            with torch.inference_mode():
                out, h_n = tm(torch.from_numpy(self.x))
            ref = {"output": out.numpy().copy(), "h_n": h_n.numpy().copy()}
        else:
            tm.zero_grad(set_to_none=True)
            xt = torch.from_numpy(self.x.copy()).requires_grad_(True)
            out, h_n = tm(xt)
            out.backward(torch.from_numpy(self.grad))
            ref = {"output": out.detach().numpy().copy(), "h_n": h_n.detach().numpy().copy(),
                   "grad_x": xt.grad.numpy().copy()}
            for name, p in tm.named_parameters():
                ref["grad_" + name] = p.grad.numpy().copy()
            tm.zero_grad(set_to_none=True)
        self._ref[mode] = ref
        return ref


# ---- pygru -----------------------------------------------------------------------

def pygru_threads(n):
    """Sets pygru's thread count if it has pygru.set_num_threads; returns the count
    pygru will use (1 when it is single-threaded)."""
    import pygru
    setter = getattr(pygru, "set_num_threads", None)
    if setter is None:
        return 1
    setter(n)
    return n


def pygru_is_threaded():
    import pygru
    return hasattr(pygru, "set_num_threads")


def build_pygru(wl, mode):
    """(Contender, check) for pygru on workload wl."""
    import pygru
    s = wl.shape
    if mode == "stream":
        cell = pygru.GRUCell(s.I, s.H)
        cell.load_state_dict(wl.state_dict)
        cell.eval()
        x, state = wl.x, [wl.h0.copy()]

        def call():
            state[0] = cell(x, state[0])

        def check():
            return {"h1": rel_err(cell(x, wl.h0), wl.reference(mode)["h1"])}
        return Contender("pygru", call), check

    m = pygru.GRU(s.I, s.H, num_layers=s.L, bidirectional=s.bidir)
    m.load_state_dict(wl.state_dict)
    x, grad = wl.x, wl.grad
    if mode == "infer":
        m.eval()

        def call():
            m(x)

        def check():
            out, h_n = m(x)
            ref = wl.reference(mode)
            return {"output": rel_err(out, ref["output"]), "h_n": rel_err(h_n, ref["h_n"])}
        return Contender("pygru", call), check

    m.train()

    def call():
        m(x)
        m.backward(grad)

    def check():
        m.zero_grad()
        out, h_n = m(x)
        dx, _ = m.backward(grad)
        ref = wl.reference(mode)
        errs = {"output": rel_err(out, ref["output"]), "h_n": rel_err(h_n, ref["h_n"]),
                "grad_x": rel_err(dx, ref["grad_x"])}
        for name, g in m.grads.items():
            errs["grad_" + name] = rel_err(g, ref["grad_" + name])
        m.zero_grad()
        return errs
    return Contender("pygru", call), check


# ---- torch -----------------------------------------------------------------------

def build_torch(wl, mode):
    """(Contender, check) for torch; torch is the reference, so its check only runs
    the work once (errors are 0 by definition)."""
    import torch
    tm = wl.tmod
    if mode == "stream":
        xt = torch.from_numpy(wl.x)
        state = [torch.from_numpy(wl.h0.copy())]

        def call():
            state[0] = tm(xt, state[0])
        c = Contender("torch", call, context=torch.inference_mode)

        def check():
            with torch.inference_mode():
                tm(xt, torch.from_numpy(wl.h0))
            return {}
        return c, check
    if mode == "infer":
        xt = torch.from_numpy(wl.x)

        def call():
            tm(xt)
        c = Contender("torch", call, context=torch.inference_mode)

        def check():
            with torch.inference_mode():
                tm(xt)
            return {}
        return c, check

    tm.train()
    xt = torch.from_numpy(wl.x.copy()).requires_grad_(True)
    gt = torch.from_numpy(wl.grad)

    def call():
        xt.grad = None
        out, _ = tm(xt)
        out.backward(gt)

    def check():
        call()
        tm.zero_grad(set_to_none=True)
        return {}
    return Contender("torch", call), check


# ---- ONNX Runtime ----------------------------------------------------------------

def build_ort(wl, mode, threads, spinning=False):
    """(Contender, check) for ONNX Runtime (infer and stream only). The check is
    also asserted here: a wrong weight conversion must never be timed."""
    import onnx_gru
    s = wl.shape
    if mode == "train":
        raise NotImplementedError("ONNX Runtime: inference only")
    if mode == "stream":
        sd = {k + "_l0": v for k, v in wl.state_dict.items()}
        model = onnx_gru.build_model(sd, s.I, s.H, 1, False, with_initial_h=True)
        sess = onnx_gru.make_session(model, threads, spinning)
        x = wl.x.reshape(1, s.B, s.I)
        state = [wl.h0.reshape(1, s.B, s.H).copy()]
        outs = ["h_n"]

        def call():
            state[0] = sess.run(outs, {"X": x, "initial_h": state[0]})[0]

        def check():
            h1 = sess.run(outs, {"X": x, "initial_h": wl.h0.reshape(1, s.B, s.H)})[0]
            return {"h1": rel_err(h1.reshape(s.B, s.H), wl.reference(mode)["h1"])}
        return Contender("ort", call), check

    model = onnx_gru.build_model(wl.state_dict, s.I, s.H, s.L, s.bidir)
    sess = onnx_gru.make_session(model, threads, spinning)
    x = wl.x
    outs = ["Y", "h_n"]

    def call():
        sess.run(outs, {"X": x})

    def check():
        y, h_n = sess.run(outs, {"X": x})
        ref = wl.reference(mode)
        return {"output": rel_err(y, ref["output"]), "h_n": rel_err(h_n, ref["h_n"])}
    return Contender("ort", call), check
