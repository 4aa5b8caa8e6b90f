"""The generated C of SVDF models and of TFLM's keyword benchmark model (SVDF state, int8 -> int16 SOFTMAX,
int16 -> int32 QUANTIZE) equals hostsim byte for byte on every layer over a sequence of invokes (host gcc
with ASan/UBSan, tests/c_harness.py: one process runs the inputs in order, so the state carries over as in
hostsim's run_all), after NAME_reset() mid-sequence too, and compiles warning-free for Cortex-M and AVR."""
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

import strategies as S
from c_harness import build_harness, check_model, compare, compile_c, generate_lib, have, run_harness
from codegen.model.arrays import random_inputs
from hostsim.runner import run
from paths import MODELS
from test_ops_c import TARGETS
from tflite_builder import ModelBuilder

pytestmark = pytest.mark.skipif(not have("gcc"), reason="gcc is not installed")
C_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.reuse, Phase.generate])
KEYWORD = MODELS / "keyword_scrambled_8bit.tflite"


@C_SETTINGS
@given(case=S.svdf_models())
def test_svdf_models_c_equals_hostsim_over_a_sequence(case, tmp_path_factory):
    work = tmp_path_factory.mktemp("svdf")
    assert check_model(case.model, work, n=9) == 9
    assert check_model(case.model, work, n=9, name="dsp", defines=["MLC_DSP_EMULATE"]) == 9


@pytest.mark.parametrize("reference, defines", [(False, ()), (False, ("MLC_DSP_EMULATE",)), (True, ())],
                         ids=["fast", "fast-dsp", "reference"])
def test_keyword_scrambled_c_equals_hostsim_over_a_sequence(reference, defines, tmp_path):
    """The reference loops, the fast kernel's portable path and its DSP path (SMLAD emulated in C) alike."""
    assert check_model(KEYWORD, tmp_path, n=20, reference=reference, defines=defines) == 20


def small_svdf() -> bytes:
    """One SVDF (5 in, 3 units x rank 2, memory 4, int16 state) whose outputs are far from saturation."""
    rng = np.random.default_rng(7)
    b = ModelBuilder()
    x = b.input([1, 5], 0.05, 3)
    wf = b.const_int8(rng.integers(-127, 128, (6, 5)), 0.01)
    wt = b.const(rng.integers(-32767, 32768, (6, 4)), "int16", 1 / 32768, 0)
    state_scale = 0.05 * 0.01 * 127 * 5 / 32767
    bias = b.const_int32(rng.integers(-1000, 1000, 3), float(np.float32(state_scale) * np.float32(1 / 32768)))
    b.output(b.svdf(x, wf, wt, bias, (state_scale, 0), 0.02, -5, rank=2))
    return b.finish()


def test_reset_puts_the_state_back(tmp_path):
    """RESET_AT=5: the C resets before input 5; hostsim gives the same from a fresh state for inputs 5..8,
    which differs from what the carried state gives."""
    result, graph = generate_lib(small_svdf(), tmp_path / "m", name="m")
    x = random_inputs(graph, 9, seed=3)
    outputs, _ = run_harness(build_harness(result.out_dir, "m", defines=["RESET_AT=5L"]), x)
    fresh = np.concatenate([run(graph, x[:5]), run(graph, x[5:])])
    np.testing.assert_array_equal(outputs.view(np.int8), fresh.reshape(9, -1))
    assert not np.array_equal(run(graph, x)[5:], fresh[5:])
    assert compare(graph, build_harness(result.out_dir, "m"), x) == 9  # without the reset: the whole sequence


@pytest.mark.parametrize("target", TARGETS)
def test_keyword_scrambled_compiles_warning_free(target, tmp_path):
    cc, flags = TARGETS[target]
    if not have(cc):
        pytest.skip(f"{cc} is not installed")
    result, _ = generate_lib(KEYWORD, tmp_path / "m", name="m")
    compile_c([result.out_dir / "m.c"], tmp_path / "m.o", include_dirs=[result.out_dir],
              cflags=["-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-c", *flags], cc=cc)
