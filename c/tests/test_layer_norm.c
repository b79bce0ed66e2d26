/*
 * test_layer_norm.c - what the layer-normalised GRU (gru_config.layer_norm) guarantees
 * beyond the reference comparisons of test_forward.c and test_backward.c:
 *
 *  - the tensors: 4 more per layer-direction, named and shaped as gru.h says, the gains
 *    created as 1 and the LN biases as 0; layer_norm = 2 is GRU_ERR_INVALID_ARG;
 *    gru_quantize refuses a layer_norm model (GRU_ERR_UNSUPPORTED);
 *  - gru_save / gru_load_file keep the layer_norm tensors and flag (bitwise);
 *  - gru_step over a sequence gives bitwise gru_forward's outputs and final state;
 *  - 1, 2 and 3 threads (every call threaded: GRU_THREAD_MIN_WORK=0) give bitwise the
 *    same training forward, grad_x, grad_h0 and parameter gradients, both variants, with
 *    lengths and the three dropouts.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tensor names, shapes and initial values of a new layer_norm model. */
static void ln_tensors(void)
{
    check_set_ctx("layer_norm tensors");
    gru_config cfg = make_config(3, 4, 2, 1, 0, 1, GRU_FLOAT64);
    cfg.layer_norm = 2;
    gru_model *m = NULL;
    CHECK_STATUS(gru_create(&cfg, &m), GRU_ERR_INVALID_ARG);
    cfg.layer_norm = 1;
    REQUIRE_OK(gru_create(&cfg, &m), return);
    size_t count = 0;
    CHECK_OK(gru_param_count(m, &count));
    CHECK_MSG(count == 2 * 2 * 6, "param count %zu, expected 24 (no bias: 2 + 4 LN)", count);
    static const char *const want[6] = {"weight_ih_l1_reverse",   "weight_hh_l1_reverse",
                                        "layer_norm_ih_weight_l1_reverse",
                                        "layer_norm_ih_bias_l1_reverse",
                                        "layer_norm_hh_weight_l1_reverse",
                                        "layer_norm_hh_bias_l1_reverse"};
    for (size_t i = 0; i < 6; i++) {
        const char *name = NULL;
        int ndim = 0;
        int64_t shape[2] = {0, 0};
        CHECK_OK(gru_param_info(m, 18 + i, &name, &ndim, shape));
        CHECK_MSG(name && strcmp(name, want[i]) == 0, "tensor %zu is %s, expected %s", 18 + i,
                  name ? name : "(null)", want[i]);
        if (i >= 2)
            CHECK_MSG(ndim == 1 && shape[0] == 12, "%s: ndim %d shape[0] %lld", want[i], ndim,
                      (long long)shape[0]);
    }
    double v[12];
    CHECK_OK(gru_param_get(m, "layer_norm_ih_weight_l0", v, 12));
    int ones = 1, zeros = 1;
    for (int i = 0; i < 12; i++)
        ones &= v[i] == 1.0;
    CHECK_OK(gru_param_get(m, "layer_norm_hh_bias_l1_reverse", v, 12));
    for (int i = 0; i < 12; i++)
        zeros &= v[i] == 0.0;
    CHECK_MSG(ones, "layer_norm gains are not created as 1");
    CHECK_MSG(zeros, "layer_norm biases are not created as 0");
    gru_model *q = NULL;
    CHECK_STATUS(gru_quantize(m, GRU_INT8, &q), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_quantize(m, GRU_BF16, &q), GRU_ERR_UNSUPPORTED);
    CHECK_MSG(q == NULL, "gru_quantize left a model");
    gru_destroy(m);
}

/* gru_save / gru_load_file carry the layer_norm tensors and flag: every tensor back
 * bitwise, the loaded model's forward bitwise the saved one's. */
static void ln_file_case(int dtype, int bias, int D, rng *g)
{
    check_set_ctx("layer_norm file %s bias=%d bidir=%d", dtype == GRU_FLOAT64 ? "f64" : "f32",
                  bias, D - 1);
    gru_config cfg = make_config(3, 5, 2, D == 2, bias, bias, dtype);
    cfg.layer_norm = 1;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.7))
        return;
    char path[] = "/tmp/pygru_ln_XXXXXX";
    int fd = mkstemp(path);
    if (!CHECK_MSG(fd >= 0, "mkstemp failed")) {
        tmodel_free(&tm);
        return;
    }
    close(fd);
    gru_model *back = NULL;
    gru_file_info info;
    char msg[256];
    if (CHECK_OK(gru_save(tm.m, path)) &&
        CHECK_OK(gru_load_file(path, &back, &info, msg, sizeof msg))) {
        gru_config c2;
        gru_get_config(back, &c2);
        CHECK_MSG(c2.layer_norm == 1 && info.pygru == 1, "loaded layer_norm %d pygru %d",
                  c2.layer_norm, info.pygru);
        size_t n1 = 0, n2 = 0;
        gru_param_count(tm.m, &n1);
        gru_param_count(back, &n2);
        CHECK_MSG(n1 == n2, "tensor count %zu after loading, %zu saved", n2, n1);
        for (size_t i = 0; i < n1 && n1 == n2; i++) {
            const char *name;
            int ndim;
            int64_t shape[2];
            gru_param_info(tm.m, i, &name, &ndim, shape);
            const size_t n = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
            const size_t bytes = n * dtype_size(dtype);
            void *a = malloc(bytes), *b = malloc(bytes);
            CHECK_OK(gru_param_get(tm.m, name, a, n));
            CHECK_OK(gru_param_get(back, name, b, n));
            CHECK_SAME(name, b, a, bytes);
            free(a);
            free(b);
        }
        const int64_t T = 4, B = 2;
        const size_t nx = (size_t)(T * B * 3), nout = (size_t)(T * B * D * 5);
        double *x = malloc(nx * sizeof(double));
        rng_fill(g, x, nx, -1, 1);
        void *xd = to_dtype(x, nx, dtype), *o1 = nan_dtype(nout, dtype), *o2 = nan_dtype(nout, dtype);
        CHECK_OK(gru_forward(tm.m, 0, T, B, 0, xd, NULL, NULL, o1, NULL, NULL, 0));
        CHECK_OK(gru_forward(back, 0, T, B, 0, xd, NULL, NULL, o2, NULL, NULL, 0));
        CHECK_SAME("forward of the loaded model == saved model's", o2, o1, nout * dtype_size(dtype));
        free(x);
        free(xd);
        free(o1);
        free(o2);
    }
    gru_destroy(back);
    remove(path);
    tmodel_free(&tm);
}

/* gru_step over T steps == gru_forward over the sequence, bitwise. */
static void ln_step_case(const char *isa, int dtype, int ra, int64_t L, int64_t H, int64_t B,
                         rng *g)
{
    const int64_t I = 5, T = 7;
    check_set_ctx("layer_norm step isa=%s %s reset_after=%d L=%lld H=%lld B=%lld", isa,
                  dtype == GRU_FLOAT64 ? "f64" : "f32", ra, (long long)L, (long long)H,
                  (long long)B);
    gru_config cfg = make_config(I, H, L, 0, 1, ra, dtype);
    cfg.layer_norm = 1;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.7))
        return;
    const size_t es = dtype_size(dtype), nx = (size_t)(T * B * I), nh = (size_t)(L * B * H);
    double *x = malloc(nx * sizeof(double)), *h0 = malloc(nh * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, h0, nh, -0.9, 0.9);
    void *xd = to_dtype(x, nx, dtype), *state = to_dtype(h0, nh, dtype);
    void *h0d = to_dtype(h0, nh, dtype);
    void *out = nan_dtype((size_t)(T * B * H), dtype), *hn = nan_dtype(nh, dtype);
    void *o1 = nan_dtype((size_t)(B * H), dtype);
    if (CHECK_OK(gru_forward(tm.m, 0, T, B, 0, xd, h0d, NULL, out, hn, NULL, 0))) {
        int same = 1;
        for (int64_t t = 0; t < T; t++) {
            CHECK_OK(gru_step(tm.m, B, (char *)xd + (size_t)(t * B * I) * es, state, o1, NULL, 0));
            same &= memcmp(o1, (char *)out + (size_t)(t * B * H) * es, (size_t)(B * H) * es) == 0;
        }
        CHECK_MSG(same, "a step's output differs from the forward's");
        CHECK_SAME("state after T steps == h_n", state, hn, nh * es);
    }
    free(x);
    free(h0);
    free(xd);
    free(state);
    free(h0d);
    free(out);
    free(hn);
    free(o1);
    tmodel_free(&tm);
}

/* One training forward + backward on `threads` threads: output, h_n, grad_x, grad_h0
 * and the parameter gradients into one malloc'd byte buffer (*bytes). */
static unsigned char *ln_run(const tmodel *tm, int threads, int64_t T, int64_t B, int bf,
                             const void *x, const void *h0, const int32_t *len, const void *G,
                             size_t *bytes)
{
    gru_model *m = tm->m;
    const int dt = tm->cfg.dtype;
    const size_t es = dtype_size(dt), H = (size_t)tm->cfg.hidden_size;
    const size_t D = tm->cfg.bidirectional ? 2 : 1, L = (size_t)tm->cfg.num_layers;
    const size_t nout = (size_t)(T * B) * D * H, nh = L * D * (size_t)B * H;
    const size_t nx = (size_t)(T * B * tm->cfg.input_size);
    size_t count = 0, np = 0, wsb = 0;
    gru_param_count(m, &count);
    for (size_t i = 0; i < count; i++) {
        int64_t shape[2];
        int ndim;
        gru_param_info(m, i, NULL, &ndim, shape);
        np += (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    }
    *bytes = (nout + nh + nx + nh + np) * es;
    unsigned char *res = malloc(*bytes), *p = res;
    if (gru_set_num_threads(m, threads) != GRU_OK || gru_set_seed(m, 99) != GRU_OK ||
        gru_zero_grad(m) != GRU_OK || gru_workspace_size(m, T, B, 1, &wsb) != GRU_OK) {
        free(res);
        return NULL;
    }
    void *ws = malloc(wsb);
    memset(ws, 0xFF, wsb);
    int st = gru_forward(m, 1, T, B, bf, x, h0, len, p, p + nout * es, ws, wsb);
    if (st == GRU_OK)
        st = gru_backward(m, T, B, bf, x, ws, wsb, G, NULL, p + (nout + nh) * es,
                          p + (nout + nh + nx) * es);
    p += (nout + nh + nx + nh) * es;
    for (size_t i = 0; i < count && st == GRU_OK; i++) {
        const char *name;
        int64_t shape[2];
        int ndim;
        gru_param_info(m, i, &name, &ndim, shape);
        const size_t n = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
        st = gru_grad_get(m, name, p, n);
        p += n * es;
    }
    free(ws);
    if (!CHECK_STATUS(st, GRU_OK)) {
        free(res);
        return NULL;
    }
    return res;
}

/* 1 vs 2 vs 3 threads, bitwise. */
static void ln_threads_case(const char *isa, int dtype, int ra, int D, int bf, double drop,
                            rng *g)
{
    const int64_t I = 6, H = 9, L = 2, T = 6, B = 5;
    check_set_ctx("layer_norm threads isa=%s %s reset_after=%d bidir=%d batch_first=%d "
                  "dropouts=%g",
                  isa, dtype == GRU_FLOAT64 ? "f64" : "f32", ra, D - 1, bf, drop);
    gru_config cfg = make_config(I, H, L, D == 2, 1, ra, dtype);
    cfg.layer_norm = 1;
    cfg.dropout = drop;
    cfg.input_dropout = drop;
    cfg.recurrent_dropout = drop;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.7))
        return;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * D * H);
    double *x = malloc(nx * sizeof(double)), *G = malloc(nout * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, G, nout, -1, 1);
    int32_t len[5] = {6, 1, 4, 6, 3};
    void *xd = to_dtype(x, nx, dtype), *Gd = to_dtype(G, nout, dtype);
    size_t b1 = 0, b2 = 0, b3 = 0;
    unsigned char *r1 = ln_run(&tm, 1, T, B, bf, xd, NULL, len, Gd, &b1);
    unsigned char *r2 = ln_run(&tm, 2, T, B, bf, xd, NULL, len, Gd, &b2);
    unsigned char *r3 = ln_run(&tm, 3, T, B, bf, xd, NULL, len, Gd, &b3);
    if (CHECK_MSG(r1 && r2 && r3, "a run failed")) {
        CHECK_SAME("2 threads == 1 thread (outputs, input and parameter gradients)", r2, r1, b1);
        CHECK_SAME("3 threads == 1 thread (outputs, input and parameter gradients)", r3, r1, b1);
        /* the results are finite (padded rows of NaN workspace never leak in) */
        int finite = 1;
        for (size_t i = 0; i < b1 / dtype_size(dtype); i++)
            finite &= dtype == GRU_FLOAT64 ? isfinite(((double *)r1)[i]) != 0
                                           : isfinite(((float *)r1)[i]) != 0;
        CHECK_MSG(finite, "a result is not finite");
    }
    free(r1);
    free(r2);
    free(r3);
    free(x);
    free(G);
    free(xd);
    free(Gd);
    tmodel_free(&tm);
}

void test_layer_norm(const char *isa)
{
    rng g = {2024};
    ln_tensors();
    for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
        for (int bias = 0; bias <= 1; bias++)
            ln_file_case(dt, bias, 2 - bias, &g);
    for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
        for (int ra = 0; ra <= 1; ra++) {
            ln_step_case(isa, dt, ra, 1, 4, 1, &g);
            ln_step_case(isa, dt, ra, 3, 9, 4, &g);
            ln_step_case(isa, dt, ra, 2, 33, 130, &g);
        }
    const char *old = getenv("GRU_THREAD_MIN_WORK");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRU_THREAD_MIN_WORK", "0", 1);
    for (int dt = GRU_FLOAT32; dt <= GRU_FLOAT64; dt++)
        for (int ra = 0; ra <= 1; ra++)
            for (int D = 1; D <= 2; D++) {
                ln_threads_case(isa, dt, ra, D, D == 2, 0.0, &g);
                ln_threads_case(isa, dt, ra, D, D == 1, 0.3, &g);
            }
    if (saved)
        setenv("GRU_THREAD_MIN_WORK", saved, 1);
    else
        unsetenv("GRU_THREAD_MIN_WORK");
    free(saved);
    check_set_ctx("%s", "");
}
