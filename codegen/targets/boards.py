"""Board data: one JSON file per board under boards/, and the compiler flags each board implies."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from codegen.assets import asset_dir
from codegen.errors import MlcError

DEFAULT_BOARD = "qemu-cortex-m4"
# What the firmware can report as a cycle count; anything else reports none.
CYCLE_COUNTERS = ("none", "dwt", "timer1")


@dataclass(frozen=True)
class Board:
    id: str
    data: dict

    def __getattr__(self, key):
        try:
            return self.__dict__["data"][key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def emulated(self) -> bool:
        return bool(self.data.get("emulator"))

    @property
    def is_avr(self) -> bool:
        return self.data["core"] == "avr"

    @property
    def toolchain_prefix(self) -> str:
        return "avr-" if self.is_avr else "arm-none-eabi-"

    def machine_flags(self) -> list[str]:
        """The -mcpu/-mfpu/-mfloat-abi (or -mmcu) flags the board's code is compiled and linked with."""
        if self.is_avr:
            return [f"-mmcu={self.data['mcu'].lower()}"]
        flags = [f"-mcpu={self.data['core']}", "-mthumb"]
        if self.data.get("fpu"):
            flags += [f"-mfpu={self.data['fpu']}", "-mfloat-abi=hard"]
        else:
            flags += ["-mfloat-abi=soft"]
        return flags


def _load(path) -> Board:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MlcError(f"{path}: cannot read board file ({err})") from None
    missing = [k for k in ("id", "core", "clock_hz", "flash_bytes", "ram_bytes", "platformio", "serial", "runtime")
               if k not in data]
    if missing:
        raise MlcError(f"{path}: board file lacks {', '.join(missing)}")
    if data.get("cycle_counter", "none") not in CYCLE_COUNTERS:
        raise MlcError(f"{path}: cycle_counter must be one of {', '.join(CYCLE_COUNTERS)}")
    return Board(data["id"], data)


@lru_cache(maxsize=None)
def all_boards() -> dict[str, Board]:
    boards = {}
    for path in sorted(asset_dir("boards").glob("*.json")):
        board = _load(path)
        boards[board.id] = board
    return boards


def get_board(board_id: str) -> Board:
    boards = all_boards()
    if board_id not in boards:
        raise MlcError(f"unknown board '{board_id}'; `mlc boards` lists the {len(boards)} known boards")
    return boards[board_id]
