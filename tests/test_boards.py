"""Board data, `mlc boards`, the platformio.ini a real board gets, and the real boards' compile + fit check
(app + generated model library built with each board's compiler flags and linked against its flash/RAM)."""
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.targets.boards import DEFAULT_BOARD, all_boards, get_board, load_board
from codegen.errors import MlcError
from codegen.device.bench import plan_stack
from codegen.targets.project import fit_check, render_project
from paths import MODELS

REAL = ["nano33ble", "uno", "pico", "nucleo_f446re", "nucleo_l4r5zi", "teensy41"]
EMULATED = ["qemu-cortex-m0", "qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55", "uno-sim"]
REPO = Path(__file__).resolve().parents[1]


def mlc(*args):
    return subprocess.run([sys.executable, "-m", "codegen", *args], capture_output=True, text=True, cwd=REPO)


def test_every_required_board_is_there_with_its_facts():
    boards = all_boards()
    assert set(REAL + EMULATED) <= set(boards)
    assert DEFAULT_BOARD == "qemu-cortex-m4"
    for b in boards.values():
        assert b.flash_bytes > 0 and b.ram_bytes > 0 and b.clock_hz > 0
        assert b.core in ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "avr")
        assert b.platformio.platform and b.platformio.board
        assert b.serial.baud == 115200
        assert b.emulated == (b.id in EMULATED)
    machines = {b: get_board(b).emulator.machine for b in EMULATED[:6]}
    assert machines == {"qemu-cortex-m0": "microbit", "qemu-cortex-m3": "mps2-an385", "qemu-cortex-m4": "mps2-an386", "qemu-cortex-m7": "mps2-an500",
                        "qemu-cortex-m33": "mps2-an505", "qemu-cortex-m55": "mps3-an547"}
    assert get_board("nano33ble").sensors["microphone"]["part"] == "MP34DT05"
    assert get_board("uno-sim").emulator.kind == "simavr"


@pytest.mark.parametrize("change, message", [
    ({"flash_bytes": "1 MB"}, r"flash_bytes is \"1 MB\"; expected int"),
    ({"ram_bytes": 0}, r"ram_bytes must be positive"),
    ({"runtime": "zephyr"}, r"runtime 'zephyr' is not one of baremetal-cortex-m, arduino"),
    ({"cycle_counter": "systick"}, r"cycle_counter 'systick' is not one of none, dwt, timer1"),
    ({"serial": {"baud": 115200}}, r"serial: missing key 'driver'"),
    ({"serial": {"baud": 115200, "driver": "cmsdk"}}, r"serial.driver 'cmsdk' is not one of arduino \(the arduino runtime's\)"),
    ({"clock": 64000000}, r"unknown key clock"),
    ({"id": "other"}, r"id 'other' differs from the file name"),
])
def test_board_files_are_validated_when_loaded(tmp_path, change, message):
    data = dataclasses.asdict(get_board("nano33ble"))
    data.update(change)
    path = tmp_path / "nano33ble.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MlcError, match=message):
        load_board(path)


def test_a_board_file_round_trips_through_its_schema(tmp_path):
    for board in all_boards().values():
        path = tmp_path / f"{board.id}.json"
        path.write_text(json.dumps(dataclasses.asdict(board)))
        assert load_board(path) == board


def test_compiler_flags_follow_core_and_fpu():
    assert get_board("qemu-cortex-m3").machine_flags() == ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]
    assert get_board("nano33ble").machine_flags() == ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
    assert "-mfpu=fpv5-d16" in get_board("teensy41").machine_flags()
    assert get_board("uno").machine_flags() == ["-mmcu=atmega328p"]


def test_mlc_boards_lists_and_dumps_json():
    r = mlc("boards")
    assert r.returncode == 0, r.stderr
    for b in REAL + EMULATED:
        assert b in r.stdout
    assert "qemu-cortex-m4*" in r.stdout and "mps3-an547" in r.stdout
    r = mlc("boards", "--json")
    data = json.loads(r.stdout)
    assert {d["id"] for d in data} >= set(REAL + EMULATED)


def test_unknown_board_is_one_line():
    r = mlc("build", str(MODELS / "hello_world_int8.tflite"), "--board", "esp32")
    assert r.returncode == 2 and "unknown board 'esp32'" in r.stderr and "Traceback" not in r.stderr


EXPECTED_INI = {
    "nano33ble": ("nordicnrf52", "nano33ble", "1"),
    "uno": ("atmelavr", "uno", "2"),
    "pico": ("raspberrypi", "pico", "0"),
    "nucleo_f446re": ("ststm32", "nucleo_f446re", "1"),
    "nucleo_l4r5zi": ("ststm32", "nucleo_l4r5zi", "1"),
    "teensy41": ("teensy", "teensy41", "1"),
}


@pytest.mark.parametrize("board_id", REAL)
def test_real_board_platformio_ini_is_the_hand_written_one(board_id, tmp_path):
    render_project(MODELS / "hello_world_int8.tflite", get_board(board_id), tmp_path)
    ini = (tmp_path / "platformio.ini").read_text()
    body = "\n".join(l for l in ini.splitlines() if l and not l.startswith(";"))
    platform, board, counter = EXPECTED_INI[board_id]
    assert body == (f"[platformio]\ndefault_envs = {board_id}\n\n[env:{board_id}]\nplatform = {platform}\n"
                    f"board = {board}\nframework = arduino\nbuild_flags =\n    -D MLC_CYCLE_COUNTER={counter}\n"
                    f"    -D MLC_BAUD=115200\nmonitor_speed = 115200").replace("\n\n", "\n")
    # The sketch side is plain Arduino: setup()/loop() in the mlc runtime, the model as a PlatformIO library.
    assert "void setup()" in (tmp_path / "src" / "mlc" / "main.cpp").read_text()
    assert (tmp_path / "lib" / "hello_world_int8" / "hello_world_int8.h").is_file()


@pytest.mark.device
@pytest.mark.parametrize("board_id", REAL)
@pytest.mark.parametrize("model", ["hello_world_int8", "micro_speech_quantized", "kws_ref_model", "ad01_int8"])
def test_real_board_compiles_and_fits(board_id, model, tmp_path):
    board = get_board(board_id)
    try:
        report = fit_check(MODELS / f"{model}.tflite", board, tmp_path, stack_plan=plan_stack)
    except MlcError as err:
        # Only the Uno is too small, and it must say so with the numbers.
        assert board_id == "uno" and model != "hello_world_int8", err
        assert "does not fit uno" in str(err) and re.search(r"\d{1,3}(,\d{3})* bytes", str(err))
        return
    log = (tmp_path / "build.log").read_text()
    assert "warning:" not in log, log
    manifest = json.loads((tmp_path / "boards" / f"{board_id}.json").read_text())["build"]  # what the builder compiles with
    assert manifest["machine_flags"] == board.machine_flags() and manifest["optimize"] == board.optimize
    assert 0 < report.flash_used <= board.flash_bytes and 0 < report.ram_used <= board.ram_bytes
    # The stack is measured on the QEMU board with the same core (the M0+: the M0, compiled the same), at the real
    # board's -Os; a model too big for that board gets the default reservation (ad01_int8's weights on the M0).
    twin = {"cortex-m0plus": "qemu-cortex-m0", "cortex-m4": "qemu-cortex-m4", "cortex-m7": "qemu-cortex-m7"}.get(board.core)
    if board.is_avr:
        assert report.stack is None and report.ram_parts["stack"] == 0
    elif board_id == "pico" and model == "ad01_int8":
        assert report.stack.measured is None and report.stack.reserved == min(16384, board.ram_bytes // 8)
        assert report.stack.how == "not measured: the model does not fit qemu-cortex-m0"
    else:
        assert report.stack.how.startswith(f"measured on {twin} at -Os") and report.stack.measured > 0
    assert sum(report.ram_parts.values()) == report.ram_used


def test_a_core_no_emulated_board_compiles_gets_the_default_stack():
    board = dataclasses.replace(get_board("pico"), core="cortex-m23")
    stack = plan_stack(None, board, None, "model")
    assert stack.measured is None and stack.reserved == min(16384, board.ram_bytes // 8)
    assert stack.how == "no emulated board has a cortex-m23 to measure on"


def test_linker_rejects_what_does_not_fit(tmp_path):
    """Weights that pass the early check but code that overflows a tiny flash: the link fails with numbers."""
    tiny = dataclasses.replace(get_board("nucleo_f446re"), id="tiny", flash_bytes=2048)
    with pytest.raises(MlcError, match=r"does not fit tiny: FLASH overflowed by [\d,]+ bytes \(needs [\d,]+ of 2,048\)"):
        fit_check(MODELS / "hello_world_int8.tflite", tiny, tmp_path)


@pytest.mark.parametrize("board_id, flash", [("uno", "32,256"), ("qemu-cortex-m0", "262,144")])
def test_model_too_big_fails_before_compiling(board_id, flash, tmp_path):
    r = mlc("build", str(MODELS / "ad01_int8.tflite"), "--board", board_id, "-o", str(tmp_path / "p"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"does not fit {board_id}: its weights need 270,880 bytes of flash, the board has {flash}" in r.stderr


@pytest.mark.device
@pytest.mark.parametrize("board_id, level", [("qemu-cortex-m4", "-O2"), ("uno-sim", "-Os")])
def test_emulated_boards_build_at_their_optimisation_level(board_id, level, tmp_path):
    """Speed is measured on the emulated Cortex-M boards at -O2 (as the TFLM anchors were); the Uno keeps
    -Os for its 32 KB of flash; both never contract float arithmetic (mlc's float32 layers are TFLM's one IEEE
    operation each). PlatformIO's verbose build shows the flags each file was compiled with."""
    from codegen.targets.toolchain import run_pio

    render_project(MODELS / "hello_world_int8.tflite", get_board(board_id), tmp_path)
    manifest = json.loads((tmp_path / "boards" / f"{board_id}.json").read_text())
    assert manifest["build"]["optimize"] == level
    verbose = run_pio(["run", "-v"], tmp_path).stdout
    compiles = [line for line in verbose.splitlines() if " -c " in line and "hello_world_int8.c" in line]
    assert compiles and all(f" {level} " in line and " -ffp-contract=off " in line for line in compiles), verbose[-800:]


def test_build_names_the_library_as_generate_does(tmp_path):
    """A file stem that is a C keyword once lower-cased (Int.tflite) still builds: build and generate derive
    the C name the same way."""
    model = tmp_path / "Int.tflite"
    model.write_bytes((MODELS / "hello_world_int8.tflite").read_bytes())
    r = mlc("build", str(model), "--no-build", "-o", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p" / "lib" / "Int" / "Int.h").is_file()
