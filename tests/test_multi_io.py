"""Models with several inputs and outputs (tests/models/keras_multi_io, made by TensorFlow's converter):
hostsim equals TFLM, and the generated C, through both forms of its API (NAME_invoke with one buffer per
input and output; the arena's places and NAME_run), equals hostsim under ASan/UBSan."""
from pathlib import Path

import pytest

from c_harness import FORMS, check_model, generate_lib, have
from codegen.model import tflm as reference
from codegen.model.arrays import random_model_inputs
from codegen.ops import load
from hostsim import run_all

MODELS = sorted((Path(__file__).parent / "models" / "keras_multi_io").glob("*.tflite"))


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_hostsim_equals_tflm(path):
    graph = load(path)
    assert len(graph.inputs) == 2 and len(graph.outputs) == 2
    xs = random_model_inputs(graph, 50, seed=3)
    bad = [m for m in reference.compare(graph, xs, run_all(graph, xs)) if not m.ok]
    assert not bad, f"first differing layer: {bad[0]}"


@pytest.mark.skipif(not have("gcc"), reason="needs gcc")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_generated_c_equals_hostsim(path, form, tmp_path):
    assert check_model(path, tmp_path, n=100, name="fusion", form=form) == 100


def test_c_api_names_each_input_and_output(tmp_path):
    """Named after the signature (imu, audio); the converter's output names are generic, so out0, out1."""
    path = next(p for p in MODELS if p.stem == "sensor_fusion")
    result, graph = generate_lib(path, tmp_path / "lib", name="fusion")
    assert [fn for fn, _ in result.inputs] == ["input_imu", "input_audio"]
    assert [fn for fn, _ in result.outputs] == ["output_out0", "output_out1"]
    assert result.input_bytes == sum(t.nbytes for t in graph.inputs) == 240
    header = (tmp_path / "lib" / "fusion.h").read_text()
    assert ("int fusion_invoke(const void *input_imu, const void *input_audio, void *output_out0, "
            "void *output_out1);") in header
    for t, macro in zip(graph.inputs + graph.outputs, ["INPUT_imu", "INPUT_audio", "OUTPUT_out0", "OUTPUT_out1"]):
        assert f"#define fusion_{macro}_BYTES {t.nbytes}\n" in header
        assert f"#define fusion_{macro}_SHAPE {{ {', '.join(map(str, t.shape))} }}\n" in header
        assert f"#define fusion_{macro}_ZERO_POINT ({t.quant.zp})\n" in header
    assert "#define fusion_INPUTS 2\n" in header and "#define fusion_OUTPUT_BYTES 6\n" in header


def test_io_identifiers():
    from codegen.csyntax import io_identifiers

    assert io_identifiers(["serving_default_imu:0", "serving_default_audio:0"], "in") == ["imu", "audio"]
    assert io_identifiers(["StatefulPartitionedCall_1:1", "head"], "out") == ["out0", "head"]
    # made identifiers, duplicates, keywords, typedef suffixes and leading digits fall back by position
    assert io_identifiers(["a b", "a-b", "int", "x_t", "1x", "ok.2"], "in") == ["in0", "in1", "in2", "in3", "in4", "ok_2"]
    assert io_identifiers(["é", "audio"], "in") == ["in0", "audio"]
