/*
 * gru_impl.h - the forward pass and backpropagation through time of a multi-layer,
 * optionally bidirectional GRU, written once for an element type. gru_f32.c and
 * gru_f64.c include it with R (float/double) and S (f32/f64) defined, giving
 * gru_forward_S and gru_backward_S (declared in model.h).
 *
 * The drivers own the recurrence, the lengths mask, dropout, the workspace layout and
 * the split of work between the model's threads; all arithmetic on vectors and
 * matrices goes through the model's kernel table (kernels/kernels.h).
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

/* Dropout of layer `layer`'s output in draw `draw` (p > 0), in place on n rows of width
 * w whose first element is element number `first` of the layer output: each element is
 * zeroed with probability p, the others scaled by 1/(1-p). Applied identically to the
 * gradient in backward. */
static void FN(dropout)(R *v, size_t n, size_t w, size_t first, double p, uint64_t seed,
                        uint64_t draw, size_t layer)
{
    const R scale = (R)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n * w; i++)
        v[i] = gru_uniform(seed, draw, layer, first + i) < p ? (R)0 : v[i] * scale;
}

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

/* Draws n * w mask entries into v: 0 with probability p, else 1/(1-p); entry i is
 * decided by element i of `stream` in draw `draw`. */
static void FN(draw_mask)(R *v, size_t n, size_t w, double p, uint64_t seed, uint64_t draw,
                          size_t stream)
{
    const R scale = (R)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n * w; i++)
        v[i] = gru_uniform(seed, draw, stream, i) < p ? (R)0 : scale;
}

/* Input dropout on rows q0..q1 of a (rows, w) layer input: xm = m_x[b] * in, where
 * row i holds sequence b = i / T (batch-first) or i % B (time-major). */
static void FN(mask_rows)(R *xm, const R *in, const R *mask, size_t q0, size_t q1, size_t w,
                          size_t T, size_t B, int bf)
{
    for (size_t i = q0; i < q1; i++) {
        const R *mb = mask + (bf ? i / T : i % B) * w;
        for (size_t c = 0; c < w; c++) xm[i * w + c] = in[i * w + c] * mb[c];
    }
}

/* v[b, j] = a[b * lda + j] * mask[b, j] for B rows of J units (mask rows H apart, v
 * rows H apart): the masked state that enters the recurrent products. */
static void FN(mask_state)(R *v, const R *a, size_t lda, const R *mask, size_t B, size_t H,
                           size_t J)
{
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < J; j++) v[b * H + j] = a[b * lda + j] * mask[b * H + j];
}

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
    /* backward */
    const R *grad_out, *grad_hn;   /* (rows, D*H) or NULL, (L*D, B, H) or NULL */
    R *grad_x, *grad_h0;           /* (rows, I) or NULL, (L*D, B, H) or NULL */
    R *dgi, *dgh;              /* (rows, 3H) dLoss/d(W_ih in + b_ih), d(W_hh h + b_hh)
                                  (n block: of W_hn (r h) + b_hn for reset_before) */
    R *dh, *dhp, *drh;         /* (B, H) dLoss/dh carried back, of the previous h, of r h */
    R *hpm, *dm;               /* (B, H) recurrent dropout: m_h h_prev of a step, the
                                  gradient reaching m_h h_prev through W_hh */
    R *hpa;                    /* (rows, H) m_h h_prev of every step (recurrent dropout) */
    R *xm, *dxm;               /* (rows, in_max) input dropout: m_x in, d(m_x in) */
    R *rhs;                    /* (rows, H) r h of every step, reset_before */
    R *dy, *din;               /* (rows, D*H) between layers */
    R *kscratch;               /* (threads, gemm_scratch) */
} FN(call);

static void FN(forward_job)(void *arg, gru_team *team)
{
    const FN(call) *c = arg;
    struct gru_model *m = c->m;
    const gru_ws_layout *ws = c->ws;
    const KT *k = &m->kernels->S;
    const size_t T = ws->T, B = ws->B, rows = ws->rows, H = m->H, L = m->L, D = m->D;
    const size_t G = 3 * H, DH = D * H, rs = c->bf ? T : 1;
    const int ra = m->cfg.reset_after, training = c->training;
    const int32_t *len = c->len;
    unsigned char *work = c->work;
    size_t j0, j1, q0, q1;
    gru_team_split(team, H, k->nr, &j0, &j1);   /* my hidden units */
    gru_team_split(team, rows, 1, &q0, &q1);    /* my rows of whole-sequence work */
    const size_t J = j1 - j0, nq = q1 - q0;
    R *const hbuf0 = (R *)(work + ws->off_h);    /* (B, H) states, double-buffered */
    R *const hbuf1 = (R *)(work + ws->off_hnew);
    R *gh = (R *)(work + ws->off_gh);            /* (B, 3H) W_hh h + b_hh, per step */
    R *rh = (R *)(work + ws->off_rh);            /* (B, H) r * h (reset_before) */

    const R *in = c->x;           /* (rows, in_w) this layer's input */
    size_t in_w = m->I;
    /* inference projects the input chunk by chunk (Tc steps, gru_chunk_steps) into a
     * (Tc, B, 3H) buffer; training projects every step at once into the kept gates */
    const size_t Tc = training ? T : gru_chunk_steps(T, B, c->bf);
    for (size_t l = 0; l < L; l++) {
        /* this layer's output (rows, D*H). Training: the caller's buffer for the last
         * layer, kept blocks for the others (backward reads them). Inference: the
         * caller's buffer, in place across layers when unidirectional (a chunk's rows
         * are projected before any step overwrites them); bidirectional layers
         * alternate with one scratch buffer so that the last lands in the caller's. */
        R *lout = l == L - 1 ? c->out
                  : training ? (R *)(work + ws->off_outs + l * ws->out_bytes)
                  : D == 1 || (L - 1 - l) % 2 == 0 ? c->out
                  : (R *)(work + ws->off_outs);
        const int in_place = (const R *)lout == in;
        for (size_t d = 0; d < D; d++) {
            const gru_layer_params *p = &m->lp[l * D + d];
            const R *PihT[3], *PhhT[3];   /* my panels of W_ig^T (in_w, H), W_hg^T (H, H) */
            for (int g = 0; g < 3; g++) {
                PihT[g] = FN(at)(m->packed, p->p_ihT[g]) + j0 * in_w;
                PhhT[g] = FN(at)(m->packed, p->p_hhT[g]) + j0 * H;
            }
            const R *bih = FN(at)(m->params, p->b_ih);   /* (3H) or NULL */
            const R *bhh = FN(at)(m->params, p->b_hh);   /* (3H) or NULL */
            /* input / recurrent dropout masks (B, in_w), (B, H) of this layer-direction,
             * NULL when off (always in inference) */
            const R *mx = training ? FN(mask_in)(m, ws, work, l * D + d) : NULL;
            const R *mh = training ? FN(mask_rec)(m, ws, work, l * D + d) : NULL;
            R *gates, *ghn = NULL, *hprev = NULL;   /* (rows, 3H), (rows, H), (rows, H) */
            if (training) {
                unsigned char *blk = work + ws->off_blocks + (l * D + d) * ws->block_bytes;
                gates = (R *)(blk + ws->off_gates);
                ghn = ra ? (R *)(blk + ws->off_ghn) : NULL;
                hprev = (R *)(blk + ws->off_hprev);
                /* input dropout: xm = m_x * in (my rows), which every thread reads */
                const R *pin = in;   /* (rows, in_w) what meets W_ih */
                if (mx) {
                    R *xm = (R *)(work + ws->off_xm);
                    FN(mask_rows)(xm, in, mx, q0, q1, in_w, T, B, c->bf);
                    gru_team_barrier(team);
                    pin = xm;
                }
                /* gi = in . W_ih^T + b_ih for every step at once, the columns of my
                 * units in each gate; the cells overwrite each step's gi with r, z, n */
                for (size_t g = 0; g < 3 && J; g++)
                    k->gemm_pb(rows, J, 0, in_w, pin, in_w, PihT[g], in_w, 0,
                               bih ? bih + g * H + j0 : NULL, gates + g * H + j0, G);
            } else {
                gates = (R *)(work + ws->off_gi);   /* (Tc, B, 3H), time-major */
            }
            R *h = hbuf0, *hn = hbuf1;
            /* recurrent dropout: hm = m_h * h meets W_hh, double-buffered like h */
            R *hm = mh ? (R *)(work + ws->off_hm) : NULL;
            R *hmn = mh ? (R *)(work + ws->off_hmnew) : NULL;
            for (size_t b = 0; b < B && J; b++) {
                if (c->h0) memcpy(h + b * H + j0, c->h0 + ((l * D + d) * B + b) * H + j0,
                                  J * sizeof(R));
                else memset(h + b * H + j0, 0, J * sizeof(R));
            }
            if (mh && J) FN(mask_state)(hm + j0, h + j0, H, mh + j0, B, H, J);
            gru_team_barrier(team);

            const int back = d == 1 || m->cfg.reverse;   /* right to left */
            size_t ta = 0;   /* first time step of the current inference chunk */
            for (size_t s = 0; s < T; s++) {
                const size_t t = back ? T - 1 - s : s;
                const size_t r0 = c->bf ? t : t * B;   /* row of (t, b = 0) */
                if (!training && s % Tc == 0) {
                    /* the chunk of steps s .. s+Tc-1 covers times [ta, tb) */
                    const size_t n = Tc < T - s ? Tc : T - s;
                    ta = back ? T - s - n : s;
                    for (size_t g = 0; g < 3 && J; g++) {
                        const R *bg = bih ? bih + g * H + j0 : NULL;
                        if (!c->bf)   /* rows ta*B .. (ta+n)*B of in are contiguous */
                            k->gemm_pb(n * B, J, 0, in_w, in + ta * B * in_w, in_w, PihT[g],
                                       in_w, 0, bg, gates + g * H + j0, G);
                        else          /* sequence b's rows b*T + ta .. */
                            for (size_t b = 0; b < B; b++)
                                k->gemm_pb(n, J, 0, in_w, in + (b * T + ta) * in_w, in_w,
                                           PihT[g], in_w, 0, bg, gates + b * G + g * H + j0,
                                           B * G);
                    }
                    if (in_place) gru_team_barrier(team);   /* read before overwritten */
                }
                /* this step's gi (B, 3H), rows gld apart */
                R *gi = training ? gates + r0 * G : gates + (t - ta) * B * G;
                const size_t gld = training ? rs * G : G;
                const size_t ngates = ra ? 3 : 2;
                const R *hin = mh ? hm : h;   /* (B, H) the state as W_hh sees it */
                if (J) {
                    if (training)
                        for (size_t b = 0; b < B; b++)
                            memcpy(hprev + (r0 + b * rs) * H + j0, h + b * H + j0,
                                   J * sizeof(R));
                    /* gh_g = h . W_hg^T + b_hg for my units (gates r, z; and n for
                     * reset_after) */
                    for (size_t g = 0; g < ngates; g++)
                        k->gemm_pb(B, J, 0, H, hin, H, PhhT[g], H, 0,
                                   bhh ? bhh + g * H + j0 : NULL, gh + g * H + j0, G);
                    if (ra) {
                        /* r, z = s(gi + gh); n = tanh(gi_n + r gh_n); h' = (1-z) n + z h */
                        k->cell_fwd_after(B, H, J, gi + j0, gld, gh + j0, h + j0, hn + j0,
                                          training ? gi + j0 : NULL, gld);
                        if (training)
                            for (size_t b = 0; b < B; b++)
                                memcpy(ghn + (r0 + b * rs) * H + j0, gh + b * G + 2 * H + j0,
                                       J * sizeof(R));
                    } else {
                        /* r, z = s(gi + gh); rh = r h (r m_h h with recurrent dropout) */
                        k->cell_fwd_before_rz(B, H, J, gi + j0, gld, gh + j0, hin + j0,
                                              gi + j0, gld, rh + j0);
                    }
                }
                if (!ra) gru_team_barrier(team);   /* every unit's r h is known */
                if (J) {
                    if (!ra) {
                        /* gh_n = (r h) . W_hn^T + b_hn; n = tanh(gi_n + gh_n);
                         * h' = (1-z) n + z h */
                        k->gemm_pb(B, J, 0, H, rh, H, PhhT[2], H, 0,
                                   bhh ? bhh + 2 * H + j0 : NULL, gh + 2 * H + j0, G);
                        k->cell_fwd_before_n(B, H, J, gi + j0, gld, gh + j0, h + j0,
                                             gi + j0, gld, training, hn + j0);
                    }
                    /* a finished sequence (t >= its length) keeps its state, outputs 0 */
                    for (size_t b = 0; b < B; b++) {
                        R *o = lout + (r0 + b * rs) * DH + d * H + j0;
                        if (len && t >= (size_t)len[b]) {
                            memset(o, 0, J * sizeof(R));
                            memcpy(hn + b * H + j0, h + b * H + j0, J * sizeof(R));
                        } else {
                            memcpy(o, hn + b * H + j0, J * sizeof(R));
                        }
                    }
                    if (mh) FN(mask_state)(hmn + j0, hn + j0, H, mh + j0, B, H, J);
                }
                gru_team_barrier(team);   /* the new state is complete */
                R *tmp = h; h = hn; hn = tmp;
                tmp = hm; hm = hmn; hmn = tmp;
            }
            if (c->h_n)
                for (size_t b = 0; b < B && J; b++)
                    memcpy(c->h_n + ((l * D + d) * B + b) * H + j0, h + b * H + j0,
                           J * sizeof(R));
        }
        if (training && m->cfg.dropout > 0 && l < L - 1) {
            FN(dropout)(lout + q0 * DH, nq, DH, q0 * DH, m->cfg.dropout, c->seed, c->draw, l);
            gru_team_barrier(team);   /* the next layer reads every row */
        }
        in = lout;
        in_w = DH;
    }
}

gru_status FN(gru_forward)(struct gru_model *m, int training, const gru_ws_layout *ws,
                           int bf, const void *x, const void *h0, const int32_t *len,
                           void *out, void *h_n, unsigned char *work)
{
    FN(call) c = {.m = m, .ws = ws, .training = training, .bf = bf, .len = len,
                  .work = work, .seed = m->cfg.seed, .x = x, .h0 = h0, .out = out,
                  .h_n = h_n};

    gru_ws_header *hdr = (gru_ws_header *)work;
    memset(hdr, 0, sizeof *hdr);
    if (training) {
        c.draw = m->dropout_draws++;
        hdr->model = m;
        hdr->nonce = m->nonce;
        hdr->param_version = m->param_version;
        hdr->T = ws->T;
        hdr->B = ws->B;
        hdr->batch_first = bf;
        hdr->has_lengths = len != NULL;
        hdr->seed = c.seed;
        hdr->draw = c.draw;
        if (len) memcpy(work + ws->off_lengths, len, ws->B * sizeof *len);
        /* this call's input and recurrent dropout masks, one per layer-direction and
         * sequence (a few B * (in + H) draws: done here, before the threads start) */
        for (size_t kk = 0; kk < m->L * m->D; kk++) {
            R *mx = FN(mask_in)(m, ws, work, kk), *mh = FN(mask_rec)(m, ws, work, kk);
            const size_t in_w = kk < m->D ? m->I : m->D * m->H;
            if (mx) FN(draw_mask)(mx, ws->B, in_w, m->cfg.input_dropout, c.seed, c.draw,
                                  GRU_STREAM_INPUT(kk));
            if (mh) FN(draw_mask)(mh, ws->B, m->H, m->cfg.recurrent_dropout, c.seed, c.draw,
                                  GRU_STREAM_RECURRENT(kk));
        }
    }
    gru_pool_run(gru_pool_for(m, ws->B), FN(forward_job), &c);
    return GRU_OK;
}

/* For sequences finished at step t (t >= length): their state passed through the step
 * unchanged, so no gradient reaches the gates (blocks ga..gb-1 are zeroed), and
 * dLoss/dh goes back as it came. Pointers are offset to the first of the J units; rows
 * of dgi/dgh are ld apart. */
static void FN(mask_finished)(size_t B, size_t H, size_t J, const int32_t *len, size_t t,
                              size_t ga, size_t gb, R *dgi, R *dgh, size_t ld, const R *dh,
                              R *dhp)
{
    if (!len) return;
    for (size_t b = 0; b < B; b++)
        if (t >= (size_t)len[b]) {
            for (size_t g = ga; g < gb; g++) {
                memset(dgi + b * ld + g * H, 0, J * sizeof(R));
                memset(dgh + b * ld + g * H, 0, J * sizeof(R));
            }
            memcpy(dhp + b * H, dh + b * H, J * sizeof(R));
        }
}

static void FN(backward_job)(void *arg, gru_team *team)
{
    const FN(call) *c = arg;
    struct gru_model *m = c->m;
    const gru_ws_layout *ws = c->ws;
    const KT *k = &m->kernels->S;
    const size_t T = ws->T, B = ws->B, rows = ws->rows, H = m->H, L = m->L, D = m->D;
    const size_t G = 3 * H, DH = D * H, rs = c->bf ? T : 1;
    const int ra = m->cfg.reset_after;
    const int drop = m->cfg.dropout > 0 && L > 1;
    const int32_t *len = c->len;
    const unsigned char *work = c->work;
    size_t j0, j1, q0, q1, g0, g1;
    gru_team_split(team, H, k->nr, &j0, &j1);   /* my hidden units within a step */
    gru_team_split(team, rows, 1, &q0, &q1);    /* my rows of whole-sequence work */
    gru_team_split(team, G, 8, &g0, &g1);       /* my gate rows of the weight gradients */
    const size_t J = j1 - j0, nq = q1 - q0;
    R *kscratch = c->kscratch ? c->kscratch + (size_t)team->tid * k->gemm_scratch : NULL;
    R *dgi = c->dgi, *dgh = c->dgh, *drh = c->drh, *rhs = c->rhs;
    R *dy = c->dy, *din = c->din, *hpm = c->hpm, *dm = c->dm;

    const R *dyl = c->grad_out;   /* dLoss/d(this layer's output), NULL = zeros */
    for (size_t l = L; l-- > 0;) {
        const size_t in_w = l == 0 ? m->I : DH;
        const R *in = l == 0 ? c->x
                      : (const R *)(work + ws->off_outs + (l - 1) * ws->out_bytes);
        R *dinl = l == 0 ? c->grad_x : din;     /* (rows, in_w) or NULL */
        for (size_t d = 0; d < D; d++) {
            const gru_layer_params *p = &m->lp[l * D + d];
            const R *Pih = FN(at)(m->packed, p->p_ih);   /* W_ih (3H, in_w) packed */
            const R *Phh = FN(at)(m->packed, p->p_hh) + j0 * G;  /* my panels of W_hh */
            R *gWih = FN(at)(m->grads, p->w_ih);
            R *gWhh = FN(at)(m->grads, p->w_hh);
            R *gbih = FN(at)(m->grads, p->b_ih);
            R *gbhh = FN(at)(m->grads, p->b_hh);
            const unsigned char *blk = work + ws->off_blocks + (l * D + d) * ws->block_bytes;
            const R *gates = (const R *)(blk + ws->off_gates);   /* (rows, 3H) r, z, n */
            const R *ghn = ra ? (const R *)(blk + ws->off_ghn) : NULL;  /* (rows, H) */
            const R *hprev = (const R *)(blk + ws->off_hprev);  /* (rows, H) */
            /* the forward's input / recurrent dropout masks (B, in_w), (B, H) or NULL */
            const R *mx = FN(mask_in)(m, ws, work, l * D + d);
            const R *mh = FN(mask_rec)(m, ws, work, l * D + d);
            R *dh = c->dh, *dhp = c->dhp;

            for (size_t b = 0; b < B && J; b++) {
                if (c->grad_hn)
                    memcpy(dh + b * H + j0, c->grad_hn + ((l * D + d) * B + b) * H + j0,
                           J * sizeof(R));
                else memset(dh + b * H + j0, 0, J * sizeof(R));
            }

            /* steps in the reverse of the forward's order */
            const int back = d == 1 || m->cfg.reverse;   /* the forward ran right to left */
            for (size_t s = 0; s < T; s++) {
                const size_t t = back ? s : T - 1 - s;
                const size_t r0 = c->bf ? t : t * B;
                const R *g = gates + r0 * G + j0, *hp = hprev + r0 * H + j0;
                R *dgi_t = dgi + r0 * G, *dgh_t = dgh + r0 * G;
                if (J) {
                    /* dh += dLoss/d output at (t, b) for the sequences still running */
                    if (dyl)
                        for (size_t b = 0; b < B; b++) {
                            if (len && t >= (size_t)len[b]) continue;
                            const R *o = dyl + (r0 + b * rs) * DH + d * H + j0;
                            R *dhb = dh + b * H + j0;
                            for (size_t j = 0; j < J; j++) dhb[j] += o[j];
                        }
                    if (ra)
                        k->cell_bwd_after(B, H, J, dh + j0, g, rs * G, ghn + r0 * H + j0,
                                          rs * H, hp, rs * H, dgi_t + j0, dgh_t + j0, rs * G,
                                          dhp + j0);
                    else
                        k->cell_bwd_before_zn(B, H, J, dh + j0, g, rs * G, hp, rs * H,
                                              dgi_t + j0, dgh_t + j0, rs * G, dhp + j0);
                    FN(mask_finished)(B, H, J, len, t, 0, 3, dgi_t + j0, dgh_t + j0, rs * G,
                                      dh + j0, dhp + j0);
                }
                gru_team_barrier(team);   /* this step's dgh is complete */
                if (!ra) {
                    if (J) {
                        /* d(r h) = da_n . W_hn, then the r gate's gradients. With
                         * recurrent dropout rh = r (m_h h): r meets m_h h, and the
                         * gradient d(rh) r reaches h through m_h (collected in dm) */
                        k->gemm_pb(B, J, 2 * H, G, dgh_t + 2 * H, rs * G, Phh, G, 0, NULL,
                                   drh + j0, H);
                        if (mh) {
                            FN(mask_state)(hpm + j0, hp, rs * H, mh + j0, B, H, J);
                            for (size_t b = 0; b < B; b++)
                                memset(dm + b * H + j0, 0, J * sizeof(R));
                        }
                        k->cell_bwd_before_r(B, H, J, drh + j0, g, rs * G,
                                             mh ? hpm + j0 : hp, mh ? H : rs * H,
                                             dgi_t + j0, dgh_t + j0, rs * G,
                                             mh ? dm + j0 : dhp + j0);
                        /* the r block only: other threads are reading the n block */
                        FN(mask_finished)(B, H, J, len, t, 0, 1, dgi_t + j0, dgh_t + j0,
                                          rs * G, dh + j0, dhp + j0);
                    }
                    gru_team_barrier(team);   /* ... and its r block */
                }
                /* dh_prev += dgh . W_hh for my units (reset_before: r, z blocks; the
                 * n block went through r h above); with recurrent dropout the
                 * products met m_h h: dh_prev += m_h (dgh . W_hh [+ d(rh) r]) */
                if (J && !mh)
                    k->gemm_pb(B, J, 0, ra ? G : 2 * H, dgh_t, rs * G, Phh, G, 1, NULL, dhp + j0, H);
                if (J && mh) {
                    k->gemm_pb(B, J, 0, ra ? G : 2 * H, dgh_t, rs * G, Phh, G, !ra, NULL,
                               dm + j0, H);
                    for (size_t b = 0; b < B; b++)
                        for (size_t j = j0; j < j1; j++)
                            dhp[b * H + j] += mh[b * H + j] * dm[b * H + j];
                }
                R *tmp = dh; dh = dhp; dhp = tmp;
            }
            if (c->grad_h0)
                for (size_t b = 0; b < B && J; b++)
                    memcpy(c->grad_h0 + ((l * D + d) * B + b) * H + j0, dh + b * H + j0,
                           J * sizeof(R));
            /* what met the weights, for my rows: r h (the input of W_hn, reset_before),
             * m_h h_prev (recurrent dropout), m_x in (input dropout) */
            for (size_t i = q0; i < q1; i++) {
                const R *mb = mh ? mh + (c->bf ? i / T : i % B) * H : NULL;
                if (mh)
                    for (size_t j = 0; j < H; j++) c->hpa[i * H + j] = hprev[i * H + j] * mb[j];
                const R *hv = mh ? c->hpa : hprev;
                if (!ra)
                    for (size_t j = 0; j < H; j++) rhs[i * H + j] = gates[i * G + j] * hv[i * H + j];
            }
            if (mx) FN(mask_rows)(c->xm, in, mx, q0, q1, in_w, T, B, c->bf);
            const R *win = mx ? c->xm : in;         /* (rows, in_w) what met W_ih */
            const R *whp = mh ? c->hpa : hprev;     /* (rows, H) what met W_hr, W_hz [W_hn] */
            gru_team_barrier(team);   /* dgi, dgh (and r h) of every step are complete */

            /* parameter gradients over all steps at once, my gate rows g0..g1 (finished
             * sequences' rows are zero) */
            if (g1 > g0) {
                /* dW_ih += dgi^T in */
                k->gemm(1, 0, g1 - g0, in_w, rows, dgi + g0, G, win, in_w, 1, gWih + g0 * in_w,
                        in_w, kscratch);
                /* dW_hh += dgh^T h; for reset_before, the n rows meet r h instead */
                const size_t split = ra ? G : 2 * H;
                const size_t a1 = g1 < split ? g1 : split, b0 = g0 > split ? g0 : split;
                if (a1 > g0)
                    k->gemm(1, 0, a1 - g0, H, rows, dgh + g0, G, whp, H, 1, gWhh + g0 * H,
                            H, kscratch);
                if (g1 > b0)
                    k->gemm(1, 0, g1 - b0, H, rows, dgh + b0, G, rhs, H, 1, gWhh + b0 * H, H,
                            kscratch);
                if (gbih) k->colsum_add(rows, g1 - g0, dgi + g0, G, gbih + g0);
                if (gbhh) k->colsum_add(rows, g1 - g0, dgh + g0, G, gbhh + g0);
            }
            /* dLoss/d in (+)= dgi . W_ih, summed over directions, my rows; with input
             * dropout, (+)= m_x (dgi . W_ih) */
            if (dinl && nq && !mx)
                k->gemm_pb(nq, in_w, 0, G, dgi + q0 * G, G, Pih, G, d > 0, NULL,
                           dinl + q0 * in_w, in_w);
            if (dinl && nq && mx) {
                R *dxm = c->dxm;
                k->gemm_pb(nq, in_w, 0, G, dgi + q0 * G, G, Pih, G, 0, NULL, dxm + q0 * in_w,
                           in_w);
                for (size_t i = q0; i < q1; i++) {
                    const R *mb = mx + (c->bf ? i / T : i % B) * in_w;
                    R *o = dinl + i * in_w;
                    const R *v = dxm + i * in_w;
                    if (d > 0) for (size_t q = 0; q < in_w; q++) o[q] += mb[q] * v[q];
                    else for (size_t q = 0; q < in_w; q++) o[q] = mb[q] * v[q];
                }
            }
            gru_team_barrier(team);   /* before dgi, dgh are used again */
        }
        if (l > 0) {
            /* din is the gradient of the (dropped-out) output of layer l-1 */
            if (drop) {
                FN(dropout)(din + q0 * DH, nq, DH, q0 * DH, m->cfg.dropout, c->seed, c->draw,
                            l - 1);
                gru_team_barrier(team);
            }
            R *tmp = dy; dy = din; din = tmp;
            dyl = dy;
        }
    }
}

gru_status FN(gru_backward)(struct gru_model *m, const gru_ws_layout *ws, int bf,
                            const void *xv, const unsigned char *work,
                            const void *gov, const void *ghnv, void *gxv, void *gh0v)
{
    const KT *k = &m->kernels->S;
    const size_t rows = ws->rows, B = ws->B, H = m->H, L = m->L, G = 3 * H, DH = m->D * H;
    const int ra = m->cfg.reset_after;
    const gru_ws_header *hdr = (const gru_ws_header *)work;

    /* scratch (the model's, reused between calls): dgi, dgh (rows, 3H); dh, dhp, drh
     * (B, H); rhs (rows, H) for reset_before; dy, din (rows, D*H) between layers; each
     * thread's gemm scratch */
    /* (sizes fit: the forward's workspace held each of them) */
    const int drec = m->cfg.recurrent_dropout > 0, dinp = m->cfg.input_dropout > 0;
    const size_t in_max = m->I > DH ? m->I : DH;
    size_t n_g = rows * G, n_bh = B * H, n_rh = ra ? 0 : rows * H;
    size_t n_io = L > 1 ? rows * DH : 0, n_ks, total = 0, bytes;
    size_t n_mbh = drec ? B * H : 0, n_hpa = drec ? rows * H : 0, n_xm = dinp ? rows * in_max : 0;
    if (!gru_mul(k->gemm_scratch, (size_t)m->nthreads, &n_ks) ||
        !gru_add(total, n_g, &total) || !gru_add(total, n_g, &total) ||
        !gru_add(total, n_bh, &total) || !gru_add(total, n_bh, &total) ||
        !gru_add(total, n_bh, &total) || !gru_add(total, n_rh, &total) ||
        !gru_add(total, n_io, &total) || !gru_add(total, n_io, &total) ||
        !gru_add(total, n_mbh, &total) || !gru_add(total, n_mbh, &total) ||
        !gru_add(total, n_hpa, &total) || !gru_add(total, n_xm, &total) ||
        !gru_add(total, n_xm, &total) ||
        !gru_add(total, n_ks, &total) || !gru_mul(total, sizeof(R), &bytes))
        return GRU_ERR_OVERFLOW;
    R *scratch = gru_bwd_scratch(m, bytes ? bytes : 1);
    if (!scratch) return GRU_ERR_NO_MEMORY;

    FN(call) c = {.m = m, .ws = ws, .training = 1, .bf = bf,
                  .len = hdr->has_lengths ? (const int32_t *)(work + ws->off_lengths) : NULL,
                  .work = (unsigned char *)work,   /* only read by backward */
                  .seed = hdr->seed, .draw = hdr->draw, .x = xv, .grad_out = gov,
                  .grad_hn = ghnv, .grad_x = gxv, .grad_h0 = gh0v};
    c.dgi = scratch;
    c.dgh = c.dgi + n_g;
    c.dh = c.dgh + n_g;
    c.dhp = c.dh + n_bh;
    c.drh = c.dhp + n_bh;
    c.rhs = c.drh + n_bh;
    c.dy = c.rhs + n_rh;
    c.din = c.dy + n_io;
    c.hpm = c.din + n_io;
    c.dm = c.hpm + n_mbh;
    c.hpa = c.dm + n_mbh;
    c.xm = c.hpa + n_hpa;
    c.dxm = c.xm + n_xm;
    c.kscratch = n_ks ? c.dxm + n_xm : NULL;
    gru_pool_run(gru_pool_for(m, ws->B), FN(backward_job), &c);
    return GRU_OK;
}

#undef KT
#undef FN
#undef GRU_CAT
#undef GRU_CAT_
