/* mlc_fixedpoint.h: TFLite's fixed-point requantization (gemmlowp semantics), the C twin of
 * codegen/model/fixedpoint.py: same names with an mlc_ prefix, same results bit for bit
 * (tests/test_fixedpoint_c.py). Integer only, int32_t everywhere (int is 16 bits on AVR), but for
 * mlc_round_float, the float -> integer step of QUANTIZE at a float input. */
#ifndef MLC_FIXEDPOINT_H
#define MLC_FIXEDPOINT_H

#include <stdint.h>

#include "mlc_port.h" /* MLC_RD16: the int16 LOGISTIC/TANH/SOFTMAX tables are in flash */

/* The requantization steps run once per output value: keep them inline even at -Os. */
#if defined(__GNUC__)
#define MLC_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define MLC_ALWAYS_INLINE static inline
#endif

MLC_ALWAYS_INLINE int32_t mlc_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* v rounded half away from zero (TFLite's std::round), saturated to +-2^20: beyond any int8 or int16
 * value plus its zero point, and within float's exact integers; NaN gives -2^20. */
static inline int32_t mlc_round_float(float v)
{
    int32_t r;
    if (!(v > -1048576.0f)) {
        v = -1048576.0f;
    } else if (v > 1048576.0f) {
        v = 1048576.0f;
    }
    r = (int32_t)v; /* truncates; the fraction v - r is exact in float */
    if (v - (float)r >= 0.5f) {
        r += 1;
    } else if (v - (float)r <= -0.5f) {
        r -= 1;
    }
    return r;
}

/* round(a * b / 2^31), saturating the one overflow case INT32_MIN * INT32_MIN. */
MLC_ALWAYS_INLINE int32_t mlc_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
#if MLC_LONG_MUL
    {
        const int64_t ab = (int64_t)a * (int64_t)b;
        const int32_t nudge = ab >= 0 ? INT32_C(1) << 30 : INT32_C(1) - (INT32_C(1) << 30);
        return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates, as gemmlowp's */
    }
#else
    {
        /* Both nudges come to floor((ab + 2^30) / 2^31) (for ab < 0 the truncation is a floor of
         * ab + 1 - 2^30 + 2^31 - 1), taken from the product's words: lo + 2^30 may carry into the high word. */
        const uint32_t lo = (uint32_t)a * (uint32_t)b, q = lo + (UINT32_C(1) << 30);
        const uint32_t hi = (uint32_t)mlc_mul_hi(a, b) + (q < lo ? 1u : 0u);
        return (int32_t)((hi << 1) | (q >> 31));
    }
#endif
}

/* x / 2^exponent rounded half away from zero, exponent in [0, 31]. */
MLC_ALWAYS_INLINE int32_t mlc_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding): x * multiplier * 2^(shift - 31).
 * The left shift wraps like TFLM's x * (1 << left_shift) does on two's-complement targets. */
MLC_ALWAYS_INLINE int32_t mlc_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return mlc_rounding_divide_by_pot(mlc_saturating_rounding_doubling_high_mul(shifted, multiplier), right);
}

/* The int32 accumulator -> int8 output step every weighted layer ends with. Clamping before the
 * offset is added gives clamp(v + offset) without the int32 overflow near INT32_MAX. */
static inline int8_t mlc_requantize(int32_t acc, int32_t multiplier, int shift, int32_t output_offset,
                                    int32_t act_min, int32_t act_max)
{
    const int32_t v = mlc_multiply_by_quantized_multiplier(acc, multiplier, shift);
    return (int8_t)(mlc_clamp(v, act_min - output_offset, act_max - output_offset) + output_offset);
}

/* mlc_requantize for int16 outputs (ADD, SUB, MUL on int16: the same int32 arithmetic). */
static inline int16_t mlc_requantize_s16(int32_t acc, int32_t multiplier, int shift, int32_t output_offset,
                                         int32_t act_min, int32_t act_max)
{
    const int32_t v = mlc_multiply_by_quantized_multiplier(acc, multiplier, shift);
    return (int16_t)(mlc_clamp(v, act_min - output_offset, act_max - output_offset) + output_offset);
}

/* TFLite MultiplyByQuantizedMultiplier for the int64 accumulators of the 16x8 weighted layers: the
 * multiplier rounded to 16 bits, one rounding shift by 15 - shift (16..46 for TFLite's shifts), and
 * TFLM's static_cast of the int64 result to int32 (done in uint32: no implementation-defined cast). */
MLC_ALWAYS_INLINE int32_t mlc_multiply_by_quantized_multiplier_64(int64_t x, int32_t multiplier, int shift)
{
    const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total = 15 - shift;
    const int64_t v = (x * reduced + ((int64_t)1 << (total - 1))) >> total;
    return (int32_t)(uint32_t)(uint64_t)v;
}

/* The int64 accumulator -> int16 output step of the 16x8 CONV_2D, DEPTHWISE_CONV_2D and
 * FULLY_CONNECTED (zero points 0: no offset). */
static inline int16_t mlc_requantize_acc64(int64_t acc, int32_t multiplier, int shift, int32_t act_min,
                                           int32_t act_max)
{
    return (int16_t)mlc_clamp(mlc_multiply_by_quantized_multiplier_64(acc, multiplier, shift), act_min, act_max);
}

/* ---- Section for the activations family (SOFTMAX/LOGISTIC/TANH): gemmlowp helpers such as
 * exp_on_negative_values / one_over_one_plus_x go below this line, twins of any helpers added
 * to codegen/model/fixedpoint.py, named mlc_<python name>. ---- */

/* gemmlowp's + and - on int32 are plain two's-complement ops (hostsim wrap32): done in uint32 so
 * that they wrap without undefined behaviour. */
static inline int32_t mlc_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t mlc_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT / Rescale: saturating left shift for exponent > 0,
 * rounding right shift for exponent < 0. */
static inline int32_t mlc_saturating_rounding_multiply_by_pot(int32_t x, int exponent)
{
    int32_t threshold;
    if (exponent <= 0) {
        return exponent == 0 ? x : mlc_rounding_divide_by_pot(x, -exponent);
    }
    threshold = (INT32_C(1) << (31 - exponent)) - 1;
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp RoundingHalfSum: (a + b) / 2 rounded half away from zero. */
static inline int32_t mlc_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8. */
static inline int32_t mlc_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t constant_term = INT32_C(1895147668); /* exp(-1/8) */
    const int32_t one_third = INT32_C(715827883);
    const int32_t x = mlc_add_wrap(a, INT32_C(1) << 28); /* a + 1/8 */
    const int32_t x2 = mlc_saturating_rounding_doubling_high_mul(x, x);
    const int32_t x3 = mlc_saturating_rounding_doubling_high_mul(x2, x);
    const int32_t x4_over_4 = mlc_saturating_rounding_multiply_by_pot(mlc_saturating_rounding_doubling_high_mul(x2, x2), -2);
    const int32_t poly = mlc_saturating_rounding_multiply_by_pot(
        mlc_add_wrap(mlc_saturating_rounding_doubling_high_mul(mlc_add_wrap(x4_over_4, x3), one_third), x2), -1);
    return mlc_add_wrap(constant_term, mlc_saturating_rounding_doubling_high_mul(constant_term, mlc_add_wrap(x, poly)));
}

/* gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q(integer_bits), result in Q0.31. */
static inline int32_t mlc_exp_on_negative_values(int32_t a, int integer_bits)
{
    static const int32_t barrel[7] = {INT32_C(1672461947), INT32_C(1302514674), INT32_C(790015084),
                                      INT32_C(290630308), INT32_C(39332535), INT32_C(720401), INT32_C(242)};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = INT32_C(1) << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = mlc_sub_wrap(a & (one_quarter - 1), one_quarter);
    const int32_t remainder = mlc_sub_wrap(a_mod_quarter_minus_one_quarter, a);
    int32_t result = mlc_exp_on_interval_between_negative_one_quarter_and_0_excl(
        mlc_saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    int exponent;
    for (exponent = -2; exponent <= 4 && exponent < integer_bits; ++exponent) { /* times exp(-2^exponent) */
        if ((remainder >> (fractional_bits + exponent)) & 1) {
            result = mlc_saturating_rounding_doubling_high_mul(result, barrel[exponent + 2]);
        }
    }
    if (integer_bits > 5 && a < -(INT32_C(1) << (36 - integer_bits))) { /* below -32 */
        result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

/* Newton-Raphson division shared by 1/(1+x) and (1-x)/(1+x), x in Q0.31: 1/((1+x)/2) in Q2.29. */
static inline int32_t mlc_newton_reciprocal_of_half_denominator(int32_t a)
{
    const int32_t half_denominator = mlc_rounding_half_sum(a, INT32_MAX);
    int32_t x = mlc_add_wrap(INT32_C(1515870810), /* 48/17 - 32/17 * d */
                             mlc_saturating_rounding_doubling_high_mul(half_denominator, INT32_C(-1010580540)));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus_half_denominator_times_x =
            mlc_sub_wrap(INT32_C(1) << 29, mlc_saturating_rounding_doubling_high_mul(half_denominator, x));
        x = mlc_add_wrap(x, mlc_saturating_rounding_multiply_by_pot(
                                mlc_saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2));
    }
    return x;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out. */
static inline int32_t mlc_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    return mlc_saturating_rounding_multiply_by_pot(mlc_newton_reciprocal_of_half_denominator(a), 1);
}

/* gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1, Q0.31 in and out. */
static inline int32_t mlc_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    return mlc_saturating_rounding_multiply_by_pot(mlc_sub_wrap(mlc_newton_reciprocal_of_half_denominator(a), INT32_C(1) << 29), 2);
}

/* gemmlowp logistic: a in Q(integer_bits), 1/(1+exp(-a)) in Q0.31. */
static inline int32_t mlc_fixed_logistic(int32_t a, int integer_bits)
{
    int32_t if_positive;
    if (a == 0) {
        return INT32_C(1) << 30;
    }
    if_positive = mlc_one_over_one_plus_x_for_x_in_0_1(mlc_exp_on_negative_values(a > 0 ? mlc_sub_wrap(0, a) : a, integer_bits));
    return a > 0 ? if_positive : mlc_sub_wrap(INT32_MAX, if_positive);
}

/* gemmlowp tanh: a in Q(integer_bits), tanh(a) in Q0.31; -|a| read in Q(integer_bits + 1) is -2|a|. */
static inline int32_t mlc_fixed_tanh(int32_t a, int integer_bits)
{
    int32_t t;
    if (a == 0) {
        return 0;
    }
    t = mlc_one_minus_x_over_one_plus_x_for_x_in_0_1(mlc_exp_on_negative_values(a < 0 ? a : mlc_sub_wrap(0, a), integer_bits + 1));
    return a < 0 ? mlc_sub_wrap(0, t) : t;
}

/* CountLeadingZeros of the uint32 value of x (32 for 0). */
static inline int mlc_count_leading_zeros32(int32_t x)
{
    uint32_t u = (uint32_t)x;
    int n = 0;
    if (u == 0u) {
        return 32;
    }
    while (!(u & UINT32_C(0x80000000))) {
        u <<= 1;
        ++n;
    }
    return n;
}

/* TFLite GetReciprocal: 1/x for x > 0 in Q(x_integer_digits), as a Q0.31 scale and the number of
 * bits the sum has over 1.0. */
static inline int32_t mlc_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    const int headroom_plus_one = mlc_count_leading_zeros32(x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return mlc_one_over_one_plus_x_for_x_in_0_1((int32_t)(((uint32_t)x << headroom_plus_one) - UINT32_C(0x80000000)));
}

/* a + b (or a - b) computed wide and saturated to int32: TFLite's SaturatingAddNonGemmlowp and SaturatingSub. */
static inline int32_t mlc_saturating_add64(int64_t sum)
{
    return sum > INT32_MAX ? INT32_MAX : sum < INT32_MIN ? INT32_MIN : (int32_t)sum;
}

/* TFLite log_x_for_x_greater_than_or_equal_to_1_impl: log(x) for x >= 1 in Q(input_integer_bits), in
 * Q(output_integer_bits); the power of two from the headroom, the rest by a rational approximation. */
static inline int32_t mlc_log_x_for_x_greater_than_or_equal_to_1(int32_t x, int input_integer_bits, int output_integer_bits)
{
    const int32_t log_2 = INT32_C(1488522236), sqrt_sqrt_half = INT32_C(1805811301), sqrt_half = INT32_C(1518500250);
    const int32_t alpha_n = INT32_C(117049297), alpha_d = INT32_C(127690142), alpha_i = INT32_C(1057819769),
                  alpha_f = INT32_C(638450708);
    const int accum_bits = output_integer_bits + 1; /* headroom for z_pow_2_adj * log_2 */
    const int32_t quarter = mlc_rounding_divide_by_pot(INT32_C(1) << 29, accum_bits);
    const int z_a_headroom_plus_1 = mlc_count_leading_zeros32(x);
    const int32_t r_a = mlc_saturating_rounding_multiply_by_pot(
        mlc_saturating_rounding_doubling_high_mul(mlc_saturating_rounding_multiply_by_pot(x, z_a_headroom_plus_1 - 1), sqrt_half), 1);
    const int32_t z_a_pow_2_adj = mlc_saturating_add64(
        (int64_t)mlc_saturating_rounding_multiply_by_pot(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits) + quarter);
    const int z_b_headroom = mlc_count_leading_zeros32(mlc_saturating_rounding_doubling_high_mul(x, sqrt_half)) - 1;
    const int32_t r_b = mlc_saturating_rounding_multiply_by_pot(x, z_b_headroom);
    const int32_t z_b_pow_2_adj = mlc_saturating_add64(
        (int64_t)mlc_saturating_rounding_multiply_by_pot(input_integer_bits - z_b_headroom, 31 - accum_bits) - quarter);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;
    const int32_t p = mlc_rounding_half_sum(r, sqrt_sqrt_half);
    const int32_t q_half = mlc_sub_wrap(r, sqrt_sqrt_half);
    const int32_t q = mlc_add_wrap(q_half, q_half);
    const int32_t common_sq = mlc_saturating_rounding_doubling_high_mul(q, q);
    const int32_t num = mlc_add_wrap(mlc_saturating_rounding_doubling_high_mul(q, r),
                                     mlc_saturating_rounding_doubling_high_mul(mlc_saturating_rounding_doubling_high_mul(q, common_sq), alpha_n));
    const int32_t denom_minus_one = mlc_add_wrap(
        mlc_saturating_rounding_doubling_high_mul(
            p, mlc_add_wrap(mlc_add_wrap(alpha_i, q), mlc_saturating_rounding_doubling_high_mul(alpha_d, common_sq))),
        mlc_saturating_rounding_doubling_high_mul(alpha_f, q));
    const int32_t total = mlc_add_wrap(mlc_saturating_rounding_doubling_high_mul(z_pow_2_adj, log_2),
                                       mlc_saturating_rounding_doubling_high_mul(mlc_rounding_divide_by_pot(num, accum_bits),
                                                                                 mlc_one_over_one_plus_x_for_x_in_0_1(denom_minus_one)));
    return mlc_saturating_rounding_multiply_by_pot(total, accum_bits - output_integer_bits);
}

/* TFLite GetInvSqrtQuantizedMultiplierExp of value >= 0 (0 and 1 give INT32_MAX, shift 0): 1/sqrt(value) ~=
 * multiplier * 2^(-shift - 31), five Newton-Raphson steps in Q3.28; *shift is TFLite's right shift. */
static inline int32_t mlc_inv_sqrt_quantized_multiplier_exp(int32_t value, int *shift)
{
    int32_t x = INT32_C(1) << 28, half_input; /* F3::One() */
    int pairs, i;
    *shift = 0;
    if (value <= 1) {
        return INT32_MAX;
    }
    *shift = 11;
    while (value >= (INT32_C(1) << 29)) {
        value /= 4;
        ++*shift;
    }
    pairs = (mlc_count_leading_zeros32(value) - 1) / 2 - 1;
    *shift -= pairs;
    value = (int32_t)((uint32_t)value << (2 * pairs));
    half_input = mlc_saturating_rounding_multiply_by_pot(value >> 1, -1);
    for (i = 0; i < 5; ++i) {
        const int32_t x3 = mlc_saturating_rounding_multiply_by_pot( /* Rescale<3> of a Q9 product */
            mlc_saturating_rounding_doubling_high_mul(mlc_saturating_rounding_doubling_high_mul(x, x), x), 6);
        x = mlc_saturating_rounding_multiply_by_pot(mlc_sub_wrap(mlc_saturating_rounding_doubling_high_mul((INT32_C(1) << 28) + (INT32_C(1) << 27), x),
                                                                 mlc_saturating_rounding_doubling_high_mul(half_input, x3)), 3);
    }
    x = mlc_saturating_rounding_doubling_high_mul(x, INT32_C(1518500250)); /* * sqrt(2) / 2 */
    if (*shift < 0) {
        x = (int32_t)((uint32_t)x << -*shift);
        *shift = 0;
    }
    return x;
}

/* TFLite's int16 Logistic (reference_integer_ops): x * multiplier + round >> shift is Q3.12 (times 3 for a
 * general scale), out Q0.15; table is sigmoid_table_uint16, interpolated over 9 fraction bits. */
static inline int16_t mlc_int16_logistic(int32_t x, int32_t multiplier, int shift, const uint16_t *table)
{
    const int32_t v = (x * multiplier + (shift > 0 ? INT32_C(1) << (shift - 1) : 0)) >> shift;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t r;
    if ((a >> 9) >= 255u) {
        r = UINT32_C(0x7FFF) << 10;
    } else {
        const uint32_t ua = (uint16_t)MLC_RD16(&table[a >> 9]), ub = (uint16_t)MLC_RD16(&table[(a >> 9) + 1u]);
        r = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    r = v >= 0 ? r + (UINT32_C(1) << 9) : (UINT32_C(1) << 25) - r + (UINT32_C(1) << 9) - 1u;
    return (int16_t)(r >> 10);
}

/* TFLite's int16 Tanh (reference_integer_ops): the same table over 8 fraction bits, tanh(x) = 2 sigmoid(2x) - 1. */
static inline int16_t mlc_int16_tanh(int32_t x, int32_t multiplier, int shift, const uint16_t *table)
{
    const int32_t v = (x * multiplier + (shift > 0 ? INT32_C(1) << (shift - 1) : 0)) >> shift;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    int32_t r;
    if ((a >> 8) >= 255u) {
        r = INT32_C(0xFFFF) << 8;
    } else {
        const int32_t ua = (uint16_t)MLC_RD16(&table[a >> 8]), ub = (uint16_t)MLC_RD16(&table[(a >> 8) + 1u]);
        r = ua * 256 + (int32_t)(a & 0xFFu) * (ub - ua);
    }
    r = v >= 0 ? r - (INT32_C(1) << 23) + (INT32_C(1) << 7) : -r + (INT32_C(1) << 23) + (INT32_C(1) << 7) - 1;
    return (int16_t)(r >> 8); /* arithmetic shift, as TFLM's int32 >> */
}

/* TFLite's LUTLookup for int16: a 513-entry table indexed by the top 9 bits of value, the low 7 bits
 * interpolated (the slope an int16, the step rounded). */
static inline int16_t mlc_lut_lookup_int16(int32_t value, const int16_t *lut)
{
    const int32_t index = 256 + (value >> 7); /* arithmetic shift, as TFLM's on int16 */
    const int32_t base = MLC_RD16(&lut[index]);
    const int32_t slope = (int16_t)(MLC_RD16(&lut[index + 1]) - base);
    return (int16_t)(base + ((slope * (value & 0x7F) + 64) >> 7));
}

#endif /* MLC_FIXEDPOINT_H */
