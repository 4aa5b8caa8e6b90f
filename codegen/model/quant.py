"""Fixed-point parameter derivation, exactly as TFLite/TFLM compute it (quantization_util.cc).

This is the one place where real-valued scales become integer multipliers and shifts; hostsim and
the C generator both read the results from op.params.
"""
import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(abs(q) * (1 << 31) + 0.5)) * (1 if q > 0 else -1)  # std::round
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # TFLite clamps instead of overflowing
        return (1 << 31) - 1, 30
    return q_fixed, shift


def rescale_multiplier(in_scale, out_scale) -> tuple[int, int]:
    """The multiplier and shift that take values at in_scale to out_scale (TFLite: in / out in double)."""
    return quantize_multiplier(float(np.float64(in_scale) / np.float64(out_scale)))


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of quantize_multiplier (per-channel parameters)."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    return (np.array([m for m, _ in pairs], dtype=np.int64), np.array([s for _, s in pairs], dtype=np.int64))


def tflite_round(x: float) -> int:
    """std::round: halves away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def activation_range(activation: str, scale, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized; the division is float32 as in TFLite."""

    def quantize(f: float) -> int:
        return zero_point + tflite_round(float(np.float32(f) / np.float32(scale)))

    if activation in ("NONE", None):
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """TFLite PreprocessSoftmaxScaling (double rounding build): beta * input_scale as a
    Q(input_integer_bits) multiplier and a left shift (QuantizeMultiplierGreaterThanOne)."""
    real = min(float(beta) * float(input_scale) * (1 << (31 - input_integer_bits)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise ValueError(f"beta * input scale = {float(beta) * float(input_scale):g} is too small for TFLite's softmax")
    # Halving is exact and keeps frexp's mantissa; it keeps quantize_multiplier clear of its
    # single-rounding shift clamp (shift 31 is reachable here and TFLM keeps it).
    multiplier, shift = quantize_multiplier(real / 2)
    return multiplier, shift + 1


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite CalculateInputRadius: the largest |input| whose rescaled value still fits."""
    if input_left_shift < 0:  # TFLite shifts 1LL by a negative amount here (undefined)
        raise ValueError(f"input left shift {input_left_shift} is negative")
    max_rescaled = ((1 << input_integer_bits) - 1) * (1 << (total_signed_bits - input_integer_bits)) / (1 << input_left_shift)
    return int(math.floor(max_rescaled))


def frexp_multiplier(real: float) -> tuple[int, int]:
    """The inline derivation of TFLM's int8 LOGISTIC/TANH Prepare: frexp, then round the mantissa
    to Q31 (no renormalisation, unlike QuantizeMultiplier; a float32 scale never rounds up to 2^31)."""
    q, shift = math.frexp(real)
    return tflite_round(q * (1 << 31)), shift


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplierSmallerThanOneExp: quantize_multiplier for real < 1 (shift <= 0)."""
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        raise ValueError(f"rescale factor {real:g} is not below 1")
    return multiplier, shift


def add_rescale(scale1, scale2, out_scale, left_shift: int = 20) -> dict:
    """TFLM CalculateOpDataAdd: both inputs go to a common scale (twice the larger input scale, with
    `left_shift` bits of headroom), then the sum to the output scale; float32 scales, double maths."""
    twice_max = 2 * float(max(np.float32(scale1), np.float32(scale2)))
    m1, s1 = quantize_multiplier_smaller_than_one_exp(float(np.float32(scale1)) / twice_max)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(float(np.float32(scale2)) / twice_max)
    mo, so = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << left_shift) * float(np.float32(out_scale))))
    return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1, "input2_multiplier": m2,
            "input2_shift": s2, "output_multiplier": mo, "output_shift": so}


def mean_rescale(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite QuantizedMeanOrSum folds 1/count into the output multiplier: shift it left by
    floor(log2(count)) (at most 32, and keeping shift >= -31), then divide by count (int64)."""
    bits = min(int(count).bit_length() - 1, 32, 31 + shift)
    if bits < 0:
        raise ValueError(f"output shift {shift} is below TFLite's range")
    return (int(multiplier) << bits) // int(count), shift - bits
