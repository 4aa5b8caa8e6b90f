"""Locate the data folders (templates/, firmware/, boards/) in a checkout or an installed package."""
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """Installed, the folders sit inside the package; in a checkout, beside it."""
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mlc data folder '{name}' is missing from the installation")
