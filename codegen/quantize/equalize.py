"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization").

For a weighted layer whose output feeds only one other weighted layer, output channel i of the first is
divided by s_i and input channel i of the second multiplied by s_i, with s_i = sqrt(r1_i / r2_i) (r1_i: the
range of the first layer's weights of channel i, r2_i: the second's along its input channel i), so that
both become sqrt(r1_i * r2_i). The float model is unchanged because the activation between them commutes
with a positive scale: NONE and RELU do (ReLU(x / s) = ReLU(x) / s); RELU6 and RELU_N1_TO_1 do not (their
clamp would move to 6 s), so such pairs are left as they are. The per-tensor activation between the two
layers gets evenly sized channels, which is what per-tensor int8 activations gain (the weights are per
channel already). Pairs: CONV_2D or DEPTHWISE_CONV_2D into CONV_2D or DEPTHWISE_CONV_2D (multiplier 1), and
FULLY_CONNECTED into FULLY_CONNECTED; repeated over the graph until the scales settle.
"""
from __future__ import annotations

import copy

import numpy as np

from codegen.model.ir import Graph, Op

HOMOGENEOUS = {"NONE", "RELU"}
SWEEPS = 20
SETTLED = 1e-3  # largest |log s| of a sweep at which to stop


def _out_axis(op: Op) -> int:
    return 3 if op.kind == "DEPTHWISE_CONV_2D" else 0


def _in_axis(op: Op) -> int | None:
    """The weight axis along op's input channels, or None where one input channel is not one weight slice."""
    if op.kind == "CONV_2D":
        return 3
    if op.kind == "FULLY_CONNECTED":
        return 1
    if op.kind == "DEPTHWISE_CONV_2D" and op.options.get("depth_multiplier", 1) == 1:
        return 3
    return None


def _ranges(w: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis)).astype(np.float64)


def pairs(graph: Graph) -> list:
    """(first, second) weighted layers that equalization may rescale."""
    consumers = {}
    for op in graph.ops:
        for t in op.inputs:
            if t is not None:
                consumers.setdefault(id(t), []).append(op)
    outputs = {id(t) for t in graph.outputs}
    found = []
    for op in graph.ops:
        if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out = op.outputs[0]
        users = consumers.get(id(out), [])
        if len(users) != 1 or id(out) in outputs or op.options.get("activation", "NONE") not in HOMOGENEOUS:
            continue
        nxt = users[0]
        if nxt.inputs[0] is not out or _in_axis(nxt) is None or (op.kind == "FULLY_CONNECTED") != (nxt.kind == "FULLY_CONNECTED"):
            continue
        w1, w2 = op.inputs[1], nxt.inputs[1]
        if not (w1.is_const and w2.is_const) or w1.quant is not None or w2.quant is not None:
            continue
        bias = op.inputs[2] if len(op.inputs) > 2 else None
        if any(len(consumers.get(id(w), [])) != 1 for w in (w1, w2, bias) if w is not None):
            continue  # a weight or bias tensor shared with another layer
        if w1.data.shape[_out_axis(op)] != w2.data.shape[_in_axis(nxt)]:
            continue
        found.append((op, nxt))
    return found


def depthwise_separable(graph: Graph) -> bool:
    """Whether some pair equalization may rescale has a depthwise layer in it."""
    return any("DEPTHWISE_CONV_2D" in (a.kind, b.kind) for a, b in pairs(graph))


def _shape(ndim: int, axis: int) -> list:
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def equalize(graph: Graph) -> tuple[Graph, int]:
    """A copy of graph with every pair equalized (the float function the same), and how many pairs there were."""
    graph = copy.deepcopy(graph)
    found = pairs(graph)
    for _ in range(SWEEPS):
        largest = 0.0
        for first, second in found:
            w1, w2 = first.inputs[1], second.inputs[1]
            a1, a2 = _out_axis(first), _in_axis(second)
            r1, r2 = _ranges(w1.data, a1), _ranges(w2.data, a2)
            s = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.where(r2 > 0, r2, 1)), 1.0)
            largest = max(largest, float(np.abs(np.log(s)).max()))
            w1.data = (w1.data / s.reshape(_shape(w1.data.ndim, a1))).astype(np.float32)
            w2.data = (w2.data * s.reshape(_shape(w2.data.ndim, a2))).astype(np.float32)
            bias = first.inputs[2] if len(first.inputs) > 2 else None
            if bias is not None:
                bias.data = (bias.data / s).astype(np.float32)
        if largest < SETTLED:
            break
    return graph, len(found)
