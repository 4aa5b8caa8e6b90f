"""Read a float ONNX model (opset 13 or later, e.g. PyTorch's export) into mlc's float graph, NHWC.

Every 4-D activation is NCHW in ONNX and NHWC in mlc, and every 3-D one in front of a 1-D convolution or
pooling (PyTorch's Conv1d) NCW in ONNX and NHWC with a height of one in mlc, as TFLite holds Keras's Conv1D;
layout changes are folded into the weights
(OHWI conv filters, [1, KH, KW, C] depthwise filters, NHWC-ordered columns of a dense layer after a
Flatten), never left in the graph as transposes. Subgraphs of constants (PyTorch's Shape -> Gather
-> Concat in front of a Reshape) are evaluated here with onnx's reference evaluator, since every
shape is static. BatchNormalization comes in as a per-channel MUL and ADD that codegen.quantize.cleanup
folds into the layer before. A model that is already quantized (QDQ or QOperator form) comes in as its
float graph with the model's quantization kept on the tensors (codegen.quantize.onnx_quantized).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op, Tensor
from codegen.ops.conv import leading_pad, out_size
from codegen.quantize import executor, onnx_quantized

MIN_OPSET = 13
NHWC, PLAIN = "nhwc", "plain"  # an ONNX NCHW tensor held as NHWC; a tensor held as ONNX has it
NCW = "ncw"  # an ONNX NCW tensor held as NHWC with H = 1
HELD_NHWC = (NHWC, NCW)


@dataclass
class Value:
    tensor: Tensor
    layout: str = PLAIN
    flat_chw: tuple | None = None  # a flattened NCHW activation held in NHWC order: its (C, H, W)


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        raise MlcError("reading ONNX models needs the onnx package; run `pip install 'mlc[onnx]'`") from None
    return onnx, numpy_helper, ReferenceEvaluator


class _Importer:
    def __init__(self, path: str):
        self.path = path
        self.tensors, self.ops = [], []
        self.consts: dict = {}  # ONNX name -> numpy array (ONNX layout)
        self.values: dict = {}  # ONNX name -> Value
        self.const_quant: dict = {}  # ONNX name of a dequantized constant -> its (scales, zero points, axis, dtype)
        self.notes: list = []  # where the model's quantized arithmetic and TFLite's differ

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def handle(self, node):
        """The Value a node of a float op type makes (None if it only renames its input)."""
        onnx, _, _ = _onnx()
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            self.fail(node, f"{node.op_type} is not supported (supported: {', '.join(sorted(HANDLERS))})")
        return handler(self, node, _attrs(onnx, node))

    def fail(self, node, why: str):
        raise MlcError(f"{self.path}: node '{node.name or node.output[0]}' ({node.op_type}): {why}")

    def tensor(self, name, shape, data=None, dtype="float32") -> Tensor:
        t = Tensor(index=len(self.tensors), name=name, shape=tuple(int(d) for d in shape), dtype=dtype,
                   data=None if data is None else np.ascontiguousarray(data, dtype))
        self.tensors.append(t)
        return t

    def const_tensor(self, name, data, dtype="float32") -> Tensor:
        return self.tensor(name, np.shape(data), data, dtype)

    def emit(self, kind, inputs, name, options=None, shape=None, layout=PLAIN, flat_chw=None) -> Value:
        """An op whose output shape comes from running it in the float executor on zeros (unless given)."""
        out = self.tensor(name, shape or (1,))
        op = Op(index=len(self.ops), kind=kind, inputs=inputs, outputs=[out], options=options or {})
        if shape is None:
            zeros = [t.data if t.is_const else np.zeros(t.shape, np.float32) for t in inputs if t is not None]
            out.shape = executor.run_op(op, zeros).shape
        self.ops.append(op)
        return Value(out, layout, flat_chw)

    # -- helpers for the node handlers
    def act(self, node, i=0) -> Value:
        name = node.input[i]
        if name in self.consts:
            self.fail(node, f"input '{name}' is a constant; mlc needs an activation there")
        return self.values[name]

    def const(self, node, i, what="a constant"):
        if i >= len(node.input) or not node.input[i]:
            return None
        if node.input[i] not in self.consts:
            self.fail(node, f"input '{node.input[i]}' must be {what} (mlc folds it into the layer)")
        return self.consts[node.input[i]]

    def onnx_shape(self, value: Value) -> tuple:
        """The activation's shape as ONNX sees it."""
        shape = value.tensor.shape
        if value.layout == NCW:
            return (shape[0], shape[3], shape[2])
        return tuple(np.array(shape)[[0, 3, 1, 2]]) if value.layout == NHWC else tuple(shape)

    def const_in_layout(self, c: np.ndarray, value: Value) -> np.ndarray:
        """A constant operand broadcast against an activation, in that activation's mlc layout."""
        if value.layout == NCW:
            c = np.reshape(c, (1,) * (3 - c.ndim) + c.shape)[:, :, None, :]  # NCW -> NCHW with H = 1
        if value.layout in HELD_NHWC:
            c = np.reshape(c, (1,) * (4 - c.ndim) + c.shape).transpose(0, 2, 3, 1)
        return c

    def axis(self, value: Value, axis: int) -> int:
        rank = len(value.tensor.shape)
        axis %= rank
        if value.layout == NCW:
            return (0, 3, 2)[axis]
        return (0, 3, 1, 2)[axis] if value.layout == NHWC else axis

    def window(self, node, attrs, value: Value, kernel):
        """(options, input) of a conv/pool: TFLite SAME/VALID, or an explicit PAD in front of VALID."""
        _, h, w, _ = value.tensor.shape
        strides = list(attrs.get("strides", [1, 1]))
        dilations = list(attrs.get("dilations", [1, 1]))
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if attrs.get("ceil_mode", 0):
            self.fail(node, "ceil_mode=1 is not supported; export with ceil_mode=False")
        options = dict(stride_h=strides[0], stride_w=strides[1], dilation_h_factor=dilations[0],
                       dilation_w_factor=dilations[1])
        same = []
        for size, k, s, d in ((h, kernel[0], strides[0], dilations[0]), (w, kernel[1], strides[1], dilations[1])):
            o = out_size("SAME", size, k, s, d)
            lead = leading_pad(size, k, s, d, o)
            same += [lead, max(0, (o - 1) * s + (k - 1) * d + 1 - size - lead)]
        tf_same = [same[0], same[2], same[1], same[3]]  # ONNX order: top, left, bottom, right
        if auto in ("SAME_UPPER",) or (auto == "NOTSET" and pads == tf_same and any(pads)):
            return {**options, "padding": "SAME"}, value.tensor
        if auto not in ("NOTSET", "VALID"):
            self.fail(node, f"auto_pad {auto} is not supported")
        if auto == "VALID" or not any(pads):
            return {**options, "padding": "VALID"}, value.tensor
        if node.op_type == "MaxPool" or (node.op_type == "AveragePool" and not attrs.get("count_include_pad", 0)):
            self.fail(node, f"pads {pads} differ from TFLite's SAME padding; mlc can pad explicitly only before a convolution")
        paddings = np.array([[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]], np.int32)
        padded = self.emit("PAD", [value.tensor, self.const_tensor(f"{node.output[0]}_paddings", paddings, "int32")],
                           f"{node.output[0]}_pad", layout=value.layout)
        return {**options, "padding": "VALID"}, padded.tensor


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _as_2d(attrs: dict) -> dict:
    """A 1-D convolution's or pooling's attributes as the 2-D ones over a height of one."""
    out = dict(attrs)
    for key in ("kernel_shape", "strides", "dilations"):
        if key in attrs:
            out[key] = [1, *attrs[key]]
    if "pads" in attrs:
        out["pads"] = [0, attrs["pads"][0], 0, attrs["pads"][1]]
    return out


def _conv(im: _Importer, node, attrs):
    x = im.act(node)
    w = im.const(node, 1, "constant weights")
    b = im.const(node, 2)
    if x.layout == NCW and w.ndim == 3:  # Conv1d: over a height of one
        w, attrs = w[:, :, None, :], _as_2d(attrs)
    elif x.layout != NHWC or w.ndim != 4:
        im.fail(node, "only 1-D convolutions on NCW inputs and 2-D ones on NCHW inputs are supported")
    group = attrs.get("group", 1)
    cin = x.tensor.shape[3]
    options, xin = im.window(node, attrs, x, w.shape[2:])
    bias = im.const_tensor(f"{node.output[0]}_bias", b if b is not None else np.zeros(w.shape[0], np.float32))
    if group == 1:
        weights = im.const_tensor(f"{node.output[0]}_weights", w.transpose(0, 2, 3, 1))
        onnx_quantized.fix_weights(im, node, node.input[1], weights, onnx_axis=0, mlc_axis=0)
        return im.emit("CONV_2D", [xin, weights, bias], node.output[0], {**options, "activation": "NONE"}, layout=x.layout)
    if group == cin and w.shape[1] == 1:
        weights = im.const_tensor(f"{node.output[0]}_weights", w.transpose(1, 2, 3, 0))
        onnx_quantized.fix_weights(im, node, node.input[1], weights, onnx_axis=0, mlc_axis=3)
        return im.emit("DEPTHWISE_CONV_2D", [xin, weights, bias], node.output[0],
                       {**options, "depth_multiplier": w.shape[0] // cin, "activation": "NONE"}, layout=x.layout)
    im.fail(node, f"grouped convolution (group {group} of {cin} channels) is not supported; only group 1 or depthwise")


def _batch_norm(im: _Importer, node, attrs):
    x = im.act(node)
    scale, bias, mean, var = (im.const(node, i) for i in range(1, 5))
    k = scale / np.sqrt(var + attrs.get("epsilon", 1e-5))
    # (C,) broadcasts along the channel axis, which is the last in mlc's layout (NHWC, or N x C)
    mul = im.emit("MUL", [x.tensor, im.const_tensor(f"{node.output[0]}_scale", k)],
                  f"{node.output[0]}_mul", layout=x.layout)
    return im.emit("ADD", [mul.tensor, im.const_tensor(f"{node.output[0]}_shift", bias - mean * k)],
                   node.output[0], layout=x.layout)


def _binary(im: _Importer, node, attrs):
    kind = {"Add": "ADD", "Sub": "ADD", "Mul": "MUL", "Div": "MUL"}[node.op_type]
    a_const, b_const = (node.input[i] in im.consts for i in (0, 1))
    if not a_const and not b_const:
        if node.op_type in ("Sub", "Div"):
            im.fail(node, f"{node.op_type} of two activations is not supported")
        a, b = im.act(node, 0), im.act(node, 1)
        return im.emit(kind, [a.tensor, b.tensor], node.output[0], {"activation": "NONE"}, layout=a.layout)
    if node.op_type in ("Sub", "Div") and a_const:
        im.fail(node, f"{node.op_type} with a constant first operand is not supported")
    x = im.act(node, 1 if a_const else 0)
    c = im.consts[node.input[0 if a_const else 1]].astype(np.float32)
    c = -c if node.op_type == "Sub" else 1 / c if node.op_type == "Div" else c
    ct = im.const_tensor(f"{node.output[0]}_const", im.const_in_layout(c, x))
    return im.emit(kind, [x.tensor, ct], node.output[0], {"activation": "NONE"}, layout=x.layout)


def _activation(kind):
    def handle(im: _Importer, node, attrs):
        x = im.act(node)
        return im.emit(kind, [x.tensor], node.output[0], layout=x.layout)
    return handle


def _clip(im: _Importer, node, attrs):
    lo = attrs.get("min", im.const(node, 1))
    hi = attrs.get("max", im.const(node, 2))
    lo = -np.inf if lo is None else float(np.ravel(lo)[0])
    hi = np.inf if hi is None else float(np.ravel(hi)[0])
    kind = {(0.0, np.inf): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}.get((lo, hi))
    if kind is None:
        im.fail(node, f"Clip to [{lo}, {hi}] is not supported (only ReLU, ReLU6 and [-1, 1])")
    return _activation(kind)(im, node, attrs)


def _pool(kind):
    def handle(im: _Importer, node, attrs):
        x = im.act(node)
        if x.layout == NCW:
            attrs = _as_2d(attrs)
        elif x.layout != NHWC:
            im.fail(node, "pooling needs an NCHW or NCW input")
        kernel = attrs["kernel_shape"]
        options, xin = im.window(node, {**attrs, "strides": attrs.get("strides", [1, 1])}, x, kernel)
        options = {k: v for k, v in options.items() if not k.startswith("dilation")}
        if attrs.get("dilations", [1, 1]) != [1, 1]:
            im.fail(node, "dilated pooling is not supported")
        return im.emit(kind, [xin], node.output[0], {**options, "filter_height": kernel[0], "filter_width": kernel[1],
                                                    "activation": "NONE"}, layout=x.layout)
    return handle


def _mean_axes(im: _Importer, node, x: Value, axes, keep: bool):
    axes = sorted(im.axis(x, int(a)) for a in axes)
    if x.layout == NCW and 2 in axes:
        axes = sorted({1, *axes})  # the height of one goes with the width
    axes_t = im.const_tensor(f"{node.output[0]}_axes", np.array(axes), "int32")
    if x.layout in HELD_NHWC and not keep and axes != [1, 2]:
        im.fail(node, "a mean that drops a channel or batch axis of an NCHW tensor is not supported")
    layout = x.layout if keep else PLAIN
    return im.emit("MEAN", [x.tensor, axes_t], node.output[0], {"keep_dims": keep}, layout=layout)


def _global_average_pool(im: _Importer, node, attrs):
    x = im.act(node)
    return _mean_axes(im, node, x, [2] if x.layout == NCW else [2, 3], True)


def _reduce_mean(im: _Importer, node, attrs):
    axes = attrs.get("axes", im.const(node, 1))
    if axes is None:
        im.fail(node, "a mean over all axes is not supported")
    return _mean_axes(im, node, im.act(node), np.ravel(axes), bool(attrs.get("keepdims", 1)))


def _flatten_to(im: _Importer, node, x: Value, shape) -> Value:
    """Reshape to `shape` (ONNX's); an NCHW tensor flattened keeps NHWC order and notes (C, H, W)."""
    shape = tuple(int(d) for d in shape)
    shape_t = im.const_tensor(f"{node.output[0]}_shape", np.array(shape), "int32")
    if x.layout in HELD_NHWC:
        _, h, w, c = x.tensor.shape
        if len(shape) != 2:
            im.fail(node, f"reshaping an NCHW activation to {shape} would need a transpose; only flattening is supported")
        chw = None if h * w == 1 else (c, h, w)
        return im.emit("RESHAPE", [x.tensor, shape_t], node.output[0], {"new_shape": list(shape)}, shape=shape, flat_chw=chw)
    return im.emit("RESHAPE", [x.tensor, shape_t], node.output[0], {"new_shape": list(shape)}, shape=shape,
                   flat_chw=x.flat_chw if len(shape) == 2 else None)


def _flatten(im: _Importer, node, attrs):
    x = im.act(node)
    axis = attrs.get("axis", 1)
    shape = im.onnx_shape(x)
    return _flatten_to(im, node, x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))


def _reshape(im: _Importer, node, attrs):
    x = im.act(node)
    target = [int(d) for d in im.const(node, 1, "a constant shape")]
    onnx_shape = im.onnx_shape(x)
    target = [onnx_shape[i] if d == 0 else d for i, d in enumerate(target)]
    return _flatten_to(im, node, x, np.empty(onnx_shape, np.int8).reshape(target).shape)


def _squeeze(im: _Importer, node, attrs):
    x = im.act(node)
    axes = attrs.get("axes", im.const(node, 1))
    onnx_shape = im.onnx_shape(x)
    shape = np.squeeze(np.empty(onnx_shape, np.int8), axis=None if axes is None else tuple(int(a) for a in np.ravel(axes))).shape
    return _flatten_to(im, node, x, shape)


def _dense(im: _Importer, node, attrs):
    x = im.act(node)
    if node.op_type == "Gemm":
        if attrs.get("transA", 0):
            im.fail(node, "transA=1 is not supported")
        b = im.const(node, 1, "constant weights")
        w = (b if attrs.get("transB", 0) else b.T) * attrs.get("alpha", 1.0)
        c = im.const(node, 2)
        bias = np.zeros(w.shape[0], np.float32) if c is None else np.broadcast_to(c * attrs.get("beta", 1.0), (w.shape[0],))
    else:
        b = im.const(node, 1, "constant weights")
        if b.ndim != 2:
            im.fail(node, "MatMul needs a constant 2-D second operand")
        w, bias = b.T, np.zeros(b.shape[1], np.float32)
    if len(x.tensor.shape) != 2 or x.layout != PLAIN:
        im.fail(node, f"a dense layer on a {len(x.tensor.shape)}-D activation is not supported; flatten it first")
    if x.flat_chw is not None:  # the input was flattened from NCHW; mlc's holds it in HWC order
        c, h, wd = x.flat_chw
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    weights = im.const_tensor(f"{node.output[0]}_weights", w)
    if attrs.get("alpha", 1.0) == 1.0:  # else the weights are no longer the model's integers times its scales
        transposed = node.op_type == "Gemm" and attrs.get("transB", 0)
        onnx_quantized.fix_weights(im, node, node.input[1], weights, onnx_axis=0 if transposed else 1, mlc_axis=0)
    bias_t = im.const_tensor(f"{node.output[0]}_bias", bias)
    return im.emit("FULLY_CONNECTED", [x.tensor, weights, bias_t], node.output[0],
                   {"activation": "NONE", "keep_num_dims": False}, shape=(1, w.shape[0]))


def _softmax(im: _Importer, node, attrs):
    x = im.act(node)
    if im.axis(x, attrs.get("axis", -1)) != len(x.tensor.shape) - 1:
        im.fail(node, "softmax over an axis other than the last is not supported")
    return im.emit("SOFTMAX", [x.tensor], node.output[0], {"beta": 1.0}, layout=x.layout)


def _concat(im: _Importer, node, attrs):
    xs = [im.act(node, i) for i in range(len(node.input))]
    axis = im.axis(xs[0], attrs["axis"])
    return im.emit("CONCATENATION", [v.tensor for v in xs], node.output[0], {"axis": axis, "activation": "NONE"},
                   layout=xs[0].layout)


def _pad(im: _Importer, node, attrs):
    x = im.act(node)
    mode = attrs.get("mode", b"constant")
    pads = im.const(node, 1, "constant pads")
    value = im.const(node, 2)
    if (mode.decode() if isinstance(mode, bytes) else mode) != "constant" or (value is not None and float(np.ravel(value)[0]) != 0):
        im.fail(node, "only zero padding is supported")
    rank = len(im.onnx_shape(x))
    pairs = np.stack([pads[:rank], pads[rank:]], axis=1).astype(np.int32)
    if x.layout == NCW:
        pairs = np.insert(pairs, 2, 0, axis=0)  # NCW -> NCHW with H = 1
    if x.layout in HELD_NHWC:
        pairs = pairs[[0, 2, 3, 1]]
    paddings = im.const_tensor(f"{node.output[0]}_paddings", pairs, "int32")
    return im.emit("PAD", [x.tensor, paddings], node.output[0], layout=x.layout)


def _transpose(im: _Importer, node, attrs):
    x = im.act(node)
    perm = tuple(attrs.get("perm", ()))
    if x.layout == NHWC and perm == (0, 2, 3, 1):
        im.values[node.output[0]] = Value(x.tensor, PLAIN)
    elif x.layout == PLAIN and len(x.tensor.shape) == 4 and perm == (0, 3, 1, 2):
        im.values[node.output[0]] = Value(x.tensor, NHWC)
    else:
        im.fail(node, f"transpose {perm} of a {len(im.onnx_shape(x))}-D activation is not a layout change mlc can fold")
    return None


def _identity(im: _Importer, node, attrs):
    im.values[node.output[0]] = im.act(node)
    return None


HANDLERS = {
    "Conv": _conv, "BatchNormalization": _batch_norm, "Gemm": _dense, "MatMul": _dense,
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary,
    "Relu": _activation("RELU"), "Clip": _clip, "Sigmoid": _activation("LOGISTIC"), "Tanh": _activation("TANH"),
    "Softmax": _softmax, "MaxPool": _pool("MAX_POOL_2D"), "AveragePool": _pool("AVERAGE_POOL_2D"),
    "GlobalAveragePool": _global_average_pool, "ReduceMean": _reduce_mean,
    "Flatten": _flatten, "Reshape": _reshape, "Squeeze": _squeeze, "Concat": _concat, "Pad": _pad,
    "Transpose": _transpose, "Identity": _identity, "Dropout": _identity,
}
QUANTIZED_HANDLERS = onnx_quantized.HANDLERS


def _input_shape(path, vi) -> tuple:
    dims = vi.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if any(d is None for d in shape[1:]):
        raise MlcError(f"{path}: input '{vi.name}' has dynamic dimensions {[d.dim_param or d.dim_value for d in dims]}; "
                       "export with a fixed shape (batch of one)")
    if shape and shape[0] not in (None, 1):
        raise MlcError(f"{path}: input '{vi.name}' has a batch of {shape[0]}; export with a batch of one")
    return tuple([1] + shape[1:])


def read(path) -> tuple[Graph, tuple, list]:
    """The float graph of an ONNX model, its 4-D (and 3-D) inputs and activations in NHWC; each ONNX input's
    layout, "nchw", "ncw" or "plain" (calibration data comes so and is transposed); and, for a model already
    quantized, notes on
    where its arithmetic and the TFLite int8 kernels' differ (its quantization is on the graph's tensors)."""
    path = str(path)
    onnx, numpy_helper, ReferenceEvaluator = _onnx()
    try:
        model = onnx.load(path)
    except Exception as err:  # protobuf's DecodeError and friends
        raise MlcError(f"{path}: not a readable ONNX model ({type(err).__name__})") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise MlcError(f"{path}: opset {opset}; mlc reads ONNX opset {MIN_OPSET} or later (re-export, or convert with onnx.version_converter)")
    g = model.graph
    im = _Importer(path)
    for init in g.initializer:
        im.consts[init.name] = numpy_helper.to_array(init)
    inputs = [vi for vi in g.input if vi.name not in im.consts]
    if not inputs:
        raise MlcError(f"{path}: the model has no input")
    for vi in inputs:
        if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            raise MlcError(f"{path}: input '{vi.name}' is not float32")
        shape = _input_shape(path, vi)
        if len(shape) == 4:
            im.values[vi.name] = Value(im.tensor(vi.name, (shape[0], shape[2], shape[3], shape[1])), NHWC)
        elif len(shape) == 3:  # a sequence of channel vectors, for Conv1d: NCW
            im.values[vi.name] = Value(im.tensor(vi.name, (shape[0], 1, shape[2], shape[1])), NCW)
        else:
            im.values[vi.name] = Value(im.tensor(vi.name, shape), PLAIN)
    graph_inputs = [im.values[vi.name].tensor for vi in inputs]
    input_layouts = tuple({NHWC: "nchw", NCW: "ncw"}.get(im.values[vi.name].layout, "plain") for vi in inputs)
    for node in g.node:
        if node.domain not in ("", "ai.onnx") and not (node.domain == "com.microsoft"
                                                       and node.op_type in onnx_quantized.MICROSOFT_OPS):
            im.fail(node, f"operator domain '{node.domain}' is not supported")
        attrs = _attrs(onnx, node)
        if node.op_type == "Constant":
            im.consts[node.output[0]] = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.array(
                next(iter(attrs.values())))
            continue
        if node.op_type == "Shape" and node.input[0] in im.values:
            im.consts[node.output[0]] = np.array(im.onnx_shape(im.values[node.input[0]]), np.int64)
            continue
        if node.op_type == "DequantizeLinear" and node.input[0] in im.consts:  # quantized weights, bias
            onnx_quantized.dequantize_constant(im, node.output[0], im.consts[node.input[0]], im.const(node, 1),
                                               im.const(node, 2), attrs.get("axis", 1))
            continue
        if all(not name or name in im.consts for name in node.input):
            try:
                results = ReferenceEvaluator(node).run(None, {name: im.consts[name] for name in node.input if name})
            except Exception as err:
                im.fail(node, f"cannot evaluate on constants ({type(err).__name__}: {err})")
            im.consts.update(zip(node.output, (np.asarray(r) for r in results)))
            continue
        handler = HANDLERS.get(node.op_type) or QUANTIZED_HANDLERS.get(node.op_type)
        if handler is None:
            im.fail(node, f"{node.op_type} is not supported (supported: "
                          f"{', '.join(sorted(HANDLERS) + sorted(QUANTIZED_HANDLERS))})")
        if len([o for o in node.output if o]) > 1 and node.op_type not in ("Dropout", "BatchNormalization"):
            im.fail(node, "nodes with several outputs are not supported")
        value = handler(im, node, attrs)
        if value is not None:
            im.values[node.output[0]] = value
    outputs = []
    for vi in g.output:
        if vi.name not in im.values:
            raise MlcError(f"{path}: output '{vi.name}' is a constant or is not computed")
        outputs.append(im.values[vi.name].tensor)
    graph = Graph(name=path.rsplit("/", 1)[-1].rsplit(".", 1)[0], path=path, tensors=im.tensors, ops=im.ops,
                  inputs=graph_inputs, outputs=outputs)
    return graph, input_layouts, im.notes
