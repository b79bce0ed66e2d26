/*
 * quant.c - int8 and bfloat16 inference models (docs/quantization.md): gru_quantize
 * makes one from a float model, the getters read its int8 weights, and gru_forward_q8
 * is its forward (gru_forward with training = 0 and gru_step both run it).
 *
 * A bf16 model runs the same driver with a bf16 kernel table (kernels/bf16_scalar.c):
 * its "quantized" rows are bf16 values (2 bytes each, so every padded width kp below is
 * in bytes, twice the values'), its scales are 1 and its dot products float32 sums in
 * the order bf16_scalar.c defines; the gate arithmetic below is the same.
 *
 * Semantics (the scalar reference kernels, kernels/q8_scalar.c, define them; every
 * kernel table gives the same bits). Weights: each row of W_ih and W_hh (one gate of
 * one unit) quantized once, symmetrically, as the activations below. At each use an
 * activation row (one sequence's layer input x, its state h, or reset_before's r h) is
 * quantized dynamically: a = max |v|, s = a / 127, q = clamp(lrintf(v * (127 / a)),
 * -127, 127); the products are exact int32 sums; then, in float32,
 *   pre = (float)acc * (s_w * s_x) + b          (two roundings, then the add)
 *   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
 *   n = tanh(gi_n + r * gh_n)                   reset_after (r * gh_n, then the add)
 *   n = tanh(gi_n + gh_n), gh_n = W_hn Q(r h)   reset_before
 *   h' = (1 - z) * n + z * h                    (each product rounded, then the add)
 * with sigmoid / tanh the vmath functions (VMATH.md). Float operations are never fused
 * (-std=c11: no contraction).
 *
 * Threads: each thread owns a slice of hidden units (its rows of every gate) and a
 * share of the rows to quantize; quantized rows are shared through the workspace,
 * between barriers. Every number is computed by one thread with the same operations,
 * so results do not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

/* ---- what a call shares, what each thread owns ------------------------------------ */

typedef struct qcall {
    struct gru_model *m;
    const gru_ws_layout *ws;
    int bf;
    const int32_t *len;        /* (B) or NULL */
    const float *x, *h0;       /* (rows, I), (L*D, B, H) or NULL */
    float *out, *h_n;          /* (rows, D*H), (L*D, B, H) or NULL */
    float *hb0, *hb1;          /* (B, H) the state, double-buffered */
    float *gh;                 /* (B, 3H) recurrent pre-activations, then the gates */
    float *rh;                 /* (B, H) r h (reset_before) */
    float *gi;                 /* (Tc, B, 3H) input pre-activations of a chunk */
    int8_t *aq;                /* (Tc*B, kpmax) the chunk's quantized inputs */
    float *as;                 /* (Tc*B) their scales */
    int8_t *hq;                /* (B, kph) the quantized state (or r h) */
    float *hs;                 /* (B) its scales */
    unsigned char *work;
} qcall;

typedef struct qthread {
    const qcall *c;
    struct gru_model *m;
    const gru_qkernels *k;
    gru_team *team;
    size_t T, B, H, G, DH, D, L, rs, kph;   /* G = 3H, DH = D*H, rs: 1 or T */
    size_t hp;                 /* weight rows per gate (H padded) */
    int ra;                    /* reset_after */
    size_t j0, J;              /* my hidden units */
} qthread;

typedef struct qdir {
    size_t k;                  /* l * D + d */
    size_t d;
    int back;                  /* right to left */
    size_t in_w;
    const float *in;           /* (rows, in_w) the layer's input */
    const gru_qlayer *q;
    const float *bih, *bhh;    /* (3H) or NULL */
} qdir;

typedef struct qstep {
    size_t t, r0;              /* time, row of (t, b = 0) */
    const float *gi;           /* (B, 3H) contiguous: this step's input pre-activations */
    float *h, *hn;             /* (B, H) the state before and after */
} qstep;

static void q_thread_init(qthread *th, const qcall *c, gru_team *team)
{
    struct gru_model *m = c->m;
    size_t j1;
    th->c = c;
    th->m = m;
    th->k = m->q->k;
    th->team = team;
    th->T = c->ws->T; th->B = c->ws->B; th->H = m->H; th->G = 3 * m->H;
    th->D = m->D; th->L = m->L; th->DH = m->D * m->H;
    th->rs = c->bf ? th->T : 1;
    th->kph = m->q->kph;
    th->hp = m->q->hp;
    th->ra = m->cfg.reset_after;
    gru_team_split(team, th->H, GRU_Q8_RPAD, &th->j0, &j1);   /* whole row blocks */
    th->J = j1 - th->j0;
}

static void q_dir_init(const qthread *th, size_t l, size_t d, const float *in, qdir *v)
{
    struct gru_model *m = th->m;
    v->k = l * th->D + d;
    v->d = d;
    v->back = d == 1 || m->cfg.reverse;
    v->q = &m->q->layers[v->k];
    v->in = in;
    v->in_w = v->q->in_w;
    const gru_layer_params *p = &m->lp[v->k];
    v->bih = p->b_ih == SIZE_MAX ? NULL : (const float *)m->params + p->b_ih;
    v->bhh = p->b_hh == SIZE_MAX ? NULL : (const float *)m->params + p->b_hh;
}

/* ---- memory helpers ------------------------------------------------------------------ */

/* My units of dst (B, H) = layer-direction k's slice of src (L*D, B, H), or 0. */
static void q_state_in(const qthread *th, const float *src, size_t k, float *dst)
{
    for (size_t b = 0; b < th->B && th->J; b++) {
        float *o = dst + b * th->H + th->j0;
        if (src) memcpy(o, src + (k * th->B + b) * th->H + th->j0, th->J * sizeof(float));
        else memset(o, 0, th->J * sizeof(float));
    }
}

/* Layer-direction k's slice of dst (L*D, B, H) (NULL: not wanted) = my units of src. */
static void q_state_out(const qthread *th, float *dst, size_t k, const float *src)
{
    for (size_t b = 0; b < th->B && dst && th->J; b++)
        memcpy(dst + (k * th->B + b) * th->H + th->j0, src + b * th->H + th->j0,
               th->J * sizeof(float));
}

/* Quantizes my share of the B rows of v (B, H) into hq / hs; then a barrier: every
 * row is ready (and every thread is done with the previous contents). */
static void q_quantize_rows(const qthread *th, const float *v)
{
    size_t lo, hi;
    gru_team_split(th->team, th->B, 1, &lo, &hi);
    if (hi > lo)
        th->k->quantize(hi - lo, th->H, th->kph, v + lo * th->H, th->H,
                        th->c->hq + lo * th->kph, th->kph, th->c->hs + lo);
    gru_team_barrier(th->team);
}

/* gh[:, g*H + my units] = Q(h) W_hg^T dequantized + b_hg, from hq / hs. */
static void q_recurrent(const qthread *th, const qdir *v, size_t g)
{
    const size_t H = th->H, r0 = g * H + th->j0, w0 = g * th->hp + th->j0;
    if (!th->J) return;
    th->k->gemm(th->B, th->J, th->kph, th->c->hq, th->kph, th->c->hs, v->q->whh + w0 * th->kph,
                v->q->shh + r0, v->q->chh + r0, v->bhh ? v->bhh + r0 : NULL, th->c->gh + r0,
                th->G);
}

/* ---- one step of the cell, both variants -------------------------------------------- */

/* r, z = sigmoid(gi + gh) in gh's r and z blocks, my units of row b. */
static void q_gates_rz(const qthread *th, const float *xi, float *g)
{
    const size_t H = th->H;
    for (size_t j = th->j0; j < th->j0 + th->J; j++) {
        g[j] = xi[j] + g[j];
        g[H + j] = xi[H + j] + g[H + j];
    }
    th->k->sigmoid(th->J, g + th->j0);
    th->k->sigmoid(th->J, g + H + th->j0);
}

/* n = tanh(gi_n + rn) (rn in gh's n block already: r gh_n or W_hn Q(r h) + b_hn);
 * h' = (1 - z) n + z h, my units of row b. */
static void q_gates_n(const qthread *th, const float *xi, float *g, const float *h, float *hn)
{
    const size_t H = th->H;
    for (size_t j = th->j0; j < th->j0 + th->J; j++) g[2 * H + j] = xi[2 * H + j] + g[2 * H + j];
    th->k->tanh(th->J, g + 2 * H + th->j0);
    for (size_t j = th->j0; j < th->j0 + th->J; j++) {
        const float z = g[H + j], n = g[2 * H + j];
        const float a = (1.0f - z) * n;
        const float c = z * h[j];
        hn[j] = a + c;
    }
}

/* reset_after, my units of row b (gr: its gh row; the table's fused gates_after when it
 * has one, bitwise these loops): r = s(gi_r + gh_r), z = s(gi_z + gh_z),
 * n = tanh(gi_n + r gh_n), h' = (1 - z) n + z h */
static void q_gates_after(const qthread *th, const float *xi, float *gr, const float *h,
                          float *hn)
{
    const size_t H = th->H, j0 = th->j0;
    if (th->k->gates_after) {
        th->k->gates_after(th->J, H, xi + j0, gr + j0, h + j0, hn + j0);
        return;
    }
    q_gates_rz(th, xi, gr);
    for (size_t j = j0; j < j0 + th->J; j++) gr[2 * H + j] = gr[j] * gr[2 * H + j];
    q_gates_n(th, xi, gr, h, hn);
}

/* reset_after, my units:
 *   gh = Q(h) W_hh^T + b_hh; r = s(gi_r + gh_r), z = s(gi_z + gh_z),
 *   n = tanh(gi_n + r gh_n), h' = (1 - z) n + z h */
static void q_cell_after(const qthread *th, const qdir *v, const qstep *st)
{
    const size_t H = th->H, G = th->G;
    q_quantize_rows(th, st->h);
    for (size_t g = 0; g < 3; g++) q_recurrent(th, v, g);
    for (size_t b = 0; b < th->B && th->J; b++)
        q_gates_after(th, st->gi + b * G, th->c->gh + b * G, st->h + b * H, st->hn + b * H);
}

/* reset_before, my units:
 *   gh_rz = Q(h) W_h{r,z}^T + b_h{r,z}; r, z = s(gi + gh); rh = r h  | barrier |
 *   Q(r h) | barrier | gh_n = Q(r h) W_hn^T + b_hn; n = tanh(gi_n + gh_n); h' */
static void q_cell_before(const qthread *th, const qdir *v, const qstep *st)
{
    const size_t H = th->H, G = th->G;
    q_quantize_rows(th, st->h);
    for (size_t g = 0; g < 2; g++) q_recurrent(th, v, g);
    for (size_t b = 0; b < th->B && th->J; b++) {
        float *gr = th->c->gh + b * G, *rh = th->c->rh + b * H;
        q_gates_rz(th, st->gi + b * G, gr);
        for (size_t j = th->j0; j < th->j0 + th->J; j++) rh[j] = gr[j] * st->h[b * H + j];
    }
    gru_team_barrier(th->team);   /* every unit's r h is known */
    q_quantize_rows(th, th->c->rh);
    q_recurrent(th, v, 2);
    for (size_t b = 0; b < th->B && th->J; b++)
        q_gates_n(th, st->gi + b * G, th->c->gh + b * G, st->h + b * H, st->hn + b * H);
}

/* ---- one direction over all steps ----------------------------------------------------- */

/* gi = Q(in) W_ih^T + b_ih for the chunk of steps s .. s+n-1 (times ta .. ta+n-1), my
 * units, into the (Tc, B, 3H) buffer: my share of its rows quantized first, then a
 * barrier (every row read, so the layer may now overwrite its input). Returns ta. */
static size_t q_project_chunk(const qthread *th, const qdir *v, size_t s, size_t Tc)
{
    const qcall *c = th->c;
    const size_t T = th->T, B = th->B, H = th->H, kp = v->q->kpi;
    const size_t n = Tc < T - s ? Tc : T - s, ta = v->back ? T - s - n : s, nr = n * B;
    size_t lo, hi;
    gru_team_split(th->team, nr, 1, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        const size_t t = ta + i / B, b = i % B, row = c->bf ? b * T + t : t * B + b;
        th->k->quantize(1, v->in_w, kp, v->in + row * v->in_w, v->in_w, c->aq + i * kp, kp,
                        c->as + i);
    }
    gru_team_barrier(th->team);
    for (size_t g = 0; g < 3 && th->J; g++) {
        const size_t r0 = g * H + th->j0, w0 = g * th->hp + th->j0;
        th->k->gemm(nr, th->J, kp, c->aq, kp, c->as, v->q->wih + w0 * kp, v->q->sih + r0,
                    v->q->cih + r0, v->bih ? v->bih + r0 : NULL, c->gi + r0, th->G);
    }
    return ta;
}

/* A finished sequence (t >= its length) keeps its state and outputs 0; the others
 * output their new state (my units of lout's direction-d columns). */
static void q_step_outputs(const qthread *th, const qdir *v, const qstep *st, float *lout)
{
    const size_t H = th->H, J = th->J, j0 = th->j0;
    const int32_t *len = th->c->len;
    for (size_t b = 0; b < th->B && J; b++) {
        float *o = lout + (st->r0 + b * th->rs) * th->DH + v->d * H + j0;
        if (len && st->t >= (size_t)len[b]) {
            memset(o, 0, J * sizeof(float));
            memcpy(st->hn + b * H + j0, st->h + b * H + j0, J * sizeof(float));
        } else {
            memcpy(o, st->hn + b * H + j0, J * sizeof(float));
        }
    }
}

/* One direction of a layer over all steps into its columns of lout (rows, D*H). */
static void q_direction(const qthread *th, const qdir *v, float *lout)
{
    const qcall *c = th->c;
    const size_t T = th->T, B = th->B, G = th->G, Tc = gru_chunk_steps(T, B, c->bf);
    qstep st = {.h = c->hb0, .hn = c->hb1};
    q_state_in(th, c->h0, v->k, st.h);
    gru_team_barrier(th->team);
    size_t ta = 0;
    for (size_t s = 0; s < T; s++) {
        st.t = v->back ? T - 1 - s : s;
        st.r0 = c->bf ? st.t : st.t * B;
        if (s % Tc == 0) ta = q_project_chunk(th, v, s, Tc);
        st.gi = c->gi + (st.t - ta) * B * G;
        if (th->ra) q_cell_after(th, v, &st);
        else q_cell_before(th, v, &st);
        q_step_outputs(th, v, &st, lout);
        gru_team_barrier(th->team);   /* the new state is complete */
        float *tmp = st.h; st.h = st.hn; st.hn = tmp;
    }
    q_state_out(th, c->h_n, v->k, st.h);
}

/* Layer l's output: as the float driver's inference (gru_impl.h, layer_output). */
static float *q_layer_output(const qcall *c, size_t l)
{
    const size_t L = c->m->L;
    if (l == L - 1 || c->m->D == 1 || (L - 1 - l) % 2 == 0) return c->out;
    return (float *)(c->work + c->ws->off_outs);
}

static void q_forward_job(void *arg, gru_team *team)
{
    qthread th;
    q_thread_init(&th, arg, team);
    const float *in = th.c->x;
    for (size_t l = 0; l < th.L; l++) {
        float *lout = q_layer_output(th.c, l);
        for (size_t d = 0; d < th.D; d++) {
            qdir v;
            q_dir_init(&th, l, d, in, &v);
            q_direction(&th, &v, lout);
        }
        in = lout;
    }
}

gru_status gru_forward_q8(struct gru_model *m, const gru_ws_layout *ws, int bf,
                          const float *x, const float *h0, const int32_t *lengths,
                          float *out, float *h_n, unsigned char *work)
{
    qcall c = {.m = m, .ws = ws, .bf = bf, .len = lengths, .x = x, .h0 = h0, .out = out,
               .h_n = h_n, .work = work};
    c.hb0 = (float *)(work + ws->off_h);
    c.hb1 = (float *)(work + ws->off_hnew);
    c.gh = (float *)(work + ws->off_gh);
    c.rh = (float *)(work + ws->off_rh);
    c.gi = (float *)(work + ws->off_gi);
    c.aq = (int8_t *)(work + ws->off_aq);
    c.as = (float *)(work + ws->off_as);
    c.hq = (int8_t *)(work + ws->off_hq);
    c.hs = (float *)(work + ws->off_hs);
    memset(work, 0, sizeof(gru_ws_header));
    gru_pool_run(gru_pool_for(m, ws->B), q_forward_job, &c,
                 gru_call_work(m, ws->T, ws->B));
    return GRU_OK;
}

/* ---- making an int8 model ------------------------------------------------------------ */

void gru_qmodel_free(gru_qmodel *q)
{
    if (!q) return;
    for (size_t i = 0; q->layers && i < q->nlayers; i++) {
        gru_qlayer *p = &q->layers[i];
        free(p->wih); free(p->whh); free(p->sih); free(p->shh); free(p->cih); free(p->chh);
    }
    free(q->layers);
    free(q);
}

/* row (K) = src's parameters from element off, as float32 (float64 rounded). */
static void q_read_row(const gru_model *src, size_t off, size_t K, float *row)
{
    if (src->cfg.dtype == GRU_FLOAT32) {
        memcpy(row, (const float *)src->params + off, K * sizeof(float));
        return;
    }
    for (size_t k = 0; k < K; k++) row[k] = (float)((const double *)src->params)[off + k];
}

/* Row i of a weight (3H, K) at element offset off of m: its int8 values v (K) and
 * scale s into Q (gate g's row n at layout row g * hp + n, gru_q8_offset with rows of
 * Kp), the scales and row sums; m's parameters at off get the dequantized v * s. */
static void q_store_row(gru_model *m, size_t off, size_t K, size_t Kp, size_t i,
                        const int8_t *v, float s, int8_t *Q, float *S, int32_t *sum)
{
    const size_t H = m->H, n = i / H * m->q->hp + i % H, rb = m->q->k->rb;
    float *dq = (float *)m->params + off + i * K;
    int32_t acc = 0;
    for (size_t k = 0; k < K; k++) {
        Q[gru_q8_offset(rb, Kp, n, k)] = v[k];
        acc += v[k];
        dq[k] = (float)v[k] * s;
    }
    S[i] = s;
    sum[i] = acc;
}

/* A bf16 model's weight value v (bf16 bits) as element k of layout row n of Q (rows of
 * Kp bytes; value k at byte gru_q8_offset(rb, Kp, n, 2k), pairs kept together) and as
 * dq[k], its float32 value (exact: v's bits are dq[k]'s high half, the low half 0). */
static void q_put_bf16(const gru_qmodel *q, size_t n, size_t Kp, int8_t *Q, size_t k,
                       uint16_t v, float *dq)
{
    memcpy(Q + gru_q8_offset(q->k->rb, Kp, n, 2 * k), &v, sizeof v);
    dq[k] = gru_bf16_to_float(v);
}

/* A bf16 model's weight row (K floats in row) rounded into layout row n of Q and dq
 * (q_put_bf16); s = 1, sum = 0 (no scales, no row sums). */
static void q_weight_bf16(const gru_qmodel *q, size_t n, size_t K, size_t Kp, int8_t *Q,
                          const float *row, float *dq, float *s, int32_t *sum)
{
    for (size_t k = 0; k < K; k++) q_put_bf16(q, n, Kp, Q, k, gru_bf16_round(row[k]), dq);
    *s = 1.0f;
    *sum = 0;
}

/* Quantizes the weight (3H, K) at element offset off of src into m (q_store_row; a
 * bf16 model: q_weight_bf16). row: K floats, tmp: Kp bytes. */
static void q_weight(const gru_model *src, gru_model *m, size_t off, size_t K, size_t Kp,
                     int8_t *Q, float *s, int32_t *sum, float *row, int8_t *tmp)
{
    for (size_t i = 0; i < 3 * m->H; i++) {
        float si;
        q_read_row(src, off + i * K, K, row);
        if (m->q->format == GRU_BF16) {
            q_weight_bf16(m->q, i / m->H * m->q->hp + i % m->H, K, Kp, Q, row,
                          (float *)m->params + off + i * K, s + i, sum + i);
            continue;
        }
        gru_q8_ref_quantize(1, K, Kp, row, K, tmp, Kp, &si);
        q_store_row(m, off, K, Kp, i, tmp, si, Q, s, sum);
    }
}

/* Allocates layer-direction k's arrays: (3 hp, kpi), (3 hp, kph) int8 zeros, 4 x (G). */
static gru_status q_layer_alloc(gru_qlayer *p, size_t G, size_t hp, size_t kph)
{
    size_t ni, nh;
    if (!gru_mul(3 * hp, p->kpi, &ni) || !gru_mul(3 * hp, kph, &nh)) return GRU_ERR_OVERFLOW;
    p->wih = calloc(ni, 1);
    p->whh = calloc(nh, 1);
    p->sih = malloc(G * sizeof(float));
    p->shh = malloc(G * sizeof(float));
    p->cih = malloc(G * sizeof(int32_t));
    p->chh = malloc(G * sizeof(int32_t));
    if (!p->wih || !p->whh || !p->sih || !p->shh || !p->cih || !p->chh)
        return GRU_ERR_NO_MEMORY;
    return GRU_OK;
}

/* Biases of layer-direction k copied (as float32) from src to m. */
static void q_biases(const gru_model *src, gru_model *m, size_t k)
{
    const gru_layer_params *p = &m->lp[k];
    if (p->b_ih != SIZE_MAX) q_read_row(src, p->b_ih, 3 * m->H, (float *)m->params + p->b_ih);
    if (p->b_hh != SIZE_MAX) q_read_row(src, p->b_hh, 3 * m->H, (float *)m->params + p->b_hh);
}

/* q's layout and every layer-direction's arrays (zeros) for m's configuration. */
static gru_status q_alloc(const gru_model *m, gru_qmodel *q)
{
    const size_t H = m->H, G = 3 * H, DH = m->D * m->H;
    const size_t kmax = m->I > DH ? m->I : DH;
    const size_t vb = q->format == GRU_BF16 ? 2 : 1;   /* bytes per value */
    q->kph = vb * gru_q8_kpad(H);
    q->kpmax = vb * gru_q8_kpad(kmax);
    q->hp = (H + GRU_Q8_RPAD - 1) / GRU_Q8_RPAD * GRU_Q8_RPAD;
    q->nlayers = m->L * m->D;
    if (!(q->layers = calloc(q->nlayers, sizeof *q->layers))) return GRU_ERR_NO_MEMORY;
    gru_status st = GRU_OK;
    for (size_t k = 0; k < q->nlayers && !st; k++) {
        gru_qlayer *p = &q->layers[k];
        p->in_w = k < m->D ? m->I : DH;
        p->kpi = vb * gru_q8_kpad(p->in_w);
        st = q_layer_alloc(p, G, q->hp, q->kph);
    }
    return st;
}

/* m's int8 weights from src's (m: a fresh float32 model of src's configuration). */
static gru_status q_build(const gru_model *src, gru_model *m, gru_qmodel *q)
{
    gru_status st = q_alloc(m, q);
    if (st) return st;
    const size_t DH = m->D * m->H, kmax = m->I > DH ? m->I : DH;
    float *row = malloc(kmax * sizeof(float));
    int8_t *tmp = malloc(q->kpmax);
    for (size_t k = 0; k < q->nlayers && row && tmp; k++) {
        gru_qlayer *p = &q->layers[k];
        q_weight(src, m, m->lp[k].w_ih, p->in_w, p->kpi, p->wih, p->sih, p->cih, row, tmp);
        q_weight(src, m, m->lp[k].w_hh, m->H, q->kph, p->whh, p->shh, p->chh, row, tmp);
        q_biases(src, m, k);
    }
    st = row && tmp ? GRU_OK : GRU_ERR_NO_MEMORY;
    free(row);
    free(tmp);
    return st;
}

/* GRU_BF16_EXACT=1 in the environment: no vdpbf16ps (the bitwise tables only). */
static int q_bf16_exact(void)
{
    const char *e = getenv("GRU_BF16_EXACT");
    return e && strcmp(e, "1") == 0;
}

/* A fresh float32 model of cfg with a quantized model (format GRU_INT8 or GRU_BF16) of
 * zero weights attached. */
static gru_status q_new(const gru_config *config, int32_t format, gru_model **out)
{
    gru_config cfg = *config;
    cfg.dtype = GRU_FLOAT32;
    gru_model *m;
    /* zoneout's inference blend is not in the quantized paths (weight_dropout's
     * inference is the plain GRU: quantized as it is) */
    if (cfg.zoneout > 0) return GRU_ERR_UNSUPPORTED;
    gru_status st = gru_create(&cfg, &m);
    if (st) return st;
    if (m->I > GRU_Q8_KMAX || m->D * m->H > GRU_Q8_KMAX) st = GRU_ERR_UNSUPPORTED;
    else if (!(m->q = calloc(1, sizeof *m->q))) st = GRU_ERR_NO_MEMORY;
    if (!st) {
        m->q->format = format;
        m->q->k = format == GRU_BF16 ? gru_select_bkernels(m->kernels, q_bf16_exact())
                                     : gru_select_qkernels(m->kernels);
    }
    if (st) gru_destroy(m);
    else *out = m;
    return st;
}

/* Drops what an int8 model does not use (packed weights, gradients). */
static void q_finish(gru_model *m)
{
    free(m->packed);
    free(m->grads);
    m->packed = m->grads = NULL;
}

gru_status gru_quantize(const gru_model *model, int32_t format, gru_model **out)
{
    if (!out) return GRU_ERR_NULL;
    *out = NULL;
    if (!model) return GRU_ERR_NULL;
    if (format != GRU_INT8 && format != GRU_BF16) return GRU_ERR_INVALID_ARG;
    /* already quantized; AUGRU: the quantized kernels have no attentional blend;
     * layer_norm: no quantized LN kernels */
    if (model->q || model->cfg.augru || model->cfg.layer_norm) return GRU_ERR_UNSUPPORTED;
    gru_model *m;
    gru_status st = q_new(&model->cfg, format, &m);
    if (st) return st;
    st = q_build(model, m, m->q);
    if (!st && gru_get_num_threads(model) != gru_get_num_threads(m))
        st = gru_set_num_threads(m, gru_get_num_threads(model));
    if (st) {
        gru_destroy(m);
        return st;
    }
    q_finish(m);
    *out = m;
    return GRU_OK;
}

/* ---- an int8 or bf16 model from stored weights (load.c) ----------------------------- */

gru_status gru_qmodel_create(const gru_config *cfg, int32_t format, gru_model **out)
{
    gru_model *m;
    gru_status st = q_new(cfg, format, &m);
    if (st) return st;
    if ((st = q_alloc(m, m->q))) {
        gru_destroy(m);
        return st;
    }
    q_finish(m);
    *out = m;
    return GRU_OK;
}

void gru_qmodel_set_weight(gru_model *m, size_t k, int hh, const int8_t *values,
                           const float *scales)
{
    gru_qlayer *p = &m->q->layers[k];
    const size_t K = hh ? m->H : p->in_w, Kp = hh ? m->q->kph : p->kpi;
    for (size_t i = 0; i < 3 * m->H; i++)
        q_store_row(m, hh ? m->lp[k].w_hh : m->lp[k].w_ih, K, Kp, i, values + i * K,
                    scales[i], hh ? p->whh : p->wih, hh ? p->shh : p->sih,
                    hh ? p->chh : p->cih);
}

void gru_qmodel_set_bf16_weight(gru_model *m, size_t k, int hh, const uint16_t *values)
{
    gru_qlayer *p = &m->q->layers[k];
    const size_t H = m->H, K = hh ? H : p->in_w, Kp = hh ? m->q->kph : p->kpi;
    float *dq = (float *)m->params + (hh ? m->lp[k].w_hh : m->lp[k].w_ih);
    for (size_t i = 0; i < 3 * H; i++) {
        const size_t n = i / H * m->q->hp + i % H;   /* gate i / H's row i % H */
        for (size_t c = 0; c < K; c++)
            q_put_bf16(m->q, n, Kp, hh ? p->whh : p->wih, c, values[i * K + c], dq + i * K);
        (hh ? p->shh : p->sih)[i] = 1.0f;
        (hh ? p->chh : p->cih)[i] = 0;
    }
}

void gru_qmodel_set_bias(gru_model *m, size_t t, const float *values)
{
    memcpy((float *)m->params + m->tensors[t].offset, values,
           m->tensors[t].numel * sizeof(float));
}

/* ---- getters ------------------------------------------------------------------------- */

int32_t gru_quant_format(const gru_model *model)
{
    return model && model->q ? model->q->format : 0;
}

const char *gru_quant_isa(const gru_model *model)
{
    return model && model->q ? model->q->k->name : NULL;
}

const char *gru_available_quant_isas(void)
{
    const char *f = gru_kernels_available();
    if (strstr(f, "neon")) {   /* the one NEON table this CPU gets: SDOT or widening */
        const gru_qkernels *n = gru_select_qkernels(&gru_kernels_neon);
        return n == &gru_qkernels_neon       ? "scalar neon"
               : n == &gru_qkernels_neonmull ? "scalar neonmull" : "scalar";
    }
    const int has2 = strstr(f, "avx2") && gru_qkernels_avx2.name;
    const int has5 = strstr(f, "avx512") &&
                     gru_select_qkernels(&gru_kernels_avx512) == &gru_qkernels_avx512vnni;
    return has5 && has2 ? "scalar avx2 avx512vnni" : has2 ? "scalar avx2" : "scalar";
}

const char *gru_available_bf16_isas(void)
{
    const char *f = gru_kernels_available();
    if (strstr(f, "neon") && gru_bkernels_neon.name)
        return gru_select_bkernels(&gru_kernels_neon, 0) == &gru_bkernels_neonbf16
                   ? "scalar neon neonbf16" : "scalar neon";
    const int has2 = strstr(f, "avx2") && gru_bkernels_avx2.name;
    const int has5 = strstr(f, "avx512") && gru_bkernels_avx512.name;
    const int hw = has5 && gru_select_bkernels(&gru_kernels_avx512, 0) ==
                               &gru_bkernels_avx512bf16;
    if (!has2) return has5 ? "scalar avx512" : "scalar";   /* (no AVX-512 without AVX2) */
    return hw ? "scalar avx2 avx512 avx512bf16" : has5 ? "scalar avx2 avx512" : "scalar avx2";
}

/* dst (3H, K) = the int8 values of Q (3 hp rows of Kp in the table's layout). */
static void q_copy_rows(const gru_qmodel *q, size_t H, size_t K, size_t Kp, const int8_t *Q,
                        int8_t *dst)
{
    for (size_t i = 0; i < 3 * H; i++)
        for (size_t k = 0; k < K; k++)
            dst[i * K + k] = Q[gru_q8_offset(q->k->rb, Kp, i / H * q->hp + i % H, k)];
}

gru_status gru_quant_weight_get(const gru_model *model, const char *name, int8_t *values,
                                size_t count, float *scales, size_t nscales)
{
    if (!model || !name || !values || !scales) return GRU_ERR_NULL;
    if (!model->q || model->q->format != GRU_INT8) return GRU_ERR_UNSUPPORTED;
    const size_t G = 3 * model->H;
    for (size_t i = 0; i < model->ntensors; i++) {
        const gru_tensor *t = &model->tensors[i];
        if (strcmp(t->name, name) != 0) continue;
        for (size_t k = 0; k < model->L * model->D; k++) {
            const gru_qlayer *p = &model->q->layers[k];
            const int ih = model->lp[k].w_ih == t->offset, hh = model->lp[k].w_hh == t->offset;
            if (!ih && !hh) continue;
            if (count != t->numel || nscales != G) return GRU_ERR_SIZE_MISMATCH;
            q_copy_rows(model->q, model->H, ih ? p->in_w : model->H,
                        ih ? p->kpi : model->q->kph, ih ? p->wih : p->whh, values);
            memcpy(scales, ih ? p->sih : p->shh, G * sizeof(float));
            return GRU_OK;
        }
    }
    return GRU_ERR_UNKNOWN_NAME;
}
