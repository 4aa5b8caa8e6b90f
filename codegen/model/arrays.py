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


def read_inputs(path: str):
    """A .npy array, or an .npz archive's arrays as a dict (one per model input, by name or arr_0.. in order)."""
    if not str(path).endswith(".npz"):
        return read_input(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except OSError as err:
        raise MlcError(f"{path}: cannot read the inputs ({err.strerror or err})") from None
    except Exception:
        raise MlcError(f"{path}: not an .npz archive; save the inputs with numpy.savez") from None
    empty = [k for k, v in arrays.items() if v.size == 0]
    if not arrays or empty:
        raise MlcError(f"{path}: {'empty input array ' + empty[0] if empty else 'the archive holds no arrays'}")
    return arrays


def per_input(names: list, xs, what: str = "the inputs") -> list:
    """One array per model input, in the model's order: xs is an array (a one-input model), a list in order,
    or a dict by input name (or numpy.savez's arr_0, arr_1, ... in order)."""
    if isinstance(xs, dict):
        ordered = [f"arr_{i}" for i in range(len(names))]
        keys = names if all(n in xs for n in names) else ordered if all(k in xs for k in ordered) else None
        if keys is None or len(xs) != len(names):
            raise MlcError(f"{what} hold arrays {sorted(xs)}; the model's inputs are {names} (or give arr_0.. in order)")
        xs = [xs[k] for k in keys]
    elif not isinstance(xs, (list, tuple)):
        xs = [xs]
    if len(xs) != len(names):
        raise MlcError(f"{what} hold {len(xs)} array(s), the model has {len(names)} inputs ({', '.join(names)}): "
                       "give one array per input in an .npz")
    return list(xs)


def write_outputs(path: str, outputs: dict) -> None:
    """One output as .npy (any name), several as an .npz archive by output name."""
    if len(outputs) == 1 and not str(path).endswith(".npz"):
        return write(path, next(iter(outputs.values())))
    if not str(path).endswith(".npz"):
        raise MlcError(f"{path}: the model has {len(outputs)} outputs; give an .npz file for them")
    try:
        with open(path, "wb") as f:
            np.savez(f, **outputs)
    except OSError as err:
        raise MlcError(f"{path}: cannot write the output ({err.strerror or err})") from None


def check_output(path: str, outputs: int = 1) -> None:
    """Fail before a long run, not after it (for a model with `outputs` outputs)."""
    if outputs > 1 and not str(path).endswith(".npz"):
        raise MlcError(f"{path}: the model has {outputs} outputs; give an .npz file for them")
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


def random_inputs(graph, n: int, seed: int = 0, t=None) -> np.ndarray:
    """N random inputs for model input t (the first by default), stacked like `mlc simulate` takes them: the
    whole range of an integer input, a standard normal sample for a float one."""
    t = t if t is not None else graph.inputs[0]
    rng = np.random.default_rng(seed)
    dt = np.dtype(t.dtype)
    if dt.kind == "f":
        return rng.standard_normal((n, *t.shape[1:])).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=(n, *t.shape[1:]), endpoint=True, dtype=dt)


def random_model_inputs(graph, n: int, seed: int = 0):
    """random_inputs for every model input: one array for a one-input model, else a list in the model's order."""
    xs = [random_inputs(graph, n, seed + k, t) for k, t in enumerate(graph.inputs)]
    return xs[0] if len(xs) == 1 else xs


def frames(arrays: list) -> np.ndarray:
    """Stacked tensors (one (N, ...) array per input or output, in the model's order) as N frames of bytes
    (N, total bytes): each sample's tensors back to back, as mlc's serial protocol and the generated C's
    NAME_INPUT_BYTES/NAME_OUTPUT_BYTES carry them."""
    return np.concatenate([np.ascontiguousarray(a).view(np.uint8).reshape(len(a), -1) for a in arrays], axis=1)


def unframe(frame: bytes, tensors) -> list:
    """One frame's bytes split into one array per tensor (its shape without the batch axis, its dtype)."""
    out, pos = [], 0
    for t in tensors:
        out.append(np.frombuffer(frame, dtype=t.dtype, count=t.size, offset=pos).reshape(t.shape[1:]))
        pos += t.nbytes
    return out
