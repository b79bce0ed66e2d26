/*
 * pool.c - the thread pool of pool.h on POSIX threads and C11 atomics; a single-thread
 * fallback where there are none (then gru_pool_create refuses n > 1).
 *
 * A job is published by bumping `epoch` (under the mutex, so that sleeping workers
 * can be woken by the condition variable); workers spin on it for a short while before
 * sleeping. The barrier is a sense-reversing counter: the last arrival resets the
 * count and flips the shared sense; the others spin briefly, then sleep on a condition
 * variable that the last arrival signals when anyone sleeps. Nothing spins for long,
 * so the pool leaves the cores to other work (other pools, other processes).
 *
 * The gate (pool.h) is one atomic word: a compare-and-swap loop counts a call in (only
 * while the writer bit is clear), a release decrement counts it out, and closing is a
 * single compare-and-swap from 0, so gru_set_num_threads never waits for calls.
 */
#if !defined(_WIN32) && !defined(__STDC_NO_ATOMICS__)
#define _POSIX_C_SOURCE 200809L
#define GRU_HAVE_THREADS 1
#endif

#include <stdlib.h>
#include "pool.h"

void gru_team_split(const gru_team *team, size_t n, size_t grain, size_t *lo, size_t *hi)
{
    const size_t chunks = grain ? (n + grain - 1) / grain : 0;
    const size_t t = (size_t)team->tid, nt = (size_t)team->n;
    const size_t c0 = chunks * t / nt, c1 = chunks * (t + 1) / nt;
    *lo = c0 * grain < n ? c0 * grain : n;
    *hi = c1 * grain < n ? c1 * grain : n;
}

#if GRU_HAVE_THREADS
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define GRU_RELAX() __asm__ __volatile__("yield")
#else
#define GRU_RELAX() ((void)0)
#endif

/* Spin counts (pause instructions, ~10-40 ns each). A barrier waiter spins for tens
 * of microseconds (a step's imbalance) and then sleeps; an idle worker spins a little
 * longer before sleeping. Threads that spin on, or only yield, would take the cores
 * from other thread pools of the process (PyTorch's OpenMP, ONNX Runtime, BLAS) and
 * slow them by orders of magnitude on a small machine. */
enum { SPIN_IDLE = 1 << 12, SPIN_BARRIER = 1 << 11, SPIN_CALLER = 1 << 11, SPIN_TIMED = 1 << 8 };

/* The contention rules (pool.h). A job is offered to the workers and runs on the team
 * only if every worker accepts it within ACCEPT_FRACTION of the call's estimated
 * one-thread time (work / EST_RATE multiply-adds per second, a low estimate of one
 * core's rate, so the fraction errs long), at least ACCEPT_MIN_S and at most
 * ACCEPT_MAX_S (a worker woken on a core that another pool's thread holds can take
 * milliseconds: with 1 ms, a 0.8 s training forward after a torch call often ran
 * alone); otherwise the caller withdraws it and runs this call alone (the next
 * call offers again: another pool's threads often spin only for milliseconds after
 * their own work, as PyTorch's OpenMP workers do). A team whose threads waited at
 * barriers (the long waits, SPIN_TIMED on) for more than STALL_FRACTION of the call's
 * time and more than STALL_MIN_S in all, the latest of them in the call's second half,
 * lost a core during the call and had not got it back: the calls of the next
 * SOLO_MIN_S (at least SOLO_CALLS times that call's time), doubling while it lasts, up
 * to SOLO_MAX_S (or SOLO_MAX_CALLS calls), then run on the caller alone before the team
 * is tried again.
 * (Making a missed offer start such a period as well measured worse: after each torch
 * call in compare.py's alternation the 2-thread training rows ran alone throughout,
 * 100,32,128,256 at 63 ms instead of 54.) */
#define EST_RATE 2e10
#define ACCEPT_FRACTION 0.03
#define ACCEPT_MIN_S 2e-6
#define ACCEPT_MAX_S 2e-2
#define STALL_FRACTION 0.2
/* A thread that loses its core to another runnable thread waits at least a scheduler
 * slice (Linux: 0.75 ms and more) to get it back. Shorter waits are something else: a
 * worker whose caches went cold while it slept (the first team call after a while
 * alone: its share of the weights comes from L3, 10-30 us longer for a 27 us step on
 * the AMD EPYC of bench/RESULTS.md), an interrupt, the hypervisor. Counting those as a
 * lost core sent a short call's team alone on an idle machine, and kept it alone: each
 * alone period let the worker's caches go cold again, its next team call waited again,
 * and the period doubled (a 2-layer B = 1 step stayed at its 1-thread 42 us instead of
 * 27). */
#define STALL_MIN_S 2e-4
#define SOLO_MIN_S 1e-3
#define SOLO_MAX_S 0.25
#define SOLO_CALLS 1.0
#define SOLO_MAX_CALLS 8.0

/* The job word: the job's epoch in the high 32 bits; in the low ones the count of
 * workers that accepted it, and the caller's decision (JOB_RUN / JOB_WITHDRAWN). */
#define JOB_RUN 0x40000000ull
#define JOB_WITHDRAWN 0x80000000ull
#define JOB_DECIDED (JOB_RUN | JOB_WITHDRAWN)

struct gru_worker_start {
    struct gru_pool *pool;
    int tid;
};

struct gru_pool {
    int n;
    int patient;                  /* always wait for the whole team (pool.h) */
    pthread_t *threads;           /* (n - 1) workers */
    struct gru_worker_start *starts;  /* (n - 1) their start arguments */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint epoch;            /* bumped once per job */
    atomic_ullong job;            /* the current job's offer (see JOB_RUN) */
    int idle_sleepers;            /* workers asleep waiting for a job (under mu) */
    atomic_int quit;
    void (*fn)(void *, gru_team *);
    void *arg;
    atomic_int running;           /* workers still inside the current job */
    atomic_flag busy;             /* a caller owns the pool */
    atomic_llong stall_ns;        /* the current job's threads' long barrier waits */
    atomic_llong stall_end_ns;    /* CLOCK_MONOTONIC ns when the latest one ended */
    gru_pool_memory *mem;         /* the busy-core record: the owner's, or own_mem */
    gru_pool_memory own_mem;
    atomic_int bar_count;         /* barrier */
    atomic_int bar_sense;
    atomic_int bar_sleepers;      /* waiters blocked on bar_cv */
    pthread_mutex_t bar_mu;
    pthread_cond_t bar_cv;
};

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run_job(gru_pool *p, int tid)
{
    gru_team team = {p, tid, p->n, 0};
    team.sense = atomic_load(&p->bar_sense);
    p->fn(p->arg, &team);
}

/* Waits (spinning, then asleep) for a job newer than `seen`; returns its epoch, or
 * `seen` when the pool quits. */
static unsigned wait_job(gru_pool *p, unsigned seen)
{
    unsigned e;
    for (int spins = 0; spins < SPIN_IDLE; spins++) {
        if ((e = atomic_load(&p->epoch)) != seen || atomic_load(&p->quit)) return e;
        GRU_RELAX();
    }
    pthread_mutex_lock(&p->mu);
    p->idle_sleepers++;
    while ((e = atomic_load(&p->epoch)) == seen && !atomic_load(&p->quit))
        pthread_cond_wait(&p->cv, &p->mu);
    p->idle_sleepers--;
    pthread_mutex_unlock(&p->mu);
    return e;
}

/* A worker takes job e: counts itself in while the job is still open, then waits for
 * the caller's decision. 1: run it; 0: withdrawn (or superseded: the caller only
 * publishes a newer job after deciding this one). */
static int take_job(gru_pool *p, unsigned e)
{
    unsigned long long w = atomic_load(&p->job);
    do {
        if ((unsigned)(w >> 32) != e || (w & JOB_DECIDED)) return 0;
    } while (!atomic_compare_exchange_weak(&p->job, &w, w + 1));
    for (int spins = 0;; spins++) {   /* the caller decides at once, or within its wait */
        w = atomic_load(&p->job);
        if ((unsigned)(w >> 32) != e || (w & JOB_WITHDRAWN)) return 0;
        if (w & JOB_RUN) return 1;
        if (spins < SPIN_CALLER) GRU_RELAX();
        else sched_yield();
    }
}

static void *worker(void *arg)
{
    const struct gru_worker_start *start = arg;
    gru_pool *p = start->pool;
    const int tid = start->tid;
    unsigned seen = 0;
    for (;;) {
        const unsigned e = wait_job(p, seen);
        if (atomic_load(&p->quit)) return NULL;
        seen = e;
        if (!take_job(p, e)) continue;
        run_job(p, tid);
        atomic_fetch_sub(&p->running, 1);
    }
}

/* The sync objects of a pool in the order they are made; destroyed in reverse. */
static void destroy_sync(gru_pool *p, int made)
{
    if (made > 3) pthread_cond_destroy(&p->bar_cv);
    if (made > 2) pthread_mutex_destroy(&p->bar_mu);
    if (made > 1) pthread_cond_destroy(&p->cv);
    if (made > 0) pthread_mutex_destroy(&p->mu);
}

gru_status gru_pool_create(int n, int patient, gru_pool_memory *memory, gru_pool **out)
{
    *out = NULL;
    if (n < 1) return GRU_ERR_INVALID_ARG;
    if (n == 1) return GRU_OK;
    gru_pool *p = calloc(1, sizeof *p);
    if (!p) return GRU_ERR_NO_MEMORY;
    p->n = n;
    p->patient = patient;
    p->mem = memory ? memory : &p->own_mem;
    p->threads = calloc((size_t)n - 1, sizeof *p->threads);
    p->starts = calloc((size_t)n - 1, sizeof *p->starts);
    int made = 0;   /* sync objects made so far, for the cleanup */
    if (!(p->threads && p->starts && !pthread_mutex_init(&p->mu, NULL) && ++made &&
          !pthread_cond_init(&p->cv, NULL) && ++made &&
          !pthread_mutex_init(&p->bar_mu, NULL) && ++made &&
          !pthread_cond_init(&p->bar_cv, NULL) && ++made)) {
        destroy_sync(p, made);
        free(p->starts);
        free(p->threads);
        free(p);
        return GRU_ERR_NO_MEMORY;
    }
    atomic_init(&p->bar_sleepers, 0);
    atomic_init(&p->epoch, 0);
    atomic_init(&p->job, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->running, 0);
    atomic_init(&p->stall_ns, 0);
    atomic_init(&p->stall_end_ns, 0);
    atomic_flag_clear(&p->busy);
    atomic_init(&p->bar_count, n);
    atomic_init(&p->bar_sense, 0);
    for (int i = 1; i < n; i++) {
        p->starts[i - 1] = (struct gru_worker_start){p, i};
        if (pthread_create(&p->threads[i - 1], NULL, worker, &p->starts[i - 1])) {
            p->n = i;   /* the workers started so far are joined by destroy */
            gru_pool_destroy(p);
            return GRU_ERR_NO_MEMORY;
        }
    }
    *out = p;
    return GRU_OK;
}

void gru_pool_destroy(gru_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
    destroy_sync(p, 4);
    free(p->starts);
    free(p->threads);
    free(p);
}

/* Another thread held a core during a call of `call_s` seconds: the next calls run
 * alone for a while (the rules above). Caller owns the pool. */
static void go_solo(gru_pool *p, double now, double call_s)
{
    const double least = SOLO_CALLS * call_s, longest = SOLO_MAX_CALLS * call_s;
    const double most = SOLO_MAX_S > longest ? SOLO_MAX_S : longest;
    double s = p->mem->solo_s > 0 ? 2.0 * p->mem->solo_s : SOLO_MIN_S;
    s = s < least ? least : s > most ? most : s;
    p->mem->solo_s = s;
    p->mem->solo_until = now + s;
}

/* Offers job e to the workers and waits up to `wait_s` for all to accept. 1: the team
 * runs it; 0: withdrawn (the caller runs it alone). */
static int offer(gru_pool *p, unsigned e, double wait_s)
{
    atomic_store(&p->job, (unsigned long long)e << 32);
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->epoch, e);
    if (p->idle_sleepers > 0) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    const unsigned long long all = ((unsigned long long)e << 32) | (unsigned)(p->n - 1);
    double deadline = 0;
    for (unsigned spins = 0;; spins++) {
        unsigned long long w = all;
        if (atomic_compare_exchange_strong(&p->job, &w, all | JOB_RUN)) return 1;
        if ((spins & 63u) == 63u) {
            const double t = mono_s();
            if (deadline == 0) deadline = t + wait_s;
            else if (t > deadline && !p->patient &&
                     atomic_compare_exchange_strong(&p->job, &w, w | JOB_WITHDRAWN))
                return 0;
        }
        GRU_RELAX();
    }
}

void gru_pool_run(gru_pool *p, void (*fn)(void *, gru_team *), void *arg, double work)
{
    gru_team alone = {NULL, 0, 1, 0};
    if (!p || atomic_flag_test_and_set(&p->busy)) {
        fn(arg, &alone);
        return;
    }
    const double t0 = mono_s(), est_s = work / EST_RATE;
    if (t0 < p->mem->solo_until) {   /* another thread held a core lately */
        fn(arg, &alone);
        atomic_flag_clear(&p->busy);
        return;
    }
    double wait_s = ACCEPT_FRACTION * est_s;
    wait_s = wait_s < ACCEPT_MIN_S ? ACCEPT_MIN_S : wait_s > ACCEPT_MAX_S ? ACCEPT_MAX_S : wait_s;
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->running, p->n - 1);
    atomic_store(&p->stall_ns, 0);
    atomic_store(&p->stall_end_ns, 0);
    if (!offer(p, atomic_load(&p->epoch) + 1u, wait_s)) {
        /* a worker is still waking up, or is held off its core by another thread */
        fn(arg, &alone);
        atomic_flag_clear(&p->busy);
        return;
    }
    run_job(p, 0);
    int spins = 0;   /* the workers' last barrier has passed: they are about done */
    double late = 0;
    while (atomic_load(&p->running) > 0)
        if (++spins < SPIN_CALLER) GRU_RELAX();
        else {
            if (late == 0) late = mono_s();
            sched_yield();
        }
    const double t1 = mono_s();
    const double stall = 1e-9 * (double)atomic_load(&p->stall_ns) + (late > 0 ? t1 - late : 0);
    const double stall_end = late > 0 ? t1 : 1e-9 * (double)atomic_load(&p->stall_end_ns);
    /* a core lost during the call, and still lost in its second half (a pool that held
     * it only at the start, as PyTorch's after its own call, has let go by then) */
    if (stall > STALL_FRACTION * (t1 - t0) && stall > STALL_MIN_S &&
        stall_end > t0 + 0.5 * (t1 - t0) && !p->patient)
        go_solo(p, t1, t1 - t0);
    else p->mem->solo_s = 0;
    atomic_flag_clear(&p->busy);
}

/* Sleeps until the barrier's sense is `sense`; the last arrival's broadcast wakes it.
 * The wait is re-checked every 10 ms, so a lost wakeup costs 10 ms instead of a hang
 * (qemu-user has shown one here, on a barrier that is correct under C11). */
static void barrier_sleep(gru_pool *p, int sense)
{
    pthread_mutex_lock(&p->bar_mu);
    atomic_fetch_add(&p->bar_sleepers, 1);
    while (atomic_load(&p->bar_sense) != sense) {
        struct timespec ts = {0, 0};
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&p->bar_cv, &p->bar_mu, &ts);
    }
    atomic_fetch_sub(&p->bar_sleepers, 1);
    pthread_mutex_unlock(&p->bar_mu);
}

/* A long barrier wait that began at t0 (seconds) ends now: counted (go_solo). */
static void count_wait(gru_pool *p, double t0)
{
    const double t = mono_s();
    atomic_fetch_add(&p->stall_ns, (long long)(1e9 * (t - t0)));
    atomic_store(&p->stall_end_ns, (long long)(1e9 * t));
}

void gru_team_barrier(gru_team *t)
{
    if (!t->pool || t->n == 1) return;
    gru_pool *p = t->pool;
    t->sense = !t->sense;
    if (atomic_fetch_sub(&p->bar_count, 1) == 1) {
        atomic_store(&p->bar_count, p->n);
        atomic_store(&p->bar_sense, t->sense);
        /* A sleeper counted itself before it last read the sense (both sequentially
         * consistent), so it either saw the new sense or is counted here. Read with a
         * read-modify-write: a full barrier after the sense store even under an
         * emulator whose release store / acquire load pair is weaker than C11's. */
        if (atomic_fetch_add(&p->bar_sleepers, 0) > 0) {
            pthread_mutex_lock(&p->bar_mu);
            pthread_cond_broadcast(&p->bar_cv);
            pthread_mutex_unlock(&p->bar_mu);
        }
        return;
    }
    /* A wait longer than SPIN_TIMED pauses (a few microseconds: more than a step's
     * imbalance) is timed from there on and counted against the team (go_solo). */
    double t0 = 0;
    for (int spins = 0; spins < SPIN_BARRIER; spins++) {
        if (atomic_load(&p->bar_sense) == t->sense) {
            if (t0 > 0) count_wait(p, t0);
            return;
        }
        if (spins == SPIN_TIMED) t0 = mono_s();
        GRU_RELAX();
    }
    barrier_sleep(p, t->sense);
    count_wait(p, t0);
}

#endif

/* ---- the gate (pool.h) ------------------------------------------------------------- */
#if !defined(__STDC_NO_ATOMICS__)
#if GRU_HAVE_THREADS
#define GRU_GATE_YIELD() sched_yield()
#else
#define GRU_GATE_YIELD() ((void)0)
#define GRU_RELAX() ((void)0)
#endif

void gru_gate_init(gru_gate *g) { atomic_init(g, 0u); }

void gru_gate_enter(gru_gate *g)
{
    unsigned v = atomic_load_explicit(g, memory_order_relaxed);
    for (unsigned spins = 0;;) {
        if (v & GRU_GATE_WRITER) {   /* a thread-count change swaps the pool: a few stores */
            if (++spins < 64u) GRU_RELAX();
            else GRU_GATE_YIELD();
            v = atomic_load_explicit(g, memory_order_relaxed);
        } else if (atomic_compare_exchange_weak_explicit(g, &v, v + 1, memory_order_acquire,
                                                         memory_order_relaxed)) {
            return;
        }
    }
}

void gru_gate_leave(gru_gate *g) { atomic_fetch_sub_explicit(g, 1u, memory_order_release); }

int gru_gate_close(gru_gate *g)
{
    unsigned expect = 0;
    return atomic_compare_exchange_strong_explicit(g, &expect, GRU_GATE_WRITER,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

void gru_gate_open(gru_gate *g) { atomic_store_explicit(g, 0u, memory_order_release); }

int gru_gate_idle(gru_gate *g) { return atomic_load_explicit(g, memory_order_relaxed) == 0; }
#else /* no atomics, hence no threads (pool.c above): nothing runs concurrently */
void gru_gate_init(gru_gate *g) { *g = 0; }
void gru_gate_enter(gru_gate *g) { (void)g; }
void gru_gate_leave(gru_gate *g) { (void)g; }
int gru_gate_close(gru_gate *g) { (void)g; return 1; }
void gru_gate_open(gru_gate *g) { (void)g; }
int gru_gate_idle(gru_gate *g) { (void)g; return 1; }
#endif

#if !GRU_HAVE_THREADS /* no threads: everything on the caller */

struct gru_pool { int unused; };

gru_status gru_pool_create(int n, int patient, gru_pool_memory *memory, gru_pool **out)
{
    (void)patient;
    (void)memory;
    *out = NULL;
    return n == 1 ? GRU_OK : GRU_ERR_INVALID_ARG;
}
void gru_pool_destroy(gru_pool *p) { (void)p; }
void gru_pool_run(gru_pool *p, void (*fn)(void *, gru_team *), void *arg, double work)
{
    gru_team alone = {NULL, 0, 1, 0};
    (void)p;
    (void)work;
    fn(arg, &alone);
}
void gru_team_barrier(gru_team *t) { (void)t; }
#endif
