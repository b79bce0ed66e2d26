/*
 * vmath_scalar.h - the float32 sigmoid and tanh of the vmath headers (VMATH.md) as
 * portable scalar C11: the same operations in the same order with the same constants,
 * every fused multiply-add an explicit fmaf (exactly rounded, as the vector FMAs), and
 * 2^n built from the bits of a shifted float as in vmath_avx2.h. Hence bit-identical to
 * gru_sigmoid_ps256 / _ps512 / _f32x4 and gru_tanh_* on every input but NaN payloads
 * (checked by c/tests/test_quant.c over many inputs). Used by the int8 reference
 * kernels (q8_scalar.c), whose results every int8 SIMD table must reproduce.
 * Header-only static inline; needs <math.h> (fmaf) and the default rounding mode.
 */
#ifndef GRU_VMATH_SCALAR_H
#define GRU_VMATH_SCALAR_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float gru__bits_to_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline uint32_t gru__f_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* As gru__expq_ps256: x = n ln2 + r, returns Q(r). */
static inline float gru__expq_f(float x, float *nf_out, float *r_out)
{
    const float sh = 0x1.8p23f;
    const float nf = fmaf(x, 0x1.715476p+0f, sh) - sh;
    float r = fmaf(-nf, 0x1.62e43p-1f, x);
    r = fmaf(-nf, -0x1.05c61p-29f, r);
    float q = 0x1.6a2448p-10f;
    q = fmaf(q, r, 0x1.1239d6p-7f);
    q = fmaf(q, r, 0x1.5558f2p-5f);
    q = fmaf(q, r, 0x1.555492p-3f);
    q = fmaf(q, r, 0x1.fffffcp-2f);
    *nf_out = nf;
    *r_out = r;
    return q;
}

/* As gru__exp_le89_ps256: exp(x) for x <= 89 (or NaN). */
static inline float gru__exp_le89_f(float x)
{
    const float sh127 = 0x1.8p23f + 127.0f;
    x = -104.0f > x ? -104.0f : x;   /* max(-104, x); NaN passes through */
    float nf, r;
    const float q = gru__expq_f(x, &nf, &r);
    const float h = 1.0f + r;
    const float l = (1.0f - h) + r;
    const float p = h + fmaf(r * r, q, l);
    const float k1 = fmaf(nf, 0.5f, sh127);
    const float k2 = (nf - (k1 - sh127)) + sh127;
    const float s1 = gru__bits_to_f(gru__f_to_bits(k1) << 23);
    const float s2 = gru__bits_to_f(gru__f_to_bits(k2) << 23);
    return (p * s1) * s2;
}

/* sigmoid(x) = e / (1 + e) (sign bit of x set) or 1 / (1 + e), e = exp(-|x|). */
static inline float gru_sigmoid_f(float x)
{
    const uint32_t xb = gru__f_to_bits(x);
    const float e = gru__exp_le89_f(gru__bits_to_f(xb | 0x80000000u));
    const float num = (xb & 0x80000000u) ? e : 1.0f;
    return num / (1.0f + e);
}

/* tanh(x) = sign(x) (|x| < 0.5625 ? |x| + |x|^3 T(x^2) : 1 - 2w), as gru_tanh_ps256. */
static inline float gru_tanh_f(float x)
{
    const uint32_t xb = gru__f_to_bits(x);
    const float a = gru__bits_to_f(xb & 0x7fffffffu);
    const float m2 = a * -2.0f;
    const float t = -87.0f > m2 ? -87.0f : m2;
    float nf, r;
    const float qe = gru__expq_f(t, &nf, &r);
    const float y = fmaf(qe, r * r, r);
    const float s = gru__bits_to_f(gru__f_to_bits(nf + (0x1.8p23f + 127.0f)) << 23);
    const float w = fmaf(s, y, s) / fmaf(s, y, 1.0f + s);
    const float big = fmaf(-2.0f, w, 1.0f);
    const float u = a * a;
    float q = -0x1.95000ep-8f;
    q = fmaf(q, u, 0x1.582faep-6f);
    q = fmaf(q, u, -0x1.b90946p-5f);
    q = fmaf(q, u, 0x1.110c72p-3f);
    q = fmaf(q, u, -0x1.555548p-2f);
    const float small = fmaf(a * u, q, a);
    const float res = a < 0.5625f ? small : big;
    return gru__bits_to_f(gru__f_to_bits(res) | (xb & 0x80000000u));
}

#endif /* GRU_VMATH_SCALAR_H */
