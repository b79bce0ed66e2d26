/*
 * test_contention.c - the pool's contention rules (pool.h) never change a result: a
 * 2-thread and a 3-thread model created with the default GRU_THREAD_MIN_WORK (so their
 * pools withdraw offers that a worker misses and run calls alone for a while after a
 * stall) run inference forwards, streaming steps and training forward + backward pairs in phases:
 * quiet, then with spinning threads holding both cores (POSIX threads in this process,
 * as another thread pool of the program would), then quiet again (the team must come
 * back), then contended again. Every output, final state, grad_x, grad_h0 and parameter
 * gradient is compared bitwise with a 1-thread model holding the same parameters. Under
 * ThreadSanitizer (make test-tsan) this also checks the offer protocol's ordering: the
 * job fields written before an offer are read by the workers only after it is decided.
 * Speed is not checked here: tests/test_contention.py measures the 2-thread / 1-thread
 * time ratio with a busy core, and bench/contention.py reports it per benchmark row.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* 3*B*H*H = 196,608 multiply-adds per step: above GRU_THREAD_MIN_WORK (set to 131,072
 * below, the default before 27,648), so the 2-thread model uses its pool. */
enum { T = 16, B = 4, I = 24, H = 128, L = 2 };
enum { NX = T * B * I, NOUT = T * B * H, NH = L * B * H };
enum { SPINNERS = 2, CALLS_PER_PHASE = 24 };

static atomic_int spin_stop;

static void *spinner(void *arg)
{
    (void)arg;
    volatile double x = 1.0;
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) x = x * 1.0000001 + 1e-9;
    return NULL;
}

typedef struct ref_results {
    float out[NOUT], hn[NH], steps[NOUT], gx[NX], gh0[NH];
    float *grads;              /* every parameter gradient, concatenated */
} ref_results;

/* Runs every kind of call on m and writes the results to r; 0 if a call failed. */
static int run_all(gru_model *m, const float *x, const float *gout, ref_results *r,
                   size_t nparams)
{
    size_t wsb = 0, sb = 0;
    if (gru_workspace_size(m, T, B, 1, &wsb) || gru_step_scratch_size(m, B, &sb)) return 0;
    void *ws = malloc(wsb), *scratch = malloc(sb);
    float state[NH] = {0};
    int ok = ws && scratch &&
             gru_forward(m, 0, T, B, 0, x, NULL, NULL, r->out, r->hn, NULL, 0) == GRU_OK;
    for (int t = 0; ok && t < T; t++)
        ok = gru_step(m, B, x + (size_t)t * B * I, state, r->steps + (size_t)t * B * H,
                      scratch, sb) == GRU_OK;
    ok = ok && memcmp(state, r->hn, sizeof state) == 0 && gru_zero_grad(m) == GRU_OK &&
         gru_forward(m, 1, T, B, 0, x, NULL, NULL, r->out, NULL, ws, wsb) == GRU_OK &&
         gru_backward(m, T, B, 0, x, ws, wsb, gout, NULL, r->gx, r->gh0) == GRU_OK;
    size_t count = 0, off = 0;
    ok = ok && gru_param_count(m, &count) == GRU_OK;
    for (size_t i = 0; ok && i < count; i++) {
        const char *name;
        int ndim;
        int64_t shape[2];
        ok = gru_param_info(m, i, &name, &ndim, shape) == GRU_OK;
        const size_t n = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
        ok = ok && off + n <= nparams && gru_grad_get(m, name, r->grads + off, n) == GRU_OK;
        off += n;
    }
    free(ws);
    free(scratch);
    return ok && off == nparams;
}

static int same(const ref_results *a, const ref_results *b, size_t nparams)
{
    return !memcmp(a->out, b->out, sizeof a->out) && !memcmp(a->hn, b->hn, sizeof a->hn) &&
           !memcmp(a->steps, b->steps, sizeof a->steps) && !memcmp(a->gx, b->gx, sizeof a->gx) &&
           !memcmp(a->gh0, b->gh0, sizeof a->gh0) &&
           !memcmp(a->grads, b->grads, nparams * sizeof(float));
}

void test_contention(void)
{
    const char *old = getenv("GRU_THREAD_MIN_WORK");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRU_THREAD_MIN_WORK", "131072", 1);   /* not 0: not a patient pool */
    rng g = {20261205};
    gru_config cfg = make_config(I, H, L, 0, 1, 1, GRU_FLOAT32);
    tmodel one, two, three;
    const int made = tmodel_create(&one, &cfg, &g, 0.3);
    const int cloned2 = made && tmodel_clone(&two, &one, GRU_FLOAT32);
    const int cloned = cloned2 && tmodel_clone(&three, &one, GRU_FLOAT32);
    if (saved) setenv("GRU_THREAD_MIN_WORK", saved, 1);
    else unsetenv("GRU_THREAD_MIN_WORK");
    free(saved);
    if (!cloned) {
        if (cloned2) tmodel_free(&two);
        if (made) tmodel_free(&one);
        CHECK_MSG(0, "models created");
        return;
    }
    /* every parameter: L layers of weight_ih (3H, in), weight_hh (3H, H), two biases */
    const size_t nparams = (size_t)3 * H * (I + H + 2) + (size_t)(L - 1) * 3 * H * (2 * H + 2);
    /* two inputs, alternating: a worker still inside an earlier call (a broken offer
     * protocol) would write that call's values into the buffers of the next one */
    float *x = malloc(2 * NX * sizeof(float)), *gout = malloc(2 * NOUT * sizeof(float));
    ref_results *want = calloc(2, sizeof *want), *got = calloc(1, sizeof *got);
    if (want) want[0].grads = malloc(nparams * sizeof(float));
    if (want) want[1].grads = malloc(nparams * sizeof(float));
    if (got) got->grads = malloc(nparams * sizeof(float));
    REQUIRE(x && gout && want && got && want[0].grads && want[1].grads && got->grads,
            goto done);
    for (size_t i = 0; i < 2 * NX; i++) x[i] = (float)rng_uniform(&g, -1, 1);
    for (size_t i = 0; i < 2 * NOUT; i++) gout[i] = (float)rng_uniform(&g, -1, 1);
    REQUIRE(gru_set_num_threads(one.m, 1) == GRU_OK && gru_set_num_threads(two.m, 2) == GRU_OK &&
                gru_set_num_threads(three.m, 3) == GRU_OK,
            goto done);
    for (int v = 0; v < 2; v++)
        REQUIRE(run_all(one.m, x + v * NX, gout + v * NOUT, &want[v], nparams), goto done);

    long calls = 0, wrong = 0, failed = 0;
    for (int phase = 0; phase < 4; phase++) {
        const int busy = phase % 2;   /* quiet, contended, quiet, contended */
        pthread_t th[SPINNERS];
        int started = 0;
        atomic_store(&spin_stop, 0);
        for (int k = 0; busy && k < SPINNERS; k++)
            started += pthread_create(&th[k], NULL, spinner, NULL) == 0;
        for (int c = 0; c < CALLS_PER_PHASE; c++, calls++) {
            /* the 3-thread model has more threads than this 2-core machine has cores: its
             * offers are also taken by some workers and withdrawn from the others */
            const int v = c % 2;
            gru_model *m = c % 3 == 2 ? three.m : two.m;
            memset(got->grads, 0, nparams * sizeof(float));
            if (!run_all(m, x + v * NX, gout + v * NOUT, got, nparams)) failed++;
            else if (!same(&want[v], got, nparams)) wrong++;
        }
        atomic_store(&spin_stop, 1);
        for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
        CHECK_MSG(!busy || started == SPINNERS, "phase %d: spinners started", phase);
    }
    printf("  %ld rounds (forward, %d steps, training pair; 2 or 3 threads, half of them with "
           "%d spinning threads): %ld wrong, %ld failed\n",
           calls, T, SPINNERS, wrong, failed);
    CHECK_INT_EQ(wrong, 0);
    CHECK_INT_EQ(failed, 0);
done:
    if (want) free(want[0].grads);
    if (want) free(want[1].grads);
    if (got) free(got->grads);
    free(want);
    free(got);
    free(x);
    free(gout);
    tmodel_free(&three);
    tmodel_free(&two);
    tmodel_free(&one);
}
