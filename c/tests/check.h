/*
 * check.h - the tests' tiny framework: CHECK macros that count passes and failures and
 * print one line per failure ("FAIL file:line [case]: what, values"), plus the shared
 * helpers of the C test suite (random numbers, dtype conversion, tensor comparison, a
 * naive float64 reference GRU and a model wrapper that keeps a float64 copy of the
 * parameters). Tests reach libgru only through <gru.h>.
 *
 * Guarantees: a check counts exactly one pass or one failure; REQUIRE_* count only
 * failures (setup steps) and run `onfail` (e.g. `goto done`) when they fail.
 */
#ifndef GRU_TESTS_CHECK_H
#define GRU_TESTS_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <gru.h>

/* ---- counters and context -------------------------------------------------------- */
extern long check_passed, check_failed;
extern char check_ctx[512];       /* the current case, printed with each failure */
extern int check_status_seen[32]; /* which status codes CHECK_STATUS has observed */

/* Records one check; prints "FAIL file:line [ctx]: <message>" when ok is 0. Returns ok. */
int check_report(int ok, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Records a failure only (pass not counted). Returns ok. */
int check_require(int ok, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int check_status_impl(int got, int expected, int count_pass, const char *expr,
                      const char *file, int line);
void check_set_ctx(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#define CHECK(cond) check_report(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define CHECK_MSG(cond, ...) check_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_STATUS(expr, expected) \
    check_status_impl((int)(expr), (int)(expected), 1, #expr, __FILE__, __LINE__)
#define CHECK_OK(expr) CHECK_STATUS(expr, GRU_OK)
#define CHECK_INT_EQ(a, b)                                                           \
    check_report((long long)(a) == (long long)(b), __FILE__, __LINE__,               \
                 "%s == %s: got %lld, expected %lld", #a, #b, (long long)(a),        \
                 (long long)(b))
/* Setup step: counts nothing on success; on failure counts one failure and runs onfail. */
#define REQUIRE_OK(expr, onfail)                                                     \
    do {                                                                             \
        if (!check_status_impl((int)(expr), GRU_OK, 0, #expr, __FILE__, __LINE__)) { \
            onfail;                                                                  \
        }                                                                            \
    } while (0)
#define REQUIRE(cond, onfail)                                                        \
    do {                                                                             \
        if (!check_require(!!(cond), __FILE__, __LINE__, "%s", #cond)) {             \
            onfail;                                                                  \
        }                                                                            \
    } while (0)

/* Compares got to ref (n doubles): max|got - ref| / max|ref| <= tol (max|ref| = 0 is
 * taken as 1). Prints the error, the scale and the worst element on failure. NaN in got
 * fails. Returns ok; *err_out (if not NULL) receives the relative error. */
int check_close_impl(const char *what, const double *ref, const double *got, size_t n,
                     double tol, double *err_out, const char *file, int line);
#define CHECK_CLOSE(what, ref, got, n, tol) \
    check_close_impl(what, ref, got, n, tol, NULL, __FILE__, __LINE__)
/* Bitwise equality of two buffers; prints the first differing byte offset. */
int check_same_impl(const char *what, const void *a, const void *b, size_t bytes,
                    const char *file, int line);
#define CHECK_SAME(what, a, b, bytes) check_same_impl(what, a, b, bytes, __FILE__, __LINE__)

/* ---- helpers ---------------------------------------------------------------------- */
typedef struct rng { uint64_t s; } rng;
uint64_t rng_next(rng *g);                    /* splitmix64 */
double rng_uniform(rng *g, double lo, double hi);
void rng_fill(rng *g, double *a, size_t n, double lo, double hi);

size_t dtype_size(int dtype);
/* Rounds a in place to what the dtype can hold (float32: through float). */
void round_to_dtype(double *a, size_t n, int dtype);
/* Newly malloc'd buffer of n elements of dtype holding src (NULL src: NULL result). */
void *to_dtype(const double *src, size_t n, int dtype);
/* dst (n doubles) <- src (n elements of dtype). */
void from_dtype(double *dst, const void *src, size_t n, int dtype);
/* malloc'd n doubles / dtype elements filled with NaN. */
double *nan_doubles(size_t n);
void *nan_dtype(size_t n, int dtype);
double *dup_doubles(const double *a, size_t n);
double seconds_now(void);

/* ---- float64 reference GRU ---------------------------------------------------------- */
enum { REF_W_IH = 0, REF_W_HH = 1, REF_B_IH = 2, REF_B_HH = 3, REF_LN_IH_W = 4,
       REF_LN_IH_B = 5, REF_LN_HH_W = 6, REF_LN_HH_B = 7, REF_NKINDS = 8 };
typedef struct ref_gru {
    int64_t I, H, L;
    int D, bias, reset_after, layer_norm;
    /* p[l][d][kind]: kind 0 weight_ih (3H, in), 1 weight_hh (3H, H), 2 bias_ih (3H),
     * 3 bias_hh (3H), 4..7 layer_norm_ih_weight, _ih_bias, _hh_weight, _hh_bias (3H);
     * biases NULL when bias = 0, the layer_norm tensors NULL when layer_norm = 0.
     * Owned. */
    double *p[8][2][REF_NKINDS];
    /* Keras-style dropout masks of layer l, direction d, or NULL for none (not owned):
     * mask_in (B, in) multiplies the layer input where it meets W_ih, mask_rec (B, H)
     * the state where it meets W_hh (not in h' = (1 - z) n + z h). */
    const double *mask_in[8][2], *mask_rec[8][2];
    /* reverse: every layer runs right to left (cfg.reverse; D = 1). */
    int reverse;
    /* Zoneout: zmask[l][d] (T, B, H) time-major, 1 = keep the previous state (training,
     * not owned); NULL with zoneout > 0: the inference blend p h + (1 - p) h~. */
    double zoneout;
    const double *zmask[8][2];
    /* DropConnect: wmask[l][d] (3H, H) multiplies W_hh (not owned), or NULL. */
    const double *wmask[8][2];
    /* AUGRU (gru_config.augru): the attention, (T, B) or (B, T) as x's layout in
     * ref_forward, or NULL for the plain GRU (not owned). DIEN's form: with u = 1 - z,
     * u' = a u and h' = (1 - u') h + u' n, the same a in every layer and direction. */
    const double *att;
} ref_gru;

/* Element count of tensor kind of layer l (0 if it does not exist). */
size_t ref_tensor_size(const ref_gru *r, int l, int kind);
/* PyTorch name of tensor kind of layer l, direction d, into buf. */
void ref_tensor_name(char *buf, size_t len, int l, int d, int kind);
/* Straightforward loops in double, one step, batch row, layer and direction at a time.
 * x: (T, B, I) or (B, T, I) if batch_first; h0: (L*D, B, H) or NULL; lengths: (B) or
 * NULL; output: (T, B, D*H) or (B, T, D*H); h_n: (L*D, B, H) or NULL. */
void ref_forward(const ref_gru *r, int64_t T, int64_t B, int batch_first, const double *x,
                 const double *h0, const int32_t *lengths, double *output, double *h_n);

/* gru_config_init, then the fields nearly every test sets (the rest keep the defaults:
 * no dropout, seed 0, not reverse). */
gru_config make_config(int64_t I, int64_t H, int64_t L, int bidirectional, int bias,
                       int reset_after, int dtype);

/* ---- a libgru model with a float64 copy of its parameters --------------------------- */
typedef struct tmodel {
    gru_config cfg;
    gru_model *m;
    ref_gru ref; /* the exact values in the model (rounded to float32 for GRU_FLOAT32) */
} tmodel;

/* Creates the model and sets every parameter to uniform(-scale, scale) values. Returns 1
 * on success; on failure counts a failure and returns 0 (tm->m NULL). */
int tmodel_create(tmodel *tm, const gru_config *cfg, rng *g, double scale);
/* Creates a model of another dtype (and/or ISA env) holding tm's reference values.
 * The values must be representable (e.g. float32-rounded for a float32 target). */
int tmodel_clone(tmodel *dst, const tmodel *src, int dtype);
/* Copies tm->ref into the model (after the caller edited tm->ref). Returns 1 on success. */
int tmodel_push(tmodel *tm);
void tmodel_free(tmodel *tm);
/* Number of parameter tensors and their total element count. */
size_t tmodel_ntensors(const tmodel *tm);

/* ---- the test sections (each file's entry point) ------------------------------------ */
void test_api(void);                 /* versions, strerror, config, params */
void test_errors(void);              /* every status code */
void test_forward(const char *isa);  /* forward vs reference, workspaces */
void test_backward(const char *isa); /* finite differences, accumulation */
void test_dropout(const char *isa);  /* dropout semantics and determinism */
void test_step(const char *isa);     /* streaming steps == whole-sequence forward */
void test_layer_norm(const char *isa); /* layer_norm: tensors, step, threads bitwise */
void test_modelfile(void);           /* gru_save / gru_load */
void test_load_corpus(void);         /* the crafted files of tests/data/modelfiles */
void test_save(void);               /* gru_save: killed saves, modes, links, odd targets */
void test_bitwise(const char *isa);  /* bitwise identity with the recorded tables */
void bitwise_record(const char *isa); /* prints the table of GRU_ISA's kernel set */
void test_views(const char *isa);    /* gru_param_data / gru_grad_data / gru_params_changed */
void test_align(void);               /* GRU_ERR_MISALIGNED for every buffer argument */
void test_qfile(void);               /* int8 model files: gru_save / gru_load_file */
void test_regularize(const char *isa); /* zoneout and weight_dropout (DropConnect) */
void test_thread_contract(void);     /* gru_set_num_threads racing calls on the model */
void test_contention(void);          /* busy cores: pool offers withdrawn, results exact */
void test_quant(void);               /* int8 and bf16 models: semantics, every kernel set, accuracy */
void test_rows(const char *isa);     /* a sequence's results do not depend on its batch */
void test_augru(const char *isa);    /* AUGRU: forward vs reference, finite differences,
                                        step, threads, files, errors */

/* Sets or clears GRU_ISA (NULL clears). */
void set_isa_env(const char *isa);

#endif /* GRU_TESTS_CHECK_H */
