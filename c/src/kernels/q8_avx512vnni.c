/*
 * q8_avx512vnni.c - the AVX-512 VNNI int8 kernel table (q8.h). vpdpbusd multiplies
 * unsigned by signed bytes and adds groups of 4 into int32 without saturation; the
 * activations enter as u = x + 128 (x XOR 0x80, in 1..255), so the sum is
 * sum x w + 128 sum w, and 128 * wsum (the row sums made at quantization) is
 * subtracted: exact, since |sum| <= 255 * 127 * GRU_Q8_KMAX < 2^31. Sigmoid / tanh
 * from vmath_avx512.h, the vector macros from q8_vec_avx512.h. Bitwise equal to the
 * scalar reference (q8_scalar.c). Chosen only when the CPU reports avx512vnni
 * (gru_select_qkernels).
 *
 * Selects its own target with GCC's pragma, so it also builds without per-file flags
 * (the Makefile gives -mavx512vnni ...); elsewhere it defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512VNNI__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw,avx512vnni")
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/q8_vec_avx512.h"

#define KSFX(name) q8_##name##_vnni
#define PREPX(x) _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80))
#define DOT(acc, x, w) _mm512_dpbusd_epi32(acc, x, w)
#define XBIAS 128
#define VCORR(acc, p) \
    _mm512_sub_epi32(acc, _mm512_slli_epi32(_mm512_loadu_si512((const void *)(p)), 7))
#define TR1 4
#define TRM 2
#define TBM 4
#include "kernels/q8_simd_impl.h"

/* The largest |A[k]|, k < K, skipping NaN (as the reference: max_ps returns its second
 * operand when the first is NaN); lanes past K are loaded as 0. */
static float q8_absmax_vnni(size_t K, const float *A)
{
    __m512 acc = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        acc = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(m, A + k)), acc);
    }
    return _mm512_reduce_max_ps(acc);
}

/* One row as gru_q8_ref_quantize: t = A * inv; max(t, -127) (NaN -> -127), min(., 127);
 * (c + 1.5 * 2^23) - 1.5 * 2^23 rounds to nearest even; exact conversions to int8. */
static void q8_quantize_row_vnni(size_t K, size_t Kp, const float *A, int8_t *Q, float *s)
{
    const float a = q8_absmax_vnni(K, A);
    memset(Q, 0, Kp);
    *s = a / 127.0f;
    if (!(a > 0.0f)) { *s = 0.0f; return; }
    const __m512 inv = _mm512_set1_ps(127.0f / a), sh = _mm512_set1_ps(0x1.8p23f);
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    for (size_t k = 0; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        const __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, A + k), inv);
        const __m512 c = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        const __m512 r = _mm512_sub_ps(_mm512_add_ps(c, sh), sh);
        _mm_mask_storeu_epi8(Q + k, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(r)));
    }
}

static void q8_quantize_vnni(size_t M, size_t K, size_t Kp, const float *A, size_t lda,
                             int8_t *Q, size_t ldq, float *s)
{
    for (size_t i = 0; i < M; i++) q8_quantize_row_vnni(K, Kp, A + i * lda, Q + i * ldq, s + i);
}

const gru_qkernels gru_qkernels_avx512vnni = {.name = "avx512vnni", .rb = 16,
                                              .quantize = q8_quantize_vnni,
                                              .gemm = q8_gemm_vnni,
                                              .sigmoid = q8_sigmoid_vnni,
                                              .tanh = q8_tanh_vnni,
    .gates_after = KSFX(gates_after)};
#else
const gru_qkernels gru_qkernels_avx512vnni = {0};
#endif
