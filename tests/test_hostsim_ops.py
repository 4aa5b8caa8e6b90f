"""TRANSPOSE_CONV, ADD, MUL, (16x8: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL and the copies), SUB,
SQUARED_DIFFERENCE, PRELU, MAXIMUM, MINIMUM, RELU, RELU6, LEAKY_RELU, HARD_SWISH, ABS, RSQRT, ELU, TRANSPOSE, SLICE,
STRIDED_SLICE, PACK, SPLIT/SPLIT_V/UNPACK, the float32 ops between DEQUANTIZE and QUANTIZE (ADD, SUB, MUL, DIV,
SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, NEG; the copies, GATHER, GATHER_ND, MIRROR_PAD, MEAN, SUM, REDUCE_MAX and REDUCE_MIN,
the last two also on -0.0, NaN and infinities, compared as bits) (one SLICE per output), 16x8 SOFTMAX/LOGISTIC/TANH, LOG_SOFTMAX, L2_NORMALIZATION, CAST, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR,
DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND (a batch over 1 inside the model),
GATHER, MIRROR_PAD, ARG_MAX, ARG_MIN, CONCATENATION, PAD/PADV2, MEAN, SUM, REDUCE_MAX, REDUCE_MIN, QUANTIZE and DEQUANTIZE in hostsim, bit-exact against
tflite-micro's interpreter: drawn single-op models (random shapes and quantization, broadcasting,
every fused activation, negative axes) on random and extreme inputs stacked N at a time, the
variants mlc refuses (TFLM refuses them too), small multi-op models including float32 in/out edges,
and the converter-made models of tests/models/keras that use these ops (every intermediate tensor)."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies as S
from codegen.model import tflm as reference
from codegen.errors import MlcError
from codegen.model.fold import fold
from codegen.ops import prepare
from codegen.model.tflite import parse
from hostsim import run, run_all
from hostsim.kernels import load as load_kernels
from tflite_builder import ModelBuilder, quantize_symmetric, run_tflm, tflm_interpreter

pytest.importorskip("tflite_micro")

UNARY = ["RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "ABS", "RSQRT", "ELU"]
BINARY = ["SUB", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "PRELU"]
COPIES = ["TRANSPOSE", "SLICE", "STRIDED_SLICE", "PACK", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "SPLIT", "SPLIT_V", "UNPACK",
          "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "BATCH_TO_SPACE_ND", "GATHER", "MIRROR_PAD", "ARG_MAX", "ARG_MIN"]
OPS = ["TRANSPOSE_CONV", "BATCH_MATMUL", "BROADCAST_TO", "GATHER_ND", "ADD", "MUL", "CONCATENATION", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "PAD", "QUANTIZE", "DEQUANTIZE", "LOG_SOFTMAX", "L2_NORMALIZATION", "CAST", *UNARY, *BINARY, *COPIES]
KERAS = Path(__file__).parent / "models" / "keras"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def graph_of(data: bytes):
    graph = parse(data, "case.tflite")
    fold(graph)
    prepare(graph)
    return graph


def _kernel_loop(graph, xs):
    """run_all for several inputs (hostsim.run takes one): each input stacked (N, *shape)."""
    kernels = load_kernels()
    values = {t.index: x.reshape(len(x), *t.shape[1:]) if t.shape[0] == 1 else x for t, x in zip(graph.inputs, xs)}
    for op in graph.ops:
        args = [t.data if t.is_const else values[t.index] for t in op.inputs if t is not None]
        values[op.outputs[0].index] = kernels[op.kind](op, *args)
    return values[graph.outputs[0].index]


def simulate(graph, xs):
    """hostsim on N samples per input, each (N, *input shape); returns (N, *output shape)."""
    t = graph.inputs[0]
    if len(xs) == 1 and t.shape[0] == 1:
        out = run(graph, xs[0].reshape(len(xs[0]), *t.shape[1:]))
    else:
        out = _kernel_loop(graph, xs)
    return out.reshape(len(xs[0]), *graph.outputs[0].shape)


def extremes(case, seed) -> list:
    """Per input: a random sample, then all-minimum and all-maximum ones (for float32 inputs: far
    beyond the output range, and exact .5 rounding ties of the output scale)."""
    stacks = []
    for t, x in zip(case.inputs, case.make_inputs(seed)):
        if t.dtype == "float32":
            lo, hi = case.params["float_range"]
            scale = case.outputs[0].scale or (hi - lo) / 255  # the QUANTIZE's: multi-op ranges span 255 steps
            ties = (np.arange(x.size).reshape(x.shape) % 9 - 4.5) * scale
            low, high = np.full_like(x, -1e6), np.full_like(x, 1e6)
            stacks.append(np.stack([x, low, high, ties.astype(np.float32)]))
        else:
            info = np.iinfo(t.dtype)
            stacks.append(np.stack([x, np.full_like(x, info.min), np.full_like(x, info.max)]))
    n = min(len(s) for s in stacks)
    return [s[:n] for s in stacks]


def batch_one_shapes(monkeypatch):
    """mlc runs batch-1 models: give the drawn shapes a leading 1 (strategies.shapes is looked up
    when a strategy draws). Drawn ops can still move data along axis 0; mlc refuses those."""
    drawn = S.shapes
    monkeypatch.setattr(S, "shapes", lambda min_rank=1, max_rank=4, max_dim=6:
                        drawn(max(min_rank - 1, 0), max_rank - 1, max_dim).map(lambda s: [1, *s]))


def refused_for_batch(graph) -> bool:
    """True when mlc refused the model for the batch-of-one layout, which it then must break."""
    if not graph.unsupported:
        return False
    assert all("leading batch dimension of 1" in reason for _, _, reason in graph.unsupported), graph.unsupported
    assert any(not t.is_const and t.shape[:1] != (1,) for op in graph.ops for t in (op.inputs[0], op.outputs[0]))
    return True


def assert_bit_exact(data: bytes, xs: list):
    graph = graph_of(data)
    if refused_for_batch(graph):
        return
    got = simulate(graph, xs)
    for i in range(len(xs[0])):
        want = run_tflm(data, [x[i] for x in xs])[0]
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        diff = np.flatnonzero(got[i].ravel() != want.ravel())
        assert diff.size == 0, (f"sample {i}: {graph.ops[0].kind} {graph.ops[0].params}: {diff.size}/{want.size} differ, "
                                f"first at {diff[0]}: hostsim {got[i].ravel()[diff[0]]} TFLM {want.ravel()[diff[0]]}")


@pytest.mark.parametrize("op", OPS)
def test_single_op_models_bit_exact(op, monkeypatch):
    batch_one_shapes(monkeypatch)

    @SETTINGS
    @given(case=S.STRATEGIES[op](), seed=S.seeds)
    def check(case, seed):
        assert_bit_exact(case.model, extremes(case, seed))

    check()


def _tflm_twice(data: bytes, x: np.ndarray, y: np.ndarray) -> tuple:
    """TFLM's outputs for inputs x and y on one interpreter (its Prepare-time state shared)."""
    interp = tflm_interpreter(data)
    outs = []
    for v in (x, y):
        interp.set_input(np.ascontiguousarray(v), 0)
        interp.invoke()
        outs.append(interp.get_output(0).copy())
    return outs


CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@pytest.mark.parametrize("op, dtype, middles", [("SPACE_TO_BATCH_ND", "int8", None), ("SPACE_TO_BATCH_ND", "float32", None),
                                                ("BATCH_TO_SPACE_ND", "int8", None), ("BATCH_TO_SPACE_ND", "float32", None),
                                                ("SPACE_TO_BATCH_ND", "int8", CONVS)], ids=str)
def test_space_batch_models_bit_exact(op, dtype, middles):
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND with a batch over 1 inside (copied by RESHAPE, PAD, PADV2, SLICE,
    TRANSPOSE, convolved by CONV_2D and DEPTHWISE_CONV_2D), int8 and float32 (in an island). TFLM's SpaceToBatchND fills its padding from a field its Prepare never sets (the
    arena's leftovers), so the elements it pads are found as those equal for an input and its bitwise complement
    on one interpreter: there hostsim must hold the output zero point (TFLite's pad), everywhere else TFLM's bytes."""

    @SETTINGS
    @given(case=S.space_batch_models(op, dtype=dtype, middles=middles), seed=S.seeds)
    def check(case, seed):
        graph = graph_of(case.model)
        assert not graph.unsupported, graph.unsupported
        assert {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} & {o.kind for o in graph.ops}
        for x in extremes(case, seed)[0]:
            got = simulate(graph, [x[None]])[0].ravel()
            want, other = (a.ravel() for a in _tflm_twice(case.model, x, np.invert(x)))
            padded = op == "SPACE_TO_BATCH_ND" and any(map(sum, case.params["edges"]))
            fixed = (want == other) if padded else np.zeros(want.shape, bool)
            assert np.array_equal(got[~fixed], want[~fixed]), case
            assert np.all(got[fixed] == graph.outputs[0].quant.zp), case
            if case.params["middle"] is None and padded:  # SPACE_TO_BATCH_ND copies every input element once
                assert np.count_nonzero(~fixed) == x.size

    check()


@pytest.mark.parametrize("op", S.FLOAT_OPS)
def test_float_island_models_bit_exact(op, monkeypatch):
    """DEQUANTIZE -> float32 op -> QUANTIZE: hostsim's float32 arithmetic is TFLM's bit for bit."""
    batch_one_shapes(monkeypatch)

    @SETTINGS
    @given(case=S.float_island_models(op), seed=S.seeds)
    def check(case, seed):
        assert_bit_exact(case.model, extremes(case, seed))

    check()


def special_inputs(case, seed) -> list:
    """A random int8 sample, all-minimum, all-maximum, all at the zero point and a random half at it."""
    t, x = case.inputs[0], case.make_inputs(seed)[0]
    zp = np.full_like(x, t.zero_point)
    half = np.where(np.random.default_rng(seed).random(x.shape) < 0.5, zp, x)
    return [np.stack([x, np.full_like(x, -128), np.full_like(x, 127), zp, half])]


@pytest.mark.parametrize("op", ["REDUCE_MAX", "REDUCE_MIN"])
def test_float_reduce_max_min_on_nan_zeros_and_infinities(op, monkeypatch):
    """float32 REDUCE_MAX / REDUCE_MIN bit for bit TFLM's (compared as bits: -0.0 is not +0.0) on -0.0, +0.0, NaN,
    +-inf and finite inputs: TFLM's strict compare from -FLT_MAX / FLT_MAX keeps the first of equal zeros and
    never takes a NaN or an infinity on the starting side (NaN or -inf alone give -FLT_MAX for REDUCE_MAX)."""
    batch_one_shapes(monkeypatch)

    @SETTINGS
    @given(case=S.reduce_extreme_models(op), seed=S.seeds)
    def check(case, seed):
        xs = special_inputs(case, seed)
        got = simulate(graph_of(case.model), xs)
        for i in range(len(xs[0])):
            want = run_tflm(case.model, [x[i] for x in xs])[0]
            assert got.dtype == want.dtype == np.float32
            assert np.array_equal(got[i].view(np.uint32), want.view(np.uint32)), (case, i, got[i], want)

    check()


def reduce_specials_model(rng) -> bytes:
    """int8 [1, 5, 7] -> DEQUANTIZE -> MUL by 0, 1, -1 or 1e38 and DIV by 1, 0 or -0.0 (constants; -0.0, NaN, +-inf,
    a column of 0/0 alone) -> float32 REDUCE_MAX over columns and REDUCE_MIN over rows, concatenated: the float32
    model output."""
    b = ModelBuilder()
    x = b.input([1, 5, 7], 0.05, 3)
    m = rng.choice([0.0, 1.0, -1.0, 1e38], [1, 5, 7])
    d = rng.choice([1.0, 0.0, -0.0], [1, 5, 7])
    m[0, :, 2], d[0, :, 2] = 0.0, 0.0  # NaN only
    y = b.float_op("DIV", b.float_op("MUL", b.dequantize(x), b.const(m.astype(np.float32), "float32")),
                   b.const(d.astype(np.float32), "float32"))
    rows, cols = b.mean(y, [2], op="REDUCE_MAX"), b.mean(y, [-2], op="REDUCE_MIN")
    b.output(b.concatenation([rows, cols], 1))
    return b.finish()


def test_reduce_specials_model_bit_exact():
    """reduce_specials_model (the one the boards run) bit for bit TFLM's, its output holding -0.0 and the all-NaN
    column's FLT_MAX (REDUCE_MIN's start, which no NaN replaces)."""
    model = reduce_specials_model(np.random.default_rng(3))
    xs = [np.random.default_rng(4).integers(-128, 128, (20, 1, 5, 7)).astype(np.int8)]
    got = simulate(graph_of(model), xs)
    want = np.stack([run_tflm(model, [x])[0] for x in xs[0]])
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    assert np.any(np.signbit(want) & (want == 0)) and np.all(want[..., 5 + 2] == np.finfo(np.float32).max)

INT16 = ["CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "PRELU", "RESHAPE", "CONCATENATION", "PACK", "PAD",
         "TRANSPOSE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "UNPACK", "POOL_2D", "MEAN", "SUM",
         "RELU", "RELU6", "LEAKY_RELU", "BATCH_MATMUL", "BROADCAST_TO", "SOFTMAX", "LOGISTIC", "TANH"]


@pytest.mark.parametrize("op,dtype", [*((op, "int16") for op in INT16), *((op, "float32") for op in S.FLOAT_COPY_OPS)])
def test_int16_and_float32_single_op_models_bit_exact(op, dtype, monkeypatch):
    """16x8 (int16 activations with zero point 0, int8 weights, int64 bias), and the data-movement ops on float32
    between DEQUANTIZE and QUANTIZE (float_island: the elements copied as TFLM copies them), on random and
    extreme inputs."""
    batch_one_shapes(monkeypatch)

    @SETTINGS
    @given(case=S.STRATEGIES[op](dtype=dtype), seed=S.seeds)
    def check(case, seed):
        assert_bit_exact(case.model, extremes(case, seed))

    check()


def test_int16_relu_divides_the_scales_in_double():
    """TFLM's CalculateReluOpData divides the scales in double, where most Prepare functions divide in float:
    on these scales the two multipliers part, and 5 of the 65,536 int16 inputs with them."""
    b = ModelBuilder(act_dtype="int16")
    x = b.input([1, 65536], 0.0005529408808797598, 0, dtype="int16")
    b.output(b.unary("RELU", x, 0.0006979203317314386, 0))
    model = b.finish()
    xs = np.arange(-32768, 32768).astype(np.int16).reshape(1, -1)
    assert np.array_equal(run(graph_of(model), xs), run_tflm(model, [xs])[0])


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("scale", [2.0 ** -12, 2.0 ** -11, 2.0 ** -15, 3e-4, 0.1, 1.0, 2.5, 1e-9])
def test_int16_logistic_and_tanh_on_every_int16_value(op, scale):
    """TFLM's int16 LOGISTIC/TANH: power-of-two scales (2^-12, for TANH also 2^-11) take multiplier 3 << shift,
    others a multiplier of 12288 * scale doubled up to 14 bits, with a rounding shift of up to 31."""
    b = ModelBuilder(act_dtype="int16")
    x = b.input([1, 65536], float(np.float32(scale)), 0)
    b.output(b.logistic(x) if op == "LOGISTIC" else b.tanh(x))
    model = b.finish()
    xs = np.arange(-32768, 32768).astype(np.int16).reshape(1, -1)
    assert np.array_equal(run(graph_of(model), xs), run_tflm(model, [xs])[0])


@pytest.mark.parametrize("op", UNARY)
def test_one_element_functions_on_every_int8_value(op, monkeypatch):
    """RELU, RELU6, LEAKY_RELU, HARD_SWISH, ABS, RSQRT, ELU are tables of TFLM's arithmetic: every one of the
    256 inputs."""
    batch_one_shapes(monkeypatch)

    @SETTINGS
    @given(case=S.STRATEGIES[op]())
    def check(case):
        shape = case.inputs[0].shape
        n = int(np.prod(shape))
        sweep = np.arange(-128, 128 + n, dtype=np.int64)
        xs = np.stack([(sweep[i:i + n] + 128) % 256 - 128 for i in range(0, 256, n)]).astype(np.int8)
        assert_bit_exact(case.model, [xs.reshape(len(xs), *shape)])

    check()


@st.composite
def concatenations(draw, single_input=False) -> bytes:
    """Batch-1 CONCATENATION along a non-batch axis (negative too) of x with further inputs, copies of
    x (requantized to its own quantization) and constants, in any order."""
    shape = [1] + draw(S.shapes(1, 3))
    axis = draw(st.integers(1, len(shape) - 1)) - (len(shape) if draw(st.booleans()) else 0)
    q = draw(S.quant())
    rng = np.random.default_rng(draw(S.seeds))
    b = ModelBuilder()
    parts = [b.input(shape, *q)]
    for _ in range(draw(st.integers(1, 3))):
        other = list(shape)
        other[axis] = draw(st.integers(1, 4))
        kind = draw(st.sampled_from(["copy", "const"] + ([] if single_input else ["input"])))
        parts.append(b.quantize(parts[0], *q) if kind == "copy" else b.input(other, *q) if kind == "input"
                     else b.const_int8(rng.integers(-128, 128, other), *q))
    draw(st.randoms()).shuffle(parts)
    b.output(b.concatenation(parts, axis))
    return b.finish()


@st.composite
def pads(draw) -> bytes:
    """Batch-1 PAD / PADV2 (any pad value) on every axis but the batch."""
    shape = [1] + draw(S.shapes(1, 3))
    paddings = [[0, 0]] + [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in shape[1:]]
    b = ModelBuilder()
    x = b.input(shape, *draw(S.quant()))
    b.output(b.padv2(x, paddings, draw(S.zero_points)) if draw(st.booleans()) else b.pad(x, paddings))
    return b.finish()


def samples(data: bytes, seed) -> list:
    """Per model input: a random sample, all -128 and all 127, stacked."""
    rng = np.random.default_rng(seed)
    return [np.stack([rng.integers(-128, 128, t.shape), np.full(t.shape, -128), np.full(t.shape, 127)]).astype(np.int8)
            for t in graph_of(data).inputs]


@SETTINGS
@given(data=st.one_of(concatenations(), pads()), seed=S.seeds)
def test_batch_one_concatenation_and_pad(data, seed):
    assert not graph_of(data).unsupported
    assert_bit_exact(data, samples(data, seed))


@SETTINGS
@given(op=st.sampled_from(["ADD", "MUL"]), activation=st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]),
       scales=st.tuples(S.scales, S.scales, S.scales), zps=st.tuples(S.zero_points, S.zero_points, S.zero_points),
       channels=st.sampled_from(S.CHANNELS), const_first=st.booleans(), seed=S.seeds)
def test_binary_with_constant_operand(op, activation, scales, zps, channels, const_first, seed):
    """A per-channel constant vector broadcast over an NHWC map, as converters emit for scale/bias layers."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input([1, 3, 4, channels], scales[0], zps[0])
    c = b.const_int8(rng.integers(-128, 128, channels), scales[1], zps[1])
    out_scale = scales[0] * scales[1] * 64 if op == "MUL" else scales[0] + scales[1]
    y = (b.add if op == "ADD" else b.mul)(*((c, x) if const_first else (x, c)), float(np.float32(out_scale)), zps[2], activation)
    b.output(y)
    sample = rng.integers(-128, 128, x.shape).astype(np.int8)
    assert_bit_exact(b.finish(), [np.stack([sample, np.full_like(sample, -128), np.full_like(sample, 127)])])


def _concat(scales, zps, activation="NONE") -> bytes:
    b = ModelBuilder()
    xs = [b.input([1, 2, 3], s, z) for s, z in zip(scales[:-1], zps[:-1])]
    out = b._activation_tensor([1, 2, 3 * len(xs)], scales[-1], zps[-1])
    b.output(b._op("CONCATENATION", xs, out, ("ConcatenationOptions", {"Axis": -1, "FusedActivationFunction": b._act(activation)})))
    return b.finish()


def _padv2(constant_quant) -> bytes:
    b = ModelBuilder()
    x = b.input([1, 3, 3, 2], 0.1, 4)
    c = b.const_int8([7], *constant_quant)
    out = b._activation_tensor([1, 5, 5, 2], 0.1, 4)
    b.output(b._op("PADV2", [x, b.const_int32([[0, 0], [1, 1], [1, 1], [0, 0]]), c], out, ("PadV2Options", {})))
    return b.finish()


def _log_softmax_out(scale, zero_point) -> bytes:
    b = ModelBuilder()
    x = b.input([1, 2, 3], 0.1, 4)
    b.output(b._op("LOG_SOFTMAX", [x], b._activation_tensor([1, 2, 3], scale, zero_point), ("LogSoftmaxOptions", {})))
    return b.finish()


def _l2_norm_relu() -> bytes:
    b = ModelBuilder()
    x = b.input([1, 2, 3], 0.1, 4)
    b.output(b.unary("L2_NORMALIZATION", x, 1 / 128, 0, ("L2NormOptions", {"FusedActivationFunction": b._act("RELU")})))
    return b.finish()


def _gather_unlike_tflm(op, dtype="int8", positions="int32") -> bytes:
    """GATHER / GATHER_ND of int16, or with int64 positions: TFLM's kernels take int8 / float32 and int32 only."""
    b = ModelBuilder(act_dtype=dtype)
    x = b.input([1, 2, 3], 0.1, 0)
    if op == "GATHER_ND":
        b.output(b.gather_nd(x, [[0, 1]]))
    else:
        b.output(b.gather(x, b.const(np.asarray([1, 0], positions), positions), axis=1))
    return b.finish()


@pytest.mark.parametrize("data, reason", [
    (_gather_unlike_tflm("GATHER", "int16"), "mlc's GATHER takes int8"),
    (_gather_unlike_tflm("GATHER_ND", "int16"), "mlc's GATHER_ND takes int8"),
    (_gather_unlike_tflm("GATHER", positions="int64"), "TFLite Micro takes int32 only"),
    (_l2_norm_relu(), "TFLite takes none"),
    (_log_softmax_out(16 / 256, 0), "scale 16/256 and zero point 127"),
    (_log_softmax_out(1 / 256, 127), "scale 16/256 and zero point 127"),
    (_concat([0.1, 0.05, 0.1], [3, 3, 3]), "requantize it"),
    (_concat([0.1, 0.1, 0.1], [3, 2, 3]), "requantize it"),
    (_concat([0.1, 0.1, 0.2], [3, 3, 3]), "requantize it"),
    (_concat([0.1, 0.1, 0.1], [3, 3, 3], "RELU"), "fused RELU"),
    (_padv2((0.2, 4)), "quantized like the output"),
])
def test_variants_tflm_refuses_are_refused_with_the_reason(data, reason):
    with pytest.raises(MlcError, match="TFLM cannot load"):  # TFLM's Prepare rejects each of these
        run_tflm(data, [np.zeros((1, 2, 3), np.int8)] * 2)
    graph = graph_of(data)
    assert len(graph.unsupported) == 1 and reason in graph.unsupported[0][2]
    with pytest.raises(MlcError, match=reason):
        run(graph, np.zeros(graph.inputs[0].shape, np.int8))


def _gather(positions=None) -> bytes:
    """GATHER along axis 1 of a [1, 4, 3] input, constant positions or (None) an int32 model input."""
    b = ModelBuilder()
    x = b.input([1, 4, 3], 0.1, 2)
    b.output(b.gather(x, b.input([2], dtype="int32") if positions is None else positions, axis=1))
    return b.finish()


def _mirror_pad(mode, paddings) -> bytes:
    b = ModelBuilder()
    b.output(b.mirror_pad(b.input([1, 3, 2], 0.1, 2), paddings, mode))
    return b.finish()


def _cast_from_float() -> bytes:
    b = ModelBuilder()
    b.output(b.cast(b.input([1, 3, 2], dtype="float32"), "int8"))
    return b.finish()


@pytest.mark.parametrize("data, reason", [
    (_cast_from_float(), "a float32 source is undefined in C"),  # TFLM runs it (static_cast; out of range undefined)
    (_gather(), "mlc needs constant indices"),
    (_gather([1, 4]), "go outside axis 1"),  # TFLM only DCHECKs it and reads past the input
    (_mirror_pad("REFLECT", [[0, 0], [3, 0], [0, 0]]), "at most the axis size - 1"),
    (_mirror_pad("SYMMETRIC", [[0, 0], [0, 0], [0, 3]]), "at most the axis size"),
])
def test_variants_mlc_does_not_take_are_refused_with_the_reason(data, reason):
    graph = graph_of(data)
    assert len(graph.unsupported) == 1 and reason in graph.unsupported[0][2], graph.unsupported
    with pytest.raises(MlcError, match=reason):
        run(graph, np.zeros(graph.inputs[0].shape, np.int8))


# ----------------------------------------------------------------------------- multi-op models
def _conv(b, x, cout, rng, activation="NONE", k=3, headroom=1):
    wq, ws = quantize_symmetric(rng.standard_normal([cout, k, k, x.shape[3]]), axis=0)
    bias = b.bias(np.round(rng.standard_normal(cout) * 0.2 / (x.scale * ws)), x.scale * ws)
    out_scale = float(np.float32(x.scale * np.mean(ws) * 74 * np.sqrt(k * k * x.shape[3]) / 64 * headroom))
    zero_point = int(rng.integers(-20, 20)) if b.act_dtype == "int8" else 0  # 16x8: zero points 0
    return b.conv_2d(x, b.const_int8(wq, ws, axis=0), bias, out_scale, zero_point, activation=activation)


def residual_model(rng) -> bytes:
    """conv -> conv -> ADD (residual, fused RELU) -> MUL by a per-channel constant."""
    b = ModelBuilder()
    x = b.input([1, 6, 5, 3], 0.03, -7)
    y = _conv(b, x, 7, rng, "RELU")
    z = _conv(b, y, 7, rng)
    s = b.add(y, z, float(np.float32(y.scale + z.scale)), -128, "RELU")
    g = b.const_int8(rng.integers(-128, 128, 7), 0.01, 3)
    b.output(b.mul(s, g, float(np.float32(s.scale * 0.6)), 5, "RELU6"))
    return b.finish()


def branches_model(rng) -> bytes:
    """Two conv branches at different scales, requantized (QUANTIZE) to one before CONCATENATION,
    then PAD and MEAN over H and W: what the converter emits for an inception-style block."""
    b = ModelBuilder()
    x = b.input([1, 5, 6, 2], 0.05, 10)
    y1, y2 = _conv(b, x, 3, rng), _conv(b, x, 5, rng, "RELU6", k=1)
    scale = float(np.float32(max(y1.scale, y2.scale)))
    c = b.concatenation([b.quantize(y1, scale, 0), b.quantize(y2, scale, 0)], axis=3)
    p = b.pad(c, [[0, 0], [1, 2], [0, 1], [0, 0]])
    b.output(b.mean(p, [1, 2], False, float(np.float32(scale / 2)), -3))
    return b.finish()


def float_io_model(rng) -> bytes:
    """float32 in -> QUANTIZE -> PADV2 -> conv -> MEAN (keep dims) -> DEQUANTIZE -> float32 out."""
    b = ModelBuilder()
    x = b.input([1, 4, 4, 3], dtype="float32")
    q = b.quantize(x, 0.02, 4)
    p = b.padv2(q, [[0, 0], [1, 1], [1, 1], [0, 0]], -100)
    y = _conv(b, p, 5, rng, "RELU")
    b.output(b.dequantize(b.mean(y, [1, 2], True)))
    return b.finish()


def float_island_model(rng) -> bytes:
    """conv -> DEQUANTIZE -> NEG -> MUL (RELU) by a float32 per-channel constant -> ADD the dequantized conv
    -> DIV by a constant -> MAXIMUM with RELU6(ABS(NEG - RELU(DIV))) -> MAXIMUM with RSQRT(SQRT(|NEG| * 1e-40)
    * 1e20 + 0.5) (subnormal SQRT inputs, 0 among them) -> PAD, TRANSPOSE, CONCATENATION, RESHAPE on float32
    -> plus its MEAN over rows, minus 0.1 x the SUM of that over columns -> QUANTIZE: a float32 island (in place
    and broadcast) between int8 layers."""
    b = ModelBuilder()
    x = b.input([1, 4, 5, 3], 0.03, -7)
    y = _conv(b, x, 6, rng)
    f = b.dequantize(y)
    n = b.float_op("NEG", f)
    m = b.float_op("MUL", n, b.const(rng.uniform(-2, 2, [6]).astype(np.float32), "float32"), activation="RELU")
    a = b.float_op("ADD", m, f, activation="RELU6")
    d = b.float_op("DIV", a, b.const(rng.uniform(0.5, 3, [1, 1, 5, 1]).astype(np.float32), "float32"))
    r = b.float_op("RELU6", b.float_op("ABS", b.float_op("SUB", n, b.float_op("RELU", d))))
    c = lambda v: b.const(np.float32([v]), "float32")  # noqa: E731
    t = b.float_op("SQRT", b.float_op("MUL", b.float_op("ABS", n), c(1e-40)))
    q = b.float_op("RSQRT", b.float_op("ADD", b.float_op("MUL", t, c(1e20)), c(0.5)))
    p = b.pad(b.float_op("MAXIMUM", b.float_op("MAXIMUM", d, r), q), [[0, 0], [1, 0], [0, 0], [0, 0]])  # 1x5x5x6
    r = b.reshape(b.concatenation([b.transpose(p, [0, 2, 1, 3]), p], 3), [1, 25, 12])
    y = b.float_op("ADD", r, b.mean(r, [1], True))
    y = b.float_op("SUB", y, b.float_op("MUL", b.mean(y, [2], True, op="SUM"), c(0.1)))
    b.output(b.quantize(y, 0.1, 0))
    return b.finish()


def int16_prelu_model(rng) -> bytes:
    """16x8 conv -> PRELU (int16, per-channel int8 alpha): the converter refuses 16x8 PRELU, TFLM runs it."""
    b = ModelBuilder(act_dtype="int16")
    x = b.input([1, 5, 4, 3], 0.0004, 0)
    y = _conv(b, x, 6, rng, headroom=128)  # full-range int16 inputs: few outputs saturate
    b.output(b.prelu(y, b.const_int8(rng.integers(-128, 128, [1, 1, 6]), 0.004, -2), float(np.float32(y.scale * 0.6)), 0))
    return b.finish()


def activations_model(rng) -> bytes:
    """conv -> LEAKY_RELU -> SUB a per-channel constant -> PRELU -> HARD_SWISH -> MAXIMUM with the
    RELU6 of the conv -> SQUARED_DIFFERENCE with the RELU of the conv."""
    b = ModelBuilder()
    x = b.input([1, 5, 4, 3], 0.04, -5)
    y = _conv(b, x, 6, rng)
    z = b.leaky_relu(y, 0.1, float(np.float32(y.scale * 0.7)), -40)
    z = b.sub(z, b.const_int8(rng.integers(-128, 128, 6), 0.02, 7), float(np.float32(z.scale * 1.5)), 3, "RELU6")
    z = b.prelu(z, b.const_int8(rng.integers(-128, 128, [1, 1, 6]), 0.004, -2), float(np.float32(z.scale)), -9)
    z = b.unary("HARD_SWISH", z, float(np.float32(z.scale * 0.8)), -60, ("HardSwishOptions", {}))
    r6 = b.quantize(b.unary("RELU6", y), z.scale, z.zero_point)
    z = b.maximum(z, r6)
    b.output(b.squared_difference(z, b.unary("RELU", y, float(np.float32(y.scale)), -128), float(np.float32(z.scale * 4)), -100))
    return b.finish()


def copies_model(rng) -> bytes:
    """TRANSPOSE -> STRIDED_SLICE (negative strides, masks) -> SLICE -> conv, the data moves of layout glue."""
    b = ModelBuilder()
    x = b.input([1, 3, 6, 5], 0.05, 3)
    t = b.transpose(x, [0, 2, 3, 1])
    s = b.strided_slice(t, [0, -1, 0, 1], [1, -7, 5, 3], [1, -2, 2, 1], begin_mask=0b1000, end_mask=0b0100)
    q = b.slice(s, [0, 1, 0, 0], [1, -1, -1, 2])
    b.output(_conv(b, q, 4, rng, k=1))
    return b.finish()


def space_batch_model(rng) -> bytes:
    """conv -> SPACE_TO_BATCH_ND (padded) -> conv (3x3, RELU) -> PAD -> BATCH_TO_SPACE_ND (cropped) -> conv: the two
    ops on their own (the PAD keeps the middle conv from folding into a dilated one), a batch of 4 convolved and
    copied between them. TFLM pads SPACE_TO_BATCH_ND with an unset value (test_space_batch_models_bit_exact), so
    this model is held to hostsim, not to TFLM."""
    b = ModelBuilder()
    x = b.input([1, 7, 6, 3], 0.05, -5)
    y = _conv(b, b.space_to_batch_nd(_conv(b, x, 5, rng), [2, 2], [[1, 0], [0, 2]]), 6, rng, "RELU")
    z = b.batch_to_space_nd(b.pad(y, [[0, 0], [1, 1], [0, 0], [0, 0]]), [2, 2], [[1, 2], [0, 1]])
    b.output(_conv(b, z, 4, rng, k=1))
    return b.finish()


@pytest.mark.parametrize("make", [residual_model, branches_model, float_io_model, float_island_model, activations_model,
                                  copies_model, int16_prelu_model])
def test_multi_op_models_every_intermediate_bit_exact(make):
    rng = np.random.default_rng(11)
    data = make(rng)
    graph = graph_of(data)
    t = graph.inputs[0]
    shape = (16, *t.shape[1:])
    if t.dtype == "float32":
        x = rng.uniform(-3, 3, shape).astype(np.float32)
    else:
        info = np.iinfo(t.dtype)
        x = np.concatenate([rng.integers(info.min, info.max + 1, shape), np.full(shape, info.min),
                            np.full(shape, info.max)]).astype(t.dtype)
    out = run(graph, x)
    assert out.dtype == graph.outputs[0].dtype == t.dtype
    layers = reference.compare(graph, x, run_all(graph, x), data)
    bad = [f"layer {m.op_index} ({m.kind}) {m.total - m.matching}/{m.total}" for m in layers if not m.ok]
    assert len(layers) == len(graph.ops) and not bad, bad
    want = reference.run(data, x).outputs[0].reshape(out.shape)
    np.testing.assert_array_equal(out, want)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=S.multi_op_models(), seed=S.seeds)
def test_drawn_multi_op_models_bit_exact(case, seed):
    assert_bit_exact(case.model, extremes(case, seed))


KERAS_MODELS = [p for p in sorted(KERAS.glob("*.tflite")) if {op.kind for op in graph_of(p.read_bytes()).ops} & set(OPS)]


@pytest.mark.parametrize("path", KERAS_MODELS, ids=[p.stem for p in KERAS_MODELS])
def test_converter_models_every_intermediate_bit_exact(path):
    graph = graph_of(path.read_bytes())
    t = graph.inputs[0]
    rng = np.random.default_rng(5)
    shape = (8, *t.shape[1:])
    if t.dtype == "float32":
        x = rng.uniform(-3, 3, shape).astype(np.float32)
    else:
        info = np.iinfo(t.dtype)
        x = rng.integers(info.min, info.max + 1, shape).astype(t.dtype)
    layers = reference.compare(graph, x, run_all(graph, x), path)
    bad = [f"layer {m.op_index} ({m.kind}) {m.total - m.matching}/{m.total}" for m in layers if not m.ok]
    assert not bad, f"{path.name}: {bad}"


@SETTINGS
@given(scales=st.tuples(S.scales, st.floats(1e-5, 1e-3).map(lambda s: float(np.float32(s))), S.scales),
       zps=st.tuples(S.zero_points, st.integers(-32768, 32767)), float_input=st.booleans(), back=st.booleans(),
       seed=S.seeds)
def test_int16_quantize_paths(scales, zps, float_input, back, seed):
    """float32 -> int16 (AffineQuantize) or int8 -> int16 (Requantize), maybe then int16 -> int8."""
    b = ModelBuilder()
    x = b.input([1, 4, 7], dtype="float32") if float_input else b.input([1, 4, 7], scales[0], zps[0])
    y = b.quantize(x, scales[1], zps[1], dtype="int16")
    b.output(b.quantize(y, scales[2], zps[0]) if back else y)
    data = b.finish()
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, (3, 1, 4, 7)).astype(np.float32) if float_input else samples(data, seed)[0]
    assert_bit_exact(data, [x])
