"""SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH, ABS, RSQRT and ELU, int8 -> int8 (and int16 -> int16
where TFLM has it), as TFLM's reference kernels (reference/softmax.h, reference/integer_ops/logistic.h and tanh.h,
activations.h, leaky_relu.h, hard_swish.h, elementwise.cc, elu.cc). The exp() of each input difference and the outputs of
the one-element functions are tables derived once in codegen.ops.activations, which the C kernels
read too."""
import numpy as np

from codegen.model.fixedpoint import (INT32_MIN, count_leading_zeros32, get_reciprocal, inv_sqrt_quantized_multiplier_exp,
                                      log_x_for_x_greater_than_or_equal_to_1,
                                      lut_lookup_int16, multiply_by_quantized_multiplier,
                                      rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
                                      saturating_rounding_multiply_by_pot, wrap32)
from hostsim.kernels import kernel
from hostsim.kernels.elementwise import float_unary

ACCUMULATION_INTEGER_BITS = 12


def softmax_int16(p, x):
    """TFLM's SoftmaxInt16: exp() of the rescaled differences from a LUT (Q0.15), their sum's reciprocal from
    the 1/(1+x) LUT after normalising the sum to [1, 2), each exp() scaled by it back to Q0.15."""
    diff = x.astype(np.int64) - x.max(axis=-1, keepdims=True)
    scaled = multiply_by_quantized_multiplier(diff, p["input_multiplier"], p["input_left_shift"])
    exps = lut_lookup_int16(np.clip(scaled + 32767, -32768, 32767), p["exp_lut"])
    sums = exps.sum(axis=-1, keepdims=True)
    headroom_plus_one = count_leading_zeros32(sums)
    shifted = ((sums << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    reciprocal = lut_lookup_int16(np.clip(shifted - (1 << 15) - (1 << 16), -32768, 32767), p["one_over_one_plus_x_lut"])
    right_shift = 31 - headroom_plus_one
    return np.clip((exps * reciprocal + (1 << (right_shift - 1))) >> right_shift, 0, 32767).astype(np.int16)


def _sum_of_exps(p, x):
    """Each row's differences to its maximum, which of them count (smaller ones contribute exp() = 0), their
    exp() in Q0.31 and the row's sum of exps in Q12.19, as SOFTMAX and LOG_SOFTMAX accumulate it."""
    diff = x.astype(np.int64) - x.max(axis=-1, keepdims=True)
    used = diff >= p["diff_min"]
    exps = p["exp_table"][-diff]  # every int8 -diff is in 0..255
    in_accum = saturating_rounding_multiply_by_pot(exps, -ACCUMULATION_INTEGER_BITS)  # Rescale to Q12.19
    return diff, used, exps, wrap32(np.where(used, in_accum, 0).sum(axis=-1, keepdims=True))


@kernel("SOFTMAX")
def softmax(op, x):
    p = op.params
    if x.dtype == np.int16:
        return softmax_int16(p, x)
    diff, used, exps, sum_of_exps = _sum_of_exps(p, x)
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


LOG_SOFTMAX_OUTPUT_SHIFT = 31 - 5 - 4  # Q5.26 differences to the output's Q4 steps of 1/16


@kernel("LOG_SOFTMAX")
def log_softmax(op, x):
    """TFLM's LogSoftmaxQuantized: diff - log(sum of exps) in Q5.26, rounded to steps of 1/16 from 127; the
    differences whose result is below the representable range (adjusted_diff_min) give -128."""
    p = op.params
    diff, _, _, sum_of_exps = _sum_of_exps(p, x)
    log_sum = log_x_for_x_greater_than_or_equal_to_1(sum_of_exps, ACCUMULATION_INTEGER_BITS, 5)
    adjusted_diff_min = np.maximum(p["diff_min"] - 1, multiply_by_quantized_multiplier(
        wrap32(log_sum + INT32_MIN), p["reverse_scaling_divisor"], p["reverse_scaling_shift"]))
    out = rounding_divide_by_pot(wrap32(p["diff_table"][-diff] - log_sum), LOG_SOFTMAX_OUTPUT_SHIFT) + 127
    return np.where(diff > adjusted_diff_min, np.clip(out, -128, 127), -128).astype(np.int8)


L2_OUTPUT_SHIFT = 7  # TFLM's kOutputScale: the output in steps of 1/128


@kernel("L2_NORMALIZATION")
def l2_normalization(op, x):
    """TFLM's integer L2Normalization: per row the int32 sum of squares of x - zp, its 1/sqrt as a multiplier and
    right shift (GetInvSqrtQuantizedMultiplierExp), each centred input multiplied by it to steps of 1/128."""
    centred = x.astype(np.int64) - op.params["input_zero_point"]
    sums = wrap32((centred * centred).sum(axis=-1, keepdims=True))
    inv = [inv_sqrt_quantized_multiplier_exp(int(v)) for v in sums.ravel()]
    multiplier = np.array([m for m, _ in inv], np.int64).reshape(sums.shape)
    shift = L2_OUTPUT_SHIFT - np.array([s for _, s in inv], np.int64).reshape(sums.shape)
    return np.clip(multiply_by_quantized_multiplier(centred, multiplier, shift), -128, 127).astype(np.int8)
