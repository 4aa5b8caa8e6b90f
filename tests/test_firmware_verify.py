"""Device-in-the-loop: the generated library + classify app, built with PlatformIO through mlc's offline
platform, run in QEMU (and simavr for uno-sim), agree byte for byte with hostsim over the serial protocol."""
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings

import strategies as S

from codegen.targets.boards import get_board
from codegen.cli.build import build
from codegen.model.arrays import random_inputs
from codegen.cli.verify import verify_on_device
from codegen.device.emulator import Emulator
from codegen.errors import MlcError
from codegen.device.protocol import Device
from codegen.ops import load
from hostsim import run as hostsim_run
from paths import MODELS

pytestmark = pytest.mark.device
QEMU_BOARDS = ["qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55"]
# audio_preprocessor_int8 needs TFLM's Signal ops, which mlc does not support: it must be refused (below).
QEMU_MODELS = ["hello_world_int8", "micro_speech_quantized", "kws_ref_model", "ad01_int8", "trained_lstm_int8"]
# qemu-cortex-m0 (ARMv6-M, the Pico's instruction set; QEMU traps its unaligned word loads) has 256 KB of flash
# and 16 KB of RAM: ad01_int8's weights do not fit (tests/test_boards.py checks the error).
M0_MODELS = [m for m in QEMU_MODELS if m != "ad01_int8"]
QEMU_CASES = [(m, b) for m in QEMU_MODELS for b in QEMU_BOARDS] + [(m, "qemu-cortex-m0") for m in M0_MODELS]
N_INPUTS = 50

_built = {}


def built(model: str, board: str, tmp_path_factory):
    """Build each (model, board) once per session."""
    key = (model, board)
    if key not in _built:
        out = tmp_path_factory.mktemp(f"{model}-{board}")
        _built[key] = build(MODELS / f"{model}.tflite", board, out, quiet=True)
    return _built[key]


def verify(model: str, board_id: str, tmp_path_factory, n=N_INPUTS):
    project, report = built(model, board_id, tmp_path_factory)
    graph = load(MODELS / f"{model}.tflite")
    x = random_inputs(graph, n, seed=1)
    board = get_board(board_id)
    with Emulator(board, project.elf) as emu, Device(emu.url) as dev:
        y, mismatches, cycles = verify_on_device(dev, graph, x, out=lambda s: None)
    return project, report, y, mismatches, cycles


def assert_bit_exact(path: Path, board: str, out: Path, n: int, seed=3, **device):
    """Build `path` for `board`, run n random inputs on the emulator and check every output equals hostsim's and
    the build gave no warning. Returns the built project."""
    project, report = build(path, board, out, quiet=True)
    graph = load(path)
    x = random_inputs(graph, n, seed=seed)
    with Emulator(get_board(board), project.elf) as emu, Device(emu.url, **device) as dev:
        y, mismatches, _ = verify_on_device(dev, graph, x, out=lambda s: None)
    assert mismatches == [] and len(y) == n, f"{path.stem} on {board}: inputs {mismatches} differ from hostsim"
    assert not re.search(r"warning:", (project.dir / "build.log").read_text())
    assert report.flash_used < report.flash_total and report.ram_used < report.ram_total
    return project


@pytest.mark.parametrize("model, board", QEMU_CASES, ids=[f"{m}-{b}" for m, b in QEMU_CASES])
def test_bit_exact_on_qemu(model, board, tmp_path_factory):
    assert (MODELS / f"{model}.tflite").is_file(), f"the reference models belong in {MODELS}"
    project, report, y, mismatches, cycles = verify(model, board, tmp_path_factory)
    assert mismatches == [], f"{model} on {board}: inputs {mismatches[:10]} differ from hostsim"
    assert y.shape[0] == N_INPUTS
    assert all(c is None for c in cycles), "QEMU has no cycle counter: the firmware must report none"
    log = (project.dir / "build.log").read_text()
    assert not re.search(r"warning:", log), log
    assert report.flash_used < report.flash_total and report.ram_used < report.ram_total


def test_hello_world_bit_exact_on_uno_sim(tmp_path_factory):
    project, report, y, mismatches, cycles = verify("hello_world_int8", "uno-sim", tmp_path_factory)
    assert mismatches == []
    # simavr is cycle-exact and Timer1 counts CPU cycles: a 3-layer, 288-MAC model takes thousands of them.
    assert all(c is not None and 1000 < c < 1_000_000 for c in cycles)
    assert report.flash_used <= 32256 and report.ram_used <= 2048
    log = (project.dir / "build.log").read_text()
    assert "warning:" not in log


def test_save_matches_hostsim_layout(tmp_path_factory):
    import hostsim

    graph = load(MODELS / "hello_world_int8.tflite")
    project, report, y, mismatches, cycles = verify("hello_world_int8", "qemu-cortex-m4", tmp_path_factory, n=5)
    x = random_inputs(graph, 5, seed=1)
    want = hostsim.run(graph, x)
    assert y.shape == want.shape and y.dtype == want.dtype and np.array_equal(y, want)


def test_a_wrong_reference_is_reported_as_mismatch(tmp_path_factory, monkeypatch):
    """The comparison itself: against a deliberately wrong reference every input mismatches, the first named."""
    import hostsim

    project, _ = built("hello_world_int8", "qemu-cortex-m4", tmp_path_factory)
    graph = load(MODELS / "hello_world_int8.tflite")
    real_run_all = hostsim.run_all

    def wrong(g, x):
        values = real_run_all(g, x)
        y = g.outputs[0].index
        return {**values, y: (values[y].astype(np.int16) + 1).astype(np.int8)}
    monkeypatch.setattr(hostsim, "run_all", wrong)
    x = random_inputs(graph, 3, seed=2)
    said = []
    with Emulator(get_board("qemu-cortex-m4"), project.elf) as emu, Device(emu.url) as dev:
        _, mismatches, _ = verify_on_device(dev, graph, x, out=said.append)
    assert mismatches == [0, 1, 2]
    assert said and said[0].startswith("MISMATCH on input 0: first difference at byte 0")


def test_mlc_verify_cli_builds_starts_and_reports(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "codegen", "verify", str(MODELS / "hello_world_int8.tflite"),
                        "--board", "qemu-cortex-m4", "-n", "50", "-o", str(tmp_path / "p"),
                        "--save", str(tmp_path / "y.npy")], capture_output=True, text=True, cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "50/50 bit-exact on qemu-cortex-m4" in r.stdout
    assert np.load(tmp_path / "y.npy").shape == (50, 1)


@pytest.mark.parametrize("board, stop", [("qemu-cortex-m4", "SIGINT"), ("qemu-cortex-m4", "SIGTERM"),
                                         ("uno-sim", "SIGINT"), ("uno-sim", "SIGTERM")])
def test_mlc_run_serves_the_uart_and_stops_on_ctrl_c_or_kill(board, stop, tmp_path_factory):
    """Ctrl-C (SIGINT) and `kill` (SIGTERM) both stop `mlc run` and its emulator: none is left behind."""
    import signal
    import subprocess
    import sys
    import time

    from codegen.cli.monitor import monitor
    from codegen.device.emulator import free_port

    project, _ = built("hello_world_int8", board, tmp_path_factory)
    port = free_port()
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "codegen", "run", str(project.dir), "--tcp", str(port)],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = monitor(f"socket://127.0.0.1:{port}", count=1, duration=20, out=lambda s: None)
        assert len(seen) == 1 and seen[0].source == "demo"
        assert (seen[0].cycles is None) == (board != "uno-sim")  # only simavr's Timer1 counts cycles
    finally:
        time.sleep(0.2)
        proc.send_signal(getattr(signal, stop))
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # fail, but leave no emulator behind for the rest of the suite
            proc.kill()
            subprocess.run(["pkill", "-f", str(project.elf)])
            raise
    assert proc.returncode == 0, err
    assert f"{board}: stopped" in err and "Traceback" not in err
    left = subprocess.run(["pgrep", "-f", str(project.elf)], capture_output=True, text=True).stdout
    assert not left, f"emulator still running after {stop}: pids {left.split()}"


def test_demo_inputs_are_what_the_app_reports(tmp_path):
    """`mlc build --demo-inputs`: the firmware cycles through the given inputs, and the classes it reports
    while no host talks to it are hostsim's classes for those inputs, with the model's labels."""
    from codegen.cli.build import read_demo_inputs
    from codegen.cli.monitor import monitor

    example = Path(__file__).resolve().parents[1] / "examples" / "vibration"
    model = example / "model.tflite"
    x = read_demo_inputs(model, example / "sample_inputs.npy")
    labels = (example / "labels.txt").read_text().split()
    project, _ = build(model, "qemu-cortex-m4", tmp_path, name="vibration", labels=labels, quiet=True, demo=x)
    with Emulator(get_board("qemu-cortex-m4"), project.elf) as emu:
        seen = monitor(emu.url, count=len(x), duration=30, out=lambda s: None)
    expected = [labels[i] for i in np.argmax(hostsim_run(load(model), x).reshape(len(x), -1), axis=1)]
    assert [p.label for p in seen] == expected
    assert len(set(expected)) == len(labels)  # the samples show every class


def test_demo_inputs_of_the_wrong_shape_are_refused(tmp_path):
    from codegen.cli.build import read_demo_inputs

    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 5), np.int8))
    with pytest.raises(MlcError, match=r"x\.npy: .*needs"):
        read_demo_inputs(MODELS / "hello_world_int8.tflite", bad)


def test_a_model_with_unsupported_ops_is_refused_before_anything_is_built(tmp_path):
    """audio_preprocessor_int8 uses TFLM's Signal custom ops: `mlc build` says so in one line, leaves no
    half-made project behind, and exits non-zero."""
    import subprocess
    import sys

    out = tmp_path / "project"
    r = subprocess.run([sys.executable, "-m", "codegen", "build", str(MODELS / "audio_preprocessor_int8.tflite"),
                        "-o", str(out)], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "layer 0 (CUSTOM:SignalWindow)" in r.stderr and "supported:" in r.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-cortex-m55"])
def test_person_detect_bit_exact_on_qemu(board, tmp_path_factory):
    """TFLM's person detection model (MobileNet v1, 96x96x1, per-channel biases stored with axis 3). One
    inference is ~12 M instructions: on a loaded machine QEMU needs more than the protocol's 2 s per request."""
    project = assert_bit_exact(MODELS / "person_detect.tflite", board, tmp_path_factory.mktemp("pd"), 10, seed=1,
                               attempt_timeout=30.0)
    assert any("(patches)" in c.read_text() for c in project.dir.rglob("person_detect.c")), "built without patches"


# Converter-made nets shaped like MLPerf Tiny's (tests/models/make_keras_models.py); the MobileNets' first layers
# run in row bands (codegen.lower.patches). The big ones take about a minute per board on a loaded machine.
MLPERF_LIKE = ["mobilenet_v2_like", "streaming_conv1d_like",
               *(pytest.param(m, marks=pytest.mark.slow) for m in ("mobilenet_v1_like", "resnet8_like"))]


@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-cortex-m55"])
@pytest.mark.parametrize("model", MLPERF_LIKE)
def test_mlperf_like_converter_models_bit_exact_on_qemu(model, board, tmp_path):
    path = Path(__file__).parent / "models" / "keras" / f"{model}.tflite"
    # up to 20 M instructions per inference (resnet8_like): more than the protocol's 2 s per request on a loaded machine
    project = assert_bit_exact(path, board, tmp_path / "fw", 20, attempt_timeout=30.0)
    patched = any("(patches)" in c.read_text() for c in project.dir.rglob(f"{model}.c"))
    assert patched == model.startswith("mobilenet"), f"{model}: patches {'used' if patched else 'not used'}"


NEW_OP_MODELS = ["standalone_relus", "prelu_hard_swish", "binary_ops", "layout_moves", "resize_nearest", "resize_bilinear",
                 "reduce_max_sum", "conv_transpose", "conv_transpose_upsample", "split_unstack", "abs_rsqrt", "depth_space_gather",
                 "arg_max", "attention_matmul", "gram_matmul", "int16x8_gram_matmul", "broadcast_to", "gather_nd",
                 "islands_layer_norm", "int16x8_sigmoid_tanh_softmax", "int16x8_conv_transpose", "log_softmax", "l2_normalize", "cast",
                 "space_batch", "float_io_islands_gather_reduce", "cast_float_int", "fill_scalar",
                 "zeros_like_dynamic_batch"]  # tests/models/keras: every op added with them


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-cortex-m55"])
@pytest.mark.parametrize("model", NEW_OP_MODELS)
def test_converter_models_with_new_ops_bit_exact_on_qemu(model, board, tmp_path):
    assert_bit_exact(Path(__file__).parent / "models" / "keras" / f"{model}.tflite", board, tmp_path / "fw", 20)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-cortex-m55"])
@pytest.mark.parametrize("make", ["float_island_model", "int16_prelu_model", "space_batch_model", "reduce_specials_model",
                                  "cast_fill_model"])
def test_builder_models_bit_exact_on_qemu(make, board, tmp_path):
    """Models of ops the converter does not write: the float32 kernels (NEG, MUL, ADD, DIV, MAXIMUM, SQRT of
    subnormals, RSQRT, MEAN, SUM, and PAD, TRANSPOSE, CONCATENATION, RESHAPE copying float32, between DEQUANTIZE and
    QUANTIZE) on the FPv4/FPv5 FPU, built with PlatformIO's flags (test_boards checks -ffp-contract=off among
    them), int16 PRELU, SPACE_TO_BATCH_ND -> CONV_2D -> PAD -> BATCH_TO_SPACE_ND (a batch of 4 between), and
    float32 REDUCE_MAX / REDUCE_MIN on -0.0, NaN and infinities (the FPU's compares), and CAST float32 ->
    int8/int16 (saturated) with FILL and ZEROS_LIKE;
    byte for byte hostsim's, which test_hostsim_ops holds to TFLM."""
    import test_hostsim_ops

    path = tmp_path / f"{make}.tflite"
    path.write_bytes(getattr(test_hostsim_ops, make)(np.random.default_rng(3)))
    assert_bit_exact(path, board, tmp_path / "fw", 50)


# 16x8 runs the reference loops everywhere; int8 the fast kernel's DSP (M4) and Helium (M55) paths
DRAWN_LSTM = [("int16", "qemu-cortex-m4"), ("int8", "qemu-cortex-m4"), ("int8", "qemu-cortex-m55")]


@pytest.mark.parametrize("dtype, board", DRAWN_LSTM, ids=[f"{d}-{b}" for d, b in DRAWN_LSTM])
def test_drawn_lstm_bit_exact_on_qemu(dtype, board, tmp_path):
    """One drawn UNIDIRECTIONAL_SEQUENCE_LSTM per case (the converter crashes on Keras LSTMs; tests/test_lstm.py
    holds these models' hostsim to TFLM): several steps per invoke, the state carried over 20 invokes, an odd
    unit count (the fast kernel's last unit alone) and a depth past one 4-byte step."""
    @settings(max_examples=1, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(case=S.lstm_models(dtype=dtype, time_major=False))
    def check(case):
        assume(case.params["units"] >= 5 and case.params["units"] % 2 and case.inputs[0].shape[1] >= 3)
        assume(case.inputs[0].shape[2] >= 6)
        path = tmp_path / f"lstm-{dtype}.tflite"
        path.write_bytes(case.model)
        assert_bit_exact(path, board, tmp_path / "fw", 20)

    check()


@pytest.mark.parametrize("board", ["qemu-cortex-m0", "qemu-cortex-m4", "qemu-cortex-m55"])
def test_keyword_scrambled_state_bit_exact_on_qemu(board, tmp_path_factory):
    """TFLM's keyword benchmark (SVDF state across invokes): a sequence bit-exact with hostsim's, and a second
    sequence on the same running firmware too (verify resets the model's state first: STREAM_RESET)."""
    project, report = built("keyword_scrambled_8bit", board, tmp_path_factory)
    graph = load(MODELS / "keyword_scrambled_8bit.tflite")
    rng = np.random.default_rng(5)
    runs = [np.clip(rng.normal(0, scale, (12, 96)), -32768, 32767).astype(np.int16) for scale in (300, 3000)]
    with Emulator(get_board(board), project.elf) as emu, Device(emu.url) as dev:
        for x in runs:
            y, mismatches, _ = verify_on_device(dev, graph, x, out=lambda s: None)
            assert mismatches == [] and y.shape == (12, 2) and y.dtype == np.int32, f"inputs {mismatches} differ"
    assert not re.search(r"warning:", (project.dir / "build.log").read_text())
