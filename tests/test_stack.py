"""`mlc build` reserves the stack it measured: the linker script holds the peak of one inference (measured
with the bench firmware on the board, or on a QEMU board with the same core) plus the app margin, the
figure is cached by the library's content, and the printed RAM parts add up to the ELF's RAM."""
import pytest

from codegen.cli.build import build
from codegen.targets import project as proj
from codegen.targets.project import APP_STACK_MARGIN, read_symbols
from paths import MODELS

pytestmark = pytest.mark.device
KWS = MODELS / "kws_ref_model.tflite"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def fresh_cache(cache, monkeypatch):
    monkeypatch.setenv("MLC_CACHE_DIR", str(cache))


def test_build_reserves_the_measured_stack_and_ram_adds_up(fresh_cache, tmp_path, capsys):
    project, report = build(KWS, "qemu-cortex-m4", tmp_path / "a", quiet=True)
    stack = project.stack
    assert stack.how == "measured on qemu-cortex-m4"
    assert 0 < stack.measured < stack.reserved == -(-stack.measured // 8) * 8 + APP_STACK_MARGIN
    assert f". += {stack.reserved};" in (project.dir / proj.LDSCRIPT).read_text()

    symbols = read_symbols(project.elf, project.board)
    parts = report.ram_parts
    ram = symbols["__stack_top__"][0] - symbols["__data_start__"][0]  # data, bss and stack are contiguous
    assert sum(parts.values()) == report.ram_used == ram
    assert parts["arena"] == project.macros["ARENA_BYTES"]
    # classify's own buffer: a request frame of one input plus framing (input and output are in the arena)
    assert project.macros["INPUT_BYTES"] < parts["io"] < project.macros["INPUT_BYTES"] + 64
    assert symbols["__stack_top__"][0] - symbols["__stack_bottom__"][0] == stack.reserved <= parts["stack"] \
        < stack.reserved + 8
    assert 0 < parts["runtime"] < 512
    text = "\n".join(report.lines())
    assert (f"= arena {parts['arena']:,} (activation RAM: every tensor incl. input and output) + request buffer "
            f"{parts['io']:,} + stack {parts['stack']:,} + runtime") in text
    assert f"stack: {stack.measured:,} B peak of one inference (measured on qemu-cortex-m4)" in text

    again, _ = build(KWS, "qemu-cortex-m4", tmp_path / "b", quiet=True)
    assert again.stack.how == "measured on qemu-cortex-m4, cached" and again.stack.measured == stack.measured


def test_a_bigger_model_needs_more_stack(fresh_cache, tmp_path):
    small, _ = build(MODELS / "hello_world_int8.tflite", "qemu-cortex-m4", tmp_path / "h", quiet=True)
    big, _ = build(KWS, "qemu-cortex-m4", tmp_path / "k", quiet=True)
    assert 0 < small.stack.measured < big.stack.measured


def test_only_rendering_reserves_the_default_and_says_so(tmp_path):
    project, report = build(KWS, "qemu-cortex-m4", tmp_path, compile_=False)
    assert report is None and project.stack.measured is None
    assert project.stack.reserved == proj.DEFAULT_STACK_BYTES
    assert "default reservation (not measured: the project was only rendered)" in \
        (project.dir / proj.LDSCRIPT).read_text()
