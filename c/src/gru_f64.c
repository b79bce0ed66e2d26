/* gru_f64.c - the float64 forward and backward drivers (gru_impl.h). */
#include "model.h"
#define R double
#define S f64
#include "gru_impl.h"
