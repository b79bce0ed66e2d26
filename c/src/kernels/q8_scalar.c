/*
 * q8_scalar.c - the scalar reference int8 kernel table (q8.h), which defines the int8
 * semantics every other int8 table reproduces bit for bit; and the choice of a model's
 * int8 table (gru_select_qkernels). Portable C11.
 */
#include <math.h>
#include <string.h>
#include "kernels/q8.h"
#include "kernels/vmath_scalar.h"

/* Round to nearest, ties to even, of |t| <= 2^22 (the default rounding mode): adding and
 * subtracting 1.5 * 2^23 leaves t's integer part, rounded once (the same as lrintf). */
static float q8_round(float t)
{
    const float sh = 0x1.8p23f;
    return (t + sh) - sh;
}

/* One row: a = max |A[k]|, s = a / 127, q = clamp(round(A[k] * (127 / a)), +-127) with
 * round as lrintf (ties to even). A NaN product (non-finite inputs) gives -127. */
static void q8_quantize_row(size_t K, size_t Kp, const float *A, int8_t *Q, float *s)
{
    float a = 0.0f;
    for (size_t k = 0; k < K; k++) {
        const float v = fabsf(A[k]);
        a = v > a ? v : a;
    }
    memset(Q, 0, Kp);
    *s = a / 127.0f;
    if (!(a > 0.0f)) { *s = 0.0f; return; }
    const float inv = 127.0f / a;
    for (size_t k = 0; k < K; k++) {
        const float t = A[k] * inv;
        const float c = !(t >= -127.0f) ? -127.0f : t > 127.0f ? 127.0f : t;
        Q[k] = (int8_t)q8_round(c);
    }
}

void gru_q8_ref_quantize(size_t M, size_t K, size_t Kp, const float *A, size_t lda,
                               int8_t *Q, size_t ldq, float *s)
{
    for (size_t i = 0; i < M; i++) q8_quantize_row(K, Kp, A + i * lda, Q + i * ldq, s + i);
}

/* The dequantization every table shares: (float)acc * (ws * xs), then + bias. */
static float q8_dequant(int32_t acc, float ws, float xs, const float *bias, size_t n)
{
    const float sc = ws * xs;
    const float v = (float)acc * sc;
    return bias ? v + bias[n] : v;
}

static void q8_gemm_scalar(size_t M, size_t N, size_t Kp, const int8_t *X, size_t ldx,
                           const float *xs, const int8_t *W, const float *ws,
                           const int32_t *wsum, const float *bias, float *C, size_t ldc)
{
    (void)wsum;
    for (size_t b = 0; b < M; b++) {
        const int8_t *x = X + b * ldx;
        for (size_t n = 0; n < N; n++) {
            const int8_t *w = W + n * Kp;
            int32_t acc = 0;
            for (size_t k = 0; k < Kp; k++) acc += (int32_t)w[k] * (int32_t)x[k];
            C[b * ldc + n] = q8_dequant(acc, ws[n], xs[b], bias, n);
        }
    }
}

static void q8_sigmoid_scalar(size_t n, float *v)
{
    for (size_t i = 0; i < n; i++) v[i] = gru_sigmoid_f(v[i]);
}

static void q8_tanh_scalar(size_t n, float *v)
{
    for (size_t i = 0; i < n; i++) v[i] = gru_tanh_f(v[i]);
}

const gru_qkernels gru_qkernels_scalar = {.name = "scalar", .rb = 1,
                                          .quantize = gru_q8_ref_quantize,
                                          .gemm = q8_gemm_scalar,
                                          .sigmoid = q8_sigmoid_scalar,
                                          .tanh = q8_tanh_scalar};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
static int has_vnni(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni");
}
#else
static int has_vnni(void) { return 0; }
#endif

/* AArch64 features from the kernel's hwcaps (Linux; elsewhere none is assumed). */
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1UL << 14)
#endif
int gru_cpu_has_dotprod(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }
int gru_cpu_has_bf16(void) { return (getauxval(AT_HWCAP2) & HWCAP2_BF16) != 0; }
#else
int gru_cpu_has_dotprod(void) { return 0; }
int gru_cpu_has_bf16(void) { return 0; }
#endif

const gru_qkernels *gru_select_qkernels(const gru_kernels *k)
{
    const int avx512 = k == &gru_kernels_avx512, avx2 = k == &gru_kernels_avx2;
    if (avx512 && gru_qkernels_avx512vnni.name && has_vnni()) return &gru_qkernels_avx512vnni;
    if ((avx512 || avx2) && gru_qkernels_avx2.name) return &gru_qkernels_avx2;
    if (k == &gru_kernels_neon && gru_qkernels_neon.name && gru_cpu_has_dotprod())
        return &gru_qkernels_neon;
    if (k == &gru_kernels_neon && gru_qkernels_neonmull.name) return &gru_qkernels_neonmull;
    return &gru_qkernels_scalar;
}
