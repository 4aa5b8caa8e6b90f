"""Flash constants shared by the weighted layers: bias, per-channel multipliers and shifts."""
import numpy as np

FAST_LIMIT = 1 << 30  # mlc_requantize_rs (mlc_port.h) is exact while |acc| and |addend| stay below this


def fast_addend(shift, output_offset):
    """mlc_requantize_rs's addend for right shifts -shift >= 1: the rounding half plus the output offset,
    both scaled up by the shift so they go in before it (int64)."""
    rshift = -np.asarray(shift, np.int64)
    return (np.int64(1) << (rshift - 1)) + np.int64(output_offset) * (np.int64(1) << rshift)


def requant_consts(layer, channels: int, weights, folded: bool = False) -> dict:
    """The requantization constants of a layer whose weights are [channels, ...] (or [..., channels]
    for depthwise: pass weights already moved to channel-first). With folded, the bias absorbs
    input_offset * sum(w) so the kernel's inner loop needs no offset add (exact in int32).
    Returns the template variables: bias/mult/shift symbols, per_channel, and rq_fast when the short
    requantization of mlc_port.h is provably exact (every shift a right shift, |acc| < 2^30 for any
    int8 input, |addend| < 2^30); then the shift table holds -shift and the multiplier table holds
    {multiplier, addend} pairs (one ldrd per channel)."""
    p = layer.p
    w = weights.reshape(channels, -1).astype(np.int64)
    bias = np.broadcast_to(p["bias"], (channels,)).astype(np.int64)
    folded_bias = bias + p["input_offset"] * w.sum(axis=1)
    mult, shift = np.asarray(p["multiplier"]), np.asarray(p["shift"])
    per_channel = bool(np.any(mult != mult.flat[0]) or np.any(shift != shift.flat[0]))
    # |acc| <= |bias| + 255 * sum|w| unfolded (x + offset in [-255, 255]); |folded| + 128 * sum|w| folded
    bound = np.max(np.maximum(np.abs(bias), np.abs(folded_bias)) + 255 * np.abs(w).sum(axis=1), initial=0)
    fast = not layer.reference and bool(np.all(shift <= -1)) and bound < FAST_LIMIT
    if not per_channel:
        mult, shift = mult.flat[:1], shift.flat[:1]
    if fast:
        addend = fast_addend(shift, p["output_offset"])
        fast = bool(np.all(np.abs(addend) < FAST_LIMIT))
    if fast:
        mult = np.stack([np.broadcast_to(mult, addend.shape), addend], axis=-1)
    return {"bias": layer.const("bias", (folded_bias if folded else bias).astype(np.int32), "int32_t"),
            "mult": layer.const("mq" if fast else "mult", mult.astype(np.int32), "int32_t"),
            "shift": layer.const("rshift" if fast else "shift", (-shift if fast else shift).astype(np.int8), "int8_t"),
            "per_channel": per_channel, "rq_fast": fast}


def requant_vars(p) -> dict:
    return {"in_offset": int(p["input_offset"]), "out_offset": int(p["output_offset"]),
            "act_min": int(p["act_min"]), "act_max": int(p["act_max"])}
