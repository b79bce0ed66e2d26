/*
 * model.h - libgru's internal model object: its configuration, the parameter and
 * gradient buffers with the tensors' places in them, the packed weights and their
 * lazy repacking (packing.c), the kernel table and the thread pool; and the
 * declarations of the dtype drivers (gru_impl.h, compiled by gru_f32.c and gru_f64.c).
 * Shared by the public API (gru.c, load.c, save.c) and the drivers. Not installed.
 */
#ifndef GRU_MODEL_H
#define GRU_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "gru.h"
#include "checked.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "pool.h"
#include "rng.h"
#include "workspace.h"

/* The packed weights' state word (pack_state below), also the thread count: C11 atomics
 * where the compiler has them; without them (no threads either, see pool.c) a plain int. */
#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
typedef atomic_int gru_pack_word;
#define GRU_PACK_LOAD(p) atomic_load_explicit(p, memory_order_acquire)
#define GRU_PACK_STORE(p, v) atomic_store_explicit(p, v, memory_order_release)
#define GRU_PACK_INIT(p, v) atomic_init(p, v)
#else
typedef volatile int gru_pack_word;
#define GRU_PACK_LOAD(p) (*(p))
#define GRU_PACK_STORE(p, v) (*(p) = (v))
#define GRU_PACK_INIT(p, v) (*(p) = (v))
#endif
enum { GRU_PACK_CLEAN = 0, GRU_PACK_STALE = 1, GRU_PACK_BUSY = 2 };

/* One parameter tensor: its PyTorch name, shape and place in the flat buffers. */
typedef struct gru_tensor {
    char name[64];         /* e.g. "weight_hh_l2_reverse", "layer_norm_hh_bias_l0" */
    int ndim;              /* 1 or 2 */
    int64_t shape[2];
    size_t offset;         /* elements from the start of params / grads */
    size_t numel;
} gru_tensor;

/* Where layer l, direction d's tensors live: element offsets into params / grads
 * (SIZE_MAX = absent), and into packed, the weights in the kernel table's packed
 * layout (pack_b), made again (lazily, gru_ensure_packed) after a weight changed. */
typedef struct gru_layer_params {
    size_t w_ih, w_hh, b_ih, b_hh;
    size_t ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b;   /* layer_norm: gains and biases (3H)
                                                    each; SIZE_MAX without */
    size_t p_ihT[3];       /* W_ir^T, W_iz^T, W_in^T (in, H) each: input projections,
                              one per gate like p_hhT (a thread reads its panels only) */
    size_t p_hhT[3];       /* W_hr^T, W_hz^T, W_hn^T (H, H) each: the recurrent
                              pre-activations, one per gate so that a thread's slice
                              of units is a slice of panels in each */
    size_t p_hh;           /* W_hh (3H, H): backward, dLoss/dh */
    size_t p_ih;           /* W_ih (3H, in): backward, dLoss/d input */
} gru_layer_params;

struct gru_model {
    gru_config cfg;        /* as created; cfg.seed follows gru_set_seed */
    size_t I, H, L, D;     /* sizes as size_t */
    size_t elem;           /* bytes per element: 4 or 8 */
    size_t ntensors;
    gru_tensor *tensors;   /* (ntensors) in state-dict order */
    gru_layer_params *lp;  /* (L * D), index l * D + d */
    size_t numel;          /* total parameter elements */
    void *params;          /* (numel) model dtype, flat in tensor order */
    void *grads;           /* (numel) same layout */
    void *packed;          /* (npacked) model dtype: every weight in packed form */
    void *bwd_scratch;     /* backward's scratch, kept between calls (backward is one
                              caller at a time, as it writes the gradients) */
    size_t bwd_scratch_bytes;
    size_t npacked;
    const gru_kernels *kernels;
    gru_pack_word nthreads;    /* gru_set_num_threads (atomic: gru_get_num_threads may
                                  read it while a setter writes it) */
    double thread_min_work;    /* multiply-adds per step below which a call stays on
                                  one thread (GRU_THREAD_MIN_WORK, default 27648) */
    gru_pool_memory pool_memory;   /* busy cores seen by its pools (pool.h) */
    gru_pool *pool;        /* NULL when nthreads == 1; read by a call only inside the
                              gate, replaced only while the gate is closed */
    gru_gate gate;         /* calls in flight that use the pool (forward, step, backward)
                              and gru_set_num_threads' writer bit (pool.h) */
    uint64_t dropout_draws;    /* training forwards done: the dropout stream counter */
    uint64_t param_version;    /* bumped by gru_params_changed (and gru_param_set) */
    unsigned char *stale;      /* (ntensors) 1: the tensor was written since its packed
                                  forms were made (weights only; written by
                                  gru_params_changed, cleared by the repacking thread) */
    gru_pack_word pack_state;  /* GRU_PACK_CLEAN: packed matches params; STALE: some
                                  tensor is marked in stale; BUSY: a thread repacks */
    uint64_t nonce;            /* this model's identity in its workspaces: the address
                                  alone could be reused by a later model */
    struct gru_qmodel *q;      /* an int8 inference model (gru_quantize, quant.c): its
                                  quantized weights; NULL for a float model. Its params
                                  then hold the dequantized weights (q * scale) and the
                                  biases, read only; grads and packed are NULL */
};

/* Tensors per layer-direction: weight_ih, weight_hh [, bias_ih, bias_hh] [, the four
 * layer_norm tensors]; kinds 0 and 1 (ti % per) are the weights. */
static inline size_t gru_tensors_per(const gru_config *cfg)
{
    return (cfg->bias ? 4u : 2u) + (cfg->layer_norm ? 4u : 0u);
}

/* One layer-direction's int8 weights (gate rows r, z, n as W_ih / W_hh) in the kernel
 * table's layout (gru_q8_offset): each gate's H rows padded with zero rows to hp, each
 * row with zeros to kp bytes (a multiple of GRU_Q8_KPAD). */
typedef struct gru_qlayer {
    int8_t *wih, *whh;         /* (3 hp, kpi), (3 hp, kph) */
    float *sih, *shh;          /* (3H) row scales: max |row| / 127 */
    int32_t *cih, *chh;        /* (3H) row sums of the int8 values */
    size_t in_w, kpi;          /* input width (I or D*H) and its padded width */
} gru_qlayer;

/* An int8 or bf16 model's quantized weights and kernels. */
typedef struct gru_qmodel {
    int32_t format;            /* GRU_INT8 or GRU_BF16 */
    const gru_qkernels *k;     /* the int8 kernel table (chosen at gru_quantize) */
    size_t kph, kpmax;         /* padded H; padded max(I, D*H) (multiples of GRU_Q8_KPAD) */
    size_t hp;                 /* rows per gate in the weights: H padded to GRU_Q8_RPAD */
    size_t nlayers;            /* L * D */
    gru_qlayer *layers;        /* (nlayers), index l * D + d */
} gru_qmodel;

/* K rounded up to GRU_Q8_KPAD (K <= GRU_Q8_KMAX: no overflow). */
static inline size_t gru_q8_kpad(size_t K)
{
    return (K + GRU_Q8_KPAD - 1) / GRU_Q8_KPAD * GRU_Q8_KPAD;
}

/* Frees an int8 model's weights (quant.c); NULL allowed. */
void gru_qmodel_free(struct gru_qmodel *q);

/* The model-file reader's constructor of quantized models (quant.c): a model of cfg
 * (float32) with zero weights in format GRU_INT8 or GRU_BF16 (its kernel table chosen
 * as gru_quantize chooses it); gru_qmodel_set_weight sets an int8 model's
 * layer-direction k's W_ih (hh = 0) or W_hh (hh = 1) from values (3H, K) in [-127, 127]
 * and row scales (3H) (row sums and dequantized weights recomputed, as gru_quantize
 * makes them); gru_qmodel_set_bf16_weight sets a bf16 model's from values (3H, K), bf16
 * bit patterns, stored as they are (the kernels' rows and the float32 parameters, as
 * gru_quantize makes them from the rounded weights); gru_qmodel_set_bias copies tensor
 * t's (a bias) float32 values. */
gru_status gru_qmodel_create(const gru_config *cfg, int32_t format, struct gru_model **out);
void gru_qmodel_set_weight(struct gru_model *m, size_t k, int hh, const int8_t *values,
                           const float *scales);
void gru_qmodel_set_bf16_weight(struct gru_model *m, size_t k, int hh,
                                const uint16_t *values);
void gru_qmodel_set_bias(struct gru_model *m, size_t t, const float *values);

/* The int8 inference forward (quant.c): as gru_forward_f32 with training = 0. */
gru_status gru_forward_q8(struct gru_model *m, const gru_ws_layout *ws, int bf,
                          const float *x, const float *h0, const int32_t *lengths,
                          float *out, float *h_n, unsigned char *work);

/* Repacks the weights marked stale (packing.c): the caller that wins the state word
 * repacks, concurrent callers wait until it is clean. Call through gru_ensure_packed. */
void gru_repack_stale(struct gru_model *m);

/* Makes the packed weights current before a forward, step or backward: one acquire
 * load when nothing changed. */
static inline void gru_ensure_packed(struct gru_model *m)
{
    if (GRU_PACK_LOAD(&m->pack_state) != GRU_PACK_CLEAN) gru_repack_stale(m);
}

/* Marks tensor index ti (SIZE_MAX: all) as written: bumps the parameter version, flags
 * its packed forms stale (packing.c). The caller has the model to itself. */
void gru_mark_changed(struct gru_model *m, size_t ti);

/* At least `bytes` of backward scratch, kept by the model; NULL if out of memory. */
void *gru_bwd_scratch(struct gru_model *m, size_t bytes);

/* The pool a call of batch B uses: the model's, unless a step's recurrent product
 * (3*B*H*H multiply-adds) is too small for threads to pay for their barriers. Results
 * do not depend on the choice. */
static inline gru_pool *gru_pool_for(const struct gru_model *m, size_t B)
{
    return 3.0 * (double)B * (double)m->H * (double)m->H >= m->thread_min_work ? m->pool : NULL;
}

/* The multiply-adds of a forward over T steps of batch B (every layer and direction):
 * the pool's estimate of how long a call takes (pool.h, gru_pool_run's `work`). A
 * backward does about twice this. */
static inline double gru_call_work(const struct gru_model *m, size_t T, size_t B)
{
    const double H = (double)m->H, D = (double)m->D, L = (double)m->L;
    const double in = (double)m->I + (L - 1.0) * D * H;   /* input widths, summed */
    return (double)T * (double)B * D * 3.0 * H * (in + L * H);
}

/* The dtype-specific drivers (gru_impl.h). Arguments are validated by gru.c. att:
 * (rows) an augru model's attention (NULL for a plain model); grad_att: (rows) its
 * gradient, written, or NULL. */
#define GRU_DRIVER_DECL(S)                                                              \
    gru_status gru_forward_##S(struct gru_model *m, int training, const gru_ws_layout *ws, \
                               int bf, const void *x, const void *att, const void *h0, \
                               const int32_t *lengths, void *out, void *h_n,            \
                               unsigned char *work);                                    \
    gru_status gru_backward_##S(struct gru_model *m, const gru_ws_layout *ws, int bf,  \
                                const void *x, const unsigned char *work,               \
                                const void *grad_out, const void *grad_hn,              \
                                void *grad_x, void *grad_h0, void *grad_att);
GRU_DRIVER_DECL(f32)
GRU_DRIVER_DECL(f64)

#endif /* GRU_MODEL_H */
