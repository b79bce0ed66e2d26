/*
 * q8_vec_avx512.h - the AVX-512 vector macros of the quantized kernel bodies
 * (q8_simd_impl.h), shared by q8_avx512vnni.c, bf16_avx512.c and bf16_avx512bf16.c:
 * 64-byte vectors of 16 lanes, float32 operations (each one IEEE operation, never
 * fused), sigmoid / tanh from vmath_avx512.h. What differs between those tables (the dot
 * product DOT, PREPX, XBIAS, VCORR, the tiles, the suffix KSFX) stays in their files.
 *
 * Include after <immintrin.h>, with AVX-512F/BW/DQ enabled, once per file. With
 * Q8_FLOAT_ACC defined first (the bf16 tables) the accumulators are float32 sums and
 * every vector is float-typed (VI = VF; with integer-typed ones GCC 12 moved the
 * accumulators of vdpbf16ps through extra register copies and stack spills): VFCVT
 * is then the identity and VBF16_ODD / VBF16_EVEN split a vector of bf16 pairs into
 * its two float32 halves (exact). Otherwise (int8) VI is __m512i and VFCVT converts
 * int32 to float32, rounded to nearest as C's conversion.
 */
#ifndef GRU_Q8_VEC_AVX512_H
#define GRU_Q8_VEC_AVX512_H

#include <string.h>
#include "kernels/vmath_avx512.h"

/* The 4 bytes at p (4 int8 values or one bf16 pair) as one int32 (any alignment). */
static inline int gru_q8_load4_avx512(const int8_t *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define VB 64
#define VLF 16
#define VF __m512
#define VFSET1(x) _mm512_set1_ps(x)
#define VFMUL(a, b) _mm512_mul_ps(a, b)
#define VFADD(a, b) _mm512_add_ps(a, b)
#define VFSUB(a, b) _mm512_sub_ps(a, b)
#define VFLOAD(p) _mm512_loadu_ps(p)
#define VFSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSIGMOID(v) gru_sigmoid_ps512(v)
#define VTANH(v) gru_tanh_ps512(v)

#ifdef Q8_FLOAT_ACC
#define VI __m512
#define VIZERO() _mm512_setzero_ps()
#define VILOAD(p) _mm512_loadu_ps((const void *)(p))
#define VISTORE(p, v) _mm512_storeu_ps((void *)(p), v)
#define VBCAST4(p) _mm512_castsi512_ps(_mm512_set1_epi32(gru_q8_load4_avx512(p)))
#define VFCVT(v) (v)
#define VBF16_ODD(v)                                                                   \
    _mm512_castsi512_ps(                                                               \
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0xffff0000u)))
#define VBF16_EVEN(v) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 16))
#else
#define VI __m512i
#define VIZERO() _mm512_setzero_si512()
#define VILOAD(p) _mm512_loadu_si512((const void *)(p))
#define VISTORE(p, v) _mm512_storeu_si512((void *)(p), v)
#define VBCAST4(p) _mm512_set1_epi32(gru_q8_load4_avx512(p))
#define VFCVT(v) _mm512_cvtepi32_ps(v)
#endif

#endif /* GRU_Q8_VEC_AVX512_H */
