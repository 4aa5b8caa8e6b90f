"""`mlc bench`: the QEMU counting plugin is exact on hand-written code, repeatable on the same ELF, and the
per-layer figures of a real model add up to the total."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen.device import bench
from codegen.targets.boards import get_board
from codegen.cli import main
from codegen.errors import MlcError

MODELS = Path(__file__).parents[2] / "shared" / "models"
HELLO = MODELS / "hello_world_int8.tflite"
M4 = "qemu-cortex-m4"
TOOLS = ("gcc", "arm-none-eabi-gcc", "qemu-system-arm")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason=f"needs {', '.join(TOOLS)}")

# reset calls work twice, then exits through semihosting. work runs three counted loops:
#   bucket 0: push + movs + 10 x (subs, bne)                 = 22
#   bucket 1 (from the label mid): movs + 5 x (subs, bne) + bl  = 12
#   bucket 2 (after the call to marker, whose body is skipped): movs + 3 x (subs, bne) + pop = 8
LOOP_S = """
    .syntax unified
    .thumb
    .text
    .word 0x20001000
    .word reset
    .thumb_func
    .global reset
reset:
    bl work
    bl work
    movs r0, #0x18
    ldr r1, =0x20026
    bkpt 0xab
    b .
    .thumb_func
    .global work
work:
    push {lr}
    movs r0, #10
1:  subs r0, #1
    bne 1b
    .global mid
mid:
    movs r1, #5
2:  subs r1, #1
    bne 2b
    bl marker
    movs r2, #3
3:  subs r2, #1
    bne 3b
    pop {pc}
    .thumb_func
    .global marker
marker:
    nop
    bx lr
"""


def _elf(tmp_path):
    src, elf = tmp_path / "loop.S", tmp_path / "loop.elf"
    src.write_text(LOOP_S)
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-Wl,-Ttext=0", "-Wl,-ereset",
                    "-o", str(elf), str(src)], check=True)
    return elf


def test_plugin_counts_hand_written_code_exactly(tmp_path):
    board = get_board(M4)
    elf = _elf(tmp_path)
    sym = bench.read_symbols(elf, board)
    (work, _), (reset, _), (mid, _), (marker, _) = (sym[s] for s in ("work", "reset", "mid", "marker"))
    config = (f"buckets 3\nstart {work:#x}\nstop {reset:#x} {work:#x}\nmark {mid:#x} 1\n"
              f"step {marker:#x}\nskip {marker:#x} {marker + 4:#x}\n")
    runs = bench.count(board, elf, config, tmp_path, timeout=30)
    assert runs == [[42, 22, 12, 8], [42, 22, 12, 8]]
    assert bench.count(board, elf, config, tmp_path, timeout=30) == runs  # same ELF, same numbers


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    pytest.importorskip("platformio")
    out = tmp_path_factory.mktemp("bench") / "project"
    return bench.bench(HELLO, M4, out_dir=out, name="HELLO"), out


def test_model_figures_add_up(hello):
    from codegen.lower.generate import render
    from codegen.ops import load

    result, _ = hello
    graph = load(str(HELLO))
    assert [(layer.index, layer.op, layer.macs) for layer in result.layers] == \
        [(op.index, op.kind, op.macs) for op in graph.ops]
    assert result.macs == sum(op.macs for op in graph.ops) > 0
    assert result.instructions == sum(layer.instructions for layer in result.layers) + result.overhead
    assert all(layer.instructions > layer.macs for layer in result.layers)
    assert result.arena_bytes == render(graph, "HELLO", [])[1].arena_bytes
    assert result.flash_bytes > 0 and result.ram_bytes >= result.arena_bytes


def test_same_elf_counts_the_same(hello):
    result, project = hello
    board = get_board(M4)
    elf = project / ".pio" / "build" / M4 / "firmware.elf"
    symbols = bench.read_symbols(elf, board)
    config, _ = bench.plugin_config(symbols, elf, "HELLO", len(result.layers))
    first = bench.count(board, elf, config, project)
    assert first == bench.count(board, elf, config, project)
    assert first[0][0] == result.instructions


def test_cli_json(tmp_path, capsys):
    pytest.importorskip("platformio")
    assert main(["bench", str(HELLO), "--board", M4, "--json", "-o", str(tmp_path / "p")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"instructions", "macs", "flash_bytes", "ram_bytes", "arena_bytes", "layers"}
    assert [set(layer) for layer in data["layers"]] == [{"index", "op", "macs", "instructions"}] * 3
    assert data["instructions"] >= sum(layer["instructions"] for layer in data["layers"])


def test_refuses_boards_without_qemu():
    with pytest.raises(MlcError, match="qemu"):
        bench.bench(HELLO, "uno-sim")


def test_label_marks_of_layers_without_code_count_nothing():
    symbols = {"m_invoke": (0x100, 0x40), bench.RUN_SYMBOL: (0x80, 0x10), "mlc_mark_m_0": (0x104, 0),
               "mlc_mark_m_1": (0x110, 0), "mlc_mark_m_2": (0x110, 0), "mlc_mark_m_end": (0x120, 0)}
    config, buckets = bench.plugin_config(symbols, Path("m.elf"), "m", 3)
    assert buckets == 5
    assert [line for line in config.splitlines() if line.startswith("mark")] == \
        ["mark 0x104 1", "mark 0x110 3", "mark 0x120 4"]
