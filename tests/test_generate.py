"""`mlc generate` end to end: the generated C (host gcc, ASan/UBSan) is byte-exact with hostsim on
the reference models and on random single-op models, with optimized and with reference kernels;
the arena beats TFLM's; bad input fails cleanly."""
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from c_harness import build_harness, check_graph, check_model, compile_c, compare, random_inputs, run_harness
from codegen.cli import main as mlc
from codegen.errors import MlcError
from codegen.lower.generate import generate, generate_graph, render
from codegen.model.tflm import arena_usage
from codegen.ops import load
from strategies import (conv_2d_models, depthwise_conv_2d_models, fully_connected_models, pool_models,
                        reshape_models)
from tflite_builder import ModelBuilder
from paths import MODELS, model_path

REFERENCE_MODELS = ["hello_world_int8", "micro_speech_quantized", "kws_ref_model", "ad01_int8", "person_detect", "trained_lstm_int8"]
TFLM_ARENA = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "tflm_arena.json").read_text())["models"]


# kernel variants: the portable library (its portable C on the host, its DSP path emulated in C), a library
# for DSP cores only (emulated), reference loop nests
VARIANTS = {"optimized": ({}, ()), "dsp-emulated": ({}, ("MLC_DSP_EMULATE",)),
            "dsp-only": ({"isa": "dsp"}, ("MLC_DSP_EMULATE",)), "reference-kernels": ({"reference": True}, ())}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_reference_model_bit_exact(model, variant, tmp_path):
    graph = load(MODELS / f"{model}.tflite")
    kwargs, defines = VARIANTS[variant]
    assert check_graph(graph, tmp_path, n=100, name=model, seed=7, defines=defines, **kwargs) == 100


KERAS_MODELS = sorted((Path(__file__).parent / "models" / "keras").glob("*.tflite"))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", KERAS_MODELS, ids=lambda p: p.stem)
def test_converter_models_bit_exact(model, variant, tmp_path):
    """Models as TensorFlow's converter writes them (tests/models/keras): every layer exact."""
    kwargs, defines = VARIANTS[variant]
    assert check_model(model, tmp_path, n=100, name="k", defines=defines, **kwargs) == 100


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_reference_model_matches_tflm(model, tmp_path):
    """The generated C's outputs equal TFLM's interpreter's directly, on 100 random inputs."""
    from tflite_builder import tflm_interpreter

    graph = load(MODELS / f"{model}.tflite")
    generate_graph(graph, tmp_path / model, name=model)
    x = random_inputs(graph, 100, seed=11)
    got, _ = run_harness(build_harness(tmp_path / model, model), x)
    interp = tflm_interpreter((MODELS / f"{model}.tflite").read_bytes())
    for i in range(len(x)):
        interp.set_input(x[i:i + 1].reshape(graph.inputs[0].shape), 0)
        interp.invoke()
        want = np.ascontiguousarray(interp.get_output(0)).view(np.uint8).ravel()
        np.testing.assert_array_equal(got[i], want, err_msg=f"input {i}")


@pytest.mark.parametrize("model", TFLM_ARENA)
def test_tflm_arena_figures_are_tflms(model):
    """benchmarks/tflm_arena.json holds what TFLM's RecordingMicroAllocator reports (ram_vs_tflm.py --measure)."""
    assert arena_usage(model_path(model)) == {k: TFLM_ARENA[model][k] for k in ("head", "total")}


@pytest.mark.parametrize("model", REFERENCE_MODELS + ["mobilenet_v2_like", "mobilenet_v1_like", "resnet8_like",
                                                      "streaming_conv1d_like"])
def test_arena_within_tflm_head(model):
    """The arena (the model's input and output included) against TFLM's head, like for like."""
    graph = load(model_path(model))
    _, result = render(graph, model, [])
    assert result.arena_bytes <= TFLM_ARENA[model]["head"]
    if model == "kws_ref_model":
        # issue 14's target: at most 0.55 of TFLM's head (in-place depthwise in channel blocks, the first
        # conv's output over its input)
        assert result.arena_bytes <= 0.55 * TFLM_ARENA[model]["head"] and len(result.inplace_layers) == 9
    if model == "person_detect":
        # issue 14's target: at most 0.5 of TFLM's head with the first layers run in patches; without, the
        # first pointwise layer (48x48: 8 -> 16 channels) writes its output over its input
        _, whole = render(graph, model, [], patches="off")
        assert result.patches is not None and result.patches.arena_whole == whole.arena_bytes
        assert result.arena_bytes <= 0.5 * TFLM_ARENA[model]["head"] and whole.arena_bytes <= 0.9 * TFLM_ARENA[model]["head"]
    if model in ("mobilenet_v1_like", "mobilenet_v2_like"):
        # issue 14's target, met with patches (mobilenet_v2_like: its patch steps' depthwise rings in channel
        # blocks, and its 30 -> 10 channel pointwise layer not in place, which would keep the 6,912 B input's
        # buffer alive to the residual ADD)
        assert result.patches is not None and result.arena_bytes <= 0.5 * TFLM_ARENA[model]["head"]


SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                                          HealthCheck.filter_too_much])


OP_STRATEGIES = {"CONV_2D": conv_2d_models, "DEPTHWISE_CONV_2D": depthwise_conv_2d_models,
                 "FULLY_CONNECTED": fully_connected_models, "POOL_2D": pool_models, "RESHAPE": reshape_models}


@pytest.mark.slow
@pytest.mark.parametrize("op", OP_STRATEGIES)
@SETTINGS
@given(data=st.data())
def test_single_op_models(op, data, tmp_path_factory):
    """Random single-op models: every kernel variant byte-exact with hostsim."""
    case = data.draw(OP_STRATEGIES[op](), label="case")
    # mlc takes batch-1 models only; the strategies also draw other batch sizes
    assume(all(t.shape and t.shape[0] == 1 for t in case.inputs + case.outputs))
    for kwargs, defines in VARIANTS.values():
        work = tmp_path_factory.mktemp("op")
        assert check_model(case.model, work, n=100, seed=3, defines=defines, **kwargs) == 100


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=conv_2d_models())
def test_conv_generic_kernel(case, tmp_path_factory):
    """The scratch-free generic convolution (used for windows above IM2COL_MAX_BYTES) is exact too."""
    from codegen.ops import conv

    assume(all(t.shape and t.shape[0] == 1 for t in case.inputs + case.outputs))
    saved, conv.IM2COL_MAX_BYTES = conv.IM2COL_MAX_BYTES, 0
    try:
        work = tmp_path_factory.mktemp("generic")
        assert check_model(case.model, work, n=100, seed=5) == 100
        source = (work / "m" / "m.c").read_text()
        assert "conv_s8_generic_0" in source or "conv_s8_1x1_0" in source
    finally:
        conv.IM2COL_MAX_BYTES = saved


def _chain(b, x, c, n):
    """n (depthwise 3x3 SAME, 1x1 conv) pairs on c channels: every one can run in place."""
    rng = np.random.default_rng(0)
    for _ in range(n):
        w = b.const_int8(rng.integers(-127, 128, (1, 3, 3, c)), scales=[0.01] * c, axis=3)
        x = b.depthwise_conv_2d(x, w, b.const_int32(rng.integers(-500, 500, c), scales=[x.scale * 0.01] * c),
                                out_scale=0.05, out_zero_point=-3, activation="RELU")
        w = b.const_int8(rng.integers(-127, 128, (c, 1, 1, c)), scales=[0.01] * c, axis=0)
        x = b.conv_2d(x, w, b.const_int32(rng.integers(-500, 500, c), scales=[x.scale * 0.01] * c),
                      out_scale=0.05, out_zero_point=2)
    return x


def test_in_place_chain_and_aliases(tmp_path):
    """dw/1x1 layers in place (also a narrowing strided 1x1 and a dilated depthwise), a RESHAPE aliased
    mid-graph, pooling: exact, in about the arena of one tensor."""
    rng = np.random.default_rng(1)
    b = ModelBuilder()
    x = b.input([1, 6, 5, 7], scale=0.05, zero_point=1)
    y = _chain(b, x, 7, 1)
    y = b.reshape(y, [1, 5, 6, 7])
    y = _chain(b, y, 7, 2)
    w = b.const_int8(rng.integers(-127, 128, (5, 1, 1, 7)), scales=[0.02] * 5, axis=0)
    y = b.conv_2d(y, w, b.const_int32(rng.integers(-500, 500, 5), scales=[y.scale * 0.02] * 5),
                  out_scale=0.04, out_zero_point=-1, stride=(2, 2))
    w = b.const_int8(rng.integers(-127, 128, (1, 3, 3, 5)), scales=[0.02] * 5, axis=3)
    y = b.depthwise_conv_2d(y, w, b.const_int32(rng.integers(-500, 500, 5), scales=[y.scale * 0.02] * 5),
                            out_scale=0.04, out_zero_point=0, dilation=(2, 2))
    y = b.average_pool_2d(y, (2, 2), stride=(2, 2))
    b.output(y)
    model = b.finish()
    graph = load_bytes(model, tmp_path)
    _, result = render(graph, "chain", [])
    # the input is in the arena, so layer 0 runs in place over it too; layer 2 is the RESHAPE
    assert result.inplace_layers == [0, 1, 3, 4, 5, 6, 7, 8] and result.aliased_layers == [2]
    # 210 B aligned; the largest window ring: the dilated 3x3 on 3x3x5 keeps 5 padded rows of 3 + 2 * 2
    # pixels (175 B, 176 aligned)
    one_tensor, largest_ring = 212, 176
    assert result.arena_bytes <= one_tensor + largest_ring
    assert check_model(model, tmp_path, n=100, name="chain") == 100


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]), h=st.integers(1, 7), w=st.integers(1, 7),
       c=st.integers(1, 5), f=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["SAME", "VALID"]))
def test_pool_in_place(kind, h, w, c, f, s, padding, tmp_path_factory):
    """Pooling after a layer that writes the arena: run in place whenever the planner allows, exact either way."""
    assume(padding == "SAME" or (f[0] <= h and f[1] <= w))
    rng = np.random.default_rng(h * 7 + w)
    b = ModelBuilder()
    x = b.input([1, h, w, c], scale=0.05, zero_point=1)
    wt = b.const_int8(rng.integers(-127, 128, (c, 1, 1, c)), scales=[0.01] * c, axis=0)
    y = b.conv_2d(x, wt, b.const_int32(rng.integers(-500, 500, c), scales=[0.05 * 0.01] * c), out_scale=0.03,
                  out_zero_point=4)
    pool = b.average_pool_2d if kind == "AVERAGE_POOL_2D" else b.max_pool_2d
    y = pool(y, f, stride=s, padding=padding)
    b.output(b.conv_2d(y, wt, b.const_int32(rng.integers(-500, 500, c), scales=[0.03 * 0.01] * c), out_scale=0.03,
                       out_zero_point=-2))  # so that the pooling's output is in the arena too
    model = b.finish()
    work = tmp_path_factory.mktemp("pool")
    _, result = render(load_bytes(model, work), "p", [])
    if padding == "VALID":
        assert 1 in result.inplace_layers
    assert check_model(model, work, n=100, name="p") == 100


def load_bytes(model: bytes, tmp_path: Path):
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    return load(path)


def test_debug_dump_names_first_differing_layer(tmp_path):
    """A corrupted generated constant makes the comparison fail naming that layer."""
    graph = load(MODELS / "hello_world_int8.tflite")
    generate_graph(graph, tmp_path / "hw", name="hw")
    source = tmp_path / "hw" / "hw.c"
    text = source.read_text()
    text = re.sub(r"(hw_l1_bias\[16\] MLC_FLASH MLC_ALIGN\(4\) = \{\n    )(-?\d+)", lambda m: m.group(1) + "99999", text)
    source.write_text(text)
    exe = build_harness(tmp_path / "hw", "hw")
    with pytest.raises(AssertionError, match=r"layer 1 \(FULLY_CONNECTED\)"):
        compare(graph, exe, random_inputs(graph, 256))


def test_header_contract_and_labels(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("silence\nunknown\nyès\nno \"quoted\"??/\n", encoding="utf-8")
    graph = load(MODELS / "micro_speech_quantized.tflite")
    generate_graph(graph, tmp_path / "ms", name="ms", labels=labels)
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "ms.h"
int main(void)
{
    static const int32_t shape[] = ms_INPUT_SHAPE;
    int32_t i;
    printf("%d %d %d %d %d %d %d %.9g %.9g %d %d\n", ms_INPUT_BYTES, ms_INPUT_COUNT, ms_OUTPUT_BYTES, ms_OUTPUT_COUNT,
           ms_INPUT_ZERO_POINT, ms_OUTPUT_ZERO_POINT, ms_LABEL_COUNT, (double)ms_INPUT_SCALE, (double)ms_OUTPUT_SCALE,
           ms_ARENA_BYTES, (int)shape[1]);
    for (i = 0; i < ms_LABEL_COUNT; ++i) {
        printf("%s|", ms_labels[i]);
    }
    printf("\n%d %d %.9g\n", ms_quantize_input(1.0f), ms_quantize_input(-1e9f), (double)ms_dequantize_output(7));
    return 0;
}
""")
    exe = compile_c([tmp_path / "main.c", tmp_path / "ms" / "ms.c"], tmp_path / "main", include_dirs=[tmp_path / "ms"])
    lines = subprocess.run([str(exe)], capture_output=True, check=True).stdout.decode("utf-8").splitlines()
    x, y = graph.inputs[0], graph.outputs[0]
    fields = lines[0].split()
    assert fields[:7] == [str(v) for v in (1960, 1960, y.nbytes, y.size, x.quant.zp, y.quant.zp, 4)]
    assert np.float32(fields[7]) == x.quant.s and np.float32(fields[8]) == y.quant.s
    assert fields[10] == str(x.shape[1])
    assert lines[1] == 'silence|unknown|yès|no "quoted"??/|'
    want_q = int(np.clip(np.round(np.float32(1.0) / x.quant.s) + x.quant.zp, -128, 127))
    assert lines[2].split()[:2] == [str(want_q), "-128"]
    assert np.isclose(float(lines[2].split()[2]), y.quant.s * (7 - y.quant.zp))


def test_label_count_must_match_output(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    with pytest.raises(MlcError, match="2 labels for 1 output values"):
        generate(MODELS / "hello_world_int8.tflite", tmp_path / "out", labels=labels)
    assert not (tmp_path / "out").exists()


def test_cli_prints_figures(tmp_path, capsys):
    assert mlc(["generate", str(MODELS / "hello_world_int8.tflite"), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "arena" in out and "32 B" in out and "weights" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "hello_world_int8.c", "hello_world_int8.h", "mlc_fixedpoint.h", "mlc_port.h"]


def test_unsupported_op_fails_cleanly(tmp_path, capsys):
    out = tmp_path / "ap"
    assert mlc(["generate", str(MODELS / "audio_preprocessor_int8.tflite"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layer 0 (CUSTOM:SignalWindow)" in err and "supported:" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["int", "3d", "a-b", "__x", "_Foo", ""])
def test_invalid_names_rejected(name, tmp_path):
    with pytest.raises(MlcError, match="--name"):
        generate(MODELS / "hello_world_int8.tflite", tmp_path / "x", name=name)
    assert not (tmp_path / "x").exists()


def test_default_name_from_stem(tmp_path):
    model = tmp_path / "3-class model.tflite"
    model.write_bytes((MODELS / "hello_world_int8.tflite").read_bytes())
    result = generate(model, tmp_path / "out")
    assert result.name == "m_3_class_model" and (tmp_path / "out" / "m_3_class_model.h").is_file()


def test_failure_leaves_existing_folder_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(MlcError):
        generate(MODELS / "audio_preprocessor_int8.tflite", out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_zero_copy_api_matches_invoke(tmp_path):
    """NAME_input() / NAME_run() / NAME_output(): the same results as the copying NAME_invoke, for micro_speech
    (its input shares bytes with the first depthwise layer's output) and hello_world (an arena of 32 B, input
    and output included)."""
    for model in ("micro_speech_quantized", "hello_world_int8"):
        graph = load(MODELS / f"{model}.tflite")
        generate_graph(graph, tmp_path / model, name="m")
        (tmp_path / f"{model}.c").write_text(r"""
#include <stdio.h>
#include <string.h>
#include "m.h"
int main(void)
{
    static unsigned char in[m_INPUT_BYTES], out[m_OUTPUT_BYTES];
    while (fread(in, 1, sizeof in, stdin) == sizeof in) {
        if (m_invoke(in, out) != 0) return 3;
        memcpy(m_input(), in, sizeof in);
        if (m_run() != 0) return 4;
        if (memcmp(m_output(), out, sizeof out) != 0) return 5;
        fwrite(m_output(), 1, sizeof out, stdout);
    }
    return 0;
}
""")
        exe = compile_c([tmp_path / f"{model}.c", tmp_path / model / "m.c"], tmp_path / model / "main",
                        include_dirs=[tmp_path / model])
        x = random_inputs(graph, 20, seed=3)
        proc = subprocess.run([str(exe)], input=np.ascontiguousarray(x).tobytes(), capture_output=True)
        assert proc.returncode == 0, (model, proc.returncode)  # 5: the zero-copy output differs from invoke's
        assert len(proc.stdout) == 20 * graph.outputs[0].nbytes
