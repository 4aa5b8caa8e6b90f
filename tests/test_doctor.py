"""`mlc doctor`: what this machine has, and what a machine without the cross compilers is told."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def doctor(env=None):
    out = subprocess.run([sys.executable, "-m", "codegen", "doctor", "--json"], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    return out.returncode, {f["name"]: f for f in json.loads(out.stdout)}


def test_this_machine_is_ready_for_the_default_board():
    rc, findings = doctor()
    assert rc == 0, [f for f in findings.values() if f["required"] and not f["found"]]
    assert findings["arm-none-eabi-gcc"]["found"] and findings["qemu-system-arm"]["found"]
    assert findings["PlatformIO"]["found"]  # a core dependency since `pip install .` must build


def test_a_machine_without_the_tools_is_told_what_to_install():
    rc, findings = doctor(env={**os.environ, "PATH": "/nonexistent"})
    assert rc == 1
    arm = findings["arm-none-eabi-gcc"]
    assert arm["found"] is None and arm["required"]
    assert "apt-get install gcc-arm-none-eabi" in arm["install"] and "macOS" in arm["install"]
    assert "qemu-cortex-m4" not in arm["needed_for"] and "Cortex-M" in arm["needed_for"]
    assert findings["qemu-system-arm"]["found"] is None
    assert findings["PlatformIO"]["found"]  # Python packages do not depend on PATH


def test_the_table_names_what_is_missing():
    out = subprocess.run([sys.executable, "-m", "codegen", "doctor"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PATH": "/nonexistent", "COLUMNS": "200"})
    assert out.returncode == 1
    assert "missing for the default board (qemu-cortex-m4): gcc, arm-none-eabi-gcc" in out.stdout
