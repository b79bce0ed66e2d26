/*
 * avx2.c - the AVX2 + FMA kernel table: simd_impl.h compiled for float (8 lanes) and
 * double (4 lanes), 6 x 2-vector register tiles (16 ymm registers). Sigmoid and tanh
 * in the cells come from kernels/vmath_avx2.h (errors measured in VMATH.md).
 *
 * Selects its own target like avx512.c; an unnamed table where it cannot.
 */
#include "kernels/kernels.h"
#include "rng.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx2.h"

/* gru_below_bits_scalar (rng.h) 4 indices per vector. AVX2 has no 64-bit multiply; the
 * product modulo 2^64 is put together exactly from 32x32->64 products:
 * a b = lo(a) lo(b) + ((hi(a) lo(b) + lo(a) hi(b)) << 32)  (mod 2^64). The compare is
 * signed, which is the unsigned order here: k < 2^53 and thr <= 2^53. Integer
 * arithmetic only, so the same bits as the scalar form; lanes past n are dropped. */
static inline __m256i gru_mullo_epi64x4(__m256i a, uint64_t b)
{
    const __m256i blo = _mm256_set1_epi64x((long long)(b & 0xffffffffu));
    const __m256i bhi = _mm256_set1_epi64x((long long)(b >> 32));
    const __m256i lo = _mm256_mul_epu32(a, blo);
    const __m256i mid = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), blo),
                                         _mm256_mul_epu32(a, bhi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(mid, 32));
}

static inline __m256i gru_mix64_epi64x4(__m256i x)
{
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 30));
    x = gru_mullo_epi64x4(x, 0xbf58476d1ce4e5b9ULL);
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 27));
    x = gru_mullo_epi64x4(x, 0x94d049bb133111ebULL);
    return _mm256_xor_si256(x, _mm256_srli_epi64(x, 31));
}

static inline uint64_t gru_below_bits_avx2(uint64_t key, size_t first, size_t n, uint64_t thr)
{
    const __m256i vkey = _mm256_set1_epi64x((long long)key);
    const __m256i vthr = _mm256_set1_epi64x((long long)thr);
    const __m256i step = _mm256_set1_epi64x(4);
    /* lane l: (first + l) + C (mod 2^64), the scalar form's index term */
    __m256i idx = _mm256_add_epi64(
        _mm256_set1_epi64x((long long)((uint64_t)first + 0x632be59bd9b4e019ULL)),
        _mm256_set_epi64x(3, 2, 1, 0));
    uint64_t bits = 0;
    for (size_t l = 0; l < n; l += 4) {
        const __m256i k = _mm256_srli_epi64(gru_mix64_epi64x4(_mm256_xor_si256(vkey, idx)), 11);
        const __m256i below = _mm256_cmpgt_epi64(vthr, k);
        bits |= (uint64_t)(unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(below)) << l;
        idx = _mm256_add_epi64(idx, step);
    }
    return n < 64 ? bits & (((uint64_t)1 << n) - 1) : bits;
}
#define GRU_BELOW_BITS gru_below_bits_avx2

/* VBITS: lane l all ones iff bit l of b is set (b's low 8 / 4 bits). */
static inline __m256 gru_bits_ps256(uint32_t b)
{
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i v = _mm256_and_si256(_mm256_set1_epi32((int)b), sel);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, sel));
}

static inline __m256d gru_bits_pd256(uint64_t b)
{
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    const __m256i v = _mm256_and_si256(_mm256_set1_epi64x((long long)b), sel);
    return _mm256_castsi256_pd(_mm256_cmpeq_epi64(v, sel));
}

/* 6 x 2-vector register tiles; up to MTHIN = 4 rows the few-row kernel (simd_impl.h):
 * one row by PT = 3 panels, two rows by 3, three by 2, four by 1. */
#define MR 6
#define NRV 2
#define PT 3
#define MTHIN 4

#define R float
#define KSFX(name) name##_avx2_f32
#define V __m256
#define VL 8
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VBITS(b, x) _mm256_and_ps(gru_bits_ps256((uint32_t)(b)), x)
#define VSEL(m, a, b) _mm256_blendv_ps(b, a, _mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_NEQ_UQ))
#define VSIGMOID(v) gru_sigmoid_ps256(v)
#define VTANH(v) gru_tanh_ps256(v)
#define KC 256
#define NC 1024
#include "kernels/simd_impl.h"

#define R double
#define KSFX(name) name##_avx2_f64
#define V __m256d
#define VL 4
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd(p, v)
#define VSET1(x) _mm256_set1_pd(x)
#define VZERO() _mm256_setzero_pd()
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VSUB(a, b) _mm256_sub_pd(a, b)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VBITS(b, x) _mm256_and_pd(gru_bits_pd256((uint64_t)(b)), x)
#define VSEL(m, a, b) _mm256_blendv_pd(b, a, _mm256_cmp_pd(m, _mm256_setzero_pd(), _CMP_NEQ_UQ))
#define VSIGMOID(v) gru_sigmoid_pd256(v)
#define VTANH(v) gru_tanh_pd256(v)
#define KC 256
#define NC 512
#include "kernels/simd_impl.h"

#define AVX2_F32(e) e##_avx2_f32
#define AVX2_F64(e) e##_avx2_f64
const gru_kernels gru_kernels_avx2 = {
    .name = "avx2",
    .f32 = GRU_KERNEL_HALF(AVX2_F32, scratch_elems_avx2_f32, panel_width_avx2_f32),
    .f64 = GRU_KERNEL_HALF(AVX2_F64, scratch_elems_avx2_f64, panel_width_avx2_f64)};
#else
const gru_kernels gru_kernels_avx2 = {0};
#endif
