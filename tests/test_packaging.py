"""A normal (non-editable) install must carry every data file the tools read at run time."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_FOLDERS = ["templates", "firmware", "boards"]


def test_wheel_carries_code_and_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("mlc-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", *DATA_FOLDERS, "codegen", "hostsim"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "git lists no data or code files"
    expected = {f"codegen/{p}" if p.split("/")[0] in DATA_FOLDERS else p for p in tracked}
    missing = sorted(expected - names)
    assert not missing, f"wheel lacks {missing[:10]}"
    assert any(n.endswith("entry_points.txt") for n in names)


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_builds_for_the_default_board(tmp_path):
    """What a user does first: `pip install .` in a new virtual environment, then `mlc build`. PlatformIO comes
    with mlc (a core dependency), and the data folders come from the wheel, not the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", str(REPO)], check=True, cwd=tmp_path)
    project = tmp_path / "project"
    out = subprocess.run([venv / "bin" / "mlc", "build", str(REPO / "examples" / "vibration" / "model.tflite"),
                          "--board", "qemu-cortex-m4", "-o", str(project)], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (project / ".pio" / "build" / "qemu-cortex-m4" / "firmware.elf").is_file()
    assert "RAM" in out.stdout and "flash" in out.stdout
