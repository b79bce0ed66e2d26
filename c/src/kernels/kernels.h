/*
 * kernels.h - the table of compute kernels libgru's drivers call, one table per
 * instruction set (ISA). The drivers (gru_impl.h) hold the recurrence, the threads and
 * the memory; every arithmetic loop goes through this table (GEMMs, packing, the
 * cells, and the elementwise masks, dropout and gradient sums), so an ISA-specific
 * file (kernels/avx2.c, ...) can replace any entry. Tables are built with designated
 * initializers (GRU_KERNEL_HALF), so two entries cannot be swapped silently.
 *
 * Every table has a float32 and a float64 half with the same entries. The scalar
 * reference (kernels/scalar.c, bodies in kernels/ref_impl.h) defines what each entry
 * computes; any other ISA must agree with it to rounding (the elementwise entries:
 * bitwise, see there).
 *
 * Conventions: matrices are row-major with an explicit leading dimension (elements
 * between consecutive rows); "rows" of per-step tensors belong to the B sequences of
 * one time step and may be strided (batch-first layouts). Gate blocks are in
 * PyTorch's order r, z, n.
 */
#ifndef GRU_KERNELS_H
#define GRU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The epsilon of the layer normalisations (gru_config.layer_norm): PyTorch's and
 * Haste's default. */
#define GRU_LN_EPS 1e-5

/* Declares the kernel entries for one element type R. */
#define GRU_KERNEL_ENTRIES(R)                                                          \
    /* Elements of scratch `gemm` needs (the caller provides it; 0: none). */          \
    size_t gemm_scratch;                                                               \
    /* Panel width of the packed layout: for c0 a multiple of nr, columns [c0, N) of a  \
     * packed (K, N) matrix P are the packed (K, N - c0) matrix P + c0 * K. */          \
    size_t nr;                                                                         \
    /* C (M, N) = beta * C + op(A) (M, K) . op(B) (K, N); beta is 0 (C is overwritten,  \
     * its old contents ignored) or 1. op(A) = A if !ta (A is (M, K), lda) else A^T    \
     * (A is (K, M)); op(B) likewise (B is (K, N) if !tb else (N, K)). scratch: at     \
     * least gemm_scratch elements, or NULL if that is 0. */                           \
    void (*gemm)(int ta, int tb, size_t M, size_t N, size_t K, const R *A, size_t lda, \
                 const R *B, size_t ldb, int beta, R *C, size_t ldc, R *scratch);      \
    /* Elements of the packed form of a (K, N) matrix: ceil(N / nr) panels of nr        \
     * columns, each K rows deep, zero past column N. */                                 \
    size_t (*packed_size)(size_t K, size_t N);                                         \
    /* P = op(B) (K, N) packed for gemm_pb; op(B) = B (K, N) if !tb else B^T with B    \
     * (N, K). Done once per weight change, not per call. */                           \
    void (*pack_b)(int tb, size_t K, size_t N, const R *B, size_t ldb, R *P);          \
    /* C (M, N) = (beta ? C : bias) + A (M, k1-k0) . Bp[k0:k1, :] where P is a packed  \
     * (K, N) matrix Bp, A (M, k1-k0) has leading dimension lda (its column 0 meets row \
     * k0 of Bp), and bias (N) is added to every row (NULL: zeros). Each C element is   \
     * accumulated in increasing k from its initial value, so its result does not      \
     * depend on M or on its row's position. */                                          \
    void (*gemm_pb)(size_t M, size_t N, size_t k0, size_t k1, const R *A, size_t lda,  \
                    const R *P, size_t K, int beta, const R *bias, R *C, size_t ldc);  \
    /* out[n] += sum over m of A[m, n]. */                                             \
    void (*colsum_add)(size_t M, size_t N, const R *A, size_t lda, R *out);            \
    /* Cell kernels work on hidden units 0..J-1 (J <= H) of B rows: H is the width of  \
     * a gate block (gate g of unit j at g*H + j) and of a state row, and the caller   \
     * offsets every pointer to its first unit, so that threads can share a step.       \
     * reset_after cell, B rows:                                                        \
     *   r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * gh_n),             \
     *   h' = (1 - z) n + z h.                                                          \
     * gi (B, 3H) at stride ldgi = W_i x + b_i; gh (B, 3H) contiguous = W_h h + b_h;    \
     * h, h_new (B, H) contiguous; gates (B, 3H) at stride ldg receives r, z, n or is   \
     * NULL; gates may alias gi (same stride). */                                       \
    void (*cell_fwd_after)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi, const R *gh,  \
                           const R *h, R *h_new, R *gates, size_t ldg);                \
    /* reset_before cell, part 1: r = s(gi_r + gh_r), z = s(gi_z + gh_z), rh = r * h.   \
     * gi (B, 3H) at ldgi; gh (B, 3H) contiguous (r, z blocks read); h, rh (B, H);      \
     * rz (B, 3H) at stride ldg receives r, z in its first 2H columns; may alias gi. */ \
    void (*cell_fwd_before_rz)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,           \
                               const R *gh, const R *h, R *rz, size_t ldg, R *rh);     \
    /* reset_before cell, part 2: n = tanh(gi_n + gh_n), h' = (1 - z) n + z h, with     \
     * gh_n = W_hn (r h) + b_hn in gh's n block and z read from rz (stride ldg). n is   \
     * written to rz's n block (column 2H..3H) when save is nonzero. */                 \
    void (*cell_fwd_before_n)(size_t B, size_t H, size_t J, const R *gi, size_t ldgi,            \
                              const R *gh, const R *h, R *rz, size_t ldg, int save,    \
                              R *h_new);                                               \
    /* reset_after backward, B rows. dh (B, H): dLoss/dh' (total). gates (B, 3H) at     \
     * ldg: saved r, z, n. ghn (B, H) at ldn: saved W_hn h + b_hn. h (B, H) at ldh: the \
     * state before the step. Writes dgi (B, 3H) at lddg = dLoss/d(W_i x + b_i) and     \
     * dgh (B, 3H) at lddg = dLoss/d(W_h h + b_h), dh_prev (B, H) = dh * z (the direct  \
     * path; the caller adds dgh . W_hh).                                               \
     *   dn = dh (1 - z)   da_n = dn (1 - n^2)   da_z = dh (h - n) z (1 - z)            \
     *   da_r = da_n gh_n r (1 - r);  dgi = [da_r, da_z, da_n];                          \
     *   dgh = [da_r, da_z, da_n r]. */                                                 \
    void (*cell_bwd_after)(size_t B, size_t H, size_t J, const R *dh, const R *gates,            \
                           size_t ldg, const R *ghn, size_t ldn, const R *h,           \
                           size_t ldh, R *dgi, R *dgh, size_t lddg, R *dh_prev);       \
    /* reset_before backward, part 1 (before d(rh) is known): writes dgi/dgh z and n    \
     * blocks (dgh_n = dgi_n = da_n = dh (1 - z)(1 - n^2), da_z as above) and           \
     * dh_prev = dh * z. Arguments as cell_bwd_after without ghn. */                    \
    void (*cell_bwd_before_zn)(size_t B, size_t H, size_t J, const R *dh, const R *gates,        \
                               size_t ldg, const R *h, size_t ldh, R *dgi, R *dgh,     \
                               size_t lddg, R *dh_prev);                               \
    /* reset_before backward, part 2, given drh (B, H) = dLoss/d(r h) = da_n . W_hn:    \
     * dgi_r = dgh_r = drh h r (1 - r), dh_prev += drh r. */                            \
    void (*cell_bwd_before_r)(size_t B, size_t H, size_t J, const R *drh, const R *gates,        \
                              size_t ldg, const R *h, size_t ldh, R *dgi, R *dgh,      \
                              size_t lddg, R *dh_prev);                                \
    /* AUGRU (gru_config.augru; docs/equations.md): the attention a of a row scales the  \
     * update gate, z' = 1 - a (1 - z), then the plain blend h' = (1 - z') n + z' h,     \
     * each operation rounded, never fused (every table gives the reference's bits from \
     * the same z, n, h, a). Forward, after a cell kernel saved r, z, n: h_new (B, H)    \
     * contiguous is rewritten from z, n in gates (B, 3H) at ldg, h (B, H) contiguous    \
     * and a[b * lda] (row b's attention). */                                            \
    void (*cell_att_fwd)(size_t B, size_t H, size_t J, const R *gates, size_t ldg,      \
                         const R *a, size_t lda, const R *h, R *h_new);                 \
    /* AUGRU backward, reset_after: cell_bwd_after with z' in the blend:                \
     *   z' = 1 - a (1 - z); dn = dh (1 - z'); dz' = dh (h - n); dz = dz' a;             \
     *   da_n = dn (1 - n^2); da_z = dz z (1 - z); dh_prev = dh z' (direct path);        \
     *   da (B, H) at ldda = dz' (z - 1), the unit's share of dLoss/da (the caller sums  \
     *   a row over the H units). dr, dgi, dgh otherwise as cell_bwd_after. */           \
    void (*cell_bwd_after_att)(size_t B, size_t H, size_t J, const R *dh,              \
                               const R *gates, size_t ldg, const R *ghn, size_t ldn,   \
                               const R *h, size_t ldh, const R *a, size_t lda, R *dgi, \
                               R *dgh, size_t lddg, R *dh_prev, R *da, size_t ldda);   \
    /* AUGRU backward, reset_before part 1: cell_bwd_before_zn with z' (formulas of     \
     * cell_bwd_after_att); part 2 is cell_bwd_before_r unchanged. */                    \
    void (*cell_bwd_before_zn_att)(size_t B, size_t H, size_t J, const R *dh,          \
                                   const R *gates, size_t ldg, const R *h, size_t ldh, \
                                   const R *a, size_t lda, R *dgi, R *dgh, size_t lddg, \
                                   R *dh_prev, R *da, size_t ldda);                     \
    /* out[m] = (beta ? out[m] : 0) + s_m, s_m = ((0 + A[m, 0]) + A[m, 1]) + ... +      \
     * A[m, N-1] (in increasing n, one rounding per add): row sums in a fixed order. */ \
    void (*rowsum)(size_t M, size_t N, const R *A, size_t lda, int beta, R *out);       \
    /* Elementwise kernels of the drivers (masks, dropout, gradient sums). Each is the  \
     * plain loop of its reference: one IEEE multiply, then (where stated) one add,     \
     * never fused, so every ISA gives the reference's bits.                            \
     * C (M, N) = A * B elementwise (A, B, C row strides lda, ldb, ldc). */             \
    void (*mul)(size_t M, size_t N, const R *A, size_t lda, const R *Bm, size_t ldb,   \
                R *C, size_t ldc);                                                     \
    /* C (M, N) += A * B elementwise: the product, then the add. */                    \
    void (*mul_add)(size_t M, size_t N, const R *A, size_t lda, const R *Bm,           \
                    size_t ldb, R *C, size_t ldc);                                     \
    /* C (M, N) += A. */                                                               \
    void (*add)(size_t M, size_t N, const R *A, size_t lda, R *C, size_t ldc);          \
    /* A sequence's mask applied to rows q0..q1 of a (rows, N) tensor of T steps of B   \
     * sequences: row i belongs to sequence b = i / T (batch_first) or i % B, and       \
     * C[i, :] = A[i, :] * mask[b, :] (beta 0) or C[i, :] += A[i, :] * mask[b, :]       \
     * (beta 1). A, C (rows, N) contiguous; mask (B, N). */                             \
    void (*mask_rows)(size_t q0, size_t q1, size_t N, size_t T, size_t B,              \
                      int batch_first, const R *A, const R *mask, int beta, R *C);     \
    /* Dropout in place on v (n): element i, number first + i of the stream `stream` of \
     * draw `draw` (rng.h: gru_uniform), becomes 0 when its uniform is < p, else        \
     * v * (R)(1 / (1 - p)). The generator is scalar (64-bit integer mixing). */        \
    void (*dropout)(size_t n, R *v, size_t first, double p, uint64_t seed,             \
                    uint64_t draw, size_t stream);                                     \
    /* A dropout mask v (n): entry i is 0 when uniform i of the stream is < p, else    \
     * (R)(1 / (1 - p)). */                                                            \
    void (*dropout_mask)(size_t n, R *v, double p, uint64_t seed, uint64_t draw,       \
                         size_t stream);                                               \
    /* Zoneout masks, rows q0..q1 of a (rows, N) tensor of T steps of B sequences in   \
     * the layout (row i is (t, b) = (i % T, i / T) batch_first, (i / B, i % B) else):  \
     * mask[i, j] = 1 when uniform number (t B + b) N + j of the stream (time-major,    \
     * whatever the layout) is < p, else 0. */                                         \
    void (*zoneout_mask)(size_t q0, size_t q1, size_t N, size_t T, size_t B,           \
                         int batch_first, double p, uint64_t seed, uint64_t draw,      \
                         size_t stream, R *mask);                                      \
    /* Zoneout in training: hn (M, N) = mask != 0 ? h : hn (an exact select). */       \
    void (*zoneout_select)(size_t M, size_t N, const R *mask, size_t ldm, const R *h,  \
                           size_t ldh, R *hn, size_t ldn);                             \
    /* Zoneout in inference: hn (M, N) = (p h) + (q hn), each product rounded, then    \
     * the add (never fused). */                                                       \
    void (*zoneout_blend)(size_t M, size_t N, R p, R q, const R *h, size_t ldh, R *hn, \
                          size_t ldn);                                                 \
    /* Zoneout backward: dnew (M, N) = mask != 0 ? 0 : dh (the gradient reaching the    \
     * cell's new state), keep = mask != 0 ? dh : 0 (reaching h_prev directly). */     \
    void (*zoneout_split)(size_t M, size_t N, const R *mask, size_t ldm, const R *dh,  \
                          size_t ldd, R *dnew, size_t ldn, R *keep, size_t ldk);       \
    /* DropConnect, rows r0..r1 of a (rows, N) weight w: mask[i, j] = 0 when uniform    \
     * number i N + j of the stream is < p, else (R)(1 / (1 - p)); wt = w * mask (one   \
     * multiply). w, mask, wt: (rows, N) contiguous. */                                \
    void (*weight_drop)(size_t r0, size_t r1, size_t N, const R *w, double p,          \
                        uint64_t seed, uint64_t draw, size_t stream, R *mask, R *wt);  \
    /* Layer normalisation, forward, of M rows a (M, N) at lda: per row                 \
     *   mu = (sum a_i) / N, var = (sum (a_i - mu)^2) / N  (sums in increasing i),      \
     *   rs = 1 / sqrt(var + GRU_LN_EPS), ah = (a - mu) * rs,                            \
     *   y = (gamma * ah + beta) [+ bias]  (each operation rounded, never fused)       \
     * over the whole row, written only at the columns c = g * H + j of every block     \
     * g < N / H and unit j0 <= j < j0 + J (threads share a row by units; the whole     \
     * row: H = N, j0 = 0, J = N). gamma, beta, bias (N) (bias NULL: none); y (M, N)    \
     * at ldy may alias a (same ld) when one caller writes the whole row; xhat (M, N)   \
     * at ldx receives ah at the same columns, or NULL; rstd (M) at stride ldr receives \
     * rs, or NULL. */                                                                 \
    void (*ln_fwd)(size_t M, size_t N, size_t H, size_t j0, size_t J, const R *a,      \
                   size_t lda, const R *gamma, const R *beta, const R *bias, R *y,     \
                   size_t ldy, R *xhat, size_t ldx, R *rstd, size_t ldr);              \
    /* Layer normalisation, backward, of M rows: dy (M, N) at ldy = dLoss/dy, xhat      \
     * (M, N) at ldx and rstd (M) at ldr as ln_fwd saved them; per row                  \
     *   s1 = sum dy_i gamma_i, s2 = sum (dy_i gamma_i) ah_i  (increasing i),           \
     *   da = rs ((dy gamma - s1 / N) - ah (s2 / N))                                    \
     * written to da (M, N) at ldd at ln_fwd's columns (blocks of H, units j0..j0+J).   \
     * ln_fwd / ln_bwd: the orders above define the reference (scalar table); a SIMD    \
     * table sums each row in another order fixed by N alone (never by j0, J or the     \
     * thread count; simd_impl.h), agreeing to rounding. */                             \
    void (*ln_bwd)(size_t M, size_t N, size_t H, size_t j0, size_t J, const R *dy,     \
                   size_t ldy, const R *xhat, size_t ldx, const R *rstd, size_t ldr,   \
                   const R *gamma, R *da, size_t ldd);                                 \
    /* out[n] += sum over m of A[m, n] * B[m, n] (each product rounded, then added, in  \
     * increasing m): a layer normalisation's gain gradient. */                        \
    void (*colsum_mul_add)(size_t M, size_t N, const R *A, size_t lda, const R *Bm,    \
                           size_t ldb, R *out);

typedef struct gru_kernels_f32 { GRU_KERNEL_ENTRIES(float) } gru_kernels_f32;
typedef struct gru_kernels_f64 { GRU_KERNEL_ENTRIES(double) } gru_kernels_f64;

typedef struct gru_kernels {
    const char *name;          /* "scalar", "avx2", ... as GRU_ISA spells it */
    gru_kernels_f32 f32;
    gru_kernels_f64 f64;
} gru_kernels;

/* The tables. scalar: always present, runs anywhere. The others are defined in every
 * build; a table whose name is NULL was not compiled for its ISA (wrong architecture
 * or compiler) and is never chosen. */
extern const gru_kernels gru_kernels_scalar;
extern const gru_kernels gru_kernels_avx2;
extern const gru_kernels gru_kernels_avx512;
extern const gru_kernels gru_kernels_neon;

/* The scalar reference kernels by name (kernels/ref_impl.h), so that another table can
 * reuse any entry it does not specialise. */
#define GRU_REF_DECLS(R, S)                                                            \
    void gru_ref_gemm_##S(int, int, size_t, size_t, size_t, const R *, size_t,         \
                          const R *, size_t, int, R *, size_t, R *);                   \
    size_t gru_ref_packed_size_##S(size_t, size_t);                                    \
    void gru_ref_pack_b_##S(int, size_t, size_t, const R *, size_t, R *);              \
    void gru_ref_gemm_pb_##S(size_t, size_t, size_t, size_t, const R *, size_t,        \
                             const R *, size_t, int, const R *, R *, size_t);          \
    void gru_ref_colsum_add_##S(size_t, size_t, const R *, size_t, R *);               \
    void gru_ref_cell_fwd_after_##S(size_t, size_t, size_t, const R *, size_t, const R *,      \
                                    const R *, R *, R *, size_t);                      \
    void gru_ref_cell_fwd_before_rz_##S(size_t, size_t, size_t, const R *, size_t, const R *,  \
                                        const R *, R *, size_t, R *);                  \
    void gru_ref_cell_fwd_before_n_##S(size_t, size_t, size_t, const R *, size_t, const R *,   \
                                       const R *, R *, size_t, int, R *);              \
    void gru_ref_cell_bwd_after_##S(size_t, size_t, size_t, const R *, const R *, size_t,      \
                                    const R *, size_t, const R *, size_t, R *, R *,    \
                                    size_t, R *);                                      \
    void gru_ref_cell_bwd_before_zn_##S(size_t, size_t, size_t, const R *, const R *, size_t,  \
                                        const R *, size_t, R *, R *, size_t, R *);     \
    void gru_ref_cell_bwd_before_r_##S(size_t, size_t, size_t, const R *, const R *, size_t,   \
                                       const R *, size_t, R *, R *, size_t, R *);      \
    void gru_ref_cell_att_fwd_##S(size_t, size_t, size_t, const R *, size_t, const R *, \
                                  size_t, const R *, R *);                             \
    void gru_ref_cell_bwd_after_att_##S(size_t, size_t, size_t, const R *, const R *,  \
                                        size_t, const R *, size_t, const R *, size_t,  \
                                        const R *, size_t, R *, R *, size_t, R *, R *, \
                                        size_t);                                       \
    void gru_ref_cell_bwd_before_zn_att_##S(size_t, size_t, size_t, const R *,         \
                                            const R *, size_t, const R *, size_t,      \
                                            const R *, size_t, R *, R *, size_t, R *,  \
                                            R *, size_t);                              \
    void gru_ref_rowsum_##S(size_t, size_t, const R *, size_t, int, R *);              \
    void gru_ref_mul_##S(size_t, size_t, const R *, size_t, const R *, size_t, R *,    \
                         size_t);                                                      \
    void gru_ref_mul_add_##S(size_t, size_t, const R *, size_t, const R *, size_t, R *, \
                             size_t);                                                  \
    void gru_ref_add_##S(size_t, size_t, const R *, size_t, R *, size_t);              \
    void gru_ref_mask_rows_##S(size_t, size_t, size_t, size_t, size_t, int, const R *, \
                               const R *, int, R *);                                   \
    void gru_ref_dropout_##S(size_t, R *, size_t, double, uint64_t, uint64_t, size_t); \
    void gru_ref_dropout_mask_##S(size_t, R *, double, uint64_t, uint64_t, size_t);   \
    void gru_ref_zoneout_mask_##S(size_t, size_t, size_t, size_t, size_t, int, double, \
                                  uint64_t, uint64_t, size_t, R *);                    \
    void gru_ref_zoneout_select_##S(size_t, size_t, const R *, size_t, const R *,      \
                                    size_t, R *, size_t);                              \
    void gru_ref_zoneout_blend_##S(size_t, size_t, R, R, const R *, size_t, R *,       \
                                   size_t);                                            \
    void gru_ref_zoneout_split_##S(size_t, size_t, const R *, size_t, const R *,       \
                                   size_t, R *, size_t, R *, size_t);                  \
    void gru_ref_weight_drop_##S(size_t, size_t, size_t, const R *, double, uint64_t,  \
                                 uint64_t, size_t, R *, R *);                          \
    void gru_ref_ln_fwd_##S(size_t, size_t, size_t, size_t, size_t, const R *, size_t, \
                            const R *, const R *, const R *, R *, size_t, R *, size_t, \
                            R *, size_t);                                              \
    void gru_ref_ln_bwd_##S(size_t, size_t, size_t, size_t, size_t, const R *, size_t, \
                            const R *, size_t, const R *, size_t, const R *, R *,      \
                            size_t);                                                   \
    void gru_ref_colsum_mul_add_##S(size_t, size_t, const R *, size_t, const R *,      \
                                    size_t, R *);
GRU_REF_DECLS(float, f32)
GRU_REF_DECLS(double, f64)

/* A table half with designated initializers: every entry from the function named
 * NAME(entry) (NAME a macro, e.g. #define AVX2_F32(e) e##_avx2_f32), plus the table's
 * gemm scratch size and panel width. */
#define GRU_KERNEL_HALF(NAME, SCRATCH, PANEL)                                          \
    {.gemm_scratch = (SCRATCH), .nr = (PANEL), .gemm = NAME(gemm),                     \
     .packed_size = NAME(packed_size), .pack_b = NAME(pack_b), .gemm_pb = NAME(gemm_pb), \
     .colsum_add = NAME(colsum_add), .cell_fwd_after = NAME(cell_fwd_after),           \
     .cell_fwd_before_rz = NAME(cell_fwd_before_rz),                                   \
     .cell_fwd_before_n = NAME(cell_fwd_before_n), .cell_bwd_after = NAME(cell_bwd_after), \
     .cell_bwd_before_zn = NAME(cell_bwd_before_zn),                                   \
     .cell_bwd_before_r = NAME(cell_bwd_before_r), .cell_att_fwd = NAME(cell_att_fwd), \
     .cell_bwd_after_att = NAME(cell_bwd_after_att),                                   \
     .cell_bwd_before_zn_att = NAME(cell_bwd_before_zn_att), .rowsum = NAME(rowsum),   \
     .mul = NAME(mul),                                                                  \
     .mul_add = NAME(mul_add), .add = NAME(add), .mask_rows = NAME(mask_rows),         \
     .dropout = NAME(dropout), .dropout_mask = NAME(dropout_mask),                   \
     .zoneout_mask = NAME(zoneout_mask), .zoneout_select = NAME(zoneout_select),       \
     .zoneout_blend = NAME(zoneout_blend), .zoneout_split = NAME(zoneout_split),       \
     .weight_drop = NAME(weight_drop),                                                 \
     .ln_fwd = NAME(ln_fwd), .ln_bwd = NAME(ln_bwd),                                   \
     .colsum_mul_add = NAME(colsum_mul_add)}

/* The reference names, for GRU_KERNEL_HALF (gemm_scratch 0, panels of one column). */
#define GRU_REF_F32(e) gru_ref_##e##_f32
#define GRU_REF_F64(e) gru_ref_##e##_f64

/* Chooses the table for a new model: GRU_ISA if set (NULL and *unavailable = 1 if it
 * names a set this build or CPU lacks), else the best the CPU runs. */
const gru_kernels *gru_select_kernels(int *unavailable);

/* Space-separated names of the usable tables, best last. */
const char *gru_kernels_available(void);

#endif /* GRU_KERNELS_H */
