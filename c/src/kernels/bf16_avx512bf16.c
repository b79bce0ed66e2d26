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
 * avx512_bf16, unless GRU_BF16_EXACT=1 (then the bitwise "avx512" table). Vector
 * macros from q8_vec_avx512.h (float-typed: see there).
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
#define Q8_FLOAT_ACC 1
#include "kernels/q8_vec_avx512.h"

/* vdpbf16ps: acc + w_odd x_odd + w_even x_even per lane (the hardware's rounding); the
 * vectors are float-typed (q8_vec_avx512.h). */
static inline __m512 bf16_dot_hw(__m512 acc, __m512 x, __m512 w)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)x);
}

#define KSFX(name) bf16_##name##_hw
#define DOT(acc, x, w) bf16_dot_hw(acc, x, w)
#define TR1 4
#define TRM 4
#define TBM 4
#include "kernels/q8_simd_impl.h"
#include "kernels/bf16_round_avx512.h"

const gru_qkernels gru_bkernels_avx512bf16 = {.name = "avx512bf16", .rb = 16,
                                              .quantize = KSFX(quantize),
                                              .gemm = bf16_gemm_hw,
                                              .sigmoid = bf16_sigmoid_hw,
                                              .tanh = bf16_tanh_hw,
    .gates_after = KSFX(gates_after)};
#else
const gru_qkernels gru_bkernels_avx512bf16 = {0};
#endif
