/*
 * dispatch.c - chooses a kernel table for a new model: the one the environment
 * variable GRU_ISA names, or else the best this build has and this CPU runs. Chosen at
 * gru_create and stored in the model: no global mutable state. New ISAs add a line to
 * the table below (with a CPU feature test) and a kernels/<isa>.c file.
 */
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"

/* Candidates from worst to best, each with a test that the running CPU can use it. */
static int always(void) { return 1; }

static const struct {
    const gru_kernels *table;
    int (*usable)(void);
} candidates[] = {
    {&gru_kernels_scalar, always},
};
#define NCAND (sizeof candidates / sizeof candidates[0])

const gru_kernels *gru_select_kernels(int *unavailable)
{
    const char *want = getenv("GRU_ISA");
    *unavailable = 0;
    if (want && *want) {
        for (size_t i = 0; i < NCAND; i++)
            if (strcmp(want, candidates[i].table->name) == 0 && candidates[i].usable())
                return candidates[i].table;
        *unavailable = 1;
        return NULL;
    }
    for (size_t i = NCAND; i-- > 0;)
        if (candidates[i].usable()) return candidates[i].table;
    return &gru_kernels_scalar;
}

const char *gru_kernels_available(void)
{
    /* Only the scalar table exists in this build; when more are added this becomes a
     * string built from the candidates that pass usable() (into a buffer the caller
     * owns, or a constant per CPU class), keeping the no-global-state rule. */
    return "scalar";
}
