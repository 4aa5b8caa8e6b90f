"""Reading and writing the stacked .npy arrays that simulate, verify and build take and give."""
from pathlib import Path

import numpy as np

from codegen.errors import MlcError


def read_input(path: str) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except OSError as err:
        raise MlcError(f"{path}: cannot read the input ({err.strerror or err})") from None
    except Exception:  # numpy raises ValueError, EOFError, UnpicklingError... for non-.npy content
        raise MlcError(f"{path}: not a .npy array file; save the inputs with numpy.save") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise MlcError(f"{path}: is a .npz archive; give one array saved with numpy.save")
    if x.size == 0:
        raise MlcError(f"{path}: the input array is empty")
    return x


def check_output(path: str) -> None:
    """Fail before a long run, not after it."""
    target = Path(path)
    if target.is_dir():
        raise MlcError(f"{path}: is a directory; give a file name for the output")
    if not target.parent.is_dir():
        raise MlcError(f"{path}: cannot write the output (folder {target.parent} does not exist)")


def write(path: str, y: np.ndarray) -> None:
    try:
        with open(path, "wb") as f:  # np.save(path) would append .npy to any other name
            np.save(f, y)
    except OSError as err:
        raise MlcError(f"{path}: cannot write the output ({err.strerror or err})") from None


def random_inputs(graph, n: int, seed: int = 0) -> np.ndarray:
    """N random inputs for the model, stacked like `mlc simulate` takes them: the whole range of an
    integer input, a standard normal sample for a float one."""
    t = graph.inputs[0]
    rng = np.random.default_rng(seed)
    dt = np.dtype(t.dtype)
    if dt.kind == "f":
        return rng.standard_normal((n, *t.shape[1:])).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=(n, *t.shape[1:]), endpoint=True, dtype=dt)
