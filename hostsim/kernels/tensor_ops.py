"""Data movement and requantization without weights: RESHAPE, CONCATENATION, PACK, PAD, MEAN, SUM,
REDUCE_MAX/MIN, ARG_MAX/MIN, QUANTIZE, DEQUANTIZE, CAST, TRANSPOSE, SLICE, STRIDED_SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
GATHER, MIRROR_PAD, BROADCAST_TO, GATHER_ND, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, as TFLM's reference kernels compute them.

A stacked value holds N copies of a model tensor: (N, *shape[1:]) when the model's axis 0 is a batch
of 1, else (N, *shape). `full` turns either into (N, *shape), so kernels index the model's own axes
(shifted by one) and ops along axis 0 stay per-copy; `stacked` turns a result back.
"""
import numpy as np

from codegen.model.fixedpoint import multiply_by_quantized_multiplier, round_half_away
from hostsim.kernels import kernel


def full(value, tensor, rank=None) -> np.ndarray:
    """(N, *shape) view of a stacked value ((1, *shape) for a constant); left-padded with 1s to `rank`."""
    shape = tuple(tensor.shape)
    ones = (1,) * ((rank or len(shape)) - len(shape))
    if tensor.is_const:
        return np.asarray(tensor.data).reshape(1, *ones, *shape)
    return value.reshape(value.shape[0], *ones, *shape)


def stacked(result, tensor) -> np.ndarray:
    shape = tuple(tensor.shape)
    return result.reshape(result.shape[0], *(shape[1:] if shape and shape[0] == 1 else shape))


@kernel("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(op, x, *_):
    return stacked(x.reshape(x.shape[0], -1), op.outputs[0])


@kernel("CONCATENATION", "PACK")
def concatenation(op, *xs):
    parts = [full(v, t) for v, t in zip(xs, [t for t in op.inputs if t is not None])]
    n = max(p.shape[0] for p in parts)
    parts = [np.broadcast_to(p, (n, *p.shape[1:])) for p in parts]  # constant inputs
    join = np.stack if op.kind == "PACK" else np.concatenate
    return stacked(join(parts, axis=op.params["axis"] + 1), op.outputs[0])


@kernel("PAD", "PADV2")
def pad(op, x, *_):
    widths = [(0, 0)] + [tuple(p) for p in op.params["paddings"]]
    return stacked(np.pad(full(x, op.inputs[0]), widths, constant_values=op.params["pad_value"]), op.outputs[0])


@kernel("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")
def mean(op, x, *_):
    p = op.params
    axes = tuple(a + 1 for a in p["axes"])
    extreme = op.kind in ("REDUCE_MAX", "REDUCE_MIN")
    if extreme and p.get("dtype") != "float32":  # the raw int8 extreme (TFLM's MinMaxReducerCompare)
        pick = np.max if op.kind == "REDUCE_MAX" else np.min
        return stacked(pick(full(x, op.inputs[0]), axis=axes).reshape(x.shape[0], -1), op.outputs[0])
    if p.get("dtype") == "float32":  # TFLM's float Mean / ReduceSum / ReduceGeneric: one pass per output, in input order
        values = np.moveaxis(full(x, op.inputs[0]), sorted(axes), range(-len(axes), 0))
        values = values.reshape(*values.shape[:values.ndim - len(axes)], -1)
        start = np.finfo(np.float32).max * (-1 if op.kind == "REDUCE_MAX" else 1)  # TFLM: lowest() / max()
        acc = np.full(values.shape[:-1], start if extreme else 0, np.float32)
        for k in range(values.shape[-1]):  # sequential, not numpy's pairwise summation nor its NaN-propagating max
            v = values[..., k]
            if extreme:  # TFLM's strict compare: a NaN, or an equal zero of the other sign, never replaces acc
                acc = np.where(v > acc if op.kind == "REDUCE_MAX" else v < acc, v, acc)
            else:
                acc = acc + v
        if op.kind == "MEAN":
            acc = acc / np.float32(p["count"])
        return stacked(acc.astype(np.float32).reshape(x.shape[0], -1), op.outputs[0])
    total = full(x, op.inputs[0]).astype(np.int64).sum(axis=axes)
    # QuantizedMeanOrSum, with 1/count already folded into the multiplier for MEAN
    out = np.clip(multiply_by_quantized_multiplier(total - p["input_zp"] * p["count"], p["multiplier"], p["shift"])
                  + p["output_zp"], *p["qrange"])
    return stacked(out.astype(x.dtype).reshape(x.shape[0], -1), op.outputs[0])


@kernel("ARG_MAX", "ARG_MIN")
def arg_min_max(op, x, *_):
    p = op.params  # numpy's argmax/argmin keep the first of equal values, as TFLM's strict comparison
    values = full(x, op.inputs[0]).reshape(x.shape[0], p["outer"], p["size"], p["inner"])
    index = (np.argmax if op.kind == "ARG_MAX" else np.argmin)(values, axis=2)
    return stacked(index.astype(np.int32).reshape(x.shape[0], -1), op.outputs[0])


@kernel("QUANTIZE")
def quantize(op, x):
    p = op.params
    if p["requantize"]:  # reference_ops::Requantize
        q = multiply_by_quantized_multiplier(x.astype(np.int64) - p["input_zp"], p["multiplier"], p["shift"])
    else:  # AffineQuantize: float32 division, std::round; clamp before the int conversion
        q = np.clip(round_half_away(x.astype(np.float32) / p["scale"]), -(1 << 31), (1 << 31) - 1)
    q = np.clip(q + p["output_zp"], p["qmin"], p["qmax"])
    return stacked(q.astype(op.outputs[0].dtype).reshape(x.shape[0], -1), op.outputs[0])


@kernel("CAST")
def cast(op, x):  # numpy's astype: integers keep their low bits, int32 -> float32 rounds to nearest, as C
    return stacked(x.reshape(x.shape[0], -1).astype(op.outputs[0].dtype), op.outputs[0])


@kernel("DEQUANTIZE")
def dequantize(op, x):
    p = op.params  # float(scale) * float(q - zero_point), one float32 rounding as in C
    real = p["scale"] * (x.astype(np.int32) - p["zero_point"]).astype(np.float32)
    return stacked(real.astype(np.float32).reshape(x.shape[0], -1), op.outputs[0])


@kernel("TRANSPOSE", "SLICE", "STRIDED_SLICE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "GATHER", "MIRROR_PAD", "BROADCAST_TO", "GATHER_ND")
def strided_copy(op, x, *_):
    """The output-ordered walk of codegen.ops.tensor_ops: base + sum(i_d * step_d) over the output axes
    (the listed input offsets where an axis's step is a list)."""
    p = op.params
    flat = full(x, op.inputs[0]).reshape(x.shape[0] if not op.inputs[0].is_const else 1, -1)
    index = np.full((), p["base"], np.int64)
    for count, step in zip(p["counts"], p["steps"]):
        index = index[..., None] + (np.asarray(step, np.int64) if isinstance(step, list) else np.arange(count, dtype=np.int64) * step)
    return stacked(flat[:, index.ravel()], op.outputs[0])


@kernel("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")
def space_batch(op, x, *_):
    """As numpy's reshape and transpose (TFLM loops over pixels): SPACE_TO_BATCH_ND pads each image, splits rows
    and columns into (index, block offset) and moves the offsets in front of the batch; BATCH_TO_SPACE_ND undoes it,
    then crops."""
    p = op.params
    (bh, bw), (n, h, w, c), (on, oh, ow, _), (top, left) = p["block"], p["in_shape"], p["out_shape"], p["before"]
    v = full(x, op.inputs[0])
    k = len(v)
    v = v.reshape(k, n, h, w, c)
    if op.kind == "SPACE_TO_BATCH_ND":
        padded = np.full((k, n, oh * bh, ow * bw, c), p["pad_value"], v.dtype)
        padded[:, :, top:top + h, left:left + w] = v
        y = padded.reshape(k, n, oh, bh, ow, bw, c).transpose(0, 3, 5, 1, 2, 4, 6)
    else:
        y = v.reshape(k, bh, bw, on, h, w, c).transpose(0, 3, 4, 1, 5, 2, 6).reshape(k, on, h * bh, w * bw, c)
        y = y[:, :, top:top + oh, left:left + ow]
    return stacked(np.ascontiguousarray(y).reshape(k, -1), op.outputs[0])
