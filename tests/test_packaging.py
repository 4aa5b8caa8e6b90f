"""A normal (non-editable) install must carry every data file the tools read at run time."""
import subprocess
import sys
import zipfile
from pathlib import Path

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
