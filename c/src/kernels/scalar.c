/*
 * scalar.c - the scalar reference kernel table: ref_impl.h instantiated for float and
 * double. Portable C11, no intrinsics; present in every build.
 */
#include <math.h>
#include "kernels/kernels.h"

#define R float
#define KSFX(name) gru_ref_##name##_f32
#define EXP expf
#define TANH tanhf
#include "kernels/ref_impl.h"
#undef R
#undef KSFX
#undef EXP
#undef TANH

#define R double
#define KSFX(name) gru_ref_##name##_f64
#define EXP exp
#define TANH tanh
#include "kernels/ref_impl.h"
#undef R
#undef KSFX
#undef EXP
#undef TANH

const gru_kernels gru_kernels_scalar = {"scalar", GRU_REF_HALF(f32), GRU_REF_HALF(f64)};
