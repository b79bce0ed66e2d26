/*
 * test_regularize.c - zoneout and weight_dropout (DropConnect on W_hh).
 *
 * - Training forwards vs the float64 reference (testlib.c) run with the masks the
 *   getters report (gru_zoneout_masks, gru_weight_dropout_mask, and gru_dropout_masks
 *   when combined with Keras-style dropout): both variants, 1-3 layers, bidirectional,
 *   reverse, lengths, batch_first, h0, float32 and float64.
 * - Inference (training = 0) vs the reference's expectation (zoneout: p h + (1 - p) h~;
 *   weight_dropout: W_hh unmasked, bitwise the same model without weight_dropout);
 *   gru_step bitwise the inference forward with zoneout.
 * - The masks: entries (0/1; 0 or 1/(1-p)), the fraction near p, new masks per call
 *   and per layer-direction, the same for the same seed, the same in both layouts.
 * - 1, 2 and 3 threads give bitwise the same training forward, backward and inference.
 * - Argument errors (rates out of range, the getters), gru_quantize (zoneout refused,
 *   weight_dropout quantized), model files (the rates round-trip).
 * Finite differences with zoneout and weight_dropout are in test_backward.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/rng.h"   /* the documented generator, to recompute the masks */

typedef struct rcase {
    int64_t I, H, L;
    int D, reverse, reset_after, batch_first, use_h0, lengths, dtype;
    double zoneout, weight_dropout, input_dropout, recurrent_dropout;
    int64_t T, B;
} rcase;

/* Largest relative errors seen vs the reference, printed at the end. */
static double max_err_train[2], max_err_infer[2];

static void note_err(double *slot, double e)
{
    if (e > *slot) *slot = e;
}

/* x (B, T, in) from x (T, B, in), or back. */
static void transpose_tb(const double *src, double *dst, int64_t T, int64_t B, int64_t w,
                         int to_bf)
{
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < w; k++) {
                const int64_t tm = (t * B + b) * w + k, bm = (b * T + t) * w + k;
                if (to_bf) dst[bm] = src[tm];
                else dst[tm] = src[bm];
            }
}

/* Reads every layer-direction's masks of workspace ws into zm / wm / mx / mh (malloc'd;
 * NULL where that regulariser is off) and checks their entries and rates. */
static int read_masks(tmodel *tm, const rcase *c, void *ws, size_t wsb, double *zm[8][2],
                      double *wm[8][2], double *mx[8][2], double *mh[8][2])
{
    const int64_t T = c->T, B = c->B, H = c->H;
    const size_t nz = (size_t)(T * B * H), nw = (size_t)(3 * H * H);
    const size_t in_max = (size_t)(c->I > c->D * H ? c->I : c->D * H);
    size_t big = nz > nw ? nz : nw;
    if ((size_t)B * in_max > big) big = (size_t)B * in_max;
    void *buf = malloc(big * 8);
    long kept = 0, nkept = 0, dropped = 0, ndrop = 0, bad = 0;
    int ok = 1;
    for (int l = 0; l < c->L && ok; l++)
        for (int d = 0; d < c->D && ok; d++) {
            if (c->zoneout > 0) {
                zm[l][d] = malloc(nz * sizeof(double));
                ok &= CHECK_OK(gru_zoneout_masks(tm->m, ws, wsb, l, d, buf, nz));
                from_dtype(zm[l][d], buf, nz, c->dtype);
                for (size_t i = 0; i < nz; i++) {
                    bad += zm[l][d][i] != 0.0 && zm[l][d][i] != 1.0;
                    kept += zm[l][d][i] == 1.0;
                }
                nkept += (long)nz;
            }
            if (c->weight_dropout > 0) {
                wm[l][d] = malloc(nw * sizeof(double));
                ok &= CHECK_OK(gru_weight_dropout_mask(tm->m, ws, wsb, l, d, buf, nw));
                from_dtype(wm[l][d], buf, nw, c->dtype);
                double scale = 1.0 / (1.0 - c->weight_dropout);
                if (c->dtype == GRU_FLOAT32) scale = (float)scale;
                for (size_t i = 0; i < nw; i++) {
                    bad += wm[l][d][i] != 0.0 && wm[l][d][i] != scale;
                    dropped += wm[l][d][i] == 0.0;
                }
                ndrop += (long)nw;
            }
            if (c->input_dropout > 0 || c->recurrent_dropout > 0) {
                const size_t in = (size_t)(l == 0 ? c->I : c->D * H);
                mx[l][d] = malloc((size_t)B * in * sizeof(double));
                mh[l][d] = malloc((size_t)(B * H) * sizeof(double));
                ok &= CHECK_OK(gru_dropout_masks(tm->m, ws, wsb, l, d, buf, (size_t)B * in,
                                                 NULL, 0));
                from_dtype(mx[l][d], buf, (size_t)B * in, c->dtype);
                ok &= CHECK_OK(gru_dropout_masks(tm->m, ws, wsb, l, d, NULL, 0, buf,
                                                 (size_t)(B * H)));
                from_dtype(mh[l][d], buf, (size_t)(B * H), c->dtype);
            }
            tm->ref.zmask[l][d] = zm[l][d];
            tm->ref.wmask[l][d] = wm[l][d];
            tm->ref.mask_in[l][d] = mx[l][d];
            tm->ref.mask_rec[l][d] = mh[l][d];
        }
    free(buf);
    CHECK_MSG(bad == 0, "%ld mask entries outside {0, 1} (zoneout) / {0, 1/(1-p)}", bad);
    const double pz = c->zoneout, pw = c->weight_dropout;
    if (nkept)
        CHECK_MSG(fabs((double)kept - pz * nkept) <= 4.5 * sqrt(pz * (1 - pz) * nkept) + 1,
                  "zoneout: %ld of %ld kept for p = %g", kept, nkept, pz);
    if (ndrop)
        CHECK_MSG(fabs((double)dropped - pw * ndrop) <= 4.5 * sqrt(pw * (1 - pw) * ndrop) + 1,
                  "weight_dropout: %ld of %ld dropped for p = %g", dropped, ndrop, pw);
    /* two layer-directions draw different masks */
    const int ll = c->L - 1, dl = c->D - 1;
    if ((ll > 0 || dl > 0) && nz >= 16 && zm[0][0])
        CHECK_MSG(memcmp(zm[0][0], zm[ll][dl], nz * sizeof(double)) != 0,
                  "two layer-directions drew the same zoneout masks");
    if ((ll > 0 || dl > 0) && nw >= 16 && wm[0][0])
        CHECK_MSG(memcmp(wm[0][0], wm[ll][dl], nw * sizeof(double)) != 0,
                  "two layer-directions drew the same DropConnect masks");
    return ok;
}

static void free_masks(double *a[8][2])
{
    for (int l = 0; l < 8; l++)
        for (int d = 0; d < 2; d++) {
            free(a[l][d]);
            a[l][d] = NULL;
        }
}

static void forward_case(const char *isa, const rcase *c, rng *g)
{
    const int64_t T = c->T, B = c->B, H = c->H, D = c->D, L = c->L, I = c->I;
    const int dt = c->dtype;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * D * H);
    const size_t nh = (size_t)(L * D * B * H), es = dtype_size(dt);
    const size_t nz = (size_t)(T * B * H), nw = (size_t)(3 * H * H);
    check_set_ctx("regularize isa=%s %s I=%lld H=%lld L=%lld bidir=%d reverse=%d ra=%d "
                  "bf=%d h0=%d lengths=%d T=%lld B=%lld zoneout=%g weight_dropout=%g "
                  "input_dropout=%g recurrent_dropout=%g",
                  isa, dt == GRU_FLOAT64 ? "f64" : "f32", (long long)I, (long long)H,
                  (long long)L, c->D - 1, c->reverse, c->reset_after, c->batch_first,
                  c->use_h0, c->lengths, (long long)T, (long long)B, c->zoneout,
                  c->weight_dropout, c->input_dropout, c->recurrent_dropout);
    gru_config cfg = make_config(I, H, L, D == 2, 1, c->reset_after, dt);
    cfg.reverse = c->reverse;
    cfg.zoneout = c->zoneout;
    cfg.weight_dropout = c->weight_dropout;
    cfg.input_dropout = c->input_dropout;
    cfg.recurrent_dropout = c->recurrent_dropout;
    cfg.seed = 31;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.8))
        return;
    double *x = malloc(nx * sizeof(double)), *h0 = malloc(nh * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, h0, nh, -0.9, 0.9);
    round_to_dtype(x, nx, dt);
    round_to_dtype(h0, nh, dt);
    int32_t *len = malloc((size_t)B * sizeof(int32_t));
    for (int64_t b = 0; b < B; b++)
        len[b] = b == 0 ? (int32_t)T : (int32_t)(1 + rng_next(g) % (uint64_t)T);
    const int32_t *lens = c->lengths ? len : NULL;
    const double *h0p = c->use_h0 ? h0 : NULL;
    void *xd = to_dtype(x, nx, dt), *h0d = to_dtype(h0, nh, dt);
    const void *h0dp = c->use_h0 ? h0d : NULL;
    void *out = nan_dtype(nout, dt), *hn = nan_dtype(nh, dt), *out2 = nan_dtype(nout, dt);
    void *hn2 = nan_dtype(nh, dt);
    double *ref_out = malloc(nout * sizeof(double)), *ref_hn = malloc(nh * sizeof(double));
    double *got = malloc((nout > nh ? nout : nh) * sizeof(double));
    double *zm[8][2] = {{0}}, *wm[8][2] = {{0}}, *mx[8][2] = {{0}}, *mh[8][2] = {{0}};
    double *zm2[8][2] = {{0}}, *wm2[8][2] = {{0}}, *mx2[8][2] = {{0}}, *mh2[8][2] = {{0}};
    double *xt = NULL;
    void *xtd = NULL, *ws = NULL, *ws2 = NULL, *plain_out = NULL;
    size_t wsb = 0;
    tmodel plain = {0};
    const double tol = dt == GRU_FLOAT64 ? 1e-12 : 3e-5;
    double err;

    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb);
    ws2 = malloc(wsb);
    memset(ws, 0xFF, wsb);
    REQUIRE_OK(gru_forward(tm.m, 1, T, B, c->batch_first, xd, h0dp, lens, out, hn, ws, wsb),
               goto done);
    if (!read_masks(&tm, c, ws, wsb, zm, wm, mx, mh)) goto done;

    /* training vs the reference with the reported masks */
    ref_forward(&tm.ref, T, B, c->batch_first, x, h0p, lens, ref_out, ref_hn);
    from_dtype(got, out, nout, dt);
    check_close_impl("training output vs reference with the reported masks", ref_out, got,
                     nout, tol, &err, __FILE__, __LINE__);
    note_err(&max_err_train[dt == GRU_FLOAT64], err);
    from_dtype(got, hn, nh, dt);
    check_close_impl("training h_n vs reference with the reported masks", ref_hn, got, nh,
                     tol, &err, __FILE__, __LINE__);
    note_err(&max_err_train[dt == GRU_FLOAT64], err);

    /* the same seed: the same masks, bitwise the same output */
    CHECK_OK(gru_set_seed(tm.m, 31));
    CHECK_OK(gru_forward(tm.m, 1, T, B, c->batch_first, xd, h0dp, lens, out2, NULL, ws2, wsb));
    CHECK_SAME("training output after gru_set_seed(same seed)", out2, out, nout * es);
    /* the next forward: new masks */
    CHECK_OK(gru_forward(tm.m, 1, T, B, c->batch_first, xd, h0dp, lens, out2, NULL, ws2, wsb));
    if (read_masks(&tm, c, ws2, wsb, zm2, wm2, mx2, mh2)) {
        if (zm[0][0] && nz >= 16)
            CHECK_MSG(memcmp(zm[0][0], zm2[0][0], nz * sizeof(double)) != 0,
                      "two training forwards drew the same zoneout masks");
        if (wm[0][0] && nw >= 16)
            CHECK_MSG(memcmp(wm[0][0], wm2[0][0], nw * sizeof(double)) != 0,
                      "two training forwards drew the same DropConnect masks");
    }
    free_masks(zm2); free_masks(wm2); free_masks(mx2); free_masks(mh2);

    /* the other layout, same seed: the same masks (zoneout's read time-major) and output */
    xt = malloc(nx * sizeof(double));
    transpose_tb(x, xt, T, B, I, !c->batch_first);   /* x in the other layout */
    xtd = to_dtype(xt, nx, dt);
    CHECK_OK(gru_set_seed(tm.m, 31));
    CHECK_OK(gru_forward(tm.m, 1, T, B, !c->batch_first, xtd, h0dp, lens, out2, NULL, ws2,
                         wsb));
    if (read_masks(&tm, c, ws2, wsb, zm2, wm2, mx2, mh2))
        for (int l = 0; l < L; l++)
            for (int d = 0; d < D; d++) {
                if (zm[l][d])
                    CHECK_SAME("zoneout masks, batch_first vs time-major call", zm2[l][d],
                               zm[l][d], nz * sizeof(double));
                if (wm[l][d])
                    CHECK_SAME("DropConnect masks, batch_first vs time-major call", wm2[l][d],
                               wm[l][d], nw * sizeof(double));
            }
    free_masks(zm2); free_masks(wm2); free_masks(mx2); free_masks(mh2);
    from_dtype(got, out2, nout, dt);
    {
        double *back = malloc(nout * sizeof(double));
        transpose_tb(got, back, T, B, D * H, c->batch_first);   /* to this case's layout */
        from_dtype(got, out, nout, dt);
        CHECK_CLOSE("training output, other layout with the same seed", got, back, nout,
                    dt == GRU_FLOAT64 ? 1e-14 : 1e-6);
        free(back);
    }

    /* inference: zoneout's expectation, W_hh unmasked, no dropout */
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++)
            tm.ref.zmask[l][d] = tm.ref.wmask[l][d] = tm.ref.mask_in[l][d] =
                tm.ref.mask_rec[l][d] = NULL;
    CHECK_OK(gru_forward(tm.m, 0, T, B, c->batch_first, xd, h0dp, lens, out2, hn2, NULL, 0));
    ref_forward(&tm.ref, T, B, c->batch_first, x, h0p, lens, ref_out, ref_hn);
    from_dtype(got, out2, nout, dt);
    check_close_impl("inference output vs reference (zoneout blend, W_hh unmasked)", ref_out,
                     got, nout, tol, &err, __FILE__, __LINE__);
    note_err(&max_err_infer[dt == GRU_FLOAT64], err);
    from_dtype(got, hn2, nh, dt);
    check_close_impl("inference h_n vs reference", ref_hn, got, nh, tol, &err, __FILE__,
                     __LINE__);
    note_err(&max_err_infer[dt == GRU_FLOAT64], err);
    if (c->weight_dropout > 0 && c->zoneout == 0) {
        /* inference is bitwise the plain model's */
        gru_config pc = cfg;
        pc.weight_dropout = 0;
        pc.input_dropout = pc.recurrent_dropout = 0;
        tmodel tmp = tm;
        tmp.cfg = pc;
        if (tmodel_clone(&plain, &tmp, dt)) {
            plain_out = nan_dtype(nout, dt);
            CHECK_OK(gru_forward(plain.m, 0, T, B, c->batch_first, xd, h0dp, lens, plain_out,
                                 NULL, NULL, 0));
            CHECK_SAME("weight_dropout inference == the plain GRU's", plain_out, out2,
                       nout * es);
        }
    }

    /* gru_step == the inference forward, bitwise (unidirectional, time-major rows) */
    if (D == 1 && !c->reverse && !lens) {
        size_t sb = 0;
        void *state = to_dtype(h0, (size_t)(L * B * H), dt);
        if (!c->use_h0) memset(state, 0, (size_t)(L * B * H) * es);
        void *so = nan_dtype((size_t)(B * H), dt);
        void *xs = malloc((size_t)(B * I) * es);
        CHECK_OK(gru_step_scratch_size(tm.m, B, &sb));
        void *scr = malloc(sb);
        CHECK_OK(gru_forward(tm.m, 0, T, B, 0, c->batch_first ? xtd : xd, h0dp, NULL, out2,
                             NULL, NULL, 0));
        int same = 1;
        for (int64_t t = 0; t < T; t++) {
            memcpy(xs, (char *)(c->batch_first ? xtd : xd) + (size_t)(t * B * I) * es,
                   (size_t)(B * I) * es);
            CHECK_OK(gru_step(tm.m, B, xs, state, so, scr, sb));
            same &= memcmp(so, (char *)out2 + (size_t)(t * B * H) * es,
                           (size_t)(B * H) * es) == 0;
        }
        CHECK_MSG(same, "gru_step differs from the inference forward (bitwise)");
        free(state); free(so); free(xs); free(scr);
    }

done:
    free_masks(zm); free_masks(wm); free_masks(mx); free_masks(mh);
    free(x); free(h0); free(len); free(xd); free(h0d); free(out); free(hn); free(out2);
    free(hn2); free(ref_out); free(ref_hn); free(got); free(xt); free(xtd); free(ws);
    free(ws2); free(plain_out);
    if (plain.m) tmodel_free(&plain);
    tmodel_free(&tm);
}

/* Training forward + backward and inference on 1, 2 and 3 threads: bitwise the same. */
static void threads_case(const char *isa, int dtype, int ra, int bidir, rng *g)
{
    const int64_t I = 5, H = 19, L = 2, D = bidir ? 2 : 1, T = 6, B = 4;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * D * H);
    const size_t nh = (size_t)(L * D * B * H), es = dtype_size(dtype);
    check_set_ctx("regularize threads isa=%s %s ra=%d bidir=%d", isa,
                  dtype == GRU_FLOAT64 ? "f64" : "f32", ra, bidir);
    const char *old = getenv("GRU_THREAD_MIN_WORK");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRU_THREAD_MIN_WORK", "0", 1);
    gru_config cfg = make_config(I, H, L, bidir, 1, ra, dtype);
    cfg.zoneout = 0.3;
    cfg.weight_dropout = 0.4;
    cfg.recurrent_dropout = 0.2;
    cfg.seed = 5;
    tmodel tm;
    int ok = tmodel_create(&tm, &cfg, g, 0.8);
    if (saved) setenv("GRU_THREAD_MIN_WORK", saved, 1);
    else unsetenv("GRU_THREAD_MIN_WORK");
    free(saved);
    if (!ok) return;
    double *x = malloc(nx * sizeof(double)), *gy = malloc(nout * sizeof(double));
    rng_fill(g, x, nx, -1, 1);
    rng_fill(g, gy, nout, -1, 1);
    round_to_dtype(x, nx, dtype);
    round_to_dtype(gy, nout, dtype);
    void *xd = to_dtype(x, nx, dtype), *gyd = to_dtype(gy, nout, dtype);
    int32_t len[4] = {6, 2, 5, 1};
    size_t wsb = 0;
    CHECK_OK(gru_workspace_size(tm.m, T, B, 1, &wsb));
    void *ws = malloc(wsb);
    void *res[3][4];   /* out, h_n, grad_x, inference out */
    double *grads[3] = {0};
    size_t ng = 0;
    for (int n = 1; n <= 3; n++) {
        for (int k = 0; k < 4; k++)
            res[n - 1][k] = nan_dtype(k == 1 ? nh : k == 2 ? nx : nout, dtype);
        CHECK_OK(gru_set_num_threads(tm.m, n));
        CHECK_OK(gru_set_seed(tm.m, 5));
        CHECK_OK(gru_zero_grad(tm.m));
        CHECK_OK(gru_forward(tm.m, 1, T, B, 1, xd, NULL, len, res[n - 1][0], res[n - 1][1], ws,
                             wsb));
        CHECK_OK(gru_backward(tm.m, T, B, 1, xd, ws, wsb, gyd, NULL, res[n - 1][2], NULL));
        CHECK_OK(gru_forward(tm.m, 0, T, B, 1, xd, NULL, len, res[n - 1][3], NULL, NULL, 0));
        /* every gradient tensor, concatenated */
        size_t cnt = 0, total = 0;
        CHECK_OK(gru_param_count(tm.m, &cnt));
        for (int pass = 0; pass < 2; pass++) {   /* sizes, then the copies */
            if (pass) grads[n - 1] = malloc(total * es);
            total = 0;
            for (size_t i = 0; i < cnt; i++) {
                const char *name;
                int nd;
                int64_t shape[2];
                CHECK_OK(gru_param_info(tm.m, i, &name, &nd, shape));
                const size_t m = (size_t)shape[0] * (nd == 2 ? (size_t)shape[1] : 1);
                if (pass)
                    CHECK_OK(gru_grad_get(tm.m, name, (char *)grads[n - 1] + total * es, m));
                total += m;
            }
        }
        ng = total;
    }
    for (int n = 2; n <= 3; n++) {
        CHECK_SAME("training output, n threads vs 1", res[n - 1][0], res[0][0], nout * es);
        CHECK_SAME("h_n, n threads vs 1", res[n - 1][1], res[0][1], nh * es);
        CHECK_SAME("grad_x, n threads vs 1", res[n - 1][2], res[0][2], nx * es);
        CHECK_SAME("inference output, n threads vs 1", res[n - 1][3], res[0][3], nout * es);
        CHECK_SAME("parameter gradients, n threads vs 1", grads[n - 1], grads[0], ng * es);
    }
    for (int n = 0; n < 3; n++) {
        for (int k = 0; k < 4; k++) free(res[n][k]);
        free(grads[n]);
    }
    free(x); free(gy); free(xd); free(gyd); free(ws);
    tmodel_free(&tm);
}

/* Rates out of range, the getters' errors, gru_quantize, model files. */
/* rng.h's integer form of the decisions: u < p iff k < gru_threshold(p), for p at and
 * next to the representable uniforms k * 2^-53 (u = k * 2^-53 exactly), at the
 * extremes, and for random p; and gru_below_bits_scalar against gru_uniform_at. */
static void threshold_checks(rng *g)
{
    check_set_ctx("regularize gru_threshold");
    const double two53 = 9007199254740992.0;
    long wrong = 0, n = 0;
    uint64_t ks[64];
    int nk = 0;
    const uint64_t fixed[] = {0, 1, 2, 3, ((uint64_t)1 << 52) - 1, (uint64_t)1 << 52,
                              ((uint64_t)1 << 52) + 1, ((uint64_t)1 << 53) - 2,
                              ((uint64_t)1 << 53) - 1, 900719925474099ull, 123456789ull};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) ks[nk++] = fixed[i];
    while (nk < 64) ks[nk++] = (rng_next(g) >> 11);   /* random k < 2^53 */
    for (int a = 0; a < nk; a++) {
        const double u0 = (double)ks[a] / two53;
        /* p at u0, one ulp either side, and half-way values that are not uniforms */
        const double ps[5] = {u0, nextafter(u0, 0.0), nextafter(u0, 2.0),
                              u0 + 0.5 / two53, u0 > 0 ? u0 - 0.5 / two53 : u0};
        for (int q = 0; q < 5; q++) {
            const double p = ps[q];
            const uint64_t thr = gru_threshold(p);
            for (int b = 0; b < nk; b++)
                for (int64_t dk = -2; dk <= 2; dk++) {
                    const uint64_t k = ks[b] + (uint64_t)dk;
                    if (k >= ((uint64_t)1 << 53)) continue;   /* wrapped or out of range */
                    wrong += ((double)k / two53 < p) != (k < thr);
                    n++;
                }
        }
    }
    const double extremes[] = {0.0, -0.0, -1.0, 0x1p-1074, 0x1p-1022, 0x1p-60, 0x1p-53,
                               0x1.8p-53, 1.0, nextafter(1.0, 0.0), 1.5, INFINITY,
                               -INFINITY, NAN};
    for (size_t e = 0; e < sizeof extremes / sizeof extremes[0]; e++)
        for (int b = 0; b < nk; b++) {
            const double pe = extremes[e];
            wrong += ((double)ks[b] / two53 < pe) != (ks[b] < gru_threshold(pe));
            n++;
        }
    CHECK_MSG(wrong == 0, "%ld of %ld (k, p) pairs: u < p and k < threshold disagree", wrong,
              n);
    CHECK(gru_threshold(0.5) == (uint64_t)1 << 52 && gru_threshold(1.0) == (uint64_t)1 << 53);
    CHECK(gru_threshold(0x1p-1074) == 1 && gru_threshold(NAN) == 0);
    /* bits of 1..64 decisions at odd starts against the double comparison */
    long bad = 0;
    for (int r = 0; r < 200; r++) {
        const uint64_t key = rng_next(g);
        const size_t first = (size_t)(rng_next(g) >> (r % 2 ? 1 : 40)), cnt = 1 + (size_t)r % 64;
        const double p = (double)(rng_next(g) >> 11) / two53;
        const uint64_t bits = gru_below_bits_scalar(key, first, cnt, gru_threshold(p));
        for (size_t l = 0; l < 64; l++)
            bad += (int)(bits >> l & 1) != (l < cnt && gru_uniform_at(key, first + l) < p);
    }
    CHECK_MSG(bad == 0, "gru_below_bits_scalar: %ld bits differ from gru_uniform_at", bad);
}

/* Every mask the kernels draw (zoneout, DropConnect, input and recurrent dropout), for
 * sizes past 64 decisions and vector lanes, recomputed from the documented double
 * comparison gru_uniform(...) < p; p set exactly to a drawn uniform and one ulp either
 * side of it (the comparison's boundary, which the SIMD kernels take in integers). */
static void masks_case(const char *isa, int dtype, int batch_first, int which, rng *g)
{
    check_set_ctx("regularize masks isa=%s %s bf=%d p-case=%d", isa,
                  dtype == GRU_FLOAT64 ? "f64" : "f32", batch_first, which);
    const int64_t I = 67, H = 69, L = 2, D = 2, T = 4, B = 3;
    const uint64_t seed = 0x5eedULL + (uint64_t)which;
    /* p: the uniform of zoneout element 100 of layer-direction 0 in draw 0 (exactly,
     * just below it, just above it), so that element lies on the boundary */
    const double u = gru_uniform(seed, 0, GRU_STREAM_ZONEOUT(0), 100);
    const double p = which == 0 ? u : which == 1 ? nextafter(u, 0.0) : nextafter(u, 1.0);
    gru_config cfg = make_config(I, H, L, 1, 1, 1, dtype);
    cfg.seed = seed;
    cfg.zoneout = p;
    cfg.weight_dropout = p;
    cfg.input_dropout = p;
    cfg.recurrent_dropout = p;
    gru_model *m = NULL;
    if (!CHECK_OK(gru_create(&cfg, &m))) return;
    const size_t es = dtype == GRU_FLOAT64 ? 8 : 4;
    const size_t nx = (size_t)(T * B * I), no = (size_t)(T * B * D * H);
    double *xd = malloc(nx * sizeof(double));
    rng_fill(g, xd, nx, -0.5, 0.5);
    void *x = to_dtype(xd, nx, dtype), *out = malloc(no * es);
    size_t wsb = 0;
    CHECK_OK(gru_workspace_size(m, T, B, 1, &wsb));
    void *ws = malloc(wsb);
    const size_t nz = (size_t)(T * B * H), nw = (size_t)(3 * H * H);
    void *buf = malloc(nw * es), *buf2 = malloc((size_t)(B * H) * es);
    double *v = malloc(nw * sizeof(double)), *v2 = malloc((size_t)(B * H) * sizeof(double));
    double scale = 1.0 / (1.0 - p);
    if (dtype == GRU_FLOAT32) scale = (float)scale;
    long wrong = 0, kept = 0;
    if (CHECK_OK(gru_forward(m, 1, T, B, batch_first, x, NULL, NULL, out, NULL, ws, wsb)))
        for (int64_t l = 0; l < L; l++)
            for (int64_t d = 0; d < D; d++) {
                const size_t k = (size_t)(l * D + d);
                if (!CHECK_OK(gru_zoneout_masks(m, ws, wsb, l, d, buf, nz))) continue;
                from_dtype(v, buf, nz, dtype);
                for (size_t i = 0; i < nz; i++) {
                    wrong += v[i] != (gru_uniform(seed, 0, GRU_STREAM_ZONEOUT(k), i) < p);
                    kept += v[i] == 1.0;
                }
                if (!CHECK_OK(gru_weight_dropout_mask(m, ws, wsb, l, d, buf, nw))) continue;
                from_dtype(v, buf, nw, dtype);
                for (size_t i = 0; i < nw; i++)
                    wrong += v[i] != (gru_uniform(seed, 0, GRU_STREAM_WEIGHT(k), i) < p
                                          ? 0.0 : scale);
                const size_t in = (size_t)(l == 0 ? I : D * H);
                if (!CHECK_OK(gru_dropout_masks(m, ws, wsb, l, d, buf, (size_t)B * in, buf2,
                                                (size_t)(B * H))))
                    continue;
                from_dtype(v, buf, (size_t)B * in, dtype);
                from_dtype(v2, buf2, (size_t)(B * H), dtype);
                for (size_t i = 0; i < (size_t)B * in; i++)
                    wrong += v[i] != (gru_uniform(seed, 0, GRU_STREAM_INPUT(k), i) < p
                                          ? 0.0 : scale);
                for (size_t i = 0; i < (size_t)(B * H); i++)
                    wrong += v2[i] != (gru_uniform(seed, 0, GRU_STREAM_RECURRENT(k), i) < p
                                           ? 0.0 : scale);
            }
    CHECK_MSG(wrong == 0, "%ld mask entries differ from gru_uniform < p (p = %a)", wrong, p);
    CHECK_MSG(kept > 0 && kept < (long)(L * D * nz), "zoneout kept %ld entries", kept);
    /* the boundary element itself: kept iff p > u */
    if (CHECK_OK(gru_zoneout_masks(m, ws, wsb, 0, 0, buf, nz))) {
        from_dtype(v, buf, nz, dtype);
        CHECK_MSG(v[100] == (which == 2 ? 1.0 : 0.0), "boundary element: mask %g for p %s u",
                  v[100], which == 2 ? ">" : "<=");
    }
    free(xd);
    free(x);
    free(out);
    free(ws);
    free(buf);
    free(buf2);
    free(v);
    free(v2);
    gru_destroy(m);
}

static void api_checks(rng *g)
{
    check_set_ctx("regularize api");
    gru_config cfg = make_config(3, 4, 2, 0, 1, 1, GRU_FLOAT32);
    gru_model *m = NULL;
    const double bad[4] = {-0.1, 1.0, 1.5, NAN};
    for (int i = 0; i < 4; i++) {
        gru_config c = cfg;
        c.zoneout = bad[i];
        CHECK_STATUS(gru_create(&c, &m), GRU_ERR_INVALID_ARG);
        c = cfg;
        c.weight_dropout = bad[i];
        CHECK_STATUS(gru_create(&c, &m), GRU_ERR_INVALID_ARG);
    }
    gru_config_init(&cfg);
    CHECK(cfg.zoneout == 0.0 && cfg.weight_dropout == 0.0);
    CHECK_INT_EQ(gru_abi_version(), 5);

    cfg = make_config(3, 4, 2, 0, 1, 1, GRU_FLOAT32);
    cfg.zoneout = 0.25;
    cfg.weight_dropout = 0.125;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.5)) return;
    const int64_t T = 3, B = 2, H = 4;
    float x[3 * 2 * 3], out[3 * 2 * 4], out2[3 * 2 * 4];
    for (int i = 0; i < 18; i++) x[i] = (float)(i % 5) * 0.25f - 0.5f;
    size_t wsb = 0;
    CHECK_OK(gru_workspace_size(tm.m, T, B, 1, &wsb));
    size_t wsb_plain = 0;
    {
        gru_config pc = cfg;
        pc.zoneout = pc.weight_dropout = 0;
        gru_model *pm = NULL;
        CHECK_OK(gru_create(&pc, &pm));
        CHECK_OK(gru_workspace_size(pm, T, B, 1, &wsb_plain));
        gru_destroy(pm);
    }
    CHECK_MSG(wsb > wsb_plain, "the workspace did not grow: %zu vs plain %zu", wsb, wsb_plain);
    void *ws = malloc(wsb);
    float zmask[3 * 2 * 4], wmask[3 * 4 * 4];
    const size_t nz = (size_t)(T * B * H), nw = (size_t)(3 * H * H);
    CHECK_OK(gru_forward(tm.m, 1, T, B, 0, x, NULL, NULL, out, NULL, ws, wsb));
    CHECK_OK(gru_zoneout_masks(tm.m, ws, wsb, 1, 0, zmask, nz));
    CHECK_OK(gru_weight_dropout_mask(tm.m, ws, wsb, 1, 0, wmask, nw));
    {
        /* the documented rule: seed 0, the first training forward (draw 0), layer 1's
         * streams; zoneout index (t B + b) H + j, DropConnect index g H + j */
        long wrong = 0;
        for (size_t i = 0; i < nz; i++)
            wrong += zmask[i] != (gru_uniform(0, 0, 0x80000000u + 1, i) < 0.25 ? 1.0f : 0.0f);
        for (size_t i = 0; i < nw; i++)
            wrong += wmask[i] != (gru_uniform(0, 0, 0xA0000000u + 1, i) < 0.125
                                      ? 0.0f : (float)(1.0 / 0.875));
        CHECK_MSG(wrong == 0, "%ld mask entries differ from the documented generator", wrong);
    }
    CHECK_STATUS(gru_zoneout_masks(NULL, ws, wsb, 0, 0, zmask, nz), GRU_ERR_NULL);
    CHECK_STATUS(gru_zoneout_masks(tm.m, NULL, wsb, 0, 0, zmask, nz), GRU_ERR_NULL);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, 0, 0, NULL, nz), GRU_ERR_NULL);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, 2, 0, zmask, nz), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, 0, 1, zmask, nz), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, -1, 0, zmask, nz), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, 0, 0, zmask, nz - 1), GRU_ERR_SIZE_MISMATCH);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, 16, 0, 0, zmask, nz), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, 0, 0, (char *)zmask + 1, nz),
                 GRU_ERR_MISALIGNED);
    CHECK_STATUS(gru_weight_dropout_mask(tm.m, ws, wsb, 0, 0, wmask, nw + 1),
                 GRU_ERR_SIZE_MISMATCH);
    CHECK_STATUS(gru_weight_dropout_mask(tm.m, ws, wsb, 0, 2, wmask, nw), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_weight_dropout_mask(NULL, ws, wsb, 0, 0, wmask, nw), GRU_ERR_NULL);
    CHECK_OK(gru_forward(tm.m, 0, T, B, 0, x, NULL, NULL, out2, NULL, ws, wsb));
    CHECK_STATUS(gru_zoneout_masks(tm.m, ws, wsb, 0, 0, zmask, nz), GRU_ERR_WRONG_MODE);
    CHECK_STATUS(gru_weight_dropout_mask(tm.m, ws, wsb, 0, 0, wmask, nw), GRU_ERR_WRONG_MODE);

    /* a model without them reports all-0 zoneout masks and all-1 DropConnect masks */
    {
        gru_config pc = make_config(3, 4, 1, 0, 1, 0, GRU_FLOAT32);
        gru_model *pm = NULL;
        size_t pb = 0;
        CHECK_OK(gru_create(&pc, &pm));
        CHECK_OK(gru_workspace_size(pm, T, B, 1, &pb));
        void *pws = malloc(pb);
        CHECK_OK(gru_forward(pm, 1, T, B, 0, x, NULL, NULL, out2, NULL, pws, pb));
        CHECK_OK(gru_zoneout_masks(pm, pws, pb, 0, 0, zmask, nz));
        CHECK_OK(gru_weight_dropout_mask(pm, pws, pb, 0, 0, wmask, nw));
        int zeros = 1, ones = 1;
        for (size_t i = 0; i < nz; i++) zeros &= zmask[i] == 0.0f;
        for (size_t i = 0; i < nw; i++) ones &= wmask[i] == 1.0f;
        CHECK_MSG(zeros && ones, "masks of a model without zoneout / weight_dropout");
        free(pws);
        gru_destroy(pm);
    }

    /* gru_quantize: zoneout refused, weight_dropout alone quantized */
    gru_model *q = NULL;
    CHECK_STATUS(gru_quantize(tm.m, GRU_INT8, &q), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_quantize(tm.m, GRU_BF16, &q), GRU_ERR_UNSUPPORTED);
    {
        gru_config wc = cfg;
        wc.zoneout = 0;
        gru_model *wm = NULL;
        CHECK_OK(gru_create(&wc, &wm));
        CHECK_OK(gru_quantize(wm, GRU_INT8, &q));
        gru_destroy(q);
        q = NULL;
        gru_destroy(wm);
    }

    /* model files: both rates round-trip; the loaded model's inference is bitwise */
    char path[64];
    snprintf(path, sizeof path, "/tmp/gru_reg_%ld.safetensors", (long)getpid());
    if (CHECK_OK(gru_save(tm.m, path))) {
        gru_model *lm = NULL;
        char msg[256];
        if (CHECK_OK(gru_load(path, &lm, msg, sizeof msg))) {
            gru_config lc;
            CHECK_OK(gru_get_config(lm, &lc));
            CHECK(lc.zoneout == 0.25 && lc.weight_dropout == 0.125);
            CHECK_OK(gru_forward(tm.m, 0, T, B, 0, x, NULL, NULL, out, NULL, NULL, 0));
            CHECK_OK(gru_forward(lm, 0, T, B, 0, x, NULL, NULL, out2, NULL, NULL, 0));
            CHECK_SAME("loaded model's inference", out2, out, sizeof out);
            gru_destroy(lm);
        }
        remove(path);
    }
    free(ws);
    tmodel_free(&tm);
}

void test_regularize(const char *isa)
{
    rng g = {4711};
    memset(max_err_train, 0, sizeof max_err_train);
    memset(max_err_infer, 0, sizeof max_err_infer);
    static const rcase cases[] = {
        /* I  H  L  D rev ra bf h0 len dtype          zo   wd   in   rec  T  B */
        {3, 5, 1, 1, 0, 1, 0, 1, 0, GRU_FLOAT64, 0.3, 0.0, 0.0, 0.0, 6, 3},
        {3, 5, 1, 1, 0, 0, 1, 1, 0, GRU_FLOAT64, 0.3, 0.0, 0.0, 0.0, 6, 3},
        {3, 5, 1, 1, 0, 1, 0, 0, 0, GRU_FLOAT64, 0.0, 0.4, 0.0, 0.0, 6, 3},
        {3, 5, 1, 1, 0, 0, 1, 1, 0, GRU_FLOAT64, 0.0, 0.4, 0.0, 0.0, 6, 3},
        {4, 6, 2, 2, 0, 1, 1, 1, 1, GRU_FLOAT64, 0.35, 0.3, 0.0, 0.0, 7, 4},
        {4, 6, 2, 2, 0, 0, 0, 1, 1, GRU_FLOAT64, 0.35, 0.3, 0.0, 0.0, 7, 4},
        {4, 6, 3, 1, 1, 1, 0, 1, 1, GRU_FLOAT64, 0.5, 0.2, 0.0, 0.0, 5, 3},
        {4, 6, 2, 1, 1, 0, 1, 0, 1, GRU_FLOAT64, 0.2, 0.5, 0.0, 0.0, 5, 3},
        {3, 7, 2, 1, 0, 1, 1, 1, 0, GRU_FLOAT64, 0.3, 0.3, 0.3, 0.4, 6, 3},
        {3, 7, 2, 2, 0, 0, 0, 1, 1, GRU_FLOAT64, 0.3, 0.3, 0.3, 0.4, 6, 3},
        {3, 5, 1, 1, 0, 1, 0, 1, 0, GRU_FLOAT32, 0.3, 0.0, 0.0, 0.0, 6, 3},
        {3, 5, 1, 1, 0, 0, 1, 1, 0, GRU_FLOAT32, 0.0, 0.4, 0.0, 0.0, 6, 3},
        {4, 6, 2, 2, 0, 1, 1, 1, 1, GRU_FLOAT32, 0.35, 0.3, 0.0, 0.0, 7, 4},
        {4, 6, 2, 1, 1, 0, 0, 1, 1, GRU_FLOAT32, 0.4, 0.25, 0.0, 0.2, 7, 4},
        /* sizes past the SIMD kernels' panels and vectors */
        {9, 37, 2, 1, 0, 1, 0, 1, 0, GRU_FLOAT32, 0.25, 0.25, 0.0, 0.0, 9, 5},
        {9, 37, 2, 2, 0, 0, 1, 1, 1, GRU_FLOAT64, 0.25, 0.25, 0.0, 0.0, 9, 5},
        {16, 64, 1, 1, 0, 1, 0, 1, 0, GRU_FLOAT64, 0.1, 0.6, 0.0, 0.0, 8, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        forward_case(isa, &cases[i], &g);
    for (int dt = 0; dt < 2; dt++)
        for (int ra = 0; ra < 2; ra++)
            for (int bi = 0; bi < 2; bi++)
                threads_case(isa, dt ? GRU_FLOAT64 : GRU_FLOAT32, ra, bi, &g);
    threshold_checks(&g);
    for (int dt = 0; dt < 2; dt++)
        for (int bf = 0; bf < 2; bf++)
            for (int w = 0; w < 3; w++)
                masks_case(isa, dt ? GRU_FLOAT64 : GRU_FLOAT32, bf, w, &g);
    api_checks(&g);
    printf("  regularize [%s]: max rel err vs reference: training f32 %.2g f64 %.2g; "
           "inference f32 %.2g f64 %.2g\n",
           isa, max_err_train[0], max_err_train[1], max_err_infer[0], max_err_infer[1]);
    check_set_ctx("%s", "");
}
