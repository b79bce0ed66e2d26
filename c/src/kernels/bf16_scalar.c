/*
 * bf16_scalar.c - the scalar reference bfloat16 kernel table (q8.h's gru_qkernels
 * interface, used by quant.c for GRU_BF16 models), which defines the bf16 semantics
 * (docs/quantization.md, "bfloat16"); and the choice of a model's bf16 table. Portable
 * C11, no fused operations (-std=c11: no contraction).
 *
 * The int8 interface carries bf16 data unchanged: a "quantized" row is K bf16 values
 * (uint16_t, the high half of a float32) stored in the row's Kp bytes (Kp / 2 values,
 * zero-padded), its "scale" is 1. A dot product is a float32 sum, in this order, over
 * the padded width (Kp / 2 values, pairs j = 0, 1, ...; each product exact unless it
 * overflows or leaves the normal range, since bf16 significands have 8 bits):
 *     acc = +0;  acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j]   (each op rounded, RNE)
 * the order of the Intel SDM's pseudocode of VDPBF16PS, one lane per row; then
 * pre = acc + b (no add without bias).
 */
#include <string.h>
#include "kernels/q8.h"
#include "kernels/vmath_scalar.h"

uint16_t gru_bf16_round(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  /* NaN */
    u += 0x7fffu + ((u >> 16) & 1u);   /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float gru_bf16_to_float(uint16_t b)
{
    const uint32_t u = (uint32_t)b << 16;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Rows of A (M, K) rounded to bf16 into Q (M rows of Kp bytes at ldq bytes; values
 * K .. Kp/2 zero); s = 1. */
void gru_bf16_ref_quantize(size_t M, size_t K, size_t Kp, const float *A, size_t lda,
                           int8_t *Q, size_t ldq, float *s)
{
    for (size_t i = 0; i < M; i++) {
        uint16_t *q = (uint16_t *)(void *)(Q + i * ldq);
        const float *a = A + i * lda;
        memset(q, 0, Kp);
        for (size_t k = 0; k < K; k++) q[k] = gru_bf16_round(a[k]);
        s[i] = 1.0f;
    }
}

/* The reference dot product of n pairs (2n values) of bf16, in the order above. */
static float bf16_dot(size_t n, const uint16_t *w, const uint16_t *x)
{
    float acc = 0.0f;
    for (size_t j = 0; j < n; j++) {
        const float p1 = gru_bf16_to_float(w[2 * j + 1]) * gru_bf16_to_float(x[2 * j + 1]);
        const float p0 = gru_bf16_to_float(w[2 * j]) * gru_bf16_to_float(x[2 * j]);
        acc = acc + p1;
        acc = acc + p0;
    }
    return acc;
}

/* C[b, n] = dot(W[n], X[b]) + bias[n]: W (N rows of Kp bytes, row-major), X (M rows at
 * ldx bytes); the scales and row sums are not used. */
static void bf16_gemm_scalar(size_t M, size_t N, size_t Kp, const int8_t *X, size_t ldx,
                             const float *xs, const int8_t *W, const float *ws,
                             const int32_t *wsum, const float *bias, float *C, size_t ldc)
{
    (void)xs; (void)ws; (void)wsum;
    for (size_t b = 0; b < M; b++) {
        const uint16_t *x = (const uint16_t *)(const void *)(X + b * ldx);
        for (size_t n = 0; n < N; n++) {
            const uint16_t *w = (const uint16_t *)(const void *)(W + n * Kp);
            const float acc = bf16_dot(Kp / 4, w, x);
            C[b * ldc + n] = bias ? acc + bias[n] : acc;
        }
    }
}

static void bf16_sigmoid_scalar(size_t n, float *v)
{
    for (size_t i = 0; i < n; i++) v[i] = gru_sigmoid_f(v[i]);
}

static void bf16_tanh_scalar(size_t n, float *v)
{
    for (size_t i = 0; i < n; i++) v[i] = gru_tanh_f(v[i]);
}

const gru_qkernels gru_bkernels_scalar = {.name = "scalar", .rb = 1,
                                          .quantize = gru_bf16_ref_quantize,
                                          .gemm = bf16_gemm_scalar,
                                          .sigmoid = bf16_sigmoid_scalar,
                                          .tanh = bf16_tanh_scalar};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
static int has_avx512bf16(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}
#else
static int has_avx512bf16(void) { return 0; }
#endif

/* neon -> neonbf16 (BFDOT, not bitwise) unless exact, else the bitwise neon table. */
static const gru_qkernels *bf16_select_neon(int exact)
{
    if (!exact && gru_bkernels_neonbf16.name && gru_cpu_has_bf16())
        return &gru_bkernels_neonbf16;
    return gru_bkernels_neon.name ? &gru_bkernels_neon : &gru_bkernels_scalar;
}

const gru_qkernels *gru_select_bkernels(const gru_kernels *k, int exact)
{
    if (k == &gru_kernels_neon) return bf16_select_neon(exact);
    if (k == &gru_kernels_avx2 && gru_bkernels_avx2.name) return &gru_bkernels_avx2;
    if (k != &gru_kernels_avx512) return &gru_bkernels_scalar;
    if (!exact && gru_bkernels_avx512bf16.name && has_avx512bf16())
        return &gru_bkernels_avx512bf16;
    return gru_bkernels_avx512.name ? &gru_bkernels_avx512 : &gru_bkernels_scalar;
}
