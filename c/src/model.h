/*
 * model.h - libgru's internal model object and workspace layout, shared by the public
 * API (gru.c) and the dtype-generic drivers (gru_impl.h, compiled by gru_f32.c and
 * gru_f64.c). Not installed.
 */
#ifndef GRU_MODEL_H
#define GRU_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "gru.h"
#include "kernels/kernels.h"
#include "pool.h"

/* The packed weights' state word (pack_state below): C11 atomics where the compiler has
 * them; without them (no threads either, see pool.c) a plain int. */
#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
typedef atomic_int gru_pack_word;
#define GRU_PACK_LOAD(p) atomic_load_explicit(p, memory_order_acquire)
#define GRU_PACK_INIT(p, v) atomic_init(p, v)
#else
typedef volatile int gru_pack_word;
#define GRU_PACK_LOAD(p) (*(p))
#define GRU_PACK_INIT(p, v) (*(p) = (v))
#endif
enum { GRU_PACK_CLEAN = 0, GRU_PACK_STALE = 1, GRU_PACK_BUSY = 2 };

/* One parameter tensor: its PyTorch name, shape and place in the flat buffers. */
typedef struct gru_tensor {
    char name[48];         /* e.g. "weight_hh_l2_reverse" */
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
    int nthreads;          /* gru_set_num_threads */
    double thread_min_work;    /* multiply-adds per step below which a call stays on
                                  one thread (GRU_THREAD_MIN_WORK, default 2^17) */
    gru_pool *pool;        /* NULL when nthreads == 1 */
    uint64_t dropout_draws;    /* training forwards done: the dropout stream counter */
    uint64_t param_version;    /* bumped by gru_params_changed (and gru_param_set) */
    unsigned char *stale;      /* (ntensors) 1: the tensor was written since its packed
                                  forms were made (weights only; written by
                                  gru_params_changed, cleared by the repacking thread) */
    gru_pack_word pack_state;  /* GRU_PACK_CLEAN: packed matches params; STALE: some
                                  tensor is marked in stale; BUSY: a thread repacks */
    uint64_t nonce;            /* this model's identity in its workspaces: the address
                                  alone could be reused by a later model */
};

/* Workspace layout for (T, B, training). All offsets in bytes from the workspace start,
 * multiples of 64. rows = T * B; "block" = per (layer, direction) training storage:
 * gates (rows, 3H) [r, z, n], ghn (rows, H) [reset_after only: W_hn h + b_hn],
 * hprev (rows, H) [the state before each step]. */
typedef struct gru_ws_layout {
    size_t T, B, rows;
    size_t off_lengths;        /* (B) int32 copy of lengths, training */
    size_t off_blocks;         /* L * D blocks of block_bytes, training */
    size_t block_bytes;
    size_t off_gates, off_ghn, off_hprev;   /* within a block */
    size_t off_outs;           /* (L - 1) layer outputs (rows, D*H), post-dropout
                                  (training); inference: one (rows, 2H) buffer for a
                                  bidirectional model of 2+ layers (the next layer's
                                  reverse direction needs all of it), none otherwise
                                  (unidirectional layers run in place in the output) */
    size_t out_bytes;
    size_t off_gi;             /* inference only: (Tc, B, 3H) input projections of a
                                  chunk of Tc = gru_chunk_steps steps */
    size_t off_h, off_hnew, off_gh, off_rh;  /* step scratch: (B,H) (B,H) (B,3H) (B,H) */
    /* training with input / recurrent dropout (0 when off): */
    size_t off_masks;          /* L * D mask records of mask_bytes, index l * D + d:
                                  the input mask (B, in) [in = I for layer 0, D*H
                                  above; room for in_max = max(I, D*H)], then at byte
                                  mask_rec the recurrent mask (B, H); entries 0 or
                                  1/(1-p) (input_dropout / recurrent_dropout) */
    size_t mask_bytes, mask_rec;
    size_t off_xm;             /* (rows, in_max) the masked layer input (input dropout) */
    size_t off_hm, off_hmnew;  /* (B, H) x 2: m_h * h, double-buffered (recurrent) */
    size_t total;
} gru_ws_layout;

/* Header written at the start of a training workspace and checked by backward. */
typedef struct gru_ws_header {
    uint64_t magic;
    const struct gru_model *model;
    uint64_t nonce;
    uint64_t param_version;
    uint64_t T, B;
    int32_t batch_first, has_lengths;
    uint64_t seed, draw;       /* dropout stream used by this forward */
} gru_ws_header;

#define GRU_WS_MAGIC 0x6c69626772757773ULL   /* "libgruws" */
#define GRU_WS_HEADER_BYTES 128

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
_Static_assert(sizeof(gru_ws_header) <= GRU_WS_HEADER_BYTES, "workspace header too large");

/* Computes the layout; GRU_ERR_OVERFLOW if any size does not fit. */
gru_status gru_ws_compute(const struct gru_model *m, size_t T, size_t B, int training,
                          gru_ws_layout *out);

/* Checked size_t arithmetic: return 0 on overflow. */
static inline int gru_mul(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *r = a * b;
    return 1;
}
static inline int gru_add(size_t a, size_t b, size_t *r)
{
    if (b > SIZE_MAX - a) return 0;
    *r = a + b;
    return 1;
}

/* Dropout: the keep decision for element idx of layer l's output in draw number
 * `draw` of a model seeded with `seed`. A counter-based generator (splitmix64 mixing
 * of seed, draw, layer and index), so backward regenerates the forward's masks and the
 * result does not depend on evaluation order. Returns a uniform double in [0, 1). */
static inline uint64_t gru_mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}
static inline double gru_uniform(uint64_t seed, uint64_t draw, size_t layer, size_t idx)
{
    uint64_t x = gru_mix64(seed + 0x9e3779b97f4a7c15ULL);
    x = gru_mix64(x ^ (draw * 0xd1b54a32d192ed03ULL + 1));
    x = gru_mix64(x ^ ((uint64_t)layer * 0x8cb92ba72f3d8dd7ULL + 2));
    x = gru_mix64(x ^ ((uint64_t)idx + 0x632be59bd9b4e019ULL));
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* Generator streams of the input and recurrent dropout masks of layer-direction k
 * (inter-layer dropout uses streams 0 .. L-2); the mask element of (sequence b,
 * feature i) is index b * width + i. */
#define GRU_STREAM_INPUT(k) ((size_t)0x40000000u + (size_t)(k))
#define GRU_STREAM_RECURRENT(k) ((size_t)0x60000000u + (size_t)(k))

/* Time steps per chunk of an inference forward's input projection: about 128 rows
 * (Tc * B) per GEMM, at least 8 steps in the batch-first layout (where a chunk is B
 * runs of Tc rows), at most T. The chunk buffer (Tc, B, 3H) is the only part of the
 * inference scratch that grows with the batch beyond O(B * H), and none grows with T
 * (but for bidirectional models of 2+ layers, see gru_ws_layout). */
static inline size_t gru_chunk_steps(size_t T, size_t B, int batch_first)
{
    size_t tc = B >= 128 ? 1 : (128 + B - 1) / B;
    if (batch_first && tc < 8) tc = 8;
    return tc < T ? tc : T;
}

/* The pool a call of batch B uses: the model's, unless a step's recurrent product
 * (3*B*H*H multiply-adds) is too small for threads to pay for their barriers. Results
 * do not depend on the choice. */
static inline gru_pool *gru_pool_for(const struct gru_model *m, size_t B)
{
    return 3.0 * (double)B * (double)m->H * (double)m->H >= m->thread_min_work ? m->pool : NULL;
}

/* The dtype-specific drivers (gru_impl.h). Arguments are validated by gru.c. */
#define GRU_DRIVER_DECL(S)                                                              \
    gru_status gru_forward_##S(struct gru_model *m, int training, const gru_ws_layout *ws, \
                               int bf, const void *x, const void *h0,                  \
                               const int32_t *lengths, void *out, void *h_n,            \
                               unsigned char *work);                                    \
    gru_status gru_backward_##S(struct gru_model *m, const gru_ws_layout *ws, int bf,  \
                                const void *x, const unsigned char *work,               \
                                const void *grad_out, const void *grad_hn,              \
                                void *grad_x, void *grad_h0);
GRU_DRIVER_DECL(f32)
GRU_DRIVER_DECL(f64)

#endif /* GRU_MODEL_H */
