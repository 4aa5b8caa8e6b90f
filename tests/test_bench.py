"""`mlc bench`: the QEMU counting plugin is exact on hand-written code, repeatable on the same ELF, the
per-layer figures of a real model add up to the total, and the peak stack and per-layer .text are measured."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen.device import bench
from codegen.targets.boards import get_board
from codegen.cli import main
from codegen.errors import MlcError
from paths import MODELS

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


@pytest.mark.device
def test_plugin_counts_hand_written_code_exactly(tmp_path):
    board = get_board(M4)
    elf = _elf(tmp_path)
    sym = bench.read_symbols(elf, board)
    (work, _), (reset, _), (mid, _), (marker, _) = (sym[s] for s in ("work", "reset", "mid", "marker"))
    config = (f"buckets 3\nstart {work:#x}\nstop {reset:#x} {work:#x}\nmark {mid:#x} 1\n"
              f"step {marker:#x}\nskip {marker:#x} {marker + 4:#x}\n")
    runs, uart = bench.count(board, elf, config, tmp_path, timeout=30)
    assert runs == [[42, 22, 12, 8], [42, 22, 12, 8]] and uart == ""
    assert bench.count(board, elf, config, tmp_path, timeout=30)[0] == runs  # same ELF, same numbers


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    pytest.importorskip("platformio")
    out = tmp_path_factory.mktemp("bench") / "project"
    return bench.bench(HELLO, M4, out_dir=out, name="HELLO"), out


@pytest.mark.device
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


@pytest.mark.device
def test_stack_is_measured_below_the_reservation(hello):
    """The bench firmware's stack is all the RAM data and bss leave: the peak must be inside it, and the
    invoke's part of it must be more than a return address and less than what the app's frames add."""
    result, project = hello
    board = get_board(M4)
    symbols = bench.read_symbols(project / ".pio" / "build" / M4 / "firmware.elf", board)
    region = symbols["__stack_top__"][0] - symbols["__stack_bottom__"][0]
    assert 8 < result.stack_bytes < 1024 and 0 < result.app_stack_bytes < 256
    assert result.stack_bytes + result.app_stack_bytes < region


@pytest.mark.device
def test_layer_text_comes_from_the_kernels_each_layer_calls(hello):
    result, project = hello
    symbols = bench.read_symbols(project / ".pio" / "build" / M4 / "firmware.elf", get_board(M4))
    assert [layer.kernels for layer in result.layers] == \
        [[f"HELLO_fully_connected_s8_fast_{i}"] for i in range(3)]
    for layer in result.layers:
        clones = [size for sym, (_, size) in symbols.items() if sym.split(".")[0] == layer.kernels[0]]
        assert clones and layer.text_bytes == sum(clones) > 0
    assert result.kernel_text_bytes == sum(layer.text_bytes for layer in result.layers)
    assert result.invoke_text_bytes == symbols["HELLO_run"][1] > 0


def test_layer_kernels_of_a_shared_function_and_a_layer_without_code():
    source = """int m_run(void)
{
    MLC_LAYER_MARK(m, 0);
    m_conv_s8_1x1_0(m_AT(int8_t, m_T1_OFFSET), x);
    m_DUMP(0, m_AT(const int8_t, m_T1_OFFSET), 8);
    MLC_LAYER_MARK(m, 1);
    /* layer 1: RESHAPE (aliased, no code) */
    MLC_LAYER_MARK(m, 2);
    m_conv_s8_1x1_0(a, b); m_softmax_s8_0(b, c);
    MLC_LAYER_MARK(m, end);
    return 0;
}"""
    assert bench.layer_kernels(source, "m", 3) == [["m_conv_s8_1x1_0"], [], ["m_conv_s8_1x1_0", "m_softmax_s8_0"]]


@pytest.mark.device
def test_same_elf_counts_the_same(hello):
    result, project = hello
    board = get_board(M4)
    elf = project / ".pio" / "build" / M4 / "firmware.elf"
    symbols = bench.read_symbols(elf, board)
    config, _ = bench.plugin_config(symbols, elf, "HELLO", len(result.layers))
    first, uart = bench.count(board, elf, config, project)
    assert (first, uart) == bench.count(board, elf, config, project)
    assert first[0][0] == result.instructions
    assert bench.stack_figures(uart, elf) == (result.stack_bytes, result.app_stack_bytes)


@pytest.mark.device
def test_cli_json(tmp_path, capsys):
    pytest.importorskip("platformio")
    assert main(["bench", str(HELLO), "--board", M4, "--json", "-o", str(tmp_path / "p")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"instructions", "macs", "flash_bytes", "ram_bytes", "arena_bytes", "stack_bytes", "layers"}
    assert data["stack_bytes"] > 0
    assert [set(layer) for layer in data["layers"]] == [{"index", "op", "macs", "instructions", "text_bytes", "kernels"}] * 3
    assert data["instructions"] >= sum(layer["instructions"] for layer in data["layers"])


def test_refuses_boards_without_qemu():
    with pytest.raises(MlcError, match="qemu"):
        bench.bench(HELLO, "uno-sim")


def test_label_marks_of_layers_without_code_count_nothing():
    symbols = {"m_run": (0x100, 0x40), bench.RUN_SYMBOL: (0x80, 0x10), "mlc_mark_m_0": (0x104, 0),
               "mlc_mark_m_1": (0x110, 0), "mlc_mark_m_2": (0x110, 0), "mlc_mark_m_end": (0x120, 0)}
    config, buckets = bench.plugin_config(symbols, Path("m.elf"), "m", 3)
    assert buckets == 5
    assert [line for line in config.splitlines() if line.startswith("mark")] == \
        ["mark 0x104 1", "mark 0x110 3", "mark 0x120 4"]


def test_a_missing_or_overflowed_stack_figure_is_an_error():
    assert bench.stack_figures("noise\r\nMLC STACK invoke=120 app=48 free=4000\r\n", Path("f.elf")) == (120, 48)
    with pytest.raises(MlcError, match="no MLC STACK line"):
        bench.stack_figures("MLC READY\n", Path("f.elf"))
    with pytest.raises(MlcError, match="overflowed"):
        bench.stack_figures("MLC STACK invoke=120 app=48 free=0\n", Path("f.elf"))


@pytest.mark.device
def test_a_one_layer_model_is_counted(tmp_path):
    """Its run function is small enough to inline into invoke: the layer marks must still stand once."""
    pytest.importorskip("platformio")
    import numpy as np
    from tflite_builder import ModelBuilder

    b = ModelBuilder()
    x = b.input([1, 8], 0.05, 3)
    b.output(b.fully_connected(x, b.const_int8(np.arange(32).reshape(4, 8) % 7 - 3, 0.01), None, 0.1, -2))
    model = tmp_path / "one.tflite"
    model.write_bytes(b.finish())
    result = bench.bench(model, M4, out_dir=tmp_path / "p")
    assert [(layer.op, layer.macs) for layer in result.layers] == [("FULLY_CONNECTED", 32)]
    assert result.instructions == result.layers[0].instructions + result.overhead > 32


def test_band_marks_count_to_their_layer():
    """A layer run in bands (codegen.lower.patches) has a mark per band, mlc_mark_NAME_<i>_b<band>: each maps to
    the layer's bucket, and the kernels of all its bands are the layer's."""
    symbols = {"m_run": (0x100, 0x80), bench.RUN_SYMBOL: (0x80, 0x10), "mlc_mark_m_0_b0": (0x104, 0),
               "mlc_mark_m_1_b0": (0x110, 0), "mlc_mark_m_0_b1": (0x120, 0), "mlc_mark_m_1_b1": (0x130, 0),
               "mlc_mark_m_2": (0x140, 0), "mlc_mark_m_end": (0x150, 0)}
    config, buckets = bench.plugin_config(symbols, Path("m.elf"), "m", 3)
    assert buckets == 5 and sorted(line for line in config.splitlines() if line.startswith("mark")) == \
        ["mark 0x104 1", "mark 0x110 2", "mark 0x120 1", "mark 0x130 2", "mark 0x140 3", "mark 0x150 4"]
    source = """int m_run(void)
{
    MLC_LAYER_MARK(m, 0_b0);
    m_conv_s8_0(a, b);
    MLC_LAYER_MARK(m, 1_b0);
    m_depthwise_s8_0(b, c);
    MLC_LAYER_MARK(m, 0_b1);
    m_conv_s8_1(a, b);
    MLC_LAYER_MARK(m, 1_b1);
    m_depthwise_s8_0(b, c);
    MLC_LAYER_MARK(m, 2);
    m_softmax_s8_0(c, d);
    MLC_LAYER_MARK(m, end);
    return 0;
}"""
    assert bench.layer_kernels(source, "m", 3) == [["m_conv_s8_0", "m_conv_s8_1"], ["m_depthwise_s8_0"], ["m_softmax_s8_0"]]


@pytest.mark.device
def test_a_banded_model_counts_each_banded_layer(tmp_path):
    """mobilenet_v2_like runs its first six layers in bands: each of them gets its own count, and the layers and
    run's prologue and epilogue add up to the whole inference."""
    pytest.importorskip("platformio")
    path = Path(__file__).parent / "models" / "keras" / "mobilenet_v2_like.tflite"
    result = bench.bench(path, M4, tmp_path / "p")
    layers = result.layers
    assert all(layer.instructions > layer.macs // 4 > 0 for layer in layers[:6]), [l.instructions for l in layers]
    assert result.instructions == result.overhead + sum(layer.instructions for layer in layers)
