/*
 * test_backward.c - gru_backward against central finite differences in float64.
 *
 * loss = sum(output * G) + sum(h_n * Gh) with random G, Gh. grad_x, grad_h0 and every
 * parameter gradient (gru_grad_get) are compared with (loss(p + eps) - loss(p - eps)) /
 * (2 eps), eps = 1e-6, relative tolerance 1e-6 of the tensor's largest magnitude. With
 * dropout the loss is evaluated by training forwards preceded by gru_set_seed, so every
 * evaluation draws the same masks as the forward whose workspace backward reads.
 *
 * Also: gradients accumulate (a second backward doubles them), gru_zero_grad zeroes
 * them, backward twice on one workspace gives the same grad_x / grad_h0, grad_x and
 * grad_h0 are overwritten (they start as NaN), NULL grad_output / grad_h_n act as zeros,
 * NULL grad_x / grad_h0 leave the parameter gradients alone, a later forward into another
 * workspace does not disturb the first, and float32 gradients match float64 ones of the
 * same (float32-representable) model within 3e-5.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FD_EPS 1e-6
#define FD_EPS_LN 1e-5   /* layer_norm's fourth-order stencil: less rounding, O(e^4) */
#define FD_TOL 1e-6

typedef struct gcase {
    int64_t I, H, L;
    int D, bias, reset_after, batch_first, use_h0, mixed_lengths;
    int64_t T, B;
    double dropout;
    int extras; /* run the accumulation / NULL-argument / workspace checks */
    double in_drop, rec_drop; /* input_dropout, recurrent_dropout */
    double zo, wd;            /* zoneout, weight_dropout */
    int rev;                  /* reverse (D = 1) */
    int ln;                   /* layer_norm */
} gcase;

typedef struct lossctx {
    tmodel *tm;
    int64_t T, B;
    int batch_first;
    const int32_t *lengths;
    const double *G;  /* (T, B, D*H) or (B, T, D*H) */
    const double *Gh; /* (L*D, B, H) */
    double *out, *hn; /* scratch */
    void *ws;
    size_t wsb;
    uint64_t seed;
    size_t nout, nh;
} lossctx;

/* loss at the model's current parameters for inputs x, h0 (float64). */
static double loss_eval(const lossctx *c, const double *x, const double *h0)
{
    int st;
    if (c->tm->cfg.dropout > 0 || c->tm->cfg.input_dropout > 0 ||
        c->tm->cfg.recurrent_dropout > 0 || c->tm->cfg.zoneout > 0 ||
        c->tm->cfg.weight_dropout > 0) {
        gru_set_seed(c->tm->m, c->seed);
        st = gru_forward(c->tm->m, 1, c->T, c->B, c->batch_first, x, h0, c->lengths, c->out,
                         c->hn, c->ws, c->wsb);
    } else {
        st = gru_forward(c->tm->m, 0, c->T, c->B, c->batch_first, x, h0, c->lengths, c->out,
                         c->hn, NULL, 0);
    }
    if (st != GRU_OK)
        return NAN;
    double s = 0;
    for (size_t i = 0; i < c->nout; i++)
        s += c->out[i] * c->G[i];
    for (size_t i = 0; i < c->nh; i++)
        s += c->hn[i] * c->Gh[i];
    return s;
}

/* All parameter gradients of tm, in (l, d, kind) order, into one malloc'd array. */
static double *all_grads(tmodel *tm, size_t *total)
{
    size_t n = 0;
    for (int l = 0; l < tm->ref.L; l++)
        for (int d = 0; d < tm->ref.D; d++)
            for (int k = 0; k < REF_NKINDS; k++)
                n += ref_tensor_size(&tm->ref, l, k);
    double *a = malloc(n * sizeof(double));
    void *buf = malloc(n * sizeof(double));
    size_t off = 0;
    char name[64];
    for (int l = 0; l < tm->ref.L; l++)
        for (int d = 0; d < tm->ref.D; d++)
            for (int k = 0; k < REF_NKINDS; k++) {
                size_t m = ref_tensor_size(&tm->ref, l, k);
                if (!m)
                    continue;
                ref_tensor_name(name, sizeof name, l, d, k);
                int st = gru_grad_get(tm->m, name, buf, m);
                check_require(st == GRU_OK, __FILE__, __LINE__, "gru_grad_get(%s): %s", name,
                              gru_strerror(st));
                from_dtype(a + off, buf, m, tm->cfg.dtype);
                off += m;
            }
    free(buf);
    *total = n;
    return a;
}

static int set_tensor(tmodel *tm, int l, int d, int k)
{
    char name[64];
    ref_tensor_name(name, sizeof name, l, d, k);
    size_t n = ref_tensor_size(&tm->ref, l, k);
    return gru_param_set(tm->m, name, tm->ref.p[l][d][k], n) == GRU_OK;
}

/* The derivative of the loss along v[i] (v: x, h0 or a tensor of tm->ref, which
 * `push` (if not NULL) copies into the model after each change): central differences,
 * or for layer_norm models the fourth-order stencil (8 (L(+e) - L(-e)) - (L(+2e) -
 * L(-2e))) / (12 e). A layer normalisation of a row of near-equal values (h0 = 0: every
 * W_hh h is 0) has third derivatives of order eps_LN^-1.5 (3e7), which put the central
 * difference's own error (e^2/6 f''') at about 5e-6 of the gradient; the fourth-order
 * stencil's is below 1e-12 even with its larger step FD_EPS_LN (whose rounding error,
 * 1e-16 |loss| / e, matters for tiny gradients). *ok &= every push succeeded. */
static double fd_at(const lossctx *c, double *v, size_t i, double *x, double *h0,
                    int (*push)(tmodel *, int, int, int), int l, int d, int k, int *ok)
{
    const double keep = v[i];
    const int nsteps = c->tm->cfg.layer_norm ? 2 : 1;
    const double eps = c->tm->cfg.layer_norm ? FD_EPS_LN : FD_EPS;
    double diff[2];
    for (int s = 0; s < nsteps; s++) {
        const double e = eps * (double)(s + 1);
        v[i] = keep + e;
        if (push) *ok &= push(c->tm, l, d, k);
        const double lp = loss_eval(c, x, h0);
        v[i] = keep - e;
        if (push) *ok &= push(c->tm, l, d, k);
        const double lm = loss_eval(c, x, h0);
        diff[s] = lp - lm;
    }
    v[i] = keep;
    if (push) *ok &= push(c->tm, l, d, k);
    return nsteps == 1 ? diff[0] / (2 * eps) : (8 * diff[0] - diff[1]) / (12 * eps);
}

static void fd_vector(const lossctx *c, double *v, size_t n, double *fd, double *x,
                      double *h0)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        fd[i] = fd_at(c, v, i, x, h0, NULL, 0, 0, 0, &ok);
}

/* The largest finite-difference errors (relative, as CHECK_CLOSE) of the cases with
 * zoneout or weight_dropout, printed at the end of the section. */
static double fd_err_reg;

/* CHECK_CLOSE of a gradient vs finite differences, noting the error of zoneout /
 * weight_dropout cases. */
static void fd_check(const gcase *c, const char *what, const double *fd, const double *got,
                     size_t n)
{
    double e = 0;
    check_close_impl(what, fd, got, n, FD_TOL, &e, __FILE__, __LINE__);
    if ((c->zo > 0 || c->wd > 0) && e > fd_err_reg) fd_err_reg = e;
}

static void grad_case(const char *isa, const gcase *c, rng *g)
{
    const int64_t T = c->T, B = c->B, H = c->H, D = c->D, L = c->L;
    const size_t nx = (size_t)(T * B * c->I), nout = (size_t)(T * B * D * H);
    const size_t nh = (size_t)(L * D * B * H);
    const uint64_t seed = 4242;
    char ctxbase[400];
    snprintf(ctxbase, sizeof ctxbase,
             "backward isa=%s f64 I=%lld H=%lld L=%lld bidir=%d bias=%d reset_after=%d "
             "batch_first=%d h0=%d lengths=%s T=%lld B=%lld dropout=%g input_dropout=%g "
             "recurrent_dropout=%g zoneout=%g weight_dropout=%g reverse=%d layer_norm=%d",
             isa, (long long)c->I, (long long)H, (long long)L, c->D - 1, c->bias,
             c->reset_after, c->batch_first, c->use_h0, c->mixed_lengths ? "mixed" : "NULL",
             (long long)T, (long long)B, c->dropout, c->in_drop, c->rec_drop, c->zo, c->wd,
             c->rev, c->ln);
    check_set_ctx("%s", ctxbase);

    gru_config cfg = make_config(c->I, H, L, c->D == 2, c->bias, c->reset_after, GRU_FLOAT64);
    cfg.dropout = c->dropout;
    cfg.input_dropout = c->in_drop;
    cfg.recurrent_dropout = c->rec_drop;
    cfg.zoneout = c->zo;
    cfg.weight_dropout = c->wd;
    cfg.reverse = c->rev;
    cfg.layer_norm = c->ln;
    cfg.seed = seed;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.8))
        return;

    double *x = malloc(nx * sizeof(double)), *h0 = calloc(nh, sizeof(double));
    double *G = malloc(nout * sizeof(double)), *Gh = malloc(nh * sizeof(double));
    double *zeros_out = calloc(nout, sizeof(double)), *zeros_h = calloc(nh, sizeof(double));
    int32_t *len = malloc((size_t)B * sizeof(int32_t));
    rng_fill(g, x, nx, -1.5, 1.5);
    if (c->use_h0)
        rng_fill(g, h0, nh, -0.9, 0.9);
    rng_fill(g, G, nout, -1, 1);
    rng_fill(g, Gh, nh, -1, 1);
    for (int64_t b = 0; b < B; b++)
        len[b] = b == 0 ? (int32_t)T : b == 1 ? 1 : (int32_t)(1 + rng_next(g) % (uint64_t)T);
    const int32_t *lengths = c->mixed_lengths ? len : NULL;
    const double *h0p = c->use_h0 ? h0 : NULL; /* NULL: zeros, as h0's FD base */

    lossctx lc = {&tm, T, B, c->batch_first, lengths, G, Gh,
                  malloc(nout * sizeof(double)), malloc(nh * sizeof(double)),
                  NULL, 0, seed, nout, nh};
    double *gx = nan_doubles(nx), *gh0 = nan_doubles(nh);
    double *gx2 = nan_doubles(nx), *gh02 = nan_doubles(nh);
    double *fd = malloc((nx > nh ? nx : nh) * sizeof(double));
    double *ga = NULL, *gb = NULL, *x2 = NULL;
    void *ws = NULL, *ws2 = NULL;
    size_t wsb = 0, ng = 0, ng2 = 0;

    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb ? wsb : 8);
    ws2 = malloc(wsb ? wsb : 8);
    memset(ws, 0xFF, wsb); /* NaN bytes: backward must only read what forward wrote */
    memset(ws2, 0xFF, wsb);
    lc.ws = ws2; /* FD evaluations with dropout use the second buffer */
    lc.wsb = wsb;

    REQUIRE_OK(gru_set_seed(tm.m, seed), goto done);
    REQUIRE_OK(gru_forward(tm.m, 1, T, B, c->batch_first, x, h0p, lengths, lc.out, lc.hn, ws,
                           wsb), goto done);
    if (!CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, G, Gh, gx, gh0)))
        goto done;
    ga = all_grads(&tm, &ng);

    if (c->extras) {
        /* backward twice: same grad_x / grad_h0, parameter gradients doubled */
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, G, Gh, gx2, gh02));
        CHECK_SAME("grad_x (second backward) == grad_x", gx2, gx, nx * sizeof(double));
        CHECK_SAME("grad_h0 (second backward) == grad_h0", gh02, gh0, nh * sizeof(double));
        gb = all_grads(&tm, &ng2);
        for (size_t i = 0; i < ng; i++)
            gb[i] *= 0.5;
        CHECK_CLOSE("param grads after two backwards / 2", ga, gb, ng, 1e-12);
        free(gb);

        /* gru_zero_grad zeroes; a backward from zero repeats the first bitwise */
        CHECK_OK(gru_zero_grad(tm.m));
        gb = all_grads(&tm, &ng2);
        {
            int allzero = 1;
            for (size_t i = 0; i < ng2; i++)
                allzero &= gb[i] == 0.0;
            CHECK_MSG(allzero, "gru_zero_grad left a nonzero gradient");
        }
        free(gb);
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, G, Gh, NULL, NULL));
        gb = all_grads(&tm, &ng2);
        CHECK_SAME("param grads (grad_x, grad_h0 NULL, after zero_grad) == first backward",
                   gb, ga, ng * sizeof(double));
        free(gb);

        /* NULL grad_output == zeros; NULL grad_h_n == zeros */
        double *gxa = nan_doubles(nx), *gha = nan_doubles(nh);
        double *gxb = nan_doubles(nx), *ghb = nan_doubles(nh), *pa, *pb;
        CHECK_OK(gru_zero_grad(tm.m));
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, NULL, Gh, gxa, gha));
        pa = all_grads(&tm, &ng2);
        CHECK_OK(gru_zero_grad(tm.m));
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, zeros_out, Gh, gxb, ghb));
        pb = all_grads(&tm, &ng2);
        CHECK_CLOSE("grad_x (grad_output NULL vs zeros)", gxb, gxa, nx, 1e-15);
        CHECK_CLOSE("grad_h0 (grad_output NULL vs zeros)", ghb, gha, nh, 1e-15);
        CHECK_CLOSE("param grads (grad_output NULL vs zeros)", pb, pa, ng, 1e-15);
        free(pa);
        free(pb);
        CHECK_OK(gru_zero_grad(tm.m));
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, G, NULL, gxa, gha));
        pa = all_grads(&tm, &ng2);
        CHECK_OK(gru_zero_grad(tm.m));
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, G, zeros_h, gxb, ghb));
        pb = all_grads(&tm, &ng2);
        CHECK_CLOSE("grad_x (grad_h_n NULL vs zeros)", gxb, gxa, nx, 1e-15);
        CHECK_CLOSE("grad_h0 (grad_h_n NULL vs zeros)", ghb, gha, nh, 1e-15);
        CHECK_CLOSE("param grads (grad_h_n NULL vs zeros)", pb, pa, ng, 1e-15);
        free(pa);
        free(pb);
        free(gxa);
        free(gha);
        free(gxb);
        free(ghb);

        /* a training forward into another workspace leaves the first one valid */
        x2 = malloc(nx * sizeof(double));
        rng_fill(g, x2, nx, -1, 1);
        CHECK_OK(gru_forward(tm.m, 1, T, B, c->batch_first, x2, h0p, lengths, lc.out, lc.hn,
                             ws2, wsb));
        for (size_t i = 0; i < nx; i++)
            gx2[i] = NAN;
        CHECK_OK(gru_zero_grad(tm.m));
        CHECK_OK(gru_backward(tm.m, T, B, c->batch_first, x, ws, wsb, G, Gh, gx2, gh02));
        CHECK_SAME("grad_x from workspace 1 after a forward into workspace 2", gx2, gx,
                   nx * sizeof(double));
        gb = all_grads(&tm, &ng2);
        CHECK_SAME("param grads from workspace 1 after a forward into workspace 2", gb, ga,
                   ng * sizeof(double));
        free(gb);
        gb = NULL;
        CHECK_OK(gru_zero_grad(tm.m));
    }

    /* finite differences: x, h0 */
    fd_vector(&lc, x, nx, fd, x, h0);
    fd_check(c, "grad_x vs finite differences", fd, gx, nx);
    fd_vector(&lc, h0, nh, fd, x, h0);
    fd_check(c, "grad_h0 vs finite differences", fd, gh0, nh);

    /* finite differences: every parameter tensor */
    {
        size_t off = 0;
        char name[64], what[128];
        for (int l = 0; l < L; l++)
            for (int d = 0; d < D; d++)
                for (int k = 0; k < REF_NKINDS; k++) {
                    size_t m = ref_tensor_size(&tm.ref, l, k);
                    if (!m)
                        continue;
                    double *p = tm.ref.p[l][d][k];
                    double *fdp = malloc(m * sizeof(double));
                    int ok = 1;
                    for (size_t i = 0; i < m && ok; i++)
                        fdp[i] = fd_at(&lc, p, i, x, h0, set_tensor, l, d, k, &ok);
                    ref_tensor_name(name, sizeof name, l, d, k);
                    snprintf(what, sizeof what, "grad %s vs finite differences", name);
                    if (check_require(ok, __FILE__, __LINE__, "gru_param_set failed"))
                        fd_check(c, what, fdp, ga + off, m);
                    free(fdp);
                    off += m;
                }
    }

done:
    free(lc.out);
    free(lc.hn);
    free(ws);
    free(ws2);
    free(x);
    free(x2);
    free(h0);
    free(G);
    free(Gh);
    free(zeros_out);
    free(zeros_h);
    free(len);
    free(gx);
    free(gh0);
    free(gx2);
    free(gh02);
    free(fd);
    free(ga);
    tmodel_free(&tm);
}

/* float32 backward vs float64 backward of the same model and inputs (all values
 * float32-representable), tolerance 3e-5 of each tensor's largest magnitude (1e-4 for
 * layer_norm). */
static void grad_f32_case(const char *isa, const gcase *c, rng *g)
{
    const int64_t T = c->T, B = c->B, H = c->H, D = c->D, L = c->L;
    const size_t nx = (size_t)(T * B * c->I), nout = (size_t)(T * B * D * H);
    const size_t nh = (size_t)(L * D * B * H);
    check_set_ctx("backward f32 vs f64 isa=%s I=%lld H=%lld L=%lld bidir=%d bias=%d "
                  "reset_after=%d batch_first=%d h0=%d lengths=%s T=%lld B=%lld layer_norm=%d",
                  isa, (long long)c->I, (long long)H, (long long)L, c->D - 1, c->bias,
                  c->reset_after, c->batch_first, c->use_h0,
                  c->mixed_lengths ? "mixed" : "NULL", (long long)T, (long long)B, c->ln);
    gru_config cfg = make_config(c->I, H, L, c->D == 2, c->bias, c->reset_after, GRU_FLOAT32);
    cfg.layer_norm = c->ln;
    tmodel t32, t64;
    if (!tmodel_create(&t32, &cfg, g, 0.8))
        return;
    if (!tmodel_clone(&t64, &t32, GRU_FLOAT64)) {
        tmodel_free(&t32);
        return;
    }
    double *x = malloc(nx * sizeof(double)), *h0 = malloc(nh * sizeof(double));
    double *G = malloc(nout * sizeof(double)), *Gh = malloc(nh * sizeof(double));
    int32_t *len = malloc((size_t)B * sizeof(int32_t));
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, h0, nh, -0.9, 0.9);
    rng_fill(g, G, nout, -1, 1);
    rng_fill(g, Gh, nh, -1, 1);
    round_to_dtype(x, nx, GRU_FLOAT32);
    round_to_dtype(h0, nh, GRU_FLOAT32);
    round_to_dtype(G, nout, GRU_FLOAT32);
    round_to_dtype(Gh, nh, GRU_FLOAT32);
    for (int64_t b = 0; b < B; b++)
        len[b] = b == 0 ? (int32_t)T : b == 1 ? 1 : (int32_t)(1 + rng_next(g) % (uint64_t)T);
    const int32_t *lengths = c->mixed_lengths ? len : NULL;

    double *gx64 = nan_doubles(nx), *gh64 = nan_doubles(nh), *gx = malloc(nx * sizeof(double));
    double *gh = malloc(nh * sizeof(double)), *p32 = NULL, *p64 = NULL;
    double *out64 = malloc(nout * sizeof(double)), *hn64 = malloc(nh * sizeof(double));
    void *x32 = to_dtype(x, nx, GRU_FLOAT32), *h032 = c->use_h0 ? to_dtype(h0, nh, GRU_FLOAT32) : NULL;
    void *G32 = to_dtype(G, nout, GRU_FLOAT32), *Gh32 = to_dtype(Gh, nh, GRU_FLOAT32);
    void *gx32 = nan_dtype(nx, GRU_FLOAT32), *gh32 = nan_dtype(nh, GRU_FLOAT32);
    void *out32 = nan_dtype(nout, GRU_FLOAT32), *hn32 = nan_dtype(nh, GRU_FLOAT32);
    size_t w32 = 0, w64 = 0, n1, n2;
    void *ws32 = NULL, *ws64 = NULL;
    REQUIRE_OK(gru_workspace_size(t32.m, T, B, 1, &w32), goto done);
    REQUIRE_OK(gru_workspace_size(t64.m, T, B, 1, &w64), goto done);
    ws32 = malloc(w32 ? w32 : 8);
    ws64 = malloc(w64 ? w64 : 8);
    REQUIRE_OK(gru_forward(t64.m, 1, T, B, c->batch_first, x, c->use_h0 ? h0 : NULL, lengths,
                           out64, hn64, ws64, w64), goto done);
    REQUIRE_OK(gru_backward(t64.m, T, B, c->batch_first, x, ws64, w64, G, Gh, gx64, gh64),
               goto done);
    REQUIRE_OK(gru_forward(t32.m, 1, T, B, c->batch_first, x32, h032, lengths, out32, hn32,
                           ws32, w32), goto done);
    CHECK_OK(gru_backward(t32.m, T, B, c->batch_first, x32, ws32, w32, G32, Gh32, gx32, gh32));
    from_dtype(gx, gx32, nx, GRU_FLOAT32);
    from_dtype(gh, gh32, nh, GRU_FLOAT32);
    /* layer_norm: 1 / sqrt(var + eps) scales the rounding of rows of near-equal values */
    const double tol = c->ln ? 1e-4 : 3e-5;
    CHECK_CLOSE("grad_x f32 vs f64", gx64, gx, nx, tol);
    CHECK_CLOSE("grad_h0 f32 vs f64", gh64, gh, nh, tol);
    p32 = all_grads(&t32, &n1);
    p64 = all_grads(&t64, &n2);
    {
        /* per tensor */
        size_t off = 0;
        char name[64], what[128];
        for (int l = 0; l < L; l++)
            for (int d = 0; d < D; d++)
                for (int k = 0; k < REF_NKINDS; k++) {
                    size_t m = ref_tensor_size(&t64.ref, l, k);
                    if (!m)
                        continue;
                    ref_tensor_name(name, sizeof name, l, d, k);
                    snprintf(what, sizeof what, "grad %s f32 vs f64", name);
                    CHECK_CLOSE(what, p64 + off, p32 + off, m, tol);
                    off += m;
                }
    }
done:
    free(x);
    free(h0);
    free(G);
    free(Gh);
    free(len);
    free(gx64);
    free(gh64);
    free(gx);
    free(gh);
    free(p32);
    free(p64);
    free(out64);
    free(hn64);
    free(x32);
    free(h032);
    free(G32);
    free(Gh32);
    free(gx32);
    free(gh32);
    free(out32);
    free(hn32);
    free(ws32);
    free(ws64);
    tmodel_free(&t32);
    tmodel_free(&t64);
}

void test_backward(const char *isa)
{
    rng g = {777};
    static const gcase cases[] = {
        /* I  H  L  D bias ra bf h0 mixed T  B  dropout extras in_drop rec_drop */
        {3, 4, 1, 1, 1, 1, 0, 1, 0, 4, 2, 0.0, 1, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {3, 4, 1, 1, 1, 0, 1, 1, 1, 4, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {2, 3, 1, 2, 0, 1, 1, 0, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {2, 3, 1, 1, 0, 0, 0, 0, 0, 3, 2, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {3, 4, 2, 2, 1, 1, 0, 1, 1, 5, 3, 0.0, 1, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {3, 4, 2, 2, 1, 0, 1, 1, 1, 5, 3, 0.0, 1, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {3, 3, 2, 2, 0, 1, 0, 0, 1, 4, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {3, 3, 2, 2, 0, 0, 1, 1, 1, 4, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {4, 3, 3, 1, 1, 0, 1, 1, 0, 4, 2, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {5, 2, 3, 2, 1, 1, 0, 1, 1, 3, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {6, 7, 2, 2, 1, 0, 0, 1, 1, 6, 4, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        /* dropout between layers, masks fixed by gru_set_seed */
        {3, 4, 2, 2, 1, 1, 0, 1, 1, 5, 3, 0.4, 1, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {3, 4, 3, 1, 1, 0, 1, 1, 1, 4, 3, 0.25, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        {2, 3, 2, 2, 0, 0, 0, 0, 1, 4, 2, 0.5, 0, 0.0, 0.0, 0.0, 0.0, 0, 0},
        /* Keras-style input and recurrent dropout (masks per sequence, fixed in time),
         * both variants, with and without inter-layer dropout */
        {3, 4, 1, 1, 1, 1, 0, 1, 1, 5, 3, 0.0, 1, 0.3, 0.0, 0.0, 0.0, 0, 0},
        {3, 4, 1, 1, 1, 0, 1, 1, 1, 5, 3, 0.0, 0, 0.0, 0.4, 0.0, 0.0, 0, 0},
        {3, 4, 1, 1, 1, 1, 1, 1, 1, 5, 3, 0.0, 1, 0.3, 0.4, 0.0, 0.0, 0, 0},
        {3, 4, 1, 1, 0, 0, 0, 0, 1, 5, 3, 0.0, 0, 0.3, 0.4, 0.0, 0.0, 0, 0},
        {3, 4, 2, 2, 1, 1, 0, 1, 1, 5, 3, 0.0, 0, 0.5, 0.5, 0.0, 0.0, 0, 0},
        {3, 4, 2, 2, 1, 0, 1, 1, 1, 4, 3, 0.3, 0, 0.2, 0.3, 0.0, 0.0, 0, 0},
        {4, 3, 3, 1, 1, 1, 1, 0, 1, 4, 2, 0.2, 0, 0.4, 0.2, 0.0, 0.0, 0, 0},
        /* zoneout and weight_dropout (masks fixed by gru_set_seed): both variants,
         * layers, bidirectional, reverse, lengths, batch_first, with the other dropouts */
        {3, 4, 1, 1, 1, 1, 0, 1, 0, 5, 3, 0.0, 1, 0.0, 0.0, 0.4, 0.0, 0, 0},
        {3, 4, 1, 1, 1, 0, 1, 1, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.4, 0.0, 0, 0},
        {3, 4, 1, 1, 1, 1, 1, 1, 1, 5, 3, 0.0, 1, 0.0, 0.0, 0.0, 0.4, 0, 0},
        {3, 4, 1, 1, 1, 0, 0, 1, 0, 5, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.4, 0, 0},
        {3, 4, 2, 2, 1, 1, 0, 1, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.3, 0.3, 0, 0},
        {3, 4, 2, 2, 1, 0, 1, 1, 1, 4, 3, 0.0, 0, 0.0, 0.0, 0.3, 0.3, 0, 0},
        {3, 4, 2, 1, 0, 1, 1, 1, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.5, 0.2, 1, 0},
        {3, 4, 3, 1, 1, 0, 0, 0, 1, 4, 2, 0.3, 0, 0.0, 0.3, 0.3, 0.3, 1, 0},
        {3, 4, 2, 2, 1, 1, 1, 1, 1, 4, 3, 0.2, 0, 0.3, 0.3, 0.25, 0.35, 0, 0},
        {2, 5, 2, 2, 0, 0, 0, 1, 1, 4, 3, 0.0, 0, 0.3, 0.4, 0.35, 0.25, 0, 0},
        /* layer_norm: both variants, layers, bidirectional, lengths, batch_first, the
         * three dropouts */
        {3, 4, 1, 1, 1, 1, 0, 1, 0, 4, 2, 0.0, 1, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {3, 4, 1, 1, 1, 0, 1, 1, 1, 4, 3, 0.0, 1, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {2, 3, 1, 2, 0, 1, 1, 0, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {2, 3, 1, 1, 0, 0, 0, 0, 0, 3, 2, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {3, 4, 2, 2, 1, 1, 0, 1, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {3, 4, 2, 2, 1, 0, 1, 1, 1, 5, 3, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {4, 3, 3, 1, 1, 0, 1, 1, 0, 4, 2, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {6, 7, 2, 2, 1, 0, 0, 1, 1, 6, 4, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {3, 4, 2, 2, 1, 1, 0, 1, 1, 5, 3, 0.4, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {3, 4, 1, 1, 1, 1, 1, 1, 1, 5, 3, 0.0, 0, 0.3, 0.4, 0.0, 0.0, 0, 1},
        {3, 4, 2, 2, 1, 0, 1, 1, 1, 4, 3, 0.3, 0, 0.2, 0.3, 0.0, 0.0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        grad_case(isa, &cases[i], &g);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (cases[i].dropout == 0.0 && cases[i].in_drop == 0.0 && cases[i].rec_drop == 0.0)
            grad_f32_case(isa, &cases[i], &g);
    /* random small configurations, dropout included */
    for (int i = 0; i < 16; i++) {
        gcase c = {(int64_t)(1 + rng_next(&g) % 5), (int64_t)(1 + rng_next(&g) % 5),
                   (int64_t)(1 + rng_next(&g) % 3), (int)(1 + rng_next(&g) % 2),
                   (int)(rng_next(&g) % 2), (int)(rng_next(&g) % 2), (int)(rng_next(&g) % 2),
                   (int)(rng_next(&g) % 2), (int)(rng_next(&g) % 2),
                   (int64_t)(1 + rng_next(&g) % 5), (int64_t)(1 + rng_next(&g) % 3),
                   rng_next(&g) % 3 == 0 ? 0.3 : 0.0, (int)(rng_next(&g) % 4 == 0),
                   rng_next(&g) % 3 == 0 ? 0.35 : 0.0, rng_next(&g) % 3 == 0 ? 0.45 : 0.0,
                   0.0, 0.0, 0, i % 2};   /* every other one layer_norm */
        grad_case(isa, &c, &g);
        if (c.dropout == 0.0 && c.in_drop == 0.0 && c.rec_drop == 0.0)
            grad_f32_case(isa, &c, &g);
    }
    /* layer_norm, H = 21 (after the random ones, whose draws they would shift): rows of
     * 63, 42 and 21 take the SIMD statistics' groups of four vectors, single vectors
     * and scalar tails (simd_impl.h) */
    static const gcase ln_wide[] = {
        {3, 21, 1, 1, 1, 1, 0, 1, 1, 3, 2, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
        {3, 21, 1, 1, 1, 0, 1, 1, 1, 3, 2, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0, 1},
    };
    for (size_t i = 0; i < sizeof ln_wide / sizeof ln_wide[0]; i++) {
        grad_case(isa, &ln_wide[i], &g);
        grad_f32_case(isa, &ln_wide[i], &g);
    }
    printf("  backward [%s]: zoneout / weight_dropout cases: max rel err vs finite "
           "differences %.2g\n", isa, fd_err_reg);
    fd_err_reg = 0;
    check_set_ctx("%s", "");
}
