"""`mlc boards`: list the known boards."""
import dataclasses
import json

from codegen.targets.boards import DEFAULT_BOARD, all_boards

NAME = "boards"
HELP = "List the boards mlc can build for (real and emulated)."


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the full board data as JSON")


def _size(n: int) -> str:
    return f"{n // (1 << 20)} MB" if n % (1 << 20) == 0 else f"{n / 1024:g} KB"


def run(args) -> int:
    boards = all_boards()
    if args.json:
        print(json.dumps([dataclasses.asdict(b) for b in boards.values()], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Boards (* = default)")
    for col in ("board", "name", "core", "clock", "flash", "RAM", "emulated"):
        table.add_column(col, justify="right" if col in ("clock", "flash", "RAM") else "left")
    for b in boards.values():
        core = b.core + ("+FPU" if b.fpu else "") + ("+MVE" if b.mve else "")
        emu = f"{b.emulator.kind} {b.emulator.machine or b.emulator.mcu}" if b.emulated else "no"
        table.add_row(b.id + ("*" if b.id == DEFAULT_BOARD else ""), b.name, core, f"{b.clock_hz / 1e6:g} MHz",
                      _size(b.flash_bytes), _size(b.ram_bytes), emu)
    Console(width=140).print(table)
    return 0
