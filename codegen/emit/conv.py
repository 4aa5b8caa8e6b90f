"""CONV_2D and DEPTHWISE_CONV_2D: the kernel variant is chosen here, from the layer's shapes."""
import numpy as np

from codegen.emit import emits
from codegen.emit.requant import requant_consts, requant_vars


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


def _conv_scratch(op, inplace, reference):
    variant = _conv_variant(op, reference)
    if variant == "im2col":  # one output pixel's window
        return int(np.prod(op.inputs[1].shape[1:]))
    return 2 * op.outputs[0].shape[3] if inplace else 0  # 1x1 in place: a pair of output pixels


@emits("CONV_2D", inplace=_conv_inplace, scratch=_conv_scratch)
def conv_2d(layer):
    op = layer.op
    w = op.inputs[1].data
    variant = _conv_variant(op, layer.reference)
    folded = variant in ("1x1", "im2col")  # bias + input_offset * sum(w): no offset add per MAC
    bias, mult, shift, per_channel = requant_consts(layer, w.shape[0], w if folded else None)
    fn = layer.kernel("conv_s8.c.j2", f"conv_s8_{variant}", variant=variant, inplace=layer.inplace,
                      per_channel=per_channel, **_geometry(op), **requant_vars(layer.p))
    weights = layer.const("weights", w, "int8_t")
    scratch = layer.scratch() if layer.inplace or variant == "im2col" else "(int8_t *)0"
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {bias}, {mult}, {shift}, {scratch});"


def _dw_inplace(op) -> bool:
    """Output row r overwrites input row r: needs stride 1, multiplier 1 and an unchanged size."""
    g = _geometry(op)
    return (g["s_h"] == g["s_w"] == 1 and op.params["depth_multiplier"] == 1
            and (g["out_h"], g["out_w"]) == (g["in_h"], g["in_w"]))


def _dw_scratch(op, inplace, reference):
    g = _geometry(op)
    return (g["p_h"] + 1) * g["in_w"] * g["in_c"] if inplace else 0


@emits("DEPTHWISE_CONV_2D", inplace=_dw_inplace, scratch=_dw_scratch)
def depthwise_conv_2d(layer):
    op = layer.op
    w = op.inputs[1].data
    g = _geometry(op)
    three = g["k_h"] == g["k_w"] == 3 and g["d_h"] == g["d_w"] == 1
    variant = "reference" if layer.reference else ("3x3" if three else "generic")
    bias, mult, shift, per_channel = requant_consts(layer, w.shape[3])
    fn = layer.kernel("depthwise_conv_s8.c.j2", f"depthwise_conv_s8_{variant}", variant=variant,
                      inplace=layer.inplace, per_channel=per_channel, mult_c=layer.p["depth_multiplier"],
                      **_geometry(op), **requant_vars(layer.p))
    weights = layer.const("weights", w, "int8_t")
    scratch = layer.scratch() if layer.inplace else "(int8_t *)0"
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {bias}, {mult}, {shift}, {scratch});"
