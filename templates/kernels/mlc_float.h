/* mlc_float.h: the conditions under which mlc's float32 layers give TFLM's results bit for bit.
   Each float32 kernel does one IEEE-754 single-precision operation per element, rounded to nearest;
   that holds only without contraction into fused multiply-adds (GCC contracts by default outside ISO C
   modes, and ignores #pragma STDC FP_CONTRACT), without -ffast-math's reordering and without
   evaluation in a wider type. */
#ifndef MLC_FLOAT_H
#define MLC_FLOAT_H

#include <float.h>
#include <math.h>

#if defined(__FAST_MATH__)
#error "mlc: this model has float32 layers, which need IEEE-754 arithmetic: do not build it with -ffast-math"
#endif
#if FLT_EVAL_METHOD != 0
#error "mlc: this model has float32 layers, which need float evaluated as float (FLT_EVAL_METHOD 0); use SSE, not x87"
#endif
#if defined(__AVR__)
#error "mlc: this model has float32 layers; avr-libc's float arithmetic is not verified bit-exact with TFLM's, so mlc does not build them for AVR"
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define MLC_FP_EXACT
#elif defined(__GNUC__)
#define MLC_FP_EXACT __attribute__((optimize("fp-contract=off")))
#else
#define MLC_FP_EXACT
#endif

#endif
