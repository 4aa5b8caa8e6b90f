"""`mlc export --arduino`: the library's layout, and its example sketch built like a user's and run on emulated
boards, bit-exact with hostsim: for the Uno with avr-gcc and Debian's Arduino AVR core (uno-sim), and for a
Cortex-M4 with arm-none-eabi-gcc against a minimal Arduino API shim (tests/arduino_shim), both through
PlatformIO with the export as a PlatformIO library (library.json)."""
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from codegen.assets import asset_dir, templates
from codegen.cli import main
from codegen.model.arrays import random_inputs
from codegen.ops import load
from codegen.targets.boards import get_board
from codegen.targets.project import (LDSCRIPT, PLATFORM_DIR, build_flags, default_stack, linker_script,
                                     pio_board_manifest)
from paths import MODELS

HELLO = MODELS / "hello_world_int8.tflite"
SHIM = Path(__file__).parent / "arduino_shim"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    assert main(["export", str(HELLO), "--arduino", "-o", str(out), "--zip"]) == 0
    return out / "mlc_hello_world_int8"


def test_library_layout(library):
    props = dict(line.split("=", 1) for line in (library / "library.properties").read_text().splitlines())
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                "architectures", "depends", "includes"):
        assert key in props, key
    assert props["name"] == "mlc_hello_world_int8" and props["architectures"] == "*"
    assert props["includes"] == "mlc_hello_world_int8.h" and (library / "src" / props["includes"]).is_file()
    manifest = json.loads((library / "library.json").read_text())
    assert manifest["name"] == props["name"] and manifest["version"] == props["version"]
    # One portable library: each kernel's ISA paths under the preprocessor, picked by the compiler's target.
    c = (library / "src" / "hello_world_int8.c").read_text()
    assert "hello_world_int8_invoke" in c
    sketch = library / "examples" / "classify"
    assert "void setup()" in (sketch / "classify.ino").read_text()
    assert (sketch / "src" / "app_hello_world_int8.c").is_file() and (sketch / "src" / "mlc" / "mlc_protocol.c").is_file()
    names = zipfile.ZipFile(library.with_suffix(".zip")).namelist()
    assert "mlc_hello_world_int8/library.properties" in names
    assert all(n.startswith("mlc_hello_world_int8/") for n in names)


def _sketch_project(library: Path, board_id: str, out: Path, extra_libs=(), app: str = "classify") -> Path:
    """A PlatformIO project as a user makes one from the export: the example sketch as src/, the library in lib/."""
    board = get_board(board_id)
    env = templates()
    shutil.copytree(library / "examples" / app, out / "src")
    if not board.is_avr:  # what the Arduino IDE (and PlatformIO's Arduino framework) does to a sketch
        ino = out / "src" / f"{app}.ino"
        ino.with_suffix(".ino.cpp").write_text("#include <Arduino.h>\n" + ino.read_text())
        ino.unlink()
    for lib in (library, *extra_libs):
        shutil.copytree(lib, out / "lib" / lib.name)
    (out / "boards").mkdir()
    framework = "arduino" if board.is_avr else None
    (out / "boards" / f"{board.id}.json").write_text(json.dumps(pio_board_manifest(board, framework)))
    ldscript = None
    if not board.is_avr:
        ldscript = LDSCRIPT
        (out / LDSCRIPT).write_text(linker_script(board, env, default_stack(board, "the export test")))
    (out / "platformio.ini").write_text(env.get_template("platformio/platformio.ini.j2").render(
        name="classify", board=board, platform="symlink://" + str(PLATFORM_DIR.resolve()), pio_board=board.id,
        boards_dir=True, framework=framework, ldscript=ldscript, build_flags=build_flags(board)))
    from codegen.targets.toolchain import run_pio

    result = run_pio(["run", "-e", board.id], out)
    assert result.returncode == 0, (result.stdout or "")[-3000:]
    return out / ".pio" / "build" / board.id / "firmware.elf"


def _shim_library(tmp_path: Path) -> Path:
    shim = tmp_path / "arduino_shim"
    shutil.copytree(SHIM, shim)
    (shim / "library.json").write_text(json.dumps({
        "name": "arduino_shim", "version": "0.0.0", "build": {"libArchive": False, "flags": [
            f"-I{asset_dir('firmware') / 'common'}", f"-I{asset_dir('firmware') / 'cortex-m'}"]}}))
    shutil.copyfile(asset_dir("firmware") / "cortex-m" / "startup.c", shim / "startup.c")
    return shim


def _verify(board_id: str, elf: Path):
    from codegen.cli.verify import verify_on_device
    from codegen.device.emulator import Emulator
    from codegen.device.protocol import Device

    graph = load(HELLO)
    x = random_inputs(graph, 16, 1)
    emulator = Emulator(get_board(board_id), elf).start()
    try:
        with Device(emulator.url, attempt_timeout=5.0) as device:
            _, mismatches, _ = verify_on_device(device, graph, x, out=lambda s: None)
    finally:
        emulator.stop()
    assert mismatches == []


@pytest.mark.device
def test_example_sketch_on_uno_sim(library, tmp_path):
    _verify("uno-sim", _sketch_project(library, "uno-sim", tmp_path / "uno"))


@pytest.mark.device
def test_example_sketch_on_cortex_m4_with_an_arduino_shim(library, tmp_path):
    elf = _sketch_project(library, "qemu-cortex-m4", tmp_path / "m4", extra_libs=[_shim_library(tmp_path)])
    _verify("qemu-cortex-m4", elf)


def _streaming_app_on_m4(tmp_path, model, export_args, verify_args):
    """A streaming app's sketch from the export, built for a Cortex-M4 against the Arduino shim, answers
    `mlc verify --app ... --port` bit-exactly (features, scores, decisions and events against hostsim)."""
    from codegen.device.emulator import Emulator

    app = export_args[1]
    assert main(["export", str(model), "--arduino", "-o", str(tmp_path / "export"), *export_args]) == 0
    library = next((tmp_path / "export").iterdir())
    assert (library / "examples" / app / f"{app}.ino").is_file()
    elf = _sketch_project(library, "qemu-cortex-m4", tmp_path / "m4", extra_libs=[_shim_library(tmp_path)], app=app)
    emulator = Emulator(get_board("qemu-cortex-m4"), elf).start()
    try:
        assert main(["verify", str(model), *export_args, *verify_args, "--port", emulator.url]) == 0
    finally:
        emulator.stop()


@pytest.mark.device
def test_anomaly_sketch_on_cortex_m4_with_an_arduino_shim(tmp_path, capsys):
    import numpy as np

    from test_anomaly_app import MODEL, mixed

    np.save(tmp_path / "rec.npy", mixed(6.0))
    _streaming_app_on_m4(tmp_path, MODEL, ["--app", "anomaly"], ["--feed", str(tmp_path / "rec.npy"), "--chunk", "128"])
    assert "bit-exact" in capsys.readouterr().out


@pytest.mark.device
def test_kws_sketch_on_cortex_m4_with_an_arduino_shim(tmp_path, capsys):
    import numpy as np

    from codegen.apps.kws import write_wav
    from kws_stream import clip

    wav = tmp_path / "yes.wav"
    write_wav(wav, np.concatenate([np.zeros(8000, np.int16), clip("yes"), np.zeros(8000, np.int16)]))
    _streaming_app_on_m4(tmp_path, MODELS / "micro_speech_quantized.tflite",
                         ["--app", "kws", "--frontend", str(MODELS / "audio_preprocessor_int8.tflite"),
                          "--labels", str(MODELS / "micro_speech_labels.txt")], ["--feed", str(wav), "--chunk", "320"])
    assert "bit-exact" in capsys.readouterr().out
