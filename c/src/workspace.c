/*
 * workspace.c - the workspace layout planner (workspace.h): the byte offset of every
 * buffer a forward keeps, each 64-byte aligned, every size overflow-checked. Training:
 * the header, the lengths, per layer-direction blocks (gates, [W_hn h + b_hn], states,
 * [layer_norm's saved normalisations]), the layer outputs, an augru model's attention,
 * the dropout masks and masked inputs, the zoneout masks (in the blocks) and the
 * DropConnect masks with the masked recurrent weights packed; inference: a chunk of
 * input projections and one layer buffer for stacked bidirectional layers; both: the
 * step scratch.
 */
#include <string.h>
#include "model.h"

int gru_ws_take(size_t *off, size_t bytes, size_t *at)
{
    size_t rounded;
    if (!gru_add(bytes, 63, &rounded)) return 0;
    rounded &= ~(size_t)63;
    *at = *off;
    return gru_add(*off, rounded, off);
}

int gru_ws_elems(const gru_model *m, size_t a, size_t b, size_t *bytes)
{
    size_t n;
    return gru_mul(a, b, &n) && gru_mul(n, m->elem, bytes);
}

/* Training: the lengths, the blocks (gates, [ghn], hprev per layer-direction), the
 * outputs of every layer but the last, and an augru model's attention (rows). */
static int ws_training(const gru_model *m, gru_ws_layout *w, size_t *off)
{
    size_t gates, hrow, lens, blocks, outs, att, b = 0;
    if (!gru_ws_elems(m, w->rows, 1, &att) || !gru_ws_elems(m, w->rows, 3 * m->H, &gates) ||
        !gru_ws_elems(m, w->rows, m->H, &hrow) || !gru_mul(w->B, sizeof(int32_t), &lens))
        return 0;
    if (!gru_ws_take(&b, gates, &w->off_gates) ||
        (m->cfg.reset_after && !gru_ws_take(&b, hrow, &w->off_ghn)) ||
        !gru_ws_take(&b, hrow, &w->off_hprev) ||
        (m->cfg.zoneout > 0 && !gru_ws_take(&b, hrow, &w->off_zmask)))
        return 0;
    if (m->cfg.layer_norm) {
        size_t rrow;   /* (rows) one value per row */
        if (!gru_ws_elems(m, w->rows, 1, &rrow) || !gru_ws_take(&b, gates, &w->off_lnxi) ||
            !gru_ws_take(&b, gates, &w->off_lnxh) || !gru_ws_take(&b, rrow, &w->off_lnri) ||
            !gru_ws_take(&b, rrow, &w->off_lnrh) ||
            (!m->cfg.reset_after && !gru_ws_take(&b, rrow, &w->off_lnrn)))
            return 0;
    }
    w->block_bytes = b;
    return gru_ws_take(off, lens, &w->off_lengths) && gru_mul(b, m->L * m->D, &blocks) &&
           gru_ws_take(off, blocks, &w->off_blocks) &&
           gru_mul(w->out_bytes, m->L - 1, &outs) && gru_ws_take(off, outs, &w->off_outs) &&
           (!m->cfg.augru || gru_ws_take(off, att, &w->off_att));
}

/* Training with input / recurrent dropout: the masks per layer-direction, the masked
 * input, m_h h double-buffered. */
static int ws_dropout(const gru_model *m, gru_ws_layout *w, size_t *off)
{
    const int din = m->cfg.input_dropout > 0, drec = m->cfg.recurrent_dropout > 0;
    if (!din && !drec) return 1;
    const size_t DH = m->D * m->H, in_max = m->I > DH ? m->I : DH;
    size_t mi = 0, mh = 0, bh, rec = 0, at0, recs, xm;
    if ((din && !gru_ws_elems(m, w->B, in_max, &mi)) ||
        (drec && !gru_ws_elems(m, w->B, m->H, &mh)) || !gru_ws_elems(m, w->B, m->H, &bh) ||
        !gru_ws_take(&rec, mi, &at0) || !gru_ws_take(&rec, mh, &w->mask_rec))
        return 0;
    w->mask_bytes = rec;
    if (!gru_mul(rec, m->L * m->D, &recs) || !gru_ws_take(off, recs, &w->off_masks))
        return 0;
    if (din && (!gru_ws_elems(m, w->rows, in_max, &xm) || !gru_ws_take(off, xm, &w->off_xm)))
        return 0;
    return !drec || (gru_ws_take(off, bh, &w->off_hm) && gru_ws_take(off, bh, &w->off_hmnew));
}

/* Elements of the packed form of a (K, N) matrix in m's kernel table, checked as
 * gru.c's reserve_pack: the table computes ceil(N / nr) * nr * K, bounded by
 * (N + 64) * K first. 0 on overflow. */
static int packed_elems(const gru_model *m, size_t K, size_t N, size_t *n)
{
    size_t bound;
    if (!gru_add(N, 64, &bound) || !gru_mul(bound, K, &bound)) return 0;
    *n = m->elem == sizeof(float) ? m->kernels->f32.packed_size(K, N)
                                  : m->kernels->f64.packed_size(K, N);
    return 1;
}

/* Training with weight_dropout: per layer-direction the mask (3H, H) and the masked
 * W_hh's packed forms; one (3H, H) unpacked masked W_hh. */
static int ws_weight_dropout(const gru_model *m, gru_ws_layout *w, size_t *off)
{
    if (!(m->cfg.weight_dropout > 0)) return 1;
    size_t G, mask, pT, p, pTb, pb, rec = 0, at0, recs;
    if (!gru_mul(3, m->H, &G) || !gru_ws_elems(m, G, m->H, &mask) ||
        !packed_elems(m, m->H, m->H, &pT) || !packed_elems(m, G, m->H, &p) ||
        !gru_ws_elems(m, pT, 1, &pTb) || !gru_ws_elems(m, p, 1, &pb) ||
        !gru_ws_take(&rec, mask, &at0))
        return 0;
    for (int g = 0; g < 3; g++)
        if (!gru_ws_take(&rec, pTb, &w->wd_pT[g])) return 0;
    if (!gru_ws_take(&rec, pb, &w->wd_p)) return 0;
    w->wd_bytes = rec;
    return gru_mul(rec, m->L * m->D, &recs) && gru_ws_take(off, recs, &w->off_wd) &&
           gru_ws_take(off, mask, &w->off_wt);
}

/* Inference: a chunk of input projections (sized for the batch-first layout, whose
 * chunks are the longer, as the size query does not know the layout); one layer
 * buffer for stacked bidirectional layers (unidirectional ones run in place in the
 * caller's output). */
static int ws_inference(const gru_model *m, gru_ws_layout *w, size_t *off)
{
    const size_t nbuf = m->D == 2 && m->L > 1 ? 1 : 0;
    size_t chunk, outs;
    return gru_ws_elems(m, gru_chunk_steps(w->T, w->B, 1) * w->B, 3 * m->H, &chunk) &&
           gru_ws_take(off, chunk, &w->off_gi) && gru_mul(w->out_bytes, nbuf, &outs) &&
           gru_ws_take(off, outs, &w->off_outs);
}

/* int8 models: the quantized activations (see gru_ws_layout). */
static int ws_quant(const gru_model *m, gru_ws_layout *w, size_t *off)
{
    const size_t rows = gru_chunk_steps(w->T, w->B, 1) * w->B;
    size_t aq, as, hq, hs;
    return gru_mul(rows, m->q->kpmax, &aq) && gru_mul(rows, sizeof(float), &as) &&
           gru_mul(w->B, m->q->kph, &hq) && gru_mul(w->B, sizeof(float), &hs) &&
           gru_ws_take(off, aq, &w->off_aq) && gru_ws_take(off, as, &w->off_as) &&
           gru_ws_take(off, hq, &w->off_hq) && gru_ws_take(off, hs, &w->off_hs);
}

gru_status gru_ws_compute(const gru_model *m, size_t T, size_t B, int training,
                          gru_ws_layout *w)
{
    size_t rows, out, bh, bg, gates, hrow, lens, off = GRU_WS_HEADER_BYTES;
    memset(w, 0, sizeof *w);
    w->T = T;
    w->B = B;
    /* every size either mode could need, checked first (both modes fail alike) */
    if (!gru_mul(T, B, &rows) || !gru_ws_elems(m, rows, 3 * m->H, &gates) ||
        !gru_ws_elems(m, rows, m->H, &hrow) || !gru_mul(B, sizeof(int32_t), &lens) ||
        !gru_ws_elems(m, rows, m->D * m->H, &out) ||
        !gru_ws_elems(m, B, m->H, &bh) || !gru_ws_elems(m, B, 3 * m->H, &bg) ||
        !gru_add(out, 63, &w->out_bytes))
        return GRU_ERR_OVERFLOW;
    w->rows = rows;
    w->out_bytes &= ~(size_t)63;   /* one layer output (rows, D*H), rounded to 64 */
    if (training ? !ws_training(m, w, &off) || !ws_dropout(m, w, &off) ||
                       !ws_weight_dropout(m, w, &off)
                 : !ws_inference(m, w, &off))
        return GRU_ERR_OVERFLOW;
    if (!gru_ws_take(&off, bh, &w->off_h) || !gru_ws_take(&off, bh, &w->off_hnew) ||
        !gru_ws_take(&off, bg, &w->off_gh) || !gru_ws_take(&off, bh, &w->off_rh) ||
        (m->cfg.layer_norm && !gru_ws_take(&off, bg, &w->off_ghr)) ||
        (m->q && !ws_quant(m, w, &off)))
        return GRU_ERR_OVERFLOW;
    w->total = off;
    return GRU_OK;
}
