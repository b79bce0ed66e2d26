/*
 * load.c - gru_load / gru_load_file: a model from a safetensors file (the format of
 * gru.h). pygru.load reads through gru_load_file, so both languages accept and refuse
 * exactly the same files.
 *
 * The file must be a regular file (a directory, FIFO or device is refused before any
 * read, so nothing blocks). The header (at most 1 MiB) is parsed by json.c, strictly.
 * Then, before the model is created: every tensor's name, dtype, shape and byte range
 * (inside the data, no overlaps); the set of names (L = max layer + 1 layers, D
 * directions, every (kind, layer, direction) exactly once, so the number of tensors is
 * L * D * (bias ? 4 : 2)); every shape against the sizes weight_ih_l0 gives; the
 * metadata (strict integers, flags, rates) against the shapes; a quantized file's rules
 * (load_quant: "quantization" "int8" with I8 weights and one F32 "<name>.scale" of (3H)
 * each, or "bf16" with BF16 weights and no scales; F32 biases; load_q8_weight: scales
 * finite >= 0, values in [-127, 127], zero-scale rows all 0; bf16 values are taken as
 * they are, as a float file's). Since each tensor's bytes are in the file, the model is
 * never larger than the file's data. Memory while loading: the model, the header twice
 * (text, decoded strings), its JSON nodes (json.h) and one tensor's bytes (int8: and one
 * weight's scales); time is linear in the file's size (n log n for the sorts).
 * Failures return GRU_ERR_IO or GRU_ERR_FORMAT with a message; nothing prints.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif
#ifndef S_ISREG   /* MSVC has the S_IF* bits only */
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#endif
#ifndef S_ISDIR
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#endif
#ifndef S_ISCHR
#define S_ISCHR(m) (((m) & S_IFMT) == S_IFCHR)
#endif
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

static const char *const KINDS[8] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                     "layer_norm_ih_weight", "layer_norm_ih_bias",
                                     "layer_norm_hh_weight", "layer_norm_hh_bias"};

typedef struct ftensor {
    const char *name;          /* as in the file */
    int f64;                   /* dtype F64 (else F32, I8 or BF16) */
    int i8;                    /* dtype I8 (an int8 model's weight) */
    int bf16;                  /* dtype BF16 (a bf16 model's weight) */
    int scale;                 /* "<weight>.scale": an int8 weight's row scales */
    int kind;                  /* 0..7: KINDS (4..7: layer_norm's) */
    long layer;                /* -1 for a GRUCell's names */
    int reverse;
    size_t slot;               /* its index in the model's state-dict order */
    int ndim;
    int64_t shape[2];
    uint64_t begin, end;       /* byte offsets in the data */
} ftensor;

static int span_cmp(const void *a, const void *b)
{
    const ftensor *x = *(const ftensor *const *)a, *y = *(const ftensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* s as a decimal integer 0|[1-9][0-9]* (ASCII digits only, no sign, no spaces) of at
 * most 18 digits into *out; 0 if it is not one. end: where it stops (NULL: at NUL). */
static int strict_uint(const char *s, const char *end, int64_t *out)
{
    const char *p = s;
    int64_t v = 0;
    while ((end ? p < end : *p != '\0') && *p >= '0' && *p <= '9' && p - s < 18)
        v = v * 10 + (*p++ - '0');
    if (p == s || (end ? p != end : *p != '\0') || (*s == '0' && p - s > 1)) return 0;
    *out = v;
    return 1;
}

/* "weight_ih_l3_reverse" -> kind 0..7, layer 3, reverse 1; a GRUCell's "weight_ih" ->
 * layer -1. Returns 0 if the name is no GRU parameter's. */
static int parse_name(ftensor *t)
{
    for (int k = 0; k < 8; k++) {
        const size_t n = strlen(KINDS[k]);
        if (strncmp(t->name, KINDS[k], n) != 0) continue;
        const char *p = t->name + n;
        t->kind = k;
        t->reverse = 0;
        t->layer = -1;
        if (*p == '\0') return 1;
        if (p[0] != '_' || p[1] != 'l') return 0;
        const char *rev = strstr(p + 2, "_reverse");
        t->reverse = rev && strcmp(rev, "_reverse") == 0;
        int64_t layer;
        if (!strict_uint(p + 2, t->reverse ? rev : NULL, &layer) || layer > 1000000) return 0;
        t->layer = (long)layer;
        return 1;
    }
    return 0;
}

/* The metadata's value of key as a string, or NULL when absent. */
static const char *meta_str(const jval *meta, const char *key)
{
    const jval *v = meta ? json_member(meta, key) : NULL;
    return v ? v->s : NULL;
}

/* A dropout rate as Python's repr(float) writes one in [0, 1): [0-9]+(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?, read by strtod only if strtod reads all of it (it follows the
 * locale's decimal point). 1 with *out, 0 if malformed. */
static int strict_rate(const char *s, double *out)
{
    const char *p = s;
    size_t n = strspn(p, "0123456789");
    if (!n) return 0;
    p += n;
    if (*p == '.') {
        if (!(n = strspn(++p, "0123456789"))) return 0;
        p += n;
    }
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '+' || p[1] == '-');
        if (!(n = strspn(p, "0123456789"))) return 0;
        p += n;
    }
    char *e;
    const double v = *p == '\0' ? strtod(s, &e) : -1;
    if (*p != '\0' || *e != '\0' || !(v >= 0 && v < 1)) return 0;
    *out = v;
    return 1;
}

/* ---- loading ---------------------------------------------------------------------- */

/* What gru_load has read so far; everything owned is freed by load_free. */
typedef struct loader {
    const char *path;
    char *msg;
    size_t msz;
    FILE *f;
    uint64_t fsize;            /* the file's size (fstat) */
    uint64_t dsize, dstart;    /* the data: its size and its first byte in the file */
    char *text, *arena;        /* (hlen + 1) the header, its decoded strings */
    jparser jp;                /* owns the JSON nodes */
    const jval *root, *meta;   /* the header object, its __metadata__ or NULL */
    ftensor *ts;               /* (nt) the tensors in header order */
    ftensor **order;           /* (nt) the same by data offset, then by slot */
    ftensor **sorder;          /* (nt) the scale tensors by their weight's slot */
    size_t nt, ns;             /* parameters; scale tensors (after them in ts) */
    int32_t qfmt;              /* __metadata__ quantization: GRU_INT8, GRU_BF16, 0 */
    float *sbuf;               /* (3H) one weight's scales */
    int cell, any_layer, bias; /* GRUCell names; GRU names; bias tensors */
    int ln;                    /* layer_norm tensors */
    int64_t I, H, L, D;        /* what the names and weight_ih_l0 say */
    gru_config cfg;
    gru_file_info info;
    int all64;                 /* every tensor F64: a float64 model */
    void *buf;
    gru_model *m;
} loader;

#define BAD(...) fail(ld->msg, ld->msz, GRU_ERR_FORMAT, __VA_ARGS__)
#define IOERR(...) fail(ld->msg, ld->msz, GRU_ERR_IO, __VA_ARGS__)

/* What a file that is not a regular file is, for the message. */
static const char *file_kind(unsigned mode)
{
    if (S_ISDIR(mode)) return "a directory";
#ifdef S_ISFIFO
    if (S_ISFIFO(mode)) return "a FIFO";
#endif
    if (S_ISCHR(mode)) return "a character device";
#ifdef S_ISBLK
    if (S_ISBLK(mode)) return "a block device";
#endif
#ifdef S_ISSOCK
    if (S_ISSOCK(mode)) return "a socket";
#endif
    return "not a regular file";
}

/* Opens path for reading without blocking (a FIFO would block in fopen) and checks
 * that it is a regular file; its size into ld->fsize. */
static gru_status load_open(loader *ld)
{
    struct stat sb;
#ifdef _WIN32
    if (!(ld->f = fopen(ld->path, "rb")))
        return IOERR("cannot open %s: %s", ld->path, strerror(errno));
    if (fstat(_fileno(ld->f), &sb) != 0) return IOERR("cannot stat %s: %s", ld->path, strerror(errno));
#else
    const int fd = open(ld->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return IOERR("cannot open %s: %s", ld->path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        const int err = errno;
        close(fd);
        return IOERR("cannot stat %s: %s", ld->path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode) || !(ld->f = fdopen(fd, "rb"))) {
        const int err = errno;
        close(fd);
        if (S_ISREG(sb.st_mode)) return IOERR("cannot read %s: %s", ld->path, strerror(err));
    }
#endif
    if (!S_ISREG(sb.st_mode))
        return IOERR("%s is %s, not a model file", ld->path, file_kind((unsigned)sb.st_mode));
    if (sb.st_size < 0) return IOERR("cannot stat %s", ld->path);
    ld->fsize = (uint64_t)sb.st_size;
    return GRU_OK;
}

/* The header length against the file's size; reads the header. */
static gru_status load_header_text(loader *ld, uint64_t *hlen_out)
{
    unsigned char len8[8];
    const char *path = ld->path;
    if (ld->fsize < 8 || fread(len8, 1, 8, ld->f) != 8)
        return BAD("%s: %llu bytes, shorter than the 8-byte header length", path,
                   (unsigned long long)ld->fsize);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | len8[k];
    if (hlen > ld->fsize - 8)
        return BAD("%s: the header length %llu runs past the end of the file (%llu bytes)",
                   path, (unsigned long long)hlen, (unsigned long long)ld->fsize);
    if (hlen > MODELFILE_MAX_HEADER)
        return BAD("%s: a header of %llu bytes (at most %llu)", path, (unsigned long long)hlen,
                   (unsigned long long)MODELFILE_MAX_HEADER);
    ld->dsize = ld->fsize - 8 - hlen;
    ld->dstart = 8 + hlen;
    ld->text = malloc((size_t)hlen + 1);
    ld->arena = malloc((size_t)hlen + 1);
    if (!ld->text || !ld->arena) return GRU_ERR_NO_MEMORY;
    if (fread(ld->text, 1, (size_t)hlen, ld->f) != (size_t)hlen)
        return IOERR("cannot read the header of %s", path);
    *hlen_out = hlen;
    return GRU_OK;
}

/* The header as JSON: an object, with an optional __metadata__ of strings. */
static gru_status load_header(loader *ld)
{
    uint64_t hlen = 0;
    gru_status st = load_header_text(ld, &hlen);
    if (st) return st;
    ld->jp.p = ld->text;
    ld->jp.end = ld->text + hlen;
    ld->jp.arena = ld->arena;
    const jval *root = json_parse(&ld->jp);
    if (!root && ld->jp.no_memory) return GRU_ERR_NO_MEMORY;
    if (!root) return BAD("%s: the header is not valid JSON (%s)", ld->path, ld->jp.err);
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
    ld->sorder = calloc(ld->nt ? ld->nt : 1, sizeof *ld->sorder);
    return ld->ts && ld->order && ld->sorder ? GRU_OK : GRU_ERR_NO_MEMORY;
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
    const uint64_t es = t->i8 ? 1 : t->bf16 ? 2 : t->f64 ? 8 : 4;
    if (numel > UINT64_MAX / es || numel * es != t->end - t->begin)
        return BAD("%s: tensor '%s': its shape and dtype need %llu bytes, data_offsets give %llu",
                   path, t->name, (unsigned long long)(numel * es),
                   (unsigned long long)(t->end - t->begin));
    return GRU_OK;
}

/* t's name as a parameter's (parse_name), or, for "<weight>.scale", its weight's with
 * t->scale set. 0 if it is neither. */
static int parse_tensor_name(ftensor *t)
{
    const size_t n = strlen(t->name), sn = strlen(".scale");
    char base[64];
    if (n <= sn || n - sn >= sizeof base || strcmp(t->name + n - sn, ".scale") != 0)
        return parse_name(t);
    memcpy(base, t->name, n - sn);
    base[n - sn] = '\0';
    const char *name = t->name;
    t->name = base;
    const int ok = parse_name(t) && t->kind < 2;
    t->name = name;
    t->scale = 1;
    return ok;
}

/* t's dtype: F32, F64, I8 (int8 weights) or BF16 (bf16 weights); a scale tensor's F32
 * only. */
static gru_status load_dtype(loader *ld, ftensor *t, const jval *dt)
{
    const char *s = dt->type == J_STR ? dt->s : "(not a string)";
    if (dt->type != J_STR || (strcmp(s, "F32") != 0 && strcmp(s, "F64") != 0 &&
                              strcmp(s, "I8") != 0 && strcmp(s, "BF16") != 0))
        return BAD("%s: tensor '%s' has dtype %s; libgru reads F32 and F64 (and I8, BF16: "
                   "int8, bf16 weights)", ld->path, t->name, s);
    t->f64 = strcmp(s, "F64") == 0;
    t->i8 = strcmp(s, "I8") == 0;
    t->bf16 = strcmp(s, "BF16") == 0;
    if ((t->i8 || t->bf16) && (t->scale || t->kind >= 2))
        return BAD("%s: tensor '%s' has dtype %s; only weights may (%s models)", ld->path,
                   t->name, s, t->i8 ? "int8" : "bf16");
    if (t->scale && t->f64)
        return BAD("%s: scale tensor '%s' has dtype F64; it must be F32", ld->path, t->name);
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
    if (!parse_tensor_name(t)) return BAD("%s: tensor '%s' is no GRU parameter", path, t->name);
    gru_status st = load_dtype(ld, t, dt);
    if (st) return st;
    t->ndim = t->kind < 2 && !t->scale ? 2 : 1;
    if (t->layer < 0) ld->cell = 1;
    else ld->any_layer = 1;
    if (t->layer + 1 > ld->L) ld->L = t->layer + 1;
    if (t->reverse) ld->D = 2;
    if (t->kind == 2 || t->kind == 3) ld->bias = 1;
    if (t->kind >= 4) ld->ln = 1;
    return load_extent(ld, t, sh, of);
}

/* Moves the scale tensors after the parameters in ts, keeping each group's order
 * (ld->nt counts the parameters, ld->ns the scales); linear time. */
static gru_status load_split_scales(loader *ld)
{
    size_t w = 0, ns = 0;
    for (size_t k = 0; k < ld->nt; k++) ns += ld->ts[k].scale != 0;
    if (!ns) return GRU_OK;
    ftensor *tmp = malloc(ns * sizeof *tmp);
    if (!tmp) return GRU_ERR_NO_MEMORY;
    for (size_t k = 0, j = 0; k < ld->nt; k++) {
        if (ld->ts[k].scale) tmp[j++] = ld->ts[k];
        else ld->ts[w++] = ld->ts[k];
    }
    memcpy(&ld->ts[w], tmp, ns * sizeof *tmp);
    free(tmp);
    ld->ns = ns;
    ld->nt = w;
    return GRU_OK;
}

/* Every tensor of the header; no two overlap in the data. */
static gru_status load_tensors(loader *ld)
{
    size_t i = 0;
    ld->D = 1;
    ld->L = 1;
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
    if (ld->cell && ld->any_layer) return BAD("%s: a mix of GRU and GRUCell tensor names", ld->path);
    if (ld->cell && ld->ln)
        return BAD("%s: layer_norm tensors in a GRUCell's file (only a GRU has them)", ld->path);
    return load_split_scales(ld);
}

/* Tensors per (layer, direction): weights [, biases] [, layer_norm's four]. */
static size_t per_dir(const loader *ld) { return (ld->bias ? 4u : 2u) + (ld->ln ? 4u : 0u); }

/* A kind's place among its (layer, direction)'s tensors, and back. */
static size_t kind_pos(const loader *ld, int kind)
{
    return kind < 2 || ld->bias ? (size_t)kind : (size_t)kind - 2;
}
static size_t pos_kind(const loader *ld, size_t pos) { return pos < 2 || ld->bias ? pos : pos + 2; }

/* t's state-dict slot ((layer, direction) major, then kind). */
static size_t slot_of(const loader *ld, const ftensor *t)
{
    return ((size_t)(t->layer < 0 ? 0 : t->layer) * (size_t)ld->D + (size_t)t->reverse) *
               per_dir(ld) + kind_pos(ld, t->kind);
}

/* The name of the tensor in state-dict slot s ((layer, direction) major, then kind). */
static void slot_name(const loader *ld, size_t s, char *out, size_t n)
{
    const size_t per = per_dir(ld), lds = s / per;
    if (ld->cell) snprintf(out, n, "%s", KINDS[pos_kind(ld, s % per)]);
    else snprintf(out, n, "%s_l%zu%s", KINDS[pos_kind(ld, s % per)], lds / (size_t)ld->D,
                  lds % (size_t)ld->D ? "_reverse" : "");
}

/* The set of names: L * D * ((bias ? 4 : 2) + (layer_norm ? 4 : 0)) tensors, each
 * (kind, layer, direction) exactly once (biases and layer_norm tensors all-or-nothing);
 * ld->order becomes the tensors by slot. Checked before anything is allocated from L
 * (nt is bounded by the header's size). */
static gru_status load_names(loader *ld)
{
    const size_t per = per_dir(ld);
    const uint64_t want = (uint64_t)ld->L * (uint64_t)ld->D * per;
    char name[64];
    for (size_t k = 0; k < ld->nt; k++) ld->order[k] = NULL;
    for (size_t k = 0; k < ld->nt; k++) {
        ftensor *t = &ld->ts[k];
        t->slot = slot_of(ld, t);
        if (t->slot >= ld->nt) continue;
        if (ld->order[t->slot])
            return BAD("%s: tensor '%s' is there twice", ld->path, t->name);
        ld->order[t->slot] = t;
    }
    if (want == ld->nt) return GRU_OK;   /* nt distinct slots < nt: each exactly once */
    size_t s = 0;
    while (s < ld->nt && ld->order[s]) s++;
    slot_name(ld, s, name, sizeof name);
    return BAD("%s: tensor '%s' is missing (%zu tensors; the names imply %lld layer(s), "
               "%lld direction(s)%s%s: %llu)", ld->path, name, ld->nt, (long long)ld->L,
               (long long)ld->D, ld->bias ? ", biases" : "", ld->ln ? ", layer_norm" : "",
               (unsigned long long)want);
}

/* Every shape against the sizes weight_ih_l0 (a GRUCell's weight_ih) gives: weight_ih
 * (3H, I) in layer 0, (3H, D*H) above; weight_hh (3H, H); biases (3H). */
static gru_status load_shapes(loader *ld)
{
    const ftensor *w = ld->order[0];
    if (w->shape[0] == 0 || w->shape[0] % 3 || w->shape[1] == 0)
        return BAD("%s: tensor '%s' has shape (%lld, %lld); it must be (3 * hidden_size, "
                   "input_size), both >= 1", ld->path, w->name, (long long)w->shape[0],
                   (long long)w->shape[1]);
    ld->H = w->shape[0] / 3;
    ld->I = w->shape[1];
    for (size_t k = 0; k < ld->nt; k++) {
        const ftensor *t = ld->order[k];
        const int64_t cols = t->kind == 1 ? ld->H : t->layer > 0 ? ld->D * ld->H : ld->I;
        if (t->shape[0] != 3 * ld->H || (t->ndim == 2 && t->shape[1] != cols))
            return BAD("%s: tensor '%s' has the wrong shape for input_size=%lld, "
                       "hidden_size=%lld", ld->path, t->name, (long long)ld->I,
                       (long long)ld->H);
    }
    return GRU_OK;
}

/* __metadata__ "quantization": absent (a float file, 0), "int8" or "bf16" into
 * ld->qfmt; any other value is refused, naming it. */
static gru_status load_quant_format(loader *ld)
{
    const char *qs = meta_str(ld->meta, "quantization");
    ld->qfmt = !qs ? 0 : strcmp(qs, "int8") == 0 ? GRU_INT8 : strcmp(qs, "bf16") == 0 ? GRU_BF16 : -1;
    if (ld->qfmt < 0)
        return BAD("%s: __metadata__ quantization is \"%s\"; libgru reads \"int8\" and "
                   "\"bf16\" (or no quantization: a float model)", ld->path, qs);
    return GRU_OK;
}

/* The scale tensors: only in an int8 file, each of an existing weight, once, (3H). */
static gru_status load_scales(loader *ld)
{
    for (size_t k = ld->nt; k < ld->nt + ld->ns; k++) {
        ftensor *t = &ld->ts[k];
        const size_t slot = slot_of(ld, t);
        if (ld->qfmt == GRU_BF16)
            return BAD("%s: scale tensor '%s' in a bf16 file (bf16 weights have no scales)",
                       ld->path, t->name);
        if (ld->qfmt != GRU_INT8)
            return BAD("%s: scale tensor '%s' in a file without quantization int8", ld->path, t->name);
        if (slot >= ld->nt || ld->sorder[slot])
            return BAD("%s: scale tensor '%s' is there twice or has no weight", ld->path, t->name);
        if (t->shape[0] != 3 * ld->H)
            return BAD("%s: scale tensor '%s' has %lld rows; its weight has %lld", ld->path,
                       t->name, (long long)t->shape[0], (long long)(3 * ld->H));
        ld->sorder[slot] = t;
    }
    return GRU_OK;
}

/* Parameter slot k's dtype against the file's quantization: a float file has neither
 * I8 nor BF16; an int8 file's weights are I8 with a scale tensor, a bf16 file's BF16;
 * a quantized file's biases are F32. */
static gru_status load_quant_dtype(loader *ld, size_t k)
{
    const ftensor *t = ld->order[k];
    const char *path = ld->path, *q = ld->qfmt == GRU_BF16 ? "bf16" : "int8";
    if (ld->qfmt != GRU_INT8 && t->i8)
        return BAD("%s: tensor '%s' has dtype I8 in a file without quantization int8", path, t->name);
    if (ld->qfmt != GRU_BF16 && t->bf16)
        return BAD("%s: tensor '%s' has dtype BF16 in a file without quantization bf16", path, t->name);
    if (ld->qfmt == GRU_INT8 && t->kind < 2 && (!t->i8 || !ld->sorder[k]))
        return BAD("%s: tensor '%s' of an int8 file must be I8 with a scale tensor '%s.scale'",
                   path, t->name, t->name);
    if (ld->qfmt == GRU_BF16 && t->kind < 2 && !t->bf16)
        return BAD("%s: tensor '%s' of a bf16 file must be BF16", path, t->name);
    if (ld->qfmt && t->kind >= 4)
        return BAD("%s: layer_norm tensor '%s' in %s %s file (quantized models have no "
                   "layer normalisation)", path, t->name, ld->qfmt == GRU_BF16 ? "a" : "an", q);
    if (ld->qfmt && t->kind >= 2 && t->f64)
        return BAD("%s: bias '%s' of %s %s file must be F32", path, t->name,
                   ld->qfmt == GRU_BF16 ? "a" : "an", q);
    return GRU_OK;
}

/* The quantization (docs/quantization.md, "Model files"): the metadata's format, the
 * scale tensors, every tensor's dtype against them. */
static gru_status load_quant(loader *ld)
{
    gru_status st = load_quant_format(ld);
    if (st || (st = load_scales(ld))) return st;
    for (size_t k = 0; k < ld->nt && !st; k++) st = load_quant_dtype(ld, k);
    return st;
}

/* pygru metadata: the sizes and flags, each checked against the shapes'. */
static gru_status load_meta_sizes(loader *ld)
{
    static const char *const keys[] = {"input_size", "hidden_size", "num_layers",
                                       "bidirectional", "bias", "reset_after"};
    const int64_t have[] = {ld->I, ld->H, ld->L, ld->D == 2, ld->bias, -1};
    for (int k = 0; k < 6; k++) {
        int64_t v;
        const int flag = k >= 3;
        const char *s = meta_str(ld->meta, keys[k]);
        if (ld->cell && (k == 2 || k == 3)) continue;   /* a GRUCell has neither */
        if (!s) return BAD("%s: __metadata__ lacks '%s'", ld->path, keys[k]);
        if (!strict_uint(s, NULL, &v) || (flag && v > 1) || (!flag && v < 1))
            return BAD("%s: __metadata__ '%s' is \"%s\", expected %s", ld->path, keys[k], s,
                       flag ? "\"0\" or \"1\"" : "a positive decimal integer");
        if (have[k] >= 0 && v != have[k])
            return BAD("%s: __metadata__ says %s=%lld but the tensors' shapes give %lld",
                       ld->path, keys[k], (long long)v, (long long)have[k]);
        if (k == 5) ld->cfg.reset_after = (int32_t)v;
    }
    return GRU_OK;
}

/* pygru metadata: reverse, batch_first and augru (flags) and the five rates (dropout,
 * input_dropout, recurrent_dropout, zoneout, weight_dropout), each optional (0 when
 * absent; batch_first -1). */
static gru_status load_meta_options(loader *ld)
{
    static const char *const flags[3] = {"reverse", "batch_first", "augru"};
    static const char *const rates[5] = {"dropout", "input_dropout", "recurrent_dropout",
                                         "zoneout", "weight_dropout"};
    int32_t *const flag_of[3] = {&ld->cfg.reverse, &ld->info.batch_first, &ld->cfg.augru};
    double *const rate_of[5] = {&ld->cfg.dropout, &ld->cfg.input_dropout,
                                &ld->cfg.recurrent_dropout, &ld->cfg.zoneout,
                                &ld->cfg.weight_dropout};
    for (int k = 0; k < 3; k++) {
        const char *s = meta_str(ld->meta, flags[k]);
        if (s && strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
            return BAD("%s: __metadata__ '%s' is \"%s\", expected \"0\" or \"1\"", ld->path,
                       flags[k], s);
        if (s) *flag_of[k] = s[0] == '1';
    }
    for (int k = 0; k < 5; k++) {
        const char *s = meta_str(ld->meta, rates[k]);
        if (s && !strict_rate(s, rate_of[k]))
            return BAD("%s: __metadata__ '%s' is \"%s\", expected a decimal number in [0, 1)",
                       ld->path, rates[k], s);
    }
    /* layer_norm: optional, and then the tensors must say the same */
    const char *s = meta_str(ld->meta, "layer_norm");
    if (s && strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
        return BAD("%s: __metadata__ 'layer_norm' is \"%s\", expected \"0\" or \"1\"",
                   ld->path, s);
    if (s && (s[0] == '1') != ld->ln)
        return BAD("%s: __metadata__ says layer_norm=%s but the file has %s layer_norm tensors",
                   ld->path, s, ld->ln ? "" : "no");
    return GRU_OK;
}

/* The configuration: the shapes', checked against the metadata's (format pygru); float64
 * when every tensor is F64. */
static gru_status load_config(loader *ld)
{
    gru_config *cfg = &ld->cfg;
    gru_config_init(cfg);
    cfg->input_size = ld->I;
    cfg->hidden_size = ld->H;
    cfg->num_layers = ld->L;
    cfg->bidirectional = ld->D == 2;
    cfg->bias = ld->bias;
    cfg->layer_norm = ld->ln;
    ld->all64 = ld->nt > 0;
    for (size_t k = 0; k < ld->nt; k++) ld->all64 &= ld->ts[k].f64;
    cfg->dtype = ld->all64 ? GRU_FLOAT64 : GRU_FLOAT32;
    ld->info.cell = ld->cell;
    ld->info.batch_first = -1;
    const char *fmt = meta_str(ld->meta, "format");
    if (!fmt || strcmp(fmt, "pygru") != 0) return GRU_OK;
    ld->info.pygru = 1;
    const char *ver = meta_str(ld->meta, "format_version"), *cls = meta_str(ld->meta, "class");
    if (!ver || strcmp(ver, "1") != 0)
        return BAD("%s: format_version %s; libgru reads 1", ld->path, ver ? ver : "(missing)");
    if (!cls || (strcmp(cls, "GRU") != 0 && strcmp(cls, "GRUCell") != 0))
        return BAD("%s: class %s; it must be GRU or GRUCell", ld->path, cls ? cls : "(missing)");
    if ((strcmp(cls, "GRUCell") == 0) != ld->cell)
        return BAD("%s: __metadata__ says %s but the tensors are a %s's", ld->path, cls,
                   ld->cell ? "GRUCell" : "GRU");
    gru_status st = load_meta_sizes(ld);
    if (st || (st = load_meta_options(ld))) return st;
    if (cfg->reverse && cfg->bidirectional)
        return BAD("%s: __metadata__ says reverse=1 for a bidirectional GRU", ld->path);
    if (cfg->augru && ld->qfmt)
        return BAD("%s: __metadata__ says augru=1 for a quantized model (AUGRU has no "
                   "quantized kernels)", ld->path);
    return GRU_OK;
}

/* The model's tensors against the file's (a consistency check: load_names and
 * load_shapes made them equal). The largest tensor's element count into *maxn. */
static gru_status load_match(loader *ld, size_t *maxn)
{
    const gru_model *m = ld->m;
    if (m->ntensors != ld->nt) return BAD("%s: the model has %zu tensors, the file %zu", ld->path, m->ntensors, ld->nt);
    for (size_t k = 0; k < ld->nt; k++) {
        const gru_tensor *mt = &m->tensors[k];
        const ftensor *t = ld->order[k];
        if (mt->shape[0] != t->shape[0] || (mt->ndim == 2 && mt->shape[1] != t->shape[1]))
            return BAD("%s: tensor '%s' has the wrong shape for its configuration", ld->path,
                       t->name);
        if (mt->numel > *maxn) *maxn = mt->numel;
    }
    return GRU_OK;
}

/* Reads tensor t's bytes into dst. */
static gru_status load_bytes(loader *ld, const ftensor *t, void *dst)
{
    const size_t n = (size_t)(t->end - t->begin);
    if (fseek(ld->f, (long)(ld->dstart + t->begin), SEEK_SET) != 0 || fread(dst, 1, n, ld->f) != n)
        return IOERR("%s: cannot read tensor '%s'", ld->path, t->name);
    return GRU_OK;
}

/* An int8 weight (slot k): its scales (finite, >= 0) and values (in [-127, 127]; all 0
 * in a row of scale 0) into the model. */
static gru_status load_q8_weight(loader *ld, size_t k)
{
    const ftensor *t = ld->order[k], *st = ld->sorder[k];
    const size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    const int8_t *v = ld->buf;
    gru_status e = load_bytes(ld, st, ld->sbuf);
    if (e || (e = load_bytes(ld, t, ld->buf))) return e;
    for (size_t i = 0; i < rows; i++) {
        const float s = ld->sbuf[i];
        if (!(s >= 0 && s <= 3.4028234663852886e38f))
            return BAD("%s: scale tensor '%s' row %zu is %g; scales must be finite and >= 0",
                       ld->path, st->name, i, (double)s);
        for (size_t c = 0; c < cols; c++) {
            const int8_t x = v[i * cols + c];
            if (x == -128 || (s == 0 && x != 0))
                return BAD("%s: tensor '%s' [%zu, %zu] is %d; int8 values are in [-127, 127] "
                           "and 0 in a row of scale 0", ld->path, t->name, i, c, (int)x);
        }
    }
    const size_t per = per_dir(ld);
    gru_qmodel_set_weight(ld->m, k / per, t->kind, v, ld->sbuf);
    return GRU_OK;
}

/* A bf16 weight (slot k): its values (BF16, little-endian; any bits, NaN and infinity
 * included, as a float file's values) into the model as they are. */
static gru_status load_bf16_weight(loader *ld, size_t k)
{
    const ftensor *t = ld->order[k];
    gru_status st = load_bytes(ld, t, ld->buf);   /* the host is little-endian */
    if (st) return st;
    const size_t per = per_dir(ld);
    gru_qmodel_set_bf16_weight(ld->m, k / per, t->kind, ld->buf);
    return GRU_OK;
}

/* A bf16 model's tensors: the weights (load_bf16_weight), the biases (F32). */
static gru_status load_bf16_data(loader *ld)
{
    for (size_t k = 0; k < ld->nt; k++) {
        const ftensor *t = ld->order[k];
        gru_status st = t->kind < 2 ? load_bf16_weight(ld, k) : load_bytes(ld, t, ld->buf);
        if (st) return st;
        if (t->kind >= 2) gru_qmodel_set_bias(ld->m, k, ld->buf);
    }
    return GRU_OK;
}

/* An int8 model's tensors: the weights (load_q8_weight), the biases (F32). */
static gru_status load_q8_data(loader *ld)
{
    if (!(ld->sbuf = malloc((size_t)(3 * ld->H) * sizeof(float)))) return GRU_ERR_NO_MEMORY;
    for (size_t k = 0; k < ld->nt; k++) {
        const ftensor *t = ld->order[k];
        gru_status st = t->kind < 2 ? load_q8_weight(ld, k) : load_bytes(ld, t, ld->buf);
        if (st) return st;
        if (t->kind >= 2) gru_qmodel_set_bias(ld->m, k, ld->buf);
    }
    return GRU_OK;
}

/* Reads every tensor's data into the model (F64 data into a float32 model rounded). */
static gru_status load_data(loader *ld, size_t maxn)
{
    if (!(ld->buf = malloc(maxn * 8 + 8))) return GRU_ERR_NO_MEMORY;
    if (ld->qfmt == GRU_INT8) return load_q8_data(ld);
    if (ld->qfmt == GRU_BF16) return load_bf16_data(ld);
    for (size_t k = 0; k < ld->nt; k++) {
        const ftensor *t = ld->order[k];
        const size_t numel = (size_t)(t->end - t->begin) / (t->f64 ? 8 : 4);
        gru_status st = load_bytes(ld, t, ld->buf);
        if (st) return st;
        if (!ld->all64 && t->f64) {   /* F64 into a float32 model */
            const double *d = ld->buf;
            float *fl = (float *)ld->buf;
            for (size_t q = 0; q < numel; q++) fl[q] = (float)d[q];
        }
        if ((st = gru_param_set(ld->m, ld->m->tensors[k].name, ld->buf, numel))) return st;
    }
    return GRU_OK;
}

/* The model of the file's configuration (int8, bf16: gru_qmodel_create); a
 * configuration libgru refuses is the file's fault (GRU_ERR_FORMAT). */
static gru_status load_create(loader *ld)
{
    if (ld->qfmt && ld->cfg.zoneout > 0)   /* gru_quantize refuses zoneout: never written */
        return BAD("%s: __metadata__ zoneout is %.17g in %s model (quantized models have "
                   "no zoneout)", ld->path, ld->cfg.zoneout,
                   ld->qfmt == GRU_BF16 ? "a bf16" : "an int8");
    gru_status st = ld->qfmt ? gru_qmodel_create(&ld->cfg, ld->qfmt, &ld->m)
                             : gru_create(&ld->cfg, &ld->m);
    if (st == GRU_ERR_UNSUPPORTED)
        return fail(ld->msg, ld->msz, st, "%s: %s model with an input width above %d "
                    "(libgru's limit for int8 and bf16 models)", ld->path,
                    ld->qfmt == GRU_BF16 ? "a bf16" : "an int8", (int)GRU_Q8_KMAX);
    if (st)
        return fail(ld->msg, ld->msz, st == GRU_ERR_INVALID_ARG || st == GRU_ERR_OVERFLOW ?
                    GRU_ERR_FORMAT : st, "%s: creating the model failed: %s", ld->path,
                    gru_strerror(st));
    return GRU_OK;
}

/* The steps of gru_load after the file is open. */
static gru_status load_steps(loader *ld)
{
    gru_status st;
    size_t maxn = 0;
    if ((st = load_open(ld)) || (st = load_header(ld)) || (st = load_tensors(ld)) ||
        (st = load_names(ld)) || (st = load_shapes(ld)) || (st = load_quant(ld)) ||
        (st = load_config(ld)) || (st = load_create(ld)))
        return st;
    if ((st = load_match(ld, &maxn))) return st;
    return load_data(ld, maxn);
}

#undef BAD
#undef IOERR

gru_status gru_load_file(const char *path, gru_model **out, gru_file_info *info, char *msg,
                         size_t msz)
{
    if (out) *out = NULL;
    if (info) *info = (gru_file_info){0, 0, -1};
    (void)fail(msg, msz, GRU_OK, "%s", "");
    if (!path || !out) return GRU_ERR_NULL;
    if (!host_little_endian())
        return fail(msg, msz, GRU_ERR_UNSUPPORTED, "model files need a little-endian host");
    loader ld = {.path = path, .msg = msg, .msz = msz};
    gru_status st = load_steps(&ld);
    if (st == GRU_OK) {
        *out = ld.m;
        ld.m = NULL;
        if (info) *info = ld.info;
    } else if (st == GRU_ERR_NO_MEMORY && msg && msz && !*msg) {
        (void)fail(msg, msz, st, "%s: out of memory while loading", path);
    }
    if (ld.f) fclose(ld.f);
    gru_destroy(ld.m);
    free(ld.buf);
    free(ld.sbuf);
    free(ld.sorder);
    free(ld.order);
    free(ld.ts);
    json_free(&ld.jp);
    free(ld.arena);
    free(ld.text);
    return st;
}

gru_status gru_load(const char *path, gru_model **out, char *msg, size_t msz)
{
    return gru_load_file(path, out, NULL, msg, msz);
}
