"""SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH, ABS, RSQRT and ELU, int8 -> int8, as TFLM's
reference kernels (reference/softmax.h, reference/integer_ops/logistic.h and tanh.h on gemmlowp fixed point,
activations.h, leaky_relu.h, hard_swish.h, elementwise.cc, elu.cc). The exp() of each input difference and the outputs of
the one-element functions are tables derived once in codegen.ops.activations, which the C kernels
read too."""
import numpy as np

from codegen.model.fixedpoint import (get_reciprocal, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
                                      saturating_rounding_multiply_by_pot, wrap32)
from hostsim.kernels import kernel
from hostsim.kernels.elementwise import float_unary

ACCUMULATION_INTEGER_BITS = 12


@kernel("SOFTMAX")
def softmax(op, x):
    p = op.params
    x = x.astype(np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= p["diff_min"]  # smaller differences contribute exp() = 0 and output -128
    exps = p["exp_table"][-diff]  # every int8 -diff is in 0..255
    in_accum = saturating_rounding_multiply_by_pot(exps, -ACCUMULATION_INTEGER_BITS)  # Rescale to Q12.19
    sum_of_exps = wrap32(np.where(used, in_accum, 0).sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    bits = p["output_bits"]  # int8 or int16 output: TFLM's Softmax<OutputT>
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    exponent = num_bits_over_unit + 31 - bits
    out = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale, exps), exponent) + lo
    return np.where(used, np.clip(out, lo, hi), lo).astype(op.outputs[0].dtype)


@kernel("LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "ABS", "RSQRT", "ELU")
def table_lookup(op, x):
    if op.params.get("dtype") == "float32":
        return float_unary(op, x)
    return op.params["table"][x.astype(np.int64) - np.iinfo(op.inputs[0].dtype).min]  # derived in codegen.ops.activations
