"""The generated C front end equals hostsim.frontend stage by stage on every frame of the corpus and of TFLM's
clips (compiled for the host with -fsanitize=address,undefined), compiles warning-free for Cortex-M and AVR,
and on qemu-cortex-m4 and -m3 gives the same features, with exact instruction counts per frame."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

from c_harness import HOST_CFLAGS, compile_c, have
from codegen.frontend import load
from codegen.frontend.emit import DUMP_STAGES, generate
from frontend_corpus import PREPROCESSOR, STEP, WAVS, corpus, read_wav
from hostsim.frontend import State, frames, run

NAME = "fe"
MAIN = r"""
#include <stdio.h>
#include "fe.h"

/* stdin: frames of fe_FRAME_LENGTH int16, streamed through one state; stdout: every stage per frame as
   (int32 stage, int32 bytes, data). */
static void put(int32_t stage, const void *data, int32_t bytes)
{
    fwrite(&stage, 4, 1, stdout);
    fwrite(&bytes, 4, 1, stdout);
    fwrite(data, 1, (size_t)bytes, stdout);
}

int main(void)
{
    static fe_state state;
    static uint32_t scratch[(fe_SCRATCH_BYTES + 3) / 4];
    static int16_t frame[fe_FRAME_LENGTH];
    int8_t features[fe_NUM_FEATURES];
    fe_reset(&state);
    fe_set_dump(put);
    while (fread(frame, sizeof frame, 1, stdin) == 1) {
        fe_process(&state, frame, features, scratch);
    }
    return 0;
}
"""
DTYPES = {"windowed": np.int16, "scale bits": np.int32, "spectrum": np.int16, "energy": np.uint32,
          "filter bank": np.uint64, "square root": np.uint32, "subtracted": np.uint32, "noise estimate": np.uint32,
          "pcan": np.uint32, "log": np.int16, "features": np.int8}
pytestmark = pytest.mark.skipif(not have("gcc"), reason="needs gcc")


@pytest.fixture(scope="module")
def fe():
    return load(PREPROCESSOR)


@pytest.fixture(scope="module")
def host_exe(fe, tmp_path_factory):
    out = tmp_path_factory.mktemp("fe_host")
    generate(fe, out, NAME)
    (out / "main.c").write_text(MAIN)
    return compile_c([out / "main.c", out / f"{NAME}.c"], out / "fe_host", include_dirs=[out],
                     defines=[f"{NAME}_DEBUG_DUMP"], cflags=HOST_CFLAGS)


def run_c(exe: Path, x: np.ndarray) -> dict:
    """{stage: (N, ...) values} from the dump harness."""
    proc = subprocess.run([str(exe)], input=np.ascontiguousarray(x, np.int16).tobytes(), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    data, pos, out = proc.stdout, 0, {s: [] for s in DUMP_STAGES}
    while pos < len(data):
        stage, nbytes = np.frombuffer(data, np.int32, 2, pos)
        pos += 8
        name = DUMP_STAGES[stage]
        out[name].append(np.frombuffer(data, DTYPES[name], nbytes // np.dtype(DTYPES[name]).itemsize, pos))
        pos += nbytes
    return {name: np.stack(v) for name, v in out.items()}


def assert_c_equals_hostsim(fe, got: dict, want: dict, what: str) -> None:
    for name in DUMP_STAGES:
        b = np.asarray(want[name]).reshape(len(got[name]), -1)
        if name == "energy":
            b = b[:, fe.live_bins[0]:fe.live_bins[1]]
        a = got[name].reshape(len(b), -1)
        same = (a.astype(np.int64) == b.astype(np.int64)).all(axis=1)
        assert same.all(), (f"{what}: C stage '{name}' differs from hostsim first at frame {np.argmin(same)} "
                            f"({int((~same).sum())} of {len(same)} frames)")


def test_c_equals_hostsim_on_the_corpus(fe, host_exe):
    x = np.concatenate([frames(audio, fe, STEP) for _, audio in corpus()]
                       + [frames(read_wav(p), fe, STEP) for p in WAVS.values()])
    assert_c_equals_hostsim(fe, run_c(host_exe, x), run(fe, x).stages, f"{len(x)} frames in one stream")


def test_c_state_carries_and_reset_zeroes_it(fe, host_exe):
    x = frames(read_wav(WAVS["yes"]), fe, STEP)
    once = run_c(host_exe, np.concatenate([x, x]))["features"]
    state = State.fresh(fe)
    want = np.concatenate([run(fe, x, state).features, run(fe, x, state).features])
    assert np.array_equal(once, want) and not np.array_equal(once[:49], once[49:])


@pytest.mark.parametrize("cc, flags", [
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]),
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb", "-O2"]),
    ("avr-gcc", ["-mmcu=atmega328p", "-Os"]),
])
def test_cross_compiles_without_warnings(fe, tmp_path, cc, flags):
    if not have(cc):
        pytest.skip(f"needs {cc}")
    generate(fe, tmp_path, NAME)
    proc = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, "-c", str(tmp_path / f"{NAME}.c"),
                           "-o", str(tmp_path / "fe.o")], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr


FW = Path(__file__).parent / "frontend_fw"
QEMU_BOARDS = ("qemu-cortex-m4", "qemu-cortex-m3")


def qemu_subset(fe) -> np.ndarray:
    """The yes clip, then every 40th corpus frame plus each corpus frame holding a -32768 (the MaxAbs16 trap)."""
    corpus_x = np.concatenate([frames(audio, fe, STEP) for _, audio in corpus()])
    picked = (np.arange(len(corpus_x)) % 40 == 0) | (corpus_x == -32768).any(axis=1)
    return np.concatenate([frames(read_wav(WAVS["yes"]), fe, STEP), corpus_x[picked]])


def build_firmware(fe, board, x: np.ndarray, out: Path, result: Path) -> Path:
    generate(fe, out, NAME)
    rows = ",\n".join("{" + ", ".join(map(str, row)) + "}" for row in x)
    (out / "frames.h").write_text(f"#define FE_TEST_FRAMES {len(x)}\n#define FE_TEST_OUTPUT \"{result}\"\n"
                                  f"static const int16_t fe_test_frames[FE_TEST_FRAMES][{x.shape[1]}] = {{\n{rows}\n}};\n")
    elf = out / "fe.elf"
    compile_c([FW / "main.c", out / f"{NAME}.c"], elf, include_dirs=[out], cc="arm-none-eabi-gcc",
              cflags=["-std=c99", "-Wall", "-Wextra", "-Werror", *board.machine_flags(), board.optimize,
                      "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                      f"-T{FW / 'link.ld'}", "-Wl,--gc-sections", "-ffunction-sections", "-fdata-sections"])
    return elf


@pytest.fixture(scope="module", params=QEMU_BOARDS)
def on_qemu(request, fe, tmp_path_factory):
    from codegen.device import bench
    from codegen.targets.boards import get_board

    if not (have("arm-none-eabi-gcc") and have("qemu-system-arm")):
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    board = get_board(request.param)
    out = tmp_path_factory.mktemp(request.param)
    x = qemu_subset(fe)
    result = out / "features.bin"
    elf = build_firmware(fe, board, x, out, result)
    symbols = bench.read_symbols(elf, board)
    (entry, _), (run_at, run_size) = symbols[f"{NAME}_process"], symbols["fe_bench_run"]
    config = f"buckets 1\nstart {entry:#x}\nstop {run_at:#x} {run_at + run_size:#x}\n"
    counts = [run[0] for run in bench.count(board, elf, config, out, timeout=300)]
    features = np.fromfile(result, np.int8).reshape(len(x), -1)
    return board, x, features, np.array(counts), symbols


def test_device_features_equal_hostsim(fe, on_qemu):
    board, x, features, counts, _ = on_qemu
    want = run(fe, x).features
    same = (features == want).all(axis=1)
    assert same.all(), f"{board.id}: frame {np.argmin(same)} of {len(x)} differs from hostsim"
    assert len(counts) == len(x)


def test_instructions_per_frame(fe, on_qemu, record_property):
    board, x, _, counts, symbols = on_qemu
    yes = counts[:49]
    record_property("instructions", {"board": board.id, "frames": len(counts), "min": int(counts.min()),
                                     "median": int(np.median(counts)), "max": int(counts.max()),
                                     "yes clip mean": float(yes.mean())})
    print(f"{board.id}: {len(counts)} frames, instructions per frame min {counts.min():,} median "
          f"{int(np.median(counts)):,} max {counts.max():,}; yes clip mean {yes.mean():,.0f}")
    if board.id == "qemu-cortex-m4":
        assert counts.max() < 92_000  # a straightforward port's figure (issue 12)
