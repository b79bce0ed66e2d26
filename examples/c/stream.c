/*
 * stream.c - using libgru from a C program (built through pkg-config, see Makefile).
 *
 * Builds a 2-layer float32 GRU, gives it deterministic weights by walking its parameter
 * list (gru_param_count / gru_param_info / gru_param_set), then runs one 48-step batch
 * through it three times: whole; in chunks of 5, 11, 16 and 16 steps, each chunk
 * starting from the h_n of the one before; and frame by frame with gru_step, the way a
 * live audio or sensor stream is fed (state owned here and updated in place, scratch
 * allocated once, nothing allocated per frame). A unidirectional GRU gives the same
 * result every way (frame by frame: bitwise); the program checks that, prints the final
 * states and exits 0, or prints the failing call's status and exits 1.
 *
 *   cc stream.c $(pkg-config --cflags --libs gru) -o stream
 */
#include <gru.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { I = 3, H = 8, L = 2, B = 2, T = 48 };

#define TRY(call)                                                                    \
    do {                                                                             \
        gru_status st_ = (call);                                                     \
        if (st_ != GRU_OK) {                                                         \
            fprintf(stderr, "stream: %s failed: %s\n", #call, gru_strerror(st_));   \
            goto fail;                                                               \
        }                                                                            \
    } while (0)

int main(void)
{
    static float x[T][B][I];        /* input, time-major (T, B, I) */
    static float whole[T][B][H];    /* output of the whole-sequence run (T, B, H) */
    static float streamed[T][B][H]; /* output of the chunked run (T, B, H) */
    static float hn_whole[L][B][H], state[L][B][H]; /* (L, B, H) final states */
    static float live[L][B][H];     /* (L, B, H) the frame-by-frame streams' state */
    static float frame_out[B][H];   /* (B, H) one frame's output */
    static const int chunks[] = {5, 11, 16, 16};    /* sums to T */
    gru_model *model = NULL;
    float *w = NULL;
    void *scratch = NULL;
    int rc = 1;

    if (gru_abi_version() != GRU_ABI_VERSION) {
        fprintf(stderr, "stream: built against ABI %d, loaded ABI %d\n", GRU_ABI_VERSION,
                gru_abi_version());
        return 1;
    }

    gru_config cfg;
    gru_config_init(&cfg); /* float32, bias, reset_after (PyTorch), 1 direction */
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = L;
    TRY(gru_create(&cfg, &model));

    /* deterministic weights in (-0.5, 0.5), different for every tensor */
    size_t count = 0;
    TRY(gru_param_count(model, &count));
    for (size_t p = 0; p < count; p++) {
        const char *name;
        int ndim;
        int64_t shape[2];
        TRY(gru_param_info(model, p, &name, &ndim, shape));
        size_t n = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
        float *nw = realloc(w, n * sizeof *w);
        if (!nw)
            goto fail;
        w = nw;
        for (size_t i = 0; i < n; i++)
            w[i] = 0.5f * (float)sin(0.37 * (double)i + 1.9 * (double)p + 0.3);
        TRY(gru_param_set(model, name, w, n));
    }

    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int k = 0; k < I; k++)
                x[t][b][k] = (float)sin(0.21 * t + 0.8 * k + 1.7 * b);

    /* whole sequence: inference, no workspace (the library allocates its scratch) */
    TRY(gru_forward(model, 0, T, B, 0, x, NULL, NULL, whole, hn_whole, NULL, 0));

    /* streamed: each chunk starts from the previous chunk's final states */
    int t0 = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        TRY(gru_forward(model, 0, chunks[c], B, 0, x[t0], t0 ? (const void *)state : NULL,
                        NULL, streamed[t0], state, NULL, 0));
        t0 += chunks[c];
    }

    /* frame by frame: the streams start from zeros; one scratch serves every frame */
    size_t scratch_bytes = 0;
    TRY(gru_step_scratch_size(model, B, &scratch_bytes));
    if (!(scratch = malloc(scratch_bytes)))
        goto fail;
    int frames_same = 1;
    for (int t = 0; t < T; t++) {
        TRY(gru_step(model, B, x[t], live, frame_out, scratch, scratch_bytes));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                frames_same &= frame_out[b][j] == whole[t][b][j];
    }
    for (int l = 0; l < L; l++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                frames_same &= live[l][b][j] == hn_whole[l][b][j];
    if (!frames_same) {
        fprintf(stderr, "stream: gru_step frame by frame differs from the whole sequence\n");
        goto fail;
    }

    double maxdiff = 0, maxabs = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                maxdiff = fmax(maxdiff, fabs((double)streamed[t][b][j] - whole[t][b][j]));
                maxabs = fmax(maxabs, fabs((double)whole[t][b][j]));
            }
    for (int l = 0; l < L; l++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                maxdiff = fmax(maxdiff, fabs((double)state[l][b][j] - hn_whole[l][b][j]));

    printf("libgru %s, kernels \"%s\": %d layers, hidden %d, %d steps streamed in chunks "
           "of 5/11/16/16\n", gru_version(), gru_isa(model), L, H, T);
    for (int b = 0; b < B; b++) {
        printf("final state of sequence %d:", b);
        for (int j = 0; j < H; j++)
            printf(" %+.5f", state[L - 1][b][j]);
        printf("\n");
    }
    printf("max |streamed - whole| = %.3g (largest output %.3g); gru_step frame by frame: "
           "bitwise equal\n", maxdiff, maxabs);
    if (!(maxdiff <= 1e-5 * maxabs) || maxabs == 0) {
        fprintf(stderr, "stream: streamed and whole-sequence results differ\n");
        goto fail;
    }
    printf("stream: OK\n");
    rc = 0;
fail:
    free(scratch);
    free(w);
    gru_destroy(model);
    return rc;
}
