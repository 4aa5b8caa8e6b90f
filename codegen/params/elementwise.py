"""ADD and MUL on int8 with numpy broadcasting, as TFLM's CalculateOpDataAdd / CalculateOpDataMul.

Besides the requantization numbers, the params carry each input's element strides over the output
shape (0 along broadcast axes, TFLM's NdArrayDesc) so that a C kernel needs no shape logic.
"""
import numpy as np

from codegen.errors import MlcError
from codegen.params import derives, int8_activation
from codegen.quant import activation_range, add_rescale, quantize_multiplier

MAX_RANK = {"ADD": 6, "MUL": 4}  # TFLM's BroadcastAdd6DSlow / BroadcastMul4DSlow


def broadcast_strides(shape, out_shape) -> list:
    """Element strides of a row-major tensor of `shape` read at every index of `out_shape`."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step if dim > 1 else 0)
        step *= dim
    return strides[::-1]


def _binary(op) -> dict:
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    for t in (a, b, out):
        int8_activation(op, t)
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise MlcError(f"input shapes {a.shape} and {b.shape} do not broadcast") from None
    if shape != tuple(out.shape):
        raise MlcError(f"output '{out.name}' has shape {out.shape}, the inputs broadcast to {shape}")
    broadcast = tuple(a.shape) != tuple(b.shape)
    if broadcast and len(shape) > MAX_RANK[op.kind]:
        raise MlcError(f"broadcasting {op.kind} of rank {len(shape)} is not supported (TFLM stops at {MAX_RANK[op.kind]})")
    act_min, act_max = activation_range(op.options.get("activation", "NONE"), out.quant.s, out.quant.zp)
    return {"input1_offset": -a.quant.zp, "input2_offset": -b.quant.zp, "output_offset": out.quant.zp,
            "act_min": act_min, "act_max": act_max, "broadcast": broadcast, "out_shape": list(shape),
            "input1_strides": broadcast_strides(a.shape, shape), "input2_strides": broadcast_strides(b.shape, shape)}


@derives("ADD")
def add(op):
    params = _binary(op)
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    try:
        return {**params, **add_rescale(a.quant.s, b.quant.s, out.quant.s)}
    except ValueError as err:
        raise MlcError(f"output '{out.name}' scale {out.quant.s:g} is too small for the inputs' ({err})") from None


@derives("MUL", macs=lambda op: op.outputs[0].size)
def mul(op):
    params = _binary(op)
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    real = float(np.float64(a.quant.s) * np.float64(b.quant.s) / np.float64(out.quant.s))
    multiplier, shift = quantize_multiplier(real)
    return {**params, "output_multiplier": multiplier, "output_shift": shift}
