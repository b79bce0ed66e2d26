/* bench/step_c.c - the streaming step from C: gru_step for B = 1 (caller scratch, state
 * in place, nothing allocated), and the rate at which it reads the model's weights
 * (3H(I+H) floats per step), the quantity that bounds a one-step GEMV.
 *
 *   make -C c
 *   cc -O2 -Ic/include bench/step_c.c c/build/libgru.a -lm -pthread \
 *      -o c/build/step_c
 *   c/build/step_c [I H [threads [steps [int8|bf16]]]]   (default 256 256 1 20000)
 *
 * With a fifth argument "int8" (or "bf16"), the model is quantized (gru_quantize,
 * GRU_INT8 / GRU_BF16) and the quantized model is stepped (its weights: 3H(I+H) bytes,
 * twice that for bf16).
 *
 * Prints the best per-step time over 15 rounds of `steps` steps and the weight bytes
 * read per second at that time.
 */
#define _POSIX_C_SOURCE 200809L
#include <gru.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    const int64_t I = argc > 1 ? atoll(argv[1]) : 256, H = argc > 2 ? atoll(argv[2]) : 256;
    const int threads = argc > 3 ? atoi(argv[3]) : 1;
    const long steps = argc > 4 ? atol(argv[4]) : 20000;
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    gru_model *m;
    int st = gru_create(&cfg, &m);
    if (st == GRU_OK) st = gru_set_num_threads(m, threads);
    if (st != GRU_OK) {
        fprintf(stderr, "step_c: %s\n", gru_strerror(st));
        return 1;
    }
    const size_t nw = (size_t)(3 * H * (I > H ? I : H));
    float *w = malloc(nw * sizeof *w);
    uint64_t seed = 1;
    for (size_t i = 0; i < nw; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        w[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5) * 0.1f;
    }
    gru_param_set(m, "weight_ih_l0", w, (size_t)(3 * H * I));
    gru_param_set(m, "weight_hh_l0", w, (size_t)(3 * H * H));
    float *x = calloc((size_t)I, sizeof *x), *h = calloc((size_t)H, sizeof *h);
    for (int64_t i = 0; i < I; i++) x[i] = 0.5f;
    const int int8 = argc > 5 && strcmp(argv[5], "int8") == 0;
    const int bf16 = argc > 5 && strcmp(argv[5], "bf16") == 0;
    if (int8 || bf16) {
        gru_model *q;
        if ((st = gru_quantize(m, bf16 ? GRU_BF16 : GRU_INT8, &q)) != GRU_OK) {
            fprintf(stderr, "step_c: %s\n", gru_strerror(st));
            return 1;
        }
        gru_destroy(m);
        m = q;
    }
    size_t sb;
    gru_step_scratch_size(m, 1, &sb);
    void *scratch = malloc(sb);

    const size_t bytes = (size_t)(3 * H * (I + H)) * (int8 ? 1 : bf16 ? 2 : sizeof(float));
    double best = 1e9;
    for (long i = 0; i < steps / 4; i++) gru_step(m, 1, x, h, NULL, scratch, sb);
    for (int r = 0; r < 15; r++) {
        double t0 = now();
        for (long i = 0; i < steps; i++) gru_step(m, 1, x, h, NULL, scratch, sb);
        double t = (now() - t0) / (double)steps;
        if (t < best) best = t;
    }
    printf("I=%lld H=%lld threads=%d (%s%s%s): gru_step %.2f us per step; weights %.2f MB, "
           "read at %.1f GB/s\n", (long long)I, (long long)H, threads, gru_isa(m),
           int8 ? ", int8 " : bf16 ? ", bf16 " : "", int8 || bf16 ? gru_quant_isa(m) : "",
           best * 1e6, bytes / 1e6, bytes / best / 1e9);
    gru_destroy(m);
    free(w); free(x); free(h); free(scratch);
    return 0;
}
