/*
 * fuzz_load.c - libFuzzer harness for gru_load: the input is a whole model file.
 *
 * The bytes go into one memfd per process (rewritten for every input, read through
 * /proc/self/fd/N, since gru_load takes a path). Checked for every input: the status
 * is one of gru.h's and one gru_load may return; *out is NULL on failure and a model on
 * success; the message fits its buffer (allocated at exactly the size passed, so ASan
 * sees an overrun), is "" on success and says something on GRU_ERR_FORMAT.
 * When the file loads: gru_save into a per-process folder (in /dev/shm when it can,
 * where gru_save's fsync costs nothing; removed at exit, left behind empty when the
 * run ends in a crash), gru_load of that file, and the two models must
 * agree on the configuration and on every parameter's name, shape and bytes; then one
 * small inference forward (T = 3, B = 2, lengths {3, 2}) must succeed, with finite
 * outputs when every parameter is finite and at most 1e6 in magnitude, and zeros in the
 * padded steps. Everything is destroyed and freed: LeakSanitizer checks that.
 */
#define _GNU_SOURCE   /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_common.h"

static int mfd = -1;
static char load_path[64];
static char save_dir[256];
static char save_path[300];

static void cleanup(void)
{
    if (save_path[0]) unlink(save_path);
    if (save_dir[0]) rmdir(save_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_check_strerror();
    mfd = memfd_create("gru-fuzz-load", 0);
    CHECK(mfd >= 0, "memfd_create: %s", strerror(errno));
    snprintf(load_path, sizeof load_path, "/proc/self/fd/%d", mfd);
    atexit(cleanup);
    return 0;
}

/* The folder gru_save writes into, made when a first input loads (so a run that only
 * reproduces a crash of gru_load makes none; a crash later leaves it, empty, behind). */
static void make_save_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    const char *bases[] = {"/dev/shm", tmp && *tmp ? tmp : "/tmp", "/tmp"};
    for (size_t k = 0; k < 3 && !save_dir[0]; k++) {
        snprintf(save_dir, sizeof save_dir, "%s/gru-fuzz-load-XXXXXX", bases[k]);
        if (!mkdtemp(save_dir)) save_dir[0] = '\0';
    }
    CHECK(save_dir[0], "cannot make a temporary folder");
    snprintf(save_path, sizeof save_path, "%s/model.safetensors", save_dir);
}

static void write_input(const uint8_t *data, size_t size)
{
    CHECK(ftruncate(mfd, 0) == 0, "ftruncate: %s", strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(mfd, data + done, size - done, (off_t)done);
        CHECK(w > 0, "pwrite: %s", strerror(errno));
        done += (size_t)w;
    }
}

/* A malloc'd copy of parameter name (gru_param_get: an int8 model's dequantized
 * weights too), its element count into *count (if not NULL). */
static void *param_copy(gru_model *m, const char *name, size_t elem, size_t *count)
{
    size_t i = 0, n = 0, np = 0;
    int64_t sh[2] = {0, 1};
    int nd = 0;
    const char *nm = NULL;
    CHECK(gru_param_count(m, &np) == GRU_OK, "param_count");
    for (i = 0; i < np; i++) {
        CHECK(gru_param_info(m, i, &nm, &nd, sh) == GRU_OK, "param_info %zu", i);
        if (strcmp(nm, name) == 0) break;
    }
    CHECK(i < np, "no parameter %s", name);
    n = (size_t)sh[0] * (nd == 2 ? (size_t)sh[1] : 1);
    void *d = malloc(n * elem + 1);
    CHECK(d, "out of memory in the harness");
    CHECK(gru_param_get(m, name, d, n) == GRU_OK, "param_get %s", name);
    if (count) *count = n;
    return d;
}

/* The two models have the same configuration (but the seed) and the same parameters,
 * byte for byte. */
static void compare_models(gru_model *a, gru_model *b)
{
    gru_config ca, cb;
    CHECK(gru_get_config(a, &ca) == GRU_OK && gru_get_config(b, &cb) == GRU_OK, "get_config");
    CHECK(ca.input_size == cb.input_size && ca.hidden_size == cb.hidden_size &&
              ca.num_layers == cb.num_layers && ca.bidirectional == cb.bidirectional &&
              ca.bias == cb.bias && ca.reset_after == cb.reset_after &&
              ca.dtype == cb.dtype && ca.reverse == cb.reverse &&
              ca.layer_norm == cb.layer_norm,
          "saved and reloaded models differ in their sizes or flags");
    CHECK(memcmp(&ca.dropout, &cb.dropout, sizeof(double)) == 0 &&
              memcmp(&ca.input_dropout, &cb.input_dropout, sizeof(double)) == 0 &&
              memcmp(&ca.recurrent_dropout, &cb.recurrent_dropout, sizeof(double)) == 0,
          "dropout rates changed through gru_save / gru_load (%.17g %.17g %.17g -> "
          "%.17g %.17g %.17g)", ca.dropout, ca.input_dropout, ca.recurrent_dropout,
          cb.dropout, cb.input_dropout, cb.recurrent_dropout);
    size_t na = 0, nb = 0;
    CHECK(gru_param_count(a, &na) == GRU_OK && gru_param_count(b, &nb) == GRU_OK && na == nb,
          "parameter counts differ (%zu, %zu)", na, nb);
    const size_t elem = ca.dtype == GRU_FLOAT64 ? 8 : 4;
    for (size_t i = 0; i < na; i++) {
        const char *name_a, *name_b;
        int nda, ndb;
        int64_t sa[2] = {0, 0}, sb[2] = {0, 0};
        CHECK(gru_param_info(a, i, &name_a, &nda, sa) == GRU_OK &&
                  gru_param_info(b, i, &name_b, &ndb, sb) == GRU_OK, "param_info %zu", i);
        CHECK(strcmp(name_a, name_b) == 0 && nda == ndb && sa[0] == sb[0] && sa[1] == sb[1],
              "tensor %zu: %s vs %s", i, name_a, name_b);
        size_t ca_n;
        void *da = param_copy(a, name_a, elem, &ca_n), *db = param_copy(b, name_b, elem, NULL);
        CHECK(memcmp(da, db, ca_n * elem) == 0,
              "tensor %s changed through gru_save / gru_load", name_a);
        free(da);
        free(db);
    }
    CHECK(gru_quant_format(a) == gru_quant_format(b), "the quantization changed (%d -> %d)",
          (int)gru_quant_format(a), (int)gru_quant_format(b));
}

/* Every parameter finite and at most 1e6 in magnitude: then a forward's outputs are
 * finite (the pre-activations cannot overflow at the sizes a fuzz input can hold). */
static int params_tame(gru_model *m, const gru_config *c)
{
    size_t n = 0;
    CHECK(gru_param_count(m, &n) == GRU_OK, "param_count");
    for (size_t i = 0; i < n; i++) {
        const char *name;
        size_t cnt;
        CHECK(gru_param_info(m, i, &name, NULL, NULL) == GRU_OK, "param %zu", i);
        void *d = param_copy(m, name, c->dtype == GRU_FLOAT64 ? 8 : 4, &cnt);
        int ok = 1;
        for (size_t k = 0; k < cnt && ok; k++) {
            const double v = c->dtype == GRU_FLOAT64 ? ((double *)d)[k] : ((float *)d)[k];
            ok = fabs(v) <= 1e6;
        }
        free(d);
        if (!ok) return 0;
    }
    return 1;
}

/* One inference forward, T = 3, B = 2, lengths {3, 2}, time-major. */
static void small_forward(gru_model *m)
{
    gru_config c;
    CHECK(gru_get_config(m, &c) == GRU_OK, "get_config");
    const size_t T = 3, B = 2, I = (size_t)c.input_size, H = (size_t)c.hidden_size;
    const size_t D = c.bidirectional ? 2 : 1, L = (size_t)c.num_layers;
    const size_t elem = c.dtype == GRU_FLOAT64 ? 8 : 4;
    const size_t nx = T * B * I, no = T * B * D * H, nh = L * D * B * H;
    unsigned char *x = malloc(nx * elem), *out = malloc(no * elem), *hn = malloc(nh * elem);
    CHECK(x && out && hn, "out of memory in the harness");
    for (size_t k = 0; k < nx; k++) {
        const double v = (double)((int)(k % 7) - 3) / 4.0;
        if (elem == 8) ((double *)x)[k] = v;
        else ((float *)x)[k] = (float)v;
    }
    const int32_t lengths[2] = {3, 2};
    gru_status st = gru_forward(m, 0, (int64_t)T, (int64_t)B, 0, x, NULL, lengths, out, hn,
                                NULL, 0);
    CHECK_KNOWN("gru_forward", st);
    CHECK(st == GRU_OK, "gru_forward on a loaded model: %s", gru_strerror(st));
    const int tame = params_tame(m, &c);
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < D * H; j++) {
                const size_t at = (t * B + b) * D * H + j;
                const double v = elem == 8 ? ((double *)out)[at] : ((float *)out)[at];
                if (t >= (size_t)lengths[b])
                    CHECK(v == 0.0, "output[%zu][%zu][%zu] = %g past the length", t, b, j, v);
                else if (tame)
                    CHECK(isfinite(v), "output[%zu][%zu][%zu] = %g with tame parameters", t, b,
                          j, v);
            }
    for (size_t k = 0; k < nh && tame; k++) {
        const double v = elem == 8 ? ((double *)hn)[k] : ((float *)hn)[k];
        CHECK(isfinite(v), "h_n[%zu] = %g with tame parameters", k, v);
    }
    free(x);
    free(out);
    free(hn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_input(data, size);
    /* a message buffer of 0..96 bytes (0: NULL), chosen by the input's length */
    const size_t msz = size % 97;
    char *msg = msz ? malloc(msz) : NULL;
    CHECK(!msz || msg, "out of memory in the harness");
    if (msg) memset(msg, 'x', msz);
    gru_model *m = (gru_model *)&mfd;   /* gru_load must overwrite it */
    const gru_status st = gru_load(load_path, &m, msg, msz);
    CHECK_KNOWN("gru_load", st);
    CHECK(st == GRU_OK || st == GRU_ERR_FORMAT || st == GRU_ERR_IO || st == GRU_ERR_NO_MEMORY ||
              st == GRU_ERR_INVALID_ARG || st == GRU_ERR_OVERFLOW ||
              st == GRU_ERR_UNSUPPORTED,   /* an int8 file over libgru's int8 widths */
          "gru_load returned %d (%s), which it does not document here", (int)st,
          gru_strerror(st));
    CHECK((st == GRU_OK) == (m != NULL), "gru_load: status %d but *out %s", (int)st,
          m ? "set" : "NULL");
    if (msg) {
        CHECK(memchr(msg, '\0', msz) != NULL, "gru_load's message is not NUL-terminated");
        if (st == GRU_OK) CHECK(msg[0] == '\0', "gru_load succeeded with message '%s'", msg);
        if (st == GRU_ERR_FORMAT && msz > 1) CHECK(msg[0] != '\0', "GRU_ERR_FORMAT, no message");
    }
    free(msg);
    if (st != GRU_OK) return 0;

    /* gru_save, gru_load back, compare */
    if (!save_dir[0]) make_save_dir();
    gru_status s2 = gru_save(m, save_path);
    CHECK_KNOWN("gru_save", s2);
    CHECK(s2 == GRU_OK, "gru_save of a loaded model: %s", gru_strerror(s2));
    gru_model *m2 = NULL;
    char msg2[256];
    s2 = gru_load(save_path, &m2, msg2, sizeof msg2);
    CHECK_KNOWN("gru_load", s2);
    CHECK(s2 == GRU_OK && m2, "gru_load of what gru_save wrote: %s (%s)", gru_strerror(s2), msg2);
    compare_models(m, m2);
    gru_destroy(m2);
    unlink(save_path);

    small_forward(m);
    gru_destroy(m);
    return 0;
}
