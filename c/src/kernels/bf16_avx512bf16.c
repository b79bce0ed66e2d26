/*
 * bf16_avx512bf16.c - the AVX512_BF16 bfloat16 kernel table "avx512bf16" (q8.h's
 * interface): the products of bf16_avx512.c's layout and tiles with one vdpbf16ps per
 * 16 rows x 1 pair. The Intel SDM defines VDPBF16PS per lane as
 *   acc += w[2j+1] x[2j+1];  acc += w[2j] x[2j]
 * (the reference's order, bf16_scalar.c) but with round to nearest even regardless of
 * MXCSR, denormal inputs and outputs flushed to zero (DAZ, FTZ) and no exceptions; a
 * CPU may also round its internal steps differently. So this table is NOT bitwise the
 * reference: it differs where sums or products are denormal and wherever the hardware
 * rounds otherwise. The bound measured against the reference is stated and tested
 * (docs/quantization.md, c/tests/test_quant.c). Deterministic: the same bits for any
 * thread count, and step == forward. Chosen when the float set is avx512 and the CPU has
 * avx512_bf16, unless GRU_BF16_EXACT=1 (then the bitwise "avx512" table).
 *
 * Selects its own target with GCC's pragma; elsewhere it defines an unnamed table.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX512BF16__)
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512vl,avx512bw,avx512bf16")
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/vmath_avx512.h"

/* The 4 bytes at p (one bf16 pair) as one int32 (any alignment). */
static inline int bf16_load4_hw(const int8_t *p)
{
    int v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* vdpbf16ps: acc + w_odd x_odd + w_even x_even per lane (the hardware's rounding). The
 * vectors are float-typed throughout (no casts around the accumulators: with integer
 * vector types GCC 12 shuffled the 16 accumulators through extra moves and spills). */
static inline __m512 bf16_dot_hw(__m512 acc, __m512 x, __m512 w)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)x);
}

#define Q8_FLOAT_ACC 1
#define KSFX(name) bf16_##name##_hw
#define VI __m512
#define VB 64
#define VIZERO() _mm512_setzero_ps()
#define VILOAD(p) _mm512_loadu_ps((const void *)(p))
#define VISTORE(p, v) _mm512_storeu_ps((void *)(p), v)
#define VBCAST4(p) _mm512_castsi512_ps(_mm512_set1_epi32(bf16_load4_hw(p)))
#define PREPX(x) (x)
#define DOT(acc, x, w) bf16_dot_hw(acc, x, w)
#define XBIAS 0
#define TR1 4
#define TRM 4
#define TBM 4
#define VF __m512
#define VFSET1(x) _mm512_set1_ps(x)
#define VFMUL(a, b) _mm512_mul_ps(a, b)
#define VFADD(a, b) _mm512_add_ps(a, b)
#define VFCVT(v) (v)
#define VCORR(acc, p) (acc)
#define VLF 16
#define VFLOAD(p) _mm512_loadu_ps(p)
#define VFSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSIGMOID(v) gru_sigmoid_ps512(v)
#define VTANH(v) gru_tanh_ps512(v)
#include "kernels/q8_simd_impl.h"
#include "kernels/bf16_round_avx512.h"

const gru_qkernels gru_bkernels_avx512bf16 = {.name = "avx512bf16", .rb = 16,
                                              .quantize = KSFX(quantize),
                                              .gemm = bf16_gemm_hw,
                                              .sigmoid = bf16_sigmoid_hw,
                                              .tanh = bf16_tanh_hw};
#else
const gru_qkernels gru_bkernels_avx512bf16 = {0};
#endif
