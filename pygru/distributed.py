"""pygru.distributed - data-parallel training and sharded batch inference over MPI
(mpi4py), with results that do not depend on the number of processes.

Needs the optional extra ``pip install 'pygru[mpi]'`` (mpi4py and an MPI runtime from
the package index). The module imports without it (and without initialising MPI);
the first call that needs MPI imports mpi4py, or raises ImportError naming the extra.
shard() and ShardedSampler with an explicit rank and world size need no MPI.
Launch with ``mpirun -n N python script.py`` (or srun under Slurm): docs/distributed.md.

What it guarantees:
  * broadcast_parameters: the state (parameters, and buffers unless buffers=False)
    travels from root in ONE byte buffer and ONE Bcast; afterwards every rank's
    tensors are bitwise equal to root's;
  * allreduce_gradients(deterministic=True) sums the gradients with a fixed pairwise
    tree over GLOBAL leaf indices (a leaf is a micro-batch recorded with MicroBatches,
    or without it one rank's gradient), whose shape depends only on the number of
    leaves. Floating-point addition is then done in the same order whatever the
    number of processes and whichever rank holds which leaf: training with a fixed
    micro-batch size gives bitwise the same weights on 1, 2, 3, ... processes. The
    tree is reduced chunk-wise (rank j completes the tree on the j-th slice of the
    gradient vector: one Alltoallv, one Allgatherv), never through MPI's Allreduce;
  * allreduce_gradients(deterministic=False) is MPI's Allreduce: fast, but its
    summation order is the MPI library's choice, so the result may change in the last
    bits with the number of processes (it is still equal on every rank);
  * MicroBatches makes a micro-batch's gradient independent of the rank computing it:
    each starts from the step's buffers (BatchNorm statistics) and draws its dropout
    masks from a seed made of (seed, step, global index);
  * ShardedSampler gives every rank its share of each global batch, reproducibly
    (epoch k's order depends only on seed and k; the last, smaller batch and shares
    that differ by one micro-batch are handled);
  * predict_sharded: each rank scores a contiguous run of whole batches of the rows
    (the batches are the same on any number of ranks), root gathers them in order:
    bitwise what one process computes on the same batches, and what one call on all
    rows computes for pygru's GRU (any batch composition gives the same bits);
  * every collective here first compares a fingerprint of the call on all ranks
    (operation, arguments, every tensor's name, shape and dtype, each module's class
    and settings); a mismatch raises ValueError on EVERY rank naming the first
    difference, instead of a hang or a silent mix of different models.
Errors: ValueError / TypeError naming the argument, the expected and the actual value.
"""
from __future__ import annotations

import contextlib
import hashlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ._validate import check_int, check_seed
from ._views import storage_array
from .module import Module, Parameter

__all__ = ["init", "rank", "world_size", "get_comm", "shard", "broadcast_parameters",
           "allreduce_gradients", "MicroBatches", "ShardedSampler", "Step",
           "predict_sharded"]

_comm = None   # the default communicator (init), COMM_WORLD until set


def _mpi():
    """mpi4py's MPI module (imported, and MPI initialised, on first use), or ImportError
    naming the extra that brings it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:   # the optional extra is absent
        raise ImportError("pygru.distributed needs mpi4py and an MPI runtime: "
                          "pip install 'pygru[mpi]' (%s)" % exc) from None
    return MPI


# ---- communicator ---------------------------------------------------------------------

def init(comm=None):
    """Sets the communicator the functions here use by default: ``comm`` (an
    mpi4py Intracomm) or MPI.COMM_WORLD. MPI itself is initialised when mpi4py is
    first imported (here, or by any call that needs it). Returns the communicator;
    ImportError naming pip install 'pygru[mpi]' without mpi4py."""
    global _comm
    MPI = _mpi()
    if comm is None:
        comm = MPI.COMM_WORLD
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError("comm must be an mpi4py Intracomm (e.g. MPI.COMM_WORLD); got %s"
                        % type(comm).__name__)
    _comm = comm
    return comm


def get_comm(comm=None):
    """``comm`` if given, else the default communicator (init's, or COMM_WORLD)."""
    MPI = _mpi()
    if comm is not None:
        if not isinstance(comm, MPI.Intracomm):
            raise TypeError("comm must be an mpi4py Intracomm; got %s" % type(comm).__name__)
        return comm
    return _comm if _comm is not None else MPI.COMM_WORLD


def rank(comm=None) -> int:
    """This process's rank in ``comm`` (default: the init communicator)."""
    return get_comm(comm).Get_rank()


def world_size(comm=None) -> int:
    """The number of processes in ``comm`` (default: the init communicator)."""
    return get_comm(comm).Get_size()


def shard(n, rank=None, size=None, comm=None, batch_size=None) -> slice:
    """The contiguous slice of ``n`` rows that ``rank`` of ``size`` ranks owns (default:
    this process in the init communicator); concatenating the slices of ranks
    0..size-1 gives range(n) in order. Without batch_size the first n % size ranks get
    one row more (uneven shards; a rank may get none). With batch_size the rows are
    first cut into batches [0, b), [b, 2b), ... and whole batches are shared out the
    same way: predict_sharded's slices, whose batches are the same on any number of
    ranks (so a rank that writes its own file writes bitwise what it would gather)."""
    n = check_int(n, "n", minimum=0)
    c = None if (rank is not None and size is not None) else get_comm(comm)
    size = c.Get_size() if size is None else check_int(size, "size", minimum=1)
    rank = c.Get_rank() if rank is None else check_int(rank, "rank", minimum=0)
    if rank >= size:
        raise ValueError("rank must be in 0..%d (size %d); got %d" % (size - 1, size, rank))
    if batch_size is None:
        bounds = _split(n, size)
    else:
        bounds = _row_bounds(n, check_int(batch_size, "batch_size", minimum=1), size)
    return slice(bounds[rank], bounds[rank + 1])


def _split(n, parts):
    """Boundaries (parts + 1 ints) of n items cut into parts contiguous pieces whose
    sizes differ by at most one, the larger ones first."""
    q, r = divmod(n, parts)
    return [i * q + min(i, r) for i in range(parts + 1)]


# ---- agreement: every collective starts by comparing what each rank is about to do -----

def _module_description(model) -> List[Tuple]:
    """What must agree across ranks: each module's name, class and settings, and each
    state tensor's name, shape and dtype, in state-dict order."""
    desc: List[Tuple] = []
    for name, m in model.named_modules():
        cfg = getattr(m, "_cfg", None)
        settings = (tuple(sorted((k, repr(v)) for k, v in cfg.items()))
                    if isinstance(cfg, dict) else m.extra_repr())
        desc.append(("module", name or "(model)", type(m).__name__, settings))
    for key, mod, attr in model._state_items():
        value = mod.__dict__[attr]
        arr = value.data if isinstance(value, Parameter) else value
        kind = "parameter" if isinstance(value, Parameter) else "buffer"
        desc.append((kind, key, tuple(arr.shape), str(arr.dtype)))
    return desc


def _agree(comm, what, desc):
    """Raises ValueError on every rank unless ``desc`` (a list of tuples, picklable) is
    the same on every rank of comm; the message names the first rank and the first
    entry that differ from rank 0's. Two small collectives at most, entered by all."""
    digest = hashlib.sha256(repr(desc).encode()).hexdigest()
    digests = comm.allgather(digest)
    if all(d == digests[0] for d in digests):
        return
    descs = comm.allgather(desc)   # every rank saw the same digests: all enter this
    bad = next(r for r, d in enumerate(digests) if d != digests[0])
    a, b = descs[0], descs[bad]
    diff = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    ea = a[diff] if diff < len(a) else "(nothing)"
    eb = b[diff] if diff < len(b) else "(nothing)"
    if (isinstance(ea, tuple) and isinstance(eb, tuple) and ea[:3] == eb[:3]
            and ea[0] == "module" and isinstance(ea[3], tuple) and isinstance(eb[3], tuple)):
        # the same module with other settings: name only the settings that differ
        sa, sb = dict(ea[3]), dict(eb[3])
        keys = [k for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
        ea = "module %s (%s) with %s" % (ea[1], ea[2], ", ".join(
            "%s=%s" % (k, sa.get(k, "(unset)")) for k in keys))
        eb = "module %s (%s) with %s" % (eb[1], eb[2], ", ".join(
            "%s=%s" % (k, sb.get(k, "(unset)")) for k in keys))
    raise ValueError("%s: the ranks disagree (checked on all %d ranks before any data moved): "
                     "rank %d has %s where rank 0 has %s (%d of %d ranks differ from rank 0)"
                     % (what, comm.Get_size(), bad, _fmt_entry(eb), _fmt_entry(ea),
                        sum(d != digests[0] for d in digests), comm.Get_size()))


def _fmt_entry(e):
    if isinstance(e, str):
        return e
    if isinstance(e, tuple) and e and e[0] in ("parameter", "buffer"):
        return "%s %s of shape %s, %s" % (e[0], e[1], e[2], e[3])
    if isinstance(e, tuple) and e and e[0] == "module":
        return "module %s = %s(%s)" % (e[1], e[2], e[3])
    if isinstance(e, tuple) and len(e) == 2:
        return "%s=%r" % e
    return repr(e)


def _check_model(model, name="model"):
    if not isinstance(model, Module):
        raise TypeError("%s must be a pygru Module (pygru.GRU, pygru.nn...); got %s"
                        % (name, type(model).__name__))


def _check_root(root, comm):
    root = check_int(root, "root", minimum=0)
    if root >= comm.Get_size():
        raise ValueError("root must be a rank in 0..%d; got %d" % (comm.Get_size() - 1, root))
    return root


# ---- broadcast ------------------------------------------------------------------------

def broadcast_parameters(model, root: int = 0, buffers: bool = True, comm=None) -> None:
    """Copies root's parameters (and buffers, e.g. BatchNorm statistics, unless
    buffers=False) to every rank: one byte buffer, one Bcast, then one write per model
    on the other ranks (load_state_dict). Afterwards every rank's tensors are bitwise
    equal to root's. Raises ValueError on every rank if the models differ."""
    _check_model(model)
    comm = get_comm(comm)
    root = _check_root(root, comm)
    buffers = bool(buffers)
    _agree(comm, "broadcast_parameters", [("operation", "broadcast_parameters"), ("root", root),
                                          ("buffers", buffers)]
           + _module_description(model))
    items = [(key, mod.__dict__[attr]) for key, mod, attr in model._state_items()
             if buffers or isinstance(mod.__dict__[attr], Parameter)]
    arrays = [(key, v.data if isinstance(v, Parameter) else v) for key, v in items]
    total = sum(a.nbytes for _, a in arrays)
    if comm.Get_rank() == root:
        buf = np.empty(total, np.uint8)
        off = 0
        for _, a in arrays:
            plain = np.ascontiguousarray(a).view(np.ndarray)       # a StorageView's bytes
            buf[off:off + a.nbytes] = plain.reshape(-1).view(np.uint8)
            off += a.nbytes
    else:
        buf = np.empty(total, np.uint8)
    comm.Bcast(buf, root=root)
    if comm.Get_rank() != root:
        state, off = {}, 0
        for key, a in arrays:
            state[key] = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
            off += a.nbytes
        model.load_state_dict(state, strict=False)


# ---- the flat gradient ----------------------------------------------------------------

class _FlatGrads:
    """The model's gradients as one vector: a view of the storage when they lie in one
    contiguous run (a pygru.GRU: libgru keeps every gradient in one buffer, in
    state-dict order), else gathered into a new array and scattered back."""

    def __init__(self, model):
        self.params = list(model.parameters())
        if not self.params:
            raise ValueError("model has no parameters to reduce")
        dtypes = {p.grad.dtype for p in self.params}
        if len(dtypes) != 1:
            raise TypeError("model's gradients must share one dtype to be reduced in one "
                            "buffer; got %s" % sorted(str(d) for d in dtypes))
        self.dtype = dtypes.pop()
        self.size = sum(p.grad.size for p in self.params)
        self.view = None
        addr = [p.grad.__array_interface__["data"][0] for p in self.params]
        contiguous = all(p.grad.flags.c_contiguous and p.grad.flags.writeable for p in self.params)
        if contiguous and all(addr[i] + self.params[i].grad.nbytes == addr[i + 1]
                              for i in range(len(addr) - 1)):
            self.view = storage_array(addr[0], (self.size,), self.dtype, self.params[0].grad)

    def gather(self, out=None):
        """The gradient vector: the view itself, or a copy into ``out`` / a new array."""
        if self.view is not None and out is None:
            return self.view
        out = np.empty(self.size, self.dtype) if out is None else out
        off = 0
        for p in self.params:
            out[off:off + p.grad.size] = p.grad.reshape(-1)
            off += p.grad.size
        return out

    def scatter(self, vec):
        """Writes the vector into the gradients (nothing to do for the view itself)."""
        if self.view is not None and vec is self.view:
            return
        if self.view is not None:
            self.view[...] = vec
            return
        off = 0
        for p in self.params:
            p.grad[...] = vec[off:off + p.grad.size].reshape(p.grad.shape)
            off += p.grad.size


def _float_buffers(model, dtype):
    """(key, array) of the model's buffers of ``dtype`` (reduced with the gradients:
    BatchNorm's running statistics) and of its other buffers (taken from leaf 0)."""
    same, other = [], []
    for key, mod, attr in model._state_items():
        value = mod.__dict__[attr]
        if isinstance(value, Parameter):
            continue
        (same if value.dtype == dtype else other).append((key, value))
    return same, other


# ---- micro-batches ----------------------------------------------------------------------

class MicroBatches:
    """This rank's micro-batch gradients of one training step, by global index: what
    allreduce_gradients(model, micro_batches=...) sums in a fixed order.

        mb = MicroBatches(model, seed=0)
        for step in sampler.epoch(k):
            for index, rows in step.micro_batches:          # this rank's share
                with mb.micro_batch(index):                 # zero_grad, buffers, seed
                    loss = forward(rows); model.backward(...)
            allreduce_gradients(model, micro_batches=mb)    # model's grads: the sum
            optimizer.step()

    micro_batch(index) zeroes the gradients, restores the buffers to their value at
    the step's first micro-batch on this rank (BatchNorm's running statistics: each
    micro-batch updates them from the same start, on any rank), and reseeds every
    dropout generator in the model (pygru.GRU's C generator, nn.Dropout's) from
    (seed, step, index); on exit it copies the gradient (and the buffers) as leaf
    ``index``. allreduce_gradients then writes the tree sum of the gradients (their
    mean with average=True) and the mean of the floating-point buffers (BatchNorm:
    one update by the mean of the micro-batches' statistics), takes the other buffers
    (num_batches_tracked) from micro-batch 0, and starts the next step.
    """

    def __init__(self, model, seed: int = 0):
        _check_model(model)
        self.model = model
        self.seed = check_seed(seed) or 0
        self.step = 0
        self._flat = _FlatGrads(model)
        self._same, self._other = _float_buffers(model, self._flat.dtype)
        self._leaves: Dict[int, Tuple[np.ndarray, list]] = {}
        self._snapshot = None

    def _reseed(self, index):
        n = 0
        for m in self.model.modules():
            ss = np.random.SeedSequence([self.seed, self.step, index, n])
            if hasattr(m, "set_seed") and callable(m.set_seed):
                m.set_seed(int(ss.generate_state(1, np.uint32)[0]))
            elif isinstance(getattr(m, "_rng", None), np.random.Generator):
                m.__dict__["_rng"] = np.random.default_rng(ss)
            n += 1

    @contextlib.contextmanager
    def micro_batch(self, index: int) -> Iterator[None]:
        """Context for the forward and backward of global micro-batch ``index``."""
        index = check_int(index, "index", minimum=0)
        if index in self._leaves:
            raise ValueError("index %d was already recorded in this step" % index)
        buffers = self._same + self._other
        if self._snapshot is None:
            self._snapshot = [np.array(b, copy=True) for _, b in buffers]
        else:
            for (_, b), s in zip(buffers, self._snapshot):
                b[...] = s
        self._reseed(index)
        self.model.zero_grad()
        yield
        # leaf = [gradient vector, floating-point buffers], one new array
        vec = np.empty(self._flat.size + sum(b.size for _, b in self._same), self._flat.dtype)
        self._flat.gather(out=vec[:self._flat.size])
        off = self._flat.size
        for _, b in self._same:
            vec[off:off + b.size] = b.reshape(-1)
            off += b.size
        self._leaves[index] = (vec, [np.array(b, copy=True) for _, b in self._other])

    def _finish(self):
        self._leaves = {}
        self._snapshot = None
        self.step += 1


# ---- the reduction ----------------------------------------------------------------------

def _partition(owner, lo, hi, out):
    """Cuts the tree node [lo, hi) into maximal nodes whose leaves all belong to one
    rank, left to right: (lo, hi, rank). The tree: node [lo, hi) has children
    [lo, mid) and [mid, hi), mid = (lo + hi) // 2; it depends on the leaf count only."""
    first = owner[lo]
    if all(owner[i] == first for i in range(lo, hi)):
        out.append((lo, hi, first))
        return out
    mid = (lo + hi) // 2
    _partition(owner, lo, mid, out)
    _partition(owner, mid, hi, out)
    return out


def _tree_sum(lo, hi, value):
    """Sum over the tree node [lo, hi): value(lo, hi) if it knows the node, else the sum
    of the two children (a new array; inputs are never modified)."""
    v = value(lo, hi)
    if v is not None:
        return v
    mid = (lo + hi) // 2
    return _tree_sum(lo, mid, value) + _tree_sum(mid, hi, value)


def allreduce_gradients(model, average: bool = True, deterministic: bool = True,
                        micro_batches: Optional[MicroBatches] = None, comm=None) -> None:
    """Sums the model's gradients over all ranks, in place: afterwards every rank's
    gradients are bitwise equal. average=True divides the sum by the number of leaves
    (micro-batches in all, or ranks).

    deterministic=True (default): a fixed pairwise tree over global leaf indices (see
    the module docstring); with micro_batches (MicroBatches) the leaves are the
    micro-batches and the result is bitwise independent of the number of ranks;
    without it each rank's current gradient is leaf ``rank`` (reproducible for a
    given number of ranks). deterministic=False: MPI's Allreduce (fast; the summation
    order is MPI's, not bitwise reproducible across numbers of ranks).
    Raises ValueError on every rank when the models, the arguments or the recorded
    micro-batch indices (each of 0..n-1 exactly once over all ranks) disagree."""
    _check_model(model)
    comm = get_comm(comm)
    average, deterministic = bool(average), bool(deterministic)
    if micro_batches is not None:
        if not isinstance(micro_batches, MicroBatches):
            raise TypeError("micro_batches must be a MicroBatches; got %s"
                            % type(micro_batches).__name__)
        if micro_batches.model is not model:
            raise ValueError("micro_batches records another model than ``model``")
    me, P = comm.Get_rank(), comm.Get_size()
    # first collective: the call and the model agree on every rank
    desc = ([("operation", "allreduce_gradients"), ("average", average),
             ("deterministic", deterministic), ("micro_batches", micro_batches is not None)]
            + _module_description(model))
    if deterministic:   # other kernels compute other bits: name it instead of hiding it
        desc += [("libgru kernel set of %s (set GRU_ISA alike on every node)"
                  % (name or "model"), m.isa)
                 for name, m in model.named_modules() if isinstance(getattr(m, "isa", None), str)]
    _agree(comm, "allreduce_gradients", desc)
    flat = micro_batches._flat if micro_batches is not None else _FlatGrads(model)

    if micro_batches is None:
        vec = flat.gather()
        if deterministic and P > 1:
            leaves, n = {me: vec}, P
            owner = list(range(P))
            result = _reduce_tree(comm, leaves, n, owner, flat.size, flat.dtype,
                                  out=flat.view if flat.view is not None else None)
        else:
            result = vec
            if P > 1:
                comm.Allreduce(_mpi().IN_PLACE, result, op=_mpi().SUM)
            n = P
        if average and n > 1:
            result /= result.dtype.type(n)
        flat.scatter(result)
        return

    mb = micro_batches
    mine = sorted(mb._leaves)
    first_other = mb._leaves[mine[0]][1] if mine else None
    held = comm.allgather((mine, first_other if (mine and mine[0] == 0) else None))
    owner_of: Dict[int, int] = {}
    for r, (idx, _) in enumerate(held):
        for i in idx:
            if i in owner_of:
                raise ValueError("allreduce_gradients: micro-batch %d was recorded on ranks %d "
                                 "and %d (each index must be recorded once, on one rank)"
                                 % (i, owner_of[i], r))
            owner_of[i] = r
    n = len(owner_of)
    if n == 0:
        raise ValueError("allreduce_gradients: no rank recorded a micro-batch in this step "
                         "(use MicroBatches.micro_batch(index) around each forward/backward)")
    if sorted(owner_of) != list(range(n)):
        missing = sorted(set(range(max(owner_of) + 1)) - set(owner_of))
        raise ValueError("allreduce_gradients: the micro-batch indices over all ranks must be "
                         "0..n-1; %d recorded, missing %s" % (n, missing[:10]))
    total = len(next(iter(mb._leaves.values()))[0]) if mine else flat.size + sum(
        b.size for _, b in mb._same)
    leaves = {i: v for i, (v, _) in mb._leaves.items()}
    if deterministic:
        result = _reduce_tree(comm, leaves, n, [owner_of[i] for i in range(n)], total,
                              flat.dtype)
    else:
        result = np.zeros(total, flat.dtype)
        for i in mine:
            result += leaves[i]
        if P > 1:
            comm.Allreduce(_mpi().IN_PLACE, result, op=_mpi().SUM)
    g = flat.size
    if average and n > 1:
        result[:g] /= result.dtype.type(n)
    if n > 1:
        result[g:] /= result.dtype.type(n)   # buffers: always the mean
    flat.scatter(result[:g])
    off = g
    for _, b in mb._same:
        b[...] = result[off:off + b.size].reshape(b.shape)
        off += b.size
    others = next(o for _, o in held if o is not None)   # micro-batch 0's owner sent them
    for (_, b), v in zip(mb._other, others):
        b[...] = v
    mb._finish()


def _reduce_tree(comm, leaves, n, owner, size, dtype, out=None):
    """The tree sum (see _partition) of leaves 0..n-1 of ``size`` elements, on every
    rank; into ``out`` when given (may be one of the leaves: it is read before
    written). Rank j completes the tree on slice j: one Alltoallv, one Allgatherv."""
    me, P = comm.Get_rank(), comm.Get_size()
    nodes = _partition(owner, 0, n, [])
    mine = [(lo, hi) for lo, hi, r in nodes if r == me]
    sums = [_tree_sum(lo, hi, lambda a, b: leaves[a] if b - a == 1 else None)
            for lo, hi in mine]
    bounds = _split(size, P)
    width = [bounds[j + 1] - bounds[j] for j in range(P)]
    count = [sum(1 for _, _, r in nodes if r == q) for q in range(P)]
    # send to rank j: slice j of each of my node sums, in node order
    send = np.empty(len(mine) * size, dtype)
    send_counts = [len(mine) * width[j] for j in range(P)]
    off = 0
    for j in range(P):
        for s in sums:
            send[off:off + width[j]] = s[bounds[j]:bounds[j + 1]]
            off += width[j]
    recv_counts = [count[q] * width[me] for q in range(P)]
    recv = np.empty(sum(recv_counts), dtype)
    comm.Alltoallv([send, (send_counts, _offsets(send_counts))],
                   [recv, (recv_counts, _offsets(recv_counts))])
    # rank j's slice of every node sum, by node
    part: Dict[Tuple[int, int], np.ndarray] = {}
    off = 0
    for q in range(P):
        for lo, hi, r in nodes:
            if r == q:
                part[(lo, hi)] = recv[off:off + width[me]]
                off += width[me]
    piece = np.ascontiguousarray(_tree_sum(0, n, lambda a, b: part.get((a, b))), dtype)
    result = np.empty(size, dtype) if out is None else out
    comm.Allgatherv(piece, [result, (width, bounds[:-1])])
    return result


def _row_bounds(n, batch_size, parts):
    """Row boundaries of predict_sharded's slices: whole batches of the global grid
    [k b, (k + 1) b) shared out with _split, so that every batch is the same rows
    whatever the number of ranks."""
    batches = _split(-(-n // batch_size), parts)
    return [min(k * batch_size, n) for k in batches]


def _offsets(counts):
    out, total = [], 0
    for c in counts:
        out.append(total)
        total += c
    return out


# ---- the sampler --------------------------------------------------------------------------

class Step:
    """One global batch of an epoch, as one rank sees it: ``index`` (the step number in
    the epoch), ``size`` (rows in the global batch), ``num_micro_batches`` (in the
    global batch) and ``micro_batches``: this rank's [(global index, row indices)]."""

    __slots__ = ("index", "size", "num_micro_batches", "micro_batches")

    def __init__(self, index, size, num_micro_batches, micro_batches):
        self.index, self.size = index, size
        self.num_micro_batches, self.micro_batches = num_micro_batches, micro_batches

    def __repr__(self):
        return ("Step(index=%d, size=%d, num_micro_batches=%d, mine=%s)"
                % (self.index, self.size, self.num_micro_batches,
                   [i for i, _ in self.micro_batches]))


class ShardedSampler:
    """Reproducible data-parallel batches: each global batch of an epoch is cut into
    micro-batches of micro_batch_size rows (the batch's last one smaller), numbered
    0..k-1, and rank r of P gets the contiguous run shard(k, r, P) of them (shares
    differ by at most one; a rank may get none when k < P, which allreduce_gradients
    handles).

    ShardedSampler(source, micro_batch_size=None, rank=None, world_size=None, comm=None,
                   *, batch_size=None, shuffle=True, seed=None, drop_last=False)

    source: the number of rows N (then batch_size, shuffle, seed, drop_last make the
      epochs exactly as pygru.data.Batches does), or a pygru.data.Batches, whose
      epochs (order, length bucketing, last batch) are used as they are.
    micro_batch_size: rows per micro-batch; None cuts each global batch into one
      micro-batch per rank instead (not world-size invariant: for the fast mode).
    Epoch k depends only on the seed and k, never on the number of ranks.
    len(sampler) is the number of steps per epoch (the same on every rank)."""

    def __init__(self, source, micro_batch_size=None, rank=None, world_size=None, comm=None,
                 *, batch_size=None, shuffle=True, seed=None, drop_last=False):
        from .data.batching import Batches
        if isinstance(source, Batches):
            if batch_size is not None:
                raise ValueError("batch_size comes from the Batches given as source; "
                                 "got batch_size=%r too" % (batch_size,))
            self._batches = source
        else:
            n = check_int(source, "source (the number of rows)", minimum=1)
            if batch_size is None:
                raise ValueError("batch_size is needed when source is a number of rows")
            self._batches = Batches(np.arange(n), batch_size=batch_size, shuffle=shuffle,
                                    seed=seed, drop_last=drop_last)
        self.micro_batch_size = check_int(micro_batch_size, "micro_batch_size", minimum=1,
                                          allow_none=True)
        c = None if (rank is not None and world_size is not None) else get_comm(comm)
        self.world_size = (c.Get_size() if world_size is None
                           else check_int(world_size, "world_size", minimum=1))
        self.rank = c.Get_rank() if rank is None else check_int(rank, "rank", minimum=0)
        if self.rank >= self.world_size:
            raise ValueError("rank must be in 0..%d; got %d" % (self.world_size - 1, self.rank))

    def __len__(self):
        return len(self._batches)

    def epoch(self, k: int) -> List[Step]:
        """The steps of epoch k (k >= 0) for this rank."""
        cuts = self._batches._batch_indices(k)
        steps = []
        for s, rows in enumerate(cuts):
            if self.micro_batch_size is None:
                b = _split(len(rows), self.world_size)
                micro = [rows[b[i]:b[i + 1]] for i in range(self.world_size)
                         if b[i + 1] > b[i]]
            else:
                m = self.micro_batch_size
                micro = [rows[i:i + m] for i in range(0, len(rows), m)]
            b = _split(len(micro), self.world_size)
            mine = [(i, micro[i]) for i in range(b[self.rank], b[self.rank + 1])]
            steps.append(Step(s, len(rows), len(micro), mine))
        return steps


# ---- sharded inference ------------------------------------------------------------------

def predict_sharded(predict: Callable[..., Any], inputs, batch_size: int = 256, root: int = 0,
                    all_ranks: bool = False, comm=None) -> Optional[np.ndarray]:
    """Scores ``inputs`` across the ranks: the rows (axis 0) are cut into batches of
    ``batch_size`` rows, [0, b), [b, 2b), ... (the last one smaller); rank r runs
    ``predict`` on its contiguous run of whole batches (shard(N, batch_size=b): runs
    differ by one batch at most) and root gathers the outputs in row order (every rank
    with all_ranks=True). Each batch is the same rows on any number of ranks.

    predict: a callable taking the batch's arrays (one per input) and returning one
      array whose axis 0 is the batch's rows (a pygru.GRU with batch_first=True:
      ``lambda x: gru(x)[0]``; with lengths: ``lambda x, n: gru(x, lengths=n)[0]``).
    inputs: an array, or a tuple of arrays with the same number of rows N (each rank
      passes the same inputs, or at least the same N: only its slice is read).
    Returns the (N, ...) outputs on root (and on every rank with all_ranks), None on
    the other ranks: bitwise equal to one process running predict over the same
    batches, on any number of ranks; and to one call on all the rows when a row's
    output does not depend on the other rows of its batch (pygru's GRU; not NumPy's
    matmul, whose last bit can change with the number of rows: pygru.nn.Linear).
    Every rank must call it; the row count, the argument values and the outputs'
    trailing shape and dtype are compared first (ValueError on every rank if not)."""
    if not callable(predict):
        raise TypeError("predict must be callable (e.g. lambda x: model(x)); got %s"
                        % type(predict).__name__)
    comm = get_comm(comm)
    root = _check_root(root, comm)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    arrays = inputs if isinstance(inputs, tuple) else (inputs,)
    arrays = tuple(np.asarray(a) for a in arrays)
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise ValueError("inputs must be an array or a tuple of arrays with a row axis")
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError("inputs[%d] must have %d rows like inputs[0]; got %d" % (i, n, len(a)))
    all_ranks = bool(all_ranks)
    _agree(comm, "predict_sharded", [("operation", "predict_sharded"), ("rows", n),
                                     ("root", root), ("all_ranks", all_ranks),
                                     ("inputs", len(arrays))])
    bounds = _row_bounds(n, batch_size, comm.Get_size())
    mine = slice(bounds[comm.Get_rank()], bounds[comm.Get_rank() + 1])   # shard(..., batch_size)
    outs = []
    for start in range(mine.start, mine.stop, batch_size):
        stop = min(start + batch_size, mine.stop)
        out = np.asarray(predict(*(a[start:stop] for a in arrays)))
        if out.ndim == 0 or len(out) != stop - start:
            raise ValueError("predict must return an array with one row per input row: "
                             "%d rows in, shape %s out" % (stop - start, out.shape))
        outs.append(np.ascontiguousarray(out))
    local = np.concatenate(outs) if outs else None
    spec = None if local is None else (local.shape[1:], local.dtype.str)
    specs = comm.allgather(spec)
    known = [s for s in specs if s is not None]
    if not known:
        raise ValueError("predict_sharded: inputs has no rows")
    if any(s != known[0] for s in known):
        bad = next(r for r, s in enumerate(specs) if s is not None and s != known[0])
        raise ValueError("predict_sharded: the ranks' outputs differ: rank %d returned rows of "
                         "shape %s and dtype %s, another rank %s and %s"
                         % (bad, specs[bad][0], specs[bad][1], known[0][0], known[0][1]))
    tail, dtype = known[0][0], np.dtype(known[0][1])
    if local is None:
        local = np.empty((0,) + tail, dtype)
    per_row = int(np.prod(tail, dtype=np.int64))
    counts = [(b - a) * per_row for a, b in zip(bounds[:-1], bounds[1:])]
    recv = None
    if all_ranks or comm.Get_rank() == root:
        result = np.empty((n,) + tail, dtype)
        recv = [result, (counts, _offsets(counts))]
    send = local.reshape(-1)
    if all_ranks:
        comm.Allgatherv(send, recv)
        return result
    comm.Gatherv(send, recv, root=root)
    return result if comm.Get_rank() == root else None
