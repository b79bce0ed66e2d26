/*
 * q8_neon.c - the AArch64 int8 kernel table "neon" (q8.h), with the SDOT instruction
 * (FEAT_DotProd, vdotq_s32): one SDOT multiplies the 16 signed weight bytes of 4 rows x
 * 4 columns by 4 signed activation bytes broadcast to every lane and adds each lane's
 * 4 products into that row's int32 sum, exactly (|sum| <= 127 * 127 * 65536 < 2^31).
 * Weights in the 16-row blocks of gru_q8_offset (rb = 16; a block's 64 bytes are 4
 * vectors of 4 rows), the tiles of q8_simd_impl.h, the reference's dequantization
 * (float)acc * (ws * xs) + bias with separate multiplies and adds (-ffp-contract=off)
 * and its quantization (gru_q8_ref_quantize); sigmoid / tanh from vmath_neon.h, which is
 * bit-identical to the scalar port. So: bitwise equal to the scalar reference
 * (q8_scalar.c), for any thread count.
 *
 * Built with -march=armv8.2-a+dotprod (c/Makefile) or, without per-file flags (the
 * Python extension's build), with GCC's target pragma below. gru_select_qkernels uses
 * it only when the float set is neon and the CPU reports SDOT (HWCAP_ASIMDDP); else the
 * scalar table. On other architectures the file defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__ARM_FEATURE_DOTPROD)
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#include "kernels/q8_vec_neon.h"

/* acc + per lane r: sum_{i < 4} w.byte[4r + i] * x.byte[4r + i] (signed, exact). */
static inline int32x4_t q8_dot_neon(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    return vdotq_s32(acc, vreinterpretq_s8_s32(w), vreinterpretq_s8_s32(x));
}

#define KSFX(name) q8_##name##_neon
#define DOT(acc, x, w) q8_dot_neon(acc, x, w)
/* 32 registers: streaming 4 row blocks = 16 accumulators; batches 2 blocks x 3 rows =
 * 24 accumulators + 3 broadcasts + 1 weight vector. */
#define TR1 4
#define TRM 2
#define TBM 3
#define VFCVT(v) vcvtq_f32_s32(v)
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_qkernels_neon = {.name = "neon", .rb = 16,
                                        .quantize = gru_q8_ref_quantize,
                                        .gemm = q8_gemm_neon, .sigmoid = q8_sigmoid_neon,
                                        .tanh = q8_tanh_neon,
                                        .gates_after = q8_gates_after_neon};
#else
const gru_qkernels gru_qkernels_neon = {0};
#endif
