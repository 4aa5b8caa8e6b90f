"""The int8 graph of a calibrated float graph, by TFLite's int8 quantization spec.

Weights: symmetric int8 per output channel (CONV_2D and FULLY_CONNECTED along axis 0, DEPTHWISE_CONV_2D
along axis 3); bias int32 at input scale x weight scale. Activations: asymmetric int8 per tensor from
the calibrated range, except where the spec fixes it (SOFTMAX, LOGISTIC, TANH outputs) or ties it to
another tensor (pooling, reshapes and PAD keep their input's, MEAN its own; CONCATENATION's inputs share its
output's, since TFLM's int8 kernel copies bytes). A model that brings its own quantization (an ONNX QDQ or
QOperator model: Tensor.quant on the float graph) keeps it: its activations' scales and zero points, its
weights' integers and scales. Bias correction folds each weighted layer's mean
output error per channel back into its bias: the error of its rounded weights and of the quantized
layers before it (the int8 graph simulated in float, layer by layer, on the calibration inputs). AdaRound
(codegen.quantize.adaround), if asked, picks each weight's rounding on that simulated input, before it.
"""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op, Quant, Tensor
from codegen.quantize import adaround as adaround_, executor, ranges

FIXED_OUTPUT = {"SOFTMAX": (1 / 256, -128), "LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}
TIED_TO_INPUT = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "PAD", "PADV2", "MEAN"}  # MEAN: see _groups
WEIGHT_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}


def _differ(a: Quant | None, b: Quant | None) -> bool:
    return a is not None and b is not None and (a.s != b.s or a.zp != b.zp)


def _groups(graph: Graph) -> dict:
    """Activation tensors that must share one quantization: id -> representative id (union-find). A MEAN gets
    its own output range (TFLM's int8 MEAN rescales; the mean of ReLU outputs spans far less than they do),
    unless the model quantizes its input but not its output."""
    parent = {}

    def find(i):
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for op in graph.ops:
        out = id(op.outputs[0])
        find(out)
        if op.kind in TIED_TO_INPUT and not (op.kind == "MEAN" and not (op.inputs[0].quant is not None and op.outputs[0].quant is None)):
            parent[find(out)] = find(id(op.inputs[0]))
        elif op.kind == "CONCATENATION":
            for t in op.inputs:
                if not t.is_const:
                    parent[find(id(t))] = find(out)
    for t in graph.inputs:
        find(id(t))
    return {i: find(i) for i in parent}


def _fixed(graph: Graph, tids: list, notes: list):
    """The quantization the model gives a group of tied tensors, or None; two different ones are an error."""
    tensors = [t for t in graph.tensors if id(t) in tids and t.quant is not None]
    for t in tensors[1:]:
        if _differ(t.quant, tensors[0].quant):
            op = next(op for op in graph.ops if op.outputs[0] is t or op.outputs[0] is tensors[0])
            raise MlcError(f"layer {op.index} ({op.kind}): the model quantizes '{tensors[0].name}' and '{t.name}' "
                           "differently, but TFLite's int8 kernel needs them equal; quantize the float model with "
                           "`mlc quantize` instead")
    return (float(tensors[0].quant.s), tensors[0].quant.zp) if tensors else None


def activation_quant(graph: Graph, values: dict, method: str, notes: list | None = None) -> dict:
    """id of every activation tensor -> (scale, zero point): the model's own where it brings them, else from the
    calibration values by `method`; "auto" clips hidden activations by MSE but keeps the min/max range of the
    model's input and outputs and of SOFTMAX inputs, where a clipped large value (the winning logit) changes
    the answer."""
    notes = [] if notes is None else notes
    groups = _groups(graph)
    fixed = {groups[id(op.outputs[0])]: FIXED_OUTPUT[op.kind] for op in graph.ops if op.kind in FIXED_OUTPUT}
    unclipped = {groups[id(op.inputs[0])] for op in graph.ops if op.kind == "SOFTMAX"} | {
        groups[id(t)] for t in graph.inputs + graph.outputs}
    members = {}
    for tid, root in groups.items():
        members.setdefault(root, []).append(tid)
    chosen = {}
    for root, tids in members.items():
        own = _fixed(graph, tids, notes)
        if root in fixed:
            chosen[root] = fixed[root]
            if own is not None and (not np.isclose(own[0], fixed[root][0], rtol=1e-6) or own[1] != fixed[root][1]):
                name = next(t.name for t in graph.tensors if id(t) == root)
                notes.append(f"'{name}': the TFLite int8 spec fixes this output at {fixed[root][0]:g} @ {fixed[root][1]} "
                             f"(the model has {own[0]:g} @ {own[1]})")
            continue
        if own is not None:
            chosen[root] = own
            continue
        if any(t not in values for t in tids):
            name = next(t.name for t in graph.tensors if id(t) in tids)
            raise MlcError(f"tensor '{name}' has no quantization in the model (no QuantizeLinear after it); "
                           "give calibration data (--calib X.npy) for it")
        data = np.concatenate([values[t].ravel() for t in tids])
        if not np.all(np.isfinite(data)):
            name = next(t.name for t in graph.tensors if id(t) in tids)
            raise MlcError(f"tensor '{name}' takes NaN or infinite values on the calibration data")
        estimator = method if method != "auto" else "minmax" if root in unclipped else "mse"
        chosen[root] = ranges.affine(*ranges.METHODS[estimator](data))
    return {tid: chosen[root] for tid, root in groups.items()}


def quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per channel along axis (range -127..127): (int8 weights, float32 scales)."""
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    peak = np.abs(w).max(axis=reduce)
    scales = np.where(peak > 0, peak / 127, 1 / 127).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def _dequantized(q, scales, axis):
    shape = [1] * q.ndim
    shape[axis] = -1
    return q.astype(np.float32) * scales.reshape(shape)


def _bias_correction(op: Op, x: np.ndarray, w: np.ndarray, x_q: np.ndarray, w_dq: np.ndarray) -> np.ndarray:
    """Mean output error per channel of the int8 layer (quantized input x_q and weights w_dq) against the
    float one (x, w) on the calibration data, before bias and activation."""
    plain = Op(index=op.index, kind=op.kind, inputs=op.inputs, outputs=op.outputs,
               options={**op.options, "activation": "NONE"})
    err = executor.run_op(plain, [x_q, w_dq]) - executor.run_op(plain, [x, w])
    return err.reshape(-1, err.shape[-1]).mean(axis=0)


def _real(t: Tensor, fake: dict) -> np.ndarray:
    """The real values an int8-graph tensor holds: activations from the fake-quantized pass, constants dequantized."""
    if not t.is_const:
        return fake[id(t)]
    if t.quant is None:
        return t.data
    shape = [1] * t.data.ndim
    if t.quant.per_channel:
        shape[t.quant.axis] = -1
    return (t.data.astype(np.float32) - t.quant.zero_point.reshape(shape)) * t.quant.scale.reshape(shape)


def _fake_quantize(y: np.ndarray, quant: Quant) -> np.ndarray:
    s, zp = float(quant.s), quant.zp
    return ((np.clip(np.round(y / s) + zp, -128, 127) - zp) * s).astype(np.float32)


def _simulate_op(op: Op, fake: dict):
    """One op of an int8 graph simulated in float: its inputs' real values in, its output fake-quantized."""
    args = [_real(t, fake) for t in op.inputs if t is not None]
    out = op.outputs[0]
    if op.kind == "DEQUANTIZE":
        fake[id(out)] = args[0]
    else:
        y = args[0] if op.kind == "QUANTIZE" else executor.run_op(op, args)
        fake[id(out)] = _fake_quantize(y, out.quant)


def simulate(graph: Graph, xs: list) -> dict:
    """The int8 graph simulated in float on stacked float inputs xs (one per input): id(tensor) -> values."""
    fake = {}
    for t, x in zip(graph.inputs, xs):
        fake[id(t)] = x if t.quant is None else _fake_quantize(x, t.quant)
    for op in graph.ops:
        _simulate_op(op, fake)
    return fake


class _Builder:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.tensors = []

    def tensor(self, like: Tensor, dtype: str, quant: Quant | None = None, data=None, shape=None, name=None) -> Tensor:
        t = Tensor(index=len(self.tensors), name=name or like.name, shape=tuple(shape or like.shape), dtype=dtype,
                   quant=quant, data=data)
        self.tensors.append(t)
        return t


def _per_tensor(scale, zp) -> Quant:
    return Quant(scale=np.array([scale], np.float32), zero_point=np.array([zp], np.int64))


def _weights(t: Tensor, axis: int, notes: list, op: Op) -> tuple[np.ndarray, np.ndarray]:
    """The model's own integer weights and scales where it brings them, else symmetric per channel."""
    if t.quant is None:
        if any(x.quant is not None for x in op.inputs + op.outputs if x is not None and not x.is_const):
            notes.append(f"layer {op.index} ({op.kind}): weights quantized by mlc (the model's were changed by "
                         "folding a BatchNormalization or scale into them)")
        return quantize_weights(t.data, axis)
    shape = [1] * t.data.ndim
    shape[axis] = -1
    q = np.round(t.data / t.quant.scale.reshape(shape))
    if np.any(q < -128) or np.any(q > 127):
        raise MlcError(f"layer {op.index} ({op.kind}): weights '{t.name}' do not fit int8 at the model's scales")
    if np.any(q == -128):
        notes.append(f"layer {op.index} ({op.kind}): weights use -128, outside the TFLite spec's -127..127 "
                     "(TFLM's kernels and mlc's compute with it exactly)")
    return q.astype(np.int8), t.quant.scale


def quantize_graph(graph: Graph, values: dict, method: str = ranges.DEFAULT_METHOD, float_io: bool = False,
                   bias_correction: bool = True, notes: list | None = None, adaround: bool = False) -> Graph:
    """The int8 graph of `graph`; values maps id(tensor) -> its stacked float calibration values. adaround:
    learn each weight's rounding (codegen.quantize.adaround) on the layer's input in the int8 graph, before
    bias correction. Notes on where the arithmetic differs from a model's own quantization go to `notes`."""
    notes = [] if notes is None else notes
    act = activation_quant(graph, values, method, notes)
    b = _Builder(graph)
    new = {}
    ops = []
    fake = {}  # id(int8-graph tensor) -> its values in a float simulation of the int8 graph (bias correction, AdaRound)
    simulated = bias_correction or adaround
    for t in graph.inputs:
        q = _per_tensor(*act[id(t)])
        if float_io:
            f = b.tensor(t, "float32")
            new[id(t)] = b.tensor(t, "int8", q, name=f"{t.name}_int8")
            ops.append(Op(index=0, kind="QUANTIZE", inputs=[f], outputs=[new[id(t)]]))
            new[("float", id(t))] = f
        else:
            new[id(t)] = b.tensor(t, "int8", q)
        if simulated:
            fake[id(new[id(t)])] = _fake_quantize(values[id(t)], q)
    for op in graph.ops:
        ins = []
        axis = WEIGHT_AXIS.get(op.kind)
        for pos, t in enumerate(op.inputs):
            if t is None:
                ins.append(None)
            elif not t.is_const:
                ins.append(new[id(t)])
            elif t.dtype != "float32":  # shapes, axes, paddings
                ins.append(b.tensor(t, t.dtype, data=t.data))
            elif axis is not None and pos == 1:
                wq, ws = _weights(t, axis, notes, op)
                if adaround and t.quant is None:
                    wq = adaround_.round_weights(op, values[id(op.inputs[0])], fake[id(ins[0])], ws)
                ins.append(b.tensor(t, "int8", Quant(scale=ws, zero_point=np.zeros(ws.size, np.int64), axis=axis), wq))
            elif axis is not None and pos == 2:
                ins.append(None)  # the bias, made below from the weight scales
            else:
                scale, zp = act.get(id(op.outputs[0])) if op.kind == "CONCATENATION" else ranges.affine(*ranges.minmax(t.data))
                q = np.clip(np.round(t.data / scale) + zp, -128, 127).astype(np.int8)
                ins.append(b.tensor(t, "int8", _per_tensor(scale, zp), q))
        if axis is not None:
            w = op.inputs[1].data
            channels = w.shape[axis]
            bias = op.inputs[2].data if len(op.inputs) > 2 and op.inputs[2] is not None else np.zeros(channels, np.float32)
            wq = ins[1]
            if bias_correction:
                bias = bias - _bias_correction(op, values[id(op.inputs[0])], w, fake[id(ins[0])],
                                               _dequantized(wq.data, wq.quant.scale, axis))
            bias_scale = np.float64(ins[0].quant.s) * wq.quant.scale.astype(np.float64)
            bq = np.clip(np.round(bias / bias_scale), -(2 ** 31 - 1), 2 ** 31 - 1).astype(np.int32)
            like = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] is not None else op.inputs[1]
            name = like.name if like is not op.inputs[1] else f"{op.outputs[0].name}_bias"
            ins = ins[:2] + [b.tensor(like, "int32", Quant(scale=bias_scale.astype(np.float32),
                                                               zero_point=np.zeros(channels, np.int64)),
                                      bq, shape=(channels,), name=name)]
        out = op.outputs[0]
        new[id(out)] = b.tensor(out, "int8", _per_tensor(*act[id(out)]))
        options = {k: v for k, v in op.options.items() if k not in ("asymmetric_quantize_inputs", "quantized_bias_type")}
        ops.append(Op(index=0, kind=op.kind, inputs=ins, outputs=[new[id(out)]], options=options))
        if simulated:
            _simulate_op(ops[-1], fake)
    outputs = []
    for t in graph.outputs:
        if float_io:
            f = b.tensor(t, "float32", name=f"{t.name}_float")
            ops.append(Op(index=0, kind="DEQUANTIZE", inputs=[new[id(t)]], outputs=[f]))
            outputs.append(f)
        else:
            outputs.append(new[id(t)])
    inputs = [new[("float", id(t))] if float_io else new[id(t)] for t in graph.inputs]
    for i, op in enumerate(ops):
        op.index = i
    return Graph(name=graph.name, path=graph.path, tensors=b.tensors, ops=ops, inputs=inputs, outputs=outputs)
