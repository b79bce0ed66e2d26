/* gru_f32.c - the float32 forward and backward drivers (gru_impl.h). */
#include "model.h"
#define R float
#define S f32
#include "gru_impl.h"
