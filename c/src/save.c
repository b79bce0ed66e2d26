/*
 * save.c - gru_save: a model's configuration and parameters as a safetensors file
 * (the format of gru.h), written atomically: a crash never leaves a half-written file
 * under the target's name.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* fileno, fsync, getpid */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#include <fcntl.h>
#include <unistd.h>
#endif
#include "model.h"
#include "modelfile.h"

/* The header: metadata, then every tensor in state-dict order, contiguous, padded to
 * a multiple of 8 bytes. *h is malloc'd (the caller frees it), *len its length. */
static gru_status save_header(const gru_model *m, char **hp, size_t *lenp)
{
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

/* Writes the length, the header and every tensor's data to f, flushed to disk. */
static gru_status save_write(const gru_model *m, FILE *f, const char *h, size_t len)
{
    gru_status st = GRU_OK;
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)len >> (8 * k));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(h, 1, len, f) != len) st = GRU_ERR_IO;
    for (size_t k = 0; k < m->ntensors && st == GRU_OK; k++) {
        const gru_tensor *t = &m->tensors[k];
        if (fwrite((const char *)m->params + t->offset * m->elem, m->elem, t->numel, f) != t->numel)
            st = GRU_ERR_IO;
    }
    if (fflush(f) != 0) st = GRU_ERR_IO;
#if !defined(_WIN32)
    if (st == GRU_OK && fsync(fileno(f)) != 0) st = GRU_ERR_IO;
#endif
    return st;
}

/* The rename itself to disk: fsync the folder of path (best effort). */
static void sync_folder(const char *path)
{
#if !defined(_WIN32)
    const size_t plen = strlen(path);
    char *dir = malloc(plen + 2);
    if (!dir) return;
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    free(dir);
#else
    (void)path;
#endif
}

gru_status gru_save(const gru_model *m, const char *path)
{
    if (!m || !path) return GRU_ERR_NULL;
    if (!host_little_endian()) return GRU_ERR_UNSUPPORTED;
    char *h = NULL;
    size_t len = 0;
    gru_status st = save_header(m, &h, &len);
    if (st) return st;
    /* a new file beside the target, then rename */
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    if (!tmp) { free(h); return GRU_ERR_NO_MEMORY; }
#if !defined(_WIN32)
    snprintf(tmp, plen + 64, "%s.tmp-%ld-%llx", path, (long)getpid(),
             (unsigned long long)(m->nonce & 0xffffffffffffULL));
#else
    snprintf(tmp, plen + 64, "%s.tmp-%llx", path, (unsigned long long)(m->nonce & 0xffffffffffffULL));
#endif
    FILE *f = fopen(tmp, "wbx");   /* C11: fails if it exists */
    if (!f) { free(h); free(tmp); return GRU_ERR_IO; }
    st = save_write(m, f, h, len);
    if (fclose(f) != 0) st = GRU_ERR_IO;
    if (st == GRU_OK && rename(tmp, path) != 0) st = GRU_ERR_IO;
    if (st != GRU_OK) remove(tmp);
    else sync_folder(path);
    free(h);
    free(tmp);
    return st;
}
