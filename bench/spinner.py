"""bench/spinner.py - keeps one core busy from inside this process: a thread that runs
bench/spin.c's busy loop through ctypes (which releases the GIL, so the loop really runs
in parallel with the Python thread that calls pygru) until it is told to stop. Used by
bench/contention.py (its "spin" condition) and tests/test_contention.py.

    with Spinner() as s:        # compiles bench/spin.c on first use (system cc)
        ...                     # one core is busy here
    s.cpu_seconds, s.wall_seconds, s.iterations   # what the spinner really got

Guarantees: start() returns only once the loop is running (it waits for spin.c's
started flag, at most 10 s, else RuntimeError); stop() sets the stop flag, joins the
thread and records the spinner's iterations, CPU seconds (its own thread's CPU time,
None where the clock is missing) and wall seconds; a Spinner left running at interpreter
exit is stopped then. SpinnerUnavailable (a RuntimeError) is raised when bench/spin.c
cannot be compiled (no C compiler): callers skip the condition and say why.
"""
import atexit
import ctypes
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import machine  # noqa: E402

_LIB = None


class SpinnerUnavailable(RuntimeError):
    """bench/spin.c could not be compiled or loaded (e.g. no C compiler)."""


def load_library():
    """ctypes handle of bench/spin.c, compiled on first use (machine._compiled, as
    fma_peak.c)."""
    global _LIB
    if _LIB is None:
        try:
            lib = machine._compiled("spin")
        except (OSError, RuntimeError) as exc:
            raise SpinnerUnavailable("cannot build bench/spin.c: %s" % exc) from exc
        lib.spin_until.restype = ctypes.c_ulonglong
        lib.spin_until.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(ctypes.c_double)]
        _LIB = lib
    return _LIB


class Spinner:
    """One thread spinning in C while the Spinner runs (a context manager, or start()
    and stop())."""

    def __init__(self):
        self._lib = load_library()
        self._stop = ctypes.c_int(0)
        self._started = ctypes.c_int(0)
        self._cpu = ctypes.c_double(-1.0)
        self._result = []
        self._thread = None
        self._t0 = None
        self.iterations = self.cpu_seconds = self.wall_seconds = None

    @property
    def running(self):
        return self._thread is not None

    def start(self):
        if self._thread is not None:
            raise RuntimeError("the spinner is already running")
        self._stop.value = 0
        self._started.value = 0
        self._result = []
        self.iterations = self.cpu_seconds = self.wall_seconds = None

        def run():
            self._result.append(self._lib.spin_until(
                ctypes.byref(self._stop), ctypes.byref(self._started), ctypes.byref(self._cpu)))
        self._thread = threading.Thread(target=run, name="pygru-bench-spinner", daemon=True)
        self._t0 = time.perf_counter()
        self._thread.start()
        _running.add(self)
        deadline = self._t0 + 10.0
        while not self._started.value:
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError("the spinner thread did not start within 10 s")
            time.sleep(0.0005)
        return self

    def stop(self):
        """Stops the loop and returns the iterations it ran (None if it was not running)."""
        if self._thread is None:
            return None
        self._stop.value = 1
        self._thread.join()
        self.wall_seconds = time.perf_counter() - self._t0
        self._thread = None
        _running.discard(self)
        self.iterations = int(self._result[0]) if self._result else None
        self.cpu_seconds = self._cpu.value if self._cpu.value >= 0 else None
        return self.iterations

    def summary(self):
        """{"iterations", "cpu_seconds", "wall_seconds", "core_share"}: core_share = the
        spinner's CPU seconds / wall seconds (1.0 = it had a core all the time)."""
        share = (self.cpu_seconds / self.wall_seconds
                 if self.cpu_seconds is not None and self.wall_seconds else None)
        return {"iterations": self.iterations, "cpu_seconds": self.cpu_seconds,
                "wall_seconds": self.wall_seconds, "core_share": share}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


_running = set()


@atexit.register
def _stop_all():
    for s in list(_running):
        s.stop()
