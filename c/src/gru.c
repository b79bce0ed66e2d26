/*
 * gru.c - libgru's public interface (gru.h): models, parameters by name (copies and
 * views), argument checking, and the hand-off to the dtype drivers (gru_impl.h) after
 * the workspace layout (workspace.c) and the lazy repack (packing.c).
 *
 * Every entry point validates its arguments and returns a status; sizes are checked
 * for overflow, and buffer addresses for alignment, before anything is allocated, read
 * or written; nothing here exits, aborts or prints. The calls that use the thread pool
 * (gru_forward, gru_step, gru_backward and their _att forms) run inside the model's gate (pool.h), entered and
 * left by their public wrappers on every path, so gru_set_num_threads can swap the pool
 * without waiting and without freeing one in use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model.h"

const char *gru_version(void) { return GRU_VERSION_STRING; }

int gru_abi_version(void) { return GRU_ABI_VERSION; }

const char *gru_strerror(int status)
{
    switch (status) {
    case GRU_OK: return "success";
    case GRU_ERR_NULL: return "a required pointer argument is NULL";
    case GRU_ERR_INVALID_ARG: return "an argument is out of range (size, flag, dtype or dropout)";
    case GRU_ERR_OVERFLOW: return "the requested sizes overflow the address space";
    case GRU_ERR_NO_MEMORY: return "out of memory";
    case GRU_ERR_UNKNOWN_NAME: return "no parameter of that name in this model";
    case GRU_ERR_SIZE_MISMATCH: return "element count does not match the tensor's size";
    case GRU_ERR_BAD_LENGTHS: return "a sequence length is outside 1..seq_len";
    case GRU_ERR_WORKSPACE:
        return "workspace too small, or not filled by a matching training forward of this "
               "model with the current parameters";
    case GRU_ERR_WRONG_MODE: return "backward needs a training-mode forward first";
    case GRU_ERR_ISA_UNAVAILABLE:
        return "GRU_ISA names a kernel set this build or this CPU does not have";
    case GRU_ERR_IO: return "a file could not be opened, read, written or renamed";
    case GRU_ERR_FORMAT: return "not a valid model file (malformed, or inconsistent with itself)";
    case GRU_ERR_UNSUPPORTED:
        return "not supported for this model's configuration (a bidirectional or reverse "
               "model cannot be stepped; an int8 or bf16 model is inference-only and read-only)";
    case GRU_ERR_BUSY:
        return "other calls were running on the model; the thread count was not changed "
               "(try again)";
    case GRU_ERR_MISALIGNED:
        return "a buffer is misaligned (model-dtype buffers need the element size, lengths "
               "4 bytes, workspaces and scratch 8 bytes)";
    default: return "unknown status code";
    }
}

void gru_config_init(gru_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->num_layers = 1;
    cfg->bias = 1;
    cfg->reset_after = 1;
    cfg->dtype = GRU_FLOAT32;
}

const char *gru_available_isas(void) { return gru_kernels_available(); }

const char *gru_isa(const gru_model *m) { return m ? m->kernels->name : NULL; }

/* ---- creation ---------------------------------------------------------------------- */

static int is_flag(int32_t v) { return v == 0 || v == 1; }

static int fits_size(int64_t v) { return v >= 1 && (uint64_t)v <= (uint64_t)SIZE_MAX; }

/* Elements of one layer's tensors over D directions: D * (3H*in + 3H*H [+ 3H + 3H]
 * [+ 4 * 3H for layer_norm]). 0 on overflow. */
static int layer_numel(size_t in, size_t H, size_t D, int bias, int ln, size_t *out)
{
    size_t G, a, b, n, g4;
    return gru_mul(3, H, &G) && gru_mul(G, in, &a) && gru_mul(G, H, &b) &&
           gru_add(a, b, &n) && (!bias || (gru_add(n, G, &n) && gru_add(n, G, &n))) &&
           gru_mul(G, 4, &g4) && (!ln || gru_add(n, g4, &n)) && gru_mul(n, D, out);
}

/* Packed size of a (K, N) matrix in the model's table, checked: the table computes
 * ceil(N / NR) * NR * K, so bound it first by (N + 64) * K. 0 on overflow. */
static int reserve_pack(const gru_model *m, size_t K, size_t N, size_t *total, size_t *at)
{
    size_t bound, n;
    if (!gru_add(N, 64, &bound) || !gru_mul(bound, K, &bound)) return 0;
    n = m->elem == sizeof(float) ? m->kernels->f32.packed_size(K, N)
                                 : m->kernels->f64.packed_size(K, N);
    *at = *total;
    return gru_add(*total, n, total) && gru_mul(*total, m->elem, &bound);
}

/* GRU_ERR_INVALID_ARG / GRU_ERR_OVERFLOW for a configuration gru_create refuses. */
static gru_status check_config(const gru_config *cfg)
{
    if (cfg->input_size < 1 || cfg->hidden_size < 1 || cfg->num_layers < 1 ||
        !is_flag(cfg->bidirectional) || !is_flag(cfg->bias) || !is_flag(cfg->reset_after) ||
        (cfg->dtype != GRU_FLOAT32 && cfg->dtype != GRU_FLOAT64) ||
        !(cfg->dropout >= 0.0 && cfg->dropout < 1.0) ||   /* also rejects NaN */
        !(cfg->input_dropout >= 0.0 && cfg->input_dropout < 1.0) ||
        !(cfg->recurrent_dropout >= 0.0 && cfg->recurrent_dropout < 1.0) ||
        !(cfg->zoneout >= 0.0 && cfg->zoneout < 1.0) ||
        !(cfg->weight_dropout >= 0.0 && cfg->weight_dropout < 1.0) ||
        !is_flag(cfg->reverse) || (cfg->reverse && cfg->bidirectional) ||
        !is_flag(cfg->augru) || !is_flag(cfg->layer_norm))
        return GRU_ERR_INVALID_ARG;
    if (!fits_size(cfg->input_size) || !fits_size(cfg->hidden_size) ||
        !fits_size(cfg->num_layers))
        return GRU_ERR_OVERFLOW;
    return GRU_OK;
}

/* The sizes of a valid configuration into m (I, H, L, D, elem, ntensors, numel). */
static gru_status model_sizes(const gru_config *cfg, gru_model *m)
{
    const size_t I = (size_t)cfg->input_size, H = (size_t)cfg->hidden_size;
    const size_t L = (size_t)cfg->num_layers, D = cfg->bidirectional ? 2 : 1;
    const size_t elem = cfg->dtype == GRU_FLOAT32 ? sizeof(float) : sizeof(double);
    const size_t per = gru_tensors_per(cfg);   /* tensors per (layer, direction) */
    size_t G, DH, LD, first, upper, uppers, bytes;
    if (!gru_mul(3, H, &G) || !gru_mul(D, H, &DH) || !gru_mul(L, D, &LD) ||
        !gru_mul(LD, per, &m->ntensors))
        return GRU_ERR_OVERFLOW;
    /* parameter count: layer 0 plus L-1 identical upper layers (input width D*H) */
    if (!layer_numel(I, H, D, cfg->bias, cfg->layer_norm, &first) ||
        !layer_numel(DH, H, D, cfg->bias, cfg->layer_norm, &upper) ||
        !gru_mul(upper, L - 1, &uppers) || !gru_add(first, uppers, &m->numel))
        return GRU_ERR_OVERFLOW;
    if (!gru_mul(m->numel, elem, &bytes) || m->ntensors > SIZE_MAX / sizeof(gru_tensor))
        return GRU_ERR_OVERFLOW;
    m->I = I; m->H = H; m->L = L; m->D = D; m->elem = elem;
    return GRU_OK;
}

/* This model's identity in its workspaces: its address and creation time (ns) mixed,
 * no counter shared between models. */
static uint64_t make_nonce(const gru_model *m)
{
    struct timespec ts = {0, 0};
    timespec_get(&ts, TIME_UTC);
    const uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return gru_mix64((uint64_t)(uintptr_t)m ^ gru_mix64(ns));
}

/* Places every packed form (gru_layer_params' p_* offsets) and allocates them: zero
 * parameters pack to zeros, so calloc is their packing. */
static gru_status plan_packing(gru_model *m)
{
    size_t npacked = 0;
    for (size_t ld = 0; ld < m->L * m->D; ld++) {
        gru_layer_params *p = &m->lp[ld];
        const size_t in = ld < m->D ? m->I : m->D * m->H, H = m->H;
        int ok = 1;
        for (size_t g = 0; g < 3; g++)
            ok = ok && reserve_pack(m, in, H, &npacked, &p->p_ihT[g]);
        for (size_t g = 0; g < 3; g++)
            ok = ok && reserve_pack(m, H, H, &npacked, &p->p_hhT[g]);
        if (!ok || !reserve_pack(m, 3 * H, H, &npacked, &p->p_hh) ||
            !reserve_pack(m, 3 * H, in, &npacked, &p->p_ih))
            return GRU_ERR_OVERFLOW;
    }
    m->npacked = npacked;
    return (m->packed = calloc(npacked ? npacked : 1, m->elem)) ? GRU_OK : GRU_ERR_NO_MEMORY;
}

/* Names and places the tensors of layer-direction ld in PyTorch's state-dict order
 * from element *off on; ti: the index of its first tensor. */
static void name_tensors(gru_model *m, size_t ld, size_t ti, size_t *off)
{
    static const char *const kind[8] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                        "layer_norm_ih_weight", "layer_norm_ih_bias",
                                        "layer_norm_hh_weight", "layer_norm_hh_bias"};
    gru_layer_params *p = &m->lp[ld];
    const size_t l = ld / m->D, d = ld % m->D, G = 3 * m->H;
    const size_t in = l == 0 ? m->I : m->D * m->H, per = gru_tensors_per(&m->cfg);
    size_t *slot[8] = {&p->w_ih, &p->w_hh, &p->b_ih, &p->b_hh,
                       &p->ln_ih_w, &p->ln_ih_b, &p->ln_hh_w, &p->ln_hh_b};
    p->b_ih = p->b_hh = SIZE_MAX;
    p->ln_ih_w = p->ln_ih_b = p->ln_hh_w = p->ln_hh_b = SIZE_MAX;
    for (size_t i = 0; i < per; i++) {
        /* the kinds present: weights, [biases,] [layer_norm tensors] */
        const size_t q = i < 2 || m->cfg.bias ? i : i + 2;
        gru_tensor *t = &m->tensors[ti + i];
        snprintf(t->name, sizeof t->name, "%s_l%zu%s", kind[q], l, d ? "_reverse" : "");
        t->ndim = q < 2 ? 2 : 1;
        t->shape[0] = (int64_t)G;
        t->shape[1] = q == 0 ? (int64_t)in : q == 1 ? (int64_t)m->H : 0;
        t->numel = q == 0 ? G * in : q == 1 ? G * m->H : G;
        t->offset = *off;
        *slot[q] = *off;
        *off += t->numel;
    }
}

/* GRU_THREAD_MIN_WORK (a number >= 0; tests set 0 to thread even tiny problems) and
 * GRU_NUM_THREADS (an integer in 2..GRU_MAX_THREADS; anything else, larger values
 * included, is ignored and leaves 1). */
static gru_status read_env(gru_model *m)
{
    m->thread_min_work = 27648.0;   /* 3 * 96^2: B = 1 from H = 96 up (bench, Zen 4) */
    const char *mw = getenv("GRU_THREAD_MIN_WORK");
    if (mw && *mw) {
        char *end;
        double v = strtod(mw, &end);
        if (*end == '\0' && v >= 0) m->thread_min_work = v;
    }
    const char *env = getenv("GRU_NUM_THREADS");
    if (!env || !*env) return GRU_OK;
    char *end;
    long n = strtol(env, &end, 10);
    if (*end == '\0' && n > 1 && n <= GRU_MAX_THREADS && gru_set_num_threads(m, (int)n) != GRU_OK)
        return GRU_ERR_NO_MEMORY;
    return GRU_OK;
}

/* n elements of m's parameters from element off on = 1. */
static void params_one(gru_model *m, size_t off, size_t n)
{
    for (size_t i = off; i < off + n; i++) {
        if (m->elem == sizeof(float)) ((float *)m->params)[i] = 1.0f;
        else ((double *)m->params)[i] = 1.0;
    }
}

/* A layer_norm model's gains start at 1 (every other parameter at 0). */
static void ln_gains_one(gru_model *m)
{
    for (size_t ld = 0; ld < m->L * m->D; ld++) {
        params_one(m, m->lp[ld].ln_ih_w, 3 * m->H);
        params_one(m, m->lp[ld].ln_hh_w, 3 * m->H);
    }
}

/* The model's buffers, its packed weights and its tensors' names. */
static gru_status model_init(gru_model *m)
{
    GRU_PACK_INIT(&m->nthreads, 1);
    gru_gate_init(&m->gate);
    m->tensors = calloc(m->ntensors, sizeof *m->tensors);
    m->lp = calloc(m->L * m->D, sizeof *m->lp);
    m->params = calloc(m->numel, m->elem);
    m->grads = calloc(m->numel, m->elem);
    m->stale = calloc(m->ntensors, 1);
    GRU_PACK_INIT(&m->pack_state, GRU_PACK_CLEAN);
    if (!m->tensors || !m->lp || !m->params || !m->grads || !m->stale)
        return GRU_ERR_NO_MEMORY;
    gru_status st = plan_packing(m);
    if (st) return st;
    size_t off = 0;
    const size_t per = gru_tensors_per(&m->cfg);
    for (size_t ld = 0; ld < m->L * m->D; ld++) name_tensors(m, ld, ld * per, &off);
    if (m->cfg.layer_norm) ln_gains_one(m);
    return read_env(m);
}

gru_status gru_create(const gru_config *cfg, gru_model **out)
{
    if (!out) return GRU_ERR_NULL;
    *out = NULL;
    if (!cfg) return GRU_ERR_NULL;
    gru_status st = check_config(cfg);
    if (st) return st;
    gru_model sizes = {.cfg = *cfg};
    if ((st = model_sizes(cfg, &sizes))) return st;
    int unavailable = 0;
    const gru_kernels *kern = gru_select_kernels(&unavailable);
    if (!kern) return GRU_ERR_ISA_UNAVAILABLE;
    gru_model *m = calloc(1, sizeof *m);
    if (!m) return GRU_ERR_NO_MEMORY;
    m->cfg = *cfg;
    m->I = sizes.I; m->H = sizes.H; m->L = sizes.L; m->D = sizes.D; m->elem = sizes.elem;
    m->ntensors = sizes.ntensors;
    m->numel = sizes.numel;
    m->kernels = kern;
    m->nonce = make_nonce(m);
    if ((st = model_init(m))) {
        gru_destroy(m);
        return st;
    }
    *out = m;
    return GRU_OK;
}

/* The new pool is made before the gate is closed and the old one stopped after it is
 * opened again: the gate stays closed for two stores only. A pool is swapped only when
 * no call is in flight, and calls read m->pool only inside the gate, so the old pool is
 * idle when it is destroyed. */
gru_status gru_set_num_threads(gru_model *m, int n)
{
    if (!m) return GRU_ERR_NULL;
    if (n < 1 || n > GRU_MAX_THREADS) return GRU_ERR_INVALID_ARG;
    if (n == GRU_PACK_LOAD(&m->nthreads)) return GRU_OK;
    if (!gru_gate_idle(&m->gate)) return GRU_ERR_BUSY;   /* cheap: no threads started */
    gru_pool *pool = NULL;
    gru_status st = gru_pool_create(n, m->thread_min_work == 0, &m->pool_memory, &pool);
    if (st) return st;
    if (!gru_gate_close(&m->gate)) {
        gru_pool_destroy(pool);
        return GRU_ERR_BUSY;
    }
    gru_pool *old = m->pool;
    m->pool = pool;
    GRU_PACK_STORE(&m->nthreads, n);
    gru_gate_open(&m->gate);
    gru_pool_destroy(old);
    return GRU_OK;
}

int gru_get_num_threads(const gru_model *m)
{
    return m ? GRU_PACK_LOAD((gru_pack_word *)&m->nthreads) : 0;
}

/* 1 if p (NULL allowed) is not a multiple of align bytes. */
static int misaligned(const void *p, size_t align)
{
    return p && (uintptr_t)p % align != 0;
}

void *gru_bwd_scratch(gru_model *m, size_t bytes)
{
    if (bytes > m->bwd_scratch_bytes) {
        free(m->bwd_scratch);
        m->bwd_scratch_bytes = 0;
        if (!(m->bwd_scratch = malloc(bytes))) return NULL;
        m->bwd_scratch_bytes = bytes;
    }
    return m->bwd_scratch;
}

void gru_destroy(gru_model *m)
{
    if (!m) return;
    free(m->bwd_scratch);
    gru_pool_destroy(m->pool);
    free(m->tensors);
    free(m->lp);
    free(m->params);
    free(m->grads);
    free(m->packed);
    free(m->stale);
    gru_qmodel_free(m->q);
    free(m);
}

gru_status gru_get_config(const gru_model *m, gru_config *cfg)
{
    if (!m || !cfg) return GRU_ERR_NULL;
    *cfg = m->cfg;
    return GRU_OK;
}

gru_status gru_set_seed(gru_model *m, uint64_t seed)
{
    if (!m) return GRU_ERR_NULL;
    m->cfg.seed = seed;
    m->dropout_draws = 0;
    return GRU_OK;
}

/* ---- parameters -------------------------------------------------------------------- */

gru_status gru_param_count(const gru_model *m, size_t *count)
{
    if (!m || !count) return GRU_ERR_NULL;
    *count = m->ntensors;
    return GRU_OK;
}

gru_status gru_param_info(const gru_model *m, size_t index, const char **name, int *ndim,
                          int64_t *shape)
{
    if (!m) return GRU_ERR_NULL;
    if (index >= m->ntensors) return GRU_ERR_INVALID_ARG;
    const gru_tensor *t = &m->tensors[index];
    if (name) *name = t->name;
    if (ndim) *ndim = t->ndim;
    if (shape) {
        shape[0] = t->shape[0];
        if (t->ndim == 2) shape[1] = t->shape[1];
    }
    return GRU_OK;
}

/* Index of tensor `name`, or SIZE_MAX. */
static size_t find_tensor(const gru_model *m, const char *name)
{
    for (size_t i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return SIZE_MAX;
}

/* Finds tensor `name`; checks pointers and the element count. */
static gru_status lookup(const gru_model *m, const char *name, const void *buf, size_t count,
                         const gru_tensor **out)
{
    if (!m || !name || !buf) return GRU_ERR_NULL;
    const size_t i = find_tensor(m, name);
    if (i == SIZE_MAX) return GRU_ERR_UNKNOWN_NAME;
    if (count != m->tensors[i].numel) return GRU_ERR_SIZE_MISMATCH;
    *out = &m->tensors[i];
    return GRU_OK;
}

/* *data = tensor `name`'s place in base (params or grads), *count its size. */
static gru_status view(gru_model *m, void *base, const char *name, void **data,
                       size_t *count)
{
    if (!m || !name || !data) return GRU_ERR_NULL;
    const size_t i = find_tensor(m, name);
    if (i == SIZE_MAX) return GRU_ERR_UNKNOWN_NAME;
    *data = (char *)base + m->tensors[i].offset * m->elem;
    if (count) *count = m->tensors[i].numel;
    return GRU_OK;
}

gru_status gru_param_data(gru_model *m, const char *name, void **data, size_t *count)
{
    if (m && m->q) return GRU_ERR_UNSUPPORTED;   /* int8 models are read-only */
    return view(m, m ? m->params : NULL, name, data, count);
}

gru_status gru_grad_data(gru_model *m, const char *name, void **data, size_t *count)
{
    if (m && m->q) return GRU_ERR_UNSUPPORTED;   /* int8 models have no gradients */
    return view(m, m ? m->grads : NULL, name, data, count);
}

gru_status gru_params_changed(gru_model *m, const char *name)
{
    if (!m) return GRU_ERR_NULL;
    if (m->q) return GRU_ERR_UNSUPPORTED;
    size_t i = SIZE_MAX;
    if (name && (i = find_tensor(m, name)) == SIZE_MAX) return GRU_ERR_UNKNOWN_NAME;
    gru_mark_changed(m, i);
    return GRU_OK;
}

gru_status gru_param_get(const gru_model *m, const char *name, void *dst, size_t count)
{
    const gru_tensor *t;
    gru_status st = lookup(m, name, dst, count, &t);
    if (st) return st;
    memcpy(dst, (char *)m->params + t->offset * m->elem, count * m->elem);
    return GRU_OK;
}

gru_status gru_param_set(gru_model *m, const char *name, const void *src, size_t count)
{
    if (m && m->q) return GRU_ERR_UNSUPPORTED;
    const gru_tensor *t;
    gru_status st = lookup(m, name, src, count, &t);
    if (st) return st;
    memcpy((char *)m->params + t->offset * m->elem, src, count * m->elem);
    gru_mark_changed(m, (size_t)(t - m->tensors));
    return GRU_OK;
}

gru_status gru_grad_get(const gru_model *m, const char *name, void *dst, size_t count)
{
    if (m && m->q) return GRU_ERR_UNSUPPORTED;
    const gru_tensor *t;
    gru_status st = lookup(m, name, dst, count, &t);
    if (st) return st;
    memcpy(dst, (char *)m->grads + t->offset * m->elem, count * m->elem);
    return GRU_OK;
}

gru_status gru_zero_grad(gru_model *m)
{
    if (!m) return GRU_ERR_NULL;
    if (m->q) return GRU_ERR_UNSUPPORTED;
    memset(m->grads, 0, m->numel * m->elem);
    return GRU_OK;
}

/* ---- workspace ---------------------------------------------------------------------- */

static gru_status check_sizes(int64_t T, int64_t B)
{
    if (T < 1 || B < 1) return GRU_ERR_INVALID_ARG;
    if ((uint64_t)T > (uint64_t)SIZE_MAX || (uint64_t)B > (uint64_t)SIZE_MAX)
        return GRU_ERR_OVERFLOW;
    return GRU_OK;
}

gru_status gru_workspace_size(const gru_model *m, int64_t T, int64_t B, int training,
                              size_t *bytes)
{
    if (!m || !bytes) return GRU_ERR_NULL;
    if (m->q && training) return GRU_ERR_UNSUPPORTED;
    gru_status st = check_sizes(T, B);
    if (st) return st;
    gru_ws_layout w;
    st = gru_ws_compute(m, (size_t)T, (size_t)B, training != 0, &w);
    if (st) return st;
    *bytes = w.total;
    return GRU_OK;
}

/* ---- forward and backward ---------------------------------------------------------- */

/* The driver of m's kind: int8 (inference only), float32 or float64. */
static gru_status run_forward(gru_model *m, int training, const gru_ws_layout *w, int bf,
                              const void *x, const void *att, const void *h0,
                              const int32_t *lengths, void *out, void *h_n,
                              unsigned char *work)
{
    if (m->q) return gru_forward_q8(m, w, bf, x, h0, lengths, out, h_n, work);
    gru_ensure_packed(m);
    return m->cfg.dtype == GRU_FLOAT32
               ? gru_forward_f32(m, training, w, bf, x, att, h0, lengths, out, h_n, work)
               : gru_forward_f64(m, training, w, bf, x, att, h0, lengths, out, h_n, work);
}

/* gru_forward / gru_forward_att inside the gate (att: NULL from gru_forward; the
 * caller checked that it matches the model's kind). */
static gru_status forward_call(gru_model *m, int training, int64_t T, int64_t B,
                               int batch_first, const void *x, const void *att,
                               const void *h0, const int32_t *lengths, void *output,
                               void *h_n, void *workspace, size_t workspace_bytes)
{
    if (!x || !output) return GRU_ERR_NULL;
    if (training && !workspace) return GRU_ERR_NULL;
    if (training && m->q) return GRU_ERR_UNSUPPORTED;   /* int8: inference only */
    if (misaligned(x, m->elem) || misaligned(att, m->elem) || misaligned(h0, m->elem) ||
        misaligned(output, m->elem) ||
        misaligned(h_n, m->elem) || misaligned(lengths, sizeof(int32_t)) ||
        misaligned(workspace, GRU_WORKSPACE_ALIGN))
        return GRU_ERR_MISALIGNED;
    gru_status st = check_sizes(T, B);
    if (st) return st;
    /* every size is checked (overflow) before lengths, B entries, is read */
    gru_ws_layout w;
    st = gru_ws_compute(m, (size_t)T, (size_t)B, training != 0, &w);
    if (st) return st;
    if (lengths)
        for (int64_t b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > T) return GRU_ERR_BAD_LENGTHS;
    unsigned char *work = workspace;
    if (work && workspace_bytes < w.total) return GRU_ERR_WORKSPACE;
    if (!work && !(work = malloc(w.total))) return GRU_ERR_NO_MEMORY;

    st = run_forward(m, training != 0, &w, batch_first != 0, x, att, h0, lengths, output,
                     h_n, work);
    gru_ws_header *hdr = (gru_ws_header *)work;
    hdr->magic = GRU_WS_MAGIC ^ (uint64_t)(training == 0);   /* inference: not usable */
    if (work != workspace) free(work);
    return st;
}

gru_status gru_forward(gru_model *m, int training, int64_t T, int64_t B, int batch_first,
                       const void *x, const void *h0, const int32_t *lengths, void *output,
                       void *h_n, void *workspace, size_t workspace_bytes)
{
    if (!m) return GRU_ERR_NULL;
    if (m->cfg.augru) return GRU_ERR_UNSUPPORTED;   /* gru_forward_att */
    gru_gate_enter(&m->gate);
    const gru_status st = forward_call(m, training, T, B, batch_first, x, NULL, h0, lengths,
                                       output, h_n, workspace, workspace_bytes);
    gru_gate_leave(&m->gate);
    return st;
}

gru_status gru_forward_att(gru_model *m, int training, int64_t T, int64_t B,
                           int batch_first, const void *x, const void *attention,
                           const void *h0, const int32_t *lengths, void *output, void *h_n,
                           void *workspace, size_t workspace_bytes)
{
    if (!m) return GRU_ERR_NULL;
    if (!m->cfg.augru) return GRU_ERR_UNSUPPORTED;   /* gru_forward */
    if (!attention) return GRU_ERR_NULL;
    gru_gate_enter(&m->gate);
    const gru_status st = forward_call(m, training, T, B, batch_first, x, attention, h0,
                                       lengths, output, h_n, workspace, workspace_bytes);
    gru_gate_leave(&m->gate);
    return st;
}

/* Checks that workspace holds a training forward of model m and computes its layout.
 * T, B, batch_first: what the caller says it was (T < 0: take them from the header);
 * same_params: it must also match the current parameters. */
static gru_status check_workspace(const gru_model *m, const void *workspace,
                                  size_t workspace_bytes, int64_t T, int64_t B,
                                  int batch_first, int same_params, gru_ws_layout *w)
{
    if (misaligned(workspace, GRU_WORKSPACE_ALIGN)) return GRU_ERR_MISALIGNED;
    if (workspace_bytes < GRU_WS_HEADER_BYTES) return GRU_ERR_WORKSPACE;
    const gru_ws_header *hdr = workspace;
    if (hdr->magic == (GRU_WS_MAGIC ^ 1)) return GRU_ERR_WRONG_MODE;
    if (hdr->magic != GRU_WS_MAGIC || hdr->model != m || hdr->nonce != m->nonce)
        return GRU_ERR_WORKSPACE;
    if (T < 0) {
        if (hdr->T > (uint64_t)INT64_MAX || hdr->B > (uint64_t)INT64_MAX)
            return GRU_ERR_WORKSPACE;
        T = (int64_t)hdr->T;
        B = (int64_t)hdr->B;
        batch_first = hdr->batch_first;
    }
    gru_status st = check_sizes(T, B);
    if (st) return st;
    if ((st = gru_ws_compute(m, (size_t)T, (size_t)B, 1, w))) return st;
    if (workspace_bytes < w->total || (same_params && hdr->param_version != m->param_version) ||
        hdr->T != (uint64_t)T || hdr->B != (uint64_t)B ||
        hdr->batch_first != (batch_first != 0))
        return GRU_ERR_WORKSPACE;
    return GRU_OK;
}

/* gru_backward / gru_backward_att inside the gate (grad_att: NULL from gru_backward). */
static gru_status backward_call(gru_model *m, int64_t T, int64_t B, int batch_first,
                                const void *x, const void *workspace,
                                size_t workspace_bytes, const void *grad_output,
                                const void *grad_h_n, void *grad_x, void *grad_h0,
                                void *grad_att)
{
    if (m->q) return GRU_ERR_UNSUPPORTED;   /* int8: inference only */
    if (!x || !workspace) return GRU_ERR_NULL;
    if (misaligned(x, m->elem) || misaligned(grad_output, m->elem) ||
        misaligned(grad_h_n, m->elem) || misaligned(grad_x, m->elem) ||
        misaligned(grad_h0, m->elem) || misaligned(grad_att, m->elem) ||
        misaligned(workspace, GRU_WORKSPACE_ALIGN))
        return GRU_ERR_MISALIGNED;
    gru_status st = check_sizes(T, B);
    if (st) return st;
    gru_ws_layout w;
    st = check_workspace(m, workspace, workspace_bytes, T, B, batch_first, 1, &w);
    if (st) return st;
    gru_ensure_packed(m);
    return m->cfg.dtype == GRU_FLOAT32
               ? gru_backward_f32(m, &w, batch_first != 0, x, workspace, grad_output,
                                  grad_h_n, grad_x, grad_h0, grad_att)
               : gru_backward_f64(m, &w, batch_first != 0, x, workspace, grad_output,
                                  grad_h_n, grad_x, grad_h0, grad_att);
}

gru_status gru_backward(gru_model *m, int64_t T, int64_t B, int batch_first, const void *x,
                        const void *workspace, size_t workspace_bytes,
                        const void *grad_output, const void *grad_h_n, void *grad_x,
                        void *grad_h0)
{
    if (!m) return GRU_ERR_NULL;
    if (m->cfg.augru) return GRU_ERR_UNSUPPORTED;   /* gru_backward_att */
    gru_gate_enter(&m->gate);
    const gru_status st = backward_call(m, T, B, batch_first, x, workspace, workspace_bytes,
                                        grad_output, grad_h_n, grad_x, grad_h0, NULL);
    gru_gate_leave(&m->gate);
    return st;
}

gru_status gru_backward_att(gru_model *m, int64_t T, int64_t B, int batch_first,
                            const void *x, const void *workspace, size_t workspace_bytes,
                            const void *grad_output, const void *grad_h_n, void *grad_x,
                            void *grad_h0, void *grad_attention)
{
    if (!m) return GRU_ERR_NULL;
    if (!m->cfg.augru) return GRU_ERR_UNSUPPORTED;   /* gru_backward */
    gru_gate_enter(&m->gate);
    const gru_status st = backward_call(m, T, B, batch_first, x, workspace, workspace_bytes,
                                        grad_output, grad_h_n, grad_x, grad_h0,
                                        grad_attention);
    gru_gate_leave(&m->gate);
    return st;
}

/* dst (n elements of m's dtype) = the mask at src, or all ones if src is NULL. */
static void copy_mask(const gru_model *m, const unsigned char *src, size_t n, void *dst)
{
    if (src) {
        memcpy(dst, src, n * m->elem);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (m->elem == sizeof(float)) ((float *)dst)[i] = 1.0f;
        else ((double *)dst)[i] = 1.0;
    }
}

gru_status gru_dropout_masks(const gru_model *m, const void *workspace,
                             size_t workspace_bytes, int64_t layer, int64_t direction,
                             void *input_mask, size_t input_count, void *recurrent_mask,
                             size_t recurrent_count)
{
    if (!m || !workspace) return GRU_ERR_NULL;
    if (m->q) return GRU_ERR_UNSUPPORTED;
    if (misaligned(input_mask, m->elem) || misaligned(recurrent_mask, m->elem))
        return GRU_ERR_MISALIGNED;
    if (layer < 0 || (uint64_t)layer >= m->L || direction < 0 || (uint64_t)direction >= m->D)
        return GRU_ERR_INVALID_ARG;
    gru_ws_layout w;
    gru_status st = check_workspace(m, workspace, workspace_bytes, -1, 0, 0, 0, &w);
    if (st) return st;
    const size_t B = w.B, in = layer == 0 ? m->I : m->D * m->H, H = m->H;
    if ((input_mask && input_count != B * in) || (recurrent_mask && recurrent_count != B * H))
        return GRU_ERR_SIZE_MISMATCH;
    const unsigned char *rec = (const unsigned char *)workspace + w.off_masks +
                               ((size_t)layer * m->D + (size_t)direction) * w.mask_bytes;
    /* a mask absent from the workspace (that dropout is 0) is all ones */
    if (input_mask) copy_mask(m, m->cfg.input_dropout > 0 ? rec : NULL, B * in, input_mask);
    if (recurrent_mask)
        copy_mask(m, m->cfg.recurrent_dropout > 0 ? rec + w.mask_rec : NULL, B * H,
                  recurrent_mask);
    return GRU_OK;
}

/* The common checks of the mask getters: the model, the layer and direction, the
 * workspace (a training forward of this model; its layout into *w). */
static gru_status mask_getter(const gru_model *m, const void *workspace,
                              size_t workspace_bytes, int64_t layer, int64_t direction,
                              const void *mask, gru_ws_layout *w)
{
    if (!m || !workspace || !mask) return GRU_ERR_NULL;
    if (m->q) return GRU_ERR_UNSUPPORTED;
    if (misaligned(mask, m->elem)) return GRU_ERR_MISALIGNED;
    if (layer < 0 || (uint64_t)layer >= m->L || direction < 0 || (uint64_t)direction >= m->D)
        return GRU_ERR_INVALID_ARG;
    return check_workspace(m, workspace, workspace_bytes, -1, 0, 0, 0, w);
}

gru_status gru_zoneout_masks(const gru_model *m, const void *workspace,
                             size_t workspace_bytes, int64_t layer, int64_t direction,
                             void *mask, size_t count)
{
    gru_ws_layout w;
    gru_status st = mask_getter(m, workspace, workspace_bytes, layer, direction, mask, &w);
    if (st) return st;
    const size_t T = w.T, B = w.B, H = m->H;
    if (count != w.rows * H) return GRU_ERR_SIZE_MISMATCH;   /* rows = T * B: no overflow */
    if (!(m->cfg.zoneout > 0)) {   /* nothing kept: all 0 */
        memset(mask, 0, count * m->elem);
        return GRU_OK;
    }
    const gru_ws_header *hdr = workspace;
    const size_t k = (size_t)layer * m->D + (size_t)direction;
    const unsigned char *src = (const unsigned char *)workspace + w.off_blocks +
                               k * w.block_bytes + w.off_zmask;
    const size_t row = H * m->elem;
    for (size_t t = 0; t < T; t++)   /* the forward's layout -> time-major */
        for (size_t b = 0; b < B; b++) {
            const size_t i = hdr->batch_first ? b * T + t : t * B + b;
            memcpy((unsigned char *)mask + (t * B + b) * row, src + i * row, row);
        }
    return GRU_OK;
}

gru_status gru_weight_dropout_mask(const gru_model *m, const void *workspace,
                                   size_t workspace_bytes, int64_t layer, int64_t direction,
                                   void *mask, size_t count)
{
    gru_ws_layout w;
    gru_status st = mask_getter(m, workspace, workspace_bytes, layer, direction, mask, &w);
    if (st) return st;
    if (count != 3 * m->H * m->H) return GRU_ERR_SIZE_MISMATCH;   /* weight_hh's size */
    const size_t k = (size_t)layer * m->D + (size_t)direction;
    copy_mask(m, m->cfg.weight_dropout > 0
                     ? (const unsigned char *)workspace + w.off_wd + k * w.wd_bytes : NULL,
              count, mask);
    return GRU_OK;
}

/* ---- streaming --------------------------------------------------------------------- */

/* gru_step's scratch: the inference workspace of a one-step forward, then (B, H) for
 * the last layer's output when the caller passes no output buffer. */
static gru_status step_layout(const gru_model *m, int64_t B, gru_ws_layout *w,
                              size_t *out_off, size_t *total)
{
    if (m->D != 1 || m->cfg.reverse) return GRU_ERR_UNSUPPORTED;
    gru_status st = check_sizes(1, B);
    if (st) return st;
    if ((st = gru_ws_compute(m, 1, (size_t)B, 0, w))) return st;
    size_t bh, off = w->total;
    if (!gru_ws_elems(m, (size_t)B, m->H, &bh) || !gru_ws_take(&off, bh, out_off)) return GRU_ERR_OVERFLOW;
    *total = off;
    return GRU_OK;
}

gru_status gru_step_scratch_size(const gru_model *m, int64_t B, size_t *bytes)
{
    if (!m || !bytes) return GRU_ERR_NULL;
    gru_ws_layout w;
    size_t out_off;
    return step_layout(m, B, &w, &out_off, bytes);
}

/* gru_step / gru_step_att inside the gate (att: NULL from gru_step). */
static gru_status step_call(gru_model *m, int64_t B, const void *x, const void *att,
                            void *state, void *output, void *scratch, size_t scratch_bytes)
{
    if (!x || !state) return GRU_ERR_NULL;
    if (misaligned(x, m->elem) || misaligned(att, m->elem) || misaligned(state, m->elem) ||
        misaligned(output, m->elem) || misaligned(scratch, GRU_WORKSPACE_ALIGN))
        return GRU_ERR_MISALIGNED;
    gru_ws_layout w;
    size_t out_off, total;
    gru_status st = step_layout(m, B, &w, &out_off, &total);
    if (st) return st;
    if (scratch && scratch_bytes < total) return GRU_ERR_WORKSPACE;
    unsigned char *work = scratch;
    if (!work && !(work = malloc(total))) return GRU_ERR_NO_MEMORY;
    void *out = output ? output : work + out_off;
    /* A one-step inference forward whose initial and final states are the same buffer:
     * each thread reads its units of state[l] before layer l's step and writes the same
     * units after it, so the in-place update is safe. */
    st = run_forward(m, 0, &w, 0, x, att, state, NULL, out, state, work);
    ((gru_ws_header *)work)->magic = GRU_WS_MAGIC ^ 1;   /* not a training workspace */
    if (work != scratch) free(work);
    return st;
}

gru_status gru_step(gru_model *m, int64_t B, const void *x, void *state, void *output,
                    void *scratch, size_t scratch_bytes)
{
    if (!m) return GRU_ERR_NULL;
    if (m->cfg.augru) return GRU_ERR_UNSUPPORTED;   /* gru_step_att */
    gru_gate_enter(&m->gate);
    const gru_status st = step_call(m, B, x, NULL, state, output, scratch, scratch_bytes);
    gru_gate_leave(&m->gate);
    return st;
}

gru_status gru_step_att(gru_model *m, int64_t B, const void *x, const void *attention,
                        void *state, void *output, void *scratch, size_t scratch_bytes)
{
    if (!m) return GRU_ERR_NULL;
    if (!m->cfg.augru) return GRU_ERR_UNSUPPORTED;   /* gru_step */
    if (!attention) return GRU_ERR_NULL;
    gru_gate_enter(&m->gate);
    const gru_status st = step_call(m, B, x, attention, state, output, scratch,
                                    scratch_bytes);
    gru_gate_leave(&m->gate);
    return st;
}

gru_status gru_step_reset(const gru_model *m, int64_t B, void *state, int64_t index)
{
    if (!m || !state) return GRU_ERR_NULL;
    if (m->D != 1 || m->cfg.reverse) return GRU_ERR_UNSUPPORTED;   /* as gru_step */
    gru_status st = check_sizes(1, B);
    if (st) return st;
    if (index < 0 || index >= B) return GRU_ERR_INVALID_ARG;
    /* the state is (L, B, H): its byte size must fit before any row is addressed */
    size_t row, total;
    if (!gru_mul(m->H, m->elem, &row) || !gru_mul(m->L, (size_t)B, &total) ||
        !gru_mul(total, row, &total))
        return GRU_ERR_OVERFLOW;
    for (size_t l = 0; l < m->L; l++)
        memset((unsigned char *)state + (l * (size_t)B + (size_t)index) * row, 0, row);
    return GRU_OK;
}
