"""The linker script mlc renders per Cortex-M board, linked for real (arm-none-eabi-gcc) around a program with
initialised data: the .data image sits in flash right after the code, and every byte an ELF loader zero-fills
(.bss, the stack) is zero-filled at its RAM address. When zeroed RAM shared .data's segment it took a load
address in flash, and QEMU's loader zero-filled that much flash past the image (a bench firmware, whose stack is
all the RAM, then never started)."""
import shutil
import subprocess

import pytest

from codegen.assets import templates
from codegen.targets.boards import all_boards
from codegen.targets.project import default_stack, linker_script

pytestmark = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc is not installed")

PROGRAM = """
#include <stdint.h>
volatile uint32_t initialised[64] = {42u, 43u};
volatile uint32_t zeroed[256];
void Reset_Handler(void) { zeroed[1] = initialised[1]; for (;;) { } }
"""
CORTEX_M = sorted(b.id for b in all_boards().values() if not b.is_avr)


def segments(elf):
    """(paddr, vaddr, filesz, memsz) of every LOAD program header."""
    out = subprocess.run(["arm-none-eabi-readelf", "-lW", str(elf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("LOAD")]
    return [tuple(int(row[k], 16) for k in (3, 2, 4, 5)) for row in rows]


@pytest.mark.parametrize("bench", [False, True], ids=["app-stack", "bench-stack"])
@pytest.mark.parametrize("board_id", CORTEX_M)
def test_zeroed_ram_is_loaded_at_its_ram_address(board_id, bench, tmp_path):
    board = all_boards()[board_id]
    script = tmp_path / "link.ld"
    script.write_text(linker_script(board, templates(), None if bench else default_stack(board, "test")))
    (tmp_path / "main.c").write_text(PROGRAM)
    elf = tmp_path / "fw.elf"
    subprocess.run(["arm-none-eabi-gcc", *board.machine_flags(), "-O2", "-nostartfiles", "-nostdlib", "-T", str(script),
                    str(tmp_path / "main.c"), "-o", str(elf)], check=True, capture_output=True)
    ram, flash_end = int(board.memory.ram_origin, 16), int(board.memory.flash_origin, 16) + board.flash_bytes
    loads = segments(elf)
    data = [s for s in loads if s[1] >= ram and s[2] > 0]
    assert len(data) == 1 and data[0][0] < flash_end and data[0][2] == data[0][3] >= 256, loads
    for paddr, vaddr, filesz, memsz in loads:
        if memsz > filesz:
            assert paddr == vaddr >= ram, f"zero-fill of {memsz - filesz} B at load address {paddr:#x}: {loads}"
