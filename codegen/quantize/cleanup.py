"""Graph clean-up before quantizing, so the graph is what a hand-written TFLite model looks like.

Per-channel constant MUL / ADD after a convolution or dense layer (an unfolded BatchNorm) folded into
its weights and bias; standalone RELU / RELU6 / RELU_N1_TO_1 fused into the layer before; RESHAPEs that
change nothing removed and chains of them merged; NaN or infinite weights refused.
"""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op, Tensor

WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}
FUSABLE = set(WEIGHTED) | {"ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"}
ACTIVATION_OPS = {"RELU", "RELU6", "RELU_N1_TO_1"}
RESHAPES = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def _producer(graph: Graph, t: Tensor) -> Op | None:
    return next((op for op in graph.ops if op.outputs[0] is t), None)


def _sole_use(graph: Graph, t: Tensor) -> bool:
    return len(graph.consumers(t)) == 1 and t not in graph.outputs


def _replace(graph: Graph, old: Tensor, new: Tensor) -> None:
    """`new` takes `old`'s place; a quantization the model gave `old` (the later tensor) now describes `new`."""
    if old.quant is not None:
        new.quant = old.quant
    for op in graph.ops:
        op.inputs = [new if t is old else t for t in op.inputs]
    graph.outputs = [new if t is old else t for t in graph.outputs]


def _remove(graph: Graph, op: Op) -> None:
    """Drop an op that maps its first input to its output unchanged (or whose work moved elsewhere)."""
    graph.ops.remove(op)
    _replace(graph, op.outputs[0], op.inputs[0])


def _per_channel_constant(op: Op, channels: int):
    """The constant operand of a binary op when it broadcasts along the last axis only, as (channels,)."""
    const = [t for t in op.inputs if t.is_const]
    if len(const) != 1:
        return None
    data = const[0].data
    if data.size == 1 or (data.size == channels and data.shape[-1] == channels):
        return np.broadcast_to(data.reshape(-1), (channels,)).astype(np.float32)
    return None


def fold_affine(graph: Graph) -> bool:
    """x * s + b on a weighted layer's output (activation NONE, sole consumer) into its weights and bias."""
    for op in graph.ops:
        if op.kind not in ("MUL", "ADD"):
            continue
        x = next((t for t in op.inputs if not t.is_const), None)
        prev = _producer(graph, x) if x is not None else None
        if prev is None or prev.kind not in WEIGHTED or prev.options.get("activation", "NONE") != "NONE" or not _sole_use(graph, x):
            continue
        w = prev.inputs[1]
        axis = WEIGHTED[prev.kind]
        channels = w.shape[axis]
        k = _per_channel_constant(op, channels)
        if k is None or x.shape[-1] != channels or op.outputs[0].shape != x.shape:
            continue
        bias = prev.inputs[2].data if len(prev.inputs) > 2 and prev.inputs[2] is not None else np.zeros(channels, np.float32)
        if op.kind == "MUL":
            shape = [1] * w.data.ndim
            shape[axis] = -1
            w.data = (w.data * k.reshape(shape)).astype(np.float32)
            w.quant = None  # no longer the model's integers times its scales
            bias = bias * k
        else:
            bias = bias + k
        bias_t = Tensor(index=len(graph.tensors), name=f"{prev.outputs[0].name}_bias", shape=(channels,),
                        dtype="float32", data=bias.astype(np.float32))
        graph.tensors.append(bias_t)
        prev.inputs = prev.inputs[:2] + [bias_t]
        prev.options["activation"] = op.options.get("activation", "NONE")
        _remove(graph, op)
        return True
    return False


def fuse_activations(graph: Graph) -> bool:
    for op in graph.ops:
        if op.kind not in ACTIVATION_OPS:
            continue
        prev = _producer(graph, op.inputs[0])
        if prev is not None and prev.kind in FUSABLE and prev.options.get("activation", "NONE") == "NONE" \
                and _sole_use(graph, op.inputs[0]):
            prev.options["activation"] = op.kind
            _remove(graph, op)
            return True
    return False


def merge_reshapes(graph: Graph) -> bool:
    """A reshape that changes nothing goes; a reshape of a reshape reads the first one's input."""
    for op in graph.ops:
        if op.kind not in RESHAPES:
            continue
        if op.inputs[0].shape == op.outputs[0].shape and op.outputs[0] not in graph.outputs:
            _remove(graph, op)
            return True
        prev = _producer(graph, op.inputs[0])
        if prev is not None and prev.kind in RESHAPES and _sole_use(graph, op.inputs[0]):
            op.inputs = [prev.inputs[0]] + op.inputs[1:]
            graph.ops.remove(prev)
            return True
    return False


def _check_weights(graph: Graph) -> None:
    for op in graph.ops:
        for t in op.inputs:
            if t is not None and t.is_const and t.dtype == "float32" and not np.all(np.isfinite(t.data)):
                raise MlcError(f"{graph.path}: layer {op.index} ({op.kind}): constant '{t.name}' holds NaN or infinite values")


def clean(graph: Graph) -> None:
    _check_weights(graph)
    while fold_affine(graph) or fuse_activations(graph) or merge_reshapes(graph):
        pass
    used = {id(t) for op in graph.ops for t in op.inputs + op.outputs if t is not None} | {id(t) for t in graph.inputs + graph.outputs}
    graph.tensors = [t for t in graph.tensors if id(t) in used]
    for i, op in enumerate(graph.ops):
        op.index = i
    leftover = next((op for op in graph.ops if op.kind in ACTIVATION_OPS), None)
    if leftover is not None:
        raise MlcError(f"{graph.path}: layer {leftover.index} ({leftover.kind}) follows a layer it cannot be fused into; "
                       "mlc has no standalone activation kernel")
