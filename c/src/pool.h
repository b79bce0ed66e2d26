/*
 * pool.h - a model's own small thread pool (no OpenMP, nothing global): the caller is
 * thread 0 and n-1 workers run the same function with their own thread index, meeting
 * at spinning barriers. Between calls the workers spin briefly, then sleep.
 *
 * If the pool is already running a job (another thread of the caller's program is
 * using the same model), gru_pool_run runs the job on the calling thread alone; the
 * drivers' results do not depend on the thread count, so only the speed differs.
 * Without POSIX threads (or with n = 1) everything runs on the calling thread.
 *
 * Busy cores (another thread of the process, another pool, another process): a job is
 * offered to the workers and runs on the team only if all of them take it within a
 * small fraction of the call's estimated time (`work`); a worker that is waking up or
 * is not on a core misses it, and the caller then withdraws the offer and runs this
 * call alone rather than wait a scheduler time slice for it. A team whose threads
 * sleep at barriers for a fifth of the call and at least 0.2 ms (a worker lost its
 * core mid-call: shorter waits are cold caches, interrupts, the hypervisor) makes
 * the next calls run alone for a while (a millisecond or the call's time, doubling
 * while it lasts, up to a quarter second or eight calls), after which the team is tried
 * again: a busy core costs a call about what one thread costs, and an idle machine
 * keeps both. A `patient` pool (a model created with GRU_THREAD_MIN_WORK=0, as the
 * thread tests do) always waits for its whole team.
 *
 * A model's gate (gru_gate) lets gru_set_num_threads replace the pool while other
 * threads may be calling the model: the calls that use the pool enter and leave it (a
 * count of calls in flight); the setter closes it (sets the writer bit) only when that
 * count is 0, swaps the pool and opens it again. Closing never waits; entering waits only
 * while the gate is closed, which lasts a few stores.
 */
#ifndef GRU_POOL_H
#define GRU_POOL_H

#include "gru.h"

typedef struct gru_pool gru_pool;

/* What the busy-core rules remember between calls: calls before solo_until (seconds of
 * CLOCK_MONOTONIC) run alone; solo_s is the last such period (0 after a clean team
 * call). Kept by the model, so that it outlives a change of the thread count; read and
 * written only by the caller that owns the pool. */
typedef struct gru_pool_memory {
    double solo_until, solo_s;
} gru_pool_memory;

/* The job's view of the threads running it: tid in 0..n-1. */
typedef struct gru_team {
    gru_pool *pool;    /* NULL when running alone */
    int tid, n;
    int sense;         /* this thread's barrier phase */
} gru_team;

/* Creates a pool of n threads (n - 1 workers); *out = NULL for n == 1. patient: every
 * job waits for the whole team (no withdrawn offers, no solo periods). memory: the
 * owner's record of busy cores (outlives the pool; NULL: the pool keeps its own). */
gru_status gru_pool_create(int n, int patient, gru_pool_memory *memory, gru_pool **out);
void gru_pool_destroy(gru_pool *pool);

/* Runs fn(arg, team) on every thread of the pool (or on the caller alone, see above)
 * and returns when all have returned. work: the call's multiply-adds, its estimated
 * one-thread time (how long the caller waits for the workers to take the job). */
void gru_pool_run(gru_pool *pool, void (*fn)(void *arg, gru_team *team), void *arg,
                  double work);

/* Waits until every thread of the team has reached this barrier; the writes of each
 * before it are visible to all after it. A no-op for a team of one. */
void gru_team_barrier(gru_team *team);

/* This thread's share [*lo, *hi) of n items split in chunks of `grain` (the last chunk
 * may be ragged), contiguous and in thread order. */
void gru_team_split(const gru_team *team, size_t n, size_t grain, size_t *lo, size_t *hi);

/* The gate word: calls in flight, plus GRU_GATE_WRITER while closed. C11 atomics where
 * the compiler has them; without them (no threads, see pool.c) a plain unsigned. */
#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
typedef atomic_uint gru_gate;
#else
typedef unsigned gru_gate;
#endif
#define GRU_GATE_WRITER 0x80000000u

void gru_gate_init(gru_gate *gate);
/* A call that uses the pool starts: waits while the gate is closed, counts itself in. */
void gru_gate_enter(gru_gate *gate);
/* ... and ends: counts itself out. */
void gru_gate_leave(gru_gate *gate);
/* Closes the gate if no call is in flight and it is open: 1 on success, 0 (at once)
 * otherwise. The closer then has the pool to itself until gru_gate_open. */
int gru_gate_close(gru_gate *gate);
void gru_gate_open(gru_gate *gate);
/* 1 if the gate is open with no call in flight right now (a hint: it may change). */
int gru_gate_idle(gru_gate *gate);

#endif /* GRU_POOL_H */
