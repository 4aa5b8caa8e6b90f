"""Locate the data folders (templates/, firmware/, boards/) in a checkout or an installed package."""
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """Installed, the folders sit inside the package; in a checkout, beside it."""
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mlc data folder '{name}' is missing from the installation")


def templates():
    """The one Jinja environment of every template in templates/ (kernels, model sources, apps,
    PlatformIO files): undefined variables are errors, block tags leave no blank lines."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
