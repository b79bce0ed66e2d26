/*
 * test_qfile.c - model files of int8 and bf16 models (docs/quantization.md, "Model
 * files"):
 *  - gru_save of an int8 or bf16 model, gru_load_file of the file: a model of the same
 *    format and kernel set whose quantized weights (int8: values and scales), parameters
 *    and forward / step results are bitwise the saved model's (both variants, biases or
 *    not, 2 and 3 layers, bidirectional; bf16 also with NaN, infinite and subnormal
 *    weights); saving the loaded model gives the same bytes;
 *  - a bf16 file's bytes: BF16 weights holding the model's bf16 values, no scales;
 *  - bf16 files edited into refused ones (int8 metadata, wrong byte length, truncated);
 *    the crafted files of tests/data/modelfiles cover every rule in both languages.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
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

/* T steps of gru_step on a and b (a unidirectional model; same frames): equal bits in
 * every output and in the final state. */
static void same_step(gru_model *a, gru_model *b, const gru_config *cfg, int64_t T,
                      int64_t B, rng *g)
{
    const size_t nx = (size_t)(B * cfg->input_size), H = (size_t)cfg->hidden_size,
                 ns = (size_t)(cfg->num_layers * B) * H;
    float *x = malloc(nx * 4), *s[2], *o[2];
    gru_model *m[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        s[k] = calloc(ns, 4);
        o[k] = calloc((size_t)B * H, 4);
    }
    for (int64_t t = 0; t < T; t++) {
        for (size_t i = 0; i < nx; i++) x[i] = (float)rng_uniform(g, -2, 2);
        for (int k = 0; k < 2; k++) CHECK_OK(gru_step(m[k], B, x, s[k], o[k], NULL, 0));
        CHECK_MSG(memcmp(o[0], o[1], (size_t)B * H * 4) == 0, "step %lld", (long long)t);
    }
    CHECK(memcmp(s[0], s[1], ns * 4) == 0);
    for (int k = 0; k < 2; k++) { free(s[k]); free(o[k]); }
    free(x);
}

/* Every parameter of a and b (as gru_param_get gives them: int8 dequantized, bf16 the
 * bf16 values) bitwise equal; int8: also the values and scales (gru_quant_weight_get). */
static void same_params(gru_model *a, gru_model *b, size_t ntensors)
{
    for (size_t t = 0; t < ntensors; t++) {
        const char *name;
        int64_t shape[2];
        int ndim;
        REQUIRE_OK(gru_param_info(a, t, &name, &ndim, shape), break);
        const size_t n = (size_t)(ndim == 2 ? shape[0] * shape[1] : shape[0]);
        float *x = malloc(n * 4), *y = malloc(n * 4), *sx = malloc((size_t)shape[0] * 4),
              *sy = malloc((size_t)shape[0] * 4);
        CHECK_OK(gru_param_get(a, name, x, n));
        CHECK_OK(gru_param_get(b, name, y, n));
        CHECK_MSG(memcmp(x, y, n * 4) == 0, "parameter %s", name);
        if (ndim == 2 && gru_quant_format(a) == GRU_INT8) {
            int8_t *vx = malloc(n), *vy = malloc(n);
            CHECK_OK(gru_quant_weight_get(a, name, vx, n, sx, (size_t)shape[0]));
            CHECK_OK(gru_quant_weight_get(b, name, vy, n, sy, (size_t)shape[0]));
            CHECK_MSG(memcmp(vx, vy, n) == 0 && memcmp(sx, sy, (size_t)shape[0] * 4) == 0,
                      "int8 weight %s", name);
            free(vx); free(vy);
        }
        free(x); free(y); free(sx); free(sy);
    }
}

/* Sets a few weights of the float model m to NaN, +-infinity, a subnormal and values
 * beyond bf16's range (the bf16 model keeps NaN and infinities, rounds the rest). */
static void special_weights(gru_model *m, const gru_config *cfg)
{
    const size_t n = (size_t)(3 * cfg->hidden_size * cfg->hidden_size);
    float *w = malloc(n * 4);
    uint32_t snan = 0x7f800001u;   /* signalling: gru_quantize quiets it */
    REQUIRE_OK(gru_param_get(m, "weight_hh_l0", w, n), free(w); return);
    w[0] = NAN;
    w[1] = INFINITY;
    w[n - 1] = -INFINITY;
    w[2] = 1e-40f;
    w[3] = 3.4e38f;   /* rounds to infinity in bf16 */
    memcpy(&w[4], &snan, 4);
    CHECK_OK(gru_param_set(m, "weight_hh_l0", w, n));
    free(w);
}

/* save(q) -> p1, load -> r: same format, kernels, parameters, forward and steps; save(r)
 * -> p2 byte-identical to p1. */
static void roundtrip_check(gru_model *q, const gru_config *cfg, size_t ntensors,
                            const char *p1, const char *p2, rng *g)
{
    gru_model *r = NULL;
    char msg[256];
    gru_file_info info;
    CHECK_OK(gru_save(q, p1));
    gru_status st = gru_load_file(p1, &r, &info, msg, sizeof msg);
    CHECK_MSG(st == GRU_OK && r, "gru_load_file: %s", msg);
    if (!r) return;
    CHECK_INT_EQ(gru_quant_format(r), gru_quant_format(q));
    CHECK(strcmp(gru_quant_isa(r), gru_quant_isa(q)) == 0);
    same_params(q, r, ntensors);
    same_forward(q, r, cfg, 7, 3, g);
    same_forward(q, r, cfg, 1, 1, g);
    if (!cfg->bidirectional && !cfg->reverse) same_step(q, r, cfg, 6, 2, g);
    CHECK_OK(gru_save(r, p2));
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1); free(b2);
    gru_destroy(r);
}

/* One configuration in format fmt: quantize, save, load, compare, save again. special:
 * NaN / infinite / subnormal weights first (special_weights). */
static void roundtrip(int32_t fmt, int64_t I, int64_t H, int64_t L, int bidir, int bias,
                      int ra, int special, const char *dir)
{
    rng g = {(uint64_t)(I * 1000 + H * 10 + L + bidir * 7 + bias * 3 + ra)};
    gru_config cfg = make_config(I, H, L, bidir, bias, ra, GRU_FLOAT32);
    tmodel tm;
    check_set_ctx("%s I=%lld H=%lld L=%lld bidir=%d bias=%d ra=%d%s",
                  fmt == GRU_BF16 ? "bf16" : "int8", (long long)I, (long long)H, (long long)L,
                  bidir, bias, ra, special ? " NaN/inf weights" : "");
    if (!tmodel_create(&tm, &cfg, &g, 0.5)) return;
    if (special) special_weights(tm.m, &cfg);
    gru_model *q = NULL;
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/a.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/b.safetensors", dir);
    if (CHECK_OK(gru_quantize(tm.m, fmt, &q))) roundtrip_check(q, &cfg, tmodel_ntensors(&tm), p1, p2, &g);
    gru_destroy(q);
    tmodel_free(&tm);
    unlink(p1);
    unlink(p2);
    check_set_ctx("%s", "");
}

/* The first occurrence of the string s in the n bytes at b, or NULL. */
static unsigned char *find(unsigned char *b, size_t n, const char *s)
{
    const size_t k = strlen(s);
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (memcmp(b + i, s, k) == 0) return b + i;
    return NULL;
}

/* The little-endian uint16 at p. */
static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* A bf16 file's layout: the metadata says bf16, weights are BF16 holding exactly the
 * high halves of the model's float32 weights (its bf16 values), no scales, biases F32. */
static void bf16_bytes(const char *dir)
{
    rng g = {91};
    gru_config cfg = make_config(3, 4, 1, 0, 1, 1, GRU_FLOAT32);
    tmodel tm;
    gru_model *q = NULL;
    char p[512];
    float w[36], b[12];
    snprintf(p, sizeof p, "%s/bytes.safetensors", dir);
    check_set_ctx("bf16 file bytes");
    if (!tmodel_create(&tm, &cfg, &g, 0.5)) return;
    size_t n = 0;
    unsigned char *f = NULL;
    if (!CHECK_OK(gru_quantize(tm.m, GRU_BF16, &q)) || !CHECK_OK(gru_save(q, p)) ||
        !CHECK((f = slurp(p, &n)) != NULL && n > 8)) goto done;
    const size_t hl = (size_t)le16(f) | (size_t)le16(f + 2) << 16;
    unsigned char *h = f + 8;
    CHECK(find(h, hl, "\"quantization\":\"bf16\"") != NULL);
    CHECK(find(h, hl, "\"weight_ih_l0\":{\"dtype\":\"BF16\",\"shape\":[12,3],"
               "\"data_offsets\":[0,72]}") != NULL);
    CHECK(find(h, hl, "\"bias_ih_l0\":{\"dtype\":\"F32\"") != NULL);
    CHECK(find(h, hl, ".scale") == NULL);
    CHECK_INT_EQ((long long)n, (long long)(8 + hl + 72 + 96 + 48 + 48));
    CHECK_OK(gru_param_get(q, "weight_ih_l0", w, 36));
    CHECK_OK(gru_param_get(q, "bias_ih_l0", b, 12));
    int same = 1;
    for (size_t i = 0; i < 36; i++) {
        uint32_t u;
        memcpy(&u, &w[i], 4);
        same &= (u & 0xffffu) == 0 && le16(f + 8 + hl + 2 * i) == (u >> 16);
    }
    CHECK_MSG(same, "weight_ih_l0's BF16 bytes are the model's bf16 values");
    CHECK(memcmp(f + 8 + hl + 168, b, 48) == 0);
done:
    free(f);
    gru_destroy(q);
    tmodel_free(&tm);
    unlink(p);
    check_set_ctx("%s", "");
}

/* Writes n bytes of b to path and expects gru_load_file to refuse it with GRU_ERR_FORMAT
 * and a message holding frag. */
static void refused(const char *path, const unsigned char *b, size_t n, const char *frag)
{
    char msg[512];
    gru_model *m = NULL;
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(b, 1, n, f) == n, if (f) fclose(f); return);
    fclose(f);
    const gru_status st = gru_load_file(path, &m, NULL, msg, sizeof msg);
    CHECK_MSG(st == GRU_ERR_FORMAT && !m && strstr(msg, frag), "status %d, \"%s\", want \"%s\"",
              (int)st, msg, frag);
    gru_destroy(m);
}

/* Replaces the first occurrence of a in the n bytes of b by c (same length). */
static int patch(unsigned char *b, size_t n, const char *a, const char *c)
{
    unsigned char *p = find(b, n, a);
    if (p) memcpy(p, c, strlen(c));
    return p != NULL;
}

/* A saved bf16 file edited: its metadata says int8 (BF16 weight named), a weight's
 * dtype F32 (its byte length no longer matches), truncated. */
static void bf16_refusals(const char *dir)
{
    rng g = {92};
    gru_config cfg = make_config(3, 4, 2, 0, 1, 1, GRU_FLOAT32);
    tmodel tm;
    gru_model *q = NULL;
    char p[512], bad[512];
    snprintf(p, sizeof p, "%s/r.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    check_set_ctx("bf16 refusals");
    if (!tmodel_create(&tm, &cfg, &g, 0.5)) return;
    size_t n = 0;
    unsigned char *f = NULL;
    if (CHECK_OK(gru_quantize(tm.m, GRU_BF16, &q)) && CHECK_OK(gru_save(q, p)) &&
        CHECK((f = slurp(p, &n)) != NULL)) {
        CHECK(patch(f, n, "\"bf16\"", "\"int8\""));
        refused(bad, f, n, "tensor 'weight_ih_l0' has dtype BF16 in a file without quantization bf16");
        CHECK(patch(f, n, "\"int8\"", "\"bf16\"") && patch(f, n, "\"BF16\"", "\"F32\" "));
        refused(bad, f, n, "tensor 'weight_ih_l0': its shape and dtype need 144 bytes, "
                "data_offsets give 72");
        CHECK(patch(f, n, "\"F32\" ", "\"BF16\""));
        refused(bad, f, n - 1, "truncated");
    }
    free(f);
    gru_destroy(q);
    tmodel_free(&tm);
    unlink(p);
    unlink(bad);
    check_set_ctx("%s", "");
}

void test_qfile(void)
{
    char dir[] = "/tmp/gru_qfile_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL, return);
    for (int32_t fmt = GRU_INT8; fmt <= GRU_BF16; fmt++) {
        roundtrip(fmt, 5, 7, 1, 0, 1, 1, 0, dir);
        roundtrip(fmt, 5, 7, 1, 0, 1, 0, 0, dir);
        roundtrip(fmt, 3, 17, 2, 1, 0, 1, 0, dir);
        roundtrip(fmt, 70, 33, 2, 0, 1, 0, 0, dir);
        roundtrip(fmt, 4, 16, 3, 1, 1, 1, 0, dir);
    }
    roundtrip(GRU_BF16, 6, 9, 2, 0, 1, 1, 1, dir);
    roundtrip(GRU_BF16, 6, 9, 1, 0, 0, 0, 1, dir);
    bf16_bytes(dir);
    bf16_refusals(dir);
    rmdir(dir);
}
