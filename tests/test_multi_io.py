"""Models with several inputs and outputs (tests/models/keras_multi_io, made by TensorFlow's converter):
hostsim equals TFLM, and the generated C, through both forms of its API (NAME_invoke with one buffer per
input and output; the arena's places and NAME_run), equals hostsim under ASan/UBSan."""
import re
from pathlib import Path

import numpy as np
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


FUSION = Path(__file__).parent / "models" / "keras_multi_io" / "sensor_fusion.tflite"
_built = {}


def _project(model: Path, board: str, tmp_path_factory):
    from codegen.cli.build import build

    if (model, board) not in _built:
        _built[model, board] = build(model, board, tmp_path_factory.mktemp(f"{model.stem}-{board}"), quiet=True)[0]
    return _built[model, board]


def _verify(model: Path, board: str, tmp_path_factory, x, monkeypatch=None):
    from codegen.cli.verify import verify_on_device
    from codegen.device.emulator import Emulator
    from codegen.device.protocol import Device
    from codegen.targets.boards import get_board

    said = []
    with Emulator(get_board(board), _project(model, board, tmp_path_factory).elf) as emu, Device(emu.url) as dev:
        y, mismatches, _ = verify_on_device(dev, load(model), x, out=said.append)
    return y, mismatches, said


@pytest.mark.device
@pytest.mark.parametrize("board, path", [("qemu-cortex-m4", p) for p in MODELS] + [("qemu-cortex-m55", FUSION)],
                         ids=lambda v: getattr(v, "stem", v))
def test_bit_exact_on_qemu(board, path, tmp_path_factory):
    """Both inputs in one INVOKE frame, both outputs in one RESULT frame, equal to hostsim's."""
    graph = load(path)
    xs = random_model_inputs(graph, 30, seed=5)
    y, mismatches, _ = _verify(path, board, tmp_path_factory, xs)
    assert mismatches == []
    want = run_all(graph, xs)
    for got, t in zip(y, graph.outputs):
        assert got.dtype == want[t.index].dtype and (got == want[t.index]).all()


@pytest.mark.device
def test_a_differing_output_is_named(tmp_path_factory, monkeypatch):
    """Against a reference wrong in the second output only, every input mismatches and that output is named."""
    import hostsim

    graph = load(FUSION)
    real_run_all = hostsim.run_all

    def wrong(g, x):
        values = real_run_all(g, x)
        y = g.outputs[1].index
        return {**values, y: values[y] ^ 1}
    monkeypatch.setattr(hostsim, "run_all", wrong)
    _, mismatches, said = _verify(FUSION, "qemu-cortex-m4", tmp_path_factory, random_model_inputs(graph, 3, seed=2))
    assert mismatches == [0, 1, 2]
    m = re.fullmatch(rf"MISMATCH on input 0: output 1 '{re.escape(graph.outputs[1].name)}': first difference at "
                     r"byte 0: device 0x(\w\w), hostsim 0x(\w\w)", said[0])
    assert m and int(m.group(1), 16) ^ int(m.group(2), 16) == 1, said[0]


@pytest.mark.device
def test_mlc_run_and_verify_with_npz(tmp_path, tmp_path_factory):
    """`mlc run --tcp` serves the firmware; `mlc verify --port --inputs X.npz --save Y.npz` checks it: the
    saved outputs are hostsim's, by output name."""
    import subprocess
    import sys
    import time

    from codegen.device.emulator import free_port

    graph = load(FUSION)
    xs = random_model_inputs(graph, 12, seed=9)
    np.savez(tmp_path / "x.npz", **{t.name: x for t, x in zip(graph.inputs, xs)})
    project = _project(FUSION, "qemu-cortex-m4", tmp_path_factory)
    repo = Path(__file__).resolve().parents[1]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "codegen", "run", str(project.dir), "--tcp", str(port)], cwd=repo,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        r = subprocess.run([sys.executable, "-m", "codegen", "verify", str(FUSION), "--port", f"socket://127.0.0.1:{port}",
                            "--inputs", str(tmp_path / "x.npz"), "--save", str(tmp_path / "y.npz")],
                           capture_output=True, text=True, cwd=repo, timeout=120)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert r.returncode == 0, r.stderr
    assert "12/12 bit-exact on qemu-cortex-m4" in r.stdout
    want = run_all(graph, xs)
    with np.load(tmp_path / "y.npz") as saved:
        assert sorted(saved.files) == sorted(t.name for t in graph.outputs)
        for t in graph.outputs:
            np.testing.assert_array_equal(saved[t.name], want[t.index])
    bad = subprocess.run([sys.executable, "-m", "codegen", "verify", str(FUSION), "--port", "socket://127.0.0.1:1",
                          "--inputs", str(tmp_path / "x.npz"), "--save", str(tmp_path / "y.npy")],
                         capture_output=True, text=True, cwd=repo)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "give an .npz file" in bad.stderr
