/* bench/weight_only.c - is a weight-only mode (int8 or bf16 weights, float32
 * activations) faster than libgru's quantized products for the streaming step (B = 1)?
 * Times the products of one step of a layer (W_ih x and W_hh h, each (3H, H) with
 * I = H), one thread, for
 *   f32     float32 weights, FMA (16-row blocks, column-major: the weight-only ideal's
 *           memory traffic x 4 / 2, 1 FMA per 16 multiply-adds)
 *   int8    libgru's avx512vnni table: x quantized per row, vpdpbusd, dequantized
 *   int8-wo int8 weights (per-row scales), float32 x: 16 bytes of a column of 16 rows
 *           sign-extended (vpmovsxbd), converted (vcvtdq2ps), FMA; y = scale * sum
 *   bf16-wo bf16 weights in libgru's bf16 layout (pairs of 16 rows), float32 x: a pair
 *           split by a mask and a shift into two float32 vectors, two FMAs
 *   bf16    libgru's avx512bf16 table: x rounded to bf16, vdpbf16ps
 *   bf16-x  libgru's bitwise avx512 bf16 table (what CPUs without AVX512_BF16 and
 *           GRU_BF16_EXACT=1 run): x rounded, each pair two multiplies and two adds
 * Rounds alternate the contenders (the order reversed every other round); a round
 * times `reps` calls of each; the report is the median per call over rounds with the
 * quartiles, and the ratio to f32. Every contender's output is checked against a
 * float64 product of the float32 weights first (max |error| / max |y|, printed), so a
 * wrong kernel cannot produce a number.
 *
 *   make -C c
 *   cc -O2 -std=c11 -Ic/include -Ic/src bench/weight_only.c c/build/libgru.a -lm \
 *      -pthread -o c/build/weight_only
 *   c/build/weight_only [H ... ] [--rounds R]     (default H = 256 384, 21 rounds)
 *
 * Needs AVX-512F/BW, AVX512_BF16 and AVX-512 VNNI (checked at run time).
 */
#define _POSIX_C_SOURCE 200809L
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw,avx512bf16,avx512vnni")
#endif
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model.h"
#include "kernels/q8.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *xalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) { fprintf(stderr, "weight_only: out of memory\n"); exit(1); }
    memset(p, 0, (n + 63) / 64 * 64);
    return p;
}

/* One (N, K) weight in every contender's form; N a multiple of 64. */
typedef struct wset {
    size_t N, K, Kp8, Kp16;
    const float *w;            /* (N, K) row-major, the source */
    float *wf;                 /* (N/16, K, 16) float32, column-major 16-row blocks */
    int8_t *q, *qc;            /* int8: libgru layout (rb 16, Kp8); (N/16, K, 16) columns */
    float *qs;                 /* (N) row scales */
    int32_t *qsum;             /* (N) row sums */
    int8_t *b;                 /* bf16: libgru layout (rb 16, Kp16 bytes) */
    float *bs;                 /* (N) ones */
    int32_t *bsum;             /* (N) zeros */
} wset;

static void wset_make(wset *s, size_t N, size_t K, const float *w)
{
    s->N = N; s->K = K; s->w = w;
    s->Kp8 = gru_q8_kpad(K);
    s->Kp16 = 2 * gru_q8_kpad(K);
    s->wf = xalloc(N * K * sizeof(float));
    s->q = xalloc(N * s->Kp8);
    s->qc = xalloc(N * K);
    s->qs = xalloc(N * sizeof(float));
    s->qsum = xalloc(N * sizeof(int32_t));
    s->b = xalloc(N * s->Kp16);
    s->bs = xalloc(N * sizeof(float));
    s->bsum = xalloc(N * sizeof(int32_t));
    int8_t *row = xalloc(s->Kp8);
    for (size_t n = 0; n < N; n++) {
        gru_q8_ref_quantize(1, K, s->Kp8, w + n * K, K, row, s->Kp8, s->qs + n);
        int32_t sum = 0;
        for (size_t k = 0; k < K; k++) {
            s->q[gru_q8_offset(16, s->Kp8, n, k)] = row[k];
            s->qc[(n / 16 * K + k) * 16 + n % 16] = row[k];
            s->wf[(n / 16 * K + k) * 16 + n % 16] = w[n * K + k];
            const uint16_t v = gru_bf16_round(w[n * K + k]);
            memcpy(s->b + gru_q8_offset(16, s->Kp16, n, 2 * k), &v, 2);
            sum += row[k];
        }
        s->qsum[n] = sum;
        s->bs[n] = 1.0f;
    }
    free(row);
}

/* ---- the weight-only kernels (and float32), 4 row blocks of 16 at a time ----------- */

/* y (N) = W x, float32 weights (wf). */
static void gemv_f32(const wset *s, const float *x, float *y)
{
    const size_t K = s->K;
    for (size_t n = 0; n < s->N; n += 64) {
        const float *w = s->wf + n * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t k = 0; k < K; k++) {
            const __m512 xk = _mm512_set1_ps(x[k]);
            a0 = _mm512_fmadd_ps(_mm512_load_ps(w + k * 16), xk, a0);
            a1 = _mm512_fmadd_ps(_mm512_load_ps(w + (K + k) * 16), xk, a1);
            a2 = _mm512_fmadd_ps(_mm512_load_ps(w + (2 * K + k) * 16), xk, a2);
            a3 = _mm512_fmadd_ps(_mm512_load_ps(w + (3 * K + k) * 16), xk, a3);
        }
        _mm512_storeu_ps(y + n, a0); _mm512_storeu_ps(y + n + 16, a1);
        _mm512_storeu_ps(y + n + 32, a2); _mm512_storeu_ps(y + n + 48, a3);
    }
}

static inline __m512 i8col(const int8_t *p)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(const void *)p)));
}

/* y (N) = scale_n * sum_k q[n, k] x[k], int8 weights (qc), float32 x. */
static void gemv_i8wo(const wset *s, const float *x, float *y)
{
    const size_t K = s->K;
    for (size_t n = 0; n < s->N; n += 64) {
        const int8_t *w = s->qc + n * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t k = 0; k < K; k++) {
            const __m512 xk = _mm512_set1_ps(x[k]);
            a0 = _mm512_fmadd_ps(i8col(w + k * 16), xk, a0);
            a1 = _mm512_fmadd_ps(i8col(w + (K + k) * 16), xk, a1);
            a2 = _mm512_fmadd_ps(i8col(w + (2 * K + k) * 16), xk, a2);
            a3 = _mm512_fmadd_ps(i8col(w + (3 * K + k) * 16), xk, a3);
        }
        _mm512_storeu_ps(y + n, _mm512_mul_ps(a0, _mm512_loadu_ps(s->qs + n)));
        _mm512_storeu_ps(y + n + 16, _mm512_mul_ps(a1, _mm512_loadu_ps(s->qs + n + 16)));
        _mm512_storeu_ps(y + n + 32, _mm512_mul_ps(a2, _mm512_loadu_ps(s->qs + n + 32)));
        _mm512_storeu_ps(y + n + 48, _mm512_mul_ps(a3, _mm512_loadu_ps(s->qs + n + 48)));
    }
}

/* acc + w_odd x[2j+1] + w_even x[2j] for one 64-byte block of 16 rows x 1 pair. */
static inline __m512 bf16wo_pair(__m512 acc, const int8_t *p, __m512 xo, __m512 xe)
{
    const __m512i w = _mm512_load_si512((const void *)p);
    const __m512 wo = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)0xffff0000u)));
    const __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    return _mm512_fmadd_ps(we, xe, _mm512_fmadd_ps(wo, xo, acc));
}

/* y (N) = sum_k bf16(W)[n, k] x[k], bf16 weights in libgru's layout (b), float32 x. */
static void gemv_bf16wo(const wset *s, const float *x, float *y)
{
    const size_t Kp = s->Kp16, K = s->K;
    for (size_t n = 0; n < s->N; n += 64) {
        const int8_t *w = s->b + n * Kp;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t j = 0; 2 * j < K; j++) {   /* K even here */
            const __m512 xe = _mm512_set1_ps(x[2 * j]), xo = _mm512_set1_ps(x[2 * j + 1]);
            a0 = bf16wo_pair(a0, w + j * 64, xo, xe);
            a1 = bf16wo_pair(a1, w + 16 * Kp + j * 64, xo, xe);
            a2 = bf16wo_pair(a2, w + 32 * Kp + j * 64, xo, xe);
            a3 = bf16wo_pair(a3, w + 48 * Kp + j * 64, xo, xe);
        }
        _mm512_storeu_ps(y + n, a0); _mm512_storeu_ps(y + n + 16, a1);
        _mm512_storeu_ps(y + n + 32, a2); _mm512_storeu_ps(y + n + 48, a3);
    }
}

/* ---- libgru's tables: the activation row quantized (rounded), then the product ------ */

typedef struct qbuf {
    int8_t *xq;
    float xs;
} qbuf;

static void gemv_table(const gru_qkernels *t, const wset *s, int bf, qbuf *b, const float *x,
                       float *y)
{
    const size_t Kp = bf ? s->Kp16 : s->Kp8;
    t->quantize(1, s->K, Kp, x, s->K, b->xq, Kp, &b->xs);
    t->gemm(1, s->N, Kp, b->xq, Kp, &b->xs, bf ? s->b : s->q, bf ? s->bs : s->qs,
            bf ? s->bsum : s->qsum, NULL, y, s->N);
}

/* ---- the contenders: one step = the products of W_ih x and W_hh h --------------------- */

enum { C_F32, C_I8, C_I8WO, C_BF16WO, C_BF16, C_BF16X, NC };
static const char *const cname[NC] = {"f32", "int8", "int8-wo", "bf16-wo", "bf16", "bf16-x"};

typedef struct bench {
    wset ih, hh;
    const float *x, *h;
    float *y1, *y2;
    qbuf qb;
} bench;

static void run_one(bench *b, int c, const wset *s, const float *v, float *y)
{
    switch (c) {
    case C_F32: gemv_f32(s, v, y); break;
    case C_I8: gemv_table(&gru_qkernels_avx512vnni, s, 0, &b->qb, v, y); break;
    case C_I8WO: gemv_i8wo(s, v, y); break;
    case C_BF16WO: gemv_bf16wo(s, v, y); break;
    case C_BF16: gemv_table(&gru_bkernels_avx512bf16, s, 1, &b->qb, v, y); break;
    default: gemv_table(&gru_bkernels_avx512, s, 1, &b->qb, v, y); break;
    }
}

static void step(bench *b, int c)
{
    run_one(b, c, &b->ih, b->x, b->y1);
    run_one(b, c, &b->hh, b->h, b->y2);
}

/* max |y - W v| / max |W v| (float64 reference with the float32 weights). */
static double check(const wset *s, const float *v, const float *y)
{
    double e = 0, m = 0;
    for (size_t n = 0; n < s->N; n++) {
        double r = 0;
        for (size_t k = 0; k < s->K; k++) r += (double)s->w[n * s->K + k] * v[k];
        e = fmax(e, fabs(y[n] - r));
        m = fmax(m, fabs(r));
    }
    return e / m;
}

static float *randoms(size_t n, uint64_t seed, float scale)
{
    float *a = xalloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        a[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5) * scale;
    }
    return a;
}

static int cmpd(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_size(size_t H, int rounds)
{
    bench b;
    const size_t N = 3 * H;
    float *wi = randoms(N * H, 1, 0.2f), *wh = randoms(N * H, 2, 0.2f);
    wset_make(&b.ih, N, H, wi);
    wset_make(&b.hh, N, H, wh);
    b.x = randoms(H, 3, 2.0f);
    b.h = randoms(H, 4, 1.6f);
    b.y1 = xalloc(N * sizeof(float));
    b.y2 = xalloc(N * sizeof(float));
    b.qb.xq = xalloc(2 * gru_q8_kpad(H));
    printf("\nH = I = %zu: weights f32 %.2f MB, bf16 %.2f MB, int8 %.2f MB per step\n", H,
           2.0 * N * H * 4 / 1e6, 2.0 * N * H * 2 / 1e6, 2.0 * N * H / 1e6);
    for (int c = 0; c < NC; c++) {
        step(&b, c);
        printf("  %-8s error max|y - Wx| / max|Wx|: ih %.2e, hh %.2e\n", cname[c],
               check(&b.ih, b.x, b.y1), check(&b.hh, b.h, b.y2));
    }
    const int reps = (int)(2e9 / (double)(N * H * 2)) + 1;   /* ~20-50 ms a timing */
    double *t = xalloc((size_t)NC * rounds * sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NC; i++) {
            const int c = r % 2 ? NC - 1 - i : i;
            for (int k = 0; k < reps / 4; k++) step(&b, c);
            const double t0 = now();
            for (int k = 0; k < reps; k++) step(&b, c);
            t[c * rounds + r] = (now() - t0) / reps * 1e6;
        }
    double med[NC];
    for (int c = 0; c < NC; c++) {
        qsort(t + c * rounds, (size_t)rounds, sizeof(double), cmpd);
        med[c] = t[c * rounds + rounds / 2];
    }
    printf("  | contender | us per step (2 products) [quartiles] | / f32 | / int8 | / bf16 |\n");
    for (int c = 0; c < NC; c++)
        printf("  | %-8s | %.2f [%.2f-%.2f] | %.2f | %.2f | %.2f |\n", cname[c], med[c],
               t[c * rounds + rounds / 4], t[c * rounds + 3 * rounds / 4], med[c] / med[C_F32],
               med[c] / med[C_I8], med[c] / med[C_BF16]);
    free(t);
}

int main(int argc, char **argv)
{
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vnni") ||
        !__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "weight_only: needs AVX-512BW, VNNI and BF16\n");
        return 2;
    }
    if (!gru_qkernels_avx512vnni.name || !gru_bkernels_avx512bf16.name ||
        !gru_bkernels_avx512.name) {
        fprintf(stderr, "weight_only: libgru was built without the avx512 tables\n");
        return 2;
    }
    int rounds = 21;
    size_t Hs[8], nh = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (nh < 8 && atoi(argv[i]) > 0 && atoi(argv[i]) % 64 == 0) Hs[nh++] = (size_t)atoi(argv[i]);
        else { fprintf(stderr, "usage: %s [H (multiple of 64) ...] [--rounds R]\n", argv[0]); return 2; }
    }
    if (!nh) { Hs[0] = 256; Hs[1] = 384; nh = 2; }
    if (rounds < 1) rounds = 1;
    printf("weight-only products, B = 1, one thread, %d rounds (alternating)\n", rounds);
    for (size_t i = 0; i < nh; i++) run_size(Hs[i], rounds);
    return 0;
}
