/*
 * test_api.c - the non-numeric contract of gru.h: version and ABI numbers, gru_strerror,
 * gru_config_init defaults, gru_get_config round trip, ISA reporting, and the parameter
 * interface (PyTorch names in state-dict order and shapes, zero after create, set -> get
 * round trip in both dtypes, no bias tensors when bias = 0, gradients zero after create).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdlib.h>
#include <string.h>

static void test_versions_and_strings(void)
{
    check_set_ctx("version/strerror");
    CHECK_MSG(strcmp(gru_version(), GRU_VERSION_STRING) == 0, "gru_version() \"%s\" != "
              "GRU_VERSION_STRING \"%s\"", gru_version(), GRU_VERSION_STRING);
    CHECK_INT_EQ(gru_abi_version(), GRU_ABI_VERSION);
    {
        char v[32];
        snprintf(v, sizeof v, "%d.%d.%d", GRU_VERSION_MAJOR, GRU_VERSION_MINOR,
                 GRU_VERSION_PATCH);
        CHECK_MSG(strcmp(v, GRU_VERSION_STRING) == 0, "MAJOR.MINOR.PATCH %s != %s", v,
                  GRU_VERSION_STRING);
    }
    /* every known code: a distinct, non-empty string, different from the unknown one */
    const char *unknown = gru_strerror(1000);
    CHECK_MSG(unknown && strcmp(unknown, "unknown status code") == 0,
              "gru_strerror(1000) = \"%s\", expected \"unknown status code\"",
              unknown ? unknown : "(null)");
    static const int unknown_codes[] = {-1, 16, 17, 31, 2147483647, -2147483647 - 1};
    for (size_t i = 0; i < sizeof unknown_codes / sizeof unknown_codes[0]; i++) {
        const char *s = gru_strerror(unknown_codes[i]);
        CHECK_MSG(s && unknown && strcmp(s, unknown) == 0, "gru_strerror(%d) = \"%s\"",
                  unknown_codes[i], s ? s : "(null)");
    }
    const char *known[GRU_ERR_MISALIGNED + 1];
    for (int c = GRU_OK; c <= GRU_ERR_MISALIGNED; c++) {
        known[c] = gru_strerror(c);
        CHECK_MSG(known[c] && known[c][0] != '\0', "gru_strerror(%d) is empty", c);
        if (!known[c])
            known[c] = "";
        CHECK_MSG(!unknown || strcmp(known[c], unknown) != 0,
                  "gru_strerror(%d) is the unknown-code string", c);
        for (int d = 0; d < c; d++)
            CHECK_MSG(strcmp(known[c], known[d]) != 0, "gru_strerror(%d) == gru_strerror(%d) "
                      "= \"%s\"", c, d, known[c]);
    }
}

static void test_config(void)
{
    check_set_ctx("config");
    gru_config c;
    memset(&c, 0x5A, sizeof c);
    gru_config_init(&c);
    CHECK_INT_EQ(c.input_size, 0);
    CHECK_INT_EQ(c.hidden_size, 0);
    CHECK_INT_EQ(c.num_layers, 1);
    CHECK_INT_EQ(c.bidirectional, 0);
    CHECK_INT_EQ(c.bias, 1);
    CHECK_INT_EQ(c.reset_after, 1);
    CHECK_INT_EQ(c.dtype, GRU_FLOAT32);
    CHECK(c.dropout == 0.0);
    CHECK(c.input_dropout == 0.0 && c.recurrent_dropout == 0.0);
    CHECK(c.seed == 0);
    gru_config_init(NULL); /* documented no-op */

    c.input_size = 7;
    c.hidden_size = 5;
    c.num_layers = 3;
    c.bidirectional = 1;
    c.bias = 0;
    c.reset_after = 0;
    c.dtype = GRU_FLOAT64;
    c.dropout = 0.375;
    c.seed = 0x123456789abcdefull;
    gru_model *m = NULL;
    REQUIRE_OK(gru_create(&c, &m), return);
    gru_config b;
    memset(&b, 0, sizeof b);
    CHECK_OK(gru_get_config(m, &b));
    CHECK_INT_EQ(b.input_size, 7);
    CHECK_INT_EQ(b.hidden_size, 5);
    CHECK_INT_EQ(b.num_layers, 3);
    CHECK_INT_EQ(b.bidirectional, 1);
    CHECK_INT_EQ(b.bias, 0);
    CHECK_INT_EQ(b.reset_after, 0);
    CHECK_INT_EQ(b.dtype, GRU_FLOAT64);
    CHECK(b.dropout == 0.375);
    CHECK(b.seed == 0x123456789abcdefull);
    CHECK_OK(gru_set_seed(m, 17));
    CHECK_OK(gru_get_config(m, &b));
    CHECK(b.seed == 17);

    /* ISA reporting */
    const char *isa = gru_isa(m);
    const char *avail = gru_available_isas();
    CHECK_MSG(isa && isa[0], "gru_isa(model) empty");
    CHECK_MSG(avail && avail[0], "gru_available_isas() empty");
    if (isa && avail) {
        /* isa must be one of the space-separated words of avail */
        int found = 0;
        size_t n = strlen(isa);
        for (const char *p = avail; *p;) {
            while (*p == ' ')
                p++;
            size_t w = strcspn(p, " ");
            if (w == n && strncmp(p, isa, n) == 0)
                found = 1;
            p += w;
        }
        CHECK_MSG(found, "gru_isa \"%s\" not in gru_available_isas \"%s\"", isa, avail);
        CHECK_MSG(strncmp(avail, "scalar", 6) == 0 && (avail[6] == ' ' || avail[6] == 0),
                  "gru_available_isas \"%s\" does not start with \"scalar\" (best last)",
                  avail);
    }
    CHECK(gru_isa(NULL) == NULL);
    gru_destroy(m);
    gru_destroy(NULL); /* documented no-op */
}

/* names, order, shapes, zero init, set/get round trip, bias = 0 */
static void params_case(int dtype, int64_t I, int64_t H, int L, int bidir, int bias, rng *g)
{
    const int D = bidir ? 2 : 1;
    check_set_ctx("params %s I=%lld H=%lld L=%d bidir=%d bias=%d",
                  dtype == GRU_FLOAT64 ? "f64" : "f32", (long long)I, (long long)H, L, bidir,
                  bias);
    gru_config c;
    gru_config_init(&c);
    c.input_size = I;
    c.hidden_size = H;
    c.num_layers = L;
    c.bidirectional = bidir;
    c.bias = bias;
    c.dtype = dtype;
    gru_model *m = NULL;
    REQUIRE_OK(gru_create(&c, &m), return);
    size_t count = 0;
    CHECK_OK(gru_param_count(m, &count));
    CHECK_INT_EQ(count, (size_t)((bias ? 4 : 2) * L * D));

    const size_t es = dtype_size(dtype);
    size_t idx = 0;
    char name[64];
    void **vals = calloc(count ? count : 1, sizeof *vals); /* what was set, per tensor */
    size_t *sizes = calloc(count ? count : 1, sizeof *sizes);
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++)
            for (int k = 0; k < 4; k++) {
                if (k >= 2 && !bias)
                    continue;
                ref_tensor_name(name, sizeof name, l, d, k);
                int64_t in = l == 0 ? I : D * H;
                int64_t s0 = 3 * H, s1 = k == 0 ? in : k == 1 ? H : 0;
                const char *got = NULL;
                int ndim = -1;
                int64_t shape[2] = {-1, -1};
                if (!CHECK_OK(gru_param_info(m, idx, &got, &ndim, shape))) {
                    idx++;
                    continue;
                }
                CHECK_MSG(got && strcmp(got, name) == 0, "param %zu: name \"%s\", expected "
                          "\"%s\"", idx, got ? got : "(null)", name);
                CHECK_MSG(ndim == (k < 2 ? 2 : 1), "%s: ndim %d", name, ndim);
                CHECK_MSG(shape[0] == s0 && (k >= 2 || shape[1] == s1), "%s: shape (%lld, %lld), "
                          "expected (%lld, %lld)", name, (long long)shape[0],
                          (long long)shape[1], (long long)s0, (long long)s1);
                /* all outputs NULL is allowed */
                CHECK_OK(gru_param_info(m, idx, NULL, NULL, NULL));

                size_t n = (size_t)(s0 * (k < 2 ? s1 : 1));
                sizes[idx] = n;
                /* zero after create, parameter and gradient */
                double *a = nan_doubles(n), *z = calloc(n, sizeof(double));
                void *buf = nan_dtype(n, dtype);
                CHECK_OK(gru_param_get(m, name, buf, n));
                from_dtype(a, buf, n, dtype);
                CHECK_CLOSE("parameter after gru_create is zero", z, a, n, 0.0);
                buf = memset(buf, 0x7f, n * es);
                CHECK_OK(gru_grad_get(m, name, buf, n));
                from_dtype(a, buf, n, dtype);
                CHECK_CLOSE("gradient after gru_create is zero", z, a, n, 0.0);
                /* set distinct values */
                rng_fill(g, a, n, -3, 3);
                vals[idx] = to_dtype(a, n, dtype);
                CHECK_OK(gru_param_set(m, name, vals[idx], n));
                free(a);
                free(z);
                free(buf);
                idx++;
            }
    CHECK_STATUS(gru_param_info(m, count, NULL, NULL, NULL), GRU_ERR_INVALID_ARG);
    /* round trip, after all were set (no tensor overwrote another) */
    for (size_t i = 0; i < count && i < idx; i++) {
        const char *nm = NULL;
        if (!vals[i] || gru_param_info(m, i, &nm, NULL, NULL) != GRU_OK || !nm)
            continue;
        void *back = nan_dtype(sizes[i], dtype);
        CHECK_OK(gru_param_get(m, nm, back, sizes[i]));
        char what[96];
        snprintf(what, sizeof what, "%s set -> get", nm);
        CHECK_SAME(what, back, vals[i], sizes[i] * es);
        free(back);
    }
    if (!bias) {
        double one[64] = {0};
        ref_tensor_name(name, sizeof name, 0, 0, REF_B_IH);
        CHECK_STATUS(gru_param_get(m, name, one, (size_t)(3 * H)), GRU_ERR_UNKNOWN_NAME);
        ref_tensor_name(name, sizeof name, 0, 0, REF_B_HH);
        CHECK_STATUS(gru_param_set(m, name, one, (size_t)(3 * H)), GRU_ERR_UNKNOWN_NAME);
    }
    if (!bidir) {
        double *one = calloc((size_t)(3 * H * I), sizeof(double));
        ref_tensor_name(name, sizeof name, 0, 1, REF_W_IH);
        CHECK_STATUS(gru_param_get(m, name, one, (size_t)(3 * H * I)), GRU_ERR_UNKNOWN_NAME);
        free(one);
    }
    {
        double *one = calloc((size_t)(3 * H * H), sizeof(double));
        ref_tensor_name(name, sizeof name, L, 0, REF_W_HH); /* one layer too many */
        CHECK_STATUS(gru_param_get(m, name, one, (size_t)(3 * H * H)), GRU_ERR_UNKNOWN_NAME);
        free(one);
    }
    for (size_t i = 0; i < count; i++)
        free(vals[i]);
    free(vals);
    free(sizes);
    gru_destroy(m);
}

void test_api(void)
{
    rng g = {99};
    test_versions_and_strings();
    test_config();
    for (int dtype = GRU_FLOAT32; dtype <= GRU_FLOAT64; dtype++)
        for (int L = 1; L <= 3; L++)
            for (int bidir = 0; bidir <= 1; bidir++)
                for (int bias = 0; bias <= 1; bias++)
                    params_case(dtype, 3 + L, 2 + bidir + L, L, bidir, bias, &g);
    check_set_ctx("%s", "");
}
