"""Generated C that reads like hand-written C: a library for one core holds only that core's kernel
paths (no MLC_MVE / MLC_DSP in NAME.c), a portable library puts each ISA's whole function under one
#if (no conditionals inside functions), no preprocessor block is empty, and for one core no function of
the reference models is longer than the code-size budget."""
import re

import pytest

from codegen.lower.generate import render
from codegen.ops.kernel_plan import ISAS
from codegen.ops.thresholds import MAX_FUNCTION_LINES
from codegen.ops import load
from paths import MODELS as REFERENCE
from test_kernels_fast import MODELS as KERNEL_MODELS

REFERENCE_MODELS = ["kws_ref_model", "micro_speech_quantized", "ad01_int8", "hello_world_int8"]
DIRECTIVE = re.compile(r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)")


def _source(graph, isa):
    files, _ = render(graph, "m", [], isa=isa)
    return files["m.c"]


def _functions(c: str) -> list:
    """(lines, name) of every function definition (from its signature to its closing brace at column 0)."""
    out, start, name = [], None, None
    for i, line in enumerate(c.splitlines()):
        m = re.match(r"^(MLC_NOINLINE )?static (?!const)[^=;]*?(\w+)\(", line)
        if m and start is None and not line.rstrip().endswith(";"):
            start, name = i, m.group(2)
        if start is not None and line == "}":
            out.append((i - start + 1, name))
            start = None
    return out


def _check_preprocessor(c: str, isa):
    lines = c.splitlines()
    isa_blocks = []  # per open #if: does it choose an ISA?
    for i, line in enumerate(lines):
        d = DIRECTIVE.match(line)
        if not d:
            continue
        kind = d.group(1)
        if kind in ("if", "ifdef", "ifndef"):
            isa_blocks.append("MLC_MVE" in line or "MLC_DSP" in line)
        chooses_isa = isa_blocks[-1]
        if kind == "endif":
            isa_blocks.pop()
        else:  # something between a directive and the next
            nxt = DIRECTIVE.match(lines[i + 1])
            assert not nxt or nxt.group(1) in ("if", "ifdef", "ifndef"), f"empty block at line {i + 1}: {line!r}"
        if chooses_isa:
            assert isa is None, f"a library for {isa} tests {line.strip()!r}"
            if kind != "endif":  # around whole functions: the kernel's header comment follows
                assert lines[i + 1].startswith("/* "), f"line {i + 1}: {line!r} inside a function"
    assert not isa_blocks
    if isa is not None:
        assert "MLC_MVE" not in c and "MLC_DSP" not in c


@pytest.mark.parametrize("isa", [*ISAS, None], ids=[*ISAS, "portable-library"])
@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_reference_models(model, isa):
    c = _source(load(REFERENCE / f"{model}.tflite"), isa)
    _check_preprocessor(c, isa)
    if isa is not None:
        longest = max(_functions(c))
        assert longest[0] <= MAX_FUNCTION_LINES, longest


@pytest.mark.parametrize("name", KERNEL_MODELS)
def test_single_op_models(name, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(KERNEL_MODELS[name]())
    graph = load(path)
    for isa in [*ISAS, None]:
        _check_preprocessor(_source(graph, isa), isa)


def _board_source(model: str, board: str = "qemu-cortex-m4") -> str:
    """NAME.c as `mlc generate MODEL --board BOARD` writes it."""
    from codegen.ops.kernel_plan import isa_of
    from codegen.targets.boards import get_board

    return _source(load(REFERENCE / f"{model}.tflite"), isa_of(get_board(board)))


TABLE = re.compile(r"^static const (\w+) (\w+)\[(\d+)\] MLC_FLASH MLC_ALIGN\(4\) = \{\n(.*?)\n\};", re.M | re.S)
RECORD = re.compile(r"\{ \.multiplier = -?\d+, \.addend = -?\d+ \}")


def test_requant_tables_are_typed():
    """The {multiplier, addend} records of the short requantization are mlc_requant_t structs written with
    designated initialisers, one per channel, and the kernels take them as such (no flat int32 pairs)."""
    c = _board_source("kws_ref_model")
    tables = {name: (ctype, int(n), body) for ctype, name, n, body in TABLE.findall(c)}
    requant = {name: t for name, t in tables.items() if name.endswith("_requant")}
    assert len(requant) == 10  # kws's nine convolutions and its FULLY_CONNECTED layer
    for name, (ctype, n, body) in requant.items():
        assert ctype == "mlc_requant_t", name
        records = [line.strip().rstrip(",") for line in body.splitlines()]
        assert len(records) == n and all(RECORD.fullmatch(r) for r in records), name
    assert not any(name.endswith(("_mq", "_mult")) for name in tables)
    assert "const mlc_requant_t *requant" in c and "const int32_t *mult" not in c


LOCAL_ARRAY = re.compile(r"^\s+(?:const\s+)?(?:u?int(?:8|16|32|64)_t|char|short|int|long|float|double)"
                         r"\s+(?:restrict\s+|const\s+)*(\w+)\s*\[")


def _local_arrays(c: str) -> list:
    """(function, line) of every data array a function declares on its stack (an array of pointers, such
    as the depthwise kernel's row table, is not a buffer, and a static const table is in flash)."""
    found, fn = [], None
    for line in c.splitlines():
        m = re.match(r"^(MLC_NOINLINE )?static (?!const)[^=;]*?(\w+)\(", line)
        if m and not line.rstrip().endswith(";"):
            fn = m.group(2)
        elif line == "}":
            fn = None
        elif fn is not None and LOCAL_ARRAY.match(line):
            found.append((fn, line.strip()))
    return found


def test_local_arrays_are_found():
    c = ("static void f(int8_t *x)\n{\n    uint32_t q[3 * K / 2]; /* x */\n    const int8_t *rows[3];\n"
         "    static const uint32_t ofs[2] = {0, 1};\n}\n")
    assert _local_arrays(c) == [("f", "uint32_t q[3 * K / 2]; /* x */")]


@pytest.mark.parametrize("board", ["qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m55"])
@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_no_kernel_buffer_on_the_stack(model, board):
    """Nothing outside the arena: every kernel's scratch (im2col windows, halfword inputs, rings) is planned
    memory, so no generated function declares a data array of its own."""
    assert _local_arrays(_board_source(model, board)) == []
