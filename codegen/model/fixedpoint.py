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


def _saturating_shift_left(x, exponent):
    """TFLite SaturatingRoundingMultiplyByPOTParam for a run-time exponent >= 0 (per element)."""
    x, exponent = _i64(x), _i64(exponent)
    threshold = (np.int64(1) << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, wrap32(x << exponent)))


_LOG_CONSTANTS = {"log_2": 1488522236, "sqrt_sqrt_half": 1805811301, "sqrt_half": 1518500250, "alpha_n": 117049297,
                  "alpha_d": 127690142, "alpha_i": 1057819769, "alpha_f": 638450708}  # Q0.31, as TFLite's common.h


def log_x_for_x_greater_than_or_equal_to_1(x, input_integer_bits: int, output_integer_bits: int):
    """TFLite log_x_for_x_greater_than_or_equal_to_1_impl: log(x) for x >= 1 in Q(input_integer_bits), in
    Q(output_integer_bits); the power of two from the headroom, the rest by a rational approximation."""
    k, srdhm = _LOG_CONSTANTS, saturating_rounding_doubling_high_mul
    accum_bits = output_integer_bits + 1  # headroom for z_pow_2_adj * log_2
    quarter = rounding_divide_by_pot(1 << 29, accum_bits)  # Rescale<accum_bits>(1/4)
    z_a = _i64(x)
    z_a_headroom_plus_1 = count_leading_zeros32(z_a)
    r_a = _saturating_shift_left(srdhm(_saturating_shift_left(z_a, z_a_headroom_plus_1 - 1), k["sqrt_half"]), 1)
    z_a_pow_2_adj = np.clip(_saturating_shift_left(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits) + quarter,
                            INT32_MIN, INT32_MAX)
    z_b_headroom = count_leading_zeros32(srdhm(z_a, k["sqrt_half"])) - 1
    r_b = _saturating_shift_left(z_a, z_b_headroom)
    z_b_pow_2_adj = np.clip(_saturating_shift_left(input_integer_bits - z_b_headroom, 31 - accum_bits) - quarter,
                            INT32_MIN, INT32_MAX)
    r, z_pow_2_adj = np.minimum(r_a, r_b), np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)
    p = rounding_half_sum(r, k["sqrt_sqrt_half"])
    q = wrap32(2 * wrap32(r - k["sqrt_sqrt_half"]))
    common_sq = srdhm(q, q)
    num = wrap32(srdhm(q, r) + srdhm(srdhm(q, common_sq), k["alpha_n"]))
    denom_minus_one = wrap32(srdhm(p, wrap32(k["alpha_i"] + q + srdhm(k["alpha_d"], common_sq))) + srdhm(k["alpha_f"], q))
    num_scaled = rounding_divide_by_pot(num, accum_bits)  # Rescale<accum_bits> of a Q0.31 value
    total = wrap32(srdhm(z_pow_2_adj, k["log_2"]) + srdhm(num_scaled, one_over_one_plus_x_for_x_in_0_1(denom_minus_one)))
    return saturating_rounding_multiply_by_pot(total, accum_bits - output_integer_bits)


def round_half_away(x):
    """std::round of float32 values (halves away from zero); float64 makes |x| + 0.5 exact."""
    x = np.asarray(x, np.float64)
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


# --- TFLite's int16 Logistic and Tanh (reference_integer_ops, LSTM gates): one shared table ---------
# sigmoid(i / 24) in 0.16 format, i = 0 .. 255 (tensorflow/lite/kernels/internal/common.h
# sigmoid_table_uint16; tanh(x) = 2 sigmoid(2x) - 1 reads it too). Not a formula: a few entries differ
# by one from round(65536 * sigmoid(i / 24)).
SIGMOID_TABLE_UINT16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
], dtype=np.int64)


def _int16_table_input(x, multiplier: int, right_shift: int):
    """The int16 Logistic/Tanh input step: (x * multiplier + round) >> right_shift (int32 in TFLM)."""
    rounding = (1 << (right_shift - 1)) if right_shift > 0 else 0
    return (_i64(x) * multiplier + rounding) >> right_shift


def int16_logistic(x, multiplier: int, right_shift: int):
    """reference_integer_ops::Logistic for int16 (its multiplier already 3 << shift when it was 0):
    Q3.12 in (after the input step), sigmoid in Q0.15 out, the table interpolated over 9 fraction bits."""
    v = _int16_table_input(x, multiplier, right_shift)
    a = np.abs(v)
    uh = np.minimum(a >> 9, 254)
    ua, ub = SIGMOID_TABLE_UINT16[uh], SIGMOID_TABLE_UINT16[uh + 1]
    result = np.where((a >> 9) >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    result = np.where(v >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1)
    return (result >> 10).astype(np.int16)


def int16_tanh(x, multiplier: int, right_shift: int):
    """reference_integer_ops::Tanh for int16: Q3.12 in (after the input step), tanh in Q0.15 out,
    the sigmoid table interpolated over 8 fraction bits."""
    v = _int16_table_input(x, multiplier, right_shift)
    a = np.abs(v)
    uh = np.minimum(a >> 8, 254)
    ua, ub = SIGMOID_TABLE_UINT16[uh], SIGMOID_TABLE_UINT16[uh + 1]
    result = np.where((a >> 8) >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    result = np.where(v >= 0, result - (1 << 23) + (1 << 7), -result + (1 << 23) + (1 << 7) - 1)
    return (result >> 8).astype(np.int16)


def lut_lookup_int16(value, lut):
    """TFLite's LUTLookup for int16: a 513-entry table indexed by the top 9 bits of value, the low 7
    interpolated (the slope an int16, the step rounded)."""
    value, lut = _i64(value), _i64(lut)
    index = 256 + (value >> 7)
    slope = (lut[index + 1] - lut[index] + (1 << 15)) % (1 << 16) - (1 << 15)
    out = lut[index] + ((slope * (value & 0x7F) + 64) >> 7)
    return (out + (1 << 15)) % (1 << 16) - (1 << 15)


def inv_sqrt_quantized_multiplier_exp(value: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp of one int32 >= 0 (0 and 1 give INT32_MAX, shift 0):
    1/sqrt(value) ~= multiplier * 2^(-shift - 31) by five Newton-Raphson steps in gemmlowp Q3.28. The
    shift is returned as TFLite's right shift (its kReverseShift caller negates it)."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = (int(count_leading_zeros32(value)) - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    srdhm = saturating_rounding_doubling_high_mul
    half_input = saturating_rounding_multiply_by_pot(value >> 1, -1)
    x = 1 << 28  # F3::One()
    for _ in range(5):
        x3 = saturating_rounding_multiply_by_pot(srdhm(srdhm(x, x), x), 6)  # Rescale<3> of a Q9 product
        x = saturating_rounding_multiply_by_pot(wrap32(srdhm((1 << 28) + (1 << 27), x) - srdhm(half_input, x3)), 3)
    x = int(srdhm(x, 1518500250))  # * sqrt(2) / 2 in Q0.31
    if shift < 0:
        x, shift = int(wrap32(x << -shift)), 0
    return x, shift
