/*
 * packing.c - the packed copies of the weights (the p_* offsets of gru_layer_params,
 * in the kernel table's pack_b layout) and their lazy remaking. A write only marks its
 * tensor stale (gru_mark_changed: a flag and the parameter version); the next forward,
 * step or backward repacks every stale tensor once (gru_repack_stale), on whichever
 * thread gets there first, while concurrent callers wait for it. Packing is a pure
 * function of the weights, so results are bitwise those of packing at every write.
 */
#if !defined(_WIN32) && !defined(__STDC_NO_ATOMICS__)
#define _POSIX_C_SOURCE 200809L
#include <sched.h>
#define GRU_YIELD() sched_yield()
#else
#define GRU_YIELD() ((void)0)
#endif

#include <string.h>
#include "model.h"

#if !defined(__STDC_NO_ATOMICS__)
#define STATE_STORE(p, v) atomic_store_explicit(p, v, memory_order_release)
/* 1 if *p was `from` and is now `to`; else *seen = its value. */
static int state_swap(gru_pack_word *p, int from, int to, int *seen)
{
    int expect = from;
    if (atomic_compare_exchange_strong_explicit(p, &expect, to, memory_order_acq_rel,
                                                memory_order_acquire))
        return 1;
    *seen = expect;
    return 0;
}
#else
#define STATE_STORE(p, v) (*(p) = (v))
static int state_swap(gru_pack_word *p, int from, int to, int *seen)
{
    if (*p == from) { *p = to; return 1; }
    *seen = *p;
    return 0;
}
#endif

/* P = op(src) (K, N) packed, src at element offset `src` of params (ld elements per
 * row), P at element offset `dst` of packed. */
static void pack_one(gru_model *m, size_t dst, size_t src, int tb, size_t K, size_t N,
                     size_t ld)
{
    if (m->elem == sizeof(float))
        m->kernels->f32.pack_b(tb, K, N, (const float *)m->params + src, ld,
                               (float *)m->packed + dst);
    else
        m->kernels->f64.pack_b(tb, K, N, (const double *)m->params + src, ld,
                               (double *)m->packed + dst);
}

/* Packs again the forms of tensor ti if it is a weight (biases are used as they are):
 * weight_ih (3H, in) -> W_ig^T (in, H) per gate and W_ih (3H, in); weight_hh (3H, H)
 * -> W_hg^T (H, H) per gate and W_hh (3H, H). */
static void repack_tensor(gru_model *m, size_t ti)
{
    const size_t per = gru_tensors_per(&m->cfg), kind = ti % per, ld = ti / per, H = m->H;
    const gru_layer_params *p = &m->lp[ld];
    const size_t in = kind == 0 ? (ld < m->D ? m->I : m->D * H) : H;
    const size_t w = kind == 0 ? p->w_ih : p->w_hh;
    const size_t *perg = kind == 0 ? p->p_ihT : p->p_hhT;
    if (kind >= 2) return;
    for (size_t g = 0; g < 3; g++) pack_one(m, perg[g], w + g * H * in, 1, in, H, in);
    pack_one(m, kind == 0 ? p->p_ih : p->p_hh, w, 0, 3 * H, in, in);
}

void gru_mark_changed(gru_model *m, size_t ti)
{
    const size_t per = gru_tensors_per(&m->cfg);
    m->param_version++;
    if (ti == SIZE_MAX) memset(m->stale, 1, m->ntensors);
    else if (ti % per < 2) m->stale[ti] = 1;
    else return;   /* a bias or layer_norm tensor: nothing packed */
    STATE_STORE(&m->pack_state, GRU_PACK_STALE);
}

/* Repacks every tensor marked stale and clears the marks (the caller holds BUSY). */
static void repack_marked(gru_model *m)
{
    for (size_t ti = 0; ti < m->ntensors; ti++) {
        if (m->stale[ti]) repack_tensor(m, ti);
        m->stale[ti] = 0;
    }
}

void gru_repack_stale(gru_model *m)
{
    for (;;) {
        int seen = GRU_PACK_CLEAN;
        if (state_swap(&m->pack_state, GRU_PACK_STALE, GRU_PACK_BUSY, &seen)) {
            repack_marked(m);
            STATE_STORE(&m->pack_state, GRU_PACK_CLEAN);
            return;
        }
        if (seen == GRU_PACK_CLEAN) return;
        GRU_YIELD();   /* another caller is repacking */
    }
}
