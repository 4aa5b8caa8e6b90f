"""Ops that move or requantize data without weights: RESHAPE, CONCATENATION, PAD, PADV2, MEAN,
QUANTIZE, DEQUANTIZE, with the checks and parameter derivations of TFLM's Prepare functions.

Axes are the model's own (axis 0 is the batch); they are stored non-negative.
"""
import numpy as np

from codegen.errors import MlcError
from codegen.params import derives, int8_activation, per_tensor_quantized
from codegen.quant import mean_rescale, rescale_multiplier

QUANT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


@derives("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(op):
    if op.inputs[0].size != op.outputs[0].size:
        raise MlcError(f"cannot reshape {op.inputs[0].shape} into {op.outputs[0].shape}")
    return {}


def _const_ints(op, tensor, what: str) -> np.ndarray:
    if tensor is None or not tensor.is_const or tensor.dtype not in ("int32", "int64"):
        raise MlcError(f"{op.kind} needs constant integer {what}; '{getattr(tensor, 'name', '?')}' is not")
    return tensor.data.astype(np.int64)


def _same_quant(a, b) -> bool:
    return a.quant.s == b.quant.s and a.quant.zp == b.quant.zp


@derives("CONCATENATION")
def concatenation(op):
    out, inputs = op.outputs[0], [t for t in op.inputs if t is not None]
    rank = len(out.shape)
    axis = op.options.get("axis", 0)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise MlcError(f"axis {op.options.get('axis')} is out of range for output shape {out.shape}")
    if op.options.get("activation", "NONE") != "NONE":  # TFLM's Prepare refuses it too
        raise MlcError(f"a fused {op.options['activation']} on CONCATENATION is not supported by TFLite Micro")
    int8_activation(op, out)
    for t in inputs:
        int8_activation(op, t)
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


@derives("PAD", "PADV2")
def pad(op):
    x, out = op.inputs[0], op.outputs[0]
    int8_activation(op, x)
    int8_activation(op, out)
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


@derives("MEAN")
def mean(op):
    """TFLM's int8 MEAN is QuantizedMeanOrSum: (sum - zp * count) requantized with 1/count folded into
    the multiplier. (Older TFLM divided the raw sum when input and output quantization were equal; the
    tflite-micro we test against takes this path for every case.)"""
    x, out = op.inputs[0], op.outputs[0]
    int8_activation(op, x)
    int8_activation(op, out)
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


@derives("QUANTIZE")
def quantize(op):
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


@derives("DEQUANTIZE")
def dequantize(op):
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x, tuple(QUANT_RANGE))
    if out.dtype != "float32" or x.size != out.size:
        raise MlcError(f"DEQUANTIZE to {out.dtype} '{out.name}' is not supported; only to float32 of the input's shape")
    return {"scale": np.float32(x.quant.s), "zero_point": x.quant.zp}
