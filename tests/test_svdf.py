"""SVDF and the model state it keeps (variable tensors) in hostsim, bit-exact against tflite-micro's
interpreter over several invokes in a row (one interpreter, so TFLM carries its state the same way):
drawn single-SVDF models (int8 and int16 state, random sizes, ranks, memories, scales and zero points),
TFLM's keyword benchmark model keyword_scrambled_8bit over consecutive inputs, the int8 -> int16 SOFTMAX
and int16 -> int32 QUANTIZE that model ends with, and the runner's state: carried over, reset."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import strategies as S
from codegen.model import tflm as reference
from codegen.model.fold import fold
from codegen.model.tflite import parse
from codegen.ops import load, prepare
from hostsim.runner import initial_state, run, run_all
from paths import MODELS

pytest.importorskip("tflite_micro")

KEYWORD = MODELS / "keyword_scrambled_8bit.tflite"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INVOKES = 7


def graph_of(data: bytes):
    graph = parse(data, "case.tflite")
    fold(graph)
    prepare(graph)
    assert not graph.unsupported, graph.unsupported
    return graph


def sequence(case, seed, n=INVOKES) -> np.ndarray:
    """n inputs for the model's one input, random with an extreme or two among them."""
    t = case.inputs[0]
    info = np.iinfo(t.dtype)
    rng = np.random.default_rng(seed)
    x = rng.integers(info.min, info.max + 1, (n, *t.shape[1:])).astype(t.dtype)
    x[rng.integers(n)] = info.min
    x[rng.integers(n)] = info.max
    return x


def assert_sequence_bit_exact(data: bytes, x: np.ndarray):
    graph = graph_of(data)
    got = run(graph, x)
    want = reference.run(data, x).outputs[0]
    assert got.dtype == want.dtype
    for i in range(len(x)):
        diff = np.flatnonzero(got[i].ravel() != want[i].ravel())
        assert diff.size == 0, (f"invoke {i}: {graph.ops[0].params}: {diff.size}/{want[i].size} differ, first at "
                                f"{diff[0]}: hostsim {got[i].ravel()[diff[0]]} TFLM {want[i].ravel()[diff[0]]}")


@SETTINGS
@given(case=S.svdf_models(), seed=S.seeds)
def test_svdf_models_bit_exact_over_consecutive_invokes(case, seed):
    assert_sequence_bit_exact(case.model, sequence(case, seed))


@SETTINGS
@given(case=S.softmax_int16_out_models(), seed=S.seeds)
def test_softmax_int8_to_int16_bit_exact(case, seed):
    assert_sequence_bit_exact(case.model, sequence(case, seed, 3))


@SETTINGS
@given(case=S.quantize_int16_to_int32_models(), seed=S.seeds)
def test_quantize_int16_to_int32_bit_exact(case, seed):
    assert_sequence_bit_exact(case.model, sequence(case, seed, 3))


def keyword_inputs(n: int, seed=0) -> np.ndarray:
    """int16 features at the model's input scale (0.000625): mostly within +-4, as the features it was built for."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 2000, (n, 96)), -32768, 32767).astype(np.int16)


def test_keyword_scrambled_every_layer_bit_exact_over_consecutive_inputs():
    graph = load(KEYWORD)
    x = keyword_inputs(12)
    report = reference.compare(graph, x, run_all(graph, x))
    assert [m.kind for m in report].count("SVDF") == 7
    assert all(m.ok for m in report), [m for m in report if not m.ok]
    assert graph.outputs[0].dtype == "int32"


def test_state_carries_over_between_runs_and_a_fresh_state_is_a_reset():
    graph = load(KEYWORD)
    x = keyword_inputs(8, seed=1)
    whole_state, halves_state, fresh_state = initial_state(graph), initial_state(graph), initial_state(graph)
    whole = run(graph, x, whole_state)
    assert len(whole_state) == 7 and all(v.dtype == np.int8 for v in whole_state.values())
    halves = np.concatenate([run(graph, x[:4], halves_state), run(graph, x[4:], halves_state)])
    np.testing.assert_array_equal(halves, whole)
    run(graph, x[4:], fresh_state)
    for i, value in whole_state.items():
        np.testing.assert_array_equal(halves_state[i], value)
    # after a reset the first half's inputs are gone from the state
    assert any(not np.array_equal(fresh_state[i], value) for i, value in whole_state.items())
    np.testing.assert_array_equal(run(graph, x[4:]), run(graph, x[4:], initial_state(graph)))


def test_state_starts_as_tflm_resets_it():
    """int8 state at its zero point (the model's are -50 and others), int16 at 0."""
    graph = load(KEYWORD)
    for t in graph.state_tensors():
        assert np.all(initial_state(graph)[t.index] == t.quant.zp)
