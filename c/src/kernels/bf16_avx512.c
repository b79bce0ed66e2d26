/*
 * bf16_avx512.c - the AVX-512 bfloat16 kernel table "avx512" (q8.h's interface, bf16
 * semantics of bf16_scalar.c), plain AVX-512F: a bf16 value is the high half of a
 * float32, so a 32-bit lane holding the pair (w[2j], w[2j+1]) gives w[2j+1] exactly as
 * lane & 0xffff0000 and w[2j] as lane << 16. Each lane (one weight row) computes
 * acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] with separate multiplies and adds (never
 * fused): bitwise equal to the scalar reference. Weights in 16-row blocks of pairs
 * (gru_q8_offset with rb = 16 over bytes), the int8 tables' tiles (q8_simd_impl.h with
 * Q8_FLOAT_ACC, whose Q8_BF16_EXACT dot product this is). Vector macros from
 * q8_vec_avx512.h, sigmoid / tanh from vmath_avx512.h.
 *
 * Selects its own target with GCC's pragma, so it also builds without per-file flags;
 * elsewhere it defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512F__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw")
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#define Q8_FLOAT_ACC 1
#define Q8_BF16_EXACT 1   /* DOT: q8_simd_impl.h's bf16_dot */
#include "kernels/q8_vec_avx512.h"

#define KSFX(name) bf16_##name##_avx512
#define TR1 8
#define TRM 2
#define TBM 4
#include "kernels/q8_simd_impl.h"
#include "kernels/bf16_round_avx512.h"

const gru_qkernels gru_bkernels_avx512 = {.name = "avx512", .rb = 16,
                                          .quantize = KSFX(quantize),
                                          .gemm = bf16_gemm_avx512,
                                          .sigmoid = bf16_sigmoid_avx512,
                                          .tanh = bf16_tanh_avx512,
    .gates_after = KSFX(gates_after)};
#else
const gru_qkernels gru_bkernels_avx512 = {0};
#endif
