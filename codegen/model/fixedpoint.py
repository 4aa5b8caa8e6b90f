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
    """TFLite MultiplyByQuantizedMultiplier (double rounding): x * multiplier * 2^(shift-31). The left
    shift wraps in int32, as TFLM's `x * (1 << left_shift)` does."""
    shift = _i64(shift)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap32(_i64(x) << left), multiplier), right)


def multiply_by_quantized_multiplier_64(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier for the int64 accumulators of the int16 kernels: the
    multiplier rounded to 16 bits, then one rounding shift by 15 - shift; the int64 result cast to
    int32 (truncated, as TFLM's static_cast). The twin of mlc_requantize_s16 in mlc_fixedpoint.h."""
    m = _i64(multiplier)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - _i64(shift)
    return wrap32((_i64(x) * reduced + (np.int64(1) << (total - 1))) >> total)


def requantize_s16(acc, multiplier, shift, act_min, act_max):
    """The int64 accumulator -> int16 output step of the 16x8 weighted layers (zero points 0)."""
    return np.clip(multiply_by_quantized_multiplier_64(acc, multiplier, shift), act_min, act_max).astype(np.int16)


def requantize(acc, multiplier, shift, output_offset, act_min, act_max, dtype=np.int8):
    """The int32 accumulator -> int8 (or `dtype`) output step every weighted layer ends with (multiplier
    and shift per output channel along the last axis, or scalars): multiply_by_quantized_multiplier, the
    output offset and the clamp, the twin of mlc_requantize in mlc_fixedpoint.h.

    Computed with shifts where multiply_by_quantized_multiplier divides, the same numbers several times
    faster: SaturatingRoundingDoublingHighMul(a, m) is (a*m + 2^30) >> 31 for any a when m != INT32_MIN
    (its negative nudge 1 - 2^30 and the truncating division fold into that floor), and
    RoundingDivideByPOT(v, e) is (v + 2^(e-1) - (v < 0)) >> e for e >= 1."""
    multiplier, shift = _i64(multiplier), _i64(shift)
    if np.any(multiplier == INT32_MIN):  # never a TFLite multiplier, but the C twin accepts it
        out = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset
        return np.clip(out, act_min, act_max).astype(dtype)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    v = _i64(acc)
    if np.any(left):  # wraps in int32, as TFLM's x * (1 << left)
        v = wrap32(v << left)
    v = (v * multiplier + (1 << 30)) >> 31
    v = (v + np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0) - ((v >> 63) & (right > 0))) >> right
    return np.clip(v + output_offset, act_min, act_max).astype(dtype)


# --- gemmlowp FixedPoint math (fixedpoint.h), for SOFTMAX, LOGISTIC and TANH -----------------------
# A FixedPoint<int32, ib> value is its raw int32; `ib` (integer bits) only fixes where the binary
# point sits (31 - ib fractional bits). gemmlowp's + and - are plain int32 ops, hence wrap32.

def wrap32(x):
    """int32 two's-complement wrap-around of a plain C int32 add/sub/shift."""
    return ((_i64(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_multiply_by_pot(x, exponent: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> (and Rescale): saturating left shift for
    exponent > 0, rounding right shift for exponent < 0."""
    x = _i64(x)
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent) if exponent else x
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rounding_half_sum(a, b):
    """gemmlowp RoundingHalfSum for int32: (a + b) / 2 rounded half away from zero."""
    total = _i64(a) + _i64(b)
    return trunc_div(total + np.where(total >= 0, 1, -1), 2)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    srdhm = saturating_rounding_doubling_high_mul
    constant_term, one_third = 1895147668, 715827883  # exp(-1/8), 1/3
    x = wrap32(a + (1 << 28))  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4_over_4 = saturating_rounding_multiply_by_pot(srdhm(x2, x2), -2)
    poly = saturating_rounding_multiply_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), one_third) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int):
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 given in Q(integer_bits), result in Q0.31."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:  # multiply by exp(-2^exponent) for each bit set
        if integer_bits > exponent:
            bit = (remainder >> (fractional_bits + exponent)) & 1
            result = np.where(bit == 1, saturating_rounding_doubling_high_mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)  # below -32
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_of_half_denominator(a):
    """The Newton-Raphson division shared by gemmlowp's 1/(1+x) and (1-x)/(1+x), x in Q0.31:
    returns 1/((1+x)/2) in Q2.29."""
    srdhm = saturating_rounding_doubling_high_mul
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus_half_denominator_times_x = wrap32((1 << 29) - srdhm(half_denominator, x))
        x = wrap32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus_half_denominator_times_x), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out."""
    return saturating_rounding_multiply_by_pot(_newton_reciprocal_of_half_denominator(a), 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1, Q0.31 in and out."""
    return saturating_rounding_multiply_by_pot(wrap32(_newton_reciprocal_of_half_denominator(a) - (1 << 29)), 2)


def fixed_logistic(a, integer_bits: int):
    """gemmlowp logistic: a in Q(integer_bits), 1/(1+exp(-a)) in Q0.31."""
    a = _i64(a)
    positive = a > 0
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-np.where(positive, a, -a)), integer_bits))
    result = np.where(positive, if_positive, wrap32(INT32_MAX - if_positive))
    return np.where(a == 0, 1 << 30, result)


def fixed_tanh(a, integer_bits: int):
    """gemmlowp tanh: a in Q(integer_bits), tanh(a) in Q0.31."""
    a = _i64(a)
    negative = a < 0
    # -tanh(n) for n = -|a| <= 0 is (1 - exp(2n)) / (1 + exp(2n)); 2n is n's raw in Q(integer_bits + 1).
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(np.where(negative, a, wrap32(-a)), integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap32(-t), t))


def count_leading_zeros32(x):
    """CountLeadingZeros of the uint32 value of x (32 for 0)."""
    _, exponent = np.frexp(_i64(x) & 0xFFFFFFFF)  # exact: |x| < 2^32 fits a double's mantissa
    return 32 - exponent.astype(np.int64)


def get_reciprocal(x, x_integer_digits: int):
    """TFLite GetReciprocal: 1/x for x > 0 in Q(x_integer_digits) as (Q0.31 scale, num_bits_over_unit)."""
    headroom_plus_one = count_leading_zeros32(x)
    shifted_sum_minus_one = wrap32(((_i64(x) & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), x_integer_digits - headroom_plus_one


def round_half_away(x):
    """std::round of float32 values (halves away from zero); float64 makes |x| + 0.5 exact."""
    x = np.asarray(x, np.float64)
    return np.copysign(np.floor(np.abs(x) + 0.5), x)
