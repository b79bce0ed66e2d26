/*
 * workspace.h - where everything a forward call keeps lives inside its workspace: the
 * layout planner (gru_ws_compute, workspace.c) for (T, B, training), the header a
 * training forward writes for backward to check, and the chunking of an inference
 * forward's input projection. Every size is overflow-checked (checked.h).
 */
#ifndef GRU_WORKSPACE_H
#define GRU_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>
#include "gru.h"

struct gru_model;

/* Workspace layout for (T, B, training). All offsets in bytes from the workspace start,
 * multiples of 64. rows = T * B; "block" = per (layer, direction) training storage:
 * gates (rows, 3H) [r, z, n], ghn (rows, H) [reset_after only: W_hn h + b_hn],
 * hprev (rows, H) [the state before each step], and for layer_norm the saved
 * normalisations (off_lnxi ...). */
typedef struct gru_ws_layout {
    size_t T, B, rows;
    size_t off_lengths;        /* (B) int32 copy of lengths, training */
    size_t off_blocks;         /* L * D blocks of block_bytes, training */
    size_t block_bytes;
    size_t off_gates, off_ghn, off_hprev;   /* within a block */
    /* within a block, layer_norm only: the normalised values ah of the input projection
     * (rows, 3H) and of the recurrent one (rows, 3H), and 1 / sqrt(var + eps) of each
     * row: input (rows), recurrent (rows; reset_before: of its r, z part), reset_before's
     * n part (rows) */
    size_t off_lnxi, off_lnxh, off_lnri, off_lnrh, off_lnrn;
    size_t off_outs;           /* (L - 1) layer outputs (rows, D*H), post-dropout
                                  (training); inference: one (rows, 2H) buffer for a
                                  bidirectional model of 2+ layers (the next layer's
                                  reverse direction needs all of it), none otherwise
                                  (unidirectional layers run in place in the output) */
    size_t out_bytes;
    size_t off_gi;             /* inference only: (Tc, B, 3H) input projections of a
                                  chunk of Tc = gru_chunk_steps steps */
    size_t off_h, off_hnew, off_gh, off_rh;  /* step scratch: (B,H) (B,H) (B,3H) (B,H) */
    size_t off_ghr;            /* layer_norm: (B, 3H) W_hh h of a step before its
                                  normalisation (step scratch) */
    /* int8 models (inference): the chunk's quantized inputs (Tc*B, kpmax) int8 and their
     * scales (Tc*B) float; the quantized state or r h (B, kph) int8, scales (B) */
    size_t off_aq, off_as, off_hq, off_hs;
    /* training with input / recurrent dropout (0 when off): */
    size_t off_masks;          /* L * D mask records of mask_bytes, index l * D + d:
                                  the input mask (B, in) [in = I for layer 0, D*H
                                  above; room for in_max = max(I, D*H)], then at byte
                                  mask_rec the recurrent mask (B, H); entries 0 or
                                  1/(1-p) (input_dropout / recurrent_dropout) */
    size_t mask_bytes, mask_rec;
    size_t off_xm;             /* (rows, in_max) the masked layer input (input dropout) */
    size_t off_att;            /* augru, training: (rows) a copy of the attention, in the
                                  caller's row layout (backward reads it) */
    size_t off_hm, off_hmnew;  /* (B, H) x 2: m_h * h, double-buffered (recurrent) */
    /* training with zoneout (0 when off): */
    size_t off_zmask;          /* within a block: (rows, H) the zoneout masks, 1 = kept
                                  the previous state, rows in the call's layout */
    /* training with weight_dropout (0 when off): */
    size_t off_wd;             /* L * D records of wd_bytes, index l * D + d: the
                                  DropConnect mask M (3H, H) at 0, then M * W_hh packed
                                  as the model packs W_hh: per gate W~_hg^T (H, H) at
                                  wd_pT[g], W~_hh (3H, H) at wd_p */
    size_t wd_bytes, wd_pT[3], wd_p;
    size_t off_wt;             /* (3H, H) M * W_hh unpacked, the packing's source */
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
_Static_assert(sizeof(gru_ws_header) <= GRU_WS_HEADER_BYTES, "workspace header too large");

/* Computes the layout of a (T, B) forward of model m; GRU_ERR_OVERFLOW if any size does
 * not fit. */
gru_status gru_ws_compute(const struct gru_model *m, size_t T, size_t B, int training,
                          gru_ws_layout *out);

/* Reserves `bytes` (rounded up to 64) at *off, returning its place in *at; 0 on
 * overflow. */
int gru_ws_take(size_t *off, size_t bytes, size_t *at);

/* a * b elements of m's dtype, in bytes; 0 on overflow. */
int gru_ws_elems(const struct gru_model *m, size_t a, size_t b, size_t *bytes);

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

#endif /* GRU_WORKSPACE_H */
