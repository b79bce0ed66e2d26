/*
 * gru_impl.h - the forward pass and backpropagation through time of a multi-layer,
 * optionally bidirectional GRU, written once for an element type. gru_f32.c and
 * gru_f64.c include it with R (float/double) and S (f32/f64) defined, giving
 * gru_forward_S and gru_backward_S (declared in model.h).
 *
 * Written as forward/backward pairs side by side, llm.c style: a cell (one step of one
 * direction, both variants), a direction (all steps), a layer (all directions, then
 * the inter-layer dropout), and the jobs over the layers. The drivers own the
 * recurrence, the lengths, the workspace layout and the split of work between the
 * model's threads; every arithmetic loop is a kernel table entry (kernels/kernels.h).
 *
 * Row layout: every per-step tensor with one row per (t, b) -- input, output, gates,
 * saved states, their gradients -- is stored in the caller's layout, row(t, b) =
 * t*B + b (time-major) or b*T + t (batch-first). The B rows of one step are then
 * `rs` rows apart (rs = 1 or T), which the kernels take as a leading dimension.
 *
 * Threads: a whole call runs as one job on the model's team (pool.h). Within a time
 * step each thread owns a slice of hidden units (whole panels of the packed weights):
 * it computes the recurrent pre-activations of its units for all three gates and
 * finishes their cells, so a step needs one barrier (two for reset_before, whose n
 * gate needs every r first). Whole-sequence work (input projections, weight
 * gradients) is split by rows. Every number is computed by exactly one thread with
 * the same arithmetic, so results are bitwise identical for any thread count.
 *
 * Backward adds (+=) into the model's gradient buffers; the caller zeroes them.
 * Arguments were validated by gru.c; nothing here fails except an allocation.
 */
#if !defined(R) || !defined(S)
#error "define R and S before including gru_impl.h"
#endif

#include <stdlib.h>
#include <string.h>

#define GRU_CAT_(a, b) a##_##b
#define GRU_CAT(a, b) GRU_CAT_(a, b)
#define FN(name) GRU_CAT(name, S)
#define KT GRU_CAT(gru_kernels, S)

/* Pointer to the tensor at element offset off of a flat buffer, NULL if absent. */
static R *FN(at)(void *base, size_t off) { return off == SIZE_MAX ? NULL : (R *)base + off; }

/* Layer-direction k's input mask (B, in) and recurrent mask (B, H) in a training
 * workspace, NULL when that dropout is off. */
static R *FN(mask_in)(const struct gru_model *m, const gru_ws_layout *ws,
                      const unsigned char *work, size_t k)
{
    return m->cfg.input_dropout > 0 ? (R *)(work + ws->off_masks + k * ws->mask_bytes) : NULL;
}
static R *FN(mask_rec)(const struct gru_model *m, const gru_ws_layout *ws,
                       const unsigned char *work, size_t k)
{
    return m->cfg.recurrent_dropout > 0
               ? (R *)(work + ws->off_masks + k * ws->mask_bytes + ws->mask_rec) : NULL;
}

/* ---- what a call shares, what each thread owns ------------------------------------ */

/* What one forward or backward call shares between its threads. */
typedef struct FN(call) {
    struct gru_model *m;
    const gru_ws_layout *ws;
    int training, bf;
    const int32_t *len;        /* (B) or NULL */
    unsigned char *work;       /* the workspace */
    uint64_t seed, draw;       /* dropout stream */
    /* forward */
    const R *x, *h0;           /* (rows, I), (L*D, B, H) or NULL */
    R *out, *h_n;              /* (rows, D*H), (L*D, B, H) or NULL */
    R *hb0, *hb1;              /* (B, H) the state, double-buffered */
    R *gh;                     /* (B, 3H) W_hh h + b_hh of a step (layer_norm:
                                  LN(W_hh h) + b_hh) */
    R *ghr;                    /* (B, 3H) W_hh h of a step before its normalisation
                                  (layer_norm), else NULL */
    R *rh;                     /* (B, H) r h of a step (reset_before) */
    R *hm0, *hm1;              /* (B, H) m_h h, double-buffered (recurrent dropout) */
    R *xmf;                    /* (rows, in_max) m_x in (input dropout) */
    R zp, zq;                  /* inference zoneout: (R)p, (R)(1 - p) */
    const R *att;              /* (rows) AUGRU attention a_{t,b} at row(t, b), or NULL
                                  (a plain GRU) */
    /* backward */
    const R *grad_out, *grad_hn;   /* (rows, D*H) or NULL, (L*D, B, H) or NULL */
    R *grad_x, *grad_h0;           /* (rows, I) or NULL, (L*D, B, H) or NULL */
    R *dgi, *dgh;              /* (rows, 3H) dLoss/d(W_ih in + b_ih), d(W_hh h + b_hh)
                                  (n block: of W_hn (r h) + b_hn for reset_before);
                                  layer_norm: of gi, gh (after the normalisations) */
    R *dai, *dah;              /* (rows, 3H) layer_norm: dLoss/d(W_ih in), d(W_hh h)
                                  (before the normalisations), else NULL */
    R *dh, *dhp, *drh;         /* (B, H) dLoss/dh carried back, of the previous h, of r h */
    R *hpm, *dm;               /* (B, H) recurrent dropout: m_h h_prev of a step, the
                                  gradient reaching m_h h_prev through W_hh */
    R *hpa;                    /* (rows, H) m_h h_prev of every step (recurrent dropout) */
    R *xm, *dxm;               /* (rows, in_max) input dropout: m_x in, d(m_x in) */
    R *rhs;                    /* (rows, H) r h of every step, reset_before */
    R *zt, *zk;                /* (B, H) zoneout: dLoss/d(cell's new state), dLoss/dh_prev
                                  through the kept units */
    R *wtmp;                   /* (3H, H) weight_dropout: dgh^T h before the mask */
    R *dy, *din;               /* (rows, D*H) between layers */
    R *gatt;                   /* (rows) dLoss/da (augru; NULL: not wanted) */
    R *datt;                   /* (rows, H) augru: each unit's share of dLoss/da of the
                                  layer-direction being taken back */
    R *kscratch;               /* (threads, gemm_scratch) */
} FN(call);

/* One thread's view of a call: the sizes, and its shares of the work. */
typedef struct FN(thread) {
    const FN(call) *c;
    struct gru_model *m;
    const KT *k;
    gru_team *team;
    size_t T, B, rows, H, G, DH, D, L;   /* G = 3H, DH = D*H */
    size_t rs;                 /* rows between (t, b) and (t, b+1): 1 or T */
    int ra;                    /* reset_after */
    size_t j0, J;              /* my hidden units of every step (whole panels) */
    size_t q0, q1, nq;         /* my rows of whole-sequence work */
    size_t g0, g1;             /* my gate rows of the weight gradients */
    R *kscratch;               /* (gemm_scratch) mine, or NULL */
} FN(thread);

/* Thread team->tid's view of call c: sizes, its units, rows, gate rows, scratch. */
static void FN(thread_init)(FN(thread) *th, const FN(call) *c, gru_team *team)
{
    struct gru_model *m = c->m;
    size_t j1;
    th->c = c;
    th->m = m;
    th->k = &m->kernels->S;
    th->team = team;
    th->T = c->ws->T; th->B = c->ws->B; th->rows = c->ws->rows;
    th->H = m->H; th->G = 3 * m->H; th->D = m->D; th->L = m->L; th->DH = m->D * m->H;
    th->rs = c->bf ? th->T : 1;
    th->ra = m->cfg.reset_after;
    gru_team_split(team, th->H, th->k->nr, &th->j0, &j1);   /* my hidden units */
    gru_team_split(team, th->rows, 1, &th->q0, &th->q1);    /* my rows */
    gru_team_split(team, th->G, 8, &th->g0, &th->g1);       /* my gate rows */
    th->J = j1 - th->j0;
    th->nq = th->q1 - th->q0;
    th->kscratch = c->kscratch ? c->kscratch + (size_t)team->tid * th->k->gemm_scratch : NULL;
}

/* One layer-direction as forward and backward see it, from one thread. */
typedef struct FN(dir) {
    size_t l, d, k;            /* layer, direction, k = l * D + d */
    int back;                  /* the forward runs right to left */
    size_t in_w;               /* input width: I for layer 0, D*H above */
    const R *in;               /* (rows, in_w) the layer's input */
    const gru_layer_params *p;
    const R *PihT[3], *PhhT[3];    /* my panels of W_ig^T (in_w, H), W_hg^T (H, H) */
    const R *Phh;              /* my panels of W_hh (3H, H) packed (backward) */
    const R *bih, *bhh;        /* (3H) or NULL */
    const R *mx, *mh;          /* (B, in_w), (B, H) dropout masks (training) or NULL */
    R *zm;                     /* (rows, H) zoneout masks (training) or NULL */
    R *wm;                     /* (3H, H) DropConnect mask of W_hh (training) or NULL;
                                  then PhhT and Phh are the masked W~_hh's forms in the
                                  workspace */
    R *gates;                  /* training: (rows, 3H) r, z, n of every step;
                                  inference: (Tc, B, 3H) input projections of a chunk */
    R *ghn;                    /* (rows, H) W_hn h + b_hn (training, reset_after) or NULL */
    R *hprev;                  /* (rows, H) the state before each step (training) or NULL */
    /* layer_norm (NULL without): the gains and biases (3H) of the input and recurrent
     * normalisations; training: the saved ah (rows, 3H) of each and 1 / sqrt(var + eps)
     * per row (rows): input, recurrent (reset_before: its r, z part), reset_before's n */
    const R *lgi, *lbi, *lgh, *lbh;
    R *xhi, *xhh, *rsi, *rsh, *rsn;
} FN(dir);

/* Layer l, direction d seen from thread th: its packed panels, biases, masks and kept
 * buffers; in (rows, in_w) is the layer's input. */
static void FN(dir_init)(const FN(thread) *th, size_t l, size_t d, const R *in, size_t in_w,
                         FN(dir) *v)
{
    const FN(call) *c = th->c;
    struct gru_model *m = th->m;
    const gru_ws_layout *ws = c->ws;
    v->l = l; v->d = d; v->k = l * th->D + d;
    v->back = d == 1 || m->cfg.reverse;
    v->in = in; v->in_w = in_w;
    v->p = &m->lp[v->k];
    for (int g = 0; g < 3; g++) {
        v->PihT[g] = FN(at)(m->packed, v->p->p_ihT[g]) + th->j0 * in_w;
        v->PhhT[g] = FN(at)(m->packed, v->p->p_hhT[g]) + th->j0 * th->H;
    }
    v->Phh = FN(at)(m->packed, v->p->p_hh) + th->j0 * th->G;
    v->bih = FN(at)(m->params, v->p->b_ih);
    v->bhh = FN(at)(m->params, v->p->b_hh);
    v->mx = c->training ? FN(mask_in)(m, ws, c->work, v->k) : NULL;
    v->mh = c->training ? FN(mask_rec)(m, ws, c->work, v->k) : NULL;
    v->gates = (R *)(c->work + ws->off_gi);
    v->ghn = v->hprev = NULL;
    v->zm = v->wm = NULL;
    v->lgi = FN(at)(m->params, v->p->ln_ih_w);
    v->lbi = FN(at)(m->params, v->p->ln_ih_b);
    v->lgh = FN(at)(m->params, v->p->ln_hh_w);
    v->lbh = FN(at)(m->params, v->p->ln_hh_b);
    v->xhi = v->xhh = v->rsi = v->rsh = v->rsn = NULL;
    if (c->training) {
        unsigned char *blk = c->work + ws->off_blocks + v->k * ws->block_bytes;
        v->gates = (R *)(blk + ws->off_gates);
        v->ghn = th->ra ? (R *)(blk + ws->off_ghn) : NULL;
        v->hprev = (R *)(blk + ws->off_hprev);
        if (m->cfg.zoneout > 0) v->zm = (R *)(blk + ws->off_zmask);
        if (v->lgi) {
            v->xhi = (R *)(blk + ws->off_lnxi);
            v->xhh = (R *)(blk + ws->off_lnxh);
            v->rsi = (R *)(blk + ws->off_lnri);
            v->rsh = (R *)(blk + ws->off_lnrh);
            v->rsn = th->ra ? NULL : (R *)(blk + ws->off_lnrn);
        }
    }
    if (c->training && m->cfg.weight_dropout > 0) {   /* W~_hh = M W_hh: the workspace's */
        unsigned char *rec = c->work + ws->off_wd + v->k * ws->wd_bytes;
        v->wm = (R *)rec;
        for (int g = 0; g < 3; g++) v->PhhT[g] = (R *)(rec + ws->wd_pT[g]) + th->j0 * th->H;
        v->Phh = (R *)(rec + ws->wd_p) + th->j0 * th->G;
    }
}

/* ---- memory helpers (no arithmetic) ------------------------------------------------ */

/* dst rows b (ldd apart) = src rows b (lds apart), J elements each, B rows. */
static void FN(copy_units)(size_t B, size_t J, const R *src, size_t lds, R *dst, size_t ldd)
{
    for (size_t b = 0; b < B; b++) memcpy(dst + b * ldd, src + b * lds, J * sizeof(R));
}

/* My units of dst (B, H) = layer-direction k's slice of src (L*D, B, H), or 0. */
static void FN(state_in)(const FN(thread) *th, const R *src, size_t k, R *dst)
{
    if (!th->J) return;
    if (src) {
        FN(copy_units)(th->B, th->J, src + k * th->B * th->H + th->j0, th->H, dst + th->j0,
                       th->H);
        return;
    }
    for (size_t b = 0; b < th->B; b++) memset(dst + b * th->H + th->j0, 0, th->J * sizeof(R));
}

/* Layer-direction k's slice of dst (L*D, B, H) = my units of src (B, H); dst may be
 * NULL (not wanted). */
static void FN(state_out)(const FN(thread) *th, R *dst, size_t k, const R *src)
{
    if (dst && th->J)
        FN(copy_units)(th->B, th->J, src + th->j0, th->H, dst + k * th->B * th->H + th->j0,
                       th->H);
}

/* ---- one step of the cell: forward and backward, both variants ----------------------- */

/* A forward step's buffers. */
typedef struct FN(fstep) {
    size_t t, r0;              /* time, row of (t, b = 0) */
    R *gi;                     /* (B, 3H) rows gld apart: W_ih x + b_ih of this step,
                                  overwritten with r, z, n (training) */
    size_t gld;
    R *h, *hn;                 /* (B, H) the state before and after */
    R *hm, *hmn;               /* (B, H) m_h h before and after, or NULL */
} FN(fstep);

/* A backward step's buffers. */
typedef struct FN(bstep) {
    size_t t, r0;              /* time, row of (t, b = 0) */
    const R *g;                /* (B, 3H) rows rs*3H apart: saved r, z, n, at my units */
    const R *hp;               /* (B, H) rows rs*H apart: saved h_prev, at my units */
    R *dgi, *dgh;              /* (B, 3H) rows rs*3H apart: this step's gate gradients */
    R *dah;                    /* (B, 3H) rows rs*3H apart: dLoss/d(W_hh h) before the
                                  normalisation (layer_norm), else dgh */
    R *dh, *dhp;               /* (B, H) dLoss/dh of this step, of the previous state */
} FN(bstep);

/* Training: the state before the step, my units, kept for backward. */
static void FN(save_state)(const FN(thread) *th, const FN(dir) *v, const FN(fstep) *st)
{
    if (v->hprev)
        FN(copy_units)(th->B, th->J, st->h + th->j0, th->H,
                       v->hprev + st->r0 * th->H + th->j0, th->rs * th->H);
}

/* dh += dLoss/d output at (t, b), my units, for the sequences still running. */
static void FN(dout_add)(const FN(thread) *th, const FN(dir) *v, const FN(bstep) *st,
                         const R *dyl)
{
    const size_t B = th->B, H = th->H, J = th->J, j0 = th->j0, ld = th->rs * th->DH;
    const int32_t *len = th->c->len;
    if (!dyl) return;
    const R *o = dyl + st->r0 * th->DH + v->d * H + j0;   /* (B, J) rows ld apart */
    if (!len) {
        th->k->add(B, J, o, ld, st->dh + j0, H);
        return;
    }
    for (size_t b = 0; b < B; b++)
        if (st->t < (size_t)len[b]) th->k->add(1, J, o + b * ld, ld, st->dh + b * H + j0, H);
}

/* For sequences finished at step t (t >= length): their state passed through the step
 * unchanged, so no gradient reaches the gates (my units of blocks ga..gb-1 are
 * zeroed), and dLoss/dh goes back as it came. */
static void FN(finished_grads)(const FN(thread) *th, const FN(bstep) *st, size_t ga,
                               size_t gb)
{
    const size_t H = th->H, J = th->J, j0 = th->j0, ld = th->rs * th->G;
    const int32_t *len = th->c->len;
    if (!len) return;
    for (size_t b = 0; b < th->B; b++) {
        if (st->t < (size_t)len[b]) continue;
        for (size_t g = ga; g < gb; g++) {
            memset(st->dgi + b * ld + g * H + j0, 0, J * sizeof(R));
            memset(st->dgh + b * ld + g * H + j0, 0, J * sizeof(R));
        }
        memcpy(st->dhp + b * H + j0, st->dh + b * H + j0, J * sizeof(R));
    }
}

/* Zeroes my units of the rows (B, H) of v that belong to sequences finished at step
 * st->t (t >= their length). */
static void FN(zero_finished)(const FN(thread) *th, const FN(bstep) *st, R *v)
{
    const int32_t *len = th->c->len;
    if (!len) return;
    for (size_t b = 0; b < th->B; b++)
        if (st->t >= (size_t)len[b]) memset(v + b * th->H, 0, th->J * sizeof(R));
}

/* dh_prev += dgh[:, 0:K] W_hh[0:K, :] for my units (K = 3H for reset_after; 2H for
 * reset_before, whose n block went through r h; layer_norm: dah, the gradient before
 * the normalisation, in place of dgh). With recurrent dropout the products met m_h h:
 * dh_prev += m_h (dgh W_hh [+ d(rh) r, already in dm]). */
static void FN(dh_recurrent)(const FN(thread) *th, const FN(dir) *v, const FN(bstep) *st,
                             size_t K)
{
    const KT *k = th->k;
    const size_t B = th->B, H = th->H, G = th->G, J = th->J, j0 = th->j0;
    if (!J) return;
    if (!v->mh) {
        k->gemm_pb(B, J, 0, K, st->dah, th->rs * G, v->Phh, G, 1, NULL, st->dhp + j0, H);
        return;
    }
    k->gemm_pb(B, J, 0, K, st->dah, th->rs * G, v->Phh, G, !th->ra, NULL, th->c->dm + j0, H);
    k->mul_add(B, J, v->mh + j0, H, th->c->dm + j0, H, st->dhp + j0, H);
}

/* AUGRU, my units, after a cell saved r, z, n in gi: the blend again with the
 * attentional update gate (cell_att_fwd), z' = 1 - a (1 - z), h' = (1 - z') n + z' h,
 * a = a_{t,b} of this step's rows (the unmasked h, as the plain blend). */
static void FN(att_blend)(const FN(thread) *th, const FN(fstep) *st)
{
    const FN(call) *c = th->c;
    if (!c->att) return;
    th->k->cell_att_fwd(th->B, th->H, th->J, st->gi + th->j0, st->gld, c->att + st->r0,
                        th->rs, st->h + th->j0, st->hn + th->j0);
}

/* AUGRU: zeroes my units of this step's dLoss/da shares for the sequences finished at
 * step t (their state passed through unchanged: no gradient reaches a there; the saved
 * gates of a padded step may be anything, NaN included). */
static void FN(att_finished)(const FN(thread) *th, const FN(bstep) *st)
{
    const FN(call) *c = th->c;
    if (!c->len) return;
    for (size_t b = 0; b < th->B; b++)
        if (st->t >= (size_t)c->len[b])
            memset(c->datt + (st->r0 + b * th->rs) * th->H + th->j0, 0, th->J * sizeof(R));
}

/* layer_norm, one step's recurrent normalisation over the N columns c0.. of every row
 * (reset_after: all 3H; reset_before: r, z (2H at 0), then n (H at 2H)), my units:
 *   gh = LN_{g_hh, c_hh}(ghr) + b_hh
 * every thread computing each row's statistics over the whole set itself, in one
 * order (so the bits do not depend on the thread split). Training keeps ah at my units
 * and (the thread of unit 0) 1 / sqrt(var + eps) in rstd; both are zero in the rows of
 * sequences finished at this step (their state may have met anything, a padded
 * input's NaN included; backward gives them no gradient). */
static void FN(ln_step)(const FN(thread) *th, const FN(dir) *v, const FN(fstep) *st, size_t c0,
                        size_t N, R *rstd)
{
    const FN(call) *c = th->c;
    const size_t B = th->B, H = th->H, G = th->G, J = th->J, j0 = th->j0, rs = th->rs;
    R *xh = v->xhh ? v->xhh + st->r0 * G + c0 : NULL;   /* (B, N) rows rs*3H apart */
    R *rd = rstd && j0 == 0 ? rstd + st->r0 : NULL;      /* (B) rs apart */
    if (!J) return;
    th->k->ln_fwd(B, N, H, j0, J, c->ghr + c0, G, v->lgh + c0, v->lbh + c0,
                  v->bhh ? v->bhh + c0 : NULL, c->gh + c0, G, xh, rs * G, rd, rs);
    if (!xh || !c->len) return;
    for (size_t b = 0; b < B; b++) {
        if (st->t < (size_t)c->len[b]) continue;
        for (size_t g = 0; g < N / H; g++) memset(xh + b * rs * G + g * H + j0, 0, J * sizeof(R));
        if (rd) rd[b * rs] = 0;
    }
}

/* reset_after, my units:
 *   gh = (m_h) h W_hh^T + b_hh       (layer_norm: LN_{g_hh, c_hh}((m_h) h W_hh^T) + b_hh,
 *                                     after a barrier: every unit's W_hh h)
 *   r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r gh_n), h' = (1-z) n + z h
 * keeping r, z, n in gi and gh_n in ghn when training. */
static void FN(cell_forward_after)(const FN(thread) *th, const FN(dir) *v, const FN(fstep) *st)
{
    const KT *k = th->k;
    const size_t B = th->B, H = th->H, G = th->G, J = th->J, j0 = th->j0;
    const R *hin = st->hm ? st->hm : st->h;   /* (B, H) the state as W_hh sees it */
    R *gh = th->c->gh;
    R *ghp = v->lgh ? th->c->ghr : gh;        /* (B, 3H) where W_hh h (+ b_hh) goes */
    const R *bhh = v->lgh ? NULL : v->bhh;    /* layer_norm adds b_hh after LN */
    if (J) {
        FN(save_state)(th, v, st);
        for (size_t g = 0; g < 3; g++)
            k->gemm_pb(B, J, 0, H, hin, H, v->PhhT[g], H, 0, bhh ? bhh + g * H + j0 : NULL,
                       ghp + g * H + j0, G);
    }
    if (v->lgh) {
        gru_team_barrier(th->team);   /* every unit's W_hh h */
        FN(ln_step)(th, v, st, 0, G, v->rsh);
    }
    if (!J) return;
    k->cell_fwd_after(B, H, J, st->gi + j0, st->gld, gh + j0, st->h + j0, st->hn + j0,
                      th->c->training || th->c->att ? st->gi + j0 : NULL, st->gld);
    FN(att_blend)(th, st);
    if (v->ghn)
        FN(copy_units)(B, J, gh + 2 * H + j0, G, v->ghn + st->r0 * H + j0, th->rs * H);
}

/* Zoneout backward, my units: h' = m h + (1 - m) h~ gives dLoss/dh~ = (1 - m) dh (into
 * zt, returned: what the cell takes back) and the direct part m dh of dLoss/dh_prev
 * (into zk, added to dh_prev by zoneout_keep). Without zoneout: dh itself. */
static const R *FN(zoneout_split)(const FN(thread) *th, const FN(dir) *v,
                                  const FN(bstep) *st)
{
    const FN(call) *c = th->c;
    const size_t H = th->H, j0 = th->j0;
    if (!v->zm) return st->dh;
    th->k->zoneout_split(th->B, th->J, v->zm + st->r0 * H + j0, th->rs * H, st->dh + j0, H,
                         c->zt + j0, H, c->zk + j0, H);
    return c->zt;
}

/* dh_prev += m dh (zoneout), my units, after the cell wrote dh_prev = dh~ z. */
static void FN(zoneout_keep)(const FN(thread) *th, const FN(dir) *v, const FN(bstep) *st)
{
    if (v->zm) th->k->add(th->B, th->J, th->c->zk + th->j0, th->H, st->dhp + th->j0, th->H);
}

/* reset_after backward, my units (formulas at cell_bwd_after in kernels.h):
 *   zoneout: dh~ = (1 - m) dh, else dh~ = dh;
 *   [dgi, dgh] from dh~ and the saved r, z, n, gh_n, h; dh_prev = dh~ z (+ m dh)  | barrier |
 *   [layer_norm: dah = rs (dgh g - mean(dgh g) - ah mean(dgh g ah))  | barrier |]
 *   dh_prev += dah W_hh (dah = dgh without layer_norm; through m_h with recurrent
 *   dropout). */
static void FN(cell_backward_after)(const FN(thread) *th, const FN(dir) *v,
                                    const FN(bstep) *st, const R *dyl)
{
    const size_t H = th->H, G = th->G, J = th->J, j0 = th->j0, rs = th->rs;
    if (J) {
        FN(dout_add)(th, v, st, dyl);
        const R *dnew = FN(zoneout_split)(th, v, st);   /* dLoss/d(the cell's h') */
        if (th->c->att) {   /* AUGRU: z' = 1 - a (1 - z) in the blend; a's shares */
            th->k->cell_bwd_after_att(th->B, H, J, dnew + j0, st->g, rs * G,
                                      v->ghn + st->r0 * H + j0, rs * H, st->hp, rs * H,
                                      th->c->att + st->r0, rs, st->dgi + j0, st->dgh + j0,
                                      rs * G, st->dhp + j0, th->c->datt + st->r0 * H + j0,
                                      rs * H);
            FN(att_finished)(th, st);
        } else {
            th->k->cell_bwd_after(th->B, H, J, dnew + j0, st->g, rs * G,
                                  v->ghn + st->r0 * H + j0, rs * H, st->hp, rs * H,
                                  st->dgi + j0, st->dgh + j0, rs * G, st->dhp + j0);
        }
        FN(zoneout_keep)(th, v, st);
        FN(finished_grads)(th, st, 0, 3);
    }
    gru_team_barrier(th->team);   /* this step's dgh is complete */
    if (v->lgh) {
        /* layer_norm: dah = LN backward of dgh over the whole 3H row */
        if (J)
            th->k->ln_bwd(th->B, G, H, j0, J, st->dgh, rs * G, v->xhh + st->r0 * G, rs * G,
                          v->rsh + st->r0, rs, v->lgh, st->dah, rs * G);
        gru_team_barrier(th->team);   /* every unit's dah */
    }
    FN(dh_recurrent)(th, v, st, G);
}

/* reset_before, my units:
 *   gh_rz = (m_h) h W_h{r,z}^T + b_h{r,z}; r = s(gi_r + gh_r), z = s(gi_z + gh_z);
 *   rh = r (m_h) h  | barrier: every unit's r h |
 *   gh_n = (r h) W_hn^T + b_hn; n = tanh(gi_n + gh_n); h' = (1-z) n + z h
 * layer_norm: gh_rz = LN over 2H ((m_h) h W_h{r,z}^T) + b_h{r,z} and gh_n = LN over H
 * ((r h) W_hn^T) + b_hn, each after a barrier (every unit's product). */
static void FN(cell_forward_before)(const FN(thread) *th, const FN(dir) *v,
                                    const FN(fstep) *st)
{
    const KT *k = th->k;
    const size_t B = th->B, H = th->H, G = th->G, J = th->J, j0 = th->j0;
    const R *hin = st->hm ? st->hm : st->h;
    R *gh = th->c->gh, *rh = th->c->rh;
    R *ghp = v->lgh ? th->c->ghr : gh;        /* (B, 3H) where W_hh h (+ b_hh) goes */
    const R *bhh = v->lgh ? NULL : v->bhh;    /* layer_norm adds b_hh after LN */
    if (J) {
        FN(save_state)(th, v, st);
        for (size_t g = 0; g < 2; g++)
            k->gemm_pb(B, J, 0, H, hin, H, v->PhhT[g], H, 0, bhh ? bhh + g * H + j0 : NULL,
                       ghp + g * H + j0, G);
    }
    if (v->lgh) {
        gru_team_barrier(th->team);   /* every unit's W_h{r,z} h */
        FN(ln_step)(th, v, st, 0, 2 * H, v->rsh);
    }
    if (J)
        k->cell_fwd_before_rz(B, H, J, st->gi + j0, st->gld, gh + j0, hin + j0, st->gi + j0,
                              st->gld, rh + j0);
    gru_team_barrier(th->team);   /* every unit's r h is known */
    if (J)
        k->gemm_pb(B, J, 0, H, rh, H, v->PhhT[2], H, 0, bhh ? bhh + 2 * H + j0 : NULL,
                   ghp + 2 * H + j0, G);
    if (v->lgh) {
        gru_team_barrier(th->team);   /* every unit's W_hn (r h) */
        FN(ln_step)(th, v, st, 2 * H, H, v->rsn);
    }
    if (!J) return;
    k->cell_fwd_before_n(B, H, J, st->gi + j0, st->gld, gh + j0, st->h + j0, st->gi + j0,
                         st->gld, th->c->training || th->c->att, st->hn + j0);
    FN(att_blend)(th, st);
}

/* reset_before backward, part 2, my units: d(r h) = da_n W_hn (layer_norm: dah_n W_hn,
 * the gradient before gh_n's normalisation), then the r gate's
 * gradients (cell_bwd_before_r). With recurrent dropout rh = r (m_h h): r meets m_h h,
 * and the gradient d(rh) r reaches h through m_h (collected in dm). */
static void FN(cell_backward_before_r)(const FN(thread) *th, const FN(dir) *v,
                                       const FN(bstep) *st)
{
    const FN(call) *c = th->c;
    const size_t B = th->B, H = th->H, G = th->G, J = th->J, j0 = th->j0, rs = th->rs;
    th->k->gemm_pb(B, J, 2 * H, G, st->dah + 2 * H, rs * G, v->Phh, G, 0, NULL, c->drh + j0, H);
    if (v->mh) {
        th->k->mul(B, J, st->hp, rs * H, v->mh + j0, H, c->hpm + j0, H);
        for (size_t b = 0; b < B; b++) memset(c->dm + b * H + j0, 0, J * sizeof(R));
    }
    th->k->cell_bwd_before_r(B, H, J, c->drh + j0, st->g, rs * G,
                             v->mh ? c->hpm + j0 : st->hp, v->mh ? H : rs * H,
                             st->dgi + j0, st->dgh + j0, rs * G,
                             v->mh ? c->dm + j0 : st->dhp + j0);
    /* the r block only: other threads are reading the n block */
    FN(finished_grads)(th, st, 0, 1);
    /* a finished sequence's d(r h) r is 0 times a padded step's r, which may be NaN
     * (the input at padded steps is never read as such): no gradient reaches h there */
    if (v->mh) FN(zero_finished)(th, st, c->dm + j0);
}

/* reset_before backward, my units (formulas at cell_bwd_before_zn / _r in kernels.h):
 *   z, n blocks from dh; dh_prev = dh z  | barrier |  [layer_norm: dah_n | barrier |]
 *   r block from d(r h) = dah_n W_hn  | barrier |  [layer_norm: dah_{r,z} | barrier |]
 *   dh_prev += dah_{r,z} W_h{r,z} (dah = dgh without layer_norm; through m_h with
 *   recurrent dropout). */
static void FN(cell_backward_before)(const FN(thread) *th, const FN(dir) *v,
                                     const FN(bstep) *st, const R *dyl)
{
    const size_t H = th->H, G = th->G, J = th->J, j0 = th->j0, rs = th->rs;
    if (J) {
        FN(dout_add)(th, v, st, dyl);
        const R *dnew = FN(zoneout_split)(th, v, st);   /* dLoss/d(the cell's h') */
        if (th->c->att) {   /* AUGRU: z' = 1 - a (1 - z) in the blend; a's shares */
            th->k->cell_bwd_before_zn_att(th->B, H, J, dnew + j0, st->g, rs * G, st->hp,
                                          rs * H, th->c->att + st->r0, rs, st->dgi + j0,
                                          st->dgh + j0, rs * G, st->dhp + j0,
                                          th->c->datt + st->r0 * H + j0, rs * H);
            FN(att_finished)(th, st);
        } else {
            th->k->cell_bwd_before_zn(th->B, H, J, dnew + j0, st->g, rs * G, st->hp,
                                      rs * H, st->dgi + j0, st->dgh + j0, rs * G,
                                      st->dhp + j0);
        }
        FN(zoneout_keep)(th, v, st);
        FN(finished_grads)(th, st, 0, 3);
    }
    gru_team_barrier(th->team);   /* this step's dgh is complete */
    if (v->lgh) {
        /* layer_norm: dah_n = LN backward of dgh_n over H */
        if (J)
            th->k->ln_bwd(th->B, H, H, j0, J, st->dgh + 2 * H, rs * G,
                          v->xhh + st->r0 * G + 2 * H, rs * G, v->rsn + st->r0, rs,
                          v->lgh + 2 * H, st->dah + 2 * H, rs * G);
        gru_team_barrier(th->team);   /* every unit's dah_n */
    }
    if (J) FN(cell_backward_before_r)(th, v, st);
    gru_team_barrier(th->team);   /* ... and its r block */
    if (v->lgh) {
        /* layer_norm: dah_{r,z} = LN backward of dgh_{r,z} over 2H */
        if (J)
            th->k->ln_bwd(th->B, 2 * H, H, j0, J, st->dgh, rs * G, v->xhh + st->r0 * G,
                          rs * G, v->rsh + st->r0, rs, v->lgh, st->dah, rs * G);
        gru_team_barrier(th->team);   /* every unit's dah_{r,z} */
    }
    FN(dh_recurrent)(th, v, st, 2 * H);
}

/* ---- one direction over all steps: forward and backward ------------------------- */

static void FN(zero_padded)(const FN(thread) *th, R *buf, size_t w);

/* Training: gi = (m_x) in W_ih^T + b_ih of every step at once, the columns of my units
 * in each gate (input dropout: my rows of m_x in first, which every thread then
 * reads); the cells overwrite each step's gi with r, z, n. layer_norm: gi = LN_{g_ih,
 * c_ih}((m_x) in W_ih^T) + b_ih, after a barrier my rows whole (keeping ah and
 * 1 / sqrt(var + eps), zero in padded rows, whose input may be anything). */
static void FN(project_all)(const FN(thread) *th, const FN(dir) *v)
{
    const FN(call) *c = th->c;
    const size_t H = th->H, G = th->G, j0 = th->j0, in_w = v->in_w, q0 = th->q0;
    const R *pin = v->in;   /* (rows, in_w) what meets W_ih */
    const R *bih = v->lgi ? NULL : v->bih;   /* layer_norm adds b_ih after LN */
    if (v->mx) {
        th->k->mask_rows(th->q0, th->q1, in_w, th->T, th->B, c->bf, v->in, v->mx, 0, c->xmf);
        gru_team_barrier(th->team);
        pin = c->xmf;
    }
    for (size_t g = 0; g < 3 && th->J; g++)
        th->k->gemm_pb(th->rows, th->J, 0, in_w, pin, in_w, v->PihT[g], in_w, 0,
                       bih ? bih + g * H + j0 : NULL, v->gates + g * H + j0, G);
    if (!v->lgi) return;
    gru_team_barrier(th->team);   /* every unit's W_ih in */
    if (!th->nq) return;
    th->k->ln_fwd(th->nq, G, G, 0, G, v->gates + q0 * G, G, v->lgi, v->lbi, v->bih,
                  v->gates + q0 * G, G, v->xhi + q0 * G, G, v->rsi + q0, 1);
    if (c->len) {
        FN(zero_padded)(th, v->xhi, G);
        FN(zero_padded)(th, v->rsi, 1);
    }
}

/* Inference: gi = in W_ih^T + b_ih (layer_norm: LN(in W_ih^T) + b_ih, the chunk's rows
 * split between the threads after a barrier) for the chunk of steps s .. s+n-1 (times
 * ta .. ta+n-1), my units, into the (Tc, B, 3H) buffer. in_place: the layer's output
 * overwrites its input, so wait until every thread has read the chunk. Returns ta. */
static size_t FN(project_chunk)(const FN(thread) *th, const FN(dir) *v, size_t s, size_t Tc,
                                int in_place)
{
    const size_t T = th->T, B = th->B, H = th->H, G = th->G, j0 = th->j0, in_w = v->in_w;
    const size_t n = Tc < T - s ? Tc : T - s, ta = v->back ? T - s - n : s;
    for (size_t g = 0; g < 3 && th->J; g++) {
        const R *bg = v->bih && !v->lgi ? v->bih + g * H + j0 : NULL;
        if (!th->c->bf)   /* rows ta*B .. (ta+n)*B of in are contiguous */
            th->k->gemm_pb(n * B, th->J, 0, in_w, v->in + ta * B * in_w, in_w, v->PihT[g],
                           in_w, 0, bg, v->gates + g * H + j0, G);
        else              /* sequence b's rows b*T + ta .. */
            for (size_t b = 0; b < B; b++)
                th->k->gemm_pb(n, th->J, 0, in_w, v->in + (b * T + ta) * in_w, in_w,
                               v->PihT[g], in_w, 0, bg, v->gates + b * G + g * H + j0, B * G);
    }
    if (v->lgi) {
        /* layer_norm: gi = LN_{g_ih, c_ih}(in W_ih^T) + b_ih, rows of the chunk split */
        size_t a, e;
        gru_team_barrier(th->team);   /* every unit's W_ih in (and the chunk read) */
        gru_team_split(th->team, n * B, 1, &a, &e);
        if (e > a)
            th->k->ln_fwd(e - a, G, G, 0, G, v->gates + a * G, G, v->lgi, v->lbi, v->bih,
                          v->gates + a * G, G, NULL, 0, NULL, 0);
        gru_team_barrier(th->team);   /* every row normalised */
    } else if (in_place) {
        gru_team_barrier(th->team);   /* read before overwritten */
    }
    return ta;
}

/* After a step: zoneout's choice or blend of the previous and the cell's new state;
 * a finished sequence (t >= its length) keeps its state and outputs 0, the others
 * output their new state (my units of lout's direction-d columns); then m_h h' for the
 * next step (recurrent dropout). */
static void FN(step_outputs)(const FN(thread) *th, const FN(dir) *v, const FN(fstep) *st,
                             R *lout)
{
    const size_t H = th->H, J = th->J, j0 = th->j0;
    const int32_t *len = th->c->len;
    if (!J) return;
    /* zoneout: h' = m ? h : h~ (training), (p h) + ((1 - p) h~) (inference) */
    if (v->zm)
        th->k->zoneout_select(th->B, J, v->zm + st->r0 * H + j0, th->rs * H, st->h + j0, H,
                              st->hn + j0, H);
    else if (!th->c->training && th->m->cfg.zoneout > 0)
        th->k->zoneout_blend(th->B, J, th->c->zp, th->c->zq, st->h + j0, H, st->hn + j0, H);
    for (size_t b = 0; b < th->B; b++) {
        R *o = lout + (st->r0 + b * th->rs) * th->DH + v->d * H + j0;
        if (len && st->t >= (size_t)len[b]) {
            memset(o, 0, J * sizeof(R));
            memcpy(st->hn + b * H + j0, st->h + b * H + j0, J * sizeof(R));
        } else {
            memcpy(o, st->hn + b * H + j0, J * sizeof(R));
        }
    }
    if (v->mh) th->k->mul(th->B, J, st->hn + j0, H, v->mh + j0, H, st->hmn + j0, H);
}

/* One direction of a layer over all steps: h from h0, the cells in the direction's
 * order (inference projects the input a chunk of steps ahead), outputs into its
 * columns of lout (rows, D*H), the last state into h_n. */
static void FN(direction_forward)(const FN(thread) *th, const FN(dir) *v, R *lout)
{
    const FN(call) *c = th->c;
    const size_t T = th->T, B = th->B, G = th->G;
    const size_t Tc = c->training ? T : gru_chunk_steps(T, B, c->bf);
    const int in_place = (const R *)lout == v->in;
    FN(fstep) st = {.h = c->hb0, .hn = c->hb1, .hm = v->mh ? c->hm0 : NULL,
                    .hmn = v->mh ? c->hm1 : NULL};
    FN(state_in)(th, c->h0, v->k, st.h);
    if (v->mh && th->J)
        th->k->mul(B, th->J, st.h + th->j0, th->H, v->mh + th->j0, th->H, st.hm + th->j0, th->H);
    gru_team_barrier(th->team);
    size_t ta = 0;   /* first time step of the current inference chunk */
    for (size_t s = 0; s < T; s++) {
        st.t = v->back ? T - 1 - s : s;
        st.r0 = c->bf ? st.t : st.t * B;
        if (!c->training && s % Tc == 0) ta = FN(project_chunk)(th, v, s, Tc, in_place);
        st.gi = c->training ? v->gates + st.r0 * G : v->gates + (st.t - ta) * B * G;
        st.gld = c->training ? th->rs * G : G;
        if (th->ra) FN(cell_forward_after)(th, v, &st);
        else FN(cell_forward_before)(th, v, &st);
        FN(step_outputs)(th, v, &st, lout);
        gru_team_barrier(th->team);   /* the new state is complete */
        R *tmp = st.h; st.h = st.hn; st.hn = tmp;
        tmp = st.hm; st.hm = st.hmn; st.hmn = tmp;
    }
    FN(state_out)(th, c->h_n, v->k, st.h);
}

/* Whether the layer input of dir v must be copied for the weight gradients with its
 * padded rows zeroed: layer 0 with lengths (the caller's x may hold anything, NaN and
 * Inf included, at steps t >= len[b], and 0 * NaN would poison dW_ih; the layers above
 * read outputs that are zero there). */
static int FN(pad_input)(const FN(call) *c, const FN(dir) *v)
{
    return v->l == 0 && c->len != NULL;
}

/* Zeroes my rows q0..q1 of a (rows, w) buffer that belong to padded steps (t >=
 * len[b]): row i is (t, b) = (i % T, i / T) batch-first, (i / B, i % B) else. */
static void FN(zero_padded)(const FN(thread) *th, R *buf, size_t w)
{
    const FN(call) *c = th->c;
    const size_t T = th->T, B = th->B;
    for (size_t i = th->q0; i < th->q1; i++) {
        const size_t t = c->bf ? i % T : i / B, b = c->bf ? i / T : i % B;
        if (t >= (size_t)c->len[b]) memset(buf + i * w, 0, w * sizeof(R));
    }
}

/* What met the weights, my rows: m_h h_prev (recurrent dropout), r h (the input of
 * W_hn, reset_before: r times what W_hr met), m_x in (input dropout; with padded rows
 * zeroed for layer 0 with lengths); layer_norm: the gradient before the input's
 * normalisation, dai = rs (dgi g - mean(dgi g) - ah mean(dgi g ah)) per row. */
static void FN(weight_inputs)(const FN(thread) *th, const FN(dir) *v)
{
    const FN(call) *c = th->c;
    const KT *k = th->k;
    const size_t H = th->H, q0 = th->q0, q1 = th->q1;
    const R *hv = v->hprev;   /* (rows, H) what met W_hr, W_hz */
    if (v->lgi && th->nq)   /* layer_norm: dai = LN backward of dgi, my rows whole */
        k->ln_bwd(th->nq, th->G, th->G, 0, th->G, c->dgi + q0 * th->G, th->G,
                  v->xhi + q0 * th->G, th->G, v->rsi + q0, 1, v->lgi, c->dai + q0 * th->G,
                  th->G);
    if (v->mh) {
        k->mask_rows(q0, q1, H, th->T, th->B, c->bf, v->hprev, v->mh, 0, c->hpa);
        hv = c->hpa;
    }
    if (!th->ra) {
        k->mul(th->nq, H, v->gates + q0 * th->G, th->G, hv + q0 * H, H, c->rhs + q0 * H, H);
        if (c->len) FN(zero_padded)(th, c->rhs, H);   /* r of a padded step: anything */
    }
    if (v->mx)
        k->mask_rows(q0, q1, v->in_w, th->T, th->B, c->bf, v->in, v->mx, 0, c->xm);
    else if (FN(pad_input)(c, v))
        memcpy(c->xm + q0 * v->in_w, v->in + q0 * v->in_w, th->nq * v->in_w * sizeof(R));
    if (FN(pad_input)(c, v)) FN(zero_padded)(th, c->xm, v->in_w);
}

/* Parameter gradients over all steps at once, my gate rows g0..g1 (finished
 * sequences' rows are zero):
 *   dW_ih += dgi^T (m_x) in;  dW_hh += dgh^T (m_h) h (reset_before's n rows: r h),
 *   with weight_dropout dW_hh += M * (dgh^T (m_h) h) (the product, then the mask);
 *   db_ih += sum dgi;  db_hh += sum dgh
 * layer_norm: dW_ih, dW_hh from dai, dah (before the normalisations), and
 *   dg_ih += sum dgi ah_i, dc_ih += sum dgi, dg_hh += sum dgh ah_h, dc_hh += sum dgh */
static void FN(weight_grads)(const FN(thread) *th, const FN(dir) *v)
{
    const FN(call) *c = th->c;
    struct gru_model *m = th->m;
    const KT *k = th->k;
    const size_t H = th->H, G = th->G, g0 = th->g0, g1 = th->g1, in_w = v->in_w;
    const R *win = v->mx || FN(pad_input)(c, v) ? c->xm : v->in;   /* (rows, in_w) what
                                                   met W_ih, padded rows zero */
    const R *whp = v->mh ? c->hpa : v->hprev;    /* (rows, H) what met W_hr, W_hz [W_hn] */
    R *gbih = FN(at)(m->grads, v->p->b_ih), *gbhh = FN(at)(m->grads, v->p->b_hh);
    const R *dwi = v->lgi ? c->dai : c->dgi;   /* (rows, 3H) what reaches W_ih */
    const R *dwh = v->lgh ? c->dah : c->dgh;   /* (rows, 3H) what reaches W_hh */
    if (g1 <= g0) return;
    k->gemm(1, 0, g1 - g0, in_w, th->rows, dwi + g0, G, win, in_w, 1,
            FN(at)(m->grads, v->p->w_ih) + g0 * in_w, in_w, th->kscratch);
    R *gWhh = FN(at)(m->grads, v->p->w_hh);
    const size_t split = th->ra ? G : 2 * H;
    const size_t a1 = g1 < split ? g1 : split, b0 = g0 > split ? g0 : split;
    R *dst = v->wm ? c->wtmp : gWhh;   /* (3H, H) the product's rows */
    if (a1 > g0)
        k->gemm(1, 0, a1 - g0, H, th->rows, dwh + g0, G, whp, H, !v->wm, dst + g0 * H, H,
                th->kscratch);
    if (g1 > b0)
        k->gemm(1, 0, g1 - b0, H, th->rows, dwh + b0, G, c->rhs, H, !v->wm, dst + b0 * H,
                H, th->kscratch);
    if (v->wm)
        k->mul_add(g1 - g0, H, c->wtmp + g0 * H, H, v->wm + g0 * H, H, gWhh + g0 * H, H);
    if (gbih) k->colsum_add(th->rows, g1 - g0, c->dgi + g0, G, gbih + g0);
    if (gbhh) k->colsum_add(th->rows, g1 - g0, c->dgh + g0, G, gbhh + g0);
    if (v->lgi) {
        k->colsum_mul_add(th->rows, g1 - g0, c->dgi + g0, G, v->xhi + g0, G,
                          FN(at)(m->grads, v->p->ln_ih_w) + g0);
        k->colsum_add(th->rows, g1 - g0, c->dgi + g0, G, FN(at)(m->grads, v->p->ln_ih_b) + g0);
        k->colsum_mul_add(th->rows, g1 - g0, c->dgh + g0, G, v->xhh + g0, G,
                          FN(at)(m->grads, v->p->ln_hh_w) + g0);
        k->colsum_add(th->rows, g1 - g0, c->dgh + g0, G, FN(at)(m->grads, v->p->ln_hh_b) + g0);
    }
}

/* dLoss/d in (+)= dgi W_ih (layer_norm: dai W_ih) for my rows, summed over directions (direction 0 writes,
 * 1 adds); with input dropout (+)= m_x (dgi W_ih). */
static void FN(input_grad)(const FN(thread) *th, const FN(dir) *v, R *dinl)
{
    const FN(call) *c = th->c;
    const size_t G = th->G, q0 = th->q0, in_w = v->in_w;
    const R *Pih = FN(at)(th->m->packed, v->p->p_ih);   /* W_ih (3H, in_w) packed */
    const R *dwi = v->lgi ? c->dai : c->dgi;   /* (rows, 3H) what reaches W_ih */
    if (!dinl || !th->nq) return;
    if (!v->mx) {
        th->k->gemm_pb(th->nq, in_w, 0, G, dwi + q0 * G, G, Pih, G, v->d > 0, NULL,
                       dinl + q0 * in_w, in_w);
        return;
    }
    th->k->gemm_pb(th->nq, in_w, 0, G, dwi + q0 * G, G, Pih, G, 0, NULL,
                   c->dxm + q0 * in_w, in_w);
    th->k->mask_rows(q0, th->q1, in_w, th->T, th->B, c->bf, c->dxm, v->mx, v->d > 0, dinl);
}

/* AUGRU: dLoss/da of my rows (+)= the sum of each row's H unit shares in increasing j
 * (one thread per row: the same additions for any thread count); the last layer's
 * forward direction writes, the others add, in backward's order of layer-directions. */
static void FN(att_grad)(const FN(thread) *th, const FN(dir) *v)
{
    const FN(call) *c = th->c;
    if (!c->gatt || !th->nq) return;
    const int first = v->l == th->L - 1 && v->d == 0;
    th->k->rowsum(th->nq, th->H, c->datt + th->q0 * th->H, th->H, !first, c->gatt + th->q0);
}

/* One direction of a layer backward: dh from grad_h_n, the cells in the reverse of the
 * forward's order, dh into grad_h0; then its weight gradients and its share of
 * dLoss/d input (dinl (rows, in_w) or NULL). dyl: dLoss/d layer output or NULL. */
static void FN(direction_backward)(const FN(thread) *th, const FN(dir) *v, const R *dyl,
                                   R *dinl)
{
    const FN(call) *c = th->c;
    const size_t T = th->T, G = th->G, H = th->H;
    FN(bstep) st = {.dh = c->dh, .dhp = c->dhp};
    FN(state_in)(th, c->grad_hn, v->k, st.dh);
    for (size_t s = 0; s < T; s++) {
        st.t = v->back ? s : T - 1 - s;
        st.r0 = c->bf ? st.t : st.t * th->B;
        st.g = v->gates + st.r0 * G + th->j0;
        st.hp = v->hprev + st.r0 * H + th->j0;
        st.dgi = c->dgi + st.r0 * G;
        st.dgh = c->dgh + st.r0 * G;
        st.dah = v->lgh ? c->dah + st.r0 * G : st.dgh;
        if (th->ra) FN(cell_backward_after)(th, v, &st, dyl);
        else FN(cell_backward_before)(th, v, &st, dyl);
        R *tmp = st.dh; st.dh = st.dhp; st.dhp = tmp;
    }
    FN(state_out)(th, c->grad_h0, v->k, st.dh);
    FN(weight_inputs)(th, v);
    gru_team_barrier(th->team);   /* dgi, dgh (and r h, a's shares) of every step are
                                     complete */
    FN(weight_grads)(th, v);
    FN(input_grad)(th, v, dinl);
    FN(att_grad)(th, v);
    gru_team_barrier(th->team);   /* before dgi, dgh (and a's shares) are used again */
}

/* ---- one layer: forward and backward ----------------------------------------------- */

/* Training with weight_dropout, layer-direction v: the rows of my units (every gate)
 * of M and W~ = M * W_hh (into the workspace's unpacked (3H, H))  | barrier |  my
 * panels of W~'s packed forms, W~_hg^T per gate and W~_hh (a thread reads only its own
 * panels in forward and backward; the barriers of the steps order the next
 * direction's writes of W~ after these reads). */
static void FN(drop_weights)(const FN(thread) *th, const FN(dir) *v)
{
    const FN(call) *c = th->c;
    const KT *k = th->k;
    const size_t H = th->H, G = th->G, j0 = th->j0, J = th->J;
    R *wt = (R *)(c->work + c->ws->off_wt);
    const R *w = FN(at)(th->m->params, v->p->w_hh);   /* (3H, H) */
    for (size_t g = 0; g < 3 && J; g++)
        k->weight_drop(g * H + j0, g * H + j0 + J, H, w, th->m->cfg.weight_dropout, c->seed,
                       c->draw, GRU_STREAM_WEIGHT(v->k), v->wm, wt);
    gru_team_barrier(th->team);   /* every row of W~ is known */
    if (!J) return;
    for (size_t g = 0; g < 3; g++)
        k->pack_b(1, H, J, wt + (g * H + j0) * H, H, (R *)v->PhhT[g]);
    k->pack_b(0, G, J, wt + j0, H, (R *)v->Phh);
}

/* Layer l: each direction over all steps into lout (rows, D*H), then (training, all
 * but the last layer) the inter-layer dropout of my rows of its output. */
static void FN(layer_forward)(const FN(thread) *th, size_t l, const R *in, size_t in_w,
                              R *lout)
{
    const FN(call) *c = th->c;
    for (size_t d = 0; d < th->D; d++) {
        FN(dir) v;
        FN(dir_init)(th, l, d, in, in_w, &v);
        if (c->training) {
            if (v.wm) FN(drop_weights)(th, &v);
            if (v.zm)   /* my rows; direction_forward's first barrier publishes them */
                th->k->zoneout_mask(th->q0, th->q1, th->H, th->T, th->B, c->bf,
                                    th->m->cfg.zoneout, c->seed, c->draw,
                                    GRU_STREAM_ZONEOUT(v.k), v.zm);
            FN(project_all)(th, &v);
        }
        FN(direction_forward)(th, &v, lout);
    }
    if (c->training && th->m->cfg.dropout > 0 && l < th->L - 1) {
        th->k->dropout(th->nq * th->DH, lout + th->q0 * th->DH, th->q0 * th->DH,
                       th->m->cfg.dropout, c->seed, c->draw, l);
        gru_team_barrier(th->team);   /* the next layer reads every row */
    }
}

/* Layer l backward: each direction (dyl (rows, D*H): dLoss/d its output, NULL =
 * zeros), accumulating dLoss/d its input into din (rows, in_w) or NULL; for l > 0 that
 * is the gradient of layer l-1's dropped-out output, taken back through the dropout. */
static void FN(layer_backward)(const FN(thread) *th, size_t l, const R *dyl, R *din)
{
    const FN(call) *c = th->c;
    const R *in = l == 0 ? c->x
                  : (const R *)(c->work + c->ws->off_outs + (l - 1) * c->ws->out_bytes);
    const size_t in_w = l == 0 ? th->m->I : th->DH;
    for (size_t d = 0; d < th->D; d++) {
        FN(dir) v;
        FN(dir_init)(th, l, d, in, in_w, &v);
        FN(direction_backward)(th, &v, dyl, din);
    }
    if (l > 0 && th->m->cfg.dropout > 0) {
        th->k->dropout(th->nq * th->DH, din + th->q0 * th->DH, th->q0 * th->DH,
                       th->m->cfg.dropout, c->seed, c->draw, l - 1);
        gru_team_barrier(th->team);
    }
}

/* ---- the jobs over the layers, and the calls -------------------------------------- */

/* Layer l's output (rows, D*H). Training: the caller's buffer for the last layer, kept
 * blocks for the others (backward reads them). Inference: the caller's buffer, in place
 * across layers when unidirectional (a chunk's rows are projected before any step
 * overwrites them); bidirectional layers alternate with one scratch buffer so that the
 * last lands in the caller's. */
static R *FN(layer_output)(const FN(call) *c, size_t l)
{
    const size_t L = c->m->L;
    if (l == L - 1) return c->out;
    if (c->training) return (R *)(c->work + c->ws->off_outs + l * c->ws->out_bytes);
    return c->m->D == 1 || (L - 1 - l) % 2 == 0 ? c->out : (R *)(c->work + c->ws->off_outs);
}

/* The forward of a whole call on one thread of the team (arg: the FN(call)). */
static void FN(forward_job)(void *arg, gru_team *team)
{
    FN(thread) th;
    FN(thread_init)(&th, arg, team);
    const R *in = th.c->x;   /* (rows, in_w) this layer's input */
    size_t in_w = th.m->I;
    for (size_t l = 0; l < th.L; l++) {
        R *lout = FN(layer_output)(th.c, l);
        FN(layer_forward)(&th, l, in, in_w, lout);
        in = lout;
        in_w = th.DH;
    }
}

/* The backward of a whole call on one thread of the team, last layer first; the
 * gradient of each layer's input is the next one's dLoss/d output (dy, din swap). */
static void FN(backward_job)(void *arg, gru_team *team)
{
    FN(thread) th;
    FN(thread_init)(&th, arg, team);
    R *dy = th.c->dy, *din = th.c->din;   /* (rows, D*H) x 2, swapped between layers */
    const R *dyl = th.c->grad_out;        /* dLoss/d(this layer's output), NULL = zeros */
    for (size_t l = th.L; l-- > 0;) {
        FN(layer_backward)(&th, l, dyl, l == 0 ? th.c->grad_x : din);
        if (l == 0) break;
        R *tmp = dy; dy = din; din = tmp;
        dyl = dy;
    }
}

/* A training forward's header (what backward checks) and its lengths. */
static void FN(write_header)(const FN(call) *c, int bf, const int32_t *len)
{
    gru_ws_header *hdr = (gru_ws_header *)c->work;
    hdr->model = c->m;
    hdr->nonce = c->m->nonce;
    hdr->param_version = c->m->param_version;
    hdr->T = c->ws->T;
    hdr->B = c->ws->B;
    hdr->batch_first = bf;
    hdr->has_lengths = len != NULL;
    hdr->seed = c->seed;
    hdr->draw = c->draw;
    if (len) memcpy(c->work + c->ws->off_lengths, len, c->ws->B * sizeof *len);
}

/* This call's input and recurrent dropout masks, one per layer-direction and sequence
 * (a few B * (in + H) draws: done here, before the threads start). */
static void FN(draw_masks)(const FN(call) *c)
{
    const struct gru_model *m = c->m;
    const KT *k = &m->kernels->S;
    const size_t B = c->ws->B;
    for (size_t kk = 0; kk < m->L * m->D; kk++) {
        R *mx = FN(mask_in)(m, c->ws, c->work, kk), *mh = FN(mask_rec)(m, c->ws, c->work, kk);
        const size_t in_w = kk < m->D ? m->I : m->D * m->H;
        if (mx) k->dropout_mask(B * in_w, mx, m->cfg.input_dropout, c->seed, c->draw,
                                GRU_STREAM_INPUT(kk));
        if (mh) k->dropout_mask(B * m->H, mh, m->cfg.recurrent_dropout, c->seed, c->draw,
                                GRU_STREAM_RECURRENT(kk));
    }
}

/* A forward call (see gru_forward in gru.h): the call's buffers, the header and the
 * dropout masks of a training forward, then the job on the model's pool. */
gru_status FN(gru_forward)(struct gru_model *m, int training, const gru_ws_layout *ws,
                           int bf, const void *x, const void *att, const void *h0,
                           const int32_t *len, void *out, void *h_n, unsigned char *work)
{
    FN(call) c = {.m = m, .ws = ws, .training = training, .bf = bf, .len = len,
                  .work = work, .seed = m->cfg.seed, .x = x, .h0 = h0, .out = out,
                  .h_n = h_n, .att = att};
    c.hb0 = (R *)(work + ws->off_h);
    c.hb1 = (R *)(work + ws->off_hnew);
    c.gh = (R *)(work + ws->off_gh);
    c.ghr = m->cfg.layer_norm ? (R *)(work + ws->off_ghr) : NULL;
    c.rh = (R *)(work + ws->off_rh);
    c.hm0 = (R *)(work + ws->off_hm);
    c.hm1 = (R *)(work + ws->off_hmnew);
    c.xmf = (R *)(work + ws->off_xm);
    c.zp = (R)m->cfg.zoneout;            /* p and 1 - p (in double), rounded to R */
    c.zq = (R)(1.0 - m->cfg.zoneout);
    memset(work, 0, sizeof(gru_ws_header));
    if (training) {
        c.draw = m->dropout_draws++;
        FN(write_header)(&c, bf, len);
        FN(draw_masks)(&c);
        if (att) {   /* backward's copy of the attention (rows) */
            memcpy(work + ws->off_att, att, ws->rows * sizeof(R));
            c.att = (const R *)(work + ws->off_att);
        }
    }
    gru_pool_run(gru_pool_for(m, ws->B), FN(forward_job), &c,
                 gru_call_work(m, ws->T, ws->B));
    return GRU_OK;
}

/* Backward's scratch (the model's, reused between calls), in this order: dgi, dgh
 * (rows, 3H); dh, dhp, drh (B, H); rhs (rows, H) for reset_before; dy, din (rows, D*H)
 * between layers; hpm, dm (B, H) and hpa (rows, H) for recurrent dropout; xm, dxm
 * (rows, in_max) for input dropout (xm alone, (rows, I), with lengths); zt, zk (B, H)
 * for zoneout; wtmp (3H, H) for weight_dropout; dai, dah (rows, 3H) for layer_norm;
 * datt (rows, H) for augru; each thread's gemm scratch. (Sizes fit: the forward's
 * workspace held each of them.) */
enum { FN(SC_DGI), FN(SC_DGH), FN(SC_DH), FN(SC_DHP), FN(SC_DRH), FN(SC_RHS), FN(SC_DY),
       FN(SC_DIN), FN(SC_HPM), FN(SC_DM), FN(SC_HPA), FN(SC_XM), FN(SC_DXM), FN(SC_ZT),
       FN(SC_ZK), FN(SC_WT), FN(SC_DAI), FN(SC_DAH), FN(SC_DATT), FN(SC_KS), FN(SC_N) };

/* Carves the scratch above out of the model's backward scratch into c. */
static gru_status FN(bwd_scratch)(struct gru_model *m, const gru_ws_layout *ws, FN(call) *c)
{
    const size_t rows = ws->rows, B = ws->B, H = m->H, G = 3 * H, DH = m->D * H;
    const int drec = m->cfg.recurrent_dropout > 0, dinp = m->cfg.input_dropout > 0;
    const int zo = m->cfg.zoneout > 0, wd = m->cfg.weight_dropout > 0;
    const int lnorm = m->cfg.layer_norm != 0;
    const size_t in_max = m->I > DH ? m->I : DH, io = m->L > 1 ? rows * DH : 0;
    /* xm also holds layer 0's input with its padded rows zeroed (lengths) */
    const size_t nxm = dinp ? rows * in_max : c->len ? rows * m->I : 0;
    size_t n[FN(SC_N)] = {rows * G, rows * G, B * H, B * H, B * H,
                          m->cfg.reset_after ? 0 : rows * H, io, io, drec ? B * H : 0,
                          drec ? B * H : 0, drec ? rows * H : 0, nxm,
                          dinp ? rows * in_max : 0, zo ? B * H : 0, zo ? B * H : 0,
                          wd ? G * H : 0, lnorm ? rows * G : 0, lnorm ? rows * G : 0,
                          m->cfg.augru ? rows * H : 0, 0};
    size_t total = 0, bytes;
    if (!gru_mul(m->kernels->S.gemm_scratch, (size_t)m->nthreads, &n[FN(SC_KS)]))
        return GRU_ERR_OVERFLOW;
    for (int i = 0; i < FN(SC_N); i++)
        if (!gru_add(total, n[i], &total)) return GRU_ERR_OVERFLOW;
    if (!gru_mul(total, sizeof(R), &bytes)) return GRU_ERR_OVERFLOW;
    R *p = gru_bwd_scratch(m, bytes ? bytes : 1), *at[FN(SC_N)];
    if (!p) return GRU_ERR_NO_MEMORY;
    for (int i = 0; i < FN(SC_N); i++) {
        at[i] = p;
        p += n[i];
    }
    c->dgi = at[FN(SC_DGI)]; c->dgh = at[FN(SC_DGH)];
    c->dh = at[FN(SC_DH)]; c->dhp = at[FN(SC_DHP)]; c->drh = at[FN(SC_DRH)];
    c->rhs = at[FN(SC_RHS)]; c->dy = at[FN(SC_DY)]; c->din = at[FN(SC_DIN)];
    c->hpm = at[FN(SC_HPM)]; c->dm = at[FN(SC_DM)]; c->hpa = at[FN(SC_HPA)];
    c->xm = at[FN(SC_XM)]; c->dxm = at[FN(SC_DXM)];
    c->zt = at[FN(SC_ZT)]; c->zk = at[FN(SC_ZK)]; c->wtmp = at[FN(SC_WT)];
    c->dai = lnorm ? at[FN(SC_DAI)] : NULL; c->dah = lnorm ? at[FN(SC_DAH)] : NULL;
    c->datt = at[FN(SC_DATT)];
    c->kscratch = n[FN(SC_KS)] ? at[FN(SC_KS)] : NULL;
    return GRU_OK;
}

/* A backward call (see gru_backward in gru.h) of a checked training workspace. */
gru_status FN(gru_backward)(struct gru_model *m, const gru_ws_layout *ws, int bf,
                            const void *xv, const unsigned char *work,
                            const void *gov, const void *ghnv, void *gxv, void *gh0v,
                            void *gattv)
{
    const gru_ws_header *hdr = (const gru_ws_header *)work;
    FN(call) c = {.m = m, .ws = ws, .training = 1, .bf = bf,
                  .len = hdr->has_lengths ? (const int32_t *)(work + ws->off_lengths) : NULL,
                  .work = (unsigned char *)work,   /* only read by backward */
                  .seed = hdr->seed, .draw = hdr->draw, .x = xv, .grad_out = gov,
                  .grad_hn = ghnv, .grad_x = gxv, .grad_h0 = gh0v, .gatt = gattv,
                  .att = m->cfg.augru ? (const R *)(work + ws->off_att) : NULL};
    gru_status st = FN(bwd_scratch)(m, ws, &c);
    if (st) return st;
    gru_pool_run(gru_pool_for(m, ws->B), FN(backward_job), &c,
                 2.0 * gru_call_work(m, ws->T, ws->B));
    return GRU_OK;
}

#undef KT
#undef FN
#undef GRU_CAT
#undef GRU_CAT_
