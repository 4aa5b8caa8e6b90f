"""TFLM's own interpreter (the `tflite-micro` package, reference kernels) as mlc's ground truth.

`mlc simulate --compare`, the benchmarks and the tests run the original .tflite through it on the
same stacked inputs hostsim takes, (N, *input_shape[1:]), and read back outputs and, with
kPreserveAllTensors, every intermediate tensor by its index in the flatbuffer (the indices
codegen.model.ir.Tensor.index keeps). tflite-micro is optional (about 100 MB), so it is imported lazily.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tflite

from codegen.errors import MlcError

_ARENA_MIN = 4 << 20


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise MlcError("the TFLM reference interpreter is not installed; run `pip install tflite-micro` (in mlc's test extra)") from None
    return runtime


def _model_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    try:
        return Path(model).read_bytes()
    except OSError as err:
        raise MlcError(f"{model}: cannot read the model ({err.strerror})") from None


def interpreter(model, preserve_all: bool = False, arena_size: int | None = None):
    """A TFLM interpreter for a model given as a path or bytes."""
    runtime = _runtime()
    data = _model_bytes(model)
    config = runtime.InterpreterConfig.kPreserveAllTensors if preserve_all else runtime.InterpreterConfig.kAllocationRecording
    size = arena_size or max(_ARENA_MIN, 4 * len(data))
    try:
        return runtime.Interpreter.from_bytes(data, arena_size=size, intrepreter_config=config)
    except (RuntimeError, ValueError) as err:
        raise MlcError(f"TFLM cannot load the model: {err}") from None


# print_allocations() writes from C++ straight to the process's stderr, so it runs in a child whose stderr is read.
_RECORD = """import sys
from codegen.model.tflm import interpreter
interpreter(sys.argv[1]).print_allocations()"""


def arena_usage(model: Path) -> dict:
    """TFLM's arena for a model as its RecordingMicroAllocator reports it: head (the activation plan, the input
    and output included) and total (head plus TFLM's bookkeeping), in bytes."""
    _runtime()
    run = subprocess.run([sys.executable, "-c", _RECORD, str(Path(model).resolve())], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    found = dict(re.findall(r"Arena allocation (head|total) (\d+) bytes", run.stderr))
    if run.returncode or set(found) != {"head", "total"}:
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise MlcError(f"{model}: TFLM reported no arena allocation ({tail})")
    return {"head": int(found["head"]), "total": int(found["total"])}


@dataclass
class Result:
    outputs: list  # one array per model output, stacked (N, *output_shape[1:])
    tensors: dict = field(default_factory=dict)  # tensor index -> stacked values (when asked for)


def run(model, x: np.ndarray, tensors=(), interp=None) -> Result:
    """Run TFLM on each of the N inputs stacked on x's leading axis (one invoke per input).

    `tensors` lists tensor indices whose values to keep for every input (needs an interpreter
    made with preserve_all=True, which is what this makes when `interp` is not given).
    """
    tensors = list(tensors)
    data = _model_bytes(model)
    interp = interp or interpreter(data, preserve_all=bool(tensors))
    subgraph = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    xs = list(x) if isinstance(x, (list, tuple)) else [x]  # one stacked array per model input
    in_shapes = [tuple(interp.get_input_details(k)["shape"]) for k in range(subgraph.InputsLength())]
    n_out = subgraph.OutputsLength()
    outputs = [[] for _ in range(n_out)]
    kept = {i: [] for i in tensors}
    for n in range(len(xs[0])):
        for k, (stack, shape) in enumerate(zip(xs, in_shapes)):
            interp.set_input(np.ascontiguousarray(np.asarray(stack[n]).reshape(shape)), k)
        try:
            interp.invoke()
        except RuntimeError as err:
            raise MlcError(f"TFLM failed to run the model: {err}") from None
        for k in range(n_out):
            out = interp.get_output(k)
            outputs[k].append(out.reshape(out.shape[1:]) if out.ndim and out.shape[0] == 1 else out.copy())
        for i in tensors:
            value = np.array(interp.GetTensor(i, 0)["tensor_data"])
            kept[i].append(value.reshape(value.shape[1:]) if value.ndim and value.shape[0] == 1 else value)
    return Result(outputs=[np.stack(o) for o in outputs], tensors={i: np.stack(v) for i, v in kept.items()})


@dataclass
class LayerMatch:
    """How one layer's output compares between hostsim and TFLM over N inputs."""

    op_index: int
    kind: str
    tensor: str
    matching: int  # inputs on which the whole output tensor is identical
    total: int
    max_abs_diff: float

    @property
    def ok(self) -> bool:
        return self.matching == self.total


def compare(graph, x, sim: dict, model=None) -> list:
    """Run TFLM on the stacked inputs x (an array, or one per model input) and hold every layer's output
    against `sim`, hostsim's run_all values for the same inputs; one LayerMatch per layer, in graph order."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    x = [np.asarray(xi).reshape(-1, *t.shape[1:]) for xi, t in zip(xs, graph.inputs)]
    produced = [t for op in graph.ops for t in op.outputs]
    ref = run(model or graph.path, x, tensors=[t.index for t in produced]).tensors
    report = []
    for op in graph.ops:
        t = op.outputs[0]
        got, want = np.asarray(sim[t.index]), ref[t.index]
        if want.shape != got.shape and want.size == got.size:
            want = want.reshape(got.shape)
        if want.shape != got.shape:
            raise MlcError(f"layer {op.index} ({op.kind}): hostsim gives shape {got.shape}, TFLM {want.shape}")
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).reshape(len(got), -1)
        same = (got == want).reshape(len(got), -1).all(axis=1)
        report.append(LayerMatch(op.index, op.kind, t.name, int(same.sum()), len(same), float(diff.max(initial=0.0))))
    return report
