/*
 * cpu_check.c - exit status 0 when this CPU runs the named ISA ("avx2": AVX2 + FMA;
 * "avx512": AVX-512 F/DQ/VL/BW + FMA), 1 when it does not or is not x86. Compiled
 * without ISA flags so that it runs anywhere; the Makefile uses it to skip tests.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s avx2|avx512\n", argv[0]);
        return 2;
    }
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!strcmp(argv[1], "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 0 : 1;
    if (!strcmp(argv[1], "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("fma")
                   ? 0
                   : 1;
    fprintf(stderr, "unknown ISA %s\n", argv[1]);
    return 2;
#else
    (void)argv;
    return 1;
#endif
}
