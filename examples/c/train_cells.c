/*
 * train_cells.c - training libgru's GRU variants from C: the plain GRU, the
 * layer-normalised GRU (layer_norm), zoneout, DropConnect on W_hh (weight_dropout) and
 * AUGRU (augru, with attention scores), each on the same small task, by plain gradient
 * descent on the model's own parameter and gradient storage (gru_param_data,
 * gru_grad_data: no copies), then saved with gru_save, loaded back with gru_load and
 * checked to give bitwise the same inference output.
 *
 * The task: B sequences of T steps of I = 2 features; step t of sequence b is "marked"
 * with probability 1/2 (the attention score a[t][b] is 1 there, 0 elsewhere, and
 * feature 1 of x carries the same mark so the variants without attention can see it);
 * the target is 0.5 times the mean of feature 0 over the marked steps. The prediction
 * is unit 0 of the final state h_n; the loss is the mean squared error over the batch.
 *
 * For each variant the program prints the validation loss before and after training
 * and exits 0 if every variant at least halved it and every reloaded model agrees
 * bitwise; else it prints what failed and exits 1.
 *
 *   cc train_cells.c $(pkg-config --cflags --libs gru) -lm -o train_cells
 *   ./train_cells [folder for the model files, default .]
 */
#include <gru.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { I = 2, H = 8, T = 20, B = 32, STEPS = 300 };

#define TRY(call)                                                                        \
    do {                                                                                 \
        gru_status st_ = (call);                                                         \
        if (st_ != GRU_OK) {                                                             \
            fprintf(stderr, "train_cells: %s failed: %s\n", #call, gru_strerror(st_));  \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

/* A small deterministic generator (xorshift64*), uniform in [0, 1). */
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* One batch of the task: x (T, B, I), a (T, B), y (B). */
static void make_batch(uint64_t *s, float x[T][B][I], float a[T][B], float y[B])
{
    for (int b = 0; b < B; b++) {
        double sum = 0;
        int marked = 0;
        for (int t = 0; t < T; t++) {
            const int m = uniform(s) < 0.5;
            x[t][b][0] = (float)(2 * uniform(s) - 1);
            x[t][b][1] = (float)m;
            a[t][b] = (float)m;
            if (m) { sum += x[t][b][0]; marked++; }
        }
        y[b] = marked ? (float)(0.5 * sum / marked) : 0.0f;
    }
}

/* Runs the model over a batch: h_n (1, B, H); training fills ws for backward. */
static gru_status run(gru_model *m, int augru, int training, float x[T][B][I], float a[T][B],
                      float *out, float *hn, void *ws, size_t wsb)
{
    if (augru)
        return gru_forward_att(m, training, T, B, 0, x, a, NULL, NULL, out, hn, ws, wsb);
    return gru_forward(m, training, T, B, 0, x, NULL, NULL, out, hn, ws, wsb);
}

/* Mean squared error of unit 0 of h_n (1, B, H) against y (B). */
static double mse(const float *hn, const float y[B])
{
    double s = 0;
    for (int b = 0; b < B; b++) s += (hn[b * H] - y[b]) * (double)(hn[b * H] - y[b]);
    return s / B;
}

/* Trains one variant; *before, *after: validation loss; *same: the reloaded model's
 * inference output equals the trained one's bitwise. */
static int train(const char *name, const gru_config *cfg, const char *path, double *before,
                 double *after, int *same)
{
    static float x[T][B][I], a[T][B], y[B], vx[T][B][I], va[T][B], vy[B];
    static float out[T][B][H], hn[B][H], dhn[B][H], out2[T][B][H], hn2[B][H];
    gru_model *m = NULL, *back = NULL;
    void *ws = NULL;
    size_t wsb = 0, count = 0;
    uint64_t s = 12345;
    char msg[256];
    int rc = 1;

    TRY(gru_create(cfg, &m));
    /* weights uniform in [-1/sqrt(H), 1/sqrt(H)] as torch initialises a GRU; the
     * layer-norm gains stay 1 and their biases 0 (gru_create's values) */
    TRY(gru_param_count(m, &count));
    for (size_t k = 0; k < count; k++) {
        const char *pname;
        float *p;
        size_t n;
        TRY(gru_param_info(m, k, &pname, NULL, NULL));
        if (strncmp(pname, "layer_norm_", 11) == 0) continue;
        TRY(gru_param_data(m, pname, (void **)&p, &n));
        for (size_t i = 0; i < n; i++) p[i] = (float)((2 * uniform(&s) - 1) / sqrt((double)H));
    }
    TRY(gru_params_changed(m, NULL));
    TRY(gru_workspace_size(m, T, B, 1, &wsb));
    ws = malloc(wsb);
    if (!ws) goto fail;

    uint64_t vs = 777;   /* one fixed validation batch */
    make_batch(&vs, vx, va, vy);
    TRY(run(m, cfg->augru, 0, vx, va, &out[0][0][0], &hn[0][0], NULL, 0));
    *before = mse(&hn[0][0], vy);

    for (int step = 0; step < STEPS; step++) {
        make_batch(&s, x, a, y);
        TRY(run(m, cfg->augru, 1, x, a, &out[0][0][0], &hn[0][0], ws, wsb));
        /* dLoss/dh_n: 2 (h_n[b, 0] - y[b]) / B on unit 0, 0 elsewhere */
        memset(dhn, 0, sizeof dhn);
        for (int b = 0; b < B; b++) dhn[b][0] = 2.0f * (hn[b][0] - y[b]) / B;
        TRY(gru_zero_grad(m));
        if (cfg->augru)
            TRY(gru_backward_att(m, T, B, 0, x, ws, wsb, NULL, dhn, NULL, NULL, NULL));
        else
            TRY(gru_backward(m, T, B, 0, x, ws, wsb, NULL, dhn, NULL, NULL));
        /* p -= lr * grad, on the model's own storage */
        for (size_t k = 0; k < count; k++) {
            const char *pname;
            float *p, *g;
            size_t n;
            TRY(gru_param_info(m, k, &pname, NULL, NULL));
            TRY(gru_param_data(m, pname, (void **)&p, &n));
            TRY(gru_grad_data(m, pname, (void **)&g, NULL));
            for (size_t i = 0; i < n; i++) p[i] -= 0.5f * g[i];
        }
        TRY(gru_params_changed(m, NULL));
    }
    TRY(run(m, cfg->augru, 0, vx, va, &out[0][0][0], &hn[0][0], NULL, 0));
    *after = mse(&hn[0][0], vy);

    /* the model file: saved, loaded, the same bits out */
    TRY(gru_save(m, path));
    if (gru_load(path, &back, msg, sizeof msg) != GRU_OK) {
        fprintf(stderr, "train_cells: gru_load(%s): %s\n", path, msg);
        goto fail;
    }
    TRY(run(back, cfg->augru, 0, vx, va, &out2[0][0][0], &hn2[0][0], NULL, 0));
    *same = memcmp(out, out2, sizeof out) == 0 && memcmp(hn, hn2, sizeof hn) == 0;
    printf("%-16s validation MSE %.5f -> %.5f   reloaded from %s: %s\n", name, *before,
           *after, path, *same ? "bitwise equal" : "DIFFERENT");
    rc = 0;
fail:
    free(ws);
    gru_destroy(back);
    gru_destroy(m);
    return rc;
}

int main(int argc, char **argv)
{
    const char *folder = argc > 1 ? argv[1] : ".";
    static const char *const names[] = {"plain", "layer_norm", "zoneout", "weight_dropout",
                                        "augru"};
    int failed = 0;

    if (gru_abi_version() != GRU_ABI_VERSION) {
        fprintf(stderr, "train_cells: built against ABI %d, loaded ABI %d\n",
                GRU_ABI_VERSION, gru_abi_version());
        return 1;
    }
    for (int v = 0; v < 5; v++) {
        gru_config cfg;
        char path[1024];
        double before = 0, after = 0;
        int same = 0;
        gru_config_init(&cfg);
        cfg.input_size = I;
        cfg.hidden_size = H;
        cfg.seed = 7;
        if (v == 1) cfg.layer_norm = 1;
        if (v == 2) cfg.zoneout = 0.1;
        if (v == 3) cfg.weight_dropout = 0.2;
        if (v == 4) cfg.augru = 1;
        snprintf(path, sizeof path, "%s/train_cells_%s.safetensors", folder, names[v]);
        if (train(names[v], &cfg, path, &before, &after, &same) != 0) return 1;
        if (!(after <= 0.5 * before) || !same) {
            fprintf(stderr, "train_cells: %s: loss %.5f -> %.5f%s\n", names[v], before, after,
                    same ? "" : ", reloaded model differs");
            failed = 1;
        }
    }
    return failed;
}
