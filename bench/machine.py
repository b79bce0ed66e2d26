"""bench/machine.py - what machine and software a benchmark ran on, and the float32
FMA peak it is measured against.

Guarantees:
  * machine_info() only reads (/proc/cpuinfo, os, package versions); it never fails
    on a missing file or package: absent facts are reported as None;
  * measure_matmul_peak() is a practical, measured reference: the best (not the
    median: noise only ever slows a run down) float32 GFLOP/s of a large torch matmul
    with a given thread count; theoretical_peak() is the paper number, stated with
    the assumption it rests on (clock from /proc/cpuinfo x FLOPs per cycle per core).
"""
import datetime
import os
import platform
import sys
import time


def _cpuinfo():
    """{key: value} of the first processor block of /proc/cpuinfo ({} if unreadable)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    if info:
                        break
                    continue
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _version(module_name):
    try:
        module = __import__(module_name)
    except Exception:          # not installed, or broken: report, never fail
        return None
    return getattr(module, "__version__", "unknown")


def cpu_flags():
    return set(_cpuinfo().get("flags", "").split())


def flops_per_cycle_per_core(flags=None):
    """(float32 FLOPs per cycle per core, the assumption behind it). Two FMA pipes of
    the widest vector the CPU advertises: 2 x 16 lanes x 2 with AVX-512, 2 x 8 x 2
    with AVX2+FMA, 2 x 4 x 2 otherwise. CPUs that split 512-bit operations (e.g.
    AMD Zen 4) reach half the AVX-512 figure."""
    flags = cpu_flags() if flags is None else flags
    if "avx512f" in flags:
        return 64, "AVX-512: 2 FMA pipes x 16 float32 lanes x 2 FLOPs"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2+FMA: 2 FMA pipes x 8 float32 lanes x 2 FLOPs"
    return 16, "SSE/NEON class: 2 pipes x 4 float32 lanes x 2 FLOPs"


def theoretical_peak(threads, flops_per_cycle=None):
    """Theoretical float32 GFLOP/s for `threads` cores at the clock /proc/cpuinfo
    reports (the nominal clock; turbo can exceed it, a VM may report the host's)."""
    info = _cpuinfo()
    try:
        mhz = float(info.get("cpu MHz", "nan"))
    except ValueError:
        mhz = float("nan")
    fpc, why = flops_per_cycle_per_core()
    if flops_per_cycle is not None:
        fpc, why = flops_per_cycle, "given on the command line"
    return {"gflops": mhz / 1000.0 * fpc * threads, "mhz": mhz,
            "flops_per_cycle_per_core": fpc, "assumption": why, "threads": threads}


def measure_matmul_peak(threads, n=2048, repeats=5):
    """Best GFLOP/s of torch.mm on (n, n) float32 matrices with `threads` threads
    (2 n^3 FLOPs per call, one warm-up call). Restores torch's thread count."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=g)
        b = torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
    return {"gflops": 2.0 * n ** 3 / best / 1e9, "n": n, "best_s": best,
            "repeats": repeats, "threads": threads,
            "method": "best of %d torch.mm (%d x %d float32)" % (repeats, n, n)}


_LIBS = {}


def _compiled(name, extra_flags=()):
    """ctypes handle of bench/<name>.c compiled with the system cc into a temporary
    directory ($TMPDIR/pygru-bench-$UID/, cached by the source's hash). Raises
    OSError/RuntimeError when no C compiler works."""
    if name in _LIBS:
        return _LIBS[name]
    import ctypes
    import hashlib
    import subprocess
    import tempfile
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".c")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    out_dir = os.path.join(tempfile.gettempdir(), "pygru-bench-%d" % os.getuid())
    os.makedirs(out_dir, exist_ok=True)
    so = os.path.join(out_dir, "%s-%s.so" % (name, digest))
    if not os.path.exists(so):
        cc = os.environ.get("CC", "cc")
        tmp = so + ".%d.tmp" % os.getpid()
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", *extra_flags, "-o", tmp, src],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("compiling %s.c failed: %s" % (name, r.stderr.strip()[:500]))
        os.replace(tmp, so)
    lib = ctypes.CDLL(so)
    _LIBS[name] = lib
    return lib


def _fma_lib():
    """ctypes handle of fma_peak.c (see _compiled)."""
    import ctypes
    lib = _compiled("fma_peak")
    lib.fma_peak_run.restype = ctypes.c_float
    lib.fma_peak_run.argtypes = [ctypes.c_long, ctypes.POINTER(ctypes.c_double)]
    lib.fma_peak_isa.restype = ctypes.c_char_p
    return lib


def measure_fma_peak(threads, seconds=0.005, repeats=40):
    """Measured float32 FMA peak in GFLOP/s of `threads` cores: fma_peak.c's loop of
    independent vector FMAs run at once in `threads` Python threads (ctypes releases
    the GIL); total FLOPs / wall time, best of `repeats` runs of about `seconds`
    each (short runs: on a shared machine the best short window is still free of
    preemption). Returns a dict with "gflops" (None and "error" if it cannot compile)."""
    import ctypes
    import threading
    try:
        lib = _fma_lib()
    except (OSError, RuntimeError) as exc:
        return {"gflops": None, "error": str(exc), "threads": threads}
    fl = ctypes.c_double()
    iters = 1 << 16
    while True:                       # calibrate: iterations for ~seconds on one core
        t0 = time.perf_counter()
        lib.fma_peak_run(iters, ctypes.byref(fl))
        dt = time.perf_counter() - t0
        if dt > seconds / 4 or iters > 1 << 34:
            break
        iters *= 2
    iters = max(1, int(iters * seconds / max(dt, 1e-9)))
    best = 0.0
    for _ in range(repeats):
        flops = [ctypes.c_double() for _ in range(threads)]
        workers = [threading.Thread(target=lib.fma_peak_run, args=(iters, ctypes.byref(f)))
                   for f in flops]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        dt = time.perf_counter() - t0
        best = max(best, sum(f.value for f in flops) / dt / 1e9)
    return {"gflops": best, "threads": threads, "isa": lib.fma_peak_isa().decode(),
            "method": "best of %d: %d thread(s) x %d iterations of 16 independent vector "
                      "FMAs (bench/fma_peak.c)" % (repeats, threads, iters)}


def git_state(root=None):
    """{"tree", "commit", "dirty_paths"} of the git checkout at root (default: the one
    holding bench/): the commit and the paths under c/, pygru/ and build_ffi.py with
    uncommitted changes (what was measured may not be the commit); None when root is
    no git checkout (e.g. an exported copy given with --pygru-path)."""
    import subprocess
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "c",
                                 "pygru", "build_ffi.py"], capture_output=True, text=True,
                                timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if not commit:
        return None
    return {"tree": root, "commit": commit,
            "dirty_paths": [l[3:] for l in status.splitlines() if l.strip()]}


def machine_info(pygru_root=None):
    """Machine, versions and pygru facts. pygru_root: the directory holding the
    measured pygru package (its git state is recorded)."""
    info = _cpuinfo()
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    flags = set(info.get("flags", "").split())
    pygru_info = None
    try:
        import pygru
        pygru_info = dict(pygru.info(), module_file=pygru.__file__,
                          set_num_threads=hasattr(pygru, "set_num_threads"))
    except Exception as exc:     # reported, not fatal: the harness says pygru is n/a
        pygru_info = {"error": "%s: %s" % (type(exc).__name__, exc)}
    torch_threads = None
    try:
        import torch
        torch_threads = {"intra_op": torch.get_num_threads(),
                         "inter_op": torch.get_num_interop_threads()}
    except Exception:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": info.get("model name"),
        "cpu_mhz": info.get("cpu MHz"),
        "cpu_family_model": "%s/%s" % (info.get("cpu family"), info.get("model")),
        "simd_flags": sorted(f for f in flags if f in {
            "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
            "avx512_bf16", "avx512_vnni", "asimd", "sve"}),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "hypervisor": "hypervisor" in flags,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in
                     ("pygru", "numpy", "torch", "onnxruntime", "onnx", "matplotlib")},
        "pygru_info": pygru_info,
        "torch_threads_default": torch_threads,
        "loadavg_start": load,
        "git": git_state(pygru_root),
        "gru_isa_env": os.environ.get("GRU_ISA"),
    }
