"""ADD, SUB, MUL, SQUARED_DIFFERENCE, PRELU, MAXIMUM and MINIMUM on int8 (ADD, SUB, MUL, PRELU also int16) with numpy broadcasting, as
TFLM's CalculateOpDataAdd / CalculateOpDataSub / CalculateOpDataMul / CalculatePreluParams and the
SQUARED_DIFFERENCE and MAXIMUM/MINIMUM Prepare functions.

The float32 islands the converter leaves between DEQUANTIZE and QUANTIZE: ADD, SUB, MUL, DIV,
SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, NEG and SQRT (and activations' RELU, RELU6, ABS, RSQRT) on float32, as TFLM's float kernels compute them (one
correctly rounded IEEE-754 single-precision operation per element, then the fused activation's
std::min(std::max(x, lo), hi)), so they are bit-exact wherever float is IEEE single without contraction.

Besides the requantization numbers, the params carry each input's element strides over the output
shape (0 along broadcast axes, TFLM's NdArrayDesc); the C emitter collapses them to as few loops as
the layout allows, so the kernel needs no shape logic.
"""
import numpy as np

from codegen.csyntax import c_literal
from codegen.errors import MlcError
from codegen.model.quant import activation_range, add_rescale, quantize_multiplier, quantize_multiplier_smaller_than_one_exp
from codegen.ops import define, per_tensor_quantized


# TFLM's BroadcastAdd6DSlow / BroadcastMul4DSlow / BroadcastQuantSubSlow (NdArrayDesc<5>) /
# BroadcastBinaryFunction4DSlow / MaximumMinimumBroadcastSlow (N = 5)
MAX_RANK = {"ADD": 6, "MUL": 4, "SUB": 5, "SQUARED_DIFFERENCE": 4, "MAXIMUM": 5, "MINIMUM": 5, "PRELU": 4, "DIV": 5}


def broadcast_strides(shape, out_shape) -> list:
    """Element strides of a row-major tensor of `shape` read at every index of `out_shape`."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step if dim > 1 else 0)
        step *= dim
    return strides[::-1]


WIDE = ("ADD", "SUB", "MUL", "PRELU")  # the ops TFLM also runs on int16 (any zero points, int32 arithmetic)


def _binary(op) -> dict:
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    per_tensor_quantized(op, a, ("int8", "int16") if op.kind in WIDE else ("int8",))
    per_tensor_quantized(op, out, (a.dtype,))
    per_tensor_quantized(op, b, ("int8",) if op.kind == "PRELU" else (a.dtype,))  # TFLM's int16 PRELU: int8 alpha
    if a.dtype == "int16" and any(t.quant.zp for t in (a, b, out) if t.dtype == "int16"):
        raise MlcError(f"int16 {op.kind} with non-zero zero points ({a.quant.zp}, {b.quant.zp} -> {out.quant.zp}); "
                       "mlc takes TFLite's 16x8 quantization (zero points 0)")
    return {**_broadcast(op), "dtype": out.dtype, "input1_offset": -a.quant.zp, "input2_offset": -b.quant.zp,
            "output_offset": out.quant.zp, **dict(zip(("act_min", "act_max"), activation_range(
                op.options.get("activation", "NONE"), out.quant.s, out.quant.zp, *_int_range(out.dtype))))}


def _int_range(dtype) -> tuple:
    info = np.iinfo(dtype)
    return info.min, info.max


def _broadcast(op) -> dict:
    """The output shape and both inputs' element strides over it (TFLM's NdArrayDesc)."""
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise MlcError(f"input shapes {a.shape} and {b.shape} do not broadcast") from None
    if shape != tuple(out.shape):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, the inputs broadcast to {shape}")
    broadcast = tuple(a.shape) != tuple(b.shape)
    if broadcast and len(shape) > MAX_RANK[op.kind]:
        raise MlcError(f"broadcasting {op.kind} of rank {len(shape)} is not supported (TFLM stops at {MAX_RANK[op.kind]})")
    return {"broadcast": broadcast, "out_shape": list(shape),
            "input1_strides": broadcast_strides(a.shape, shape), "input2_strides": broadcast_strides(b.shape, shape)}


FLOAT = np.finfo(np.float32)
# TFLM's CalculateActivationRange<float>: NONE clamps to the finite floats (an overflow to inf comes out as FLT_MAX)
FLOAT_ACTIVATION = {"NONE": (FLOAT.min, FLOAT.max), "RELU": (0.0, FLOAT.max), "RELU_N1_TO_1": (-1.0, 1.0), "RELU6": (0.0, 6.0)}
FUSED = ("ADD", "SUB", "MUL", "DIV")  # the float kernels that apply the fused activation


def float_only(op, tensors) -> None:
    """Unquantized float32 tensors (an island's), or one clear refusal."""
    for t in tensors:
        if t.dtype != "float32" or t.quant is not None:
            raise MlcError(f"tensor '{t.name}' is {t.dtype}{' quantized' if t.quant else ''}; float32 {op.kind} needs "
                           "unquantized float32 inputs and output")


def _float_binary(op) -> dict:
    float_only(op, (op.inputs[0], op.inputs[1], op.outputs[0]))
    activation = op.options.get("activation", "NONE") if op.kind in FUSED else "NONE"
    if activation not in FLOAT_ACTIVATION:
        raise MlcError(f"float32 {op.kind} with fused activation {activation} is not supported")
    lo, hi = FLOAT_ACTIVATION[activation]
    return {**_broadcast(op), "dtype": "float32", "act_min": np.float32(lo), "act_max": np.float32(hi),
            "clamp": op.kind in FUSED}


def float_binary_params(op):
    """DIV: float32 only (TFLM's int8 DIV is not taken)."""
    if op.inputs[0].dtype != "float32":
        raise MlcError(f"{op.kind} on {op.inputs[0].dtype} is not supported; mlc's {op.kind} takes float32")
    return _float_binary(op)


def float_unary_params(op):
    """NEG and SQRT (float32 only), and the float32 RELU, RELU6, ABS and RSQRT of codegen.ops.activations."""
    x, out = op.inputs[0], op.outputs[0]
    if x.dtype != "float32":
        raise MlcError(f"{op.kind} on {x.dtype} is not supported; mlc's {op.kind} takes float32")
    float_only(op, (x, out))
    if tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"{op.kind} input shape {x.shape} and output shape {out.shape} differ")
    return {"dtype": "float32"}


def add_params(op):
    """ADD and SUB (TFLM's CalculateOpDataSub is CalculateOpDataAdd's arithmetic; 15 bits of headroom
    instead of 20 on int16)."""
    if op.inputs[0].dtype == "float32":
        return _float_binary(op)
    params = _binary(op)
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    try:
        return {**params, **add_rescale(a.quant.s, b.quant.s, out.quant.s, 15 if out.dtype == "int16" else 20)}
    except ValueError as err:
        raise MlcError(f"output '{out.name}' scale {out.quant.s:g} is too small for the inputs' ({err})") from None


SQUARED_DIFFERENCE_LEFT_SHIFT = 7  # TFLM's int8 left_shift


def squared_difference_params(op):
    """TFLM's PrepareQuantized of SQUARED_DIFFERENCE: the inputs to twice the larger scale (in double)
    with 7 bits of headroom, the squared difference to the output with QuantizeMultiplier."""
    if op.inputs[0].dtype == "float32":
        return _float_binary(op)
    params = _binary(op)
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    twice_max = 2.0 * float(max(np.float32(a.quant.s), np.float32(b.quant.s)))
    m1, s1 = quantize_multiplier_smaller_than_one_exp(float(np.float32(a.quant.s)) / twice_max)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(float(np.float32(b.quant.s)) / twice_max)
    # (1 << 14) * output scale is a float32 product in TFLM
    denominator = float(np.float32(np.float32(1 << (2 * SQUARED_DIFFERENCE_LEFT_SHIFT)) * np.float32(out.quant.s)))
    mo, so = quantize_multiplier(twice_max * twice_max / denominator)
    return {**params, "left_shift": SQUARED_DIFFERENCE_LEFT_SHIFT, "input1_multiplier": m1, "input1_shift": s1,
            "input2_multiplier": m2, "input2_shift": s2, "output_multiplier": mo, "output_shift": so}


def prelu_params(op):
    """TFLM CalculatePreluParams: x >= 0 rescaled by s_in / s_out, x < 0 multiplied by the (offset)
    alpha and rescaled by s_in * s_alpha / s_out, both in double; int8 or int16 x, int8 alpha."""
    params = _binary(op)
    x, alpha, out = op.inputs[0], op.inputs[1], op.outputs[0]
    m1, s1 = quantize_multiplier(float(np.float64(x.quant.s) / np.float64(out.quant.s)))
    m2, s2 = quantize_multiplier(float(np.float64(x.quant.s) * np.float64(alpha.quant.s) / np.float64(out.quant.s)))
    return {**params, "act_min": _int_range(out.dtype)[0], "act_max": _int_range(out.dtype)[1], "identity_multiplier": m1, "identity_shift": s1,
            "alpha_multiplier": m2, "alpha_shift": s2}


def maximum_minimum_params(op):
    """TFLM compares the raw int8 values (no requantization): it is only the real max/min when both
    inputs and the output share one quantization, as the converter writes them."""
    if op.inputs[0].dtype == "float32":
        return _float_binary(op)
    params = _binary(op)
    return {**params, "input1_offset": 0, "input2_offset": 0, "output_offset": 0, "act_min": -128, "act_max": 127}


def mul_params(op):
    if op.inputs[0].dtype == "float32":
        return _float_binary(op)
    params = _binary(op)
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    real = float(np.float64(a.quant.s) * np.float64(b.quant.s) / np.float64(out.quant.s))
    multiplier, shift = quantize_multiplier(real)
    return {**params, "output_multiplier": multiplier, "output_shift": shift}


def collapse(dims, *strides) -> tuple:
    """Drop size-1 axes and merge neighbours that every input walks contiguously (or not at all)."""
    kept = [(d, [s[i] for s in strides]) for i, d in enumerate(dims) if d > 1] or [(1, [0] * len(strides))]
    merged = [kept[0]]
    for d, s in kept[1:]:
        outer_d, outer_s = merged[-1]
        if all(so == si * d for so, si in zip(outer_s, s)):
            merged[-1] = (outer_d * d, s)
        else:
            merged.append((d, s))
    return [d for d, _ in merged], *([s[k] for _, s in merged] for k in range(len(strides)))


def _inplace(op):
    """Output element i is written after input 1's element i is read: fine unless in1 is broadcast."""
    return tuple(op.inputs[0].shape) == tuple(op.outputs[0].shape)


def binary_c(layer):
    op, p = layer.op, layer.p
    if p["dtype"] == "float32":
        return float_c(layer)  # elementwise_f32.c.j2
    dims, s1, s2 = collapse(p["out_shape"], p["input1_strides"], p["input2_strides"])
    if op.kind in ("ADD", "SUB", "SQUARED_DIFFERENCE"):
        q = [p["input1_multiplier"], p["input1_shift"], p["input2_multiplier"], p["input2_shift"],
             p["output_multiplier"], p["output_shift"]]
    elif op.kind == "MUL":
        q = [p["output_multiplier"], p["output_shift"]]
    elif op.kind == "PRELU":
        q = [p["identity_multiplier"], p["identity_shift"], p["alpha_multiplier"], p["alpha_shift"]]
    else:  # MAXIMUM / MINIMUM: no arithmetic
        q = [0]
    wide = p["dtype"] == "int16"
    fn = layer.kernel("elementwise_s8.c.j2", f"{op.kind.lower()}_{'s16' if wide else 's8'}", kind=op.kind, dims=dims,
                      s1=s1, s2=s2, wide=wide, wide2=op.inputs[1].dtype == "int16",
                      const1=op.inputs[0].is_const, const2=op.inputs[1].is_const, left_shift=p.get("left_shift", 0),
                      in1_offset=p["input1_offset"], in2_offset=p["input2_offset"], out_offset=p["output_offset"],
                      act_min=p["act_min"], act_max=p["act_max"])
    qs = layer.const("q", np.array(q, np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.inp(1)}, {layer.out(0)}, {qs});"


def float_c(layer):
    """float32 layers: elementwise_f32.c.j2, with mlc_float.h's guards against non-IEEE builds."""
    op, p = layer.op, layer.p
    layer.unit.include("mlc_float.h")
    if len(op.inputs) == 1:
        dims, s1, s2 = [op.outputs[0].size], [1], [0]
    else:
        dims, s1, s2 = collapse(p["out_shape"], p["input1_strides"], p["input2_strides"])
    fn = layer.kernel("elementwise_f32.c.j2", f"{op.kind.lower()}_f32", kind=op.kind, dims=dims, s1=s1, s2=s2,
                      clamp=p.get("clamp", False), act_min=c_literal(p.get("act_min", 0), "float"),
                      act_max=c_literal(p.get("act_max", 0), "float"))
    second = f"{layer.inp(1)}, " if len(op.inputs) > 1 else ""
    return f"{fn}({layer.inp(0)}, {second}{layer.out(0)});"


F32 = ("int8", "float32")
define("ADD", "SUB", arity=(2, 2), derive=add_params, emit=binary_c, inplace=_inplace,
       templates=("elementwise_s8.c.j2", "elementwise_f32.c.j2"), dtypes=("int8", "int16", "float32"))
define("SQUARED_DIFFERENCE", arity=(2, 2), derive=squared_difference_params, emit=binary_c, inplace=_inplace,
       templates=("elementwise_s8.c.j2", "elementwise_f32.c.j2"), dtypes=F32)
define("PRELU", arity=(2, 2), derive=prelu_params, emit=binary_c, inplace=_inplace, templates=("elementwise_s8.c.j2",),
       dtypes=("int8", "int16"))
define("MAXIMUM", "MINIMUM", arity=(2, 2), derive=maximum_minimum_params, emit=binary_c, inplace=_inplace,
       templates=("elementwise_s8.c.j2", "elementwise_f32.c.j2"), dtypes=F32)
define("MUL", arity=(2, 2), derive=mul_params, emit=binary_c, macs=lambda op: op.outputs[0].size, inplace=_inplace,
       templates=("elementwise_s8.c.j2", "elementwise_f32.c.j2"), dtypes=("int8", "int16", "float32"))
define("DIV", arity=(2, 2), derive=float_binary_params, emit=float_c, inplace=_inplace, templates=("elementwise_f32.c.j2",),
       dtypes=("float32",))
define("NEG", arity=(1, 1), derive=float_unary_params, emit=float_c, inplace=lambda op: True, templates=("elementwise_f32.c.j2",),
       dtypes=("float32",))
define("SQRT", arity=(1, 1), derive=float_unary_params, emit=float_c, inplace=lambda op: True, templates=("elementwise_f32.c.j2",),
       dtypes=("float32",))
