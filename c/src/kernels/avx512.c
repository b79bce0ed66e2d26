/*
 * avx512.c - the AVX-512 kernel table (AVX-512 F/DQ/VL/BW with FMA): simd_impl.h
 * compiled for float (16 lanes) and double (8 lanes). Sigmoid and tanh
 * in the cells come from kernels/vmath_avx512.h (errors measured in VMATH.md).
 *
 * The file selects its own target (GCC's target pragma, which also defines
 * __AVX512F__ etc.), so it builds without per-file flags (setuptools/cffi) as well as
 * with them (the Makefile's CFLAGS_kernels/avx512). Where neither applies (another
 * architecture, or a compiler without the pragma), it defines an unnamed table that
 * dispatch.c never chooses.
 */
#include "kernels/kernels.h"
#include "rng.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512F__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw")
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx512.h"

/* Register tile 6 x 4 vectors (24 accumulators; NR = 64 floats / 32 doubles), chosen
 * over 8 x 3 by paired timings on an Intel Xeon (bench/RESULTS.md, 2026-12-01): equal
 * on the large shapes, faster where H is a power of two (no padded panel: 64 divides
 * it, 48 does not) and for the one-row streaming GEMV. */
#define MR 6
#define NRV 4
#define PT 4
#define MTHIN 2

#define R float
#define KSFX(name) name##_avx512_f32
#define V __m512
#define VL 16
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VSIGMOID(v) gru_sigmoid_ps512(v)
#define VTANH(v) gru_tanh_ps512(v)
#define KC 256
#define NC 1536
#include "kernels/simd_impl.h"

#define R double
#define KSFX(name) name##_avx512_f64
#define V __m512d
#define VL 8
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd(p, v)
#define VSET1(x) _mm512_set1_pd(x)
#define VZERO() _mm512_setzero_pd()
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VADD(a, b) _mm512_add_pd(a, b)
#define VSUB(a, b) _mm512_sub_pd(a, b)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VSIGMOID(v) gru_sigmoid_pd512(v)
#define VTANH(v) gru_tanh_pd512(v)
#define KC 256
#define NC 768
#include "kernels/simd_impl.h"

#define AVX512_F32(e) e##_avx512_f32
#define AVX512_F64(e) e##_avx512_f64
const gru_kernels gru_kernels_avx512 = {
    .name = "avx512",
    .f32 = GRU_KERNEL_HALF(AVX512_F32, scratch_elems_avx512_f32, panel_width_avx512_f32),
    .f64 = GRU_KERNEL_HALF(AVX512_F64, scratch_elems_avx512_f64, panel_width_avx512_f64)};
#else
const gru_kernels gru_kernels_avx512 = {0};
#endif
