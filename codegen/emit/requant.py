"""Flash constants shared by the weighted layers: bias, per-channel multipliers and shifts."""
import numpy as np


def requant_consts(layer, channels: int, folded_weights=None) -> tuple[str, str, str, bool]:
    """(bias, multipliers, shifts, per_channel). With folded_weights ([channels, K]), the bias
    absorbs input_offset * sum(w) so the kernel's inner loop needs no offset add (exact in int32)."""
    p = layer.p
    bias = np.broadcast_to(p["bias"], (channels,)).astype(np.int64)
    if folded_weights is not None:
        bias = bias + p["input_offset"] * folded_weights.reshape(channels, -1).astype(np.int64).sum(axis=1)
    mult, shift = np.asarray(p["multiplier"]), np.asarray(p["shift"])
    per_channel = bool(np.any(mult != mult.flat[0]) or np.any(shift != shift.flat[0]))
    if not per_channel:
        mult, shift = mult.flat[:1], shift.flat[:1]
    return (layer.const("bias", bias.astype(np.int32), "int32_t"),
            layer.const("mult", mult.astype(np.int32), "int32_t"),
            layer.const("shift", shift.astype(np.int8), "int8_t"), per_channel)


def requant_vars(p) -> dict:
    return {"in_offset": int(p["input_offset"]), "out_offset": int(p["output_offset"]),
            "act_min": int(p["act_min"]), "act_max": int(p["act_max"])}
