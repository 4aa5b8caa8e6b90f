"""CONV_2D and DEPTHWISE_CONV_2D: per-channel requantization as TFLM's
PopulateConvolutionQuantizationParams, the padding of ComputePaddingHeightWidth, and the C kernel
variant chosen from the layer's shapes."""
import numpy as np

from codegen.errors import MlcError
from codegen.model.quant import activation_range, quantize_multipliers
from codegen.ops import define, per_tensor_quantized
from codegen.ops.requant import requant_consts, requant_vars


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
    if o.get("padding") == "EXPLICIT":  # recovered from SPACE_TO_BATCH_ND (codegen.model.fold)
        pads = tuple(o["explicit_padding"])
    else:
        expect = tuple(out_size(o.get("padding"), in_hw[a], k_hw[a], stride[a], dilation[a]) for a in range(2))
        if expect != out_hw:
            raise MlcError(f"output shape {out_hw} does not match {o.get('padding')} padding (expected {expect})")
        pads = tuple(leading_pad(in_hw[a], k_hw[a], stride[a], dilation[a], out_hw[a]) for a in range(2))
    return {"stride_h": stride[0], "stride_w": stride[1], "dilation_h": dilation[0], "dilation_w": dilation[1],
            "pad_h": pads[0], "pad_w": pads[1]}


def requant_params(op, channels: int) -> dict:
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
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


def conv_2d_params(op):
    x, w = op.inputs[0], op.inputs[1]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(op.outputs[0].shape) != 4:
        raise MlcError("CONV_2D needs 4-D NHWC input and output and OHWI weights")
    if x.shape[3] != w.shape[3]:
        raise MlcError(f"grouped convolution (input depth {x.shape[3]}, filter depth {w.shape[3]}) is not supported")
    dilation = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
    return {**requant_params(op, w.shape[0]), **window_geometry(op, x.shape[1:3], w.shape[1:3], dilation)}


def depthwise_conv_2d_params(op):
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise MlcError("DEPTHWISE_CONV_2D needs 4-D NHWC input and output and 1HWC weights")
    multiplier = out.shape[3] // x.shape[3]
    if multiplier * x.shape[3] != out.shape[3] or w.shape[3] != out.shape[3]:
        raise MlcError(f"output depth {out.shape[3]} is not a multiple of input depth {x.shape[3]}")
    dilation = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
    return {**requant_params(op, w.shape[3]), **window_geometry(op, x.shape[1:3], w.shape[1:3], dilation),
            "depth_multiplier": multiplier}


def _geometry(op) -> dict:
    p = op.params
    _, in_h, in_w, in_c = op.inputs[0].shape
    _, out_h, out_w, out_c = op.outputs[0].shape
    _, k_h, k_w, _ = op.inputs[1].shape
    return {"in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
            "k_h": k_h, "k_w": k_w, "s_h": p["stride_h"], "s_w": p["stride_w"], "d_h": p["dilation_h"],
            "d_w": p["dilation_w"], "p_h": p["pad_h"], "p_w": p["pad_w"]}


def _pointwise(op) -> bool:
    g = _geometry(op)
    return g["k_h"] == g["k_w"] == 1 and g["p_h"] == g["p_w"] == 0


def _conv_inplace(op) -> bool:
    """1x1 convolution: output pixel p lands at p*OC <= p*IC, never over a pixel still to be read."""
    return _pointwise(op) and op.outputs[0].shape[3] <= op.inputs[0].shape[3]


IM2COL_MAX_BYTES = 2048  # larger windows use the generic kernel rather than grow the arena


def _conv_variant(op, reference: bool) -> str:
    if reference:
        return "reference"
    if _pointwise(op):
        return "1x1"
    _, k_h, k_w, in_c = op.inputs[1].shape
    return "im2col" if k_h * k_w * in_c <= IM2COL_MAX_BYTES else "generic"


Q15_UNROLL_MAX = 64  # the DSP path's halfword dot products are fully unrolled up to this row length


def _conv_block(op, variant: str) -> int:
    """Output pixels per block in 1x1 and im2col: three where the DSP path's dot product is fully
    unrolled (three pixels' accumulators then fit the core's registers), else two."""
    k = int(np.prod(op.inputs[1].shape[1:]))
    return 3 if variant in ("1x1", "im2col") and k % 4 == 0 and k <= Q15_UNROLL_MAX else 2


def _conv_scratch(op, inplace, reference):
    variant = _conv_variant(op, reference)
    nb = _conv_block(op, variant)
    if variant == "im2col":  # a block of output pixels' windows
        return nb * int(np.prod(op.inputs[1].shape[1:]))
    return nb * op.outputs[0].shape[3] if inplace else 0  # 1x1 in place: a block of output pixels


def conv_2d_c(layer):
    op = layer.op
    w = op.inputs[1].data
    variant = _conv_variant(op, layer.reference)
    folded = variant in ("1x1", "im2col")  # bias + input_offset * sum(w): no offset add per MAC
    rq = requant_consts(layer, w.shape[0], w, folded)
    fn = layer.kernel("conv_s8.c.j2", f"conv_s8_{variant}", variant=variant, inplace=layer.inplace,
                      nb=_conv_block(op, variant), q15_unroll_max=Q15_UNROLL_MAX, **rq, **_geometry(op),
                      **requant_vars(layer.p))
    weights = layer.const("weights", w, "int8_t")
    scratch = layer.scratch() if layer.inplace or variant == "im2col" else "(int8_t *)0"
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']}, {scratch});"


def _dw_inplace(op) -> bool:
    """Output row r overwrites input row r: needs stride 1, multiplier 1 and an unchanged size."""
    g = _geometry(op)
    return (g["s_h"] == g["s_w"] == 1 and op.params["depth_multiplier"] == 1
            and (g["out_h"], g["out_w"]) == (g["in_h"], g["in_w"]))


def _dw_scratch(op, inplace, reference):
    """The fast kernel's ring of padded window rows (in place or not); none for the reference loop nest."""
    if reference:
        return 0
    g = _geometry(op)
    width = (g["out_w"] - 1) * g["s_w"] + (g["k_w"] - 1) * g["d_w"] + 1
    return ((g["k_h"] - 1) * g["d_h"] + 1) * width * g["in_c"]


def _dw_group(op) -> int:
    """Output channels computed together: the M outputs of one input channel (each input tap
    loaded once for all), or (multiplier 1) up to 4 adjacent channels."""
    m, c = op.params["depth_multiplier"], op.inputs[0].shape[3]
    return m if m > 1 else next(g for g in (4, 2, 1) if c % g == 0)


def depthwise_conv_2d_c(layer):
    op = layer.op
    w = op.inputs[1].data
    variant = "reference" if layer.reference else "fast"
    g = _dw_group(op)
    quad = not layer.reference and g == 4 and layer.p["depth_multiplier"] == 1
    pairs = not layer.reference and g > 1 and g % 2 == 0 and layer.p["depth_multiplier"] > 1  # smlad over tap pairs
    geometry = _geometry(op)
    # a row's taps at adjacent bytes, read a word (four taps) at a time: pairs (0, 2), (1, 3) per quad
    tap_quads = pairs and geometry["in_c"] * geometry["d_w"] == 1 and geometry["k_w"] % 4 == 0
    rq = requant_consts(layer, w.shape[3], np.moveaxis(w[0], -1, 0), folded=not layer.reference)
    fn = layer.kernel("depthwise_conv_s8.c.j2", f"depthwise_conv_s8_{variant}", variant=variant,
                      inplace=layer.inplace, **rq, mult_c=layer.p["depth_multiplier"], g=g,
                      quad=quad, pairs=pairs, tap_quads=tap_quads, **geometry,
                      **requant_vars(layer.p))
    if not layer.reference:  # [groups][K_H][K_W][G]: each group's taps contiguous
        k_h, k_w, c = w.shape[1:]
        w = w[0].reshape(k_h, k_w, c // g, g).transpose(2, 0, 1, 3)  # c: output channels
    if pairs:  # taps in pairs along a row (a zero tap pads odd widths), int16, per lane one word (its two taps)
        w = np.pad(w, ((0, 0), (0, 0), (0, w.shape[2] % 2), (0, 0)))  # [groups][K_H][KWP][G]
        c, k_h, kwp, m = w.shape
        if tap_quads:
            w = w[:, :, [4 * (t // 4) + (0, 2, 1, 3)[t % 4] for t in range(kwp)]]
        w = w.reshape(c, k_h, kwp // 2, 2, m).transpose(0, 1, 2, 4, 3)
    weights = layer.const("weights", w, "int16_t" if quad or pairs else "int8_t")  # int16: the MACs' width
    scratch = "(int8_t *)0" if layer.reference else layer.scratch()
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']}, {scratch});"


define("CONV_2D", arity=(2, 3), derive=conv_2d_params, emit=conv_2d_c, macs=_conv_macs, inplace=_conv_inplace, scratch=_conv_scratch, templates=("conv_s8.c.j2",))
define("DEPTHWISE_CONV_2D", arity=(2, 3), derive=depthwise_conv_2d_params, emit=depthwise_conv_2d_c, macs=_dw_macs, inplace=_dw_inplace, scratch=_dw_scratch, templates=("depthwise_conv_s8.c.j2",))
