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


@emits("CONV_2D", inplace=_conv_inplace, scratch=_conv_scratch)
def conv_2d(layer):
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


@emits("DEPTHWISE_CONV_2D", inplace=_dw_inplace, scratch=_dw_scratch)
def depthwise_conv_2d(layer):
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
