/*
 * rng.h - the counter-based generator behind every dropout mask: a uniform double in
 * [0, 1) that is a pure function of (seed, draw, stream, index), so backward
 * regenerates the forward's masks and no result depends on evaluation order or on
 * the thread that draws it. Header-only; no state.
 */
#ifndef GRU_RNG_H
#define GRU_RNG_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64's finaliser. */
static inline uint64_t gru_mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Uniform in [0, 1) for element idx of stream `stream` (a layer's output, or one of the
 * streams below) in draw number `draw` (training forwards so far) of a model seeded
 * with `seed`. */
static inline double gru_uniform(uint64_t seed, uint64_t draw, size_t stream, size_t idx)
{
    uint64_t x = gru_mix64(seed + 0x9e3779b97f4a7c15ULL);
    x = gru_mix64(x ^ (draw * 0xd1b54a32d192ed03ULL + 1));
    x = gru_mix64(x ^ ((uint64_t)stream * 0x8cb92ba72f3d8dd7ULL + 2));
    x = gru_mix64(x ^ ((uint64_t)idx + 0x632be59bd9b4e019ULL));
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* gru_uniform in two parts, for long runs of one stream: the key of (seed, draw,
 * stream) once, then gru_uniform_at(key, idx) == gru_uniform(seed, draw, stream, idx)
 * bit for bit (the same mixing, its first three rounds hoisted). */
static inline uint64_t gru_stream_key(uint64_t seed, uint64_t draw, size_t stream)
{
    uint64_t x = gru_mix64(seed + 0x9e3779b97f4a7c15ULL);
    x = gru_mix64(x ^ (draw * 0xd1b54a32d192ed03ULL + 1));
    return gru_mix64(x ^ ((uint64_t)stream * 0x8cb92ba72f3d8dd7ULL + 2));
}

static inline double gru_uniform_at(uint64_t key, size_t idx)
{
    const uint64_t x = gru_mix64(key ^ ((uint64_t)idx + 0x632be59bd9b4e019ULL));
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* The same decisions in integers, for the SIMD kernels' mask loops: with
 * k = gru_draw_at(key, idx) (the 53 bits behind gru_uniform_at) and
 * thr = gru_threshold(p),
 *
 *     gru_uniform_at(key, idx) < p   iff   k < thr        (for every double p).
 *
 * Proof. u = gru_uniform_at(key, idx) = k * 2^-53 exactly (k < 2^53 converts to double
 * exactly; a product by a power of two is exact). For 0 < p < 1, y = p * 2^53 is exact
 * as well (a power-of-two scaling that cannot overflow, and whose result is >= 2^-1021,
 * a normal number). So u < p iff k * 2^-53 < p iff k < y (scale both sides by 2^53 > 0,
 * in the reals), and for the integer k, k < y iff k < ceil(y) = thr; ceil(y) <= 2^53 is
 * computed exactly below as floor(y) (the conversion truncates, y > 0) plus 1 unless y
 * is an integer. The other p: p <= 0 (u >= 0 is never below) and NaN (the comparison is
 * false): thr = 0, no k is below; p >= 1 (u < 1 <= p always): thr = 2^53 > every k.
 * c/tests/test_regularize.c checks the equivalence at p next to representable
 * boundaries k * 2^-53 and at the extremes. */
static inline uint64_t gru_draw_at(uint64_t key, size_t idx)
{
    return gru_mix64(key ^ ((uint64_t)idx + 0x632be59bd9b4e019ULL)) >> 11;
}

static inline uint64_t gru_threshold(double p)
{
    if (!(p > 0)) return 0;                       /* p <= 0 or NaN */
    if (p >= 1) return (uint64_t)1 << 53;
    const double y = p * 9007199254740992.0;      /* exact: p * 2^53, in (0, 2^53) */
    const uint64_t f = (uint64_t)y;               /* floor(y) */
    return f + ((double)f < y);                   /* ceil(y); (double)f is exact */
}

/* Bit l (l < n <= 64) set iff gru_draw_at(key, first + l) < thr: n decisions at once.
 * The scalar form; kernels/avx2.c and avx512.c mix 4 or 8 indices per vector and give
 * the same bits (integer arithmetic only). */
static inline uint64_t gru_below_bits_scalar(uint64_t key, size_t first, size_t n,
                                             uint64_t thr)
{
    uint64_t bits = 0;
    for (size_t l = 0; l < n; l++)
        bits |= (uint64_t)(gru_draw_at(key, first + l) < thr) << l;
    return bits;
}

/* Streams: inter-layer dropout of layer l's output uses stream l (0 .. L-2); the input
 * and recurrent dropout masks of layer-direction k use these, their element of
 * (sequence b, feature i) being index b * width + i. */
#define GRU_STREAM_INPUT(k) ((size_t)0x40000000u + (size_t)(k))
#define GRU_STREAM_RECURRENT(k) ((size_t)0x60000000u + (size_t)(k))
/* Zoneout masks of layer-direction k: element (t, b, j) is index (t*B + b)*H + j
 * (time-major whatever the layout); DropConnect mask of W_hh of layer-direction k:
 * element (g, j) of the (3H, H) matrix is index g*H + j. */
#define GRU_STREAM_ZONEOUT(k) ((size_t)0x80000000u + (size_t)(k))
#define GRU_STREAM_WEIGHT(k) ((size_t)0xA0000000u + (size_t)(k))

#endif /* GRU_RNG_H */
