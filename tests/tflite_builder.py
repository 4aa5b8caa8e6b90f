"""Write small int8 .tflite models in memory, for tests (no TensorFlow needed).

The flatbuffer is written by codegen.model.tflite_write (the ``flatbuffers`` Builder and the generated
``tflite`` schema functions, ``tflite.TensorStart``, ``tflite.Conv2DOptionsAddStrideW``, ...).

Quick start::

    from tests.tflite_builder import ModelBuilder, quantize_symmetric, run_tflm

    b = ModelBuilder()
    x = b.input([1, 9, 7, 3], scale=0.05, zero_point=-3)          # int8 activation
    wq, ws = quantize_symmetric(np.random.randn(5, 3, 3, 3), axis=0)  # OHWI, per channel
    w = b.const_int8(wq, scales=ws, axis=0)
    bias = b.const_int32(np.arange(5), scales=x.scale * ws)
    y = b.conv_2d(x, w, bias, out_scale=0.1, out_zero_point=5, stride=(2, 1),
                  dilation=(1, 2), padding="SAME", activation="RELU6")
    b.output(y)
    data: bytes = b.finish()
    (out,) = run_tflm(data, [np.zeros((1, 9, 7, 3), np.int8)])

API (all shapes are lists of ints; every op method returns the output ``T``):

* ``T``: handle of a tensor: ``.index .shape .dtype .scale .zero_point .axis``
  (``scale``/``zero_point`` are floats/ints for per-tensor, numpy arrays for per-channel, None
  for unquantized tensors).
* ``ModelBuilder()``
    - ``input(shape, scale=1.0, zero_point=0, dtype="int8")``  (dtype "float32": unquantized)
    - ``const_int8(values, scales, zero_points=0, axis=None)``  (per-channel when scales is a
      sequence; ``axis`` is the quantized dimension)
    - ``const_int32(values, scales=None)``  (bias: scales = input scale * weight scales)
    - ``bias(values, scales)``  (int32, or int64 in a ``ModelBuilder(act_dtype="int16")``: 16x8 models)
    - ``const(values, dtype, scale=None, zero_point=None, axis=None)``  (the general form)
    - ``conv_2d(x, w, bias, out_scale, out_zero_point, stride=(1,1), dilation=(1,1),
      padding="SAME", activation="NONE")``  w: [Cout, KH, KW, Cin]; bias required (int32)
    - ``depthwise_conv_2d(x, w, bias, out_scale, out_zero_point, depth_multiplier=1,
      stride=(1,1), dilation=(1,1), padding="SAME", activation="NONE")``  w: [1, KH, KW, Cin*M],
      per-channel axis 3; bias required (TFLM's kernel crashes without one)
    - ``transpose_conv(x, w, bias, out_scale, out_zero_point, out_hw, stride=(1,1), padding="SAME",
      activation="NONE")``  w: [Cout, KH, KW, Cin]; bias may be None
    - ``fully_connected(x, w, bias, out_scale, out_zero_point, keep_num_dims=False,
      activation="NONE")``  w: [units, K]; bias may be None
    - ``average_pool_2d(x, filter, stride=None, padding="VALID", activation="NONE")`` and
      ``max_pool_2d(...)`` (output quantization = input's, as TFLite requires)
    - ``add(a, b, out_scale, out_zero_point, activation="NONE")``, ``mul(...)`` (numpy
      broadcasting, rank <= 4)
    - ``sub(a, b, out_scale, out_zero_point, activation="NONE")``, ``squared_difference(a, b,
      out_scale, out_zero_point)``, ``maximum(a, b)``, ``minimum(a, b)`` (broadcasting; the
      output of MAXIMUM/MINIMUM is quantized like a), ``prelu(x, alpha, out_scale, out_zero_point)``
    - ``unary(opname, x, out_scale=None, out_zero_point=None, options=None)`` (RELU, RELU6,
      HARD_SWISH, ABS, RSQRT, ELU), ``leaky_relu(x, alpha, out_scale=None, out_zero_point=None)``
    - ``softmax(x, beta=1.0)``, ``logistic(x)``, ``tanh(x)`` (output quantization fixed by the
      int8 spec: 1/256,-128 ; 1/256,-128 ; 1/128,0)
    - ``reshape(x, shape, shape_input=True)`` (-1 allowed; shape_input=False puts the shape
      only in ReshapeOptions.new_shape)
    - ``concatenation(xs, axis)`` (inputs must share quantization, like TFLM's int8 kernel)
    - ``pack(xs, axis, out_scale=None, out_zero_point=None)`` (TFLM copies bytes whatever the quantization)
    - ``mean(x, axes, keep_dims, out_scale=None, out_zero_point=None)`` (default: input's)
    - ``pad(x, paddings)``, ``padv2(x, paddings, constant=None)`` (paddings [[before, after]]
      per dim; constant is an int8 value, default the zero point)
    - ``float_op(opname, *xs, activation="NONE")`` (a float32 op on float32 tensors, e.g. between
      ``dequantize`` and ``quantize``)
    - ``split(x, axis, num)``, ``split_v(x, sizes, axis)``, ``unpack(x, axis)`` (lists of outputs)
    - ``transpose(x, perm)``, ``slice(x, begin, size)`` (size -1: to the end),
      ``strided_slice(x, begin, end, strides, begin_mask=0, end_mask=0, shrink_axis_mask=0)``
    - ``resize_nearest_neighbor(x, size, align_corners=False, half_pixel_centers=False)`` (NHWC)
    - ``arg_min_max(x, axis, op="ARG_MAX"|"ARG_MIN")`` (int32 output)
    - ``depth_to_space(x, block_size)``, ``space_to_depth(x, block_size)`` (NHWC), ``space_to_batch_nd(x, block,
      paddings)``, ``batch_to_space_nd(x, block, crops)`` (NHC or NHWC), ``gather(x, indices,
      axis=0)`` (indices: constant values or an int32 T), ``mirror_pad(x, paddings, mode="REFLECT"|"SYMMETRIC")``
    - ``quantize(x, out_scale, out_zero_point, dtype="int8")`` (float32->int8 or int8->int8)
    - ``dequantize(x)`` (int8 -> float32)
    - ``output(t)``; ``finish() -> bytes``
* Helpers: ``quantize_symmetric(w, axis=None) -> (int8 array, scales)``,
  ``quantize(x_float, scale, zero_point, dtype="int8")``, ``dequantize(q, scale, zero_point)``,
  ``out_size(padding, size, kernel, stride, dilation)`` (codegen.ops.conv's),
  ``run_tflm(model_bytes, inputs, preserve_all=False) -> list of outputs`` (and
  ``tflm_interpreter(model_bytes, preserve_all=False)``).
* ``FIXED_OUTPUT_QUANT``: {op: (scale, zero_point)} for SOFTMAX/LOGISTIC/TANH.
* ``ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import tflite

from codegen.model.tflite_write import Writer
from codegen.ops.conv import out_size

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
_NP_DTYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "float32": np.float32}
# Output quantization that TFLite's int8 spec imposes on these ops.
FIXED_OUTPUT_QUANT = {"SOFTMAX": (1 / 256, -128), "LOGISTIC": (1 / 256, -128),
                      "TANH": (1 / 128, 0), "LOG_SOFTMAX": (16 / 256, 127)}


# ----------------------------------------------------------------------------- helpers
def quantize(x, scale, zero_point, dtype="int8"):
    """Affine-quantize a float array (numpy's round: halves to even; test data, not the product's rule)."""
    info = np.iinfo(_NP_DTYPES[dtype])
    q = np.round(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(_NP_DTYPES[dtype])


def dequantize(q, scale, zero_point=0, axis=None):
    """Real value of a quantized array (per-channel if scale is an array and axis is given)."""
    q = np.asarray(q, np.float64)
    if axis is not None and np.ndim(scale):
        bshape = [1] * q.ndim
        bshape[axis] = -1
        scale = np.reshape(scale, bshape)
        zero_point = np.reshape(np.broadcast_to(zero_point, np.shape(scale)), bshape)
    return (q - zero_point) * scale


def quantize_symmetric(w, axis=None, bits=8):
    """Symmetric (zero point 0) quantization of weights, per tensor or per channel along axis.
    Returns (int8 array, scales) where scales is a float or a float32 array."""
    w = np.asarray(w, np.float64)
    qmax = 2 ** (bits - 1) - 1
    if axis is None:
        scale = max(float(np.abs(w).max()), 1e-6) / qmax
        return np.clip(np.round(w / scale), -qmax, qmax).astype(np.int8), scale
    red = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
    scales = np.maximum(np.abs(w).max(axis=red), 1e-6).astype(np.float32) / qmax
    q = dequantize(w, 1 / scales.astype(np.float64), 0, axis)  # w / scale along axis
    return np.clip(np.round(q), -qmax, qmax).astype(np.int8), scales


def tflm_interpreter(model: bytes, preserve_all=False, arena_size=None):
    """TFLM's interpreter, made the one way mlc makes it (codegen.model.tflm)."""
    from codegen.model.tflm import interpreter

    return interpreter(bytes(model), preserve_all=preserve_all, arena_size=arena_size)


def run_tflm(model: bytes, inputs: Sequence[np.ndarray], arena_size=None) -> list[np.ndarray]:
    """Run a model once in tflite-micro (reference kernels); return all outputs."""
    interp = tflm_interpreter(model, arena_size=arena_size)
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    n_out = tflite.Model.GetRootAsModel(bytes(model), 0).Subgraphs(0).OutputsLength()
    return [interp.get_output(i).copy() for i in range(n_out)]


# ----------------------------------------------------------------------------- builder
@dataclass
class T:
    """A tensor handle returned by ModelBuilder methods."""
    index: int
    shape: list
    dtype: str
    scale: Any = None        # float, np.ndarray (per channel) or None
    zero_point: Any = None   # int, np.ndarray or None
    axis: int | None = None  # quantized dimension for per-channel tensors

    @property
    def quant(self):
        return self.scale, self.zero_point


class ModelBuilder(Writer):
    """Accumulates tensors/ops of one subgraph; ``finish()`` (codegen.model.tflite_write) serializes it."""

    def __init__(self, description="mlc tests/tflite_builder", act_dtype="int8"):
        """act_dtype: the activations' type when an op does not say ("int16": TFLite's 16x8 models,
        int64 biases)."""
        super().__init__(description)
        self.act_dtype = act_dtype

    # -- tensor creation (the one place quantized tensors are made)
    def _tensor(self, shape, dtype, scale=None, zero_point=None, axis=None, data=None,
                name=None) -> T:
        shape = [int(s) for s in shape]
        if scale is not None:
            if np.ndim(scale):
                scale = np.asarray(scale, np.float32).ravel()
                zero_point = np.broadcast_to(np.asarray(zero_point or 0, np.int64),
                                             scale.shape).copy()
                axis = 0 if axis is None else axis % len(shape)
                assert scale.size == shape[axis], "one scale per channel of the quantized axis"
            else:
                scale, zero_point, axis = float(scale), int(zero_point or 0), None
        idx = self.add_tensor(shape, dtype, scale, zero_point, axis, data, name)
        return T(idx, shape, dtype, scale, zero_point, axis)

    def input(self, shape, scale=1.0, zero_point=0, dtype=None, name=None) -> T:
        dtype = dtype or self.act_dtype
        q = (None, None) if dtype == "float32" else (scale, zero_point)
        t = self._tensor(shape, dtype, *q, name=name or f"input{len(self._inputs)}")
        self.add_input(t.index)
        return t

    def output(self, t: T):
        self.add_output(t.index)
        return t

    def const(self, values, dtype, scale=None, zero_point=None, axis=None, name=None) -> T:
        values = np.asarray(values)
        return self._tensor(values.shape, dtype, scale, zero_point, axis, values, name)

    def const_int8(self, values, scales, zero_points=0, axis=None, name=None) -> T:
        return self.const(values, "int8", scales, zero_points, axis, name)

    def const_int32(self, values, scales=None, name=None) -> T:
        return self.const(values, "int32", scales, 0 if scales is not None else None, 0,
                          name)

    def bias(self, values, scales, name=None) -> T:
        """The bias of a weighted op: int32 for int8 activations, int64 for int16 ones."""
        dtype = "int64" if self.act_dtype == "int16" else "int32"
        return self.const(np.asarray(values, dtype), dtype, scales, 0, 0, name)

    def _activation_tensor(self, shape, scale, zero_point, dtype=None, name=None) -> T:
        return self._tensor(shape, dtype or self.act_dtype, scale, zero_point, name=name)

    def _op(self, opname, inputs, out: T, options=None) -> T:
        self.add_op(opname, [-1 if i is None else i.index for i in inputs], [out.index], options)
        self._tensors[out.index]["name"] = f"{opname.lower()}_{len(self._ops) - 1}"
        return out

    # -- ops
    @staticmethod
    def _act(activation):
        assert activation in ACTIVATIONS, activation
        return getattr(tflite.ActivationFunctionType, activation)

    @staticmethod
    def _pad(padding):
        return getattr(tflite.Padding, padding)

    def conv_2d(self, x, w, bias, out_scale, out_zero_point, stride=(1, 1), dilation=(1, 1),
                padding="SAME", activation="NONE") -> T:
        assert bias is not None, "TFLM's conv kernels need a bias tensor (the converter writes one)"
        n, h, wd, _ = x.shape
        cout, kh, kw, _ = w.shape
        oh = out_size(padding, h, kh, stride[0], dilation[0])
        ow = out_size(padding, wd, kw, stride[1], dilation[1])
        out = self._activation_tensor([n, oh, ow, cout], out_scale, out_zero_point)
        return self._op("CONV_2D", [x, w, bias], out, ("Conv2DOptions", dict(
            Padding=self._pad(padding), StrideH=stride[0], StrideW=stride[1],
            DilationHFactor=dilation[0], DilationWFactor=dilation[1],
            FusedActivationFunction=self._act(activation))))

    def depthwise_conv_2d(self, x, w, bias, out_scale, out_zero_point, depth_multiplier=1,
                          stride=(1, 1), dilation=(1, 1), padding="SAME",
                          activation="NONE") -> T:
        assert bias is not None, "TFLM's depthwise kernel needs a bias tensor (segfaults without)"
        n, h, wd, cin = x.shape
        _, kh, kw, cout = w.shape
        assert cout == cin * depth_multiplier, "filter is [1, KH, KW, Cin*depth_multiplier]"
        oh = out_size(padding, h, kh, stride[0], dilation[0])
        ow = out_size(padding, wd, kw, stride[1], dilation[1])
        out = self._activation_tensor([n, oh, ow, cout], out_scale, out_zero_point)
        return self._op("DEPTHWISE_CONV_2D", [x, w, bias], out, ("DepthwiseConv2DOptions", dict(
            Padding=self._pad(padding), StrideH=stride[0], StrideW=stride[1],
            DepthMultiplier=depth_multiplier, DilationHFactor=dilation[0],
            DilationWFactor=dilation[1], FusedActivationFunction=self._act(activation))))

    def transpose_conv(self, x, w, bias, out_scale, out_zero_point, out_hw, stride=(1, 1), padding="SAME",
                       activation="NONE") -> T:
        """w: [Cout, KH, KW, Cin]; out_hw the output's height and width (TFLite takes them as an input)."""
        out_shape = [x.shape[0], *out_hw, w.shape[0]]
        out = self._activation_tensor(out_shape, out_scale, out_zero_point)
        return self._op("TRANSPOSE_CONV", [self.const_int32(out_shape), w, x] + ([bias] if bias is not None else []), out,
                        ("TransposeConvOptions", dict(Padding=self._pad(padding), StrideH=stride[0], StrideW=stride[1],
                                                      FusedActivationFunction=self._act(activation))))

    def variable(self, shape, dtype, scale, zero_point, name=None) -> T:
        """A state tensor (is_variable, no buffer): an op reads and updates it across invokes."""
        idx = self.add_tensor(shape, dtype, float(scale), int(zero_point), None, None, name, variable=True)
        return T(idx, [int(s) for s in shape], dtype, float(scale), int(zero_point))

    def unidirectional_sequence_lstm(self, x, weights, biases, hidden, cell, out_scale, out_zero_point,
                                     time_major=False, cell_clip=0.0, activation="TANH") -> T:
        """The standard (Keras) LSTM: 8 weight tensors (4 input, 4 recurrent), 4 biases, hidden and cell
        state variables at inputs 18 and 19; no peephole, projection or layer norm."""
        steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
        out = self._activation_tensor([steps, batch, hidden.shape[-1]] if time_major else [batch, steps, hidden.shape[-1]],
                                      out_scale, out_zero_point)
        inputs = [x, *weights, None, None, None, *biases, None, None, hidden, cell, None, None, None, None]
        return self._op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, out, ("UnidirectionalSequenceLSTMOptions", {
            "FusedActivationFunction": getattr(tflite.ActivationFunctionType, activation), "CellClip": float(cell_clip), "ProjClip": 0.0,
            "TimeMajor": bool(time_major), "AsymmetricQuantizeInputs": False}))

    def fully_connected(self, x, w, bias, out_scale, out_zero_point, keep_num_dims=False,
                        activation="NONE") -> T:
        units, k = w.shape
        assert x.shape[-1] == k, "last input dim must equal the weights' K"
        shape = (x.shape[:-1] if keep_num_dims else [int(np.prod(x.shape)) // k]) + [units]
        out = self._activation_tensor(shape, out_scale, out_zero_point)
        return self._op("FULLY_CONNECTED", [x, w, bias], out, ("FullyConnectedOptions", dict(
            FusedActivationFunction=self._act(activation), KeepNumDims=keep_num_dims)))

    def _pool(self, opname, x, filter, stride, padding, activation) -> T:
        stride = stride or filter
        n, h, wd, c = x.shape
        oh = out_size(padding, h, filter[0], stride[0], 1)
        ow = out_size(padding, wd, filter[1], stride[1], 1)
        out = self._activation_tensor([n, oh, ow, c], x.scale, x.zero_point)
        return self._op(opname, [x], out, ("Pool2DOptions", dict(
            Padding=self._pad(padding), StrideH=stride[0], StrideW=stride[1],
            FilterHeight=filter[0], FilterWidth=filter[1],
            FusedActivationFunction=self._act(activation))))

    def average_pool_2d(self, x, filter, stride=None, padding="VALID", activation="NONE") -> T:
        return self._pool("AVERAGE_POOL_2D", x, filter, stride, padding, activation)

    def max_pool_2d(self, x, filter, stride=None, padding="VALID", activation="NONE") -> T:
        return self._pool("MAX_POOL_2D", x, filter, stride, padding, activation)

    def _binary(self, opname, a, b, out_scale, out_zero_point, activation) -> T:
        shape = list(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
        out = self._activation_tensor(shape, out_scale, out_zero_point)
        opts = opname.capitalize() + "Options"
        return self._op(opname, [a, b], out,
                        (opts, dict(FusedActivationFunction=self._act(activation))))

    def add(self, a, b, out_scale, out_zero_point, activation="NONE") -> T:
        return self._binary("ADD", a, b, out_scale, out_zero_point, activation)

    def mul(self, a, b, out_scale, out_zero_point, activation="NONE") -> T:
        return self._binary("MUL", a, b, out_scale, out_zero_point, activation)

    def sub(self, a, b, out_scale, out_zero_point, activation="NONE") -> T:
        return self._binary("SUB", a, b, out_scale, out_zero_point, activation)

    def _plain_binary(self, opname, a, b, out_scale, out_zero_point, options) -> T:
        shape = list(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
        return self._op(opname, [a, b], self._activation_tensor(shape, out_scale, out_zero_point),
                        options and (options, {}))

    def maximum(self, a, b) -> T:  # TFLM compares the raw int8 values: the output is quantized like a
        return self._plain_binary("MAXIMUM", a, b, a.scale, a.zero_point, "MaximumMinimumOptions")

    def minimum(self, a, b) -> T:
        return self._plain_binary("MINIMUM", a, b, a.scale, a.zero_point, "MaximumMinimumOptions")

    def squared_difference(self, a, b, out_scale, out_zero_point) -> T:
        return self._plain_binary("SQUARED_DIFFERENCE", a, b, out_scale, out_zero_point, "SquaredDifferenceOptions")

    def prelu(self, x, alpha, out_scale, out_zero_point) -> T:
        """alpha: an int8 tensor (a constant, as the converter writes it) broadcast against x."""
        return self._plain_binary("PRELU", x, alpha, out_scale, out_zero_point, None)

    def batch_matmul(self, a, b, out_scale, out_zero_point, adj_x=False, adj_y=False) -> T:
        """a @ b over broadcast batch dimensions; adj_x / adj_y: that operand is stored transposed."""
        rank = max(len(a.shape), len(b.shape))
        ea, eb = [1] * (rank - len(a.shape)) + list(a.shape), [1] * (rank - len(b.shape)) + list(b.shape)
        rows, cols = ea[-1] if adj_x else ea[-2], eb[-2] if adj_y else eb[-1]
        shape = list(np.broadcast_shapes(tuple(ea[:-2]), tuple(eb[:-2]))) + [rows, cols]
        return self._op("BATCH_MATMUL", [a, b], self._activation_tensor(shape, out_scale, out_zero_point),
                        ("BatchMatMulOptions", dict(AdjX=adj_x, AdjY=adj_y)))

    def unary(self, opname, x, out_scale=None, out_zero_point=None, options=None) -> T:
        """RELU, RELU6, HARD_SWISH, ... (output quantization: the input's unless given)."""
        out = self._activation_tensor(x.shape, x.scale if out_scale is None else out_scale,
                                      x.zero_point if out_zero_point is None else out_zero_point)
        return self._op(opname, [x], out, options)

    def leaky_relu(self, x, alpha, out_scale=None, out_zero_point=None) -> T:
        return self.unary("LEAKY_RELU", x, out_scale, out_zero_point, ("LeakyReluOptions", dict(Alpha=float(alpha))))

    def _fixed_out(self, opname, x, options=None) -> T:
        quant = (1 / 32768, 0) if x.dtype == "int16" else FIXED_OUTPUT_QUANT[opname]  # int16: Q0.15 for all three
        out = self._activation_tensor(x.shape, *quant, dtype=x.dtype)
        return self._op(opname, [x], out, options)

    def softmax(self, x, beta=1.0) -> T:
        return self._fixed_out("SOFTMAX", x, ("SoftmaxOptions", dict(Beta=float(beta))))

    def logistic(self, x) -> T:
        return self._fixed_out("LOGISTIC", x)

    def l2_normalization(self, x, out_scale=1 / 128, out_zero_point=0) -> T:
        return self.unary("L2_NORMALIZATION", x, out_scale, out_zero_point, ("L2NormOptions", {}))

    def cast(self, x, dtype) -> T:
        """CAST to dtype (TFLM ignores quantization: a float32 output has none, an integer one keeps x's)."""
        q = (None, None) if dtype == "float32" else (x.scale or 1.0, x.zero_point or 0)
        return self._op("CAST", [x], self._tensor(x.shape, dtype, *q), ("CastOptions", {}))

    def log_softmax(self, x) -> T:
        return self._fixed_out("LOG_SOFTMAX", x, ("LogSoftmaxOptions", {}))

    def tanh(self, x) -> T:
        return self._fixed_out("TANH", x)

    def reshape(self, x, shape, shape_input=True) -> T:
        shape = [int(s) for s in shape]
        full = list(np.empty(x.shape, np.int8).reshape(shape).shape)  # resolves -1
        out = self._activation_tensor(full, x.scale, x.zero_point, x.dtype)
        if shape_input:
            return self._op("RESHAPE", [x, self.const_int32(shape)], out)
        return self._op("RESHAPE", [x], out, ("ReshapeOptions", dict(NewShape=shape)))

    def concatenation(self, xs: Sequence[T], axis: int) -> T:
        assert all(t.quant == xs[0].quant for t in xs), "TFLM int8 concat copies bytes: " \
                                                        "inputs need one quantization"
        shape = list(np.concatenate([np.empty(t.shape, np.int8) for t in xs], axis).shape)
        out = self._activation_tensor(shape, xs[0].scale, xs[0].zero_point, xs[0].dtype)
        return self._op("CONCATENATION", list(xs), out, ("ConcatenationOptions", dict(
            Axis=axis, FusedActivationFunction=self._act("NONE"))))

    def pack(self, xs: Sequence[T], axis: int, out_scale=None, out_zero_point=None) -> T:
        shape = list(np.stack([np.empty(t.shape, np.int8) for t in xs], axis).shape)
        out = self._activation_tensor(shape, xs[0].scale if out_scale is None else out_scale,
                                      xs[0].zero_point if out_zero_point is None else out_zero_point, xs[0].dtype)
        return self._op("PACK", list(xs), out, ("PackOptions", dict(ValuesCount=len(xs), Axis=axis)))

    def mean(self, x, axes, keep_dims=False, out_scale=None, out_zero_point=None, op="MEAN") -> T:
        """MEAN, or op="SUM" / "REDUCE_MAX" / "REDUCE_MIN" (the same ReducerOptions)."""
        shape = list(np.empty(x.shape, np.int8).mean(axis=tuple(axes), keepdims=keep_dims)
                     .shape)
        out = self._activation_tensor(shape, out_scale or x.scale, x.zero_point if out_zero_point is None else out_zero_point,
                                      x.dtype)
        return self._op(op, [x, self.const_int32(list(axes))], out,
                        ("ReducerOptions", dict(KeepDims=keep_dims)))

    def pad(self, x, paddings) -> T:
        return self._pad_op("PAD", x, paddings, None)

    def padv2(self, x, paddings, constant=None) -> T:
        c = self.const([x.zero_point if constant is None else constant], x.dtype, x.scale, x.zero_point)
        return self._pad_op("PADV2", x, paddings, c)

    def _pad_op(self, opname, x, paddings, constant) -> T:
        paddings = np.asarray(paddings, np.int32).reshape(len(x.shape), 2)
        shape = [d + int(p.sum()) for d, p in zip(x.shape, paddings)]
        out = self._activation_tensor(shape, x.scale, x.zero_point, x.dtype)
        ins = [x, self.const_int32(paddings)] + ([constant] if constant is not None else [])
        return self._op(opname, ins, out, (opname.capitalize().replace("v2", "V2") + "Options",
                                            {}))

    def _multi(self, opname, inputs, shapes, x, options) -> list:
        outs = [self._activation_tensor(shape, x.scale, x.zero_point, x.dtype) for shape in shapes]
        self.add_op(opname, [i.index for i in inputs], [o.index for o in outs], options)
        for j, o in enumerate(outs):
            self._tensors[o.index]["name"] = f"{opname.lower()}_{len(self._ops) - 1}_{j}"
        return outs

    def split(self, x, axis, num) -> list:
        shape = list(x.shape)
        shape[axis] //= num
        return self._multi("SPLIT", [self.const_int32([axis]), x], [shape] * num, x, ("SplitOptions", dict(NumSplits=num)))

    def split_v(self, x, sizes, axis) -> list:
        """sizes may hold one -1 (the rest of the axis)."""
        rest = x.shape[axis] - sum(s for s in sizes if s != -1)
        shapes = [[(rest if s == -1 else s) if d == axis % len(x.shape) else n for d, n in enumerate(x.shape)] for s in sizes]
        return self._multi("SPLIT_V", [x, self.const_int32(list(sizes)), self.const_int32([axis])], shapes, x,
                           ("SplitVOptions", dict(NumSplits=len(sizes))))

    def unpack(self, x, axis) -> list:
        shape = [n for d, n in enumerate(x.shape) if d != axis % len(x.shape)]
        return self._multi("UNPACK", [x], [shape] * x.shape[axis], x, ("UnpackOptions", dict(Num=x.shape[axis], Axis=axis)))

    def transpose(self, x, perm) -> T:
        out = self._activation_tensor([x.shape[p] for p in perm], x.scale, x.zero_point, x.dtype)
        return self._op("TRANSPOSE", [x, self.const_int32(list(perm))], out, ("TransposeOptions", {}))

    def gather_nd(self, x, indices) -> T:
        indices = np.asarray(indices, np.int32)
        out = self._activation_tensor([*indices.shape[:-1], *x.shape[indices.shape[-1]:]], x.scale, x.zero_point)
        return self._op("GATHER_ND", [x, self.const(indices, "int32")], out, ("GatherNdOptions", {}))

    def broadcast_to(self, x, shape) -> T:
        out = self._activation_tensor(shape, x.scale, x.zero_point, dtype=x.dtype)
        return self._op("BROADCAST_TO", [x, self.const_int32(list(shape))], out, ("BroadcastToOptions", {}))

    def fill(self, shape, value) -> T:
        """FILL of constant dims `shape` with the scalar `value` (its type and quantization)."""
        out = self._activation_tensor(shape, value.scale, value.zero_point, dtype=value.dtype)
        return self._op("FILL", [self.const_int32(list(shape)), value], out)

    def zeros_like(self, x) -> T:
        return self._op("ZEROS_LIKE", [x], self._activation_tensor(x.shape, x.scale, x.zero_point, dtype=x.dtype))

    def slice(self, x, begin, size) -> T:
        shape = [d - b if n == -1 else n for b, n, d in zip(begin, size, x.shape)]
        out = self._activation_tensor(shape, x.scale, x.zero_point, x.dtype)
        return self._op("SLICE", [x, self.const_int32(list(begin)), self.const_int32(list(size))], out,
                        ("SliceOptions", {}))

    def strided_slice(self, x, begin, end, strides, begin_mask=0, end_mask=0, shrink_axis_mask=0) -> T:
        """The output shape is TFLite's (TFLM checks it when it loads the model)."""
        from codegen.ops.tensor_ops import _strided_axis

        shape = [_strided_axis(d, b, e, s, begin_mask >> i & 1, end_mask >> i & 1, False)[1]
                 for i, (d, b, e, s) in enumerate(zip(x.shape, begin, end, strides)) if not shrink_axis_mask >> i & 1]
        out = self._activation_tensor(shape, x.scale, x.zero_point, x.dtype)
        return self._op("STRIDED_SLICE", [x] + [self.const_int32(list(v)) for v in (begin, end, strides)], out,
                        ("StridedSliceOptions", dict(BeginMask=begin_mask, EndMask=end_mask,
                                                     ShrinkAxisMask=shrink_axis_mask)))

    def arg_min_max(self, x, axis, op="ARG_MAX") -> T:
        out = self._tensor([n for d, n in enumerate(x.shape) if d != axis % len(x.shape)], "int32")
        return self._op(op, [x, self.const_int32([axis])], out,
                        (("ArgMaxOptions" if op == "ARG_MAX" else "ArgMinOptions"), dict(OutputType=tflite.TensorType.INT32)))

    def depth_to_space(self, x, block_size) -> T:
        n, h, w, c = x.shape
        out = self._activation_tensor([n, h * block_size, w * block_size, c // block_size ** 2], x.scale, x.zero_point)
        return self._op("DEPTH_TO_SPACE", [x], out, ("DepthToSpaceOptions", dict(BlockSize=block_size)))

    def space_to_depth(self, x, block_size) -> T:
        n, h, w, c = x.shape
        out = self._activation_tensor([n, h // block_size, w // block_size, c * block_size ** 2], x.scale, x.zero_point)
        return self._op("SPACE_TO_DEPTH", [x], out, ("SpaceToDepthOptions", dict(BlockSize=block_size)))

    def space_to_batch_nd(self, x, block, paddings) -> T:
        """3-D NHC (one block size, one [before, after] pair) or 4-D NHWC (two of each); TFLite's output shape."""
        block, paddings = [int(v) for v in block], np.asarray(paddings, np.int32).reshape(len(block), 2)
        spatial = [(d + int(p.sum())) // k for d, p, k in zip(x.shape[1:], paddings, block)]
        out = self._activation_tensor([x.shape[0] * int(np.prod(block)), *spatial, x.shape[-1]], x.scale, x.zero_point,
                                      x.dtype)
        return self._op("SPACE_TO_BATCH_ND", [x, self.const_int32(block), self.const_int32(paddings)], out,
                        ("SpaceToBatchNDOptions", {}))

    def batch_to_space_nd(self, x, block, crops) -> T:
        block, crops = [int(v) for v in block], np.asarray(crops, np.int32).reshape(len(block), 2)
        spatial = [d * k - int(c.sum()) for d, c, k in zip(x.shape[1:], crops, block)]
        out = self._activation_tensor([x.shape[0] // int(np.prod(block)), *spatial, x.shape[-1]], x.scale, x.zero_point,
                                      x.dtype)
        return self._op("BATCH_TO_SPACE_ND", [x, self.const_int32(block), self.const_int32(crops)], out,
                        ("BatchToSpaceNDOptions", {}))

    def gather(self, x, indices, axis=0) -> T:
        """indices: an int array (a constant) or an int32 T (an input)."""
        if not isinstance(indices, T):
            indices = self.const(np.asarray(indices, np.int32), "int32")
        a = axis % len(x.shape)
        out = self._activation_tensor(x.shape[:a] + list(indices.shape) + x.shape[a + 1:], x.scale, x.zero_point)
        return self._op("GATHER", [x, indices], out, ("GatherOptions", dict(Axis=axis, BatchDims=0)))

    def mirror_pad(self, x, paddings, mode="REFLECT") -> T:
        paddings = np.asarray(paddings, np.int32).reshape(len(x.shape), 2)
        out = self._activation_tensor([d + int(p.sum()) for d, p in zip(x.shape, paddings)], x.scale, x.zero_point)
        return self._op("MIRROR_PAD", [x, self.const_int32(paddings)], out,
                        ("MirrorPadOptions", dict(Mode=getattr(tflite.MirrorPadMode, mode))))

    def resize_nearest_neighbor(self, x, size, align_corners=False, half_pixel_centers=False,
                                op="RESIZE_NEAREST_NEIGHBOR", options="ResizeNearestNeighborOptions") -> T:
        out = self._activation_tensor([x.shape[0], *size, x.shape[3]], x.scale, x.zero_point, x.dtype)
        return self._op(op, [x, self.const_int32(list(size))], out,
                        (options, dict(AlignCorners=align_corners, HalfPixelCenters=half_pixel_centers)))

    def resize_bilinear(self, x, size, align_corners=False, half_pixel_centers=False) -> T:
        return self.resize_nearest_neighbor(x, size, align_corners, half_pixel_centers, "RESIZE_BILINEAR",
                                            "ResizeBilinearOptions")

    def quantize(self, x, out_scale, out_zero_point, dtype="int8") -> T:
        out = self._activation_tensor(x.shape, out_scale, out_zero_point, dtype)
        return self._op("QUANTIZE", [x], out, ("QuantizeOptions", {}))

    def svdf(self, x, w_feature, w_time, bias, state_quant, out_scale, out_zero_point, rank=1,
             activation="NONE") -> T:
        """SVDF with its state (input 4) a variable tensor of w_time's dtype quantized state_quant=(scale, zp):
        (batch, memory * filters), kept by TFLM across invokes."""
        filters, memory = w_time.shape
        state = self.variable([x.shape[0], memory * filters], w_time.dtype, *state_quant,
                              name=f"svdf_state_{len(self._ops)}")
        out = self._activation_tensor([x.shape[0], filters // rank], out_scale, out_zero_point)
        return self._op("SVDF", [x, w_feature, w_time, bias, state], out,
                        ("SVDFOptions", dict(Rank=int(rank), FusedActivationFunction=self._act(activation))))

    def float_op(self, opname, *xs, activation="NONE") -> T:
        """A float32 op (ADD, SUB, MUL, DIV with a fused activation; SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, NEG,
        RELU, RELU6, ABS, SQRT, RSQRT)."""
        shape = list(np.broadcast_shapes(*(tuple(x.shape) for x in xs)))
        table = {"SQUARED_DIFFERENCE": "SquaredDifferenceOptions", "MAXIMUM": "MaximumMinimumOptions",
                 "MINIMUM": "MaximumMinimumOptions", "RELU": None, "RELU6": None, "SQRT": None, "RSQRT": None}.get(opname, opname.capitalize() + "Options")
        fields = dict(FusedActivationFunction=self._act(activation)) if opname in ("ADD", "SUB", "MUL", "DIV") else {}
        return self._op(opname, list(xs), self._tensor(shape, "float32"), table and (table, fields))

    def dequantize(self, x) -> T:
        return self._op("DEQUANTIZE", [x], self._tensor(x.shape, "float32"),
                        ("DequantizeOptions", {}))

    def model_input(self, t: T) -> T:
        """The model input a strategy's input handle stands for (itself; FloatIslandBuilder's differ)."""
        return t


class FloatIslandBuilder(ModelBuilder):
    """A single-op model's op on float32 inside an island: each input(shape, scale, zero_point) is an int8
    model input DEQUANTIZEd, each output is QUANTIZEd back to the quantization the strategy gave it (else the
    first input's)."""

    def __init__(self, description="mlc tests/tflite_builder"):
        super().__init__(description, act_dtype="float32")
        self._sources, self._quant, self._asked = {}, None, {}

    def _activation_tensor(self, shape, scale, zero_point, dtype=None, name=None) -> T:
        if (dtype or self.act_dtype) != "float32":  # QUANTIZE's output
            return super()._activation_tensor(shape, scale, zero_point, dtype, name)
        t = self._tensor(shape, "float32", name=name)
        if scale is not None:
            self._asked[t.index] = (scale, zero_point)
        return t

    def input(self, shape, scale=1.0, zero_point=0, dtype=None, name=None) -> T:
        x = super().input(shape, scale, zero_point, "int8", name)
        self._quant = self._quant or (scale, zero_point)
        f = self.dequantize(x)
        self._sources[f.index] = x
        return f

    def model_input(self, t: T) -> T:
        return self._sources[t.index]

    def output(self, t: T) -> T:
        return super().output(self.quantize(t, *self._asked.get(t.index, self._quant)))
