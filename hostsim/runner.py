"""Run a graph on a stack of N inputs with the registered kernels."""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.ops import require_supported
from hostsim.kernels import load


def stack_inputs(graph, x: np.ndarray) -> np.ndarray:
    """Accept (N, *shape[1:]) or exactly the model's input shape; check dtype and shape."""
    t = graph.inputs[0]
    x = np.asarray(x)
    if x.dtype != np.dtype(t.dtype):
        raise MlcError(f"input is {x.dtype}, but model input '{t.name}' is {t.dtype}")
    if x.shape == tuple(t.shape):
        return x.reshape(1, *t.shape[1:]) if t.shape and t.shape[0] == 1 else x[None]
    if x.shape[1:] == tuple(t.shape[1:]) and x.ndim == len(t.shape):
        return x
    raise MlcError(f"input has shape {x.shape}; model input '{t.name}' needs {tuple(t.shape)} or (N, {', '.join(map(str, t.shape[1:]))})")


def run_all(graph, x: np.ndarray) -> dict:
    """Every tensor's value (by tensor index) for the stacked inputs, constants excluded."""
    require_supported(graph)
    kernels = load()
    x = stack_inputs(graph, x)
    if len(graph.inputs) != 1:
        raise MlcError(f"{graph.path}: models with {len(graph.inputs)} inputs are not supported yet")
    values = {graph.inputs[0].index: x}
    for op in graph.ops:
        args = [values[t.index] if not t.is_const else t.data for t in op.inputs if t is not None]
        result = kernels[op.kind](op, *args)
        values[op.outputs[0].index] = result
    return values


def run(graph, x: np.ndarray) -> np.ndarray:
    """The model output for a stack of inputs, stacked the same way: (N, *output_shape[1:])."""
    return run_all(graph, x)[graph.outputs[0].index]
