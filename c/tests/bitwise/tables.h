/*
 * tables.h - the recorded tables of test_bitwise.c, one per (architecture, ISA). Each
 * file is written by `test_gru bitwise-record` (how: test_bitwise.c's header comment);
 * add a line below for a new one.
 */
#ifndef GRU_TESTS_BITWISE_TABLES_H
#define GRU_TESTS_BITWISE_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "x86_64_scalar.h"
#include "x86_64_avx2.h"
#include "x86_64_avx512.h"
#include "aarch64_scalar.h"
#include "aarch64_neon.h"

typedef struct bw_table {
    const char *arch, *isa;
    const uint64_t *h;   /* per configuration: tensor count, then one hash per tensor */
    size_t n;
} bw_table;

#define BW_ENTRY(a, i) {#a, #i, bw_##a##_##i, sizeof bw_##a##_##i / sizeof bw_##a##_##i[0]}
static const bw_table bw_tables[] = {
    BW_ENTRY(x86_64, scalar), BW_ENTRY(x86_64, avx2), BW_ENTRY(x86_64, avx512),
    BW_ENTRY(aarch64, scalar), BW_ENTRY(aarch64, neon),
};
#undef BW_ENTRY

#endif
