"""ADD, SUB, MUL, SQUARED_DIFFERENCE, PRELU, MAXIMUM and MINIMUM as TFLM's reference kernels (AddFunc,
SubElementwise, MulElementwise, SquaredDifference, BroadcastPrelu4DSlow, MaximumMinimumBroadcastSlow), with numpy
broadcasting (the same index mapping as TFLM's NdArrayDesc broadcast loops); on float32 (and DIV, NEG) as TFLM's
float kernels: each element one float32 operation (numpy's float32 ufuncs round every result to single precision,
as IEEE-754 hardware does), the fused activation as std::min(std::max(x, lo), hi)."""
import numpy as np

from codegen.model.fixedpoint import multiply_by_quantized_multiplier, requantize, wrap32
from hostsim.kernels import kernel
from hostsim.kernels.tensor_ops import full, stacked


def _operands(op, a, b):
    rank = len(op.outputs[0].shape)
    return (full(a, op.inputs[0], rank).astype(np.int64) + op.params["input1_offset"],
            full(b, op.inputs[1], rank).astype(np.int64) + op.params["input2_offset"])


def _finish(op, acc, multiplier, shift):
    p = op.params
    out = requantize(acc, multiplier, shift, p["output_offset"], p["act_min"], p["act_max"], p["dtype"])
    return stacked(out, op.outputs[0])


def _common_scale(op, a, b):
    """Both inputs at the common scale with left_shift bits of headroom (ADD, SUB, SQUARED_DIFFERENCE)."""
    p = op.params
    x1, x2 = _operands(op, a, b)
    s1 = multiply_by_quantized_multiplier(x1 << p["left_shift"], p["input1_multiplier"], p["input1_shift"])
    s2 = multiply_by_quantized_multiplier(x2 << p["left_shift"], p["input2_multiplier"], p["input2_shift"])
    return s1, s2


FLOAT_OPS = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide,
             "SQUARED_DIFFERENCE": lambda a, b: (a - b) * (a - b),
             "MAXIMUM": lambda a, b: np.where(a > b, a, b),  # TFLM's MaximumOp: el1 > el2 ? el1 : el2
             "MINIMUM": lambda a, b: np.where(a < b, a, b)}


@kernel("DIV")
def float_binary(op, a, b):
    p, rank = op.params, len(op.outputs[0].shape)
    with np.errstate(all="ignore"):  # inf and NaN come out as the C's do
        y = FLOAT_OPS[op.kind](full(a, op.inputs[0], rank).astype(np.float32), full(b, op.inputs[1], rank).astype(np.float32))
    if p["clamp"]:
        y = np.where(y < p["act_min"], p["act_min"], y)  # std::max(y, lo) keeps y unless y < lo
        y = np.where(p["act_max"] < y, p["act_max"], y)
    return stacked(y.astype(np.float32), op.outputs[0])


FLOAT_UNARY = {"NEG": np.negative,
               "RELU": lambda x: np.where(x < 0, np.float32(0), x),  # TFLM's ReluFloat: val < 0 ? 0 : val
               "RELU6": lambda x: np.where(x > 6, np.float32(6), np.where(x < 0, np.float32(0), x)),
               "ABS": np.abs,
               "SQRT": np.sqrt,  # std::sqrt: correctly rounded; NaN below 0
               "RSQRT": lambda x: np.float32(1) / np.sqrt(x)}  # 1.f / std::sqrt(x): two roundings, inf at 0


@kernel("NEG", "SQRT")
def float_unary(op, x):
    """NEG, SQRT, and the float32 RELU, RELU6, ABS and RSQRT (hostsim.kernels.activations hands them here)."""
    with np.errstate(all="ignore"):  # NaN and inf come out as the C's do
        return FLOAT_UNARY[op.kind](x).astype(np.float32)


def _or_float(int_kernel):
    """float32 layers of an op that also has an integer kernel go to float_binary."""
    def run(op, a, b):
        return float_binary(op, a, b) if op.params["dtype"] == "float32" else int_kernel(op, a, b)
    return run


@kernel("ADD")
@_or_float
def add(op, a, b):
    s1, s2 = _common_scale(op, a, b)
    return _finish(op, s1 + s2, op.params["output_multiplier"], op.params["output_shift"])


@kernel("SUB")
@_or_float
def sub(op, a, b):
    s1, s2 = _common_scale(op, a, b)
    return _finish(op, s1 - s2, op.params["output_multiplier"], op.params["output_shift"])


@kernel("SQUARED_DIFFERENCE")
@_or_float
def squared_difference(op, a, b):
    s1, s2 = _common_scale(op, a, b)
    return _finish(op, wrap32((s1 - s2) * (s1 - s2)), op.params["output_multiplier"], op.params["output_shift"])


@kernel("PRELU")
def prelu(op, x, alpha):
    p = op.params
    x1, x2 = _operands(op, x, alpha)  # both offset by minus their zero points
    x1, x2 = np.broadcast_arrays(x1, x2)
    positive = multiply_by_quantized_multiplier(x1, p["identity_multiplier"], p["identity_shift"])
    negative = multiply_by_quantized_multiplier(wrap32(x1 * x2), p["alpha_multiplier"], p["alpha_shift"])
    out = np.clip(np.where(x1 >= 0, positive, negative) + p["output_offset"], p["act_min"], p["act_max"]).astype(p["dtype"])
    return stacked(out, op.outputs[0])


@kernel("MAXIMUM", "MINIMUM")
@_or_float
def maximum_minimum(op, a, b):
    rank = len(op.outputs[0].shape)
    x1, x2 = full(a, op.inputs[0], rank), full(b, op.inputs[1], rank)
    out = np.maximum(x1, x2) if op.kind == "MAXIMUM" else np.minimum(x1, x2)
    n = max(x1.shape[0], x2.shape[0])
    return stacked(np.broadcast_to(out, (n, *out.shape[1:])).astype(np.int8), op.outputs[0])


@kernel("MUL")
@_or_float
def mul(op, a, b):
    x1, x2 = _operands(op, a, b)
    return _finish(op, x1 * x2, op.params["output_multiplier"], op.params["output_shift"])
