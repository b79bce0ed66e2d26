/* bench/read_bw.c - the time a plain loop takes to read a float32 buffer: the bound of a
 * one-step GEMV (a B = 1 GRU step reads each weight once and does one FMA with it), for
 * a buffer that lives in the cache level its size puts it in (read again and again, it
 * stays there; beyond the last level cache every pass streams from DRAM).
 *
 * Used two ways (no main here):
 *   - from C: bench/step_bound.c is built with this file,
 *       cc -O2 -std=c11 -Ic/include bench/step_bound.c bench/read_bw.c \
 *          c/build/libgru.a -lm -pthread -o c/build/step_bound
 *   - from Python: bench/machine.py compiles it on first use with the system cc
 *     (cc -O2 -shared -fPIC -pthread) into $TMPDIR/pygru-bench-$UID/ and loads it with
 *     ctypes (ctypes releases the GIL around each call), as it does fma_peak.c.
 *
 * The loop: a sum of vectors into 8 independent accumulators (AVX-512, else AVX2, else
 * plain C with 8 scalar accumulators; the kernel is compiled per ISA with a target
 * attribute and chosen at run time, like fma_peak.c, or forced narrower with
 * READ_BW_ISA=avx2|plain), reading the two halves of its buffer side by side (two
 * sequential streams), unaligned loads, the tail element by element. Each pass's sum
 * goes to a volatile sink, so no pass can be optimised away. No fast-math: the compiler
 * must keep the adds as written.
 *
 * Threads: with t > 1 the buffer is split into t contiguous slices of whole 64-byte
 * lines; thread k reads slice k on every pass, so each thread's slice stays in its own
 * core's private caches when it fits there, as a threaded GEMV's rows of the weights
 * do. The threads meet at a barrier after every pass (the one synchronisation per step a
 * threaded GRU step cannot avoid; waiters spin, then yield, as libgru's pool does); a
 * pass is timed from the barrier before it to the barrier after it.
 *
 * Guarantees: every call reads every float of buf[0 .. n_floats) exactly once per pass
 * (read_sum returns the sum those passes compute, in double, to check this); the
 * times are CLOCK_MONOTONIC wall time per pass; a call with bad arguments (NULL with
 * n_floats > 0, reps or passes < 1, threads < 1 or > READ_BW_MAX_THREADS) returns -1,
 * as does a failed pthread_create.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_BW_MAX_THREADS 64
#define LINE_FLOATS 16   /* 64-byte cache line */

const char *read_bw_isa(void);
double read_seconds(const float *buf, size_t n_floats, int reps);
double read_seconds_threads(const float *buf, size_t n_floats, int reps, int threads);
double read_mean_seconds(const float *buf, size_t n_floats, int passes, int threads);
double read_sum(const float *buf, size_t n_floats, int threads);

static volatile float sink;   /* every pass's sum lands here */

/* ---- the kernels: sum of p[0 .. n) ---------------------------------------------- */

/* Two sequential streams side by side: the first and the second half of the slice's
 * whole blocks, 4 accumulators each (in a side experiment on the Zen 4 VM, two streams
 * read a buffer near the L3's size up to 10 % faster than one, and never slower; a
 * GEMV's row panels give the hardware prefetchers several streams too). Then the rest,
 * one vector, then one float at a time. */
#define ADD2X4(add, load, w)                                                            \
    a0 = add(a0, load(p + i + 0 * (w))); a1 = add(a1, load(p + i + 1 * (w)));          \
    a2 = add(a2, load(p + i + 2 * (w))); a3 = add(a3, load(p + i + 3 * (w)));          \
    a4 = add(a4, load(q + i + 0 * (w))); a5 = add(a5, load(q + i + 1 * (w)));          \
    a6 = add(a6, load(q + i + 2 * (w))); a7 = add(a7, load(q + i + 3 * (w)))
#define SUM8(add) add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7)))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f")))
static float sum_avx512(const float *p, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0;
    const size_t h = n / 128 * 64;   /* floats per stream */
    const float *q = p + h;
    size_t i = 0;
    for (; i < h; i += 64) {
        ADD2X4(_mm512_add_ps, _mm512_loadu_ps, 16);
    }
    for (i = 2 * h; i + 16 <= n; i += 16) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    float s = _mm512_reduce_add_ps(SUM8(_mm512_add_ps));
    for (; i < n; i++) s += p[i];
    return s;
}

__attribute__((target("avx2")))
static float sum_avx2(const float *p, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0;
    const size_t h = n / 64 * 32;
    const float *q = p + h;
    size_t i = 0;
    for (; i < h; i += 32) {
        ADD2X4(_mm256_add_ps, _mm256_loadu_ps, 8);
    }
    for (i = 2 * h; i + 8 <= n; i += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    float out[8];
    _mm256_storeu_ps(out, SUM8(_mm256_add_ps));
    float s = ((out[0] + out[1]) + (out[2] + out[3])) + ((out[4] + out[5]) + (out[6] + out[7]));
    for (; i < n; i++) s += p[i];
    return s;
}
#endif

#define PLAIN_ADD(a, b) ((a) + (b))
#define PLAIN_LOAD(r) (*(r))
static float sum_plain(const float *p, size_t n)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    const size_t h = n / 8 * 4;
    const float *q = p + h;
    size_t i = 0;
    for (; i < h; i += 4) {
        ADD2X4(PLAIN_ADD, PLAIN_LOAD, 1);
    }
    float s = SUM8(PLAIN_ADD);
    for (i = 2 * h; i < n; i++) s += p[i];
    return s;
}

typedef float (*sum_fn)(const float *, size_t);

/* The widest kernel this CPU runs, or a narrower one named by the environment variable
 * READ_BW_ISA ("avx2" or "plain"; for tests of every path). */
static sum_fn pick(void)
{
    const char *force = getenv("READ_BW_ISA");
    if (force && strcmp(force, "plain") == 0) return sum_plain;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2");
    if (force && strcmp(force, "avx2") == 0 && avx2) return sum_avx2;
    if (__builtin_cpu_supports("avx512f")) return sum_avx512;
    if (avx2) return sum_avx2;
#endif
    return sum_plain;
}

const char *read_bw_isa(void)
{
    const sum_fn f = pick();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (f == sum_avx512) return "avx512f";
    if (f == sum_avx2) return "avx2";
#endif
    (void)f;
    return "plain C";
}

/* ---- timing ---------------------------------------------------------------------- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A sense-reversing barrier: a pass takes microseconds, too short to sleep, so waiters
 * spin; after SPINS pauses (tens of microseconds) they also yield, so two threads that
 * the scheduler put on one core (a busy machine) take turns instead of each spinning
 * through its time slice. */
#define SPINS 2000
typedef struct {
    atomic_int count;
    atomic_int sense;
    int n;
} spin_barrier;

static void relax(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_pause();
#endif
}

static void barrier_wait(spin_barrier *b, int *local_sense)
{
    *local_sense = !*local_sense;
    if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
        atomic_store(&b->count, 0);
        atomic_store(&b->sense, *local_sense);
    } else {
        for (int spins = 0; atomic_load(&b->sense) != *local_sense;) {
            if (++spins < SPINS) relax();
            else sched_yield();
        }
    }
}

typedef struct {
    const float *p;      /* my slice */
    size_t n;            /* its length */
    int reps;            /* passes */
    int mode;            /* 0: time each pass (best), 1: time all passes (mean) */
    spin_barrier *bar;
    atomic_int *go;      /* 0: wait, 1: run, -1: give up (a thread could not start) */
    sum_fn sum;
    double seconds;      /* thread 0: the result */
    double total;        /* the sum of my slice over the passes */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    int sense = 0, go;
    while ((go = atomic_load(j->go)) == 0) sched_yield();
    if (go < 0) return NULL;
    double best = 1e300, t0 = 0.0, total = 0.0;
    barrier_wait(j->bar, &sense);                   /* everyone here */
    if (j->mode == 1) t0 = now();
    for (int r = 0; r < j->reps; r++) {
        if (j->mode == 0) {
            barrier_wait(j->bar, &sense);
            t0 = now();
        }
        const float s = j->sum(j->p, j->n);
        sink = s;
        total += (double)s;
        barrier_wait(j->bar, &sense);               /* every slice read */
        if (j->mode == 0) {
            const double d = now() - t0;
            if (d < best) best = d;
        }
    }
    j->seconds = j->mode == 0 ? best : (now() - t0) / (double)j->reps;
    j->total = total;
    return NULL;
}

/* Runs `reps` passes over buf on `threads` threads (the caller's thread is thread 0).
 * mode 0: returns the best pass; mode 1: the mean pass. *total: the passes' sums. */
static double run(const float *buf, size_t n, int reps, int threads, int mode, double *total)
{
    if ((!buf && n) || reps < 1 || threads < 1 || threads > READ_BW_MAX_THREADS) return -1.0;
    job jobs[READ_BW_MAX_THREADS];
    pthread_t tids[READ_BW_MAX_THREADS];
    spin_barrier bar;
    atomic_int go;
    atomic_init(&bar.count, 0);
    atomic_init(&bar.sense, 0);
    atomic_init(&go, 0);
    bar.n = threads;
    const sum_fn f = pick();
    const size_t lines = (n + LINE_FLOATS - 1) / LINE_FLOATS;
    for (int k = 0; k < threads; k++) {
        /* slice k: lines [k * lines / t, (k + 1) * lines / t), clipped to n */
        size_t a = (size_t)k * lines / (size_t)threads * LINE_FLOATS;
        size_t e = (size_t)(k + 1) * lines / (size_t)threads * LINE_FLOATS;
        if (a > n) a = n;
        if (e > n) e = n;
        jobs[k] = (job){.p = buf ? buf + a : buf, .n = e - a, .reps = reps, .mode = mode,
                        .bar = &bar, .go = &go, .sum = f, .seconds = 0.0, .total = 0.0};
    }
    int started = 1;
    for (int k = 1; k < threads; k++) {
        if (pthread_create(&tids[k], NULL, run_job, &jobs[k]) != 0) break;
        started++;
    }
    atomic_store(&go, started == threads ? 1 : -1);
    if (started == threads) run_job(&jobs[0]);
    for (int k = 1; k < started; k++) pthread_join(tids[k], NULL);
    if (started < threads) return -1.0;
    double s = 0.0;
    for (int k = 0; k < threads; k++) s += jobs[k].total;
    if (total) *total = s;
    return jobs[0].seconds;
}

/* Best time (seconds) of one pass over buf[0 .. n_floats), of `reps` passes, 1 thread. */
double read_seconds(const float *buf, size_t n_floats, int reps)
{
    return run(buf, n_floats, reps, 1, 0, NULL);
}

/* Best time of one pass, the buffer split between `threads` threads (see the header). */
double read_seconds_threads(const float *buf, size_t n_floats, int reps, int threads)
{
    return run(buf, n_floats, reps, threads, 0, NULL);
}

/* Mean time per pass of `passes` passes back to back (timed as one block, as a round of
 * steps is), on `threads` threads. */
double read_mean_seconds(const float *buf, size_t n_floats, int passes, int threads)
{
    return run(buf, n_floats, passes, threads, 1, NULL);
}

/* One pass, as the timed ones run it: the sum of the per-thread sums (each a float sum in
 * the kernel's order), in double; NaN on bad arguments. For tests. */
double read_sum(const float *buf, size_t n_floats, int threads)
{
    double total = 0.0;
    if (run(buf, n_floats, 1, threads, 0, &total) < 0.0) return (double)NAN;
    return total;
}
