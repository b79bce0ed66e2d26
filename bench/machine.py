"""bench/machine.py - what machine and software a benchmark ran on, the float32 FMA
peak it is measured against, and (for rows bound by reading the weights) the cache
level a buffer lives in and the read bandwidth of a plain loop over it.

Guarantees:
  * machine_info() only reads (/proc/cpuinfo, os, package versions); it never fails
    on a missing file or package: absent facts are reported as None;
  * measure_matmul_peak() is a practical, measured reference: the best (not the
    median: noise only ever slows a run down) float32 GFLOP/s of a large torch matmul
    with a given thread count; theoretical_peak() is the paper number, stated with
    the assumption it rests on (clock from /proc/cpuinfo x FLOPs per cycle per core);
  * cache_levels() reads the data caches' sizes from sysfs at run time, weight_level()
    names the level a buffer of a given size lives in, and measure_read_bandwidth()
    times bench/read_bw.c over a buffer of exactly that size (best pass, like the FMA
    peak); the C files are compiled on first use into $TMPDIR/pygru-bench-$UID/;
  * build_c_tool() builds a bench/ C program against c/build/libgru.a (the C step tools
    of quant_compare.py and step_bound.py) into the same directory, one executable per
    process, removed at exit; a build that cannot run or fails raises RuntimeError with
    make's or the compiler's message.
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
    AMD Zen 4) reach half the AVX-512 figure. FMA_PEAK_ISA=avx2 (compare.py --isa avx2):
    the AVX2 figure."""
    flags = cpu_flags() if flags is None else flags
    if "avx512f" in flags and os.environ.get("FMA_PEAK_ISA") != "avx2":
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


def build_c_tool(name, sources, extra_flags=(), make=True):
    """Path of an executable built from the bench/ C files `sources` (e.g.
    ("step_bound.c", "read_bw.c")) against this tree's c/build/libgru.a: cc ($CC) -O2
    -std=c11 -Ic/include, extra_flags, the sources, libgru.a, -lm -pthread, into
    $TMPDIR/pygru-bench-$UID/<name>-<pid> (one per process, so runs from two trees never
    share one; removed when the process exits). make: run `make -C c -j2 all` first
    (incremental), else use the libgru.a already built. Raises RuntimeError saying why
    when make or the compiler cannot run or fails, or libgru.a is missing."""
    import atexit
    import subprocess
    import tempfile
    bench = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(bench)
    lib = os.path.join(root, "c", "build", "libgru.a")
    cc = os.environ.get("CC", "cc")
    try:
        if make:
            r = subprocess.run(["make", "-C", os.path.join(root, "c"), "-j2", "all"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("make -C c failed (exit %d): %s" % (
                    r.returncode, r.stderr.strip()[-300:]))
        if not os.path.exists(lib):
            raise RuntimeError("c/build/libgru.a missing (make -C c, or --c-step build)")
        out_dir = os.path.join(tempfile.gettempdir(), "pygru-bench-%d" % os.getuid())
        os.makedirs(out_dir, exist_ok=True)
        exe = os.path.join(out_dir, "%s-%d" % (name, os.getpid()))
        r = subprocess.run([cc, "-O2", "-std=c11", "-I" + os.path.join(root, "c", "include"),
                            *extra_flags, *(os.path.join(bench, s) for s in sources), lib,
                            "-lm", "-pthread", "-o", exe], capture_output=True, text=True)
    except OSError as exc:         # no make or no compiler on the PATH, an unwritable $TMPDIR
        raise RuntimeError("building %s failed: %s" % (sources[0], exc)) from exc
    if r.returncode != 0:
        raise RuntimeError("compiling %s failed (%s, exit %d): %s" % (
            sources[0], cc, r.returncode, r.stderr.strip()[:300]))
    atexit.register(_remove, exe)
    return exe


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fma_lib():
    """ctypes handle of fma_peak.c (see _compiled)."""
    import ctypes
    lib = _compiled("fma_peak")
    lib.fma_peak_run.restype = ctypes.c_float
    lib.fma_peak_run.argtypes = [ctypes.c_long, ctypes.POINTER(ctypes.c_double)]
    lib.fma_peak_isa.restype = ctypes.c_char_p
    return lib


def read_bw_lib():
    """ctypes handle of read_bw.c, the plain weight-read loop (see _compiled)."""
    import ctypes
    lib = _compiled("read_bw", ("-std=c11", "-pthread"))
    fp = ctypes.POINTER(ctypes.c_float)
    lib.read_bw_isa.restype = ctypes.c_char_p
    for fn, last in (("read_seconds", ()), ("read_seconds_threads", (ctypes.c_int,)),
                     ("read_mean_seconds", (ctypes.c_int,))):
        f = getattr(lib, fn)
        f.restype = ctypes.c_double
        f.argtypes = [fp, ctypes.c_size_t, ctypes.c_int, *last]
    lib.read_sum.restype = ctypes.c_double
    lib.read_sum.argtypes = [fp, ctypes.c_size_t, ctypes.c_int]
    return lib


def _parse_size(text):
    """'32K' / '1024K' / '32M' / '12345' -> bytes (None if unreadable)."""
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    try:
        if text and text[-1] in mult:
            return int(text[:-1]) * mult[text[-1]]
        return int(text)
    except ValueError:
        return None


def _cpu_list_count(text):
    """'0-1,4' -> 3."""
    n = 0
    for part in text.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        n += int(b) - int(a) + 1 if b else 1
    return n


def cache_levels(root="/sys/devices/system/cpu/cpu0/cache"):
    """The data caches of cpu0, smallest level first: [{"name": "L1", "level": 1,
    "bytes": 32768, "shared_cpus": 1}, ...] from root/index*/{level,type,size,
    shared_cpu_list}; instruction caches are left out. [] where sysfs has no caches."""
    out = []
    try:
        entries = sorted(e for e in os.listdir(root) if e.startswith("index"))
    except OSError:
        return out
    for e in entries:
        d = os.path.join(root, e)
        try:
            with open(os.path.join(d, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(d, "level")) as f:
                level = int(f.read().strip())
            with open(os.path.join(d, "size")) as f:
                size = _parse_size(f.read())
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not size:
            continue
        try:
            with open(os.path.join(d, "shared_cpu_list")) as f:
                shared = _cpu_list_count(f.read())
        except (OSError, ValueError):
            shared = 1
        out.append({"name": "L%d" % level, "level": level, "bytes": size,
                    "shared_cpus": max(1, shared)})
    return sorted(out, key=lambda c: c["level"])


def weight_level(nbytes, threads=1, levels=None):
    """The cache level (name) a buffer of nbytes read by `threads` threads on distinct
    cores (each its own contiguous share) lives in: the smallest level whose capacity
    holds it, where a level shared by k cores offers size x max(1, threads // k) (one
    instance per k of the threads: a private L2 holds each thread's share, a shared L3
    the whole buffer). "DRAM" beyond the last level."""
    levels = cache_levels() if levels is None else levels
    for c in levels:
        if nbytes <= c["bytes"] * max(1, threads // c["shared_cpus"]):
            return c["name"]
    return "DRAM"


def measure_read_bandwidth(nbytes, threads=1, seconds=0.2, min_reps=5, max_reps=2000):
    """Read bandwidth (GB/s) of read_bw.c's loop over a float32 buffer of nbytes (so it
    lives where weights of that size live), split between `threads` threads: the best
    pass of about `seconds` of passes (short passes: the best one escapes preemption).
    Returns {"gbps", "best_s" (one pass), "bytes", "threads", "level", "isa", "reps",
    "method"}; {"gbps": None, "error"} when read_bw.c cannot compile."""
    import ctypes
    import numpy as np
    try:
        lib = read_bw_lib()
    except (OSError, RuntimeError) as exc:
        return {"gbps": None, "error": str(exc), "bytes": nbytes, "threads": threads}
    n = max(16, nbytes // 4)
    buf = np.full(n, 1.0 / 1024.0, dtype=np.float32)   # touched: pages mapped, no denormals
    ptr = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    one = lib.read_seconds_threads(ptr, n, 2, threads)          # warm: pull into the cache
    if one < 0:
        return {"gbps": None, "error": "read_seconds_threads failed", "bytes": nbytes,
                "threads": threads}
    # Calls of `reps` passes until `seconds` have passed (at least 3 calls): a call whose
    # threads were preempted throughout (a busy neighbour) is outdone by the next.
    reps = int(min(max_reps, max(min_reps, seconds / 3.0 / max(one, 1e-7))))
    best, calls, t0 = one, 0, time.perf_counter()
    while calls < 3 or (time.perf_counter() - t0 < seconds and calls < 50):
        t = lib.read_seconds_threads(ptr, n, reps, threads)
        if t > 0:
            best = min(best, t)
        calls += 1
    reps *= calls
    return {"gbps": 4.0 * n / best / 1e9, "best_s": best, "bytes": 4 * n, "threads": threads,
            "level": weight_level(4 * n, threads), "isa": lib.read_bw_isa().decode(),
            "reps": reps,
            "method": "best of %d passes of bench/read_bw.c's sum over %d float32 on %d "
                      "thread(s)" % (reps, n, threads)}


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
