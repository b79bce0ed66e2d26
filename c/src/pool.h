/*
 * pool.h - a model's own small thread pool (no OpenMP, nothing global): the caller is
 * thread 0 and n-1 workers run the same function with their own thread index, meeting
 * at spinning barriers. Between calls the workers spin briefly, then sleep.
 *
 * If the pool is already running a job (another thread of the caller's program is
 * using the same model), gru_pool_run runs the job on the calling thread alone; the
 * drivers' results do not depend on the thread count, so only the speed differs.
 * Without POSIX threads (or with n = 1) everything runs on the calling thread.
 */
#ifndef GRU_POOL_H
#define GRU_POOL_H

#include "gru.h"

typedef struct gru_pool gru_pool;

/* The job's view of the threads running it: tid in 0..n-1. */
typedef struct gru_team {
    gru_pool *pool;    /* NULL when running alone */
    int tid, n;
    int sense;         /* this thread's barrier phase */
} gru_team;

/* Creates a pool of n threads (n - 1 workers); *out = NULL for n == 1. */
gru_status gru_pool_create(int n, gru_pool **out);
void gru_pool_destroy(gru_pool *pool);

/* Runs fn(arg, team) on every thread of the pool (or on the caller alone, see above)
 * and returns when all have returned. */
void gru_pool_run(gru_pool *pool, void (*fn)(void *arg, gru_team *team), void *arg);

/* Waits until every thread of the team has reached this barrier; the writes of each
 * before it are visible to all after it. A no-op for a team of one. */
void gru_team_barrier(gru_team *team);

/* This thread's share [*lo, *hi) of n items split in chunks of `grain` (the last chunk
 * may be ragged), contiguous and in thread order. */
void gru_team_split(const gru_team *team, size_t n, size_t grain, size_t *lo, size_t *hi);

#endif /* GRU_POOL_H */
