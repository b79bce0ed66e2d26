/*
 * bf16_avx2.c - the AVX2 bfloat16 kernel table "avx2" (q8.h's interface, bf16
 * semantics of bf16_scalar.c): a bf16 value is the high half of a float32, so a
 * 32-bit lane holding the pair (w[2j], w[2j+1]) gives w[2j+1] exactly as
 * lane & 0xffff0000 and w[2j] as lane << 16. Each lane (one weight row) computes
 * acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] with separate multiplies and adds (never
 * fused): bitwise equal to the scalar reference. Weights in 16-row blocks of pairs
 * (gru_q8_offset with rb = 16 over bytes), the int8 tables' tiles (q8_simd_impl.h with
 * Q8_FLOAT_ACC and its Q8_BF16_EXACT dot product; a 64-byte block is two 32-byte
 * vectors, rows 0-7 and 8-15). Vector macros from q8_vec_avx2.h, sigmoid / tanh from
 * vmath_avx2.h. Chosen for the float set avx2 (gru_select_bkernels).
 *
 * Selects its own target with GCC's pragma, so it also builds without per-file flags;
 * elsewhere it defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define Q8_FLOAT_ACC 1
#define Q8_BF16_EXACT 1   /* DOT: q8_simd_impl.h's bf16_dot */
#include "kernels/q8_vec_avx2.h"

#define KSFX(name) bf16_##name##_avx2
#define TR1 4
#define TRM 1
#define TBM 3
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_bkernels_avx2 = {.name = "avx2", .rb = 16,
                                          .quantize = gru_bf16_ref_quantize,
                                          .gemm = bf16_gemm_avx2,
                                          .sigmoid = bf16_sigmoid_avx2,
                                          .tanh = bf16_tanh_avx2,
    .gates_after = KSFX(gates_after)};
#else
const gru_qkernels gru_bkernels_avx2 = {0};
#endif
