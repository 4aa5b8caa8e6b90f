"""TFLite's fixed-point primitives (gemmlowp semantics), vectorised over int64 numpy arrays.

Values are int32 quantities held in int64 so that products never overflow; each function returns
exactly what the int32 C code returns. templates/kernels/fixedpoint.h is the C twin, and
tests/test_fixedpoint.py proves the two agree.
"""
import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _i64(x):
    return np.asarray(x, dtype=np.int64)


def trunc_div(num, den):
    """C integer division (truncates toward zero)."""
    num, den = _i64(num), _i64(den)
    q = np.abs(num) // np.abs(den)
    return np.where((num < 0) != (den < 0), -q, q)


def saturating_rounding_doubling_high_mul(a, b):
    a, b = _i64(a), _i64(b)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x, exponent):
    x, exponent = _i64(x), _i64(exponent)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier (double rounding): x * multiplier * 2^(shift-31)."""
    shift = _i64(shift)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(_i64(x) << left, multiplier), right)


def requantize(acc, multiplier, shift, output_offset, act_min, act_max):
    """The int32 accumulator -> int8 output step every weighted layer ends with."""
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset
    return np.clip(out, act_min, act_max).astype(np.int8)
