"""pygru.check - `python -m pygru check`: the built library against the SymPy oracle.

Runs a fixed set of small seeded problems (both variants; 1 and 2 layers; uni- and
bidirectional; lengths; batch_first; initial states; with and without bias; Keras-style
dropout, zoneout and DropConnect with the library's masks; zoneout's inference blend;
layer_norm; GRUCell; AUGRU, whose attention gradient is compared too; the four together) in
float64 and float32 through pygru and through pygru.oracle, compares every tensor
(output, h_n, grad_input, grad_h0 and every parameter gradient) by its error relative
to the oracle tensor's max magnitude, and prints one row per case (the tensor nearest
its tolerance named) or, with --verbose, per tensor.

Tolerances: float64 1e-10 on everything; float32 1e-5 on forward tensors and 1e-4 on
gradients. The float32 run feeds the oracle the float32-rounded inputs and parameters,
so only the library's float32 arithmetic is measured.
Exit status: 0 all OK, 1 any mismatch, 2 the library (or SymPy) cannot be imported.
"""

import dataclasses
import sys
import time

import numpy as np

TOLERANCES = {"float64": {"forward": 1e-10, "grad": 1e-10},
              "float32": {"forward": 1e-5, "grad": 1e-4}}


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str                      # "GRU" or "GRUCell"
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    reset_after: bool = True
    batch_first: bool = False
    seq_len: int = 4               # GRU only
    batch: int = 3
    h0: bool = False               # initial state given (GRUCell: h given)
    lengths: tuple = None          # GRU only: (batch,) values in 1..seq_len
    input_dropout: float = 0.0     # GRU only: Keras-style dropout; the oracle is given
    recurrent_dropout: float = 0.0  # the masks the library's training forward drew
    layer_norm: bool = False       # GRU only: the layer-normalised GRU
    zoneout: float = 0.0           # GRU only: zoneout and DropConnect on W_hh, the
    weight_dropout: float = 0.0    # oracle given the library's masks
    eval: bool = False             # GRU only: an inference forward (zoneout's blend)
    augru: bool = False            # AUGRU: random attention scores in [0, 1]

    @property
    def name(self):
        if self.kind == "GRUCell":
            parts = [f"GRUCell I{self.input_size} H{self.hidden_size} B{self.batch}"]
        else:
            parts = [f"GRU I{self.input_size} H{self.hidden_size} T{self.seq_len} "
                     f"B{self.batch} L{self.num_layers}", "bi" if self.bidirectional else "uni"]
        parts.append(f"ra={int(self.reset_after)}")
        parts += [flag for flag, on in (("nobias", not self.bias), ("bf", self.batch_first),
                                        ("h0", self.h0), ("len", self.lengths)) if on]
        if self.input_dropout or self.recurrent_dropout:
            parts.append(f"drop={self.input_dropout:g}/{self.recurrent_dropout:g}")
        if self.layer_norm:
            parts.append("ln")
        if self.zoneout:
            parts.append(f"zo={self.zoneout:g}")
        if self.weight_dropout:
            parts.append(f"wd={self.weight_dropout:g}")
        if self.eval:
            parts.append("eval")
        if self.augru:
            parts.append("augru")
        return " ".join(parts)


CASES = [
    Case("GRU", 3, 4),
    Case("GRU", 3, 4, reset_after=False, h0=True),
    Case("GRU", 2, 3, seq_len=5, bidirectional=True, lengths=(5, 1, 2)),
    Case("GRU", 4, 2, bidirectional=True, reset_after=False, batch_first=True, h0=True,
         lengths=(2, 4, 1)),
    Case("GRU", 3, 3, num_layers=2, batch=2, h0=True, lengths=(1, 4)),
    Case("GRU", 3, 3, num_layers=2, reset_after=False, batch_first=True, bias=False),
    Case("GRU", 2, 3, num_layers=2, bidirectional=True, batch_first=True, h0=True,
         lengths=(4, 2, 1)),
    Case("GRU", 2, 3, num_layers=2, bidirectional=True, reset_after=False, h0=True,
         lengths=(3, 1, 4)),
    Case("GRU", 3, 4, bias=False, seq_len=1, batch=1),
    Case("GRU", 2, 3, num_layers=2, bidirectional=True, h0=True, lengths=(4, 1, 3),
         input_dropout=0.3, recurrent_dropout=0.4),
    Case("GRU", 2, 3, reset_after=False, batch_first=True, lengths=(2, 4, 3),
         input_dropout=0.5, recurrent_dropout=0.5),
    Case("GRU", 2, 3, h0=True, zoneout=0.4),
    Case("GRU", 3, 2, reset_after=False, batch_first=True, h0=True, lengths=(4, 1, 3),
         weight_dropout=0.4),
    Case("GRU", 2, 2, num_layers=2, bidirectional=True, h0=True, lengths=(3, 4, 1),
         zoneout=0.3, weight_dropout=0.3),
    Case("GRU", 2, 3, reset_after=False, batch_first=True, lengths=(2, 4, 3),
         input_dropout=0.3, recurrent_dropout=0.3, zoneout=0.3, weight_dropout=0.3),
    Case("GRU", 2, 3, num_layers=2, h0=True, lengths=(4, 2, 3), zoneout=0.35,
         weight_dropout=0.3, eval=True),
    Case("GRU", 2, 3, bidirectional=True, h0=True, lengths=(4, 1, 2), layer_norm=True),
    Case("GRU", 2, 2, num_layers=2, reset_after=False, batch_first=True, bias=False, h0=True,
         lengths=(2, 4, 3), input_dropout=0.3, recurrent_dropout=0.4, layer_norm=True),
    Case("GRUCell", 3, 4, h0=True),
    Case("GRUCell", 3, 4, reset_after=False, h0=True, batch=2),
    Case("GRUCell", 3, 4, bias=False, batch=1),
    Case("GRU", 3, 4, h0=True, augru=True),
    Case("GRU", 2, 3, num_layers=2, bidirectional=True, reset_after=False, batch_first=True,
         h0=True, lengths=(4, 1, 3), augru=True),
    Case("GRU", 2, 3, num_layers=2, bidirectional=True, lengths=(4, 2, 1),
         input_dropout=0.3, recurrent_dropout=0.4, augru=True),
    Case("GRUCell", 3, 4, reset_after=False, h0=True, augru=True),
    # the features together: AUGRU with zoneout and DropConnect, training and inference
    Case("GRU", 2, 3, num_layers=2, h0=True, lengths=(4, 2, 3), zoneout=0.3,
         weight_dropout=0.3, augru=True),
    Case("GRU", 2, 3, reset_after=False, bidirectional=True, h0=True, zoneout=0.3,
         weight_dropout=0.3, augru=True, eval=True),
    # all four: the layer-normalised AUGRU with zoneout and DropConnect
    Case("GRU", 2, 2, num_layers=2, reset_after=False, h0=True, lengths=(3, 4, 1),
         layer_norm=True, zoneout=0.3, weight_dropout=0.3, augru=True),
    Case("GRU", 2, 2, bidirectional=True, h0=True, layer_norm=True, zoneout=0.3,
         weight_dropout=0.3, augru=True, eval=True),
]
QUICK_CASES = [CASES[i] for i in (1, 2, 5, 6, 10, 13, 16, 19, 22, 25, 27)]


def _tensor_kind(name):
    return "grad" if name.startswith("grad_") else "forward"


def compare(got, expected, dtype):
    """Rows (tensor, max relative error, tolerance, ok) for every tensor of expected.

    The error is max|got - expected| / max|expected| (the absolute error if expected is
    all zeros); a missing tensor, a shape mismatch or a NaN is an infinite error."""
    dtype = np.dtype(dtype).name
    rows = []
    for name in sorted(expected):
        tol = TOLERANCES[dtype][_tensor_kind(name)]
        exp = np.asarray(expected[name], dtype=np.float64)
        act = got.get(name)
        if act is None or np.shape(act) != exp.shape:
            err = np.inf
        else:
            diff = np.max(np.abs(np.asarray(act, dtype=np.float64) - exp)) if exp.size else 0.0
            scale = np.max(np.abs(exp)) if exp.size else 0.0
            err = float(diff / scale if scale > 0 else diff)
            if np.isnan(err):
                err = np.inf
        rows.append((name, err, tol, bool(err <= tol)))
    return rows


def _problem(case, dtype, seed):
    """Random parameters and inputs, rounded to dtype, as float64 arrays."""
    rng = np.random.default_rng(seed)

    def rand(*shape, scale=1.0, offset=0.0):
        return (offset + scale * rng.standard_normal(shape)).astype(dtype).astype(np.float64)

    H, I = case.hidden_size, case.input_size
    D = 2 if case.bidirectional else 1
    prob = {"params": {}}
    if case.kind == "GRUCell":
        kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if case.bias else ())
        for k in kinds:
            shape = {"weight_ih": (3 * H, I), "weight_hh": (3 * H, H)}.get(k, (3 * H,))
            prob["params"][k] = rand(*shape, scale=0.5)
        prob["x"] = rand(case.batch, I)
        prob["h0"] = rand(case.batch, H) if case.h0 else None
        prob["grad_h1"] = rand(case.batch, H)
        if case.augru:
            prob["attention"] = rng.uniform(0, 1, case.batch).astype(dtype).astype(np.float64)
        return prob
    from . import oracle
    for name in oracle.param_names(case.num_layers, case.bidirectional, case.bias,
                                   case.layer_norm):
        layer = int(name.split("_l")[-1].split("_")[0])
        in_size = I if layer == 0 else D * H
        kind = name.rsplit("_l", 1)[0]
        shape = {"weight_ih": (3 * H, in_size), "weight_hh": (3 * H, H)}.get(kind, (3 * H,))
        # layer_norm gains around 1 (their use), everything else around 0
        prob["params"][name] = rand(*shape, scale=0.5, offset=float(kind.endswith("_weight")))
    T, B = case.seq_len, case.batch
    lead = (B, T) if case.batch_first else (T, B)
    prob["x"] = rand(*lead, I)
    prob["h0"] = rand(case.num_layers * D, B, H) if case.h0 else None
    prob["grad_output"] = rand(*lead, D * H)
    prob["grad_h_n"] = rand(case.num_layers * D, B, H)
    if case.augru:
        prob["attention"] = rng.uniform(0, 1, lead).astype(dtype).astype(np.float64)
    return prob


def run_case(case, dtype, seed=0):
    """Runs one case through the library and the oracle: (got, expected) dicts of arrays
    keyed 'output'/'h1', 'h_n', 'grad_input', 'grad_h0'/'grad_hx', 'grad_<param>'."""
    import pygru
    from . import oracle
    dtype = np.dtype(dtype)
    prob = _problem(case, dtype, seed)
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    if case.kind == "GRUCell":
        cell = pygru.GRUCell(case.input_size, case.hidden_size, bias=case.bias,
                             reset_after=case.reset_after, dtype=dtype, seed=0,
                             augru=case.augru)
        cell.load_state_dict({k: cast(v) for k, v in prob["params"].items()})
        h1 = cell(cast(prob["x"]), cast(prob["h0"]), cast(prob.get("attention")))
        grads = cell.backward(cast(prob["grad_h1"]))
        got = {"h1": h1, "grad_input": grads[0], "grad_hx": grads[1]}
        if case.augru:
            got["grad_attention"] = grads[2]
        got.update({"grad_" + k: v for k, v in cell.grads.items()})
        expected = oracle.cell_reference(prob["params"], x=prob["x"], h=prob["h0"],
                                         reset_after=case.reset_after,
                                         grad_h1=prob["grad_h1"],
                                         attention=prob.get("attention"))
        return got, expected
    cfg = dict(input_size=case.input_size, hidden_size=case.hidden_size,
               num_layers=case.num_layers, bidirectional=case.bidirectional,
               bias=case.bias, batch_first=case.batch_first)
    gru = pygru.GRU(reset_after=case.reset_after, dtype=dtype, seed=0,
                    input_dropout=case.input_dropout,
                    recurrent_dropout=case.recurrent_dropout, zoneout=case.zoneout,
                    weight_dropout=case.weight_dropout, layer_norm=case.layer_norm,
                    augru=case.augru, **cfg)
    gru.load_state_dict({k: cast(v) for k, v in prob["params"].items()})
    lengths = None if case.lengths is None else np.array(case.lengths, dtype=np.int64)
    if case.eval:   # inference: zoneout's expectation, W_hh unmasked, no dropout
        gru.eval()
        out, h_n = gru(cast(prob["x"]), h0=cast(prob["h0"]), lengths=lengths,
                       attention=cast(prob.get("attention")))
        expected = oracle.reference(prob["params"], reset_after=case.reset_after,
                                    x=prob["x"], h0=prob["h0"], lengths=lengths,
                                    zoneout=case.zoneout, attention=prob.get("attention"),
                                    layer_norm=case.layer_norm, **cfg)
        return {"output": out, "h_n": h_n}, expected
    out, h_n = gru(cast(prob["x"]), h0=cast(prob["h0"]), lengths=lengths,
                   attention=cast(prob.get("attention")))
    grads = gru.backward(cast(prob["grad_output"]), cast(prob["grad_h_n"]))
    got = {"output": out, "h_n": h_n, "grad_input": grads[0], "grad_h0": grads[1]}
    if case.augru:
        got["grad_attention"] = grads[2]
    got.update({"grad_" + k: v for k, v in gru.grads.items()})
    masks = None
    if case.input_dropout or case.recurrent_dropout:
        masks = {k: tuple(m.astype(np.float64) for m in v)
                 for k, v in gru.dropout_masks().items()}
    wmasks = zmasks = None
    if case.weight_dropout:
        wmasks = {k: v.astype(np.float64) for k, v in gru.weight_dropout_masks().items()}
    if case.zoneout:
        zmasks = {k: v.astype(np.float64) for k, v in gru.zoneout_masks().items()}
    expected = oracle.reference(prob["params"], reset_after=case.reset_after, x=prob["x"],
                                h0=prob["h0"], lengths=lengths,
                                grad_output=prob["grad_output"],
                                grad_h_n=prob["grad_h_n"], masks=masks,
                                weight_masks=wmasks, zoneout_masks=zmasks,
                                attention=prob.get("attention"), layer_norm=case.layer_norm,
                                **cfg)
    return got, expected


def _import_error():
    """None if pygru's C extension and SymPy import, else a message saying what to do."""
    try:
        import pygru._libgru  # noqa: F401
        import pygru
        pygru.GRU, pygru.GRUCell  # noqa: B018
    except Exception as exc:  # ImportError, OSError (a broken shared object), ...
        return (f"pygru check: cannot import pygru's C extension ({type(exc).__name__}: "
                f"{exc}).\nBuild it first: `pip install -e .` (or `python build_ffi.py`) "
                f"in the pygru source tree.")
    try:
        import sympy  # noqa: F401
    except ImportError as exc:
        return (f"pygru check: the oracle needs SymPy ({exc}). Install it: "
                f"`pip install sympy`.")
    return None


def main(quick=False, verbose=False, out=None):
    """Runs the check, prints the table to out (default sys.stdout), returns the exit
    status (0, 1 or 2)."""
    out = sys.stdout if out is None else out
    message = _import_error()
    if message:
        print(message, file=sys.stderr)
        return 2
    import pygru
    start = time.perf_counter()
    info = pygru.info() if hasattr(pygru, "info") else {}
    version = getattr(pygru, "__version__", "?")
    print(f"pygru {version}: " + ", ".join(f"{k}={v}" for k, v in info.items()), file=out)
    print("errors: max|library - oracle| / max|oracle| per tensor; tolerance float64 "
          "1e-10, float32 1e-5 forward / 1e-4 gradients", file=out)
    header = f"{'case':<44} {'dtype':<8} {'tensor':<26} {'max rel err':>11} {'tol':>7}  result"
    print(header, file=out)
    print("-" * len(header), file=out)
    n_fail = n_rows = 0
    cases = QUICK_CASES if quick else CASES
    for case in cases:
        for dtype in ("float64", "float32"):
            try:
                got, expected = run_case(case, dtype, seed=1000 + CASES.index(case))
                rows = compare(got, expected, dtype)
            except Exception as exc:   # report a crash of one case as its failure
                rows = [(f"raised {type(exc).__name__}: {exc}"[:60], np.inf, np.nan, False)]
            n_rows += len(rows)
            bad = [r for r in rows if not r[3]]
            n_fail += len(bad)
            # Default: the failing tensors, or else the one nearest its tolerance.
            shown = rows if verbose else bad or [max(rows, key=lambda r: r[1] / r[2])]
            for name, err, tol, ok in shown:
                print(f"{case.name:<44} {dtype:<8} {name:<26} {err:>11.2e} {tol:>7.0e}  "
                      f"{'OK' if ok else 'FAIL'}", file=out)
    elapsed = time.perf_counter() - start
    print("-" * len(header), file=out)
    verdict = "all OK" if n_fail == 0 else f"{n_fail} FAILED"
    print(f"{len(cases)} cases x 2 dtypes, {n_rows} tensors compared: {verdict} "
          f"({elapsed:.1f} s)", file=out)
    return 0 if n_fail == 0 else 1
