/*
 * test_load_corpus.c - the committed corpus of crafted model files (tests/data/modelfiles,
 * made by its make_corpus.py) through gru_load_file: each file accepted or refused with
 * GRU_ERR_FORMAT and a message holding the fragment EXPECTATIONS.tsv gives (the same list
 * tests/test_load_corpus.py checks through pygru.load, so C and Python agree file by
 * file). Also a directory and a FIFO (GRU_ERR_IO, without blocking) and a header over
 * 1 MiB. The corpus directory: $GRU_CORPUS, else ../tests/data/modelfiles (make -C c).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *corpus_dir(void)
{
    const char *env = getenv("GRU_CORPUS");
    return env && *env ? env : "../tests/data/modelfiles";
}

/* One line of EXPECTATIONS.tsv: name, verdict, generic, fragment. */
static void check_file(const char *dir, char *line, int *accepted, int *refused)
{
    char *name = strtok(line, "\t"), *verdict = strtok(NULL, "\t");
    char *generic = strtok(NULL, "\t"), *fragment = strtok(NULL, "\n");
    if (!name || !verdict || !generic) return;
    if (!fragment) fragment = "";
    char path[1024], msg[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    check_set_ctx("load corpus: %s", name);
    gru_model *m = NULL;
    gru_file_info info;
    const gru_status st = gru_load_file(path, &m, &info, msg, sizeof msg);
    if (strcmp(verdict, "accept") == 0) {
        CHECK_MSG(st == GRU_OK && m && msg[0] == '\0', "status %d, message \"%s\"", (int)st, msg);
        const int32_t fmt = strncmp(name, "valid_int8", 10) == 0 ? GRU_INT8 :
                            strncmp(name, "valid_bf16", 10) == 0 ? GRU_BF16 : 0;
        if (m) CHECK_INT_EQ(gru_quant_format(m), fmt);
        (*accepted)++;
    } else {
        CHECK_MSG(st == GRU_ERR_FORMAT && !m && strstr(msg, fragment) &&
                  strncmp(msg, path, strlen(path)) == 0,
                  "status %d, message \"%s\", expected FORMAT and \"%s\"", (int)st, msg, fragment);
        CHECK_MSG(info.pygru == 0 && info.cell == 0 && info.batch_first == -1, "info on failure");
        (*refused)++;
    }
    gru_destroy(m);
}

static void corpus(void)
{
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/EXPECTATIONS.tsv", corpus_dir());
    FILE *f = fopen(path, "r");
    check_set_ctx("load corpus");
    if (!CHECK_MSG(f != NULL, "cannot open %s (set GRU_CORPUS)", path)) return;
    int accepted = 0, refused = 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#') check_file(corpus_dir(), line, &accepted, &refused);
    fclose(f);
    check_set_ctx("load corpus");
    CHECK_MSG(accepted >= 10 && refused >= 100, "%d accepted, %d refused", accepted, refused);
}

/* A directory, a FIFO (open must not block), and a header over 1 MiB. */
static void not_files(void)
{
    char dir[256], p[512], msg[512];
    snprintf(dir, sizeof dir, "%s/gru_corpus_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    check_set_ctx("load: not regular files");
    if (!CHECK(mkdtemp(dir) != NULL)) return;
    gru_model *m = NULL;
    CHECK_STATUS(gru_load(dir, &m, msg, sizeof msg), GRU_ERR_IO);
    CHECK_MSG(strstr(msg, "is a directory") != NULL, "message \"%s\"", msg);
    snprintf(p, sizeof p, "%s/fifo", dir);
    if (CHECK(mkfifo(p, 0600) == 0)) {
        CHECK_STATUS(gru_load(p, &m, msg, sizeof msg), GRU_ERR_IO);
        CHECK_MSG(strstr(msg, "is a FIFO") != NULL, "message \"%s\"", msg);
        remove(p);
    }
    snprintf(p, sizeof p, "%s/big.safetensors", dir);
    FILE *f = fopen(p, "wb");
    if (CHECK(f != NULL)) {
        const unsigned char len8[8] = {1, 0, 16, 0, 0, 0, 0, 0};   /* 1 MiB + 1 */
        fwrite(len8, 1, 8, f);
        for (int k = 0; k < (1 << 20) + 1; k++) fputc(' ', f);
        fclose(f);
        CHECK_STATUS(gru_load(p, &m, msg, sizeof msg), GRU_ERR_FORMAT);
        CHECK_MSG(strstr(msg, "a header of 1048577 bytes (at most 1048576)") != NULL, "\"%s\"", msg);
        remove(p);
    }
    CHECK(m == NULL);
    remove(dir);
}

void test_load_corpus(void)
{
    corpus();
    not_files();
    check_set_ctx("%s", "");
}
