/*
 * test_modelfile.c - gru_save / gru_load: round trips over configurations (every
 * parameter bitwise, the configuration equal), a GRUCell-named file and a file without
 * pygru metadata (as the safetensors package writes torch state dicts), and malformed
 * files, each rejected with GRU_ERR_FORMAT (or GRU_ERR_IO) and a message naming the
 * problem, never a crash (the suite also runs under ASan/UBSan).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static void write_file(const char *path, const char *header, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    const size_t len = strlen(header);
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((unsigned long long)len >> (8 * k));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, len, f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void roundtrip(int dtype, int64_t I, int64_t H, int64_t L, int bidir, int bias, int ra,
                      double dropout, rng *g)
{
    check_set_ctx("modelfile round trip %s I=%lld H=%lld L=%lld bidir=%d bias=%d ra=%d",
                  dtype == GRU_FLOAT64 ? "f64" : "f32", (long long)I, (long long)H,
                  (long long)L, bidir, bias, ra);
    gru_config cfg = make_config(I, H, L, bidir, bias, ra, dtype);
    cfg.dropout = dropout;
    cfg.input_dropout = dropout / 2;
    cfg.recurrent_dropout = dropout / 3;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.5)) return;
    const char *path = tmp_path("rt.safetensors");
    CHECK_OK(gru_save(tm.m, path));
    gru_model *back = NULL;
    char msg[256];
    if (CHECK_OK(gru_load(path, &back, msg, sizeof msg))) {
        gru_config c2;
        gru_get_config(back, &c2);
        CHECK(c2.input_size == I && c2.hidden_size == H && c2.num_layers == L &&
              c2.bidirectional == bidir && c2.bias == bias && c2.reset_after == ra &&
              c2.dtype == dtype && c2.dropout == dropout &&
              c2.input_dropout == dropout / 2 && c2.recurrent_dropout == dropout / 3);
        CHECK_MSG(msg[0] == '\0', "message empty on success: \"%s\"", msg);
        size_t count;
        gru_param_count(tm.m, &count);
        int same = 1;
        for (size_t p = 0; p < count; p++) {
            const char *name;
            int ndim;
            int64_t shape[2];
            gru_param_info(tm.m, p, &name, &ndim, shape);
            const size_t n = (size_t)(shape[0] * (ndim == 2 ? shape[1] : 1));
            void *a = malloc(n * 8), *b = malloc(n * 8);
            gru_param_get(tm.m, name, a, n);
            same &= gru_param_get(back, name, b, n) == GRU_OK &&
                    memcmp(a, b, n * dtype_size(dtype)) == 0;
            free(a);
            free(b);
        }
        CHECK_MSG(same, "every parameter bitwise equal after the round trip");
    }
    gru_destroy(back);
    tmodel_free(&tm);
}

/* Loads path, expects status st and a message containing `want`. */
static void expect_bad(const char *what, const char *path, int st, const char *want)
{
    check_set_ctx("modelfile malformed: %s", what);
    gru_model *m = (gru_model *)&m;   /* must be reset to NULL */
    char msg[512];
    CHECK_STATUS(gru_load(path, &m, msg, sizeof msg), st);
    CHECK(m == NULL);
    CHECK_MSG(strstr(msg, want) != NULL, "message \"%s\" should mention \"%s\"", msg, want);
}

/* A 1-layer GRU, I = 1, H = 1 (weights (3, 1)), header text with %s for extra members. */
#define META "\"__metadata__\":{\"format\":\"pygru\",\"format_version\":\"1\",\"class\":\"GRU\"," \
             "\"input_size\":\"1\",\"hidden_size\":\"1\",\"num_layers\":\"1\",\"bias\":\"0\"," \
             "\"bidirectional\":\"0\",\"reset_after\":\"1\",\"dropout\":\"0.0\"}"
#define WIH "\"weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],\"data_offsets\":[0,12]}"
#define WHH "\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],\"data_offsets\":[12,24]}"

static void malformed(void)
{
    const float data[9] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0, 0, 0};   /* 24 bytes used */
    const char *p = tmp_path("bad.safetensors");
    /* the good one first, so that each case below fails for its own reason */
    write_file(p, "{" META "," WIH "," WHH "}", data, 24);
    gru_model *m = NULL;
    check_set_ctx("modelfile: the minimal good file");
    if (CHECK_OK(gru_load(p, &m, NULL, 0))) {
        float w[3];
        CHECK_OK(gru_param_get(m, "weight_hh_l0", w, 3));
        CHECK(w[0] == 0.4f && w[2] == 0.6f);
    }
    gru_destroy(m);

    write_file(p, "{" META "," WIH "," WHH "}", data, 20);
    expect_bad("truncated data", p, GRU_ERR_FORMAT, "(truncated?)");
    write_file(p, "{" META "," WIH "," WHH, data, 24);
    expect_bad("unterminated JSON", p, GRU_ERR_FORMAT, "not valid JSON");
    write_file(p, "{" META "," WIH ",," WHH "}", data, 24);
    expect_bad("bad JSON", p, GRU_ERR_FORMAT, "not valid JSON");
    write_file(p, "[1,2]", data, 24);
    expect_bad("not an object", p, GRU_ERR_FORMAT, "not a JSON object");
    write_file(p, "{" META "," WIH ",\"weight_hh_l0\":{\"dtype\":\"F16\",\"shape\":[3,1],"
               "\"data_offsets\":[12,18]}}", data, 24);
    expect_bad("unknown dtype", p, GRU_ERR_FORMAT, "dtype F16");
    write_file(p, "{" META "," WIH ",\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[4,1],"
               "\"data_offsets\":[12,24]}}", data, 24);
    expect_bad("shape vs offsets", p, GRU_ERR_FORMAT, "need 16 bytes, data_offsets give 12");
    write_file(p, "{" META "," WIH ",\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],"
               "\"data_offsets\":[8,20]}}", data, 24);
    expect_bad("overlap", p, GRU_ERR_FORMAT, "overlap");
    write_file(p, "{" META "," WIH "}", data, 24);
    expect_bad("missing tensor", p, GRU_ERR_FORMAT, "'weight_hh_l0' is missing");
    write_file(p, "{" META "," WIH ",\"weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],"
               "\"data_offsets\":[24,36]}," WHH "}", data, 36);
    expect_bad("duplicate tensor", p, GRU_ERR_FORMAT, "two members of the same key");
    write_file(p, "{" META "," WIH "," WHH ",\"bias_ih_l0\":{\"dtype\":\"F32\",\"shape\":[3],"
               "\"data_offsets\":[24,36]}}", data, 36);
    expect_bad("extra tensor (meta says no bias)", p, GRU_ERR_FORMAT,
               "'bias_hh_l0' is missing");
    write_file(p, "{" META "," WIH "," WHH ",\"weight_xx_l0\":{\"dtype\":\"F32\",\"shape\":[1],"
               "\"data_offsets\":[24,28]}}", data, 24);
    expect_bad("unknown tensor", p, GRU_ERR_FORMAT, "'weight_xx_l0' is no GRU parameter");
    write_file(p, "{\"__metadata__\":{\"format\":\"pygru\",\"format_version\":\"1\",\"class\":\"GRU\","
               "\"input_size\":\"1\",\"hidden_size\":\"2\",\"num_layers\":\"1\",\"bias\":\"0\","
               "\"bidirectional\":\"0\",\"reset_after\":\"1\"}," WIH "," WHH "}", data, 24);
    expect_bad("metadata vs shapes", p, GRU_ERR_FORMAT, "says hidden_size=2 but the tensors' shapes give 1");
    write_file(p, "{\"__metadata__\":{\"format\":\"pygru\",\"format_version\":\"7\"}," WIH "," WHH "}",
               data, 24);
    expect_bad("format version", p, GRU_ERR_FORMAT, "format_version 7");
    write_file(p, "{\"__metadata__\":{\"a\":1}," WIH "," WHH "}", data, 24);
    expect_bad("non-string metadata", p, GRU_ERR_FORMAT, "map names to strings");
    write_file(p, "{" META "," WIH ",\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],"
               "\"data_offsets\":[12,24.5]}}", data, 24);
    expect_bad("fractional offset", p, GRU_ERR_FORMAT, "not an integer");
    write_file(p, "{" META "," WIH ",\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],"
               "\"data_offsets\":[12,99999999999999999999]}}", data, 24);
    expect_bad("huge offset", p, GRU_ERR_FORMAT, "too large");
    {   /* deep nesting */
        char deep[256] = "{\"__metadata__\":";
        for (int k = 0; k < 20; k++) strcat(deep, "[");
        write_file(p, deep, NULL, 0);
        expect_bad("deep nesting", p, GRU_ERR_FORMAT, "nesting deeper than 8");
    }
    {   /* a header length past the end, and a short file */
        FILE *f = fopen(p, "wb");
        const unsigned char len8[8] = {0xff, 0xff, 0xff, 0, 0, 0, 0, 0};
        fwrite(len8, 1, 8, f);
        fwrite("{}", 1, 2, f);
        fclose(f);
        expect_bad("header length past the end", p, GRU_ERR_FORMAT, "runs past the end");
        f = fopen(p, "wb");
        fwrite("abc", 1, 3, f);
        fclose(f);
        expect_bad("short file", p, GRU_ERR_FORMAT, "shorter than the 8-byte header length");
    }
    expect_bad("no such file", tmp_path("none/none.safetensors"), GRU_ERR_IO, "cannot open");

    check_set_ctx("modelfile: null arguments and an unwritable path");
    CHECK_STATUS(gru_load(NULL, &m, NULL, 0), GRU_ERR_NULL);
    CHECK_STATUS(gru_load(p, NULL, NULL, 0), GRU_ERR_NULL);
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = cfg.hidden_size = 2;
    if (CHECK_OK(gru_create(&cfg, &m))) {
        CHECK_STATUS(gru_save(NULL, p), GRU_ERR_NULL);
        CHECK_STATUS(gru_save(m, NULL), GRU_ERR_NULL);
        CHECK_STATUS(gru_save(m, tmp_path("none/m.safetensors")), GRU_ERR_IO);
    }
    gru_destroy(m);
}

/* GRUCell names and a file without metadata (what the safetensors package writes from a
 * torch.nn.GRU state dict: sorted keys, no pygru metadata), F64 */
static void other_writers(void)
{
    check_set_ctx("modelfile: GRUCell names, no metadata, F64");
    const double d[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const char *p = tmp_path("cell.safetensors");
    write_file(p, "{\"bias_hh\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[72,96]},"
               "\"bias_ih\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[48,72]},"
               "\"weight_hh\":{\"dtype\":\"F64\",\"shape\":[3,1],\"data_offsets\":[24,48]},"
               "\"weight_ih\":{\"dtype\":\"F64\",\"shape\":[3,1],\"data_offsets\":[0,24]}}",
               d, sizeof d);
    gru_model *m = NULL;
    if (CHECK_OK(gru_load(p, &m, NULL, 0))) {
        gru_config c;
        gru_get_config(m, &c);
        CHECK(c.dtype == GRU_FLOAT64 && c.num_layers == 1 && c.bias == 1 && c.hidden_size == 1);
        double b[3];
        CHECK_OK(gru_param_get(m, "bias_hh_l0", b, 3));
        CHECK(b[0] == 10 && b[2] == 12);
    }
    gru_destroy(m);
}

/* Random damage to a good file (bytes changed, inserted or cut in the header and the
 * data, the length field rewritten): every load must return GRU_OK, GRU_ERR_FORMAT or
 * GRU_ERR_IO, never crash or read out of bounds (ASan runs this too), and a load that
 * succeeds gives a usable model. */
static void mutations(rng *g)
{
    check_set_ctx("modelfile: 3000 damaged files");
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = 2;
    cfg.hidden_size = 3;
    cfg.num_layers = 2;
    cfg.bidirectional = 1;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.5)) return;
    const char *good = tmp_path("good.safetensors"), *p = tmp_path("mut.safetensors");
    REQUIRE_OK(gru_save(tm.m, good), goto done);
    FILE *f = fopen(good, "rb");
    unsigned char orig[8192], buf[8300];
    const size_t n = fread(orig, 1, sizeof orig, f);
    fclose(f);
    int bad_status = 0, unusable = 0, loaded = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len = n;
        memcpy(buf, orig, n);
        const int kind = (int)(rng_next(g) % 4);
        const size_t at = (size_t)(rng_next(g) % n);
        if (kind == 0) buf[at] = (unsigned char)rng_next(g);               /* change a byte */
        else if (kind == 1) len = at;                                        /* cut */
        else if (kind == 2) {                                                /* insert */
            memmove(buf + at + 1, buf + at, n - at);
            static const char alphabet[] = "{}[]\",:0123456789-e. x";
            buf[at] = (unsigned char)alphabet[rng_next(g) % (sizeof alphabet - 1)];
            len = n + 1;
        } else {                                                             /* length field */
            const uint64_t v = rng_next(g) % (n + 64);
            for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(v >> (8 * k));
        }
        if (!(f = fopen(p, "wb"))) break;
        fwrite(buf, 1, len, f);
        fclose(f);
        gru_model *m = NULL;
        char msg[256];
        const gru_status st = gru_load(p, &m, msg, sizeof msg);
        if (st != GRU_OK && st != GRU_ERR_FORMAT && st != GRU_ERR_IO) bad_status++;
        if (st == GRU_OK) {
            loaded++;
            float x[2] = {0.5f, -0.5f}, out[6];
            unusable += gru_forward(m, 0, 1, 1, 0, x, NULL, NULL, out, NULL, NULL, 0) != GRU_OK;
        }
        gru_destroy(m);
    }
    CHECK_MSG(bad_status == 0, "%d damaged files gave another status", bad_status);
    CHECK_MSG(unusable == 0, "%d damaged files loaded into unusable models", unusable);
    CHECK_MSG(loaded > 0 && loaded < 3000, "some damage is harmless (a digit of a weight), "
              "most is not: %d of 3000 loaded", loaded);
    remove(p);
    remove(good);
done:
    tmodel_free(&tm);
}

void test_modelfile(void)
{
    snprintf(dir, sizeof dir, "%s/gru_modelfile_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    rng g = {777};
    roundtrip(GRU_FLOAT32, 3, 5, 1, 0, 1, 1, 0.0, &g);
    roundtrip(GRU_FLOAT64, 4, 6, 3, 1, 1, 0, 0.25, &g);
    roundtrip(GRU_FLOAT32, 2, 3, 2, 1, 0, 1, 0.5, &g);
    roundtrip(GRU_FLOAT64, 1, 1, 1, 0, 0, 0, 0.0, &g);
    malformed();
    other_writers();
    mutations(&g);
    remove(tmp_path("rt.safetensors"));
    remove(tmp_path("bad.safetensors"));
    remove(tmp_path("cell.safetensors"));
    remove(dir);
    check_set_ctx("%s", "");
}
