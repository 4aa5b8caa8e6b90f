"""ONNX models another tool (onnxruntime's quantize_static, for one) already quantized, in QDQ form
(QuantizeLinear / DequantizeLinear around float ops) or QOperator form (QLinearConv, QGemm, ...).

The importer reads them as the float graph they describe and keeps every quantization parameter on its
tensor (Tensor.quant): an activation's scale and zero point from the QuantizeLinear that follows it, a
weight's per-channel scales from its DequantizeLinear. mlc's int8 graph then takes the model's own scales,
zero points and integer weights instead of calibrating (codegen.quantize.int8), and runs them with the
arithmetic of the TFLite int8 spec. Where that arithmetic differs from ONNX's, the import says so (notes):
uint8 activations move to int8 (exact: the zero point shifts by 128), spec-fixed output ranges (SOFTMAX,
LOGISTIC, TANH) win over the model's, and requantization rounds in fixed point, not in float.
"""
from __future__ import annotations

import numpy as np

from codegen.model.ir import Quant, Tensor

ROUNDING_NOTE = ("requantization: ONNX multiplies by the float scale ratio and rounds once, half to even; the "
                 "TFLite int8 kernels (TFLM's, and mlc's) use a 32-bit fixed-point multiplier and round twice, half "
                 "away from zero (a rounding doubling high multiply, then a rounding shift), so a value can land "
                 "one step away from ONNX's, most often where the integer accumulator is small (a mean of a few "
                 "small values)")
UINT8_NOTE = "uint8 activations become int8 with their zero point less 128 (the same real values, exactly)"
INT8_TYPES = {np.dtype(np.int8): 0, np.dtype(np.uint8): 128}  # storage type -> zero point shift to int8


def _per_tensor(im, node, scale, zp) -> tuple[float, int]:
    scale = np.asarray(scale, np.float32)
    zp = np.asarray(zp if zp is not None else np.uint8(0))
    if scale.size != 1 or zp.size != 1:
        im.fail(node, "per-channel quantization of an activation is not supported (TFLite's int8 activations are "
                      "per tensor)")
    if zp.dtype not in INT8_TYPES:
        im.fail(node, f"{zp.dtype} quantization is not supported; mlc takes int8 and uint8 models")
    if zp.dtype == np.uint8:
        im.note(UINT8_NOTE)
    return float(scale.ravel()[0]), int(zp.ravel()[0]) - INT8_TYPES[zp.dtype]


def fix_activation(im, node, t: Tensor, scale, zp) -> None:
    """Keep (scale, zp) on activation tensor t; a second, different quantization of it is an error."""
    s, z = _per_tensor(im, node, scale, zp)
    q = Quant(scale=np.array([s], np.float32), zero_point=np.array([z], np.int64))
    if t.quant is not None and (t.quant.s != q.s or t.quant.zp != q.zp):
        im.fail(node, f"tensor '{t.name}' is quantized twice, differently ({t.quant.s:g} @ {t.quant.zp} and "
                      f"{q.s:g} @ {q.zp})")
    t.quant = q


def quantize_linear(im, node, attrs):
    """QDQ: the quantized tensor is the float one it quantizes; its parameters go on that tensor."""
    x = im.act(node)
    fix_activation(im, node, x.tensor, im.const(node, 1, "a constant scale"), im.const(node, 2))
    im.note(ROUNDING_NOTE)
    im.values[node.output[0]] = x


def dequantize_linear(im, node, attrs):
    """QDQ: the dequantized activation is the float tensor itself (its quantization is already kept)."""
    x = im.act(node)
    if x.tensor.quant is None:  # a model input that arrives quantized
        fix_activation(im, node, x.tensor, im.const(node, 1, "a constant scale"), im.const(node, 2))
    im.values[node.output[0]] = x


def dequantize_constant(im, name: str, q: np.ndarray, scale, zp, axis: int = 1) -> np.ndarray:
    """A quantized constant's real values, remembering its quantization under `name` for fix_weights."""
    scale = np.asarray(scale, np.float32)
    zp = np.zeros_like(scale, np.int64) if zp is None else np.asarray(zp).astype(np.int64)
    shape = [1] * q.ndim
    if scale.size > 1:
        axis %= q.ndim
        shape[axis] = -1
    real = ((q.astype(np.int64) - zp.reshape(shape)) * scale.reshape(shape)).astype(np.float32)
    im.const_quant[name] = (scale.ravel(), zp.ravel(), axis if scale.size > 1 else None, q.dtype)
    im.consts[name] = real
    return real


def fix_weights(im, node, name: str, t: Tensor, onnx_axis: int, mlc_axis: int) -> None:
    """Put the model's per-channel weight scales on mlc weight tensor t (made from constant `name`)."""
    known = im.const_quant.get(name)
    if known is None:
        return
    scale, zp, axis, dtype = known
    if np.any(zp != 0):
        im.fail(node, "the weights are asymmetric (zero point "
                      f"{int(zp[np.nonzero(zp)[0][0]])}); TFLite's int8 weights are symmetric: quantize the float "
                      "model with `mlc quantize` instead")
    if dtype != np.int8:
        im.fail(node, f"{dtype} weights are not supported; TFLite's int8 spec has int8 weights")
    channels = t.shape[mlc_axis]
    if scale.size == 1:
        scale = np.full(channels, scale[0], np.float32)
    elif axis != onnx_axis or scale.size != channels:
        im.fail(node, f"weights quantized per channel along axis {axis}, not along the output channels")
    t.quant = Quant(scale=scale.astype(np.float32), zero_point=np.zeros(channels, np.int64), axis=mlc_axis)


# -- QOperator form: each QLinear op becomes its float op between the same quantization parameters
def _activation_in(im, node, x: int, scale: int, zp: int) -> str:
    value = im.act(node, x)
    fix_activation(im, node, value.tensor, im.const(node, scale, "a constant scale"), im.const(node, zp))
    return node.input[x]


def _constant_in(im, node, q: int, scale: int, zp: int, axis: int) -> str:
    name = f"{node.output[0]}_input{q}_real"
    dequantize_constant(im, name, im.const(node, q), im.const(node, scale, "a constant scale"), im.const(node, zp), axis)
    return name


def _operand(im, node, q: int, scale: int, zp: int, axis: int = 1) -> str:
    """An activation or a quantized constant operand."""
    if node.input[q] in im.consts:
        return _constant_in(im, node, q, scale, zp, axis)
    return _activation_in(im, node, q, scale, zp)


def _bias_in(im, node, b: int, scales: list) -> list:
    """An int32 bias at the product of the input and weight scales, as real values (or nothing)."""
    if b >= len(node.input) or not node.input[b]:
        return []
    name = f"{node.output[0]}_bias_real"
    product = np.float32(1)
    for s in scales:  # per tensor or per channel: they broadcast
        product = product * np.asarray(s, np.float32)
    im.consts[name] = (im.const(node, b).astype(np.float64) * np.ravel(product)).astype(np.float32)
    return [name]


def _float_op(im, node, op_type: str, inputs: list, out_scale: int | None, out_zp: int | None, **attrs):
    from onnx import helper

    float_node = helper.make_node(op_type, inputs, [node.output[0]], name=node.name or node.output[0], **attrs)
    value = im.handle(float_node)
    if out_scale is not None and out_scale < len(node.input) and node.input[out_scale]:
        t = (value or im.values[node.output[0]]).tensor
        fix_activation(im, node, t, im.const(node, out_scale, "a constant scale"), im.const(node, out_zp))
    im.note(ROUNDING_NOTE)
    return value


def qlinear_conv(im, node, attrs):
    x = _activation_in(im, node, 0, 1, 2)
    w = _constant_in(im, node, 3, 4, 5, axis=0)
    bias = _bias_in(im, node, 8, [im.const(node, 1), im.const(node, 4)])
    return _float_op(im, node, "Conv", [x, w, *bias], 6, 7, **attrs)


def qlinear_matmul(im, node, attrs):
    a = _activation_in(im, node, 0, 1, 2)
    b = _constant_in(im, node, 3, 4, 5, axis=1)
    return _float_op(im, node, "MatMul", [a, b], 6, 7, **attrs)


def qgemm(im, node, attrs):
    a = _activation_in(im, node, 0, 1, 2)
    b = _constant_in(im, node, 3, 4, 5, axis=0 if attrs.get("transB", 0) else 1)
    bias = _bias_in(im, node, 6, [im.const(node, 1), im.const(node, 4), np.float32(attrs.get("alpha", 1.0))])
    return _float_op(im, node, "Gemm", [a, b, *bias], 7, 8, **attrs)


def _qlinear_binary(op_type):
    def handle(im, node, attrs):
        return _float_op(im, node, op_type, [_operand(im, node, 0, 1, 2), _operand(im, node, 3, 4, 5)], 6, 7)
    return handle


def _qlinear_unary(op_type, keep=()):
    def handle(im, node, attrs):
        if attrs.get("channels_last", 0):
            im.fail(node, "channels_last=1 is not supported")
        return _float_op(im, node, op_type, [_activation_in(im, node, 0, 1, 2)], 3, 4,
                         **{k: v for k, v in attrs.items() if k in keep})
    return handle


def qlinear_concat(im, node, attrs):
    inputs = [_activation_in(im, node, i, i + 1, i + 2) for i in range(2, len(node.input), 3)]
    return _float_op(im, node, "Concat", inputs, 0, 1, axis=attrs["axis"])


POOL_ATTRS = ("kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad")
HANDLERS = {
    "QuantizeLinear": quantize_linear, "DequantizeLinear": dequantize_linear,
    "QLinearConv": qlinear_conv, "QLinearMatMul": qlinear_matmul, "QGemm": qgemm,
    "QLinearAdd": _qlinear_binary("Add"), "QLinearMul": _qlinear_binary("Mul"),
    "QLinearGlobalAveragePool": _qlinear_unary("GlobalAveragePool"),
    "QLinearAveragePool": _qlinear_unary("AveragePool", POOL_ATTRS),
    "QLinearSoftmax": _qlinear_unary("Softmax", ("axis",)), "QLinearSigmoid": _qlinear_unary("Sigmoid"),
    "QLinearConcat": qlinear_concat,
}
MICROSOFT_OPS = {"QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool",
                 "QLinearSoftmax", "QLinearSigmoid", "QLinearConcat"}  # onnxruntime's com.microsoft domain
