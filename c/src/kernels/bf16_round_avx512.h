/*
 * bf16_round_avx512.h - the AVX-512 rounding of activation rows to bf16 for the bf16
 * tables bf16_avx512.c and bf16_avx512bf16.c (q8.h's quantize entry): bitwise
 * gru_bf16_ref_quantize (round to nearest even as (u + 0x7fff + ((u >> 16) & 1)) >> 16,
 * a NaN kept NaN with its quiet bit set; values K .. Kp/2 zero; scale 1). Include after
 * <immintrin.h> with AVX-512F/BW enabled; defines one static function, KSFX(quantize).
 */

/* One row of K floats into Kp bytes of bf16 (16 values per vector, the tail masked). */
static inline void KSFX(round_row)(size_t K, size_t Kp, const float *A, uint16_t *q)
{
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff);
    const __m512i quiet = _mm512_set1_epi32(0x0040);
    memset(q, 0, Kp);
    for (size_t k = 0; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, A + k);
        const __m512i u = _mm512_castps_si512(v);
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(half, odd)), 16);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), quiet);
        _mm256_mask_storeu_epi16(q + k, m, _mm512_cvtepi32_epi16(r));
    }
}

static void KSFX(quantize)(size_t M, size_t K, size_t Kp, const float *A, size_t lda,
                           int8_t *Q, size_t ldq, float *s)
{
    for (size_t i = 0; i < M; i++) {
        KSFX(round_row)(K, Kp, A + i * lda, (uint16_t *)(void *)(Q + i * ldq));
        s[i] = 1.0f;
    }
}
