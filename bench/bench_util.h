/* bench/bench_util.h - the helpers the C step benchmarks share (bench/step_c.c,
 * bench/step_bound.c): a monotonic clock, sorting of round times (for best, median and
 * quartiles), a block of back-to-back steps timed as one, and the deterministic
 * parameters every model of those programs gets.
 *
 * Header only, every function static inline: a program that includes it stays one C
 * file (plus read_bw.c for step_bound.c) built against c/build/libgru.a with the
 * one-line command in its own header comment; "bench_util.h" is found beside the
 * including file, so no -I is needed for it. Define _POSIX_C_SOURCE (200809L) before
 * including it: clock_gettime needs it, and the header refuses to build without it.
 * Nothing here prints or exits; bench_set_params returns gru.h's status codes.
 */
#ifndef PYGRU_BENCH_UTIL_H
#define PYGRU_BENCH_UTIL_H

#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 199309L
#error "define _POSIX_C_SOURCE 200809L before including bench_util.h (clock_gettime)"
#endif

#include <gru.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: only differences mean anything). */
static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* v[0..n) in ascending order: then v[0] is the best round, v[n / 2] the median,
 * v[n / 4] and v[3 * n / 4] the quartiles. */
static inline void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
}

/* Mean seconds per step of `steps` calls of gru_step (B = 1) back to back, the state
 * h (layers, 1, H) fed back in place; x (1, I); scratch of sb bytes
 * (gru_step_scratch_size). */
static inline double bench_time_steps(gru_model *m, long steps, const float *x, float *h,
                                      void *scratch, size_t sb)
{
    const double t0 = bench_now();
    for (long i = 0; i < steps; i++) gru_step(m, 1, x, h, NULL, scratch, sb);
    return (bench_now() - t0) / (double)steps;
}

/* Every tensor of every layer (weights and biases) of a float32 model gru.h's
 * gru_config made with input_size I, hidden_size H, num_layers layers (unidirectional)
 * from one pseudo-random stream (a 64-bit LCG, values in [-0.05, 0.05)): weight_ih_l<k>
 * from its offset 0, bias_ih at 3, bias_hh at 5, weight_hh at 7, so no two tensors
 * start alike. The same values on every run and machine. Returns GRU_OK, or the first
 * failing status (GRU_ERR_NO_MEMORY, gru_param_set's). */
static inline int bench_set_params(gru_model *m, int64_t I, int64_t H, int layers)
{
    const size_t nw = (size_t)(3 * H * (I > H ? I : H)) + 8;
    float *w = malloc(nw * sizeof *w);   /* (3H, max(I, H)) and 8 more: tensors start at
                                            offsets 0, 3, 5 and 7 */
    if (!w) return GRU_ERR_NO_MEMORY;
    uint64_t seed = 1;
    for (size_t i = 0; i < nw; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        w[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5) * 0.1f;
    }
    int st = GRU_OK;
    char name[32];
    for (int l = 0; l < layers && st == GRU_OK; l++) {
        snprintf(name, sizeof name, "weight_ih_l%d", l);
        st = gru_param_set(m, name, w, (size_t)(3 * H * (l == 0 ? I : H)));
        snprintf(name, sizeof name, "weight_hh_l%d", l);
        if (st == GRU_OK) st = gru_param_set(m, name, w + 7, (size_t)(3 * H * H));
        snprintf(name, sizeof name, "bias_ih_l%d", l);
        if (st == GRU_OK) st = gru_param_set(m, name, w + 3, (size_t)(3 * H));
        snprintf(name, sizeof name, "bias_hh_l%d", l);
        if (st == GRU_OK) st = gru_param_set(m, name, w + 5, (size_t)(3 * H));
    }
    free(w);
    return st;
}

#endif /* PYGRU_BENCH_UTIL_H */
