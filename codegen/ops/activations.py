"""SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION, LOGISTIC and TANH, int8 in and int8 out (SOFTMAX also int16 out), and int16 in and out, as TFLM's
micro kernels prepare them.

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
from codegen.ops.elementwise import float_c, float_unary_params
from codegen.ops.kernel_plan import KernelPlan, default_plan
from codegen.model.fixedpoint import (SIGMOID_TABLE_UINT16, exp_on_negative_values, fixed_logistic, fixed_tanh, int16_logistic,
                                      int16_tanh, inv_sqrt_quantized_multiplier_exp, multiply_by_quantized_multiplier,
                                      round_half_away, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
                                      trunc_div, wrap32)
from codegen.model.quant import (calculate_input_radius, frexp_multiplier, preprocess_softmax_scaling, quantize_multiplier,
                                 quantize_multiplier_smaller_than_one_exp)
from codegen.ops import define, per_tensor_quantized


SOFTMAX_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits
SIGMOID_INPUT_INTEGER_BITS = 4  # kInputIntegerBits of int8 LOGISTIC and TANH
INT8_SPAN = 256  # |x - y| of two int8 values is at most 255: wider bounds change nothing


def _in_out(op, out_dtypes=("int8",)):
    """x and out: int8 -> one of out_dtypes, or int16 -> int16 (TFLite's 16x8 models)."""
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x, ("int8", "int16"))
    allowed = out_dtypes if x.dtype == "int8" else ("int16",)
    if out.dtype not in allowed:
        raise MlcError(f"{op.kind} with {x.dtype} input and {out.dtype} output '{out.name}' is not supported; "
                       f"only {x.dtype} -> {' or '.join(allowed)} is (requantize the output)")
    per_tensor_quantized(op, out, allowed)
    return x, out


def softmax_params(op):
    x, out = _in_out(op, ("int8", "int16"))
    if len(x.shape) < 1 or tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"SOFTMAX input shape {x.shape} and output shape {out.shape} differ")
    # TFLM's Prepare: an int16 output needs zero point -32768 and scale 1/65536 to within 0.1 % (float
    # compare), an int8 one exactly scale 1/256 and zero point -128.
    if x.dtype == "int16":
        return _int16_softmax_params(op, x, out)
    if out.dtype == "int16":
        unit = np.float32(1.0 / 65536)
        if out.quant.zp != -32768 or abs(np.float32(out.quant.s) - unit) > np.float32(0.001) * unit:
            raise MlcError(f"SOFTMAX int16 output '{out.name}' has scale {float(out.quant.s):g} and zero point "
                           f"{out.quant.zp}; TFLite int8 -> int16 softmax needs 1/65536 and -32768 (re-convert the model)")
    elif out.quant.zp != -128 or float(out.quant.s) != 1.0 / 256:
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
              "depth": depth, "outer": x.size // depth, "output_bits": 8 * np.dtype(out.dtype).itemsize}
    return {**params, "exp_table": _exp_table(params)}


LOG_SOFTMAX_OUTPUT = (16.0 / 256, 127)  # scale and zero point fixed by TFLite: [-255/16, 0] in int8


def log_softmax_params(op):
    """TFLM's LOG_SOFTMAX Prepare: beta 1 and SOFTMAX's Q5.26 input rescaling, plus the reverse scaling
    (2^(31 - left_shift) / multiplier, QuantizeMultiplierSmallerThanOneExp) that maps log(sum of exps) back
    to input steps; the exp() of every difference is the same table SOFTMAX reads."""
    x, out = _in_out(op)
    if x.dtype != "int8":
        raise MlcError(f"LOG_SOFTMAX on {x.dtype} input '{x.name}' is not supported; TFLite runs it on int8 only")
    if tuple(x.shape) != tuple(out.shape) or len(x.shape) < 1:
        raise MlcError(f"LOG_SOFTMAX input shape {x.shape} and output shape {out.shape} differ")
    if (float(np.float32(out.quant.s)), out.quant.zp) != LOG_SOFTMAX_OUTPUT:
        raise MlcError(f"LOG_SOFTMAX output '{out.name}' has scale {float(out.quant.s):g} and zero point {out.quant.zp}; "
                       f"TFLite int8 log_softmax needs scale 16/256 and zero point 127 (re-convert the model)")
    try:
        multiplier, left_shift = preprocess_softmax_scaling(1.0, x.quant.s, SOFTMAX_DIFF_INTEGER_BITS)
    except ValueError as err:
        raise MlcError(f"LOG_SOFTMAX input '{x.name}': {err}; use a larger input scale") from None
    reverse_multiplier, reverse_shift = quantize_multiplier_smaller_than_one_exp((1 << (31 - left_shift)) / multiplier)
    depth = x.shape[-1]
    params = {"input_multiplier": multiplier, "input_left_shift": left_shift, "reverse_scaling_divisor": reverse_multiplier,
              "reverse_scaling_shift": reverse_shift,
              "diff_min": -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift), "depth": depth,
              "outer": x.size // depth}
    diff = -np.arange(INT8_SPAN)
    return {**params, "exp_table": _exp_table(params),
            "diff_table": multiply_by_quantized_multiplier(diff, multiplier, left_shift)}  # each difference in Q5.26


LUT_STEPS = 512  # TFLM's int16 LUTs: 512 intervals of 128 input steps, and the end point for the last slope


def gen_lut(fn, lo: float, hi: float) -> np.ndarray:
    """TFLM's gen_lut<float, int16_t, int16_t> (output range [-1, 1], so 32768 per unit), all in float32: each
    sample rounded, then moved by half the error the linear interpolation makes at the interval's midpoint."""
    f32 = np.float32
    step = f32(f32(hi) - f32(lo)) / f32(LUT_STEPS)
    at = f32(lo) + np.arange(LUT_STEPS + 1, dtype=np.float32) * step
    val, mid = fn(at), fn(at[:-1] + step / f32(2))
    unit = f32(32768)
    sample = f32(round_half_away(val[:-1] * unit))
    interp = f32(round_half_away((val[1:] * unit + sample) / f32(2)))
    bias = f32(round_half_away((interp - f32(round_half_away(mid * unit))) / f32(2)))
    last = round_half_away(fn(np.array([hi], np.float32)) * unit)
    return np.clip(np.concatenate([sample - bias, last]), -32768, 32767).astype(np.int16)


def _expf(v):
    return np.array([np.float32(np.exp(float(a))) for a in v], np.float32)  # correctly rounded float32 exp


def _int16_softmax_params(op, x, out):
    """TFLM's SoftmaxPrepare for int16: input differences rescaled so that [-65535, 0] is [-10, 0]
    (QuantizeMultiplier of scale * beta / (10 / 65535), in double), exp() and 1/(1+x) LUTs from gen_lut."""
    _int16_fixed_output(op, x, out)
    if len(x.shape) < 1 or tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"SOFTMAX input shape {x.shape} and output shape {out.shape} differ")
    beta = np.float32(op.options.get("beta", 1.0))
    multiplier, shift = quantize_multiplier(float(np.float32(x.quant.s)) * float(beta) / (10.0 / 65535.0))
    if shift > 14:  # TFLM's x * 2^shift would wrap on differences up to 65535
        raise MlcError(f"SOFTMAX int16 input '{x.name}': beta * scale {float(beta) * float(x.quant.s):g} is too large "
                       f"for TFLite's int16 softmax (differences overflow); requantize the input")
    depth = x.shape[-1]
    exp_lut = gen_lut(_expf, -10.0, 0.0)
    reciprocal_lut = gen_lut(lambda v: np.float32(1) / (np.float32(1) + v), 0.0, 1.0)
    return {"input_multiplier": multiplier, "input_left_shift": shift, "depth": depth, "outer": x.size // depth,
            "output_bits": 16, "exp_lut": exp_lut, "one_over_one_plus_x_lut": reciprocal_lut}


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
    x, out = _in_out(op)
    if tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"{op.kind} input shape {x.shape} and output shape {out.shape} differ")
    if x.dtype == "int16":
        return _int16_sigmoid_params(op, x, out)
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


def _checked_log2(scale) -> tuple[int, bool]:
    """TFLM's CheckedLog2 in float32: log2(scale) rounded, and whether scale is within 1e-3 of that power of two."""
    log2 = np.float32(np.log(np.float32(scale))) * np.float32(np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(round_half_away(log2))
    return int(rounded), bool(abs(np.float32(log2 - rounded)) < np.float32(1e-3))


def _int16_fixed_output(op, x, out, log2_unit=-15):
    """int16 LOGISTIC/TANH/SOFTMAX: zero points 0 and the output scale 2^log2_unit, as TFLM's Prepare checks."""
    if x.quant.zp != 0 or out.quant.zp != 0:
        raise MlcError(f"{op.kind} int16 input '{x.name}' and output '{out.name}' need zero point 0 "
                       f"(TFLite's 16x8 quantization); they have {x.quant.zp} and {out.quant.zp}")
    if _checked_log2(out.quant.s) != (log2_unit, True):
        raise MlcError(f"{op.kind} int16 output '{out.name}' has scale {float(out.quant.s):g}; TFLite's int16 kernel "
                       f"needs 2^{log2_unit} (re-convert the model)")


def _int16_sigmoid_params(op, x, out):
    """TFLM's int16 Prepare (logistic_common.cc, tanh.cc): the input goes to the table's Q3.12 by
    x * multiplier + round >> shift; a power-of-two scale whose shift would be 0 (TANH: or 1) takes multiplier
    3 << shift and no shift, any other scale 12288 * scale doubled until above 16383.5 (truncated)."""
    _int16_fixed_output(op, x, out)
    log2, power_of_two = _checked_log2(x.quant.s)
    shift = 15 - 3 + log2
    if power_of_two and shift in ((0,) if op.kind == "LOGISTIC" else (0, 1)):
        multiplier, shift = 3 << shift, 0
    else:
        real, shift = float(np.float32(x.quant.s)) * 4096.0 * 3.0, 0
        while real <= 32767.0 / 2.0 and shift <= 30:
            real, shift = real * 2.0, shift + 1
        multiplier = int(real)
        if multiplier > 32767:  # TFLM's DCHECK: larger ones overflow its int32 product
            raise MlcError(f"{op.kind} int16 input '{x.name}' scale {float(x.quant.s):g} is above TFLite's int16 "
                           f"range (at most 2.67); requantize the input")
    fn = int16_logistic if op.kind == "LOGISTIC" else int16_tanh
    return {"input_multiplier": multiplier, "input_shift": shift, "size": x.size,
            "table": fn(np.arange(-32768, 32768), multiplier, shift)}


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


def _plan(op, isa, reference, inplace, alone):
    if op.inputs[0].dtype == "int16":
        return KernelPlan(op.index, op.kind, "computed", isa, inplace=inplace,
                          why={"variant": f"{op.kind} on int16: TFLM's own lookup tables, interpolated per element"})
    if reference:
        return KernelPlan(op.index, op.kind, "reference", isa, inplace=inplace,
                          why={"variant": "the reference fixed-point arithmetic was asked for"})
    return KernelPlan(op.index, op.kind, "table", isa, inplace=inplace,
                      why={"variant": "every int8 input's result tabulated at generation time"})


def softmax_c(layer):
    p = layer.p
    if layer.op.inputs[0].dtype == "int16":  # exp() LUT at [0, 513), 1/(1+x) LUT at [513, 1026)
        fn = layer.kernel("activations_s16.c.j2", "softmax_s16", kind="SOFTMAX", outer=p["outer"],
                          depth=_enum("softmax depth", p["depth"]), lut_size=LUT_STEPS + 1)
        q = layer.const("q", np.array([p["input_multiplier"], p["input_left_shift"]], np.int32), "int32_t")
        luts = layer.const("luts", np.concatenate([p["exp_lut"], p["one_over_one_plus_x_lut"]]), "int16_t")
        return f"{fn}({layer.inp(0)}, {layer.out(0)}, {q}, {luts});"
    variant = layer.kernel_plan.variant
    bits = p["output_bits"]
    fn = layer.kernel("activations_s8.c.j2", "softmax_s8", kind="SOFTMAX", outer=p["outer"],
                      out_type=f"int{bits}_t", out_bits=bits, out_min=-(1 << (bits - 1)), out_max=(1 << (bits - 1)) - 1,
                      depth=_enum("softmax depth", p["depth"]), multiplier=p["input_multiplier"],
                      left_shift=p["input_left_shift"], diff_min=max(p["diff_min"], -INT8_SPAN))
    if variant == "table":
        data = layer.const("exp_table", p["exp_table"].astype(np.int32), "int32_t")
    else:
        data = layer.const("q", np.array([p["input_multiplier"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {data});"


def sigmoid_like_c(layer):
    op, p = layer.op, layer.p
    if op.inputs[0].dtype == "int16":
        fn = layer.kernel("activations_s16.c.j2", f"{op.kind.lower()}_s16", kind=op.kind, size=p["size"],
                          multiplier=p["input_multiplier"], shift=p["input_shift"])
        return f"{fn}({layer.inp(0)}, {layer.out(0)}, {layer.const('sigmoid_table', SIGMOID_TABLE_UINT16, 'uint16_t')});"
    variant = layer.kernel_plan.variant
    fn = layer.kernel("activations_s8.c.j2", f"{op.kind.lower()}_s8", kind=op.kind, size=p["size"],
                      zero_point=p["input_zero_point"], radius=min(p["input_range_radius"], INT8_SPAN),
                      multiplier=p["input_multiplier"], left_shift=p["input_left_shift"])
    if variant == "table":
        data = layer.const("lut", p["table"], "int8_t")
    else:
        data = layer.const("q", np.array([p["input_multiplier"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {data});"


def _softmax_inplace(op):
    return op.outputs[0].dtype == op.inputs[0].dtype  # an int16 output element covers the next input's byte


define("SOFTMAX", arity=(1, 1), derive=softmax_params, emit=softmax_c, inplace=_softmax_inplace, plan=_plan,
       templates=("activations_s8.c.j2", "activations_s16.c.j2"), dtypes=("int8", "int16"))
def log_softmax_c(layer):
    p = layer.p
    fn = layer.kernel("activations_s8.c.j2", "log_softmax_s8", kind="LOG_SOFTMAX", outer=p["outer"],
                      depth=_enum("log_softmax depth", p["depth"]), multiplier=p["input_multiplier"],
                      left_shift=p["input_left_shift"], reverse_multiplier=p["reverse_scaling_divisor"],
                      reverse_shift=p["reverse_scaling_shift"], diff_min=max(p["diff_min"], -INT8_SPAN))
    exp_table = layer.const("exp_table", p["exp_table"].astype(np.int32), "int32_t")
    diff_table = layer.const("diff_table", p["diff_table"].astype(np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {exp_table}, {diff_table});"


def _log_softmax_plan(op, isa, reference, inplace, alone):
    return KernelPlan(op.index, op.kind, "table", isa, inplace=inplace,
                      why={"variant": "exp() and the Q5.26 rescaling of every int8 difference tabulated at generation "
                                      "time; the log of each row's sum computed at run time (also for --reference)"})


define("LOG_SOFTMAX", arity=(1, 1), derive=log_softmax_params, emit=log_softmax_c, inplace=_inplace, plan=_log_softmax_plan,
       templates=("activations_s8.c.j2",))
def l2_normalization_params(op):
    """TFLM's L2_NORMALIZATION Prepare: only the input zero point is kept and no fused activation is allowed;
    the kernel writes steps of 1/128 (zero point 0) whatever the output tensor says, as TFLM's does."""
    x, out = _in_out(op)
    if x.dtype != "int8":
        raise MlcError(f"L2_NORMALIZATION on {x.dtype} input '{x.name}' is not supported; TFLite runs it on int8 only")
    if tuple(x.shape) != tuple(out.shape) or not 1 <= len(x.shape) <= 4:
        raise MlcError(f"L2_NORMALIZATION input shape {x.shape} and output shape {out.shape}: TFLite needs equal "
                       "shapes of rank 1 to 4")
    if op.options.get("activation", "NONE") != "NONE":
        raise MlcError(f"L2_NORMALIZATION with fused {op.options['activation']} is not supported; TFLite takes none")
    depth = x.shape[-1]
    return {"input_zero_point": x.quant.zp, "depth": depth, "outer": x.size // depth}


def l2_normalization_c(layer):
    p = layer.p
    fn = layer.kernel("activations_s8.c.j2", "l2_normalization_s8", kind="L2_NORMALIZATION", outer=p["outer"],
                      depth=_enum("l2_normalization depth", p["depth"]), zero_point=p["input_zero_point"])
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


define("L2_NORMALIZATION", arity=(1, 1), derive=l2_normalization_params, emit=l2_normalization_c, inplace=_inplace,
       templates=("activations_s8.c.j2",))
define("LOGISTIC", "TANH", arity=(1, 1), derive=sigmoid_like_params, emit=sigmoid_like_c, inplace=_inplace, plan=_plan,
       templates=("activations_s8.c.j2", "activations_s16.c.j2"), dtypes=("int8", "int16"))


# ----------------------------------------------------------------------------- RELU, RELU6, LEAKY_RELU, HARD_SWISH, ABS, RSQRT, ELU
# Each is a function of one element in TFLM's int8 and int16 kernels, so TFLM's integer arithmetic is
# evaluated here once for every input value; hostsim reads the table, and so does the int8 C kernel
# (256 entries; on int16 the C computes the same arithmetic per element instead of 65536 entries).

def _same_shape_int8(op, dtypes=("int8",)):
    """x, out, every value of x's type (int64), out's type range."""
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x, dtypes)
    per_tensor_quantized(op, out, (x.dtype,))
    if tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"{op.kind} input shape {x.shape} and output shape {out.shape} differ")
    info = np.iinfo(x.dtype)
    return x, out, np.arange(info.min, info.max + 1, dtype=np.int64), (info.min, info.max)


WIDE_TABLES = ("int8", "int16")  # RELU, RELU6, LEAKY_RELU take int16 too


def _f32_ratio(a, b) -> float:
    """float(a / b) with the division in float32, as TFLM's Prepare functions divide float scales."""
    return float(np.float32(np.float32(a) / np.float32(b)))


def relu_params(op):
    """TFLM CalculateReluOpData: requantize with QuantizeMultiplier(s_in / s_out), the scales divided in double
    (unlike most Prepare functions; int16 inputs tell the two apart), clamp below at the output's 0."""
    if op.inputs[0].dtype == "float32":
        return float_unary_params(op)
    x, out, q, (lo, hi) = _same_shape_int8(op, WIDE_TABLES)
    multiplier, shift = quantize_multiplier(float(np.float32(x.quant.s)) / float(np.float32(out.quant.s)))
    act_min = max(lo, out.quant.zp)
    y = out.quant.zp + multiply_by_quantized_multiplier(q - x.quant.zp, multiplier, shift)
    return {"multiplier": multiplier, "shift": shift, "act_min": act_min, "act_max": hi, "size": x.size,
            "table": np.clip(y, act_min, hi).astype(x.dtype)}


def relu6_params(op):
    """TFLM Relu6Prepare: clamp the raw input to [zero point, quantized 6.0] of the *input*; the output's
    quantization is not read (the converter gives it the input's)."""
    if op.inputs[0].dtype == "float32":
        return float_unary_params(op)
    x, out, q, (lo, hi) = _same_shape_int8(op, WIDE_TABLES)
    six = int(round_half_away(np.float32(6.0) / np.float32(x.quant.s))) + x.quant.zp
    six = min(max(six, lo), hi)
    return {"zero": x.quant.zp, "six": six, "size": x.size, "table": np.clip(q, x.quant.zp, six).astype(x.dtype)}


def leaky_relu_params(op):
    """TFLM CalculateOpDataLeakyRelu: one multiplier for x >= 0 (s_in / s_out) and one for x < 0
    (s_in * alpha / s_out), both computed in float32 and quantized from double."""
    x, out, q, (lo, hi) = _same_shape_int8(op, WIDE_TABLES)
    alpha = np.float32(op.options.get("alpha", 0.2))
    if alpha < 0:
        raise MlcError(f"LEAKY_RELU with a negative alpha ({float(alpha):g}) is not supported yet")
    m_alpha, s_alpha = quantize_multiplier(float(np.float32(np.float32(x.quant.s) * alpha) / np.float32(out.quant.s)))
    m_id, s_id = quantize_multiplier(_f32_ratio(x.quant.s, out.quant.s))
    centred = q - x.quant.zp
    y = out.quant.zp + np.where(centred >= 0, multiply_by_quantized_multiplier(centred, m_id, s_id),
                                multiply_by_quantized_multiplier(centred, m_alpha, s_alpha))
    return {"alpha": float(alpha), "multiplier_identity": m_id, "shift_identity": s_id, "multiplier_alpha": m_alpha,
            "shift_alpha": s_alpha, "size": x.size, "table": np.clip(y, lo, hi).astype(x.dtype)}


def _int16(v):
    return (np.asarray(v, np.int64) + (1 << 15)) % (1 << 16) - (1 << 15)  # C's conversion to int16_t


def _srdhm16(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    return np.where((a == b) & (a == -(1 << 15)), (1 << 15) - 1, trunc_div(ab + nudge, 1 << 15))


def _saturating_left_shift16(v, amount: int):
    return np.clip(np.asarray(v, np.int64) * (1 << amount), -(1 << 15), (1 << 15) - 1)


def _downscale_to_int16(multiplier: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier (rounding)."""
    return (1 << 15) - 1 if multiplier >= (1 << 31) - 1 - (1 << 15) else (multiplier + (1 << 15)) >> 16


def hard_swish_params(op):
    """TFLM HardSwishPrepare and reference_ops::HardSwish<int8_t>: 16-bit fixed point throughout."""
    x, out, q, _ = _same_shape_int8(op)
    hires_scale = np.float32(np.float32(1.0 / 128.0) * np.float32(x.quant.s))
    out_m, out_exp = quantize_multiplier(float(np.float32(hires_scale / np.float32(out.quant.s))))
    relu_m, relu_exp = quantize_multiplier(float(np.float32(hires_scale / np.float32(3.0 / 32768.0))))
    if out_exp > 0:  # TFLM's Prepare: TF_LITE_ENSURE(output_multiplier_exponent <= 0)
        raise MlcError(f"HARD_SWISH output '{out.name}' scale {float(out.quant.s):g} is below the input's / 128; "
                       "TFLite's int8 kernel refuses it")
    out_m16, relu_m16 = _downscale_to_int16(out_m), _downscale_to_int16(relu_m)
    value = _int16(q - x.quant.zp)
    hires = _int16(value * 128)
    preshift_out = _srdhm16(hires, out_m16)
    reluish = hires
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, relu_exp - 1)
    reluish = _srdhm16(reluish, relu_m16)
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if relu_exp < 0:
        reluish = rounding_divide_by_pot(reluish, -relu_exp)
    reluish = _int16((reluish + (1 << 15)) >> 1)
    ab = reluish * preshift_out  # SaturatingDoublingHighMul: truncating, no rounding
    preshift = np.where((reluish == preshift_out) & (reluish == -(1 << 15)), (1 << 15) - 1, _int16(trunc_div(ab, 1 << 15)))
    y = _int16(rounding_divide_by_pot(preshift, -out_exp) + out.quant.zp)
    return {"output_multiplier_int16": out_m16, "output_exponent": out_exp, "reluish_multiplier_int16": relu_m16,
            "reluish_exponent": relu_exp, "size": x.size, "table": np.clip(y, -128, 127).astype(np.int8)}


def abs_params(op):
    """TFLM's PrepareAbsRsqrt and AbsEvalQuantized: |x - zp| requantized by s_in / s_out (a float32
    division), or only offset when the two scales are equal."""
    if op.inputs[0].dtype == "float32":
        return float_unary_params(op)
    x, out, q, _ = _same_shape_int8(op)
    value = np.abs(q - x.quant.zp)
    multiplier, shift = quantize_multiplier(_f32_ratio(x.quant.s, out.quant.s))
    if np.float32(x.quant.s) != np.float32(out.quant.s):
        value = multiply_by_quantized_multiplier(value, multiplier, shift)
    return {"multiplier": multiplier, "shift": shift, "size": x.size,
            "table": np.clip(value + out.quant.zp, -128, 127).astype(np.int8)}


RSQRT_SHIFT = 20  # TFLM's kShift: keeps 1/sqrt(x) an integer between the two rescalings


def rsqrt_params(op):
    """TFLM's SetRsqrtOutputMultiplier (1 / (sqrtf(s_in) * s_out) in float32, quantized from double) and
    RsqrtEvalQuantized: 1/sqrt(x - zp) by GetInvSqrtQuantizedMultiplierExp, rescaled twice; x == zp gives
    127. TFLM refuses to run on inputs below the zero point; their table entries are what its arithmetic
    gives with that check off (the input taken as 1). float32: TFLM's 1.f / std::sqrt(x)."""
    if op.inputs[0].dtype == "float32":
        return float_unary_params(op)
    x, out, q, _ = _same_shape_int8(op)
    real = 1.0 / float(np.float32(np.sqrt(np.float32(x.quant.s)) * np.float32(out.quant.s)))
    multiplier, shift = quantize_multiplier(real)
    table = []
    for value in (q - x.quant.zp).tolist():
        if value == 0:
            table.append(127)
            continue
        inv, inv_shift = inv_sqrt_quantized_multiplier_exp(value)
        data = int(multiply_by_quantized_multiplier(1, inv, -inv_shift + RSQRT_SHIFT))
        table.append(int(multiply_by_quantized_multiplier(data, multiplier, shift - RSQRT_SHIFT)) + out.quant.zp)
    return {"multiplier": multiplier, "shift": shift, "size": x.size,
            "table": np.clip(table, -128, 127).astype(np.int8)}


def elu_params(op):
    """TFLM's ELU PopulateLookupTable in float32: x = s_in * (q - zp); exp(x) - 1 below 0; times 1/s_out,
    rounded half away from zero, plus zp, clamped."""
    x, out, q, _ = _same_shape_int8(op)
    real = np.float32(x.quant.s) * (q - x.quant.zp).astype(np.float32)
    # expf, correctly rounded (float32 of the double exp)
    transformed = np.where(real < 0, np.array([np.float32(np.exp(float(v))) for v in real], np.float32) - np.float32(1),
                           real).astype(np.float32)
    rescaled = round_half_away(transformed * np.float32(np.float32(1) / np.float32(out.quant.s)))
    return {"size": x.size, "table": np.clip(rescaled.astype(np.int64) + out.quant.zp, -128, 127).astype(np.int8)}


def _table_plan(op, isa, reference, inplace, alone):
    if op.inputs[0].dtype == "float32":
        return default_plan(op, isa, reference, inplace, alone)
    if op.inputs[0].dtype == "int16":
        return KernelPlan(op.index, op.kind, "computed", isa, inplace=inplace,
                          why={"variant": f"{op.kind} on int16: TFLM's arithmetic per element (a table would take 128 KiB)"})
    return KernelPlan(op.index, op.kind, "table", isa, inplace=inplace,
                      why={"variant": f"{op.kind} is a function of one int8 element in TFLM: its arithmetic is "
                                      "tabulated for all 256 inputs at generation time (also for --reference)"})


def table_c(layer):
    op, p = layer.op, layer.p
    if op.inputs[0].dtype == "float32":
        return float_c(layer)  # elementwise_f32.c.j2
    if op.inputs[0].dtype == "int16":  # the table's arithmetic per element
        q = {"RELU": [p.get("multiplier", 0), p.get("shift", 0)],
             "LEAKY_RELU": [p.get("multiplier_identity", 0), p.get("shift_identity", 0), p.get("multiplier_alpha", 0),
                            p.get("shift_alpha", 0)]}.get(op.kind, [0])
        fn = layer.kernel("activations_s16.c.j2", f"{op.kind.lower()}_s16", kind=op.kind, size=p["size"],
                          in_zp=op.inputs[0].quant.zp, out_zp=op.outputs[0].quant.zp, act_min=p.get("act_min", -32768),
                          act_max=p.get("act_max", 32767), zero=p.get("zero", 0), six=p.get("six", 0))
        return f"{fn}({layer.inp(0)}, {layer.out(0)}, {layer.const('q', np.array(q, np.int32), 'int32_t')});"
    fn = layer.kernel("activations_s8.c.j2", f"{layer.op.kind.lower()}_s8", kind=layer.op.kind, size=layer.p["size"])
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {layer.const('lut', layer.p['table'], 'int8_t')});"


define("RELU", arity=(1, 1), derive=relu_params, emit=table_c, inplace=_inplace, plan=_table_plan,
       templates=("activations_s8.c.j2", "activations_s16.c.j2", "elementwise_f32.c.j2"), dtypes=(*WIDE_TABLES, "float32"))
define("RELU6", arity=(1, 1), derive=relu6_params, emit=table_c, inplace=_inplace, plan=_table_plan,
       templates=("activations_s8.c.j2", "activations_s16.c.j2", "elementwise_f32.c.j2"), dtypes=(*WIDE_TABLES, "float32"))
define("LEAKY_RELU", arity=(1, 1), derive=leaky_relu_params, emit=table_c, inplace=_inplace, plan=_table_plan,
       templates=("activations_s8.c.j2", "activations_s16.c.j2"), dtypes=WIDE_TABLES)
define("HARD_SWISH", arity=(1, 1), derive=hard_swish_params, emit=table_c, inplace=_inplace, plan=_table_plan,
       templates=("activations_s8.c.j2",))
define("ABS", arity=(1, 1), derive=abs_params, emit=table_c, inplace=_inplace, plan=_table_plan,
       templates=("activations_s8.c.j2", "elementwise_f32.c.j2"), dtypes=("int8", "float32"))
define("RSQRT", arity=(1, 1), derive=rsqrt_params, emit=table_c, inplace=_inplace, plan=_table_plan,
       templates=("activations_s8.c.j2", "elementwise_f32.c.j2"), dtypes=("int8", "float32"))
define("ELU", arity=(1, 1), derive=elu_params, emit=table_c, inplace=_inplace, plan=_table_plan, templates=("activations_s8.c.j2",))
