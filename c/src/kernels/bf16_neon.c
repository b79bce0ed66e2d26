/*
 * bf16_neon.c - the AArch64 bfloat16 kernel table "neon" (q8.h's interface, bf16
 * semantics of bf16_scalar.c), plain Advanced SIMD without BF16 instructions: a bf16
 * value is the high half of a float32, so a 32-bit lane holding the pair
 * (w[2j], w[2j+1]) gives w[2j+1] exactly as lane & 0xffff0000 and w[2j] as lane << 16.
 * Each lane (one weight row) computes acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] with
 * separate multiplies and adds (never fused: -ffp-contract=off, c/Makefile; -std=c11
 * implies it in GCC): bitwise equal to the scalar reference, for any thread count.
 * Weights in 16-row blocks of pairs (gru_q8_offset with rb = 16 over bytes: a block's
 * 64 bytes are 4 vectors of 4 rows), the int8 tables' tiles (q8_simd_impl.h with
 * Q8_FLOAT_ACC); the rounding of activation rows is the reference's
 * (gru_bf16_ref_quantize, K per row beside the K x 3H products). Sigmoid / tanh from
 * vmath_neon.h (bit-identical to the scalar port).
 *
 * NEON is baseline on AArch64: no flags needed, always usable when the float set is
 * neon. On other architectures the file defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include "kernels/q8_vec_neon.h"

/* acc + w_odd x_odd, then + w_even x_even, lane by lane (float32, each rounded). */
static inline int32x4_t bf16_dot_neon(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    const uint32x4_t hi = vdupq_n_u32(0xffff0000u);
    const uint32x4_t wu = vreinterpretq_u32_s32(w), xu = vreinterpretq_u32_s32(x);
    const float32x4_t wo = vreinterpretq_f32_u32(vandq_u32(wu, hi));
    const float32x4_t xo = vreinterpretq_f32_u32(vandq_u32(xu, hi));
    const float32x4_t we = vreinterpretq_f32_u32(vshlq_n_u32(wu, 16));
    const float32x4_t xe = vreinterpretq_f32_u32(vshlq_n_u32(xu, 16));
    const float32x4_t po = vmulq_f32(wo, xo), pe = vmulq_f32(we, xe);
    float32x4_t a = vaddq_f32(vreinterpretq_f32_s32(acc), po);
    a = vaddq_f32(a, pe);
    return vreinterpretq_s32_f32(a);
}

#define Q8_FLOAT_ACC 1
#define KSFX(name) bf16_##name##_neon
#define DOT(acc, x, w) bf16_dot_neon(acc, x, w)
/* Each DOT needs 6 temporaries: fewer accumulators than the int8 table's tiles. */
#define TR1 2
#define TRM 1
#define TBM 4
#define VFCVT(v) vreinterpretq_f32_s32(v)
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_bkernels_neon = {.name = "neon", .rb = 16,
                                        .quantize = gru_bf16_ref_quantize,
                                        .gemm = bf16_gemm_neon,
                                        .sigmoid = bf16_sigmoid_neon,
                                        .tanh = bf16_tanh_neon,
                                        .gates_after = bf16_gates_after_neon};
#else
const gru_qkernels gru_bkernels_neon = {0};
#endif
