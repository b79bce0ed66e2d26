/*
 * neon.c - the NEON (AArch64 Advanced SIMD) kernel table: simd_impl.h compiled for
 * float (4 lanes, float32x4_t) and double (2 lanes, float64x2_t).
 *
 * Register tile, for AArch64's 32 128-bit registers: 8 rows x 2 vectors, i.e. 16
 * accumulators + 2 B vectors + the 8 A elements of a k step, which GCC loads into
 * 8 separate registers (ldr s + fmla by element) = 26 registers, no spills. The
 * 8 x 3 tile (24 accumulators) needs 35 and GCC 12 spills 3 accumulators through the
 * stack on every k step (checked in the disassembly), which puts a store-load chain
 * on the critical path; 8 rows also fit power-of-two batches without ragged tiles.
 * The few-row kernel (M <= MTHIN = 4 rows; simd_impl.h) runs one row by PT = 6 panels = 12
 * independent FMA chains, two rows by 4 panels, three or four rows by 2.
 *
 * NEON (with FMA: vfmaq_f32 / vfmaq_f64) is baseline on AArch64, so the file needs no
 * flags and dispatch.c always uses it there. On any other architecture it defines an
 * unnamed table that dispatch.c never chooses.
 *
 * Sigmoid and tanh in the cells come from kernels/vmath_neon.h: within 3 ulp (float32)
 * and 4 ulp (float64) of the correctly rounded values, bit-identical to the AVX2 and
 * AVX-512 versions (measured by c/tests/vmath, under qemu for NEON).
 */
#include "kernels/kernels.h"
#include "rng.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include "kernels/vmath_neon.h"

/* VBITS: lane l all ones iff bit l of b is set (b's low 4 / 2 bits). */
static inline uint32x4_t gru_bits_u32x4(uint32_t b)
{
    static const uint32_t sel[4] = {1, 2, 4, 8};
    return vtstq_u32(vdupq_n_u32(b), vld1q_u32(sel));
}

static inline uint64x2_t gru_bits_u64x2(uint64_t b)
{
    static const uint64_t sel[2] = {1, 2};
    return vtstq_u64(vdupq_n_u64(b), vld1q_u64(sel));
}

#define MR 8
#define NRV 2
#define PT 6
#define MTHIN 4

/* Cache blocking: a packed panel (KC x NR: 8 KiB float, 8 KiB double) and the MR rows
 * of A it meets stay in L1. The packed B block of gemm (KC x NC, the gemm_scratch)
 * must hold whole panels of NR = NRV * VL columns. */
#define KC_NEON 256
#define NC_F32 1536
#define NC_F64 768
_Static_assert(NC_F32 % (NRV * 4) == 0, "NC_F32 must be a multiple of NR (float)");
_Static_assert(NC_F64 % (NRV * 2) == 0, "NC_F64 must be a multiple of NR (double)");

/* vfmaq_f32(c, a, b) = c + a * b, fused: the accumulator comes first. */
#define R float
#define KSFX(name) name##_neon_f32
#define V float32x4_t
#define VL 4
#define VLOAD(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32(p, v)
#define VSET1(x) vdupq_n_f32(x)
#define VZERO() vdupq_n_f32(0.0f)
#define VFMA(a, b, c) vfmaq_f32(c, a, b)
#define VADD(a, b) vaddq_f32(a, b)
#define VSUB(a, b) vsubq_f32(a, b)
#define VMUL(a, b) vmulq_f32(a, b)
#define VBITS(b, x) vreinterpretq_f32_u32(vandq_u32(gru_bits_u32x4((uint32_t)(b)), \
                                                     vreinterpretq_u32_f32(x)))
#define VSEL(m, a, b) vbslq_f32(vceqq_f32(m, vdupq_n_f32(0.0f)), b, a)
#define VSIGMOID(v) gru_sigmoid_f32x4(v)
#define VTANH(v) gru_tanh_f32x4(v)
#define KC KC_NEON
#define NC NC_F32
#include "kernels/simd_impl.h"

#define R double
#define KSFX(name) name##_neon_f64
#define V float64x2_t
#define VL 2
#define VLOAD(p) vld1q_f64(p)
#define VSTORE(p, v) vst1q_f64(p, v)
#define VSET1(x) vdupq_n_f64(x)
#define VZERO() vdupq_n_f64(0.0)
#define VFMA(a, b, c) vfmaq_f64(c, a, b)
#define VADD(a, b) vaddq_f64(a, b)
#define VSUB(a, b) vsubq_f64(a, b)
#define VMUL(a, b) vmulq_f64(a, b)
#define VBITS(b, x) vreinterpretq_f64_u64(vandq_u64(gru_bits_u64x2((uint64_t)(b)), \
                                                     vreinterpretq_u64_f64(x)))
#define VSEL(m, a, b) vbslq_f64(vceqq_f64(m, vdupq_n_f64(0.0)), b, a)
#define VSIGMOID(v) gru_sigmoid_f64x2(v)
#define VTANH(v) gru_tanh_f64x2(v)
#define KC KC_NEON
#define NC NC_F64
#include "kernels/simd_impl.h"

/* gemm_scratch (KC * NC + KC * MR) and nr = NR of each half come from simd_impl.h. */
#define NEON_F32(e) e##_neon_f32
#define NEON_F64(e) e##_neon_f64
const gru_kernels gru_kernels_neon = {
    .name = "neon",
    .f32 = GRU_KERNEL_HALF(NEON_F32, scratch_elems_neon_f32, panel_width_neon_f32),
    .f64 = GRU_KERNEL_HALF(NEON_F64, scratch_elems_neon_f64, panel_width_neon_f64)};
#else
const gru_kernels gru_kernels_neon = {0};
#endif
