/*
 * scalar.c - the scalar reference kernel table: ref_impl.h instantiated for float and
 * double. Portable C11, no intrinsics; present in every build.
 */
#include <math.h>
#include "kernels/kernels.h"

#define R float
#define KSFX(name) name##_f32
#define EXP expf
#define TANH tanhf
#include "kernels/ref_impl.h"
#undef R
#undef KSFX
#undef EXP
#undef TANH

#define R double
#define KSFX(name) name##_f64
#define EXP exp
#define TANH tanh
#include "kernels/ref_impl.h"
#undef R
#undef KSFX
#undef EXP
#undef TANH

#define GRU_TABLE_HALF(S)                                                              \
    {                                                                                  \
        gemm_##S, fill_rows_##S, colsum_add_##S, cell_fwd_after_##S,                   \
        cell_fwd_before_rz_##S, cell_fwd_before_n_##S, cell_bwd_after_##S,             \
        cell_bwd_before_zn_##S, cell_bwd_before_r_##S                                  \
    }

const gru_kernels gru_kernels_scalar = {"scalar", GRU_TABLE_HALF(f32), GRU_TABLE_HALF(f64)};
