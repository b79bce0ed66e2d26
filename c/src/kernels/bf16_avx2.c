/*
 * bf16_avx2.c - the AVX2 bfloat16 kernel table "avx2" (q8.h's interface, bf16
 * semantics of bf16_scalar.c): a bf16 value is the high half of a float32, so a 32-bit lane holding the pair (w[2j], w[2j+1]) gives w[2j+1] exactly as
 * lane & 0xffff0000 and w[2j] as lane << 16. Each lane (one weight row) computes
 * acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] with separate multiplies and adds (never
 * fused): bitwise equal to the scalar reference. Weights in 16-row blocks of pairs
 * (gru_q8_offset with rb = 16 over bytes), the int8 tables' tiles (q8_simd_impl.h with
 * Q8_FLOAT_ACC; a 64-byte block is two 32-byte vectors, rows 0-7 and 8-15). Sigmoid /
 * tanh from vmath_avx2.h. Chosen for the float set avx2 (gru_select_bkernels).
 *
 * Selects its own target with GCC's pragma, so it also builds without per-file flags;
 * elsewhere it defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx2.h"

/* The 4 bytes at p (one bf16 pair) as one int32 (any alignment). */
static inline int bf16_load4(const int8_t *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* acc + w_odd x_odd, then + w_even x_even, lane by lane (float32, each rounded). */
static inline __m256i bf16_dot_avx2(__m256i acc, __m256i x, __m256i w)
{
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    const __m256 wo = _mm256_castsi256_ps(_mm256_and_si256(w, hi));
    const __m256 xo = _mm256_castsi256_ps(_mm256_and_si256(x, hi));
    const __m256 we = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    const __m256 xe = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
    __m256 a = _mm256_add_ps(_mm256_castsi256_ps(acc), _mm256_mul_ps(wo, xo));
    a = _mm256_add_ps(a, _mm256_mul_ps(we, xe));
    return _mm256_castps_si256(a);
}

#define Q8_FLOAT_ACC 1
#define KSFX(name) bf16_##name##_avx2
#define VI __m256i
#define VB 32
#define VIZERO() _mm256_setzero_si256()
#define VILOAD(p) _mm256_loadu_si256((const void *)(p))
#define VISTORE(p, v) _mm256_storeu_si256((void *)(p), v)
#define VBCAST4(p) _mm256_set1_epi32(bf16_load4(p))
#define PREPX(x) (x)
#define DOT(acc, x, w) bf16_dot_avx2(acc, x, w)
#define XBIAS 0
#define TR1 4
#define TRM 1
#define TBM 3
#define VF __m256
#define VFSET1(x) _mm256_set1_ps(x)
#define VFMUL(a, b) _mm256_mul_ps(a, b)
#define VFADD(a, b) _mm256_add_ps(a, b)
#define VFCVT(v) _mm256_castsi256_ps(v)
#define VCORR(acc, p) (acc)
#define VLF 8
#define VFLOAD(p) _mm256_loadu_ps(p)
#define VFSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSIGMOID(v) gru_sigmoid_ps256(v)
#define VTANH(v) gru_tanh_ps256(v)
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_bkernels_avx2 = {.name = "avx2", .rb = 16,
                                          .quantize = gru_bf16_ref_quantize,
                                          .gemm = bf16_gemm_avx2,
                                          .sigmoid = bf16_sigmoid_avx2,
                                          .tanh = bf16_tanh_avx2};
#else
const gru_qkernels gru_bkernels_avx2 = {0};
#endif
