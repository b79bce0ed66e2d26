/*
 * gru_impl.h - the forward pass and backpropagation through time of a multi-layer,
 * optionally bidirectional GRU, written once for an element type. gru_f32.c and
 * gru_f64.c include it with R (float/double) and S (f32/f64) defined, giving
 * gru_forward_S and gru_backward_S (declared in model.h).
 *
 * The drivers own the recurrence, the lengths mask, dropout and the workspace layout;
 * all arithmetic on vectors and matrices goes through the model's kernel table
 * (kernels/kernels.h), so SIMD kernels replace it without touching this file.
 *
 * Row layout: every per-step tensor with one row per (t, b) -- input, output, gates,
 * saved states, their gradients -- is stored in the caller's layout, row(t, b) =
 * t*B + b (time-major) or b*T + t (batch-first). The B rows of one step are then
 * `rs` rows apart (rs = 1 or T), which the kernels take as a leading dimension.
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

/* Pointer to the tensor at element offset off of a flat buffer, NULL if absent. */
static R *FN(at)(void *base, size_t off) { return off == SIZE_MAX ? NULL : (R *)base + off; }

/* dst = mask(src): the dropout of layer l's output in draw `draw` (p > 0): each
 * element is zeroed with probability p, the others scaled by 1/(1-p). Applied in place
 * to the forward output (rows, w) and, identically, to the gradient in backward. */
static void FN(dropout)(R *v, size_t rows, size_t w, double p, uint64_t seed,
                        uint64_t draw, size_t layer)
{
    const R scale = (R)(1.0 / (1.0 - p));
    for (size_t i = 0; i < rows * w; i++)
        v[i] = gru_uniform(seed, draw, layer, i) < p ? (R)0 : v[i] * scale;
}

gru_status FN(gru_forward)(struct gru_model *m, int training, const gru_ws_layout *ws,
                           int bf, const void *xv, const void *h0v,
                           const int32_t *len, void *outv, void *hnv,
                           unsigned char *work)
{
    const GRU_CAT(gru_kernels, S) *k = &m->kernels->S;
    const size_t T = ws->T, B = ws->B, rows = ws->rows, H = m->H, L = m->L, D = m->D;
    const size_t G = 3 * H, DH = D * H, rs = bf ? T : 1;
    const int ra = m->cfg.reset_after;
    const R *x = xv;              /* (rows, I) */
    const R *h0 = h0v;            /* (L*D, B, H) or NULL */
    R *out = outv;                /* (rows, D*H) */
    R *h_n = hnv;                 /* (L*D, B, H) or NULL */
    R *h = (R *)(work + ws->off_h);        /* (B, H) the running state */
    R *hnew = (R *)(work + ws->off_hnew);  /* (B, H) */
    R *gh = (R *)(work + ws->off_gh);      /* (B, 3H) W_hh h + b_hh, per step */
    R *rh = (R *)(work + ws->off_rh);      /* (B, H) r * h (reset_before) */
    const int drop = training && m->cfg.dropout > 0 && L > 1;
    uint64_t draw = 0;

    gru_ws_header *hdr = (gru_ws_header *)work;
    memset(hdr, 0, sizeof *hdr);
    if (training) {
        draw = m->dropout_draws++;
        hdr->model = m;
        hdr->nonce = m->nonce;
        hdr->param_version = m->param_version;
        hdr->T = T;
        hdr->B = B;
        hdr->batch_first = bf;
        hdr->has_lengths = len != NULL;
        hdr->seed = m->cfg.seed;
        hdr->draw = draw;
        if (len) memcpy(work + ws->off_lengths, len, B * sizeof *len);
    }

    const R *in = x;              /* (rows, in_w) this layer's input */
    size_t in_w = m->I;
    for (size_t l = 0; l < L; l++) {
        /* this layer's output (rows, D*H): the caller's buffer for the last layer;
         * kept for backward in training, ping-pong scratch in inference */
        R *lout = l == L - 1 ? out
                  : (R *)(work + ws->off_outs + (training ? l : l % 2) * ws->out_bytes);
        for (size_t d = 0; d < D; d++) {
            const gru_layer_params *p = &m->lp[l * D + d];
            const R *PihT = FN(at)(m->packed, p->p_ihT);      /* W_ih^T (in_w, 3H) packed */
            const R *PhhT_rz = FN(at)(m->packed, p->p_hhT_rz);/* W_h{r,z}^T (H, 2H) packed */
            const R *PhhT_n = FN(at)(m->packed, p->p_hhT_n);  /* W_hn^T (H, H) packed */
            const R *bih = FN(at)(m->params, p->b_ih);   /* (3H) or NULL */
            const R *bhh = FN(at)(m->params, p->b_hh);   /* (3H) or NULL */
            R *gates, *ghn = NULL, *hprev = NULL;   /* (rows, 3H), (rows, H), (rows, H) */
            if (training) {
                unsigned char *blk = work + ws->off_blocks + (l * D + d) * ws->block_bytes;
                gates = (R *)(blk + ws->off_gates);
                ghn = ra ? (R *)(blk + ws->off_ghn) : NULL;
                hprev = (R *)(blk + ws->off_hprev);
            } else {
                gates = (R *)(work + ws->off_gi);
            }

            /* gi = in . W_ih^T + b_ih, every step at once; the cells overwrite each
             * step's gi with r, z, n in place. */
            k->fill_rows(rows, G, gates, G, bih);
            k->gemm_pb(rows, G, 0, in_w, in, in_w, PihT, in_w, 1, gates, G);

            for (size_t b = 0; b < B; b++) {
                if (h0) memcpy(h + b * H, h0 + ((l * D + d) * B + b) * H, H * sizeof(R));
                else memset(h + b * H, 0, H * sizeof(R));
            }

            for (size_t s = 0; s < T; s++) {
                const size_t t = d == 0 ? s : T - 1 - s;
                const size_t r0 = bf ? t : t * B;   /* row of (t, b = 0) */
                R *gi = gates + r0 * G;             /* (B, 3H) at stride rs*G */
                if (training)
                    for (size_t b = 0; b < B; b++)
                        memcpy(hprev + (r0 + b * rs) * H, h + b * H, H * sizeof(R));
                if (ra) {
                    /* gh = h . W_hh^T + b_hh */
                    k->fill_rows(B, G, gh, G, bhh);
                    k->gemm_pb(B, 2 * H, 0, H, h, H, PhhT_rz, H, 1, gh, G);
                    k->gemm_pb(B, H, 0, H, h, H, PhhT_n, H, 1, gh + 2 * H, G);
                    /* r, z = s(gi + gh); n = tanh(gi_n + r gh_n); h' = (1-z) n + z h */
                    k->cell_fwd_after(B, H, gi, rs * G, gh, h, hnew,
                                      training ? gi : NULL, rs * G);
                    if (training)
                        for (size_t b = 0; b < B; b++)
                            memcpy(ghn + (r0 + b * rs) * H, gh + b * G + 2 * H,
                                   H * sizeof(R));
                } else {
                    /* gh_rz = h . W_h{r,z}^T + b_h{r,z}; r, z = s(gi + gh); rh = r h */
                    k->fill_rows(B, 2 * H, gh, G, bhh);
                    k->gemm_pb(B, 2 * H, 0, H, h, H, PhhT_rz, H, 1, gh, G);
                    k->cell_fwd_before_rz(B, H, gi, rs * G, gh, h, gi, rs * G, rh);
                    /* gh_n = (r h) . W_hn^T + b_hn; n = tanh(gi_n + gh_n);
                     * h' = (1-z) n + z h */
                    k->fill_rows(B, H, gh + 2 * H, G, bhh ? bhh + 2 * H : NULL);
                    k->gemm_pb(B, H, 0, H, rh, H, PhhT_n, H, 1, gh + 2 * H, G);
                    k->cell_fwd_before_n(B, H, gi, rs * G, gh, h, gi, rs * G, training,
                                         hnew);
                }
                /* a finished sequence (t >= its length) keeps its state and outputs 0 */
                for (size_t b = 0; b < B; b++) {
                    R *o = lout + (r0 + b * rs) * DH + d * H;
                    if (len && t >= (size_t)len[b]) {
                        memset(o, 0, H * sizeof(R));
                    } else {
                        memcpy(h + b * H, hnew + b * H, H * sizeof(R));
                        memcpy(o, h + b * H, H * sizeof(R));
                    }
                }
            }
            if (h_n) memcpy(h_n + (l * D + d) * B * H, h, B * H * sizeof(R));
        }
        if (drop && l < L - 1) FN(dropout)(lout, rows, DH, m->cfg.dropout, m->cfg.seed,
                                           draw, l);
        in = lout;
        in_w = DH;
    }
    return GRU_OK;
}

gru_status FN(gru_backward)(struct gru_model *m, const gru_ws_layout *ws, int bf,
                            const void *xv, const unsigned char *work,
                            const void *gov, const void *ghnv, void *gxv, void *gh0v)
{
    const GRU_CAT(gru_kernels, S) *k = &m->kernels->S;
    const size_t T = ws->T, B = ws->B, rows = ws->rows, H = m->H, L = m->L, D = m->D;
    const size_t G = 3 * H, DH = D * H, rs = bf ? T : 1;
    const int ra = m->cfg.reset_after;
    const gru_ws_header *hdr = (const gru_ws_header *)work;
    const int32_t *len = hdr->has_lengths ? (const int32_t *)(work + ws->off_lengths) : NULL;
    const int drop = m->cfg.dropout > 0 && L > 1;
    const R *x = xv;              /* (rows, I) */
    const R *grad_out = gov;      /* (rows, D*H) or NULL */
    const R *grad_hn = ghnv;      /* (L*D, B, H) or NULL */
    R *grad_x = gxv;              /* (rows, I) or NULL */
    R *grad_h0 = gh0v;            /* (L*D, B, H) or NULL */

    /* scratch: dgi, dgh (rows, 3H); dh, dhp, drh (B, H); rhs (rows, H) for
     * reset_before; dy, din (rows, D*H) between layers; the gemm kernel's own */
    size_t n_g = rows * G, n_bh = B * H, n_rh = ra ? 0 : rows * H, n_io = L > 1 ? rows * DH : 0;
    size_t total = k->gemm_scratch, bytes;
    if (!gru_add(total, n_g, &total) || !gru_add(total, n_g, &total) ||
        !gru_add(total, n_bh, &total) || !gru_add(total, n_bh, &total) ||
        !gru_add(total, n_bh, &total) || !gru_add(total, n_rh, &total) ||
        !gru_add(total, n_io, &total) || !gru_add(total, n_io, &total) ||
        !gru_mul(total, sizeof(R), &bytes))
        return GRU_ERR_OVERFLOW;
    R *scratch = malloc(bytes ? bytes : 1);
    if (!scratch) return GRU_ERR_NO_MEMORY;
    R *dgi = scratch;             /* (rows, 3H) dLoss/d(W_ih in + b_ih) */
    R *dgh = dgi + n_g;           /* (rows, 3H) dLoss/d(W_hh h + b_hh) (n block: of
                                     W_hn (r h) + b_hn for reset_before) */
    R *dh = dgh + n_g;            /* (B, H) dLoss/dh, carried back through time */
    R *dhp = dh + n_bh;           /* (B, H) dLoss/d(previous h) */
    R *drh = dhp + n_bh;          /* (B, H) dLoss/d(r h), reset_before */
    R *rhs = drh + n_bh;          /* (rows, H) r h of every step, reset_before */
    R *dy = rhs + n_rh;           /* (rows, D*H) dLoss/d(layer output) below the top */
    R *din = dy + n_io;           /* (rows, D*H) dLoss/d(layer input) above layer 0 */
    R *kscratch = k->gemm_scratch ? din + n_io : NULL;   /* (gemm_scratch) */

    const R *dyl = grad_out;      /* dLoss/d(this layer's output), NULL = zeros */
    for (size_t l = L; l-- > 0;) {
        const size_t in_w = l == 0 ? m->I : DH;
        const R *in = l == 0 ? x
                      : (const R *)(work + ws->off_outs + (l - 1) * ws->out_bytes);
        R *dinl = l == 0 ? grad_x : din;     /* (rows, in_w) or NULL */
        for (size_t d = 0; d < D; d++) {
            const gru_layer_params *p = &m->lp[l * D + d];
            const R *Pih = FN(at)(m->packed, p->p_ih);   /* W_ih (3H, in_w) packed */
            const R *Phh = FN(at)(m->packed, p->p_hh);   /* W_hh (3H, H) packed */
            R *gWih = FN(at)(m->grads, p->w_ih);
            R *gWhh = FN(at)(m->grads, p->w_hh);
            R *gbih = FN(at)(m->grads, p->b_ih);
            R *gbhh = FN(at)(m->grads, p->b_hh);
            const unsigned char *blk = work + ws->off_blocks + (l * D + d) * ws->block_bytes;
            const R *gates = (const R *)(blk + ws->off_gates);   /* (rows, 3H) r, z, n */
            const R *ghn = ra ? (const R *)(blk + ws->off_ghn) : NULL;  /* (rows, H) */
            const R *hprev = (const R *)(blk + ws->off_hprev);  /* (rows, H) */

            if (grad_hn) memcpy(dh, grad_hn + (l * D + d) * B * H, B * H * sizeof(R));
            else memset(dh, 0, B * H * sizeof(R));

            /* steps in the reverse of the forward's order */
            for (size_t s = 0; s < T; s++) {
                const size_t t = d == 0 ? T - 1 - s : s;
                const size_t r0 = bf ? t : t * B;
                const R *g = gates + r0 * G, *hp = hprev + r0 * H;
                R *dgi_t = dgi + r0 * G, *dgh_t = dgh + r0 * G;
                /* dh += dLoss/d output at (t, b) for the sequences still running */
                if (dyl)
                    for (size_t b = 0; b < B; b++) {
                        if (len && t >= (size_t)len[b]) continue;
                        const R *o = dyl + (r0 + b * rs) * DH + d * H;
                        for (size_t j = 0; j < H; j++) dh[b * H + j] += o[j];
                    }
                if (ra) {
                    k->cell_bwd_after(B, H, dh, g, rs * G, ghn + r0 * H, rs * H, hp,
                                      rs * H, dgi_t, dgh_t, rs * G, dhp);
                } else {
                    k->cell_bwd_before_zn(B, H, dh, g, rs * G, hp, rs * H, dgi_t, dgh_t,
                                          rs * G, dhp);
                    /* d(r h) = da_n . W_hn */
                    k->gemm_pb(B, H, 2 * H, G, dgh_t + 2 * H, rs * G, Phh, G, 0, drh, H);
                    k->cell_bwd_before_r(B, H, drh, g, rs * G, hp, rs * H, dgi_t, dgh_t,
                                         rs * G, dhp);
                }
                /* a finished sequence's state passed through this step unchanged */
                if (len)
                    for (size_t b = 0; b < B; b++)
                        if (t >= (size_t)len[b]) {
                            memset(dgi_t + b * rs * G, 0, G * sizeof(R));
                            memset(dgh_t + b * rs * G, 0, G * sizeof(R));
                            memcpy(dhp + b * H, dh + b * H, H * sizeof(R));
                        }
                /* dh_prev += dgh . W_hh (reset_before: r, z blocks; the n block went
                 * through r h above) */
                k->gemm_pb(B, H, 0, ra ? G : 2 * H, dgh_t, rs * G, Phh, G, 1, dhp, H);
                R *tmp = dh; dh = dhp; dhp = tmp;
            }
            if (grad_h0) memcpy(grad_h0 + (l * D + d) * B * H, dh, B * H * sizeof(R));

            /* parameter gradients over all steps at once (inactive rows are zero) */
            /* dW_ih += dgi^T in */
            k->gemm(1, 0, G, in_w, rows, dgi, G, in, in_w, 1, gWih, in_w, kscratch);
            if (ra) {
                /* dW_hh += dgh^T h */
                k->gemm(1, 0, G, H, rows, dgh, G, hprev, H, 1, gWhh, H, kscratch);
            } else {
                k->gemm(1, 0, 2 * H, H, rows, dgh, G, hprev, H, 1, gWhh, H, kscratch);
                for (size_t i = 0; i < rows; i++)       /* r h, the input of W_hn */
                    for (size_t j = 0; j < H; j++)
                        rhs[i * H + j] = gates[i * G + j] * hprev[i * H + j];
                k->gemm(1, 0, H, H, rows, dgh + 2 * H, G, rhs, H, 1, gWhh + 2 * H * H, H,
                        kscratch);
            }
            if (gbih) k->colsum_add(rows, G, dgi, G, gbih);
            if (gbhh) k->colsum_add(rows, G, dgh, G, gbhh);
            /* dLoss/d in (+)= dgi . W_ih, summed over directions */
            if (dinl) k->gemm_pb(rows, in_w, 0, G, dgi, G, Pih, G, d > 0, dinl, in_w);
        }
        if (l > 0) {
            /* din is the gradient of the (dropped-out) output of layer l-1 */
            if (drop) FN(dropout)(din, rows, DH, m->cfg.dropout, hdr->seed, hdr->draw, l - 1);
            R *tmp = dy; dy = din; din = tmp;
            dyl = dy;
        }
    }
    free(scratch);
    return GRU_OK;
}

#undef FN
#undef GRU_CAT
#undef GRU_CAT_
