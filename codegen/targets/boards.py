"""Board data: one JSON file per board under boards/, read into a typed, validated Board, and the
compiler flags each board implies."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from codegen.assets import asset_dir
from codegen.errors import MlcError

DEFAULT_BOARD = "qemu-cortex-m4"
RUNTIMES = ("baremetal-cortex-m", "arduino")
# The serial drivers each runtime has: the bare-metal one's are firmware/cortex-m/mlc_uart_<driver>.c.
SERIAL_DRIVERS = {"baremetal-cortex-m": ("cmsdk", "nrf51"), "arduino": ("arduino",)}
EMULATORS = ("qemu", "simavr")
# What the firmware can report as a cycle count, by the id it sends (MLC_COUNTER_* in
# firmware/common/mlc_protocol.h; tests/test_serial_protocol.py holds the two together).
CYCLE_COUNTERS = ("none", "dwt", "timer1")


@dataclass(frozen=True)
class PlatformIO:
    platform: str  # "mlc_emulated" (codegen/targets/platformio) or an official PlatformIO platform
    board: str
    framework: str | None = None


@dataclass(frozen=True)
class Serial:
    baud: int
    driver: str  # one of SERIAL_DRIVERS[runtime]: a bare-metal UART driver, or "arduino" (the framework's Serial)
    base: str | None = None  # the UART's register base, for a bare-metal driver
    port: str | None = None  # what the host sees, for people


@dataclass(frozen=True)
class Emulator:
    kind: str  # one of EMULATORS
    machine: str | None = None  # QEMU's -M
    mcu: str | None = None  # simavr's --mcu


@dataclass(frozen=True)
class Memory:
    flash_origin: str = "0x00000000"
    ram_origin: str = "0x20000000"


@dataclass(frozen=True)
class Led:
    name: str
    pin: int | str  # an Arduino pin number or a port pin name (PA5)


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str  # -mcpu for Cortex-M, or "avr"
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    platformio: PlatformIO
    serial: Serial
    runtime: str  # one of RUNTIMES: which firmware/ runtime the app links with
    fpu: str | None = None
    dsp: bool = False
    mve: bool = False
    optimize: str = "-Os"
    memory: Memory = field(default_factory=Memory)
    cycle_counter: str = "none"  # one of CYCLE_COUNTERS
    leds: tuple = ()
    sensors: dict = field(default_factory=dict)
    emulator: Emulator | None = None
    notes: str = ""

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    @property
    def is_avr(self) -> bool:
        return self.core == "avr"

    @property
    def toolchain_prefix(self) -> str:
        return "avr-" if self.is_avr else "arm-none-eabi-"

    def machine_flags(self) -> list[str]:
        """The -mcpu/-mfpu/-mfloat-abi (or -mmcu) flags the board's code is compiled and linked with."""
        if self.is_avr:
            return [f"-mmcu={self.mcu.lower()}"]
        flags = [f"-mcpu={self.core}", "-mthumb"]
        if self.fpu:
            flags += [f"-mfpu={self.fpu}", "-mfloat-abi=hard"]
        else:
            flags += ["-mfloat-abi=soft"]
        return flags


_RECORDS = {PlatformIO, Serial, Emulator, Memory, Led}


def _typed(cls, data, where: str):
    """data (parsed JSON) as an instance of the dataclass cls, every field's type checked."""
    if not isinstance(data, dict):
        raise MlcError(f"{where} must be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise MlcError(f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise MlcError(f"{where}: missing key '{name}'")
            continue
        values[name] = _value(hints[name], data[name], f"{where}.{name}")
    return cls(**values)


def _value(hint, value, where: str):
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option in _RECORDS:
            return _typed(option, value, where)
        if option is tuple and isinstance(value, list):  # leds
            return tuple(_typed(Led, item, f"{where}[{i}]") for i, item in enumerate(value))
        if option is int and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if option in (str, bool, dict) and isinstance(value, option):
            return value
    kinds = " or ".join("null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options)
    raise MlcError(f"{where} is {json.dumps(value)}; expected {kinds}")


def load_board(path: Path) -> Board:
    """A board file, validated: every key known and typed, the enumerations within their values."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MlcError(f"{path}: cannot read board file ({err})") from None
    board = _typed(Board, data, str(path))
    for what, value, allowed in (("runtime", board.runtime, RUNTIMES), ("cycle_counter", board.cycle_counter, CYCLE_COUNTERS),
                                 ("emulator.kind", board.emulator.kind if board.emulator else EMULATORS[0], EMULATORS)):
        if value not in allowed:
            raise MlcError(f"{path}: {what} '{value}' is not one of {', '.join(allowed)}")
    for what in ("clock_hz", "flash_bytes", "ram_bytes"):
        if getattr(board, what) == 0:
            raise MlcError(f"{path}: {what} must be positive")
    if board.id != path.stem:
        raise MlcError(f"{path}: id '{board.id}' differs from the file name; name the file {board.id}.json")
    drivers = SERIAL_DRIVERS[board.runtime]
    if board.serial.driver not in drivers:
        raise MlcError(f"{path}: serial.driver '{board.serial.driver}' is not one of {', '.join(drivers)} "
                       f"(the {board.runtime} runtime's)")
    if board.runtime == "baremetal-cortex-m" and not board.serial.base:
        raise MlcError(f"{path}: serial.base (the UART's address) is needed with the {board.serial.driver} driver")
    return board


@lru_cache(maxsize=None)
def all_boards() -> dict[str, Board]:
    return {board.id: board for board in map(load_board, sorted(asset_dir("boards").glob("*.json")))}


def get_board(board_id: str) -> Board:
    boards = all_boards()
    if board_id not in boards:
        raise MlcError(f"unknown board '{board_id}'; `mlc boards` lists the {len(boards)} known boards")
    return boards[board_id]
