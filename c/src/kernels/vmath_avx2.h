/*
 * vmath_avx2.h - vector exp, sigmoid and tanh for AVX2+FMA (8 x float32 in __m256,
 * 4 x float64 in __m256d), header-only static inline. Compiles to nothing unless
 * __AVX2__ and __FMA__ are defined (-mavx2 -mfma).
 *
 *   __m256  gru_exp_ps256(__m256 x);      __m256d gru_exp_pd256(__m256d x);
 *   __m256  gru_sigmoid_ps256(__m256 x);  __m256d gru_sigmoid_pd256(__m256d x);
 *   __m256  gru_tanh_ps256(__m256 x);     __m256d gru_tanh_pd256(__m256d x);
 *
 * Guarantees (measured by c/tests/vmath, stated in kernels/VMATH.md): for every input
 * lane, independently of the others, the result is within 2 ulp (exp) and 3 ulp
 * (sigmoid, tanh) of the correctly rounded float32 value over all float32 inputs, and
 * within 4 ulp for float64 (typically < 1.5). Overflow gives +inf, underflow gradual
 * subnormals then +0, exp(-inf) = 0, exp(+inf) = inf, sigmoid(-inf) = 0,
 * sigmoid(+inf) = 1, tanh(+-inf) = +-1, tanh(+-0) = +-0, NaN in -> NaN out. No
 * float->int conversions (the exponent is built by adding into the bits of a shifted
 * float), true divisions only, no dependence on MXCSR beyond round-to-nearest (FTZ/DAZ
 * must be off for the subnormal results to appear).
 *
 * Method (details and coefficient derivation in kernels/VMATH.md):
 *   exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln2 with ln2 split in two
 *   (Cody-Waite; the first FMA step is exact), exp(r) = 1 + r + r^2 Q(r) with Q a
 *   minimax polynomial from c/tests/vmath/remez.py; 2^n is applied as 2^(n/2) 2^(n-n/2)
 *   so that overflow and subnormal results round once.
 *   sigmoid(x) = e / (1 + e) for x < 0, 1 / (1 + e) for x >= 0, e = exp(-|x|)
 *   (relatively accurate in both tails; no overflow).
 *   tanh(|x|) = |x| + |x|^3 T(x^2) for |x| < 0.5 (minimax), else (1 - e) / (1 + e),
 *   e = exp(-2|x|); the sign of x is copied back.
 */
#ifndef GRU_VMATH_AVX2_H
#define GRU_VMATH_AVX2_H

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* ==== float32 ======================================================================= */

/* exp(r) for the reduced argument: returns p ~ exp(r) and nf = n, given x already
 * clamped to [-104, 89] (or NaN). kf = x log2e + 1.5*2^23 rounds x log2e to an
 * integer n in its low mantissa bits; r = x - n ln2_hi is exact (|r| < 1, FMA). */
static inline __m256 gru__expr_ps256(__m256 x, __m256 *nf_out)
{
    const __m256 sh = _mm256_set1_ps(0x1.8p23f);
    const __m256 kf = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), sh);
    const __m256 nf = _mm256_sub_ps(kf, sh);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0x1.62e43p-1f), x);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(-0x1.05c61p-29f), r);
    /* Q(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= ln2/2, rel. error of exp(r) 3.8e-9 */
    __m256 q = _mm256_set1_ps(0x1.6a2448p-10f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.1239d6p-7f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.5558f2p-5f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.555492p-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0x1.fffffcp-2f));
    const __m256 y = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r);
    *nf_out = nf;
    return _mm256_add_ps(_mm256_set1_ps(1.0f), y);
}

/* exp(x) for x <= 89 (or NaN): full underflow handling. 2^n = 2^n1 2^n2 with
 * n1 = round(n/2), n2 = n - n1, both in [-75, 64], so p 2^n1 is exact and the single
 * rounding happens in the last multiply (subnormal results, overflow to inf). */
static inline __m256 gru__exp_le89_ps256(__m256 x)
{
    const __m256 sh127 = _mm256_set1_ps(0x1.8p23f + 127.0f);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x); /* NaN passes through (2nd operand) */
    __m256 nf;
    const __m256 p = gru__expr_ps256(x, &nf);
    const __m256 h = _mm256_fmadd_ps(nf, _mm256_set1_ps(0.5f), sh127);   /* n1 + 127 */
    const __m256 n2 = _mm256_add_ps(_mm256_sub_ps(nf, _mm256_sub_ps(h, sh127)), sh127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(h), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(n2), 23));
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

/* tanh(x) = sign(x) * (|x| < 0.5 ? |x| + |x|^3 T(x^2) : (1 - e) / (1 + e)),
 * e = exp(-2|x|) (argument clamped at -87: e stays normal, tanh = 1 there). */
static inline __m256 gru_tanh_ps256(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_andnot_ps(sign, x);
    /* large branch: e = 2^n p, -87 <= -2|x| <= 0 so n + 127 is in [1, 127] */
    const __m256 t = _mm256_max_ps(_mm256_set1_ps(-87.0f), _mm256_mul_ps(a, _mm256_set1_ps(-2.0f)));
    __m256 nf;
    const __m256 p = gru__expr_ps256(t, &nf);
    const __m256 sc = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_castps_si256(_mm256_add_ps(nf, _mm256_set1_ps(0x1.8p23f + 127.0f))), 23));
    const __m256 e = _mm256_mul_ps(p, sc);
    const __m256 big = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.25, rel. error 1.6e-8 */
    const __m256 u = _mm256_mul_ps(a, a);
    __m256 q = _mm256_set1_ps(0x1.1a7c06p-6f);
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-0x1.b28c76p-5f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(0x1.10e9fcp-3f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-0x1.5554d6p-2f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, u), q, a);
    const __m256 res = _mm256_blendv_ps(big, small,
                                        _mm256_cmp_ps(a, _mm256_set1_ps(0.5f), _CMP_LT_OQ));
    return _mm256_or_ps(res, _mm256_and_ps(x, sign));
}

/* ==== float64 ======================================================================= */

/* As gru__expr_ps256, x clamped to [-746, 710] (or NaN); shifter 1.5*2^52. */
static inline __m256d gru__expr_pd256(__m256d x, __m256d *nf_out)
{
    const __m256d sh = _mm256_set1_pd(0x1.8p52);
    const __m256d kf = _mm256_fmadd_pd(x, _mm256_set1_pd(0x1.71547652b82fep+0), sh);
    const __m256d nf = _mm256_sub_pd(kf, sh);
    __m256d r = _mm256_fnmadd_pd(nf, _mm256_set1_pd(0x1.62e42fefa39efp-1), x);
    r = _mm256_fnmadd_pd(nf, _mm256_set1_pd(0x1.abc9e3b39803fp-56), r);
    /* Q(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= ln2/2, rel. error of exp(r) 1.1e-17 */
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
    const __m256d y = _mm256_fmadd_pd(q, _mm256_mul_pd(r, r), r);
    *nf_out = nf;
    return _mm256_add_pd(_mm256_set1_pd(1.0), y);
}

/* exp(x) for x <= 710 (or NaN); 2^n = 2^n1 2^n2, n1 = round(n/2), both in [-538, 512]. */
static inline __m256d gru__exp_le710_pd256(__m256d x)
{
    const __m256d sh1023 = _mm256_set1_pd(0x1.8p52 + 1023.0);
    x = _mm256_max_pd(_mm256_set1_pd(-746.0), x);
    __m256d nf;
    const __m256d p = gru__expr_pd256(x, &nf);
    const __m256d h = _mm256_fmadd_pd(nf, _mm256_set1_pd(0.5), sh1023);  /* n1 + 1023 */
    const __m256d n2 = _mm256_add_pd(_mm256_sub_pd(nf, _mm256_sub_pd(h, sh1023)), sh1023);
    const __m256d s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(h), 52));
    const __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(n2), 52));
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
    __m256d nf;
    const __m256d p = gru__expr_pd256(t, &nf);
    const __m256d sc = _mm256_castsi256_pd(_mm256_slli_epi64(
        _mm256_castpd_si256(_mm256_add_pd(nf, _mm256_set1_pd(0x1.8p52 + 1023.0))), 52));
    const __m256d e = _mm256_mul_pd(p, sc);
    const __m256d big = _mm256_div_pd(_mm256_sub_pd(one, e), _mm256_add_pd(one, e));
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.25, rel. error 4.3e-18 */
    const __m256d u = _mm256_mul_pd(a, a);
    __m256d q = _mm256_set1_pd(0x1.dc836b80c085p-15);
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.c8d5ef8fc1ecp-13));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.31d1a54152f64p-11));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.7d492725f1a53p-10));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.d6cdf956c960cp-9));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.226e163b970a2p-7));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.664f47b4b0b2p-6));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.ba1ba1b70a00dp-5));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(0x1.111111110e2a2p-3));
    q = _mm256_fmadd_pd(q, u, _mm256_set1_pd(-0x1.5555555555537p-2));
    const __m256d small = _mm256_fmadd_pd(_mm256_mul_pd(a, u), q, a);
    const __m256d res = _mm256_blendv_pd(big, small,
                                         _mm256_cmp_pd(a, _mm256_set1_pd(0.5), _CMP_LT_OQ));
    return _mm256_or_pd(res, _mm256_and_pd(x, sign));
}

#endif /* __AVX2__ && __FMA__ */
#endif /* GRU_VMATH_AVX2_H */
