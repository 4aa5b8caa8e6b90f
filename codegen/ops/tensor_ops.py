"""Ops that move or requantize data without weights: RESHAPE/SQUEEZE/EXPAND_DIMS, CONCATENATION,
PACK, PAD, PADV2, MEAN, SUM, REDUCE_MAX, REDUCE_MIN, ARG_MAX, ARG_MIN, QUANTIZE, DEQUANTIZE, CAST, TRANSPOSE, SLICE, STRIDED_SLICE,
BROADCAST_TO, GATHER_ND,
DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, GATHER, MIRROR_PAD, with the checks and parameter derivations of TFLM's Prepare
functions. The C emitters work out each layer's loop structure from its shapes; the kernels only
walk it. RESHAPE and friends are aliased by the memory plan (no code); a copy only when the input
and output cannot share bytes. The copies (RESHAPE and friends, CONCATENATION, PACK, PAD, PADV2, TRANSPOSE,
SLICE, STRIDED_SLICE, BROADCAST_TO, GATHER, GATHER_ND, MIRROR_PAD) also take float32 inside the islands: the same
kernels with float elements, bit-exact as copies are; MEAN and SUM take float32 as TFLM's float Mean / ReduceSum (a
float sum in input order), REDUCE_MAX / REDUCE_MIN as its float ReduceGeneric (a strict comparison in input order).

Axes are the model's own (axis 0 is the batch); they are stored non-negative. The batch may exceed 1 inside the
graph (SPACE_TO_BATCH_ND makes one): RESHAPE and friends, PAD, PADV2, TRANSPOSE, SLICE and BATCH_TO_SPACE_ND
take it (OpDef.batched: their kernels walk the whole shape).
"""
import numpy as np

from codegen.csyntax import c_literal, c_type
from codegen.errors import MlcError
from codegen.model.quant import mean_rescale, rescale_multiplier
from codegen.ops import define, per_tensor_quantized
from codegen.ops.elementwise import collapse, float_only


QUANT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}
QUANTIZE_OUT = {**QUANT_RANGE, "int32": (-(1 << 31), (1 << 31) - 1)}  # TFLM's QUANTIZE also takes int16 -> int32


def reshape_params(op):
    if op.inputs[0].size != op.outputs[0].size:
        raise MlcError(f"cannot reshape {op.inputs[0].shape} into {op.outputs[0].shape}")
    return {}


def _const_ints(op, tensor, what: str) -> np.ndarray:
    if tensor is None or not tensor.is_const or tensor.dtype not in ("int32", "int64"):
        raise MlcError(f"{op.kind} needs constant integer {what}; '{getattr(tensor, 'name', '?')}' is not")
    return tensor.data.astype(np.int64)


COPY_DTYPES = ("int8", "int16")  # the data-movement ops copy elements of either width unchanged
MOVE_DTYPES = (*COPY_DTYPES, "float32")  # and float32 inside the islands: TFLM's float kernels copy the same way
INT8_FLOAT = ("int8", "float32")  # where TFLM's kernel has no int16 (GATHER, GATHER_ND, MIRROR_PAD, REDUCE_MAX/MIN, ...)


def _copied(op, *tensors) -> None:
    """Per-tensor quantized int8 or int16 activations, or unquantized float32 ones, all of op.inputs[0]'s type."""
    if op.inputs[0].dtype == "float32":
        return float_only(op, (op.inputs[0], *tensors))
    per_tensor_quantized(op, op.inputs[0], COPY_DTYPES)
    for t in tensors:
        per_tensor_quantized(op, t, (op.inputs[0].dtype,))


def _int8_or_float(op, x) -> None:
    """An INT8_FLOAT op's input: per-tensor quantized int8, or float32 (checked with the output by _copied)."""
    if x.dtype != "float32":
        per_tensor_quantized(op, x)


def element(layer) -> dict:
    """A copying kernel's element type: the C type `t`, its flash read `rd`, the function name suffix (float32
    constants are read directly: mlc_float.h refuses AVR, the one target whose flash needs a read function)."""
    t, rd, sfx = {"int8": ("int8_t", "MLC_RD8", "s8"), "int16": ("int16_t", "MLC_RD16", "s16"),
                  "float32": ("float", "*", "f32")}[layer.op.outputs[0].dtype]
    if t == "float":
        layer.unit.include("mlc_float.h")
    return {"t": t, "rd": rd, "sfx": sfx}


def _same_quant(a, b) -> bool:
    if a.quant is None or b.quant is None:  # float32 (_copied: all unquantized)
        return a.quant is b.quant
    return a.quant.s == b.quant.s and a.quant.zp == b.quant.zp


def concatenation_params(op):
    out, inputs = op.outputs[0], [t for t in op.inputs if t is not None]
    rank = len(out.shape)
    axis = op.options.get("axis", 0)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise MlcError(f"axis {op.options.get('axis')} is out of range for output shape {out.shape}")
    if op.options.get("activation", "NONE") != "NONE":  # TFLM's Prepare refuses it too
        raise MlcError(f"a fused {op.options['activation']} on CONCATENATION is not supported by TFLite Micro")
    _copied(op, out, *inputs)
    for t in inputs:
        if not _same_quant(t, out):  # TFLM's int8 kernel copies bytes and refuses this in Prepare
            raise MlcError(f"input '{t.name}' (scale {t.quant.s:g}, zero point {t.quant.zp}) is quantized unlike output "
                           f"'{out.name}' ({out.quant.s:g}, {out.quant.zp}); requantize it (QUANTIZE) before concatenating")
        if len(t.shape) != rank or any(t.shape[d] != out.shape[d] for d in range(rank) if d != axis):
            raise MlcError(f"input '{t.name}' of shape {t.shape} does not fit output shape {out.shape} along axis {axis}")
    if sum(t.shape[axis] for t in inputs) != out.shape[axis]:
        raise MlcError(f"inputs do not add up to output shape {out.shape} along axis {axis}")
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    # The C copy: for each of `outer` slices, each input contributes one contiguous chunk.
    return {"axis": axis, "outer": int(np.prod(out.shape[:axis], dtype=np.int64)),
            "chunks": [int(t.shape[axis]) * inner for t in inputs]}


def pack_params(op):
    """TFLM PACK: the inputs (one shape) stacked along a new output axis; bytes copied, no quantization
    checked (as TFLM). The C copy is CONCATENATION's: `outer` slices, one chunk per input in each."""
    out, inputs = op.outputs[0], [t for t in op.inputs if t is not None]
    rank = len(out.shape)
    axis = op.options.get("axis", 0)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank or op.options.get("values_count", len(inputs)) != len(inputs):
        raise MlcError(f"PACK of {len(inputs)} inputs along axis {op.options.get('axis')} does not fit output shape {out.shape}")
    _copied(op, out, *inputs)
    for t in inputs:
        expect = tuple(t.shape[:axis]) + (len(inputs),) + tuple(t.shape[axis:])
        if tuple(t.shape) != tuple(inputs[0].shape) or expect != tuple(out.shape):
            raise MlcError(f"input '{t.name}' of shape {t.shape} does not stack into output shape {out.shape} along axis {axis}")
    return {"axis": axis, "outer": int(np.prod(out.shape[:axis], dtype=np.int64)),
            "chunks": [int(np.prod(out.shape[axis + 1:], dtype=np.int64))] * len(inputs)}


def pad_params(op):
    x, out = op.inputs[0], op.outputs[0]
    _copied(op, out)
    paddings = _const_ints(op, op.inputs[1], "paddings")
    if paddings.shape != (len(x.shape), 2) or np.any(paddings < 0):
        raise MlcError(f"paddings {paddings.tolist()} do not fit input shape {x.shape} (one non-negative [before, after] pair per axis)")
    expect = tuple(int(d + p.sum()) for d, p in zip(x.shape, paddings))
    if expect != tuple(out.shape):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, the paddings give {expect}")
    constant = op.inputs[2] if len(op.inputs) > 2 else None
    if constant is None:
        value = np.float32(0) if x.dtype == "float32" else out.quant.zp  # a real 0
    else:
        if not constant.is_const or constant.size != 1 or constant.dtype != x.dtype:
            raise MlcError(f"PADV2 needs a constant scalar {x.dtype} pad value; '{constant.name}' is not")
        if (constant.quant is None) != (out.quant is None) or not _same_quant(constant, out):
            raise MlcError(f"pad value '{constant.name}' must be quantized like the output '{out.name}' (TFLite requires it)")
        value = constant.data.ravel()[0] if x.dtype == "float32" else int(constant.data.ravel()[0])
        if not np.isfinite(value):
            raise MlcError(f"PADV2 pad value '{constant.name}' is {value}; mlc takes finite pad values")
    return {"paddings": paddings.tolist(), "pad_value": value}


def _mean_shape(shape, axes, keep_dims) -> tuple:
    if keep_dims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def mean_params(op):
    """TFLM's int8 MEAN is QuantizedMeanOrSum: (sum - zp * count) requantized with 1/count folded into
    the multiplier. (Older TFLM divided the raw sum when input and output quantization were equal; the
    tflite-micro we test against takes this path for every case.) SUM is the same without the 1/count;
    REDUCE_MAX / REDUCE_MIN the largest / smallest raw int8 value (TFLM requires the output quantized like
    the input). int16 the same, clamped to int16. float32: see the module's docstring."""
    x, out = op.inputs[0], op.outputs[0]
    if op.kind in ("REDUCE_MAX", "REDUCE_MIN"):  # TFLM has no int16 kernel for them
        _int8_or_float(op, x)
    _copied(op, out)
    rank = len(x.shape)
    axes = []
    for a in _const_ints(op, op.inputs[1], "axes").ravel().tolist():  # ResolveAxis: wrap, drop repeats
        a = a + rank if a < 0 else a
        if not 0 <= a < rank:
            raise MlcError(f"axis {a} is out of range for input shape {x.shape}")
        if a not in axes:
            axes.append(a)
    keep_dims = bool(op.options.get("keep_dims", False))
    expect = _mean_shape(x.shape, axes, keep_dims)
    if expect != tuple(out.shape):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, MEAN over axes {axes} gives {expect}")
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if count == 0:
        raise MlcError(f"MEAN over an empty axis of input shape {x.shape}")
    if x.dtype == "float32":  # TFLM's float Mean / ReduceSum / ReduceGeneric: one pass in input order
        return {"axes": axes, "keep_dims": keep_dims, "count": count, "dtype": "float32"}
    multiplier, shift = rescale_multiplier(x.quant.s, out.quant.s)
    if op.kind in ("REDUCE_MAX", "REDUCE_MIN") and not _same_quant(x, out):  # TFLM's EvalMinMaxHelper ensures it
        raise MlcError(f"{op.kind} output '{out.name}' is quantized unlike its input; TFLite requires the same")
    try:
        if op.kind == "MEAN":
            multiplier, shift = mean_rescale(multiplier, shift, count)
    except ValueError as err:
        raise MlcError(f"output '{out.name}': {err}") from None
    return {"axes": axes, "keep_dims": keep_dims, "count": count, "input_zp": x.quant.zp, "output_zp": out.quant.zp,
            "multiplier": multiplier, "shift": shift, "qrange": QUANT_RANGE[x.dtype]}


def arg_min_max_params(op):
    """TFLM ArgMinMax: the int32 index of the first largest (ARG_MAX) or smallest (ARG_MIN) raw int8
    value along one axis (the comparison is strict, so ties keep the first)."""
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x)
    if out.dtype != "int32":  # TFLM's Eval refuses every other output type
        raise MlcError(f"{op.kind} output '{out.name}' is {out.dtype}; TFLite Micro writes int32 indices only")
    axis = _const_ints(op, op.inputs[1], "axis").ravel()
    rank = len(x.shape)
    a = int(axis[0]) + rank if axis.size and axis[0] < 0 else int(axis[0]) if axis.size else -1
    if axis.size != 1 or not 0 <= a < rank:
        raise MlcError(f"{op.kind} axis {axis.tolist()} does not fit input shape {x.shape}")
    if tuple(out.shape) != tuple(n for d, n in enumerate(x.shape) if d != a):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, {op.kind} over axis {a} of {x.shape} gives another")
    return {"axis": a, "outer": int(np.prod(x.shape[:a], dtype=np.int64)), "size": int(x.shape[a]),
            "inner": int(np.prod(x.shape[a + 1:], dtype=np.int64))}


def arg_min_max_c(layer):
    p = layer.p
    fn = layer.kernel("arg_min_max_s8.c.j2", f"{layer.op.kind.lower()}_s8", kind=layer.op.kind, outer=p["outer"],
                      size=p["size"], inner=p["inner"])
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


def quantize_params(op):
    """float32 -> int: TFLite AffineQuantize; int -> int: Requantize with QuantizeMultiplier(s_in / s_out)."""
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, out, tuple(QUANTIZE_OUT) if x.dtype == "int16" else tuple(QUANT_RANGE))
    if x.size != out.size:
        raise MlcError(f"QUANTIZE input shape {x.shape} and output shape {out.shape} differ")
    qmin, qmax = QUANTIZE_OUT[out.dtype]
    params = {"output_zp": out.quant.zp, "qmin": qmin, "qmax": qmax}
    if x.dtype == "float32":
        return {**params, "requantize": False, "scale": np.float32(out.quant.s)}
    per_tensor_quantized(op, x, tuple(QUANT_RANGE))
    multiplier, shift = rescale_multiplier(x.quant.s, out.quant.s)
    return {**params, "requantize": True, "input_zp": x.quant.zp, "multiplier": multiplier, "shift": shift}


def dequantize_params(op):
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x, tuple(QUANT_RANGE))
    if out.dtype != "float32" or x.size != out.size:
        raise MlcError(f"DEQUANTIZE to {out.dtype} '{out.name}' is not supported; only to float32 of the input's shape")
    return {"scale": np.float32(x.quant.s), "zero_point": x.quant.zp}


CAST_FROM = ("int8", "int16", "int32")
CAST_TO = (*CAST_FROM, "float32")


def cast_params(op):
    """TFLM's CAST: static_cast per element, quantization ignored. From float32 it is refused: C leaves a float
    outside the target's range undefined, so no C kernel can promise TFLM's bytes there."""
    x, out = op.inputs[0], op.outputs[0]
    if x.dtype not in CAST_FROM or out.dtype not in CAST_TO:
        raise MlcError(f"CAST {x.dtype} -> {out.dtype} '{out.name}' is not supported; mlc casts "
                       f"{'/'.join(CAST_FROM)} to {'/'.join(CAST_TO)} (a float32 source is undefined in C out of range)")
    if x.size != out.size:
        raise MlcError(f"CAST input shape {x.shape} and output shape {out.shape} differ")
    return {"size": x.size}


# ----------------------------------------------------------------------------- strided copies
# TRANSPOSE, SLICE, STRIDED_SLICE (int8, int16 or float32), DEPTH_TO_SPACE, SPACE_TO_DEPTH (int8), GATHER, GATHER_ND
# and MIRROR_PAD (int8 or float32)
# copy elements unchanged (TFLM neither requantizes nor checks the output's quantization): each is an
# output-ordered walk of the input, one loop per output axis from a base offset, the loop adding a fixed
# input element step per output index or (GATHER's index axis, MIRROR_PAD's padded axes) reading the input
# offset of each output index from a table. hostsim takes the same walk with numpy.

def _walk(op, in_shape, loops, base) -> dict:
    """The params of a strided copy: `loops` [(count, input element step, or a list of count input
    offsets)] in output order."""
    _copied(op, op.outputs[0])
    counts = [c for c, _ in loops]
    if int(np.prod(counts, dtype=np.int64)) != op.outputs[0].size:
        raise MlcError(f"output '{op.outputs[0].name}' has shape {op.outputs[0].shape}, {op.kind} of "
                       f"{tuple(in_shape)} gives {tuple(counts)} elements")
    return {"counts": counts, "steps": [st if isinstance(st, list) else int(st) for _, st in loops], "base": int(base)}


def _block_size(op, x) -> int:
    per_tensor_quantized(op, x)  # TFLM's kernels: int8 (and float32) only
    block = int(op.options.get("block_size", 0))
    if len(x.shape) != 4 or block < 1:
        raise MlcError(f"{op.kind} needs a 4-D NHWC input and a block size of at least 1; got shape {x.shape}, "
                       f"block size {block}")
    return block


def depth_to_space_params(op):
    """TFLM DepthToSpace: output (h*b + i, w*b + j, c) is input (h, w, (i*b + j) * C_out + c)."""
    x = op.inputs[0]
    b = _block_size(op, x)
    n, h, w, c = x.shape
    if c % (b * b):
        raise MlcError(f"DEPTH_TO_SPACE block size {b}: input depth {c} is not a multiple of {b * b}")
    depth = c // (b * b)
    return {"block_size": b, **_walk(op, x.shape, [(n, h * w * c), (h, w * c), (b, b * depth), (w, c), (b, depth),
                                                   (depth, 1)], 0)}


def space_to_depth_params(op):
    """TFLM SpaceToDepth: output (h, w, (i*b + j) * C + c) is input (h*b + i, w*b + j, c)."""
    x = op.inputs[0]
    b = _block_size(op, x)
    n, h, w, c = x.shape
    if h % b or w % b:
        raise MlcError(f"SPACE_TO_DEPTH block size {b} does not divide input height and width {h}x{w}")
    return {"block_size": b, **_walk(op, x.shape, [(n, h * w * c), (h // b, b * w * c), (w // b, b * c), (b, w * c),
                                                   (b, c), (c, 1)], 0)}


def space_batch_params(op):
    """TFLM SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND on 3-D NHC (W taken as 1) or 4-D NHWC tensors, int8 or float32,
    constant block shape and paddings / crops. SPACE_TO_BATCH_ND's output batch (i*bw + j)*N + n is input image n,
    zero-padded, sampled at rows i, i + bh, ... and columns j, j + bw, ...; BATCH_TO_SPACE_ND interleaves them
    back and crops. Input and output are quantized alike (TFLite's rule). The pad is a real 0, the zero point, as
    TFLite pads: TFLM's SpaceToBatchND reads a pad value its Prepare never sets (the tflite-micro we test against pads
    with whatever its arena held there), so only the padded elements differ from it."""
    x, out = op.inputs[0], op.outputs[0]
    if x.dtype == "float32":
        float_only(op, (x, out))
    else:
        per_tensor_quantized(op, x)
        per_tensor_quantized(op, out)
        if not _same_quant(x, out):
            raise MlcError(f"{op.kind} output '{out.name}' is quantized unlike its input; TFLite Micro requires the same")
    rank = len(x.shape)
    if x.is_const:  # nothing writes one: the converter folds it
        raise MlcError(f"{op.kind} of constant '{x.name}' is not supported (fold it into the constant)")
    if rank not in (3, 4) or len(out.shape) != rank:
        raise MlcError(f"{op.kind} needs 3-D NHC or 4-D NHWC input and output of one rank; got {x.shape} -> {out.shape}")
    what = "paddings" if op.kind == "SPACE_TO_BATCH_ND" else "crops"
    block = _const_ints(op, op.inputs[1], "block shape").ravel()
    edges = _const_ints(op, op.inputs[2], what)
    if block.size != rank - 2 or np.any(block < 1) or edges.shape != (rank - 2, 2) or np.any(edges < 0):
        raise MlcError(f"{op.kind} block shape {block.tolist()} and {what} {edges.tolist()} do not fit input shape "
                       f"{x.shape} (one block size of at least 1 and one non-negative pair per spatial axis)")
    (bh, bw), edges = [*block.tolist(), 1][:2], [*edges.tolist(), [0, 0]][:2]
    n, h, w, c = x.shape if rank == 4 else (*x.shape[:2], 1, x.shape[2])
    if op.kind == "SPACE_TO_BATCH_ND":
        hp, wp = h + sum(edges[0]), w + sum(edges[1])
        if hp % bh or wp % bw:
            raise MlcError(f"SPACE_TO_BATCH_ND padded size {hp}x{wp} is not a multiple of block shape {bh}x{bw}")
        expect = (n * bh * bw, hp // bh, wp // bw, c)
    else:
        if n % (bh * bw) or sum(edges[0]) > h * bh or sum(edges[1]) > w * bw:
            raise MlcError(f"BATCH_TO_SPACE_ND block shape {bh}x{bw} and crops {edges} do not fit input shape {x.shape}")
        expect = (n // (bh * bw), h * bh - sum(edges[0]), w * bw - sum(edges[1]), c)
    if tuple(out.shape) != (expect if rank == 4 else (*expect[:2], c)):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, {op.kind} of {x.shape} gives "
                       f"{expect if rank == 4 else (*expect[:2], c)}")
    return {"block": [bh, bw], "before": [edges[0][0], edges[1][0]], "in_shape": [n, h, w, c], "out_shape": list(expect),
            "pad_value": np.float32(0) if x.dtype == "float32" else out.quant.zp}


def space_batch_c(layer):
    op, p = layer.op, layer.p
    e = element(layer)
    pad = c_literal(p["pad_value"], "float") if e["t"] == "float" else p["pad_value"]
    fn = layer.kernel("space_batch_s8.c.j2", f"{op.kind.lower()}_{e['sfx']}", kind=op.kind, block=p["block"],
                      before=p["before"], in_shape=p["in_shape"], out_shape=p["out_shape"], pad_value=pad, **e)
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


def gather_params(op):
    """TFLM Gather with batch_dims 0: output (outer, index, inner) is input (outer, indices[index], inner)."""
    x, indices = op.inputs[0], op.inputs[1]
    _int8_or_float(op, x)
    if indices is None or not indices.is_const:
        raise MlcError("GATHER with indices computed at run time is not supported yet (mlc needs constant indices)")
    if indices.dtype != "int32":  # TFLM's Prepare refuses every other positions type
        raise MlcError(f"GATHER positions '{indices.name}' are {indices.dtype}; TFLite Micro takes int32 only")
    rank = len(x.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise MlcError(f"GATHER axis {op.options.get('axis')} is out of range for input shape {x.shape}")
    if op.options.get("batch_dims", 0):
        raise MlcError(f"GATHER with batch_dims {op.options['batch_dims']} is not supported yet (only 0)")
    positions = indices.data.astype(np.int64).ravel()
    if np.any(positions < 0) or np.any(positions >= x.shape[axis]):  # TFLM only DCHECKs: reads past the input
        raise MlcError(f"GATHER positions {positions.tolist()} go outside axis {axis} of input shape {x.shape}")
    strides = _strides(x.shape)
    loops = [(x.shape[d], strides[d]) for d in range(axis)] + [(positions.size, (positions * strides[axis]).tolist())]
    return {"axis": axis, **_walk(op, x.shape, loops + [(x.shape[d], strides[d]) for d in range(axis + 1, rank)], 0)}


def _mirror_index(j: int, before: int, size: int, offset: int) -> int:
    """TFLM MirrorPad's GetInputDimension: the input index of padded index j (offset 1 REFLECT, 0 SYMMETRIC)."""
    if j < before:
        original = before + offset - 1
        return original - min(j, original - offset)
    j -= before
    if j >= size:
        original = size - (1 + offset)
        return original - min(j - size, original)
    return j


def mirror_pad_params(op):
    x = op.inputs[0]
    _int8_or_float(op, x)
    paddings = _const_ints(op, op.inputs[1], "paddings")
    if paddings.shape != (len(x.shape), 2) or np.any(paddings < 0):
        raise MlcError(f"paddings {paddings.tolist()} do not fit input shape {x.shape} (one non-negative [before, after] pair per axis)")
    offset = 1 if op.options.get("mode", 0) == 0 else 0  # MirrorPadMode REFLECT = 0, SYMMETRIC = 1
    if any(max(p) > d - offset for p, d in zip(paddings.tolist(), x.shape)):
        raise MlcError(f"MIRROR_PAD {'REFLECT' if offset else 'SYMMETRIC'} paddings {paddings.tolist()} are wider "
                       f"than input shape {x.shape} allows (at most the axis size{' - 1' if offset else ''})")
    strides = _strides(x.shape)
    loops = [(d + before + after, [_mirror_index(j, before, d, offset) * st for j in range(d + before + after)])
             if before or after else (d, st)
             for d, st, (before, after) in zip(x.shape, strides, paddings.tolist())]
    return {"paddings": paddings.tolist(), "offset": offset, **_walk(op, x.shape, loops, 0)}


def transpose_params(op):
    x = op.inputs[0]
    perm = [int(p) for p in _const_ints(op, op.inputs[1], "permutation").ravel()]
    rank = len(x.shape)
    perm = [p + rank if p < 0 else p for p in perm]
    if sorted(perm) != list(range(rank)) or rank > 6:  # TFLM: kTransposeMaxDimensions
        raise MlcError(f"permutation {perm} does not fit input shape {x.shape} (rank at most 6)")
    strides = _strides(x.shape)
    return {"perm": perm, **_walk(op, x.shape, [(x.shape[p], strides[p]) for p in perm], 0)}


def gather_nd_params(op):
    """TFLM GATHER_ND (int8 or float32, int32 indices): the last axis of the indices addresses the first nd input axes,
    each index tuple copies the slice of the remaining axes. Constant indices only, all in range (TFLM's
    kernel reads out of bounds on others): a strided copy whose first axis is the tuples' offsets."""
    x, indices = op.inputs[0], op.inputs[1]
    _int8_or_float(op, x)
    if indices is None or not indices.is_const or indices.dtype != "int32" or not indices.shape:
        raise MlcError(f"GATHER_ND needs constant int32 indices; '{getattr(indices, 'name', '?')}' is not")
    tuples = indices.data.astype(np.int64).reshape(-1, indices.shape[-1])
    nd = tuples.shape[1]
    if not 1 <= nd <= min(len(x.shape), 5):
        raise MlcError(f"indices of shape {indices.shape} do not fit input shape {x.shape} (1 to 5 index axes)")
    if np.any(tuples < 0) or np.any(tuples >= np.asarray(x.shape[:nd])):
        raise MlcError(f"indices {tuples.tolist()} are outside input shape {x.shape}")
    strides = _strides(x.shape)
    offsets = (tuples * np.asarray(strides[:nd])).sum(axis=1).tolist()
    loops = [(len(offsets), offsets)] + [(x.shape[d], strides[d]) for d in range(nd, len(x.shape))]
    return {"nd": nd, **_walk(op, x.shape, loops, 0)}


def broadcast_to_params(op):
    """TFLM BROADCAST_TO: the input, left-padded with 1s to the shape's rank (at most 5), repeated along its
    size-1 axes: a strided copy with step 0 there."""
    x = op.inputs[0]
    shape = _const_ints(op, op.inputs[1], "shape").ravel().tolist()
    ext = [1] * (len(shape) - len(x.shape)) + list(x.shape)
    if len(shape) > 5 or len(ext) != len(shape) or any(a not in (1, n) for a, n in zip(ext, shape)):
        raise MlcError(f"input shape {x.shape} does not broadcast to {shape} (rank at most 5)")
    strides = _strides(ext)
    return {"shape": shape, **_walk(op, ext, [(n, st if a == n else 0) for n, a, st in zip(shape, ext, strides)], 0)}


def slice_params(op):
    """TFLM SLICE: begin and size per axis (size -1: to the end), rank at most 5."""
    x = op.inputs[0]
    begin = _const_ints(op, op.inputs[1], "begin").ravel().tolist()
    size = _const_ints(op, op.inputs[2], "size").ravel().tolist()
    if len(begin) != len(x.shape) or len(size) != len(x.shape) or len(x.shape) > 5:
        raise MlcError(f"begin {begin} and size {size} do not fit input shape {x.shape} (rank at most 5)")
    size = [d - b if n == -1 else n for b, n, d in zip(begin, size, x.shape)]
    if any(b < 0 or n < 0 or b + n > d for b, n, d in zip(begin, size, x.shape)):
        raise MlcError(f"slice begin {begin} size {size} is outside input shape {x.shape}")
    strides = _strides(x.shape)
    return {"starts": begin, "axis_steps": [1] * len(begin),
            **_walk(op, x.shape, list(zip(size, strides)), sum(b * st for b, st in zip(begin, strides)))}


def _strided_axis(size: int, begin: int, end: int, stride: int, begin_masked: bool, end_masked: bool,
                  shrink: bool) -> tuple:
    """TFLM's StartForAxis / StopForAxis: (start, count) of one axis."""
    start = (-(1 << 31) if stride > 0 else (1 << 31) - 1) if begin_masked else begin
    start += size if start < 0 else 0
    start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
    if shrink:
        return start, 1
    stop = ((1 << 31) - 1 if stride > 0 else -(1 << 31)) if end_masked else end
    stop += size if stop < 0 else 0
    stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
    return start, max(0, -(-(stop - start) // stride))  # ceil((stop - start) / stride), at least 0


def strided_slice_params(op):
    x = op.inputs[0]
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0) or o.get("offset", False):
        raise MlcError("STRIDED_SLICE with an ellipsis mask, a new-axis mask or offset is not supported yet "
                       "(TFLite Micro ignores the masks)")
    begin, end, steps = (_const_ints(op, op.inputs[i], what).ravel().tolist() for i, what in
                         ((1, "begin"), (2, "end"), (3, "strides")))
    rank = len(x.shape)
    if not len(begin) == len(end) == len(steps) == rank or rank > 5:
        raise MlcError(f"begin/end/strides of {len(begin)}/{len(end)}/{len(steps)} values do not fit input shape "
                       f"{x.shape} (rank at most 5)")
    if 0 in steps:
        raise MlcError("STRIDED_SLICE stride 0 (TFLite refuses it)")
    shrink = o.get("shrink_axis_mask", 0)
    if any(shrink >> d & 1 and steps[d] < 0 for d in range(rank)):  # its loop then runs from start to start + 1
        raise MlcError("STRIDED_SLICE shrinking an axis with a negative stride: TFLite Micro writes no output "
                       "for it (use stride 1 on shrunk axes)")
    strides = _strides(x.shape)
    starts, loops = [], []
    for d in range(rank):
        start, count = _strided_axis(x.shape[d], begin[d], end[d], steps[d], o.get("begin_mask", 0) >> d & 1,
                                     o.get("end_mask", 0) >> d & 1, o.get("shrink_axis_mask", 0) >> d & 1)
        if count and not 0 <= start < x.shape[d]:
            raise MlcError(f"STRIDED_SLICE starts at {start} on axis {d} of input shape {x.shape}")
        starts.append(start)
        loops.append((count, steps[d] * strides[d]))
    return {"starts": starts, "axis_steps": steps,
            **_walk(op, x.shape, loops, sum(st * s for st, s in zip(starts, strides) if st >= 0))}


def strided_copy_c(layer):
    op, p = layer.op, layer.p
    offset = p["base"]
    if any(isinstance(st, list) for st in p["steps"]):  # axes read through a table do not merge
        kept = []
        for count, st in zip(p["counts"], p["steps"]):
            if count > 1:
                kept.append((count, st))
            elif isinstance(st, list):  # one index: its offset joins the base
                offset += st[0]
        kept = kept or [(1, 0)]
        dims, steps = [c for c, _ in kept], [st for _, st in kept]
    else:
        dims, steps = collapse(p["counts"], p["steps"])
    tables, starts = [], []  # the tables in one offsets array; each one's first entry there
    for st in steps:
        starts.append(sum(map(len, tables)) if isinstance(st, list) else None)
        tables += [st] if isinstance(st, list) else []
    e = element(layer)
    fn = layer.kernel("strided_copy_s8.c.j2", f"{op.kind.lower()}_{e['sfx']}", kind=op.kind, dims=dims, steps=steps,
                      starts=starts, offset=offset, const=op.inputs[0].is_const, **e)
    if not tables:
        return f"{fn}({layer.inp(0)}, {layer.out(0)});"
    offsets = layer.const("offsets", np.concatenate(tables).astype(np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {offsets});"


def _strides(shape) -> list:
    return [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]


def concatenation_c(layer):
    op, p = layer.op, layer.p
    inputs = [t for t in op.inputs if t is not None]
    e = element(layer)
    fn = layer.kernel("concatenation_s8.c.j2", f"concatenation_{e['sfx']}", outer=p["outer"], chunks=p["chunks"],
                      consts=[t.is_const for t in inputs], **e)
    args = ", ".join(layer.inp(i) for i, t in enumerate(op.inputs) if t is not None)
    return f"{fn}({args}, {layer.out(0)});"


def pad_c(layer):
    op, p = layer.op, layer.p
    in_shape, out_shape = op.inputs[0].shape, op.outputs[0].shape
    padded = [d for d, (before, after) in enumerate(p["paddings"]) if before or after]
    last = padded[-1] if padded else -1  # rows: from this axis inward, contiguous in input and output
    inner = int(np.prod(in_shape[last + 1:], dtype=np.int64))
    in_strides, out_strides = _strides(in_shape), _strides(out_shape)
    axes = [(in_shape[d], in_strides[d], out_strides[d], p["paddings"][d][0]) for d in range(last)
            if in_shape[d] > 1 or p["paddings"][d][0]]  # a size-1 axis padded after only adds no offset
    row = in_shape[last] * inner if last >= 0 else op.inputs[0].size
    row_offset = p["paddings"][last][0] * inner if last >= 0 else 0
    e = element(layer)
    fn = layer.kernel("pad_s8.c.j2", f"pad_{e['sfx']}", kind=op.kind, axes=axes, row=row, row_offset=row_offset,
                      rows=op.inputs[0].size // max(row, 1), out_size=op.outputs[0].size, pad_value=c_literal(p["pad_value"], "float") if e["t"] == "float" else p["pad_value"], **e)
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


def _mean_loops(shape, axes) -> tuple:
    """(kept, reduced) loops of (size, input stride), size-1 axes dropped, neighbours merged."""
    loops = {True: [], False: []}
    last = None
    for d, (size, stride) in enumerate(zip(shape, _strides(shape))):
        if size == 1:
            continue
        reduced = d in axes
        group = loops[reduced]
        if last == reduced and group and group[-1][1] == stride * size:
            group[-1] = (group[-1][0] * size, stride)
        else:
            group.append((size, stride))
        last = reduced
    return loops[False], loops[True] or [(1, 0)]


def mean_c(layer):
    op, p = layer.op, layer.p
    kept, reduced = _mean_loops(op.inputs[0].shape, p["axes"])
    e = element(layer)
    if e["t"] == "float":
        fn = layer.kernel("mean_s8.c.j2", f"{op.kind.lower()}_f32", kind=op.kind, kept=kept, reduced=reduced,
                          count=p["count"], **e)
        return f"{fn}({layer.inp(0)}, {layer.out(0)});"
    fn = layer.kernel("mean_s8.c.j2", f"{op.kind.lower()}_{e['sfx']}", kind=op.kind, kept=kept, reduced=reduced, count=p["count"],
                      in_zp=p["input_zp"], out_zp=p["output_zp"], qmin=p["qrange"][0], qmax=p["qrange"][1], **e)
    q = layer.const("q", np.array([p["multiplier"], p["shift"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {q});"


def _narrowing(op):
    """In place when no output element is wider than its input element."""
    return np.dtype(op.outputs[0].dtype).itemsize <= np.dtype(op.inputs[0].dtype).itemsize


def quantize_c(layer):
    op, p = layer.op, layer.p
    x, y = op.inputs[0], op.outputs[0]
    mode = {"DEQUANTIZE": "dequantize", "CAST": "cast"}.get(op.kind) or ("requantize" if p["requantize"] else "affine")
    args = {"mode": mode, "size": x.size, "in_type": c_type(x.dtype), "out_type": c_type(y.dtype)}
    if mode == "dequantize":
        args.update(scale=c_literal(p["scale"], "float"), zp=p["zero_point"])
    elif mode != "cast":
        args.update(out_zp=p["output_zp"], qmin=p["qmin"], qmax=p["qmax"], in_zp=p.get("input_zp", 0),
                    scale=c_literal(p.get("scale", 1.0), "float"))
    fn = layer.kernel("quantize_s8.c.j2", f"{mode}_s8", **args)
    call = f"{fn}({layer.inp(0)}, {layer.out(0)}"
    if mode == "requantize":
        call += ", " + layer.const("q", np.array([p["multiplier"], p["shift"]], np.int32), "int32_t")
    return call + ");"


def reshape_c(layer):
    return f"memcpy({layer.out(0)}, {layer.inp(0)}, {layer.op.outputs[0].nbytes});"


define("CONCATENATION", arity=(1, 64), derive=concatenation_params, emit=concatenation_c, templates=("concatenation_s8.c.j2",), dtypes=MOVE_DTYPES)
define("PACK", arity=(1, 64), derive=pack_params, emit=concatenation_c, templates=("concatenation_s8.c.j2",), dtypes=MOVE_DTYPES)
define("PAD", arity=(2, 2), derive=pad_params, emit=pad_c, templates=("pad_s8.c.j2",), dtypes=MOVE_DTYPES,
       batched=True)
define("PADV2", arity=(2, 3), derive=pad_params, emit=pad_c, templates=("pad_s8.c.j2",), dtypes=MOVE_DTYPES,
       batched=True)
define("MEAN", "SUM", arity=(2, 2), derive=mean_params, emit=mean_c, templates=("mean_s8.c.j2",), dtypes=MOVE_DTYPES)
define("ARG_MAX", "ARG_MIN", arity=(2, 2), derive=arg_min_max_params, emit=arg_min_max_c, templates=("arg_min_max_s8.c.j2",))
define("REDUCE_MAX", "REDUCE_MIN", arity=(2, 2), derive=mean_params, emit=mean_c, templates=("mean_s8.c.j2",),
       dtypes=INT8_FLOAT)
define("QUANTIZE", arity=(1, 1), derive=quantize_params, emit=quantize_c, inplace=_narrowing, templates=("quantize_s8.c.j2",),
       dtypes=("int8", "int16", "float32"))  # float32 -> int8/int16, int8/int16 -> int8/int16
define("DEQUANTIZE", arity=(1, 1), derive=dequantize_params, emit=quantize_c, inplace=_narrowing, templates=("quantize_s8.c.j2",),
       dtypes=("int8", "int16", "float32"))  # int8/int16 -> float32
define("CAST", arity=(1, 1), derive=cast_params, emit=quantize_c, inplace=_narrowing, templates=("quantize_s8.c.j2",),
       dtypes=CAST_FROM)  # -> int8/int16/int32/float32
define("TRANSPOSE", arity=(2, 2), derive=transpose_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",), dtypes=MOVE_DTYPES,
       batched=True)
define("GATHER_ND", arity=(2, 2), derive=gather_nd_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",),
       dtypes=INT8_FLOAT)
define("BROADCAST_TO", arity=(2, 2), derive=broadcast_to_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",), dtypes=MOVE_DTYPES)
define("SLICE", arity=(3, 3), derive=slice_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",), dtypes=MOVE_DTYPES,
       batched=True)
define("STRIDED_SLICE", arity=(4, 4), derive=strided_slice_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",), dtypes=MOVE_DTYPES)
define("DEPTH_TO_SPACE", arity=(1, 1), derive=depth_to_space_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",))
define("SPACE_TO_DEPTH", arity=(1, 1), derive=space_to_depth_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",))
define("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", arity=(3, 3), derive=space_batch_params, emit=space_batch_c,
       templates=("space_batch_s8.c.j2",), dtypes=INT8_FLOAT, batched=True)
define("GATHER", arity=(2, 2), derive=gather_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",),
       dtypes=INT8_FLOAT)
define("MIRROR_PAD", arity=(2, 2), derive=mirror_pad_params, emit=strided_copy_c, templates=("strided_copy_s8.c.j2",),
       dtypes=INT8_FLOAT)
define("RESHAPE", "EXPAND_DIMS", arity=(1, 2), derive=reshape_params, emit=reshape_c, alias=True, dtypes=MOVE_DTYPES,
       batched=True)
define("SQUEEZE", arity=(1, 1), derive=reshape_params, emit=reshape_c, alias=True, dtypes=MOVE_DTYPES,
       batched=True)
