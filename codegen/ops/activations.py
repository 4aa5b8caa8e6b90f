"""SOFTMAX, LOGISTIC and TANH, int8 in and int8 out, as TFLM's micro kernels prepare them.

In the current tflite-micro all three int8->int8 cases take the gemmlowp fixed-point path (LUTs
are only built for int16 inputs): softmax rescales input differences to Q5.26 and sums exp() in
Q12.19 (softmax_common.cc); logistic and tanh rescale the input to Q4.27 (logistic_common.cc,
tanh.cc) and saturate outside `input_range_radius`.

The C kernels (templates/kernels/activations_s8.c.j2) read flash tables derived here, which hostsim
reads too, so both share one definition of the numbers: LOGISTIC/TANH become a 256-byte lookup of
the output, SOFTMAX a 1 KB table of exp() per input difference (no exp() left at run time).
"""
import numpy as np

from codegen.errors import MlcError
from codegen.model.fixedpoint import (exp_on_negative_values, fixed_logistic, fixed_tanh, multiply_by_quantized_multiplier,
                                      rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap32)
from codegen.model.quant import calculate_input_radius, frexp_multiplier, preprocess_softmax_scaling
from codegen.ops import define, per_tensor_quantized


SOFTMAX_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits
SIGMOID_INPUT_INTEGER_BITS = 4  # kInputIntegerBits of int8 LOGISTIC and TANH
INT8_SPAN = 256  # |x - y| of two int8 values is at most 255: wider bounds change nothing


def _int8_in_out(op):
    x, out = op.inputs[0], op.outputs[0]
    if x.dtype == "int8" and out.dtype != "int8":
        raise MlcError(f"{op.kind} with int8 input and {out.dtype} output '{out.name}' is not supported; "
                       f"only int8 -> int8 is (requantize the output to int8)")
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
    return x, out


def softmax_params(op):
    x, out = _int8_in_out(op)
    if len(x.shape) < 1 or tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"SOFTMAX input shape {x.shape} and output shape {out.shape} differ")
    # TFLM's Prepare rejects anything but the int8 softmax output quantization (exact compare).
    if out.quant.zp != -128 or float(out.quant.s) != 1.0 / 256:
        raise MlcError(f"SOFTMAX output '{out.name}' has scale {float(out.quant.s):g} and zero point {out.quant.zp}; "
                       f"TFLite int8 softmax needs scale 1/256 and zero point -128 (re-convert the model)")
    beta = float(op.options.get("beta", 1.0))
    try:
        multiplier, left_shift = preprocess_softmax_scaling(beta, x.quant.s, SOFTMAX_DIFF_INTEGER_BITS)
    except ValueError as err:
        raise MlcError(f"SOFTMAX input '{x.name}': {err}; use a larger beta or input scale") from None
    depth = x.shape[-1]
    params = {"input_multiplier": multiplier, "input_left_shift": left_shift,
              "diff_min": -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift),
              "depth": depth, "outer": x.size // depth}
    return {**params, "exp_table": _exp_table(params)}


def scaled_exp(diff, p):
    """exp(beta * input_scale * diff) in Q0.31 for diff = x - max(row) <= 0, as TFLM computes it:
    MultiplyByQuantizedMultiplierGreaterThanOne to Q5.26, then exp_on_negative_values."""
    rescaled = saturating_rounding_doubling_high_mul(wrap32(np.asarray(diff, np.int64) << p["input_left_shift"]),
                                                     p["input_multiplier"])
    return exp_on_negative_values(rescaled, SOFTMAX_DIFF_INTEGER_BITS)


def _exp_table(p) -> np.ndarray:
    """scaled_exp of the int8 differences 0, -1, ..., -255 (index -diff); 0 for those below diff_min,
    which TFLM skips: they then add 0 to the sum and output -128, as skipped."""
    diff = -np.arange(INT8_SPAN)
    return np.where(diff >= p["diff_min"], scaled_exp(diff, p), 0)


def sigmoid_like_params(op):
    x, out = _int8_in_out(op)
    if tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"{op.kind} input shape {x.shape} and output shape {out.shape} differ")
    # TFLM checks only the LOGISTIC output zero point; the kernels assume the spec's output scale
    # (1/256 and 1/128) whatever the tensor says, and so do we, to stay bit-exact.
    if op.kind == "LOGISTIC" and out.quant.zp != -128:
        raise MlcError(f"LOGISTIC output '{out.name}' has zero point {out.quant.zp}; TFLite int8 logistic needs -128")
    multiplier, shift = frexp_multiplier(float(x.quant.s) * (1 << (31 - SIGMOID_INPUT_INTEGER_BITS)))
    if shift < 0:
        raise MlcError(f"{op.kind} input '{x.name}' scale {float(x.quant.s):g} is below 2^-28, where TFLite's "
                       f"input radius is undefined; requantize the input")
    params = {"input_zero_point": x.quant.zp, "input_multiplier": multiplier, "input_left_shift": shift,
              "input_range_radius": calculate_input_radius(SIGMOID_INPUT_INTEGER_BITS, shift), "size": x.size}
    return {**params, "table": _sigmoid_table(op.kind, params)}


def _sigmoid_table(kind: str, p) -> np.ndarray:
    """The int8 output for each int8 input -128..127 (index x + 128), as TFLM's LOGISTIC/TANH compute
    it: saturate outside the input radius, else rescale to Q4.27, apply the Q0.31 function and round
    down to 8 bits (Q0.8 with zero point -128 for LOGISTIC, Q0.7 for TANH)."""
    fn, output_shift, output_offset = (fixed_logistic, 31 - 8, -128) if kind == "LOGISTIC" else (fixed_tanh, 31 - 7, 0)
    centred = np.arange(-128, 128, dtype=np.int64) - p["input_zero_point"]
    radius = p["input_range_radius"]
    in_q4 = wrap32(multiply_by_quantized_multiplier(centred, p["input_multiplier"], p["input_left_shift"]))
    out = np.clip(rounding_divide_by_pot(fn(in_q4, SIGMOID_INPUT_INTEGER_BITS), output_shift) + output_offset, -128, 127)
    return np.where(centred <= -radius, -128, np.where(centred >= radius, 127, out)).astype(np.int8)


def _inplace(op):
    return True  # every element is read before the same element is written, nothing else after


def _enum(name: str, value: int) -> int:
    if not -32767 <= value <= 32767:  # int is 16 bits on AVR
        raise MlcError(f"{name} {value} is too large for mlc's C kernels (at most 32767)")
    return value


def softmax_c(layer):
    p = layer.p
    variant = "reference" if layer.reference else "table"
    fn = layer.kernel("activations_s8.c.j2", "softmax_s8", kind="SOFTMAX", variant=variant, outer=p["outer"],
                      depth=_enum("softmax depth", p["depth"]), multiplier=p["input_multiplier"],
                      left_shift=p["input_left_shift"], diff_min=max(p["diff_min"], -INT8_SPAN))
    if variant == "table":
        data = layer.const("exp_table", p["exp_table"].astype(np.int32), "int32_t")
    else:
        data = layer.const("q", np.array([p["input_multiplier"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {data});"


def sigmoid_like_c(layer):
    op, p = layer.op, layer.p
    variant = "reference" if layer.reference else "table"
    fn = layer.kernel("activations_s8.c.j2", f"{op.kind.lower()}_s8", kind=op.kind, variant=variant, size=p["size"],
                      zero_point=p["input_zero_point"], radius=min(p["input_range_radius"], INT8_SPAN),
                      multiplier=p["input_multiplier"], left_shift=p["input_left_shift"])
    if variant == "table":
        data = layer.const("lut", p["table"], "int8_t")
    else:
        data = layer.const("q", np.array([p["input_multiplier"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {data});"


define("SOFTMAX", arity=(1, 1), derive=softmax_params, emit=softmax_c, inplace=_inplace, templates=("activations_s8.c.j2",))
define("LOGISTIC", "TANH", arity=(1, 1), derive=sigmoid_like_params, emit=sigmoid_like_c, inplace=_inplace, templates=("activations_s8.c.j2",))
