"""Ops that move or requantize data without weights: RESHAPE/SQUEEZE/EXPAND_DIMS, CONCATENATION,
PAD, PADV2, MEAN, QUANTIZE, DEQUANTIZE, with the checks and parameter derivations of TFLM's Prepare
functions. The C emitters work out each layer's loop structure from its shapes; the kernels only
walk it. RESHAPE and friends are aliased by the memory plan (no code); a copy only when the input
and output cannot share bytes.

Axes are the model's own (axis 0 is the batch); they are stored non-negative.
"""
import numpy as np

from codegen.csyntax import c_literal, c_type
from codegen.errors import MlcError
from codegen.model.quant import mean_rescale, rescale_multiplier
from codegen.ops import define, per_tensor_quantized


QUANT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


def reshape_params(op):
    if op.inputs[0].size != op.outputs[0].size:
        raise MlcError(f"cannot reshape {op.inputs[0].shape} into {op.outputs[0].shape}")
    return {}


def _const_ints(op, tensor, what: str) -> np.ndarray:
    if tensor is None or not tensor.is_const or tensor.dtype not in ("int32", "int64"):
        raise MlcError(f"{op.kind} needs constant integer {what}; '{getattr(tensor, 'name', '?')}' is not")
    return tensor.data.astype(np.int64)


def _same_quant(a, b) -> bool:
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
    per_tensor_quantized(op, out)
    for t in inputs:
        per_tensor_quantized(op, t)
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


def pad_params(op):
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
    paddings = _const_ints(op, op.inputs[1], "paddings")
    if paddings.shape != (len(x.shape), 2) or np.any(paddings < 0):
        raise MlcError(f"paddings {paddings.tolist()} do not fit input shape {x.shape} (one non-negative [before, after] pair per axis)")
    expect = tuple(int(d + p.sum()) for d, p in zip(x.shape, paddings))
    if expect != tuple(out.shape):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, the paddings give {expect}")
    constant = op.inputs[2] if len(op.inputs) > 2 else None
    if constant is None:
        value = out.quant.zp  # a real 0
    else:
        if not constant.is_const or constant.size != 1 or constant.dtype != x.dtype:
            raise MlcError(f"PADV2 needs a constant scalar {x.dtype} pad value; '{constant.name}' is not")
        if constant.quant is None or not _same_quant(constant, out):
            raise MlcError(f"pad value '{constant.name}' must be quantized like the output '{out.name}' (TFLite requires it)")
        value = int(constant.data.ravel()[0])
    return {"paddings": paddings.tolist(), "pad_value": value}


def _mean_shape(shape, axes, keep_dims) -> tuple:
    if keep_dims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def mean_params(op):
    """TFLM's int8 MEAN is QuantizedMeanOrSum: (sum - zp * count) requantized with 1/count folded into
    the multiplier. (Older TFLM divided the raw sum when input and output quantization were equal; the
    tflite-micro we test against takes this path for every case.)"""
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
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
    multiplier, shift = rescale_multiplier(x.quant.s, out.quant.s)
    try:
        multiplier, shift = mean_rescale(multiplier, shift, count)
    except ValueError as err:
        raise MlcError(f"output '{out.name}': {err}") from None
    return {"axes": axes, "keep_dims": keep_dims, "count": count, "input_zp": x.quant.zp, "output_zp": out.quant.zp,
            "multiplier": multiplier, "shift": shift}


def quantize_params(op):
    """float32 -> int: TFLite AffineQuantize; int -> int: Requantize with QuantizeMultiplier(s_in / s_out)."""
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, out, tuple(QUANT_RANGE))
    if x.size != out.size:
        raise MlcError(f"QUANTIZE input shape {x.shape} and output shape {out.shape} differ")
    qmin, qmax = QUANT_RANGE[out.dtype]
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


def _strides(shape) -> list:
    return [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]


def concatenation_c(layer):
    op, p = layer.op, layer.p
    inputs = [t for t in op.inputs if t is not None]
    fn = layer.kernel("concatenation_s8.c.j2", "concatenation_s8", outer=p["outer"], chunks=p["chunks"],
                      consts=[t.is_const for t in inputs])
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
    fn = layer.kernel("pad_s8.c.j2", "pad_s8", kind=op.kind, axes=axes, row=row, row_offset=row_offset,
                      rows=op.inputs[0].size // max(row, 1), out_size=op.outputs[0].size, pad_value=p["pad_value"])
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
    fn = layer.kernel("mean_s8.c.j2", "mean_s8", kept=kept, reduced=reduced, count=p["count"],
                      in_zp=p["input_zp"], out_zp=p["output_zp"])
    q = layer.const("q", np.array([p["multiplier"], p["shift"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {q});"


def _narrowing(op):
    """In place when no output element is wider than its input element."""
    return np.dtype(op.outputs[0].dtype).itemsize <= np.dtype(op.inputs[0].dtype).itemsize


def quantize_c(layer):
    op, p = layer.op, layer.p
    x, y = op.inputs[0], op.outputs[0]
    mode = "dequantize" if op.kind == "DEQUANTIZE" else ("requantize" if p["requantize"] else "affine")
    args = {"mode": mode, "size": x.size, "in_type": c_type(x.dtype), "out_type": c_type(y.dtype)}
    if mode == "dequantize":
        args.update(scale=c_literal(p["scale"], "float"), zp=p["zero_point"])
    else:
        args.update(out_zp=p["output_zp"], qmin=p["qmin"], qmax=p["qmax"], in_zp=p.get("input_zp", 0),
                    scale=c_literal(p.get("scale", 1.0), "float"))
    fn = layer.kernel("quantize_s8.c.j2", f"{mode}_s8", **args)
    call = f"{fn}({layer.inp(0)}, {layer.out(0)}"
    if mode == "requantize":
        call += ", " + layer.const("q", np.array([p["multiplier"], p["shift"]], np.int32), "int32_t")
    return call + ");"


def reshape_c(layer):
    return f"memcpy({layer.out(0)}, {layer.inp(0)}, {layer.op.outputs[0].nbytes});"


define("CONCATENATION", arity=(1, 64), derive=concatenation_params, emit=concatenation_c, templates=("concatenation_s8.c.j2",))
define("PAD", arity=(2, 2), derive=pad_params, emit=pad_c, templates=("pad_s8.c.j2",))
define("PADV2", arity=(2, 3), derive=pad_params, emit=pad_c, templates=("pad_s8.c.j2",))
define("MEAN", arity=(2, 2), derive=mean_params, emit=mean_c, templates=("mean_s8.c.j2",))
define("QUANTIZE", arity=(1, 1), derive=quantize_params, emit=quantize_c, inplace=_narrowing, templates=("quantize_s8.c.j2",),
       dtypes=("int8", "int16", "float32"))  # float32 -> int8/int16, int8/int16 -> int8/int16
define("DEQUANTIZE", arity=(1, 1), derive=dequantize_params, emit=quantize_c, inplace=_narrowing, templates=("quantize_s8.c.j2",),
       dtypes=("int8", "int16", "float32"))  # int8/int16 -> float32
define("RESHAPE", "EXPAND_DIMS", arity=(1, 2), derive=reshape_params, emit=reshape_c, alias=True)
define("SQUEEZE", arity=(1, 1), derive=reshape_params, emit=reshape_c, alias=True)
