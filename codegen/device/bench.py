"""`mlc bench`: exact instruction counts of one inference on an emulated Cortex-M board, per layer, plus
flash and RAM from the linked ELF.

QEMU's clocks are virtual, so mlc counts instructions instead: codegen/device/qemu_plugin/mlccount.c (built
with the host compiler into mlc's cache on first use) counts every guest instruction from the entry of
NAME_run (one inference on the input the app has put in the arena, no copies) to its return into the
bench app's mlc_bench_run (templates/app/bench). Layers are told
apart by the zero-instruction assembler labels mlc_mark_NAME_<i> / mlc_mark_NAME_end that the model
emits before each layer when built with MLC_BENCH_MARKS, found by address in the ELF's symbol table
(nothing is added to the counts).
The app runs the model twice on the same input with interrupts masked; both runs must count the same.

Peak stack: the bench linker script gives the stack all the RAM that data and bss leave; the app paints it
before the runs and, after them, prints "MLC STACK invoke=N app=M free=F" on the UART (QEMU's stdout):
N bytes were used below the SP at the call of NAME_run (what the model needs), M by the app's frames
above it. The UART carries it because every board's app already drives it; semihosting only ends the run."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codegen.assets import asset_dir
from codegen.targets.boards import Board, get_board
from codegen.targets.project import read_symbols
from codegen.csyntax import check_identifier, identifier_from
from codegen.errors import FitError, MlcError
from codegen.ops import graph_of

PLUGIN_DIR = Path(__file__).parent / "qemu_plugin"  # a host program: QEMU loads it
PLUGIN_SOURCES = ("mlccount.c", "mlc_qemu_plugin.h")
APP = "bench"
RUN_SYMBOL = "mlc_bench_run"
RUN_TIMEOUT_S = 600.0
STACK_LINE = re.compile(r"^MLC STACK invoke=(\d+) app=(\d+) free=(\d+)\r?$", re.M)


@dataclass
class LayerCount:
    index: int
    op: str
    macs: int
    instructions: int
    text_bytes: int = 0  # .text of the kernel function(s) the layer calls (one function may serve several layers)
    kernels: list = field(default_factory=list)

    @property
    def per_mac(self) -> float | None:
        return self.instructions / self.macs if self.macs else None


@dataclass
class BenchResult:
    model: str
    board: str
    instructions: int
    macs: int
    flash_bytes: int
    ram_bytes: int
    arena_bytes: int
    stack_bytes: int  # peak stack of one inference, below the SP at the call of NAME_run
    app_stack_bytes: int  # the bench app's frames above that call
    kernel_text_bytes: int = 0  # .text of every kernel function the model calls, each counted once
    invoke_text_bytes: int = 0  # .text of NAME_run, the layers' glue
    layers: list = field(default_factory=list)
    overhead: int = 0  # NAME_run's own prologue and epilogue

    def as_json(self) -> dict:
        keys = ("instructions", "macs", "flash_bytes", "ram_bytes", "arena_bytes", "stack_bytes", "app_stack_bytes",
                "kernel_text_bytes", "invoke_text_bytes")
        return {**{k: getattr(self, k) for k in keys},
                "layers": [asdict(layer) for layer in self.layers],
                "model": self.model, "board": self.board, "invoke_overhead": self.overhead}

    def table(self) -> str:
        lines = [f"{self.model} on {self.board}: {self.instructions:,} instructions per inference (NAME_run on the "
                 f"input in the arena), "
                 f"{self.macs:,} MACs" + (f", {self.instructions / self.macs:.2f} per MAC" if self.macs else ""),
                 f"  flash {self.flash_bytes:,} B (text + rodata + data image), RAM {self.ram_bytes:,} B "
                 f"(data + bss; stack not included), of which arena {self.arena_bytes:,} B: the model's activation "
                 "RAM, every tensor incl. the input and output",
                 f"  stack {self.stack_bytes:,} B at the peak of one inference (the bench app's own frames above it: "
                 f"{self.app_stack_bytes:,} B)",
                 f"  .text: kernels {self.kernel_text_bytes:,} B (each function once), run {self.invoke_text_bytes:,} B",
                 f"  {'layer':>5}  {'op':<18} {'MACs':>11} {'instructions':>13} {'per MAC':>8} {'text B':>7}  kernel"]
        for layer in self.layers:
            per = f"{layer.per_mac:8.2f}" if layer.per_mac is not None else f"{'-':>8}"
            lines.append(f"  {layer.index:>5}  {layer.op:<18} {layer.macs:>11,} {layer.instructions:>13,} {per} "
                         f"{layer.text_bytes:>7,}  {', '.join(layer.kernels) or '-'}")
        lines.append(f"  {'':>5}  {'run overhead':<18} {'':>11} {self.overhead:>13,}")
        return "\n".join(lines)


def plugin() -> Path:
    """libmlccount.so, compiled once per source version into mlc's cache with the host's C compiler."""
    from codegen.targets.toolchain import cache_dir

    src = PLUGIN_DIR
    digest = hashlib.sha256(b"".join((src / f).read_bytes() for f in PLUGIN_SOURCES)).hexdigest()[:12]
    lib = cache_dir() / f"libmlccount-{digest}.so"
    if lib.is_file():
        return lib
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise MlcError("mlc bench compiles a QEMU plugin and needs a host C compiler: apt-get install gcc")
    tmp = lib.with_name(f"{lib.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # concurrent benches
    out = subprocess.run([cc, "-O2", "-Wall", "-shared", "-fPIC", "-fvisibility=hidden", "-o", str(tmp),
                          str(src / PLUGIN_SOURCES[0])], capture_output=True, text=True)
    if out.returncode != 0:
        raise MlcError(f"building the QEMU counting plugin failed: {out.stderr.strip()[-400:]}")
    tmp.replace(lib)
    return lib


def _need(symbols: dict, name: str, elf: Path) -> tuple:
    if name not in symbols:
        raise MlcError(f"{elf}: symbol {name} is missing; was it built by `mlc bench`?")
    return symbols[name]


def memory_figures(symbols: dict, elf: Path, board: Board, name: str) -> tuple[int, int, int]:
    """(flash, RAM, arena) bytes from the symbols of mlc's linker script and the model's arena."""
    etext, data_start, data_end, bss_end = (_need(symbols, s, elf)[0] for s in
                                            ("__etext", "__data_start__", "__data_end__", "__bss_end__"))
    flash_origin = int(board.memory.flash_origin, 16)
    arena = _need(symbols, f"{name}_arena", elf)[1]
    return etext - flash_origin + (data_end - data_start), bss_end - data_start, arena


def plugin_config(symbols: dict, elf: Path, name: str, n_layers: int) -> tuple[str, int]:
    """The plugin's config text and the number of buckets: run's prologue, one per layer, the epilogue."""
    entry = _need(symbols, f"{name}_run", elf)[0]
    run_at, run_size = _need(symbols, RUN_SYMBOL, elf)
    if run_size == 0:
        raise MlcError(f"{elf}: {RUN_SYMBOL} has no size in the symbol table")
    lines = [f"start {entry:#x}", f"stop {run_at:#x} {run_at + run_size:#x}"]
    buckets = n_layers + 2
    marks = {}  # layer -> its marks' addresses (a layer run in bands has one per band: mlc_mark_NAME_<i>_b<band>)
    for symbol, (addr, _) in symbols.items():
        m = re.fullmatch(rf"mlc_mark_{re.escape(name)}_(\d+)(?:_b\d+)?", symbol)
        if m:
            marks.setdefault(int(m.group(1)), []).append(addr)
    at = {}  # a layer without code shares its address with the next mark: the later bucket wins
    for bucket, label in enumerate([*range(n_layers), "end"], start=1):
        for addr in marks.get(label) or [_need(symbols, f"mlc_mark_{name}_{label}", elf)[0]]:
            at[addr] = bucket
    lines += [f"mark {addr:#x} {bucket}" for addr, bucket in at.items()]
    return "\n".join([f"buckets {buckets}"] + lines) + "\n", buckets


def run_firmware(board: Board, elf: Path, extra_args=(), timeout: float = RUN_TIMEOUT_S) -> str:
    """Run a bench firmware to its semihosting exit under QEMU; returns what it printed on the UART."""
    from codegen.device.emulator import command

    cmd = command(board, elf, None) + ["-semihosting-config", "enable=on,target=native", *extra_args]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MlcError(f"{elf}: the bench firmware did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        why = "the model's run returned an error" if proc.returncode == 1 else proc.stderr.strip()[-300:]
        raise MlcError(f"{board.id}: the bench run failed (exit {proc.returncode}): {why}")
    return proc.stdout


def count(board: Board, elf: Path, config: str, workdir: Path, timeout: float = RUN_TIMEOUT_S) -> tuple[list, str]:
    """Run the firmware under QEMU with the plugin: one [total, bucket0, bucket1, ...] per measured run, and
    what the firmware printed on the UART."""
    cfg, out = workdir / "mlccount.cfg", workdir / "mlccount.out"
    cfg.write_text(f"out {out}\n" + config)
    esc = lambda p: str(p).replace(",", ",,")  # noqa: E731 (QEMU option syntax doubles commas)
    uart = run_firmware(board, elf, ["-plugin", f"{esc(plugin())},config={esc(cfg)}"], timeout)
    runs = [[int(v) for v in line.split()[1:]] for line in out.read_text().splitlines() if line.startswith("run ")]
    if not runs:
        raise MlcError(f"{elf}: the plugin saw no complete inference")
    return runs, uart


def stack_figures(uart: str, elf: Path) -> tuple[int, int]:
    """(bytes below run's entry, bytes of the app's frames above it) from the bench app's MLC STACK line."""
    m = STACK_LINE.search(uart)
    if not m:
        raise MlcError(f"{elf}: the bench firmware printed no MLC STACK line; was it built by `mlc bench`?")
    invoke, app, free = map(int, m.groups())
    if free == 0:
        raise MlcError(f"{elf}: the inference used the whole free RAM as stack; the measurement overflowed")
    return invoke, app


KERNEL_CALL = r"\b({name}_\w+_\d+)\s*\("  # kernel instances are named NAME_<base>_<n>


def layer_kernels(c_source: str, name: str, n_layers: int) -> list[list[str]]:
    """The kernel functions each layer's code in NAME_run calls, from the generated NAME.c: the body is cut
    at the layer marks MLC_LAYER_MARK(NAME, i)."""
    start = c_source.find(f"int {name}_run(")
    end = c_source.find(f"MLC_LAYER_MARK({name}, end);", start)
    if start < 0 or end < 0:
        raise MlcError(f"{name}.c: no {name}_run with layer marks in the generated source")
    parts = re.split(rf"MLC_LAYER_MARK\({re.escape(name)}, (\d+)(?:_b\d+)?\);", c_source[start:end])
    calls = {}  # a layer run in bands has a part per band
    for index, code in zip(parts[1::2], parts[2::2]):
        calls.setdefault(int(index), []).extend(re.findall(KERNEL_CALL.format(name=re.escape(name)), code))
    return [list(dict.fromkeys(calls.get(i, []))) for i in range(n_layers)]


def text_sizes(symbols: dict) -> dict:
    """Code bytes per C function: GCC's clones (f.constprop.0, f.part.0, ...) add to f."""
    sizes = {}
    for symbol, (_, size) in symbols.items():
        base = symbol.split(".")[0]
        sizes[base] = sizes.get(base, 0) + size
    return sizes


def compiler_version(board: Board) -> str:
    """The cross compiler's full version, e.g. 12.2.1."""
    cc = board.toolchain_prefix + "gcc"
    try:
        out = subprocess.run([cc, "-dumpfullversion"], capture_output=True, text=True)
    except OSError:
        raise MlcError(f"{cc} is not installed: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi") from None
    return out.stdout.strip()


# What the stack measurement depends on besides the library: the app that measures and the start-up code.
STACK_SOURCES = (("templates", "app/bench/app.c.j2"), ("templates", "platformio/link.ld.j2"),
                 ("firmware", "cortex-m/startup.c"))


def measure_stack(graph, board: Board, lib_dir: Path, name: str, cflags=()) -> tuple[int, bool]:
    """(peak stack of one inference, whether it came from the cache) of an already generated library, measured
    with the bench firmware on an emulated board. Cached in mlc's cache by the library's content, the board,
    the flags, the compiler version and the bench app's sources, so a build measures each library once."""
    from codegen.targets import project as proj
    from codegen.targets.toolchain import cache_dir

    digest = hashlib.sha256(json.dumps([board.id, list(cflags), compiler_version(board)]).encode())
    for path in sorted(Path(lib_dir).iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for folder, rel in STACK_SOURCES:
        digest.update((asset_dir(folder) / rel).read_bytes())
    cached = cache_dir() / "stack" / f"{digest.hexdigest()[:24]}.json"
    if cached.is_file():
        return json.loads(cached.read_text())["invoke"], True
    with tempfile.TemporaryDirectory(prefix="mlc-stack-") as tmp:
        project = proj.render_project(graph, board, Path(tmp) / "project", app=APP, name=name, library_dir=lib_dir,
                                      extra_build_flags=cflags)
        proj.build_project(project)
        invoke, app = stack_figures(run_firmware(board, project.elf), project.elf)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = cached.with_name(f"{cached.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp_file.write_text(json.dumps({"invoke": invoke, "app": app, "board": board.id, "cflags": list(cflags)}) + "\n")
    tmp_file.replace(cached)
    return invoke, False


def plan_stack(graph, board: Board, lib_dir: Path, name: str):
    """The stack a project's linker script reserves for a generated library (codegen.targets.project's
    APP_STACK_MARGIN says what comes on top of the measured peak); render_project's and fit_check's stack_plan."""
    from codegen.targets import project as proj

    twin = proj.stack_twin(board)
    if twin is None:
        return proj.default_stack(board, f"no emulated board has a {board.core} to measure on")
    missing = [what for what, found in (("QEMU", shutil.which("qemu-system-arm")),
                                        ("PlatformIO", importlib.util.find_spec("platformio"))) if not found]
    if missing and twin is not board:  # a fit check works without them; a build for a QEMU board needs both
        return proj.default_stack(board, f"not measured: {' and '.join(missing)} not installed")
    cflags = [] if twin is board else [board.optimize]
    try:
        peak, cached = measure_stack(graph, twin, lib_dir, name, cflags)
    except FitError:
        if twin is board:
            raise
        return proj.default_stack(board, f"not measured: the model does not fit {twin.id}")
    where = f"measured on {twin.id}" + (f" at {cflags[0]}" if cflags else "") + (", cached" if cached else "")
    return proj.measured_stack(peak, where)


def render_bench_project(graph, board: Board, out_dir: Path, name: str, cflags=(), patches: str = "auto",
                         reference: bool = False):
    """The project of the bench app, built with the flag that turns the model's layer marks on (and cflags)."""
    from codegen.targets import project as proj

    return proj.render_project(graph, board, out_dir, app=APP, name=name,
                               extra_build_flags=["-D MLC_BENCH_MARKS", *cflags], patches=patches, reference=reference)


def layer_table(graph) -> list[tuple[int, str, int]]:
    return [(op.index, op.kind, int(op.macs or 0)) for op in graph.ops]


def bench(model, board_id: str, out_dir=None, name: str | None = None, cflags=(), patches: str = "auto",
          reference: bool = False) -> BenchResult:
    """Build the bench firmware of `model` (a prepared graph, or a .tflite path) for the board, run it and
    count; out_dir keeps the project (else a temp dir). cflags are appended to the build flags (e.g. ["-O2"]
    to try another optimisation level); patches, reference (the reference loop nests): generate's."""
    from codegen.targets.project import build_project

    graph = graph_of(model)
    model = Path(graph.path)
    board = get_board(board_id)
    if not board.emulated or board.emulator.kind != "qemu":
        raise MlcError(f"{board.id}: mlc bench counts instructions in QEMU; pick a qemu-* board (`mlc boards`)")
    name = check_identifier(name) if name else identifier_from(model.stem)
    with tempfile.TemporaryDirectory(prefix="mlc-bench-") as tmp:
        where = Path(out_dir) if out_dir else Path(tmp) / "project"
        project = render_bench_project(graph, board, where, name, cflags, patches, reference)
        build_project(project)
        symbols = read_symbols(project.elf, board)
        layers = layer_table(graph)
        config, buckets = plugin_config(symbols, project.elf, name, len(layers))
        runs, uart = count(board, project.elf, config, Path(tmp))
        stack, app_stack = stack_figures(uart, project.elf)
        flash, ram, arena = memory_figures(symbols, project.elf, board, name)
        kernels = layer_kernels((project.dir / "lib" / name / f"{name}.c").read_text(), name, len(layers))
    if any(r != runs[0] for r in runs) or len(runs[0]) != buckets + 1:
        raise MlcError(f"{model.name} on {board.id}: the instruction counts differ between runs ({runs}); "
                       "the model's code path depends on state it keeps between inferences")
    total, per = runs[0][0], runs[0][1:]
    layer_counts, overhead = per[1:-1], per[0] + per[-1]
    text = text_sizes(symbols)
    return BenchResult(model=model.name, board=board.id, instructions=total, macs=sum(m for _, _, m in layers),
                       flash_bytes=flash, ram_bytes=ram, arena_bytes=arena, stack_bytes=stack, app_stack_bytes=app_stack,
                       kernel_text_bytes=sum(text.get(f, 0) for f in {f for fs in kernels for f in fs}),
                       invoke_text_bytes=text.get(f"{name}_run", 0), overhead=overhead,
                       layers=[LayerCount(i, kind, macs, n, sum(text.get(f, 0) for f in fs), fs)
                               for (i, kind, macs), n, fs in zip(layers, layer_counts, kernels)])


def to_json(result: BenchResult) -> str:
    return json.dumps(result.as_json(), indent=2)
