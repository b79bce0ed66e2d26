/*
 * vmath_avx2.h - vector exp, sigmoid and tanh for AVX2+FMA (8 x float32 in __m256,
 * 4 x float64 in __m256d), header-only static inline. Compiles to nothing unless
 * __AVX2__ and __FMA__ are defined (-mavx2 -mfma).
 *
 *   __m256  gru_exp_ps256(__m256 x);      __m256d gru_exp_pd256(__m256d x);
 *   __m256  gru_sigmoid_ps256(__m256 x);  __m256d gru_sigmoid_pd256(__m256d x);
 *   __m256  gru_tanh_ps256(__m256 x);     __m256d gru_tanh_pd256(__m256d x);
 *
 * Guarantees (measured by c/tests/vmath, numbers in kernels/VMATH.md): each lane is
 * computed independently of the others; float32 results are within 1 ulp (exp) and
 * 2 ulp (sigmoid, tanh) of the correctly rounded value for all 2^32 inputs (targets:
 * 2, 3, 3); float64 within 2 ulp on 10^8 samples (target 4). Overflow gives +inf,
 * underflow gradual subnormals then +0; exp(-inf) = 0, exp(+inf) = inf,
 * sigmoid(-inf) = 0, sigmoid(+inf) = 1, tanh(+-inf) = +-1, tanh(+-0) = +-0,
 * tanh(subnormal x) = x; NaN in -> NaN out. No float->int conversions (the exponent is
 * built in the bits of a shifted float), true divisions only. Assumes the default
 * MXCSR (round to nearest; with FTZ/DAZ set, subnormal results flush to 0).
 *
 * Method (details and coefficient derivation in kernels/VMATH.md):
 *   exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln2 with ln2 split in two
 *   (Cody-Waite; the first FMA step is exact), exp(r) = 1 + r + r^2 Q(r), Q a minimax
 *   polynomial (c/tests/vmath/remez.py), 1 + r added exactly (Fast2Sum); 2^n is applied
 *   as 2^n1 2^(n-n1), n1 = round(n/2), so that overflow and subnormal results round
 *   once.
 *   sigmoid(x) = e / (1 + e) for x < 0, 1 / (1 + e) for x >= 0, e = exp(-|x|) in
 *   (0, 1]: no overflow, relatively accurate in both tails (subnormal results too).
 *   tanh(x) = sign(x) (|x| < 0.5625 ? |x| + |x|^3 T(x^2) (minimax) : 1 - 2w),
 *   w = e / (1 + e), e = exp(-2|x|) = 2^n (1 + y) unrounded in w's numerator and
 *   denominator.
 */
#ifndef GRU_VMATH_AVX2_H
#define GRU_VMATH_AVX2_H

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* ==== float32 ======================================================================= */

/* Reduction for exp: given x clamped to [-104, 89] (or NaN), returns Q(r) and sets
 * nf = n, r such that x = n ln2 + r, |r| <= ln2/2 (+2e-5), and
 * exp(x) ~ 2^n (1 + r + r^2 Q(r)). kf = x log2e + 1.5*2^23 rounds x log2e to the
 * integer n (in kf's low mantissa bits; no float->int conversion); x - n ln2_hi is
 * exact (FMA, |result| < 1), then - n ln2_lo rounds once. Q is the degree-4 minimax
 * fit of (exp(r) - 1 - r) / r^2 (c/tests/vmath/remez.py): rel. error of 1 + r + r^2 Q
 * is 3.8e-9 = 2^-27.97 with these float coefficients. */
static inline __m256 gru__expq_ps256(__m256 x, __m256 *nf_out, __m256 *r_out)
{
    const __m256 sh = _mm256_set1_ps(0x1.8p23f);
    const __m256 kf = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), sh);
    const __m256 nf = _mm256_sub_ps(kf, sh);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0x1.62e43p-1f), x);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(-0x1.05c61p-29f), r);
    __m256 q = _mm256_set1_ps(0x1.6a2448p-10f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.1239d6p-7f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.5558f2p-5f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.555492p-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.fffffcp-2f));
    *nf_out = nf;
    *r_out = r;
    return q;
}

/* exp(x) for x <= 89 (or NaN): full underflow handling. 2^n = 2^n1 2^n2 with
 * n1 = round(n/2), n2 = n - n1, both in [-75, 64], so p 2^n1 is exact and the single
 * rounding happens in the last multiply (subnormal results, overflow to inf). */
static inline __m256 gru__exp_le89_ps256(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sh127 = _mm256_set1_ps(0x1.8p23f + 127.0f);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x); /* NaN passes through (2nd operand) */
    __m256 nf, r;
    const __m256 q = gru__expq_ps256(x, &nf, &r);
    /* p = 1 + r + r^2 Q rounded once: 1 + r = h + l exactly (Fast2Sum, |r| < 1) */
    const __m256 h = _mm256_add_ps(one, r);
    const __m256 l = _mm256_add_ps(_mm256_sub_ps(one, h), r);
    const __m256 p = _mm256_add_ps(h, _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, l));
    /* 2^n = s1 s2: s1 = 2^(n1 + 127 - 127) read from the bits of nf/2 + 1.5*2^23 + 127 */
    const __m256 k1 = _mm256_fmadd_ps(nf, _mm256_set1_ps(0.5f), sh127);
    const __m256 k2 = _mm256_add_ps(_mm256_sub_ps(nf, _mm256_sub_ps(k1, sh127)), sh127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(k1), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(k2), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static inline __m256 gru_exp_ps256(__m256 x)
{
    return gru__exp_le89_ps256(_mm256_min_ps(_mm256_set1_ps(89.0f), x));
}

/* sigmoid(x) = 1 / (1 + exp(-x)) = e / (1 + e) (x < 0) or 1 / (1 + e) (x >= 0),
 * e = exp(-|x|) in (0, 1]. */
static inline __m256 gru_sigmoid_ps256(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 nabs = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));   /* -|x| */
    const __m256 e = gru__exp_le89_ps256(nabs);
    const __m256 num = _mm256_blendv_ps(one, e, x);               /* sign of x */
    return _mm256_div_ps(num, _mm256_add_ps(one, e));
}

/* tanh(x) = sign(x) * (|x| < 0.5625 ? |x| + |x|^3 T(x^2) : 1 - 2w), w = e / (1 + e),
 * e = exp(-2|x|) = 2^n (1 + y). w's numerator fma(2^n, y, 2^n) and denominator
 * fma(2^n, y, 1 + 2^n) each round once (1 + 2^n is exact while it matters), and
 * 1 - 2w rounds once more: at |x| >= 0.5625, 2w <= 0.49 so w's errors are halved
 * relative to the result in [0.5, 1). The exp argument is clamped at -87 so that 2^n
 * stays a normal number; tanh has rounded to 1 long before. */
static inline __m256 gru_tanh_ps256(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_andnot_ps(sign, x);
    /* large branch: -87 <= -2|x| <= 0 so n + 127 is in [1, 127] */
    const __m256 t = _mm256_max_ps(_mm256_set1_ps(-87.0f), _mm256_mul_ps(a, _mm256_set1_ps(-2.0f)));
    __m256 nf, r;
    const __m256 qe = gru__expq_ps256(t, &nf, &r);
    const __m256 y = _mm256_fmadd_ps(qe, _mm256_mul_ps(r, r), r);      /* e = 2^n (1 + y) */
    const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_castps_si256(_mm256_add_ps(nf, _mm256_set1_ps(0x1.8p23f + 127.0f))), 23));
    const __m256 w = _mm256_div_ps(_mm256_fmadd_ps(s, y, s),
                                   _mm256_fmadd_ps(s, y, _mm256_add_ps(one, s)));
    const __m256 big = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), w, one);
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.32, rel. error 2.4e-9 */
    const __m256 u = _mm256_mul_ps(a, a);
    __m256 q = _mm256_set1_ps(-0x1.95000ep-8f);
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(0x1.582faep-6f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-0x1.b90946p-5f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(0x1.110c72p-3f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-0x1.555548p-2f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, u), q, a);
    const __m256 res = _mm256_blendv_ps(big, small,
                                        _mm256_cmp_ps(a, _mm256_set1_ps(0.5625f), _CMP_LT_OQ));
    return _mm256_or_ps(res, _mm256_and_ps(x, sign));
}

/* ==== float64 ======================================================================= */

/* As gru__expq_ps256 for x clamped to [-746, 710]: shifter 1.5*2^52, Q of degree 9,
 * rel. error of 1 + r + r^2 Q 1.1e-17 = 2^-56.3. */
static inline __m256d gru__expq_pd256(__m256d x, __m256d *nf_out, __m256d *r_out)
{
    const __m256d sh = _mm256_set1_pd(0x1.8p52);
    const __m256d kf = _mm256_fmadd_pd(x, _mm256_set1_pd(0x1.71547652b82fep+0), sh);
    const __m256d nf = _mm256_sub_pd(kf, sh);
    __m256d r = _mm256_fnmadd_pd(nf, _mm256_set1_pd(0x1.62e42fefa39efp-1), x);
    r = _mm256_fnmadd_pd(nf, _mm256_set1_pd(0x1.abc9e3b39803fp-56), r);
    __m256d q = _mm256_set1_pd(0x1.ad7f7660588c7p-26);
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.28ad6aab551cdp-22));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.71df2540393b1p-19));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.a0199a14c9278p-16));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.a01a012a65a0cp-13));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.6c16c18427279p-10));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.1111111127babp-7));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.5555555550889p-5));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.55555555554fap-3));
    q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(0x1.000000000000ap-1));
    *nf_out = nf;
    *r_out = r;
    return q;
}

/* exp(x) for x <= 710 (or NaN); 2^n = 2^n1 2^n2, n1 = round(n/2), both in [-538, 512]. */
static inline __m256d gru__exp_le710_pd256(__m256d x)
{
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256d sh1023 = _mm256_set1_pd(0x1.8p52 + 1023.0);
    x = _mm256_max_pd(_mm256_set1_pd(-746.0), x);
    __m256d nf, r;
    const __m256d q = gru__expq_pd256(x, &nf, &r);
    const __m256d h = _mm256_add_pd(one, r);
    const __m256d l = _mm256_add_pd(_mm256_sub_pd(one, h), r);
    const __m256d p = _mm256_add_pd(h, _mm256_fmadd_pd(_mm256_mul_pd(r, r), q, l));
    const __m256d k1 = _mm256_fmadd_pd(nf, _mm256_set1_pd(0.5), sh1023);   /* n1 + 1023 */
    const __m256d k2 = _mm256_add_pd(_mm256_sub_pd(nf, _mm256_sub_pd(k1, sh1023)), sh1023);
    const __m256d s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(k1), 52));
    const __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(k2), 52));
    return _mm256_mul_pd(_mm256_mul_pd(p, s1), s2);
}

static inline __m256d gru_exp_pd256(__m256d x)
{
    return gru__exp_le710_pd256(_mm256_min_pd(_mm256_set1_pd(710.0), x));
}

static inline __m256d gru_sigmoid_pd256(__m256d x)
{
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256d nabs = _mm256_or_pd(x, _mm256_set1_pd(-0.0));
    const __m256d e = gru__exp_le710_pd256(nabs);
    const __m256d num = _mm256_blendv_pd(one, e, x);
    return _mm256_div_pd(num, _mm256_add_pd(one, e));
}

static inline __m256d gru_tanh_pd256(__m256d x)
{
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256d a = _mm256_andnot_pd(sign, x);
    /* large branch: -708 <= -2|x| <= 0, n + 1023 in [2, 1023] */
    const __m256d t = _mm256_max_pd(_mm256_set1_pd(-708.0), _mm256_mul_pd(a, _mm256_set1_pd(-2.0)));
    __m256d nf, r;
    const __m256d qe = gru__expq_pd256(t, &nf, &r);
    const __m256d y = _mm256_fmadd_pd(qe, _mm256_mul_pd(r, r), r);

    const __m256d s = _mm256_castsi256_pd(_mm256_slli_epi64(
        _mm256_castpd_si256(_mm256_add_pd(nf, _mm256_set1_pd(0x1.8p52 + 1023.0))), 52));
    const __m256d w = _mm256_div_pd(_mm256_fmadd_pd(s, y, s),
                                    _mm256_fmadd_pd(s, y, _mm256_add_pd(one, s)));
    const __m256d big = _mm256_fnmadd_pd(_mm256_set1_pd(2.0), w, one);
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.32, rel. error 7.5e-18 */
    const __m256d u = _mm256_mul_pd(a, a);
    __m256d q = _mm256_set1_pd(-0x1.3d27ea739bc0cp-16);
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.597261c2f15cfp-14));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.e80a9284ba497p-13));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.3460ac6945c78p-11));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.7d8b95ddf7a71p-10));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.d6d2479413cecp-9));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.226e2d0262c5bp-7));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.664f484956876p-6));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.ba1ba1b935e47p-5));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.11111111102b6p-3));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.555555555554bp-2));
    const __m256d small = _mm256_fmadd_pd(_mm256_mul_pd(a, u), q, a);
    const __m256d res = _mm256_blendv_pd(big, small,
                                         _mm256_cmp_pd(a, _mm256_set1_pd(0.5625), _CMP_LT_OQ));
    return _mm256_or_pd(res, _mm256_and_pd(x, sign));
}

#endif /* __AVX2__ && __FMA__ */
#endif /* GRU_VMATH_AVX2_H */
