/*
 * avx512.c - the AVX-512 kernel table (AVX-512 F/DQ/VL/BW with FMA): simd_impl.h
 * compiled for float (16 lanes) and double (8 lanes). Sigmoid and tanh
 * in the cells come from kernels/vmath_avx512.h (errors measured in VMATH.md).
 *
 * The file selects its own target (GCC's target pragma, which also defines
 * __AVX512F__ etc.), so it builds without per-file flags (setuptools/cffi) as well as
 * with them (the Makefile's CFLAGS_kernels/avx512). Where neither applies (another
 * architecture, or a compiler without the pragma), it defines an unnamed table that
 * dispatch.c never chooses.
 */
#include "kernels/kernels.h"
#include "rng.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512F__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw")
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx512.h"

/* gru_below_bits_scalar (rng.h) 8 indices per vector: splitmix64's finaliser in 64-bit
 * lanes (vpmullq is AVX512DQ, which this table requires), the shift by 11, an unsigned
 * compare against thr. Integer arithmetic only, so the same bits as the scalar form;
 * lanes past n are computed and dropped. */
static inline __m512i gru_mix64_epi64x8(__m512i x)
{
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 30));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 27));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
    return _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
}

static inline uint64_t gru_below_bits_avx512(uint64_t key, size_t first, size_t n, uint64_t thr)
{
    const __m512i vkey = _mm512_set1_epi64((long long)key);
    const __m512i vthr = _mm512_set1_epi64((long long)thr);
    const __m512i step = _mm512_set1_epi64(8);
    /* lane l: (first + l) + C (mod 2^64), the scalar form's index term */
    __m512i idx = _mm512_add_epi64(
        _mm512_set1_epi64((long long)((uint64_t)first + 0x632be59bd9b4e019ULL)),
        _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    uint64_t bits = 0;
    for (size_t l = 0; l < n; l += 8) {
        const __m512i k = _mm512_srli_epi64(gru_mix64_epi64x8(_mm512_xor_si512(vkey, idx)), 11);
        bits |= (uint64_t)_mm512_cmplt_epu64_mask(k, vthr) << l;
        idx = _mm512_add_epi64(idx, step);
    }
    return n < 64 ? bits & (((uint64_t)1 << n) - 1) : bits;
}
#define GRU_BELOW_BITS gru_below_bits_avx512

/* Register tile 6 x 4 vectors (24 accumulators; NR = 64 floats / 32 doubles), chosen
 * over 8 x 3 by paired timings on an Intel Xeon (bench/RESULTS.md, 2026-12-01): equal
 * on the large shapes, faster where H is a power of two (no padded panel: 64 divides
 * it, 48 does not) and for the one-row streaming GEMV. Up to MTHIN = 4 rows the few-row
 * kernel (simd_impl.h): one row by PT = 4 panels, two rows by 3, three by 2, four by 1,
 * each weight vector loaded once for all the rows. */
#define MR 6
#define NRV 4
#define PT 4
#define MTHIN 4

#define R float
#define KSFX(name) name##_avx512_f32
#define V __m512
#define VL 16
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VBITS(b, x) _mm512_maskz_mov_ps((__mmask16)(b), x)
#define VSEL(m, a, b) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_NEQ_UQ), b, a)
#define VSIGMOID(v) gru_sigmoid_ps512(v)
#define VTANH(v) gru_tanh_ps512(v)
#define KC 256
#define NC 1536
#include "kernels/simd_impl.h"

#define R double
#define KSFX(name) name##_avx512_f64
#define V __m512d
#define VL 8
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd(p, v)
#define VSET1(x) _mm512_set1_pd(x)
#define VZERO() _mm512_setzero_pd()
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VADD(a, b) _mm512_add_pd(a, b)
#define VSUB(a, b) _mm512_sub_pd(a, b)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VBITS(b, x) _mm512_maskz_mov_pd((__mmask8)(b), x)
#define VSEL(m, a, b) \
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask(m, _mm512_setzero_pd(), _CMP_NEQ_UQ), b, a)
#define VSIGMOID(v) gru_sigmoid_pd512(v)
#define VTANH(v) gru_tanh_pd512(v)
#define KC 256
#define NC 768
#include "kernels/simd_impl.h"

#define AVX512_F32(e) e##_avx512_f32
#define AVX512_F64(e) e##_avx512_f64
const gru_kernels gru_kernels_avx512 = {
    .name = "avx512",
    .f32 = GRU_KERNEL_HALF(AVX512_F32, scratch_elems_avx512_f32, panel_width_avx512_f32),
    .f64 = GRU_KERNEL_HALF(AVX512_F64, scratch_elems_avx512_f64, panel_width_avx512_f64)};
#else
const gru_kernels gru_kernels_avx512 = {0};
#endif
