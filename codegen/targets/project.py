"""Render a PlatformIO project (platformio.ini, src/, lib/NAME) for a model and a board, build it, and
report flash and RAM used against the board's capacity."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from codegen.assets import asset_dir, templates
from codegen.csyntax import check_identifier, identifier_from
from codegen.targets.boards import CYCLE_COUNTERS, Board, all_boards
from codegen.errors import FitError, MlcError
from codegen.ops import graph_of



def _apps() -> tuple:
    """The firmware apps: every templates/app/<app>/app.c.j2 (classify is what `mlc build` makes by default)."""
    root = asset_dir("templates") / "app"
    return tuple(sorted(p.name for p in root.iterdir() if (p / "app.c.j2").is_file()))


APPS = _apps()
DEMO_INPUT_COUNT = 4
MAX_DEMO_INPUTS = 255  # the app indexes them with a uint8_t
DEMO_PERIOD_MS = 1000
DEMO_SEED = 0
# The stack a linker script of mlc's reserves: the measured peak of one inference (`mlc bench`'s figure, on the
# board itself or on an emulated board with the same core) plus APP_STACK_MARGIN for what runs beside it: the
# classify app's own frames down to the call of invoke (start-up -> main -> poll -> request handling: 120 B on
# qemu-cortex-m4 by GCC's -fstack-usage; its deepest path without the model, printing a prediction, 216 B)
# and an interrupt taken at the inference's deepest point (SysTick: a 104 B exception frame with the FPU
# state, its handler none), with room to spare for a user's changes to the app.
APP_STACK_MARGIN = 1024
# Where nothing can measure (no emulated board has the core, or measuring is off): the fixed reservation mlc
# used before it measured, capped at an eighth of RAM; conservative for the reference models (kws needs < 1 KB).
DEFAULT_STACK_BYTES = 16 * 1024
COMMON_RUNTIME = ["mlc_protocol.c", "mlc_protocol.h", "mlc_hal.h", "mlc_text.c", "mlc_text.h", "mlc_dwt.h", "mlc_cycles.c"]
RUNTIME_FILES = {
    "baremetal-cortex-m": [("common", f) for f in COMMON_RUNTIME]
    + [("cortex-m", "startup.c"), ("cortex-m", "mlc_hal_qemu.c"), ("cortex-m", "mlc_uart.h"), ("cortex-m", "main.c")],
    "arduino": [("common", f) for f in COMMON_RUNTIME] + [("arduino", "mlc_arduino.cpp"), ("arduino", "main.cpp")],
}
# A fit check's runtime: the real app and protocol, a stand-in serial port (no board framework here).
FITCHECK_FILES = [("common", f) for f in COMMON_RUNTIME] + [("fitcheck", "mlc_hal_fitcheck.c"), ("cortex-m", "main.c")]
FITCHECK_ARM_FILES = [("cortex-m", "startup.c")]
LDSCRIPT = "mlc_link.ld"
PLATFORM_DIR = Path(__file__).parent / "platformio"  # the local PlatformIO platform of the emulated boards
# Sections that occupy flash / RAM in the ELF (`size -A`); .data is in both (stored in flash, copied to RAM).
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".noinit", ".stack")
# The apps' own buffers (the request buffer; the model's input and output live in its arena), counted as
# RAM's I/O part.
IO_BUFFERS = ("rx_buf",)
LIB_MACROS = ("INPUT_BYTES", "OUTPUT_BYTES", "ARENA_BYTES", "LABEL_COUNT")  # for several inputs: all of them


@dataclass
class StackPlan:
    """The stack a linker script reserves and where the figure comes from."""
    reserved: int
    measured: int | None  # peak stack of one inference; None where it was not measured
    how: str

    @staticmethod
    def from_json(data):
        return StackPlan(**data) if data else None

    def note(self) -> str:
        if self.measured is None:
            return f"{self.reserved:,} B default reservation ({self.how})"
        return (f"{self.measured:,} B peak of one inference ({self.how}), rounded up to 8 B, "
                f"+ {APP_STACK_MARGIN:,} B app margin")


@dataclass
class Project:
    dir: Path
    board: Board
    name: str
    macros: dict
    stack: StackPlan | None = None
    app: str = "classify"
    app_config: dict = field(default_factory=dict)

    @property
    def elf(self) -> Path:
        return self.dir / ".pio" / "build" / self.board.id / "firmware.elf"


@dataclass
class SizeReport:
    flash_used: int
    flash_total: int
    ram_used: int
    ram_total: int
    ram_parts: dict | None = None  # {"arena", "io", "stack", "runtime"}: bytes that add up to ram_used
    stack: StackPlan | None = None

    def lines(self) -> list[str]:
        lines = [f"{what:5} {used:>9,} / {total:>9,} bytes ({100 * used / total:5.1f}%)"
                 for what, used, total in (("flash", self.flash_used, self.flash_total),
                                           ("RAM", self.ram_used, self.ram_total))]
        if self.ram_parts:
            p = self.ram_parts
            lines.append(f"      = arena {p['arena']:,} (activation RAM: every tensor incl. input and output) "
                         f"+ request buffer {p['io']:,} + stack {p['stack']:,} "
                         f"+ runtime {p['runtime']:,}")
            lines.append(f"      stack: {self.stack.note()}" if self.stack else
                         "      stack: not reserved by mlc; it grows down from the top of RAM into what data and bss "
                         "leave (not measured)")
        return lines


def read_library_macros(lib_dir: Path, name: str) -> dict:
    """The integer NAME_* sizes from the generated NAME.h."""
    header = lib_dir / f"{name}.h"
    try:
        text = header.read_text()
    except OSError:
        raise MlcError(f"{header}: the generated model library has no header") from None
    macros = {}
    for key in LIB_MACROS:
        m = re.search(rf"#define\s+{re.escape(name)}_{key}\s+\(?\s*(-?\d+)", text)
        if not m:
            raise MlcError(f"{header}: missing #define {name}_{key}")
        macros[key] = int(m.group(1))
    return macros


def generate_library(graph, lib_dir: Path, name: str, labels=None, board: Board | None = None,
                     patches: str = "auto", reference: bool = False) -> None:
    """The model's library with only `board`'s kernel paths (all of them without a board); patches, reference:
    generate's."""
    from codegen.lower.generate import generate_graph
    from codegen.ops import float_layers
    from codegen.ops.kernel_plan import isa_of

    if board is not None and board.is_avr and float_layers(graph):
        op = float_layers(graph)[0]
        raise MlcError(f"{graph.path}: layer {op.index} ({op.kind}) computes in float32; avr-libc's float arithmetic "
                       f"is not verified bit-exact with TFLM's, so mlc does not build float32 layers for {board.id}")
    generate_graph(graph, lib_dir, name=name, labels=labels, isa=isa_of(board) if board else None,
                   flash_bytes=board.flash_bytes if board else None, patches=patches, reference=reference)


def precheck_fit(graph, board: Board, macros: dict) -> None:
    """Fail before compiling when the weights alone or the tensors alone cannot fit the board."""
    weights = sum(t.nbytes for t in graph.tensors if t.is_const and t.data is not None)
    ram = macros["ARENA_BYTES"] + macros["INPUT_BYTES"]  # the arena holds input and output; the app's request buffer
    problems = []
    if weights > board.flash_bytes:
        problems.append(f"its weights need {weights:,} bytes of flash, the board has {board.flash_bytes:,}")
    if ram > board.ram_bytes:
        problems.append(f"its tensors need {ram:,} bytes of RAM (arena {macros['ARENA_BYTES']:,} incl. input and output "
                        f"+ the app's request buffer), the board has {board.ram_bytes:,}")
    if problems:
        raise FitError(f"{graph.path} does not fit {board.id}: " + "; ".join(problems) + "; pick a bigger board")


def runtime_files(board: Board) -> list[tuple[str, str]]:
    """The firmware/ files a board's runtime links: its RUNTIME_FILES, and for bare metal the UART driver it names."""
    files = RUNTIME_FILES[board.runtime]
    if board.runtime == "baremetal-cortex-m":
        files = files + [("cortex-m", f"mlc_uart_{board.serial.driver}.c")]
    return files


def build_flags(board: Board) -> list[str]:
    flags = [f"-D MLC_CYCLE_COUNTER={CYCLE_COUNTERS.index(board.cycle_counter)}",
             f"-D MLC_BAUD={board.serial.baud}"]
    if board.runtime == "baremetal-cortex-m":
        flags += [f"-D MLC_UART_BASE={board.serial.base}u", f"-D MLC_CLOCK_HZ={board.clock_hz}u"]
    return flags


def pio_board_manifest(board: Board, framework: str | None) -> dict:
    """The PlatformIO board manifest for the mlc_emulated platform's builder: an emulated board, or a real
    one being fit-checked (no framework, nothing to upload to)."""
    build = {"arch": "avr" if board.is_avr else "arm", "machine_flags": board.machine_flags(),
             "cpu": board.core, "mcu": board.mcu.split()[0].lower(), "f_cpu": f"{board.clock_hz}L",
             "mlc_board": board.id, "optimize": board.optimize}
    if framework == "arduino":
        build.update(core="arduino", variant="standard")
    emulator = board.emulator.kind if board.emulator else None
    return {"build": build, "frameworks": [framework] if framework else [],
            "name": board.name, "upload": {"maximum_size": board.flash_bytes, "maximum_ram_size": board.ram_bytes,
                                           "protocol": emulator or "none"},
            "url": {"qemu": "https://www.qemu.org", "simavr": "https://github.com/buserror/simavr"}.get(emulator, ""),
            "vendor": "mlc (emulated)" if emulator else "mlc (fit check)"}


def linker_script(board: Board, env, stack: StackPlan | None) -> str:
    """stack None: the bench firmware's script, whose stack is all the RAM that data and bss leave."""
    return env.get_template("platformio/link.ld.j2").render(
        board=board, flash_origin=board.memory.flash_origin, ram_origin=board.memory.ram_origin,
        stack_bytes=stack.reserved if stack else None, stack_note=stack.note() if stack else "")


def default_stack(board: Board, why: str) -> StackPlan:
    return StackPlan(min(DEFAULT_STACK_BYTES, board.ram_bytes // 8), None, why)


def measured_stack(peak: int, how: str) -> StackPlan:
    return StackPlan(-(-peak // 8) * 8 + APP_STACK_MARGIN, peak, how)


# Cores whose code arm-none-eabi-gcc 12 emits instruction for instruction as another's (the M0+ and the M0 are
# both ARMv6-M with the same tuning: identical objects for a generated library at -Os and -O2), so a QEMU
# board with that core measures their stack.
SAME_CODE_AS = {"cortex-m0plus": "cortex-m0"}


def stack_twin(board: Board) -> Board | None:
    """The board that measures the stack for `board`: itself when QEMU emulates it, else a QEMU board with the
    same core or one compiled the same (SAME_CODE_AS; measured with the board's own optimisation level), else none."""
    def qemu(b):
        return b.emulated and b.emulator.kind == "qemu"

    if qemu(board):
        return board
    core = SAME_CODE_AS.get(board.core, board.core)
    return next((b for b in all_boards().values() if qemu(b) and b.core == core), None)


def unmeasured_stack(graph, board: Board, lib_dir: Path, name: str) -> StackPlan:
    """The stack planner of a project that is only rendered (codegen.device.bench.plan_stack measures)."""
    return default_stack(board, "not measured: the project was only rendered")


def demo_inputs(input_bytes: int, stacked=None) -> list[list[int]]:
    """The inputs the app cycles through when the host is quiet, as frames of every input's bytes: the given
    stack (a list of stacks for several inputs), else random bytes."""
    from codegen.model.arrays import frames

    if stacked is None:
        return np.random.default_rng(DEMO_SEED).integers(0, 256, size=(DEMO_INPUT_COUNT, input_bytes)).tolist()
    rows = frames(stacked if isinstance(stacked, list) else [stacked])
    if rows.shape[1] != input_bytes or not 0 < len(rows) <= MAX_DEMO_INPUTS:
        raise MlcError(f"demo inputs: need 1..{MAX_DEMO_INPUTS} inputs of {input_bytes} bytes, got {rows.shape}")
    return rows.tolist()


def app_context(graph, name: str, board, macros: dict, demo=None) -> dict:
    """The variables every templates/app/<app>/app.c.j2 gets: the model's inputs and outputs as the library
    names them (codegen.lower.generate.model_io), the board, the demo inputs (frames of every input)."""
    from codegen.lower.generate import model_io

    inputs, outputs = model_io(graph, name)
    return {"name": name, "NAME": name.upper(), "board": board, "demo_period_ms": DEMO_PERIOD_MS,
            "demo_inputs": demo_inputs(macros["INPUT_BYTES"], demo), "inputs": inputs, "outputs": outputs}


@dataclass(frozen=True)
class AppSources:
    """What a streaming app (codegen/cli/app_<app>.py makes it) adds to its project: variables for its
    templates/app/<app>/app.c.j2, further source files for src/ (file name -> text), and its configuration,
    kept in mlc.json for `mlc run --feed` and `mlc verify`."""
    context: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


def render_project(model, board: Board, out_dir, app: str = "classify", name: str | None = None,
                   labels=None, library_dir=None, demo=None, extra_build_flags=(), stack_plan=unmeasured_stack,
                   fit_check: bool = False, app_sources: AppSources = AppSources(), patches: str = "auto",
                   reference: bool = False) -> Project:
    """Write the PlatformIO project of `model` (a prepared graph, or a .tflite path); library_dir copies an already generated model library instead;
    demo is a stack of model inputs for the app to show when no host talks to it; extra_build_flags
    follow the board's own flags in platformio.ini. Boards that get mlc's linker script get the stack that
    stack_plan(graph, board, lib_dir, name) gives (the device layer's plan_stack measures it; by default
    the default reservation); the bench app's stack is the rest of RAM. fit_check: a real board's project
    built by mlc's local platform with a stand-in serial port (see fit_check). patches, reference: generate's."""
    if app not in APPS:
        raise MlcError(f"unknown app '{app}'; available: {', '.join(APPS)}")
    if board.runtime not in RUNTIME_FILES:
        raise MlcError(f"boards/{board.id}.json: unknown runtime '{board.runtime}'")
    graph = graph_of(model)
    name = check_identifier(name) if name else identifier_from(Path(graph.path).stem)
    out = Path(out_dir)
    lib_dir = out / "lib" / name
    if lib_dir.exists():
        shutil.rmtree(lib_dir)
    if library_dir:
        shutil.copytree(library_dir, lib_dir)
    else:  # writes nothing unless the whole library renders (an unsupported model leaves no folder)
        generate_library(graph, lib_dir, name, labels, board=board, patches=patches, reference=reference)
    macros = read_library_macros(lib_dir, name)
    precheck_fit(graph, board, macros)

    env = templates()
    src = out / "src"
    runtime_dir = src / "mlc"
    if src.exists():
        shutil.rmtree(src)
    runtime_dir.mkdir(parents=True)
    firmware = asset_dir("firmware")
    for family, filename in (FITCHECK_FILES + ([] if board.is_avr else FITCHECK_ARM_FILES) if fit_check
                             else runtime_files(board)):
        shutil.copyfile(firmware / family / filename, runtime_dir / filename)
    (src / f"app_{name}.c").write_text(env.get_template(f"app/{app}/app.c.j2").render(
        **app_context(graph, name, board, macros, demo), **app_sources.context))
    for filename, text in app_sources.files.items():
        (src / filename).write_text(text)

    ldscript = stack = None
    local = board.emulated or fit_check  # built by mlc's own platform, with mlc's linker script
    framework = None if fit_check else board.platformio.framework
    if local:
        platform = "symlink://" + str(PLATFORM_DIR.resolve())
        (out / "boards").mkdir(exist_ok=True)
        (out / "boards" / f"{board.id}.json").write_text(json.dumps(pio_board_manifest(board, framework), indent=2) + "\n")
        if not board.is_avr:
            ldscript = LDSCRIPT
            stack = None if app == "bench" else stack_plan(graph, board, lib_dir, name)
            (out / LDSCRIPT).write_text(linker_script(board, env, stack))
    else:
        platform = board.platformio.platform
    (out / "platformio.ini").write_text(env.get_template("platformio/platformio.ini.j2").render(
        name=name, board=board, platform=platform, pio_board=board.id if local else board.platformio.board,
        boards_dir=local, framework=framework, ldscript=ldscript, build_flags=build_flags(board) + list(extra_build_flags)))
    (out / "mlc.json").write_text(json.dumps({"model": str(Path(graph.path).resolve()), "board": board.id,
                                              "name": name, "app": app, **{k.lower(): v for k, v in macros.items()},
                                              "stack": asdict(stack) if stack else None,
                                              "app_config": app_sources.config}, indent=2) + "\n")
    return Project(out, board, name, macros, stack, app, app_sources.config)


def load_project(project_dir) -> Project:
    """A project rendered earlier by `mlc build` (its mlc.json names board and model)."""
    from codegen.targets.boards import get_board

    path = Path(project_dir) / "mlc.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        raise MlcError(f"{project_dir}: not a project made by `mlc build` (no readable mlc.json)") from None
    macros = {k: meta[k.lower()] for k in LIB_MACROS}
    return Project(Path(project_dir), get_board(meta["board"]), meta["name"], macros, StackPlan.from_json(meta.get("stack")),
                   meta.get("app", "classify"), meta.get("app_config") or {})




def fit_check(model, board: Board, out_dir, name: str | None = None, labels=None,
              stack_plan=unmeasured_stack, app: str = "classify", app_sources: AppSources = AppSources()) -> SizeReport:
    """Build the app (classify unless told) and the model library with a real board's compiler flags, linked against its
    flash and RAM, through the same PlatformIO build as the emulated boards: mlc's local platform and the
    system cross compiler stand in for the board's official platform, which PlatformIO downloads from its
    registry. The serial port is a stand-in (firmware/fitcheck), and the figures leave out the board
    framework's own code; stack_plan sizes the stack as in render_project. Raises MlcError naming the overflow."""
    cc = board.toolchain_prefix + "gcc"
    if not shutil.which(cc):
        raise MlcError(f"{cc} is not installed: apt-get install "
                       f"{'gcc-avr avr-libc' if board.is_avr else 'gcc-arm-none-eabi libnewlib-arm-none-eabi'}")
    return build_project(render_project(model, board, out_dir, app=app, name=name, labels=labels, stack_plan=stack_plan,
                                        fit_check=True, app_sources=app_sources))


_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
_PIO_TOO_BIG = re.compile(r"Error: The program size \((\d+) bytes\) is greater than maximum allowed \((\d+) bytes\)")
_PIO_RAM_TOO_BIG = re.compile(r"Error: The data size \((\d+) bytes\) is greater than maximum allowed \((\d+) bytes\)")


def build_project(project: Project) -> SizeReport:
    """`pio run` the project; a model that does not fit fails with the numbers, any other failure with the log."""
    from codegen.targets.toolchain import run_pio

    result = run_pio(["run", "-e", project.board.id], project.dir)
    log = project.dir / "build.log"
    log.write_text(result.stdout or "")
    output = result.stdout or ""
    if result.returncode != 0:
        m = _OVERFLOW.search(output)
        if m:
            region, over = m.group(1), int(m.group(2))
            total = project.board.flash_bytes if region.upper() == "FLASH" else project.board.ram_bytes
            raise FitError(f"{project.name} does not fit {project.board.id}: {region} overflowed by {over:,} bytes "
                           f"(needs {total + over:,} of {total:,}); pick a bigger board")
        for rx, region, total in ((_PIO_TOO_BIG, "flash", project.board.flash_bytes),
                                  (_PIO_RAM_TOO_BIG, "RAM", project.board.ram_bytes)):
            m = rx.search(output)
            if m:
                raise FitError(f"{project.name} does not fit {project.board.id}: needs {int(m.group(1)):,} bytes of "
                               f"{region}, the board has {total:,}; pick a bigger board")
        if "HTTPClientError" in output or "Could not find the package" in output or "UnknownPlatform" in output:
            raise MlcError(f"{project.board.id}: PlatformIO could not download platform "
                           f"'{project.board.platformio.platform}' (offline?); see {log}. "
                           f"`mlc build --fit-check` checks the fit with mlc's local platform instead")
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise MlcError(f"building {project.dir} failed (full log in {log}):\n{tail}")
    return elf_size(project.elf, project.board, project.name, project.stack)


def elf_size(elf: Path, board: Board, name: str | None = None, stack: StackPlan | None = None) -> SizeReport:
    """Flash and RAM from the ELF's sections; with the model's name also RAM's parts (ram_breakdown)."""
    out = subprocess.run([board.toolchain_prefix + "size", "-A", "-d", str(elf)], capture_output=True, text=True)
    if out.returncode != 0:
        raise MlcError(f"{elf}: cannot read section sizes ({out.stderr.strip()})")
    sizes = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    flash = sum(v for k, v in sizes.items() if k in FLASH_SECTIONS)
    ram = sum(v for k, v in sizes.items() if k in RAM_SECTIONS)
    parts = ram_breakdown(elf, board, name, sizes, ram) if name else None
    return SizeReport(flash, board.flash_bytes, ram, board.ram_bytes, parts, stack)


def read_symbols(elf: Path, board: Board) -> dict:
    """{name: (address with the Thumb bit cleared, size or 0)} of the ELF's defined symbols."""
    out = subprocess.run([board.toolchain_prefix + "nm", "-S", "--defined-only", str(elf)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise MlcError(f"{elf}: cannot read the symbol table ({out.stderr.strip()})")
    symbols = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            symbols[parts[3]] = (int(parts[0], 16) & ~1, int(parts[1], 16))
        elif len(parts) == 3:
            symbols.setdefault(parts[2], (int(parts[0], 16) & ~1, 0))
    return symbols


def ram_breakdown(elf: Path, board: Board, name: str, sections: dict, ram: int) -> dict:
    """RAM as arena + request buffer + stack + runtime, from the ELF: the arena and the app's buffers by their
    symbols' sizes, the stack by its section; runtime is the rest of data + bss (app state, start-up, libc)."""
    symbols = read_symbols(elf, board)
    arena = symbols.get(f"{name}_arena", (0, 0))[1]
    io = sum(symbols.get(f"{name}_{buffer}", (0, 0))[1] for buffer in IO_BUFFERS)
    stack = sections.get(".stack", 0)
    return {"arena": arena, "io": io, "stack": stack, "runtime": ram - arena - io - stack}
