/* bench/forward_c.c - one GRU layer's forward (inference) or forward + backward
 * (training) from C, for A/B comparisons of two builds of libgru without Python in
 * the way: link the same file against each build's libgru.a and run them in turns.
 *
 *   make -C c
 *   cc -O2 -Ic/include bench/forward_c.c c/build/libgru.a -lm -pthread -o c/build/forward_c
 *   c/build/forward_c T B I H train [reps [label [format]]]   e.g. 50 128 1024 1024 0 3 new
 *
 * format "int8" or "bf16" (inference only): the model is quantized (gru_quantize) and
 * the quantized model runs; "f32" (default) the float model.
 * Prints the best time of `reps` calls and the matmul GFLOP/s (2T*B*3H(I+H), x3 for
 * training), float32, one thread (GRU_NUM_THREADS applies). Weights are a fixed
 * pattern (values do not change the time); batch-first 0, no lengths.
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

static float *filled(size_t n, int mul, int mod, float scale, float shift)
{
    float *a = malloc(n * sizeof *a);
    if (a)
        for (size_t i = 0; i < n; i++) a[i] = (float)((i * (size_t)mul) % (size_t)mod) * scale + shift;
    return a;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s T B I H train [reps [label [f32|int8|bf16]]]\n", argv[0]);
        return 2;
    }
    const int64_t T = atoll(argv[1]), B = atoll(argv[2]), I = atoll(argv[3]), H = atoll(argv[4]);
    const int train = atoi(argv[5]), reps = argc > 6 ? atoi(argv[6]) : 3;
    const char *label = argc > 7 ? argv[7] : "libgru", *fmt = argc > 8 ? argv[8] : "f32";
    const int32_t qf = strcmp(fmt, "int8") == 0 ? GRU_INT8 : strcmp(fmt, "bf16") == 0 ? GRU_BF16 : 0;
    if (!qf && strcmp(fmt, "f32") != 0) { fprintf(stderr, "unknown format %s\n", fmt); return 2; }
    if (qf && train) { fprintf(stderr, "a quantized model is inference-only\n"); return 2; }
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    gru_model *m = NULL;
    int st = gru_create(&cfg, &m);
    if (st) { fprintf(stderr, "gru_create: %s\n", gru_strerror(st)); return 1; }
    const size_t nw = (size_t)(3 * H * I), nh = (size_t)(3 * H * H);
    const size_t nx = (size_t)(T * B * I), no = (size_t)(T * B * H);
    float *wi = filled(nw, 7, 13, 0.01f, -0.06f), *wh = filled(nh, 3, 17, 0.01f, -0.08f);
    float *x = filled(nx, 5, 11, 0.1f, -0.5f), *go = filled(no, 1, 1, 0, 1e-3f);
    float *out = malloc(no * sizeof *out), *gx = malloc(nx * sizeof *gx);
    size_t wsb = 0;
    if (!wi || !wh || !x || !go || !out || !gx ||
        gru_param_set(m, "weight_ih_l0", wi, nw) || gru_param_set(m, "weight_hh_l0", wh, nh)) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    if (qf) {
        gru_model *q = NULL;
        if ((st = gru_quantize(m, qf, &q))) { fprintf(stderr, "gru_quantize: %s\n", gru_strerror(st)); return 1; }
        gru_destroy(m);
        m = q;
    }
    if (gru_workspace_size(m, T, B, train, &wsb)) {
        fprintf(stderr, "gru_workspace_size failed\n");
        return 1;
    }
    void *ws = malloc(wsb ? wsb : 8);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        st = gru_forward(m, train, T, B, 0, x, NULL, NULL, out, NULL, ws, wsb);
        if (!st && train) st = gru_backward(m, T, B, 0, x, ws, wsb, go, NULL, gx, NULL);
        const double t = now() - t0;
        if (st) { fprintf(stderr, "gru: %s\n", gru_strerror(st)); return 1; }
        if (t < best) best = t;
    }
    const double flops = 2.0 * (double)T * (double)B * 3.0 * (double)H * (double)(I + H) *
                         (train ? 3 : 1);
    printf("%s %lld,%lld,%lld,%lld %s %s%s%s: %.2f ms, %.1f GFLOP/s\n", label, (long long)T,
           (long long)B, (long long)I, (long long)H, train ? "train" : "infer", fmt,
           qf ? " " : "", qf ? gru_quant_isa(m) : "", best * 1e3,
           flops / best / 1e9);
    gru_destroy(m);
    free(wi); free(wh); free(x); free(go); free(out); free(gx); free(ws);
    return 0;
}
