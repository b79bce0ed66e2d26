/*
 * fuzz_api.c - libFuzzer harness for the C API's argument surface: sizes, lengths,
 * flags, pointers or NULL, workspaces and their sizes, parameter names and counts,
 * thread counts, in any order.
 *
 * The input decodes into a configuration (sizes 1..16, 1..3 layers, or 0, negative,
 * huge; flags, dtype and dropout rates valid or not: negative, 1, huge, NaN, inf), a
 * kernel set (GRU_ISA: unset, each available one, or a name this build lacks) and
 * GRU_THREAD_MIN_WORK (0 for a quarter of the models: threads on tiny problems), then up
 * to 32 calls with arguments from the input: gru_param_set/get, views and
 * gru_params_changed, gru_workspace_size, gru_forward (training or not; T and B valid,
 * 0, negative or huge; lengths valid or not; h0 / h_n / lengths / workspace given or
 * NULL; the workspace exact, short or long), gru_backward (after a matching training
 * forward, a mismatched one, an inference one, stale parameters, a short or a garbage
 * workspace), gru_dropout_masks, gru_step_scratch_size / gru_step / gru_step_reset,
 * gru_set_num_threads (1..3 and invalid values), gru_zero_grad, gru_set_seed and calls
 * on a NULL model.
 *
 * Every buffer is allocated at exactly the size the call is told (ASan sees any read
 * or write past it) and filled from the input. Sizes stay small (T <= 8, B <= 4) so an
 * input runs in well under a millisecond; a "huge" size is only passed where the
 * library must refuse it before touching a buffer (the harness never breaks the API's
 * contract, so a crash is libgru's).
 * Checked: every status is a known gru_status with a gru_strerror text and the one the
 * arguments call for (the harness knows which are valid); a successful gru_forward
 * writes finite outputs (for finite inputs and tame parameters) and zeros past each
 * length; gru_step's output is the last layer's state; gru_step_reset zeros exactly its
 * stream; dropout masks hold 0 or 1/(1-p); gru_param_get returns what gru_param_set
 * stored; nothing leaks (LeakSanitizer).
 */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include "fuzz_common.h"

#define MAX_OPS 16

/* One value of each kind the generators below produce as "huge": the library must
 * refuse these with a status before it reads or writes any buffer. */
#define HUGE_A INT64_MAX
#define HUGE_B ((int64_t)1 << 62)

/* Bitmasks of acceptable statuses. */
#define S(x) (1u << (x))
#define ANY_FAIL (~S(GRU_OK))

/* With FUZZ_API_STATS=1 in the environment, the harness counts the statuses of each
 * call and prints the table at exit (to see which paths a corpus reaches). */
#define NSTAT 32
static struct { const char *call; unsigned long n[FUZZ_LAST_STATUS + 1]; } stats[NSTAT];
static int stats_on;

static void stat_add(const char *call, int st)
{
    if (!stats_on || !fuzz_known(st)) return;
    for (int k = 0; k < NSTAT; k++) {
        if (!stats[k].call) stats[k].call = call;
        if (strcmp(stats[k].call, call) == 0) {
            stats[k].n[st]++;
            return;
        }
    }
}

static void stats_print(void)
{
    fprintf(stderr, "fuzz_api statuses per call (0 = GRU_OK ... %d):\n", FUZZ_LAST_STATUS);
    for (int k = 0; k < NSTAT && stats[k].call; k++) {
        fprintf(stderr, "  %-22s", stats[k].call);
        for (int s = 0; s <= FUZZ_LAST_STATUS; s++)
            if (stats[k].n[s]) fprintf(stderr, " %d:%lu", s, stats[k].n[s]);
        fputc('\n', stderr);
    }
}

#define EXPECT(call, st, mask)                                                             \
    do {                                                                                   \
        const int ex_ = (int)(st);   /* evaluated once: st may be the call itself */       \
        stat_add(call, ex_);                                                               \
        CHECK_KNOWN(call, ex_);                                                            \
        CHECK((mask) & S(ex_), "%s returned %d (%s), expected mask 0x%x", call, ex_,        \
              gru_strerror(ex_), (unsigned)(mask));                                        \
    } while (0)

/* ---- decoding helpers --------------------------------------------------------------- */

/* A model size: mostly 1..max, else 0, negative or huge. */
static int64_t take_model_size(fz *f, int64_t max)
{
    const uint8_t sel = fz_u8(f);
    switch (sel % 16) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT64_MIN;
    case 3: return HUGE_A;
    case 4: return HUGE_B;
    default: return 1 + (int64_t)(fz_u8(f) % max);
    }
}

/* T or B: mostly 1..max, else 0, negative or huge (*huge set for those). */
static int64_t take_dim(fz *f, int64_t max, int *huge)
{
    const uint8_t sel = fz_u8(f);
    switch (sel % 16) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT64_MIN;
    case 3: *huge = 1; return HUGE_A;
    case 4: *huge = 1; return HUGE_B;
    default: return 1 + (int64_t)(fz_u8(f) % max);
    }
}

static int32_t take_flag(fz *f)
{
    const uint8_t sel = fz_u8(f);
    switch (sel % 12) {
    case 0: return 2;
    case 1: return -1;
    case 2: return INT32_MIN;
    default: return sel & 1;
    }
}

static double take_rate(fz *f)
{
    const uint8_t sel = fz_u8(f);
    switch (sel % 16) {
    case 0: return -0.5;
    case 1: return 1.0;
    case 2: return 1e300;
    case 3: return NAN;
    case 4: return INFINITY;
    case 5: return -0.0;
    case 6: return nextafter(1.0, 0.0);
    case 7: return 0.5;
    case 8: return (double)fz_u8(f) / 256.0;
    case 9: return 0.25;
    default: return 0.0;
    }
}

static int rate_ok(double p) { return p >= 0.0 && p < 1.0; }

/* ---- the state of one input's run ------------------------------------------------- */

enum { WS_NONE, WS_TRAIN, WS_INFER, WS_GARBAGE };

typedef struct run {
    fz in;
    gru_model *m;
    gru_config cfg;
    size_t I, H, L, D, elem, ntensors;
    int steppable;                 /* unidirectional, not reverse */
    int tame;                      /* every parameter finite, |p| <= 4 */
    /* the workspace of the last training forward (or garbage), owned here */
    unsigned char *ws;
    size_t ws_bytes;
    int ws_kind;
    int ws_stale;                  /* parameters changed since it was filled */
    int64_t T, B;
    int bf;
    void *x;                       /* that forward's input */
} run;

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    CHECK(p, "out of memory in the harness (%zu bytes)", bytes);
    return p;
}

static double get_elem(const run *r, const void *buf, size_t i)
{
    return r->elem == 8 ? ((const double *)buf)[i] : ((const float *)buf)[i];
}

static void set_elem(const run *r, void *buf, size_t i, double v)
{
    if (r->elem == 8) ((double *)buf)[i] = v;
    else ((float *)buf)[i] = (float)v;
}

/* n elements of the model's dtype from the input, in [-4, 4). special: some entries
 * may be NaN / inf / 1e30 (returns 1 if any was). */
static int fill(run *r, void *buf, size_t n, int special)
{
    int wild = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t b = fz_u8(&r->in);
        double v = (double)(int8_t)b / 32.0;
        if (special && b >= 0xfc) {
            v = b == 0xfc ? NAN : b == 0xfd ? INFINITY : b == 0xfe ? -INFINITY : 1e30;
            wild = 1;
        }
        set_elem(r, buf, i, v);
    }
    return wild;
}

static void *alloc_filled(run *r, size_t n)
{
    void *p = xmalloc(n * r->elem);
    fill(r, p, n, 0);
    return p;
}

static void drop_ws(run *r)
{
    free(r->ws);
    free(r->x);
    r->ws = NULL;
    r->x = NULL;
    r->ws_kind = WS_NONE;
    r->ws_bytes = 0;
    r->ws_stale = 0;
}

/* A tensor's name and element count, by index. */
static const char *tensor(const run *r, size_t i, size_t *numel)
{
    const char *name;
    int ndim;
    int64_t shape[2] = {0, 0};
    gru_status st = gru_param_info(r->m, i, &name, &ndim, shape);
    CHECK(st == GRU_OK && name, "gru_param_info(%zu)", i);
    *numel = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    return name;
}

/* A parameter name: one of the model's (*idx its index) or one it does not have. */
static const char *take_name(run *r, size_t *idx, size_t *numel, char *scratch, size_t cap)
{
    static const char *const bad[] = {"", "weight_ih", "weight_ih_l3", "weight_ih_l0_reverse",
                                      "bias_ih_l99", "weight_ih_l0 ", "WEIGHT_IH_L0",
                                      "weight_hh_l-1", "weight_ih_l00"};
    const size_t sel = fz_u8(&r->in) % (r->ntensors + 4);
    *idx = SIZE_MAX;
    *numel = 0;
    if (sel < r->ntensors) {
        *idx = sel;
        return tensor(r, sel, numel);
    }
    if (sel == r->ntensors) {   /* a string from the input */
        size_t n = fz_u8(&r->in) % cap;
        for (size_t k = 0; k < n; k++) scratch[k] = (char)(fz_u8(&r->in) | 1);
        scratch[n] = '\0';
        for (size_t i = 0; i < r->ntensors; i++) {   /* it may name a tensor after all */
            size_t c;
            if (strcmp(tensor(r, i, &c), scratch) == 0) *idx = i, *numel = c;
        }
        return scratch;
    }
    const char *name = bad[fz_u8(&r->in) % (sizeof bad / sizeof bad[0])];
    for (size_t i = 0; i < r->ntensors; i++) {
        size_t c;
        if (strcmp(tensor(r, i, &c), name) == 0) *idx = i, *numel = c;
    }
    return name;
}

/* An element count: the right one, one off, 0 or SIZE_MAX. */
static size_t take_count(run *r, size_t right)
{
    switch (fz_u8(&r->in) % 8) {
    case 0: return right + 1;
    case 1: return right ? right - 1 : 0;
    case 2: return 0;
    case 3: return SIZE_MAX;
    default: return right;
    }
}

/* ---- the configuration -------------------------------------------------------------- */

static int config_valid(const gru_config *c)
{
    return c->input_size >= 1 && c->hidden_size >= 1 && c->num_layers >= 1 &&
           (c->bidirectional == 0 || c->bidirectional == 1) && (c->bias == 0 || c->bias == 1) &&
           (c->reset_after == 0 || c->reset_after == 1) &&
           (c->dtype == GRU_FLOAT32 || c->dtype == GRU_FLOAT64) && rate_ok(c->dropout) &&
           rate_ok(c->input_dropout) && rate_ok(c->recurrent_dropout) &&
           (c->reverse == 0 || c->reverse == 1) && !(c->reverse && c->bidirectional);
}

static int config_huge(const gru_config *c)
{
    return c->input_size > 16 || c->hidden_size > 16 || c->num_layers > 3;
}

/* Calls on a NULL model (or with NULL outputs) refuse with GRU_ERR_NULL. */
static void null_calls(run *r)
{
    size_t n;
    void *d;
    gru_config c;
    unsigned char buf[256];
    memset(buf, 0, sizeof buf);
    EXPECT("gru_param_count", gru_param_count(NULL, &n), S(GRU_ERR_NULL));
    EXPECT("gru_get_config", gru_get_config(NULL, &c), S(GRU_ERR_NULL));
    EXPECT("gru_workspace_size", gru_workspace_size(NULL, 1, 1, 1, &n), S(GRU_ERR_NULL));
    EXPECT("gru_forward", gru_forward(NULL, 0, 1, 1, 0, buf, NULL, NULL, buf, NULL, NULL, 0),
           S(GRU_ERR_NULL));
    EXPECT("gru_backward", gru_backward(NULL, 1, 1, 0, buf, buf, sizeof buf, NULL, NULL, NULL,
                                        NULL), S(GRU_ERR_NULL));
    EXPECT("gru_step", gru_step(NULL, 1, buf, buf, NULL, NULL, 0), S(GRU_ERR_NULL));
    EXPECT("gru_step_reset", gru_step_reset(NULL, 1, buf, 0), S(GRU_ERR_NULL));
    EXPECT("gru_step_scratch_size", gru_step_scratch_size(NULL, 1, &n), S(GRU_ERR_NULL));
    EXPECT("gru_param_set", gru_param_set(NULL, "weight_ih_l0", buf, 1), S(GRU_ERR_NULL));
    EXPECT("gru_param_get", gru_param_get(NULL, "weight_ih_l0", buf, 1), S(GRU_ERR_NULL));
    EXPECT("gru_param_data", gru_param_data(NULL, "weight_ih_l0", &d, &n), S(GRU_ERR_NULL));
    EXPECT("gru_zero_grad", gru_zero_grad(NULL), S(GRU_ERR_NULL));
    EXPECT("gru_set_seed", gru_set_seed(NULL, 1), S(GRU_ERR_NULL));
    EXPECT("gru_set_num_threads", gru_set_num_threads(NULL, 1), S(GRU_ERR_NULL));
    EXPECT("gru_params_changed", gru_params_changed(NULL, NULL), S(GRU_ERR_NULL));
    EXPECT("gru_dropout_masks", gru_dropout_masks(NULL, buf, sizeof buf, 0, 0, NULL, 0, NULL,
                                                  0), S(GRU_ERR_NULL));
    EXPECT("gru_create", gru_create(&r->cfg, NULL), S(GRU_ERR_NULL));
    gru_model *m = (gru_model *)buf;
    EXPECT("gru_create", gru_create(NULL, &m), S(GRU_ERR_NULL));
    CHECK(m == NULL, "gru_create(NULL, &m) left *out set");
    CHECK(gru_get_num_threads(NULL) == 0 && gru_isa(NULL) == NULL, "NULL model getters");
    gru_destroy(NULL);
}

/* GRU_ISA for the next gru_create: unset, each available set, or one this build or CPU
 * lacks. Returns 1 when the name is unavailable. */
static int take_isa(run *r)
{
    static char names[8][16];
    static size_t nnames = 0;
    if (!nnames) {
        const char *a = gru_available_isas();
        while (*a && nnames < 8) {
            size_t k = 0;
            while (a[k] && a[k] != ' ' && k < 15) names[nnames][k] = a[k], k++;
            names[nnames++][k] = '\0';
            a += k;
            while (*a == ' ') a++;
        }
    }
    const size_t sel = fz_u8(&r->in) % (nnames + 3);
    if (sel < nnames) {
        setenv("GRU_ISA", names[sel], 1);
        return 0;
    }
    if (sel == nnames) {
        setenv("GRU_ISA", "no-such-isa", 1);
        return 1;
    }
    unsetenv("GRU_ISA");
    return 0;
}

static void create_model(run *r)
{
    gru_config *c = &r->cfg;
    gru_config_init(c);
    c->input_size = take_model_size(&r->in, 16);
    c->hidden_size = take_model_size(&r->in, 16);
    c->num_layers = take_model_size(&r->in, 3);
    c->bidirectional = take_flag(&r->in);
    c->bias = take_flag(&r->in);
    c->reset_after = take_flag(&r->in);
    c->reverse = take_flag(&r->in) & (fz_u8(&r->in) % 4 == 0 ? -1 : 0);   /* mostly 0 */
    const uint8_t dt = fz_u8(&r->in);
    c->dtype = dt % 8 == 0 ? 0 : dt % 8 == 1 ? 3 : dt % 8 == 2 ? -1 : (dt & 1) ? 2 : 1;
    c->dropout = take_rate(&r->in);
    c->input_dropout = take_rate(&r->in);
    c->recurrent_dropout = take_rate(&r->in);
    c->seed = fz_u64(&r->in);
    const int bad_isa = take_isa(r);
    /* a quarter of the models thread even this harness's tiny problems (when given 2 or
     * 3 threads); the others keep the default minimum and run them on one thread: the
     * pool's barriers spin, which on a busy 2-core machine costs more than it finds */
    setenv("GRU_THREAD_MIN_WORK", fz_u8(&r->in) % 4 == 0 ? "0" : "131072", 1);

    gru_status st = gru_create(c, &r->m);
    const int valid = config_valid(c);
    if (!valid) EXPECT("gru_create", st, S(GRU_ERR_INVALID_ARG));
    else if (config_huge(c)) EXPECT("gru_create", st, S(GRU_ERR_OVERFLOW) | S(GRU_ERR_NO_MEMORY));
    else if (bad_isa) EXPECT("gru_create", st, S(GRU_ERR_ISA_UNAVAILABLE));
    else EXPECT("gru_create", st, S(GRU_OK));
    CHECK((st == GRU_OK) == (r->m != NULL), "gru_create: status %d, model %p", (int)st,
          (void *)r->m);
    if (st == GRU_OK) return;

    /* refused: the calls on no model, then a model from the repaired configuration */
    null_calls(r);
    if (c->input_size < 1 || c->input_size > 16) c->input_size = 3;
    if (c->hidden_size < 1 || c->hidden_size > 16) c->hidden_size = 4;
    if (c->num_layers < 1 || c->num_layers > 3) c->num_layers = 2;
    c->bidirectional &= 1;
    c->bias &= 1;
    c->reset_after &= 1;
    c->reverse = c->reverse && !c->bidirectional;
    if (c->dtype != GRU_FLOAT64) c->dtype = GRU_FLOAT32;
    if (!rate_ok(c->dropout)) c->dropout = 0.25;
    if (!rate_ok(c->input_dropout)) c->input_dropout = 0;
    if (!rate_ok(c->recurrent_dropout)) c->recurrent_dropout = 0;
    unsetenv("GRU_ISA");
    EXPECT("gru_create", gru_create(c, &r->m), S(GRU_OK));
}

/* ---- the calls -------------------------------------------------------------------- */

static void op_param_set(run *r)
{
    char scratch[64];
    size_t idx, numel;
    const char *name = take_name(r, &idx, &numel, scratch, sizeof scratch);
    const size_t count = take_count(r, numel);
    const int null_src = fz_u8(&r->in) % 16 == 0, special = fz_u8(&r->in) % 8 == 0;
    const size_t n = count <= numel + 1 ? count : 1;   /* SIZE_MAX: must be refused */
    void *src = null_src ? NULL : xmalloc(n * r->elem);
    const int wild = src ? fill(r, src, n, special) : 0;
    const gru_status st = gru_param_set(r->m, name, src, count);
    if (null_src) EXPECT("gru_param_set", st, S(GRU_ERR_NULL));
    else if (idx == SIZE_MAX) EXPECT("gru_param_set", st, S(GRU_ERR_UNKNOWN_NAME));
    else if (count != numel) EXPECT("gru_param_set", st, S(GRU_ERR_SIZE_MISMATCH));
    else EXPECT("gru_param_set", st, S(GRU_OK));
    if (st == GRU_OK) {
        if (wild) r->tame = 0;
        r->ws_stale = 1;
        void *back = xmalloc(numel * r->elem);
        EXPECT("gru_param_get", gru_param_get(r->m, name, back, numel), S(GRU_OK));
        CHECK(memcmp(back, src, numel * r->elem) == 0, "gru_param_get(%s) differs from "
              "what gru_param_set stored", name);
        free(back);
    }
    free(src);
}

/* gru_param_get / gru_grad_get with arguments valid or not. */
static void op_param_get(run *r)
{
    char scratch[64];
    size_t idx, numel;
    const char *name = take_name(r, &idx, &numel, scratch, sizeof scratch);
    const size_t count = take_count(r, numel);
    const int null_dst = fz_u8(&r->in) % 16 == 0, grad = fz_u8(&r->in) & 1;
    const size_t n = count <= numel + 1 ? count : 1;
    void *dst = null_dst ? NULL : xmalloc(n * r->elem);
    const gru_status st = grad ? gru_grad_get(r->m, name, dst, count)
                               : gru_param_get(r->m, name, dst, count);
    const char *call = grad ? "gru_grad_get" : "gru_param_get";
    if (null_dst) EXPECT(call, st, S(GRU_ERR_NULL));
    else if (idx == SIZE_MAX) EXPECT(call, st, S(GRU_ERR_UNKNOWN_NAME));
    else if (count != numel) EXPECT(call, st, S(GRU_ERR_SIZE_MISMATCH));
    else EXPECT(call, st, S(GRU_OK));
    free(dst);
}

/* Writes through gru_param_data, then gru_params_changed (named, NULL, or first a name
 * the model lacks). */
static void op_param_view(run *r)
{
    char scratch[64];
    size_t idx, numel;
    const char *name = take_name(r, &idx, &numel, scratch, sizeof scratch);
    void *data = NULL;
    size_t count = 0;
    gru_status st = gru_param_data(r->m, name, &data, &count);
    if (idx == SIZE_MAX) {
        EXPECT("gru_param_data", st, S(GRU_ERR_UNKNOWN_NAME));
        EXPECT("gru_params_changed", gru_params_changed(r->m, name), S(GRU_ERR_UNKNOWN_NAME));
        return;
    }
    EXPECT("gru_param_data", st, S(GRU_OK));
    CHECK(count == numel && data, "gru_param_data(%s): count %zu, expected %zu", name, count,
          numel);
    const size_t lo = count ? fz_u8(&r->in) % count : 0;
    const size_t hi = lo + (count ? fz_u8(&r->in) % (count - lo + 1) : 0);
    if (fill(r, (char *)data + lo * r->elem, hi - lo, fz_u8(&r->in) % 8 == 0)) r->tame = 0;
    EXPECT("gru_params_changed", gru_params_changed(r->m, fz_u8(&r->in) & 1 ? name : NULL),
           S(GRU_OK));
    r->ws_stale = 1;
    void *g = NULL;
    EXPECT("gru_grad_data", gru_grad_data(r->m, name, &g, NULL), S(GRU_OK));
    CHECK(g != NULL, "gru_grad_data(%s) gave NULL", name);
}

static void op_workspace_size(run *r)
{
    int huge = 0;
    const int64_t T = take_dim(&r->in, 8, &huge), B = take_dim(&r->in, 4, &huge);
    const int training = take_flag(&r->in), null_out = fz_u8(&r->in) % 16 == 0;
    size_t bytes = 0;
    const gru_status st = gru_workspace_size(r->m, T, B, training, null_out ? NULL : &bytes);
    if (null_out) EXPECT("gru_workspace_size", st, S(GRU_ERR_NULL));
    else if (T < 1 || B < 1) EXPECT("gru_workspace_size", st, S(GRU_ERR_INVALID_ARG));
    else if (huge) EXPECT("gru_workspace_size", st, S(GRU_OK) | S(GRU_ERR_OVERFLOW));
    else {
        EXPECT("gru_workspace_size", st, S(GRU_OK));
        CHECK(bytes >= 128, "gru_workspace_size: %zu bytes", bytes);
    }
}

/* Outputs of a successful forward: zeros past each length, finite when they must be. */
static void check_outputs(run *r, int64_t T, int64_t B, int bf, const int32_t *lengths,
                          const void *out, const void *hn, int inputs_finite)
{
    const size_t DH = r->D * r->H;
    const int must_be_finite = r->tame && inputs_finite;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            const size_t row = bf ? (size_t)(b * T + t) : (size_t)(t * B + b);
            for (size_t j = 0; j < DH; j++) {
                const double v = get_elem(r, out, row * DH + j);
                if (lengths && t >= lengths[b])
                    CHECK(v == 0.0, "output t=%lld b=%lld j=%zu is %g past length %d",
                          (long long)t, (long long)b, j, v, (int)lengths[b]);
                else if (must_be_finite)
                    CHECK(isfinite(v), "output t=%lld b=%lld j=%zu is %g (finite inputs, "
                          "tame parameters)", (long long)t, (long long)b, j, v);
            }
        }
    if (hn && must_be_finite)
        for (size_t k = 0; k < r->L * r->D * (size_t)B * r->H; k++)
            CHECK(isfinite(get_elem(r, hn, k)), "h_n[%zu] is %g", k, get_elem(r, hn, k));
}

static void op_forward(run *r)
{
    int huge = 0;
    int64_t T = take_dim(&r->in, 8, &huge), B = take_dim(&r->in, 4, &huge);
    int training = take_flag(&r->in);
    const int bf = take_flag(&r->in);
    const uint8_t opts = fz_u8(&r->in), wsel = fz_u8(&r->in) % 8;
    const int null_x = opts % 32 == 0, null_out = opts % 32 == 1;
    const int want_lengths = opts & 4, want_h0 = opts & 8, want_hn = opts & 16;
    const int wild_x = (opts & 0xe0) == 0xe0;
    const int valid = T >= 1 && B >= 1 && !huge;
    if (huge) training = 1 | training;   /* an inference forward would read x for all T */

    /* sizes of the buffers (1 element when the sizes are invalid: never read) */
    const size_t t_ = valid ? (size_t)T : 1, b_ = valid ? (size_t)B : 1;
    const size_t nx = t_ * b_ * r->I, no = t_ * b_ * r->D * r->H, nh = r->L * r->D * b_ * r->H;
    void *x = null_x ? NULL : xmalloc(nx * r->elem);
    const int wild = x ? fill(r, x, nx, wild_x) : 0;
    void *out = null_out ? NULL : xmalloc(no * r->elem);
    void *h0 = want_h0 ? alloc_filled(r, nh) : NULL;
    void *hn = want_hn ? xmalloc(nh * r->elem) : NULL;
    int32_t *lengths = NULL;
    int bad_lengths = 0;
    /* lengths: B entries (1 when B < 1: never read); never with a huge B */
    const size_t bl = B >= 1 && B <= 4 ? (size_t)B : 1;
    if (want_lengths && !(huge && B > 4)) {
        lengths = xmalloc(bl * sizeof *lengths);
        for (size_t b = 0; b < bl; b++) {
            const uint8_t v = fz_u8(&r->in);
            const int64_t tt = valid ? T : 8;
            switch (v % 16) {
            case 0: lengths[b] = 0; break;
            case 1: lengths[b] = -1; break;
            case 2: lengths[b] = (int32_t)(tt + 1); break;
            case 3: lengths[b] = INT32_MIN; break;
            case 4: lengths[b] = INT32_MAX; break;
            default: lengths[b] = (int32_t)(1 + v % tt);
            }
            if (lengths[b] < 1 || lengths[b] > T) bad_lengths = 1;
        }
    }
    /* the workspace: NULL (inference only), exact, one short, or longer */
    size_t need = 0, bytes = 0;
    unsigned char *ws = NULL;
    if (valid) EXPECT("gru_workspace_size", gru_workspace_size(r->m, T, B, training, &need),
                      S(GRU_OK));
    if (huge || training || wsel >= 4) {
        bytes = huge ? 64 + wsel * 64 : wsel % 4 == 1 ? need - 1 : wsel % 4 == 2 ? need + 8 : need;
        if (!valid && !huge) bytes = 64;
        ws = xmalloc(bytes);
        memset(ws, 0, bytes);
    }
    if (training && wsel == 7 && !huge) {   /* a training forward with no workspace */
        free(ws);
        ws = NULL;
    }
    const gru_status st = gru_forward(r->m, training, T, B, bf, x, h0, lengths, out, hn, ws,
                                      bytes);
    if (!x || !out || (training && !ws)) EXPECT("gru_forward", st, S(GRU_ERR_NULL));
    else if (T < 1 || B < 1) EXPECT("gru_forward", st, S(GRU_ERR_INVALID_ARG));
    else if (huge) EXPECT("gru_forward", st, ANY_FAIL);
    else if (bad_lengths) EXPECT("gru_forward", st, S(GRU_ERR_BAD_LENGTHS));
    else if (ws && bytes < need) EXPECT("gru_forward", st, S(GRU_ERR_WORKSPACE));
    else EXPECT("gru_forward", st, S(GRU_OK));

    if (st == GRU_OK) check_outputs(r, T, B, bf != 0, lengths, out, hn, !wild);
    if (st == GRU_OK && training) {   /* keep it for backward and the masks */
        drop_ws(r);
        r->ws = ws;
        r->ws_bytes = bytes;
        r->ws_kind = WS_TRAIN;
        r->T = T;
        r->B = B;
        r->bf = bf;
        r->x = x;
        ws = NULL;
        x = NULL;
    }
    free(x);
    free(out);
    free(h0);
    free(hn);
    free(lengths);
    free(ws);
}

/* An inference forward into the kept training workspace: backward then refuses it. */
static void op_forward_into_kept(run *r)
{
    if (r->ws_kind != WS_TRAIN) return;
    const int64_t T = 1 + fz_u8(&r->in) % 8, B = 1 + fz_u8(&r->in) % 4;
    size_t need;
    EXPECT("gru_workspace_size", gru_workspace_size(r->m, T, B, 0, &need), S(GRU_OK));
    void *x = alloc_filled(r, (size_t)(T * B) * r->I);
    void *out = xmalloc((size_t)(T * B) * r->D * r->H * r->elem);
    const gru_status st = gru_forward(r->m, 0, T, B, 0, x, NULL, NULL, out, NULL, r->ws,
                                      r->ws_bytes);
    EXPECT("gru_forward", st, r->ws_bytes >= need ? S(GRU_OK) : S(GRU_ERR_WORKSPACE));
    if (st == GRU_OK) r->ws_kind = WS_INFER;
    free(x);
    free(out);
}

/* Backward: on the kept workspace (matching or not), a short copy of it, or garbage. */
static void op_backward(run *r)
{
    const uint8_t opts = fz_u8(&r->in);
    if (r->ws_kind == WS_NONE || opts % 16 == 0) {   /* a workspace from the input */
        drop_ws(r);
        r->ws_bytes = fz_u8(&r->in) * 2u;
        r->ws = xmalloc(r->ws_bytes);
        for (size_t k = 0; k < r->ws_bytes; k++) r->ws[k] = fz_u8(&r->in);
        r->ws_kind = WS_GARBAGE;
        r->T = 1 + fz_u8(&r->in) % 8;
        r->B = 1 + fz_u8(&r->in) % 4;
        r->bf = 0;
        r->x = alloc_filled(r, (size_t)(r->T * r->B) * r->I);
    }
    int64_t T = r->T, B = r->B;
    int bf = r->bf, huge = 0;
    const int mismatch = opts % 8 == 1;
    if (mismatch) {
        T = take_dim(&r->in, 8, &huge);
        B = take_dim(&r->in, 4, &huge);
        bf = take_flag(&r->in);
    }
    const int same = T == r->T && B == r->B && (bf != 0) == (r->bf != 0);
    /* a short workspace: a copy of the kept one's first bytes */
    size_t bytes = r->ws_bytes;
    const unsigned char *ws = r->ws;
    unsigned char *shortws = NULL;
    if (opts % 8 == 2 && r->ws_bytes) {
        bytes = fz_u8(&r->in) % 2 ? r->ws_bytes - 1 : r->ws_bytes / (2 + fz_u8(&r->in) % 8);
        shortws = xmalloc(bytes);
        memcpy(shortws, r->ws, bytes);
        ws = shortws;
    }
    const int valid = T >= 1 && B >= 1 && !huge;
    const size_t t_ = valid ? (size_t)T : 1, b_ = valid ? (size_t)B : 1;
    const size_t no = t_ * b_ * r->D * r->H, nh = r->L * r->D * b_ * r->H, nx = t_ * b_ * r->I;
    const int null_x = opts % 32 == 3;
    void *x = same ? r->x : alloc_filled(r, nx);
    void *go = opts & 0x20 ? alloc_filled(r, no) : NULL;
    void *ghn = opts & 0x40 ? alloc_filled(r, nh) : NULL;
    void *gx = opts & 0x80 ? xmalloc(nx * r->elem) : NULL;
    void *gh0 = opts & 0x10 ? xmalloc(nh * r->elem) : NULL;
    const gru_status st = gru_backward(r->m, T, B, bf, null_x ? NULL : x, ws, bytes, go, ghn,
                                       gx, gh0);
    size_t need = 0;
    if (valid && r->ws_kind == WS_TRAIN)
        EXPECT("gru_workspace_size", gru_workspace_size(r->m, T, B, 1, &need), S(GRU_OK));
    if (null_x) EXPECT("gru_backward", st, S(GRU_ERR_NULL));
    else if (T < 1 || B < 1) EXPECT("gru_backward", st, S(GRU_ERR_INVALID_ARG));
    else if (bytes < 128) EXPECT("gru_backward", st, S(GRU_ERR_WORKSPACE));
    else if (r->ws_kind == WS_INFER) EXPECT("gru_backward", st, S(GRU_ERR_WRONG_MODE));
    else if (r->ws_kind == WS_GARBAGE)
        EXPECT("gru_backward", st, S(GRU_ERR_WORKSPACE) | S(GRU_ERR_WRONG_MODE));
    else if (huge) EXPECT("gru_backward", st, S(GRU_ERR_WORKSPACE) | S(GRU_ERR_OVERFLOW));
    else if (!same || r->ws_stale || bytes < need) EXPECT("gru_backward", st, S(GRU_ERR_WORKSPACE));
    else EXPECT("gru_backward", st, S(GRU_OK));
    if (x != r->x) free(x);
    free(go);
    free(ghn);
    free(gx);
    free(gh0);
    free(shortws);
}

static void op_dropout_masks(run *r)
{
    if (r->ws_kind == WS_NONE) return;
    const uint8_t opts = fz_u8(&r->in);
    int64_t layer = fz_u8(&r->in) % (r->L + 1), dir = fz_u8(&r->in) % (r->D + 1);
    if (opts % 16 == 0) layer = -1;
    if (opts % 16 == 1) dir = INT64_MIN;
    if (opts % 16 == 2) layer = INT64_MAX;
    const size_t B = r->ws_kind == WS_TRAIN ? (size_t)r->B : 1;
    const size_t in = layer == 0 ? r->I : r->D * r->H;
    const size_t ic = opts & 0x10 ? take_count(r, B * in) : B * in;
    const size_t rc = opts & 0x20 ? take_count(r, B * r->H) : B * r->H;
    void *im = opts & 0x40 ? NULL : xmalloc((ic <= B * in + 1 ? ic : 1) * r->elem);
    void *rm = opts & 0x80 ? NULL : xmalloc((rc <= B * r->H + 1 ? rc : 1) * r->elem);
    const gru_status st = gru_dropout_masks(r->m, r->ws, r->ws_bytes, layer, dir, im, ic, rm, rc);
    const char *call = "gru_dropout_masks";
    if (layer < 0 || (size_t)layer >= r->L || dir < 0 || (size_t)dir >= r->D)
        EXPECT(call, st, S(GRU_ERR_INVALID_ARG));
    else if (r->ws_bytes < 128) EXPECT(call, st, S(GRU_ERR_WORKSPACE));
    else if (r->ws_kind == WS_INFER) EXPECT(call, st, S(GRU_ERR_WRONG_MODE));
    else if (r->ws_kind == WS_GARBAGE)
        EXPECT(call, st, S(GRU_ERR_WORKSPACE) | S(GRU_ERR_WRONG_MODE));
    else if ((im && ic != B * in) || (rm && rc != B * r->H)) EXPECT(call, st, S(GRU_ERR_SIZE_MISMATCH));
    else EXPECT(call, st, S(GRU_OK));
    if (st == GRU_OK && r->ws_kind == WS_TRAIN) {
        const double p[2] = {r->cfg.input_dropout, r->cfg.recurrent_dropout};
        void *mask[2] = {im, rm};
        const size_t n[2] = {ic, rc};
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; mask[k] && i < n[k]; i++) {
                const double v = get_elem(r, mask[k], i), keep = 1.0 / (1.0 - p[k]);
                CHECK(v == 0.0 || fabs(v - keep) <= 1e-6 * keep,
                      "%s mask entry %zu is %.9g, expected 0 or %.9g", k ? "recurrent" : "input",
                      i, v, keep);
                if (p[k] == 0.0) CHECK(v == 1.0, "mask entry %zu is %g with no dropout", i, v);
            }
    }
    free(im);
    free(rm);
}

static void op_step(run *r)
{
    int huge = 0;
    const int64_t B = take_dim(&r->in, 4, &huge);
    const uint8_t opts = fz_u8(&r->in);
    size_t need = 0;
    gru_status st = gru_step_scratch_size(r->m, B, &need);
    if (!r->steppable) EXPECT("gru_step_scratch_size", st, S(GRU_ERR_UNSUPPORTED));
    else if (B < 1) EXPECT("gru_step_scratch_size", st, S(GRU_ERR_INVALID_ARG));
    else if (huge) EXPECT("gru_step_scratch_size", st, S(GRU_ERR_OVERFLOW) | S(GRU_OK));
    else EXPECT("gru_step_scratch_size", st, S(GRU_OK));

    const int valid = B >= 1 && !huge;
    const size_t b_ = valid ? (size_t)B : 1, ns = r->L * b_ * r->H;
    void *x = opts % 32 == 0 ? NULL : alloc_filled(r, b_ * r->I);
    void *state = opts % 32 == 1 ? NULL : alloc_filled(r, ns);
    void *out = opts & 0x20 ? xmalloc(b_ * r->H * r->elem) : NULL;
    /* scratch: NULL (allocated by the library), exact, short or long; always given for
     * a huge B */
    size_t bytes = 0;
    unsigned char *scratch = NULL;
    const uint8_t ssel = (opts >> 6) | (huge ? 1 : 0);
    if (ssel) {
        bytes = !valid || st != GRU_OK ? 64 : ssel == 1 ? need : ssel == 2 ? need - 1 : need + 8;
        scratch = xmalloc(bytes);
    }
    st = gru_step(r->m, B, x, state, out, scratch, bytes);
    if (!x || !state) EXPECT("gru_step", st, S(GRU_ERR_NULL));
    else if (!r->steppable) EXPECT("gru_step", st, S(GRU_ERR_UNSUPPORTED));
    else if (B < 1) EXPECT("gru_step", st, S(GRU_ERR_INVALID_ARG));
    else if (huge) EXPECT("gru_step", st, ANY_FAIL);
    else if (scratch && bytes < need) EXPECT("gru_step", st, S(GRU_ERR_WORKSPACE));
    else EXPECT("gru_step", st, S(GRU_OK));
    if (st == GRU_OK) {
        const size_t last = (r->L - 1) * b_ * r->H;
        if (out) CHECK(memcmp(out, (char *)state + last * r->elem, b_ * r->H * r->elem) == 0,
                       "gru_step's output differs from the last layer's state");
        for (size_t k = 0; k < ns && r->tame; k++)
            CHECK(isfinite(get_elem(r, state, k)), "state[%zu] = %g after gru_step", k,
                  get_elem(r, state, k));
    }
    /* gru_step_reset of one stream: zeros it, leaves the others */
    if (state) {
        int64_t index = (int64_t)(fz_u8(&r->in) % (b_ + 1));
        const uint8_t isel = fz_u8(&r->in) % 16;
        if (isel == 0) index = -1;
        if (isel == 1) index = INT64_MAX;
        void *before = xmalloc(ns * r->elem);
        memcpy(before, state, ns * r->elem);
        st = gru_step_reset(r->m, B, state, index);
        if (!r->steppable) EXPECT("gru_step_reset", st, S(GRU_ERR_UNSUPPORTED));
        else if (B < 1 || index < 0 || index >= B) EXPECT("gru_step_reset", st, S(GRU_ERR_INVALID_ARG));
        else if (huge) EXPECT("gru_step_reset", st, S(GRU_ERR_OVERFLOW));
        else EXPECT("gru_step_reset", st, S(GRU_OK));
        for (size_t l = 0; l < r->L; l++)
            for (size_t b = 0; b < b_; b++)
                for (size_t j = 0; j < r->H; j++) {
                    const size_t at = (l * b_ + b) * r->H + j;
                    const int zeroed = st == GRU_OK && (int64_t)b == index;
                    if (zeroed) CHECK(get_elem(r, state, at) == 0.0, "gru_step_reset left "
                                      "state[%zu][%zu][%zu]", l, b, j);
                    else CHECK(memcmp((char *)state + at * r->elem, (char *)before + at * r->elem,
                                      r->elem) == 0, "gru_step_reset changed state[%zu][%zu][%zu]",
                               l, b, j);
                }
        free(before);
    }
    free(x);
    free(state);
    free(out);
    free(scratch);
}

static void op_threads(run *r)
{
    static const int values[] = {1, 2, 3, 0, -1, INT32_MIN, 1, 1};
    const int n = values[fz_u8(&r->in) % 8];
    const int before = gru_get_num_threads(r->m);
    const gru_status st = gru_set_num_threads(r->m, n);
    if (n < 1) EXPECT("gru_set_num_threads", st, S(GRU_ERR_INVALID_ARG));
    else EXPECT("gru_set_num_threads", st, S(GRU_OK) | S(GRU_ERR_NO_MEMORY));
    const int after = gru_get_num_threads(r->m);
    CHECK(after == (st == GRU_OK ? n : before), "gru_get_num_threads: %d (set %d: %d)", after,
          n, (int)st);
}

static void op_zero_grad(run *r)
{
    EXPECT("gru_zero_grad", gru_zero_grad(r->m), S(GRU_OK));
    size_t numel;
    const char *name = tensor(r, fz_u8(&r->in) % r->ntensors, &numel);
    void *g = NULL;
    size_t count = 0;
    EXPECT("gru_grad_data", gru_grad_data(r->m, name, &g, &count), S(GRU_OK));
    CHECK(count == numel, "gru_grad_data(%s): %zu elements, expected %zu", name, count, numel);
    for (size_t k = 0; k < count; k++)
        CHECK(get_elem(r, g, k) == 0.0, "gradient %s[%zu] not zero after gru_zero_grad", name, k);
}

/* Small calls: seed, config, info with a bad index, strerror of any int. */
static void op_misc(run *r)
{
    const uint8_t sel = fz_u8(&r->in);
    switch (sel % 6) {
    case 0: EXPECT("gru_set_seed", gru_set_seed(r->m, fz_u64(&r->in)), S(GRU_OK)); break;
    case 1: {
        gru_config c;
        EXPECT("gru_get_config", gru_get_config(r->m, &c), S(GRU_OK));
        CHECK(c.input_size == r->cfg.input_size && c.hidden_size == r->cfg.hidden_size &&
                  c.num_layers == r->cfg.num_layers && c.dtype == r->cfg.dtype,
              "gru_get_config disagrees with the configuration");
        EXPECT("gru_get_config", gru_get_config(r->m, NULL), S(GRU_ERR_NULL));
        break;
    }
    case 2: {
        const size_t idx = sel & 0x80 ? SIZE_MAX : r->ntensors + (sel >> 3);
        EXPECT("gru_param_info", gru_param_info(r->m, idx, NULL, NULL, NULL),
               S(GRU_ERR_INVALID_ARG));
        break;
    }
    case 3: CHECK(gru_strerror((int)fz_u32(&r->in)) != NULL, "gru_strerror gave NULL"); break;
    case 4: {
        size_t n;
        EXPECT("gru_param_count", gru_param_count(r->m, &n), S(GRU_OK));
        CHECK(n == r->ntensors, "gru_param_count changed");
        EXPECT("gru_param_count", gru_param_count(r->m, NULL), S(GRU_ERR_NULL));
        void *d;
        EXPECT("gru_param_data", gru_param_data(r->m, NULL, &d, NULL), S(GRU_ERR_NULL));
        EXPECT("gru_param_data", gru_param_data(r->m, "weight_ih_l0", NULL, NULL),
               S(GRU_ERR_NULL));
        break;
    }
    default: {
        const char *isa = gru_isa(r->m);
        CHECK(isa && strstr(gru_available_isas(), isa), "gru_isa: %s", isa ? isa : "NULL");
    }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_check_strerror();
    unsetenv("GRU_NUM_THREADS");
    const char *st = getenv("FUZZ_API_STATS");
    if (st && *st && strcmp(st, "0") != 0) {
        stats_on = 1;
        atexit(stats_print);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run r;
    memset(&r, 0, sizeof r);
    r.in.p = data;
    r.in.n = size;
    r.tame = 1;
    create_model(&r);
    gru_config *c = &r.cfg;
    r.I = (size_t)c->input_size;
    r.H = (size_t)c->hidden_size;
    r.L = (size_t)c->num_layers;
    r.D = c->bidirectional ? 2 : 1;
    r.elem = c->dtype == GRU_FLOAT64 ? 8 : 4;
    r.steppable = !c->bidirectional && !c->reverse;
    EXPECT("gru_param_count", gru_param_count(r.m, &r.ntensors), S(GRU_OK));
    CHECK(r.ntensors == r.L * r.D * (c->bias ? 4 : 2), "gru_param_count: %zu", r.ntensors);
    for (int k = 0; k < MAX_OPS && r.in.n; k++) {
        switch (fz_u8(&r.in) % 13) {
        case 0: op_param_set(&r); break;
        case 1: op_param_get(&r); break;
        case 2: op_param_view(&r); break;
        case 3: op_workspace_size(&r); break;
        case 4: case 5: op_forward(&r); break;
        case 6: op_forward_into_kept(&r); break;
        case 7: case 8: op_backward(&r); break;
        case 9: op_dropout_masks(&r); break;
        case 10: op_step(&r); break;
        case 11: op_threads(&r); break;
        default: if (fz_u8(&r.in) & 1) op_zero_grad(&r); else op_misc(&r);
        }
    }
    drop_ws(&r);
    gru_destroy(r.m);
    return 0;
}
