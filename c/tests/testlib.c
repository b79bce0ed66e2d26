/*
 * testlib.c - the check counters and printing, random numbers, dtype conversion, tensor
 * comparison, the naive float64 reference GRU, and the tmodel wrapper (see check.h).
 *
 * The reference is written independently of libgru from the equations alone: plain
 * loops per layer, direction, batch row and step, in double, with PyTorch's
 * packed-sequence rule for lengths (padded steps output zeros and keep the state; the
 * reverse direction starts at t = len - 1).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long check_passed = 0, check_failed = 0;
char check_ctx[512] = "";
int check_status_seen[32];

static long printed_failures = 0;
#define MAX_PRINTED_FAILURES 300

static void vreport(const char *file, int line, const char *fmt, va_list ap)
{
    if (++printed_failures > MAX_PRINTED_FAILURES) {
        if (printed_failures == MAX_PRINTED_FAILURES + 1)
            printf("(further failures not printed)\n");
        return;
    }
    printf("FAIL %s:%d [%s]: ", file, line, check_ctx);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
}

int check_report(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        check_passed++;
        return 1;
    }
    check_failed++;
    va_list ap;
    va_start(ap, fmt);
    vreport(file, line, fmt, ap);
    va_end(ap);
    return 0;
}

int check_require(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok)
        return 1;
    check_failed++;
    va_list ap;
    va_start(ap, fmt);
    vreport(file, line, fmt, ap);
    va_end(ap);
    return 0;
}

int check_status_impl(int got, int expected, int count_pass, const char *expr,
                      const char *file, int line)
{
    if (got >= 0 && got < 32)
        check_status_seen[got] = 1;
    if (got == expected) {
        if (count_pass)
            check_passed++;
        return 1;
    }
    return check_require(0, file, line, "%s: got %d (%s), expected %d (%s)", expr, got,
                         gru_strerror(got), expected, gru_strerror(expected));
}

void check_set_ctx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(check_ctx, sizeof check_ctx, fmt, ap);
    va_end(ap);
}

int check_close_impl(const char *what, const double *ref, const double *got, size_t n,
                     double tol, double *err_out, const char *file, int line)
{
    double scale = 0.0, err = 0.0;
    size_t worst = 0;
    int has_nan = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > scale)
            scale = fabs(ref[i]);
    if (scale == 0.0)
        scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]);
        if (isnan(e)) {
            if (!has_nan)
                worst = i;
            has_nan = 1;
        } else if (!has_nan && e > err) {
            err = e;
            worst = i;
        }
    }
    double rel = has_nan ? NAN : err / scale;
    if (err_out)
        *err_out = rel;
    int ok = !has_nan && rel <= tol;
    if (ok) {
        check_passed++;
        return 1;
    }
    return check_report(0, file, line,
                        "%s: rel err %.3g > tol %.3g (n %zu, max|ref| %.3g; worst [%zu]: "
                        "ref %.17g got %.17g)",
                        what, rel, tol, n, scale, worst, n ? ref[worst] : 0.0,
                        n ? got[worst] : 0.0);
}

int check_same_impl(const char *what, const void *a, const void *b, size_t bytes,
                    const char *file, int line)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < bytes; i++) {
        if (x[i] != y[i])
            return check_report(0, file, line, "%s: not bitwise identical (first byte %zu "
                                "of %zu differs)", what, i, bytes);
    }
    check_passed++;
    return 1;
}

/* ---- helpers ------------------------------------------------------------------------- */
uint64_t rng_next(rng *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double rng_uniform(rng *g, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(g) >> 11) * 0x1.0p-53);
}

void rng_fill(rng *g, double *a, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        a[i] = rng_uniform(g, lo, hi);
}

size_t dtype_size(int dtype) { return dtype == GRU_FLOAT32 ? sizeof(float) : sizeof(double); }

void round_to_dtype(double *a, size_t n, int dtype)
{
    if (dtype == GRU_FLOAT32)
        for (size_t i = 0; i < n; i++)
            a[i] = (double)(float)a[i];
}

void *to_dtype(const double *src, size_t n, int dtype)
{
    if (!src)
        return NULL;
    void *out = malloc(n ? n * dtype_size(dtype) : 1);
    if (!out)
        return NULL;
    if (dtype == GRU_FLOAT32)
        for (size_t i = 0; i < n; i++)
            ((float *)out)[i] = (float)src[i];
    else
        memcpy(out, src, n * sizeof(double));
    return out;
}

void from_dtype(double *dst, const void *src, size_t n, int dtype)
{
    if (dtype == GRU_FLOAT32)
        for (size_t i = 0; i < n; i++)
            dst[i] = ((const float *)src)[i];
    else
        memcpy(dst, src, n * sizeof(double));
}

double *nan_doubles(size_t n)
{
    double *a = malloc((n ? n : 1) * sizeof(double));
    if (a)
        for (size_t i = 0; i < n; i++)
            a[i] = NAN;
    return a;
}

void *nan_dtype(size_t n, int dtype)
{
    void *a = malloc((n ? n : 1) * dtype_size(dtype));
    if (a) {
        for (size_t i = 0; i < n; i++) {
            if (dtype == GRU_FLOAT32)
                ((float *)a)[i] = NAN;
            else
                ((double *)a)[i] = NAN;
        }
    }
    return a;
}

double *dup_doubles(const double *a, size_t n)
{
    double *b = malloc((n ? n : 1) * sizeof(double));
    if (b && n)
        memcpy(b, a, n * sizeof(double));
    return b;
}

double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void set_isa_env(const char *isa)
{
    if (isa)
        setenv("GRU_ISA", isa, 1);
    else
        unsetenv("GRU_ISA");
}

/* ---- reference ----------------------------------------------------------------------- */
size_t ref_tensor_size(const ref_gru *r, int l, int kind)
{
    size_t H = (size_t)r->H, in = l == 0 ? (size_t)r->I : (size_t)r->D * H;
    switch (kind) {
    case REF_W_IH: return 3 * H * in;
    case REF_W_HH: return 3 * H * H;
    case REF_B_IH:
    case REF_B_HH: return r->bias ? 3 * H : 0;
    default: return r->layer_norm ? 3 * H : 0;
    }
}

void ref_tensor_name(char *buf, size_t len, int l, int d, int kind)
{
    static const char *const kinds[REF_NKINDS] = {
        "weight_ih", "weight_hh", "bias_ih", "bias_hh", "layer_norm_ih_weight",
        "layer_norm_ih_bias", "layer_norm_hh_weight", "layer_norm_hh_bias"};
    snprintf(buf, len, "%s_l%d%s", kinds[kind], l, d ? "_reverse" : "");
}

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/* Layer normalisation of a (n) in place: a = gain * (a - mean) / sqrt(var + 1e-5) +
 * shift (+ bias if not NULL), mean and variance (biased) over the n entries. */
static void ref_layer_norm(double *a, int64_t n, const double *gain, const double *shift,
                           const double *bias)
{
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n; i++)
        mean += a[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
        var += (a[i] - mean) * (a[i] - mean);
    var /= (double)n;
    for (int64_t i = 0; i < n; i++)
        a[i] = gain[i] * (a[i] - mean) / sqrt(var + 1e-5) + shift[i] + (bias ? bias[i] : 0.0);
}

/* One step of the layer-normalised cell for one sequence (gru_config.layer_norm):
 * xt (in) and hm (H) the input and state as the weights see them (masks applied), h
 * (H) the state, hnew (H) the new state; Whh (3H, H) the recurrent weights as they
 * are used (DropConnect's masked ones).
 *   gi = LN_ih(W_ih x) + b_ih (3H)
 *   reset_after:  gh = LN_hh(W_hh h) + b_hh (3H); n = tanh(gi_n + r gh_n)
 *   reset_before: gh_rz = LN_hh[0:2H](W_h{r,z} h) + b_h{r,z} (2H);
 *                 gh_n = LN_hh[2H:3H](W_hn (r h)) + b_hn (H); n = tanh(gi_n + gh_n)
 *   r = s(gi_r + gh_r), z = s(gi_z + gh_z), h' = (1 - z) n + z h */
static void ref_ln_step(const ref_gru *r, int l, int d, int64_t in, const double *Whh,
                        const double *xt, const double *hm, const double *h, double *hnew)
{
    const int64_t H = r->H;
    const double *const *p = (const double *const *)r->p[l][d];
    double *gi = calloc((size_t)(3 * H), sizeof(double)); /* (3H) */
    double *gh = calloc((size_t)(3 * H), sizeof(double)); /* (3H) */
    double *rh = calloc((size_t)H, sizeof(double));       /* (H) r * h */
    for (int64_t q = 0; q < 3 * H; q++)
        for (int64_t k = 0; k < in; k++)
            gi[q] += p[REF_W_IH][q * in + k] * xt[k];
    ref_layer_norm(gi, 3 * H, p[REF_LN_IH_W], p[REF_LN_IH_B], p[REF_B_IH]);
    const int64_t nrz = r->reset_after ? 3 * H : 2 * H; /* rows of W_hh meeting h */
    for (int64_t q = 0; q < nrz; q++)
        for (int64_t k = 0; k < H; k++)
            gh[q] += Whh[q * H + k] * hm[k];
    ref_layer_norm(gh, nrz, p[REF_LN_HH_W], p[REF_LN_HH_B], p[REF_B_HH]);
    for (int64_t j = 0; j < H; j++) {
        const double rg = sigmoid(gi[j] + gh[j]);
        rh[j] = rg * hm[j];
        gi[j] = rg; /* keep r */
    }
    if (!r->reset_after) {
        for (int64_t j = 0; j < H; j++)
            for (int64_t k = 0; k < H; k++)
                gh[2 * H + j] += Whh[(2 * H + j) * H + k] * rh[k];
        ref_layer_norm(gh + 2 * H, H, p[REF_LN_HH_W] + 2 * H, p[REF_LN_HH_B] + 2 * H,
                       p[REF_B_HH] ? p[REF_B_HH] + 2 * H : NULL);
    }
    for (int64_t j = 0; j < H; j++) {
        const double rg = gi[j], zg = sigmoid(gi[H + j] + gh[H + j]);
        const double n = tanh(gi[2 * H + j] + (r->reset_after ? rg * gh[2 * H + j]
                                                                : gh[2 * H + j]));
        hnew[j] = (1.0 - zg) * n + zg * h[j];
    }
    free(gi);
    free(gh);
    free(rh);
}

/* One layer, one direction.
 * xin: (T, B, in) time-major layer input; att: (T, B) time-major AUGRU attention or
 * NULL; h0: (B, H) or NULL; out: (T, B, D*H), this
 * direction's columns d*H..d*H+H-1 written at valid steps only; hn: (B, H). */
static void ref_layer_dir(const ref_gru *r, int l, int d, int64_t T, int64_t B, int64_t in,
                          const double *xin, const double *att, const double *h0,
                          const int32_t *lengths, double *out, double *hn)
{
    const int64_t H = r->H, DH = r->D * H;
    const double *Wih = r->p[l][d][REF_W_IH]; /* (3H, in) */
    const double *Whh0 = r->p[l][d][REF_W_HH]; /* (3H, H) */
    const double *wm = r->wmask[l][d];         /* (3H, H) DropConnect mask or NULL */
    const double *zm = r->zmask[l][d];         /* (T, B, H) zoneout mask or NULL */
    double *Whhm = malloc((size_t)(3 * H * H) * sizeof *Whhm);
    /* W~_hh = M * W_hh (DropConnect), else W_hh */
    for (int64_t i = 0; i < 3 * H * H; i++)
        Whhm[i] = Whh0[i] * (wm ? wm[i] : 1.0);
    const double *Whh = Whhm;
    const double *bih = r->p[l][d][REF_B_IH]; /* (3H) or NULL */
    const double *bhh = r->p[l][d][REF_B_HH]; /* (3H) or NULL */
    double *h = calloc((size_t)H, sizeof *h), *hnew = calloc((size_t)H, sizeof *h);
    double *rg = calloc((size_t)H, sizeof *h); /* reset gate (H) */
    double *zg = calloc((size_t)H, sizeof *h); /* update gate (H) */
    double *xm = calloc((size_t)in, sizeof *h); /* the input as W_ih sees it (in) */
    double *hm = calloc((size_t)H, sizeof *h); /* the state as W_hh sees it (H) */
    const double *mx = r->mask_in[l][d], *mh = r->mask_rec[l][d]; /* (B, in), (B, H) */
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < H; j++)
            h[j] = h0 ? h0[b * H + j] : 0.0;
        int64_t len = lengths ? lengths[b] : T;
        for (int64_t s = 0; s < len; s++) {
            int64_t t = d == 0 && !r->reverse ? s : len - 1 - s;
            const double *xt = xm;
            /* input and recurrent dropout: m_x x, m_h h */
            for (int64_t k = 0; k < in; k++)
                xm[k] = xin[(t * B + b) * in + k] * (mx ? mx[b * in + k] : 1.0);
            for (int64_t k = 0; k < H; k++)
                hm[k] = h[k] * (mh ? mh[b * H + k] : 1.0);
            if (r->layer_norm) {
                ref_ln_step(r, l, d, in, Whh, xt, hm, h, hnew);
                goto zoneout;
            }
            /* r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise with rows H..2H-1 */
            for (int64_t j = 0; j < H; j++) {
                double ar = 0, az = 0;
                for (int64_t k = 0; k < in; k++) {
                    ar += Wih[j * in + k] * xt[k];
                    az += Wih[(H + j) * in + k] * xt[k];
                }
                for (int64_t k = 0; k < H; k++) {
                    ar += Whh[j * H + k] * hm[k];
                    az += Whh[(H + j) * H + k] * hm[k];
                }
                if (bih) {
                    ar += bih[j] + bhh[j];
                    az += bih[H + j] + bhh[H + j];
                }
                rg[j] = sigmoid(ar);
                zg[j] = sigmoid(az);
            }
            for (int64_t j = 0; j < H; j++) {
                double xi = bih ? bih[2 * H + j] : 0.0; /* W_in x + b_in */
                for (int64_t k = 0; k < in; k++)
                    xi += Wih[(2 * H + j) * in + k] * xt[k];
                double hh = 0.0;
                if (r->reset_after) {
                    /* n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) */
                    for (int64_t k = 0; k < H; k++)
                        hh += Whh[(2 * H + j) * H + k] * hm[k];
                    if (bhh)
                        hh += bhh[2 * H + j];
                    hh *= rg[j];
                } else {
                    /* n = tanh(W_in x + b_in + W_hn (r * h) + b_hn) */
                    for (int64_t k = 0; k < H; k++)
                        hh += Whh[(2 * H + j) * H + k] * (rg[k] * hm[k]);
                    if (bhh)
                        hh += bhh[2 * H + j];
                }
                double n = tanh(xi + hh);
                if (att) {
                    /* AUGRU (DIEN): u = 1 - z, u' = a u, h' = (1 - u') h + u' n */
                    const double u = att[t * B + b] * (1.0 - zg[j]);
                    hnew[j] = (1.0 - u) * h[j] + u * n;
                } else {
                    /* h' = (1 - z) * n + z * h */
                    hnew[j] = (1.0 - zg[j]) * n + zg[j] * h[j];
                }
            }
        zoneout:
            /* zoneout: h_t = m h_{t-1} + (1 - m) h~_t (training, m from zmask), else
             * h_t = p h_{t-1} + (1 - p) h~_t (inference) */
            for (int64_t j = 0; j < H; j++) {
                if (zm)
                    hnew[j] = zm[(t * B + b) * H + j] != 0.0 ? h[j] : hnew[j];
                else if (r->zoneout > 0)
                    hnew[j] = r->zoneout * h[j] + (1.0 - r->zoneout) * hnew[j];
            }
            memcpy(h, hnew, (size_t)H * sizeof *h);
            for (int64_t j = 0; j < H; j++)
                out[(t * B + b) * DH + d * H + j] = h[j];
        }
        for (int64_t j = 0; j < H; j++)
            hn[b * H + j] = h[j];
    }
    free(h);
    free(hnew);
    free(rg);
    free(zg);
    free(xm);
    free(hm);
    free(Whhm);
}

void ref_forward(const ref_gru *r, int64_t T, int64_t B, int batch_first, const double *x,
                 const double *h0, const int32_t *lengths, double *output, double *h_n)
{
    const int64_t H = r->H, D = r->D, DH = D * H;
    int64_t in = r->I;
    /* layer input, time-major (T, B, in) */
    double *xin = malloc((size_t)(T * B * (in > DH ? in : DH)) * sizeof(double));
    double *hn_all = malloc((size_t)(r->L * D * B * H) * sizeof(double)); /* (L*D, B, H) */
    double *out = NULL, *att = NULL;   /* att: (T, B) time-major */
    if (r->att) {
        att = malloc((size_t)(T * B) * sizeof(double));
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++)
                att[t * B + b] = batch_first ? r->att[b * T + t] : r->att[t * B + b];
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < in; k++)
                xin[(t * B + b) * in + k] =
                    batch_first ? x[(b * T + t) * in + k] : x[(t * B + b) * in + k];
    for (int l = 0; l < r->L; l++) {
        out = calloc((size_t)(T * B * DH), sizeof(double)); /* (T, B, D*H), zero padding */
        for (int d = 0; d < D; d++) {
            int64_t s = (int64_t)l * D + d;
            ref_layer_dir(r, l, d, T, B, in, xin, att, h0 ? h0 + s * B * H : NULL, lengths,
                          out, hn_all + s * B * H);
        }
        memcpy(xin, out, (size_t)(T * B * DH) * sizeof(double));
        in = DH;
        if (l + 1 < r->L)
            free(out);
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < DH; k++) {
                double v = out[(t * B + b) * DH + k];
                if (batch_first)
                    output[(b * T + t) * DH + k] = v;
                else
                    output[(t * B + b) * DH + k] = v;
            }
    if (h_n)
        memcpy(h_n, hn_all, (size_t)(r->L * D * B * H) * sizeof(double));
    free(out);
    free(xin);
    free(hn_all);
    free(att);
}

/* ---- tmodel ---------------------------------------------------------------------------- */
size_t tmodel_ntensors(const tmodel *tm)
{
    return (size_t)((tm->ref.bias ? 4 : 2) + (tm->ref.layer_norm ? 4 : 0)) * (size_t)tm->ref.L *
           (size_t)tm->ref.D;
}

void tmodel_free(tmodel *tm)
{
    gru_destroy(tm->m);
    tm->m = NULL;
    for (int l = 0; l < 8; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < REF_NKINDS; k++) {
                free(tm->ref.p[l][d][k]);
                tm->ref.p[l][d][k] = NULL;
            }
}

int tmodel_push(tmodel *tm)
{
    char name[64];
    for (int l = 0; l < tm->ref.L; l++)
        for (int d = 0; d < tm->ref.D; d++)
            for (int k = 0; k < REF_NKINDS; k++) {
                size_t n = ref_tensor_size(&tm->ref, l, k);
                if (!n)
                    continue;
                ref_tensor_name(name, sizeof name, l, d, k);
                void *buf = to_dtype(tm->ref.p[l][d][k], n, tm->cfg.dtype);
                int st = gru_param_set(tm->m, name, buf, n);
                free(buf);
                if (!check_require(st == GRU_OK, __FILE__, __LINE__,
                                   "gru_param_set(%s): %s", name, gru_strerror(st)))
                    return 0;
            }
    return 1;
}

gru_config make_config(int64_t I, int64_t H, int64_t L, int bidirectional, int bias,
                       int reset_after, int dtype)
{
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = L;
    cfg.bidirectional = bidirectional;
    cfg.bias = bias;
    cfg.reset_after = reset_after;
    cfg.dtype = dtype;
    return cfg;
}

static int tmodel_init(tmodel *tm, const gru_config *cfg)
{
    memset(tm, 0, sizeof *tm);
    tm->cfg = *cfg;
    tm->ref.I = cfg->input_size;
    tm->ref.H = cfg->hidden_size;
    tm->ref.L = cfg->num_layers;
    tm->ref.D = cfg->bidirectional ? 2 : 1;
    tm->ref.bias = cfg->bias;
    tm->ref.reset_after = cfg->reset_after;
    tm->ref.reverse = cfg->reverse;
    tm->ref.zoneout = cfg->zoneout;
    tm->ref.layer_norm = cfg->layer_norm;
    if (!check_require(cfg->num_layers >= 1 && cfg->num_layers <= 8, __FILE__, __LINE__,
                       "test model needs 1..8 layers"))
        return 0;
    int st = gru_create(cfg, &tm->m);
    if (!check_require(st == GRU_OK, __FILE__, __LINE__, "gru_create: %s",
                       gru_strerror(st))) {
        tm->m = NULL;
        return 0;
    }
    return 1;
}

int tmodel_create(tmodel *tm, const gru_config *cfg, rng *g, double scale)
{
    if (!tmodel_init(tm, cfg))
        return 0;
    for (int l = 0; l < tm->ref.L; l++)
        for (int d = 0; d < tm->ref.D; d++)
            for (int k = 0; k < REF_NKINDS; k++) {
                size_t n = ref_tensor_size(&tm->ref, l, k);
                if (!n)
                    continue;
                double *a = malloc(n * sizeof(double));
                /* layer_norm gains around 1, shifts like the biases */
                if (k == REF_LN_IH_W || k == REF_LN_HH_W)
                    rng_fill(g, a, n, 0.5, 1.5);
                else
                    rng_fill(g, a, n, -scale, scale);
                round_to_dtype(a, n, cfg->dtype);
                tm->ref.p[l][d][k] = a;
            }
    if (!tmodel_push(tm)) {
        tmodel_free(tm);
        return 0;
    }
    return 1;
}

int tmodel_clone(tmodel *dst, const tmodel *src, int dtype)
{
    gru_config cfg = src->cfg;
    cfg.dtype = dtype;
    if (!tmodel_init(dst, &cfg))
        return 0;
    for (int l = 0; l < dst->ref.L; l++)
        for (int d = 0; d < dst->ref.D; d++)
            for (int k = 0; k < REF_NKINDS; k++) {
                size_t n = ref_tensor_size(&dst->ref, l, k);
                if (n)
                    dst->ref.p[l][d][k] = dup_doubles(src->ref.p[l][d][k], n);
            }
    if (!tmodel_push(dst)) {
        tmodel_free(dst);
        return 0;
    }
    return 1;
}
