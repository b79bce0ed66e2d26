/* bench/step_c.c - the streaming step from C: gru_step for B = 1 (caller scratch, state
 * in place, nothing allocated), and the rate at which it reads the model's weights
 * (3H(I+H) values per step for the first layer, 3H(2H) for each further layer), the
 * quantity that bounds a one-step GEMV.
 *
 *   make -C c
 *   cc -O2 -Ic/include bench/step_c.c c/build/libgru.a -lm -pthread \
 *      -o c/build/step_c
 *   c/build/step_c [I H [threads [steps [formats [layers]]]]]
 *                                     (default 256 256 1 20000 f32 1)
 *
 * formats: one or more of "f32" (the float32 model), "int8", "bf16" (the model quantized
 * with gru_quantize, GRU_INT8 / GRU_BF16; weights 1 or 2 bytes per value), separated by
 * commas, e.g. f32,int8,bf16: the models are timed alternately, round by round. layers:
 * the number of stacked layers (I -> H, then H -> H). Weights and biases: the fixed
 * pseudo-random values of bench_set_params (bench/bench_util.h, with the clock and the
 * timed block of steps; step_bound.c's too).
 *
 * Prints, per model in the order given, the best and the median per-step time over 15
 * rounds of `steps` steps, and the weight bytes read per second at the best time. Exit
 * status 1 (with gru_strerror's message) when the library refuses a call, 2 on bad
 * arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <gru.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define ROUNDS 15
#define MAX_MODELS 3

/* The model to step: float32, or its int8 / bf16 quantization (fmt 0, 1, 2). */
static int make_model(int64_t I, int64_t H, int layers, int threads, int fmt, gru_model **out)
{
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = layers;
    gru_model *m;
    int st = gru_create(&cfg, &m);
    if (st != GRU_OK) return st;
    st = bench_set_params(m, I, H, layers);
    if (st == GRU_OK && fmt != 0) {
        gru_model *q;
        st = gru_quantize(m, fmt == 1 ? GRU_INT8 : GRU_BF16, &q);
        gru_destroy(m);
        m = st == GRU_OK ? q : NULL;
    }
    if (st == GRU_OK) st = gru_set_num_threads(m, threads);
    if (st != GRU_OK) gru_destroy(m);
    *out = st == GRU_OK ? m : NULL;
    return st;
}

static int parse_format(const char *f, size_t n)
{
    if (n == 3 && strncmp(f, "f32", 3) == 0) return 0;
    if (n == 4 && strncmp(f, "int8", 4) == 0) return 1;
    if (n == 4 && strncmp(f, "bf16", 4) == 0) return 2;
    return -1;
}

/* "f32,int8,bf16" -> fmts[] (0 f32, 1 int8, 2 bf16); returns the count, -1 if bad. */
static int parse_formats(const char *list, int fmts[MAX_MODELS])
{
    int n = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        const int f = parse_format(p, len);
        if (f < 0 || n == MAX_MODELS) return -1;
        fmts[n++] = f;
        p += len + (e ? 1 : 0);
    }
    return n;
}

static void report(gru_model *m, int fmt, int64_t I, int64_t H, int layers, int threads,
                   double *t)
{
    const size_t width = fmt == 0 ? sizeof(float) : fmt == 1 ? 1 : 2;
    const size_t bytes = (size_t)(3 * H * (I + H) + (layers - 1) * 3 * H * 2 * H) * width;
    bench_sort(t, ROUNDS);
    printf("I=%lld H=%lld layers=%d threads=%d (%s%s%s%s): gru_step %.2f us per step "
           "(median %.2f us); weights %.2f MB, read at %.1f GB/s\n", (long long)I,
           (long long)H, layers, threads, gru_isa(m), fmt ? ", " : "",
           fmt ? (fmt == 1 ? "int8 " : "bf16 ") : "", fmt ? gru_quant_isa(m) : "",
           t[0] * 1e6, t[ROUNDS / 2] * 1e6, bytes / 1e6, bytes / t[0] / 1e9);
}

int main(int argc, char **argv)
{
    const int64_t I = argc > 1 ? atoll(argv[1]) : 256, H = argc > 2 ? atoll(argv[2]) : 256;
    const int threads = argc > 3 ? atoi(argv[3]) : 1;
    const long steps = argc > 4 ? atol(argv[4]) : 20000;
    const char *formats = argc > 5 ? argv[5] : "f32";
    const int layers = argc > 6 ? atoi(argv[6]) : 1;
    int fmts[MAX_MODELS];
    const int nm = parse_formats(formats, fmts);
    if (nm < 1 || I < 1 || H < 1 || threads < 1 || steps < 1 || layers < 1) {
        fprintf(stderr, "usage: step_c [I H [threads [steps [f32|int8|bf16[,...] [layers]]]]] "
                "(positive sizes, at most %d formats); got formats %s\n", MAX_MODELS, formats);
        return 2;
    }
    gru_model *m[MAX_MODELS] = {NULL};
    size_t sb = 0, need;
    int st = GRU_OK;
    for (int k = 0; k < nm && st == GRU_OK; k++) {
        st = make_model(I, H, layers, threads, fmts[k], &m[k]);
        if (st == GRU_OK) st = gru_step_scratch_size(m[k], 1, &need);
        if (st == GRU_OK && need > sb) sb = need;
    }
    void *scratch = malloc(sb ? sb : 1);
    float *x = calloc((size_t)I, sizeof *x);                  /* (1, I) */
    float *h = calloc((size_t)(H * layers), sizeof *h);       /* (layers, 1, H) */
    if (st == GRU_OK && !(scratch && x && h)) st = GRU_ERR_NO_MEMORY;
    if (st != GRU_OK) {
        fprintf(stderr, "step_c: %s\n", gru_strerror(st));
        return 1;
    }
    for (int64_t i = 0; i < I; i++) x[i] = 0.5f;

    /* Rounds alternate between the models (a slow patch of a shared machine hits all). */
    static double t[MAX_MODELS][ROUNDS];
    for (int k = 0; k < nm; k++) bench_time_steps(m[k], steps / 4 + 1, x, h, scratch, sb);
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < nm; k++) t[k][r] = bench_time_steps(m[k], steps, x, h, scratch, sb);
    for (int k = 0; k < nm; k++) {
        report(m[k], fmts[k], I, H, layers, threads, t[k]);
        gru_destroy(m[k]);
    }
    free(x); free(h); free(scratch);
    return 0;
}
