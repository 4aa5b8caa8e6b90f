"""Whole reference models, bit-exact against TFLM's interpreter: outputs on >= 100 random inputs
plus the all -128 and all 127 extremes, and every intermediate tensor on a few inputs."""
import numpy as np
import pytest

from codegen.model import tflm as reference
from codegen.ops import load
from hostsim import run, run_all
from paths import MODELS

NAMES = ["hello_world_int8", "ad01_int8", "micro_speech_quantized", "kws_ref_model", "person_detect", "trained_lstm_int8"]


def _inputs(graph, n, seed):
    t = graph.inputs[0]
    info = np.iinfo(t.dtype)
    shape = (n, *t.shape[1:])
    rng = np.random.default_rng(seed)
    extremes = np.stack([np.full(shape[1:], info.min, t.dtype), np.full(shape[1:], info.max, t.dtype)])
    return np.concatenate([rng.integers(info.min, info.max, shape, dtype=t.dtype, endpoint=True), extremes])


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    path = MODELS / f"{request.param}.tflite"
    return path, load(path)


def test_outputs_bit_exact(model):
    path, graph = model
    x = _inputs(graph, 120, seed=1)
    got = run(graph, x)
    want = reference.run(path, x).outputs[0].reshape(got.shape)
    bad = np.flatnonzero((got != want).reshape(len(x), -1).any(axis=1))
    assert bad.size == 0, f"{path.name}: {bad.size}/{len(x)} inputs differ, first #{bad[0]}: {got[bad[0]]} vs {want[bad[0]]}"


def test_every_intermediate_bit_exact(model):
    path, graph = model
    x = _inputs(graph, 4, seed=2)
    layers = reference.compare(graph, x, run_all(graph, x), path)
    assert len(layers) == len(graph.ops)
    first = next((m for m in layers if not m.ok), None)
    assert first is None, (f"{path.name}: layer {first.op_index} ({first.kind}) -> '{first.tensor}' differs on "
                           f"{first.total - first.matching}/{first.total} inputs (max |diff| {first.max_abs_diff})")


def test_fast_requantize_equals_fixedpoint():
    """The weighted kernels' shift-based requantize (hostsim.kernels.conv) against fixedpoint's."""
    from codegen.model.fixedpoint import requantize as reference_requantize
    from hostsim.kernels.conv import requantize

    rng = np.random.default_rng(3)
    channels = 97
    for shift_range, wraps in (((-31, 1), False), ((-12, 8), False), ((1, 9), True)):
        mult = rng.integers(1 << 30, 1 << 31, channels)
        mult[:3] = (0, 1 << 30, (1 << 31) - 1)
        shift = rng.integers(*shift_range, channels)
        bias = rng.integers(-(1 << 20), 1 << 20, channels)
        # within int32 after (acc + bias) << left, or far beyond it, where both wrap in int32 as TFLM does
        limit = 1 << 30 if wraps else (1 << 31) >> int(max(shift.max(), 0))
        acc = rng.integers(-limit + (1 << 20), limit - (1 << 20), (300, channels))
        acc[:8] = [[0], [1], [-1], [1 << 15], [-(1 << 15)], [-(1 << 10) - 1], [(1 << 20) + 7], [-3]]
        p = {"multiplier": mult, "shift": shift, "bias": bias, "output_offset": -5, "act_min": -128, "act_max": 127}
        want = reference_requantize(acc + bias, mult, shift, -5, -128, 127)
        assert np.array_equal(requantize(acc, p), want)
