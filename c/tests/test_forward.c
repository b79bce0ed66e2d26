/*
 * test_forward.c - gru_forward against the naive float64 reference (testlib.c) over a
 * grid of small configurations: 1..3 layers, uni/bidirectional, both reset_after
 * variants, bias on/off, batch_first on/off, h0 given or NULL, lengths NULL or mixed
 * (including 1 and T), float64 (rel. error <= 1e-12 of the tensor's largest magnitude)
 * and float32 (<= 1e-5); plus odd sizes that exercise kernel tails, and long
 * sequences whose inference runs in several chunks.
 *
 * Per case it also checks: x and h0 are not modified; output padding is written (the
 * buffers start as NaN); inference with a caller workspace, inference with h_n NULL and
 * the training forward (dropout 0) give bitwise the same output and h_n as inference
 * with no workspace (caller workspaces start filled with NaN bytes); explicit all-T
 * lengths give the same result as NULL. Then 150 random configurations.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct fcase {
    int dtype;
    int64_t I, H, L;
    int D, bias, reset_after, batch_first, use_h0, mixed_lengths;
    int64_t T, B;
    int ln; /* layer_norm */
} fcase;

static void forward_case(const char *isa, const fcase *c, rng *g)
{
    const int dt = c->dtype;
    const size_t es = dtype_size(dt);
    const int64_t T = c->T, B = c->B, H = c->H, D = c->D, L = c->L;
    const size_t nx = (size_t)(T * B * c->I), nout = (size_t)(T * B * D * H);
    const size_t nh = (size_t)(L * D * B * H);
    const double tol = dt == GRU_FLOAT64 ? 1e-12 : 1e-5;
    check_set_ctx("forward isa=%s %s I=%lld H=%lld L=%lld bidir=%d bias=%d reset_after=%d "
                  "batch_first=%d h0=%d lengths=%s T=%lld B=%lld layer_norm=%d",
                  isa, dt == GRU_FLOAT64 ? "f64" : "f32", (long long)c->I, (long long)H,
                  (long long)L, c->D - 1, c->bias, c->reset_after, c->batch_first,
                  c->use_h0, c->mixed_lengths ? "mixed" : "NULL", (long long)T,
                  (long long)B, c->ln);

    gru_config cfg = make_config(c->I, H, L, c->D == 2, c->bias, c->reset_after, dt);
    cfg.layer_norm = c->ln;
    /* weights ~ U(-k, k) with k = min(0.9, 2/sqrt(H)) (PyTorch uses 1/sqrt(H)): large
     * enough to saturate gates, small enough that the recurrence does not amplify
     * rounding (a chaotic recurrence would measure conditioning, not the library) */
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, fmin(0.9, 2.0 / sqrt((double)H))))
        return;

    double *x = malloc(nx * sizeof(double));   /* (T, B, I) or (B, T, I) */
    double *h0 = malloc(nh * sizeof(double));  /* (L*D, B, H) */
    int32_t *len = malloc((size_t)B * sizeof(int32_t)); /* (B) */
    int32_t *full = malloc((size_t)B * sizeof(int32_t)); /* (B), all T */
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, h0, nh, -0.9, 0.9);
    round_to_dtype(x, nx, dt);
    round_to_dtype(h0, nh, dt);
    for (int64_t b = 0; b < B; b++) {
        full[b] = (int32_t)T;
        len[b] = b == 0 ? (int32_t)T : b == 1 ? 1 : (int32_t)(1 + rng_next(g) % (uint64_t)T);
    }
    const int32_t *lengths = c->mixed_lengths ? len : NULL;
    const double *h0p = c->use_h0 ? h0 : NULL;

    double *ref_out = malloc(nout * sizeof(double)), *ref_hn = malloc(nh * sizeof(double));
    ref_forward(&tm.ref, T, B, c->batch_first, x, h0p, lengths, ref_out, ref_hn);

    void *xd = to_dtype(x, nx, dt), *h0d = c->use_h0 ? to_dtype(h0, nh, dt) : NULL;
    void *xcopy = to_dtype(x, nx, dt), *h0copy = to_dtype(h0, nh, dt);
    void *out = nan_dtype(nout, dt), *hn = nan_dtype(nh, dt);
    void *out2 = nan_dtype(nout, dt), *hn2 = nan_dtype(nh, dt);
    double *got = malloc((nout > nh ? nout : nh) * sizeof(double));
    void *ws = NULL;
    size_t wsb = 0;

    /* inference, library-allocated scratch */
    int st = gru_forward(tm.m, 0, T, B, c->batch_first, xd, h0d, lengths, out, hn, NULL, 0);
    if (!CHECK_STATUS(st, GRU_OK))
        goto done;
    from_dtype(got, out, nout, dt);
    CHECK_CLOSE("output", ref_out, got, nout, tol);
    from_dtype(got, hn, nh, dt);
    CHECK_CLOSE("h_n", ref_hn, got, nh, tol);
    CHECK_SAME("x unchanged", xd, xcopy, nx * es);
    if (c->use_h0)
        CHECK_SAME("h0 unchanged", h0d, h0copy, nh * es);

    /* inference with a caller workspace: bitwise identical */
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 0, &wsb), goto done);
    ws = malloc(wsb ? wsb : 8);
    memset(ws, 0xFF, wsb); /* NaN bytes */
    CHECK_OK(gru_forward(tm.m, 0, T, B, c->batch_first, xd, h0d, lengths, out2, hn2, ws, wsb));
    CHECK_SAME("output (caller workspace) == output (no workspace)", out2, out, nout * es);
    CHECK_SAME("h_n (caller workspace) == h_n (no workspace)", hn2, hn, nh * es);
    free(ws);
    ws = NULL;

    /* h_n NULL: output unchanged */
    free(out2);
    out2 = nan_dtype(nout, dt);
    CHECK_OK(gru_forward(tm.m, 0, T, B, c->batch_first, xd, h0d, lengths, out2, NULL, NULL, 0));
    CHECK_SAME("output (h_n NULL) == output", out2, out, nout * es);

    /* explicit all-T lengths == NULL lengths */
    if (!c->mixed_lengths) {
        free(out2);
        free(hn2);
        out2 = nan_dtype(nout, dt);
        hn2 = nan_dtype(nh, dt);
        CHECK_OK(gru_forward(tm.m, 0, T, B, c->batch_first, xd, h0d, full, out2, hn2, NULL, 0));
        CHECK_SAME("output (lengths all T) == output (lengths NULL)", out2, out, nout * es);
        CHECK_SAME("h_n (lengths all T) == h_n (lengths NULL)", hn2, hn, nh * es);
    }

    /* training forward with dropout 0: bitwise the inference result */
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb ? wsb : 8);
    memset(ws, 0xFF, wsb); /* NaN everywhere: reading what the forward did not write shows */
    free(out2);
    free(hn2);
    out2 = nan_dtype(nout, dt);
    hn2 = nan_dtype(nh, dt);
    CHECK_OK(gru_forward(tm.m, 1, T, B, c->batch_first, xd, h0d, lengths, out2, hn2, ws, wsb));
    CHECK_SAME("output (training) == output (inference)", out2, out, nout * es);
    CHECK_SAME("h_n (training) == h_n (inference)", hn2, hn, nh * es);

done:
    free(ws);
    free(got);
    free(out);
    free(hn);
    free(out2);
    free(hn2);
    free(xd);
    free(h0d);
    free(xcopy);
    free(h0copy);
    free(ref_out);
    free(ref_hn);
    free(x);
    free(h0);
    free(len);
    free(full);
    tmodel_free(&tm);
}

void test_forward(const char *isa)
{
    rng g = {12345};
    fcase c;
    /* the grid: I=3, H=4, T=5, B=3 */
    for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
        for (int L = 1; L <= 3; L++)
            for (int D = 1; D <= 2; D++)
                for (int ra = 0; ra <= 1; ra++)
                    for (int bias = 0; bias <= 1; bias++)
                        for (int bf = 0; bf <= 1; bf++)
                            for (int uh = 0; uh <= 1; uh++)
                                for (int ml = 0; ml <= 1; ml++) {
                                    c = (fcase){dt, 3, 4, L, D, bias, ra, bf, uh, ml, 5, 3, 0};
                                    forward_case(isa, &c, &g);
                                }
    /* odd and larger sizes (kernel tails, blocking): both dtypes and variants */
    static const int64_t sizes[][4] = {/* I, H, T, B */
                                       {1, 1, 1, 1},  {2, 1, 3, 1},  {1, 3, 1, 4},
                                       {5, 7, 3, 2},  {33, 17, 6, 5}, {8, 16, 4, 3},
                                       {16, 8, 2, 9}, {32, 64, 12, 4}, {9, 31, 3, 7}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
            for (int ra = 0; ra <= 1; ra++)
                for (int D = 1; D <= 2; D++) {
                    c = (fcase){dt, sizes[i][0], sizes[i][1], 2, D, 1, ra, (int)(i & 1), 1,
                                sizes[i][3] > 1, sizes[i][2], sizes[i][3], 0};
                    forward_case(isa, &c, &g);
                }
    /* sequences of several inference chunks (gru_chunk_steps: ~128 rows per chunk,
     * >= 8 steps batch-first): 3 layers, uni (in place in the output) and
     * bidirectional, both layouts and variants, mixed lengths */
    static const int64_t long_sizes[][4] = {/* I, H, T, B */
                                            {4, 8, 300, 1}, {5, 6, 40, 9},
                                            {3, 5, 20, 70}, {3, 5, 7, 130}};
    for (size_t i = 0; i < sizeof long_sizes / sizeof long_sizes[0]; i++)
        for (int ra = 0; ra <= 1; ra++)
            for (int D = 1; D <= 2; D++)
                for (int bf = 0; bf <= 1; bf++) {
                    c = (fcase){ra ? GRU_FLOAT32 : GRU_FLOAT64, long_sizes[i][0],
                                long_sizes[i][1], 3, D, 1, ra, bf, (int)(i & 1),
                                long_sizes[i][3] > 1, long_sizes[i][2], long_sizes[i][3], 0};
                    forward_case(isa, &c, &g);
                }
    /* layer_norm: the grid (I=3, H=4, T=5, B=3) for 1 and 2 layers, odd sizes, chunked
     * inference, and random configurations below */
    for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
        for (int L = 1; L <= 2; L++)
            for (int D = 1; D <= 2; D++)
                for (int ra = 0; ra <= 1; ra++)
                    for (int bias = 0; bias <= 1; bias++)
                        for (int bf = 0; bf <= 1; bf++)
                            for (int ml = 0; ml <= 1; ml++) {
                                c = (fcase){dt, 3, 4, L, D, bias, ra, bf, ml, ml, 5, 3, 1};
                                forward_case(isa, &c, &g);
                            }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int ra = 0; ra <= 1; ra++) {
            c = (fcase){(int)(i % 2) + 1, sizes[i][0], sizes[i][1], 2, (int)(i % 3 == 0) + 1, 1,
                        ra, (int)(i & 1), 1, sizes[i][3] > 1, sizes[i][2], sizes[i][3], 1};
            forward_case(isa, &c, &g);
        }
    for (size_t i = 0; i < sizeof long_sizes / sizeof long_sizes[0]; i++)
        for (int ra = 0; ra <= 1; ra++) {
            c = (fcase){ra ? GRU_FLOAT32 : GRU_FLOAT64, long_sizes[i][0], long_sizes[i][1], 2,
                        (int)(i & 1) + 1, 1, ra, (int)(i >> 1), 1, long_sizes[i][3] > 1,
                        long_sizes[i][2], long_sizes[i][3], 1};
            forward_case(isa, &c, &g);
        }
    /* random configurations: every flag and size drawn independently */
    for (int i = 0; i < 150; i++) {
        c = (fcase){(int)(rng_next(&g) % 2) + 1, (int64_t)(1 + rng_next(&g) % 12),
                    (int64_t)(1 + rng_next(&g) % 12), (int64_t)(1 + rng_next(&g) % 3),
                    (int)(1 + rng_next(&g) % 2), (int)(rng_next(&g) % 2),
                    (int)(rng_next(&g) % 2), (int)(rng_next(&g) % 2), (int)(rng_next(&g) % 2),
                    (int)(rng_next(&g) % 2), (int64_t)(1 + rng_next(&g) % 9),
                    (int64_t)(1 + rng_next(&g) % 6), 0};
        c.ln = i % 3 == 0; /* a third of them layer_norm */
        forward_case(isa, &c, &g);
    }
    check_set_ctx("%s", "");
}
