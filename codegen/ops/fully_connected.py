"""FULLY_CONNECTED: per-tensor or per-channel int8 weights (TFLM's FullyConnectedParamsQuantized);
the C kernel's fast variant folds the input offset into the bias at generation time."""

from codegen.errors import MlcError
from codegen.ops import define
from codegen.ops.conv import requant_params
from codegen.ops.requant import requant_consts, requant_vars


def _fc_macs(op):
    units, depth = op.inputs[1].shape
    return op.inputs[0].size // depth * units * depth


def fully_connected_params(op):
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(w.shape) != 2 or x.size % w.shape[1]:
        raise MlcError(f"weights shape {w.shape} does not fit input shape {x.shape}")
    if op.options.get("weights_format", 0) != 0:
        raise MlcError("shuffled FULLY_CONNECTED weights are not supported")
    if out.size != x.size // w.shape[1] * w.shape[0]:
        raise MlcError(f"output shape {out.shape} does not hold {x.size // w.shape[1]} x {w.shape[0]} results")
    params = requant_params(op, w.shape[0])
    return {**params, "batches": x.size // w.shape[1], "depth": w.shape[1], "units": w.shape[0]}


def fully_connected_c(layer):
    p, w = layer.p, layer.op.inputs[1].data
    variant = "reference" if layer.reference else "fast"
    rq = requant_consts(layer, p["units"], w, folded=not layer.reference)
    fn = layer.kernel("fully_connected_s8.c.j2", f"fully_connected_s8_{variant}", variant=variant,
                      **rq, batches=p["batches"], depth=p["depth"], units=p["units"],
                      **requant_vars(p))
    weights = layer.const("weights", w, "int8_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']});"


define("FULLY_CONNECTED", arity=(2, 3), derive=fully_connected_params, emit=fully_connected_c, macs=_fc_macs, templates=("fully_connected_s8.c.j2",))
