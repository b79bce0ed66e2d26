/*
 * load.c - gru_load: a model from a safetensors file (the format of gru.h; pygru.load
 * reads through this function, so both languages accept and refuse the same files).
 *
 * The header is parsed by json.c. Everything is checked before a model is created;
 * every size read from the file is checked against the file's size, and every product
 * for overflow, before anything is allocated from it. Failures return GRU_ERR_IO or
 * GRU_ERR_FORMAT with a message; nothing prints, nothing aborts.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "model.h"
#include "modelfile.h"

static void vsay(char *msg, size_t n, const char *fmt, va_list ap)
{
    if (msg && n) vsnprintf(msg, n, fmt, ap);
}

/* Writes the message (if asked for) and returns st. */
static gru_status fail(char *msg, size_t n, gru_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(msg, n, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- tensors of a file ---------------------------------------------------------------- */

typedef struct ftensor {
    const char *name;          /* as in the file */
    char cname[48];            /* the libgru name (GRUCell names get _l0) */
    int f64;                   /* dtype F64 (else F32) */
    int ndim;
    int64_t shape[2];
    uint64_t begin, end;       /* byte offsets in the data */
} ftensor;

static int span_cmp(const void *a, const void *b)
{
    const ftensor *x = *(const ftensor *const *)a, *y = *(const ftensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* What the tensor names and shapes say: 1 = recognised, with sizes filled in. */
typedef struct shape_cfg {
    int cell;                  /* GRUCell names */
    int64_t I, H, L;
    int bidirectional, bias;
} shape_cfg;

/* "weight_ih_l3_reverse" -> kind 0..3, layer 3, reverse 1; a GRUCell's "weight_ih" ->
 * layer -1. Returns 0 if the name is no GRU parameter's. */
static int parse_name(const char *name, int *kind, long *layer, int *reverse)
{
    static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int k = 0; k < 4; k++) {
        const size_t n = strlen(kinds[k]);
        if (strncmp(name, kinds[k], n) != 0) continue;
        const char *p = name + n;
        *kind = k;
        *reverse = 0;
        if (*p == '\0') { *layer = -1; return 1; }
        if (p[0] != '_' || p[1] != 'l' || p[2] < '0' || p[2] > '9') return 0;
        char *e;
        errno = 0;
        *layer = strtol(p + 2, &e, 10);
        if (errno || *layer > 1000000) return 0;
        if (strcmp(e, "_reverse") == 0) *reverse = 1;
        else if (*e != '\0') return 0;
        return 1;
    }
    return 0;
}

/* Reads a metadata value as an integer in [lo, hi]; 0 when absent or malformed. */
static int meta_int(const jval *meta, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const jval *v = meta ? json_member(meta, key) : NULL;
    if (!v || v->type != J_STR || !*v->s) return 0;
    char *e;
    errno = 0;
    long long x = strtoll(v->s, &e, 10);
    if (errno || *e || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

/* ---- loading ---------------------------------------------------------------------- */

/* What gru_load has read so far; everything owned is freed by load_free. */
typedef struct loader {
    const char *path;
    char *msg;
    size_t msz;
    FILE *f;
    uint64_t dsize, dstart;    /* the data: its size and its first byte in the file */
    char *text, *arena;        /* (hlen + 1) the header, its decoded strings */
    jval *nodes;
    const jval *root, *meta;   /* the header object, its __metadata__ or NULL */
    ftensor *ts;               /* (nt) the tensors in header order */
    ftensor **order;           /* (nt) the same by data offset */
    size_t nt;
    shape_cfg sc;
    long max_layer;
    int any_cell, any_layer;
    gru_config cfg;
    int all64;                 /* every tensor F64: a float64 model */
    void *buf;
    gru_model *m;
} loader;

#define BAD(...) fail(ld->msg, ld->msz, GRU_ERR_FORMAT, __VA_ARGS__)

/* The file's size, then the header length against it; reads the header. */
static gru_status load_header_text(loader *ld, uint64_t *hlen_out)
{
    unsigned char len8[8];
    const char *path = ld->path;
    if (fseek(ld->f, 0, SEEK_END) != 0) return fail(ld->msg, ld->msz, GRU_ERR_IO, "cannot seek %s", path);
    long fsize_l = ftell(ld->f);
    if (fsize_l < 0 || fseek(ld->f, 0, SEEK_SET) != 0) return fail(ld->msg, ld->msz, GRU_ERR_IO, "cannot seek %s", path);
    const uint64_t fsize = (uint64_t)fsize_l;
    if (fsize < 8 || fread(len8, 1, 8, ld->f) != 8)
        return BAD("%s: %llu bytes, shorter than the 8-byte header length", path,
                   (unsigned long long)fsize);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | len8[k];
    if (hlen > fsize - 8)
        return BAD("%s: the header length %llu runs past the end of the file (%llu bytes)",
                   path, (unsigned long long)hlen, (unsigned long long)fsize);
    if (hlen > MODELFILE_MAX_HEADER) return BAD("%s: a header of %llu bytes", path, (unsigned long long)hlen);
    ld->dsize = fsize - 8 - hlen;
    ld->dstart = 8 + hlen;
    ld->text = malloc((size_t)hlen + 1);
    ld->arena = malloc((size_t)hlen + 1);
    /* a value and its separator take at least two bytes ("[1,1]": 3 values in 5), so
     * hlen / 2 + 2 nodes always suffice */
    ld->nodes = calloc((size_t)hlen / 2 + 2, sizeof *ld->nodes);
    if (!ld->text || !ld->arena || !ld->nodes) return GRU_ERR_NO_MEMORY;
    if (fread(ld->text, 1, (size_t)hlen, ld->f) != (size_t)hlen)
        return fail(ld->msg, ld->msz, GRU_ERR_IO, "cannot read the header of %s", path);
    *hlen_out = hlen;
    return GRU_OK;
}

/* The header as JSON: an object, with an optional __metadata__ of strings. */
static gru_status load_header(loader *ld)
{
    uint64_t hlen = 0;
    gru_status st = load_header_text(ld, &hlen);
    if (st) return st;
    jparser jp = {ld->text, ld->text + hlen, ld->nodes, 0, (size_t)hlen / 2 + 2, ld->arena,
                  0, NULL};
    const jval *root = json_parse(&jp);
    if (!root) return BAD("%s: the header is not valid JSON (%s)", ld->path, jp.err);
    if (root->type != J_OBJ) return BAD("%s: the header is not a JSON object", ld->path);
    const jval *meta = json_member(root, "__metadata__");
    if (meta && meta->type != J_OBJ) return BAD("%s: __metadata__ is not an object", ld->path);
    for (const jval *c = meta ? meta->first : NULL; c; c = c->next)
        if (c->type != J_STR) return BAD("%s: __metadata__ must map names to strings", ld->path);
    ld->root = root;
    ld->meta = meta;
    ld->nt = root->n - (meta != NULL);
    ld->ts = calloc(ld->nt ? ld->nt : 1, sizeof *ld->ts);
    ld->order = calloc(ld->nt ? ld->nt : 1, sizeof *ld->order);
    return ld->ts && ld->order ? GRU_OK : GRU_ERR_NO_MEMORY;
}

/* Tensor t's shape (ndim integers >= 0) and its byte range, checked against its dtype
 * and the data. */
static gru_status load_extent(loader *ld, ftensor *t, const jval *sh, const jval *of)
{
    const char *path = ld->path;
    if (sh->type != J_ARR || sh->n != (size_t)t->ndim)
        return BAD("%s: tensor '%s' must have a shape of %d integers", path, t->name, t->ndim);
    uint64_t numel = 1;
    int k = 0;
    for (const jval *d = sh->first; d; d = d->next, k++) {
        if (d->type != J_INT || d->i < 0) return BAD("%s: tensor '%s' has a bad shape", path, t->name);
        t->shape[k] = d->i;
        if (d->i && numel > UINT64_MAX / (uint64_t)d->i) return BAD("%s: tensor '%s' is too large", path, t->name);
        numel *= (uint64_t)d->i;
    }
    if (of->type != J_ARR || of->n != 2 || of->first->type != J_INT ||
        of->first->next->type != J_INT || of->first->i < 0 ||
        of->first->next->i < of->first->i)
        return BAD("%s: tensor '%s' has bad data_offsets ([begin, end])", path, t->name);
    t->begin = (uint64_t)of->first->i;
    t->end = (uint64_t)of->first->next->i;
    if (t->end > ld->dsize)
        return BAD("%s: tensor '%s' ends at byte %llu of the data, which has %llu (truncated?)",
                   path, t->name, (unsigned long long)t->end, (unsigned long long)ld->dsize);
    const uint64_t es = t->f64 ? 8 : 4;
    if (numel > UINT64_MAX / es || numel * es != t->end - t->begin)
        return BAD("%s: tensor '%s': its shape and dtype need %llu bytes, data_offsets give %llu",
                   path, t->name, (unsigned long long)(numel * es),
                   (unsigned long long)(t->end - t->begin));
    return GRU_OK;
}

/* What tensor t's name and shape say about the configuration (into ld->sc). */
static gru_status load_name(loader *ld, ftensor *t, int kind, long layer, int reverse)
{
    if (layer < 0) {
        ld->any_cell = 1;
        snprintf(t->cname, sizeof t->cname, "%s_l0", t->name);
    } else {
        ld->any_layer = 1;
        snprintf(t->cname, sizeof t->cname, "%s", t->name);
        if (layer > ld->max_layer) ld->max_layer = layer;
        if (reverse) ld->sc.bidirectional = 1;
    }
    if (kind >= 2) ld->sc.bias = 1;
    if (kind == 0 && layer <= 0 && !reverse) {   /* weight_ih_l0 / weight_ih: I and H */
        ld->sc.I = t->shape[1];
        ld->sc.H = t->shape[0] / 3;
        if (t->shape[0] % 3 || t->shape[0] == 0)
            return BAD("%s: tensor '%s' must have 3 * hidden_size rows", ld->path, t->name);
    }
    return GRU_OK;
}

/* One tensor entry c of the header into t. */
static gru_status load_tensor(loader *ld, const jval *c, ftensor *t)
{
    const char *path = ld->path;
    t->name = c->key;
    const jval *dt = c->type == J_OBJ ? json_member(c, "dtype") : NULL;
    const jval *sh = c->type == J_OBJ ? json_member(c, "shape") : NULL;
    const jval *of = c->type == J_OBJ ? json_member(c, "data_offsets") : NULL;
    if (!dt || !sh || !of || c->n != 3)
        return BAD("%s: tensor '%s' must have exactly dtype, shape and data_offsets", path, t->name);
    if (dt->type != J_STR || (strcmp(dt->s, "F32") != 0 && strcmp(dt->s, "F64") != 0))
        return BAD("%s: tensor '%s' has dtype %s; libgru reads F32 and F64", path, t->name,
                   dt->type == J_STR ? dt->s : "(not a string)");
    t->f64 = strcmp(dt->s, "F64") == 0;
    int kind, reverse;
    long layer;
    if (!parse_name(t->name, &kind, &layer, &reverse))
        return BAD("%s: tensor '%s' is no GRU parameter", path, t->name);
    t->ndim = kind < 2 ? 2 : 1;
    gru_status st = load_extent(ld, t, sh, of);
    return st ? st : load_name(ld, t, kind, layer, reverse);
}

/* Every tensor of the header, then: no two overlap, GRU or GRUCell names, a first
 * layer's input weights present. */
static gru_status load_tensors(loader *ld)
{
    size_t i = 0;
    ld->max_layer = -1;
    for (const jval *c = ld->root->first; c; c = c->next) {
        if (c == ld->meta) continue;
        ld->order[i] = &ld->ts[i];
        gru_status st = load_tensor(ld, c, &ld->ts[i++]);
        if (st) return st;
    }
    qsort(ld->order, ld->nt, sizeof *ld->order, span_cmp);
    for (size_t k = 1; k < ld->nt; k++)
        if (ld->order[k]->begin < ld->order[k - 1]->end)
            return BAD("%s: tensors '%s' and '%s' overlap in the data", ld->path,
                       ld->order[k - 1]->name, ld->order[k]->name);
    if (ld->any_cell && ld->any_layer) return BAD("%s: a mix of GRU and GRUCell tensor names", ld->path);
    if (!ld->sc.H || !ld->sc.I) return BAD("%s: no weight_ih_l0 (or weight_ih) tensor", ld->path);
    ld->sc.cell = ld->any_cell;
    ld->sc.L = ld->any_cell ? 1 : ld->max_layer + 1;
    return GRU_OK;
}

/* pygru metadata: the sizes and flags, each checked against the shapes'. */
static gru_status load_meta_sizes(loader *ld)
{
    static const char *const keys[] = {"input_size", "hidden_size", "num_layers",
                                       "bidirectional", "bias", "reset_after"};
    const shape_cfg *sc = &ld->sc;
    const int64_t have[] = {sc->I, sc->H, sc->L, sc->bidirectional, sc->bias, -1};
    for (int k = 0; k < 6; k++) {
        int64_t v;
        const int flag = k >= 3;
        if (sc->cell && (k == 2 || k == 3)) continue;   /* a GRUCell has neither */
        if (!meta_int(ld->meta, keys[k], flag ? 0 : 1, flag ? 1 : INT64_MAX, &v))
            return BAD("%s: __metadata__ '%s' is missing or not %s", ld->path, keys[k],
                       flag ? "\"0\" or \"1\"" : "a positive integer");
        if (have[k] >= 0 && v != have[k])
            return BAD("%s: __metadata__ says %s=%lld but the tensors' shapes give %lld",
                       ld->path, keys[k], (long long)v, (long long)have[k]);
        if (k == 5) ld->cfg.reset_after = (int32_t)v;
    }
    int64_t rev = 0;
    if (json_member(ld->meta, "reverse") && !meta_int(ld->meta, "reverse", 0, 1, &rev))
        return BAD("%s: __metadata__ 'reverse' is not \"0\" or \"1\"", ld->path);
    ld->cfg.reverse = (int32_t)rev;
    return GRU_OK;
}

/* pygru metadata: the three dropout rates, each optional ("0" when absent). */
static gru_status load_meta_rates(loader *ld)
{
    static const char *const rates[3] = {"dropout", "input_dropout", "recurrent_dropout"};
    double *const rate_of[3] = {&ld->cfg.dropout, &ld->cfg.input_dropout,
                                &ld->cfg.recurrent_dropout};
    for (int k = 0; k < 3; k++) {
        const jval *dp = json_member(ld->meta, rates[k]);
        if (!dp) continue;
        char *e;
        const double p = strtod(dp->s, &e);
        if (e == dp->s || *e || !(p >= 0 && p < 1))
            return BAD("%s: __metadata__ '%s' is %s, expected a number in [0, 1)", ld->path,
                       rates[k], dp->s);
        *rate_of[k] = p;
    }
    return GRU_OK;
}

/* The configuration: the metadata's (format pygru), checked against the shapes, or
 * the shapes'; float64 when every tensor is F64. */
static gru_status load_config(loader *ld)
{
    gru_config *cfg = &ld->cfg;
    const shape_cfg *sc = &ld->sc;
    gru_config_init(cfg);
    cfg->input_size = sc->I;
    cfg->hidden_size = sc->H;
    cfg->num_layers = sc->L;
    cfg->bidirectional = sc->bidirectional;
    cfg->bias = sc->bias;
    ld->all64 = ld->nt > 0;
    for (size_t k = 0; k < ld->nt; k++) ld->all64 &= ld->ts[k].f64;
    cfg->dtype = ld->all64 ? GRU_FLOAT64 : GRU_FLOAT32;
    const jval *fmt = ld->meta ? json_member(ld->meta, "format") : NULL;
    if (!fmt || strcmp(fmt->s, "pygru") != 0) return GRU_OK;
    const jval *ver = json_member(ld->meta, "format_version"), *cls = json_member(ld->meta, "class");
    if (!ver || strcmp(ver->s, "1") != 0) return BAD("%s: format_version %s; libgru reads 1", ld->path, ver ? ver->s : "(missing)");
    if (!cls || (strcmp(cls->s, "GRU") != 0 && strcmp(cls->s, "GRUCell") != 0)) return BAD("%s: class must be GRU or GRUCell", ld->path);
    if ((strcmp(cls->s, "GRUCell") == 0) != sc->cell)
        return BAD("%s: __metadata__ says %s but the tensors are a %s's", ld->path, cls->s,
                   sc->cell ? "GRUCell" : "GRU");
    gru_status st = load_meta_sizes(ld);
    return st ? st : load_meta_rates(ld);
}

/* The tensor set: each of the model's exactly once, of its shape, nothing else. The
 * largest tensor's element count into *maxn. */
static gru_status load_match(loader *ld, size_t *maxn)
{
    const gru_model *m = ld->m;
    for (size_t k = 0; k < m->ntensors; k++) {
        const gru_tensor *mt = &m->tensors[k];
        size_t found = 0, at = 0;
        for (size_t q = 0; q < ld->nt; q++)
            if (strcmp(ld->ts[q].cname, mt->name) == 0) found++, at = q;
        if (found != 1)
            return BAD("%s: tensor '%s' is %s", ld->path, mt->name, found ? "there twice" : "missing");
        if (mt->shape[0] != ld->ts[at].shape[0] ||
            (mt->ndim == 2 && mt->shape[1] != ld->ts[at].shape[1]))
            return BAD("%s: tensor '%s' has the wrong shape for its configuration", ld->path,
                       ld->ts[at].name);
        if (mt->numel > *maxn) *maxn = mt->numel;
    }
    for (size_t q = 0; q < ld->nt && ld->nt != m->ntensors; q++) {
        size_t k = 0;
        while (k < m->ntensors && strcmp(ld->ts[q].cname, m->tensors[k].name) != 0) k++;
        if (k == m->ntensors)
            return BAD("%s: tensor '%s' does not belong to this model", ld->path, ld->ts[q].name);
    }
    return GRU_OK;
}

/* Reads every tensor's data into the model (F64 data into a float32 model rounded). */
static gru_status load_data(loader *ld, size_t maxn)
{
    if (!(ld->buf = malloc(maxn * 8 + 8))) return GRU_ERR_NO_MEMORY;
    for (size_t k = 0; k < ld->nt; k++) {
        const ftensor *t = &ld->ts[k];
        const size_t n = (size_t)(t->end - t->begin), numel = n / (t->f64 ? 8 : 4);
        if (fseek(ld->f, (long)(ld->dstart + t->begin), SEEK_SET) != 0 ||
            fread(ld->buf, 1, n, ld->f) != n)
            return fail(ld->msg, ld->msz, GRU_ERR_IO, "%s: cannot read tensor '%s'", ld->path,
                        t->name);
        if (!ld->all64 && t->f64) {   /* F64 into a float32 model */
            const double *d = ld->buf;
            float *fl = (float *)ld->buf;
            for (size_t q = 0; q < numel; q++) fl[q] = (float)d[q];
        }
        gru_status st = gru_param_set(ld->m, t->cname, ld->buf, numel);
        if (st) return st;
    }
    return GRU_OK;
}

/* The steps of gru_load after the file is open. */
static gru_status load_steps(loader *ld)
{
    gru_status st;
    size_t maxn = 0;
    if ((st = load_header(ld)) || (st = load_tensors(ld)) || (st = load_config(ld)))
        return st;
    if ((st = gru_create(&ld->cfg, &ld->m)) != GRU_OK)
        return fail(ld->msg, ld->msz, st, "%s: creating the model failed: %s", ld->path,
                    gru_strerror(st));
    if ((st = load_match(ld, &maxn))) return st;
    return load_data(ld, maxn);
}

#undef BAD

gru_status gru_load(const char *path, gru_model **out, char *msg, size_t msz)
{
    if (out) *out = NULL;
    (void)fail(msg, msz, GRU_OK, "%s", "");
    if (!path || !out) return GRU_ERR_NULL;
    if (!host_little_endian())
        return fail(msg, msz, GRU_ERR_UNSUPPORTED, "model files need a little-endian host");
    loader ld = {.path = path, .msg = msg, .msz = msz};
    if (!(ld.f = fopen(path, "rb")))
        return fail(msg, msz, GRU_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    gru_status st = load_steps(&ld);
    if (st == GRU_OK) {
        *out = ld.m;
        ld.m = NULL;
    }
    fclose(ld.f);
    gru_destroy(ld.m);
    free(ld.buf);
    free(ld.order);
    free(ld.ts);
    free(ld.nodes);
    free(ld.arena);
    free(ld.text);
    return st;
}
