/*
 * test_bitwise.c - bitwise identity against a recorded table: a fixed grid of 384
 * configurations (both variants, 1-2 layers, unidirectional / bidirectional / reverse,
 * batch-first, h0 and lengths in an orthogonal array of four, no dropout / inter-layer /
 * input + recurrent / all three, float32 and float64, two problem sizes) is run with
 * fixed-seed weights and inputs, and every result tensor is hashed bytewise (FNV-1a
 * 64): inference output and h_n; training output, h_n, grad_x, grad_h0 and every
 * parameter gradient; gru_step's outputs and final state (unidirectional forward
 * models without lengths or dropout). Each configuration runs on 1 and on 2 threads
 * (GRU_THREAD_MIN_WORK=0), both against the same table.
 *
 * Results legitimately differ between kernel sets (and between architectures, whose
 * libm differs), so there is one table per (architecture, ISA), in c/tests/bitwise/;
 * an ISA without a table is reported and skipped. On a mismatch the test prints the
 * configuration and the tensor.
 *
 * The tables were recorded from the code as it was before the drivers were split into
 * forward/backward pairs, and guard every later restructuring. Regenerating them is
 * allowed ONLY for a deliberate numerical change (say so in the commit message):
 *   make -C c build/test_gru
 *   for isa in scalar avx2 avx512; do
 *       GRU_ISA=$isa c/build/test_gru bitwise-record > c/tests/bitwise/x86_64_$isa.h; done
 *   make -C c build/neon/test_gru BUILD=build/neon CC=aarch64-linux-gnu-gcc LDFLAGS=-static
 *   for isa in scalar neon; do GRU_ISA=$isa qemu-aarch64 c/build/neon/test_gru \
 *       bitwise-record > c/tests/bitwise/aarch64_$isa.h; done
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "bitwise/tables.h"

#if defined(__x86_64__)
#define BW_ARCH "x86_64"
#elif defined(__aarch64__)
#define BW_ARCH "aarch64"
#else
#define BW_ARCH "other"
#endif

enum { BW_CONFIGS = 384, BW_MAXH = 48 };

typedef struct bw_config {
    int dtype, ra, dir, L, bf, h0, len, drop, big;   /* dir: 0 uni, 1 bi, 2 reverse */
    int64_t T, B, I, H;
} bw_config;

static void bw_decode(int i, bw_config *c)
{
    static const int combo[4][3] = {{0, 0, 0}, {1, 1, 0}, {0, 1, 1}, {1, 0, 1}};
    c->dtype = i % 2 ? GRU_FLOAT64 : GRU_FLOAT32; i /= 2;
    c->ra = i % 2; i /= 2;
    c->dir = i % 3; i /= 3;
    c->L = 1 + i % 2; i /= 2;
    const int k = i % 4; i /= 4;
    c->bf = combo[k][0]; c->h0 = combo[k][1]; c->len = combo[k][2];
    c->drop = i % 4;
    c->big = (k + c->drop) % 2;
    c->T = c->big ? 10 : 5;     /* big: two inference chunks (Tc = 6, batch-first 8) */
    c->B = c->big ? 24 : 3;
    c->I = c->big ? 7 : 6;
    c->H = c->big ? 27 : 19;
}

static void bw_describe(const bw_config *c, int i, char *buf, size_t n)
{
    static const char *const dirs[3] = {"uni", "bi", "reverse"};
    static const char *const drops[4] = {"none", "inter", "in+rec", "all"};
    snprintf(buf, n, "%d %s ra=%d %s L=%d bf=%d h0=%d len=%d drop=%s T=%lld B=%lld I=%lld H=%lld",
             i, c->dtype == GRU_FLOAT32 ? "f32" : "f64", c->ra, dirs[c->dir], c->L, c->bf, c->h0,
             c->len, drops[c->drop], (long long)c->T, (long long)c->B, (long long)c->I,
             (long long)c->H);
}

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* The hashes of one configuration, with a label each. */
typedef struct bw_result {
    int n;
    uint64_t h[BW_MAXH];
    char label[BW_MAXH][64];
} bw_result;

static void bw_add(bw_result *r, const char *label, const void *p, size_t bytes)
{
    if (r->n >= BW_MAXH) return;
    snprintf(r->label[r->n], sizeof r->label[0], "%s", label);
    r->h[r->n++] = fnv1a(p, bytes);
}

/* Random values of the configuration's dtype (uniform(-s, s)); caller frees. */
static void *bw_values(rng *g, size_t n, double s, int dtype)
{
    double *d = malloc((n ? n : 1) * sizeof(double));
    rng_fill(g, d, n, -s, s);
    void *v = to_dtype(d, n, dtype);
    free(d);
    return v;
}

static gru_model *bw_model(const bw_config *c, int index, int threads, rng *g)
{
    gru_config cfg = make_config(c->I, c->H, c->L, c->dir == 1, 1, c->ra, c->dtype);
    cfg.reverse = c->dir == 2;
    cfg.dropout = c->drop & 1 ? 0.3 : 0.0;
    cfg.input_dropout = c->drop & 2 ? 0.25 : 0.0;
    cfg.recurrent_dropout = c->drop & 2 ? 0.2 : 0.0;
    cfg.seed = 1000u + (uint64_t)index;
    gru_model *m = NULL;
    if (gru_create(&cfg, &m) != GRU_OK) return NULL;
    size_t count = 0;
    gru_param_count(m, &count);
    for (size_t i = 0; i < count; i++) {
        const char *name;
        int64_t shape[2] = {1, 1};
        int ndim = 0;
        gru_param_info(m, i, &name, &ndim, shape);
        const size_t n = (size_t)(shape[0] * (ndim == 2 ? shape[1] : 1));
        void *v = bw_values(g, n, 0.45, c->dtype);
        gru_param_set(m, name, v, n);
        free(v);
    }
    if (gru_set_num_threads(m, threads) != GRU_OK) {
        gru_destroy(m);
        return NULL;
    }
    return m;
}

/* gru_step over the T steps of a time-major x: every output, then the final state. */
static void bw_steps(gru_model *m, const bw_config *c, const void *x, const void *h0,
                     bw_result *r)
{
    const size_t es = dtype_size(c->dtype), nh = (size_t)(c->L * c->B * c->H);
    const size_t bh = (size_t)(c->B * c->H), bi = (size_t)(c->B * c->I);
    unsigned char *state = calloc(nh, es), *outs = malloc((size_t)c->T * bh * es);
    if (h0) memcpy(state, h0, nh * es);
    int ok = 1;
    for (int64_t t = 0; t < c->T; t++)
        ok &= gru_step(m, c->B, (const char *)x + (size_t)t * bi * es, state,
                       outs + (size_t)t * bh * es, NULL, 0) == GRU_OK;
    CHECK_MSG(ok, "gru_step returned GRU_OK");
    bw_add(r, "step outputs", outs, (size_t)c->T * bh * es);
    bw_add(r, "step final state", state, nh * es);
    free(state);
    free(outs);
}

/* Runs configuration `index` on `threads` threads and hashes every result. */
static void bw_run(int index, int threads, bw_result *r)
{
    bw_config c;
    bw_decode(index, &c);
    r->n = 0;
    rng g = {0x9b1e5eedULL + (uint64_t)index};
    gru_model *m = bw_model(&c, index, threads, &g);
    if (!check_require(m != NULL, __FILE__, __LINE__, "bitwise: model %d", index)) return;
    const int64_t D = c.dir == 1 ? 2 : 1, rows = c.T * c.B;
    const size_t es = dtype_size(c.dtype), nh = (size_t)(c.L * D * c.B * c.H);
    const size_t nx = (size_t)(rows * c.I), nout = (size_t)(rows * D * c.H);
    void *x = bw_values(&g, nx, 1.0, c.dtype), *h0 = bw_values(&g, nh, 0.8, c.dtype);
    void *gout = bw_values(&g, nout, 1.0, c.dtype), *ghn = bw_values(&g, nh, 1.0, c.dtype);
    int32_t *len = malloc((size_t)c.B * sizeof *len);
    for (int64_t b = 0; b < c.B; b++) len[b] = 1 + (int32_t)(rng_next(&g) % (uint64_t)c.T);
    void *out = nan_dtype(nout, c.dtype), *hn = nan_dtype(nh, c.dtype);
    void *gx = nan_dtype(nx, c.dtype), *gh0 = nan_dtype(nh, c.dtype);
    const void *h0p = c.h0 ? h0 : NULL;
    const int32_t *lp = c.len ? len : NULL;
    size_t ws = 0;
    int st = gru_forward(m, 0, c.T, c.B, c.bf, x, h0p, lp, out, hn, NULL, 0);
    bw_add(r, "inference output", out, nout * es);
    bw_add(r, "inference h_n", hn, nh * es);
    st |= gru_workspace_size(m, c.T, c.B, 1, &ws);
    void *work = malloc(ws);
    st |= gru_forward(m, 1, c.T, c.B, c.bf, x, h0p, lp, out, hn, work, ws);
    st |= gru_backward(m, c.T, c.B, c.bf, x, work, ws, gout, ghn, gx, gh0);
    CHECK_MSG(st == GRU_OK, "forward / backward returned GRU_OK");
    bw_add(r, "training output", out, nout * es);
    bw_add(r, "training h_n", hn, nh * es);
    bw_add(r, "grad_x", gx, nx * es);
    bw_add(r, "grad_h0", gh0, nh * es);
    size_t count = 0;
    gru_param_count(m, &count);
    for (size_t i = 0; i < count; i++) {
        const char *name;
        void *gd = NULL;
        size_t n = 0;
        char label[64];
        gru_param_info(m, i, &name, NULL, NULL);
        gru_grad_data(m, name, &gd, &n);
        snprintf(label, sizeof label, "grad %s", name);
        bw_add(r, label, gd, n * es);
    }
    if (c.dir == 0 && !c.len && c.drop == 0 && !c.bf) bw_steps(m, &c, x, h0p, r);
    free(work); free(x); free(h0); free(gout); free(ghn); free(len);
    free(out); free(hn); free(gx); free(gh0);
    gru_destroy(m);
}

/* Creates models with every call threaded (GRU_THREAD_MIN_WORK=0) while fn runs. */
static char *bw_env_begin(void)
{
    const char *old = getenv("GRU_THREAD_MIN_WORK");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRU_THREAD_MIN_WORK", "0", 1);
    return saved;
}
static void bw_env_end(char *saved)
{
    if (saved) setenv("GRU_THREAD_MIN_WORK", saved, 1);
    else unsetenv("GRU_THREAD_MIN_WORK");
    free(saved);
}

static const bw_table *bw_find(const char *isa)
{
    for (size_t i = 0; i < sizeof bw_tables / sizeof bw_tables[0]; i++)
        if (strcmp(bw_tables[i].arch, BW_ARCH) == 0 && strcmp(bw_tables[i].isa, isa) == 0)
            return &bw_tables[i];
    return NULL;
}

/* Compares one run with its record at *pos; prints every differing tensor. */
static int bw_compare(const bw_table *t, size_t *pos, int index, int threads,
                      const bw_result *r)
{
    char desc[200];
    bw_config c;
    bw_decode(index, &c);
    bw_describe(&c, index, desc, sizeof desc);
    if (*pos >= t->n || t->h[*pos] != (uint64_t)r->n) {
        printf("FAIL bitwise [%s/%s] config %s threads=%d: the table's layout differs "
               "(recorded %llu tensors, computed %d)\n", t->arch, t->isa, desc, threads,
               *pos < t->n ? (unsigned long long)t->h[*pos] : 0ULL, r->n);
        *pos = t->n;
        return 0;
    }
    int ok = 1;
    for (int k = 0; k < r->n; k++)
        if (t->h[*pos + 1 + (size_t)k] != r->h[k]) {
            printf("FAIL bitwise [%s/%s] config %s threads=%d: %s differs\n", t->arch, t->isa,
                   desc, threads, r->label[k]);
            ok = 0;
        }
    *pos += 1 + (size_t)r->n;
    return ok;
}

void test_bitwise(const char *isa)
{
    const bw_table *t = bw_find(isa);
    if (!t) {
        printf("bitwise [%s]: no recorded table for %s/%s, skipped\n", isa, BW_ARCH, isa);
        return;
    }
    char *saved = bw_env_begin();
    static bw_result r;
    for (int threads = 1; threads <= 2; threads++) {
        size_t pos = 0;
        for (int i = 0; i < BW_CONFIGS && pos < t->n; i++) {
            check_set_ctx("bitwise %s/%s config %d threads=%d", BW_ARCH, isa, i, threads);
            bw_run(i, threads, &r);
            CHECK_MSG(bw_compare(t, &pos, i, threads, &r), "bitwise identical to the table");
        }
        CHECK_MSG(pos == t->n, "the table has %zu entries, the grid used %zu", t->n, pos);
    }
    bw_env_end(saved);
}

void bitwise_record(const char *isa)
{
    char *saved = bw_env_begin();
    static bw_result r;
    printf("/* c/tests/bitwise/%s_%s.h - recorded by `test_gru bitwise-record` with GRU_ISA=%s\n"
           " * (see test_bitwise.c). Per configuration: its tensor count, then one FNV-1a 64\n"
           " * hash per tensor. Do not edit; regenerate only for a deliberate numerical\n"
           " * change. */\n", BW_ARCH, isa, isa);
    printf("static const uint64_t bw_%s_%s[] = {\n", BW_ARCH, isa);
    for (int i = 0; i < BW_CONFIGS; i++) {
        char desc[200];
        bw_config c;
        bw_decode(i, &c);
        bw_describe(&c, i, desc, sizeof desc);
        bw_run(i, 1, &r);
        printf("    /* %s */ %d,\n", desc, r.n);
        for (int k = 0; k < r.n; k++)
            printf("%s0x%016llxULL,%s", k % 3 == 0 ? "    " : " ", (unsigned long long)r.h[k],
                   k % 3 == 2 || k == r.n - 1 ? "\n" : "");
    }
    printf("};\n");
    bw_env_end(saved);
}
