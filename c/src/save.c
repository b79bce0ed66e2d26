/*
 * save.c - gru_save: a model's configuration and parameters as a safetensors file
 * (the format of gru.h). The file mechanics are atomic_file.c's: the target is always
 * its old complete content or the new one, a killed save leaves no temporary file
 * behind, an existing file keeps its mode, symbolic links are followed and only
 * regular files are replaced (the rules of pygru's writer, docs/RELIABILITY.md).
 * An int8 model's file has I8 weights, their F32 row scales ("<name>.scale", (3H))
 * and "quantization": "int8" in its metadata; a bf16 model's has BF16 weights (the
 * model's bf16 values, bit for bit), no scales, and "quantization": "bf16"; biases are
 * F32 in both (docs/quantization.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atomic_file.h"
#include "model.h"
#include "modelfile.h"

/* How tensor t is stored: GRU_INT8 (an int8 model's weight: I8 values + F32 scales),
 * GRU_BF16 (a bf16 model's weight: BF16 values), else 0 (as the model's floats). */
static int32_t save_qkind(const gru_model *m, const gru_tensor *t)
{
    return m->q && t->ndim == 2 ? m->q->format : 0;
}

/* Appends tensor entry name (dtype, shape, bytes at *off) to h; *off advances. */
static gru_status save_entry(char *h, size_t cap, size_t *len, const char *name,
                             const char *dtype, const gru_tensor *t, int rows_only,
                             uint64_t bytes, uint64_t *off)
{
    char shape[64];
    if (t->ndim == 2 && !rows_only)
        snprintf(shape, sizeof shape, "%lld,%lld", (long long)t->shape[0], (long long)t->shape[1]);
    else snprintf(shape, sizeof shape, "%lld", (long long)t->shape[0]);
    const int w = snprintf(h + *len, cap - *len, ",\"%s%s\":{\"dtype\":\"%s\",\"shape\":[%s],"
                           "\"data_offsets\":[%llu,%llu]}", name, rows_only ? ".scale" : "",
                           dtype, shape, (unsigned long long)*off,
                           (unsigned long long)(*off + bytes));
    if (w < 0 || (size_t)w >= cap - *len) return GRU_ERR_OVERFLOW;
    *len += (size_t)w;
    *off += bytes;
    return GRU_OK;
}

/* Appends every tensor's entry (state-dict order; an int8 weight's scales right after
 * its values; a bf16 weight 2 bytes per value). */
static gru_status save_entries(const gru_model *m, char *h, size_t cap, size_t *len)
{
    uint64_t off = 0;
    gru_status st = GRU_OK;
    for (size_t k = 0; k < m->ntensors && !st; k++) {
        const gru_tensor *t = &m->tensors[k];
        const int32_t qk = save_qkind(m, t);
        if (qk == GRU_INT8) {
            st = save_entry(h, cap, len, t->name, "I8", t, 0, (uint64_t)t->numel, &off);
            if (!st) st = save_entry(h, cap, len, t->name, "F32", t, 1,
                                     (uint64_t)t->shape[0] * 4, &off);
        } else if (qk == GRU_BF16) {
            st = save_entry(h, cap, len, t->name, "BF16", t, 0, (uint64_t)t->numel * 2, &off);
        } else {
            st = save_entry(h, cap, len, t->name, m->elem == 8 ? "F64" : "F32", t, 0,
                            (uint64_t)t->numel * m->elem, &off);
        }
    }
    return st;
}

/* The header: metadata (a quantized model's with "quantization": "int8" or "bf16"), then every
 * tensor, contiguous, padded to a multiple of 8 bytes. *h is malloc'd (the caller
 * frees it), *len its length. */
static gru_status save_header(const gru_model *m, char **hp, size_t *lenp)
{
    if (m->ntensors > (SIZE_MAX - 512) / 256) return GRU_ERR_OVERFLOW;
    size_t cap = 512 + m->ntensors * 256, len = 0;
    char *h = malloc(cap);
    if (!h) return GRU_ERR_NO_MEMORY;
    const gru_config *c = &m->cfg;
    int w = snprintf(h, cap,
                     "{\"__metadata__\":{\"format\":\"pygru\",\"format_version\":\"1\","
                     "\"pygru_version\":\"%s\",\"class\":\"GRU\",\"input_size\":\"%lld\","
                     "\"hidden_size\":\"%lld\",\"num_layers\":\"%lld\",\"bias\":\"%d\","
                     "\"batch_first\":\"0\",\"bidirectional\":\"%d\",\"reset_after\":\"%d\","
                     "\"dropout\":\"%.17g\",\"reverse\":\"%d\",\"input_dropout\":\"%.17g\","
                     "\"recurrent_dropout\":\"%.17g\",\"layer_norm\":\"%d\",\"zoneout\":\"%.17g\","
                     "\"weight_dropout\":\"%.17g\",\"augru\":\"%d\"%s}",
                     GRU_VERSION_STRING, (long long)c->input_size, (long long)c->hidden_size,
                     (long long)c->num_layers, (int)c->bias, (int)c->bidirectional,
                     (int)c->reset_after, c->dropout, (int)c->reverse, c->input_dropout,
                     c->recurrent_dropout, (int)c->layer_norm, c->zoneout, c->weight_dropout,
                     (int)c->augru,
                     !m->q ? "" : m->q->format == GRU_BF16 ? ",\"quantization\":\"bf16\""
                                                           : ",\"quantization\":\"int8\"");
    len = (size_t)w;
    gru_status st = save_entries(m, h, cap, &len);
    if (st || len + 9 > cap) {
        free(h);
        return st ? st : GRU_ERR_OVERFLOW;
    }
    h[len++] = '}';
    while (len % 8) h[len++] = ' ';   /* padding, as the safetensors package writes */
    *hp = h;
    *lenp = len;
    return GRU_OK;
}

/* Writes an int8 weight's values and then its row scales (buf: numel + 4 * rows bytes). */
static gru_status save_q8(const gru_model *m, atomic_file *af, const gru_tensor *t,
                          unsigned char *buf)
{
    const size_t rows = (size_t)t->shape[0];
    float *scales = (float *)(buf + (t->numel + 3) / 4 * 4);
    gru_status st = gru_quant_weight_get(m, t->name, (int8_t *)buf, t->numel, scales, rows);
    if (st == GRU_OK) st = atomic_file_write(af, buf, t->numel);
    if (st == GRU_OK) st = atomic_file_write(af, scales, rows * sizeof(float));
    return st;
}

/* Writes a bf16 weight's values (buf: 2 * numel bytes): the high halves of its float32
 * parameters, which hold the bf16 values exactly (quant.c, q_put_bf16), little-endian. */
static gru_status save_bf16(const gru_model *m, atomic_file *af, const gru_tensor *t,
                            unsigned char *buf)
{
    const float *w = (const float *)m->params + t->offset;   /* (rows, cols) */
    for (size_t i = 0; i < t->numel; i++) {
        uint32_t u;
        memcpy(&u, &w[i], sizeof u);
        buf[2 * i] = (unsigned char)(u >> 16);
        buf[2 * i + 1] = (unsigned char)(u >> 24);
    }
    return atomic_file_write(af, buf, 2 * t->numel);
}

/* Writes one tensor's data (float: the parameters as they are). */
static gru_status save_tensor(const gru_model *m, atomic_file *af, const gru_tensor *t,
                              unsigned char *buf)
{
    const int32_t qk = save_qkind(m, t);
    if (qk == GRU_INT8) return save_q8(m, af, t, buf);
    if (qk == GRU_BF16) return save_bf16(m, af, t, buf);
    size_t at, bytes;
    if (!gru_mul(t->offset, m->elem, &at) || !gru_mul(t->numel, m->elem, &bytes))
        return GRU_ERR_OVERFLOW;
    return atomic_file_write(af, (const char *)m->params + at, bytes);
}

/* Writes the length, the header and every tensor's data to the new file. */
static gru_status save_write(const gru_model *m, atomic_file *af, const char *h, size_t len)
{
    unsigned char len8[8], *buf = NULL;
    size_t maxn = 0;
    for (size_t k = 0; m->q && k < m->ntensors; k++)
        if (m->tensors[k].numel > maxn) maxn = m->tensors[k].numel;
    if (m->q && maxn > (SIZE_MAX - 16) / 5) return GRU_ERR_OVERFLOW;
    if (m->q && !(buf = malloc(maxn * 5 + 16))) return GRU_ERR_NO_MEMORY;
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)len >> (8 * k));
    gru_status st = atomic_file_write(af, len8, 8);
    if (st == GRU_OK) st = atomic_file_write(af, h, len);
    for (size_t k = 0; k < m->ntensors && st == GRU_OK; k++)
        st = save_tensor(m, af, &m->tensors[k], buf);
    free(buf);
    return st;
}

gru_status gru_save(const gru_model *m, const char *path)
{
    if (!m || !path) return GRU_ERR_NULL;
    if (!host_little_endian()) return GRU_ERR_UNSUPPORTED;
    char *h = NULL;
    size_t len = 0;
    gru_status st = save_header(m, &h, &len);
    if (st) return st;
    atomic_file *af = NULL;
    st = atomic_file_open(path, &af);   /* refuses what is not a regular file */
    if (st == GRU_OK) st = save_write(m, af, h, len);
    if (af) st = st == GRU_OK ? atomic_file_commit(af) : (atomic_file_abort(af), st);
    free(h);
    return st;
}
