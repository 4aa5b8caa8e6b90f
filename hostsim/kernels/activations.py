"""SOFTMAX, LOGISTIC and TANH, int8 -> int8, as TFLM's reference kernels (reference/softmax.h,
reference/integer_ops/logistic.h and tanh.h) on gemmlowp fixed point."""
import numpy as np

from hostsim.fixedpoint import (exp_on_negative_values, fixed_logistic, fixed_tanh, get_reciprocal,
                                multiply_by_quantized_multiplier, rounding_divide_by_pot,
                                saturating_rounding_doubling_high_mul, saturating_rounding_multiply_by_pot, wrap32)
from hostsim.kernels import KERNELS, kernel

SCALED_DIFF_INTEGER_BITS, ACCUMULATION_INTEGER_BITS = 5, 12


def scaled_exp(diff, p):
    """exp(beta * input_scale * diff) in Q0.31 for diff = x - max(row) <= 0, as TFLM computes it:
    MultiplyByQuantizedMultiplierGreaterThanOne to Q5.26, then exp_on_negative_values."""
    rescaled = saturating_rounding_doubling_high_mul(wrap32(np.asarray(diff, np.int64) << p["input_left_shift"]),
                                                     p["input_multiplier"])
    return exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)


def softmax_exp_table(p) -> np.ndarray:
    """scaled_exp of the int8 differences 0, -1, ..., -255 (the C kernel's table); 0 for those
    below diff_min, which TFLM skips: they then add 0 to the sum and output -128, as skipped."""
    diff = -np.arange(256)
    return np.where(diff >= p["diff_min"], scaled_exp(diff, p), 0)


@kernel("SOFTMAX")
def softmax(op, x):
    p = op.params
    x = x.astype(np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= p["diff_min"]  # smaller differences contribute exp() = 0 and output -128
    exps = scaled_exp(diff, p)
    in_accum = saturating_rounding_multiply_by_pot(exps, -ACCUMULATION_INTEGER_BITS)  # Rescale to Q12.19
    sum_of_exps = wrap32(np.where(used, in_accum, 0).sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    out = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale, exps), exponent) - 128
    return np.where(used, np.clip(out, -128, 127), -128).astype(np.int8)


def _sigmoid_like(op, x, fn, output_shift, output_offset):
    """Shared int8 LOGISTIC/TANH: saturate outside the input radius, else rescale to Q4.27,
    apply the Q0.31 function and round down to 8 bits."""
    p = op.params
    centred = x.astype(np.int64) - p["input_zero_point"]
    radius = p["input_range_radius"]
    in_q4 = wrap32(multiply_by_quantized_multiplier(centred, p["input_multiplier"], p["input_left_shift"]))
    out = np.clip(rounding_divide_by_pot(fn(in_q4, 4), output_shift) + output_offset, -128, 127)
    return np.where(centred <= -radius, -128, np.where(centred >= radius, 127, out)).astype(np.int8)


@kernel("LOGISTIC")
def logistic(op, x):
    return _sigmoid_like(op, x, fixed_logistic, 31 - 8, -128)  # Q0.8 output, zero point -128


@kernel("TANH")
def tanh(op, x):
    return _sigmoid_like(op, x, fixed_tanh, 31 - 7, 0)  # Q0.7 output


def int8_table(op) -> np.ndarray:
    """A LOGISTIC/TANH layer's output for each int8 input -128..127 (the C kernel's lookup table)."""
    return KERNELS[op.kind](op, np.arange(-128, 128, dtype=np.int8))
