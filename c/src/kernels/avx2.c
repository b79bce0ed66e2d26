/*
 * avx2.c - the AVX2 + FMA kernel table: simd_impl.h compiled for float (8 lanes) and
 * double (4 lanes), 6 x 2-vector register tiles (16 ymm registers). Sigmoid and tanh
 * in the cells come from kernels/vmath_avx2.h (errors measured in VMATH.md).
 *
 * Selects its own target like avx512.c; an unnamed table where it cannot.
 */
#include "kernels/kernels.h"
#include "rng.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx2.h"

#define MR 6
#define NRV 2
#define PT 3
#define MTHIN 2

#define R float
#define KSFX(name) name##_avx2_f32
#define V __m256
#define VL 8
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VSIGMOID(v) gru_sigmoid_ps256(v)
#define VTANH(v) gru_tanh_ps256(v)
#define KC 256
#define NC 1024
#include "kernels/simd_impl.h"

#define R double
#define KSFX(name) name##_avx2_f64
#define V __m256d
#define VL 4
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd(p, v)
#define VSET1(x) _mm256_set1_pd(x)
#define VZERO() _mm256_setzero_pd()
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VSUB(a, b) _mm256_sub_pd(a, b)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VSIGMOID(v) gru_sigmoid_pd256(v)
#define VTANH(v) gru_tanh_pd256(v)
#define KC 256
#define NC 512
#include "kernels/simd_impl.h"

#define AVX2_F32(e) e##_avx2_f32
#define AVX2_F64(e) e##_avx2_f64
const gru_kernels gru_kernels_avx2 = {
    .name = "avx2",
    .f32 = GRU_KERNEL_HALF(AVX2_F32, scratch_elems_avx2_f32, panel_width_avx2_f32),
    .f64 = GRU_KERNEL_HALF(AVX2_F64, scratch_elems_avx2_f64, panel_width_avx2_f64)};
#else
const gru_kernels gru_kernels_avx2 = {0};
#endif
