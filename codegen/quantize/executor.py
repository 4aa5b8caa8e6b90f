"""A float reference executor in numpy for the float graphs the quantizer calibrates on.

Layouts are TFLite's: NHWC activations, OHWI conv filters, [1, KH, KW, C*M] depthwise filters,
[units, K] dense weights. Inputs are stacked (N, *shape[1:]) like hostsim's.
"""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op
from codegen.ops.conv import leading_pad, out_size

ACTIVATIONS = {"NONE": lambda x: x, "RELU": lambda x: np.maximum(x, 0), "RELU6": lambda x: np.clip(x, 0, 6),
               "RELU_N1_TO_1": lambda x: np.clip(x, -1, 1)}


def _windows(op: Op, x: np.ndarray, kh: int, kw: int, fill=0.0):
    """(padded input, out_h, out_w, strides, dilations) of a windowed op with TFLite's SAME/VALID padding."""
    o = op.options
    s = (o.get("stride_h", 1), o.get("stride_w", 1))
    d = (o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1))
    pad = o.get("padding", "VALID")
    oh, ow = (out_size(pad, x.shape[1 + i], (kh, kw)[i], s[i], d[i]) for i in range(2))
    if pad == "SAME":
        top, left = (leading_pad(x.shape[1 + i], (kh, kw)[i], s[i], d[i], (oh, ow)[i]) for i in range(2))
        bottom = max(0, (oh - 1) * s[0] + (kh - 1) * d[0] + 1 - x.shape[1] - top)
        right = max(0, (ow - 1) * s[1] + (kw - 1) * d[1] + 1 - x.shape[2] - left)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    return x, oh, ow, s, d


def _taps(x, oh, ow, s, d, kh, kw):
    """Each filter tap's view of the input: (i, j, [N, oh, ow, C])."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0], j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1], :]


def conv_2d(op, x, w, b=None):
    _, kh, kw, _ = w.shape
    xp, oh, ow, s, d = _windows(op, x, kh, kw)
    y = np.zeros((x.shape[0], oh, ow, w.shape[0]), np.float32)
    for i, j, tap in _taps(xp, oh, ow, s, d, kh, kw):
        y += tap @ w[:, i, j, :].T
    return y if b is None else y + b


def depthwise_conv_2d(op, x, w, b=None):
    _, kh, kw, cout = w.shape
    mult = cout // x.shape[-1]
    xp, oh, ow, s, d = _windows(op, x, kh, kw)
    y = np.zeros((x.shape[0], oh, ow, cout), np.float32)
    for i, j, tap in _taps(xp, oh, ow, s, d, kh, kw):
        y += np.repeat(tap, mult, axis=-1) * w[0, i, j, :]
    return y if b is None else y + b


def fully_connected(op, x, w, b=None):
    y = x.reshape(-1, w.shape[1]) @ w.T
    if b is not None:
        y = y + b
    return y.reshape(x.shape[0], *op.outputs[0].shape[1:])


def patches(op, x):
    """A weighted layer's input as the rows its weights multiply: (rows, KH*KW*C) for CONV_2D in the filter's
    (kh, kw, c) order, (rows, K) for FULLY_CONNECTED, (rows, KH*KW, C_out) for DEPTHWISE_CONV_2D (each input
    channel repeated by the multiplier); a row per output pixel of every sample."""
    w = op.inputs[1].data
    if op.kind == "FULLY_CONNECTED":
        return x.reshape(-1, w.shape[1])
    _, kh, kw, cout = w.shape
    xp, oh, ow, s, d = _windows(op, x, kh, kw)
    taps = np.stack([t for _, _, t in _taps(xp, oh, ow, s, d, kh, kw)], axis=3)  # N, oh, ow, taps, C
    if op.kind == "CONV_2D":
        return taps.reshape(-1, kh * kw * x.shape[-1])
    return np.repeat(taps, cout // x.shape[-1], axis=-1).reshape(-1, kh * kw, cout)


def _pool(op, x, reduce):
    kh, kw = op.options["filter_height"], op.options["filter_width"]
    fill = -np.inf if reduce == "max" else 0.0
    xp, oh, ow, s, d = _windows(op, x, kh, kw, fill)
    taps = np.stack([t for _, _, t in _taps(xp, oh, ow, s, d, kh, kw)])
    if reduce == "max":
        return taps.max(axis=0)
    ones, _, _, _, _ = _windows(op, np.ones_like(x[:1, ..., :1]), kh, kw)  # TFLite averages over valid pixels only
    count = np.stack([t for _, _, t in _taps(ones, oh, ow, s, d, kh, kw)]).sum(axis=0)
    return taps.sum(axis=0) / count


def _softmax(op, x):
    z = (x - x.max(axis=-1, keepdims=True)) * op.options.get("beta", 1.0)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _mean(op, x, axes):
    axes = tuple(int(a) % (x.ndim) for a in np.ravel(axes))
    return x.mean(axis=axes, keepdims=bool(op.options.get("keep_dims")))


def _pad(op, x, paddings, constant=None):
    return np.pad(x, [(0, 0)] + [tuple(p) for p in np.asarray(paddings)[1:]],
                  constant_values=0.0 if constant is None else float(np.ravel(constant)[0]))


def _batched(op, x, *rest):
    """Shape ops on the stacked batch: the op's own shape with the stack's leading axis."""
    return x.reshape(x.shape[0], *op.outputs[0].shape[1:])


KERNELS = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": lambda op, x: _pool(op, x, "mean"), "MAX_POOL_2D": lambda op, x: _pool(op, x, "max"),
    "ADD": lambda op, a, b: a + b, "MUL": lambda op, a, b: a * b, "SOFTMAX": _softmax,
    "LOGISTIC": lambda op, x: 1 / (1 + np.exp(-x)), "TANH": lambda op, x: np.tanh(x),
    "RESHAPE": _batched, "SQUEEZE": _batched, "EXPAND_DIMS": _batched,
    "CONCATENATION": lambda op, *xs: np.concatenate(xs, axis=op.options.get("axis", 0) % xs[0].ndim),
    "PAD": _pad, "PADV2": _pad, "MEAN": _mean,
    "RELU": lambda op, x: np.maximum(x, 0), "RELU6": lambda op, x: np.clip(x, 0, 6),
    "RELU_N1_TO_1": lambda op, x: np.clip(x, -1, 1),
}


def run_op(op: Op, args: list) -> np.ndarray:
    """One op on stacked float inputs (constants unstacked), its fused activation applied."""
    kernel = KERNELS.get(op.kind)
    if kernel is None:
        raise MlcError(f"layer {op.index} ({op.kind}): the quantizer cannot run {op.kind} in float")
    with np.errstate(over="ignore", invalid="ignore"):
        y = kernel(op, *args)
    return ACTIVATIONS[op.options.get("activation", "NONE")](np.asarray(y, np.float32))


def op_args(op: Op, values: dict) -> list:
    return [values[id(t)] if not t.is_const else t.data for t in op.inputs if t is not None]


def run_all(graph: Graph, x) -> dict:
    """Every activation tensor's values (by id of the Tensor) for stacked inputs x (one array per model input,
    or one array for a one-input model)."""
    xs = x if isinstance(x, (list, tuple)) else [x]
    values = {id(t): np.asarray(xi, np.float32) for t, xi in zip(graph.inputs, xs)}
    for op in graph.ops:
        values[id(op.outputs[0])] = run_op(op, op_args(op, values))
    return values


def run(graph: Graph, x: np.ndarray) -> np.ndarray:
    return run_all(graph, x)[id(graph.outputs[0])]
