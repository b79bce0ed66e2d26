/*
 * test_align.c - the alignment contract of gru.h: every buffer argument of gru_forward
 * (inference and training), gru_backward, gru_step and gru_dropout_masks, moved 1, 2 and
 * 4 bytes off its natural alignment, gives GRU_ERR_MISALIGNED and leaves every buffer of
 * the call byte for byte as it was (nothing read into or written); an offset that keeps
 * the alignment the buffer needs (4 bytes for a float32 buffer) is accepted. Run under
 * UBSan (make test-ubsan / test-sanitize) it also shows that no misaligned access is
 * made. float32 and float64 models.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

enum { MAXSLOT = 8 };

/* One call's buffers: p[i] of bytes[i], needing align[i]. */
typedef struct call {
    gru_model *m;
    int n;
    void *p[MAXSLOT];
    size_t bytes[MAXSLOT], align[MAXSLOT];
    const char *name[MAXSLOT];
    int64_t T, B;
} call;

typedef int (*call_fn)(const call *c, void *const *p);

static void add(call *c, const char *name, size_t bytes, size_t align)
{
    c->name[c->n] = name;
    c->bytes[c->n] = bytes;
    c->align[c->n] = align;
    c->p[c->n] = calloc(1, bytes + 16);   /* malloc: aligned to 16 */
    unsigned char *b = c->p[c->n];
    for (size_t i = 0; i < bytes; i++) b[i] = (unsigned char)(i * 37u + 11u);
    c->n++;
}

static void free_call(call *c)
{
    for (int i = 0; i < c->n; i++) free(c->p[i]);
    c->n = 0;
}

/* Buffer `slot` moved by off bytes (a copy of its bytes); the others as they are. */
static void shifted_case(const call *c, call_fn fn, int slot, size_t off, const char *what)
{
    void *p[MAXSLOT], *snap[MAXSLOT];
    unsigned char *moved = malloc(c->bytes[slot] + 16);
    memcpy(moved + off, c->p[slot], c->bytes[slot]);
    for (int i = 0; i < c->n; i++) {
        p[i] = i == slot ? (void *)(moved + off) : c->p[i];
        snap[i] = malloc(c->bytes[i]);
        memcpy(snap[i], p[i], c->bytes[i]);
    }
    check_set_ctx("align: %s, %s + %zu bytes", what, c->name[slot], off);
    const int bad = off % c->align[slot] != 0;
    int st = fn(c, p);
    CHECK_MSG(st == (bad ? GRU_ERR_MISALIGNED : GRU_OK), "status %d (%s), expected %s", st,
              gru_strerror(st), bad ? "GRU_ERR_MISALIGNED" : "GRU_OK");
    if (st >= 0 && st < 32) check_status_seen[st] = 1;
    for (int i = 0; bad && i < c->n; i++)
        CHECK_MSG(memcmp(snap[i], p[i], c->bytes[i]) == 0,
                  "buffer %s changed by a refused call", c->name[i]);
    for (int i = 0; i < c->n; i++) free(snap[i]);
    free(moved);
}

static void every_slot(const call *c, call_fn fn, const char *what)
{
    static const size_t offs[3] = {1, 2, 4};
    check_set_ctx("align: %s, every buffer aligned", what);
    CHECK_OK(fn(c, c->p));   /* the call itself works */
    for (int s = 0; s < c->n; s++)
        for (int k = 0; k < 3; k++) shifted_case(c, fn, s, offs[k], what);
}

/* ---- the calls ---------------------------------------------------------------------- */
/* forward slots: x, h0, lengths, output, h_n, workspace */
static int fwd_inference(const call *c, void *const *p)
{
    return gru_forward(c->m, 0, c->T, c->B, 0, p[0], p[1], p[2], p[3], p[4], p[5],
                       c->bytes[5]);
}

static int fwd_training(const call *c, void *const *p)
{
    return gru_forward(c->m, 1, c->T, c->B, 0, p[0], p[1], p[2], p[3], p[4], p[5],
                       c->bytes[5]);
}

/* backward slots: x, workspace, grad_output, grad_h_n, grad_x, grad_h0 */
static int bwd(const call *c, void *const *p)
{
    return gru_backward(c->m, c->T, c->B, 0, p[0], p[1], c->bytes[1], p[2], p[3], p[4], p[5]);
}

/* step slots: x, state, output, scratch */
static int step(const call *c, void *const *p)
{
    return gru_step(c->m, c->B, p[0], p[1], p[2], p[3], c->bytes[3]);
}

/* dropout_masks slots: workspace, input_mask, recurrent_mask */
static int masks(const call *c, void *const *p)
{
    const int64_t B = c->B;
    gru_config cfg;
    gru_get_config(c->m, &cfg);
    return gru_dropout_masks(c->m, p[0], c->bytes[0], 0, 0, p[1],
                             (size_t)(B * cfg.input_size), p[2],
                             (size_t)(B * cfg.hidden_size));
}

/* Fills the lengths slot with valid lengths 1..T. */
static void set_lengths(call *c, int slot)
{
    int32_t *len = c->p[slot];
    for (int64_t b = 0; b < c->B; b++) len[b] = (int32_t)(c->T - b % c->T);
}

static void align_dtype(int dtype)
{
    enum { T = 3, B = 2, I = 3, H = 4, L = 2 };
    gru_config cfg = make_config(I, H, L, 0, 1, 1, dtype);
    cfg.input_dropout = 0.25;
    cfg.recurrent_dropout = 0.25;
    tmodel tm;
    rng g = {77};
    if (!tmodel_create(&tm, &cfg, &g, 0.5)) return;
    const size_t es = dtype_size(dtype), i32 = sizeof(int32_t);
    size_t ws0 = 0, ws1 = 0, ss = 0;
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 0, &ws0), goto done);
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &ws1), goto done);
    REQUIRE_OK(gru_step_scratch_size(tm.m, B, &ss), goto done);
    const char *dt = dtype == GRU_FLOAT32 ? "f32" : "f64";
    char what[64];
    for (int training = 0; training < 2; training++) {
        call f = {.m = tm.m, .T = T, .B = B};
        add(&f, "x", T * B * I * es, es);
        add(&f, "h0", L * B * H * es, es);
        add(&f, "lengths", B * i32, i32);
        add(&f, "output", T * B * H * es, es);
        add(&f, "h_n", L * B * H * es, es);
        add(&f, "workspace", training ? ws1 : ws0, GRU_WORKSPACE_ALIGN);
        memset(f.p[0], 0, f.bytes[0]);   /* finite inputs */
        memset(f.p[1], 0, f.bytes[1]);
        set_lengths(&f, 2);
        snprintf(what, sizeof what, "%s forward training=%d", dt, training);
        every_slot(&f, training ? fwd_training : fwd_inference, what);
        if (training) {
            /* backward of the (aligned) training forward just run */
            call b = {.m = tm.m, .T = T, .B = B};
            add(&b, "x", T * B * I * es, es);
            add(&b, "workspace", ws1, GRU_WORKSPACE_ALIGN);
            add(&b, "grad_output", T * B * H * es, es);
            add(&b, "grad_h_n", L * B * H * es, es);
            add(&b, "grad_x", T * B * I * es, es);
            add(&b, "grad_h0", L * B * H * es, es);
            memcpy(b.p[0], f.p[0], b.bytes[0]);
            memset(b.p[2], 0, b.bytes[2]);
            memset(b.p[3], 0, b.bytes[3]);
            REQUIRE_OK(fwd_training(&f, f.p), { free_call(&b); free_call(&f); goto done; });
            memcpy(b.p[1], f.p[5], ws1);
            snprintf(what, sizeof what, "%s backward", dt);
            every_slot(&b, bwd, what);
            call mk = {.m = tm.m, .T = T, .B = B};
            add(&mk, "workspace", ws1, GRU_WORKSPACE_ALIGN);
            add(&mk, "input_mask", B * I * es, es);
            add(&mk, "recurrent_mask", B * H * es, es);
            memcpy(mk.p[0], f.p[5], ws1);
            snprintf(what, sizeof what, "%s dropout_masks", dt);
            every_slot(&mk, masks, what);
            free_call(&mk);
            free_call(&b);
        }
        free_call(&f);
    }
    {
        call s = {.m = tm.m, .T = 1, .B = B};
        add(&s, "x", B * I * es, es);
        add(&s, "state", L * B * H * es, es);
        add(&s, "output", B * H * es, es);
        add(&s, "scratch", ss, GRU_WORKSPACE_ALIGN);
        memset(s.p[0], 0, s.bytes[0]);
        memset(s.p[1], 0, s.bytes[1]);
        snprintf(what, sizeof what, "%s step", dt);
        every_slot(&s, step, what);
        free_call(&s);
    }
done:
    tmodel_free(&tm);
}

void test_align(void)
{
    align_dtype(GRU_FLOAT32);
    align_dtype(GRU_FLOAT64);
    check_set_ctx("align: coverage");
    CHECK_MSG(check_status_seen[GRU_ERR_MISALIGNED], "GRU_ERR_MISALIGNED was never returned");
    check_set_ctx("%s", "");
}
