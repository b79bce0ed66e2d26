/*
 * test_vmath.c - accuracy, special-value, cross-ISA and throughput test of libgru's
 * vector exp, sigmoid and tanh (c/src/kernels/vmath_{avx2,avx512,neon}.h). One source,
 * compiled once per ISA with -DVM_AVX2 / -DVM_AVX512 / -DVM_NEON and that ISA's flags
 * (see the Makefile here).
 *
 * Reference (never the product itself):
 *   float32: libm in double: exp(x); sigmoid = e/(1+e) (x <= 0) or 1/(1+1/e) (x > 0)
 *            with e = exp(x); tanh(x). Within ~1e-15 relative of the exact value.
 *   float64: libm in long double (x86: 64-bit significand; aarch64: IEEE quad): expl;
 *            e/(1+e) or 1/(1+expl(-x)); tanhl.
 * Two error measures per result y and reference f:
 *   - distance in representable steps between y and f rounded to the type (the "ulp
 *     error vs the correctly rounded value"; the pass/fail criterion, <= target);
 *   - |y - f| / ulp(f), ulp(f) = the ulp of f's binade (2^-149 / 2^-1074 below the
 *     normal range, +-inf counted as +-2^128 / +-2^1024): the real-valued error vs the
 *     exact value, reported with the input where it peaks and a histogram.
 *
 * Coverage (non-finite inputs are in the specials):
 *   --full    float32: all 2^32 bit patterns; float64: 10^8 random inputs (see gen_f64)
 *             + 2^14 consecutive doubles around each critical point.
 *   --quick   float32: 2^24 strided patterns (random offset within each stride) + 2^16
 *             consecutive floats around each critical point; float64: 2^21 random.
 *   --sample  float32: 2^26 strided + 2^20 around each critical point; float64: 2^20
 *             (for qemu). --f32-log2, --win32-log2, --f64-samples, --win64-log2 resize.
 * Always: a table of special values (+-0, +-inf, NaN, saturation, subnormals, tails),
 * each placed in every lane position in turn among ordinary inputs whose results are
 * checked too. The AVX-512 build also runs the AVX2 functions on every input and
 * requires identical bits; --expect-hash compares a hash of the outputs on fixed inputs
 * with another ISA's (--hash-only prints it).
 *
 * Targets (ulp from the correctly rounded result): float32 exp 2, sigmoid 3, tanh 3;
 * float64 4. Prints a line per function, failures, then "N passed, N failed" as its
 * last line; exit status 1 if any check failed.
 *
 * Other options: --threads N (default 1), --no-bench, --bench-only, --reps N,
 * --verbose (print passing specials too).
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(VM_AVX512)
#include "kernels/vmath_avx512.h"
#if !defined(__AVX512F__)
#error "compile with -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma"
#endif
#define ISA "avx512"
#define WF 16
#define WD 8
typedef __m512 vf_t;
typedef __m512d vd_t;
#define LDF(p) _mm512_loadu_ps(p)
#define STF(p, v) _mm512_storeu_ps(p, v)
#define LDD(p) _mm512_loadu_pd(p)
#define STD(p, v) _mm512_storeu_pd(p, v)
#define V_EXP_F gru_exp_ps512
#define V_SIG_F gru_sigmoid_ps512
#define V_TANH_F gru_tanh_ps512
#define V_EXP_D gru_exp_pd512
#define V_SIG_D gru_sigmoid_pd512
#define V_TANH_D gru_tanh_pd512
#elif defined(VM_AVX2)
#include "kernels/vmath_avx2.h"
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile with -mavx2 -mfma"
#endif
#define ISA "avx2"
#define WF 8
#define WD 4
typedef __m256 vf_t;
typedef __m256d vd_t;
#define LDF(p) _mm256_loadu_ps(p)
#define STF(p, v) _mm256_storeu_ps(p, v)
#define LDD(p) _mm256_loadu_pd(p)
#define STD(p, v) _mm256_storeu_pd(p, v)
#define V_EXP_F gru_exp_ps256
#define V_SIG_F gru_sigmoid_ps256
#define V_TANH_F gru_tanh_ps256
#define V_EXP_D gru_exp_pd256
#define V_SIG_D gru_sigmoid_pd256
#define V_TANH_D gru_tanh_pd256
#elif defined(VM_NEON)
#include "kernels/vmath_neon.h"
#if !defined(__ARM_NEON) || !defined(__aarch64__)
#error "NEON test needs an aarch64 compiler"
#endif
#define ISA "neon"
#define WF 4
#define WD 2
typedef float32x4_t vf_t;
typedef float64x2_t vd_t;
#define LDF(p) vld1q_f32(p)
#define STF(p, v) vst1q_f32(p, v)
#define LDD(p) vld1q_f64(p)
#define STD(p, v) vst1q_f64(p, v)
#define V_EXP_F gru_exp_f32x4
#define V_SIG_F gru_sigmoid_f32x4
#define V_TANH_F gru_tanh_f32x4
#define V_EXP_D gru_exp_f64x2
#define V_SIG_D gru_sigmoid_f64x2
#define V_TANH_D gru_tanh_f64x2
#else
#error "define VM_AVX2, VM_AVX512 or VM_NEON"
#endif

/* The AVX-512 build also runs the AVX2 versions on every input and requires identical
 * bits (same operations, same order: only the 2^n scaling differs, and both round it
 * once). */
#if defined(VM_AVX512) && defined(__AVX2__) && defined(__FMA__)
#include "kernels/vmath_avx2.h"
#define XCHECK 1
#define XISA "avx2"
#endif

enum { F_EXP, F_SIG, F_TANH, NFUNC };
static const char *fname[NFUNC] = {"exp", "sigmoid", "tanh"};
/* Targets in ulp from the correctly rounded result. */
static const double target_f32[NFUNC] = {2.0, 3.0, 3.0};
static const double target_f64[NFUNC] = {4.0, 4.0, 4.0};

static long n_pass, n_fail;
static int verbose;
/* sample sizes (log2), set from the mode and options in main */
static int lg_f32 = 24, lg_win32 = 16, lg_win64 = 14;

/* Counts one check; prints it when it failed, when `always` is set, or in --verbose. */
static void report(int ok, int always, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(int ok, int always, const char *fmt, ...)
{
    if (ok) n_pass++;
    else n_fail++;
    if (ok && !always && !verbose) return;
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* ---- array wrappers (n a multiple of the vector width) --------------------------- */
#define DEF_APPLY(name, T, W, LD, ST, FN)                                 \
    static __attribute__((noinline)) void name(const T *x, T *y, size_t n) \
    {                                                                     \
        for (size_t i = 0; i < n; i += W) ST(y + i, FN(LD(x + i)));      \
    }
DEF_APPLY(v_exp_f, float, WF, LDF, STF, V_EXP_F)
DEF_APPLY(v_sig_f, float, WF, LDF, STF, V_SIG_F)
DEF_APPLY(v_tanh_f, float, WF, LDF, STF, V_TANH_F)
DEF_APPLY(v_exp_d, double, WD, LDD, STD, V_EXP_D)
DEF_APPLY(v_sig_d, double, WD, LDD, STD, V_SIG_D)
DEF_APPLY(v_tanh_d, double, WD, LDD, STD, V_TANH_D)
#ifdef XCHECK
DEF_APPLY(x_exp_f, float, 8, _mm256_loadu_ps, _mm256_storeu_ps, gru_exp_ps256)
DEF_APPLY(x_sig_f, float, 8, _mm256_loadu_ps, _mm256_storeu_ps, gru_sigmoid_ps256)
DEF_APPLY(x_tanh_f, float, 8, _mm256_loadu_ps, _mm256_storeu_ps, gru_tanh_ps256)
DEF_APPLY(x_exp_d, double, 4, _mm256_loadu_pd, _mm256_storeu_pd, gru_exp_pd256)
DEF_APPLY(x_sig_d, double, 4, _mm256_loadu_pd, _mm256_storeu_pd, gru_sigmoid_pd256)
DEF_APPLY(x_tanh_d, double, 4, _mm256_loadu_pd, _mm256_storeu_pd, gru_tanh_pd256)
#endif
typedef void (*apply_f)(const float *, float *, size_t);
typedef void (*apply_d)(const double *, double *, size_t);
static const apply_f vf_fn[NFUNC] = {v_exp_f, v_sig_f, v_tanh_f};
static const apply_d vd_fn[NFUNC] = {v_exp_d, v_sig_d, v_tanh_d};
#ifdef XCHECK
static const apply_f xf_fn[NFUNC] = {x_exp_f, x_sig_f, x_tanh_f};
static const apply_d xd_fn[NFUNC] = {x_exp_d, x_sig_d, x_tanh_d};
#endif

/* ---- references --------------------------------------------------------------------- */
/* float32 references in double; one exp call serves exp and sigmoid. */
static void ref_f32(float xf, double *r_exp, double *r_sig, double *r_tanh)
{
    const double x = xf, e = exp(x);
    *r_exp = e;
    *r_sig = x <= 0 ? e / (1.0 + e) : 1.0 / (1.0 + 1.0 / e);
    *r_tanh = tanh(x);
}

static long double ref_f64(int fn, double xd)
{
    const long double x = xd;
    switch (fn) {
    case F_EXP: return expl(x);
    case F_SIG: {
        if (x <= 0) { const long double e = expl(x); return e / (1.0L + e); }
        return 1.0L / (1.0L + expl(-x));
    }
    default: return tanhl(x);
    }
}

/* Error of y in float32 ulps of the reference f (see the header comment). */
static double ulp_err_f32(float y, double f)
{
    if (isnan(f) || isnan(y)) return (isnan(f) && isnan(y)) ? 0.0 : INFINITY;
    if (y == (float)f && isinf(y)) return 0.0;
    if (isinf(f)) return INFINITY;
    const double Y = isinf(y) ? copysign(0x1p128, y) : (double)y;
    /* ulp = 2^(clamp(exponent of f, -126, 127) - 23), built from the bits (fast) */
    const double a = fabs(f);
    uint64_t b;
    memcpy(&b, &a, 8);
    int e = (int)(b >> 52) - 1023;
    e = e < -126 ? -126 : e > 127 ? 127 : e;
    b = (uint64_t)(e - 23 + 1023) << 52;
    double ulp;
    memcpy(&ulp, &b, 8);
    return fabs(Y - f) / ulp;
}

static double ulp_err_f64(double y, long double f)
{
    if (isnan(f) || isnan(y)) return (isnan(f) && isnan(y)) ? 0.0 : INFINITY;
    if (y == (double)f && isinf(y)) return 0.0;
    if (isinf(f)) return INFINITY;
    const long double Y = isinf(y) ? copysignl(0x1p1024L, y) : (long double)y;
    const long double a = fabsl(f);
    int e = a < 0x1p-1022L ? -1022 : ilogbl(a);
    if (e > 1023) e = 1023;
    return (double)(fabsl(Y - f) / ldexpl(1.0L, e - 52));
}

/* Distance in representable steps between y and the reference rounded to the type
 * (the "ulp error vs the correctly rounded value"); NaN vs NaN is 0, NaN vs number huge. */
static uint32_t bits32(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }
static uint64_t bits64(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }
static int64_t mono32(float v)
{
    const uint32_t u = bits32(v);
    return (u >> 31) ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
}
static int64_t mono64(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return (u >> 63) ? -(int64_t)(u & ~(1ull << 63)) : (int64_t)u;
}
static uint64_t dist_f32(float y, double f)
{
    if (isnan(f) || isnan(y)) return (isnan(f) && isnan(y)) ? 0 : UINT64_MAX;
    const int64_t d = mono32(y) - mono32((float)f);
    return (uint64_t)(d < 0 ? -d : d);
}
static uint64_t dist_f64(double y, long double f)
{
    if (isnan(f) || isnan(y)) return (isnan(f) && isnan(y)) ? 0 : UINT64_MAX;
    const int64_t a = mono64(y), b = mono64((double)f);
    return a > b ? (uint64_t)(a - b) : (uint64_t)(b - a);
}

/* ---- statistics --------------------------------------------------------------------- */
typedef struct {
    double max_err;
    double x_at_max;     /* input giving max_err */
    double y_at_max;     /* result there */
    double ref_at_max;   /* reference there */
    uint64_t n, over;    /* checked, above target */
    uint64_t max_dist;   /* max distance in ulps (representable steps) from the correctly
                            rounded reference */
    uint64_t hist[4];    /* > 0.5, > 1, > 2, > 3 ulp */
    uint64_t xdiff;      /* results differing (bits; NaN = NaN) from the XCHECK ISA */
} stats_t;

static void stats_add(stats_t *s, double err, uint64_t dist, double x, double y, double ref,
                      double tgt)
{
    s->n++;
    if (dist > s->max_dist) s->max_dist = dist;
    if (dist > (uint64_t)tgt) s->over++;
    if (err > 0.5) {
        s->hist[0]++;
        if (err > 1) s->hist[1]++;
        if (err > 2) s->hist[2]++;
        if (err > 3) s->hist[3]++;
    }
    if (err > s->max_err || (s->n == 1 && err >= s->max_err)) {
        s->max_err = err; s->x_at_max = x; s->y_at_max = y; s->ref_at_max = ref;
    }
}

static void stats_merge(stats_t *a, const stats_t *b)
{
    if (b->n && (b->max_err > a->max_err || !a->n)) {
        a->max_err = b->max_err; a->x_at_max = b->x_at_max;
        a->y_at_max = b->y_at_max; a->ref_at_max = b->ref_at_max;
    }
    if (b->max_dist > a->max_dist) a->max_dist = b->max_dist;
    a->n += b->n;
    a->xdiff += b->xdiff;
    a->over += b->over;
    for (int i = 0; i < 4; i++) a->hist[i] += b->hist[i];
}

/* ---- float32 sweep --------------------------------------------------------------------- */
#define BLK 4096

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Evaluates all three functions on the given bit patterns (non-finite ones skipped). */
static void check_f32_block(const uint32_t *bits, size_t n, stats_t st[NFUNC])
{
    float x[BLK], y[NFUNC][BLK];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, &bits[i], 4);
        if (isfinite(v)) x[m++] = v;
    }
    while (m % WF) x[m++] = 0.0f;   /* padding: counted, harmless */
    for (int f = 0; f < NFUNC; f++) vf_fn[f](x, y[f], m);
#ifdef XCHECK
    {
        float z[BLK];
        for (int f = 0; f < NFUNC; f++) {
            xf_fn[f](x, z, m);
            for (size_t i = 0; i < m; i++)
                if (!(isnan(z[i]) && isnan(y[f][i])) && bits32(z[i]) != bits32(y[f][i]))
                    st[f].xdiff++;
        }
    }
#endif
    for (size_t i = 0; i < m; i++) {
        double r[NFUNC];
        ref_f32(x[i], &r[F_EXP], &r[F_SIG], &r[F_TANH]);
        for (int f = 0; f < NFUNC; f++)
            stats_add(&st[f], ulp_err_f32(y[f][i], r[f]), dist_f32(y[f][i], r[f]), x[i], y[f][i],
                      r[f], target_f32[f]);
    }
}

typedef struct {
    int kind;                 /* 0 exhaustive range, 1 strided, 2 windows */
    uint64_t lo, hi;          /* index range handled by this thread */
    uint64_t stride;
    const uint32_t *centers;  /* windows: center bit patterns */
    uint64_t half;            /* windows: patterns on each side */
    stats_t st[NFUNC];
} f32_job;

static void *f32_worker(void *arg)
{
    f32_job *j = arg;
    uint32_t bits[BLK];
    uint64_t seed = 12345 + j->lo;
    for (uint64_t i = j->lo; i < j->hi;) {
        size_t n = 0;
        for (; n < BLK && i < j->hi; n++, i++) {
            if (j->kind == 0) bits[n] = (uint32_t)i;
            else if (j->kind == 1) bits[n] = (uint32_t)(i * j->stride + splitmix(&seed) % j->stride);
            else {
                /* window w, offset k in [-half, half): step through the float ordering */
                const uint64_t w = i / (2 * j->half), k = i % (2 * j->half);
                const uint32_t c = j->centers[w];
                const int64_t off = (int64_t)k - (int64_t)j->half;
                /* signed-magnitude bits -> monotone integer and back */
                int64_t mono = (c & 0x80000000u) ? -(int64_t)(c & 0x7fffffffu) : (int64_t)c;
                mono += off;
                bits[n] = mono < 0 ? (uint32_t)(-mono) | 0x80000000u : (uint32_t)mono;
            }
        }
        check_f32_block(bits, n, j->st);
    }
    return NULL;
}

static void run_jobs(int kind, uint64_t total, uint64_t stride, const uint32_t *centers,
                     uint64_t half, int threads, stats_t out[NFUNC])
{
    f32_job jobs[64];
    pthread_t tid[64];
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    for (int t = 0; t < threads; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].kind = kind;
        jobs[t].lo = total * t / threads;
        jobs[t].hi = total * (t + 1) / threads;
        jobs[t].stride = stride;
        jobs[t].centers = centers;
        jobs[t].half = half;
        if (threads > 1) pthread_create(&tid[t], NULL, f32_worker, &jobs[t]);
        else f32_worker(&jobs[t]);
    }
    for (int t = 0; t < threads; t++) {
        if (threads > 1) pthread_join(tid[t], NULL);
        for (int f = 0; f < NFUNC; f++) stats_merge(&out[f], &jobs[t].st[f]);
    }
}


/* Points where the methods switch or the results change regime. */
static const float crit_f32[] = {
    0.0f, 0x1p-126f, 0.5625f, -0.5625f, 0.5493061f, -0.5493061f, 0.5f, -0.5f, 0.34657359f, -0.34657359f, 1.0f, -1.0f, 2.0f, -2.0f,
    88.7228394f, 89.0f, -87.3365479f, -88.7228394f, -103.972076f, -104.0f,
    9.0109134f, -9.0109134f, 17.328680f, -17.328680f, 0x1p-12f, -0x1p-12f, 0x1p-25f, -0x1p-25f,
    43.5f, -43.5f, 44.0f, -44.0f,
};
#define NCRIT_F32 (sizeof crit_f32 / sizeof crit_f32[0])

static void print_stats(const char *dtype, int f, const stats_t *s, double tgt, const char *what)
{
    report(s->over == 0, 1,
           "%-7s %s [%s]: max %llu ulp from the correctly rounded result (target %.0f), "
           "%llu of %llu over; max error %.3f ulp vs the exact value at x=%a (%.9g: got %a, "
           "ref %.17g); errors >0.5: %llu, >1: %llu, >2: %llu, >3: %llu  (%s)",
           fname[f], dtype, ISA, (unsigned long long)s->max_dist, tgt,
           (unsigned long long)s->over, (unsigned long long)s->n, s->max_err, s->x_at_max,
           s->x_at_max, s->y_at_max, s->ref_at_max, (unsigned long long)s->hist[0],
           (unsigned long long)s->hist[1], (unsigned long long)s->hist[2],
           (unsigned long long)s->hist[3], what);
#ifdef XCHECK
    report(s->xdiff == 0, 1, "%-7s %s [%s]: bit-identical to the %s version on the same %llu "
           "inputs (%llu differ)", fname[f], dtype, ISA, XISA, (unsigned long long)s->n,
           (unsigned long long)s->xdiff);
#endif
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void test_f32(int mode, int threads)
{
    stats_t st[NFUNC];
    memset(st, 0, sizeof st);
    const double t0 = now();
    char what[160];
    if (mode == 0) {
        run_jobs(0, 1ull << 32, 1, NULL, 0, threads, st);
        snprintf(what, sizeof what, "all finite float32, exhaustive");
    } else {
        const int lg = lg_f32, lgw = lg_win32;
        uint32_t centers[NCRIT_F32];
        for (size_t i = 0; i < NCRIT_F32; i++) centers[i] = bits32(crit_f32[i]);
        run_jobs(1, 1ull << lg, 1ull << (32 - lg), NULL, 0, threads, st);
        run_jobs(2, NCRIT_F32 << lgw, 1, centers, 1ull << (lgw - 1), threads, st);
        snprintf(what, sizeof what, "2^%d strided + 2^%d around each of %zu points", lg, lgw,
                 NCRIT_F32);
    }
    for (int f = 0; f < NFUNC; f++) print_stats("f32", f, &st[f], target_f32[f], what);
    printf("      (float32 sweep took %.1f s on %d thread(s))\n", now() - t0, threads);
}

/* ---- float64 sample ----------------------------------------------------------------- */
typedef struct {
    uint64_t lo, hi;
    stats_t st[NFUNC];
} f64_job;

static const double crit_f64[] = {
    0.5625, -0.5625, 0.5493061443340549, 0.5, -0.5, 0.34657359027997264, 709.782712893384, 709.7827128933841, -708.3964185322641,
    -745.1332191019411, -745.1332191019412, 710.0, -746.0, 354.0, -354.0, 36.7368005696771,
    -36.7368005696771, 19.06154746539849, -19.06154746539849, 0x1p-26, 0x1p-1022, 1.0, -1.0,
};
#define NCRIT_F64 (sizeof crit_f64 / sizeof crit_f64[0])

static double gen_f64(uint64_t i)
{
    uint64_t s = 0xD1B54A32D192ED03ull ^ (i * 0x9E3779B97F4A7C15ull);
    const uint64_t a = splitmix(&s), b = splitmix(&s);
    const double u = (double)(a >> 11) * 0x1p-53;         /* [0, 1) */
    const double sg = (b & 1) ? -1.0 : 1.0;
    switch ((b >> 1) % 10) {
    case 0: case 1: case 2: case 3:    /* binade uniform in 2^-60..2^10, exact (no libm) */
        return sg * ldexp(1.0 + u, -60 + (int)((b >> 8) % 71));
    case 4: case 5: case 6:                                 /* uniform [-40, 40] */
        return 40.0 * (2 * u - 1);
    case 7: case 8:                                         /* uniform [-750, 750] */
        return 750.0 * (2 * u - 1);
    default: {                                              /* any finite pattern */
        double x;
        uint64_t bits = a;
        memcpy(&x, &bits, 8);
        return isfinite(x) ? x : sg * u;
    }
    }
}

static void *f64_worker(void *arg)
{
    f64_job *j = arg;
    double x[BLK], y[NFUNC][BLK];
    const uint64_t nwin = NCRIT_F64 << lg_win64; /* 2^lg_win64 consecutive doubles/point */
    const uint64_t wmask = (1ull << lg_win64) - 1;
    for (uint64_t i = j->lo; i < j->hi;) {
        size_t n = 0;
        for (; n < BLK && i < j->hi; n++, i++) {
            if (i < nwin) {
                /* step through the float64 ordering via a monotone integer map */
                const double c = crit_f64[i >> lg_win64];
                uint64_t b;
                memcpy(&b, &c, 8);
                int64_t mono = (b >> 63) ? -(int64_t)(b & ~(1ull << 63)) : (int64_t)b;
                mono += (int64_t)(i & wmask) - (int64_t)((wmask + 1) / 2);
                b = mono < 0 ? (uint64_t)(-mono) | (1ull << 63) : (uint64_t)mono;
                memcpy(&x[n], &b, 8);
            } else {
                x[n] = gen_f64(i);
            }
        }
        while (n % WD) x[n++] = 0.0;
        for (int f = 0; f < NFUNC; f++) vd_fn[f](x, y[f], n);
#ifdef XCHECK
        for (int f = 0; f < NFUNC; f++) {
            double z[BLK];
            xd_fn[f](x, z, n);
            for (size_t k = 0; k < n; k++)
                if (!(isnan(z[k]) && isnan(y[f][k])) && bits64(z[k]) != bits64(y[f][k]))
                    j->st[f].xdiff++;
        }
#endif
        for (size_t k = 0; k < n; k++)
            for (int f = 0; f < NFUNC; f++) {
                const long double r = ref_f64(f, x[k]);
                stats_add(&j->st[f], ulp_err_f64(y[f][k], r), dist_f64(y[f][k], r), x[k], y[f][k],
                          (double)r, target_f64[f]);
            }
    }
    return NULL;
}

static void test_f64(uint64_t samples, int threads)
{
    stats_t st[NFUNC];
    memset(st, 0, sizeof st);
    const double t0 = now();
    const uint64_t total = samples + (NCRIT_F64 << lg_win64);
    f64_job jobs[64];
    pthread_t tid[64];
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    for (int t = 0; t < threads; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].lo = total * t / threads;
        jobs[t].hi = total * (t + 1) / threads;
        if (threads > 1) pthread_create(&tid[t], NULL, f64_worker, &jobs[t]);
        else f64_worker(&jobs[t]);
    }
    for (int t = 0; t < threads; t++) {
        if (threads > 1) pthread_join(tid[t], NULL);
        for (int f = 0; f < NFUNC; f++) stats_merge(&st[f], &jobs[t].st[f]);
    }
    char what[160];
    snprintf(what, sizeof what,
             "%llu random (log-uniform 2^-60..2^11, U[-40,40], U[-750,750], any pattern) "
             "+ 2^%d around each of %zu points; ref long double",
             (unsigned long long)samples, lg_win64, NCRIT_F64);
    for (int f = 0; f < NFUNC; f++) print_stats("f64", f, &st[f], target_f64[f], what);
    printf("      (float64 sample took %.1f s on %d thread(s))\n", now() - t0, threads);
}

/* ---- special values ----------------------------------------------------------------- */
/* Expected results follow from the definitions: exact where the correctly rounded value
 * is exactly representable and known (0, 1, +-inf, x itself), "ulp" where it is
 * checked against the libm reference with the accuracy target. */
enum { EXACT, ISNAN, ULP };
typedef struct { int fn; double x; double want; int how; } special_t;

static const special_t specials_f32[] = {
    {F_EXP, 0.0, 1.0, EXACT}, {F_EXP, -0.0, 1.0, EXACT},
    {F_EXP, INFINITY, INFINITY, EXACT}, {F_EXP, -INFINITY, 0.0, EXACT},
    {F_EXP, NAN, NAN, ISNAN}, {F_EXP, -NAN, NAN, ISNAN},
    {F_EXP, 89.0, INFINITY, EXACT}, {F_EXP, 1000.0, INFINITY, EXACT},
    {F_EXP, FLT_MAX, INFINITY, EXACT}, {F_EXP, -FLT_MAX, 0.0, EXACT},
    {F_EXP, -104.0, 0.0, EXACT}, {F_EXP, -1000.0, 0.0, EXACT},
    {F_EXP, 0x1p-149, 1.0, EXACT}, {F_EXP, -0x1p-149, 1.0, EXACT},
    {F_EXP, -100.0, 0, ULP}, {F_EXP, -103.5, 0, ULP}, {F_EXP, 88.5, 0, ULP}, {F_EXP, 1.0, 0, ULP},
    {F_SIG, 0.0, 0.5, EXACT}, {F_SIG, -0.0, 0.5, EXACT},
    {F_SIG, INFINITY, 1.0, EXACT}, {F_SIG, -INFINITY, 0.0, EXACT},
    {F_SIG, NAN, NAN, ISNAN}, {F_SIG, -NAN, NAN, ISNAN},
    {F_SIG, 20.0, 1.0, EXACT}, {F_SIG, 100.0, 1.0, EXACT}, {F_SIG, FLT_MAX, 1.0, EXACT},
    {F_SIG, -FLT_MAX, 0.0, EXACT}, {F_SIG, -120.0, 0.0, EXACT},
    {F_SIG, 0x1p-149, 0.5, EXACT},
    {F_SIG, -80.0, 0, ULP}, {F_SIG, -95.0, 0, ULP}, {F_SIG, -103.0, 0, ULP},
    {F_SIG, -17.0, 0, ULP}, {F_SIG, 16.0, 0, ULP},
    {F_TANH, 0.0, 0.0, EXACT}, {F_TANH, -0.0, -0.0, EXACT},
    {F_TANH, INFINITY, 1.0, EXACT}, {F_TANH, -INFINITY, -1.0, EXACT},
    {F_TANH, NAN, NAN, ISNAN}, {F_TANH, -NAN, NAN, ISNAN},
    {F_TANH, 10.0, 1.0, EXACT}, {F_TANH, -10.0, -1.0, EXACT},
    {F_TANH, FLT_MAX, 1.0, EXACT}, {F_TANH, -FLT_MAX, -1.0, EXACT},
    {F_TANH, 0x1p-149, 0x1p-149, EXACT}, {F_TANH, -0x1p-140, -0x1p-140, EXACT},
    {F_TANH, 0x1p-20, 0x1p-20, EXACT}, {F_TANH, -0x1p-126, -0x1p-126, EXACT},
    {F_TANH, 0.4999999702, 0, ULP}, {F_TANH, 0.5, 0, ULP}, {F_TANH, -0.5, 0, ULP},
    {F_TANH, 1e-3, 0, ULP},
};

static const special_t specials_f64[] = {
    {F_EXP, 0.0, 1.0, EXACT}, {F_EXP, -0.0, 1.0, EXACT},
    {F_EXP, INFINITY, INFINITY, EXACT}, {F_EXP, -INFINITY, 0.0, EXACT},
    {F_EXP, NAN, NAN, ISNAN}, {F_EXP, -NAN, NAN, ISNAN},
    {F_EXP, 710.0, INFINITY, EXACT}, {F_EXP, 1e5, INFINITY, EXACT},
    {F_EXP, DBL_MAX, INFINITY, EXACT}, {F_EXP, -DBL_MAX, 0.0, EXACT},
    {F_EXP, -746.0, 0.0, EXACT}, {F_EXP, -1e5, 0.0, EXACT},
    {F_EXP, 0x1p-1074, 1.0, EXACT}, {F_EXP, -0x1p-1074, 1.0, EXACT},
    {F_EXP, -740.0, 0, ULP}, {F_EXP, -710.0, 0, ULP}, {F_EXP, 709.5, 0, ULP}, {F_EXP, 1.0, 0, ULP},
    {F_SIG, 0.0, 0.5, EXACT}, {F_SIG, -0.0, 0.5, EXACT},
    {F_SIG, INFINITY, 1.0, EXACT}, {F_SIG, -INFINITY, 0.0, EXACT},
    {F_SIG, NAN, NAN, ISNAN}, {F_SIG, -NAN, NAN, ISNAN},
    {F_SIG, 40.0, 1.0, EXACT}, {F_SIG, 800.0, 1.0, EXACT}, {F_SIG, DBL_MAX, 1.0, EXACT},
    {F_SIG, -DBL_MAX, 0.0, EXACT}, {F_SIG, -800.0, 0.0, EXACT},
    {F_SIG, 0x1p-1074, 0.5, EXACT},
    {F_SIG, -80.0, 0, ULP}, {F_SIG, -700.0, 0, ULP}, {F_SIG, -740.0, 0, ULP},
    {F_SIG, -36.0, 0, ULP}, {F_SIG, 36.0, 0, ULP},
    {F_TANH, 0.0, 0.0, EXACT}, {F_TANH, -0.0, -0.0, EXACT},
    {F_TANH, INFINITY, 1.0, EXACT}, {F_TANH, -INFINITY, -1.0, EXACT},
    {F_TANH, NAN, NAN, ISNAN}, {F_TANH, -NAN, NAN, ISNAN},
    {F_TANH, 20.0, 1.0, EXACT}, {F_TANH, -20.0, -1.0, EXACT},
    {F_TANH, DBL_MAX, 1.0, EXACT}, {F_TANH, -DBL_MAX, -1.0, EXACT},
    {F_TANH, 0x1p-1074, 0x1p-1074, EXACT}, {F_TANH, -0x1p-1060, -0x1p-1060, EXACT},
    {F_TANH, 0x1p-30, 0x1p-30, EXACT}, {F_TANH, -0x1p-1022, -0x1p-1022, EXACT},
    {F_TANH, 0.49999999999999994, 0, ULP}, {F_TANH, 0.5, 0, ULP}, {F_TANH, -0.5, 0, ULP},
    {F_TANH, 1e-3, 0, ULP},
};

static int same_bits_f32(float a, float b) { return bits32(a) == bits32(b); }
static int same_bits_f64(double a, double b) { return bits64(a) == bits64(b); }

/* Each special value sits in its own vector lane among ordinary inputs (every lane
 * position is used), so lane mixing and blends are exercised too. */
static void test_specials(void)
{
    const long fail0 = n_fail, pass0 = n_pass;
    const size_t nsf = sizeof specials_f32 / sizeof specials_f32[0];
    const size_t nsd = sizeof specials_f64 / sizeof specials_f64[0];
    for (size_t i = 0; i < nsf; i++) {
        const special_t *s = &specials_f32[i];
        float x[WF], y[WF];
        for (int k = 0; k < WF; k++) x[k] = 0.25f * (float)(k + 1) - 2.0f;
        const int lane = (int)(i % WF);
        x[lane] = (float)s->x;
        vf_fn[s->fn](x, y, WF);
        const float got = y[lane];
        int ok;
        double r[NFUNC];
        ref_f32(x[lane], &r[F_EXP], &r[F_SIG], &r[F_TANH]);
        const double err = ulp_err_f32(got, r[s->fn]);
        if (s->how == ISNAN) ok = isnan(got);
        else if (s->how == EXACT) ok = same_bits_f32(got, (float)s->want);
        else ok = dist_f32(got, r[s->fn]) <= (uint64_t)target_f32[s->fn];
        /* the other lanes must be unaffected */
        int bad = -1;
        for (int k = 0; k < WF; k++) {
            if (k == lane) continue;
            ref_f32(x[k], &r[F_EXP], &r[F_SIG], &r[F_TANH]);
            if (dist_f32(y[k], r[s->fn]) > (uint64_t)target_f32[s->fn]) bad = k;
        }
        char nb[96] = "";
        if (bad >= 0) {
            ok = 0;
            snprintf(nb, sizeof nb, "; WRONG neighbour lane %a -> %a", x[bad], y[bad]);
        }
        report(ok, 0, "special %-7s f32 [%s] x=%a -> %a (%.9g), %.3f ulp%s", fname[s->fn], ISA,
               x[lane], got, got, err, nb);
    }
    for (size_t i = 0; i < nsd; i++) {
        const special_t *s = &specials_f64[i];
        double x[WD], y[WD];
        for (int k = 0; k < WD; k++) x[k] = 0.25 * (k + 1) - 2.0;
        const int lane = (int)(i % WD);
        x[lane] = s->x;
        vd_fn[s->fn](x, y, WD);
        const double got = y[lane];
        int ok;
        const double err = ulp_err_f64(got, ref_f64(s->fn, x[lane]));
        if (s->how == ISNAN) ok = isnan(got);
        else if (s->how == EXACT) ok = same_bits_f64(got, s->want);
        else ok = dist_f64(got, ref_f64(s->fn, x[lane])) <= (uint64_t)target_f64[s->fn];
        int bad = -1;
        for (int k = 0; k < WD; k++)
            if (k != lane && dist_f64(y[k], ref_f64(s->fn, x[k])) > (uint64_t)target_f64[s->fn])
                bad = k;
        char nb[96] = "";
        if (bad >= 0) {
            ok = 0;
            snprintf(nb, sizeof nb, "; WRONG neighbour lane %a -> %a", x[bad], y[bad]);
        }
        report(ok, 0, "special %-7s f64 [%s] x=%a -> %a (%.17g), %.3f ulp%s", fname[s->fn], ISA,
               x[lane], got, got, err, nb);
    }
    printf("specials [%s]: %ld of %ld special-value checks passed (exact results for +-0, "
           "+-inf, NaN, saturation, tiny x; ulp target for tails), %s\n", ISA, n_pass - pass0,
           n_pass - pass0 + n_fail - fail0, n_fail == fail0 ? "all PASS" : "FAILURES above");
}

/* ---- throughput --------------------------------------------------------------------- */
static volatile double sink;

static __attribute__((noinline)) void s_exp_f(const float *x, float *y, size_t n)
{ for (size_t i = 0; i < n; i++) y[i] = expf(x[i]); }
static __attribute__((noinline)) void s_sig_f(const float *x, float *y, size_t n)
{ for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i])); }
static __attribute__((noinline)) void s_tanh_f(const float *x, float *y, size_t n)
{ for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]); }
static __attribute__((noinline)) void s_exp_d(const double *x, double *y, size_t n)
{ for (size_t i = 0; i < n; i++) y[i] = exp(x[i]); }
static __attribute__((noinline)) void s_sig_d(const double *x, double *y, size_t n)
{ for (size_t i = 0; i < n; i++) y[i] = 1.0 / (1.0 + exp(-x[i])); }
static __attribute__((noinline)) void s_tanh_d(const double *x, double *y, size_t n)
{ for (size_t i = 0; i < n; i++) y[i] = tanh(x[i]); }
static const apply_f sf_fn[NFUNC] = {s_exp_f, s_sig_f, s_tanh_f};
static const apply_d sd_fn[NFUNC] = {s_exp_d, s_sig_d, s_tanh_d};

/* ns per element: best of 5 runs of `reps` passes over a 4 KB array. */
static double bench_f(apply_f fn, const float *x, float *y, size_t n, int reps)
{
    double best = 1e30;
    for (int run = 0; run < 5; run++) {
        const double t0 = now();
        for (int r = 0; r < reps; r++) fn(x, y, n);
        const double t = (now() - t0) / ((double)reps * n) * 1e9;
        if (t < best) best = t;
        sink += y[n / 2];
    }
    return best;
}
static double bench_d(apply_d fn, const double *x, double *y, size_t n, int reps)
{
    double best = 1e30;
    for (int run = 0; run < 5; run++) {
        const double t0 = now();
        for (int r = 0; r < reps; r++) fn(x, y, n);
        const double t = (now() - t0) / ((double)reps * n) * 1e9;
        if (t < best) best = t;
        sink += y[n / 2];
    }
    return best;
}

static void bench(int reps)
{
    enum { NF = 1024, ND = 512 };   /* 4 KB of inputs */
    static float xf[NF], yf[NF];
    static double xd[ND], yd[ND];
    uint64_t s = 42;
    for (int i = 0; i < NF; i++) xf[i] = (float)(((double)(splitmix(&s) >> 11) * 0x1p-53) * 16 - 8);
    for (int i = 0; i < ND; i++) xd[i] = ((double)(splitmix(&s) >> 11) * 0x1p-53) * 16 - 8;
    printf("throughput [%s], inputs uniform in [-8, 8], 4 KB array in L1, best of 5:\n", ISA);
    printf("  %-8s %-5s %12s %12s %8s\n", "function", "dtype", "vector ns/el", "libm ns/el",
           "speedup");
    for (int f = 0; f < NFUNC; f++) {
        const double v = bench_f(vf_fn[f], xf, yf, NF, reps);
        const double l = bench_f(sf_fn[f], xf, yf, NF, reps / 4 + 1);
        printf("  %-8s %-5s %12.3f %12.3f %7.1fx\n", fname[f], "f32", v, l, l / v);
    }
    for (int f = 0; f < NFUNC; f++) {
        const double v = bench_d(vd_fn[f], xd, yd, ND, reps);
        const double l = bench_d(sd_fn[f], xd, yd, ND, reps / 4 + 1);
        printf("  %-8s %-5s %12.3f %12.3f %7.1fx\n", fname[f], "f64", v, l, l / v);
    }
    printf("  (libm sigmoid = 1/(1+exp(-x)) in the same type)\n");
}

/* ---- output hash (cross-ISA comparison) -------------------------------------------- */
/* FNV-1a over the results of all six functions on fixed inputs (2^20 float32 bit
 * patterns spread over the whole range, 2^18 float64 from gen_f64); NaNs hashed as
 * one canonical value. The ISAs run the same operations in the same order, so the
 * hashes must agree (make test-neon compares NEON under qemu against AVX2). */
static void output_hash(uint64_t *h32, uint64_t *h64)
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0xcbf29ce484222325ull;
    float x[BLK], y[BLK];
    for (uint32_t i0 = 0; i0 < (1u << 20); i0 += BLK) {
        for (uint32_t k = 0; k < BLK; k++) {
            const uint32_t i = i0 + k, u = (i << 12) | ((i * 2654435761u) >> 20);
            memcpy(&x[k], &u, 4);
        }
        for (int f = 0; f < NFUNC; f++) {
            vf_fn[f](x, y, BLK);
            for (uint32_t k = 0; k < BLK; k++) {
                uint32_t u;
                memcpy(&u, &y[k], 4);
                if (isnan(y[k])) u = 0x7fc00000u;
                for (int byte = 0; byte < 4; byte++) a = (a ^ ((u >> (8 * byte)) & 0xff)) * 0x100000001b3ull;
            }
        }
    }
    double xd[BLK], yd[BLK];
    for (uint64_t i0 = 0; i0 < (1u << 18); i0 += BLK) {
        for (uint64_t k = 0; k < BLK; k++) xd[k] = gen_f64(i0 + k);
        for (int f = 0; f < NFUNC; f++) {
            vd_fn[f](xd, yd, BLK);
            for (uint64_t k = 0; k < BLK; k++) {
                uint64_t u;
                memcpy(&u, &yd[k], 8);
                if (isnan(yd[k])) u = 0x7ff8000000000000ull;
                for (int byte = 0; byte < 8; byte++) b = (b ^ ((u >> (8 * byte)) & 0xff)) * 0x100000001b3ull;
            }
        }
    }
    *h32 = a;
    *h64 = b;
}

int main(int argc, char **argv)
{
    int mode = 1, threads = 1, do_bench = 1, do_acc = 1, do_hash = 0, reps = 2000;
    long long f64n = -1;
    int set_lg = -1, set_w32 = -1, set_w64 = -1;
    const char *expect = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) mode = 0;
        else if (!strcmp(argv[i], "--quick")) mode = 1;
        else if (!strcmp(argv[i], "--sample")) mode = 2;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--f64-samples") && i + 1 < argc) f64n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--f32-log2") && i + 1 < argc) set_lg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--win32-log2") && i + 1 < argc) set_w32 = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--win64-log2") && i + 1 < argc) set_w64 = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-bench")) do_bench = 0;
        else if (!strcmp(argv[i], "--bench-only")) do_acc = 0;
        else if (!strcmp(argv[i], "--hash-only")) { do_acc = 0; do_bench = 0; do_hash = 1; }
        else if (!strcmp(argv[i], "--expect-hash") && i + 1 < argc) { expect = argv[++i]; do_hash = 1; }
        else if (!strcmp(argv[i], "--verbose")) verbose = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--full|--quick|--sample] [--threads N] [--f64-samples N]\n"
                    "       [--f32-log2 N] [--win32-log2 N] [--win64-log2 N] [--reps N]\n"
                    "       [--no-bench|--bench-only|--hash-only] [--expect-hash H32,H64]"
                    " [--verbose]\n", argv[0]);
            return 2;
        }
    }
    if (f64n < 0) f64n = mode == 0 ? 100000000LL : mode == 1 ? (1LL << 21) : (1LL << 20);
    lg_f32 = set_lg > 0 ? set_lg : mode == 2 ? 26 : 24;
    lg_win32 = set_w32 > 0 ? set_w32 : mode == 2 ? 20 : 16;
    lg_win64 = set_w64 > 0 ? set_w64 : 14;
    if (lg_f32 > 32 || lg_win32 > 28 || lg_win64 > 24 || lg_win32 < 1 || lg_win64 < 1) {
        fprintf(stderr, "sample sizes out of range\n");
        return 2;
    }
    printf("test_vmath [%s] mode=%s threads=%d\n", ISA,
           mode == 0 ? "full" : mode == 1 ? "quick" : "sample", threads);
    if (do_acc) {
        test_specials();
        test_f32(mode, threads);
        test_f64((uint64_t)f64n, threads);
    }
    if (do_hash) {
        uint64_t h32, h64;
        output_hash(&h32, &h64);
        char got[40];
        snprintf(got, sizeof got, "%016llx,%016llx", (unsigned long long)h32,
                 (unsigned long long)h64);
        printf("output-hash %s\n", got);
        if (expect)
            report(!strcmp(expect, got), 1,
                   "[%s] outputs bit-identical to the reference ISA's on 2^20 float32 + 2^18 "
                   "float64 inputs (hash %s, expected %s)", ISA, got, expect);
    }
    if (do_bench) bench(reps);
    printf("%ld passed, %ld failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
