/*
 * gru.h - the public interface of libgru: a multi-layer, optionally bidirectional
 * gated recurrent unit (GRU) in portable C11, forward pass and backpropagation
 * through time, float32 or float64.
 *
 * Equations (PyTorch's gate order r, z, n; x = input, h = previous state):
 *
 *   r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))     reset_after = 1 (PyTorch, cuDNN,
 *                                                       Keras 3 default, ONNX
 *                                                       linear_before_reset = 1)
 *   n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)     reset_after = 0 (Cho et al. 2014,
 *                                                       ONNX default, Keras
 *                                                       reset_after = False)
 *   h' = (1 - z) * n + z * h
 *
 * Parameters follow PyTorch's layout: for layer l and direction d (suffix "_reverse"
 * for d = 1), weight_ih_l{l} (3H, in), weight_hh_l{l} (3H, H), bias_ih_l{l} (3H),
 * bias_hh_l{l} (3H), rows in gate order r, z, n; in = input_size for layer 0 and
 * D*H above it. Row-major, contiguous. A layer_norm model (gru_config.layer_norm) has
 * after them layer_norm_ih_weight_l{l} (3H) g_ih, layer_norm_ih_bias_l{l} (3H) c_ih,
 * layer_norm_hh_weight_l{l} (3H) g_hh, layer_norm_hh_bias_l{l} (3H) c_hh (the gains
 * and biases of the layer normalisations, equations at gru_config.layer_norm).
 *
 * Guarantees: no function exits, aborts or prints; every failure is a status code
 * (gru_strerror names it); sizes are checked for overflow before anything is
 * allocated; the library keeps no global mutable state.
 *
 * Threads. Calls on different models never interfere (no state is shared; creating and
 * destroying models never waits for another model). On one model:
 *   - inference calls (gru_forward with training = 0, gru_step; for an augru model
 *     gru_forward_att with training = 0, gru_step_att), each with its own buffers, may
 *     run concurrently from any number of threads; so may the calls that
 *     only read (gru_get_config, gru_param_info, gru_param_get, gru_workspace_size, ...);
 *   - calls that write the model (a training gru_forward or gru_forward_att: the dropout
 *     generator; gru_backward, gru_backward_att and gru_zero_grad: the gradients;
 *     gru_param_set, writes through gru_param_data, gru_params_changed, gru_set_seed)
 *     run one thread at a time, with
 *     no other call on the model meanwhile: the caller serialises them;
 *   - gru_set_num_threads may be called at any time, while other threads run any calls
 *     on the model: it finishes in bounded time (it never waits for them) and either
 *     changes the thread count or returns GRU_ERR_BUSY, leaving everything as it was,
 *     when calls were in flight (the caller may retry). It never frees a pool in use.
 *     Calls that start while it swaps the pool wait for that swap only (a few stores);
 *   - gru_destroy: when no other call on the model runs or can start.
 *
 * Alignment. Every buffer of model-dtype elements given to gru_forward, gru_backward,
 * gru_step and gru_dropout_masks must be aligned to the element size (4 bytes for
 * GRU_FLOAT32, 8 for GRU_FLOAT64), lengths to 4 bytes (int32_t), and workspaces and step
 * scratch to GRU_WORKSPACE_ALIGN (8) bytes (malloc's alignment is enough for all). A
 * misaligned pointer gives GRU_ERR_MISALIGNED before anything is read or written. The
 * copying calls (gru_param_get, gru_param_set, gru_grad_get) and gru_step_reset take
 * buffers of any alignment (they copy or clear bytes).
 */
#ifndef GRU_H
#define GRU_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && !defined(GRU_STATIC)
#  if defined(GRU_BUILDING)
#    define GRU_API __declspec(dllexport)
#  else
#    define GRU_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define GRU_API __attribute__((visibility("default")))
#else
#  define GRU_API
#endif

#define GRU_VERSION_MAJOR 0
#define GRU_VERSION_MINOR 2
#define GRU_VERSION_PATCH 0
#define GRU_VERSION_STRING "0.2.0"
/* Bumped whenever a struct layout or a function signature below changes. */
#define GRU_ABI_VERSION 5

#ifdef __cplusplus
extern "C" {
#endif

/* The declarations between the CFFI markers are read by build_ffi.py as pygru's cdef:
 * keep them to plain C declarations (GRU_API is stripped, comments are dropped). */
/* CFFI-BEGIN */

/* The largest thread count gru_set_num_threads accepts (and GRU_NUM_THREADS sets). */
#define GRU_MAX_THREADS 256

/* The alignment (bytes) gru_forward's workspace and gru_step's scratch need. */
#define GRU_WORKSPACE_ALIGN 8

/* Status codes. GRU_OK is 0; every other value is a failure that left the model, the
 * outputs' meaning and the caller's buffers' ownership unchanged (outputs may have been
 * partly written). */
typedef enum gru_status {
    GRU_OK = 0,
    GRU_ERR_NULL = 1,            /* a required pointer argument is NULL */
    GRU_ERR_INVALID_ARG = 2,     /* a size, flag or dropout value out of range */
    GRU_ERR_OVERFLOW = 3,        /* a size computation does not fit in size_t */
    GRU_ERR_NO_MEMORY = 4,       /* an allocation failed */
    GRU_ERR_UNKNOWN_NAME = 5,    /* no parameter of that name in this model */
    GRU_ERR_SIZE_MISMATCH = 6,   /* an element count differs from the tensor's size */
    GRU_ERR_BAD_LENGTHS = 7,     /* a sequence length outside 1..seq_len */
    GRU_ERR_WORKSPACE = 8,       /* workspace too small, or not filled by a matching
                                    training forward of this model (or stale: the
                                    parameters changed since) */
    GRU_ERR_WRONG_MODE = 9,      /* call needs a training-mode forward first */
    GRU_ERR_ISA_UNAVAILABLE = 10, /* GRU_ISA names a kernel set this build or this CPU
                                    does not have */
    GRU_ERR_UNSUPPORTED = 11,    /* the call cannot serve this model's configuration
                                    (e.g. stepping a bidirectional model) */
    GRU_ERR_IO = 12,             /* a file could not be opened, read, written or
                                    renamed */
    GRU_ERR_FORMAT = 13,         /* a model file is malformed or disagrees with itself */
    GRU_ERR_BUSY = 14,           /* gru_set_num_threads: other calls on the model were
                                    running; nothing changed, try again */
    GRU_ERR_MISALIGNED = 15      /* a buffer's address is not a multiple of the
                                    alignment it needs (see "Alignment" above) */
} gru_status;

typedef enum gru_dtype {
    GRU_FLOAT32 = 1,
    GRU_FLOAT64 = 2
} gru_dtype;

/* A model's configuration. Fill it with gru_config_init, then set the sizes. */
typedef struct gru_config {
    int64_t input_size;     /* I >= 1 */
    int64_t hidden_size;    /* H >= 1 */
    int64_t num_layers;     /* L >= 1 */
    int32_t bidirectional;  /* 0 or 1; D = 2 directions when 1 */
    int32_t bias;           /* 1: bias_ih / bias_hh exist; 0: they do not (as zeros) */
    int32_t reset_after;    /* 1: r * (W_hn h + b_hn); 0: W_hn (r * h) + b_hn */
    int32_t dtype;          /* a gru_dtype */
    double dropout;         /* 0 <= p < 1, applied in training to the outputs of every
                               layer but the last, scaled by 1/(1-p) (PyTorch's rule) */
    uint64_t seed;          /* seed of the model's own dropout generator */
    int32_t reverse;        /* 0 or 1 (only with bidirectional = 0): every layer runs
                               right to left, outputs in the original time order (ONNX's
                               direction "reverse"); with lengths, each sequence starts
                               at its last valid step. Parameter names as forward. */
    double input_dropout;   /* 0 <= p < 1: Keras' `dropout`. In training, every layer's
                               input x is multiplied by a mask m_x (one per layer,
                               direction and sequence, fixed across time: entries 0 or
                               1/(1-p)) where it enters W_ih: W_ih (m_x * x) */
    double recurrent_dropout;  /* 0 <= p < 1: Keras' `recurrent_dropout` (Gal and
                               Ghahramani's variational dropout). In training, h_{t-1}
                               is multiplied by a mask m_h (per layer, direction and
                               sequence, fixed across time) where it enters the
                               recurrent products: W_hg (m_h * h) for r, z and
                               reset_after's n, W_hn (r * m_h * h) for reset_before's;
                               the blend h' = (1 - z) n + z h keeps the unmasked h.
                               One mask m_x and one m_h serve all three gates. */
    int32_t layer_norm;     /* 0 or 1: the layer-normalised GRU (Ba, Kiros and Hinton
                               2016, as Haste's LayerNormGRU): the input projection and
                               the recurrent projection are normalised separately, each
                               with its own gain g and bias c, before the GRU's biases.
                               LN_{g,c}(a) over the N entries of a row a: mu = sum a / N,
                               var = sum (a - mu)^2 / N, ah = (a - mu) / sqrt(var + eps),
                               eps = 1e-5, LN(a) = g * ah + c. reset_after = 1:
                                 gi = LN_{g_ih,c_ih}(W_ih x) + b_ih        (over 3H)
                                 gh = LN_{g_hh,c_hh}(W_hh h) + b_hh        (over 3H)
                                 r = s(gi_r + gh_r), z = s(gi_z + gh_z),
                                 n = tanh(gi_n + r * gh_n), h' = (1 - z) n + z h;
                               reset_after = 0 (W_hn's input r * h depends on r):
                                 gi = LN_{g_ih,c_ih}(W_ih x) + b_ih        (over 3H)
                                 [gh_r, gh_z] = LN_{g_hh[0:2H],c_hh[0:2H]}([W_hr h,
                                                W_hz h]) + b_h{r,z}        (over 2H)
                                 gh_n = LN_{g_hh[2H:3H],c_hh[2H:3H]}(W_hn (r * h))
                                        + b_hn                             (over H)
                                 r = s(gi_r + gh_r), z = s(gi_z + gh_z),
                                 n = tanh(gi_n + gh_n), h' = (1 - z) n + z h.
                               Dropout masks go inside: W_ih (m_x x), W_hh (m_h h).
                               Four more tensors per layer and direction, after the
                               others (names below); gru_create sets the gains to 1 and
                               the LN biases to 0. The LN bias c is redundant with the
                               following b (both kept, both trained). */
    double zoneout;         /* 0 <= p < 1: zoneout (Krueger et al. 2016) on every layer's
                               state. Training: per layer-direction k, step t, sequence
                               b and unit j a mask m in {0, 1}, m = 1 ("keep the
                               previous state") when uniform number (t*B + b)*H + j
                               (time-major whatever the layout) of stream
                               GRU_STREAM_ZONEOUT(k) (rng.h) of the call's draw is < p;
                               h_t = m ? h_{t-1} : h~_t (an exact select), with h~_t the
                               cell's new state (the blend above); the output at t is
                               h_t. Inference (training = 0, gru_step): the expectation
                               h_t = (p_R * h_{t-1}) + (q_R * h~_t) with p_R = (R)p and
                               q_R = (R)(1 - p) (1 - p in double, both rounded to the
                               model dtype R), each product rounded to R, then the sum
                               (never fused): the same bits on every kernel set and
                               thread count. Finished sequences (lengths) keep their
                               state whatever m. Haste's zoneout mask is 1 - m. */
    double weight_dropout;  /* 0 <= p < 1: DropConnect on the recurrent weights (Wan et
                               al. 2013; AWD-LSTM's weight-dropped recurrence; Haste's
                               `dropout`). Each training forward draws per
                               layer-direction k one mask M_k (3H, H), entries 0 when
                               uniform number g*H + j (row g, column j of W_hh) of stream
                               GRU_STREAM_WEIGHT(k) is < p, else (R)(1/(1-p)), and runs
                               every step with W~_hh = M_k * W_hh (all three gates, both
                               reset variants, with recurrent dropout too). Backward:
                               dLoss/dh_prev through W~_hh; dW_hh += M_k * (dgh^T h)
                               (the product rounded, then masked). Inference and
                               gru_step use W_hh unmasked (its expectation under the
                               inverted scaling). The masked weights live in the
                               training workspace, never in the model. */
    int32_t augru;          /* 0 or 1: AUGRU, the GRU with an attentional update gate
                               (Zhou et al. 2019, DIEN). Each step t of sequence b has
                               an attention score a = a_{t,b} (one real number, the same
                               for every layer and direction) that scales DIEN's update
                               gate u = 1 - z: u' = a u, in the form computed (each
                               operation rounded, never fused):
                                 z' = 1 - a * (1 - z),  h' = (1 - z') * n + z' * h.
                               a = 1 is the plain GRU (up to rounding), a = 0 keeps
                               the state. An augru model runs only through
                               gru_forward_att, gru_backward_att and gru_step_att
                               (gru_forward, gru_backward, gru_step: GRU_ERR_UNSUPPORTED)
                               and cannot be quantized. docs/equations.md, "AUGRU". */
} gru_config;

typedef struct gru_model gru_model;   /* opaque */

/* Library version "MAJOR.MINOR.PATCH" (static storage, never freed). */
GRU_API const char *gru_version(void);

/* ABI version of the library actually loaded; compare with GRU_ABI_VERSION. */
GRU_API int gru_abi_version(void);

/* A short English description of a status code (static storage, never freed). Unknown
 * codes give "unknown status code". */
GRU_API const char *gru_strerror(int status);

/* Fills *cfg with the defaults: num_layers 1, bidirectional 0, bias 1, reset_after 1,
 * dtype GRU_FLOAT32, dropout 0, seed 0, reverse 0, input_dropout 0, recurrent_dropout 0,
 * layer_norm 0, zoneout 0, weight_dropout 0, augru 0;
 * input_size and hidden_size 0 (must be set).
 * Does nothing if cfg is NULL. */
GRU_API void gru_config_init(gru_config *cfg);

/* Creates a model. Parameters and gradients are allocated and set to zero (initialise
 * them with gru_param_set), except a layer_norm model's gains layer_norm_*_weight_*,
 * set to 1 (so its normalisations start as the identity on the normalised values). The kernel set is chosen here, once: the best the CPU
 * supports, or the one the environment variable GRU_ISA names ("scalar", ...).
 * cfg: read only, not kept. *out: receives the model, owned by the caller and freed
 * with gru_destroy; set to NULL on failure.
 * Returns GRU_OK, GRU_ERR_NULL, GRU_ERR_INVALID_ARG, GRU_ERR_OVERFLOW,
 * GRU_ERR_NO_MEMORY or GRU_ERR_ISA_UNAVAILABLE. */
GRU_API gru_status gru_create(const gru_config *cfg, gru_model **out);

/* Frees a model and everything it owns. NULL is allowed and does nothing. No other call
 * on the model may be running or start (the caller's threads must be done with it). */
GRU_API void gru_destroy(gru_model *model);

/* Copies the model's configuration into *cfg (seed: the seed last set). */
GRU_API gru_status gru_get_config(const gru_model *model, gru_config *cfg);

/* Name of the kernel set in use, e.g. "scalar" (static storage). NULL if model is NULL. */
GRU_API const char *gru_isa(const gru_model *model);

/* Space-separated names of the kernel sets this build has and this CPU can run,
 * best last, e.g. "scalar" (static storage). */
GRU_API const char *gru_available_isas(void);

/* ---- parameters and gradients (PyTorch names and layout, see above) ------------- */

/* Number of parameter tensors: 4 * L * D with bias, 2 * L * D without; 4 * L * D
 * more for layer_norm. */
GRU_API gru_status gru_param_count(const gru_model *model, size_t *count);

/* Describes tensor number index (0 <= index < count, in PyTorch's state-dict order:
 * per layer, forward direction then reverse, weight_ih, weight_hh, bias_ih, bias_hh,
 * then for layer_norm layer_norm_ih_weight, layer_norm_ih_bias, layer_norm_hh_weight,
 * layer_norm_hh_bias).
 * *name: static to the model (valid until gru_destroy); *ndim: 1 or 2;
 * shape[0..ndim-1]: its shape. Any output pointer may be NULL. */
GRU_API gru_status gru_param_info(const gru_model *model, size_t index, const char **name,
                                  int *ndim, int64_t *shape);

/* Copies parameter `name` (count elements of the model's dtype, row-major) out of the
 * model into dst (any alignment: copied bytewise). count must equal the tensor's size
 * (GRU_ERR_SIZE_MISMATCH). */
GRU_API gru_status gru_param_get(const gru_model *model, const char *name, void *dst,
                                 size_t count);

/* Copies count elements from src (any alignment) into parameter `name` (then as
 * gru_params_changed: invalidates workspaces filled before the call, so backward then
 * returns GRU_ERR_WORKSPACE; the packed weights are remade by the next forward / step /
 * backward). No other call on the model may run meanwhile (see "Threads" above). */
GRU_API gru_status gru_param_set(gru_model *model, const char *name, const void *src,
                                 size_t count);

/* Parameter and gradient storage as views (no copies).
 * gru_param_data: *data points to parameter `name`'s storage inside the model
 * (row-major, model dtype: float or double), *count (if count is not NULL) receives its
 * element count. The model owns the memory; the pointer is valid until gru_destroy.
 * Reading through it is always allowed (also while other threads run inference);
 * writing through it follows the rule of gru_param_set (no other thread may use the
 * model meanwhile), and after writing call gru_params_changed before the next
 * gru_forward, gru_step or gru_backward: until then the model computes with the
 * packed copy of the old weights. */
GRU_API gru_status gru_param_data(gru_model *model, const char *name, void **data,
                                  size_t *count);

/* The same for the gradient buffer of `name`: gru_backward adds (+=) into it; the
 * caller may read, zero or scale it between calls (not during a backward). Valid until
 * gru_destroy. */
GRU_API gru_status gru_grad_data(gru_model *model, const char *name, void **data,
                                 size_t *count);

/* Tells the model that parameter `name` (NULL: every parameter) was written through
 * gru_param_data. Bumps the parameter version (training workspaces filled before become
 * stale: gru_backward returns GRU_ERR_WORKSPACE) and marks that tensor's packed forms
 * stale; the next gru_forward / gru_step / gru_backward repacks what is stale before it
 * runs, once, even when several inference calls start at once on several threads.
 * Cheap: it only sets flags. Like gru_param_set, it must not run while another thread
 * uses the model. GRU_ERR_UNKNOWN_NAME for a name the model does not have. */
GRU_API gru_status gru_params_changed(gru_model *model, const char *name);

/* Copies the accumulated gradient of parameter `name` into dst (as gru_param_get). */
GRU_API gru_status gru_grad_get(const gru_model *model, const char *name, void *dst,
                                size_t count);

/* Sets every parameter gradient to zero. Gradients are zero after gru_create, and
 * gru_backward adds (+=) into them: zero them before each step of an optimiser. Not
 * concurrently with another call that uses the gradients (gru_backward, gru_grad_get). */
GRU_API gru_status gru_zero_grad(gru_model *model);

/* Reseeds the dropout generator and restarts its stream. Two models with the same seed
 * draw the same masks for the same sequence of training forwards of the same sizes and
 * layout (inter-layer masks are indexed by position in the caller's layout; input and
 * recurrent masks by (sequence, feature)). */
GRU_API gru_status gru_set_seed(gru_model *model, uint64_t seed);

/* Copies the input and recurrent dropout masks that the training forward which filled
 * `workspace` applied in layer `layer` (0..L-1), direction `direction` (0..D-1):
 *   input_mask      (B, in) model dtype, in = input_size for layer 0, D*H above; or NULL
 *   recurrent_mask  (B, H) model dtype; or NULL
 * Entries are 0 or 1/(1-p); all 1 when that dropout is 0. The counts must equal the
 * sizes (GRU_ERR_SIZE_MISMATCH). Alignment: the masks to the element size, workspace to
 * GRU_WORKSPACE_ALIGN (else GRU_ERR_MISALIGNED). GRU_ERR_WRONG_MODE / GRU_ERR_WORKSPACE as gru_backward
 * (the workspace need not match the current parameters). */
GRU_API gru_status gru_dropout_masks(const gru_model *model, const void *workspace,
                                     size_t workspace_bytes, int64_t layer,
                                     int64_t direction, void *input_mask,
                                     size_t input_count, void *recurrent_mask,
                                     size_t recurrent_count);

/* Copies the zoneout masks that the training forward which filled `workspace` applied
 * in layer `layer` (0..L-1), direction `direction` (0..D-1): mask (T, B, H) time-major
 * whatever that forward's layout, model dtype, entries 1 ("kept the previous state")
 * or 0 (took the cell's new state), count = T*B*H (else GRU_ERR_SIZE_MISMATCH); all 0
 * when zoneout is 0. Errors and alignment as gru_dropout_masks. */
GRU_API gru_status gru_zoneout_masks(const gru_model *model, const void *workspace,
                                     size_t workspace_bytes, int64_t layer,
                                     int64_t direction, void *mask, size_t count);

/* Copies the DropConnect mask M (3H, H) of W_hh that the training forward which filled
 * `workspace` applied in layer `layer`, direction `direction`: model dtype, row-major as
 * weight_hh, entries 0 or 1/(1-p), count = 3H*H (else GRU_ERR_SIZE_MISMATCH); all 1 when
 * weight_dropout is 0. Errors and alignment as gru_dropout_masks. */
GRU_API gru_status gru_weight_dropout_mask(const gru_model *model, const void *workspace,
                                           size_t workspace_bytes, int64_t layer,
                                           int64_t direction, void *mask, size_t count);

/* ---- threads -------------------------------------------------------------------- */

/* Sets how many threads the model's forward and backward use: its own pool of n - 1
 * worker threads plus the calling thread (no OpenMP, nothing shared between models).
 * Results are bitwise identical for every n. Workers spin for a short while after a
 * call, then sleep. The default at gru_create is the environment variable
 * GRU_NUM_THREADS when it holds an integer in 2..GRU_MAX_THREADS, else 1 (other values,
 * larger ones included, are ignored). A call whose recurrent product per step is small
 * (3*B*H*H < GRU_THREAD_MIN_WORK multiply-adds, default 27648 = 3*96*96, read at
 * gru_create)
 * runs on one thread, where barriers would cost more than they save. If two threads of
 * the program run the same model at once, the second runs on its calling thread alone.
 * Busy cores: a call offers its work to the pool's threads and runs on the calling
 * thread alone if one of them does not take it at once (it is waking up, or held off
 * its core by another thread: another pool of the program, another process); a call
 * whose threads waited for each other for a fifth of its time and at least 0.2 ms (less
 * than a scheduler time slice is not a lost core) makes the next calls run
 * alone for a while (a millisecond or that call's time, doubling while it lasts, up to
 * 0.25 s or eight calls; the model keeps this record across thread-count changes). So a busy core costs a call about what one thread costs, never a scheduler
 * time slice per step; results do not change. A model created with GRU_THREAD_MIN_WORK=0
 * (the thread tests) always waits for all its threads.
 * Thread safety: may be called while other threads run any calls on the model (see
 * "Threads" above). It starts the new pool's threads first, then swaps the pool only if
 * no gru_forward, gru_step or gru_backward is running on the model, and then stops the
 * old pool's (idle) threads; if calls are running it returns GRU_ERR_BUSY at once,
 * nothing changed. It never waits for other calls, so it returns in bounded time (the
 * time to start and stop at most GRU_MAX_THREADS threads).
 * Returns GRU_OK (also when n is already the count), GRU_ERR_NULL, GRU_ERR_INVALID_ARG
 * for n < 1 or n > GRU_MAX_THREADS (or n > 1 in a build without threads), GRU_ERR_BUSY,
 * GRU_ERR_NO_MEMORY if the threads cannot be started (the old setting stays). */
GRU_API gru_status gru_set_num_threads(gru_model *model, int n);

/* The model's thread count (0 if model is NULL). May run concurrently with
 * gru_set_num_threads (it sees the count before or after the change). */
GRU_API int gru_get_num_threads(const gru_model *model);

/* ---- forward and backward through time ------------------------------------------ */

/* Bytes of workspace gru_forward needs for seq_len T >= 1 and batch B >= 1 (else
 * GRU_ERR_INVALID_ARG).
 * training = 1: what backward reads: per step, batch entry and layer-direction the
 *   gates r, z, n (3H), W_hn h + b_hn (H, reset_after only) and the previous state
 *   (H), plus every layer's output but the last's (D*H); a 128-byte header; with
 *   input or recurrent dropout, the masks (per layer-direction (B, in) and (B, H)),
 *   and for input dropout one (T, B, in) buffer of masked inputs; with zoneout the
 *   masks (T, B, H) per layer-direction; with weight_dropout per layer-direction the
 *   mask (3H, H) and the masked W_hh in the kernels' packed forms, plus one (3H, H).
 * training = 0: scratch for inference, independent of T: a chunk of input projections
 *   (about 128 rows of 3H, at least 8 steps of B rows) and the step state (O(B*H));
 *   bidirectional models of 2+ layers also need one (T, B, 2H) layer buffer (the next
 *   layer's reverse direction reads all of it). The library allocates it itself when
 *   gru_forward is given no workspace. */
GRU_API gru_status gru_workspace_size(const gru_model *model, int64_t seq_len,
                                      int64_t batch, int training, size_t *bytes);

/* Runs the GRU over a batch of B >= 1 sequences of length up to T >= 1.
 *   training     nonzero: fill workspace for gru_backward, apply every dropout (new
 *                masks per call); 0: inference (no dropout).
 *   batch_first  0: x is (T, B, I) and output (T, B, D*H); nonzero: x is (B, T, I) and
 *                output (B, T, D*H).
 *   x            input, model dtype, contiguous. Read only.
 *   h0           (L*D, B, H) initial states, or NULL for zeros. Read only.
 *   lengths      (B) int32 sequence lengths in 1..T, or NULL for all T. Steps t >=
 *                lengths[b] write zeros to output, leave the state unchanged; the
 *                reverse direction starts at t = lengths[b] - 1 (PyTorch's packed
 *                sequences, ONNX Runtime's sequence_lens).
 *   output       written: concatenated direction outputs per step.
 *   h_n          (L*D, B, H) written with the final states, or NULL.
 *   workspace    training: required, at least gru_workspace_size(training=1) bytes,
 *                owned by the caller (NULL: GRU_ERR_NULL); it must stay unchanged
 *                until gru_backward. inference: NULL (allocated internally) or at
 *                least gru_workspace_size(training=0) bytes.
 * Alignment: x, h0, output and h_n to the element size (4 bytes float32, 8 float64),
 * lengths to 4, workspace to GRU_WORKSPACE_ALIGN (8); else GRU_ERR_MISALIGNED, checked
 * before any buffer is read or written.
 * Threads: inference forwards may run concurrently on one model; a training forward
 * runs alone (it advances the dropout stream), see "Threads" above.
 * Buffers must not overlap, except that the caller owns them all before and after.
 * An augru model returns GRU_ERR_UNSUPPORTED: it runs through gru_forward_att. */
GRU_API gru_status gru_forward(gru_model *model, int training, int64_t seq_len,
                               int64_t batch, int batch_first, const void *x,
                               const void *h0, const int32_t *lengths, void *output,
                               void *h_n, void *workspace, size_t workspace_bytes);

/* Backpropagation through time for the training forward that filled workspace.
 *   seq_len, batch, batch_first: as in that forward (checked against the workspace).
 *   x            the same input as in that forward (read only).
 *   grad_output  dLoss/d output, the shape of output; NULL means zeros.
 *   grad_h_n     (L*D, B, H) dLoss/d h_n, or NULL for zeros.
 *   grad_x       written (overwritten, not accumulated) with dLoss/dx, or NULL to skip.
 *   grad_h0      (L*D, B, H) written with dLoss/dh0, or NULL to skip.
 * Parameter gradients are ADDED to the model's gradient buffers (see gru_zero_grad).
 * The workspace is only read, so backward may run more than once on it. Uses scratch
 * of O(T * B * H) that the model allocates on first need and keeps (reused by later
 * calls of the same or smaller size, freed by gru_destroy).
 * Returns GRU_ERR_WRONG_MODE when the workspace was last filled by an inference forward
 * (training = 0), GRU_ERR_WORKSPACE when it does not come from a training forward of
 * this model with these sizes and the current parameters.
 * Alignment: x, grad_output, grad_h_n, grad_x and grad_h0 to the element size,
 * workspace to GRU_WORKSPACE_ALIGN; else GRU_ERR_MISALIGNED, before anything is read.
 * Threads: one backward at a time per model, no training forward meanwhile (it adds into
 * the gradients and reuses the model's scratch). An augru model: GRU_ERR_UNSUPPORTED
 * (gru_backward_att). */
GRU_API gru_status gru_backward(gru_model *model, int64_t seq_len, int64_t batch,
                                int batch_first, const void *x, const void *workspace,
                                size_t workspace_bytes, const void *grad_output,
                                const void *grad_h_n, void *grad_x, void *grad_h0);

/* AUGRU (gru_config.augru = 1): gru_forward with the attention scores.
 *   attention    (T, B) time-major, or (B, T) when batch_first: x's layout without the
 *                feature axis; a_{t,b} scales step t of sequence b in every layer and
 *                direction (gru_config.augru). Model dtype, contiguous, read only;
 *                aligned to the element size (else GRU_ERR_MISALIGNED). Values are
 *                taken as they are (NaN and infinities included, as x's); steps t >=
 *                lengths[b] do not read theirs.
 * Every other argument as gru_forward. A training forward keeps a copy of attention in
 * the workspace for gru_backward_att (gru_workspace_size counts it: T*B elements).
 * Returns GRU_ERR_UNSUPPORTED for a model without augru, GRU_ERR_NULL for a NULL
 * attention, otherwise as gru_forward. */
GRU_API gru_status gru_forward_att(gru_model *model, int training, int64_t seq_len,
                                   int64_t batch, int batch_first, const void *x,
                                   const void *attention, const void *h0,
                                   const int32_t *lengths, void *output, void *h_n,
                                   void *workspace, size_t workspace_bytes);

/* gru_backward for a training gru_forward_att, plus
 *   grad_attention  written (overwritten) with dLoss/da in attention's layout ((T, B),
 *                   or (B, T) when batch_first), or NULL to skip. It is the sum over
 *                   layers, directions and hidden units of dLoss/dh'_j * dh'_j/da, with
 *                   dh'_j/da = (n_j - h_j) (1 - z_j); per layer-direction the H units
 *                   are added in increasing j, then the layer-directions in the order
 *                   (L-1, 0), (L-1, 1), ..., (0, 0), (0, 1): bitwise the same for any
 *                   thread count. 0 at steps t >= lengths[b].
 * Returns GRU_ERR_UNSUPPORTED for a model without augru; otherwise as gru_backward. */
GRU_API gru_status gru_backward_att(gru_model *model, int64_t seq_len, int64_t batch,
                                    int batch_first, const void *x, const void *workspace,
                                    size_t workspace_bytes, const void *grad_output,
                                    const void *grad_h_n, void *grad_x, void *grad_h0,
                                    void *grad_attention);

/* ---- streaming: one time step at a time ------------------------------------------ */

/* Bytes of scratch gru_step needs for `batch` >= 1 streams: O(batch * H), independent
 * of how many steps are run. GRU_ERR_UNSUPPORTED for a bidirectional or reverse model. */
GRU_API gru_status gru_step_scratch_size(const gru_model *model, int64_t batch,
                                         size_t *bytes);

/* Advances `batch` independent streams of a unidirectional model by one time step (an
 * inference step: no dropout, nothing kept for backward), for real-time use.
 *   x        (B, I) this step's input frames, model dtype. Read only.
 *   state    (L, B, H) the streams' states, owned by the caller: read as h_{t-1} and
 *            overwritten in place with h_t for every layer. Zeros start a stream (see
 *            gru_step_reset).
 *   output   (B, H) written with the last layer's h_t (equal to state[L-1]), or NULL.
 *   scratch  at least gru_step_scratch_size bytes, or NULL to have the library
 *            allocate (and free) it on every call; give it to allocate nothing.
 * Alignment: x, state and output to the element size, scratch to GRU_WORKSPACE_ALIGN
 * (8); else GRU_ERR_MISALIGNED, before anything is read or written.
 * Running a sequence step by step gives bitwise the results of gru_forward over the
 * whole sequence (same kernels, same order of operations), for any thread count.
 * The model is only read: steps of different stream sets may run concurrently on one
 * model from several threads, each with its own state and scratch.
 * Returns GRU_ERR_UNSUPPORTED for a bidirectional or reverse model (a right-to-left
 * pass needs the whole sequence), GRU_ERR_WORKSPACE if scratch_bytes is too small; also
 * for an augru model (gru_step_att). */
GRU_API gru_status gru_step(gru_model *model, int64_t batch, const void *x, void *state,
                            void *output, void *scratch, size_t scratch_bytes);

/* gru_step for an augru model: attention (B) this step's score of each stream (model
 * dtype, aligned to the element size, read only; NULL: GRU_ERR_NULL). Bitwise the
 * results of gru_forward_att over the whole sequence. GRU_ERR_UNSUPPORTED for a model
 * without augru; otherwise as gru_step. */
GRU_API gru_status gru_step_att(gru_model *model, int64_t batch, const void *x,
                                const void *attention, void *state, void *output,
                                void *scratch, size_t scratch_bytes);

/* Resets stream `index` (0 <= index < batch) of a (L, B, H) state to zeros, every
 * layer, leaving the other streams alone (state: any alignment, it is cleared
 * bytewise). GRU_ERR_UNSUPPORTED for a bidirectional or reverse model (as gru_step),
 * GRU_ERR_OVERFLOW if the state's size L*B*H does not fit in size_t (nothing is written
 * then). */
GRU_API gru_status gru_step_reset(const gru_model *model, int64_t batch, void *state,
                                  int64_t index);

/* ---- model files ------------------------------------------------------------------ */
/* The format of pygru's GRU.save / pygru.load: a safetensors file (8-byte little-endian
 * header length N, N bytes of JSON, then the tensors' little-endian bytes), tensors
 * named as above, and the configuration in the header's "__metadata__" as strings:
 * format "pygru", format_version "1", class "GRU" (or "GRUCell": tensors weight_ih,
 * weight_hh, bias_ih, bias_hh, loaded as one layer), input_size, hidden_size,
 * num_layers, bias, bidirectional, reset_after, batch_first (pygru's; libgru takes the
 * layout per call), dropout, augru ("0" or "1"; gru_save writes it, a file without it
 * is a plain GRU).
 * An int8 model's file (gru_quantize; docs/quantization.md, "Model files") adds
 * "quantization": "int8" to the metadata and stores each weight as dtype I8 (values in
 * [-127, 127], same name and shape) followed by its row scales "<name>.scale" (F32,
 * shape (3H)); biases F32. A bf16 model's file has "quantization": "bf16" and each
 * weight as dtype BF16 (the safetensors bfloat16: 2 bytes little-endian, the high half
 * of a float32; the model's bf16 values bit for bit, same name and shape), no scale
 * tensors; biases F32. */

/* Writes the model's configuration and parameters to path, atomically, with the rules
 * of pygru's saves (docs/RELIABILITY.md, "Files pygru writes"):
 *   - path always holds its old or its new complete content: the new file is written
 *     in path's folder, flushed to disk (fsync), renamed over path, the folder fsynced;
 *   - no debris, even if the process is killed: on Linux the new file is unnamed
 *     (O_TMPFILE) until the instant before the rename; elsewhere it is a temporary
 *     ".pygru-<8 hex>-<pid>-<12 hex>.tmp" (fixed length: names of 255 bytes work), and
 *     each save removes those that killed saves of the same target left (POSIX: only if
 *     their pid is dead). GRU_SAVE_NO_TMPFILE=1 in the environment forces that way;
 *   - an existing file keeps its permission bits (& 0777) and, where allowed, its owner
 *     and group; a new file gets 0666 less the umask;
 *   - symbolic links are followed (POSIX; a chain of up to 40): the file at the end is
 *     replaced, the links stay, a dangling link gets its target created;
 *   - only regular files are replaced: a directory, device, FIFO or socket (or a loop of
 *     links) is refused with GRU_ERR_IO and nothing is written.
 * GRU_ERR_IO on any file error, GRU_ERR_NO_MEMORY if memory runs out: path is then
 * unchanged and no temporary file remains. Nothing prints. An int8 or bf16 model is
 * saved in the int8 or bf16 format above; gru_load gives back a model with bitwise its
 * results. */
GRU_API gru_status gru_save(const gru_model *model, const char *path);

/* What gru_load_file says about a file beyond its model: pygru 1 when the file has
 * pygru metadata (format "pygru"); cell 1 for a GRUCell's tensor names (weight_ih, ...);
 * batch_first 0 or 1 from the metadata, -1 when absent (libgru takes the layout per
 * call; pygru keeps it). */
typedef struct gru_file_info {
    int32_t pygru;
    int32_t cell;
    int32_t batch_first;
} gru_file_info;

/* Creates a model from a file written by gru_save, by pygru, or by the safetensors
 * package from a torch.nn.GRU state dict (no pygru metadata: the configuration is read
 * off the tensor names and shapes). The dtype is float64 when every tensor is F64,
 * else float32. pygru.load reads through this function: both accept the same files.
 * Everything is checked before the model is made:
 *  - path is a regular file (a directory, FIFO or device: GRU_ERR_IO, without blocking);
 *  - the header length against the file size, and at most 1 MiB;
 *  - the header is strict JSON in UTF-8 (no overlongs, lone surrogates or \u0000; no
 *    two members of an object with the same key; integers without leading zeros that
 *    fit int64; nesting at most 8 deep; arrays of at most 8 values);
 *  - every tensor: dtype F32 or F64 (I8, BF16: below), shape, data_offsets inside the data and matching
 *    the shape, no two overlapping; names as gru_param_info gives them, layer numbers
 *    as plain decimals (0|[1-9][0-9]*);
 *  - the set of names: L = max layer + 1, D = 2 if any name ends in _reverse, and every
 *    (kind, layer, direction) exactly once, so L * D * (bias ? 4 : 2) tensors (4 or 2
 *    for a GRUCell), bias all-or-nothing; every shape as weight_ih_l0's sizes imply;
 *  - pygru metadata: format_version "1", class GRU or GRUCell (as the names say),
 *    input_size, hidden_size, num_layers (decimal, no sign, spaces or leading zeros),
 *    bias, bidirectional, reset_after, and if present reverse, batch_first and augru
 *    (exactly "0" or "1"; augru "1" refused in a quantized file), each agreeing with
 *    the shapes; dropout, input_dropout,
 *    recurrent_dropout if present a decimal [0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)? in
 *    [0, 1) (as Python's repr(float) writes them; no hex, inf or nan);
 *  - quantization: absent (a float model), "int8" or "bf16" (anything else is
 *    refused); I8 only for weights and only in an int8 file, where every weight is I8
 *    with exactly one "<name>.scale" (F32, shape (3H)) and biases are F32; BF16 only
 *    for weights and only in a bf16 file, where every weight is BF16, biases are F32
 *    and there is no scale tensor; no scale tensor in a float file; then, reading the
 *    data, every scale finite and >= 0, every int8 value in [-127, 127] (-128 refused)
 *    and all values 0 in a row of scale 0 (bf16 values are taken as they are, NaN and
 *    infinities included, as a float file's). The result is an int8 or bf16 model
 *    (gru_quant_format GRU_INT8, GRU_BF16), bitwise the one gru_save wrote; an input
 *    width over the quantized kernels' 65536 is GRU_ERR_UNSUPPORTED.
 * So the model is never larger than the file's data. Memory while loading: the model,
 * twice the header, its JSON nodes (allocated as the header needs them, at most about
 * 60 bytes per header byte: under 64 MiB for the largest header) and one tensor's
 * bytes; time linear in the file size (n log n for sorting keys and offsets).
 * *out: the new model (free with gru_destroy), NULL on failure. info: if not NULL,
 * receives the gru_file_info ({0, 0, -1} on failure). message: if not NULL, receives a
 * NUL-terminated English description of what was wrong, starting with the path (at most
 * message_size bytes; "" on success).
 * Returns GRU_OK, GRU_ERR_NULL, GRU_ERR_IO (cannot open or read; not a regular file),
 * GRU_ERR_FORMAT (anything malformed), GRU_ERR_NO_MEMORY, GRU_ERR_UNSUPPORTED (an int8
 * or bf16 file too wide for their kernels) or an error of gru_create. */
GRU_API gru_status gru_load_file(const char *path, gru_model **out, gru_file_info *info,
                                 char *message, size_t message_size);

/* gru_load_file without the info. */
GRU_API gru_status gru_load(const char *path, gru_model **out, char *message,
                            size_t message_size);

/* ---- int8 inference models (docs/quantization.md) -------------------------------- */

/* Quantization formats for gru_quantize. */
typedef enum gru_qformat {
    GRU_INT8 = 1,  /* int8 weights per row + dynamic int8 activations, int32 sums */
    GRU_BF16 = 2   /* bf16 weights and activations, float32 sums (see below) */
} gru_qformat;

/* Makes *out, a new inference-only model computing model's GRU in int8 (format
 * GRU_INT8); model is only read and stays usable; *out is freed with gru_destroy.
 * Semantics (exact; every kernel set gives the same bits, for any thread count):
 *  - each row of every W_ih and W_hh (one gate of one unit) is quantized once: with
 *    a = max |w| over the row, the scale s = a / 127 (float32) and q = clamp(
 *    lrintf(w * (127 / a)), -127, 127) (round half to even, the default rounding
 *    mode); a zero row gives s = 0 and q = 0. A float64 model's weights are rounded to
 *    float32 first. Biases are kept (as float32).
 *  - at every use, each row of activations (one sequence's layer input x_t, its state
 *    h_{t-1}, and for reset_after = 0 its r * h_{t-1}) is quantized the same way;
 *  - the products are exact int32 sums; then in float32, never fused:
 *    pre = (float)acc * (s_w * s_x) + b, r = sigmoid(gi_r + gh_r), z likewise,
 *    n = tanh(gi_n + r * gh_n) (reset_after) or tanh(gi_n + W_hn Q(r h) + b_hn),
 *    h' = (1 - z) * n + z * h, with sigmoid and tanh the vector functions of
 *    c/src/kernels/VMATH.md (within 2 ulp of the correctly rounded values).
 * Inputs and outputs stay float32. The int8 model serves gru_forward with training =
 * 0, gru_step, gru_step_reset, gru_workspace_size (training = 0), gru_step_scratch_size
 * and the read-only calls; gru_param_get returns the dequantized weights (q * s, as
 * float32) and the biases. Training forwards, gru_backward, gru_dropout_masks,
 * gru_param_set, gru_param_data, gru_params_changed and the gradient calls return
 * GRU_ERR_UNSUPPORTED; gru_save writes an int8 model file (model files, above). The kernel set (gru_quant_isa) is chosen here from the
 * float set the new model gets (GRU_ISA as for gru_create): AVX-512 VNNI when the CPU
 * has it, AVX2 (also on AVX-512 CPUs without VNNI), on aarch64 (float set neon) NEON
 * with SDOT when the CPU has it, else NEON's widening multiplies ("neonmull"), else the
 * scalar reference.
 * Returns GRU_OK, GRU_ERR_NULL, GRU_ERR_INVALID_ARG (unknown format),
 * GRU_ERR_UNSUPPORTED (model is already quantized, layer_norm or augru, or an input width I or D*H above
 * 65536, where the int32 sums could overflow), GRU_ERR_OVERFLOW, GRU_ERR_NO_MEMORY or
 * an error of gru_create (GRU_ERR_ISA_UNAVAILABLE).
 * GRU_BF16: the same calls and limits, with every weight rounded to bfloat16 (round to
 * nearest even; NaN stays NaN) once, and every activation row (x_t, h_{t-1}, r * h_{t-1})
 * rounded to bf16 when it enters a product; a dot product is a float32 sum over the row
 * padded with zeros to a multiple of 32 values, in pairs j = 0, 1, ...:
 * acc = (acc + w[2j+1] x[2j+1]) + w[2j] x[2j] (each operation rounded, from acc = +0),
 * then pre = acc + b; the gate arithmetic as above. gru_param_get returns the bf16
 * weights as float32 (exact: a weight's bf16 bits are the high half of its float32,
 * the low half is 0); gru_quant_weight_get is for int8 models only; gru_save writes a
 * bf16 model file (model files, above). bf16 sets: "avx512" (float set avx512), "avx2"
 * (float set avx2) and "neon" (float set neon), bitwise the scalar reference; on a CPU
 * with AVX512_BF16, float set avx512 gives "avx512bf16" (vdpbf16ps: flushes denormals,
 * so not bitwise; within the bound of docs/quantization.md), and on an aarch64 CPU with
 * BF16 float set neon gives "neonbf16" (BFDOT: rounds to odd, in another order; within
 * its bound there), unless the environment has GRU_BF16_EXACT=1 (read here). */
GRU_API gru_status gru_quantize(const gru_model *model, int32_t format, gru_model **out);

/* The model's quantization format (GRU_INT8, GRU_BF16), 0 for a float model or NULL. */
GRU_API int32_t gru_quant_format(const gru_model *model);

/* Name of an int8 model's kernel set ("scalar", "avx2", "avx512vnni", "neon",
 * "neonmull"), or of a bf16 model's ("scalar", "avx2", "avx512", "avx512bf16", "neon", "neonbf16"); static
 * storage; NULL for a float model or NULL. */
GRU_API const char *gru_quant_isa(const gru_model *model);

/* Space-separated names of the int8 kernel sets this build has and this CPU runs
 * (static storage), e.g. "scalar avx2 avx512vnni" or "scalar neon" (aarch64 lists the one
 * NEON set the CPU gets: neon with SDOT, else neonmull). */
GRU_API const char *gru_available_quant_isas(void);

/* Space-separated names of the bf16 kernel sets this build has and this CPU runs
 * (static storage), e.g. "scalar avx2 avx512 avx512bf16" or "scalar neon neonbf16". */
GRU_API const char *gru_available_bf16_isas(void);

/* Copies an int8 model's quantized weight `name` (a weight_ih / weight_hh tensor):
 * values (rows, cols) int8, count = rows * cols, and the row scales (rows = 3H),
 * nscales = 3H; the weight is values * scales[row]. GRU_ERR_UNSUPPORTED for a float
 * model, GRU_ERR_UNKNOWN_NAME for a name that is not a weight (biases are float32:
 * gru_param_get), GRU_ERR_SIZE_MISMATCH for other counts. */
GRU_API gru_status gru_quant_weight_get(const gru_model *model, const char *name,
                                        int8_t *values, size_t count, float *scales,
                                        size_t nscales);

/* CFFI-END */

#ifdef __cplusplus
}
#endif

#endif /* GRU_H */
