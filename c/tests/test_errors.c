/*
 * test_errors.c - every status code of gru.h reached through the public API: NULL
 * pointers, invalid sizes/flags/dropout/dtype, size overflow (must be GRU_ERR_OVERFLOW
 * before any allocation, not a crash), an allocation that cannot succeed
 * (GRU_ERR_NO_MEMORY), unknown names, wrong counts, bad lengths, small or foreign or
 * stale workspaces, backward without a training forward, and GRU_ISA. A failed
 * gru_create sets *out to NULL. The last check asserts that every code was observed.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static gru_config small_cfg(int dtype)
{
    gru_config c;
    gru_config_init(&c);
    c.input_size = 3;
    c.hidden_size = 4;
    c.num_layers = 2;
    c.bidirectional = 1;
    c.dtype = dtype;
    return c;
}

/* gru_create must fail with `expected` and set *out to NULL. */
static void expect_create_fails(const gru_config *c, int expected, const char *what)
{
    static int sentinel;
    gru_model *m = (gru_model *)(void *)&sentinel;
    int st = gru_create(c, &m);
    check_status_impl(st, expected, 1, what, __FILE__, __LINE__);
    CHECK_MSG(m == NULL, "%s: *out not set to NULL on failure", what);
    if (st == GRU_OK && m != (gru_model *)(void *)&sentinel)
        gru_destroy(m);
}

static void test_create_errors(void)
{
    check_set_ctx("errors: gru_create");
    gru_config c = small_cfg(GRU_FLOAT32), bad;
    gru_model *m = NULL;
    static int sentinel;
    m = (gru_model *)(void *)&sentinel;
    CHECK_STATUS(gru_create(NULL, &m), GRU_ERR_NULL);
    CHECK_MSG(m == NULL, "gru_create(NULL, &m) left *out set");
    CHECK_STATUS(gru_create(&c, NULL), GRU_ERR_NULL);

    static const int64_t bad_sizes[] = {0, -1, -1000, INT64_MIN};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        char what[96];
        bad = c;
        bad.input_size = bad_sizes[i];
        snprintf(what, sizeof what, "input_size = %lld", (long long)bad_sizes[i]);
        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, what);
        bad = c;
        bad.hidden_size = bad_sizes[i];
        snprintf(what, sizeof what, "hidden_size = %lld", (long long)bad_sizes[i]);
        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, what);
        bad = c;
        bad.num_layers = bad_sizes[i];
        snprintf(what, sizeof what, "num_layers = %lld", (long long)bad_sizes[i]);
        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, what);
    }
    bad = c; bad.bidirectional = 2;  expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "bidirectional = 2");
    bad = c; bad.bidirectional = -1; expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "bidirectional = -1");
    bad = c; bad.bias = 2;           expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "bias = 2");
    bad = c; bad.reset_after = 2;    expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "reset_after = 2");
    bad = c; bad.reset_after = -1;   expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "reset_after = -1");
    bad = c; bad.reverse = 2;        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "reverse = 2");
    bad = c; bad.reverse = 1; bad.bidirectional = 1;
    expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "reverse with bidirectional");
    bad = c; bad.dtype = 0;          expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "dtype = 0");
    bad = c; bad.dtype = 3;          expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "dtype = 3");
    bad = c; bad.dtype = -2;         expect_create_fails(&bad, GRU_ERR_INVALID_ARG, "dtype = -2");
    static const double bad_p[] = {-0.1, -1e-300, 1.0, 1.5, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof bad_p / sizeof bad_p[0]; i++) {
        char what[64];
        bad = c;
        bad.dropout = bad_p[i];
        snprintf(what, sizeof what, "dropout = %g", bad_p[i]);
        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, what);
        bad = c;
        bad.input_dropout = bad_p[i];
        snprintf(what, sizeof what, "input_dropout = %g", bad_p[i]);
        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, what);
        bad = c;
        bad.recurrent_dropout = bad_p[i];
        snprintf(what, sizeof what, "recurrent_dropout = %g", bad_p[i]);
        expect_create_fails(&bad, GRU_ERR_INVALID_ARG, what);
    }
    bad = c;
    bad.dropout = 0.999;
    CHECK_OK(gru_create(&bad, &m));
    gru_destroy(m);
    m = NULL;

    /* overflow: the element count or the byte count does not fit in size_t */
    struct { int64_t I, H, L; int dtype; const char *what; } ov[] = {
        {INT64_MAX, 4, 1, GRU_FLOAT32, "input_size = INT64_MAX"},
        {3, INT64_MAX, 1, GRU_FLOAT32, "hidden_size = INT64_MAX"},
        {INT64_MAX, INT64_MAX, 1, GRU_FLOAT64, "input_size = hidden_size = INT64_MAX"},
        {1, (int64_t)1 << 32, 1, GRU_FLOAT32, "hidden_size = 2^32 (3H*H > SIZE_MAX)"},
        {(int64_t)1 << 62, 1, 1, GRU_FLOAT32, "input_size = 2^62 (elements fit, bytes do not)"},
        {(int64_t)(SIZE_MAX / 8 / 3) + 1, 1, 1, GRU_FLOAT64, "3*I*8 bytes just over SIZE_MAX"},
        {4, 4, INT64_MAX, GRU_FLOAT32, "num_layers = INT64_MAX"},
        {4, (int64_t)1 << 31, (int64_t)1 << 31, GRU_FLOAT32, "H = L = 2^31"},
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        bad = c;
        bad.input_size = ov[i].I;
        bad.hidden_size = ov[i].H;
        bad.num_layers = ov[i].L;
        bad.dtype = ov[i].dtype;
        bad.bidirectional = 1;
        expect_create_fails(&bad, GRU_ERR_OVERFLOW, ov[i].what);
    }

    /* fits in size_t but no machine has it: 3 * 2^20 * 2^30 floats = 12 PiB */
    bad = c;
    bad.input_size = (int64_t)1 << 30;
    bad.hidden_size = (int64_t)1 << 20;
    bad.num_layers = 1;
    bad.bidirectional = 0;
    expect_create_fails(&bad, GRU_ERR_NO_MEMORY, "12 PiB of weights");

    /* GRU_ISA */
    set_isa_env("nonsense");
    expect_create_fails(&c, GRU_ERR_ISA_UNAVAILABLE, "GRU_ISA=nonsense");
    set_isa_env("scalar");
    m = NULL;
    if (CHECK_OK(gru_create(&c, &m)))
        CHECK_MSG(gru_isa(m) && strcmp(gru_isa(m), "scalar") == 0,
                  "GRU_ISA=scalar: gru_isa = \"%s\"", gru_isa(m) ? gru_isa(m) : "(null)");
    gru_destroy(m);
    set_isa_env(NULL);
}

static void test_param_errors(void)
{
    check_set_ctx("errors: params");
    gru_config c = small_cfg(GRU_FLOAT64);
    gru_model *m = NULL;
    REQUIRE_OK(gru_create(&c, &m), return);
    size_t n = 0, count = 0;
    const size_t nw = 12 * 3; /* weight_ih_l0: (3H, I) = (12, 3) */
    double buf[64] = {0};
    CHECK_STATUS(gru_param_count(NULL, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_count(m, NULL), GRU_ERR_NULL);
    CHECK_OK(gru_param_count(m, &count));
    const char *name = NULL;
    CHECK_STATUS(gru_param_info(NULL, 0, &name, NULL, NULL), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_info(m, count, &name, NULL, NULL), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_param_info(m, SIZE_MAX, &name, NULL, NULL), GRU_ERR_INVALID_ARG);

    CHECK_OK(gru_param_get(m, "weight_ih_l0", buf, nw));
    CHECK_STATUS(gru_param_get(NULL, "weight_ih_l0", buf, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_get(m, NULL, buf, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_get(m, "weight_ih_l0", NULL, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_set(NULL, "weight_ih_l0", buf, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_set(m, NULL, buf, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_set(m, "weight_ih_l0", NULL, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_grad_get(NULL, "weight_ih_l0", buf, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_grad_get(m, NULL, buf, nw), GRU_ERR_NULL);
    CHECK_STATUS(gru_grad_get(m, "weight_ih_l0", NULL, nw), GRU_ERR_NULL);

    static const char *const unknown[] = {"", "weight_ih_l2", "weight_ih", "weight_ih_l0x",
                                          "weight_ih_l0_reverse_", "Weight_ih_l0",
                                          "weight_ih_l-1", "weight_ih_l00", "bias_xx_l0",
                                          "weight_ih_l0 ", "weight_ih_l4294967296"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "gru_param_get(\"%s\")", unknown[i]);
        check_status_impl(gru_param_get(m, unknown[i], buf, nw), GRU_ERR_UNKNOWN_NAME, 1, what,
                          __FILE__, __LINE__);
        snprintf(what, sizeof what, "gru_param_set(\"%s\")", unknown[i]);
        check_status_impl(gru_param_set(m, unknown[i], buf, nw), GRU_ERR_UNKNOWN_NAME, 1, what,
                          __FILE__, __LINE__);
        snprintf(what, sizeof what, "gru_grad_get(\"%s\")", unknown[i]);
        check_status_impl(gru_grad_get(m, unknown[i], buf, nw), GRU_ERR_UNKNOWN_NAME, 1, what,
                          __FILE__, __LINE__);
    }
    static const size_t wrong[] = {0, nw - 1, nw + 1, 12, SIZE_MAX};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        CHECK_STATUS(gru_param_get(m, "weight_ih_l0", buf, wrong[i]), GRU_ERR_SIZE_MISMATCH);
        CHECK_STATUS(gru_param_set(m, "weight_ih_l0", buf, wrong[i]), GRU_ERR_SIZE_MISMATCH);
        CHECK_STATUS(gru_grad_get(m, "weight_ih_l0", buf, wrong[i]), GRU_ERR_SIZE_MISMATCH);
    }
    CHECK_STATUS(gru_param_get(m, "bias_hh_l1_reverse", buf, 11), GRU_ERR_SIZE_MISMATCH);
    CHECK_OK(gru_param_get(m, "bias_hh_l1_reverse", buf, 12));
    CHECK_STATUS(gru_zero_grad(NULL), GRU_ERR_NULL);
    CHECK_STATUS(gru_set_seed(NULL, 1), GRU_ERR_NULL);
    gru_config back;
    CHECK_STATUS(gru_get_config(NULL, &back), GRU_ERR_NULL);
    CHECK_STATUS(gru_get_config(m, NULL), GRU_ERR_NULL);
    gru_destroy(m);
}

static void test_forward_errors(void)
{
    check_set_ctx("errors: workspace_size/forward");
    gru_config c = small_cfg(GRU_FLOAT64);
    gru_model *m = NULL;
    REQUIRE_OK(gru_create(&c, &m), return);
    enum { T = 4, B = 3, I = 3, DH = 8, LDBH = 2 * 2 * 3 * 4 };
    double x[T * B * I] = {0}, out[T * B * DH], hn[LDBH], h0[LDBH] = {0};
    size_t wst = 0, wsi = 0, bytes = 0;
    CHECK_STATUS(gru_workspace_size(NULL, T, B, 1, &bytes), GRU_ERR_NULL);
    CHECK_STATUS(gru_workspace_size(m, T, B, 1, NULL), GRU_ERR_NULL);
    CHECK_STATUS(gru_workspace_size(m, 0, B, 1, &bytes), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_workspace_size(m, -1, B, 1, &bytes), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_workspace_size(m, T, 0, 0, &bytes), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_workspace_size(m, T, -5, 0, &bytes), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_workspace_size(m, INT64_MAX, B, 1, &bytes), GRU_ERR_OVERFLOW);
    CHECK_STATUS(gru_workspace_size(m, T, INT64_MAX, 1, &bytes), GRU_ERR_OVERFLOW);
    CHECK_STATUS(gru_workspace_size(m, (int64_t)1 << 40, (int64_t)1 << 40, 1, &bytes),
                 GRU_ERR_OVERFLOW);
    CHECK_STATUS(gru_workspace_size(m, (int64_t)1 << 40, (int64_t)1 << 40, 0, &bytes),
                 GRU_ERR_OVERFLOW);
    REQUIRE_OK(gru_workspace_size(m, T, B, 1, &wst), goto done);
    REQUIRE_OK(gru_workspace_size(m, T, B, 0, &wsi), goto done);
    CHECK_MSG(wst > 0, "training workspace size is 0");
    /* 8-byte aligned buffer, one byte spare to make "too small" */
    double *ws = malloc(wst + 16);
    double *wsi_buf = malloc(wsi + 16);

    CHECK_OK(gru_forward(m, 0, T, B, 0, x, NULL, NULL, out, NULL, NULL, 0));
    CHECK_STATUS(gru_forward(NULL, 0, T, B, 0, x, NULL, NULL, out, hn, NULL, 0), GRU_ERR_NULL);
    CHECK_STATUS(gru_forward(m, 0, T, B, 0, NULL, NULL, NULL, out, hn, NULL, 0), GRU_ERR_NULL);
    CHECK_STATUS(gru_forward(m, 0, T, B, 0, x, NULL, NULL, NULL, hn, NULL, 0), GRU_ERR_NULL);
    CHECK_STATUS(gru_forward(m, 1, T, B, 0, x, NULL, NULL, out, hn, NULL, wst), GRU_ERR_NULL);
    CHECK_STATUS(gru_forward(m, 0, 0, B, 0, x, NULL, NULL, out, hn, NULL, 0), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_forward(m, 0, -3, B, 0, x, NULL, NULL, out, hn, NULL, 0), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_forward(m, 0, T, 0, 0, x, NULL, NULL, out, hn, NULL, 0), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_forward(m, 0, T, -1, 0, x, NULL, NULL, out, hn, NULL, 0), GRU_ERR_INVALID_ARG);
    /* sizes whose buffers cannot exist: rejected before anything is read or allocated */
    CHECK_STATUS(gru_forward(m, 0, INT64_MAX, B, 0, x, NULL, NULL, out, hn, NULL, 0),
                 GRU_ERR_OVERFLOW);
    CHECK_STATUS(gru_forward(m, 0, (int64_t)1 << 40, (int64_t)1 << 40, 0, x, NULL, NULL, out,
                             hn, NULL, 0), GRU_ERR_OVERFLOW);
    {   /* a batch that cannot exist, with lengths: the sizes are refused before lengths
         * (which holds 3 entries here, not 2^61) is read past its end */
        static const int32_t three[3] = {1, 1, 1};
        CHECK_STATUS(gru_forward(m, 0, 1, (int64_t)1 << 61, 0, x, NULL, three, out, hn,
                                 NULL, 0), GRU_ERR_OVERFLOW);
        CHECK_STATUS(gru_forward(m, 1, 1, (int64_t)1 << 61, 0, x, NULL, three, out, hn,
                                 out, 8), GRU_ERR_OVERFLOW);
    }
    {
        static const int32_t badlens[][B] = {{4, 0, 2}, {4, -1, 2}, {5, 1, 1}, {4, 4, INT32_MIN},
                                             {INT32_MAX, 1, 1}};
        for (size_t i = 0; i < sizeof badlens / sizeof badlens[0]; i++) {
            char what[96];
            snprintf(what, sizeof what, "lengths {%d, %d, %d}, T = %d (inference)",
                     badlens[i][0], badlens[i][1], badlens[i][2], T);
            check_status_impl(gru_forward(m, 0, T, B, 0, x, NULL, badlens[i], out, hn, NULL, 0),
                              GRU_ERR_BAD_LENGTHS, 1, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "lengths {%d, %d, %d}, T = %d (training)",
                     badlens[i][0], badlens[i][1], badlens[i][2], T);
            check_status_impl(gru_forward(m, 1, T, B, 1, x, h0, badlens[i], out, hn, ws, wst),
                              GRU_ERR_BAD_LENGTHS, 1, what, __FILE__, __LINE__);
        }
    }
    CHECK_STATUS(gru_forward(m, 1, T, B, 0, x, NULL, NULL, out, hn, ws, wst - 1),
                 GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_forward(m, 1, T, B, 0, x, NULL, NULL, out, hn, ws, 0), GRU_ERR_WORKSPACE);
    if (wsi > 0)
        CHECK_STATUS(gru_forward(m, 0, T, B, 0, x, NULL, NULL, out, hn, wsi_buf, wsi - 1),
                     GRU_ERR_WORKSPACE);
    CHECK_OK(gru_forward(m, 0, T, B, 0, x, h0, NULL, out, hn, wsi_buf, wsi));
    CHECK_OK(gru_forward(m, 0, T, B, 0, x, h0, NULL, out, hn, NULL, 12345)); /* NULL: own */
    CHECK_OK(gru_forward(m, 1, T, B, 0, x, h0, NULL, out, hn, ws, wst));
    free(ws);
    free(wsi_buf);
done:
    gru_destroy(m);
}

static void test_backward_errors(void)
{
    check_set_ctx("errors: backward");
    gru_config c = small_cfg(GRU_FLOAT64);
    gru_model *m = NULL, *m2 = NULL;
    REQUIRE_OK(gru_create(&c, &m), return);
    REQUIRE_OK(gru_create(&c, &m2), { gru_destroy(m); return; });
    enum { T = 4, B = 3, I = 3, DH = 8, LDBH = 2 * 2 * 3 * 4 };
    rng g = {5};
    double x[T * B * I], out[T * B * DH], hn[LDBH], G[T * B * DH], gx[T * B * I],
        gh0[LDBH], p[12 * 8];
    rng_fill(&g, x, T * B * I, -1, 1);
    rng_fill(&g, G, T * B * DH, -1, 1);
    rng_fill(&g, p, 12 * 8, -0.5, 0.5);
    CHECK_OK(gru_param_set(m, "weight_hh_l0", p, 12 * 4));
    CHECK_OK(gru_param_set(m2, "weight_hh_l0", p, 12 * 4));
    size_t wst = 0;
    REQUIRE_OK(gru_workspace_size(m, T, B, 1, &wst), goto done);
    double *ws = calloc(1, wst + 16), *ws2 = calloc(1, wst + 16), *ws3 = calloc(1, wst + 16);

    /* never forwarded (zeroed) workspace: needs a training forward first */
    int st = gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0);
    CHECK_MSG(st == GRU_ERR_WRONG_MODE || st == GRU_ERR_WORKSPACE,
              "backward on a zeroed workspace: %d (%s), expected GRU_ERR_WRONG_MODE or "
              "GRU_ERR_WORKSPACE", st, gru_strerror(st));
    if (st >= 0 && st < 32)
        check_status_seen[st] = 1;
    /* a workspace that only an inference forward wrote */
    CHECK_OK(gru_forward(m, 0, T, B, 0, x, NULL, NULL, out, hn, ws, wst));
    CHECK_STATUS(gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_WRONG_MODE);

    /* a good one */
    CHECK_OK(gru_forward(m, 1, T, B, 0, x, NULL, NULL, out, hn, ws, wst));
    CHECK_OK(gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0));
    CHECK_STATUS(gru_backward(NULL, T, B, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_NULL);
    CHECK_STATUS(gru_backward(m, T, B, 0, NULL, ws, wst, G, NULL, gx, gh0), GRU_ERR_NULL);
    CHECK_STATUS(gru_backward(m, T, B, 0, x, NULL, wst, G, NULL, gx, gh0), GRU_ERR_NULL);
    CHECK_STATUS(gru_backward(m, T, B, 0, x, ws, wst - 1, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_backward(m, T - 1, B, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_backward(m, T, B - 1, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_backward(m, T, B, 1, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_backward(m, T + 1, B, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_backward(m, 0, B, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_INVALID_ARG);
    /* a workspace (big enough for T) filled by a forward with T - 1, used with T */
    CHECK_OK(gru_forward(m, 1, T - 1, B, 0, x, NULL, NULL, out, hn, ws3, wst));
    CHECK_STATUS(gru_backward(m, T, B, 0, x, ws3, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_OK(gru_backward(m, T - 1, B, 0, x, ws3, wst, G, NULL, gx, gh0));
    /* another model's workspace (same configuration and parameters) */
    CHECK_OK(gru_forward(m2, 1, T, B, 0, x, NULL, NULL, out, hn, ws2, wst));
    CHECK_STATUS(gru_backward(m, T, B, 0, x, ws2, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_OK(gru_backward(m2, T, B, 0, x, ws2, wst, G, NULL, gx, gh0));
    /* gru_zero_grad does not invalidate */
    CHECK_OK(gru_zero_grad(m));
    CHECK_OK(gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0));
    /* gru_param_set invalidates, even to the same values */
    CHECK_OK(gru_param_set(m, "weight_hh_l0", p, 12 * 4));
    CHECK_STATUS(gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    CHECK_OK(gru_param_set(m2, "bias_ih_l1_reverse", p, 12));
    CHECK_STATUS(gru_backward(m2, T, B, 0, x, ws2, wst, G, NULL, gx, gh0), GRU_ERR_WORKSPACE);
    /* a fresh training forward makes it valid again */
    CHECK_OK(gru_forward(m, 1, T, B, 0, x, NULL, NULL, out, hn, ws, wst));
    CHECK_OK(gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0));
    /* an inference forward into a workspace a training forward had filled */
    CHECK_OK(gru_forward(m, 0, T, B, 0, x, NULL, NULL, out, hn, ws, wst));
    st = gru_backward(m, T, B, 0, x, ws, wst, G, NULL, gx, gh0);
    CHECK_MSG(st == GRU_ERR_WRONG_MODE || st == GRU_ERR_WORKSPACE,
              "backward after an inference forward overwrote the training workspace: %d (%s)",
              st, gru_strerror(st));
    free(ws);
    free(ws2);
    free(ws3);
done:
    gru_destroy(m);
    gru_destroy(m2);
}

void test_errors(void)
{
    test_create_errors();
    test_param_errors();
    test_forward_errors();
    test_backward_errors();
    {   /* GRU_ERR_UNSUPPORTED: a bidirectional model cannot be stepped (test_step.c
         * covers the streaming API's other errors; test_modelfile.c, which runs
         * before this section, GRU_ERR_IO and GRU_ERR_FORMAT) */
        check_set_ctx("errors: step on a bidirectional model");
        gru_config c;
        gru_config_init(&c);
        c.input_size = 2;
        c.hidden_size = 3;
        c.bidirectional = 1;
        gru_model *m = NULL;
        size_t n;
        if (CHECK_OK(gru_create(&c, &m)))
            CHECK_STATUS(gru_step_scratch_size(m, 1, &n), GRU_ERR_UNSUPPORTED);
        gru_destroy(m);
    }
    check_set_ctx("errors: coverage");
    for (int code = GRU_OK; code <= GRU_ERR_FORMAT; code++)
        CHECK_MSG(check_status_seen[code], "status %d (%s) was never returned by any test",
                  code, gru_strerror(code));
    check_set_ctx("%s", "");
}
