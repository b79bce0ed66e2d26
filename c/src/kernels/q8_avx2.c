/*
 * q8_avx2.c - the AVX2 int8 kernel table (q8.h), also the int8 table of AVX-512 CPUs
 * without VNNI. Products: vpmaddubsw(|x|, sign(w, x)) multiplies |x| <= 127 by
 * +-w, |w| <= 127, and adds pairs: at most 2 * 127 * 127 = 32258 < 2^15, so it never
 * saturates; vpmaddwd by ones widens the pairs to int32 exactly. Sigmoid / tanh from
 * vmath_avx2.h, the vector macros from q8_vec_avx2.h. Bitwise equal to the scalar
 * reference (q8_scalar.c).
 *
 * Selects its own target with GCC's pragma (as avx2.c), so it also builds without
 * per-file flags; elsewhere it defines an unnamed table that is never chosen.
 */
#include <string.h>
#include "kernels/q8.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/q8_vec_avx2.h"

static inline __m256i q8_dot_avx2(__m256i acc, __m256i x, __m256i w)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(w, x));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

#define KSFX(name) q8_##name##_avx2
#define DOT(acc, x, w) q8_dot_avx2(acc, x, w)
#define XBIAS 0
#define VCORR(acc, p) (acc)
#define TR1 2
#define TRM 1
#define TBM 3
#include "kernels/q8_simd_impl.h"

const gru_qkernels gru_qkernels_avx2 = {.name = "avx2", .rb = 16,
                                        .quantize = gru_q8_ref_quantize,
                                        .gemm = q8_gemm_avx2, .sigmoid = q8_sigmoid_avx2,
                                        .tanh = q8_tanh_avx2,
    .gates_after = KSFX(gates_after)};
#else
const gru_qkernels gru_qkernels_avx2 = {0};
#endif
