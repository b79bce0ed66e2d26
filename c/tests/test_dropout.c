/*
 * test_dropout.c - inter-layer dropout (PyTorch semantics).
 *
 * - Determinism: two models with the same seed and parameters give bitwise identical
 *   training outputs, forward after forward; a model's second forward draws new masks;
 *   gru_set_seed restarts the sequence; another seed gives other masks.
 * - Training with dropout changes the output, but not the first layer's final states;
 *   inference (training = 0) ignores dropout (matches the reference); a 1-layer model
 *   is unaffected by dropout even in training.
 * - The mask itself, observed through a probe second layer whose output is
 *   tanh(c * its input) element by element (z = 0, W_hh = 0, W_in = c * a selection):
 *   every input element of layer 2 is either 0 or layer 1's output / (1 - p), the drop
 *   rate is plausible for p, and with two directions reading the same column both see
 *   the same mask.
 * - Keras-style input and recurrent dropout: outputs equal the reference run with the
 *   masks gru_dropout_masks reports; mask values, rates, seeds, inference, the getter's
 *   errors.
 * Finite differences with every dropout are in test_backward.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void determinism_case(const char *isa, int dtype, rng *g)
{
    const int64_t I = 3, H = 4, L = 2, D = 2, T = 6, B = 3;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * D * H),
                 nh = (size_t)(L * D * B * H), es = dtype_size(dtype);
    const uint64_t seed = 99;
    check_set_ctx("dropout determinism isa=%s %s L=2 bidir=1 p=0.5", isa,
                  dtype == GRU_FLOAT64 ? "f64" : "f32");
    gru_config cfg = make_config(I, H, L, 1, 1, 1, dtype);
    cfg.dropout = 0.5;
    cfg.seed = seed;
    tmodel a, b;
    if (!tmodel_create(&a, &cfg, g, 0.9))
        return;
    if (!tmodel_clone(&b, &a, dtype)) {
        tmodel_free(&a);
        return;
    }
    double *x = malloc(nx * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    round_to_dtype(x, nx, dtype);
    double *ref_out = malloc(nout * sizeof(double)), *ref_hn = malloc(nh * sizeof(double));
    double *got = malloc(nout * sizeof(double));
    ref_forward(&a.ref, T, B, 0, x, NULL, NULL, ref_out, ref_hn);
    void *xd = to_dtype(x, nx, dtype);
    void *oa1 = nan_dtype(nout, dtype), *oa2 = nan_dtype(nout, dtype), *oa3 = nan_dtype(nout, dtype);
    void *ob1 = nan_dtype(nout, dtype), *ob2 = nan_dtype(nout, dtype), *oinf = nan_dtype(nout, dtype);
    void *ha1 = nan_dtype(nh, dtype), *hb1 = nan_dtype(nh, dtype), *hinf = nan_dtype(nh, dtype);
    size_t wsb = 0;
    void *ws = NULL;
    REQUIRE_OK(gru_workspace_size(a.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb ? wsb : 8);

    CHECK_OK(gru_forward(a.m, 1, T, B, 0, xd, NULL, NULL, oa1, ha1, ws, wsb));
    /* an inference forward on B first: it must not advance B's dropout generator */
    CHECK_OK(gru_forward(b.m, 0, T, B, 0, xd, NULL, NULL, ob1, hb1, NULL, 0));
    CHECK_OK(gru_forward(b.m, 1, T, B, 0, xd, NULL, NULL, ob1, hb1, ws, wsb));
    CHECK_SAME("output: 1st training forward, model A == model B (same seed)", oa1, ob1,
               nout * es);
    CHECK_SAME("h_n: 1st training forward, model A == model B (same seed)", ha1, hb1, nh * es);
    CHECK_OK(gru_forward(a.m, 1, T, B, 0, xd, NULL, NULL, oa2, NULL, ws, wsb));
    CHECK_OK(gru_forward(b.m, 1, T, B, 0, xd, NULL, NULL, ob2, NULL, ws, wsb));
    CHECK_SAME("output: 2nd training forward, model A == model B", oa2, ob2, nout * es);
    CHECK_MSG(memcmp(oa1, oa2, nout * es) != 0,
              "2nd training forward drew the same masks as the 1st (generator not advancing)");
    CHECK_OK(gru_set_seed(a.m, seed));
    CHECK_OK(gru_forward(a.m, 1, T, B, 0, xd, NULL, NULL, oa3, NULL, ws, wsb));
    CHECK_SAME("output after gru_set_seed(seed) == 1st training forward", oa3, oa1, nout * es);
    CHECK_OK(gru_set_seed(a.m, seed + 1));
    CHECK_OK(gru_forward(a.m, 1, T, B, 0, xd, NULL, NULL, oa3, NULL, ws, wsb));
    CHECK_MSG(memcmp(oa3, oa1, nout * es) != 0, "seed+1 drew the same masks as seed");
    {
        gru_config back;
        CHECK_OK(gru_get_config(a.m, &back));
        CHECK_MSG(back.seed == seed + 1, "gru_get_config seed %llu, expected the last set %llu",
                  (unsigned long long)back.seed, (unsigned long long)(seed + 1));
    }

    /* inference ignores dropout */
    CHECK_OK(gru_forward(a.m, 0, T, B, 0, xd, NULL, NULL, oinf, hinf, NULL, 0));
    from_dtype(got, oinf, nout, dtype);
    CHECK_CLOSE("inference output with dropout 0.5 vs reference without dropout", ref_out, got,
                nout, dtype == GRU_FLOAT64 ? 1e-12 : 1e-5);
    from_dtype(got, hinf, nh, dtype);
    CHECK_CLOSE("inference h_n with dropout 0.5 vs reference", ref_hn, got, nh,
                dtype == GRU_FLOAT64 ? 1e-12 : 1e-5);
    CHECK_MSG(memcmp(oa1, oinf, nout * es) != 0, "training output with dropout 0.5 equals "
              "the inference output (dropout not applied)");
    /* layer 0's final states (h_n rows 0..D-1) come before any dropout */
    CHECK_SAME("h_n of layer 0: training with dropout == inference", ha1, hinf,
               (size_t)(D * B * H) * es);
done:
    free(x);
    free(ref_out);
    free(ref_hn);
    free(got);
    free(xd);
    free(oa1);
    free(oa2);
    free(oa3);
    free(ob1);
    free(ob2);
    free(oinf);
    free(ha1);
    free(hb1);
    free(hinf);
    free(ws);
    tmodel_free(&a);
    tmodel_free(&b);
}

/* A 1-layer model: dropout has no layer to act between. */
static void single_layer_case(const char *isa, int dtype, int bidir, rng *g)
{
    const int64_t I = 3, H = 5, T = 5, B = 2, D = bidir ? 2 : 1;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * D * H),
                 nh = (size_t)(D * B * H), es = dtype_size(dtype);
    check_set_ctx("dropout single layer isa=%s %s bidir=%d p=0.6", isa,
                  dtype == GRU_FLOAT64 ? "f64" : "f32", bidir);
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.bidirectional = bidir;
    cfg.dtype = dtype;
    cfg.dropout = 0.6;
    cfg.seed = 5;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.9))
        return;
    double *x = malloc(nx * sizeof(double)), *ref_out = malloc(nout * sizeof(double));
    double *ref_hn = malloc(nh * sizeof(double)), *got = malloc(nout * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    round_to_dtype(x, nx, dtype);
    ref_forward(&tm.ref, T, B, 0, x, NULL, NULL, ref_out, ref_hn);
    void *xd = to_dtype(x, nx, dtype), *o = nan_dtype(nout, dtype), *hn = nan_dtype(nh, dtype);
    void *oi = nan_dtype(nout, dtype);
    size_t wsb = 0;
    void *ws = NULL;
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb ? wsb : 8);
    CHECK_OK(gru_forward(tm.m, 1, T, B, 0, xd, NULL, NULL, o, hn, ws, wsb));
    from_dtype(got, o, nout, dtype);
    CHECK_CLOSE("training output (1 layer, dropout 0.6) vs reference", ref_out, got, nout,
                dtype == GRU_FLOAT64 ? 1e-12 : 1e-5);
    from_dtype(got, hn, nh, dtype);
    CHECK_CLOSE("training h_n (1 layer, dropout 0.6) vs reference", ref_hn, got, nh,
                dtype == GRU_FLOAT64 ? 1e-12 : 1e-5);
    CHECK_OK(gru_forward(tm.m, 0, T, B, 0, xd, NULL, NULL, oi, NULL, NULL, 0));
    CHECK_SAME("training output (1 layer, dropout) == inference output", o, oi, nout * es);
done:
    free(x);
    free(ref_out);
    free(ref_hn);
    free(got);
    free(xd);
    free(o);
    free(hn);
    free(oi);
    free(ws);
    tmodel_free(&tm);
}

/* The probe: layer 1 random; layer 2 (l = 1) outputs tanh(c * u[src(d, j)]) where u is
 * its (dropped-out) input, so u = atanh(out) / c is observable. shared: both directions
 * read columns 0..H-1; otherwise direction d reads columns d*H..d*H+H-1. */
static void mask_probe_case(const char *isa, int D, int shared, int reset_after, rng *g)
{
    const int64_t I = 3, H = 5, T = 10, B = 6, DH = D * H;
    const double p = 0.25, c = 0.5;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * DH);
    check_set_ctx("dropout mask probe isa=%s f64 bidir=%d shared=%d reset_after=%d p=%g", isa,
                  D - 1, shared, reset_after, p);
    gru_config cfg = make_config(I, H, 2, D == 2, 1, reset_after, GRU_FLOAT64);
    cfg.dropout = p;
    cfg.seed = 2024;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.9))
        return;
    for (int d = 0; d < D; d++) {
        double *Wih = tm.ref.p[1][d][REF_W_IH]; /* (3H, DH) */
        double *Whh = tm.ref.p[1][d][REF_W_HH]; /* (3H, H) */
        double *bih = tm.ref.p[1][d][REF_B_IH], *bhh = tm.ref.p[1][d][REF_B_HH]; /* (3H) */
        memset(Wih, 0, (size_t)(3 * H * DH) * sizeof(double));
        memset(Whh, 0, (size_t)(3 * H * H) * sizeof(double));
        memset(bih, 0, (size_t)(3 * H) * sizeof(double));
        memset(bhh, 0, (size_t)(3 * H) * sizeof(double));
        for (int64_t j = 0; j < H; j++) {
            int64_t src = (shared ? 0 : d * H) + j;
            Wih[(2 * H + j) * DH + src] = c; /* n row j reads input column src */
            bih[H + j] = -1000.0;            /* z = sigmoid(-1000) = 0: h' = n */
        }
    }
    double *x = malloc(nx * sizeof(double)), *y0 = malloc(nout * sizeof(double));
    double *out = nan_doubles(nout);
    rng_fill(g, x, nx, -1.5, 1.5);
    ref_gru r0 = tm.ref;
    r0.L = 1;
    ref_forward(&r0, T, B, 0, x, NULL, NULL, y0, NULL); /* layer 1's output (T, B, DH) */
    size_t wsb = 0;
    void *ws = NULL;
    if (!tmodel_push(&tm))
        goto done;
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb ? wsb : 8);
    if (!CHECK_OK(gru_forward(tm.m, 1, T, B, 0, x, NULL, NULL, out, NULL, ws, wsb)))
        goto done;
    {
        long dropped = 0, kept = 0, bad = 0, mismatch_dirs = 0, total = 0;
        int64_t first_bad = -1;
        double bad_u = 0, bad_y = 0;
        for (int64_t tb = 0; tb < T * B; tb++)
            for (int64_t d = 0; d < D; d++)
                for (int64_t j = 0; j < H; j++) {
                    int64_t src = (shared ? 0 : d * H) + j;
                    double u = atanh(out[tb * DH + d * H + j]) / c;
                    double y = y0[tb * DH + src];
                    total++;
                    if (fabs(u) <= 1e-12)
                        dropped++;
                    else if (fabs(u - y / (1 - p)) <= 1e-9 * (1 + fabs(y)))
                        kept++;
                    else {
                        if (first_bad < 0) {
                            first_bad = tb * DH + d * H + j;
                            bad_u = u;
                            bad_y = y;
                        }
                        bad++;
                    }
                    if (shared && d == 1 && out[tb * DH + H + j] != out[tb * DH + j])
                        mismatch_dirs++;
                }
        CHECK_MSG(bad == 0, "%ld of %ld layer-2 inputs are neither 0 nor layer-1 output/(1-p) "
                  "(first at %lld: input %.17g, layer-1 output %.17g, expected 0 or %.17g)",
                  bad, total, (long long)first_bad, bad_u, bad_y, bad_y / (1 - p));
        /* expected drops p * total = 75 (D=1) or 150 (D=2), sd ~7.5 or ~10.6 */
        double lo = p * (double)total - 4.5 * sqrt(p * (1 - p) * (double)total);
        double hi = p * (double)total + 4.5 * sqrt(p * (1 - p) * (double)total);
        if (shared) { /* both directions see one mask: half the draws, counted twice */
            lo = p * (double)total - 2 * 4.5 * sqrt(p * (1 - p) * (double)total / 2);
            hi = p * (double)total + 2 * 4.5 * sqrt(p * (1 - p) * (double)total / 2);
        }
        CHECK_MSG((double)dropped >= lo && (double)dropped <= hi,
                  "dropped %ld of %ld inputs, expected %.0f..%.0f for p = %g", dropped, total,
                  lo, hi, p);
        if (shared)
            CHECK_MSG(mismatch_dirs == 0, "%ld elements: the two directions of layer 2 saw "
                      "different dropout masks on the same input column", mismatch_dirs);
        (void)kept;
    }
done:
    free(x);
    free(y0);
    free(out);
    free(ws);
    tmodel_free(&tm);
}

/* Keras-style input and recurrent dropout: a training forward's output equals the
 * reference run with the masks gru_dropout_masks reports (the reference applies m_x to
 * the input where it meets W_ih and m_h to the state where it meets W_hh, never to the
 * blend); every mask entry is 0 or 1/(1-p) at a plausible rate, the masks of different
 * layer-directions differ, the same seed repeats them, inference ignores them. */
static void keras_masks_case(const char *isa, int dtype, int L, int bidir, int reset_after,
                             int batch_first, rng *g)
{
    const int64_t I = 5, H = 6, D = bidir ? 2 : 1, T = 7, B = 4;
    const size_t nx = (size_t)(T * B * I), nout = (size_t)(T * B * D * H),
                 nh = (size_t)(L * D * B * H), es = dtype_size(dtype);
    const double pin = 0.3, prec = 0.4;
    check_set_ctx("keras dropout isa=%s %s L=%d bidir=%d reset_after=%d batch_first=%d", isa,
                  dtype == GRU_FLOAT64 ? "f64" : "f32", L, bidir, reset_after, batch_first);
    gru_config cfg = make_config(I, H, L, bidir, 1, reset_after, dtype);
    cfg.input_dropout = pin;
    cfg.recurrent_dropout = prec;
    cfg.seed = 2024;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.9))
        return;
    double *x = malloc(nx * sizeof(double));
    rng_fill(g, x, nx, -1.5, 1.5);
    round_to_dtype(x, nx, dtype);
    int32_t len[4] = {7, 3, 1, 5};
    void *xd = to_dtype(x, nx, dtype);
    void *out = nan_dtype(nout, dtype), *hn = nan_dtype(nh, dtype);
    void *out2 = nan_dtype(nout, dtype);
    double *ref_out = malloc(nout * sizeof(double)), *ref_hn = malloc(nh * sizeof(double));
    double *got = malloc((nout > nh ? nout : nh) * sizeof(double));
    const size_t in_max = (size_t)(I > D * H ? I : D * H);
    double *mx[8][2] = {{0}}, *mh[8][2] = {{0}};
    void *buf = malloc((size_t)B * in_max * 8);
    size_t wsb = 0;
    void *ws = NULL;
    REQUIRE_OK(gru_workspace_size(tm.m, T, B, 1, &wsb), goto done);
    ws = malloc(wsb);

    REQUIRE_OK(gru_forward(tm.m, 1, T, B, batch_first, xd, NULL, len, out, hn, ws, wsb),
               goto done);
    long zeros_in = 0, n_in = 0, zeros_rec = 0, n_rec = 0, bad = 0;
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            const size_t in = (size_t)(l == 0 ? I : D * H);
            mx[l][d] = malloc((size_t)B * in * sizeof(double));
            mh[l][d] = malloc((size_t)(B * H) * sizeof(double));
            REQUIRE_OK(gru_dropout_masks(tm.m, ws, wsb, l, d, buf, (size_t)B * in, NULL, 0),
                       goto done);
            from_dtype(mx[l][d], buf, (size_t)B * in, dtype);
            REQUIRE_OK(gru_dropout_masks(tm.m, ws, wsb, l, d, NULL, 0, buf, (size_t)(B * H)),
                       goto done);
            from_dtype(mh[l][d], buf, (size_t)(B * H), dtype);
            for (size_t i = 0; i < (size_t)B * in; i++) {
                zeros_in += mx[l][d][i] == 0;
                bad += mx[l][d][i] != 0 && fabs(mx[l][d][i] - 1 / (1 - pin)) > 1e-6;
            }
            for (size_t i = 0; i < (size_t)(B * H); i++) {
                zeros_rec += mh[l][d][i] == 0;
                bad += mh[l][d][i] != 0 && fabs(mh[l][d][i] - 1 / (1 - prec)) > 1e-6;
            }
            n_in += (long)(B * (int64_t)in);
            n_rec += (long)(B * H);
            tm.ref.mask_in[l][d] = mx[l][d];
            tm.ref.mask_rec[l][d] = mh[l][d];
        }
    CHECK_MSG(bad == 0, "%ld mask entries are neither 0 nor 1/(1-p)", bad);
    CHECK_MSG(fabs((double)zeros_in - pin * n_in) <= 4.5 * sqrt(pin * (1 - pin) * n_in) + 1,
              "input mask: %ld of %ld zeros for p = %g", zeros_in, n_in, pin);
    CHECK_MSG(fabs((double)zeros_rec - prec * n_rec) <= 4.5 * sqrt(prec * (1 - prec) * n_rec) + 1,
              "recurrent mask: %ld of %ld zeros for p = %g", zeros_rec, n_rec, prec);
    if (L > 1 || D > 1)
        CHECK_MSG(memcmp(mh[0][0], mh[L - 1][D - 1], (size_t)(B * H) * sizeof(double)) != 0,
                  "two layer-directions drew the same recurrent mask");

    ref_forward(&tm.ref, T, B, batch_first, x, NULL, len, ref_out, ref_hn);
    const double tol = dtype == GRU_FLOAT64 ? 1e-12 : 2e-5;
    from_dtype(got, out, nout, dtype);
    CHECK_CLOSE("output vs reference with the reported masks", ref_out, got, nout, tol);
    from_dtype(got, hn, nh, dtype);
    CHECK_CLOSE("h_n vs reference with the reported masks", ref_hn, got, nh, tol);

    /* the same seed gives the same masks; inference applies none */
    CHECK_OK(gru_set_seed(tm.m, 2024));
    CHECK_OK(gru_forward(tm.m, 1, T, B, batch_first, xd, NULL, len, out2, NULL, ws, wsb));
    CHECK_SAME("output: training forward after gru_set_seed(same seed)", out2, out, nout * es);
    CHECK_OK(gru_forward(tm.m, 0, T, B, batch_first, xd, NULL, len, out2, NULL, NULL, 0));
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) tm.ref.mask_in[l][d] = tm.ref.mask_rec[l][d] = NULL;
    ref_forward(&tm.ref, T, B, batch_first, x, NULL, len, ref_out, NULL);
    from_dtype(got, out2, nout, dtype);
    CHECK_CLOSE("inference output vs reference without masks", ref_out, got, nout, tol);

    /* the getter's argument checks */
    const size_t in0 = (size_t)(B * I);
    CHECK_STATUS(gru_dropout_masks(tm.m, ws, wsb, L, 0, buf, in0, NULL, 0), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_dropout_masks(tm.m, ws, wsb, 0, D, buf, in0, NULL, 0), GRU_ERR_INVALID_ARG);
    CHECK_STATUS(gru_dropout_masks(tm.m, ws, wsb, 0, 0, buf, in0 - 1, NULL, 0),
                 GRU_ERR_SIZE_MISMATCH);
    CHECK_STATUS(gru_dropout_masks(tm.m, ws, wsb, 0, 0, NULL, 0, buf, (size_t)(B * H) + 1),
                 GRU_ERR_SIZE_MISMATCH);
    CHECK_STATUS(gru_dropout_masks(tm.m, ws, 16, 0, 0, buf, in0, NULL, 0), GRU_ERR_WORKSPACE);
    CHECK_STATUS(gru_dropout_masks(NULL, ws, wsb, 0, 0, buf, in0, NULL, 0), GRU_ERR_NULL);
    CHECK_OK(gru_forward(tm.m, 0, T, B, batch_first, xd, NULL, len, out2, NULL, ws, wsb));
    CHECK_STATUS(gru_dropout_masks(tm.m, ws, wsb, 0, 0, buf, in0, NULL, 0), GRU_ERR_WRONG_MODE);
done:
    for (int l = 0; l < 8; l++)
        for (int d = 0; d < 2; d++) {
            free(mx[l][d]);
            free(mh[l][d]);
        }
    free(buf);
    free(x);
    free(xd);
    free(out);
    free(out2);
    free(hn);
    free(ref_out);
    free(ref_hn);
    free(got);
    free(ws);
    tmodel_free(&tm);
}

/* With input_dropout and recurrent_dropout 0, gru_dropout_masks reports all-ones masks. */
static void no_masks_case(const char *isa, rng *g)
{
    check_set_ctx("keras dropout off isa=%s", isa);
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = 3;
    cfg.hidden_size = 2;
    cfg.dtype = GRU_FLOAT64;
    tmodel tm;
    if (!tmodel_create(&tm, &cfg, g, 0.5))
        return;
    double x[2 * 3 * 3] = {0}, out[2 * 3 * 2], mx[3 * 3], mh[3 * 2];
    size_t wsb = 0;
    gru_workspace_size(tm.m, 2, 3, 1, &wsb);
    void *ws = malloc(wsb);
    CHECK_OK(gru_forward(tm.m, 1, 2, 3, 0, x, NULL, NULL, out, NULL, ws, wsb));
    CHECK_OK(gru_dropout_masks(tm.m, ws, wsb, 0, 0, mx, 9, mh, 6));
    int ones = 1;
    for (int i = 0; i < 9; i++) ones &= mx[i] == 1.0;
    for (int i = 0; i < 6; i++) ones &= mh[i] == 1.0;
    CHECK_MSG(ones, "masks of a model without input/recurrent dropout are not all ones");
    free(ws);
    tmodel_free(&tm);
}

void test_dropout(const char *isa)
{
    rng g = {31337};
    determinism_case(isa, GRU_FLOAT64, &g);
    determinism_case(isa, GRU_FLOAT32, &g);
    for (int bidir = 0; bidir <= 1; bidir++) {
        single_layer_case(isa, GRU_FLOAT64, bidir, &g);
        single_layer_case(isa, GRU_FLOAT32, bidir, &g);
    }
    mask_probe_case(isa, 1, 0, 1, &g);
    mask_probe_case(isa, 1, 0, 0, &g);
    mask_probe_case(isa, 2, 0, 1, &g);
    mask_probe_case(isa, 2, 1, 0, &g);
    for (int dt = 0; dt < 2; dt++) {
        const int dtype = dt ? GRU_FLOAT32 : GRU_FLOAT64;
        keras_masks_case(isa, dtype, 1, 0, 1, 0, &g);
        keras_masks_case(isa, dtype, 1, 0, 0, 1, &g);
        keras_masks_case(isa, dtype, 2, 1, 1, 1, &g);
        keras_masks_case(isa, dtype, 2, 1, 0, 0, &g);
        keras_masks_case(isa, dtype, 3, 0, 0, 1, &g);
    }
    no_masks_case(isa, &g);
    check_set_ctx("%s", "");
}
