/*
 * simd_impl.h - the bodies of libgru's SIMD kernels, written once over a small vector
 * vocabulary and compiled once per ISA and element type: kernels/<isa>.c defines
 *
 *   R            element type (float or double)
 *   KSFX(name)   name suffix, e.g. name##_avx512_f32
 *   V, VL        vector type and its number of lanes
 *   VLOAD(p), VSTORE(p, v), VSET1(x), VZERO(), VFMA(a, b, c) = a*b + c (fused),
 *   VADD, VSUB, VMUL (one rounding each), VSIGMOID(v), VTANH(v) (kernels/vmath_<isa>.h)
 *   VSEL(m, a, b) lane-wise m != 0 ? a : b, the lanes' bits moved unchanged
 *   VBITS(b, x)  lane l: x's lane if bit l of the integer b is set, else +0
 *   MR, NRV      register tile: MR rows by NRV vectors (NR = NRV*VL columns)
 *   PT, MTHIN    few-row tile for M <= MTHIN (<= 4) rows: m rows by NPR(m) panels, at
 *                most PT (one row) and at most the MR*NRV accumulators of the MR tile
 *   KC, NC       cache blocking of the general gemm (depth, columns)
 *
 * and optionally GRU_BELOW_BITS (else rng.h's gru_below_bits_scalar; a vector form of
 * it, same bits), and includes this file, which undefines the per-type names above (all
 * but MR, NRV, PT, MTHIN, GRU_BELOW_BITS) at its end, ready for the next type.
 * Everything else (packing, blocking, edges) is here.
 *
 * Determinism: every element of C is computed as one chain of fused multiply-adds in
 * increasing k from its initial value (0, or C as it was), whatever its tile, its
 * position or the blocking; an edge tile of up to MTHIN rows runs the few-row kernel,
 * a larger one the micro-kernel on a copy, both with the same chains. So a
 * row's result does not depend on how many rows are computed with it, and splitting
 * the columns or rows between threads cannot change a bit. The elementwise entries
 * (mul, mul_add, add, mask_rows, dropout, dropout_mask) use VMUL then VADD, never VFMA,
 * and give the scalar reference's bits.
 */
#if !defined(R) || !defined(KSFX) || !defined(MR) || !defined(NRV) || !defined(PT) || \
    !defined(MTHIN)
#error "define the vector vocabulary before including simd_impl.h"
#endif

#define NR (NRV * VL)

#ifndef GRU_SIMD_ONCE
#define GRU_SIMD_ONCE
#include <math.h>   /* sqrtf, sqrt: layer normalisation's 1 / sqrt(var + eps) */
#define GRU_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GRU_PRAGMA(x) _Pragma(#x)
#if defined(__GNUC__) || defined(__clang__)
#define GRU_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GRU_ALWAYS_INLINE inline
#endif
#if defined(__clang__)
#define GRU_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define GRU_UNROLL GRU_PRAGMA(GCC unroll 16)
#else
#define GRU_UNROLL
#endif
#endif

/* The table's gemm_scratch and nr entries (constant expressions for its initialiser):
 * gemm's scratch holds a packed (KC, NC) block of B, then one packed (KC, MR) tile of a
 * transposed A. */
enum { KSFX(scratch_elems) = KC * NC + KC * MR, KSFX(panel_width) = NR };
_Static_assert(NC % NR == 0, "NC must be a whole number of panels (the gemm scratch)");

/* Packed layout of a (K, N) matrix: ceil(N/NR) panels of NR columns; panel q holds
 * element (k, q*NR + c) at P[(q*K + k)*NR + c], zeros past column N. */
static size_t KSFX(packed_size)(size_t K, size_t N) { return (N + NR - 1) / NR * NR * K; }

/* Panel columns [0, c_end) of op(B) rows [k0, k0+kc) from columns n0.. of op(B), then
 * zeros to NR. tb: op(B)(k, n) = B[n, k] (read rows of B, write columns of the panel).
 * Always inlined into pack_block (as one function it was measurably faster). */
static GRU_ALWAYS_INLINE void KSFX(pack_panel)(int tb, size_t k0, size_t kc, size_t n0,
                                               size_t c_end, const R *B, size_t ldb,
                                               R *panel)
{
    if (tb)
        for (size_t c = 0; c < c_end; c++) {
            const R *src = B + (n0 + c) * ldb + k0;
            for (size_t k = 0; k < kc; k++) panel[k * NR + c] = src[k];
        }
    else
        for (size_t k = 0; k < kc; k++) {
            const R *src = B + (k0 + k) * ldb + n0;
            for (size_t c = 0; c < c_end; c++) panel[k * NR + c] = src[c];
        }
    for (size_t k = 0; k < kc; k++)
        for (size_t c = c_end; c < NR; c++) panel[k * NR + c] = 0;
}

/* Packs op(B) rows [k0, k0+kc) and columns [n0, n0+nc) as a (kc, nc) packed matrix. */
static void KSFX(pack_block)(int tb, size_t k0, size_t kc, size_t n0, size_t nc,
                             const R *B, size_t ldb, R *P)
{
    for (size_t q = 0; q * NR < nc; q++)
        KSFX(pack_panel)(tb, k0, kc, n0 + q * NR, GRU_MIN((size_t)NR, nc - q * NR), B, ldb,
                         P + q * kc * NR);
}

/* Packs rows [i0, i0+mr) (mr <= MR) and columns [k0, k0+kc) of op(A) = A^T (A is
 * (K, M), lda) as a (kc, MR) tile, element (i, k) at P[k * MR + i]: the micro-kernel
 * then reads the tile front to back instead of one short run every lda (a new page
 * every few k for the weight gradients, where lda = 3H). */
static void KSFX(pack_at)(size_t i0, size_t mr, size_t k0, size_t kc, const R *A, size_t lda,
                          R *P)
{
    for (size_t k = 0; k < kc; k++) {
        const R *src = A + (k0 + k) * lda + i0;
        for (size_t i = 0; i < mr; i++) P[k * MR + i] = src[i];
    }
}

static void KSFX(pack_b)(int tb, size_t K, size_t N, const R *B, size_t ldb, R *P)
{
    KSFX(pack_block)(tb, 0, K, 0, N, B, ldb, P);
}

/* The micro-kernel: C[0:MR, 0:NR] (ldc) = (load ? C : bias) + sum_{k < kc} A_i(k) Bp[k, :],
 * A_i(k) = a[i][k * sk] (row pointers: an edge tile repeats its last valid row); bias
 * (NR) for every row, NULL: zeros. */
static inline void KSFX(ukr)(size_t kc, const R *const *a, size_t sk, const R *Bp, R *C,
                             size_t ldc, int load, const R *bias, const R *pf, size_t every)
{
    V acc[MR][NRV];
    GRU_UNROLL for (int i = 0; i < MR; i++)
        GRU_UNROLL for (int v = 0; v < NRV; v++)
            acc[i][v] = load ? VLOAD(C + i * ldc + v * VL)
                        : bias ? VLOAD(bias + v * VL) : VZERO();
    size_t until_pf = 1;
    for (size_t k = 0; k < kc; k++) {
        if (pf && --until_pf == 0) {   /* the next panel, a line at a time, into L2 */
            __builtin_prefetch(pf, 0, 2);
            pf += 64 / sizeof(R);
            until_pf = every;
        }
        V b[NRV];
        GRU_UNROLL for (int v = 0; v < NRV; v++) b[v] = VLOAD(Bp + k * NR + v * VL);
        GRU_UNROLL for (int i = 0; i < MR; i++) {
            const V ai = VSET1(a[i][k * sk]);
            GRU_UNROLL for (int v = 0; v < NRV; v++) acc[i][v] = VFMA(ai, b[v], acc[i][v]);
        }
    }
    GRU_UNROLL for (int i = 0; i < MR; i++)
        GRU_UNROLL for (int v = 0; v < NRV; v++) VSTORE(C + i * ldc + v * VL, acc[i][v]);
}

/* The few-row micro-kernel, for m <= MTHIN rows (batches of 1 to MTHIN: the streaming
 * case, and the last rows of the MR tiles): m rows by np <= NPR(m) panels. Each vector
 * of B is loaded once per k and used by all m rows, so a batch of m reads the weights
 * once per step, not m times; m*np*NRV independent FMA chains (one row: np*NRV where the
 * MR-row tile would have NRV). Row i of C at c[i], panel q of B at bp[q]:
 * c[i][q*NR + j] = (load ? c[i] : bias or 0)[q*NR + j] + sum_k a[i][k*sk] Bp_q[k, j],
 * one FMA chain per element in increasing k, as in ukr. Prefetch as in ukr (pf NULL:
 * none). Always inlined with constant m and np (ukr_rows below), so acc stays in
 * registers: NPR(m) keeps m*np*NRV within the MR*NRV accumulators of the register tile. */
#define NPR(m) GRU_MIN(PT, (MR / (m) > 1 ? MR / (m) : 1))
static GRU_ALWAYS_INLINE void KSFX(ukr_rows_n)(size_t kc, const R *const *a, size_t sk,
                                               const R *const *bp, R *const *c, int load,
                                               const R *bias, const R *pf, size_t every,
                                               const int m, const int np)
{
    /* accumulator u of a row: vector u % NRV of panel u / NRV (constants once unrolled) */
    V acc[MTHIN][PT * NRV];
    GRU_UNROLL for (int i = 0; i < m; i++)
        GRU_UNROLL for (int u = 0; u < np * NRV; u++) {
            const size_t off = (size_t)(u / NRV) * NR + (size_t)(u % NRV) * VL;
            acc[i][u] = load ? VLOAD(c[i] + off) : bias ? VLOAD(bias + off) : VZERO();
        }
    size_t until_pf = 1;
    for (size_t k = 0; k < kc; k++) {
        if (pf && --until_pf == 0) {
            __builtin_prefetch(pf, 0, 2);
            pf += 64 / sizeof(R);
            until_pf = every;
        }
        V ak[MTHIN];
        GRU_UNROLL for (int i = 0; i < m; i++) ak[i] = VSET1(a[i][k * sk]);
        GRU_UNROLL for (int u = 0; u < np * NRV; u++) {
            const V b = VLOAD(bp[u / NRV] + k * NR + (size_t)(u % NRV) * VL);
            GRU_UNROLL for (int i = 0; i < m; i++) acc[i][u] = VFMA(ak[i], b, acc[i][u]);
        }
    }
    GRU_UNROLL for (int i = 0; i < m; i++)
        GRU_UNROLL for (int u = 0; u < np * NRV; u++)
            VSTORE(c[i] + (size_t)(u / NRV) * NR + (size_t)(u % NRV) * VL, acc[i][u]);
}

/* ukr_rows_n for the (m, np) pairs that occur: 1 <= m <= MTHIN, 1 <= np <= NPR(m). */
_Static_assert(MTHIN >= 1 && MTHIN <= 4 && PT <= 6 && MR <= 8, "ukr_rows' cases");
static void KSFX(ukr_rows)(size_t kc, const R *const *a, size_t sk, const R *const *bp,
                           R *const *c, int load, const R *bias, const R *pf, size_t every,
                           int m, int np)
{
#define GRU_ROWS_CASE(m_, np_)                                                           \
    case (m_) * 8 + (np_):                                                               \
        KSFX(ukr_rows_n)(kc, a, sk, bp, c, load, bias, pf, every, m_, np_);              \
        return;
    switch (m * 8 + np) {
    GRU_ROWS_CASE(1, 1)
#if NPR(1) >= 2
    GRU_ROWS_CASE(1, 2)
#endif
#if NPR(1) >= 3
    GRU_ROWS_CASE(1, 3)
#endif
#if NPR(1) >= 4
    GRU_ROWS_CASE(1, 4)
#endif
#if NPR(1) >= 5
    GRU_ROWS_CASE(1, 5)
#endif
#if NPR(1) >= 6
    GRU_ROWS_CASE(1, 6)
#endif
#if MTHIN >= 2
    GRU_ROWS_CASE(2, 1)
#if NPR(2) >= 2
    GRU_ROWS_CASE(2, 2)
#endif
#if NPR(2) >= 3
    GRU_ROWS_CASE(2, 3)
#endif
#if NPR(2) >= 4
    GRU_ROWS_CASE(2, 4)
#endif
#endif
#if MTHIN >= 3
    GRU_ROWS_CASE(3, 1)
#if NPR(3) >= 2
    GRU_ROWS_CASE(3, 2)
#endif
#endif
#if MTHIN >= 4
    GRU_ROWS_CASE(4, 1)
#if NPR(4) >= 2
    GRU_ROWS_CASE(4, 2)
#endif
#endif
    default: break;
    }
#undef GRU_ROWS_CASE
}

/* One (mr <= MR, nr <= NR) tile of C at (ldc): directly when full; up to MTHIN rows
 * through the few-row kernel (its own rows only, not MR); else through a local copy, so
 * that edges run the very same arithmetic. A element (i, k) is at A[i * sa + k * sk]. */
static void KSFX(tile)(size_t mr, size_t nr, size_t kc, const R *A, size_t sa, size_t sk,
                       const R *Bp, R *C, size_t ldc, int load, const R *bias, const R *pf,
                       size_t every)
{
    const R *a[MR];
    for (size_t i = 0; i < MR; i++) a[i] = A + GRU_MIN(i, mr - 1) * sa;
    if (mr <= MTHIN) {   /* a short edge tile: only its rows, through the few-row kernel */
        const R *bp[1] = {Bp};
        R *c[MTHIN];
        if (nr == NR) {
            for (size_t i = 0; i < mr; i++) c[i] = C + i * ldc;
            KSFX(ukr_rows)(kc, a, sk, bp, c, load, bias, pf, every, (int)mr, 1);
            return;
        }
        R t[MTHIN * NR];
        for (size_t i = 0; i < mr; i++) {
            c[i] = t + i * NR;
            for (size_t j = 0; j < NR; j++)
                c[i][j] = j >= nr ? (R)0 : load ? C[i * ldc + j] : bias ? bias[j] : (R)0;
        }
        KSFX(ukr_rows)(kc, a, sk, bp, c, 1, NULL, pf, every, (int)mr, 1);
        for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++) C[i * ldc + j] = c[i][j];
        return;
    }
    if (mr == MR && nr == NR) {
        KSFX(ukr)(kc, a, sk, Bp, C, ldc, load, bias, pf, every);
        return;
    }
    R t[MR * NR];
    for (size_t i = 0; i < MR; i++)
        for (size_t c = 0; c < NR; c++)
            t[i * NR + c] = i >= mr || c >= nr ? (R)0
                            : load ? C[i * ldc + c] : bias ? bias[c] : (R)0;
    KSFX(ukr)(kc, a, sk, Bp, t, NR, 1, NULL, pf, every);
    for (size_t i = 0; i < mr; i++)
        for (size_t c = 0; c < nr; c++) C[i * ldc + c] = t[i * NR + c];
}

/* M <= MTHIN rows, all at once through ukr_rows, NPR(M) panels at a time (fewer at the
 * end); a partial last panel goes through a copy of its group's columns. The rows'
 * pointers a[i] = A + i*sa. */
static void KSFX(block_thin)(size_t M, size_t nc, size_t kc, const R *A, size_t sa,
                             size_t sk, const R *Bp, size_t pstride, R *C, size_t ldc,
                             int load, const R *bias)
{
    const int m = (int)M, npm = NPR(m);
    const size_t panels = (nc + NR - 1) / NR;
    const R *a[MTHIN];
    for (int i = 0; i < m; i++) a[i] = A + (size_t)i * sa;
    for (size_t q0 = 0; q0 < panels; q0 += (size_t)npm) {
        const int np = (int)GRU_MIN((size_t)npm, panels - q0);
        const R *bp[PT];
        for (int q = 0; q < np; q++) bp[q] = Bp + (q0 + (size_t)q) * pstride;
        const size_t cols = GRU_MIN((size_t)np * NR, nc - q0 * NR);
        const R *bq = bias ? bias + q0 * NR : NULL;
        R *c[MTHIN];
        if (cols == (size_t)np * NR) {
            for (int i = 0; i < m; i++) c[i] = C + (size_t)i * ldc + q0 * NR;
            KSFX(ukr_rows)(kc, a, sk, bp, c, load, bq, NULL, 0, m, np);
            continue;
        }
        R t[MTHIN * PT * NR];
        for (int i = 0; i < m; i++) {
            const R *ci = C + (size_t)i * ldc + q0 * NR;
            c[i] = t + (size_t)i * np * NR;
            for (size_t j = 0; j < (size_t)np * NR; j++)
                c[i][j] = j >= cols ? (R)0 : load ? ci[j] : bq ? bq[j] : (R)0;
        }
        KSFX(ukr_rows)(kc, a, sk, bp, c, 1, NULL, NULL, 0, m, np);
        for (int i = 0; i < m; i++)
            for (size_t j = 0; j < cols; j++) C[(size_t)i * ldc + q0 * NR + j] = c[i][j];
    }
}

/* C (M, nc) (+)= A (M, kc) . Bp where Bp is a packed (kc, nc) block whose panels are
 * `pstride` elements apart. Panel-major so that each panel stays in cache while the
 * rows stream past it. */
static void KSFX(block)(size_t M, size_t nc, size_t kc, const R *A, size_t sa, size_t sk,
                        const R *Bp, size_t pstride, R *C, size_t ldc, int load,
                        const R *bias)
{
    if (M <= MTHIN) {
        KSFX(block_thin)(M, nc, kc, A, sa, sk, Bp, pstride, C, ldc, load, bias);
        return;
    }
    /* B larger than about half an L2 (it comes from L3 or memory): while a panel is in
     * use, its row tiles prefetch the next panel into L2, each tile a share of it, a
     * line every `every` steps of k. Smaller B stays in L2 and needs none. */
    const int prefetch = kc * nc * sizeof(R) >= ((size_t)1 << 20);
    const size_t tiles = (M + MR - 1) / MR, line = 64 / sizeof(R);
    const size_t share = (kc * NR / line + tiles - 1) / tiles;      /* lines per tile */
    const size_t every = share ? GRU_MIN(kc, (kc + share - 1) / share) : kc;
    for (size_t q = 0; q * NR < nc; q++) {
        const size_t nr = GRU_MIN((size_t)NR, nc - q * NR);
        const R *next = prefetch && (q + 1) * NR < nc ? Bp + (q + 1) * pstride : NULL;
        for (size_t i = 0, t = 0; i < M; i += MR, t++)
            KSFX(tile)(GRU_MIN((size_t)MR, M - i), nr, kc, A + i * sa, sa, sk,
                       Bp + q * pstride, C + i * ldc + q * NR, ldc, load,
                       bias ? bias + q * NR : NULL, next ? next + t * share * line : NULL,
                       every);
    }
}

static void KSFX(gemm_pb)(size_t M, size_t N, size_t k0, size_t k1, const R *A, size_t lda,
                          const R *P, size_t K, int beta, const R *bias, R *C, size_t ldc)
{
    if (M == 0 || N == 0 || (k1 <= k0 && beta)) return;
    if (k1 <= k0) {   /* empty sum: C = bias */
        for (size_t i = 0; i < M; i++)
            for (size_t n = 0; n < N; n++) C[i * ldc + n] = bias ? bias[n] : (R)0;
        return;
    }
    /* rows of MC at a time keep A's block in L2 while the panels go past */
    const size_t MC = MR * 16;
    for (size_t i = 0; i < M; i += MC)
        KSFX(block)(GRU_MIN(MC, M - i), N, k1 - k0, A + i * lda, lda, 1, P + k0 * NR, K * NR,
                    C + i * ldc, ldc, beta, bias);
}

static void KSFX(gemm)(int ta, int tb, size_t M, size_t N, size_t K, const R *A, size_t lda,
                       const R *B, size_t ldb, int beta, R *C, size_t ldc, R *scratch)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        KSFX(gemm_pb)(M, N, 0, 0, A, lda, scratch, 0, beta, NULL, C, ldc);
        return;
    }
    for (size_t n0 = 0; n0 < N; n0 += NC) {
        const size_t nc = GRU_MIN((size_t)NC, N - n0);
        for (size_t k0 = 0; k0 < K; k0 += KC) {
            const size_t kc = GRU_MIN((size_t)KC, K - k0);
            KSFX(pack_block)(tb, k0, kc, n0, nc, B, ldb, scratch);
            if (!ta) {   /* rows of A are read as they are */
                KSFX(block)(M, nc, kc, A + k0, lda, 1, scratch, kc * NR, C + n0, ldc,
                            beta || k0 > 0, NULL);
                continue;
            }
            R *Ap = scratch + (size_t)KC * NC;   /* (kc, MR): one tile of op(A) */
            for (size_t i0 = 0; i0 < M; i0 += MR) {
                const size_t mr = GRU_MIN((size_t)MR, M - i0);
                KSFX(pack_at)(i0, mr, k0, kc, A, lda, Ap);
                KSFX(block)(mr, nc, kc, Ap, 1, MR, scratch, kc * NR, C + i0 * ldc + n0, ldc,
                            beta || k0 > 0, NULL);
            }
        }
    }
}

/* out[n] += sum over m of A[m, n] (the bias gradients): each column summed in the
 * reference's order (out, then rows 0, 1, ...) with the same IEEE additions, bitwise the
 * reference's result; vectorised across n, GRU_CS_VECS vectors of columns at a time kept
 * in registers over all the rows (one load and store of out per block, not per row). */
#define GRU_CS_VECS 4
static void KSFX(colsum_add)(size_t M, size_t N, const R *A, size_t lda, R *out)
{
    const size_t nb = N / (GRU_CS_VECS * VL) * (GRU_CS_VECS * VL), nv = N / VL * VL;
    size_t n = 0;
    for (; n < nb; n += GRU_CS_VECS * VL) {
        V acc[GRU_CS_VECS];
        GRU_UNROLL for (int u = 0; u < GRU_CS_VECS; u++) acc[u] = VLOAD(out + n + u * VL);
        for (size_t m = 0; m < M; m++) {
            const R *a = A + m * lda + n;
            GRU_UNROLL for (int u = 0; u < GRU_CS_VECS; u++)
                acc[u] = VADD(acc[u], VLOAD(a + u * VL));
        }
        GRU_UNROLL for (int u = 0; u < GRU_CS_VECS; u++) VSTORE(out + n + u * VL, acc[u]);
    }
    for (; n < nv; n += VL) {
        V acc = VLOAD(out + n);
        for (size_t m = 0; m < M; m++) acc = VADD(acc, VLOAD(A + m * lda + n));
        VSTORE(out + n, acc);
    }
    for (; n < N; n++) {
        R acc = out[n];
        for (size_t m = 0; m < M; m++) acc += A[m * lda + n];
        out[n] = acc;
    }
}

/* ---- elementwise kernels of the drivers (kernels.h) -----------------------------------
 * One VMUL, then one VADD, never VFMA: each element gets the reference's two roundings
 * (the drivers' loops were compiled without contraction). Scalar tails keep the
 * product and the sum in separate statements so that no compiler fuses them. */

static void KSFX(mul_row)(size_t N, const R *a, const R *b, R *c)
{
    size_t n = 0;
    for (; n + VL <= N; n += VL) VSTORE(c + n, VMUL(VLOAD(a + n), VLOAD(b + n)));
    for (; n < N; n++) c[n] = a[n] * b[n];
}

static void KSFX(mul_add_row)(size_t N, const R *a, const R *b, R *c)
{
    size_t n = 0;
    for (; n + VL <= N; n += VL)
        VSTORE(c + n, VADD(VLOAD(c + n), VMUL(VLOAD(a + n), VLOAD(b + n))));
    for (; n < N; n++) {
        const R p = a[n] * b[n];
        c[n] += p;
    }
}

static void KSFX(mul)(size_t M, size_t N, const R *A, size_t lda, const R *Bm, size_t ldb,
                      R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++) KSFX(mul_row)(N, A + m * lda, Bm + m * ldb, C + m * ldc);
}

static void KSFX(mul_add)(size_t M, size_t N, const R *A, size_t lda, const R *Bm,
                          size_t ldb, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++)
        KSFX(mul_add_row)(N, A + m * lda, Bm + m * ldb, C + m * ldc);
}

static void KSFX(add)(size_t M, size_t N, const R *A, size_t lda, R *C, size_t ldc)
{
    for (size_t m = 0; m < M; m++) {
        const R *a = A + m * lda;
        R *c = C + m * ldc;
        size_t n = 0;
        for (; n + VL <= N; n += VL) VSTORE(c + n, VADD(VLOAD(c + n), VLOAD(a + n)));
        for (; n < N; n++) c[n] += a[n];
    }
}

static void KSFX(mask_rows)(size_t q0, size_t q1, size_t N, size_t T, size_t B,
                            int batch_first, const R *A, const R *mask, int beta, R *C)
{
    for (size_t i = q0; i < q1; i++) {
        const R *mb = mask + (batch_first ? i / T : i % B) * N;
        if (beta) KSFX(mul_add_row)(N, A + i * N, mb, C + i * N);
        else KSFX(mul_row)(N, A + i * N, mb, C + i * N);
    }
}

/* GRU_BELOW_BITS(key, first, n, thr): bit l (l < n <= 64) set iff
 * gru_uniform(seed, draw, stream, first + l) < p, for key = gru_stream_key(seed, draw,
 * stream) and thr = gru_threshold(p) (rng.h: the comparison in integers). An ISA file
 * may define a vector form (the same bits) for both element types; else the scalar. */
#ifndef GRU_BELOW_BITS
#define GRU_BELOW_BITS gru_below_bits_scalar
#endif

/* mask[0, n) = one where bit l of `bits` is set, +0 elsewhere (n <= 64). */
static inline void KSFX(bits_to_mask)(uint64_t bits, size_t n, R one, R *mask)
{
    const V vone = VSET1(one);
    size_t l = 0;
    for (; l + VL <= n; l += VL) VSTORE(mask + l, VBITS(bits >> l, vone));
    for (; l < n; l++) mask[l] = bits >> l & 1 ? one : (R)0;
}

/* The products v * scale a vector at a time; the drop decisions (64 at a time from the
 * counter-based generator) then choose between each product and +0 (VBITS). */
static void KSFX(dropout)(size_t n, R *v, size_t first, double p, uint64_t seed,
                          uint64_t draw, size_t stream)
{
    const R scale = (R)(1.0 / (1.0 - p));
    const V vs = VSET1(scale);
    const uint64_t key = gru_stream_key(seed, draw, stream), thr = gru_threshold(p);
    for (size_t i0 = 0; i0 < n; i0 += 64) {
        const size_t n64 = GRU_MIN((size_t)64, n - i0);
        const uint64_t keep = ~GRU_BELOW_BITS(key, first + i0, n64, thr);
        R *w = v + i0;
        size_t i = 0;
        for (; i + VL <= n64; i += VL) VSTORE(w + i, VBITS(keep >> i, VMUL(VLOAD(w + i), vs)));
        if (i < n64) {   /* the ragged end through a copy: the same VMUL */
            R t[VL] = {0};
            for (size_t l = 0; i + l < n64; l++) t[l] = w[i + l];
            VSTORE(t, VBITS(keep >> i, VMUL(VLOAD(t), vs)));
            for (size_t l = 0; i + l < n64; l++) w[i + l] = t[l];
        }
    }
}

/* Entries scale where kept, +0 where dropped: the reference's values. */
static void KSFX(dropout_mask)(size_t n, R *v, double p, uint64_t seed, uint64_t draw,
                               size_t stream)
{
    const R scale = (R)(1.0 / (1.0 - p));
    const uint64_t key = gru_stream_key(seed, draw, stream), thr = gru_threshold(p);
    for (size_t i0 = 0; i0 < n; i0 += 64) {
        const size_t n64 = GRU_MIN((size_t)64, n - i0);
        KSFX(bits_to_mask)(~GRU_BELOW_BITS(key, i0, n64, thr), n64, scale, v + i0);
    }
}

/* ---- zoneout and DropConnect (kernels.h): the masks from the generator's decisions, 64
 * at a time (GRU_BELOW_BITS: integer comparisons, rng.h); the selects move bits (VSEL); the
 * blend is VMUL, VMUL, VADD (the reference's three roundings); weight_drop's product is
 * one VMUL. */

static void KSFX(zoneout_mask)(size_t q0, size_t q1, size_t N, size_t T, size_t B,
                               int batch_first, double p, uint64_t seed, uint64_t draw,
                               size_t stream, R *mask)
{
    const uint64_t key = gru_stream_key(seed, draw, stream), thr = gru_threshold(p);
    for (size_t i = q0; i < q1; i++) {
        const size_t t = batch_first ? i % T : i / B, b = batch_first ? i / T : i % B;
        const size_t first = (t * B + b) * N;   /* time-major index of (t, b, 0) */
        for (size_t j = 0; j < N; j += 64) {
            const size_t nl = GRU_MIN((size_t)64, N - j);
            KSFX(bits_to_mask)(GRU_BELOW_BITS(key, first + j, nl, thr), nl, (R)1, mask + i * N + j);
        }
    }
}

static void KSFX(zoneout_select)(size_t M, size_t N, const R *mask, size_t ldm, const R *h,
                                 size_t ldh, R *hn, size_t ldn)
{
    for (size_t m = 0; m < M; m++) {
        const R *mk = mask + m * ldm, *a = h + m * ldh;
        R *c = hn + m * ldn;
        size_t n = 0;
        for (; n + VL <= N; n += VL)
            VSTORE(c + n, VSEL(VLOAD(mk + n), VLOAD(a + n), VLOAD(c + n)));
        for (; n < N; n++)
            if (mk[n] != (R)0) c[n] = a[n];
    }
}

static void KSFX(zoneout_blend)(size_t M, size_t N, R p, R q, const R *h, size_t ldh, R *hn,
                                size_t ldn)
{
    const V vp = VSET1(p), vq = VSET1(q);
    for (size_t m = 0; m < M; m++) {
        const R *a = h + m * ldh;
        R *c = hn + m * ldn;
        size_t n = 0;
        for (; n + VL <= N; n += VL)
            VSTORE(c + n, VADD(VMUL(vp, VLOAD(a + n)), VMUL(vq, VLOAD(c + n))));
        for (; n < N; n++) {
            const R x = p * a[n];
            const R y = q * c[n];
            c[n] = x + y;
        }
    }
}

static void KSFX(zoneout_split)(size_t M, size_t N, const R *mask, size_t ldm, const R *dh,
                                size_t ldd, R *dnew, size_t ldn, R *keep, size_t ldk)
{
    const V zero = VZERO();
    for (size_t m = 0; m < M; m++) {
        const R *mk = mask + m * ldm, *d = dh + m * ldd;
        R *dn = dnew + m * ldn, *dk = keep + m * ldk;
        size_t n = 0;
        for (; n + VL <= N; n += VL) {
            const V vm = VLOAD(mk + n), vd = VLOAD(d + n);
            VSTORE(dn + n, VSEL(vm, zero, vd));
            VSTORE(dk + n, VSEL(vm, vd, zero));
        }
        for (; n < N; n++) {
            const int kept = mk[n] != (R)0;
            const R x = d[n];
            dn[n] = kept ? (R)0 : x;
            dk[n] = kept ? x : (R)0;
        }
    }
}

/* The mask entries 0 or scale, as the reference: a dropped weight is 0 (bit set). */
static void KSFX(weight_drop)(size_t r0, size_t r1, size_t N, const R *w, double p,
                              uint64_t seed, uint64_t draw, size_t stream, R *mask, R *wt)
{
    const R scale = (R)(1.0 / (1.0 - p));
    const uint64_t key = gru_stream_key(seed, draw, stream), thr = gru_threshold(p);
    for (size_t i = r0 * N; i < r1 * N; i += 64) {
        const size_t nl = GRU_MIN((size_t)64, r1 * N - i);
        KSFX(bits_to_mask)(~GRU_BELOW_BITS(key, i, nl, thr), nl, scale, mask + i);
    }
    KSFX(mul_row)((r1 - r0) * N, w + r0 * N, mask + r0 * N, wt + r0 * N);
}

#undef NR
#undef NPR

/* ---- cell kernels (see kernels.h for their contracts) --------------------------------
 * Vectorised over the hidden units j, VL at a time; a ragged end goes through a
 * zero-padded copy (LD / ST), so every unit sees the same arithmetic. All loads of a
 * chunk happen before its stores, which makes the documented aliasing (gates == gi)
 * safe. VSIGMOID and VTANH come from the ISA's vector math (kernels/vmath_<isa>.h). */

static inline V KSFX(loadn)(const R *p, size_t n)
{
    R t[VL] = {0};
    for (size_t i = 0; i < n; i++) t[i] = p[i];
    return VLOAD(t);
}
static inline void KSFX(storen)(R *p, V v, size_t n)
{
    R t[VL];
    VSTORE(t, v);
    for (size_t i = 0; i < n; i++) p[i] = t[i];
}
#define LD(p) (nl == VL ? VLOAD(p) : KSFX(loadn)(p, nl))
#define ST(p, v) (nl == VL ? VSTORE(p, v) : KSFX(storen)(p, v, nl))

static void KSFX(cell_fwd_after)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi, const R *gh,
                                 const R *h, R *h_new, R *gates, size_t ldg)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *xi = gi + b * ldgi, *hh = gh + b * 3 * H, *hp = h + b * H;
        R *g = gates ? gates + b * ldg : NULL, *hn = h_new + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V xr = LD(xi + j), xz = LD(xi + H + j), xn = LD(xi + 2 * H + j);
            const V hr = LD(hh + j), hz = LD(hh + H + j), hnn = LD(hh + 2 * H + j);
            const V hv = LD(hp + j);
            /* r = s(W_ir x + b_ir + W_hr h + b_hr), z likewise */
            const V r = VSIGMOID(VADD(xr, hr));
            const V z = VSIGMOID(VADD(xz, hz));
            /* n = tanh(W_in x + b_in + r (W_hn h + b_hn)) */
            const V n = VTANH(VFMA(r, hnn, xn));
            /* h' = (1 - z) n + z h */
            ST(hn + j, VFMA(z, hv, VMUL(VSUB(one, z), n)));
            if (g) { ST(g + j, r); ST(g + H + j, z); ST(g + 2 * H + j, n); }
        }
    }
}

static void KSFX(cell_fwd_before_rz)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,
                                     const R *gh, const R *h, R *rz, size_t ldg, R *rh)
{
    for (size_t b = 0; b < B; b++) {
        const R *xi = gi + b * ldgi, *hh = gh + b * 3 * H, *hp = h + b * H;
        R *g = rz + b * ldg, *o = rh + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V xr = LD(xi + j), xz = LD(xi + H + j);
            const V hr = LD(hh + j), hz = LD(hh + H + j), hv = LD(hp + j);
            /* r = s(W_ir x + b_ir + W_hr h + b_hr), z likewise; rh = r h */
            const V r = VSIGMOID(VADD(xr, hr));
            const V z = VSIGMOID(VADD(xz, hz));
            ST(g + j, r);
            ST(g + H + j, z);
            ST(o + j, VMUL(r, hv));
        }
    }
}

static void KSFX(cell_fwd_before_n)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,
                                    const R *gh, const R *h, R *rz, size_t ldg, int save,
                                    R *h_new)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *xi = gi + b * ldgi, *hh = gh + b * 3 * H, *hp = h + b * H;
        R *g = rz + b * ldg, *hn = h_new + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V xn = LD(xi + 2 * H + j), hnn = LD(hh + 2 * H + j);
            const V z = LD(g + H + j), hv = LD(hp + j);
            /* n = tanh(W_in x + b_in + W_hn (r h) + b_hn); h' = (1 - z) n + z h */
            const V n = VTANH(VADD(xn, hnn));
            ST(hn + j, VFMA(z, hv, VMUL(VSUB(one, z), n)));
            if (save) ST(g + 2 * H + j, n);
        }
    }
}

static void KSFX(cell_bwd_after)(size_t B, size_t H, size_t J, const R *dh, const R *gates, size_t ldg,
                                 const R *ghn, size_t ldn, const R *h, size_t ldh, R *dgi,
                                 R *dgh, size_t lddg, R *dh_prev)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *gn = ghn + b * ldn, *hp = h + b * ldh;
        const R *d = dh + b * H;
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V r = LD(g + j), z = LD(g + H + j), n = LD(g + 2 * H + j);
            const V dv = LD(d + j), hv = LD(hp + j), ghv = LD(gn + j);
            /* h' = (1 - z) n + z h */
            const V dn = VMUL(dv, VSUB(one, z));
            const V dz = VMUL(dv, VSUB(hv, n));
            /* n = tanh(a_n), a_n = gi_n + r gh_n */
            const V dan = VMUL(dn, VSUB(one, VMUL(n, n)));
            /* r = s(a_r), z = s(a_z) */
            const V dar = VMUL(VMUL(dan, ghv), VMUL(r, VSUB(one, r)));
            const V daz = VMUL(dz, VMUL(z, VSUB(one, z)));
            ST(di + j, dar); ST(di + H + j, daz); ST(di + 2 * H + j, dan);
            ST(dg + j, dar); ST(dg + H + j, daz); ST(dg + 2 * H + j, VMUL(dan, r));
            ST(dp + j, VMUL(dv, z));
        }
    }
}

static void KSFX(cell_bwd_before_zn)(size_t B, size_t H, size_t J, const R *dh, const R *gates,
                                     size_t ldg, const R *h, size_t ldh, R *dgi, R *dgh,
                                     size_t lddg, R *dh_prev)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * ldh, *d = dh + b * H;
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V z = LD(g + H + j), n = LD(g + 2 * H + j), dv = LD(d + j), hv = LD(hp + j);
            /* h' = (1 - z) n + z h; n = tanh(a_n); z = s(a_z) */
            const V dan = VMUL(VMUL(dv, VSUB(one, z)), VSUB(one, VMUL(n, n)));
            const V daz = VMUL(VMUL(dv, VSUB(hv, n)), VMUL(z, VSUB(one, z)));
            ST(di + H + j, daz); ST(di + 2 * H + j, dan);
            ST(dg + H + j, daz); ST(dg + 2 * H + j, dan);
            ST(dp + j, VMUL(dv, z));
        }
    }
}

static void KSFX(cell_bwd_before_r)(size_t B, size_t H, size_t J, const R *drh, const R *gates,
                                    size_t ldg, const R *h, size_t ldh, R *dgi, R *dgh,
                                    size_t lddg, R *dh_prev)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * ldh, *d = drh + b * H;
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V r = LD(g + j), dv = LD(d + j), hv = LD(hp + j), pv = LD(dp + j);
            /* rh = r h: dr = d(rh) h, dh += d(rh) r; r = s(a_r) */
            const V dar = VMUL(VMUL(dv, hv), VMUL(r, VSUB(one, r)));
            ST(di + j, dar);
            ST(dg + j, dar);
            ST(dp + j, VFMA(dv, r, pv));
        }
    }
}

/* ---- AUGRU (kernels.h). The cells: the reference's operations in its order, one
 * VMUL / VSUB / VADD each, never VFMA, so every element gets the reference's roundings
 * (bitwise the reference). The row sums: the reference's entry (a sequential sum per
 * row is the documented order; vectorising it would change the bits). */

static void KSFX(cell_att_fwd)(size_t B, size_t H, size_t J, const R *gates, size_t ldg,
                               const R *a, size_t lda, const R *h, R *h_new)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * H;
        const V av = VSET1(a[b * lda]);
        R *hn = h_new + b * H;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V z = LD(g + H + j), n = LD(g + 2 * H + j), hv = LD(hp + j);
            /* z' = 1 - a (1 - z); h' = (1 - z') n + z' h */
            const V zp = VSUB(one, VMUL(av, VSUB(one, z)));
            ST(hn + j, VADD(VMUL(VSUB(one, zp), n), VMUL(zp, hv)));
        }
    }
}

static void KSFX(cell_bwd_after_att)(size_t B, size_t H, size_t J, const R *dh,
                                     const R *gates, size_t ldg, const R *ghn, size_t ldn,
                                     const R *h, size_t ldh, const R *a, size_t lda, R *dgi,
                                     R *dgh, size_t lddg, R *dh_prev, R *da, size_t ldda)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *gn = ghn + b * ldn, *hp = h + b * ldh;
        const R *d = dh + b * H;
        const V av = VSET1(a[b * lda]);
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H, *dA = da + b * ldda;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V r = LD(g + j), z = LD(g + H + j), n = LD(g + 2 * H + j);
            const V dv = LD(d + j), hv = LD(hp + j), ghv = LD(gn + j);
            /* z' = 1 - a (1 - z); h' = (1 - z') n + z' h */
            const V zp = VSUB(one, VMUL(av, VSUB(one, z)));
            const V dn = VMUL(dv, VSUB(one, zp));
            const V dzp = VMUL(dv, VSUB(hv, n));
            const V dz = VMUL(dzp, av);
            ST(dA + j, VMUL(dzp, VSUB(z, one)));
            /* n = tanh(a_n), a_n = gi_n + r gh_n; r = s(a_r), z = s(a_z) */
            const V dan = VMUL(dn, VSUB(one, VMUL(n, n)));
            const V dar = VMUL(VMUL(VMUL(dan, ghv), r), VSUB(one, r));
            const V daz = VMUL(VMUL(dz, z), VSUB(one, z));
            ST(di + j, dar); ST(di + H + j, daz); ST(di + 2 * H + j, dan);
            ST(dg + j, dar); ST(dg + H + j, daz); ST(dg + 2 * H + j, VMUL(dan, r));
            ST(dp + j, VMUL(dv, zp));
        }
    }
}

static void KSFX(cell_bwd_before_zn_att)(size_t B, size_t H, size_t J, const R *dh,
                                         const R *gates, size_t ldg, const R *h, size_t ldh,
                                         const R *a, size_t lda, R *dgi, R *dgh,
                                         size_t lddg, R *dh_prev, R *da, size_t ldda)
{
    const V one = VSET1((R)1);
    for (size_t b = 0; b < B; b++) {
        const R *g = gates + b * ldg, *hp = h + b * ldh, *d = dh + b * H;
        const V av = VSET1(a[b * lda]);
        R *di = dgi + b * lddg, *dg = dgh + b * lddg, *dp = dh_prev + b * H, *dA = da + b * ldda;
        for (size_t j = 0; j < J; j += VL) {
            const size_t nl = GRU_MIN((size_t)VL, J - j);
            const V z = LD(g + H + j), n = LD(g + 2 * H + j), dv = LD(d + j), hv = LD(hp + j);
            /* z' = 1 - a (1 - z); h' = (1 - z') n + z' h; n = tanh(a_n); z = s(a_z) */
            const V zp = VSUB(one, VMUL(av, VSUB(one, z)));
            const V dzp = VMUL(dv, VSUB(hv, n));
            const V dz = VMUL(dzp, av);
            ST(dA + j, VMUL(dzp, VSUB(z, one)));
            const V dan = VMUL(VMUL(dv, VSUB(one, zp)), VSUB(one, VMUL(n, n)));
            const V daz = VMUL(VMUL(dz, z), VSUB(one, z));
            ST(di + H + j, daz); ST(di + 2 * H + j, dan);
            ST(dg + H + j, daz); ST(dg + 2 * H + j, dan);
            ST(dp + j, VMUL(dv, zp));
        }
    }
}

static void KSFX(rowsum)(size_t M, size_t N, const R *A, size_t lda, int beta, R *out)
{
    _Generic((R)0, float: gru_ref_rowsum_f32, double: gru_ref_rowsum_f64)(M, N, A, lda, beta,
                                                                          out);
}

#undef LD
#undef ST

/* ---- layer normalisation (kernels.h) ----------------------------------------------
 * The row statistics are sums over the whole row (N = 3H, 2H or H entries), which
 * every thread computes itself for the rows it shares by units: their order must not
 * depend on j0 / J. Here it is fixed by N alone: GRU_LN_ACC vector accumulators, the
 * vector at offset i going to accumulator (i / VL) % GRU_LN_ACC, while whole groups
 * of GRU_LN_ACC vectors remain, then the leftover whole vectors into accumulator 0;
 * the accumulators are added pairwise ((0 + 1) + (2 + 3)), the lanes in increasing
 * order, then the scalar tail in increasing i. A different order from the reference's
 * sequential sum (the results agree to rounding); the mean then the variance in two
 * passes as the reference. The elementwise parts (ah, y, da) are the reference's
 * operations one rounding each (VSUB, VMUL, VADD, never VFMA), so given the same
 * statistics they give the reference's bits. colsum_mul_add is the reference's loop
 * vectorised across n (bitwise the reference). */
#define GRU_LN_ACC 4

/* The lanes of v added in increasing order. */
static inline R KSFX(ln_hsum)(V v)
{
    R t[VL];
    VSTORE(t, v);
    R s = t[0];
    for (size_t l = 1; l < VL; l++) s += t[l];
    return s;
}

/* acc[0..3] reduced in the fixed order ((0 + 1) + (2 + 3)), then its lanes. */
static inline R KSFX(ln_reduce)(const V *acc)
{
    return KSFX(ln_hsum)(VADD(VADD(acc[0], acc[1]), VADD(acc[2], acc[3])));
}

/* One row's mu and rs = 1 / sqrt(var + eps), the order above. */
static void KSFX(ln_stats)(size_t N, const R *a, R *mu, R *rs)
{
    const size_t n4 = N / (GRU_LN_ACC * VL) * (GRU_LN_ACC * VL), nv = N / VL * VL;
    V acc[GRU_LN_ACC] = {VZERO(), VZERO(), VZERO(), VZERO()};
    size_t i = 0;
    /* mu = sum a / N */
    for (; i < n4; i += GRU_LN_ACC * VL)
        GRU_UNROLL for (int u = 0; u < GRU_LN_ACC; u++)
            acc[u] = VADD(acc[u], VLOAD(a + i + (size_t)u * VL));
    for (; i < nv; i += VL) acc[0] = VADD(acc[0], VLOAD(a + i));
    R s = KSFX(ln_reduce)(acc);
    for (; i < N; i++) s += a[i];
    const R m = s / (R)N;
    /* var = sum (a - mu)^2 / N (each square fused with its add in the vector part) */
    const V vm = VSET1(m);
    for (int u = 0; u < GRU_LN_ACC; u++) acc[u] = VZERO();
    for (i = 0; i < n4; i += GRU_LN_ACC * VL)
        GRU_UNROLL for (int u = 0; u < GRU_LN_ACC; u++) {
            const V d = VSUB(VLOAD(a + i + (size_t)u * VL), vm);
            acc[u] = VFMA(d, d, acc[u]);
        }
    for (; i < nv; i += VL) {
        const V d = VSUB(VLOAD(a + i), vm);
        acc[0] = VFMA(d, d, acc[0]);
    }
    R q = KSFX(ln_reduce)(acc);
    for (; i < N; i++) {
        const R dv = a[i] - m;
        const R sq = dv * dv;
        q += sq;
    }
    *mu = m;
    /* rs = 1 / sqrt(var + eps): the scalar square root of the ISA's libm */
    const R var = q / (R)N + (R)GRU_LN_EPS;
    *rs = (R)1 / _Generic((R)0, float: sqrtf, double: sqrt)(var);
}

/* One row of ln_fwd at its columns: ah = (a - mu) rs; y = gamma ah + beta [+ bias]. */
static void KSFX(ln_apply)(size_t N, size_t H, size_t j0, size_t J, const R *a, R mu, R rs,
                           const R *gamma, const R *beta, const R *bias, R *y, R *xhat)
{
    const V vmu = VSET1(mu), vrs = VSET1(rs);
    for (size_t g = 0; g < N / H; g++) {
        const size_t c1 = g * H + j0 + J;
        size_t c = g * H + j0;
        for (; c + VL <= c1; c += VL) {
            const V ah = VMUL(VSUB(VLOAD(a + c), vmu), vrs);
            const V v = VADD(VMUL(VLOAD(gamma + c), ah), VLOAD(beta + c));
            VSTORE(y + c, bias ? VADD(v, VLOAD(bias + c)) : v);
            if (xhat) VSTORE(xhat + c, ah);
        }
        for (; c < c1; c++) {
            const R ah = (a[c] - mu) * rs;
            const R p = gamma[c] * ah;
            const R v = p + beta[c];
            y[c] = bias ? v + bias[c] : v;
            if (xhat) xhat[c] = ah;
        }
    }
}

static void KSFX(ln_fwd)(size_t M, size_t N, size_t H, size_t j0, size_t J, const R *a,
                         size_t lda, const R *gamma, const R *beta, const R *bias, R *y,
                         size_t ldy, R *xhat, size_t ldx, R *rstd, size_t ldr)
{
    for (size_t m = 0; m < M; m++) {
        R mu, rs;
        KSFX(ln_stats)(N, a + m * lda, &mu, &rs);
        if (rstd) rstd[m * ldr] = rs;
        KSFX(ln_apply)(N, H, j0, J, a + m * lda, mu, rs, gamma, beta, bias, y + m * ldy,
                       xhat ? xhat + m * ldx : NULL);
    }
}

static void KSFX(ln_bwd)(size_t M, size_t N, size_t H, size_t j0, size_t J, const R *dy,
                         size_t ldy, const R *xhat, size_t ldx, const R *rstd, size_t ldr,
                         const R *gamma, R *da, size_t ldd)
{
    const size_t n4 = N / (GRU_LN_ACC * VL) * (GRU_LN_ACC * VL), nv = N / VL * VL;
    for (size_t m = 0; m < M; m++) {
        const R *d = dy + m * ldy, *xm = xhat + m * ldx;
        R *o = da + m * ldd;
        /* dah = dy gamma; s1 = sum dah, s2 = sum dah ah (the order above) */
        V a1[GRU_LN_ACC] = {VZERO(), VZERO(), VZERO(), VZERO()};
        V a2[GRU_LN_ACC] = {VZERO(), VZERO(), VZERO(), VZERO()};
        size_t i = 0;
        for (; i < n4; i += GRU_LN_ACC * VL)
            GRU_UNROLL for (int u = 0; u < GRU_LN_ACC; u++) {
                const size_t c = i + (size_t)u * VL;
                const V dh = VMUL(VLOAD(d + c), VLOAD(gamma + c));
                a1[u] = VADD(a1[u], dh);
                a2[u] = VFMA(dh, VLOAD(xm + c), a2[u]);
            }
        for (; i < nv; i += VL) {
            const V dh = VMUL(VLOAD(d + i), VLOAD(gamma + i));
            a1[0] = VADD(a1[0], dh);
            a2[0] = VFMA(dh, VLOAD(xm + i), a2[0]);
        }
        R s1 = KSFX(ln_reduce)(a1), s2 = KSFX(ln_reduce)(a2);
        for (; i < N; i++) {
            const R dh = d[i] * gamma[i];
            const R p = dh * xm[i];
            s1 += dh;
            s2 += p;
        }
        const R m1 = s1 / (R)N, m2 = s2 / (R)N, rs = rstd[m * ldr];
        const V vm1 = VSET1(m1), vm2 = VSET1(m2), vrs = VSET1(rs);
        /* da = rs ((dah - mean(dah)) - ah mean(dah ah)), at my columns of each block */
        for (size_t g = 0; g < N / H; g++) {
            const size_t c0 = g * H + j0, c1 = c0 + J;
            size_t c = c0;
            for (; c + VL <= c1; c += VL) {
                const V t = VSUB(VMUL(VLOAD(d + c), VLOAD(gamma + c)), vm1);
                VSTORE(o + c, VMUL(vrs, VSUB(t, VMUL(VLOAD(xm + c), vm2))));
            }
            for (; c < c1; c++) {
                const R dh = d[c] * gamma[c];
                const R p = xm[c] * m2;
                o[c] = rs * ((dh - m1) - p);
            }
        }
    }
}

/* out[n] += A[m, n] B[m, n] over m: the reference's order per column (out, then the
 * rounded products of rows 0, 1, ...; VMUL then VADD), bitwise the reference's result;
 * blocked across n as colsum_add. */
static void KSFX(colsum_mul_add)(size_t M, size_t N, const R *A, size_t lda, const R *Bm,
                                 size_t ldb, R *out)
{
    const size_t nb = N / (GRU_CS_VECS * VL) * (GRU_CS_VECS * VL), nv = N / VL * VL;
    size_t n = 0;
    for (; n < nb; n += GRU_CS_VECS * VL) {
        V acc[GRU_CS_VECS];
        GRU_UNROLL for (int u = 0; u < GRU_CS_VECS; u++) acc[u] = VLOAD(out + n + u * VL);
        for (size_t m = 0; m < M; m++) {
            const R *a = A + m * lda + n, *b = Bm + m * ldb + n;
            GRU_UNROLL for (int u = 0; u < GRU_CS_VECS; u++)
                acc[u] = VADD(acc[u], VMUL(VLOAD(a + u * VL), VLOAD(b + u * VL)));
        }
        GRU_UNROLL for (int u = 0; u < GRU_CS_VECS; u++) VSTORE(out + n + u * VL, acc[u]);
    }
    for (; n < nv; n += VL) {
        V acc = VLOAD(out + n);
        for (size_t m = 0; m < M; m++)
            acc = VADD(acc, VMUL(VLOAD(A + m * lda + n), VLOAD(Bm + m * ldb + n)));
        VSTORE(out + n, acc);
    }
    for (; n < N; n++) {
        R acc = out[n];
        for (size_t m = 0; m < M; m++) {
            const R p = A[m * lda + n] * Bm[m * ldb + n];   /* never fused with the add */
            acc += p;
        }
        out[n] = acc;
    }
}
#undef GRU_LN_ACC
#undef GRU_CS_VECS

/* the per-type vocabulary, ready for the next include */
#undef R
#undef KSFX
#undef V
#undef VL
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VZERO
#undef VFMA
#undef VADD
#undef VSUB
#undef VMUL
#undef VSEL
#undef VBITS
#undef VSIGMOID
#undef VTANH
#undef KC
#undef NC
