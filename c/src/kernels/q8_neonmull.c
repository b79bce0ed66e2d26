/*
 * q8_neonmull.c - the AArch64 int8 kernel table "neonmull" (q8.h) for CPUs without SDOT
 * (Cortex-A53, A57, A72, ...): plain Advanced SIMD, which every AArch64 CPU has. One
 * step of the product multiplies the 16 weight bytes of 4 rows x 4 columns by the 4
 * activation bytes broadcast to every lane, widening: smull / smull2 give 16 int16
 * products (|w x| <= 127 * 127 = 16129), addp adds neighbours (each pair <= 32258 <
 * 2^15: no saturation, no wrap) and sadalp adds the pairs of pairs into each row's int32
 * lane, exactly. Everything else is q8_neon.c's: weights in the 16-row blocks of
 * gru_q8_offset (rb = 16), the tiles of q8_simd_impl.h, the reference's dequantization
 * (separate multiplies and adds, -ffp-contract=off) and quantization, sigmoid / tanh
 * from vmath_neon.h. So: bitwise equal to the scalar reference, for any thread count.
 *
 * NEON is baseline on AArch64: no flags needed. gru_select_qkernels uses it when the
 * float set is neon and the CPU lacks SDOT. On other architectures the file defines an
 * unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include "kernels/q8_vec_neon.h"

/* acc + per lane r: sum_{i < 4} w.byte[4r + i] * x.byte[4r + i] (signed, exact). */
static inline int32x4_t q8_dot_mull(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    const int8x16_t wb = vreinterpretq_s8_s32(w), xb = vreinterpretq_s8_s32(x);
    const int16x8_t lo = vmull_s8(vget_low_s8(wb), vget_low_s8(xb));   /* rows 0, 1 */
    const int16x8_t hi = vmull_high_s8(wb, xb);                       /* rows 2, 3 */
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

#define KSFX(name) q8_##name##_mull
#define DOT(acc, x, w) q8_dot_mull(acc, x, w)
/* Each DOT needs 3 temporaries: 8 accumulators streaming, 12 for batches. */
#define TR1 2
#define TRM 1
#define TBM 3
#define VFCVT(v) vcvtq_f32_s32(v)
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_qkernels_neonmull = {.name = "neonmull", .rb = 16,
                                            .quantize = gru_q8_ref_quantize,
                                            .gemm = q8_gemm_mull, .sigmoid = q8_sigmoid_mull,
                                            .tanh = q8_tanh_mull,
                                            .gates_after = q8_gates_after_mull};
#else
const gru_qkernels gru_qkernels_neonmull = {0};
#endif
