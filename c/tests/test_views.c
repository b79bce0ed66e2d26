/*
 * test_views.c - parameters and gradients as views (gru_param_data, gru_grad_data) and
 * the lazy repack behind gru_params_changed: writing through the views and announcing
 * the change (per name, or once with NULL) gives bitwise the results of gru_param_set
 * with the same values (inference forward, gru_step, training forward + backward and
 * every gradient; float32 and float64, both reset variants); gradients read through
 * gru_grad_data equal gru_grad_get; a training workspace filled before a change is
 * refused by backward (weights and biases); the argument errors; and several threads
 * that start inference forwards right after a change all get the reference result
 * (the repack happens once; run under test-tsan to prove it race-free).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { VT = 5, VB = 3, VI = 4, VH = 9, VL = 2, NTHREADS = 4 };

/* Total parameter elements of model m. */
static size_t total_numel(gru_model *m)
{
    size_t n = 0, count = 0, sum = 0;
    gru_param_count(m, &count);
    for (size_t i = 0; i < count; i++) {
        const char *name;
        gru_param_info(m, i, &name, NULL, NULL);
        if (gru_param_data(m, name, &(void *){NULL}, &n) == GRU_OK) sum += n;
    }
    return sum;
}

/* Runs every kind of call on m and appends the results' bytes to res (which must hold
 * results_bytes): inference output and h_n, the state after VT gru_steps, the training
 * output, grad_x, grad_h0 and every parameter gradient (zeroed first). Returns bytes
 * written, 0 on a failed call. */
static size_t run_all(gru_model *m, int dtype, const void *x, const void *h0,
                      const void *gout, unsigned char *res)
{
    const size_t es = dtype_size(dtype), nout = VT * VB * VH, nh = VL * VB * VH;
    unsigned char *p = res;
    size_t ws = 0;
    if (gru_forward(m, 0, VT, VB, 0, x, h0, NULL, p, p + nout * es, NULL, 0)) return 0;
    p += (nout + nh) * es;
    memcpy(p, h0, nh * es);
    for (int t = 0; t < VT; t++)
        if (gru_step(m, VB, (const char *)x + (size_t)(t * VB * VI) * es, p, NULL, NULL, 0))
            return 0;
    p += nh * es;
    if (gru_workspace_size(m, VT, VB, 1, &ws) || gru_zero_grad(m)) return 0;
    void *work = malloc(ws);
    gru_status st = gru_forward(m, 1, VT, VB, 0, x, h0, NULL, p, NULL, work, ws);
    p += nout * es;
    st = st ? st : gru_backward(m, VT, VB, 0, x, work, ws, gout, NULL, p,
                                p + (size_t)(VT * VB * VI) * es);
    free(work);
    if (st) return 0;
    p += (size_t)(VT * VB * VI) * es + nh * es;
    size_t count = 0;
    gru_param_count(m, &count);
    for (size_t i = 0; i < count; i++) {
        const char *name;
        size_t n = 0;
        void *g = NULL;
        gru_param_info(m, i, &name, NULL, NULL);
        gru_grad_data(m, name, &g, &n);
        if (gru_grad_get(m, name, p, n)) return 0;
        CHECK_SAME("gru_grad_data == gru_grad_get", g, p, n * es);
        p += n * es;
    }
    return (size_t)(p - res);
}

static size_t results_bytes(gru_model *m, int dtype)
{
    return (2 * (size_t)(VT * VB * VH) + 3 * (size_t)(VL * VB * VH) +
            (size_t)(VT * VB * VI) + total_numel(m)) * dtype_size(dtype);
}

/* Copies src's parameters into dst through dst's views; announces each by name
 * (per_name) or all at once with NULL. */
static int copy_through_views(gru_model *dst, gru_model *src, int per_name)
{
    size_t count = 0;
    gru_param_count(dst, &count);
    for (size_t i = 0; i < count; i++) {
        const char *name;
        void *data = NULL;
        size_t n = 0;
        gru_param_info(dst, i, &name, NULL, NULL);
        if (gru_param_data(dst, name, &data, &n) || gru_param_get(src, name, data, n))
            return 0;
        if (per_name && gru_params_changed(dst, name)) return 0;
    }
    return per_name || gru_params_changed(dst, NULL) == GRU_OK;
}

/* Model b starts from other weights (packed by a first forward), then receives a's
 * through the views: every result must be bitwise a's. */
static void views_case(const char *isa, int dtype, int ra, int per_name, rng *g)
{
    check_set_ctx("views isa=%s %s reset_after=%d %s", isa, dtype == GRU_FLOAT64 ? "f64" : "f32",
                  ra, per_name ? "per-name" : "NULL");
    const size_t es = dtype_size(dtype), nx = VT * VB * VI, nh = VL * VB * VH;
    gru_config cfg = make_config(VI, VH, VL, 0, 1, ra, dtype);
    tmodel a, b;
    if (!tmodel_create(&a, &cfg, g, 0.5)) return;
    if (!tmodel_create(&b, &cfg, g, 0.5)) { tmodel_free(&a); return; }
    double *xd = malloc(nx * sizeof(double)), *hd = malloc(nh * sizeof(double));
    double *god = malloc(VT * VB * VH * sizeof(double));
    rng_fill(g, xd, nx, -1, 1);
    rng_fill(g, hd, nh, -0.8, 0.8);
    round_to_dtype(xd, nx, dtype);
    round_to_dtype(hd, nh, dtype);
    rng_fill(g, god, VT * VB * VH, -1, 1);
    void *x = to_dtype(xd, nx, dtype), *h0 = to_dtype(hd, nh, dtype);
    void *go = to_dtype(god, VT * VB * VH, dtype);
    const size_t bytes = results_bytes(a.m, dtype);
    unsigned char *ra_ = malloc(bytes), *rb = malloc(bytes);
    CHECK(run_all(b.m, dtype, x, h0, go, rb) == bytes);   /* packs b's own weights */
    CHECK(copy_through_views(b.m, a.m, per_name));
    CHECK(run_all(a.m, dtype, x, h0, go, ra_) == bytes);
    CHECK(run_all(b.m, dtype, x, h0, go, rb) == bytes);
    CHECK_SAME("views + gru_params_changed == gru_param_set", ra_, rb, bytes);
    /* and both are right: b's inference output against the float64 reference */
    const size_t nout = VT * VB * VH;
    double *ref = malloc(nout * sizeof(double)), *got = malloc(nout * sizeof(double));
    ref_forward(&a.ref, VT, VB, 0, xd, hd, NULL, ref, NULL);
    from_dtype(got, rb, nout, dtype);
    CHECK_CLOSE("inference output vs float64 reference", ref, got, nout,
                es == sizeof(float) ? 1e-4 : 1e-12);
    free(ref);
    free(got);
    free(ra_); free(rb); free(x); free(h0); free(go); free(xd); free(hd); free(god);
    tmodel_free(&a);
    tmodel_free(&b);
}

/* A training workspace filled before gru_params_changed (a weight, a bias, or NULL) is
 * stale; one filled after is accepted. */
static void stale_case(const char *isa, rng *g)
{
    check_set_ctx("views stale workspace isa=%s", isa);
    gru_config cfg = make_config(VI, VH, 1, 0, 1, 1, GRU_FLOAT32);
    tmodel a;
    if (!tmodel_create(&a, &cfg, g, 0.5)) return;
    const char *names[3] = {"weight_hh_l0", "bias_ih_l0", NULL};
    size_t ws = 0;
    gru_workspace_size(a.m, VT, VB, 1, &ws);
    float x[VT * VB * VI], out[VT * VB * VH], gx[VT * VB * VI];
    for (size_t i = 0; i < VT * VB * VI; i++) x[i] = (float)i / 50.0f - 0.5f;
    void *work = malloc(ws);
    for (int k = 0; k < 3; k++) {
        CHECK_OK(gru_forward(a.m, 1, VT, VB, 0, x, NULL, NULL, out, NULL, work, ws));
        CHECK_OK(gru_params_changed(a.m, names[k]));
        CHECK_STATUS(gru_backward(a.m, VT, VB, 0, x, work, ws, out, NULL, gx, NULL),
                     GRU_ERR_WORKSPACE);
        CHECK_OK(gru_forward(a.m, 1, VT, VB, 0, x, NULL, NULL, out, NULL, work, ws));
        CHECK_OK(gru_backward(a.m, VT, VB, 0, x, work, ws, out, NULL, gx, NULL));
    }
    free(work);
    tmodel_free(&a);
}

static void errors_case(rng *g)
{
    check_set_ctx("views errors");
    gru_config cfg = make_config(VI, VH, 1, 0, 1, 1, GRU_FLOAT64);
    tmodel a;
    if (!tmodel_create(&a, &cfg, g, 0.5)) return;
    void *d = NULL, *d2 = NULL;
    size_t n = 0;
    CHECK_STATUS(gru_param_data(NULL, "weight_ih_l0", &d, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_data(a.m, NULL, &d, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_data(a.m, "weight_ih_l0", NULL, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_param_data(a.m, "weight_ih_l9", &d, &n), GRU_ERR_UNKNOWN_NAME);
    CHECK_STATUS(gru_grad_data(NULL, "weight_ih_l0", &d, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_grad_data(a.m, NULL, &d, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_grad_data(a.m, "weight_ih_l0", NULL, &n), GRU_ERR_NULL);
    CHECK_STATUS(gru_grad_data(a.m, "nope", &d, &n), GRU_ERR_UNKNOWN_NAME);
    CHECK_STATUS(gru_params_changed(NULL, NULL), GRU_ERR_NULL);
    CHECK_STATUS(gru_params_changed(NULL, "weight_ih_l0"), GRU_ERR_NULL);
    CHECK_STATUS(gru_params_changed(a.m, "bias_hh_l1"), GRU_ERR_UNKNOWN_NAME);
    /* count may be NULL; the view is the same storage every time, holding the values */
    CHECK_OK(gru_param_data(a.m, "bias_hh_l0", &d, NULL));
    CHECK_OK(gru_param_data(a.m, "bias_hh_l0", &d2, &n));
    CHECK(d == d2 && n == 3 * VH);
    double got[3 * VH];
    CHECK_OK(gru_param_get(a.m, "bias_hh_l0", got, n));
    CHECK_SAME("gru_param_data reads the values", got, d, n * sizeof(double));
    CHECK_OK(gru_grad_data(a.m, "weight_ih_l0", &d, &n));
    CHECK_INT_EQ(n, 3 * VH * VI);
    tmodel_free(&a);
}

/* ---- several threads start inference right after a change ---------------------- */
typedef struct thread_arg {
    gru_model *m;
    const float *x;
    float *out;          /* (VT, VB, VH) */
    pthread_barrier_t *start;
    int status;
} thread_arg;

static void *infer_thread(void *p)
{
    thread_arg *t = p;
    pthread_barrier_wait(t->start);
    t->status = gru_forward(t->m, 0, VT, VB, 0, t->x, NULL, NULL, t->out, NULL, NULL, 0);
    return NULL;
}

static void threads_case(const char *isa, rng *g)
{
    check_set_ctx("views threads isa=%s", isa);
    gru_config cfg = make_config(VI, VH, VL, 0, 1, 0, GRU_FLOAT32);
    tmodel a, b;
    if (!tmodel_create(&a, &cfg, g, 0.5)) return;
    if (!tmodel_create(&b, &cfg, g, 0.5)) { tmodel_free(&a); return; }
    float x[VT * VB * VI], ref[VT * VB * VH], out[NTHREADS][VT * VB * VH];
    for (size_t i = 0; i < VT * VB * VI; i++) x[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
    CHECK_OK(gru_set_num_threads(b.m, 2));
    for (int round = 0; round < 3; round++) {
        CHECK_OK(gru_forward(b.m, 0, VT, VB, 0, x, NULL, NULL, ref, NULL, NULL, 0));
        CHECK(copy_through_views(b.m, a.m, round % 2));
        CHECK_OK(gru_forward(a.m, 0, VT, VB, 0, x, NULL, NULL, ref, NULL, NULL, 0));
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, NTHREADS);
        pthread_t th[NTHREADS];
        thread_arg args[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            args[i] = (thread_arg){b.m, x, out[i], &start, -1};
            pthread_create(&th[i], NULL, infer_thread, &args[i]);
        }
        for (int i = 0; i < NTHREADS; i++) {
            pthread_join(th[i], NULL);
            CHECK_OK(args[i].status);
            CHECK_SAME("concurrent forward after a change == reference", ref, out[i],
                       sizeof ref);
        }
        pthread_barrier_destroy(&start);
        /* the next round writes other values (b's old ones back, through a) */
        tmodel_push(&b);
        tmodel_free(&a);
        if (!tmodel_create(&a, &cfg, g, 0.5)) break;
    }
    tmodel_free(&a);
    tmodel_free(&b);
}

void test_views(const char *isa)
{
    rng g = {0x5eed0004};
    for (int dtype = GRU_FLOAT32; dtype <= GRU_FLOAT64; dtype++)
        for (int ra = 0; ra <= 1; ra++)
            for (int per_name = 0; per_name <= 1; per_name++)
                views_case(isa, dtype, ra, per_name, &g);
    stale_case(isa, &g);
    errors_case(&g);
    threads_case(isa, &g);
}
