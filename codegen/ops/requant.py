"""Flash constants shared by the weighted layers: bias, per-channel multipliers and shifts."""
import numpy as np

from codegen.ops.thresholds import FAST_LIMIT


def fast_addend(shift, output_offset):
    """mlc_requantize_rs's addend for right shifts -shift >= 1: the rounding half plus the output offset,
    both scaled up by the shift so they go in before it (int64)."""
    rshift = -np.asarray(shift, np.int64)
    return (np.int64(1) << (rshift - 1)) + np.int64(output_offset) * (np.int64(1) << rshift)


def _tables(p, channels: int, weights):
    """bias, input_offset-folded bias, multipliers, shifts (int64), per_channel, and whether the short
    requantization is provably exact: every shift a right shift, |acc| < 2^30 for any int8 input
    (|acc| <= |bias| + 255 * sum|w| unfolded, x + offset in [-255, 255]; |folded| + 128 * sum|w|
    folded), |addend| < 2^30."""
    w = weights.reshape(channels, -1).astype(np.int64)
    bias = np.broadcast_to(p["bias"], (channels,)).astype(np.int64)
    folded_bias = bias + p["input_offset"] * w.sum(axis=1)
    mult, shift = np.asarray(p["multiplier"]), np.asarray(p["shift"])
    per_channel = bool(np.any(mult != mult.flat[0]) or np.any(shift != shift.flat[0]))
    bound = np.max(np.maximum(np.abs(bias), np.abs(folded_bias)) + 255 * np.abs(w).sum(axis=1), initial=0)
    if not per_channel:
        mult, shift = mult.flat[:1], shift.flat[:1]
    fast = bool(np.all(shift <= -1)) and bound < FAST_LIMIT
    fast = fast and bool(np.all(np.abs(fast_addend(shift, p["output_offset"])) < FAST_LIMIT))
    return bias, folded_bias, mult, shift, per_channel, fast


def short_requant(p, channels: int, weights) -> bool:
    """mlc_requantize_rs is exact for this layer (the optimized kernels then use it)."""
    return _tables(p, channels, weights)[-1]


def requant_consts(layer, channels: int, weights, folded: bool = False, bias=None) -> dict:
    """The requantization constants of a layer whose weights are [channels, ...] (or [..., channels]
    for depthwise: pass weights already moved to channel-first). With folded, the bias absorbs
    input_offset * sum(w) so the kernel's inner loop needs no offset add (exact in int32).
    Returns the template variables: bias/mult/shift symbols, per_channel, and rq_fast when the short
    requantization of mlc_port.h is provably exact (not for the reference kernels); then the shift
    table holds -shift and the multiplier table is one mlc_requant_t {multiplier, addend} per channel
    (one ldrd per channel). bias: an int32 table to emit instead of the per-channel one (TRANSPOSE_CONV's,
    folded per class of output: the same sums, so the same bound proves the short requantization)."""
    table = bias
    bias, folded_bias, mult, shift, per_channel, fast = _tables(layer.p, channels, weights)
    fast = fast and not layer.reference
    if fast:
        addend = fast_addend(shift, layer.p["output_offset"])
        mult = np.stack([np.broadcast_to(mult, addend.shape), addend], axis=-1)
    table = (folded_bias if folded else bias) if table is None else table
    return {"bias": layer.const("bias", table.astype(np.int32), "int32_t"),
            "mult": (layer.const("requant", mult.astype(np.int32), "mlc_requant_t") if fast
                     else layer.const("mult", mult.astype(np.int32), "int32_t")),
            "shift": layer.const("rshift" if fast else "shift", (-shift if fast else shift).astype(np.int8), "int8_t"),
            "per_channel": per_channel, "rq_fast": fast}


def wide_consts(layer, channels: int) -> dict:
    """The tables of a 16x8 layer (int16 activations): the int64 bias, TFLite's multipliers and shifts
    (one entry each when per tensor), per_channel."""
    p = layer.p
    mult = np.broadcast_to(p["multiplier"], (channels,)).astype(np.int32)
    shift = np.broadcast_to(p["shift"], (channels,)).astype(np.int8)
    per_channel = bool(np.any(mult != mult[0]) or np.any(shift != shift[0]))
    if not per_channel:
        mult, shift = mult[:1], shift[:1]
    return {"bias": layer.const("bias", np.broadcast_to(p["bias"], (channels,)).astype(np.int64), "int64_t"),
            "mult": layer.const("mult", mult, "int32_t"), "shift": layer.const("shift", shift, "int8_t"),
            "per_channel": per_channel}


def wide_c(layer, template, base, channels, **variables):
    """A 16x8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED: weights as stored, wide_consts' tables."""
    rq = wide_consts(layer, channels)
    fn = layer.kernel(template, base, per_channel=rq["per_channel"], act_min=int(layer.p["act_min"]),
                      act_max=int(layer.p["act_max"]), **variables)
    weights = layer.const("weights", layer.op.inputs[1].data, "int8_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']});"


def wide_plan(op, isa, inplace, weights):
    """The 16x8 layers' plan: TFLM's int64 reference loop nest on every core."""
    from codegen.ops.kernel_plan import KernelPlan

    return KernelPlan(op.index, op.kind, "reference", isa, weights=weights, inplace=inplace,
                      why={"variant": "16x8: TFLM's int64 reference loop nest (no DSP or Helium path yet)"})


def wide(op) -> bool:
    return op.params.get("dtype") == "int16"


def requant_vars(p) -> dict:
    return {"in_offset": int(p["input_offset"]), "out_offset": int(p["output_offset"]),
            "act_min": int(p["act_min"]), "act_max": int(p["act_max"])}
