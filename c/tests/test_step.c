/*
 * test_step.c - the streaming API (gru_step, gru_step_scratch_size, gru_step_reset)
 * against gru_forward: stepping a batch of streams frame by frame must give bitwise
 * the whole-sequence forward's output and h_n (1..3 layers, both reset variants, bias
 * on/off, float32/float64, with and without h0, output NULL or given, caller or
 * library scratch), a reset stream restarts from zeros without touching the others,
 * and the argument errors (bidirectional model, small scratch, NULL, bad index).
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static void step_case(const char *isa, int dtype, int64_t I, int64_t H, int64_t L, int ra,
                      int bias, int64_t T, int64_t B, int use_h0, rng *g)
{
    const size_t es = dtype_size(dtype);
    check_set_ctx("step isa=%s %s I=%lld H=%lld L=%lld reset_after=%d bias=%d T=%lld B=%lld "
                  "h0=%d", isa, dtype == GRU_FLOAT64 ? "f64" : "f32", (long long)I,
                  (long long)H, (long long)L, ra, bias, (long long)T, (long long)B, use_h0);
    gru_config cfg = make_config(I, H, L, 0, bias, ra, dtype);
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.5)) return;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * H), nh = (size_t)(L * B * H);
    double *xd = malloc(nx * sizeof(double)), *h0d = malloc(nh * sizeof(double));
    rng_fill(g, xd, nx, -1.5, 1.5);
    rng_fill(g, h0d, nh, -0.9, 0.9);
    void *x = to_dtype(xd, nx, dtype), *h0 = to_dtype(h0d, nh, dtype);
    void *out = nan_dtype(nout, dtype), *hn = nan_dtype(nh, dtype);
    void *state = nan_dtype(nh, dtype), *sout = nan_dtype(nout, dtype);
    size_t sbytes = 0;
    CHECK_OK(gru_step_scratch_size(tm.m, B, &sbytes));
    void *scratch = malloc(sbytes);
    memset(scratch, 0xff, sbytes);   /* NaN bytes: the step must not read stale scratch */

    REQUIRE_OK(gru_forward(tm.m, 0, T, B, 0, x, use_h0 ? h0 : NULL, NULL, out, hn, NULL, 0),
               goto done);
    if (use_h0) memcpy(state, h0, nh * es);
    else memset(state, 0, nh * es);
    int ok = 1;
    for (int64_t t = 0; t < T; t++) {
        /* alternate: output given / NULL (then read from state), scratch given / NULL */
        char *o = (char *)sout + (size_t)(t * B * H) * es;
        const char *xt = (const char *)x + (size_t)(t * B * I) * es;
        int st = gru_step(tm.m, B, xt, state, t % 2 ? NULL : o, t % 3 ? scratch : NULL,
                          t % 3 ? sbytes : 0);
        ok &= st == GRU_OK;
        if (t % 2) memcpy(o, (char *)state + (size_t)((L - 1) * B * H) * es, (size_t)(B * H) * es);
    }
    CHECK_MSG(ok, "every gru_step returned GRU_OK");
    CHECK_SAME("stepped outputs == forward output", sout, out, nout * es);
    CHECK_SAME("final state == forward h_n", state, hn, nh * es);

    /* reset stream B-1 and step once more: it restarts from zeros, the others go on */
    if (B > 1) {
        void *ref_state = malloc(nh * es);
        memcpy(ref_state, state, nh * es);
        CHECK_OK(gru_step_reset(tm.m, B, state, B - 1));
        int zero = 1, others = 1;
        for (int64_t l = 0; l < L; l++)
            for (int64_t b = 0; b < B; b++) {
                const char *p = (const char *)state + (size_t)((l * B + b) * H) * es;
                const char *q = (const char *)ref_state + (size_t)((l * B + b) * H) * es;
                for (size_t i = 0; i < (size_t)H * es; i++) {
                    if (b == B - 1) zero &= p[i] == 0;
                    else others &= p[i] == q[i];
                }
            }
        CHECK_MSG(zero, "reset stream is zero in every layer");
        CHECK_MSG(others, "reset leaves the other streams alone");
        /* a one-step forward from zeros for that stream alone equals its stepped result */
        const char *xt = (const char *)x;   /* frame 0 of every stream */
        CHECK_OK(gru_step(tm.m, B, xt, state, NULL, scratch, sbytes));
        void *one = nan_dtype((size_t)(L * H), dtype), *one_out = nan_dtype((size_t)H, dtype);
        CHECK_OK(gru_forward(tm.m, 0, 1, 1, 0, xt + (size_t)((B - 1) * I) * es, NULL, NULL,
                             one_out, one, NULL, 0));
        int same = 1;
        for (int64_t l = 0; l < L; l++)
            same &= memcmp((const char *)state + (size_t)((l * B + B - 1) * H) * es,
                           (const char *)one + (size_t)(l * H) * es, (size_t)H * es) == 0;
        CHECK_MSG(same, "a reset stream steps like a fresh one (and independently of the batch)");
        free(one);
        free(one_out);
        free(ref_state);
    }
done:
    free(xd); free(h0d); free(x); free(h0); free(out); free(hn); free(state); free(sout);
    free(scratch);
    tmodel_free(&tm);
}

static void step_errors(rng *g)
{
    check_set_ctx("step errors");
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = 3;
    cfg.hidden_size = 4;
    cfg.num_layers = 2;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.5)) return;
    float x[2 * 3] = {0}, state[2 * 2 * 4] = {0};
    size_t n = 0;
    CHECK_STATUS(gru_step_scratch_size(NULL, 2, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_step_scratch_size(tm.m, 2, NULL), GRU_ERR_NULL);
    CHECK_STATUS(gru_step_scratch_size(tm.m, 0, &n), GRU_ERR_INVALID_ARG);
    CHECK_OK(gru_step_scratch_size(tm.m, 2, &n));
    unsigned char *scratch = malloc(n);
    CHECK_STATUS(gru_step(NULL, 2, x, state, NULL, scratch, n), GRU_ERR_NULL);
    CHECK_STATUS(gru_step(tm.m, 2, NULL, state, NULL, scratch, n), GRU_ERR_NULL);
    CHECK_STATUS(gru_step(tm.m, 2, x, NULL, NULL, scratch, n), GRU_ERR_NULL);
    CHECK_STATUS(gru_step(tm.m, 0, x, state, NULL, scratch, n), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_step(tm.m, -1, x, state, NULL, scratch, n), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_step(tm.m, 2, x, state, NULL, scratch, n - 1), GRU_ERR_WORKSPACE);
    CHECK_OK(gru_step(tm.m, 2, x, state, NULL, scratch, n));
    CHECK_STATUS(gru_step_reset(tm.m, 2, state, 2), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_step_reset(tm.m, 2, state, -1), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_step_reset(tm.m, 2, NULL, 0), GRU_ERR_NULL);
    CHECK_STATUS(gru_step_reset(NULL, 2, state, 0), GRU_ERR_NULL);
    CHECK_STATUS(gru_step_reset(tm.m, 0, state, 0), GRU_ERR_INVALID_ARG);
    /* a batch whose (L, B, H) state does not fit in size_t: refused before any row is
     * addressed (the row offset would wrap and land before the buffer) */
    CHECK_STATUS(gru_step_reset(tm.m, INT64_MAX, state, INT64_MAX - 1), GRU_ERR_OVERFLOW);
    free(scratch);
    tmodel_free(&tm);

    for (int r = 0; r <= 1; r++) {   /* bidirectional, then reverse */
        cfg.bidirectional = !r;
        cfg.reverse = r;
        gru_model *bi = NULL;
        REQUIRE_OK(gru_create(&cfg, &bi), return);
        CHECK_STATUS(gru_step_scratch_size(bi, 2, &n), GRU_ERR_UNSUPPORTED);
        CHECK_STATUS(gru_step(bi, 2, x, state, NULL, NULL, 0), GRU_ERR_UNSUPPORTED);
        /* its state would be (L*D, B, H), not gru_step's (L, B, H): writing L*D rows
         * into a (L, B, H) buffer overran it; refused, nothing written */
        float guard[2 * 2 * 4 + 8];
        for (size_t i = 0; i < sizeof guard / sizeof *guard; i++) guard[i] = 7.0f;
        CHECK_STATUS(gru_step_reset(bi, 2, guard, 1), GRU_ERR_UNSUPPORTED);
        for (size_t i = 0; i < sizeof guard / sizeof *guard; i++)
            CHECK_MSG(guard[i] == 7.0f, "gru_step_reset wrote element %zu of a refused state", i);
        gru_destroy(bi);
    }
}

void test_step(const char *isa)
{
    rng g = {0x5eed5eedULL};
    for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
        for (int ra = 0; ra <= 1; ra++)
            for (int64_t L = 1; L <= 3; L++) {
                step_case(isa, dt, 5, 7, L, ra, 1, 6, 3, 1, &g);
                step_case(isa, dt, 33, 50, L, ra, L != 2, 5, 1, L == 1, &g);
            }
    /* the streaming shape of the benchmark (threads split it when GRU_NUM_THREADS > 1) */
    step_case(isa, GRU_FLOAT32, 256, 256, 1, 1, 1, 4, 1, 1, &g);
    step_case(isa, GRU_FLOAT32, 64, 96, 2, 1, 1, 4, 17, 0, &g);
    step_errors(&g);
}
