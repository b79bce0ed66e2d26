/*
 * run_model.c - a model trained in Python, run from C: loads a model file (gru.save in
 * pygru, or gru_save) and streams a recording through it frame by frame with gru_step,
 * the real-time path (state owned here, scratch allocated once, nothing per frame).
 *
 *   run_model MODEL.safetensors INPUT.f32 T B OUTPUT.f32
 *
 * INPUT.f32 holds T*B*I little-endian float32 values, time-major (T, B, I); OUTPUT.f32
 * receives the last layer's output, (T, B, H). The model must be float32 and
 * unidirectional. Exits 0 on success; on failure prints the reason (gru_load's message
 * or gru_strerror) and exits 1.
 *
 *   cc run_model.c $(pkg-config --cflags --libs gru) -o run_model
 */
#include <gru.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL.safetensors INPUT.f32 T B OUTPUT.f32\n", argv[0]);
        return 1;
    }
    const long T = strtol(argv[3], NULL, 10), B = strtol(argv[4], NULL, 10);
    if (T < 1 || B < 1) {
        fprintf(stderr, "run_model: T and B must be >= 1\n");
        return 1;
    }
    char msg[512];
    gru_model *m = NULL;
    gru_status st = gru_load(argv[1], &m, msg, sizeof msg);
    if (st != GRU_OK) {
        fprintf(stderr, "run_model: %s (%s)\n", msg, gru_strerror(st));
        return 1;
    }
    gru_config cfg;
    gru_get_config(m, &cfg);
    int rc = 1;
    float *x = NULL, *y = NULL, *state = NULL;
    void *scratch = NULL;
    FILE *f = NULL;
    if (cfg.dtype != GRU_FLOAT32 || cfg.bidirectional) {
        fprintf(stderr, "run_model: needs a float32, unidirectional model\n");
        goto done;
    }
    const size_t I = (size_t)cfg.input_size, H = (size_t)cfg.hidden_size;
    const size_t L = (size_t)cfg.num_layers, nx = (size_t)T * (size_t)B * I;
    size_t sb = 0;
    x = malloc(nx * sizeof *x);
    y = malloc((size_t)T * (size_t)B * H * sizeof *y);
    state = calloc(L * (size_t)B * H, sizeof *state);   /* every stream starts at zero */
    if ((st = gru_step_scratch_size(m, B, &sb)) != GRU_OK || !x || !y || !state ||
        !(scratch = malloc(sb))) {
        fprintf(stderr, "run_model: %s\n", st ? gru_strerror(st) : "out of memory");
        goto done;
    }
    if (!(f = fopen(argv[2], "rb")) || fread(x, sizeof *x, nx, f) != nx) {
        fprintf(stderr, "run_model: cannot read %zu floats from %s\n", nx, argv[2]);
        goto done;
    }
    fclose(f);
    f = NULL;
    for (long t = 0; t < T; t++) {
        st = gru_step(m, B, x + (size_t)t * (size_t)B * I, state, y + (size_t)t * (size_t)B * H,
                      scratch, sb);
        if (st != GRU_OK) {
            fprintf(stderr, "run_model: gru_step: %s\n", gru_strerror(st));
            goto done;
        }
    }
    if (!(f = fopen(argv[5], "wb")) ||
        fwrite(y, sizeof *y, (size_t)T * (size_t)B * H, f) != (size_t)T * (size_t)B * H) {
        fprintf(stderr, "run_model: cannot write %s\n", argv[5]);
        goto done;
    }
    printf("run_model: %ld frames of %ld streams through a %zu-layer GRU (I=%zu, H=%zu, "
           "kernels %s)\n", T, B, L, I, H, gru_isa(m));
    rc = 0;
done:
    if (f && fclose(f) != 0) rc = 1;
    free(x);
    free(y);
    free(state);
    free(scratch);
    gru_destroy(m);
    return rc;
}
