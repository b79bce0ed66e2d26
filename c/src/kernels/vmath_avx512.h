/*
 * vmath_avx512.h - vector exp, sigmoid and tanh for AVX-512 (16 x float32 in __m512,
 * 8 x float64 in __m512d), header-only static inline. Compiles to nothing unless
 * __AVX512F__ is defined; only AVX512F instructions are used (the project builds it
 * with -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma).
 *
 *   __m512  gru_exp_ps512(__m512 x);      __m512d gru_exp_pd512(__m512d x);
 *   __m512  gru_sigmoid_ps512(__m512 x);  __m512d gru_sigmoid_pd512(__m512d x);
 *   __m512  gru_tanh_ps512(__m512 x);     __m512d gru_tanh_pd512(__m512d x);
 *
 * Guarantees and method: as kernels/vmath_avx2.h (same reduction, coefficients and
 * formulas; numbers in kernels/VMATH.md), except that 2^n is applied with
 * VSCALEFPS/PD, which rounds once for overflow and subnormal results just as the
 * two-step scaling there does. The results are bit-for-bit those of the AVX2 versions,
 * NaN payloads aside (checked on all 2^32 float32 and 10^8 float64 inputs by
 * c/tests/vmath).
 * Assumes the default MXCSR (round to nearest, FTZ/DAZ off).
 */
#ifndef GRU_VMATH_AVX512_H
#define GRU_VMATH_AVX512_H

#if defined(__AVX512F__)
#include <immintrin.h>

/* r with the sign bit of x ORed in (r >= 0): ternary logic A | (B & C), A = r, B = x,
 * C = sign mask. */
static inline __m512 gru__orsign_ps512(__m512 r, __m512 x)
{
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        _mm512_castps_si512(r), _mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u),
        0xF8));
}
static inline __m512d gru__orsign_pd512(__m512d r, __m512d x)
{
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(
        _mm512_castpd_si512(r), _mm512_castpd_si512(x),
        _mm512_set1_epi64((long long)0x8000000000000000ull), 0xF8));
}

/* ==== float32 ======================================================================= */

/* Reduction: returns Q(r), sets nf = n and r, exp(x) ~ 2^n (1 + r + r^2 Q(r)), for x
 * clamped to [-104, 89] (or NaN). See gru__expq_ps256 in vmath_avx2.h. */
static inline __m512 gru__expq_ps512(__m512 x, __m512 *nf_out, __m512 *r_out)
{
    const __m512 sh = _mm512_set1_ps(0x1.8p23f);
    const __m512 kf = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), sh);
    const __m512 nf = _mm512_sub_ps(kf, sh);
    __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(0x1.62e43p-1f), x);
    r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(-0x1.05c61p-29f), r);
    /* Q(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= ln2/2, rel. error of exp(r) 3.8e-9 */
    __m512 q = _mm512_set1_ps(0x1.6a2448p-10f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.1239d6p-7f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.5558f2p-5f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.555492p-3f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.fffffcp-2f));
    *nf_out = nf;
    *r_out = r;
    return q;
}

/* exp(x) for x <= 89 (or NaN): p = 1 + r + r^2 Q rounded once (1 + r = h + l by
 * Fast2Sum), then scalef(p, n) = p 2^n rounded once (subnormals, overflow to inf). */
static inline __m512 gru__exp_le89_ps512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x); /* NaN passes through (2nd operand) */
    __m512 nf, r;
    const __m512 q = gru__expq_ps512(x, &nf, &r);
    const __m512 h = _mm512_add_ps(one, r);
    const __m512 l = _mm512_add_ps(_mm512_sub_ps(one, h), r);
    const __m512 p = _mm512_add_ps(h, _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, l));
    return _mm512_scalef_ps(p, nf);
}

static inline __m512 gru_exp_ps512(__m512 x)
{
    return gru__exp_le89_ps512(_mm512_min_ps(_mm512_set1_ps(89.0f), x));
}

/* sigmoid(x) = e / (1 + e) (x < 0) or 1 / (1 + e) (x >= 0), e = exp(-|x|). */
static inline __m512 gru_sigmoid_ps512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 nabs = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));   /* -|x| */
    const __m512 e = gru__exp_le89_ps512(nabs);
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 num = _mm512_mask_blend_ps(neg, one, e);
    return _mm512_div_ps(num, _mm512_add_ps(one, e));
}

/* tanh(x) = sign(x) * (|x| < 0.5625 ? |x| + |x|^3 T(x^2) : 1 - 2w),
 * w = e / (1 + e), e = exp(-2|x|) = 2^n (1 + y) kept unrounded in w's numerator and
 * denominator (fma(2^n, y, 2^n) and fma(2^n, y, 1 + 2^n) each round once). */
static inline __m512 gru_tanh_ps512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 a = _mm512_abs_ps(x);
    /* large branch (argument clamped at -87: tanh has rounded to 1 long before) */
    const __m512 t = _mm512_max_ps(_mm512_set1_ps(-87.0f), _mm512_mul_ps(a, _mm512_set1_ps(-2.0f)));
    __m512 nf, r;
    const __m512 qe = gru__expq_ps512(t, &nf, &r);
    const __m512 y = _mm512_fmadd_ps(qe, _mm512_mul_ps(r, r), r);      /* e = 2^n (1 + y) */
    const __m512 s = _mm512_scalef_ps(one, nf);
    const __m512 w = _mm512_div_ps(_mm512_fmadd_ps(s, y, s),
                                   _mm512_fmadd_ps(s, y, _mm512_add_ps(one, s)));
    const __m512 big = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), w, one);
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.32, rel. error 2.4e-9 */
    const __m512 u = _mm512_mul_ps(a, a);
    __m512 q = _mm512_set1_ps(-0x1.95000ep-8f);
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(0x1.582faep-6f));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(-0x1.b90946p-5f));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(0x1.110c72p-3f));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(-0x1.555548p-2f));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(a, u), q, a);
    const __mmask16 lt = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.5625f), _CMP_LT_OQ);
    const __m512 res = _mm512_mask_blend_ps(lt, big, small);
    return gru__orsign_ps512(res, x);
}

/* ==== float64 ======================================================================= */

static inline __m512d gru__expq_pd512(__m512d x, __m512d *nf_out, __m512d *r_out)
{
    const __m512d sh = _mm512_set1_pd(0x1.8p52);
    const __m512d kf = _mm512_fmadd_pd(x, _mm512_set1_pd(0x1.71547652b82fep+0), sh);
    const __m512d nf = _mm512_sub_pd(kf, sh);
    __m512d r = _mm512_fnmadd_pd(nf, _mm512_set1_pd(0x1.62e42fefa39efp-1), x);
    r = _mm512_fnmadd_pd(nf, _mm512_set1_pd(0x1.abc9e3b39803fp-56), r);
    /* Q(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= ln2/2, rel. error of exp(r) 1.1e-17 */
    __m512d q = _mm512_set1_pd(0x1.ad7f7660588c7p-26);
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.28ad6aab551cdp-22));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.71df2540393b1p-19));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.a0199a14c9278p-16));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.a01a012a65a0cp-13));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.6c16c18427279p-10));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.1111111127babp-7));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.5555555550889p-5));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.55555555554fap-3));
    q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(0x1.000000000000ap-1));
    *nf_out = nf;
    *r_out = r;
    return q;
}

static inline __m512d gru__exp_le710_pd512(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    x = _mm512_max_pd(_mm512_set1_pd(-746.0), x);
    __m512d nf, r;
    const __m512d q = gru__expq_pd512(x, &nf, &r);
    const __m512d h = _mm512_add_pd(one, r);
    const __m512d l = _mm512_add_pd(_mm512_sub_pd(one, h), r);
    const __m512d p = _mm512_add_pd(h, _mm512_fmadd_pd(_mm512_mul_pd(r, r), q, l));
    return _mm512_scalef_pd(p, nf);
}

static inline __m512d gru_exp_pd512(__m512d x)
{
    return gru__exp_le710_pd512(_mm512_min_pd(_mm512_set1_pd(710.0), x));
}

static inline __m512d gru_sigmoid_pd512(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d nabs = _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_castpd_si512(x), _mm512_set1_epi64((long long)0x8000000000000000ull)));
    const __m512d e = gru__exp_le710_pd512(nabs);
    const __mmask8 neg = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ);
    const __m512d num = _mm512_mask_blend_pd(neg, one, e);
    return _mm512_div_pd(num, _mm512_add_pd(one, e));
}

static inline __m512d gru_tanh_pd512(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d a = _mm512_abs_pd(x);
    const __m512d t = _mm512_max_pd(_mm512_set1_pd(-708.0), _mm512_mul_pd(a, _mm512_set1_pd(-2.0)));
    __m512d nf, r;
    const __m512d qe = gru__expq_pd512(t, &nf, &r);
    const __m512d y = _mm512_fmadd_pd(qe, _mm512_mul_pd(r, r), r);
    const __m512d s = _mm512_scalef_pd(one, nf);
    const __m512d w = _mm512_div_pd(_mm512_fmadd_pd(s, y, s),
                                    _mm512_fmadd_pd(s, y, _mm512_add_pd(one, s)));
    const __m512d big = _mm512_fnmadd_pd(_mm512_set1_pd(2.0), w, one);
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.32, rel. error 7.5e-18 */
    const __m512d u = _mm512_mul_pd(a, a);
    __m512d q = _mm512_set1_pd(-0x1.3d27ea739bc0cp-16);
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(0x1.597261c2f15cfp-14));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(-0x1.e80a9284ba497p-13));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(0x1.3460ac6945c78p-11));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(-0x1.7d8b95ddf7a71p-10));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(0x1.d6d2479413cecp-9));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(-0x1.226e2d0262c5bp-7));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(0x1.664f484956876p-6));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(-0x1.ba1ba1b935e47p-5));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(0x1.11111111102b6p-3));
    q = _mm512_fmadd_pd(q, u, _mm512_set1_pd(-0x1.555555555554bp-2));
    const __m512d small = _mm512_fmadd_pd(_mm512_mul_pd(a, u), q, a);
    const __mmask8 lt = _mm512_cmp_pd_mask(a, _mm512_set1_pd(0.5625), _CMP_LT_OQ);
    const __m512d res = _mm512_mask_blend_pd(lt, big, small);
    return gru__orsign_pd512(res, x);
}

#endif /* __AVX512F__ */
#endif /* GRU_VMATH_AVX512_H */
