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


def initial_state(graph) -> dict:
    """The model's state (tensor index -> value of each variable tensor) before the first invoke; passing
    the same dict to several run_all calls carries the state over, a new one is a reset."""
    return {t.index: t.reset_value() for t in graph.state_tensors()}


def _invoke(graph, kernels, values: dict) -> dict:
    for op in graph.ops:
        args = [t.data if t.is_const else values[t.index] for t in op.inputs if t is not None]
        values[op.outputs[0].index] = kernels[op.kind](op, *args)
    return values


def run_all(graph, x, state: dict | None = None) -> dict:
    """Every tensor's value (by tensor index) for the stacked inputs (see model_inputs), constants excluded.

    A model with state (graph.state_tensors()) runs the N inputs in order, one invoke each, the state
    carried from one to the next: from `state` (initial_state; updated in place), else from a reset."""
    require_supported(graph)
    kernels = load()
    inputs = model_inputs(graph, x)
    if not graph.state_tensors():
        return _invoke(graph, kernels, {t.index: xi for t, xi in zip(graph.inputs, inputs)})
    state = initial_state(graph) if state is None else state
    steps = []
    for n in range(len(inputs[0])):
        values = _invoke(graph, kernels, {**state, **{t.index: xi[n:n + 1] for t, xi in zip(graph.inputs, inputs)}})
        steps.append({i: v for i, v in values.items() if i not in state})
    return {i: np.concatenate([step[i] for step in steps]) for i in steps[0]} if steps else {}


def run(graph, x, state: dict | None = None) -> np.ndarray:
    """The (first) model output for a stack of inputs, stacked the same way: (N, *output_shape[1:])."""
    return run_all(graph, x, state)[graph.outputs[0].index]
