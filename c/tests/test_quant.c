/*
 * test_quant.c - int8 inference models (gru_quantize, docs/quantization.md):
 *  - an independent emulation of the stated semantics (float32 quantization, int64
 *    dot products checked to fit int32, the float32 gate arithmetic in the stated
 *    order, sigmoid / tanh from the scalar port of the vmath functions) must give the
 *    library's outputs and final states bit for bit, on every kernel set; the scalar
 *    port itself is checked against double-precision sigmoid / tanh (<= 3 ulp);
 *  - every kernel set (scalar, avx2, avx512 -> avx512vnni, neon -> neon / neonmull) and
 *    thread count 1, 2, 3 gives the same bits on many shapes, both variants, lengths,
 *    bidirectional, reverse, batch-first, h0;
 *  - gru_step == gru_forward bitwise;
 *  - the quantized weights (gru_quant_weight_get) and the dequantized params;
 *  - accuracy against the float32 model over T = 1000 (bounds in docs/quantization.md);
 *  - errors: training, backward, parameter writes, gradients, save, bad formats; a
 *    float64 model quantizes as its float32 rounding;
 *  - bfloat16 (GRU_BF16): an independent emulation (bf16 rounding through frexpf/rintf,
 *    the stated pairwise float32 summation order) gives the library's bits on every
 *    float kernel set and 1 or 3 threads; step == forward; the bf16 weights; the refused
 *    calls; accuracy against float32 over T = 1000; the hardware dot product tables
 *    (avx512bf16, neonbf16) within their bounds of the reference.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kernels/vmath_scalar.h"

/* ---- the emulation --------------------------------------------------------------- */

/* One row: a = max |v|, s = a / 127, q = clamp(lrintf(v * (127 / a)), -127, 127). */
static void qe_quantize(size_t K, const float *v, int8_t *q, float *s)
{
    float a = 0.0f;
    for (size_t k = 0; k < K; k++) a = fabsf(v[k]) > a ? fabsf(v[k]) : a;
    memset(q, 0, K);
    *s = a / 127.0f;
    if (!(a > 0.0f)) { *s = 0.0f; return; }
    const float inv = 127.0f / a;
    for (size_t k = 0; k < K; k++) {
        long r = lrintf(v[k] * inv);
        q[k] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
}

/* The bf16 rounding of v by another route than the library's bit trick: v's significand
 * to 8 bits with rintf (ties to even), quantum 2^(e-8) but at least bf16's 2^-133. */
static float be_round(float v)
{
    if (isnan(v) || isinf(v) || v == 0.0f) return v;
    int e;
    (void)frexpf(v, &e);
    const int q = e - 8 < -133 ? -133 : e - 8;
    return ldexpf(rintf(ldexpf(v, -q)), q);
}

/* One layer and direction of the emulated model, int8 or bf16. */
typedef struct qe_layer {
    size_t in;
    int8_t *wih, *whh;   /* int8: (3H, in), (3H, H); NULL in a bf16 model */
    float *sih, *shh;    /* int8: (3H) row scales */
    float *fih, *fhh;    /* bf16: (3H, in), (3H, H) the bf16 values; NULL in an int8 model */
    float *bih, *bhh;    /* (3H) or NULL */
} qe_layer;

typedef struct qe_model {
    int64_t I, H, L, D;
    int ra, reverse;
    int bf16;            /* 0: int8, 1: bf16 */
    qe_layer lay[4][2];
} qe_model;

static int qe_overflow;   /* an int64 sum outside int32: counted as a failure */
static int32_t q_format = GRU_INT8;   /* the format q_make quantizes to (the bf16 sections
                                         set GRU_BF16) */
static int q_bf16_hw;                 /* bf16: 1 lets q_make choose the vdpbf16ps table
                                         (avx512bf16), 0 sets GRU_BF16_EXACT=1 */

/* int8: out[n] = (float)acc * (sw[n] * xs) (+ b[n]) for the N rows of W (N, K). */
static void qe_linear(size_t N, size_t K, const int8_t *W, const float *sw, const int8_t *xq,
                      float xs, const float *b, float *out)
{
    for (size_t n = 0; n < N; n++) {
        int64_t acc = 0;
        for (size_t k = 0; k < K; k++) acc += (int64_t)W[n * K + k] * xq[k];
        if (acc > INT32_MAX || acc < INT32_MIN) qe_overflow = 1;
        const float sc = sw[n] * xs;
        const float v = (float)(int32_t)acc * sc;
        out[n] = b ? v + b[n] : v;
    }
}

/* bf16: out[n] = sum over pairs (zero-padded to a multiple of 32 values) of
 * (acc + w[2j+1] x[2j+1]) + w[2j] x[2j], then + b[n]; x already rounded. */
static void be_linear(size_t N, size_t K, const float *W, const float *x, const float *b,
                      float *out)
{
    const size_t Kp = (K + 31) / 32 * 32;
    for (size_t n = 0; n < N; n++) {
        float acc = 0.0f;
        for (size_t k = 0; k < Kp; k += 2) {
            const float p1 = k + 1 < K ? W[n * K + k + 1] * x[k + 1] : 0.0f * 0.0f;
            const float p0 = k < K ? W[n * K + k] * x[k] : 0.0f;
            acc = acc + p1;
            acc = acc + p0;
        }
        out[n] = b ? acc + b[n] : acc;
    }
}

/* Rows r0 .. r0 + N of the layer's weight w (0: W_ih, 1: W_hh), times v (K), as the
 * format does it, + b (N) when b is not NULL, into out (N): int8 quantizes v (one row,
 * one scale) and sums exactly; bf16 rounds v and sums the pairs in the stated order. */
static void qe_product(const qe_model *q, const qe_layer *p, int w, size_t r0, size_t N,
                       size_t K, const float *v, const float *b, float *out)
{
    if (q->bf16) {
        float *a = malloc(K * sizeof(float));
        for (size_t k = 0; k < K; k++) a[k] = be_round(v[k]);
        be_linear(N, K, (w ? p->fhh : p->fih) + r0 * K, a, b, out);
        free(a);
        return;
    }
    int8_t *a = malloc(K);
    float s;
    qe_quantize(K, v, a, &s);
    qe_linear(N, K, (w ? p->whh : p->wih) + r0 * K, (w ? p->shh : p->sih) + r0, a, s, b, out);
    free(a);
}

static void qe_weight(const double *src, size_t rows, size_t K, int8_t *q, float *s)
{
    float *row = malloc(K * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        for (size_t k = 0; k < K; k++) row[k] = (float)src[i * K + k];
        qe_quantize(K, row, q + i * K, s + i);
    }
    free(row);
}

/* src (n) as float32, each value rounded to bf16 when round is set; NULL for NULL. */
static float *qe_floats(const double *src, size_t n, int round)
{
    if (!src) return NULL;
    float *w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) w[i] = round ? be_round((float)src[i]) : (float)src[i];
    return w;
}

/* The emulation of tm quantized to int8 (bf16 = 0) or bf16 (bf16 = 1). */
static void qe_make(qe_model *q, const tmodel *tm, int bf16)
{
    memset(q, 0, sizeof *q);
    q->I = tm->ref.I; q->H = tm->ref.H; q->L = tm->ref.L; q->D = tm->ref.D;
    q->ra = tm->cfg.reset_after; q->reverse = tm->cfg.reverse; q->bf16 = bf16;
    const size_t H = (size_t)q->H, G = 3 * H;
    for (int l = 0; l < q->L; l++)
        for (int d = 0; d < q->D; d++) {
            qe_layer *p = &q->lay[l][d];
            p->in = l == 0 ? (size_t)q->I : (size_t)(q->D * q->H);
            p->bih = qe_floats(tm->ref.p[l][d][REF_B_IH], G, 0);
            p->bhh = qe_floats(tm->ref.p[l][d][REF_B_HH], G, 0);
            if (bf16) {
                p->fih = qe_floats(tm->ref.p[l][d][REF_W_IH], G * p->in, 1);
                p->fhh = qe_floats(tm->ref.p[l][d][REF_W_HH], G * H, 1);
                continue;
            }
            p->wih = malloc(G * p->in); p->whh = malloc(G * H);
            p->sih = malloc(G * sizeof(float)); p->shh = malloc(G * sizeof(float));
            qe_weight(tm->ref.p[l][d][REF_W_IH], G, p->in, p->wih, p->sih);
            qe_weight(tm->ref.p[l][d][REF_W_HH], G, H, p->whh, p->shh);
        }
}

static void qe_free(qe_model *q)
{
    for (int l = 0; l < 4; l++)
        for (int d = 0; d < 2; d++) {
            qe_layer *p = &q->lay[l][d];
            free(p->wih); free(p->whh); free(p->sih); free(p->shh);
            free(p->fih); free(p->fhh); free(p->bih); free(p->bhh);
        }
}

/* One step of one sequence: h (H) -> hn (H) from the layer input x (in), each product
 * as qe_product does it in the model's format, the gates in float32 in the stated
 * order. */
static void qe_cell(const qe_model *q, const qe_layer *p, const float *x, const float *h,
                    float *hn)
{
    const size_t H = (size_t)q->H, G = 3 * H;
    float *gi = malloc(G * sizeof(float)), *gh = malloc(G * sizeof(float));
    float *rh = malloc(H * sizeof(float));
    qe_product(q, p, 0, 0, G, p->in, x, p->bih, gi);
    qe_product(q, p, 1, 0, q->ra ? G : 2 * H, H, h, p->bhh, gh);
    for (size_t j = 0; j < H; j++) {
        gh[j] = gru_sigmoid_f(gi[j] + gh[j]);               /* r */
        gh[H + j] = gru_sigmoid_f(gi[H + j] + gh[H + j]);   /* z */
        rh[j] = gh[j] * h[j];
    }
    if (!q->ra)   /* gh_n = W_hn Q(r h) + b_hn */
        qe_product(q, p, 1, 2 * H, H, H, rh, p->bhh ? p->bhh + 2 * H : NULL, gh + 2 * H);
    for (size_t j = 0; j < H; j++) {
        const float rn = q->ra ? gh[j] * gh[2 * H + j] : gh[2 * H + j];
        const float n = gru_tanh_f(gi[2 * H + j] + rn), z = gh[H + j];
        const float a = (1.0f - z) * n;
        const float c = z * h[j];
        hn[j] = a + c;
    }
    free(gi); free(gh); free(rh);
}

/* The forward, time-major: x (T, B, I), h0 (L*D, B, H) or NULL, out (T, B, D*H),
 * h_n (L*D, B, H). */
static void qe_forward(const qe_model *q, int64_t T, int64_t B, const float *x,
                       const float *h0, const int32_t *len, float *out, float *h_n)
{
    const size_t H = (size_t)q->H, DH = (size_t)(q->D * q->H);
    float *in = malloc((size_t)(T * B) * (DH > (size_t)q->I ? DH : (size_t)q->I) * sizeof(float));
    float *h = malloc(H * sizeof(float)), *hn = malloc(H * sizeof(float));
    size_t in_w = (size_t)q->I;
    memcpy(in, x, (size_t)(T * B) * in_w * sizeof(float));
    for (int l = 0; l < q->L; l++) {
        for (int d = 0; d < q->D; d++)
            for (int64_t b = 0; b < B; b++) {
                const size_t k = (size_t)(l * q->D + d);
                const int back = d == 1 || q->reverse;
                const int64_t n = len ? len[b] : T;
                if (h0) memcpy(h, h0 + (k * (size_t)B + (size_t)b) * H, H * sizeof(float));
                else memset(h, 0, H * sizeof(float));
                for (int64_t s = 0; s < T; s++) {
                    const int64_t t = back ? (s < n ? n - 1 - s : s) : s;
                    float *o = out + ((size_t)(t * B + b)) * DH + (size_t)d * H;
                    if (t >= n) { memset(o, 0, H * sizeof(float)); continue; }
                    qe_cell(q, &q->lay[l][d], in + (size_t)(t * B + b) * in_w, h, hn);
                    memcpy(h, hn, H * sizeof(float));
                    memcpy(o, h, H * sizeof(float));
                }
                memcpy(h_n + (k * (size_t)B + (size_t)b) * H, h, H * sizeof(float));
            }
        in_w = DH;
        memcpy(in, out, (size_t)(T * B) * DH * sizeof(float));
    }
    free(in); free(h); free(hn);
}

/* ---- helpers ------------------------------------------------------------------------ */

typedef struct qcase {
    int64_t T, B, I, H, L;
    int ra, bidir, reverse, bf, h0, len, bias;
} qcase;

static void qcase_ctx(const qcase *c, const char *what)
{
    check_set_ctx("%s T=%lld B=%lld I=%lld H=%lld L=%lld ra=%d bi=%d rev=%d bf=%d h0=%d len=%d "
                  "bias=%d", what, (long long)c->T, (long long)c->B, (long long)c->I,
                  (long long)c->H, (long long)c->L, c->ra, c->bidir, c->reverse, c->bf, c->h0,
                  c->len, c->bias);
}

static float *rand_floats(rng *g, size_t n, double lo, double hi)
{
    float *a = malloc(n * sizeof(float) + 1);
    for (size_t i = 0; i < n; i++) a[i] = (float)rng_uniform(g, lo, hi);
    return a;
}

/* (T, B, W) <-> (B, T, W). */
static void transpose_tb(int64_t T, int64_t B, size_t W, const float *src, float *dst, int to_bf)
{
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            const size_t tm = (size_t)(t * B + b) * W, bm = (size_t)(b * T + t) * W;
            memcpy(dst + (to_bf ? bm : tm), src + (to_bf ? tm : bm), W * sizeof(float));
        }
}

/* Runs the int8 forward of q (x, out time-major; batch-first through transposes). */
static gru_status q_run(gru_model *q, const qcase *c, const float *x, const float *h0,
                        const int32_t *len, float *out, float *h_n)
{
    const size_t DH = (size_t)(c->bidir ? 2 : 1) * (size_t)c->H;
    if (!c->bf) return gru_forward(q, 0, c->T, c->B, 0, x, h0, len, out, h_n, NULL, 0);
    float *xb = malloc((size_t)(c->T * c->B * c->I) * sizeof(float));
    float *ob = malloc((size_t)(c->T * c->B) * DH * sizeof(float));
    transpose_tb(c->T, c->B, (size_t)c->I, x, xb, 1);
    gru_status st = gru_forward(q, 0, c->T, c->B, 1, xb, h0, len, ob, h_n, NULL, 0);
    transpose_tb(c->T, c->B, DH, ob, out, 0);
    free(xb); free(ob);
    return st;
}

/* The case's float32 model (PyTorch's init scale 1/sqrt(H)), input, h0 and lengths. */
typedef struct qdata {
    tmodel tm;
    float *x, *h0;
    int32_t *len;
    size_t nout, nh;
} qdata;

static int qdata_make(qdata *qd, const qcase *c, uint64_t seed)
{
    rng g = {seed};
    gru_config cfg = make_config(c->I, c->H, c->L, c->bidir, c->bias, c->ra, GRU_FLOAT32);
    cfg.reverse = c->reverse;
    memset(qd, 0, sizeof *qd);
    if (!tmodel_create(&qd->tm, &cfg, &g, 1.0 / sqrt((double)c->H))) return 0;
    const size_t D = c->bidir ? 2 : 1;
    qd->nout = (size_t)(c->T * c->B) * D * (size_t)c->H;
    qd->nh = (size_t)c->L * D * (size_t)(c->B * c->H);
    qd->x = rand_floats(&g, (size_t)(c->T * c->B * c->I), -2.0, 2.0);
    qd->h0 = c->h0 ? rand_floats(&g, qd->nh, -0.9, 0.9) : NULL;
    if (c->len) {
        qd->len = malloc((size_t)c->B * sizeof(int32_t));
        for (int64_t b = 0; b < c->B; b++)
            qd->len[b] = (int32_t)(1 + rng_next(&g) % (uint64_t)c->T);
        qd->len[0] = (int32_t)c->T;
    }
    return 1;
}

static void qdata_free(qdata *qd)
{
    tmodel_free(&qd->tm);
    free(qd->x); free(qd->h0); free(qd->len);
}

/* gru_quantize of m under GRU_ISA = isa (NULL: unset) and GRU_THREAD_MIN_WORK = 0 with
 * `threads` threads. */
static gru_model *q_make(const gru_model *m, const char *isa, int threads)
{
    gru_model *q = NULL;
    set_isa_env(isa);
    setenv("GRU_THREAD_MIN_WORK", "0", 1);
    if (!q_bf16_hw) setenv("GRU_BF16_EXACT", "1", 1);
    gru_status st = gru_quantize(m, q_format, &q);
    unsetenv("GRU_BF16_EXACT");
    unsetenv("GRU_THREAD_MIN_WORK");
    set_isa_env(NULL);
    CHECK_MSG(st == GRU_OK, "gru_quantize under GRU_ISA=%s: %s", isa ? isa : "-",
              gru_strerror(st));
    if (q && threads > 1 && gru_set_num_threads(q, threads) != GRU_OK) {
        gru_destroy(q);
        return NULL;
    }
    return q;
}

/* ---- the sections ------------------------------------------------------------------- */

static const qcase emu_cases[] = {
    /* T  B  I   H  L ra bi rev bf h0 len bias */
    {5, 3, 7, 9, 1, 1, 0, 0, 0, 0, 0, 1},
    {6, 2, 5, 11, 1, 0, 0, 0, 0, 1, 1, 1},
    {4, 5, 70, 17, 2, 1, 1, 0, 1, 1, 1, 1},
    {7, 1, 3, 33, 2, 0, 1, 0, 0, 0, 1, 0},
    {9, 4, 16, 65, 1, 1, 0, 1, 1, 1, 1, 1},
    {3, 33, 9, 5, 3, 0, 0, 1, 0, 1, 0, 1},
    {12, 2, 130, 40, 2, 1, 0, 0, 0, 0, 1, 1},
    /* input chunks of 2 steps x 85 = 170 rows of a wide input: the SIMD products take X
     * in slices of at most 256 KiB (int8: 160 or 162 rows of 1600 bytes; bf16: 80 or 81
     * rows of 3200 bytes), so a chunk is 2 or 3 slices */
    {3, 85, 1600, 9, 1, 1, 0, 0, 0, 0, 1, 1},
};

/* The library's outputs and final states == the emulation's, bit for bit. */
static void test_q_emulation(void)
{
    for (size_t i = 0; i < sizeof emu_cases / sizeof emu_cases[0]; i++) {
        const qcase *c = &emu_cases[i];
        qdata qd;
        if (!qdata_make(&qd, c, 1000 + i)) continue;
        qe_model qe;
        qe_make(&qe, &qd.tm, 0);
        float *oe = malloc(qd.nout * sizeof(float)), *he = malloc(qd.nh * sizeof(float));
        float *ol = malloc(qd.nout * sizeof(float)), *hl = malloc(qd.nh * sizeof(float));
        qe_overflow = 0;
        qe_forward(&qe, c->T, c->B, qd.x, qd.h0, qd.len, oe, he);
        CHECK(!qe_overflow);
        gru_model *q = q_make(qd.tm.m, NULL, 1);
        qcase_ctx(c, "emulation");
        if (q) {
            CHECK_OK(q_run(q, c, qd.x, qd.h0, qd.len, ol, hl));
            CHECK_SAME("output", oe, ol, qd.nout * sizeof(float));
            CHECK_SAME("h_n", he, hl, qd.nh * sizeof(float));
        }
        gru_destroy(q);
        free(oe); free(he); free(ol); free(hl);
        qe_free(&qe);
        qdata_free(&qd);
    }
    check_set_ctx("%s", "");
}

/* A random case of the cross-ISA grid. */
static void q_random_case(rng *g, qcase *c)
{
    static const int64_t sizes[] = {1, 3, 7, 16, 17, 31, 48, 63, 64, 65, 100, 129};
    c->T = 1 + (int64_t)(rng_next(g) % 50);
    c->B = 1 + (int64_t)(rng_next(g) % 33);
    c->I = sizes[rng_next(g) % 12];
    c->H = sizes[rng_next(g) % 12];
    c->L = 1 + (int64_t)(rng_next(g) % 2);
    c->ra = (int)(rng_next(g) % 2);
    c->bidir = (int)(rng_next(g) % 3 == 0);
    c->reverse = !c->bidir && rng_next(g) % 3 == 0;
    c->bf = (int)(rng_next(g) % 2);
    c->h0 = (int)(rng_next(g) % 2);
    c->len = (int)(rng_next(g) % 2);
    c->bias = rng_next(g) % 4 != 0;
}

/* The int8 set a float set gives (gru_quantize): avx512 -> avx512vnni when the CPU has
 * it, else avx2; avx2 -> avx2; neon -> neon when the CPU has SDOT, else neonmull;
 * anything else -> scalar. */
static const char *q_expected_isa(const char *isa)
{
    if (q_format == GRU_BF16)   /* bf16, GRU_BF16_EXACT=1: avx512, avx2, neon as the float set */
        return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ||
                       strcmp(isa, "neon") == 0 ? isa : "scalar";
    const int vnni = strstr(gru_available_quant_isas(), "avx512vnni") != NULL;
    const char *avail = gru_available_quant_isas();
    if (strcmp(isa, "avx512") == 0) return vnni ? "avx512vnni" : "avx2";
    if (strcmp(isa, "neon") == 0)
        return strcmp(avail, "scalar neon") == 0       ? "neon"
               : strcmp(avail, "scalar neonmull") == 0 ? "neonmull" : "scalar";
    return strcmp(isa, "avx2") == 0 ? "avx2" : "scalar";
}

/* Every kernel set and thread count 1, 2, 3 == the scalar set on one thread. */
static void test_q_isas(void)
{
    char isas[256];
    snprintf(isas, sizeof isas, "%s", gru_available_isas());
    rng g = {77};
#if defined(__aarch64__)
    const int ncases = q_format == GRU_BF16 ? 8 : 16;   /* under qemu (make test-neon) */
#else
    const int ncases = q_format == GRU_BF16 ? 15 : 40;
#endif
    for (int i = 0; i < ncases; i++) {
        qcase c;
        q_random_case(&g, &c);
        qdata qd;
        if (!qdata_make(&qd, &c, 2000 + (uint64_t)i)) continue;
        float *o0 = malloc(qd.nout * sizeof(float)), *h0 = malloc(qd.nh * sizeof(float));
        float *o1 = malloc(qd.nout * sizeof(float)), *h1 = malloc(qd.nh * sizeof(float));
        gru_model *q = q_make(qd.tm.m, "scalar", 1);
        qcase_ctx(&c, "scalar");
        if (q) CHECK_OK(q_run(q, &c, qd.x, qd.h0, qd.len, o0, h0));
        gru_destroy(q);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", isas);
        for (char *sv = NULL, *isa = strtok_r(buf, " ", &sv); isa; isa = strtok_r(NULL, " ", &sv))
            for (int th = 1; th <= 3; th++) {
                q = q_make(qd.tm.m, isa, th);
                qcase_ctx(&c, isa);
                if (!q) continue;
                CHECK_MSG(strcmp(gru_quant_isa(q), q_expected_isa(isa)) == 0,
                          "GRU_ISA=%s gives int8 set %s, expected %s", isa, gru_quant_isa(q),
                          q_expected_isa(isa));
                CHECK_OK(q_run(q, &c, qd.x, qd.h0, qd.len, o1, h1));
                CHECK_MSG(memcmp(o0, o1, qd.nout * sizeof(float)) == 0 &&
                              memcmp(h0, h1, qd.nh * sizeof(float)) == 0,
                          "format %d set %s, %d threads: outputs differ from the scalar set's",
                          (int)q_format,
                          gru_quant_isa(q), th);
                gru_destroy(q);
            }
        free(o0); free(h0); free(o1); free(h1);
        qdata_free(&qd);
    }
    check_set_ctx("%s", "");
}

/* gru_step over T steps == the forward (outputs of every step, final state). */
static void test_q_step(void)
{
    static const qcase cases[] = {
        {8, 3, 7, 9, 1, 1, 0, 0, 0, 1, 0, 1},
        {6, 1, 64, 64, 2, 0, 0, 0, 0, 0, 0, 1},
        {5, 17, 33, 47, 3, 1, 0, 0, 0, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const qcase *c = &cases[i];
        qdata qd;
        if (!qdata_make(&qd, c, 3000 + i)) continue;
        const size_t BH = (size_t)(c->B * c->H);
        float *of = malloc(qd.nout * sizeof(float)), *hf = malloc(qd.nh * sizeof(float));
        float *os = malloc(qd.nout * sizeof(float)), *state = malloc(qd.nh * sizeof(float));
        gru_model *q = q_make(qd.tm.m, NULL, 1 + (int)i % 2);
        qcase_ctx(c, "step");
        size_t bytes = 0;
        if (q && CHECK_OK(gru_step_scratch_size(q, c->B, &bytes))) {
            void *scratch = malloc(bytes);
            CHECK_OK(q_run(q, c, qd.x, qd.h0, NULL, of, hf));
            if (qd.h0) memcpy(state, qd.h0, qd.nh * sizeof(float));
            else memset(state, 0, qd.nh * sizeof(float));
            for (int64_t t = 0; t < c->T; t++)
                CHECK_OK(gru_step(q, c->B, qd.x + (size_t)(t * c->B * c->I), state,
                                  os + (size_t)t * BH, scratch, bytes));
            CHECK_SAME("step outputs", of, os, qd.nout * sizeof(float));
            CHECK_SAME("step state", hf, state, qd.nh * sizeof(float));
            CHECK_OK(gru_step_reset(q, c->B, state, 0));
            free(scratch);
        }
        gru_destroy(q);
        free(of); free(hf); free(os); free(state);
        qdata_free(&qd);
    }
    check_set_ctx("%s", "");
}

/* gru_quant_weight_get == the emulation's quantized weights; gru_param_get == q * s. */
static void test_q_weights(void)
{
    const qcase c = {2, 1, 13, 21, 2, 1, 1, 0, 0, 0, 0, 1};
    qdata qd;
    if (!qdata_make(&qd, &c, 4000)) return;
    qe_model qe;
    qe_make(&qe, &qd.tm, 0);
    gru_model *q = q_make(qd.tm.m, NULL, 1);
    const size_t G = 3 * (size_t)c.H;
    for (int l = 0; l < c.L && q; l++)
        for (int d = 0; d < 2; d++) {
            const qe_layer *p = &qe.lay[l][d];
            char name[64];
            for (int w = 0; w < 2; w++) {
                const size_t K = w ? (size_t)c.H : p->in;
                int8_t *v = malloc(G * K);
                float *s = malloc(G * sizeof(float)), *dq = malloc(G * K * sizeof(float));
                ref_tensor_name(name, sizeof name, l, d, w ? REF_W_HH : REF_W_IH);
                check_set_ctx("weights %s", name);
                CHECK_OK(gru_quant_weight_get(q, name, v, G * K, s, G));
                CHECK_SAME("int8 values", v, w ? p->whh : p->wih, G * K);
                CHECK_SAME("scales", s, w ? p->shh : p->sih, G * sizeof(float));
                CHECK_OK(gru_param_get(q, name, dq, G * K));
                int ok = 1;
                for (size_t e = 0; e < G * K; e++) ok &= dq[e] == (float)v[e] * s[e / K];
                CHECK_MSG(ok, "gru_param_get gives q * scale");
                CHECK_STATUS(gru_quant_weight_get(q, name, v, G * K - 1, s, G),
                             GRU_ERR_SIZE_MISMATCH);
                free(v); free(s); free(dq);
            }
        }
    check_set_ctx("%s", "");
    if (q) {
        int8_t v[8];
        float s[8];
        CHECK_STATUS(gru_quant_weight_get(q, "bias_ih_l0", v, 8, s, 8), GRU_ERR_UNKNOWN_NAME);
        CHECK_STATUS(gru_quant_weight_get(qd.tm.m, "weight_ih_l0", v, 8, s, 8),
                     GRU_ERR_UNSUPPORTED);
        CHECK(gru_quant_format(q) == GRU_INT8 && gru_quant_format(qd.tm.m) == 0);
        CHECK(gru_quant_isa(q) != NULL && gru_quant_isa(qd.tm.m) == NULL);
    }
    gru_destroy(q);
    qe_free(&qe);
    qdata_free(&qd);
}

/* Accuracy against the float32 model: PyTorch's init U(-1/sqrt(H), 1/sqrt(H)), inputs
 * U(-2, 2), T = 1000. Bounds (docs/quantization.md): a little above the measured. */
#define Q_ACC_MAX_BOUND 0.02
#define Q_ACC_MEAN_BOUND 0.0025
static void test_q_accuracy(void)
{
    static const qcase cases[] = {
        {1000, 4, 64, 64, 1, 1, 0, 0, 0, 0, 0, 1},
        {1000, 4, 64, 64, 1, 0, 0, 0, 0, 0, 0, 1},
        {1000, 2, 40, 128, 2, 1, 1, 0, 0, 0, 0, 1},
        {1000, 2, 40, 128, 2, 0, 0, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const qcase *c = &cases[i];
        qdata qd;
        if (!qdata_make(&qd, c, 5000 + i)) continue;
        float *of = malloc(qd.nout * sizeof(float)), *oq = malloc(qd.nout * sizeof(float));
        gru_model *q = q_make(qd.tm.m, NULL, 1);
        qcase_ctx(c, "accuracy");
        if (q && CHECK_OK(gru_forward(qd.tm.m, 0, c->T, c->B, 0, qd.x, NULL, NULL, of, NULL,
                                      NULL, 0)) &&
            CHECK_OK(q_run(q, c, qd.x, NULL, NULL, oq, NULL))) {
            double mx = 0, sum = 0, last = 0;
            const size_t tail = qd.nout / 10;   /* the last 100 steps */
            for (size_t e = 0; e < qd.nout; e++) {
                const double d = fabs((double)of[e] - (double)oq[e]);
                mx = d > mx ? d : mx;
                sum += d;
                if (e >= qd.nout - tail) last = d > last ? d : last;
            }
            printf("  int8 accuracy T=%lld B=%lld I=%lld H=%lld L=%lld ra=%d bi=%d: max %.5f "
                   "mean %.6f (last 100 steps: max %.5f)\n", (long long)c->T, (long long)c->B,
                   (long long)c->I, (long long)c->H, (long long)c->L, c->ra, c->bidir, mx,
                   sum / (double)qd.nout, last);
            CHECK_MSG(mx <= Q_ACC_MAX_BOUND, "max abs error %g > %g", mx, Q_ACC_MAX_BOUND);
            CHECK_MSG(sum / (double)qd.nout <= Q_ACC_MEAN_BOUND, "mean abs error %g > %g",
                      sum / (double)qd.nout, Q_ACC_MEAN_BOUND);
        }
        gru_destroy(q);
        free(of); free(oq);
        qdata_free(&qd);
    }
    check_set_ctx("%s", "");
}

/* Every refused call, bad formats, and a float64 model. */
static void test_q_errors(void)
{
    const qcase c = {3, 2, 5, 6, 1, 1, 0, 0, 0, 0, 0, 1};
    qdata qd;
    if (!qdata_make(&qd, &c, 6000)) return;
    gru_model *q = NULL, *q2 = NULL;
    check_set_ctx("quant errors");
    CHECK_STATUS(gru_quantize(qd.tm.m, 0, &q), GRU_ERR_INVALID_ARG);
    CHECK(q == NULL);
    CHECK_STATUS(gru_quantize(qd.tm.m, 3, &q), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_quantize(NULL, GRU_INT8, &q), GRU_ERR_NULL);
    CHECK_STATUS(gru_quantize(qd.tm.m, GRU_INT8, NULL), GRU_ERR_NULL);
    if (!CHECK_OK(gru_quantize(qd.tm.m, GRU_INT8, &q))) goto done;
    CHECK_STATUS(gru_quantize(q, GRU_INT8, &q2), GRU_ERR_UNSUPPORTED);
    float out[3 * 2 * 6], buf[64] = {0}, w[64];
    size_t ws = 0;
    void *data = NULL;
    CHECK_STATUS(gru_workspace_size(q, 3, 2, 1, &ws), GRU_ERR_UNSUPPORTED);
    CHECK_OK(gru_workspace_size(q, 3, 2, 0, &ws));
    unsigned char *work = malloc(ws + 4096 * 4);
    CHECK_STATUS(gru_forward(q, 1, 3, 2, 0, qd.x, NULL, NULL, out, NULL, work, ws + 16384),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_backward(q, 3, 2, 0, qd.x, work, ws, out, NULL, NULL, NULL),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_param_set(q, "bias_ih_l0", buf, 18), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_param_data(q, "bias_ih_l0", &data, NULL), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_params_changed(q, NULL), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_grad_data(q, "bias_ih_l0", &data, NULL), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_grad_get(q, "bias_ih_l0", buf, 18), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_zero_grad(q), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_dropout_masks(q, work, ws, 0, 0, NULL, 0, NULL, 0), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_save(q, "/nonexistent-dir/q.safetensors"), GRU_ERR_IO);   /* int8 files: test_qfile.c */
    CHECK_OK(gru_param_get(q, "bias_ih_l0", w, 18));
    CHECK(memcmp(w, gru_param_data(qd.tm.m, "bias_ih_l0", &data, NULL) == GRU_OK ? data : buf,
                 18 * sizeof(float)) == 0);
    CHECK_OK(gru_forward(q, 0, 3, 2, 0, qd.x, NULL, NULL, out, NULL, work, ws));
    CHECK(strstr(gru_strerror(GRU_ERR_UNSUPPORTED), "int8") != NULL);
    /* a float64 model quantizes as its float32 rounding (tmodel values are float32) */
    tmodel t64;
    if (tmodel_clone(&t64, &qd.tm, GRU_FLOAT64)) {
        float out64[3 * 2 * 6];
        if (CHECK_OK(gru_quantize(t64.m, GRU_INT8, &q2))) {
            CHECK_OK(gru_forward(q2, 0, 3, 2, 0, qd.x, NULL, NULL, out64, NULL, NULL, 0));
            CHECK_SAME("float64 model quantized", out, out64, sizeof out);
        }
        tmodel_free(&t64);
    }
    free(work);
done:
    gru_destroy(q);
    gru_destroy(q2);
    qdata_free(&qd);
    check_set_ctx("%s", "");
}

/* The scalar port of sigmoid / tanh: within 3 ulp of double-precision references. */
static long ulp_dist(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return labs((long)ia - (long)ib);
}

static void test_q_vmath(void)
{
    rng g = {99};
    long worst_s = 0, worst_t = 0;
    for (int i = 0; i < 1 << 18; i++) {
        const float x = (float)rng_uniform(&g, -30.0, 30.0) *
                        (float)(i % 3 == 0 ? 1.0 : i % 3 == 1 ? 0.01 : 1e-4);
        const long ds = ulp_dist(gru_sigmoid_f(x), (float)(1.0 / (1.0 + exp(-(double)x))));
        const long dt = ulp_dist(gru_tanh_f(x), (float)tanh((double)x));
        worst_s = ds > worst_s ? ds : worst_s;
        worst_t = dt > worst_t ? dt : worst_t;
    }
    CHECK_MSG(worst_s <= 3 && worst_t <= 3, "scalar vmath port: sigmoid %ld ulp, tanh %ld ulp",
              worst_s, worst_t);
    CHECK(gru_sigmoid_f(0.0f) == 0.5f && gru_tanh_f(-0.0f) == 0.0f && signbit(gru_tanh_f(-0.0f)));
    CHECK(gru_sigmoid_f(-INFINITY) == 0.0f && gru_sigmoid_f(INFINITY) == 1.0f);
    CHECK(gru_tanh_f(INFINITY) == 1.0f && gru_tanh_f(-INFINITY) == -1.0f);
}

/* ---- bfloat16 (GRU_BF16) ------------------------------------------------------------ */

/* The rounding itself: be_round against the library's on special and random values
 * (through the dequantized weights of a 1-unit model would be indirect; the emulation
 * below covers the library; here the emulation's rounding is checked on known values). */
static void test_bf16_round(void)
{
    check_set_ctx("bf16 rounding");
    CHECK(be_round(1.0f) == 1.0f);
    CHECK(be_round(1.0f + 0x1p-8f) == 1.0f);                 /* tie -> even */
    CHECK(be_round(1.0f + 0x1p-7f + 0x1p-8f) == 1.0f + 0x1p-6f);   /* tie -> even (up) */
    CHECK(be_round(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
    CHECK(be_round(-3.0f) == -3.0f);
    CHECK(isinf(be_round(0x1.ffp127f)));   /* the tie above the largest bf16 -> infinity */
    CHECK(be_round(0x1p-140f) == 0.0f && be_round(0x1.8p-133f) == 0x1p-132f);
    check_set_ctx("%s", "");
}

/* The library's bf16 outputs and final states == the emulation's, bit for bit, on every
 * float kernel set (the bf16 set follows it) and 1 or 3 threads; the int8 emulation's
 * shapes (emu_cases). */
static void test_bf16_emulation(void)
{
    char isas[256];
    snprintf(isas, sizeof isas, "%s", gru_available_isas());
    for (size_t i = 0; i < sizeof emu_cases / sizeof emu_cases[0]; i++) {
        const qcase *c = &emu_cases[i];
        qdata qd;
        if (!qdata_make(&qd, c, 7000 + i)) continue;
        qe_model be;
        qe_make(&be, &qd.tm, 1);
        float *oe = malloc(qd.nout * sizeof(float)), *he = malloc(qd.nh * sizeof(float));
        float *ol = malloc(qd.nout * sizeof(float)), *hl = malloc(qd.nh * sizeof(float));
        qe_forward(&be, c->T, c->B, qd.x, qd.h0, qd.len, oe, he);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", isas);
        for (char *sv = NULL, *isa = strtok_r(buf, " ", &sv); isa; isa = strtok_r(NULL, " ", &sv))
            for (int th = 1; th <= 3; th += 2) {
                gru_model *q = q_make(qd.tm.m, isa, th);
                qcase_ctx(c, isa);
                if (!q) continue;
                CHECK(gru_quant_format(q) == GRU_BF16);
                CHECK_OK(q_run(q, c, qd.x, qd.h0, qd.len, ol, hl));
                CHECK_SAME("bf16 output", oe, ol, qd.nout * sizeof(float));
                CHECK_SAME("bf16 h_n", he, hl, qd.nh * sizeof(float));
                gru_destroy(q);
            }
        free(oe); free(he); free(ol); free(hl);
        qe_free(&be);
        qdata_free(&qd);
    }
    check_set_ctx("%s", "");
}

/* gru_param_get of a bf16 model: the bf16-rounded weights, the biases unchanged;
 * gru_quant_weight_get refuses (int8 only). */
static void test_bf16_weights(void)
{
    const qcase c = {2, 1, 13, 21, 2, 1, 1, 0, 0, 0, 0, 1};
    qdata qd;
    if (!qdata_make(&qd, &c, 7500)) return;
    qe_model be;
    qe_make(&be, &qd.tm, 1);
    gru_model *q = q_make(qd.tm.m, NULL, 1);
    const size_t G = 3 * (size_t)c.H;
    for (int l = 0; l < c.L && q; l++)
        for (int d = 0; d < 2; d++) {
            const qe_layer *p = &be.lay[l][d];
            char name[64];
            for (int w = 0; w < 2; w++) {
                const size_t K = w ? (size_t)c.H : p->in;
                float *v = malloc(G * K * sizeof(float));
                int8_t i8[8];
                float s[8];
                ref_tensor_name(name, sizeof name, l, d, w ? REF_W_HH : REF_W_IH);
                check_set_ctx("bf16 weights %s", name);
                CHECK_OK(gru_param_get(q, name, v, G * K));
                CHECK_SAME("bf16 weights", v, w ? p->fhh : p->fih, G * K * sizeof(float));
                CHECK_STATUS(gru_quant_weight_get(q, name, i8, 8, s, 8), GRU_ERR_UNSUPPORTED);
                free(v);
            }
        }
    if (q) {
        float b[63];
        CHECK_OK(gru_param_get(q, "bias_hh_l1_reverse", b, G));
        CHECK_SAME("bias", b, be.lay[1][1].bhh, G * sizeof(float));
        CHECK(strcmp(gru_quant_isa(q), q_expected_isa(gru_isa(q))) == 0);
        CHECK(strncmp(gru_available_bf16_isas(), "scalar", 6) == 0);
    }
    check_set_ctx("%s", "");
    gru_destroy(q);
    qe_free(&be);
    qdata_free(&qd);
}

/* Refused calls and a float64 model (as int8's). */
static void test_bf16_errors(void)
{
    const qcase c = {3, 2, 5, 6, 1, 0, 0, 0, 0, 0, 0, 1};
    qdata qd;
    if (!qdata_make(&qd, &c, 7600)) return;
    gru_model *q = NULL, *q2 = NULL;
    check_set_ctx("bf16 errors");
    if (!CHECK_OK(gru_quantize(qd.tm.m, GRU_BF16, &q))) goto done;
    CHECK_STATUS(gru_quantize(q, GRU_BF16, &q2), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_quantize(q, GRU_INT8, &q2), GRU_ERR_UNSUPPORTED);
    float out[3 * 2 * 6], buf[64] = {0};
    size_t ws = 0;
    void *data = NULL;
    CHECK_STATUS(gru_workspace_size(q, 3, 2, 1, &ws), GRU_ERR_UNSUPPORTED);
    CHECK_OK(gru_workspace_size(q, 3, 2, 0, &ws));
    unsigned char *work = malloc(ws + 16384);
    CHECK_STATUS(gru_forward(q, 1, 3, 2, 0, qd.x, NULL, NULL, out, NULL, work, ws + 16384),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_backward(q, 3, 2, 0, qd.x, work, ws, out, NULL, NULL, NULL),
                 GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_param_set(q, "bias_ih_l0", buf, 18), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_param_data(q, "bias_ih_l0", &data, NULL), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_params_changed(q, NULL), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_grad_get(q, "bias_ih_l0", buf, 18), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_zero_grad(q), GRU_ERR_UNSUPPORTED);
    CHECK_STATUS(gru_save(q, "/nonexistent-dir/q.safetensors"), GRU_ERR_IO);   /* bf16 files: test_qfile.c */
    CHECK_OK(gru_forward(q, 0, 3, 2, 0, qd.x, NULL, NULL, out, NULL, work, ws));
    tmodel t64;
    if (tmodel_clone(&t64, &qd.tm, GRU_FLOAT64)) {
        float out64[3 * 2 * 6];
        if (CHECK_OK(gru_quantize(t64.m, GRU_BF16, &q2))) {
            CHECK_OK(gru_forward(q2, 0, 3, 2, 0, qd.x, NULL, NULL, out64, NULL, NULL, 0));
            CHECK_SAME("float64 model in bf16", out, out64, sizeof out);
        }
        tmodel_free(&t64);
    }
    free(work);
done:
    gru_destroy(q);
    gru_destroy(q2);
    qdata_free(&qd);
    check_set_ctx("%s", "");
}

/* Accuracy of bf16 against float32 over T = 1000 (docs/quantization.md). */
#define BF16_ACC_MAX_BOUND 0.007
#define BF16_ACC_MEAN_BOUND 0.0008
static void test_bf16_accuracy(void)
{
    static const qcase cases[] = {
        {1000, 4, 64, 64, 1, 1, 0, 0, 0, 0, 0, 1},
        {1000, 4, 64, 64, 1, 0, 0, 0, 0, 0, 0, 1},
        {1000, 2, 40, 128, 2, 1, 1, 0, 0, 0, 0, 1},
        {1000, 2, 40, 128, 2, 0, 0, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const qcase *c = &cases[i];
        qdata qd;
        if (!qdata_make(&qd, c, 5000 + i)) continue;
        float *of = malloc(qd.nout * sizeof(float)), *oq = malloc(qd.nout * sizeof(float));
        gru_model *q = q_make(qd.tm.m, NULL, 1);
        qcase_ctx(c, "bf16 accuracy");
        if (q && CHECK_OK(gru_forward(qd.tm.m, 0, c->T, c->B, 0, qd.x, NULL, NULL, of, NULL,
                                      NULL, 0)) &&
            CHECK_OK(q_run(q, c, qd.x, NULL, NULL, oq, NULL))) {
            double mx = 0, sum = 0, last = 0;
            const size_t tail = qd.nout / 10;
            for (size_t e = 0; e < qd.nout; e++) {
                const double d = fabs((double)of[e] - (double)oq[e]);
                mx = d > mx ? d : mx;
                sum += d;
                if (e >= qd.nout - tail) last = d > last ? d : last;
            }
            printf("  bf16 accuracy (%s) T=%lld B=%lld I=%lld H=%lld L=%lld ra=%d bi=%d: max "
                   "%.5f mean %.6f (last 100 steps: max %.5f)\n", gru_quant_isa(q),
                   (long long)c->T, (long long)c->B,
                   (long long)c->I, (long long)c->H, (long long)c->L, c->ra, c->bidir, mx,
                   sum / (double)qd.nout, last);
            CHECK_MSG(mx <= BF16_ACC_MAX_BOUND, "max abs error %g > %g", mx, BF16_ACC_MAX_BOUND);
            CHECK_MSG(sum / (double)qd.nout <= BF16_ACC_MEAN_BOUND, "mean abs error %g > %g",
                      sum / (double)qd.nout, BF16_ACC_MEAN_BOUND);
        }
        gru_destroy(q);
        free(of); free(oq);
        qdata_free(&qd);
    }
    check_set_ctx("%s", "");
}

/* The hardware bf16 dot product tables (vdpbf16ps: avx512bf16 under the float set
 * avx512; BFDOT: neonbf16 under neon) against the scalar reference on random cases:
 * within their bound (absolute, outputs and states; docs/quantization.md), the same
 * bits for 1, 2, 3 threads, step == forward (test_q_step rerun on it) and as close to
 * float32 as the reference (test_bf16_accuracy rerun on it).
 * vdpbf16ps rounds as the reference but for subnormals: BF16_HW_BOUND. BFDOT rounds
 * every step to odd and adds the pair first: its pre-activations differ from the
 * reference's by float32 roundings, but a state that differs by one float32 ulp can
 * round to the neighbouring bf16 value at the next step, so the outputs (in (-1, 1))
 * differ by a fraction of a bf16 ulp: BF16_BFDOT_BOUND = 2^-8, the bf16 ulp of [0.5, 1)
 * (measured 6.1e-4 over 40 random cases, 1.0e-4 over these 15). */
#define BF16_HW_BOUND 2e-5
#define BF16_BFDOT_BOUND 0x1p-8
static void test_bf16_hw(void)
{
    const char *hw = strstr(gru_available_bf16_isas(), "avx512bf16") ? "avx512bf16"
                     : strstr(gru_available_bf16_isas(), "neonbf16") ? "neonbf16" : NULL;
    const int bfdot = hw && strcmp(hw, "neonbf16") == 0;
    const char *fset = bfdot ? "neon" : "avx512";
    const double bound = bfdot ? BF16_BFDOT_BOUND : BF16_HW_BOUND;
    if (!hw) {
        printf("  bf16: no avx512bf16 or neonbf16 on this CPU, no hardware bf16 table "
               "tested\n");
        return;
    }
    rng g = {88};
    double worst = 0;
    for (int i = 0; i < 15; i++) {
        qcase c;
        q_random_case(&g, &c);
        qdata qd;
        if (!qdata_make(&qd, &c, 8000 + (uint64_t)i)) continue;
        float *o0 = malloc(qd.nout * sizeof(float)), *h0 = malloc(qd.nh * sizeof(float));
        float *o1 = malloc(qd.nout * sizeof(float)), *h1 = malloc(qd.nh * sizeof(float));
        float *o2 = malloc(qd.nout * sizeof(float)), *h2 = malloc(qd.nh * sizeof(float));
        q_bf16_hw = 0;
        gru_model *q = q_make(qd.tm.m, "scalar", 1);
        qcase_ctx(&c, hw);
        if (q) CHECK_OK(q_run(q, &c, qd.x, qd.h0, qd.len, o0, h0));
        gru_destroy(q);
        q_bf16_hw = 1;
        for (int th = 1; th <= 3; th++) {
            q = q_make(qd.tm.m, fset, th);
            if (!q) continue;
            CHECK(strcmp(gru_quant_isa(q), hw) == 0);
            CHECK_OK(q_run(q, &c, qd.x, qd.h0, qd.len, th == 1 ? o1 : o2, th == 1 ? h1 : h2));
            if (th > 1)
                CHECK_MSG(memcmp(o1, o2, qd.nout * sizeof(float)) == 0 &&
                              memcmp(h1, h2, qd.nh * sizeof(float)) == 0,
                          "%s, %d threads: not bitwise the 1-thread result", hw, th);
            gru_destroy(q);
        }
        for (size_t e = 0; e < qd.nout; e++) {
            const double d = fabs((double)o0[e] - (double)o1[e]);
            worst = d > worst ? d : worst;
        }
        for (size_t e = 0; e < qd.nh; e++) {
            const double d = fabs((double)h0[e] - (double)h1[e]);
            worst = d > worst ? d : worst;
        }
        free(o0); free(h0); free(o1); free(h1); free(o2); free(h2);
        qdata_free(&qd);
    }
    printf("  bf16 %s against the reference: max abs difference %.3g\n", hw, worst);
    CHECK_MSG(worst <= bound, "%s differs from the reference by %g > %g", hw, worst, bound);
    test_q_step();         /* step == forward on the hardware table */
    test_bf16_accuracy();  /* and as close to float32 as the reference */
    q_bf16_hw = 0;
    check_set_ctx("%s", "");
}

/* The bf16 sections: the int8 sections' step and cross-ISA grid (every float set and
 * 1, 2, 3 threads bitwise the scalar set) rerun in bf16. */
static void test_bf16(void)
{
    printf("  bf16 kernel sets: %s\n", gru_available_bf16_isas());
    q_format = GRU_BF16;
    test_bf16_round();
    test_bf16_errors();
    test_bf16_weights();
    test_bf16_emulation();
    test_q_step();
    test_q_isas();
    test_bf16_hw();
    test_bf16_accuracy();
    q_format = GRU_INT8;
}

void test_quant(void)
{
    printf("  int8 kernel sets: %s\n", gru_available_quant_isas());
    test_q_vmath();
    test_q_errors();
    test_q_weights();
    test_q_emulation();
    test_q_step();
    test_q_isas();
    test_q_accuracy();
    test_bf16();
}
