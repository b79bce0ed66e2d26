/* bench/spin.c - a thread that keeps one core busy until it is told to stop: the
 * "spin" condition of bench/contention.py and of tests/test_contention.py (another
 * thread of the same process competing for the cores that pygru's pool runs on).
 *
 * bench/spinner.py compiles this file with the system C compiler into a shared library
 * (cc -O2 -shared -fPIC, into $TMPDIR/pygru-bench-$UID, as bench/fma_peak.c: machine.py) and calls
 * spin_until from a Python thread through ctypes, which releases the GIL for the call:
 * the loop really runs beside the Python thread that calls pygru. (A spinner written
 * in Python would hold the GIL and mostly stop the caller instead.)
 *
 * Guarantees: spin_until sets *started to 1 when it begins, then loads *stop (a relaxed
 * atomic load, so the store of another thread is seen and the loop is not optimised
 * away) and counts until it reads a non-zero value; it never sleeps, yields or
 * allocates. It returns the number of iterations and stores the CPU time the calling
 * thread used meanwhile in *cpu_seconds (CLOCK_THREAD_CPUTIME_ID; -1 if unavailable),
 * so the caller can tell how much of a core the spinner really had.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdatomic.h>
#include <time.h>

static double thread_cpu_seconds(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        return -1.0;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

unsigned long long spin_until(const atomic_int *stop, atomic_int *started, double *cpu_seconds)
{
    double t0 = thread_cpu_seconds();
    unsigned long long n = 0;
    atomic_store_explicit(started, 1, memory_order_release);
    while (!atomic_load_explicit(stop, memory_order_relaxed))
        n++;
    double t1 = thread_cpu_seconds();
    *cpu_seconds = (t0 < 0.0 || t1 < 0.0) ? -1.0 : t1 - t0;
    return n;
}
