"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV: per-channel requantization as TFLM's
PopulateConvolutionQuantizationParams, the padding of ComputePaddingHeightWidth, and the C kernel
variant chosen from the layer's shapes."""
import numpy as np

from codegen.errors import MlcError
from codegen.model.quant import activation_range, quantize_multipliers
from codegen.ops import define, per_tensor_quantized
from codegen.ops.kernel_plan import KernelPlan
from codegen.ops.thresholds import (CHANNEL_QUAD, CONV_HALFWORD_MAX_BYTES, DW_RING_SHARE, DW_UNROLL_MAX_TAPS, IM2COL_MAX_BYTES, LDRD_MAX_OFFSET,
                                      MAX_UNROLLED_LINES, Q15_MAX_ROW, Q15_STEP, Q15_UNROLL_MAX, TCONV_Q15_MAX_BYTES, VECTOR_BYTES)
from codegen.ops.requant import requant_consts, requant_vars, short_requant, wide, wide_c, wide_plan


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


def requant_params(op, channels: int, x=None, w=None, bias=None) -> dict:
    """Input, weights and bias are inputs 0, 1 and 2 unless given (TRANSPOSE_CONV orders them otherwise).
    int8 activations take an int32 bias; int16 ones (16x8: zero points 0, as TFLM asserts) an int64
    bias, summed in int64 (TFLM's int16 reference kernels)."""
    out = op.outputs[0]
    x = op.inputs[0] if x is None else x
    w = op.inputs[1] if w is None else w
    per_tensor_quantized(op, x, ("int8", "int16"))
    per_tensor_quantized(op, out, (x.dtype,))
    if x.dtype == "int16" and (x.quant.zp or out.quant.zp):
        raise MlcError(f"int16 tensors '{x.name}' and '{out.name}' have zero points {x.quant.zp}, {out.quant.zp}; "
                       f"TFLM's 16x8 {op.kind} needs 0")
    if w.dtype != "int8" or w.quant is None or not w.is_const:
        raise MlcError(f"weights '{w.name}' are {w.dtype}{' and not constant' if not w.is_const else ''}; only int8 weights are supported")
    if np.any(w.quant.zero_point != 0):
        raise MlcError(f"weights '{w.name}' have a non-zero zero point; TFLite int8 weights are symmetric")
    w_scale = np.broadcast_to(w.quant.scale.astype(np.float64), (channels,))
    effective = float(np.float64(x.quant.s)) * w_scale / float(np.float64(out.quant.s))
    multiplier, shift = quantize_multipliers(effective)
    if bias is None:
        bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] is not None and op.kind != "TRANSPOSE_CONV" else None
    bias_dtype = "int64" if x.dtype == "int16" else "int32"
    if bias is not None and (bias.dtype != bias_dtype or not bias.is_const):
        raise MlcError(f"bias '{bias.name}' is {bias.dtype}; {x.dtype} layers need a constant {bias_dtype} bias")
    info = np.iinfo(out.dtype)
    act_min, act_max = activation_range(op.options.get("activation", "NONE"), out.quant.s, out.quant.zp, info.min, info.max)
    return {"input_offset": -x.quant.zp, "output_offset": out.quant.zp, "multiplier": multiplier, "shift": shift,
            "act_min": act_min, "act_max": act_max, "dtype": x.dtype,
            "bias": bias.data.astype(np.int64).ravel() if bias is not None else np.zeros(channels, np.int64)}


def halfword_weights(w, rows: int):
    """The DSP halfword-weights paths' int16 weights (fully_connected_s8.c.j2; conv_s8.c.j2's, two rows a group):
    units in groups of `rows` (the last group the rest), each group [DEPTH4 / 4][rows][4]: per step of 4 inputs a unit's weights 0, 2, 1, 3
    (the halfword pairs sxtb16 makes of the input word), then the 1-3 inputs past the last whole step
    in order; rows padded with zeros to DEPTH4."""
    units, depth = w.shape
    d4 = -(-depth // 4) * 4
    whole = depth // 4 * 4
    order = [i - i % 4 + (0, 2, 1, 3)[i % 4] if i < whole else i for i in range(d4)]
    padded = np.zeros((units, d4), np.int16)
    padded[:, :depth] = w
    padded = padded[:, order]
    return np.concatenate([g.reshape(len(g), d4 // 4, 4).transpose(1, 0, 2).ravel()
                           for g in np.split(padded, range(rows, units, rows))])


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


def transpose_conv_params(op):
    """TFLM TRANSPOSE_CONV: inputs (output shape, OHWI weights, input, optional bias); the padding is
    ComputePaddingHeightWidth's for a forward convolution from the output's size (dilation 1)."""
    shape, w, x, out = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    bias = op.inputs[3] if len(op.inputs) > 3 else None
    if x is None or len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4 or x.shape[3] != w.shape[3]:
        raise MlcError("TRANSPOSE_CONV needs a 4-D NHWC input and output and OHWI weights of the input's depth")
    if not shape.is_const or [int(v) for v in shape.data.ravel()] != list(out.shape) or w.shape[0] != out.shape[3]:
        raise MlcError(f"TRANSPOSE_CONV output shape {getattr(shape.data, 'tolist', lambda: '?')()} must be constant and "
                       f"equal output '{out.name}' {out.shape}")
    if x.shape[0] != out.shape[0]:
        raise MlcError(f"TRANSPOSE_CONV input batch {x.shape[0]} and output batch {out.shape[0]} differ")
    o = op.options
    stride = (o.get("stride_h", 1), o.get("stride_w", 1))
    forward = [out_size(o.get("padding"), out.shape[1 + a], w.shape[1 + a], stride[a], 1) for a in range(2)]
    pads = [leading_pad(out.shape[1 + a], w.shape[1 + a], stride[a], 1, forward[a]) for a in range(2)]
    return {**requant_params(op, w.shape[0], x=x, w=w, bias=bias), "stride_h": stride[0], "stride_w": stride[1],
            "dilation_h": 1, "dilation_w": 1, "pad_h": pads[0], "pad_w": pads[1]}


def _transpose_conv_macs(op):
    _, in_h, in_w, in_c = op.inputs[2].shape
    out_c, kh, kw, _ = op.inputs[1].shape
    return op.inputs[2].shape[0] * in_h * in_w * in_c * kh * kw * out_c  # every tap, inside the output or not


def _tconv_taps(o: int, pad: int, stride: int, k: int, n_in: int) -> tuple[int, int, int]:
    """The taps of one TRANSPOSE_CONV axis landing on output o: inputs lo .. lo + n - 1, tap
    f = o + pad - i * stride of input i, the first (the largest) f; (0, 0, 0) when none lands."""
    t = o + pad
    lo, hi = max(0, -(-(t - k + 1) // stride)), min(n_in - 1, t // stride)
    return (lo, t - lo * stride, hi - lo + 1) if hi >= lo else (0, 0, 0)


def _tconv_order(k: int, stride: int) -> list[int]:
    """An axis' taps by phase (f % stride), each phase's taps descending: the taps landing on one output
    are adjacent, in the order of their inputs (ascending)."""
    return [f for r in range(stride) for f in range(k - 1 - (k - 1 - r) % stride, -1, -stride)]


def _tconv_fast_tables(op, p) -> dict:
    """The fast kernel's generation-time tables: the weights with both tap axes in _tconv_order (an
    output's taps of one input row are then one dot product of nx * IC contiguous bytes, its rows at
    steps of K_W * IC); per output row {input offset, weight offset, input rows ny, bias offset} and per
    output column {input offset, weight offset, length nx * IC, bias offset}; and the bias with the input
    offset folded in for each class of output (its rows' and columns' first tap and count: the borders
    and phases), bias + input_offset * sum(w over its taps), so no MAC adds the offset (exact in int32
    as the other folded biases)."""
    w = op.inputs[1].data.astype(np.int64)
    out_c, k_h, k_w, in_c = w.shape
    _, in_h, in_w, _ = op.inputs[2].shape
    _, out_h, out_w, _ = op.outputs[0].shape
    y_order, x_order = _tconv_order(k_h, p["stride_h"]), _tconv_order(k_w, p["stride_w"])
    w = w[:, y_order][:, :, x_order]
    y_pos, x_pos = np.argsort(y_order), np.argsort(x_order)  # a tap's place in the reordered axis
    rows = [_tconv_taps(o, p["pad_h"], p["stride_h"], k_h, in_h) for o in range(out_h)]
    cols = [_tconv_taps(o, p["pad_w"], p["stride_w"], k_w, in_w) for o in range(out_w)]
    y_cls = sorted({(int(y_pos[f]), n) for _, f, n in rows})
    x_cls = sorted({(int(x_pos[f]), n) for _, f, n in cols})
    bias = np.broadcast_to(p["bias"], (out_c,)).astype(np.int64)
    folded = np.array([[bias + p["input_offset"] * w[:, y:y + ny, x:x + nx].sum(axis=(1, 2, 3))
                        for x, nx in x_cls] for y, ny in y_cls])
    row_t = [(lo * in_w * in_c, int(y_pos[f]) * k_w * in_c, n, y_cls.index((int(y_pos[f]), n)) * len(x_cls) * out_c)
             for lo, f, n in rows]
    col_t = [(lo * in_c, int(x_pos[f]) * in_c, n * in_c, x_cls.index((int(x_pos[f]), n)) * out_c) for lo, f, n in cols]
    return {"weights": w.astype(np.int8), "bias": folded.astype(np.int32), "rows": np.array(row_t, np.int32),
            "cols": np.array(col_t, np.int32)}


def transpose_conv_c(layer):
    """Per output pixel, the taps whose input pixel lands on it, so no int32 (16x8: int64) scratch of the
    output's size is needed: the reference loop nest, or (fast) _tconv_fast_tables' dot products."""
    op, p = layer.op, layer.p
    w = op.inputs[1].data
    _, in_h, in_w, in_c = op.inputs[2].shape
    n, out_h, out_w, out_c = op.outputs[0].shape
    geometry = dict(batches=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=w.shape[1],
                    k_w=w.shape[2], s_h=p["stride_h"], s_w=p["stride_w"], p_h=p["pad_h"], p_w=p["pad_w"])
    if layer.kernel_plan.variant == "fast":
        t = _tconv_fast_tables(op, p)
        rq = requant_consts(layer, out_c, w, bias=t["bias"])
        fn = layer.kernel("transpose_conv_s8.c.j2", "transpose_conv_s8_fast", wide=False, **geometry, **rq,
                          **requant_vars(p))
        if layer.kernel_plan.options["q15"]:  # conv's halfword layout, channel pairs' steps interleaved
            weights = "(const int8_t *)" + layer.const("weights", halfword_weights(t["weights"].reshape(out_c, -1), 2), "int16_t")
        else:
            weights = layer.const("weights", t["weights"], "int8_t")
        rows, cols = layer.const("rows", t["rows"], "int32_t"), layer.const("cols", t["cols"], "int32_t")
        return (f"{fn}({layer.inp(2)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']}, {rows}, {cols}, "
                f"{layer.scratch()});")
    wide16 = p["dtype"] == "int16"  # 16x8: int64 bias and sums, no offsets
    # plain per-channel tables (the reference loop takes no short requantization)
    bias = layer.const("bias", np.broadcast_to(p["bias"], (out_c,)).astype(np.int64 if wide16 else np.int32),
                       "int64_t" if wide16 else "int32_t")
    mult = layer.const("mult", np.broadcast_to(p["multiplier"], (out_c,)).astype(np.int32), "int32_t")
    shift = layer.const("shift", np.broadcast_to(p["shift"], (out_c,)).astype(np.int8), "int8_t")
    fn = layer.kernel("transpose_conv_s8.c.j2", f"transpose_conv_{'s16' if wide16 else 's8'}", const=op.inputs[2].is_const,
                      wide=wide16, **geometry, **requant_vars(p))
    weights = layer.const("weights", w, "int8_t")
    return f"{fn}({layer.inp(2)}, {layer.out(0)}, {weights}, {bias}, {mult}, {shift});"


def _transpose_conv_plan(op, isa, reference, inplace, alone):
    if wide(op):
        return wide_plan(op, isa, inplace, "OHWI int8")
    if reference or op.inputs[2].is_const:
        why = ("the reference loop nest was asked for" if reference else
               "a constant input lives in flash (MLC_RD8): the reference loop nest")
        return KernelPlan(op.index, op.kind, "reference", isa, weights="OHWI int8", inplace=inplace, why={"variant": why})
    in_c = op.inputs[2].shape[3]
    widened = 2 * int(np.prod(op.inputs[2].shape[1:]))  # one image's inputs as halfword pairs
    # the DSP extension in a library for it alone: the input widened to halfwords once, int16 weight pairs
    # (conv's halfword path), each tap's IN_C fully unrolled
    q15 = (isa == "dsp" and alone and in_c % Q15_STEP == 0 and in_c <= Q15_UNROLL_MAX and widened <= TCONV_Q15_MAX_BYTES
           and op.inputs[1].data.size <= CONV_HALFWORD_MAX_BYTES)
    why = {"variant": "taps reordered at generation time: an output's taps of one input row are one contiguous dot "
                      "product (FULLY_CONNECTED's), the input offset folded into a bias per class of output (border, "
                      "phase)", "channels": "two channels per pass"}
    if q15:
        why["halfwords"] = (f"IN_C % {Q15_STEP} == 0, IN_C <= {Q15_UNROLL_MAX}, {widened} B <= {TCONV_Q15_MAX_BYTES}: "
                            "the input widened to halfwords once in scratch, int16 weight pairs (one ldrd a channel and "
                            "step), each tap unrolled")
    return KernelPlan(op.index, op.kind, "fast", isa, channels=2, unroll="each tap" if q15 else "loop", inplace=inplace,
                      weights=("[O/2][K/4][2][4] int16 (0 2 1 3), taps by phase, descending" if q15
                               else "O[K_H][K_W]I int8, taps by phase, descending"),
                      scratch=widened if q15 else 0, why=why, options={"q15": q15})


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
    """1x1 convolution: output pixel p lands at p*OC <= p*IC, never over a pixel still to be read (the
    int8 kernels' one-pixel scratch; the 16x8 loop nest has none)."""
    return not wide(op) and _pointwise(op) and op.outputs[0].shape[3] <= op.inputs[0].shape[3]


CONV_MAX_PIXELS = 3  # the most output pixels a CONV_2D block reads before it writes them (conv_2d_plan's nb)


def _conv_overlap(op) -> int:
    """Every CONV_2D variant writes output pixels in order and reads no pixel's input after writing a later
    pixel: the output may start `gap` bytes before the input, the least gap at which the bytes written
    through pixel p never cover an input byte still to be read (a window's first byte, clipped at row and
    column 0). Still read while p is written: im2col, pixels after p (it gathers a block's windows into
    scratch first); generic, p's window too (each channel reads it again); 1x1, its whole block's."""
    if wide(op):  # the 16x8 loop nest: not checked for it
        return None
    g = _geometry(op)
    oy, ox = np.divmod(np.arange(g["out_h"] * g["out_w"]), g["out_w"])
    first = (np.maximum(oy * g["s_h"] - g["p_h"], 0) * g["in_w"] + np.maximum(ox * g["s_w"] - g["p_w"], 0)) * g["in_c"]
    # the lowest input byte pixel q or a later one reads; none after the last pixel
    still_read = np.append(np.minimum.accumulate(first[::-1])[::-1], np.iinfo(np.int64).max // 2)
    back = {"im2col": -1, "generic": 0, "1x1": CONV_MAX_PIXELS - 1}[_conv_variant(op, False)[0]]
    pixels = np.arange(first.size)
    written = (pixels + 1) * g["out_c"]  # output bytes once pixel p is written
    return max(0, int(np.max(written - still_read[np.maximum(pixels - back, 0)])))


def _conv_variant(op, reference: bool) -> tuple[str, str]:
    if reference:
        return "reference", "the reference loop nest was asked for"
    if _pointwise(op):
        return "1x1", "a 1x1 window without padding: the input rows are the dot products' rows"
    _, k_h, k_w, in_c = op.inputs[1].shape
    if k_h * k_w * in_c <= IM2COL_MAX_BYTES:
        return "im2col", f"a window of {k_h * k_w * in_c} B (<= {IM2COL_MAX_BYTES}) is gathered into scratch"
    return "generic", f"a window over {IM2COL_MAX_BYTES} B: scratch-free, taps clipped per pixel"


def conv_2d_plan(op, isa, reference, inplace, alone):
    if wide(op):
        return wide_plan(op, isa, inplace, "OHWI int8")
    variant, why_variant = _conv_variant(op, reference)
    why = {"variant": why_variant}
    if variant not in ("1x1", "im2col"):
        return KernelPlan(op.index, op.kind, variant, isa, inplace=inplace, why=why, options={"hw": False})
    window = int(np.prod(op.inputs[1].shape[1:]))
    out_c = op.outputs[0].shape[3]
    w = op.inputs[1].data
    # one ISA's own weight layout (a portable library shares int8), flash doubled for at most CONV_HALFWORD_MAX_BYTES
    hw_ok = isa == "dsp" and alone and w.size <= CONV_HALFWORD_MAX_BYTES
    # the halfword weights can take zero weights past a window: im2col's rows then pad to whole steps
    k = -(-window // Q15_STEP) * Q15_STEP if variant == "im2col" and hw_ok else window
    # the DSP extension's halfword path: a block's inputs widened once to halfword pairs
    q15 = isa == "dsp" and k % Q15_STEP == 0 and k <= Q15_MAX_ROW
    k = k if q15 else window
    # fully unrolled, a step is 4 lines and one per pixel (dot_q15 in dot_s8.j2), three pixels
    unrolled_lines = k // Q15_STEP * (4 + 3)
    hw = q15 and hw_ok
    if hw and out_c % 2:  # the odd channel's own unrolled steps (one weight line and a line per pixel)
        unrolled_lines += k // Q15_STEP * (4 + 3)
    unrolled = q15 and k <= Q15_UNROLL_MAX and unrolled_lines <= MAX_UNROLLED_LINES
    nb = CONV_MAX_PIXELS if unrolled else 2
    steps = "all" if unrolled else 2 if k % (2 * Q15_STEP) == 0 else 1
    quads = out_c >= CHANNEL_QUAD and (isa == "portable" or (isa == "mve" and short_requant(op.params, out_c, w)))
    if q15:
        why["pixels"] = (f"rows of {k} <= {Q15_UNROLL_MAX}: unrolled, three pixels' accumulators fit the registers"
                         if unrolled else "two pixels: a looped row needs registers for its pointers")
        why["halfwords"] = (f"K % {Q15_STEP} == 0 and K <= {Q15_MAX_ROW}: inputs widened to halfwords once per block"
                            if k == window else f"windows of {window} B padded to rows of {k} (zero weights), "
                            f"K <= {Q15_MAX_ROW}: inputs widened to halfwords once per block")
        if hw:
            why["weights"] = (f"int16 halfword pairs, one ldrd a channel and step (nothing unpacked): {w.size} B int8 "
                              f"<= {CONV_HALFWORD_MAX_BYTES} B, so twice that in flash")
    else:
        why["pixels"] = "two pixels share every weight load"
    why["channels"] = ("four channels share every input load" if quads
                       else "two channels per pass (the halfword dot product)" if q15 else "two channels per pass")
    if isa == "mve" and out_c >= CHANNEL_QUAD and not quads:
        why["channels"] = "two channels: the four-lane requantization is not proven exact for this layer"
    # the windows (im2col) or the in-place output block (1x1), then the halfword inputs q (4-aligned), all
    # in the arena (im2col's dot products pin q's address in a register per pass: dot_q15's pin)
    block = nb * (k if variant == "im2col" else out_c if inplace else 0)
    q_at = (block + 3) // 4 * 4 if q15 else None
    scratch = block if q_at is None else q_at + nb * k * 2
    if q15:
        why["halfwords"] += "; in scratch"
    unroll = ((f"full ({k // Q15_STEP} steps, {unrolled_lines} lines)" if steps == "all" else f"{steps} steps per pass")
              if q15 else "4 MACs per pass")
    return KernelPlan(op.index, op.kind, variant, isa, pixels=nb, channels=4 if quads else 2, unroll=unroll,
                      unroll_budget=MAX_UNROLLED_LINES, weights="[O/2][K/4][2][4] int16 (0 2 1 3)" if hw else "OHWI int8",
                      scratch=scratch, inplace=inplace,
                      why=why, options={"nb": nb, "q15": q15, "hw": hw, "row": k, "steps": steps, "quads": quads, "q_at": q_at,
                                        "whole_vectors": k % VECTOR_BYTES == 0})


def conv_2d_c(layer):
    op, plan = layer.op, layer.kernel_plan
    w = op.inputs[1].data
    if wide(op):
        return wide_c(layer, "conv_s16.c.j2", "conv_s16", w.shape[0], **_geometry(op))
    folded = plan.variant in ("1x1", "im2col")  # bias + input_offset * sum(w): no offset add per MAC
    rq = requant_consts(layer, w.shape[0], w, folded)
    fn = layer.kernel("conv_s8.c.j2", f"conv_s8_{plan.variant}", inplace=layer.inplace,
                      **rq, **_geometry(op), **requant_vars(layer.p))
    if plan.options.get("hw"):  # channel pairs' steps interleaved, int16 (fully_connected's layout, two rows a group)
        rows = w.reshape(w.shape[0], -1)
        rows = np.pad(rows, ((0, 0), (0, plan.options["row"] - rows.shape[1])))  # zero weights past the window
        weights = "(const int8_t *)" + layer.const("weights", halfword_weights(rows, 2), "int16_t")
    else:
        weights = layer.const("weights", w, "int8_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']}, {layer.scratch()});"


def _dw_inplace(op) -> bool:
    """Output row r overwrites input row r: needs stride 1, multiplier 1 and an unchanged size."""
    g = _geometry(op)
    return not wide(op) and (g["s_h"] == g["s_w"] == 1 and op.params["depth_multiplier"] == 1
            and (g["out_h"], g["out_w"]) == (g["in_h"], g["in_w"]))


def _dw_overlap(op) -> int:
    """The fast depthwise kernel copies the input rows of output row oy's window into its ring (rows up to
    oy * S_H - P_H + WIN_H - 1) before it writes row oy, and reads the input nowhere else: the output may
    start `gap` bytes before the input, the least gap at which no output row covers an input row not yet
    copied."""
    if wide(op):  # the 16x8 loop nest reads the input anywhere
        return None
    g = _geometry(op)
    win_h = (g["k_h"] - 1) * g["d_h"] + 1
    row_in, row_out = g["in_w"] * g["in_c"], g["out_w"] * g["out_c"]
    gap = 0
    for oy in range(g["out_h"]):
        copied = min(g["in_h"], oy * g["s_h"] - g["p_h"] + win_h)  # input rows [0, copied) are in the ring
        if copied < g["in_h"]:
            gap = max(gap, (oy + 1) * row_out - copied * row_in)
    return gap


def _dw_group(op) -> int:
    """Output channels computed together: the M outputs of one input channel (each input tap
    loaded once for all), or (multiplier 1) up to 4 adjacent channels."""
    m, c = op.params["depth_multiplier"], op.inputs[0].shape[3]
    return m if m > 1 else next(g for g in (4, 2, 1) if c % g == 0)


def _dw_block(geo, g, width) -> int:
    """In place or in a patch step (multiplier 1) the channels of a block: the fewest blocks (of whole
    groups of G) whose ring of padded rows takes at most 1/DW_RING_SHARE of the tensor."""
    c, groups = geo["in_c"], geo["in_c"] // g
    ring = ((geo["k_h"] - 1) * geo["d_h"] + 1) * width * c
    blocks = min(groups, -(-ring * DW_RING_SHARE // (geo["in_h"] * geo["in_w"] * c)))
    return -(-groups // blocks) * g


def depthwise_conv_2d_plan(op, isa, reference, inplace, alone):
    if wide(op):
        return wide_plan(op, isa, inplace, "1HWC int8")
    if reference:
        return KernelPlan(op.index, op.kind, "reference", isa, weights="1HWC int8", inplace=inplace,
                          why={"variant": "the reference loop nest was asked for"},
                          options={"quad": False, "pairs": False})
    geo, m = _geometry(op), op.params["depth_multiplier"]
    g = _dw_group(op)
    quad = g == CHANNEL_QUAD and m == 1
    pairs = g > 1 and g % 2 == 0 and m > 1  # smlad over tap pairs
    # a row's taps at adjacent bytes, read a word (four taps) at a time: pairs (0, 2), (1, 3) per quad
    tap_quads = pairs and geo["in_c"] * geo["d_w"] == 1 and geo["k_w"] % 4 == 0
    taps = geo["k_h"] * geo["k_w"]
    mve = isa == "mve"
    rq_fast = short_requant(op.params, op.outputs[0].shape[3], np.moveaxis(op.inputs[1].data[0], -1, 0))
    mvp = mve and pairs and g % CHANNEL_QUAD == 0  # Helium tap pairs: gathered weights, four lanes a vector
    # lines a tap takes in depthwise_conv_s8.c.j2 (a pair of taps, halved, when paired); Helium quads render
    # the window twice (pixel pairs, then the last pixel)
    tap_lines = (({"dsp": 12, "mve": 10}.get(isa, g) if quad else
                  (3 + 3 * g // 4 if mvp else 5 + 3 * g if isa != "portable" else 4 + 2 * g) / 2 if pairs else 3 + g))
    unrolled_lines = round(taps * tap_lines)
    unrolled = taps <= DW_UNROLL_MAX_TAPS and unrolled_lines <= MAX_UNROLLED_LINES
    width = (geo["out_w"] - 1) * geo["s_w"] + (geo["k_w"] - 1) * geo["d_w"] + 1
    # a patch step's input is only the rows its windows read (a view of a row buffer), so a ring of every
    # channel would copy nearly all of it: there, as in place, the ring goes in blocks of channels
    band = op.inputs[0].view is not None and m == 1
    block = _dw_block(geo, g, width) if inplace or band else geo["in_c"]
    ring = ((geo["k_h"] - 1) * geo["d_h"] + 1) * width * block
    layout = ("[C/4][K_H][K_W][4] int16" if quad else "[C/G][K_H][K_W/2][G][2] int16 (tap pairs)" if pairs
              else f"[C/{g}][K_H][K_W][{g}] int8")
    why = {"variant": "input offset folded into the bias; the window's rows padded in a ring in scratch",
           "channels": (f"{g} channels of one input word (smla<x><y>)" if quad and isa == "dsp" else
                        "one int32x4 vector" if quad and mve else
                        f"the {m} outputs of one input channel, taps in pairs" if pairs else f"{g} adjacent channels"),
           "unroll": (f"{taps} taps <= {DW_UNROLL_MAX_TAPS}, about {unrolled_lines} lines <= {MAX_UNROLLED_LINES}"
                      if unrolled else f"{taps} taps, about {unrolled_lines} lines unrolled: over the budget")}
    if block < geo["in_c"]:
        why["blocks"] = (f"{'in place' if inplace else 'a patch step'}: {-(-geo['in_c'] // block)} blocks of {block} channels, a ring of {ring} B "
                         f"instead of {ring // block * geo['in_c']} B")
    pixel_pairs = quad and mve and rq_fast
    if pixel_pairs:
        why["pixels"] = "two neighbouring pixels share each tap's weight vector"
    return KernelPlan(op.index, op.kind, "fast", isa, pixels=2 if pixel_pairs else 1, channels=g,
                      unroll="all taps" if unrolled else "one window row", unroll_budget=MAX_UNROLLED_LINES,
                      weights=layout, scratch=ring, inplace=inplace, why=why,
                      options={"g": g, "cb": block, "quad": quad, "pairs": pairs, "tap_quads": tap_quads, "unrolled": unrolled,
                               "mvp": mvp, "mve_vec": mve and (quad or mvp), "mve_pixel_pairs": pixel_pairs,
                               "ldrd_max_offset": LDRD_MAX_OFFSET})


def depthwise_conv_2d_c(layer):
    op, plan = layer.op, layer.kernel_plan
    w = op.inputs[1].data
    if wide(op):
        return wide_c(layer, "depthwise_conv_s16.c.j2", "depthwise_conv_s16", w.shape[3],
                       mult_c=layer.p["depth_multiplier"], **_geometry(op))
    rq = requant_consts(layer, w.shape[3], np.moveaxis(w[0], -1, 0), folded=not layer.reference)
    opts = plan.options
    quad, pairs = opts.get("quad", False), opts.get("pairs", False)
    fn = layer.kernel("depthwise_conv_s8.c.j2", f"depthwise_conv_s8_{plan.variant}",
                      inplace=layer.inplace, **rq, mult_c=layer.p["depth_multiplier"], **_geometry(op),
                      **requant_vars(layer.p))
    if plan.variant == "fast":  # [groups][K_H][K_W][G]: each group's taps contiguous
        g = opts["g"]
        k_h, k_w, c = w.shape[1:]
        w = w[0].reshape(k_h, k_w, c // g, g).transpose(2, 0, 1, 3)  # c: output channels
    if pairs:  # taps in pairs along a row (a zero tap pads odd widths), int16, per lane one word (its two taps)
        w = np.pad(w, ((0, 0), (0, 0), (0, w.shape[2] % 2), (0, 0)))  # [groups][K_H][KWP][G]
        c, k_h, kwp, m = w.shape
        if opts["tap_quads"]:
            w = w[:, :, [4 * (t // 4) + (0, 2, 1, 3)[t % 4] for t in range(kwp)]]
        w = w.reshape(c, k_h, kwp // 2, 2, m).transpose(0, 1, 2, 4, 3)
    weights = layer.const("weights", w, "int16_t" if quad or pairs else "int8_t")  # int16: the MACs' width
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']}, {layer.scratch()});"


define("CONV_2D", arity=(2, 3), derive=conv_2d_params, emit=conv_2d_c, macs=_conv_macs, inplace=_conv_inplace, plan=conv_2d_plan, templates=("conv_s8.c.j2", "conv_s16.c.j2"), overlap=_conv_overlap, dtypes=("int8", "int16"),
       per_image=True)
define("DEPTHWISE_CONV_2D", arity=(2, 3), derive=depthwise_conv_2d_params, emit=depthwise_conv_2d_c, macs=_dw_macs, inplace=_dw_inplace, plan=depthwise_conv_2d_plan, templates=("depthwise_conv_s8.c.j2", "depthwise_conv_s16.c.j2"), overlap=_dw_overlap, dtypes=("int8", "int16"),
       per_image=True)
define("TRANSPOSE_CONV", arity=(3, 4), derive=transpose_conv_params, emit=transpose_conv_c, macs=_transpose_conv_macs,
       plan=_transpose_conv_plan, templates=("transpose_conv_s8.c.j2",), dtypes=("int8", "int16"))
