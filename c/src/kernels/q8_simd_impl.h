/*
 * q8_simd_impl.h - the int8 kernel bodies (q8.h) written once over a few vector
 * macros, compiled per ISA by q8_avx2.c, q8_avx512vnni.c, q8_neon.c and the bf16
 * tables (bf16_avx2.c, bf16_avx512*.c, bf16_neon*.c). Defines KSFX(gemm),
 * KSFX(sigmoid), KSFX(tanh), KSFX(gates_after) (x86; the NEON tables leave
 * gates_after NULL); quantization is the reference's (gru_q8_ref_quantize: K lrintf
 * per row, small beside the K x 3H products) unless the includer has its own.
 *
 * Weights are in the blocked layout (gru_q8_offset, rb = 16): a 64-byte block holds
 * 4 columns of 16 rows, VPB = 64 / VB vectors. Each step of the product broadcasts 4
 * activation bytes and multiplies them into a block, so every int32 lane accumulates
 * one row's dot product: no horizontal sums. A tile is nr row blocks x nb activation
 * rows of accumulators.
 *
 * The includer defines:
 *   KSFX(name)      the suffixed name
 *   VI, VB          integer vector type and its width in bytes (16, 32 or 64)
 *   VIZERO()        zero vector; VILOAD(p) unaligned load; VISTORE(p, v) store of the
 *                   VB / 4 int32 lanes; VBCAST4(p) the 4 bytes at p in every lane
 *   PREPX(x)        the broadcast activations as DOT wants them (default: x)
 *   DOT(acc, x, w)  acc + per lane the exact int32 sum of its 4 byte products
 *   XBIAS           what DOT adds per unit of sum_k w_k (128 for VNNI's u8 = x + 128,
 *                   0 otherwise): acc = lane - XBIAS * wsum, exact in int32 (q8.h)
 *   TR1             row blocks per tile when M == 1 (streaming);
 *   TRM, TBM        row blocks and activation rows per tile when M > 1
 *   VF, VLF (= VB / 4), VFLOAD(p), VFSTORE(p, v), VFSET1(x), VFMUL, VFADD, VFCVT(vi)
 *                   (int32 -> float, rounded to nearest as C's conversion),
 *                   VSIGMOID(v), VTANH(v)   float vectors
 *   VCORR(acc, p)   acc - XBIAS * the int32 at p (lanewise)
 * The width-specific macros (VI ... VTANH but DOT, PREPX, XBIAS, VCORR) come from
 * q8_vec_avx2.h / q8_vec_avx512.h.
 * With Q8_FLOAT_ACC defined (the bf16 tables, bf16_avx512.c ...), the accumulator
 * lanes hold float32 sums (DOT adds a pair of bf16 products in the order bf16_scalar.c
 * defines), VFCVT reinterprets them as floats and finish is C = acc + bias (the scales
 * are 1 and the row sums unused). With Q8_BF16_EXACT also defined, DOT is defined here:
 * the reference's order with separate multiplies and adds (bitwise bf16_scalar.c),
 * from VBF16_ODD / VBF16_EVEN.
 * Every int32 result equals the reference's sum exactly (no saturating instruction
 * is used, see the includers); the float epilogue is the reference's q8_dequant, the
 * same two multiplies and add (never contracted: -std=c11 means -ffp-contract=off in
 * GCC, and the Makefile adds it for these objects).
 */

#define GRU_Q8_INLINE static inline __attribute__((always_inline))
#define GRU_Q8_PRAGMA(x) _Pragma(#x)
#define GRU_Q8_UNROLL GRU_Q8_PRAGMA(GCC unroll 16)
#define VPB (64 / VB)
#define RBK 16
#define TMAXR (TR1 > TRM ? TR1 : TRM)
#define TMAXB (TBM > 1 ? TBM : 1)
#ifndef PREPX
#define PREPX(x) (x)
#endif

#ifdef Q8_BF16_EXACT
/* acc + w_odd x_odd, then + w_even x_even, lane by lane (float32, each rounded, never
 * fused): a bf16 value is the high half of a float32, so the pair (w[2j], w[2j+1]) in a
 * 32-bit lane gives w[2j+1] as the lane with its low half cleared and w[2j] as the lane
 * shifted left by 16, both exact. */
GRU_Q8_INLINE VI KSFX(bf16_dot)(VI acc, VI x, VI w)
{
    const VF a = VFADD(acc, VFMUL(VBF16_ODD(w), VBF16_ODD(x)));
    return VFADD(a, VFMUL(VBF16_EVEN(w), VBF16_EVEN(x)));
}
#define DOT(acc, x, w) KSFX(bf16_dot)(acc, x, w)
#endif

/* Where a product's results go (q8.h, gemm). */
#ifndef GRU_Q8_OUT_DEFINED
#define GRU_Q8_OUT_DEFINED
typedef struct q8_out {
    size_t N;                  /* rows of W: columns of C */
    const float *xs, *ws;      /* (M), (N) scales */
    const int32_t *wsum;       /* (N) row sums */
    const float *bias;         /* (N) or NULL */
    float *C;                  /* (M, N) at ldc */
    size_t ldc;
} q8_out;
#endif

/* As the reference's q8_dequant. */
static inline float KSFX(dequant)(int32_t acc, float ws, float xs, const float *bias, size_t n)
{
    const float sc = ws * xs;
    const float v = (float)acc * sc;
    return bias ? v + bias[n] : v;
}

/* The finished sums of rows n .. n + VB/4 - 1 (those < N) for one activation row:
 * C[n..] = (float)(acc - XBIAS * wsum) * (ws * xs) (+ bias), lane by lane the
 * reference's operations (a vector of them when all lanes are rows < N). */
GRU_Q8_INLINE void KSFX(finish)(VI acc, size_t n, size_t N, float xs, const float *ws,
                               const int32_t *wsum, const float *bias, float *c)
{
#ifdef Q8_FLOAT_ACC
    /* bf16 (bf16_simd.h): the lanes are float32 sums already; C = acc + bias */
    (void)xs; (void)ws; (void)wsum;
    if (n + VB / 4 <= N) {
        VF v = VFCVT(acc);
        if (bias) v = VFADD(v, VFLOAD(bias + n));
        VFSTORE(c + n, v);
        return;
    }
    float lanes[VB / 4];
    VFSTORE(lanes, VFCVT(acc));
    for (size_t r = 0; n + r < N; r++) c[n + r] = bias ? lanes[r] + bias[n + r] : lanes[r];
#else
    if (n + VB / 4 <= N) {
        const VF sc = VFMUL(VFLOAD(ws + n), VFSET1(xs));
        VF v = VFMUL(VFCVT(VCORR(acc, wsum + n)), sc);
        if (bias) v = VFADD(v, VFLOAD(bias + n));
        VFSTORE(c + n, v);
        return;
    }
    int32_t lanes[VB / 4];
    VISTORE(lanes, acc);
    for (size_t r = 0; n + r < N; r++)
        c[n + r] = KSFX(dequant)(lanes[r] - XBIAS * wsum[n + r], ws[n + r], xs, bias, n + r);
#endif
}

/* A tile: rows n0 .. n0 + 16 nr - 1 (those < N) of C for activation rows b .. b + nb - 1,
 * acc[i][j] lane r = sum_k W[n0 + (VB/4) i + r, k] X[b + j, k]. */
GRU_Q8_INLINE void KSFX(tile)(int nr, int nb, size_t Kp, const int8_t *X, size_t ldx,
                             const int8_t *W, const q8_out *o, size_t b, size_t n0)
{
    /* fully unrolled (the shapes are constants after inlining): accumulators in registers */
    VI acc[TMAXR * VPB][TMAXB], xb[TMAXB];
    GRU_Q8_UNROLL
    for (int j = 0; j < TMAXB; j++) xb[j] = VIZERO();
    GRU_Q8_UNROLL
    for (int i = 0; i < nr * VPB; i++)
        GRU_Q8_UNROLL
        for (int j = 0; j < nb; j++) acc[i][j] = VIZERO();
    for (size_t k = 0; k < Kp; k += 4) {
        GRU_Q8_UNROLL
        for (int j = 0; j < nb; j++) xb[j] = PREPX(VBCAST4(X + j * ldx + k));
        GRU_Q8_UNROLL
        for (int i = 0; i < nr * VPB; i++) {
            const VI w = VILOAD(W + (size_t)(i / VPB) * Kp * RBK + k * RBK + (size_t)(i % VPB) * VB);
            GRU_Q8_UNROLL
            for (int j = 0; j < nb; j++) acc[i][j] = DOT(acc[i][j], xb[j], w);
        }
    }
    GRU_Q8_UNROLL
    for (int i = 0; i < nr * VPB; i++)
        GRU_Q8_UNROLL
        for (int j = 0; j < nb; j++)
            KSFX(finish)(acc[i][j], n0 + (size_t)i * (VB / 4), o->N, o->xs[b + (size_t)j],
                         o->ws, o->wsum, o->bias, o->C + (b + (size_t)j) * o->ldc);
}

/* The tile, with its shape known to the compiler for the common cases. */
static void KSFX(tile_any)(int nr, int nb, size_t Kp, const int8_t *X, size_t ldx,
                           const int8_t *W, const q8_out *o, size_t b, size_t n0)
{
    if (nb == 1 && nr == TR1) KSFX(tile)(TR1, 1, Kp, X, ldx, W, o, b, n0);
    else if (nb == 1 && nr == 1) KSFX(tile)(1, 1, Kp, X, ldx, W, o, b, n0);
    else if (nb == TBM && nr == TRM) KSFX(tile)(TRM, TBM, Kp, X, ldx, W, o, b, n0);
    else KSFX(tile)(nr, nb, Kp, X, ldx, W, o, b, n0);
}

/* Rows b0 .. b1 - 1 of X against every row block: a group of tr row blocks (tr * 16
 * rows of W) is loaded from memory once and serves all those rows of X from L1 / L2,
 * tile by tile (tb rows of X each). */
static void KSFX(gemm_rows)(size_t b0, size_t b1, size_t Kp, const int8_t *X, size_t ldx,
                            const int8_t *W, const q8_out *o, size_t tb, size_t tr)
{
    const size_t nblocks = (o->N + RBK - 1) / RBK;
    for (size_t blk = 0; blk < nblocks; blk += tr) {
        const int nr = (int)(nblocks - blk < tr ? nblocks - blk : tr);
        for (size_t b = b0; b < b1; b += tb) {
            const int nb = (int)(b1 - b < tb ? b1 - b : tb);
            KSFX(tile_any)(nr, nb, Kp, X + b * ldx, ldx, W + blk * RBK * Kp, o, b,
                           blk * RBK);
        }
    }
}

/* The rows of X in slices of at most GRU_Q8_XSLICE bytes (a multiple of tb rows), each
 * against all of W: a slice stays in L2 while W streams through once per slice. Every
 * output is one tile's work whatever the order, so the order changes no result. */
#define GRU_Q8_XSLICE ((size_t)256 * 1024)
static void KSFX(gemm)(size_t M, size_t N, size_t Kp, const int8_t *X, size_t ldx,
                       const float *xs, const int8_t *W, const float *ws,
                       const int32_t *wsum, const float *bias, float *C, size_t ldc)
{
    const q8_out o = {.N = N, .xs = xs, .ws = ws, .wsum = wsum, .bias = bias, .C = C,
                      .ldc = ldc};
    const size_t tb = M == 1 ? 1 : TBM, tr = M == 1 ? TR1 : TRM;
    size_t slice = GRU_Q8_XSLICE / (Kp ? Kp : 1) / tb * tb;
    if (slice < tb) slice = tb;
    for (size_t b0 = 0; b0 < M; b0 += slice)
        KSFX(gemm_rows)(b0, M - b0 < slice ? M : b0 + slice, Kp, X, ldx, W, &o, tb, tr);
}
#undef GRU_Q8_XSLICE

/* v = f(v) for n floats; the tail through a zero-padded vector. */
#define GRU_Q8_ARRAY(fname, VFUN)                                                       \
    static void KSFX(fname)(size_t n, float *v)                                        \
    {                                                                                  \
        size_t i = 0;                                                                  \
        for (; i + VLF <= n; i += VLF) VFSTORE(v + i, VFUN(VFLOAD(v + i)));            \
        if (i == n) return;                                                            \
        float t[VLF] = {0};                                                            \
        memcpy(t, v + i, (n - i) * sizeof(float));                                     \
        VFSTORE(t, VFUN(VFLOAD(t)));                                                   \
        memcpy(v + i, t, (n - i) * sizeof(float));                                     \
    }
GRU_Q8_ARRAY(sigmoid, VSIGMOID)
GRU_Q8_ARRAY(tanh, VTANH)
#undef GRU_Q8_ARRAY

/* q8.h's gates_after for units 0 .. VLF - 1 of the blocks at xi, g (stride H), h, hn:
 *   r = s(xi_r + g_r), z = s(xi_z + g_z), n = tanh(xi_n + r g_n), hn = (1 - z) n + z h */
GRU_Q8_INLINE void KSFX(gates_after_v)(size_t H, const float *xi, const float *g,
                                      const float *h, float *hn)
{
    const VF r = VSIGMOID(VFADD(VFLOAD(xi), VFLOAD(g)));
    const VF z = VSIGMOID(VFADD(VFLOAD(xi + H), VFLOAD(g + H)));
    const VF n = VTANH(VFADD(VFLOAD(xi + 2 * H), VFMUL(r, VFLOAD(g + 2 * H))));
    VFSTORE(hn, VFADD(VFMUL(VFSUB(VFSET1(1.0f), z), n), VFMUL(z, VFLOAD(h))));
}

/* q8.h's gates_after: whole vectors, then the tail through zero-padded copies. */
static void KSFX(gates_after)(size_t n, size_t H, const float *xi, float *g, const float *h,
                              float *hn)
{
    size_t j = 0;
    for (; j + VLF <= n; j += VLF) KSFX(gates_after_v)(H, xi + j, g + j, h + j, hn + j);
    if (j == n) return;
    float tx[3 * VLF] = {0}, tg[3 * VLF] = {0}, th[VLF] = {0}, to[VLF];
    const size_t m = n - j;
    for (int b = 0; b < 3; b++) {
        memcpy(tx + b * VLF, xi + b * H + j, m * sizeof(float));
        memcpy(tg + b * VLF, g + b * H + j, m * sizeof(float));
    }
    memcpy(th, h + j, m * sizeof(float));
    KSFX(gates_after_v)(VLF, tx, tg, th, to);
    memcpy(hn + j, to, m * sizeof(float));
}
#undef GRU_Q8_INLINE
#undef GRU_Q8_PRAGMA
#undef GRU_Q8_UNROLL
#undef VPB
#undef RBK
#undef TMAXR
#undef TMAXB
