/*
 * avx512.c - the AVX-512 kernel table (AVX-512 F/DQ/VL/BW with FMA): simd_impl.h
 * compiled for float (16 lanes) and double (8 lanes). Cell kernels are the scalar
 * reference's until vectorised ones replace them.
 *
 * The file selects its own target (GCC's target pragma, which also defines
 * __AVX512F__ etc.), so it builds without per-file flags (setuptools/cffi) as well as
 * with them (the Makefile's CFLAGS_kernels/avx512). Where neither applies (another
 * architecture, or a compiler without the pragma), it defines an unnamed table that
 * dispatch.c never chooses.
 */
#include "kernels/kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512F__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw")
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>
#include <math.h>

/* Interim: sigmoid (op 1) and tanh (op 2) lane by lane through libm. */
#define GRU_LANES(NAME, V, R, VL, LOAD, STORE, EXP, TANH)                              \
    static inline V NAME(V v, int op)                                                  \
    {                                                                                  \
        R t[VL];                                                                       \
        STORE(t, v);                                                                   \
        for (int i = 0; i < VL; i++)                                                   \
            t[i] = op == 1 ? (R)1 / ((R)1 + EXP(-t[i])) : TANH(t[i]);                  \
        return LOAD(t);                                                                \
    }

#define MR 8
#define NRV 3
#define PT 4
#define MTHIN 2


GRU_LANES(vmath_lanes_psavx512, __m512, float, 16, _mm512_loadu_ps, _mm512_storeu_ps, expf, tanhf)
GRU_LANES(vmath_lanes_pdavx512, __m512d, double, 8, _mm512_loadu_pd, _mm512_storeu_pd, exp, tanh)

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
#define VSIGMOID(v) vmath_lanes_psavx512(v, 1)
#define VTANH(v) vmath_lanes_psavx512(v, 2)
#define KC 256
#define NC 1536
#include "kernels/simd_impl.h"
#undef R
#undef KSFX
#undef V
#undef VL
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VZERO
#undef VFMA
#undef VADD
#undef VSUB
#undef VMUL
#undef VSIGMOID
#undef VTANH
#undef KC
#undef NC

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
#define VSIGMOID(v) vmath_lanes_pdavx512(v, 1)
#define VTANH(v) vmath_lanes_pdavx512(v, 2)
#define KC 256
#define NC 768
#include "kernels/simd_impl.h"

#define GRU_AVX512_HALF(S)                                                   \
    {scratch_elems_avx512_##S, panel_width_avx512_##S, gemm_avx512_##S, packed_size_avx512_##S, pack_b_avx512_##S,            \
     gemm_pb_avx512_##S, gru_ref_fill_rows_##S, gru_ref_colsum_add_##S,                \
     cell_fwd_after_avx512_##S, cell_fwd_before_rz_avx512_##S,                       \
     cell_fwd_before_n_avx512_##S, cell_bwd_after_avx512_##S,                        \
     cell_bwd_before_zn_avx512_##S, cell_bwd_before_r_avx512_##S}

const gru_kernels gru_kernels_avx512 = {"avx512", GRU_AVX512_HALF(f32),
                                        GRU_AVX512_HALF(f64)};
#else
const gru_kernels gru_kernels_avx512 = {0};
#endif
