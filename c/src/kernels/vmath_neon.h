/*
 * vmath_neon.h - vector exp, sigmoid and tanh for AArch64 Advanced SIMD (4 x float32 in
 * float32x4_t, 2 x float64 in float64x2_t), header-only static inline. Compiles to
 * nothing unless __ARM_NEON and __aarch64__ are defined (AArch32 NEON lacks float64
 * vectors and vector division).
 *
 *   float32x4_t gru_exp_f32x4(float32x4_t x);      float64x2_t gru_exp_f64x2(float64x2_t x);
 *   float32x4_t gru_sigmoid_f32x4(float32x4_t x);  float64x2_t gru_sigmoid_f64x2(float64x2_t x);
 *   float32x4_t gru_tanh_f32x4(float32x4_t x);     float64x2_t gru_tanh_f64x2(float64x2_t x);
 *
 * Guarantees and method: as kernels/vmath_avx2.h - the same operations in the same
 * order with the same coefficients (FMIN/FMAX propagate NaN like the x86 operand
 * order used there), so the results are bit-for-bit those of the AVX2 and AVX-512
 * versions, NaN payloads aside (checked under qemu by c/tests/vmath: make test-neon
 * compares a hash of the outputs on 2^20 float32 + 2^18 float64 inputs with the AVX2
 * build's, and measures the accuracy on 2^26 + 2^25 float32 and 2^20 float64 inputs).
 * Assumes the default FPCR (round to nearest, FZ off).
 */
#ifndef GRU_VMATH_NEON_H
#define GRU_VMATH_NEON_H

#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

/* ==== float32 ======================================================================= */

/* Reduction: returns Q(r), sets nf = n and r, exp(x) ~ 2^n (1 + r + r^2 Q(r)), for x
 * clamped to [-104, 89] (or NaN). See gru__expq_ps256 in vmath_avx2.h. */
static inline float32x4_t gru__expq_f32x4(float32x4_t x, float32x4_t *nf_out,
                                          float32x4_t *r_out)
{
    const float32x4_t sh = vdupq_n_f32(0x1.8p23f);
    const float32x4_t kf = vfmaq_f32(sh, x, vdupq_n_f32(0x1.715476p+0f));
    const float32x4_t nf = vsubq_f32(kf, sh);
    float32x4_t r = vfmsq_f32(x, nf, vdupq_n_f32(0x1.62e43p-1f));     /* x - n ln2_hi */
    r = vfmsq_f32(r, nf, vdupq_n_f32(-0x1.05c61p-29f));
    /* Q(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= ln2/2, rel. error of exp(r) 3.8e-9 */
    float32x4_t q = vdupq_n_f32(0x1.6a2448p-10f);
    q = vfmaq_f32(vdupq_n_f32(0x1.1239d6p-7f), q, r);
    q = vfmaq_f32(vdupq_n_f32(0x1.5558f2p-5f), q, r);
    q = vfmaq_f32(vdupq_n_f32(0x1.555492p-3f), q, r);
    q = vfmaq_f32(vdupq_n_f32(0x1.fffffcp-2f), q, r);
    *nf_out = nf;
    *r_out = r;
    return q;
}

/* 2^k for a float k + 1.5*2^23 + bias whose low mantissa bits hold the biased exponent */
static inline float32x4_t gru__pow2bits_f32x4(float32x4_t k)
{
    return vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_f32(k), 23));
}

/* exp(x) for x <= 89 (or NaN); 2^n = 2^n1 2^(n-n1), n1 = round(n/2), so that p 2^n1 is
 * exact and the last multiply rounds once (subnormal results, overflow to inf). */
static inline float32x4_t gru__exp_le89_f32x4(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t sh127 = vdupq_n_f32(0x1.8p23f + 127.0f);
    x = vmaxq_f32(x, vdupq_n_f32(-104.0f));       /* FMAX: NaN propagates */
    float32x4_t nf, r;
    const float32x4_t q = gru__expq_f32x4(x, &nf, &r);
    /* p = 1 + r + r^2 Q rounded once: 1 + r = h + l exactly (Fast2Sum, |r| < 1) */
    const float32x4_t h = vaddq_f32(one, r);
    const float32x4_t l = vaddq_f32(vsubq_f32(one, h), r);
    const float32x4_t p = vaddq_f32(h, vfmaq_f32(l, vmulq_f32(r, r), q));
    const float32x4_t k1 = vfmaq_f32(sh127, nf, vdupq_n_f32(0.5f));
    const float32x4_t k2 = vaddq_f32(vsubq_f32(nf, vsubq_f32(k1, sh127)), sh127);
    return vmulq_f32(vmulq_f32(p, gru__pow2bits_f32x4(k1)), gru__pow2bits_f32x4(k2));
}

static inline float32x4_t gru_exp_f32x4(float32x4_t x)
{
    return gru__exp_le89_f32x4(vminq_f32(x, vdupq_n_f32(89.0f)));
}

/* sigmoid(x) = e / (1 + e) (x < 0) or 1 / (1 + e) (x >= 0), e = exp(-|x|). */
static inline float32x4_t gru_sigmoid_f32x4(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t e = gru__exp_le89_f32x4(vnegq_f32(vabsq_f32(x)));
    /* numerator: e where the sign bit of x is set (as the x86 blendv), else 1 */
    const uint32x4_t neg = vreinterpretq_u32_s32(vshrq_n_s32(vreinterpretq_s32_f32(x), 31));
    const float32x4_t num = vbslq_f32(neg, e, one);
    return vdivq_f32(num, vaddq_f32(one, e));
}

/* tanh(x) = sign(x) * (|x| < 0.5625 ? |x| + |x|^3 T(x^2) : 1 - 2w), w = e / (1 + e),
 * e = exp(-2|x|) = 2^n (1 + y) unrounded in w's numerator and denominator. */
static inline float32x4_t gru_tanh_f32x4(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t a = vabsq_f32(x);
    /* large branch (argument clamped at -87: 2^n stays normal, tanh rounded to 1) */
    const float32x4_t t = vmaxq_f32(vmulq_f32(a, vdupq_n_f32(-2.0f)), vdupq_n_f32(-87.0f));
    float32x4_t nf, r;
    const float32x4_t qe = gru__expq_f32x4(t, &nf, &r);
    const float32x4_t y = vfmaq_f32(r, qe, vmulq_f32(r, r));         /* e = 2^n (1 + y) */
    const float32x4_t s = gru__pow2bits_f32x4(vaddq_f32(nf, vdupq_n_f32(0x1.8p23f + 127.0f)));
    const float32x4_t w = vdivq_f32(vfmaq_f32(s, s, y), vfmaq_f32(vaddq_f32(one, s), s, y));
    const float32x4_t big = vfmsq_f32(one, vdupq_n_f32(2.0f), w);
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.32, rel. error 2.4e-9 */
    const float32x4_t u = vmulq_f32(a, a);
    float32x4_t q = vdupq_n_f32(-0x1.95000ep-8f);
    q = vfmaq_f32(vdupq_n_f32(0x1.582faep-6f), q, u);
    q = vfmaq_f32(vdupq_n_f32(-0x1.b90946p-5f), q, u);
    q = vfmaq_f32(vdupq_n_f32(0x1.110c72p-3f), q, u);
    q = vfmaq_f32(vdupq_n_f32(-0x1.555548p-2f), q, u);
    const float32x4_t small = vfmaq_f32(a, vmulq_f32(a, u), q);
    const float32x4_t res = vbslq_f32(vcltq_f32(a, vdupq_n_f32(0.5625f)), small, big);
    /* copy the sign bit of x */
    return vbslq_f32(vdupq_n_u32(0x80000000u), x, res);
}

/* ==== float64 ======================================================================= */

static inline float64x2_t gru__expq_f64x2(float64x2_t x, float64x2_t *nf_out,
                                          float64x2_t *r_out)
{
    const float64x2_t sh = vdupq_n_f64(0x1.8p52);
    const float64x2_t kf = vfmaq_f64(sh, x, vdupq_n_f64(0x1.71547652b82fep+0));
    const float64x2_t nf = vsubq_f64(kf, sh);
    float64x2_t r = vfmsq_f64(x, nf, vdupq_n_f64(0x1.62e42fefa39efp-1));
    r = vfmsq_f64(r, nf, vdupq_n_f64(0x1.abc9e3b39803fp-56));
    /* Q(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= ln2/2, rel. error of exp(r) 1.1e-17 */
    float64x2_t q = vdupq_n_f64(0x1.ad7f7660588c7p-26);
    q = vfmaq_f64(vdupq_n_f64(0x1.28ad6aab551cdp-22), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.71df2540393b1p-19), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.a0199a14c9278p-16), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.a01a012a65a0cp-13), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.6c16c18427279p-10), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.1111111127babp-7), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.5555555550889p-5), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.55555555554fap-3), q, r);
    q = vfmaq_f64(vdupq_n_f64(0x1.000000000000ap-1), q, r);
    *nf_out = nf;
    *r_out = r;
    return q;
}

static inline float64x2_t gru__pow2bits_f64x2(float64x2_t k)
{
    return vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(k), 52));
}

/* exp(x) for x <= 710 (or NaN); n1 = round(n/2), n1 and n - n1 in [-538, 512]. */
static inline float64x2_t gru__exp_le710_f64x2(float64x2_t x)
{
    const float64x2_t one = vdupq_n_f64(1.0);
    const float64x2_t sh1023 = vdupq_n_f64(0x1.8p52 + 1023.0);
    x = vmaxq_f64(x, vdupq_n_f64(-746.0));
    float64x2_t nf, r;
    const float64x2_t q = gru__expq_f64x2(x, &nf, &r);
    const float64x2_t h = vaddq_f64(one, r);
    const float64x2_t l = vaddq_f64(vsubq_f64(one, h), r);
    const float64x2_t p = vaddq_f64(h, vfmaq_f64(l, vmulq_f64(r, r), q));
    const float64x2_t k1 = vfmaq_f64(sh1023, nf, vdupq_n_f64(0.5));
    const float64x2_t k2 = vaddq_f64(vsubq_f64(nf, vsubq_f64(k1, sh1023)), sh1023);
    return vmulq_f64(vmulq_f64(p, gru__pow2bits_f64x2(k1)), gru__pow2bits_f64x2(k2));
}

static inline float64x2_t gru_exp_f64x2(float64x2_t x)
{
    return gru__exp_le710_f64x2(vminq_f64(x, vdupq_n_f64(710.0)));
}

static inline float64x2_t gru_sigmoid_f64x2(float64x2_t x)
{
    const float64x2_t one = vdupq_n_f64(1.0);
    const float64x2_t e = gru__exp_le710_f64x2(vnegq_f64(vabsq_f64(x)));
    const uint64x2_t neg = vreinterpretq_u64_s64(vshrq_n_s64(vreinterpretq_s64_f64(x), 63));
    const float64x2_t num = vbslq_f64(neg, e, one);
    return vdivq_f64(num, vaddq_f64(one, e));
}

static inline float64x2_t gru_tanh_f64x2(float64x2_t x)
{
    const float64x2_t one = vdupq_n_f64(1.0);
    const float64x2_t a = vabsq_f64(x);
    const float64x2_t t = vmaxq_f64(vmulq_f64(a, vdupq_n_f64(-2.0)), vdupq_n_f64(-708.0));
    float64x2_t nf, r;
    const float64x2_t qe = gru__expq_f64x2(t, &nf, &r);
    const float64x2_t y = vfmaq_f64(r, qe, vmulq_f64(r, r));
    const float64x2_t s = gru__pow2bits_f64x2(vaddq_f64(nf, vdupq_n_f64(0x1.8p52 + 1023.0)));
    const float64x2_t w = vdivq_f64(vfmaq_f64(s, s, y), vfmaq_f64(vaddq_f64(one, s), s, y));
    const float64x2_t big = vfmsq_f64(one, vdupq_n_f64(2.0), w);
    /* small branch: T(u) ~ (tanh(x) - x) / x^3, u = x^2 <= 0.32, rel. error 7.5e-18 */
    const float64x2_t u = vmulq_f64(a, a);
    float64x2_t q = vdupq_n_f64(-0x1.3d27ea739bc0cp-16);
    q = vfmaq_f64(vdupq_n_f64(0x1.597261c2f15cfp-14), q, u);
    q = vfmaq_f64(vdupq_n_f64(-0x1.e80a9284ba497p-13), q, u);
    q = vfmaq_f64(vdupq_n_f64(0x1.3460ac6945c78p-11), q, u);
    q = vfmaq_f64(vdupq_n_f64(-0x1.7d8b95ddf7a71p-10), q, u);
    q = vfmaq_f64(vdupq_n_f64(0x1.d6d2479413cecp-9), q, u);
    q = vfmaq_f64(vdupq_n_f64(-0x1.226e2d0262c5bp-7), q, u);
    q = vfmaq_f64(vdupq_n_f64(0x1.664f484956876p-6), q, u);
    q = vfmaq_f64(vdupq_n_f64(-0x1.ba1ba1b935e47p-5), q, u);
    q = vfmaq_f64(vdupq_n_f64(0x1.11111111102b6p-3), q, u);
    q = vfmaq_f64(vdupq_n_f64(-0x1.555555555554bp-2), q, u);
    const float64x2_t small = vfmaq_f64(a, vmulq_f64(a, u), q);
    const float64x2_t res = vbslq_f64(vcltq_f64(a, vdupq_n_f64(0.5625)), small, big);
    return vbslq_f64(vdupq_n_u64(0x8000000000000000ull), x, res);
}

#endif /* __ARM_NEON && __aarch64__ */
#endif /* GRU_VMATH_NEON_H */
