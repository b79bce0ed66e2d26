/* bench/fma_peak.c - the float32 FMA throughput of one core, measured: a loop of
 * independent vector FMAs (no loads, no stores), the ceiling no GEMM can beat.
 *
 * bench/machine.py compiles this file with the system C compiler into a shared
 * library (cc -O2 -shared -fPIC) and calls it through ctypes, from one Python thread
 * per core. Each kernel is compiled for its ISA with a target attribute and chosen
 * at run time, so one build runs on any x86-64 CPU (and the plain C loop elsewhere).
 *
 * Guarantees: fma_peak_run(iters, &flops) executes exactly iters * ACC vector FMAs
 * on ACC independent accumulators (enough to cover FMA latency x pipes on current
 * cores; 12 for AVX2, whose 16 registers cannot hold 16 and the operands), sets *flops to the float32 FLOPs done (2 per lane per FMA) and returns a
 * value derived from every accumulator so nothing is optimised away. The values
 * converge to 1.0 (a = a * 0.9999999 + 1e-7): no overflow, no denormals.
 * fma_peak_isa() names the kernel used. FMA_PEAK_ISA=avx2 (or plain) in the environment
 * forces a narrower kernel: the peak of the AVX2 path on an AVX-512 CPU (compare.py
 * --isa avx2 sets it), which is half the AVX-512 peak where AVX-512 has full-width
 * FMA units and the same where 512-bit FMAs are split in two (AMD Zen 4).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ACC 16   /* independent accumulators: >= FMA latency (4) x FMA pipes (2) */

/* The 16 accumulators are named variables, not an array, so that the compiler keeps
 * them in registers at -O2 (an array ends up in memory: a store-forwarding loop). */
#define FMA16(op, b, c)                                                              \
    a0 = op(a0, b, c); a1 = op(a1, b, c); a2 = op(a2, b, c); a3 = op(a3, b, c);     \
    a4 = op(a4, b, c); a5 = op(a5, b, c); a6 = op(a6, b, c); a7 = op(a7, b, c);     \
    a8 = op(a8, b, c); a9 = op(a9, b, c); a10 = op(a10, b, c); a11 = op(a11, b, c); \
    a12 = op(a12, b, c); a13 = op(a13, b, c); a14 = op(a14, b, c); a15 = op(a15, b, c)
#define SUM16(add) \
    add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))), \
        add(add(add(a8, a9), add(a10, a11)), add(add(a12, a13), add(a14, a15))))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f")))
static float run_avx512(long iters, double *flops)
{
    const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(1.00f), a1 = _mm512_set1_ps(1.01f), a2 = _mm512_set1_ps(1.02f),
           a3 = _mm512_set1_ps(1.03f), a4 = _mm512_set1_ps(1.04f), a5 = _mm512_set1_ps(1.05f),
           a6 = _mm512_set1_ps(1.06f), a7 = _mm512_set1_ps(1.07f), a8 = _mm512_set1_ps(1.08f),
           a9 = _mm512_set1_ps(1.09f), a10 = _mm512_set1_ps(1.10f), a11 = _mm512_set1_ps(1.11f),
           a12 = _mm512_set1_ps(1.12f), a13 = _mm512_set1_ps(1.13f), a14 = _mm512_set1_ps(1.14f),
           a15 = _mm512_set1_ps(1.15f);
    for (long i = 0; i < iters; i++) {
        FMA16(_mm512_fmadd_ps, b, c);
    }
    *flops = (double)iters * ACC * 16 * 2;
    return _mm512_reduce_add_ps(SUM16(_mm512_add_ps));
}

/* AVX2 has 16 vector registers: 16 accumulators plus b and c would spill (the loop then
 * measured 65 of the 115 GFLOP/s this Zen 4 core does), so this kernel keeps 12
 * (still >= latency 4 x 2 pipes) and b, c in registers. */
#define FMA12(op, b, c)                                                              \
    a0 = op(a0, b, c); a1 = op(a1, b, c); a2 = op(a2, b, c); a3 = op(a3, b, c);     \
    a4 = op(a4, b, c); a5 = op(a5, b, c); a6 = op(a6, b, c); a7 = op(a7, b, c);     \
    a8 = op(a8, b, c); a9 = op(a9, b, c); a10 = op(a10, b, c); a11 = op(a11, b, c)
#define SUM12(add) \
    add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))), \
        add(add(a8, a9), add(a10, a11)))
#define ACC_AVX2 12

__attribute__((target("avx2,fma")))
static float run_avx2(long iters, double *flops)
{
    const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f), a2 = _mm256_set1_ps(1.02f),
           a3 = _mm256_set1_ps(1.03f), a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f),
           a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f), a8 = _mm256_set1_ps(1.08f),
           a9 = _mm256_set1_ps(1.09f), a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
    for (long i = 0; i < iters; i++) {
        FMA12(_mm256_fmadd_ps, b, c);
    }
    float out[8];
    _mm256_storeu_ps(out, SUM12(_mm256_add_ps));
    *flops = (double)iters * ACC_AVX2 * 8 * 2;
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

#define PLAIN_FMA(a, b, c) ((a) * (b) + (c))
#define PLAIN_ADD(a, b) ((a) + (b))
static float run_plain(long iters, double *flops)
{
    float a0 = 1.00f, a1 = 1.01f, a2 = 1.02f, a3 = 1.03f, a4 = 1.04f, a5 = 1.05f, a6 = 1.06f,
          a7 = 1.07f, a8 = 1.08f, a9 = 1.09f, a10 = 1.10f, a11 = 1.11f, a12 = 1.12f,
          a13 = 1.13f, a14 = 1.14f, a15 = 1.15f;
    for (long i = 0; i < iters; i++) {
        FMA16(PLAIN_FMA, 0.9999999f, 1e-7f);
    }
    *flops = (double)iters * ACC * 2;
    return SUM16(PLAIN_ADD);
}

/* The widest kernel this CPU runs, or a narrower one FMA_PEAK_ISA asks for:
 * 2 AVX-512, 1 AVX2+FMA, 0 plain C. */
static int kernel(void)
{
    const char *force = getenv("FMA_PEAK_ISA");
    int k = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) k = 2;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k = 1;
#endif
    if (force && strcmp(force, "avx2") == 0 && k > 1) k = 1;
    if (force && strcmp(force, "plain") == 0) k = 0;
    return k;
}

const char *fma_peak_isa(void)
{
    static const char *const names[] = {"plain C", "avx2+fma", "avx512f"};
    return names[kernel()];
}

float fma_peak_run(long iters, double *flops)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    switch (kernel()) {
    case 2: return run_avx512(iters, flops);
    case 1: return run_avx2(iters, flops);
    default: break;
    }
#endif
    return run_plain(iters, flops);
}
