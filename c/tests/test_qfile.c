/*
 * test_qfile.c - model files of int8 models (docs/quantization.md, "Model files"):
 *  - gru_save of an int8 model, gru_load_file of the file: an int8 model whose
 *    quantized weights, scales, parameters and forward / step results are bitwise the
 *    saved model's (both variants, biases or not, 2 layers, bidirectional, a GRUCell's
 *    names through the corpus); saving the loaded model gives the same bytes;
 *  - the checks the reader adds for int8 files (the crafted files of
 *    tests/data/modelfiles cover the rest in both languages).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole content of path (malloc'd) and its size; NULL on failure. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* forward (T, B) of a and b (same x, h0, lengths): equal bits in output and h_n. */
static void same_forward(gru_model *a, gru_model *b, const gru_config *cfg, int64_t T,
                         int64_t B, rng *g)
{
    const int64_t D = cfg->bidirectional ? 2 : 1, H = cfg->hidden_size;
    const size_t nx = (size_t)(T * B * cfg->input_size), no = (size_t)(T * B * D * H),
                 nh = (size_t)(cfg->num_layers * D * B * H);
    float *x = malloc(nx * 4), *h0 = malloc(nh * 4), *o[2], *hn[2];
    int32_t *len = malloc((size_t)B * 4);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_uniform(g, -2, 2);
    for (size_t i = 0; i < nh; i++) h0[i] = (float)rng_uniform(g, -1, 1);
    for (int64_t i = 0; i < B; i++) len[i] = (int32_t)(1 + (T - 1) * (i % 2));
    gru_model *m[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        size_t ws = 0;
        o[k] = calloc(no, 4);
        hn[k] = calloc(nh, 4);
        CHECK_OK(gru_workspace_size(m[k], T, B, 0, &ws));
        void *w = malloc(ws);
        CHECK_OK(gru_forward(m[k], 0, T, B, 0, x, h0, len, o[k], hn[k], w, ws));
        free(w);
    }
    CHECK(memcmp(o[0], o[1], no * 4) == 0);
    CHECK(memcmp(hn[0], hn[1], nh * 4) == 0);
    for (int k = 0; k < 2; k++) { free(o[k]); free(hn[k]); }
    free(x); free(h0); free(len);
}

/* One configuration: quantize, save, load, compare, save again. */
static void roundtrip(int64_t I, int64_t H, int64_t L, int bidir, int bias, int ra,
                      const char *dir)
{
    rng g = {(uint64_t)(I * 1000 + H * 10 + L + bidir * 7 + bias * 3 + ra)};
    gru_config cfg = make_config(I, H, L, bidir, bias, ra, GRU_FLOAT32);
    tmodel tm;
    check_set_ctx("I=%lld H=%lld L=%lld bidir=%d bias=%d ra=%d", (long long)I, (long long)H,
                  (long long)L, bidir, bias, ra);
    if (!tmodel_create(&tm, &cfg, &g, 0.5)) return;
    gru_model *q = NULL, *r = NULL;
    char p1[512], p2[512], msg[256];
    snprintf(p1, sizeof p1, "%s/a.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/b.safetensors", dir);
    REQUIRE_OK(gru_quantize(tm.m, GRU_INT8, &q), goto done);
    CHECK_OK(gru_save(q, p1));
    gru_file_info info;
    gru_status st = gru_load_file(p1, &r, &info, msg, sizeof msg);
    CHECK_MSG(st == GRU_OK, "gru_load_file: %s", msg);
    if (!r) goto done;
    CHECK_INT_EQ(gru_quant_format(r), GRU_INT8);
    CHECK(strcmp(gru_quant_isa(r), gru_quant_isa(q)) == 0);
    for (size_t t = 0; t < tmodel_ntensors(&tm); t++) {
        const char *name;
        int64_t shape[2];
        int ndim;
        REQUIRE_OK(gru_param_info(q, t, &name, &ndim, shape), break);
        const size_t n = (size_t)(ndim == 2 ? shape[0] * shape[1] : shape[0]);
        float *a = malloc(n * 4), *b = malloc(n * 4);
        CHECK_OK(gru_param_get(q, name, a, n));
        CHECK_OK(gru_param_get(r, name, b, n));
        CHECK_MSG(memcmp(a, b, n * 4) == 0, "parameter %s", name);
        free(a); free(b);
    }
    same_forward(q, r, &cfg, 7, 3, &g);
    same_forward(q, r, &cfg, 1, 1, &g);
    CHECK_OK(gru_save(r, p2));
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1); free(b2);
done:
    gru_destroy(q);
    gru_destroy(r);
    tmodel_free(&tm);
    unlink(p1);
    unlink(p2);
    check_set_ctx("%s", "");
}

void test_qfile(void)
{
    char dir[] = "/tmp/gru_qfile_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL, return);
    roundtrip(5, 7, 1, 0, 1, 1, dir);
    roundtrip(5, 7, 1, 0, 1, 0, dir);
    roundtrip(3, 17, 2, 1, 0, 1, dir);
    roundtrip(70, 33, 2, 0, 1, 0, dir);
    roundtrip(4, 16, 3, 1, 1, 1, dir);
    rmdir(dir);
}
