/*
 * q8_vec_avx2.h - the AVX2 vector macros of the quantized kernel bodies
 * (q8_simd_impl.h), shared by q8_avx2.c and bf16_avx2.c: 32-byte vectors of 8 lanes,
 * float32 operations (each one IEEE operation, never fused), sigmoid / tanh from
 * vmath_avx2.h. What differs between those tables (the dot product DOT, PREPX, XBIAS,
 * VCORR, the tiles, the suffix KSFX) stays in their files.
 *
 * Include after <immintrin.h>, with AVX2 and FMA enabled, once per file. With
 * Q8_FLOAT_ACC defined first (the bf16 tables) the accumulators are float32 sums and
 * every vector is float-typed (VI = VF, as in q8_vec_avx512.h): VFCVT is the identity
 * and VBF16_ODD / VBF16_EVEN split a vector of bf16 pairs into its two float32 halves
 * (exact). Otherwise (int8) VI is __m256i and VFCVT converts int32 to float32, rounded
 * to nearest as C's conversion.
 */
#ifndef GRU_Q8_VEC_AVX2_H
#define GRU_Q8_VEC_AVX2_H

#include <string.h>
#include "kernels/vmath_avx2.h"

/* The 4 bytes at p (4 int8 values or one bf16 pair) as one int32 (any alignment). */
static inline int gru_q8_load4_avx2(const int8_t *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define VB 32
#define VLF 8
#define VF __m256
#define VFSET1(x) _mm256_set1_ps(x)
#define VFMUL(a, b) _mm256_mul_ps(a, b)
#define VFADD(a, b) _mm256_add_ps(a, b)
#define VFSUB(a, b) _mm256_sub_ps(a, b)
#define VFLOAD(p) _mm256_loadu_ps(p)
#define VFSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSIGMOID(v) gru_sigmoid_ps256(v)
#define VTANH(v) gru_tanh_ps256(v)

#ifdef Q8_FLOAT_ACC
#define VI __m256
#define VIZERO() _mm256_setzero_ps()
#define VILOAD(p) _mm256_loadu_ps((const void *)(p))
#define VISTORE(p, v) _mm256_storeu_ps((void *)(p), v)
#define VBCAST4(p) _mm256_castsi256_ps(_mm256_set1_epi32(gru_q8_load4_avx2(p)))
#define VFCVT(v) (v)
#define VBF16_ODD(v)                                                                   \
    _mm256_castsi256_ps(                                                               \
        _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32((int)0xffff0000u)))
#define VBF16_EVEN(v) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 16))
#else
#define VI __m256i
#define VIZERO() _mm256_setzero_si256()
#define VILOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VISTORE(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define VBCAST4(p) _mm256_set1_epi32(gru_q8_load4_avx2(p))
#define VFCVT(v) _mm256_cvtepi32_ps(v)
#endif

#endif /* GRU_Q8_VEC_AVX2_H */
