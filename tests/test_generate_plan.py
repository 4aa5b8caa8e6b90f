"""`mlc inspect --plan`: every layer's KernelPlan, for one board's core or for each ISA of a portable
library; the memory planner's scratch and the generated library agree with the plans."""
import json

from codegen.cli import main
from codegen.lower.generate import plan_layers, render
from codegen.ops.kernel_plan import ISAS
from codegen.ops.thresholds import MAX_UNROLLED_LINES, Q15_UNROLL_MAX
from codegen.ops import load

from paths import MODELS

KWS = MODELS / "kws_ref_model.tflite"


def _plans(capsys, *args) -> list:
    assert main(["inspect", "--plan", "--json", str(KWS), *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_board_plans(capsys):
    rows = _plans(capsys, "--board", "qemu-cortex-m4")
    assert {r["isa"] for r in rows} == {"dsp"}
    first = rows[0]  # the 10x4 conv: windows of 40 B gathered, three pixels, the row unrolled
    assert (first["kind"], first["variant"], first["pixels"], first["channels"]) == ("CONV_2D", "im2col", 3, 2)
    assert first["unroll"].startswith("full (10 steps") and first["unroll_budget"] == MAX_UNROLLED_LINES
    assert set(first["why"]) >= {"variant", "pixels", "halfwords", "channels"}
    pointwise = rows[2]  # 1x1, in place, its output block and halfword inputs in the arena
    assert pointwise["variant"] == "1x1" and pointwise["inplace"] and pointwise["scratch"] == 3 * 64 + 3 * 64 * 2
    assert 64 <= Q15_UNROLL_MAX
    helium = _plans(capsys, "--board", "qemu-cortex-m55")
    assert {r["isa"] for r in helium} == {"mve"} and helium[2]["channels"] == 4


def test_portable_library_plans(capsys):
    rows = _plans(capsys)
    graph = load(KWS)
    coded = [op for op in graph.ops if op.kind != "RESHAPE"]
    assert [r["isa"] for r in rows] == list(ISAS) * len(coded)
    plan = plan_layers(graph)
    for op in coded:  # the arena holds the largest scratch any ISA's kernel asks for
        need = max(p.scratch for p in plan.kernels[op.index].values())
        assert plan.scratch.get(op.index, (0, 0))[1] == (need + 3) // 4 * 4


def test_table(capsys):
    assert main(["inspect", "--plan", str(KWS), "--board", "qemu-cortex-m3"]) == 0
    out = capsys.readouterr().out
    assert "kernel plans" in out and "portable" in out and "im2col" in out


def test_arena_of_the_board_libraries():
    """The DSP 1x1 conv's halfword inputs come from the arena; kws's arena does not grow (the in-place
    depthwise layers' ring, two channel blocks of 3 padded rows of 32 channels, sets the peak)."""
    graph = load(KWS)
    for isa in (*ISAS, None):
        _, result = render(graph, "m", [], isa=isa)
        assert result.arena_bytes == 8000 + 3 * 7 * 32


def test_generate_for_a_board(tmp_path, capsys):
    """mlc generate --board: only that core's kernels (here Helium: no MLC_DSP or MLC_MVE tests left)."""
    assert main(["generate", str(KWS), "-o", str(tmp_path), "--board", "qemu-cortex-m55"]) == 0
    c = (tmp_path / "kws_ref_model.c").read_text()
    assert "vmladavaq_s8" in c and "mlc_smlad" not in c and "MLC_MVE" not in c and "MLC_DSP" not in c


def test_own_weight_layouts_only_where_the_board_has_the_flash():
    """ad01's FULLY_CONNECTED layers take halfword weights on a DSP core (twice the flash) where the board holds
    them, and the shared int8 ones on a 512 KB part, which the halfwords (541 KB) would not fit."""
    graph = load(MODELS / "ad01_int8.tflite")
    _, roomy = render(graph, "m", [], isa="dsp", flash_bytes=4 * 1024 * 1024)
    _, tight = render(graph, "m", [], isa="dsp", flash_bytes=512 * 1024)
    _, portable = render(graph, "m", [], isa=None)
    assert tight.weight_bytes == portable.weight_bytes < 300_000 < 2 * 260_000 < roomy.weight_bytes


def test_board_plans_show_the_weight_layout_the_build_takes(capsys):
    """`inspect --plan --board` gives the plans the build uses: halfword FULLY_CONNECTED weights on a DSP board
    with the flash for them, int8 ones on a 512 KB DSP part, where the build falls back."""
    def weights(board):
        assert main(["inspect", "--plan", "--json", str(MODELS / "ad01_int8.tflite"), "--board", board]) == 0
        return {r["weights"] for r in json.loads(capsys.readouterr().out) if r["kind"] == "FULLY_CONNECTED"}
    roomy, tight = weights("qemu-cortex-m4"), weights("nucleo_f446re")
    assert tight == {"[units][depth] int8"} and roomy and all("int16" in w for w in roomy), (tight, roomy)
