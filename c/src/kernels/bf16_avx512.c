/*
 * bf16_avx512.c - the AVX-512 bfloat16 kernel table "avx512" (q8.h's interface, bf16
 * semantics of bf16_scalar.c), plain AVX-512F: a bf16 value is the high half of a
 * float32, so a 32-bit lane holding the pair (w[2j], w[2j+1]) gives w[2j+1] exactly as
 * lane & 0xffff0000 and w[2j] as lane << 16. Each lane (one weight row) computes
 * acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] with separate multiplies and adds (never
 * fused): bitwise equal to the scalar reference. Weights in 16-row blocks of pairs
 * (gru_q8_offset with rb = 16 over bytes), the int8 tables' tiles (q8_simd_impl.h with
 * Q8_FLOAT_ACC). Sigmoid / tanh from vmath_avx512.h.
 *
 * Selects its own target with GCC's pragma, so it also builds without per-file flags;
 * elsewhere it defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512F__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw")
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx512.h"

/* The 4 bytes at p (one bf16 pair) as one int32 (any alignment). */
static inline int bf16_load4(const int8_t *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* acc + w_odd x_odd, then + w_even x_even, lane by lane (float32, each rounded). */
static inline __m512i bf16_dot_avx512(__m512i acc, __m512i x, __m512i w)
{
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    const __m512 wo = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
    const __m512 xo = _mm512_castsi512_ps(_mm512_and_si512(x, hi));
    const __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    const __m512 xe = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
    __m512 a = _mm512_add_ps(_mm512_castsi512_ps(acc), _mm512_mul_ps(wo, xo));
    a = _mm512_add_ps(a, _mm512_mul_ps(we, xe));
    return _mm512_castps_si512(a);
}

#define Q8_FLOAT_ACC 1
#define KSFX(name) bf16_##name##_avx512
#define VI __m512i
#define VB 64
#define VIZERO() _mm512_setzero_si512()
#define VILOAD(p) _mm512_loadu_si512((const void *)(p))
#define VISTORE(p, v) _mm512_storeu_si512((void *)(p), v)
#define VBCAST4(p) _mm512_set1_epi32(bf16_load4(p))
#define PREPX(x) (x)
#define DOT(acc, x, w) bf16_dot_avx512(acc, x, w)
#define XBIAS 0
#define TR1 8
#define TRM 2
#define TBM 4
#define VF __m512
#define VFSET1(x) _mm512_set1_ps(x)
#define VFMUL(a, b) _mm512_mul_ps(a, b)
#define VFADD(a, b) _mm512_add_ps(a, b)
#define VFCVT(v) _mm512_castsi512_ps(v)
#define VCORR(acc, p) (acc)
#define VLF 16
#define VFLOAD(p) _mm512_loadu_ps(p)
#define VFSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSIGMOID(v) gru_sigmoid_ps512(v)
#define VTANH(v) gru_tanh_ps512(v)
#include "kernels/q8_simd_impl.h"
#include "kernels/bf16_round_avx512.h"

const gru_qkernels gru_bkernels_avx512 = {.name = "avx512", .rb = 16,
                                          .quantize = KSFX(quantize),
                                          .gemm = bf16_gemm_avx512,
                                          .sigmoid = bf16_sigmoid_avx512,
                                          .tanh = bf16_tanh_avx512};
#else
const gru_qkernels gru_bkernels_avx512 = {0};
#endif
