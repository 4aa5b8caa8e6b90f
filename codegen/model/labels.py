"""Class labels: a UTF-8 text file beside a model, one label per line (blank lines ignored)."""
from pathlib import Path

from codegen.errors import MlcError


def read_labels(path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise MlcError(f"{path}: cannot read the labels ({err.strerror})") from None
    except UnicodeDecodeError:
        raise MlcError(f"{path}: the labels are not UTF-8 text") from None
    return [line.strip() for line in lines if line.strip()]
