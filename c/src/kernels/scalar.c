/*
 * scalar.c - the scalar reference kernel table: ref_impl.h instantiated for float and
 * double. Portable C11, no intrinsics; present in every build.
 */
#include <math.h>
#include "kernels/kernels.h"
#include "rng.h"

#define R float
#define KSFX(name) gru_ref_##name##_f32
#define EXP expf
#define TANH tanhf
#define SQRT sqrtf
#include "kernels/ref_impl.h"
#undef R
#undef KSFX
#undef EXP
#undef TANH
#undef SQRT

#define R double
#define KSFX(name) gru_ref_##name##_f64
#define EXP exp
#define TANH tanh
#define SQRT sqrt
#include "kernels/ref_impl.h"
#undef R
#undef KSFX
#undef EXP
#undef TANH
#undef SQRT

const gru_kernels gru_kernels_scalar = {.name = "scalar",
                                        .f32 = GRU_KERNEL_HALF(GRU_REF_F32, 0, 1),
                                        .f64 = GRU_KERNEL_HALF(GRU_REF_F64, 0, 1)};
