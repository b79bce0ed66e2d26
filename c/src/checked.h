/*
 * checked.h - size_t arithmetic that reports overflow instead of wrapping: every size
 * libgru computes from caller input goes through these before anything is allocated.
 */
#ifndef GRU_CHECKED_H
#define GRU_CHECKED_H

#include <stddef.h>
#include <stdint.h>

/* *r = a * b; 0 on overflow (then *r is untouched). */
static inline int gru_mul(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *r = a * b;
    return 1;
}

/* *r = a + b; 0 on overflow. */
static inline int gru_add(size_t a, size_t b, size_t *r)
{
    if (b > SIZE_MAX - a) return 0;
    *r = a + b;
    return 1;
}

#endif /* GRU_CHECKED_H */
