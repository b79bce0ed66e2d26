/* bench/step_bound.c - the streaming step gru_step (B = 1, float32) beside the plain loop
 * that only reads the bytes the step must read: the model's weights, 3H(I+H) floats for
 * the first layer and 3H(2H) for each further one (bench/read_bw.c, over a buffer of
 * exactly that size, so it lives in the same cache level as the weights), and the ratio
 * step / read loop. A one-row GEMV does one FMA per weight it loads, so on a CPU whose
 * FMA throughput matches its load throughput the read loop is the bound of a step;
 * issue 15's target is a step within 1.15x of it.
 *
 *   make -C c
 *   cc -O2 -std=c11 -Ic/include bench/step_bound.c bench/read_bw.c c/build/libgru.a \
 *      -lm -pthread -o c/build/step_bound
 *   c/build/step_bound [I H [threads [layers [seconds]]]]     (default 256 256 1 1 1.0)
 *
 * bench/step_bound.py runs it for a list of sizes and thread counts beside the Python
 * step (pygru's GRU.step) and prints both ratios in one table.
 *
 * Gates, before anything is timed: the step's new state must be bitwise the state
 * gru_forward computes over a one-step sequence from the same start state (gru.h
 * promises it; a step that skipped or garbled work fails it), and the read loop's sum
 * over the buffer, on the same threads, must be the buffer's exact sum (its values are
 * nonzero multiples of 2^-10 chosen so every partial sum is exact in float32: a float
 * read twice or not at all changes it). A failed gate prints "gate FAILED: ..." and exits 1.
 *
 * Timing: 15 rounds; in each, `k` steps back to back (the state fed back), timed as one
 * block, then `k'` passes of the read loop on the same number of threads (each thread
 * its share of the buffer, a barrier after each pass), timed as one block; k and k' are
 * chosen so the whole run takes about `seconds`. Printed: the best and the median round
 * of each (per step, per pass) and step / read as the median over rounds of the
 * per-round ratio (paired: a slow patch of the machine hits both) and as best / best.
 * The model's weights and biases, the clock and the timed block of steps come from
 * bench/bench_util.h (shared with step_c.c).
 * Output: a line "gates passed: ..." (or "gate FAILED: ..."), then one line
 * (bench/step_bound.py parses it):
 *   I=256 H=256 layers=1 threads=1 (avx512; read loop avx512f): gru_step 18.60 us
 *   (median 18.90 us); read loop 15.20 us (median 15.50 us) over 1572864 bytes;
 *   step/read 1.22 (best/best 1.22) [q1 1.21, q3 1.24]
 * Exit status 1 with gru_strerror's message when the library refuses a call, 2 on bad
 * arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <gru.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define ROUNDS 15

/* bench/read_bw.c */
const char *read_bw_isa(void);
double read_mean_seconds(const float *buf, size_t n_floats, int passes, int threads);
double read_sum(const float *buf, size_t n_floats, int threads);

/* The step gate: gru_step from h0 == gru_forward over T = 1 from h0, bitwise. */
static int gate_step(gru_model *m, int64_t I, int64_t H, int layers, const float *x,
                     void *scratch, size_t sb, const char **why)
{
    const size_t ns = (size_t)(H * layers);
    float *h0 = malloc(ns * sizeof *h0), *st = malloc(ns * sizeof *st);
    float *hn = malloc(ns * sizeof *hn), *out = malloc((size_t)H * sizeof *out);
    int rc = GRU_ERR_NO_MEMORY;
    if (h0 && st && hn && out) {
        for (size_t i = 0; i < ns; i++) h0[i] = (float)((int)(i % 13) - 6) / 8.0f;
        memcpy(st, h0, ns * sizeof *st);
        rc = gru_step(m, 1, x, st, NULL, scratch, sb);
        if (rc == GRU_OK) rc = gru_forward(m, 0, 1, 1, 0, x, h0, NULL, out, hn, NULL, 0);
        if (rc == GRU_OK && memcmp(st, hn, ns * sizeof *st) != 0) {
            *why = "gru_step's new state differs from gru_forward's h_n over one step";
            rc = -1;
        }
        if (rc == GRU_OK && memcmp(out, hn + (size_t)H * (layers - 1), (size_t)H * sizeof *out)) {
            *why = "gru_forward's output differs from its last layer's h_n";
            rc = -1;
        }
    }
    (void)I;
    free(h0); free(st); free(hn); free(out);
    return rc;
}

/* The read gate: read_sum over buf on `threads` threads == the exact sum. buf[i] =
 * (i % 4 + 1) / 1024, never 0: while n * 4 / 1024 < 2^14 every partial sum is a multiple
 * of 2^-10 below 2^14, exact in float32 (beyond, a relative tolerance of 1e-5). */
static int gate_read(const float *buf, size_t n, int threads, const char **why)
{
    double exact = 0.0;
    for (size_t i = 0; i < n; i++) exact += (double)buf[i];
    const double got = read_sum(buf, n, threads);
    const int exact_ok = (double)n * 4.0 / 1024.0 < 16384.0;
    const double tol = exact_ok ? 0.0 : 1e-5 * exact;
    if (!(got - exact <= tol && exact - got <= tol)) {
        *why = "the read loop's sum differs from the buffer's";
        fprintf(stderr, "step_bound: read_sum %.17g, exact %.17g (%zu floats, %d threads)\n",
                got, exact, n, threads);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const int64_t I = argc > 1 ? atoll(argv[1]) : 256, H = argc > 2 ? atoll(argv[2]) : 256;
    const int threads = argc > 3 ? atoi(argv[3]) : 1;
    const int layers = argc > 4 ? atoi(argv[4]) : 1;
    const double seconds = argc > 5 ? atof(argv[5]) : 1.0;
    if (argc > 6 || I < 1 || H < 1 || threads < 1 || threads > 64 || layers < 1 ||
        !(seconds > 0.0)) {
        fprintf(stderr, "usage: step_bound [I H [threads (1..64) [layers [seconds]]]] with "
                        "positive sizes\n");
        return 2;
    }
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = layers;
    gru_model *m = NULL;
    size_t sb = 0;
    int st = gru_create(&cfg, &m);
    if (st == GRU_OK) st = bench_set_params(m, I, H, layers);
    if (st == GRU_OK) st = gru_set_num_threads(m, threads);
    if (st == GRU_OK) st = gru_step_scratch_size(m, 1, &sb);
    /* the weight bytes one step reads: 3H(I+H) floats, then 3H(2H) per further layer */
    const size_t nw = (size_t)(3 * H * (I + H) + (int64_t)(layers - 1) * 3 * H * 2 * H);
    void *scratch = malloc(sb ? sb : 1);
    float *x = malloc((size_t)I * sizeof *x);                  /* (1, I) */
    float *h = calloc((size_t)(H * layers), sizeof *h);        /* (layers, 1, H) */
    float *buf = NULL;                                         /* (nw) the read loop's */
    if (posix_memalign((void **)&buf, 64, nw * sizeof *buf) != 0) buf = NULL;
    if (st == GRU_OK && !(scratch && x && h && buf)) st = GRU_ERR_NO_MEMORY;
    if (st != GRU_OK) {
        fprintf(stderr, "step_bound: %s\n", gru_strerror(st));
        return 1;
    }
    for (int64_t i = 0; i < I; i++) x[i] = (float)((int)(i % 7) - 3) / 4.0f;
    for (size_t i = 0; i < nw; i++) buf[i] = (float)(i % 4 + 1) / 1024.0f;

    const char *why = NULL;
    int rc = gate_step(m, I, H, layers, x, scratch, sb, &why);
    if (rc == GRU_OK) rc = gate_read(buf, nw, threads, &why);
    if (rc != GRU_OK) {
        if (why) fprintf(stderr, "step_bound: gate FAILED: %s\n", why);
        else fprintf(stderr, "step_bound: %s\n", gru_strerror(rc));
        printf("gate FAILED: %s\n", why ? why : gru_strerror(rc));
        return 1;
    }
    printf("gates passed: gru_step == gru_forward over one step, bitwise; read loop sum "
           "%s over %zu floats on %d thread(s)\n",
           (double)nw * 4.0 / 1024.0 < 16384.0 ? "exact" : "within 1e-5 of exact", nw, threads);

    /* Calibration (also the warm-up): how long one step and one pass take. */
    long k = 1;
    double ts;
    while ((ts = bench_time_steps(m, k, x, h, scratch, sb)) * (double)k < 0.01
           && k < (1L << 24))
        k *= 2;
    int kr = 1;
    double tr;
    while ((tr = read_mean_seconds(buf, nw, kr, threads)) * kr < 0.01 && kr < (1 << 24))
        kr *= 2;
    if (tr < 0.0) {
        fprintf(stderr, "step_bound: the read loop could not start its threads\n");
        return 1;
    }
    const double per_round = seconds / ROUNDS / 2.0;   /* half steps, half reads */
    k = (long)(per_round / ts);
    kr = (int)(per_round / tr);
    if (k < 1) k = 1;
    if (kr < 1) kr = 1;

    double t_step[ROUNDS], t_read[ROUNDS], ratio[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        t_step[r] = bench_time_steps(m, k, x, h, scratch, sb);
        t_read[r] = read_mean_seconds(buf, nw, kr, threads);
        ratio[r] = t_step[r] / t_read[r];
    }
    bench_sort(t_step, ROUNDS);
    bench_sort(t_read, ROUNDS);
    bench_sort(ratio, ROUNDS);
    printf("I=%lld H=%lld layers=%d threads=%d (%s; read loop %s): gru_step %.2f us "
           "(median %.2f us); read loop %.2f us (median %.2f us) over %zu bytes; "
           "step/read %.3f (best/best %.3f) [q1 %.3f, q3 %.3f]; %ld steps and %d passes "
           "per round\n",
           (long long)I, (long long)H, layers, threads, gru_isa(m), read_bw_isa(),
           t_step[0] * 1e6, t_step[ROUNDS / 2] * 1e6, t_read[0] * 1e6,
           t_read[ROUNDS / 2] * 1e6, nw * sizeof *buf, ratio[ROUNDS / 2],
           t_step[0] / t_read[0], ratio[ROUNDS / 4], ratio[3 * ROUNDS / 4], k, kr);
    gru_destroy(m);
    free(x); free(h); free(scratch); free(buf);
    return 0;
}
