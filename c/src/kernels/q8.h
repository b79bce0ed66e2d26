/*
 * q8.h - the int8 kernel tables of libgru's quantized inference models (gru_quantize,
 * quant.c; semantics in docs/quantization.md and gru.h). A table holds what is
 * ISA-specific in an int8 step: the dynamic quantization of activation rows, the int8
 * matrix product with its float32 dequantization, and sigmoid / tanh over arrays. The
 * gate arithmetic between them is plain float32 C in the driver (quant.c).
 *
 * Every table gives the bits of the scalar reference (q8_scalar.c): the integer dot
 * products are exact, the float operations are the same IEEE operations in the same
 * order (never fused), and sigmoid / tanh are the vmath functions, whose scalar port
 * (vmath_scalar.h) is bit-identical to the AVX2 / AVX-512 / NEON versions (VMATH.md).
 *
 * Weight rows and activation rows are padded with zeros to Kp = a multiple of
 * GRU_Q8_KPAD bytes, so the SIMD loops need no tails.
 */
#ifndef GRU_Q8_H
#define GRU_Q8_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"

#define GRU_Q8_KPAD 64
/* Every gate's rows are padded with zero rows to a multiple of GRU_Q8_RPAD (the largest
 * row block of any table, and the grain of the threads' split of the units). */
#define GRU_Q8_RPAD 16
/* The largest K (input width or H) an int8 model accepts: keeps every int32 sum exact
 * (255 * 127 * 65536 < 2^31 for the VNNI form, see q8_simd_impl.h). */
#define GRU_Q8_KMAX 65536

/* Byte offset of W[n, k] in the weight layout of a table with rb rows per block:
 * blocks of rb rows x 4 columns (4 rb bytes: row r's 4 bytes at 4 r), ordered by row
 * block, then by column group k / 4. rb = 1 is plain row-major with Kp per row; the SIMD
 * tables use rb = 16, so that one 64-byte load holds 4 columns of 16 rows and a dot
 * product instruction on a broadcast of 4 activation bytes gives 16 rows' sums in its
 * lanes (no horizontal reduction). A row block's first row is a multiple of rb. */
static inline size_t gru_q8_offset(size_t rb, size_t Kp, size_t n, size_t k)
{
    return ((n / rb) * (Kp / 4) + k / 4) * (4 * rb) + (n % rb) * 4 + k % 4;
}

typedef struct gru_qkernels {
    const char *name;          /* "scalar", "avx2", "avx512vnni", "neon", ... */
    size_t rb;                 /* rows per block of the weight layout (gru_q8_offset) */
    /* Quantizes M rows of A (M, K) at lda into Q (M, Kp) at ldq and s (M):
     *   a = max_k |A[k]|;  s = a / 127;  q_k = clamp(lrintf(A[k] * (127 / a)), -127, 127)
     * (round half to even in the default rounding mode); a = 0 gives s = 0, q = 0.
     * Q[K..Kp) = 0. */
    void (*quantize)(size_t M, size_t K, size_t Kp, const float *A, size_t lda, int8_t *Q,
                     size_t ldq, float *s);
    /* C[b, n] = (float)acc * (ws[n] * xs[b]) + bias[n] (no add when bias is NULL), for
     * b < M, n < N, acc = sum_{k < Kp} W[n, k] X[b, k] in int32 (exact). X (M, Kp) at ldx
     * with scales xs (M); W (N, Kp) in the table's layout (gru_q8_offset, from a row
     * block's start; rows past N up to the block's end are read, and must be zero or
     * belong to the same padded gate) with scales ws (N) and row sums
     * wsum (N) = sum_k W[n, k] (the VNNI kernel's correction); C (M, N) at ldc. */
    void (*gemm)(size_t M, size_t N, size_t Kp, const int8_t *X, size_t ldx, const float *xs,
                 const int8_t *W, const float *ws, const int32_t *wsum, const float *bias,
                 float *C, size_t ldc);
    /* v[i] = sigmoid(v[i]), tanh(v[i]) for i < n, the vmath functions (VMATH.md). */
    void (*sigmoid)(size_t n, float *v);
    void (*tanh)(size_t n, float *v);
    /* Optional; NULL (the scalar tables): the driver's loops in quant.c do the
     * same. The reset_after gates of one row, units j < n, with xi and g (3 blocks at
     * stride H: r, z, n) the input and recurrent pre-activations (biases included):
     *   r = sigmoid(xi_r + g_r);  z = sigmoid(xi_z + g_z);
     *   n = tanh(xi_n + (r * g_n));  hn = ((1 - z) * n) + (z * h)
     * each operation rounded to float32 in this order (never fused), sigmoid / tanh the
     * vmath functions: bitwise the driver's loops. g is scratch (may be overwritten). */
    void (*gates_after)(size_t n, size_t H, const float *xi, float *g, const float *h,
                        float *hn);
} gru_qkernels;

extern const gru_qkernels gru_qkernels_scalar;
/* The reference quantization, shared by every table. */
void gru_q8_ref_quantize(size_t M, size_t K, size_t Kp, const float *A, size_t lda,
                         int8_t *Q, size_t ldq, float *s);
extern const gru_qkernels gru_qkernels_avx2;        /* name NULL when not built */
extern const gru_qkernels gru_qkernels_avx512vnni;  /* name NULL when not built */
extern const gru_qkernels gru_qkernels_neon;        /* SDOT; name NULL when not built */
extern const gru_qkernels gru_qkernels_neonmull;    /* name NULL when not built */

/* The CPU's SDOT (FEAT_DotProd) and BF16 (FEAT_BF16) instructions, as Linux reports
 * them (getauxval HWCAP_ASIMDDP, HWCAP2_BF16); 0 on other systems and architectures. */
int gru_cpu_has_dotprod(void);
int gru_cpu_has_bf16(void);

/* The int8 table for a model whose float table is k: AVX-512 with VNNI on the CPU ->
 * avx512vnni; AVX-512 without VNNI, or AVX2 -> avx2; neon with SDOT on the CPU (Linux
 * HWCAP_ASIMDDP) -> neon, without -> neonmull; anything else -> scalar. */
const gru_qkernels *gru_select_qkernels(const gru_kernels *k);

/* bfloat16 (bf16_scalar.c; semantics there and in docs/quantization.md): the same
 * interface with bf16 rows, 2 bytes per value in Kp bytes (a row of K values has
 * Kp = 2 * gru_q8_kpad(K) bytes), scales 1, float32 sums in one fixed order. */
uint16_t gru_bf16_round(float v);          /* round to nearest even; NaN stays NaN */
float gru_bf16_to_float(uint16_t b);       /* exact */
void gru_bf16_ref_quantize(size_t M, size_t K, size_t Kp, const float *A, size_t lda,
                           int8_t *Q, size_t ldq, float *s);
extern const gru_qkernels gru_bkernels_scalar;
extern const gru_qkernels gru_bkernels_avx512;      /* name NULL when not built */
extern const gru_qkernels gru_bkernels_avx512bf16;  /* name NULL when not built */
extern const gru_qkernels gru_bkernels_avx2;        /* name NULL when not built */
extern const gru_qkernels gru_bkernels_neon;        /* name NULL when not built */
extern const gru_qkernels gru_bkernels_neonbf16;    /* BFDOT; name NULL when not built */
/* The bf16 table for a model whose float table is k: avx512 -> avx512bf16 when the CPU
 * has AVX512_BF16 and exact is 0 (vdpbf16ps: within a stated bound of the reference),
 * else avx512 (bitwise the reference); avx2 -> avx2 (bitwise); neon -> neonbf16 when
 * the CPU has BF16 (Linux HWCAP2_BF16) and exact is 0 (BFDOT: within a stated bound),
 * else neon (bitwise); anything else -> scalar. */
const gru_qkernels *gru_select_bkernels(const gru_kernels *k, int exact);

#endif /* GRU_Q8_H */
