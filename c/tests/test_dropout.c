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
 * Finite differences with dropout are in test_backward.c.
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
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = L;
    cfg.bidirectional = 1;
    cfg.dtype = dtype;
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
    gru_config cfg;
    gru_config_init(&cfg);
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = 2;
    cfg.bidirectional = D == 2;
    cfg.reset_after = reset_after;
    cfg.dtype = GRU_FLOAT64;
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
    check_set_ctx("%s", "");
}
