/*
 * dispatch.c - chooses a kernel table for a new model: the one the environment
 * variable GRU_ISA names, or else the best this build has and this CPU runs. Chosen at
 * gru_create and stored in the model: no global mutable state. A new ISA adds a
 * kernels/<isa>.c file and a line to the candidates below.
 */
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"

static int always(void) { return 1; }

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
/* __builtin_cpu_supports also checks that the OS saves the wider registers. */
static int has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int has_avx512(void)
{
    __builtin_cpu_init();
    return has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
}
#else
static int has_avx2(void) { return 0; }
static int has_avx512(void) { return 0; }
#endif

/* NEON (with FMA) is baseline on AArch64: every aarch64 build and CPU has it. */
#if defined(__aarch64__) && defined(__ARM_NEON)
static int has_neon(void) { return 1; }
#else
static int has_neon(void) { return 0; }
#endif

/* Candidates from worst to best. A table with no name was not built for its ISA. */
static const struct {
    const gru_kernels *table;
    int (*usable)(void);
} candidates[] = {
    {&gru_kernels_scalar, always},
    {&gru_kernels_neon, has_neon},
    {&gru_kernels_avx2, has_avx2},
    {&gru_kernels_avx512, has_avx512},
};
#define NCAND (sizeof candidates / sizeof candidates[0])

static int usable(size_t i) { return candidates[i].table->name && candidates[i].usable(); }

const gru_kernels *gru_select_kernels(int *unavailable)
{
    const char *want = getenv("GRU_ISA");
    *unavailable = 0;
    if (want && *want) {
        for (size_t i = 0; i < NCAND; i++)
            if (usable(i) && strcmp(want, candidates[i].table->name) == 0)
                return candidates[i].table;
        *unavailable = 1;
        return NULL;
    }
    for (size_t i = NCAND; i-- > 0;)
        if (usable(i)) return candidates[i].table;
    return &gru_kernels_scalar;
}

const char *gru_kernels_available(void)
{
    /* One constant string per possible set (no buffer to fill, no global state). NEON
     * (candidate 1) and the x86 sets (2, 3) never come in the same build. */
    const int ne = usable(1), a2 = usable(2), a5 = usable(3);
    if (ne) return "scalar neon";
    return a5 && a2 ? "scalar avx2 avx512" : a5 ? "scalar avx512" : a2 ? "scalar avx2" : "scalar";
}
