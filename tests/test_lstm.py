"""UNIDIRECTIONAL_SEQUENCE_LSTM (int8 and 16x8, int16 cell state): hostsim bit-exact with TFLM's interpreter on
drawn models (shapes not multiples of 4, every quantization drawn, time major or not, with and without cell clip),
the state carried from one invoke to the next as TFLM keeps it; the generated C equal to hostsim under the
sanitizers and warning-free for Cortex-M and AVR; the variants TFLM's kernel refuses get one line. The mnist_lstm model itself is in
test_reference_models.py and test_generate.py."""
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies as S
from c_harness import build_harness, compare, compile_c, run_harness
from codegen.lower.generate import generate_graph
from codegen.model import tflm as reference
from codegen.model.tflite import parse
from codegen.ops import prepare
from hostsim import run
from test_ops_c import TARGETS

pytest.importorskip("tflite_micro")

SETTINGS = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _graph(case):
    graph = parse(case.model, "lstm.tflite")
    prepare(graph)
    assert not graph.unsupported, graph.unsupported
    return graph


def _inputs(graph, n, seed):
    t = graph.inputs[0]
    info = np.iinfo(t.dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, (n, *t.shape[1:]), dtype=t.dtype)


DTYPES = pytest.mark.parametrize("dtype", ["int8", "int16"])


@DTYPES
@settings(**SETTINGS)
@given(data=st.data())
def test_hostsim_equals_tflm_over_invokes(dtype, data):
    case = data.draw(S.lstm_models(dtype=dtype))
    graph = _graph(case)
    x = _inputs(graph, 6, 1)  # six invokes of one interpreter: the state goes on from each to the next
    got = run(graph, x)
    want = reference.run(case.model, x).outputs[0].reshape(got.shape)
    np.testing.assert_array_equal(got, want, err_msg=repr(case))


# the reference loops; the fast kernel (int8: offsets folded, dot2) in its portable C, its DSP path emulated in C,
# and a DSP-only library's
VARIANTS = {"reference": ({"reference": True}, ()), "portable": ({}, ()), "dsp-emulated": ({}, ("MLC_DSP_EMULATE",)),
            "dsp-only": ({"isa": "dsp"}, ("MLC_DSP_EMULATE",))}


@DTYPES
@settings(**{**SETTINGS, "max_examples": 6})
@given(data=st.data())
def test_c_equals_hostsim(dtype, data, tmp_path_factory):
    """Every variant equal to hostsim on every layer over a sequence of invokes, and so to the others."""
    case = data.draw(S.lstm_models(dtype=dtype))
    graph = _graph(case)
    work, x = tmp_path_factory.mktemp("lstm"), _inputs(graph, 5, 2)
    outputs = {}
    for variant, (kwargs, defines) in VARIANTS.items():
        generate_graph(graph, work / variant, name="m", **kwargs)
        exe = build_harness(work / variant, "m", defines=defines)
        assert compare(graph, exe, x) == 5, variant
        outputs[variant] = run_harness(exe, x)[0]
    for variant, y in outputs.items():
        np.testing.assert_array_equal(y, outputs["reference"], err_msg=variant)


@pytest.mark.parametrize("target", TARGETS)
@DTYPES
def test_cross_compiles_warning_free(target, dtype, tmp_path_factory):
    """Cortex-M0+/M4 and AVR (16-bit int: the int16 output's bounds minus its zero point overflow an int)."""
    cc, flags = TARGETS[target]
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed")

    @settings(**{**SETTINGS, "max_examples": 3}, derandomize=True, database=None)
    @given(case=S.lstm_models(dtype=dtype))
    def check(case):
        work = tmp_path_factory.mktemp("cross")
        generate_graph(_graph(case), work, name="m")
        compile_c([work / "m.c"], work / "m.o", include_dirs=[work], cc=cc,
                  cflags=["-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-c", *flags])

    check()


@pytest.mark.parametrize("act, cell, bias, says", [
    ("int8", "int8", "int32", "int8 with an int8 cell state is not supported"),
    ("int16", "int16", "int32", "bias (input 12) must be a constant int64 of 2 values (int16 activations)")])
def test_what_tflms_integer_lstm_does_not_take_is_refused_naming_the_op(act, cell, bias, says):
    """TFLM's integer LSTM keeps an int16 cell state, and its 16x8 kernel reads int64 biases; mlc says which."""
    from tflite_builder import ModelBuilder

    b = ModelBuilder(act_dtype=act)
    x = b.input([1, 3, 2], 0.05, 0)
    weights = [b.const_int8(np.ones((2, 2), np.int8), 0.01) for _ in range(8)]
    biases = [b.const(np.zeros(2, bias), bias, 0.0005, 0) for _ in range(4)]
    y = b.unidirectional_sequence_lstm(x, weights, biases, b.variable([1, 2], act, 0.01, 0),
                                       b.variable([1, 2], cell, 2.0 ** -7, 0), 0.01, 0)
    b.output(y)
    graph = parse(b.finish(), "lstm.tflite")
    prepare(graph)
    [(index, kind, reason)] = graph.unsupported
    assert (index, kind) == (0, "UNIDIRECTIONAL_SEQUENCE_LSTM") and says in reason, reason


def _strokes(n, seed):
    """MNIST-like rows: a -128 background with a few bright rectangles, so the LSTM's gates and outputs
    stay off their rails (full-range random images saturate them)."""
    rng = np.random.default_rng(seed)
    x = np.full((n, 28, 28), -128, np.int8)
    for image in x:
        for _ in range(rng.integers(3, 12)):
            r, c = rng.integers(4, 24, 2)
            image[r:r + rng.integers(1, 6), c:c + rng.integers(1, 6)] = rng.integers(0, 128)
    return x


@pytest.mark.parametrize("variant", VARIANTS)
def test_mnist_lstm_on_digit_like_inputs(variant, tmp_path):
    """TFLM's mnist_lstm over 60 invokes of one interpreter: every layer bit-exact in hostsim, the C of every
    variant equal (its depth 28 and 20 units run dot2's loop and its tail)."""
    from codegen.ops import load
    from hostsim import run_all
    from paths import MODELS

    path = MODELS / "trained_lstm_int8.tflite"
    graph, x = load(path), _strokes(60, 4)
    sim = run_all(graph, x)
    assert len(np.unique(sim[graph.ops[0].outputs[0].index])) > 100  # the LSTM's outputs are not saturated
    assert all(m.ok for m in reference.compare(graph, x, sim, path))
    kwargs, defines = VARIANTS[variant]
    generate_graph(graph, tmp_path / "m", name="m", **kwargs)
    assert compare(graph, build_harness(tmp_path / "m", "m", defines=defines), x) == 60


@pytest.mark.parametrize("isa", ["portable", "dsp", "mve"])
def test_mnist_lstm_plan_folds_the_offsets_and_proves_the_short_requantization(isa, tmp_path):
    """The int8 LSTM takes the fast variant on every core, its eight gate FCs requantized in the short form;
    16x8 keeps the reference loops (int64 sums)."""
    from codegen.lower.generate import plan_layers
    from codegen.ops import load
    from paths import MODELS

    graph = load(MODELS / "trained_lstm_int8.tflite")
    plan = plan_layers(graph, isa=isa).kernels[0][isa]
    assert (plan.variant, plan.channels, plan.options["rq_fast"]) == ("fast", 2, True), plan.why
    generate_graph(graph, tmp_path, name="m", isa=isa)
    assert "mlc_requantize_rs_value(ax0" in (tmp_path / "m.c").read_text()

    @settings(max_examples=1, derandomize=True, database=None, deadline=None)
    @given(case=S.lstm_models(dtype="int16"))
    def wide(case):
        assert plan_layers(_graph(case), isa=isa).kernels[0][isa].variant == "reference"

    wide()


@pytest.mark.device
def test_fast_lstm_costs_fewer_instructions_than_the_reference_on_m4():
    from codegen.device.bench import bench
    from paths import MODELS

    path = MODELS / "trained_lstm_int8.tflite"
    fast, ref = (bench(path, "qemu-cortex-m4", reference=r).layers[0] for r in (False, True))
    assert fast.op == "UNIDIRECTIONAL_SEQUENCE_LSTM" and "_lstm_s8_" in fast.kernels[0]
    assert fast.instructions < ref.instructions * 0.6, (fast, ref)
