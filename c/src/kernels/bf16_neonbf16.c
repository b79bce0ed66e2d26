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
#include "kernels/vmath_neon.h"

/* The 4 bytes at p (one bf16 pair) as one int32 (any alignment). */
static inline int32_t bf16_load4_bfdot(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* BFDOT: acc + (w_even x_even + w_odd x_odd) per lane (the architecture's rounding). */
static inline int32x4_t bf16_dot_bfdot(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    return vreinterpretq_s32_f32(vbfdotq_f32(vreinterpretq_f32_s32(acc),
                                             vreinterpretq_bf16_s32(w),
                                             vreinterpretq_bf16_s32(x)));
}

#define Q8_FLOAT_ACC 1
#define KSFX(name) bf16_##name##_bfdot
#define VI int32x4_t
#define VB 16
#define VIZERO() vdupq_n_s32(0)
#define VILOAD(p) vreinterpretq_s32_s8(vld1q_s8((const int8_t *)(p)))
#define VISTORE(p, v) vst1q_s32(p, v)
#define VBCAST4(p) vdupq_n_s32(bf16_load4_bfdot(p))
#define PREPX(x) (x)
#define DOT(acc, x, w) bf16_dot_bfdot(acc, x, w)
#define XBIAS 0
/* as q8_neon.c: 16 accumulators streaming, 24 for batches */
#define TR1 4
#define TRM 2
#define TBM 3
#define VF float32x4_t
#define VFSET1(x) vdupq_n_f32(x)
#define VFMUL(a, b) vmulq_f32(a, b)
#define VFADD(a, b) vaddq_f32(a, b)
#define VFSUB(a, b) vsubq_f32(a, b)
#define VFCVT(v) vreinterpretq_f32_s32(v)
#define VCORR(acc, p) (acc)
#define VLF 4
#define VFLOAD(p) vld1q_f32(p)
#define VFSTORE(p, v) vst1q_f32(p, v)
#define VSIGMOID(v) gru_sigmoid_f32x4(v)
#define VTANH(v) gru_tanh_f32x4(v)
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
