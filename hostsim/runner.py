"""Run a graph on a stack of N inputs with the registered kernels."""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.model.arrays import per_input
from codegen.ops import require_supported
from hostsim.kernels import load


def stack_inputs(graph, x: np.ndarray, t=None) -> np.ndarray:
    """Accept (N, *shape[1:]) or exactly the shape of model input t (the first by default); check dtype and shape."""
    t = t if t is not None else graph.inputs[0]
    x = np.asarray(x)
    if x.dtype != np.dtype(t.dtype):
        raise MlcError(f"input is {x.dtype}, but model input '{t.name}' is {t.dtype}")
    if x.shape == tuple(t.shape):
        return x.reshape(1, *t.shape[1:]) if t.shape and t.shape[0] == 1 else x[None]
    if x.shape[1:] == tuple(t.shape[1:]) and x.ndim == len(t.shape):
        return x
    raise MlcError(f"input has shape {x.shape}; model input '{t.name}' needs {tuple(t.shape)} or (N, {', '.join(map(str, t.shape[1:]))})")


def model_inputs(graph, xs) -> list:
    """One stacked array per model input, in the model's order, checked: xs is an array (a one-input model),
    a list in the model's order, or a dict by input name (or numpy.savez's arr_0, arr_1, ... in order)."""
    xs = per_input([t.name for t in graph.inputs], xs)
    stacked = [stack_inputs(graph, x, t) for x, t in zip(xs, graph.inputs)]
    if len({len(x) for x in stacked}) > 1:
        raise MlcError(f"the inputs stack different numbers of samples ({', '.join(str(len(x)) for x in stacked)})")
    return stacked


def run_all(graph, x) -> dict:
    """Every tensor's value (by tensor index) for the stacked inputs (see model_inputs), constants excluded."""
    require_supported(graph)
    kernels = load()
    values = {t.index: xi for t, xi in zip(graph.inputs, model_inputs(graph, x))}
    for op in graph.ops:
        # variable tensors (state) are the kernel's own: it reads their initial values from the op
        args = [values[t.index] if not t.is_const else t.data for t in op.inputs if t is not None and not t.variable]
        result = kernels[op.kind](op, *args)
        values[op.outputs[0].index] = result
    return values


def run(graph, x) -> np.ndarray:
    """The (first) model output for a stack of inputs, stacked the same way: (N, *output_shape[1:])."""
    return run_all(graph, x)[graph.outputs[0].index]
