/*
 * fuzz_common.h - what the libFuzzer harnesses (fuzz_load.c, fuzz_api.c) share: a
 * reader that takes bytes, integers and doubles off the fuzz input (zeros once the
 * input runs out, so every input decodes to something), the status oracle, and a
 * CHECK that aborts (libFuzzer reports it as a crash, with the input saved).
 *
 * Uses only the public header: the harnesses see libgru as a caller does.
 */
#ifndef GRU_FUZZ_COMMON_H
#define GRU_FUZZ_COMMON_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gru.h"

/* The last status code gru.h defines. Every status a call returns must lie in
 * 0..FUZZ_LAST_STATUS and have its own gru_strerror text. Bump this when gru.h gains a
 * code (GRU_ERR_BUSY = 14 and GRU_ERR_MISALIGNED = 15 are coming: then set it to
 * GRU_ERR_MISALIGNED). */
#define FUZZ_LAST_STATUS GRU_ERR_MISALIGNED

/* ---- the input as a stream of values ---------------------------------------------- */

typedef struct fz {
    const uint8_t *p;
    size_t n;
} fz;

static inline uint8_t fz_u8(fz *f)
{
    if (!f->n) return 0;
    f->n--;
    return *f->p++;
}

static inline uint32_t fz_u32(fz *f)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) v = v << 8 | fz_u8(f);
    return v;
}

static inline uint64_t fz_u64(fz *f)
{
    return (uint64_t)fz_u32(f) << 32 | fz_u32(f);
}

/* ---- checks ------------------------------------------------------------------------ */

static _Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n%s:%d: FUZZ CHECK FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define CHECK(cond, ...) \
    do { if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* A status is one of gru.h's codes and gru_strerror names it. */
static inline int fuzz_known(int st)
{
    return st >= 0 && st <= FUZZ_LAST_STATUS;
}

#define CHECK_KNOWN(call, st)                                                           \
    do {                                                                                \
        const int st_ = (int)(st);                                                      \
        CHECK(fuzz_known(st_), "%s returned %d, no gru_status of gru.h", (call), st_);  \
        const char *s_ = gru_strerror(st_);                                             \
        CHECK(s_ && strcmp(s_, "unknown status code") != 0,                             \
              "gru_strerror(%d) after %s names no status", st_, (call));               \
    } while (0)

/* Every code 0..FUZZ_LAST_STATUS has a text, and an unknown code gets one too. */
static inline void fuzz_check_strerror(void)
{
    for (int s = 0; s <= FUZZ_LAST_STATUS; s++) CHECK_KNOWN("gru_strerror", s);
    const int bad[] = {-1, FUZZ_LAST_STATUS + 1, 1000, INT32_MIN, INT32_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK(gru_strerror(bad[k]) != NULL, "gru_strerror(%d) is NULL", bad[k]);
}

#endif /* GRU_FUZZ_COMMON_H */
