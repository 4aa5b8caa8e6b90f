"""CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: per-channel requantization as TFLM's
PopulateConvolutionQuantizationParams, and the padding of ComputePaddingHeightWidth."""
import numpy as np

from codegen.errors import MlcError
from codegen.params import derives, int8_activation
from codegen.quant import activation_range, quantize_multipliers


def out_size(padding: str, size: int, kernel: int, stride: int, dilation: int) -> int:
    effective = (kernel - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size + stride - effective) // stride


def leading_pad(size: int, kernel: int, stride: int, dilation: int, out: int) -> int:
    """TFLite ComputePaddingWithOffset: the top/left pad (the odd extra pixel goes bottom/right)."""
    effective = (kernel - 1) * dilation + 1
    return max(0, (out - 1) * stride + effective - size) // 2


def window_geometry(op, in_hw, k_hw, dilation=(1, 1)) -> dict:
    """Strides, dilations and leading pads of a 2-D sliding window, checked against the output shape."""
    o = op.options
    stride = (o.get("stride_h", 1), o.get("stride_w", 1))
    out_hw = tuple(op.outputs[0].shape[1:3])
    if o.get("padding") == "EXPLICIT":  # recovered from SPACE_TO_BATCH_ND (codegen.fold)
        pads = tuple(o["explicit_padding"])
    else:
        expect = tuple(out_size(o.get("padding"), in_hw[a], k_hw[a], stride[a], dilation[a]) for a in range(2))
        if expect != out_hw:
            raise MlcError(f"output shape {out_hw} does not match {o.get('padding')} padding (expected {expect})")
        pads = tuple(leading_pad(in_hw[a], k_hw[a], stride[a], dilation[a], out_hw[a]) for a in range(2))
    return {"stride_h": stride[0], "stride_w": stride[1], "dilation_h": dilation[0], "dilation_w": dilation[1],
            "pad_h": pads[0], "pad_w": pads[1]}


def _requant(op, channels: int) -> dict:
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    int8_activation(op, x)
    int8_activation(op, out)
    if w.dtype != "int8" or w.quant is None or not w.is_const:
        raise MlcError(f"weights '{w.name}' are {w.dtype}{' and not constant' if not w.is_const else ''}; only int8 weights are supported")
    if np.any(w.quant.zero_point != 0):
        raise MlcError(f"weights '{w.name}' have a non-zero zero point; TFLite int8 weights are symmetric")
    w_scale = np.broadcast_to(w.quant.scale.astype(np.float64), (channels,))
    effective = float(np.float64(x.quant.s)) * w_scale / float(np.float64(out.quant.s))
    multiplier, shift = quantize_multipliers(effective)
    bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] is not None else None
    if bias is not None and (bias.dtype != "int32" or not bias.is_const):
        raise MlcError(f"bias '{bias.name}' is {bias.dtype}; int8 layers need a constant int32 bias")
    act_min, act_max = activation_range(op.options.get("activation", "NONE"), out.quant.s, out.quant.zp)
    return {"input_offset": -x.quant.zp, "output_offset": out.quant.zp, "multiplier": multiplier, "shift": shift,
            "act_min": act_min, "act_max": act_max,
            "bias": bias.data.astype(np.int64).ravel() if bias is not None else np.zeros(channels, np.int64)}


def _conv_macs(op):
    n, oh, ow, oc = op.outputs[0].shape
    _, kh, kw, ic = op.inputs[1].shape
    return n * oh * ow * oc * kh * kw * ic


def _dw_macs(op):
    n, oh, ow, oc = op.outputs[0].shape
    _, kh, kw, _ = op.inputs[1].shape
    return n * oh * ow * oc * kh * kw


def _fc_macs(op):
    units, depth = op.inputs[1].shape
    return op.inputs[0].size // depth * units * depth


@derives("CONV_2D", macs=_conv_macs)
def conv_2d(op):
    x, w = op.inputs[0], op.inputs[1]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(op.outputs[0].shape) != 4:
        raise MlcError("CONV_2D needs 4-D NHWC input and output and OHWI weights")
    if x.shape[3] != w.shape[3]:
        raise MlcError(f"grouped convolution (input depth {x.shape[3]}, filter depth {w.shape[3]}) is not supported")
    dilation = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
    return {**_requant(op, w.shape[0]), **window_geometry(op, x.shape[1:3], w.shape[1:3], dilation)}


@derives("DEPTHWISE_CONV_2D", macs=_dw_macs)
def depthwise_conv_2d(op):
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise MlcError("DEPTHWISE_CONV_2D needs 4-D NHWC input and output and 1HWC weights")
    multiplier = out.shape[3] // x.shape[3]
    if multiplier * x.shape[3] != out.shape[3] or w.shape[3] != out.shape[3]:
        raise MlcError(f"output depth {out.shape[3]} is not a multiple of input depth {x.shape[3]}")
    dilation = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
    return {**_requant(op, w.shape[3]), **window_geometry(op, x.shape[1:3], w.shape[1:3], dilation),
            "depth_multiplier": multiplier}


@derives("FULLY_CONNECTED", macs=_fc_macs)
def fully_connected(op):
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(w.shape) != 2 or x.size % w.shape[1]:
        raise MlcError(f"weights shape {w.shape} does not fit input shape {x.shape}")
    if op.options.get("weights_format", 0) != 0:
        raise MlcError("shuffled FULLY_CONNECTED weights are not supported")
    if out.size != x.size // w.shape[1] * w.shape[0]:
        raise MlcError(f"output shape {out.shape} does not hold {x.size // w.shape[1]} x {w.shape[0]} results")
    params = _requant(op, w.shape[0])
    return {**params, "batches": x.size // w.shape[1], "depth": w.shape[1], "units": w.shape[0]}
