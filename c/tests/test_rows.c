/*
 * test_rows.c - a sequence's results do not depend on the rest of its batch, for every
 * batch size the kernels treat differently: B = 1..MAXB covers the few-row kernel
 * (batches of 1 to 4, all rows sharing each weight load), the MR-row register tiles
 * and their short last tiles (run by the few-row kernel too) and their longer ones
 * (through a copy), at every position. Hidden sizes whose 3H gate columns end in a
 * partial kernel panel. One sequence (length 5 of T = 6) is run alone, then placed at
 * the first and the last position of batches of every size beside sequences of other
 * lengths; its output, h_n (inference), grad_x and grad_h0 (training forward +
 * backward) must be bitwise the same, float32 and float64, both variants, 2 layers,
 * bidirectional. Steps (gru_step, a unidirectional model): the same for a stream's new
 * state. The determinism contract of simd_impl.h, checked through the public API.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

enum { MAXB = 14, T = 6, I = 9, L = 2, D = 2, LEN1 = 5 };

/* One case's buffers (element type of the model), B rows. */
typedef struct rows_run {
    void *out, *hn, *gx, *gh0;
} rows_run;

static void free_run(rows_run *r)
{
    free(r->out);
    free(r->hn);
    free(r->gx);
    free(r->gh0);
    memset(r, 0, sizeof *r);
}

/* Inference and training forward + backward of B sequences (time-major). */
static int run_batch(gru_model *m, int dt, int64_t H, int64_t B, const double *x,
                     const double *h0, const int32_t *len, const double *go,
                     const double *ghn, rows_run *r)
{
    const size_t es = dtype_size(dt), nx = (size_t)(T * B * I), nh = (size_t)(L * D * B * H);
    const size_t nout = (size_t)(T * B * D * H);
    void *xd = to_dtype(x, nx, dt), *h0d = to_dtype(h0, nh, dt);
    void *god = to_dtype(go, nout, dt), *ghnd = to_dtype(ghn, nh, dt);
    r->out = malloc(nout * es);
    r->hn = malloc(nh * es);
    r->gx = malloc(nx * es);
    r->gh0 = malloc(nh * es);
    void *tout = malloc(nout * es);
    size_t ws = 0;
    int ok = gru_workspace_size(m, T, B, 1, &ws) == GRU_OK;
    void *w = ok ? malloc(ws) : NULL;
    ok = ok && w && gru_forward(m, 0, T, B, 0, xd, h0d, len, r->out, r->hn, NULL, 0) == GRU_OK;
    ok = ok && gru_forward(m, 1, T, B, 0, xd, h0d, len, tout, NULL, w, ws) == GRU_OK;
    ok = ok && gru_backward(m, T, B, 0, xd, w, ws, god, ghnd, r->gx, r->gh0) == GRU_OK;
    free(w);
    free(tout);
    free(xd);
    free(h0d);
    free(god);
    free(ghnd);
    return ok;
}

/* Row b of a (rows, B, width) tensor, gathered: rows * width elements. */
static void row_of(const void *a, int dt, int64_t rows, int64_t B, int64_t b, int64_t width,
                   unsigned char *dst)
{
    const size_t es = dtype_size(dt);
    for (int64_t i = 0; i < rows; i++)
        memcpy(dst + (size_t)(i * width) * es,
               (const unsigned char *)a + (size_t)((i * B + b) * width) * es,
               (size_t)width * es);
}

static void same_row(const char *what, const void *batch, const void *alone, int dt,
                     int64_t rows, int64_t B, int64_t pos, int64_t width)
{
    const size_t bytes = (size_t)(rows * width) * dtype_size(dt);
    unsigned char *got = malloc(bytes), *want = malloc(bytes);
    row_of(batch, dt, rows, B, pos, width, got);
    row_of(alone, dt, rows, 1, 0, width, want);
    CHECK_SAME(what, got, want, bytes);
    free(got);
    free(want);
}

/* The model of a case (2 layers, bias, uniform(-0.4, 0.4) parameters), the context set
 * for its setup. Returns 1 on success (tmodel_create's failure is counted). */
static int rows_model(tmodel *tm, const char *what, const char *isa, int dt, int ra,
                      int64_t H, int bidirectional, rng *g)
{
    check_set_ctx("rows %s isa=%s %s reset_after=%d H=%lld: setup", what, isa,
                  dt == GRU_FLOAT32 ? "f32" : "f64", ra, (long long)H);
    gru_config cfg = make_config(I, H, L, bidirectional, 1, ra, dt);
    return tmodel_create(tm, &cfg, g, 0.4);
}

static void forward_rows(const char *isa, int dt, int ra, int64_t H, rng *g)
{
    tmodel tm;
    if (!rows_model(&tm, "forward", isa, dt, ra, H, 1, g)) return;
    const size_t nx1 = T * I, nh1 = (size_t)(L * D * H), no1 = (size_t)(T * D * H);
    double *x1 = malloc(nx1 * sizeof *x1), *h01 = malloc(nh1 * sizeof *h01);
    double *go1 = malloc(no1 * sizeof *go1), *ghn1 = malloc(nh1 * sizeof *ghn1);
    rng_fill(g, x1, nx1, -1, 1);
    rng_fill(g, h01, nh1, -1, 1);
    rng_fill(g, go1, no1, -1, 1);
    rng_fill(g, ghn1, nh1, -1, 1);
    const int32_t len1 = LEN1;
    rows_run alone = {0};
    REQUIRE(run_batch(tm.m, dt, H, 1, x1, h01, &len1, go1, ghn1, &alone), goto done);
    for (int64_t B = 2; B <= MAXB; B++)
        for (int k = 0; k < 2; k++) {
            const int64_t pos = k ? B - 1 : 0;
            check_set_ctx("rows forward isa=%s %s reset_after=%d H=%lld B=%lld pos=%lld", isa,
                          dt == GRU_FLOAT32 ? "f32" : "f64", ra, (long long)H, (long long)B,
                          (long long)pos);
            const size_t nx = (size_t)(T * B * I), nh = (size_t)(L * D * B * H);
            const size_t no = (size_t)(T * B * D * H);
            double *x = malloc(nx * sizeof *x), *h0 = malloc(nh * sizeof *h0);
            double *go = malloc(no * sizeof *go), *ghn = malloc(nh * sizeof *ghn);
            int32_t len[MAXB];
            rng_fill(g, x, nx, -1, 1);
            rng_fill(g, h0, nh, -1, 1);
            rng_fill(g, go, no, -1, 1);
            rng_fill(g, ghn, nh, -1, 1);
            for (int64_t b = 0; b < B; b++) len[b] = 1 + (int32_t)(rng_next(g) % T);
            /* the sequence under test at pos: x, go (T, B, .), h0, ghn (L*D, B, H) */
            len[pos] = LEN1;
            for (int64_t t = 0; t < T; t++) {
                memcpy(x + (t * B + pos) * I, x1 + t * I, I * sizeof *x);
                memcpy(go + (t * B + pos) * D * H, go1 + t * D * H, (size_t)(D * H) * sizeof *go);
            }
            for (int64_t i = 0; i < L * D; i++) {
                memcpy(h0 + (i * B + pos) * H, h01 + i * H, (size_t)H * sizeof *h0);
                memcpy(ghn + (i * B + pos) * H, ghn1 + i * H, (size_t)H * sizeof *ghn);
            }
            rows_run r = {0};
            if (run_batch(tm.m, dt, H, B, x, h0, len, go, ghn, &r)) {
                same_row("output", r.out, alone.out, dt, T, B, pos, D * H);
                same_row("h_n", r.hn, alone.hn, dt, L * D, B, pos, H);
                same_row("grad_x", r.gx, alone.gx, dt, T, B, pos, I);
                same_row("grad_h0", r.gh0, alone.gh0, dt, L * D, B, pos, H);
            } else {
                CHECK_MSG(0, "a call failed");
            }
            free_run(&r);
            free(x);
            free(h0);
            free(go);
            free(ghn);
        }
done:
    free_run(&alone);
    free(x1);
    free(h01);
    free(go1);
    free(ghn1);
    tmodel_free(&tm);
}

/* gru_step of B streams: stream pos's new state is its state stepped alone. */
static void step_rows(const char *isa, int dt, int ra, int64_t H, rng *g)
{
    tmodel tm;
    if (!rows_model(&tm, "step", isa, dt, ra, H, 0, g)) return;
    double x1[I], s1[L * 256];
    REQUIRE(H <= 256, goto done);
    rng_fill(g, x1, I, -1, 1);
    rng_fill(g, s1, (size_t)(L * H), -1, 1);
    void *x1d = to_dtype(x1, I, dt), *s1d = to_dtype(s1, (size_t)(L * H), dt);
    REQUIRE(gru_step(tm.m, 1, x1d, s1d, NULL, NULL, 0) == GRU_OK, goto free1);
    for (int64_t B = 2; B <= MAXB; B++) {
        const int64_t pos = B / 2;
        check_set_ctx("rows step isa=%s %s reset_after=%d H=%lld B=%lld pos=%lld", isa,
                      dt == GRU_FLOAT32 ? "f32" : "f64", ra, (long long)H, (long long)B,
                      (long long)pos);
        double *x = malloc((size_t)(B * I) * sizeof *x);
        double *s = malloc((size_t)(L * B * H) * sizeof *s);
        rng_fill(g, x, (size_t)(B * I), -1, 1);
        rng_fill(g, s, (size_t)(L * B * H), -1, 1);
        memcpy(x + pos * I, x1, I * sizeof *x);
        for (int64_t l = 0; l < L; l++)
            memcpy(s + (l * B + pos) * H, s1 + l * H, (size_t)H * sizeof *s);
        void *xd = to_dtype(x, (size_t)(B * I), dt), *sd = to_dtype(s, (size_t)(L * B * H), dt);
        if (gru_step(tm.m, B, xd, sd, NULL, NULL, 0) == GRU_OK)
            same_row("state", sd, s1d, dt, L, B, pos, H);
        else
            CHECK_MSG(0, "gru_step failed");
        free(xd);
        free(sd);
        free(x);
        free(s);
    }
free1:
    free(x1d);
    free(s1d);
done:
    tmodel_free(&tm);
}

void test_rows(const char *isa)
{
    rng g = {0x5eedb47c4ULL};
    static const int64_t hs[2] = {37, 70};   /* 111 and 210 gate columns: partial panels */
    for (int h = 0; h < 2; h++)
        for (int ra = 0; ra < 2; ra++) {
            forward_rows(isa, GRU_FLOAT32, ra, hs[h], &g);
            forward_rows(isa, GRU_FLOAT64, ra, hs[h], &g);
            step_rows(isa, GRU_FLOAT32, ra, hs[h], &g);
            step_rows(isa, GRU_FLOAT64, ra, hs[h], &g);
        }
}
