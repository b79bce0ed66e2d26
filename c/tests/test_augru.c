/*
 * test_augru.c - AUGRU (gru_config.augru = 1): the GRU with DIEN's attentional update
 * gate, per kernel set.
 *
 *  - forward: gru_forward_att against the float64 reference (testlib.c, DIEN's form
 *    u' = a (1 - z), h' = (1 - u') h + u' n) over both reset placements, 1-2 layers,
 *    bidirectional, reverse, lengths (NaN attention and input at padded steps),
 *    batch_first, float64 (rel. <= 1e-12) and float32 (<= 1e-5); a training forward
 *    gives the inference outputs bitwise; a = 1 is the plain GRU (float64 <= 1e-14), a = 0
 *    keeps the state bitwise;
 *  - backward: gru_backward_att against central finite differences (eps 1e-6, rel. tol
 *    1e-6) of loss = sum(output G) + sum(h_n Gh): grad_x, grad_h0, grad_attention (d/da)
 *    and every parameter gradient, with and without every dropout; grad_attention is 0 at
 *    padded steps and overwritten; float32 gradients within 1e-4 of float64's;
 *  - gru_step_att over a sequence == gru_forward_att bitwise;
 *  - 1, 2 and 3 threads (every call threaded) give bitwise the same outputs, h_n,
 *    grad_x, grad_h0, grad_attention and parameter gradients;
 *  - files: gru_save / gru_load keep augru (bitwise the same results); "augru":"2" and
 *    augru in a quantized file are refused;
 *  - errors: the plain calls on an augru model and the _att calls on a plain one
 *    (GRU_ERR_UNSUPPORTED), NULL and misaligned attention / grad_attention, augru = 2,
 *    gru_quantize; the training workspace holds T*B more elements.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FD_EPS 1e-6
#define FD_TOL 1e-6

/* The largest relative error per tensor over a section's cases, printed at its end. */
enum { E_OUT64, E_HN64, E_OUT32, E_HN32, E_A1, E_GX, E_GH0, E_GA, E_GP, E_GA32, E_N };
static const char *const ename[E_N] = {"output f64", "h_n f64", "output f32", "h_n f32",
                                       "a=1 vs plain", "FD grad_x", "FD grad_h0",
                                       "FD grad_attention", "FD params",
                                       "f32 grad_attention"};
static double emax[E_N];
#define CLOSE_T(slot, what, ref, got, n, tol)                                          \
    do {                                                                               \
        double e_ = 0;                                                                 \
        check_close_impl(what, ref, got, n, tol, &e_, __FILE__, __LINE__);            \
        if (!(e_ <= emax[slot])) emax[slot] = e_;                                      \
    } while (0)

typedef struct acase {
    int64_t I, H, L;
    int D, reset_after, reverse, batch_first, lengths;
    int64_t T, B;
    double dropout, in_drop, rec_drop;
} acase;

static gru_config acase_config(const acase *c, int dtype)
{
    gru_config cfg = make_config(c->I, c->H, c->L, c->D == 2, 1, c->reset_after, dtype);
    cfg.reverse = c->reverse;
    cfg.dropout = c->dropout;
    cfg.input_dropout = c->in_drop;
    cfg.recurrent_dropout = c->rec_drop;
    cfg.augru = 1;
    cfg.seed = 77;
    return cfg;
}

static void acase_ctx(const char *what, const char *isa, int dtype, const acase *c)
{
    check_set_ctx("augru %s isa=%s %s I=%lld H=%lld L=%lld D=%d reset_after=%d reverse=%d "
                  "batch_first=%d lengths=%d T=%lld B=%lld dropout=%g/%g/%g",
                  what, isa, dtype == GRU_FLOAT32 ? "f32" : "f64", (long long)c->I,
                  (long long)c->H, (long long)c->L, c->D, c->reset_after, c->reverse,
                  c->batch_first, c->lengths, (long long)c->T, (long long)c->B, c->dropout,
                  c->in_drop, c->rec_drop);
}

/* Row (t, b) of a (T, B) / (B, T) tensor. */
static size_t arow(const acase *c, int64_t t, int64_t b)
{
    return (size_t)(c->batch_first ? b * c->T + t : t * c->B + b);
}

/* Lengths: sequence 0 full, 1 of length 1, the others random in 1..T. */
static void make_lengths(rng *g, const acase *c, int32_t *len)
{
    for (int64_t b = 0; b < c->B; b++)
        len[b] = b == 0 ? (int32_t)c->T : b == 1 ? 1 : (int32_t)(1 + rng_next(g) % (uint64_t)c->T);
}

/* A plain model (augru 0) with the parameters of tm. */
static gru_model *plain_copy(const tmodel *tm)
{
    gru_config cfg = tm->cfg;
    cfg.augru = 0;
    gru_model *p = NULL;
    if (gru_create(&cfg, &p) != GRU_OK) return NULL;
    size_t n = 0;
    gru_param_count(tm->m, &n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        int ndim;
        int64_t shape[2];
        gru_param_info(tm->m, i, &name, &ndim, shape);
        const size_t count = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
        void *buf = malloc(count * dtype_size(tm->cfg.dtype));
        gru_param_get(tm->m, name, buf, count);
        gru_param_set(p, name, buf, count);
        free(buf);
    }
    return p;
}

/* ---- forward ------------------------------------------------------------------------- */

static void forward_case(const char *isa, int dt, const acase *c, rng *g)
{
    const int64_t T = c->T, B = c->B, H = c->H, DH = c->D * H;
    const size_t nx = (size_t)(T * B * c->I), nout = (size_t)(T * B * DH);
    const size_t nh = (size_t)(c->L * c->D * B * H), na = (size_t)(T * B);
    const double tol = dt == GRU_FLOAT64 ? 1e-12 : 1e-5;
    acase_ctx("forward", isa, dt, c);
    gru_config cfg = acase_config(c, dt);
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.7)) return;
    double *x = malloc(nx * sizeof(double)), *h0 = malloc(nh * sizeof(double));
    double *att = malloc(na * sizeof(double)), *ones = malloc(na * sizeof(double));
    double *ref_out = malloc(nout * sizeof(double)), *ref_hn = malloc(nh * sizeof(double));
    double *got = malloc((nout > nh ? nout : nh) * sizeof(double));
    int32_t len[64];
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, h0, nh, -0.9, 0.9);
    rng_fill(g, att, na, -0.25, 1.25);   /* scores outside [0, 1] are values too */
    for (size_t i = 0; i < na; i++) ones[i] = 1.0;
    round_to_dtype(x, nx, dt);
    round_to_dtype(h0, nh, dt);
    round_to_dtype(att, na, dt);
    make_lengths(g, c, len);
    const int32_t *lengths = c->lengths ? len : NULL;
    tm.ref.att = att;
    ref_forward(&tm.ref, T, B, c->batch_first, x, h0, lengths, ref_out, ref_hn);
    /* the library's inputs: NaN in x and attention at padded steps (never read) */
    if (lengths)
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = len[b]; t < T; t++) {
                att[arow(c, t, b)] = NAN;
                for (int64_t k = 0; k < c->I; k++) x[arow(c, t, b) * (size_t)c->I + (size_t)k] = NAN;
            }
    void *xd = to_dtype(x, nx, dt), *h0d = to_dtype(h0, nh, dt), *ad = to_dtype(att, na, dt);
    void *od = malloc(nout * dtype_size(dt)), *hd = malloc(nh * dtype_size(dt));
    void *od2 = malloc(nout * dtype_size(dt)), *hd2 = malloc(nh * dtype_size(dt));
    void *ws = NULL;
    size_t wsb = 0;
    gru_model *plain = NULL;

    REQUIRE_OK(gru_forward_att(tm.m, 0, T, B, c->batch_first, xd, ad, h0d, lengths, od, hd,
                               NULL, 0), goto done);
    from_dtype(got, od, nout, dt);
    CLOSE_T(dt == GRU_FLOAT64 ? E_OUT64 : E_OUT32, "output vs reference", ref_out, got, nout,
            tol);
    from_dtype(got, hd, nh, dt);
    CLOSE_T(dt == GRU_FLOAT64 ? E_HN64 : E_HN32, "h_n vs reference", ref_hn, got, nh, tol);

    /* a training forward (no dropout) computes the same bits */
    if (c->dropout == 0 && c->in_drop == 0 && c->rec_drop == 0) {
        REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
        ws = malloc(wsb);
        REQUIRE_OK(gru_forward_att(tm.m, 1, T, B, c->batch_first, xd, ad, h0d, lengths, od2,
                                   hd2, ws, wsb), goto done);
        CHECK_SAME("training output == inference output", od2, od, nout * dtype_size(dt));
        CHECK_SAME("training h_n == inference h_n", hd2, hd, nh * dtype_size(dt));
    }

    /* a = 1: the plain GRU (up to the rounding of the two blends) */
    if (dt == GRU_FLOAT64 && c->dropout == 0) {
        void *o1 = malloc(nout * sizeof(double)), *h1 = malloc(nh * sizeof(double));
        double *r1 = malloc(nout * sizeof(double)), *g1 = malloc(nout * sizeof(double));
        plain = plain_copy(&tm);
        REQUIRE(plain != NULL, goto a1_done);
        REQUIRE_OK(gru_forward_att(tm.m, 0, T, B, c->batch_first, xd, ones, h0d, lengths, o1,
                                   h1, NULL, 0), goto a1_done);
        REQUIRE_OK(gru_forward(plain, 0, T, B, c->batch_first, xd, h0d, lengths, od2, hd2,
                               NULL, 0), goto a1_done);
        from_dtype(g1, o1, nout, dt);
        from_dtype(r1, od2, nout, dt);
        CLOSE_T(E_A1, "a = 1 output vs plain GRU", r1, g1, nout, 1e-14);
    a1_done:
        free(o1); free(h1); free(r1); free(g1);
    }

    /* a = 0: the state never changes (z' = 1 exactly), bitwise */
    {
        void *zd = calloc(na, dtype_size(dt));
        const size_t es = dtype_size(dt);
        REQUIRE_OK(gru_forward_att(tm.m, 0, T, B, c->batch_first, xd, zd, h0d, lengths, od2,
                                   hd2, NULL, 0), goto a0_done);
        CHECK_SAME("a = 0: h_n == h0", hd2, h0d, nh * es);
        /* the last layer's output at every (valid) step is its h0 */
        int ok = 1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < (lengths ? lengths[b] : T); t++)
                for (int64_t d = 0; d < c->D; d++) {
                    const size_t k = (size_t)((c->L - 1) * c->D + d);
                    ok &= memcmp((char *)od2 + (arow(c, t, b) * (size_t)DH + (size_t)(d * H)) * es,
                                 (char *)h0d + ((k * (size_t)B + (size_t)b) * (size_t)H) * es,
                                 (size_t)H * es) == 0;
                }
        CHECK_MSG(ok, "a = 0: every output is the last layer's h0");
    a0_done:
        free(zd);
    }
done:
    gru_destroy(plain);
    free(x); free(h0); free(att); free(ones); free(ref_out); free(ref_hn); free(got);
    free(xd); free(h0d); free(ad); free(od); free(hd); free(od2); free(hd2); free(ws);
    tmodel_free(&tm);
}

/* ---- backward: finite differences ---------------------------------------------------- */

typedef struct lctx {
    tmodel *tm;
    const acase *c;
    const int32_t *lengths;
    const double *G, *Gh;
    double *out, *hn;
    void *ws;
    size_t wsb, nout, nh;
} lctx;

static double loss_eval(const lctx *l, const double *x, const double *att, const double *h0)
{
    const acase *c = l->c;
    int st;
    if (c->dropout > 0 || c->in_drop > 0 || c->rec_drop > 0) {
        gru_set_seed(l->tm->m, 77);
        st = gru_forward_att(l->tm->m, 1, c->T, c->B, c->batch_first, x, att, h0, l->lengths,
                             l->out, l->hn, l->ws, l->wsb);
    } else {
        st = gru_forward_att(l->tm->m, 0, c->T, c->B, c->batch_first, x, att, h0, l->lengths,
                             l->out, l->hn, NULL, 0);
    }
    if (st != GRU_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < l->nout; i++) s += l->out[i] * l->G[i];
    for (size_t i = 0; i < l->nh; i++) s += l->hn[i] * l->Gh[i];
    return s;
}

/* fd[i] = d loss / d v[i] (v is x, att or h0, the others fixed). */
static void fd_of(const lctx *l, double *v, size_t n, double *fd, double *x, double *att,
                  double *h0)
{
    for (size_t i = 0; i < n; i++) {
        const double keep = v[i];
        v[i] = keep + FD_EPS;
        const double lp = loss_eval(l, x, att, h0);
        v[i] = keep - FD_EPS;
        const double lm = loss_eval(l, x, att, h0);
        v[i] = keep;
        fd[i] = (lp - lm) / (2 * FD_EPS);
    }
}

/* Every parameter gradient of m (state-dict order) into a malloc'd array of doubles. */
static double *param_grads(gru_model *m, int dt, size_t *total)
{
    size_t n = 0, count = 0, off = 0;
    gru_param_count(m, &n);
    for (size_t i = 0; i < n; i++) {
        int64_t shape[2];
        int ndim;
        gru_param_info(m, i, NULL, &ndim, shape);
        count += (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    }
    double *a = malloc(count * sizeof(double));
    void *buf = malloc(count * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const char *name;
        int64_t shape[2];
        int ndim;
        gru_param_info(m, i, &name, &ndim, shape);
        const size_t k = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
        gru_grad_get(m, name, buf, k);
        from_dtype(a + off, buf, k, dt);
        off += k;
    }
    free(buf);
    *total = count;
    return a;
}

/* FD of every parameter of the float64 model (through gru_param_data). */
static void fd_params(const lctx *l, double *fd, double *x, double *att, double *h0)
{
    gru_model *m = l->tm->m;
    size_t n = 0, off = 0;
    gru_param_count(m, &n);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        void *data;
        size_t count;
        gru_param_info(m, i, &name, NULL, NULL);
        gru_param_data(m, name, &data, &count);
        double *p = data;
        for (size_t k = 0; k < count; k++) {
            const double keep = p[k];
            p[k] = keep + FD_EPS;
            gru_params_changed(m, name);
            const double lp = loss_eval(l, x, att, h0);
            p[k] = keep - FD_EPS;
            gru_params_changed(m, name);
            const double lm = loss_eval(l, x, att, h0);
            p[k] = keep;
            gru_params_changed(m, name);
            fd[off++] = (lp - lm) / (2 * FD_EPS);
        }
    }
}

static void backward_case(const char *isa, const acase *c, rng *g)
{
    const int64_t T = c->T, B = c->B, H = c->H, DH = c->D * H;
    const size_t nx = (size_t)(T * B * c->I), nout = (size_t)(T * B * DH);
    const size_t nh = (size_t)(c->L * c->D * B * H), na = (size_t)(T * B);
    acase_ctx("backward", isa, GRU_FLOAT64, c);
    gru_config cfg = acase_config(c, GRU_FLOAT64);
    tmodel tm, t32;
    int have32 = 0;
    if (!tmodel_create(&tm, &cfg, g, 0.7)) return;
    double *x = malloc(nx * sizeof(double)), *h0 = malloc(nh * sizeof(double));
    double *att = malloc(na * sizeof(double)), *G = malloc(nout * sizeof(double));
    double *Gh = malloc(nh * sizeof(double));
    double *gx = nan_doubles(nx), *gh0 = nan_doubles(nh), *ga = nan_doubles(na);
    size_t big = nx > nh ? nx : nh;
    big = big > na ? big : na;
    double *fd = malloc(big * sizeof(double)), *gp = NULL, *fdp = NULL;
    int32_t len[64];
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, h0, nh, -0.9, 0.9);
    rng_fill(g, att, na, 0.0, 1.0);
    rng_fill(g, G, nout, -1, 1);
    rng_fill(g, Gh, nh, -1, 1);
    make_lengths(g, c, len);
    lctx l = {&tm, c, c->lengths ? len : NULL, G, Gh, malloc(nout * sizeof(double)),
              malloc(nh * sizeof(double)), NULL, 0, nout, nh};
    void *ws = NULL;
    size_t wsb = 0, np = 0;
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb);
    l.ws = malloc(wsb);
    l.wsb = wsb;
    memset(ws, 0xFF, wsb);
    gru_set_seed(tm.m, 77);
    REQUIRE_OK(gru_forward_att(tm.m, 1, T, B, c->batch_first, x, att, h0, l.lengths, l.out,
                               l.hn, ws, wsb), goto done);
    REQUIRE_OK(gru_backward_att(tm.m, T, B, c->batch_first, x, ws, wsb, G, Gh, gx, gh0, ga),
               goto done);
    gp = param_grads(tm.m, GRU_FLOAT64, &np);

    /* grad_attention alone (NULL grad_x, grad_h0) is the same; it is overwritten */
    {
        double *ga2 = nan_doubles(na);
        CHECK_OK(gru_backward_att(tm.m, T, B, c->batch_first, x, ws, wsb, G, Gh, NULL, NULL,
                                  ga2));
        CHECK_SAME("grad_attention (second backward, NULL grad_x) == first", ga2, ga,
                   na * sizeof(double));
        free(ga2);
    }
    fd_of(&l, x, nx, fd, x, att, h0);
    CLOSE_T(E_GX, "grad_x vs FD", fd, gx, nx, FD_TOL);
    fd_of(&l, h0, nh, fd, x, att, h0);
    CLOSE_T(E_GH0, "grad_h0 vs FD", fd, gh0, nh, FD_TOL);
    fd_of(&l, att, na, fd, x, att, h0);
    CLOSE_T(E_GA, "grad_attention vs FD", fd, ga, na, FD_TOL);
    fdp = malloc(np * sizeof(double));
    fd_params(&l, fdp, x, att, h0);
    CLOSE_T(E_GP, "parameter gradients vs FD", fdp, gp, np, FD_TOL);
    if (l.lengths) {
        int zero = 1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = len[b]; t < T; t++) zero &= ga[arow(c, t, b)] == 0.0;
        CHECK_MSG(zero, "grad_attention is 0 at padded steps");
    }

    /* float32: the same model rounded, gradients within 1e-4 of float64's */
    if (c->dropout == 0 && c->in_drop == 0 && c->rec_drop == 0) {
        tmodel t64;
        gru_config c64 = cfg;
        if (!tmodel_create(&t64, &c64, g, 0.7)) goto done;
        for (int ll = 0; ll < t64.ref.L; ll++)
            for (int d = 0; d < t64.ref.D; d++)
                for (int k = 0; k < 4; k++)
                    round_to_dtype(t64.ref.p[ll][d][k], ref_tensor_size(&t64.ref, ll, k),
                                   GRU_FLOAT32);
        tmodel_push(&t64);
        have32 = tmodel_clone(&t32, &t64, GRU_FLOAT32);
        double *xr = dup_doubles(x, nx), *ar = dup_doubles(att, na), *hr = dup_doubles(h0, nh);
        round_to_dtype(xr, nx, GRU_FLOAT32);
        round_to_dtype(ar, na, GRU_FLOAT32);
        round_to_dtype(hr, nh, GRU_FLOAT32);
        void *xf = to_dtype(xr, nx, GRU_FLOAT32), *af = to_dtype(ar, na, GRU_FLOAT32);
        void *hf = to_dtype(hr, nh, GRU_FLOAT32), *Gf = to_dtype(G, nout, GRU_FLOAT32);
        void *Ghf = to_dtype(Gh, nh, GRU_FLOAT32);
        void *of = malloc(nout * 4), *hnf = malloc(nh * 4), *gaf = malloc(na * 4);
        double *ga64 = nan_doubles(na), *ga32 = malloc(na * sizeof(double));
        size_t wsf = 0;
        void *wf = NULL;
        if (have32 && gru_workspace_size(t32.m, T, B, 1, &wsf) == GRU_OK && (wf = malloc(wsf)) &&
            gru_forward_att(t64.m, 1, T, B, c->batch_first, xr, ar, hr, l.lengths, l.out, l.hn,
                            ws, wsb) == GRU_OK &&
            gru_backward_att(t64.m, T, B, c->batch_first, xr, ws, wsb, G, Gh, NULL, NULL,
                             ga64) == GRU_OK &&
            gru_forward_att(t32.m, 1, T, B, c->batch_first, xf, af, hf, l.lengths, of, hnf, wf,
                            wsf) == GRU_OK &&
            CHECK_OK(gru_backward_att(t32.m, T, B, c->batch_first, xf, wf, wsf, Gf, Ghf, NULL,
                                      NULL, gaf))) {
            from_dtype(ga32, gaf, na, GRU_FLOAT32);
            CLOSE_T(E_GA32, "float32 grad_attention vs float64", ga64, ga32, na, 1e-4);
        }
        free(xr); free(ar); free(hr); free(xf); free(af); free(hf); free(Gf); free(Ghf);
        free(of); free(hnf); free(gaf); free(ga64); free(ga32); free(wf);
        tmodel_free(&t64);
    }
done:
    if (have32) tmodel_free(&t32);
    free(x); free(h0); free(att); free(G); free(Gh); free(gx); free(gh0); free(ga); free(fd);
    free(gp); free(fdp); free(l.out); free(l.hn); free(ws); free(l.ws);
    tmodel_free(&tm);
}

/* ---- step == forward ----------------------------------------------------------------- */

static void step_case(const char *isa, int dt, int reset_after, rng *g)
{
    const acase c = {5, 19, 2, 1, reset_after, 0, 0, 0, 7, 3, 0, 0, 0};
    const int64_t T = c.T, B = c.B, H = c.H;
    const size_t es = dtype_size(dt), nx = (size_t)(T * B * c.I), na = (size_t)(T * B);
    const size_t nst = (size_t)(c.L * B * H);
    acase_ctx("step", isa, dt, &c);
    gru_config cfg = acase_config(&c, dt);
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.7)) return;
    double *x = malloc(nx * sizeof(double)), *att = malloc(na * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, att, na, 0, 1);
    void *xd = to_dtype(x, nx, dt), *ad = to_dtype(att, na, dt);
    void *out = malloc(na * (size_t)H * es), *state = calloc(nst, es), *so = malloc((size_t)(B * H) * es);
    size_t sb = 0;
    void *scratch = NULL;
    REQUIRE_OK(gru_forward_att(tm.m, 0, T, B, 0, xd, ad, NULL, NULL, out, NULL, NULL, 0),
               goto done);
    REQUIRE_OK(gru_step_scratch_size(tm.m, B, &sb), goto done);
    scratch = malloc(sb);
    int same = 1;
    for (int64_t t = 0; t < T; t++) {
        REQUIRE_OK(gru_step_att(tm.m, B, (char *)xd + (size_t)(t * B * c.I) * es,
                                (char *)ad + (size_t)(t * B) * es, state, so, scratch, sb),
                   goto done);
        same &= memcmp(so, (char *)out + (size_t)(t * B * H) * es, (size_t)(B * H) * es) == 0;
    }
    CHECK_MSG(same, "gru_step_att outputs == gru_forward_att outputs, bitwise");
    CHECK_STATUS(gru_step_att(tm.m, B, xd, NULL, state, so, scratch, sb), GRU_ERR_NULL);
    CHECK_STATUS(gru_step(tm.m, B, xd, state, so, scratch, sb), GRU_ERR_UNSUPPORTED);
done:
    free(x); free(att); free(xd); free(ad); free(out); free(state); free(so); free(scratch);
    tmodel_free(&tm);
}

/* ---- threads ----------------------------------------------------------------------- */

typedef struct run_out {
    void *out, *hn, *gx, *gh0, *ga;
    double *gp;
    size_t np;
} run_out;

/* A training forward + backward of tm on `threads` threads. */
static int threaded_run(tmodel *tm, const acase *c, int threads, const void *x,
                        const void *att, const void *h0, const int32_t *len, const void *G,
                        run_out *r)
{
    const int dt = tm->cfg.dtype;
    const size_t es = dtype_size(dt);
    const size_t nout = (size_t)(c->T * c->B * c->D * c->H), nh = (size_t)(c->L * c->D * c->B * c->H);
    const size_t nx = (size_t)(c->T * c->B * c->I), na = (size_t)(c->T * c->B);
    size_t wsb = 0;
    if (gru_set_num_threads(tm->m, threads) != GRU_OK ||
        gru_workspace_size(tm->m, c->T, c->B, 1, &wsb) != GRU_OK)
        return 0;
    void *ws = malloc(wsb);
    r->out = malloc(nout * es); r->hn = malloc(nh * es); r->gx = malloc(nx * es);
    r->gh0 = malloc(nh * es); r->ga = malloc(na * es);
    gru_zero_grad(tm->m);
    gru_set_seed(tm->m, 5);
    int ok = gru_forward_att(tm->m, 1, c->T, c->B, c->batch_first, x, att, h0, len, r->out,
                             r->hn, ws, wsb) == GRU_OK &&
             gru_backward_att(tm->m, c->T, c->B, c->batch_first, x, ws, wsb, G, NULL, r->gx,
                              r->gh0, r->ga) == GRU_OK;
    r->gp = param_grads(tm->m, dt, &r->np);
    free(ws);
    return ok;
}

static void run_free(run_out *r)
{
    free(r->out); free(r->hn); free(r->gx); free(r->gh0); free(r->ga); free(r->gp);
}

static void threads_case(const char *isa, int dt, const acase *c, rng *g)
{
    const size_t es = dtype_size(dt);
    const size_t nout = (size_t)(c->T * c->B * c->D * c->H), nh = (size_t)(c->L * c->D * c->B * c->H);
    const size_t nx = (size_t)(c->T * c->B * c->I), na = (size_t)(c->T * c->B);
    acase_ctx("threads", isa, dt, c);
    const char *old = getenv("GRU_THREAD_MIN_WORK");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRU_THREAD_MIN_WORK", "0", 1);
    gru_config cfg = acase_config(c, dt);
    tmodel tm;
    int created = tmodel_create(&tm, &cfg, g, 0.7);
    if (saved) setenv("GRU_THREAD_MIN_WORK", saved, 1);
    else unsetenv("GRU_THREAD_MIN_WORK");
    free(saved);
    if (!created) return;
    double *x = malloc(nx * sizeof(double)), *att = malloc(na * sizeof(double));
    double *h0 = malloc(nh * sizeof(double)), *G = malloc(nout * sizeof(double));
    int32_t len[64];
    rng_fill(g, x, nx, -1.5, 1.5);
    rng_fill(g, att, na, 0, 1);
    rng_fill(g, h0, nh, -0.9, 0.9);
    rng_fill(g, G, nout, -1, 1);
    make_lengths(g, c, len);
    void *xd = to_dtype(x, nx, dt), *ad = to_dtype(att, na, dt), *hd = to_dtype(h0, nh, dt);
    void *Gd = to_dtype(G, nout, dt);
    run_out r[3];
    memset(r, 0, sizeof r);
    int ok = 1;
    for (int k = 0; k < 3; k++)
        ok &= threaded_run(&tm, c, k + 1, xd, ad, hd, c->lengths ? len : NULL, Gd, &r[k]);
    REQUIRE(ok, goto done);
    for (int k = 1; k < 3; k++) {
        char what[64];
        snprintf(what, sizeof what, "%d threads: output", k + 1);
        CHECK_SAME(what, r[k].out, r[0].out, nout * es);
        snprintf(what, sizeof what, "%d threads: h_n", k + 1);
        CHECK_SAME(what, r[k].hn, r[0].hn, nh * es);
        snprintf(what, sizeof what, "%d threads: grad_x", k + 1);
        CHECK_SAME(what, r[k].gx, r[0].gx, nx * es);
        snprintf(what, sizeof what, "%d threads: grad_h0", k + 1);
        CHECK_SAME(what, r[k].gh0, r[0].gh0, nh * es);
        snprintf(what, sizeof what, "%d threads: grad_attention", k + 1);
        CHECK_SAME(what, r[k].ga, r[0].ga, na * es);
        snprintf(what, sizeof what, "%d threads: parameter gradients", k + 1);
        CHECK_SAME(what, r[k].gp, r[0].gp, r[0].np * sizeof(double));
    }
done:
    for (int k = 0; k < 3; k++) run_free(&r[k]);
    free(x); free(att); free(h0); free(G); free(xd); free(ad); free(hd); free(Gd);
    tmodel_free(&tm);
}

/* ---- files and errors (once) ---------------------------------------------------------- */

/* Replaces the first `from` in the file's header by `to` (same length). */
static int edit_file(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t i = 0; i + strlen(from) <= n; i++)
        if (memcmp(buf + i, from, strlen(from)) == 0) {
            memcpy(buf + i, to, strlen(to));
            f = fopen(path, "wb");
            if (!f) return 0;
            fwrite(buf, 1, n, f);
            fclose(f);
            return 1;
        }
    return 0;
}

static void files_and_errors(rng *g)
{
    const acase c = {3, 5, 2, 2, 1, 0, 0, 0, 4, 2, 0, 0, 0};
    check_set_ctx("augru files and errors");
    gru_config cfg = acase_config(&c, GRU_FLOAT32);
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.7)) return;
    float x[4 * 2 * 3], att[4 * 2 + 1], out[4 * 2 * 10], out2[4 * 2 * 10], hn[2 * 2 * 2 * 5];
    float grad_a[4 * 2 + 1], st[2 * 2 * 5], so[2 * 5];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)rng_uniform(g, -1, 1);
    for (size_t i = 0; i < sizeof att / sizeof *att; i++) att[i] = (float)rng_uniform(g, 0, 1);
    char path[] = "/tmp/libgru_augru_XXXXXX";
    size_t w0 = 0, w1 = 0;
    gru_model *loaded = NULL, *plain = NULL, *q = NULL;
    void *ws = NULL;

    /* the plain calls refuse an augru model, the _att ones a plain model */
    CHECK_STATUS(gru_forward(tm.m, 0, 4, 2, 0, x, NULL, NULL, out, NULL, NULL, 0),
                 GRU_ERR_UNSUPPORTED);
    plain = plain_copy(&tm);
    REQUIRE(plain != NULL, goto done);
    CHECK_STATUS(gru_forward_att(plain, 0, 4, 2, 0, x, att, NULL, NULL, out, NULL, NULL, 0),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_backward_att(plain, 4, 2, 0, x, x, 0, NULL, NULL, NULL, NULL, grad_a),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_step_att(plain, 2, x, att, st, so, NULL, 0), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_forward_att(tm.m, 0, 4, 2, 0, x, NULL, NULL, NULL, out, NULL, NULL, 0),
                 GRU_ERR_NULL);
    CHECK_STATUS(gru_forward_att(NULL, 0, 4, 2, 0, x, att, NULL, NULL, out, NULL, NULL, 0),
                 GRU_ERR_NULL);
    CHECK_STATUS(gru_forward_att(tm.m, 0, 4, 2, 0, x, (char *)att + 1, NULL, NULL, out, NULL,
                                 NULL, 0), GRU_ERR_MISALIGNED);
    CHECK_STATUS(gru_step_att(tm.m, 2, x, (char *)att + 2, st, so, NULL, 0),
                 GRU_ERR_MISALIGNED);
    /* the training workspace holds the attention: T*B more elements (rounded to 64 B) */
    CHECK_OK(gru_workspace_size(plain, 4, 2, 1, &w0));
    CHECK_OK(gru_workspace_size(tm.m, 4, 2, 1, &w1));
    CHECK_INT_EQ(w1 - w0, 64);
    ws = malloc(w1);
    CHECK_OK(gru_forward_att(tm.m, 1, 4, 2, 0, x, att, NULL, NULL, out, hn, ws, w1));
    CHECK_STATUS(gru_backward(tm.m, 4, 2, 0, x, ws, w1, out, NULL, NULL, NULL),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_backward_att(tm.m, 4, 2, 0, x, ws, w1, out, NULL, NULL, NULL,
                                  (char *)grad_a + 1), GRU_ERR_MISALIGNED);
    CHECK_OK(gru_backward_att(tm.m, 4, 2, 0, x, ws, w1, out, NULL, NULL, NULL, NULL));
    CHECK_STATUS(gru_quantize(tm.m, GRU_INT8, &q), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_quantize(tm.m, GRU_BF16, &q), GRU_ERR_UNSUPPORTED);
    gru_config bad = cfg;
    bad.augru = 2;
    gru_model *m2 = NULL;
    CHECK_STATUS(gru_create(&bad, &m2), GRU_ERR_INVALID_ARG);

    /* files: augru round trip, then refused edits */
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, goto done);
    close(fd);
    REQUIRE_OK(gru_save(tm.m, path), goto done);
    char msg[256];
    REQUIRE_OK(gru_load(path, &loaded, msg, sizeof msg), goto done);
    gru_config lc;
    gru_get_config(loaded, &lc);
    CHECK_INT_EQ(lc.augru, 1);
    CHECK_OK(gru_forward_att(tm.m, 0, 4, 2, 0, x, att, NULL, NULL, out, NULL, NULL, 0));
    CHECK_OK(gru_forward_att(loaded, 0, 4, 2, 0, x, att, NULL, NULL, out2, NULL, NULL, 0));
    CHECK_SAME("loaded augru model's output", out2, out, sizeof out);
    gru_destroy(loaded);
    loaded = NULL;
    REQUIRE(edit_file(path, "\"augru\":\"1\"", "\"augru\":\"2\""), goto done);
    CHECK_STATUS(gru_load(path, &loaded, msg, sizeof msg), GRU_ERR_FORMAT);
    CHECK_MSG(strstr(msg, "augru") != NULL, "message names augru: %s", msg);
    /* a quantized file that says augru */
    REQUIRE_OK(gru_quantize(plain, GRU_INT8, &q), goto done);
    REQUIRE_OK(gru_save(q, path), goto done);
    REQUIRE(edit_file(path, "\"augru\":\"0\"", "\"augru\":\"1\""), goto done);
    CHECK_STATUS(gru_load(path, &loaded, msg, sizeof msg), GRU_ERR_FORMAT);
    CHECK_MSG(strstr(msg, "augru") != NULL, "message names augru: %s", msg);
done:
    remove(path);
    gru_destroy(loaded);
    gru_destroy(plain);
    gru_destroy(q);
    free(ws);
    tmodel_free(&tm);
}

void test_augru(const char *isa)
{
    rng g = {0xA06A0ull};
    static int once = 0;
    for (int i = 0; i < E_N; i++) emax[i] = 0;
    if (!once) {
        once = 1;
        files_and_errors(&g);
    }
    /* I, H, L, D, reset_after, reverse, batch_first, lengths, T, B, dropouts */
    const acase fwd[] = {
        {3, 4, 1, 1, 1, 0, 0, 0, 5, 2, 0, 0, 0},
        {3, 4, 1, 1, 0, 0, 0, 0, 5, 2, 0, 0, 0},
        {5, 19, 2, 2, 1, 0, 1, 1, 9, 4, 0, 0, 0},
        {5, 19, 2, 2, 0, 0, 0, 1, 9, 4, 0, 0, 0},
        {4, 33, 3, 1, 1, 1, 1, 1, 6, 5, 0, 0, 0},
        {4, 33, 2, 1, 0, 1, 0, 0, 6, 3, 0, 0, 0},
        {7, 40, 2, 2, 1, 0, 0, 0, 20, 9, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++) {
        forward_case(isa, GRU_FLOAT64, &fwd[i], &g);
        forward_case(isa, GRU_FLOAT32, &fwd[i], &g);
    }
    const acase bwd[] = {
        {3, 4, 1, 1, 1, 0, 0, 0, 5, 2, 0, 0, 0},
        {3, 4, 1, 1, 0, 0, 1, 0, 5, 2, 0, 0, 0},
        {2, 3, 2, 2, 1, 0, 0, 1, 4, 3, 0, 0, 0},
        {2, 3, 2, 2, 0, 0, 1, 1, 4, 3, 0, 0, 0},
        {3, 4, 2, 1, 1, 1, 0, 1, 5, 3, 0, 0, 0},
        {3, 4, 2, 1, 0, 1, 1, 0, 5, 2, 0, 0, 0},
        {3, 4, 2, 2, 1, 0, 0, 1, 4, 3, 0.3, 0.25, 0.2},
        {3, 4, 2, 1, 0, 0, 1, 0, 4, 3, 0.3, 0.25, 0.2},
    };
    for (size_t i = 0; i < sizeof bwd / sizeof *bwd; i++) backward_case(isa, &bwd[i], &g);
    for (int ra = 0; ra < 2; ra++) {
        step_case(isa, GRU_FLOAT32, ra, &g);
        step_case(isa, GRU_FLOAT64, ra, &g);
    }
    const acase thr[] = {
        {6, 37, 2, 2, 1, 0, 0, 1, 7, 5, 0, 0, 0},
        {6, 37, 2, 2, 0, 0, 1, 1, 7, 5, 0, 0, 0},
        {6, 37, 2, 1, 1, 1, 1, 0, 7, 5, 0.2, 0.2, 0.2},
        {6, 37, 2, 1, 0, 0, 0, 1, 7, 5, 0.2, 0.2, 0.2},
    };
    for (size_t i = 0; i < sizeof thr / sizeof *thr; i++) {
        threads_case(isa, GRU_FLOAT32, &thr[i], &g);
        threads_case(isa, GRU_FLOAT64, &thr[i], &g);
    }
    check_set_ctx("%s", "");
    printf("  augru [%s] max rel. errors:", isa);
    for (int i = 0; i < E_N; i++) printf("%s %s %.2g", i ? "," : "", ename[i], emax[i]);
    printf("\n");
}
