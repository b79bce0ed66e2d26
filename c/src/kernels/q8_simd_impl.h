/*
 * q8_simd_impl.h - the int8 kernel bodies (q8.h) written once over a few vector
 * macros, compiled per ISA by q8_avx2.c and q8_avx512vnni.c. Defines KSFX(gemm),
 * KSFX(sigmoid), KSFX(tanh); quantization is the reference's (gru_q8_ref_quantize:
 * K lrintf per row, negligible beside the K x 3H products).
 *
 * The includer defines:
 *   KSFX(name)     the suffixed name
 *   VI             integer vector type, VB its width in bytes (divides GRU_Q8_KPAD)
 *   VIZERO()       zero vector; VILOAD(p) unaligned load of VB bytes
 *   PREPX(x)       the activation vector as DOT wants it
 *   DOT(acc, x, w) acc + the int32 sums of the products x_k w_k (groups of 4 / 2)
 *   HSUM(v)        sum of the int32 lanes
 *   XBIAS          what DOT adds per unit of sum_k w_k (128 for VNNI's u8 = x + 128,
 *                  0 otherwise): acc = HSUM - XBIAS * wsum, exact in int32 (q8.h)
 *   NW, NB         register tile: NW weight rows x NB activation rows
 *   VF, VLF, VFLOAD(p), VFSTORE(p, v), VSIGMOID(v), VTANH(v)   float vectors
 * Every int32 result equals the reference's sum exactly (no saturating instruction
 * is used, see the includers); the float epilogue is the reference's q8_dequant, the
 * same two multiplies and add (the build never contracts them: -std=c11 means
 * -ffp-contract=off in GCC, and the Makefile adds it for these objects).
 */

#define GRU_Q8_INLINE static inline __attribute__((always_inline))

/* out[i][j] = sum_k W[i, k] X[j, k] for i < nw, j < nb (exact int32). */
GRU_Q8_INLINE void KSFX(tile)(int nw, int nb, size_t Kp, const int8_t *X, size_t ldx,
                             const int8_t *W, int32_t out[NW][NB])
{
    VI acc[NW][NB], xv[NB], wv[NW];
    for (int i = 0; i < NW; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = VIZERO();
    for (size_t k = 0; k < Kp; k += VB) {
        for (int j = 0; j < nb; j++) xv[j] = PREPX(VILOAD(X + j * ldx + k));
        for (int i = 0; i < nw; i++) wv[i] = VILOAD(W + i * Kp + k);
        for (int i = 0; i < nw; i++)
            for (int j = 0; j < nb; j++) acc[i][j] = DOT(acc[i][j], xv[j], wv[i]);
    }
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < nb; j++) out[i][j] = HSUM(acc[i][j]);
}

/* The tile, with its shape known to the compiler for the common cases. */
static void KSFX(tile_any)(int nw, int nb, size_t Kp, const int8_t *X, size_t ldx,
                           const int8_t *W, int32_t out[NW][NB])
{
    if (nw == NW && nb == NB) KSFX(tile)(NW, NB, Kp, X, ldx, W, out);
    else if (nw == NW && nb == 1) KSFX(tile)(NW, 1, Kp, X, ldx, W, out);
    else if (nw == 1 && nb == 1) KSFX(tile)(1, 1, Kp, X, ldx, W, out);
    else KSFX(tile)(nw, nb, Kp, X, ldx, W, out);
}

/* As the reference's q8_dequant. */
static inline float KSFX(dequant)(int32_t acc, float ws, float xs, const float *bias, size_t n)
{
    const float sc = ws * xs;
    const float v = (float)acc * sc;
    return bias ? v + bias[n] : v;
}

/* C rows b.., columns n.. of the tile out (nw x nb): the dequantized sums. */
static void KSFX(store)(int nw, int nb, int32_t out[NW][NB], size_t b, size_t n,
                        const float *xs, const float *ws, const int32_t *wsum,
                        const float *bias, float *C, size_t ldc)
{
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < nb; j++)
            C[(b + j) * ldc + n + i] = KSFX(dequant)(out[i][j] - XBIAS * wsum[n + i], ws[n + i],
                                                     xs[b + j], bias, n + i);
}

static void KSFX(gemm)(size_t M, size_t N, size_t Kp, const int8_t *X, size_t ldx,
                       const float *xs, const int8_t *W, const float *ws,
                       const int32_t *wsum, const float *bias, float *C, size_t ldc)
{
    int32_t out[NW][NB];
    for (size_t b = 0; b < M; b += NB) {
        const int nb = M - b < NB ? (int)(M - b) : NB;
        for (size_t n = 0; n < N; n += NW) {
            const int nw = N - n < NW ? (int)(N - n) : NW;
            KSFX(tile_any)(nw, nb, Kp, X + b * ldx, ldx, W + n * Kp, out);
            KSFX(store)(nw, nb, out, b, n, xs, ws, wsum, bias, C, ldc);
        }
    }
}

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
#undef GRU_Q8_INLINE
