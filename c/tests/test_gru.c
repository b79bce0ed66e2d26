/*
 * test_gru.c - entry point of the C test suite of libgru (pure C11, no framework).
 *
 * Runs the API and error tests once, then the numerical sections (forward vs the float64
 * reference, backward vs finite differences, dropout) once per kernel set: every ISA in
 * gru_available_isas(), forced with GRU_ISA, or only the one named by GRU_ISA if it is set
 * when the suite starts. Arguments select sections: api modelfile load_corpus save errors
 * forward backward dropout step layernorm views bitwise augru align threads contention
 * quant (default: all);
 * `bitwise-record` prints the bitwise table of GRU_ISA's kernel set (test_bitwise.c).
 *
 * Output: one line per failure, a timing line per section, and as the very last line
 * "N passed, N failed". Exit status 0 only if nothing failed.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdlib.h>
#include <string.h>

static int want(int argc, char **argv, const char *section)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], section) == 0)
            return 1;
    return 0;
}

static void run(const char *label, void (*fn)(void))
{
    long p0 = check_passed, f0 = check_failed;
    double t0 = seconds_now();
    fn();
    printf("%-28s %6ld passed, %4ld failed  %6.2f s\n", label, check_passed - p0,
           check_failed - f0, seconds_now() - t0);
    fflush(stdout);
}

static void run_isa(const char *label, const char *isa, void (*fn)(const char *))
{
    char buf[96];
    long p0 = check_passed, f0 = check_failed;
    double t0 = seconds_now();
    fn(isa);
    snprintf(buf, sizeof buf, "%s [%s]", label, isa);
    printf("%-28s %6ld passed, %4ld failed  %6.2f s\n", buf, check_passed - p0,
           check_failed - f0, seconds_now() - t0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double t0 = seconds_now();
    const char *env = getenv("GRU_ISA");
    if (argc == 2 && strcmp(argv[1], "bitwise-record") == 0) {
        /* prints the bitwise table of the kernel set GRU_ISA names (see test_bitwise.c) */
        if (!env || !*env) {
            fprintf(stderr, "bitwise-record: set GRU_ISA to the kernel set to record\n");
            return 2;
        }
        bitwise_record(env);
        return check_failed == 0 ? 0 : 1;
    }
    char *user_isa = env ? strdup(env) : NULL;
    printf("libgru %s (ABI %d), available ISAs: %s%s%s\n", gru_version(), gru_abi_version(),
           gru_available_isas(), user_isa ? ", GRU_ISA=" : "", user_isa ? user_isa : "");

    if (want(argc, argv, "api"))
        run("api", test_api);
    if (want(argc, argv, "modelfile"))
        run("modelfile", test_modelfile);
    if (want(argc, argv, "load_corpus"))
        run("load_corpus", test_load_corpus);
    if (want(argc, argv, "save"))
        run("save", test_save);
    if (want(argc, argv, "errors")) {
        run("errors", test_errors);
        set_isa_env(user_isa); /* test_errors sets and clears GRU_ISA */
    }
    if (want(argc, argv, "align"))
        run("align", test_align);
    if (want(argc, argv, "threads"))
        run("threads", test_thread_contract);
    if (want(argc, argv, "contention"))
        run("contention", test_contention);
    if (want(argc, argv, "quant"))
        run("quant", test_quant);
    if (want(argc, argv, "qfile"))
        run("qfile", test_qfile);

    /* the kernel sets to test */
    char isas[256];
    snprintf(isas, sizeof isas, "%s", user_isa ? user_isa : gru_available_isas());
    for (char *save = NULL, *isa = strtok_r(isas, " ", &save); isa;
         isa = strtok_r(NULL, " ", &save)) {
        set_isa_env(isa);
        if (want(argc, argv, "forward"))
            run_isa("forward", isa, test_forward);
        if (want(argc, argv, "backward"))
            run_isa("backward", isa, test_backward);
        if (want(argc, argv, "dropout"))
            run_isa("dropout", isa, test_dropout);
        if (want(argc, argv, "regularize"))
            run_isa("regularize", isa, test_regularize);
        if (want(argc, argv, "step"))
            run_isa("step", isa, test_step);
        if (want(argc, argv, "layernorm"))
            run_isa("layernorm", isa, test_layer_norm);
        if (want(argc, argv, "views"))
            run_isa("views", isa, test_views);
        if (want(argc, argv, "bitwise"))
            run_isa("bitwise", isa, test_bitwise);
        if (want(argc, argv, "rows"))
            run_isa("rows", isa, test_rows);
        if (want(argc, argv, "augru"))
            run_isa("augru", isa, test_augru);
    }
    set_isa_env(user_isa);
    free(user_isa);
    printf("total time %.2f s\n", seconds_now() - t0);
    printf("%ld passed, %ld failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}
