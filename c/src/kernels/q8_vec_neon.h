/*
 * q8_vec_neon.h - the NEON vector macros of the quantized kernel bodies
 * (q8_simd_impl.h), shared by q8_neon.c, q8_neonmull.c, bf16_neon.c and bf16_neonbf16.c
 * (the counterpart of q8_vec_avx2.h / q8_vec_avx512.h): 16-byte vectors of 4 lanes,
 * integer-typed products (int32x4_t holding 4 int32 sums, or 4 float32 sums of a bf16
 * table, reinterpreted), float32 operations (each one IEEE operation, never fused:
 * vmulq / vaddq / vsubq, no vfmaq), sigmoid / tanh from vmath_neon.h. What differs
 * between those tables (the dot product DOT, VFCVT, the tiles, the suffix KSFX) stays
 * in their files.
 *
 * Include after <arm_neon.h> in an aarch64 NEON build, once per file.
 */
#ifndef GRU_Q8_VEC_NEON_H
#define GRU_Q8_VEC_NEON_H

#include <string.h>
#include "kernels/vmath_neon.h"

/* The 4 bytes at p (4 int8 values or one bf16 pair) as one int32 (any alignment). */
static inline int32_t gru_q8_load4_neon(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define VI int32x4_t
#define VB 16
#define VIZERO() vdupq_n_s32(0)
#define VILOAD(p) vreinterpretq_s32_s8(vld1q_s8((const int8_t *)(p)))
#define VISTORE(p, v) vst1q_s32(p, v)
#define VBCAST4(p) vdupq_n_s32(gru_q8_load4_neon(p))
#define XBIAS 0
#define VCORR(acc, p) (acc)
#define VF float32x4_t
#define VLF 4
#define VFSET1(x) vdupq_n_f32(x)
#define VFMUL(a, b) vmulq_f32(a, b)
#define VFADD(a, b) vaddq_f32(a, b)
#define VFSUB(a, b) vsubq_f32(a, b)
#define VFLOAD(p) vld1q_f32(p)
#define VFSTORE(p, v) vst1q_f32(p, v)
#define VSIGMOID(v) gru_sigmoid_f32x4(v)
#define VTANH(v) gru_tanh_f32x4(v)

#endif /* GRU_Q8_VEC_NEON_H */
