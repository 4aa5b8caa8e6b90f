"""SOFTMAX, LOGISTIC and TANH (int8) in hostsim, bit-exact against tflite-micro's interpreter:
single-op models over drawn quantization, beta and shapes with random and extreme inputs (every
int8 value for LOGISTIC/TANH), the variants mlc refuses, and the two reference models that end in
SOFTMAX (outputs and every intermediate tensor)."""
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import strategies as S
from codegen.model import tflm as reference
from codegen.errors import MlcError
from codegen.ops import load
from hostsim import run, run_all
from tflite_builder import ModelBuilder, run_tflm
from paths import MODELS

pytest.importorskip("tflite_micro")

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# float32 scales spread over powers of two, so multipliers and shifts take all their forms.
pot_scales = st.floats(-28.0, 12.0).map(lambda e: float(np.float32(2.0 ** e)))


def load_bytes(data: bytes):
    """The full import path (fold, checks, parameter derivation) on an in-memory model."""
    fd, path = tempfile.mkstemp(suffix=".tflite")
    try:
        os.write(fd, data)
        os.close(fd)
        return load(path)
    finally:
        os.unlink(path)


def assert_bit_exact(data: bytes, x: np.ndarray):
    """x is one input of the model's exact shape; hostsim must equal TFLM element for element."""
    graph = load_bytes(data)
    want = run_tflm(data, [x])[0]
    got = run(graph, x).reshape(want.shape)
    diff = np.flatnonzero(got != want)
    assert diff.size == 0, (f"{graph.ops[0].kind} {graph.ops[0].params}: {diff.size}/{want.size} differ, "
                            f"first input {x.ravel()[diff[0]]}: hostsim {got.ravel()[diff[0]]} TFLM {want.ravel()[diff[0]]}")


def softmax_rows(depth: int, rng) -> np.ndarray:
    """Random rows plus the extremes: all -128, all 127, both ramps, one-hot peaks."""
    ramp = np.linspace(-128, 127, depth).round()
    peak = np.full(depth, -128)
    peak[rng.integers(depth)] = 127
    near = np.full(depth, 127)
    near[rng.integers(depth)] = 126
    fixed = np.stack([np.full(depth, -128), np.full(depth, 127), ramp, ramp[::-1], peak, near])
    return np.concatenate([fixed, rng.integers(-128, 128, (10, depth))]).astype(np.int8)


@SETTINGS
@given(op=st.sampled_from(["LOGISTIC", "TANH"]), scale=pot_scales, zero_point=st.integers(-128, 127))
@example(op="LOGISTIC", scale=float(np.float32(2.0 ** -28)), zero_point=0)  # smallest accepted scale
@example(op="TANH", scale=4096.0, zero_point=-128)
def test_sigmoid_like_every_int8_value(op, scale, zero_point):
    b = ModelBuilder()
    x = b.input([1, 256], scale, zero_point)
    b.output(b.logistic(x) if op == "LOGISTIC" else b.tanh(x))
    assert_bit_exact(b.finish(), np.arange(-128, 128, dtype=np.int8).reshape(1, 256))


@SETTINGS
@given(depth=st.integers(1, 40), scale=st.floats(-14.0, 8.0).map(lambda e: float(np.float32(2.0 ** e))),
       beta=st.floats(0.0625, 16.0).map(lambda v: float(np.float32(v))), zero_point=st.integers(-128, 127),
       seed=S.seeds)
@example(depth=10, scale=64.0, beta=1.0, zero_point=0, seed=0)  # beta * scale >= 32: multiplier capped, shift 31
@example(depth=1, scale=0.1, beta=1.0, zero_point=5, seed=1)
def test_softmax_rows(depth, scale, beta, zero_point, seed):
    rows = softmax_rows(depth, np.random.default_rng(seed))
    b = ModelBuilder()
    x = b.input([1, len(rows), depth], scale, zero_point)
    b.output(b.softmax(x, beta))
    assert_bit_exact(b.finish(), rows[None])


@SETTINGS
@given(case=st.one_of(S.softmax_models(), S.logistic_models(), S.tanh_models()), seed=S.seeds)
def test_drawn_models_random_and_extreme_inputs(case, seed):
    assume(case.inputs[0].shape[0] == 1)  # mlc needs a leading batch dimension of 1
    (x,) = case.make_inputs(seed)
    for sample in (x, np.full_like(x, -128), np.full_like(x, 127)):
        assert_bit_exact(case.model, sample)


def _softmax_int8_to_int16(scale) -> bytes:
    """int8 -> int16 SOFTMAX at an output scale TFLM refuses (it needs 1/65536 to within 0.1 %)."""
    b = ModelBuilder()
    x = b.input([1, 5], 0.1, 0)
    out = b._activation_tensor([1, 5], scale, -32768, "int16")
    b.output(b._op("SOFTMAX", [x], out, ("SoftmaxOptions", {"Beta": 1.0})))
    return b.finish()


def _softmax_output_quant(scale, zero_point) -> bytes:
    b = ModelBuilder()
    x = b.input([1, 5], 0.1, 0)
    out = b._activation_tensor([1, 5], scale, zero_point)
    b.output(b._op("SOFTMAX", [x], out, ("SoftmaxOptions", {"Beta": 1.0})))
    return b.finish()


def _logistic(scale) -> bytes:
    b = ModelBuilder()
    b.output(b.logistic(b.input([1, 5], scale, 0)))
    return b.finish()


@pytest.mark.parametrize("data, reason", [
    (_softmax_int8_to_int16(1 / 32768), "needs 1/65536 and -32768"),
    (_softmax_output_quant(1 / 128, -128), "needs scale 1/256 and zero point -128"),
    (_softmax_output_quant(1 / 256, 0), "needs scale 1/256 and zero point -128"),
    (_logistic(2.0 ** -30), "below 2^-28"),
])
def test_unsupported_variants_are_refused_with_the_reason(data, reason):
    graph = load_bytes(data)
    assert len(graph.unsupported) == 1 and reason in graph.unsupported[0][2]
    with pytest.raises(MlcError, match=reason.replace("^", r"\^")):
        run(graph, np.zeros((1, 5), np.int8))


@pytest.fixture(scope="module", params=["kws_ref_model", "micro_speech_quantized"])
def softmax_model(request):
    path = MODELS / f"{request.param}.tflite"
    graph = load(path)
    assert graph.ops[-1].kind == "SOFTMAX"
    return path, graph


def test_reference_model_outputs_bit_exact(softmax_model):
    path, graph = softmax_model
    t = graph.inputs[0]
    x = np.random.default_rng(7).integers(-128, 128, (120, *t.shape[1:])).astype(np.int8)
    x = np.concatenate([x, np.full((1, *t.shape[1:]), -128, np.int8), np.full((1, *t.shape[1:]), 127, np.int8)])
    got = run(graph, x)
    want = reference.run(path, x).outputs[0].reshape(got.shape)
    same = (got == want).reshape(len(x), -1).all(axis=1)
    assert same.all(), f"{path.name}: {int((~same).sum())}/{len(x)} inputs differ (first #{np.flatnonzero(~same)[0]})"


def test_reference_model_every_intermediate_bit_exact(softmax_model):
    path, graph = softmax_model
    t = graph.inputs[0]
    x = np.random.default_rng(8).integers(-128, 128, (3, *t.shape[1:])).astype(np.int8)
    x = np.concatenate([x, np.full((1, *t.shape[1:]), 127, np.int8)])
    layers = reference.compare(graph, x, run_all(graph, x), path)
    bad = [f"layer {m.op_index} ({m.kind}) {m.total - m.matching}/{m.total}" for m in layers if not m.ok]
    assert len(layers) == len(graph.ops) and not bad, f"{path.name}: {bad}"
