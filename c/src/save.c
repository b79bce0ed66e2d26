/*
 * save.c - gru_save: a model's configuration and parameters as a safetensors file
 * (the format of gru.h). The file mechanics are atomic_file.c's: the target is always
 * its old complete content or the new one, a killed save leaves no temporary file
 * behind, an existing file keeps its mode, symbolic links are followed and only
 * regular files are replaced (the rules of pygru's writer, docs/RELIABILITY.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atomic_file.h"
#include "model.h"
#include "modelfile.h"

/* The header: metadata, then every tensor in state-dict order, contiguous, padded to
 * a multiple of 8 bytes. *h is malloc'd (the caller frees it), *len its length. */
static gru_status save_header(const gru_model *m, char **hp, size_t *lenp)
{
    if (m->ntensors > (SIZE_MAX - 512) / 128) return GRU_ERR_OVERFLOW;
    size_t cap = 512 + m->ntensors * 128, len = 0;
    char *h = malloc(cap);
    if (!h) return GRU_ERR_NO_MEMORY;
    const gru_config *c = &m->cfg;
    int w = snprintf(h, cap,
                     "{\"__metadata__\":{\"format\":\"pygru\",\"format_version\":\"1\","
                     "\"pygru_version\":\"%s\",\"class\":\"GRU\",\"input_size\":\"%lld\","
                     "\"hidden_size\":\"%lld\",\"num_layers\":\"%lld\",\"bias\":\"%d\","
                     "\"batch_first\":\"0\",\"bidirectional\":\"%d\",\"reset_after\":\"%d\","
                     "\"dropout\":\"%.17g\",\"reverse\":\"%d\",\"input_dropout\":\"%.17g\","
                     "\"recurrent_dropout\":\"%.17g\"}",
                     GRU_VERSION_STRING, (long long)c->input_size, (long long)c->hidden_size,
                     (long long)c->num_layers, (int)c->bias, (int)c->bidirectional,
                     (int)c->reset_after, c->dropout, (int)c->reverse, c->input_dropout,
                     c->recurrent_dropout);
    len = (size_t)w;
    uint64_t off = 0;
    for (size_t k = 0; k < m->ntensors; k++) {
        const gru_tensor *t = &m->tensors[k];
        const uint64_t bytes = (uint64_t)t->numel * m->elem;
        char shape[64];
        if (t->ndim == 2) snprintf(shape, sizeof shape, "%lld,%lld", (long long)t->shape[0], (long long)t->shape[1]);
        else snprintf(shape, sizeof shape, "%lld", (long long)t->shape[0]);
        w = snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],"
                     "\"data_offsets\":[%llu,%llu]}", t->name, m->elem == 8 ? "F64" : "F32",
                     shape, (unsigned long long)off, (unsigned long long)(off + bytes));
        if (w < 0 || (size_t)w >= cap - len) { free(h); return GRU_ERR_OVERFLOW; }
        len += (size_t)w;
        off += bytes;
    }
    if (len + 9 > cap) { free(h); return GRU_ERR_OVERFLOW; }
    h[len++] = '}';
    while (len % 8) h[len++] = ' ';   /* padding, as the safetensors package writes */
    *hp = h;
    *lenp = len;
    return GRU_OK;
}

/* Writes the length, the header and every tensor's data to the new file. */
static gru_status save_write(const gru_model *m, atomic_file *af, const char *h, size_t len)
{
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)len >> (8 * k));
    gru_status st = atomic_file_write(af, len8, 8);
    if (st == GRU_OK) st = atomic_file_write(af, h, len);
    for (size_t k = 0; k < m->ntensors && st == GRU_OK; k++) {
        const gru_tensor *t = &m->tensors[k];
        size_t at, bytes;
        if (!gru_mul(t->offset, m->elem, &at) || !gru_mul(t->numel, m->elem, &bytes))
            return GRU_ERR_OVERFLOW;
        st = atomic_file_write(af, (const char *)m->params + at, bytes);
    }
    return st;
}

gru_status gru_save(const gru_model *m, const char *path)
{
    if (!m || !path) return GRU_ERR_NULL;
    if (!host_little_endian()) return GRU_ERR_UNSUPPORTED;
    if (m->q) return GRU_ERR_UNSUPPORTED;   /* int8 model files: not yet */
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
