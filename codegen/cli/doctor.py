"""`mlc doctor [--json]`: check this machine for what each mlc command needs, and say how to get what is missing.

Each check is one part (a Python package, a program, a folder); a part that is missing names the commands it
breaks and the package that provides it (Debian/Ubuntu apt, Homebrew on macOS, or pip). Exit status 1 when the
default board (qemu-cortex-m4) cannot be built, run and verified; optional parts only warn."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

NAME = "doctor"
HELP = "Check this machine for the compilers, emulators and Python packages each mlc command needs."

ARDUINO_AVR_CORE = Path("/usr/share/arduino/hardware/arduino/avr")
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")


@dataclass(frozen=True)
class Part:
    """One thing a command needs. `probe` returns its version or path when present, else None."""
    name: str
    needed_for: str
    required: bool  # needed for the default board's build, run and verify
    apt: str = ""  # Debian/Ubuntu packages
    mac: str = ""  # what a macOS user runs instead
    pip: str = ""


@dataclass(frozen=True)
class Finding:
    name: str
    found: str | None
    needed_for: str
    required: bool
    install: str


def _python_package(module: str, dist: str):
    def probe():
        if importlib.util.find_spec(module) is None:
            return None
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "installed"
    return probe


def _python_packages(*modules: str):
    return lambda: "installed" if all(importlib.util.find_spec(m) for m in modules) else None


def _program(name: str, version_flag: str = "--version"):
    def probe():
        path = shutil.which(name)
        if not path:
            return None
        try:
            out = subprocess.run([path, version_flag], capture_output=True, text=True, timeout=10)
            first = (out.stdout or out.stderr).strip().splitlines()
        except (OSError, subprocess.SubprocessError):
            first = []
        return first[0][:60] if first else path
    return probe


def _arm_newlib():
    """newlib for arm-none-eabi: gcc prints a bare file name when it has no libc.a of its own."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        return None
    out = subprocess.run([gcc, "-print-file-name=libc.a"], capture_output=True, text=True).stdout.strip()
    return out if Path(out).is_absolute() and Path(out).is_file() else None


def _file(path: Path):
    return lambda: str(path) if path.exists() else None


PARTS = [
    (Part("numpy, jinja2, rich, tflite, flatbuffers, pyserial", "every command", True, pip="pip install ."),
     _python_packages("numpy", "jinja2", "rich", "tflite", "flatbuffers", "serial")),
    (Part("PlatformIO", "build, verify, bench", True, pip="pip install ."), _python_package("platformio", "platformio")),
    (Part("SCons", "build, verify, bench (PlatformIO's builder)", True, pip="pip install ."), _python_package("SCons", "scons")),
    (Part("gcc", "bench (its QEMU plugin), the tests' host C", True, apt="gcc", mac="xcode-select --install"),
     _program("gcc")),
    (Part("arm-none-eabi-gcc", "build, verify, bench for Cortex-M boards", True, apt="gcc-arm-none-eabi",
          mac="brew install --cask gcc-arm-embedded"), _program("arm-none-eabi-gcc")),
    (Part("newlib for arm-none-eabi", "build for Cortex-M boards", True, apt="libnewlib-arm-none-eabi",
          mac="(part of gcc-arm-embedded)"), _arm_newlib),
    (Part("qemu-system-arm", "run, verify, bench on qemu-* boards", True, apt="qemu-system-arm", mac="brew install qemu"),
     _program("qemu-system-arm")),
    (Part("avr-gcc and avr-libc", "build for the Uno and uno-sim", False, apt="gcc-avr avr-libc",
          mac="brew tap osx-cross/avr && brew install avr-gcc"), _program("avr-gcc")),
    (Part("Arduino AVR core", "build for the Uno and uno-sim", False, apt="arduino-core-avr",
          mac=f"arduino-cli core install arduino:avr, then link its core to {ARDUINO_AVR_CORE}"), _file(ARDUINO_AVR_CORE)),
    (Part("simavr headers and library", "run, verify on uno-sim", False, apt="simavr libsimavr-dev",
          mac="brew tap osx-cross/avr && brew install simavr"), _file(SIMAVR_HEADER)),
    (Part("tflite-micro", "simulate --compare, the tests' reference", False, pip="pip install 'mlc[test]'"),
     _python_package("tflite_micro", "tflite-micro")),
    (Part("onnx", "quantize/build of .onnx models", False, pip="pip install 'mlc[onnx]'"), _python_package("onnx", "onnx")),
    (Part("TensorFlow", "quantize/build of Keras models, the examples' train.py", False,
          pip="pip install 'mlc[train]'"), _python_package("tensorflow", "tensorflow-cpu")),
    (Part("matplotlib", "--plot", False, pip="pip install 'mlc[plot]'"), _python_package("matplotlib", "matplotlib")),
]


def _install_hint(part: Part) -> str:
    if part.pip:
        return part.pip
    return f"apt-get install {part.apt}" + (f"; macOS: {part.mac}" if part.mac else "")


def check() -> list[Finding]:
    findings = []
    for part, probe in PARTS:
        try:
            found = probe()
        except (OSError, subprocess.SubprocessError):
            found = None
        findings.append(Finding(part.name, found, part.needed_for, part.required, _install_hint(part)))
    return findings


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def run(args) -> int:
    findings = check()
    missing_required = [f for f in findings if f.found is None and f.required]
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
        return 1 if missing_required else 0
    _print_table(findings)
    if missing_required:
        print(f"missing for the default board (qemu-cortex-m4): {', '.join(f.name for f in missing_required)}")
        return 1
    optional = [f.name for f in findings if f.found is None]
    print("ready for the default board (qemu-cortex-m4)" +
          (f"; optional parts missing: {', '.join(optional)}" if optional else "; every optional part found"))
    return 0


def _print_table(findings) -> None:
    rows = [(f.name, f"ok {f.found}" if f.found else ("MISSING" if f.required else "missing (optional)"),
             f.needed_for, "" if f.found else f.install) for f in findings]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the doctor must speak even when mlc's own dependencies are what is missing
        for row in rows:
            print(" | ".join(row))
        return
    from rich.markup import escape

    console = Console(width=None if Console().is_terminal else 160)
    table = Table(title=f"mlc doctor (Python {sys.version.split()[0]})")
    for col in ("part", "status", "needed for", "how to get it"):
        table.add_column(col)
    for row in rows:
        table.add_row(*map(escape, row), style="" if row[1].startswith("ok") else ("red" if row[1] == "MISSING" else "yellow"))
    console.print(table)
