/*
 * bf16_neonbf16.c - the AArch64 bfloat16 kernel table "neonbf16" (q8.h's interface):
 * the products of bf16_neon.c's layout and tiles with one BFDOT (FEAT_BF16,
 * vbfdotq_f32) per 4 rows x 1 pair. The Arm ARM defines BFDOT (FPCR.EBF = 0, the
 * Linux default) per lane as
 *   acc + (w[2j] x[2j] + w[2j+1] x[2j+1])
 * with every product and sum rounded to odd, denormal inputs and results flushed to
 * zero and the default NaN: another order and another rounding than the reference's
 * (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] in round to nearest even (bf16_scalar.c). So
 * this table is NOT bitwise the reference; its deviation is measured and bounded by
 * c/tests/test_quant.c (docs/quantization.md). The operation is fully specified by the
 * architecture, so every FEAT_BF16 CPU (and qemu) gives the same bits; deterministic:
 * the same bits for any thread count, and step == forward. Chosen when the float set is
 * neon and the CPU reports BF16 (HWCAP2_BF16), unless GRU_BF16_EXACT=1 (then the
 * bitwise "neon" table).
 *
 * Built with -march=armv8.6-a+bf16 (c/Makefile) or, without per-file flags (the Python
 * extension's build), with GCC's target pragma below; elsewhere an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#pragma GCC target("arch=armv8.6-a+bf16")
#endif
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#include <arm_neon.h>
#include "kernels/q8_vec_neon.h"

/* BFDOT: acc + (w_even x_even + w_odd x_odd) per lane (the architecture's rounding). */
static inline int32x4_t bf16_dot_bfdot(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    return vreinterpretq_s32_f32(vbfdotq_f32(vreinterpretq_f32_s32(acc),
                                             vreinterpretq_bf16_s32(w),
                                             vreinterpretq_bf16_s32(x)));
}

#define Q8_FLOAT_ACC 1
#define KSFX(name) bf16_##name##_bfdot
#define DOT(acc, x, w) bf16_dot_bfdot(acc, x, w)
/* as q8_neon.c: 16 accumulators streaming, 24 for batches */
#define TR1 4
#define TRM 2
#define TBM 3
#define VFCVT(v) vreinterpretq_f32_s32(v)
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_bkernels_neonbf16 = {.name = "neonbf16", .rb = 16,
                                            .quantize = gru_bf16_ref_quantize,
                                            .gemm = bf16_gemm_bfdot,
                                            .sigmoid = bf16_sigmoid_bfdot,
                                            .tanh = bf16_tanh_bfdot,
                                            .gates_after = bf16_gates_after_bfdot};
#else
const gru_qkernels gru_bkernels_neonbf16 = {0};
#endif
