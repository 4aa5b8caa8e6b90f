"""Offline PlatformIO: a private core dir, telemetry off, and the tool-scons package made from PyPI's scons."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from codegen.errors import MlcError

# PlatformIO 6.1 asks for tool-scons ~4.41101.0, which is scons 4.11.1 (PyPI) under PlatformIO's numbering.
SCONS_PACKAGE_VERSION = "4.41101.0"
SCONS_PYPI_VERSION = "4.11.1"


def cache_dir() -> Path:
    """Where mlc keeps PlatformIO's state and built helpers ($MLC_CACHE_DIR, else XDG cache)."""
    root = os.environ.get("MLC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlc")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ensure_scons_package(core_dir: Path) -> None:
    if importlib.util.find_spec("SCons") is None:  # PlatformIO runs scons.py with this same interpreter
        raise MlcError(f"SCons is missing: pip install scons=={SCONS_PYPI_VERSION}")
    pkg = core_dir / "packages" / "tool-scons"
    if (pkg / "scons.py").is_file():
        return
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "package.json").write_text(json.dumps({
        "name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
        "description": f"SCons {SCONS_PYPI_VERSION} from PyPI, provided by mlc for offline builds"}))
    (pkg / ".piopm").write_text(json.dumps({
        "type": "tool", "name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
        "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None}}))
    (pkg / "scons.py").write_text(
        "import sys\nimport SCons.Script.Main\n\nif __name__ == '__main__':\n    sys.exit(SCons.Script.Main.main())\n")


def pio_env() -> dict:
    """The environment PlatformIO runs in: its own core dir under mlc's cache, no telemetry, no update checks."""
    if importlib.util.find_spec("platformio") is None:
        raise MlcError("PlatformIO is not installed: pip install platformio (a dependency of mlc: reinstall it with pip install .)")
    core_dir = Path(os.environ.get("PLATFORMIO_CORE_DIR") or cache_dir() / "platformio")
    core_dir.mkdir(parents=True, exist_ok=True)
    _ensure_scons_package(core_dir)
    env = dict(os.environ)
    env.update(PLATFORMIO_CORE_DIR=str(core_dir),
               PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="9999",
               PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0",
               PLATFORMIO_NO_ANSI="1")
    # The mlc_emulated platform's upload target runs `python -m codegen.device.emulator`, also from a checkout.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def run_pio(args: list[str], project_dir: Path, capture: bool = True) -> subprocess.CompletedProcess:
    """Run `pio <args>` on a project with the offline environment."""
    cmd = [sys.executable, "-m", "platformio", *args, "-d", str(project_dir)]
    return subprocess.run(cmd, env=pio_env(), text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)
