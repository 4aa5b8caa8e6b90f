"""Hypothesis strategies that draw random, valid int8 .tflite models (see tests/tflite_builder.py).

Every strategy draws a ``ModelCase``:

* ``case.op``       -- op kind ("CONV_2D", ..., or "MULTI" for the small multi-op models)
* ``case.model``    -- the .tflite flatbuffer (bytes), accepted by tflite-micro
* ``case.inputs``   -- input tensor handles (``T``: shape, dtype, scale, zero_point)
* ``case.outputs``  -- output tensor handles
* ``case.params``   -- everything drawn: options, int8 weights and their scales, int32 bias,
  quantization of inputs/outputs (enough to compute a float reference)
* ``case.make_inputs(seed=0) -> list[np.ndarray]`` -- random inputs of the right shape/dtype
  (int8 over the full range; float32 over a range slightly wider than the output's)

Strategies (keyword arguments, where given, force a variant instead of drawing it):
``conv_2d_models(padding=, activation=)``, ``depthwise_conv_2d_models(padding=, activation=)``,
``fully_connected_models(keep_num_dims=, use_bias=, activation=)``, ``transpose_conv_models(padding=)``,
``pool_models(op="AVERAGE_POOL_2D"|"MAX_POOL_2D", padding=)``, ``add_models()``, ``mul_models()``
(numpy broadcasting, rank <= 4), ``softmax_models()``, ``logistic_models()``, ``tanh_models()``,
``reshape_models(shape_input=)``, ``concatenation_models()`` (any axis, negative too), ``pack_models()``,
``resize_nearest_neighbor_models()``, ``split_models(op=)`` (SPLIT, SPLIT_V, UNPACK, joined back),
``mean_models()`` (``sum_models()``, ``reduce_max_models()``), ``pad_models(op="PAD"|"PADV2")``, ``relu_models()``, ``relu6_models()``,
``leaky_relu_models()``, ``hard_swish_models()``, ``abs_models()``, ``elu_models()`` (random input and output
quantization), ``rsqrt_models()`` (after a RELU), ``reduce_min_models()``, ``depth_space_models(op)``
(DEPTH_TO_SPACE / SPACE_TO_DEPTH), ``space_batch_models(op, dtype=)`` (SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND, a batch
over 1 inside), ``gather_models()`` (constant positions), ``batch_matmul_models(dtype=, rhs_const=)``, ``broadcast_to_models(dtype=)``, ``gather_nd_models()``, ``mirror_pad_models()``, ``arg_min_max_models(op)``,
``sub_models()``, ``squared_difference_models()``, ``maximum_models()``, ``minimum_models()``,
``prelu_models()`` (broadcasting; PRELU's alpha a constant or an input), ``transpose_models()``,
``slice_models()``, ``strided_slice_models()`` (negative and out-of-range indices, strides, masks), ``quantize_models(float_input=)``
(float32->int8 or int8->int8), ``dequantize_models()``, ``multi_op_models(float_io=)`` (small
chains: [QUANTIZE] conv, depthwise, [ADD], pool, RESHAPE, FC, SOFTMAX, [DEQUANTIZE]);
``single_op_models()`` is ``one_of`` all single-op strategies; ``STRATEGIES`` maps op name ->
strategy.

Building blocks, also for other tests: ``scales``, ``zero_points``, ``activations``, ``seeds``
(plain strategies), ``quant()`` -> (scale, zero_point), ``shapes(min_rank, max_rank, max_dim)``,
``CHANNELS`` (channel counts to sample from).

Shapes are small (fast in tflite-micro) and channel counts are mostly not multiples of 4.
Weights are drawn with numpy from a drawn seed (fast, shrinkable by seed).

Example::

    @given(conv_2d_models())
    def test_conv(case):
        x = case.make_inputs(seed=1)
        want = run_tflm(case.model, x)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from codegen.ops.conv import out_size
from codegen.ops.tensor_ops import _strided_axis

try:
    from tflite_builder import ACTIVATIONS, FloatIslandBuilder, ModelBuilder, T, quantize_symmetric
except ImportError:  # imported as tests.strategies
    from tests.tflite_builder import ACTIVATIONS, FloatIslandBuilder, ModelBuilder, T, quantize_symmetric

CHANNELS = (1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 8)  # mostly not multiples of 4
_U_STD = 74.0
# TFLite's converter writes per-tensor FULLY_CONNECTED weights; set True to also draw
# per-channel ones (TFLM's reference kernel accepts them).
FC_PER_CHANNEL = False  # std of a uniform int8 value


@dataclass(repr=False)
class ModelCase:
    op: str
    model: bytes
    inputs: list
    outputs: list
    params: dict = field(default_factory=dict)

    def make_inputs(self, seed=0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        out = []
        for t in self.inputs:
            if t.dtype == "float32":
                lo, hi = self.params.get("float_range", (-4.0, 4.0))
                out.append(rng.uniform(lo, hi, t.shape).astype(np.float32))
            else:
                info = np.iinfo(t.dtype)
                out.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
        return out

    def __repr__(self):
        small = {k: (v if not isinstance(v, np.ndarray) or v.size <= 8 else
                     f"<{v.dtype} {list(v.shape)}>") for k, v in self.params.items()}
        ins = [(t.shape, t.dtype, t.scale, t.zero_point) for t in self.inputs]
        return f"ModelCase({self.op}, inputs={ins}, {small})"


def _case(op, b: ModelBuilder, inputs, outputs, **params) -> ModelCase:
    outputs = [b.output(t) for t in outputs]
    return ModelCase(op, b.finish(), [b.model_input(t) for t in inputs], outputs, params)


def builder(dtype: str) -> ModelBuilder:
    """int8/int16 activations, or "float32": the op inside a float island (FloatIslandBuilder)."""
    return FloatIslandBuilder() if dtype == "float32" else ModelBuilder(act_dtype=dtype)


# ----------------------------------------------------------------------------- pieces
scales = st.floats(0.002, 0.2).map(lambda s: float(np.float32(s)))
zero_points = st.integers(-128, 127)
activations = st.sampled_from(ACTIVATIONS)
seeds = st.integers(0, 2 ** 32 - 1)


@st.composite
def quant(draw, dtype="int8"):
    """A scale and zero point; int16 activations (16x8 models) have zero point 0."""
    return draw(scales), draw(zero_points) if dtype in ("int8", "float32") else 0  # float32: an island's int8 input


U_STD = {"int8": _U_STD, "int16": 65536 / np.sqrt(12)}  # std of a uniform value of the activation type
ACT_DTYPES = ("int8", "int16")


@st.composite
def shapes(draw, min_rank=1, max_rank=4, max_dim=6):
    rank = draw(st.integers(min_rank, max_rank))
    return [draw(st.integers(1, max_dim)) for _ in range(rank)]


def _pick(draw, value, strategy):
    """A forced value (a keyword argument of a strategy) or a drawn one."""
    return draw(strategy) if value is None else value


def _jitter(draw):
    """Scale factor so that outputs are sometimes saturated, mostly not."""
    return float(2.0 ** draw(st.floats(-1.5, 1.0)))


def _weights(draw, shape, axis, per_channel=None):
    """Random int8 weights (symmetric), per channel along axis or per tensor."""
    rng = np.random.default_rng(draw(seeds))
    per_channel = draw(st.booleans()) if per_channel is None else per_channel
    w = rng.standard_normal(shape) * rng.uniform(0.05, 1.0, shape[axis]).reshape(
        [-1 if i == axis else 1 for i in range(len(shape))])
    q, s = quantize_symmetric(w, axis if per_channel else None)
    return q, s, rng


def _weighted_op(draw, x: T, w_shape, axis, k, per_channel=None):
    """Shared draw for conv/dw/fc: weights, bias (int32, or int64 for int16 x), output quantization."""
    wq, ws, rng = _weights(draw, w_shape, axis, per_channel)
    w_std = float(np.mean(ws)) * np.std(wq.astype(float)) if wq.size > 1 else float(np.mean(ws))
    acc_std = x.scale * U_STD[x.dtype] * w_std * np.sqrt(k)
    levels = 256 if x.dtype == "int8" else 65536
    out_scale = float(np.float32(max(4 * acc_std / levels, 1e-7) * _jitter(draw)))
    bias_scale = x.scale * np.asarray(ws, np.float64)
    bias = np.round(rng.standard_normal(w_shape[axis]) * acc_std / bias_scale).astype(np.int64)
    return wq, ws, bias, bias_scale, out_scale, draw(quant(x.dtype))[1]


# ----------------------------------------------------------------------------- conv family
@st.composite
def _window(draw, max_k=4, max_stride=3, dilations=True, padding=None):
    k = (draw(st.integers(1, max_k)), draw(st.integers(1, max_k)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilations else (1, 1)
    padding = _pick(draw, padding, st.sampled_from(["SAME", "VALID"]))
    eff = [(k[i] - 1) * dil[i] + 1 for i in (0, 1)]
    hw = [draw(st.integers(eff[i] if padding == "VALID" else 1, eff[i] + 7)) for i in (0, 1)]
    return k, stride, dil, padding, hw


@st.composite
def conv_2d_models(draw, padding=None, activation=None, dtype="int8"):
    k, stride, dil, padding, (h, w) = draw(_window(padding=padding))
    cin, cout = draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(CHANNELS))
    batch = draw(st.integers(1, 2))
    b = ModelBuilder(act_dtype=dtype)
    x = b.input([batch, h, w, cin], *draw(quant(dtype)))
    wq, ws, bias, bs, out_scale, out_zp = _weighted_op(draw, x, [cout, *k, cin], 0,
                                                       k[0] * k[1] * cin)
    act = _pick(draw, activation, activations)
    y = b.conv_2d(x, b.const_int8(wq, ws, axis=0), b.bias(bias, bs), out_scale, out_zp,
                  stride=stride, dilation=dil, padding=padding, activation=act)
    return _case("CONV_2D", b, [x], [y], w=wq, w_scale=ws, bias=bias, stride=stride,
                 dilation=dil, padding=padding, activation=act)


def conv_on(draw, b: ModelBuilder, x: T, padding=None) -> T:
    """A drawn CONV_2D (window, stride, dilation, padding, per-channel weights, activation) on the tensor x."""
    k, stride, dil, padding, _ = draw(_window(padding=padding))
    cout = draw(st.sampled_from(CHANNELS))
    wq, ws, bias, bs, out_scale, out_zp = _weighted_op(draw, x, [cout, *k, x.shape[3]], 0, k[0] * k[1] * x.shape[3])
    assume(padding == "SAME" or all(x.shape[1 + a] >= (k[a] - 1) * dil[a] + 1 for a in (0, 1)))
    return b.conv_2d(x, b.const_int8(wq, ws, axis=0), b.bias(bias, bs), out_scale, out_zp, stride=stride, dilation=dil,
                     padding=padding, activation=draw(activations))


def depthwise_conv_on(draw, b: ModelBuilder, x: T) -> T:
    k, stride, dil, padding, _ = draw(_window())
    mult = draw(st.integers(1, 3))
    wq, ws, bias, bs, out_scale, out_zp = _weighted_op(draw, x, [1, *k, x.shape[3] * mult], 3, k[0] * k[1])
    assume(padding == "SAME" or all(x.shape[1 + a] >= (k[a] - 1) * dil[a] + 1 for a in (0, 1)))
    return b.depthwise_conv_2d(x, b.const_int8(wq, ws, axis=3), b.bias(bias, bs), out_scale, out_zp, depth_multiplier=mult,
                               stride=stride, dilation=dil, padding=padding, activation=draw(activations))


@st.composite
def depthwise_conv_2d_models(draw, padding=None, activation=None, dtype="int8"):
    k, stride, dil, padding, (h, w) = draw(_window(padding=padding))
    cin, mult = draw(st.sampled_from(CHANNELS)), draw(st.integers(1, 3))
    b = ModelBuilder(act_dtype=dtype)
    x = b.input([1, h, w, cin], *draw(quant(dtype)))
    wq, ws, bias, bs, out_scale, out_zp = _weighted_op(draw, x, [1, *k, cin * mult], 3,
                                                       k[0] * k[1])
    act = _pick(draw, activation, activations)
    y = b.depthwise_conv_2d(x, b.const_int8(wq, ws, axis=3), b.bias(bias, bs),
                            out_scale, out_zp, depth_multiplier=mult, stride=stride,
                            dilation=dil, padding=padding, activation=act)
    return _case("DEPTHWISE_CONV_2D", b, [x], [y], w=wq, w_scale=ws, bias=bias, stride=stride,
                 dilation=dil, padding=padding, activation=act, depth_multiplier=mult)


@st.composite
def transpose_conv_models(draw, padding=None, dtype="int8"):
    """Stride 1..3, kernels 1..4, SAME/VALID, the output size any the forward convolution maps back to
    the input's (TFLite's rule), with or without bias, every fused activation; int8 or 16x8."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = _pick(draw, padding, st.sampled_from(["SAME", "VALID"]))
    hw = [draw(st.integers(1, 5)), draw(st.integers(1, 5))]
    out_hw = []
    for a in (0, 1):  # every output size whose forward convolution has the input's size
        fits = [o for o in range(1, hw[a] * stride[a] + k[a] + 1)
                if o >= (1 if padding == "SAME" else k[a]) and out_size(padding, o, k[a], stride[a], 1) == hw[a]]
        out_hw.append(draw(st.sampled_from(fits)))
    cin, cout = draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(CHANNELS))
    b = ModelBuilder(act_dtype=dtype)
    x = b.input([1, *hw, cin], *draw(quant(dtype)))
    taps = max(1, k[0] * k[1] // (stride[0] * stride[1]))
    wq, ws, bias, bs, out_scale, out_zp = _weighted_op(draw, x, [cout, *k, cin], 0, taps * cin)
    use_bias = draw(st.booleans())
    act = draw(activations)
    y = b.transpose_conv(x, b.const_int8(wq, ws, axis=0), b.bias(bias, bs) if use_bias else None, out_scale,
                         out_zp, out_hw, stride, padding, act)
    return _case("TRANSPOSE_CONV", b, [x], [y], w=wq, w_scale=ws, bias=bias if use_bias else None, stride=stride,
                 padding=padding, out_hw=out_hw, activation=act)


@st.composite
def fully_connected_models(draw, keep_num_dims=None, use_bias=None, activation=None, dtype="int8"):
    in_shape = draw(shapes(2, 4, max_dim=5)) + [draw(st.integers(1, 33))]
    units = draw(st.integers(1, 19))
    b = ModelBuilder(act_dtype=dtype)
    x = b.input(in_shape, *draw(quant(dtype)))
    wq, ws, bias, bs, out_scale, out_zp = _weighted_op(draw, x, [units, in_shape[-1]], 0,
                                                       in_shape[-1], None if FC_PER_CHANNEL else False)
    use_bias = _pick(draw, use_bias, st.booleans())
    keep = _pick(draw, keep_num_dims, st.booleans())
    act = _pick(draw, activation, activations)
    y = b.fully_connected(x, b.const_int8(wq, ws),
                          b.bias(bias, bs) if use_bias else None,
                          out_scale, out_zp, keep_num_dims=keep, activation=act)
    return _case("FULLY_CONNECTED", b, [x], [y], w=wq, w_scale=ws,
                 bias=bias if use_bias else None, keep_num_dims=keep, activation=act)


@st.composite
def pool_models(draw, op=None, padding=None, dtype="int8"):
    op = _pick(draw, op, st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]))
    k, stride, _, padding, (h, w) = draw(_window(dilations=False, padding=padding))
    c = draw(st.sampled_from(CHANNELS))
    b = ModelBuilder(act_dtype=dtype)
    x = b.input([draw(st.integers(1, 2)), h, w, c], *draw(quant(dtype)))
    act = draw(activations)
    pool = b.average_pool_2d if op == "AVERAGE_POOL_2D" else b.max_pool_2d
    y = pool(x, k, stride, padding, act)
    return _case(op, b, [x], [y], filter=k, stride=stride, padding=padding, activation=act)


# ----------------------------------------------------------------------------- elementwise
@st.composite
def _broadcast_pair(draw, max_rank=4):
    shape = draw(shapes(1, max_rank))
    other = [1 if draw(st.booleans()) else d for d in shape]
    other = other[draw(st.integers(0, len(other) - 1)):]  # maybe lower rank
    return (shape, other) if draw(st.booleans()) else (other, shape)


def half_range(dtype) -> int:
    return 128 if dtype == "int8" else 32768


def _two_inputs(draw, dtype):
    """A model builder with two inputs of broadcasting shapes and random quantization: (builder, x, y,
    x's shape, y's shape, x's (scale, zero point), y's)."""
    sa, sb = draw(_broadcast_pair())
    b = ModelBuilder(act_dtype=dtype)
    qa, qb = draw(quant(dtype)), draw(quant(dtype))
    return b, b.input(sa, *qa), b.input(sb, *qb), sa, sb, qa, qb


def _binary_models(op, dtype="int8"):
    @st.composite
    def strategy(draw):
        b, x, y, _, _, qa, qb = _two_inputs(draw, dtype)
        half = half_range(dtype)
        ra, rb = qa[0] * half, qb[0] * half  # rough real ranges
        span = (ra + rb) if op == "ADD" else ra * rb
        out_scale = float(np.float32(span / half * _jitter(draw)))
        act = draw(activations)
        z = (b.add if op == "ADD" else b.mul)(x, y, out_scale, draw(quant(dtype))[1], act)
        return _case(op, b, [x, y], [z], activation=act)
    return strategy()


def add_models(dtype="int8"):
    return _binary_models("ADD", dtype)


def mul_models(dtype="int8"):
    return _binary_models("MUL", dtype)


def _binary_more(op, dtype="int8"):
    """SUB, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM: random broadcast shapes and quantization."""
    @st.composite
    def strategy(draw):
        b, x, y, sa, sb, qa, qb = _two_inputs(draw, dtype)
        if op in ("MAXIMUM", "MINIMUM"):
            return _case(op, b, [x, y], [(b.maximum if op == "MAXIMUM" else b.minimum)(x, y)])
        if op == "PRELU":  # alpha (int8, also for int16 x) a constant (the converter's) or a second input
            b, qb = ModelBuilder(act_dtype=dtype), draw(quant())
            x = b.input(sa, *qa)
            if draw(st.booleans()):
                y, inputs = b.const_int8(np.random.default_rng(draw(seeds)).integers(-128, 128, sb), *qb), [x]
            else:
                y = b.input(sb, *qb, dtype="int8")
                inputs = [x, y]
            # output at about x's scale
            return _case(op, b, inputs, [b.prelu(x, y, float(np.float32(qa[0] * _jitter(draw))), draw(quant(dtype))[1])])
        span = (qa[0] + qb[0]) * 128
        if op == "SUB":
            act = draw(activations)
            z = b.sub(x, y, float(np.float32(span / 128 * _jitter(draw))), draw(quant(dtype))[1], act)
            return _case(op, b, [x, y], [z], activation=act)
        z = b.squared_difference(x, y, float(np.float32(span * span / 256 * _jitter(draw))), draw(zero_points))
        return _case(op, b, [x, y], [z])
    return strategy()


sub_models = partial(_binary_more, "SUB")
squared_difference_models = partial(_binary_more, "SQUARED_DIFFERENCE")
maximum_models = partial(_binary_more, "MAXIMUM")
minimum_models = partial(_binary_more, "MINIMUM")
prelu_models = partial(_binary_more, "PRELU")


def _unary_requant(op, dtype="int8"):
    """RELU, RELU6, LEAKY_RELU, HARD_SWISH, ABS, ELU with random input and output quantization (TFLM's
    RELU6 does not read its output's); RSQRT after a RELU (TFLM refuses to run RSQRT on inputs below
    its zero point, and RELU's output is never below its own)."""
    @st.composite
    def strategy(draw):
        b = ModelBuilder(act_dtype=dtype)
        zp = zero_points if dtype == "int8" else st.just(0)
        qin = (float(np.float32(draw(st.floats(0.005, 0.2) if dtype == "int8" else st.floats(1e-5, 1e-3)))), draw(zp))
        x = b.input(draw(shapes(1, 4)), *qin)
        out_q = (float(np.float32(qin[0] * _jitter(draw))), draw(zp))
        if op == "RELU6":  # mostly the input's quantization (the converter's); TFLM ignores the output's
            return _case(op, b, [x], [b.unary(op, x, *(out_q if draw(st.booleans()) else (None, None)))])
        if op == "LEAKY_RELU":
            alpha = float(np.float32(draw(st.sampled_from([0.2, 0.01, 0.3, draw(st.floats(0.0, 1.0))]))))
            return _case(op, b, [x], [b.leaky_relu(x, alpha, *out_q)], alpha=alpha)
        if op == "RSQRT":  # 1/sqrt of reals from 0 to 255 * scale: outputs up to about 1/sqrt(scale)
            r = b.unary("RELU", x, *out_q)
            span = 1 / np.sqrt(r.scale)
            return _case(op, b, [x], [b.unary(op, r, float(np.float32(span / 128 * _jitter(draw))), draw(zero_points))])
        if op == "HARD_SWISH":  # TFLM needs the output scale at least the input's / 128
            out_q = (float(np.float32(qin[0] * 2.0 ** draw(st.floats(-1.5, 1.5)))), out_q[1])
            return _case(op, b, [x], [b.unary(op, x, *out_q, ("HardSwishOptions", {}))])
        return _case(op, b, [x], [b.unary(op, x, *out_q)])
    return strategy()


relu_models = partial(_unary_requant, "RELU")
relu6_models = partial(_unary_requant, "RELU6")
leaky_relu_models = partial(_unary_requant, "LEAKY_RELU")
hard_swish_models = partial(_unary_requant, "HARD_SWISH")
abs_models = partial(_unary_requant, "ABS")
rsqrt_models = partial(_unary_requant, "RSQRT")
elu_models = partial(_unary_requant, "ELU")


def _unary_fixed(op, dtype="int8"):
    """SOFTMAX, LOGISTIC, TANH; int16 (16x8): zero point 0, scales from 1e-5 to 0.1, and powers of two near 2^-12
    (TFLM's int16 LOGISTIC/TANH take another multiplier for 2^-12, TANH also for 2^-11)."""
    @st.composite
    def strategy(draw):
        b = ModelBuilder(act_dtype=dtype)
        zp = draw(zero_points) if dtype == "int8" else 0
        if op == "SOFTMAX":
            scale = draw(st.floats(0.01, 0.3) if dtype == "int8" else st.floats(1e-5, 0.1))
            x = b.input(draw(shapes(2, 4, max_dim=7)), scale, zp)
            beta = draw(st.sampled_from([1.0, 0.5, 2.0, draw(st.floats(0.1, 3.0))]))
            return _case(op, b, [x], [b.softmax(x, beta)], beta=float(np.float32(beta)))
        if op == "LOG_SOFTMAX":  # beta is 1; scales small enough that many differences fall below diff_min
            x = b.input(draw(shapes(2, 4, max_dim=9)), draw(st.floats(0.005, 0.5)), zp)
            return _case(op, b, [x], [b.log_softmax(x)])
        if dtype == "int8":
            scale = draw(st.floats(0.005, 0.12))
        else:
            scale = draw(st.one_of(st.floats(1e-5, 0.1), st.sampled_from([2.0 ** -13, 2.0 ** -12, 2.0 ** -11, 2.0 ** -10])))
        x = b.input(draw(shapes(1, 4)), scale, zp)
        return _case(op, b, [x], [b.logistic(x) if op == "LOGISTIC" else b.tanh(x)])
    return strategy()


def softmax_models(dtype="int8"):
    return _unary_fixed("SOFTMAX", dtype)


@st.composite
def l2_normalization_models(draw, dtype="int8"):
    """L2_NORMALIZATION over the last axis (rank 1 to 4 with the batch), any input scale and zero point."""
    b = ModelBuilder()
    x = b.input(draw(shapes(2, 4, max_dim=9)), draw(scales), draw(zero_points))
    return _case("L2_NORMALIZATION", b, [x], [b.l2_normalization(x)])


def log_softmax_models(dtype="int8"):
    return _unary_fixed("LOG_SOFTMAX", dtype)


def logistic_models(dtype="int8"):
    return _unary_fixed("LOGISTIC", dtype)


def tanh_models(dtype="int8"):
    return _unary_fixed("TANH", dtype)


# ----------------------------------------------------------------------------- data movement
@st.composite
def reshape_models(draw, shape_input=None, dtype="int8"):
    shape = draw(shapes(1, 4))
    n = int(np.prod(shape))
    new, rest = [], n
    for _ in range(draw(st.integers(0, 3))):  # random factorization of n
        d = draw(st.sampled_from([f for f in range(1, rest + 1) if rest % f == 0]))
        new.append(d)
        rest //= d
    new.append(rest)
    if draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    shape_input = _pick(draw, shape_input, st.booleans())
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    return _case("RESHAPE", b, [x], [b.reshape(x, new, shape_input)], new_shape=new,
                 shape_input=shape_input)


@st.composite
def concatenation_models(draw, dtype="int8"):
    base = draw(shapes(1, 4))
    axis = draw(st.integers(-len(base), len(base) - 1))
    n = draw(st.integers(2, 4))
    q = draw(quant(dtype))
    b = builder(dtype)
    xs = []
    for _ in range(n):
        s = list(base)
        s[axis] = draw(st.integers(1, 5))
        xs.append(b.input(s, *q))
    return _case("CONCATENATION", b, xs, [b.concatenation(xs, axis)], axis=axis)


@st.composite
def pack_models(draw, dtype="int8"):
    shape = draw(shapes(1, 4))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    q = draw(quant(dtype))
    b = builder(dtype)
    xs = [b.input(shape, *q) for _ in range(draw(st.integers(1, 4)))]
    return _case("PACK", b, xs, [b.pack(xs, axis)], axis=axis)


@st.composite
def split_models(draw, op=None, dtype="int8"):
    """SPLIT, SPLIT_V or UNPACK along any axis (negative too); the pieces joined again in reverse order
    (CONCATENATION, or PACK after UNPACK) so that one output holds every piece."""
    op = _pick(draw, op, st.sampled_from(["SPLIT", "SPLIT_V", "UNPACK"]))
    shape = draw(shapes(1, 4))
    rank = len(shape)
    axis = draw(st.integers(0, rank - 1))
    n = draw(st.sampled_from([k for k in range(1, shape[axis] + 1) if shape[axis] % k == 0]))
    signed = axis - rank if draw(st.booleans()) else axis
    b = ModelBuilder(act_dtype=dtype)
    x = b.input(shape, *draw(quant(dtype)))
    if op == "SPLIT":
        parts = b.split(x, signed, n)
    elif op == "UNPACK":
        parts = b.unpack(x, signed)
    else:
        cuts = sorted(draw(st.lists(st.integers(1, shape[axis] - 1), max_size=3, unique=True))) if shape[axis] > 1 else []
        sizes = [hi - lo for lo, hi in zip([0, *cuts], [*cuts, shape[axis]])]
        if draw(st.booleans()):
            sizes[draw(st.integers(0, len(sizes) - 1))] = -1
        parts = b.split_v(x, sizes, signed)
    parts = parts[::-1]
    y = b.pack(parts, signed) if op == "UNPACK" else b.concatenation(parts, signed)
    return _case(op, b, [x], [y], axis=signed)


@st.composite
def resize_nearest_neighbor_models(draw, op="RESIZE_NEAREST_NEIGHBOR"):
    """Up- and downsampling by any factor, align_corners and half_pixel_centers in all combinations
    (bilinear: not both, which TFLM refuses)."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    size = [draw(st.integers(1, 13)), draw(st.integers(1, 13))]
    align, half = draw(st.booleans()), draw(st.booleans())
    if op == "RESIZE_BILINEAR":
        half = half and not align
    b = ModelBuilder()
    x = b.input([draw(st.integers(1, 2)), h, w, draw(st.sampled_from(CHANNELS))], *draw(quant()))
    resize = b.resize_bilinear if op == "RESIZE_BILINEAR" else b.resize_nearest_neighbor
    y = resize(x, size, align, half)
    return _case(op, b, [x], [y], size=size, align_corners=align, half_pixel_centers=half)


@st.composite
def mean_models(draw, op="MEAN", dtype="int8"):
    shape = draw(shapes(2, 4))
    rank = len(shape)
    if rank == 4 and draw(st.booleans()):
        axes = [1, 2]  # the global-average-pool form
    else:
        axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank,
                             unique=True))
        axes = [a - rank if draw(st.booleans()) else a for a in axes]  # some negative
    keep = draw(st.booleans())
    qin = draw(quant(dtype))
    same = draw(st.booleans()) or op in ("REDUCE_MAX", "REDUCE_MIN")  # TFLM's REDUCE_MAX/MIN need the input's
    count = int(np.prod([shape[a] for a in axes]))
    grow = count if op == "SUM" else 1  # a sum spans count times the input range
    out_q = qin if same else (float(np.float32(qin[0] * grow * _jitter(draw))), draw(quant(dtype))[1])
    b = builder(dtype)
    x = b.input(shape, *qin)
    return _case(op, b, [x], [b.mean(x, axes, keep, *out_q, op=op)], axes=axes, keep_dims=keep)


sum_models = partial(mean_models, op="SUM")
reduce_max_models = partial(mean_models, op="REDUCE_MAX")
reduce_min_models = partial(mean_models, op="REDUCE_MIN")


@st.composite
def pad_models(draw, op=None, dtype="int8"):
    op = _pick(draw, op, st.sampled_from(["PAD", "PADV2"]))
    shape = draw(shapes(1, 4))
    paddings = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in shape]
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    if op == "PAD":
        return _case(op, b, [x], [b.pad(x, paddings)], paddings=paddings)
    const = draw(st.integers(-128, 127))
    return _case(op, b, [x], [b.padv2(x, paddings, const)], paddings=paddings, constant=const)


@st.composite
def transpose_models(draw, dtype="int8"):
    shape = draw(shapes(1, 5))
    perm = draw(st.permutations(range(len(shape))))
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    return _case("TRANSPOSE", b, [x], [b.transpose(x, perm)], perm=list(perm))


@st.composite
def slice_models(draw, dtype="int8"):
    shape = draw(shapes(1, 5))
    begin = [draw(st.integers(0, d - 1)) for d in shape]
    size = [draw(st.sampled_from([-1, draw(st.integers(1, d - bg))])) for bg, d in zip(begin, shape)]
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    return _case("SLICE", b, [x], [b.slice(x, begin, size)], begin=begin, size=size)


@st.composite
def strided_slice_models(draw, dtype="int8"):
    """Any begin/end (negative too, beyond the axis), strides -3..3, begin/end/shrink masks; the output
    non-empty."""
    shape = draw(shapes(1, 4))
    rank = len(shape)
    begin = [draw(st.integers(-d - 1, d)) for d in shape]
    end = [draw(st.integers(-d - 1, d + 1)) for d in shape]
    strides = [draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in shape]
    masks = [draw(st.integers(0, (1 << rank) - 1)) for _ in range(2)]
    shrink = draw(st.integers(0, (1 << rank) - 1)) if draw(st.booleans()) else 0
    strides = [1 if shrink >> i & 1 else s for i, s in enumerate(strides)]  # TFLM writes nothing otherwise
    for i, d in enumerate(shape):
        start, count = _strided_axis(d, begin[i], end[i], strides[i], masks[0] >> i & 1, masks[1] >> i & 1, shrink >> i & 1)
        assume(count > 0 and 0 <= start < d)
    assume(shrink != (1 << rank) - 1)  # a scalar output
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    y = b.strided_slice(x, begin, end, strides, *masks, shrink)
    return _case("STRIDED_SLICE", b, [x], [y], begin=begin, end=end, strides=strides, masks=masks, shrink=shrink)


@st.composite
def arg_min_max_models(draw, op):
    """ARG_MAX / ARG_MIN along any axis (negative too); small value ranges give ties (the first wins)."""
    shape = draw(shapes(1, 4))
    axis = draw(st.integers(0, len(shape) - 1))
    b = ModelBuilder()
    x = b.input(shape, *draw(quant()))
    signed = axis - len(shape) if draw(st.booleans()) else axis
    return _case(op, b, [x], [b.arg_min_max(x, signed, op)], axis=signed)


@st.composite
def depth_space_models(draw, op):
    """DEPTH_TO_SPACE or SPACE_TO_DEPTH, block sizes 1..3, channel counts not multiples of 4 (times b*b)."""
    block = draw(st.integers(1, 3))
    c = draw(st.sampled_from(CHANNELS))
    if op == "DEPTH_TO_SPACE":
        shape = [draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)), c * block * block]
    else:
        shape = [draw(st.integers(1, 2)), block * draw(st.integers(1, 4)), block * draw(st.integers(1, 4)), c]
    b = ModelBuilder()
    x = b.input(shape, *draw(quant()))
    y = b.depth_to_space(x, block) if op == "DEPTH_TO_SPACE" else b.space_to_depth(x, block)
    return _case(op, b, [x], [y], block_size=block)


@st.composite
def space_batch_models(draw, op, dtype="int8", middles=None):
    """SPACE_TO_BATCH_ND or BATCH_TO_SPACE_ND on 3-D NHC or 4-D NHWC, block sizes 1..3 per spatial axis, paddings
    (or crops) 0..3 per side. The batch over 1 stays inside the model: the input is RESHAPEd to k images (k 1..2),
    SPACE_TO_BATCH_ND's output (maybe PAD/PADV2ed, SLICEd, TRANSPOSEd or convolved (int8 4-D, unpadded: TFLM pads
    with an unset value) first: a batch over 1 on its way) is RESHAPEd to a batch of 1, BATCH_TO_SPACE_ND's k
    images (maybe PADded) likewise. middles: the choices of what follows SPACE_TO_BATCH_ND (default: all)."""
    spatial = 2 if middles and set(middles) & {"CONV_2D", "DEPTHWISE_CONV_2D"} else draw(st.integers(1, 2))
    block = [draw(st.integers(1, 3)) for _ in range(spatial)]
    k, c = draw(st.integers(1, 2)), draw(st.sampled_from(CHANNELS))
    convs = ["CONV_2D", "DEPTHWISE_CONV_2D"] if dtype == "int8" and spatial == 2 else []
    b = builder(dtype)
    if op == "SPACE_TO_BATCH_ND":
        middle = draw(st.sampled_from(middles or [None, "PAD", "PADV2", "SLICE", "TRANSPOSE", *convs]))
        edges = []
        dims = [n * draw(st.integers(1, 3)) if middle in convs else draw(st.integers(1, 6)) for n in block]
        for d, n in zip(dims, block):
            before, after = (0, 0) if middle in convs else (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
            edges.append([before, after + (-(d + before + after)) % n])
    else:
        k *= int(np.prod(block))
        middle = draw(st.sampled_from([None, "PAD"] if k > 1 else [None]))
        dims = [draw(st.integers(1, 4)) for _ in block]
        edges = []
        for d, n in zip(dims, block):
            before = draw(st.integers(0, min(3, d * n - 1)))
            edges.append([before, draw(st.integers(0, min(3, d * n - 1 - before)))])
    x = b.input([1, k * dims[0], *dims[1:], c], *draw(quant(dtype)))
    images = b.reshape(x, [k, *dims, c]) if k > 1 else x
    if op == "SPACE_TO_BATCH_ND":
        y = b.space_to_batch_nd(images, block, edges)
        if middle in ("PAD", "PADV2"):
            widths = [[0, 0]] + [[draw(st.integers(0, 2)), draw(st.integers(0, 2))] for _ in block] + [[0, 0]]
            y = b.pad(y, widths) if middle == "PAD" or dtype == "float32" else b.padv2(y, widths)  # pads the zero point
        elif middle == "TRANSPOSE":
            y = b.transpose(y, draw(st.permutations(range(spatial + 2))))
        elif middle == "SLICE":
            first = draw(st.integers(0, y.shape[0] - 1))
            y = b.slice(y, [first] + [0] * (spatial + 1), [draw(st.integers(1, y.shape[0] - first))] + [-1] * (spatial + 1))
        elif middle in convs:
            y = (conv_on if middle == "CONV_2D" else depthwise_conv_on)(draw, b, y)
        y = b.reshape(y, [1, -1])
    else:
        if middle == "PAD":  # the crops still fit the padded images
            images = b.pad(images, [[0, 0]] + [[0, draw(st.integers(0, 2))] for _ in block] + [[0, 0]])
        y = b.batch_to_space_nd(images, block, edges)
        y = b.reshape(y, [1, -1]) if y.shape[0] > 1 else y
    return _case(op, b, [x], [y], block=block, edges=edges, k=k, middle=middle)


@st.composite
def gather_models(draw, dtype="int8"):
    """GATHER along any axis (negative too) with constant positions of rank 0..2, repeats and any order."""
    shape = draw(shapes(1, 4))
    axis = draw(st.integers(0, len(shape) - 1))
    index_shape = draw(st.lists(st.integers(1, 4), max_size=2))
    rng = np.random.default_rng(draw(seeds))
    positions = rng.integers(0, shape[axis], index_shape).astype(np.int32)
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    signed = axis - len(shape) if draw(st.booleans()) else axis
    return _case("GATHER", b, [x], [b.gather(x, positions, signed)], axis=signed, positions=positions)


@st.composite
def batch_matmul_models(draw, dtype="int8", rhs_const=None):
    """BATCH_MATMUL of rank 2..5 (leading dimension 1), adj_x / adj_y, batch dimensions broadcast either way;
    the right operand an activation or a constant of any lower rank."""
    rank = draw(st.integers(2, 5))
    batch = [1] + [draw(st.integers(1, 3)) for _ in range(rank - 3)] if rank > 2 else []
    rows, depth, cols = 1 if rank == 2 else draw(st.integers(1, 9)), draw(st.integers(1, 19)), draw(st.integers(1, 9))
    adj_x, adj_y = rank > 2 and draw(st.booleans()), draw(st.booleans())  # a rank-2 activation is [1, depth]
    const = rank == 2 or _pick(draw, rhs_const, st.booleans())
    lhs_batch = [n if draw(st.booleans()) else 1 for n in batch]
    rhs_batch = [n if draw(st.booleans()) else 1 for n in batch]
    if const:
        rhs_batch = rhs_batch[draw(st.integers(0, len(rhs_batch))):]
    b = ModelBuilder(act_dtype=dtype)
    (ls, lz), (rs, rz) = draw(quant(dtype)), draw(quant(dtype))
    x = b.input(lhs_batch + ([depth, rows] if adj_x else [rows, depth]), ls, lz)
    rhs_shape = rhs_batch + ([cols, depth] if adj_y else [depth, cols])
    if const:
        info = np.iinfo(dtype)
        y = b.const(np.random.default_rng(draw(seeds)).integers(info.min, info.max + 1, rhs_shape), dtype, rs, rz)
    else:
        y = b.input(rhs_shape, rs, rz)
    out_scale = float(np.float32(4 * ls * rs * U_STD[dtype] ** 2 * np.sqrt(depth) / (256 if dtype == "int8" else 65536)
                                 * _jitter(draw)))
    out = b.batch_matmul(x, y, out_scale, draw(quant(dtype))[1], adj_x, adj_y)
    return _case("BATCH_MATMUL", b, [x] if const else [x, y], [out], adj_x=adj_x, adj_y=adj_y, rhs_const=const)


@st.composite
def gather_nd_models(draw, dtype="int8"):
    """GATHER_ND with constant index tuples [1, (up to 2 axes), nd] over the first nd axes, repeats and any order."""
    shape = draw(shapes(1, 4))
    nd = draw(st.integers(1, len(shape)))
    tuples = [1, *draw(st.lists(st.integers(1, 4), max_size=2))]
    positions = np.random.default_rng(draw(seeds)).integers(0, shape[:nd], (*tuples, nd)).astype(np.int32)
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    return _case("GATHER_ND", b, [x], [b.gather_nd(x, positions)], positions=positions)


@st.composite
def broadcast_to_models(draw, dtype="int8"):
    """BROADCAST_TO to rank 1..5 from a tensor of leading dimension 1: each other axis repeated from 1 or not,
    axes missing after the first (the input left-padded with 1s)."""
    shape = draw(shapes(1, 5, max_dim=5))
    tail = [1 if draw(st.booleans()) else d for d in shape[1:]]
    x_shape = [1, *tail[draw(st.integers(0, len(tail))):]]  # a leading 1, new axes after it
    b = builder(dtype)
    x = b.input(x_shape, *draw(quant(dtype)))
    return _case("BROADCAST_TO", b, [x], [b.broadcast_to(x, shape)], shape=shape)


@st.composite
def mirror_pad_models(draw, dtype="int8"):
    """MIRROR_PAD, REFLECT (paddings up to the axis size - 1) or SYMMETRIC (up to the axis size)."""
    shape = draw(shapes(1, 4))
    mode = draw(st.sampled_from(["REFLECT", "SYMMETRIC"]))
    most = [d - 1 if mode == "REFLECT" else d for d in shape]
    paddings = [[draw(st.integers(0, min(m, 3))), draw(st.integers(0, min(m, 3)))] for m in most]
    b = builder(dtype)
    x = b.input(shape, *draw(quant(dtype)))
    return _case("MIRROR_PAD", b, [x], [b.mirror_pad(x, paddings, mode)], paddings=paddings, mode=mode)


@st.composite
def quantize_models(draw, float_input=None):
    shape = draw(shapes(1, 4))
    out_q = draw(quant())
    b = ModelBuilder()
    if _pick(draw, float_input, st.booleans()):  # float32 -> int8
        x = b.input(shape, dtype="float32")
        lo, hi = [(v - out_q[1]) * out_q[0] * 1.1 for v in (-128, 127)]
        return _case("QUANTIZE", b, [x], [b.quantize(x, *out_q)], float_range=(lo, hi))
    x = b.input(shape, *draw(quant()))  # int8 -> int8 requantize
    return _case("QUANTIZE", b, [x], [b.quantize(x, *out_q)])


@st.composite
def cast_models(draw, dtype=None):
    """CAST between int8, int16 and int32, and from them to float32 (TFLM's static_cast; quantization ignored)."""
    source = draw(st.sampled_from(["int8", "int16", "int32"]))
    b = ModelBuilder()
    x = b.input(draw(shapes(1, 4)), *draw(quant()), dtype=source)
    return _case("CAST", b, [x], [b.cast(x, draw(st.sampled_from(["int8", "int16", "int32", "float32"])))])


@st.composite
def dequantize_models(draw):
    b = ModelBuilder()
    x = b.input(draw(shapes(1, 4)), *draw(quant()))
    return _case("DEQUANTIZE", b, [x], [b.dequantize(x)])


# ----------------------------------------------------------------------------- stateful and int16/int32 edges
@st.composite
def svdf_models(draw):
    """One SVDF: random input depth, units, rank, memory (mostly not multiples of 4), int8 or int16 time
    weights and state, random scales and zero points, scales set so that the state and the output are
    sometimes saturated, mostly not. Run it for several invokes in a row: the state carries over."""
    depth, units = draw(st.integers(1, 37)), draw(st.integers(1, 13))
    rank, memory = draw(st.integers(1, 3)), draw(st.integers(1, 11))
    state_dtype = draw(st.sampled_from(["int8", "int16"]))
    filters = units * rank
    b = ModelBuilder()
    x = b.input([1, depth], *draw(quant()))
    wf, wf_scale, rng = _weights(draw, [filters, depth], 0, per_channel=False)
    state_max = np.iinfo(state_dtype).max
    feature_std = x.scale * _U_STD * wf_scale * np.std(wf.astype(float)) * np.sqrt(depth) + 1e-9
    state_scale = float(np.float32(4 * feature_std / state_max * _jitter(draw)))
    state_zp = draw(zero_points) if state_dtype == "int8" else draw(st.sampled_from([0, 0, draw(st.integers(-300, 300))]))
    wt_float = rng.standard_normal([filters, memory])
    wt_scale = float(np.float32(max(np.abs(wt_float).max(), 1e-6) / state_max))
    wt = np.clip(np.round(wt_float / wt_scale), -state_max, state_max).astype(state_dtype)
    bias_scale = float(np.float32(state_scale) * np.float32(wt_scale))
    time_std = state_max / 4 * state_scale * wt_scale * np.std(wt.astype(float)) * np.sqrt(memory * rank) + 1e-9
    bias = np.round(rng.standard_normal(units) * time_std / bias_scale).astype(np.int32)
    out_scale = float(np.float32(max(4 * time_std / 256, 1e-6) * _jitter(draw)))
    y = b.svdf(x, b.const_int8(wf, wf_scale), b.const(wt, state_dtype, wt_scale, 0), b.const_int32(bias, bias_scale),
               (state_scale, state_zp), out_scale, draw(zero_points), rank, draw(st.sampled_from(["NONE", "RELU"])))
    return _case("SVDF", b, [x], [y], rank=rank, memory=memory, state_dtype=state_dtype)


@st.composite
def softmax_int16_out_models(draw):
    """SOFTMAX int8 -> int16 (zero point -32768, scale 1/65536 as TFLM requires)."""
    b = ModelBuilder()
    x = b.input([1] + draw(shapes(1, 3, max_dim=7)), draw(st.floats(0.01, 0.3)), draw(zero_points))
    beta = draw(st.sampled_from([1.0, 0.5, 2.0, draw(st.floats(0.1, 3.0))]))
    out = b._activation_tensor(x.shape, 1 / 65536, -32768, "int16")
    return _case("SOFTMAX", b, [x], [b._op("SOFTMAX", [x], out, ("SoftmaxOptions", dict(Beta=float(beta))))])


@st.composite
def quantize_int16_to_int32_models(draw):
    b = ModelBuilder()
    x = b.input([1] + draw(shapes(0, 3)), draw(st.floats(1e-5, 0.01)), draw(st.integers(-1000, 1000)), dtype="int16")
    return _case("QUANTIZE", b, [x], [b.quantize(x, draw(st.floats(1e-6, 0.01)), draw(st.integers(-1000, 1000)),
                                                 dtype="int32")])


# ----------------------------------------------------------------------------- multi-op
@st.composite
def multi_op_models(draw, float_io=None):
    """float in -> QUANTIZE -> CONV_2D -> DEPTHWISE -> (ADD residual) -> pool -> RESHAPE
    -> FULLY_CONNECTED -> SOFTMAX -> (DEQUANTIZE) ; random sizes and quantization."""
    h, w, c = draw(st.integers(4, 9)), draw(st.integers(4, 9)), draw(st.sampled_from(CHANNELS))
    rng = np.random.default_rng(draw(seeds))
    float_io = _pick(draw, float_io, st.booleans())
    b = ModelBuilder()
    qin = (float(np.float32(draw(st.floats(0.01, 0.05)))), draw(zero_points))
    x0 = b.input([1, h, w, c], dtype="float32") if float_io else b.input([1, h, w, c], *qin)
    x = b.quantize(x0, *qin) if float_io else x0

    def conv_like(x, shape, axis, dw=False):
        wq, ws = quantize_symmetric(rng.standard_normal(shape), axis)
        bs = x.scale * ws
        bias = np.round(rng.standard_normal(shape[axis]) * 0.1 / bs).astype(np.int32)
        k = shape[1] * shape[2] * (1 if dw else shape[3])
        out_scale = float(np.float32(x.scale * _U_STD * np.mean(ws) * 60 * np.sqrt(k) / 256))
        args = (x, b.const_int8(wq, ws, axis=axis), b.const_int32(bias, bs), out_scale,
                int(rng.integers(-20, 20)))
        act = ACTIVATIONS[int(rng.integers(0, 3))]
        if dw:
            return b.depthwise_conv_2d(*args, padding="SAME", activation=act)
        return b.conv_2d(*args, stride=(1, 1), padding="SAME", activation=act)

    c2 = draw(st.sampled_from(CHANNELS))
    y = conv_like(x, [c2, 3, 3, c], 0)
    z = conv_like(y, [1, 3, 3, c2], 3, dw=True)
    if draw(st.booleans()):
        z = b.add(y, z, float(np.float32(y.scale + z.scale)), 0, "RELU")
    z = (b.average_pool_2d if draw(st.booleans()) else b.max_pool_2d)(z, [2, 2], [2, 2])
    flat = b.reshape(z, [1, -1])
    units = draw(st.integers(2, 6))
    wq, ws = quantize_symmetric(rng.standard_normal([units, flat.shape[1]]))
    logits = b.fully_connected(flat, b.const_int8(wq, ws), b.const_int32(
        np.zeros(units, np.int32), flat.scale * ws), float(np.float32(flat.scale * ws * 400)), 0)
    out = b.softmax(logits)
    if float_io:
        out = b.dequantize(out)
    return _case("MULTI", b, [x0], [out], float_io=float_io,
                 float_range=(-128 * qin[0], 127 * qin[0]))


FLOAT_UNARY_OPS = ("NEG", "RELU", "RELU6", "ABS", "SQRT", "RSQRT")
FLOAT_OPS = ("ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", *FLOAT_UNARY_OPS)
FLOAT_COPY_OPS = ("RESHAPE", "CONCATENATION", "PACK", "PAD", "TRANSPOSE", "SLICE", "STRIDED_SLICE", "BROADCAST_TO",
                  "GATHER", "GATHER_ND", "MIRROR_PAD", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")  # their strategies with dtype="float32"


@st.composite
def float_island_models(draw, op=None):
    """int8 -> DEQUANTIZE -> a float32 op -> QUANTIZE -> int8, the island the converter leaves for ops it does
    not quantize; the second operand another dequantized int8 input or a float32 constant (|c| in [1e-3, 1e3],
    broadcast), either side, every fused activation. The output scale spans the op's typical range. DIV divides
    by a constant: 0/0 is NaN, which TFLM's own QUANTIZE turns into different integers on x86 and Arm.
    SQRT and RSQRT: the input scale is sometimes subnormal (1e-45..1e-38: subnormal float inputs); their NaN
    below 0 and RSQRT's inf at 0 (TFLM's QUANTIZE of inf also differs on x86 and Arm) go through MINIMUM with
    1000 output steps (TFLM's x < c ? x : c is c for both) before the QUANTIZE."""
    op = draw(st.sampled_from(FLOAT_OPS)) if op is None else op
    shape = draw(shapes(1, 4))
    b = ModelBuilder()
    s_in, zp_in = draw(quant())
    if op in ("SQRT", "RSQRT") and draw(st.booleans()):
        s_in = float(np.float32(10.0 ** draw(st.floats(-44.5, -38))))
    x = b.input(shape, s_in, zp_in)
    xf, inputs = b.dequantize(x), [x]
    spread = {"MUL": 30.0, "DIV": 30.0, "SQUARED_DIFFERENCE": 100.0}.get(op, 3.0)
    if op in ("SQRT", "RSQRT"):
        spread = float(np.sqrt(128 * s_in)) if op == "SQRT" else float(1 / np.sqrt(s_in))
    out_scale = float(np.float32(draw(scales) * spread))
    if op in ("SQRT", "RSQRT"):  # NaN and inf, out of MINIMUM as its second operand
        y = b.float_op("MINIMUM", b.float_op(op, xf), b.const(np.float32([1000 * out_scale]), "float32"))
    elif op in FLOAT_UNARY_OPS:
        y = b.float_op(op, xf)
    else:
        other = [d if draw(st.booleans()) else 1 for d in shape][draw(st.integers(0, len(shape) - 1)):]
        if op != "DIV" and draw(st.booleans()):
            z = b.input([1] * (len(shape) - len(other)) + other, *draw(quant()))  # a model input: full rank
            zf, inputs = b.dequantize(z), inputs + [z]
        else:
            rng = np.random.default_rng(draw(seeds))
            c = rng.choice([-1, 1], other) * 10.0 ** rng.uniform(-3, 3, other)
            zf = b.const(c.astype(np.float32), "float32")
        a, c = (xf, zf) if op == "DIV" or draw(st.booleans()) else (zf, xf)
        y = b.float_op(op, a, c, activation=draw(activations))
    return _case(op, b, inputs, [b.quantize(y, out_scale, draw(zero_points))])


@st.composite
def reduce_extreme_models(draw, op="REDUCE_MAX"):
    """int8 -> DEQUANTIZE -> MUL by a constant of 0, 1, -1 or 1e38 -> DIV by one of 1, 0 or -0.0 -> float32 REDUCE_MAX /
    REDUCE_MIN over axes after the batch -> the float32 model output: the reduced values hold -0.0 and +0.0, NaN (0/0), +-inf
    and finite values, whole reductions of only NaN or only -inf among them (the multiplier sometimes one value)."""
    shape = draw(shapes(2, 4))
    rank = len(shape)  # axes after the batch (the output keeps it), some negative
    axes = draw(st.lists(st.integers(1, rank - 1).map(lambda a: a - rank if a % 2 else a), min_size=1, max_size=rank - 1,
                         unique_by=lambda a: a % rank))
    rng = np.random.default_rng(draw(seeds))
    every = draw(st.sampled_from([None, 0.0, 1e38]))
    m = np.full(shape, every) if every is not None else rng.choice([0.0, 1.0, -1.0, 1e38], shape)
    b = ModelBuilder()
    x = b.input(shape, *draw(quant()))
    y = b.float_op("MUL", b.dequantize(x), b.const(m.astype(np.float32), "float32"))
    y = b.float_op("DIV", y, b.const(rng.choice(np.float32([1.0, 0.0, -0.0]), shape), "float32"))
    keep = draw(st.booleans())
    return _case(op, b, [x], [b.mean(y, axes, keep, op=op)], axes=axes, keep_dims=keep)


STRATEGIES = {
    "CONV_2D": conv_2d_models, "DEPTHWISE_CONV_2D": depthwise_conv_2d_models, "TRANSPOSE_CONV": transpose_conv_models,
    "FULLY_CONNECTED": fully_connected_models, "POOL_2D": pool_models,
    "ADD": add_models, "MUL": mul_models, "SOFTMAX": softmax_models, "LOG_SOFTMAX": log_softmax_models, "L2_NORMALIZATION": l2_normalization_models,
    "LOGISTIC": logistic_models, "TANH": tanh_models, "RESHAPE": reshape_models,
    "CONCATENATION": concatenation_models, "MEAN": mean_models, "PAD": pad_models,
    "QUANTIZE": quantize_models, "DEQUANTIZE": dequantize_models, "CAST": cast_models,
    "RELU": relu_models, "RELU6": relu6_models, "LEAKY_RELU": leaky_relu_models, "HARD_SWISH": hard_swish_models,
    "SUB": sub_models, "SQUARED_DIFFERENCE": squared_difference_models, "MAXIMUM": maximum_models,
    "MINIMUM": minimum_models, "PRELU": prelu_models, "TRANSPOSE": transpose_models, "SLICE": slice_models,
    "STRIDED_SLICE": strided_slice_models, "PACK": pack_models,
    "SPLIT": partial(split_models, "SPLIT"), "SPLIT_V": partial(split_models, "SPLIT_V"),
    "UNPACK": partial(split_models, "UNPACK"),
    "RESIZE_NEAREST_NEIGHBOR": resize_nearest_neighbor_models,
    "RESIZE_BILINEAR": partial(resize_nearest_neighbor_models, "RESIZE_BILINEAR"), "SUM": sum_models, "REDUCE_MAX": reduce_max_models,
    "REDUCE_MIN": reduce_min_models, "ABS": abs_models, "RSQRT": rsqrt_models, "ELU": elu_models,
    "DEPTH_TO_SPACE": partial(depth_space_models, "DEPTH_TO_SPACE"),
    "SPACE_TO_DEPTH": partial(depth_space_models, "SPACE_TO_DEPTH"), "GATHER": gather_models,
    "MIRROR_PAD": mirror_pad_models, "ARG_MAX": partial(arg_min_max_models, "ARG_MAX"),
    "ARG_MIN": partial(arg_min_max_models, "ARG_MIN"), "BATCH_MATMUL": batch_matmul_models,
    "BROADCAST_TO": broadcast_to_models, "GATHER_ND": gather_nd_models,
    "SPACE_TO_BATCH_ND": partial(space_batch_models, "SPACE_TO_BATCH_ND"),
    "BATCH_TO_SPACE_ND": partial(space_batch_models, "BATCH_TO_SPACE_ND"),
}


def single_op_models():
    return st.one_of([s() for s in STRATEGIES.values()])


# ----------------------------------------------------------------------------- recurrent family
@st.composite
def lstm_models(draw, time_major=None, cell_clip=None, dtype="int8"):
    """UNIDIRECTIONAL_SEQUENCE_LSTM as the converter writes it for a Keras LSTM (int8, or 16x8: int16
    activations and int64 biases; an int16 cell state of a power-of-two scale): steps, depth and units not
    multiples of 4, every quantization drawn; a hidden state zero point other than 0 tests the start-up
    state (TFLM fills an int8 one with the zero point, an int16 one with 0). int16 scales are the int8
    ones / 256: the same real ranges."""
    major = _pick(draw, time_major, st.booleans())
    steps, depth, units = draw(st.integers(1, 9)), draw(st.integers(1, 13)), draw(st.integers(1, 11))
    batch = draw(st.integers(1, 3)) if major else 1  # mlc's leading dimension of 1: one step of a batch, time major
    wide = 256.0 if dtype == "int16" else 1.0
    b = ModelBuilder(act_dtype=dtype)
    x_scale, x_zp = draw(quant())
    x = b.input([1, batch, depth] if major else [1, steps, depth], float(np.float32(x_scale / wide)), x_zp)
    h_scale, h_zp = float(np.float32(draw(st.floats(1 / 200, 1 / 60)) / wide)), draw(st.integers(-20, 20))
    cell_scale = 2.0 ** -draw(st.integers(9, 15))
    weights, biases = [], []
    for g in range(8):  # input (x4) then recurrent (x4) weights, TFLite's input, forget, cell, output order
        k = depth if g < 4 else units
        wq, ws, rng = _weights(draw, [units, k], 0, per_channel=False)
        weights.append(b.const_int8(wq, ws))
        if g < 4:
            bias_scale = x.scale * ws
            biases.append(b.bias(np.round(rng.standard_normal(units) * 0.5 / bias_scale), bias_scale))
    hidden = b.variable([batch, units], dtype, h_scale, h_zp)
    cell = b.variable([batch, units], "int16", cell_scale, 0)
    clip = _pick(draw, cell_clip, st.sampled_from([0.0, 10.0, float(np.float32(draw(st.floats(0.2, 3.0))))]))
    y = b.unidirectional_sequence_lstm(x, weights, biases, hidden, cell, h_scale, h_zp, time_major=major, cell_clip=clip)
    return _case("UNIDIRECTIONAL_SEQUENCE_LSTM", b, [x], [y], time_major=major, cell_clip=clip, units=units, dtype=dtype)
