"""One definition per operator family: everything mlc knows about an op, in one place.

Each family module (FAMILIES) calls `define(...)` once per op kind with its arity, its parameter
derivation (`derive(op) -> dict`: the integer multipliers, shifts, offsets, clamps and geometry that
hostsim and the generated C both read), its MAC count, its kernel plan (`plan(op, isa, reference,
inplace, alone) -> codegen.ops.kernel_plan.KernelPlan`: variant, blocking, unrolling, weight layout,
scratch bytes; the memory planner and the emitter both read it), its C emitter (`emit(layer) -> str`,
the statement(s) in NAME_invoke) and the memory planner's hooks (in place, alias). hostsim's
numpy kernels (hostsim/kernels/<family>.py, the same family names) register per kind, and
tests/test_op_registry.py checks that every defined op has every part.

Ops with no definition are unsupported: `prepare` records them on the graph (with the reason) so
that `mlc inspect` can list them, and simulation or code generation refuses the model naming the op.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from codegen.errors import MlcError
from codegen.model.ir import Graph

FAMILIES = ("conv", "fully_connected", "pooling", "activations", "elementwise", "tensor_ops", "resize", "lstm", "svdf",
            "batch_matmul")


@dataclass(frozen=True)
class OpDef:
    kind: str
    family: str
    derive: Callable  # (op) -> params dict
    emit: Callable  # (codegen.lower.layer.Layer) -> C statement(s)
    arity: tuple = (1, 1)  # (required, most) inputs; optional inputs (bias, PADV2's constant) come last
    macs: Callable | None = None  # (op) -> multiply-accumulates of one inference
    inplace: Callable | None = None  # (op) -> bool: output may overwrite input 0
    plan: Callable | None = None  # (op, isa, reference: bool, inplace: bool, alone: bool) -> KernelPlan (default_plan if None)
    alias: bool = False  # output is the input's bytes unchanged (RESHAPE): zero-copy
    templates: tuple = ()  # templates/kernels/ files the emitter renders
    dtypes: tuple = ("int8",)  # activation dtypes the op takes (the README's op table, codegen.ops.coverage)
    # (op) -> int | None: the output may start this many bytes before input 0 and overlap it (the kernel
    # has read the input bytes an output row covers before it writes that row); None: no overlap
    overlap: Callable | None = None
    # input positions holding state (variable tensors): read, then updated in place by the kernel, kept from one
    # invoke to the next (hostsim's runner state, the C's NAME_state, NAME_reset()); never planned in the arena
    state: tuple = ()
    # input 0 and the output may have a leading batch other than 1 (data movement over the whole shape: the kernels
    # walk every axis); every other op takes a batch of 1 (codegen.model keeps model inputs and outputs at 1)
    batched: bool = False
    # the kernel computes one image: on a leading batch over 1 the generated C runs it once per image
    # (codegen.lower.layer), hostsim on the images stacked, and the layer never runs in place
    per_image: bool = False


_OPS: dict = {}


def define(*kinds, derive, emit, arity=(1, 1), macs=None, inplace=None, plan=None, alias=False, templates=(),
           dtypes=("int8",), overlap=None, state=(), batched=False, per_image=False):
    family = emit.__module__.rsplit(".", 1)[-1]
    for kind in kinds:
        if kind in _OPS:
            raise RuntimeError(f"{kind} is defined twice ({_OPS[kind].family} and {family})")
        _OPS[kind] = OpDef(kind, family, derive, emit, arity, macs, inplace, plan, alias, tuple(templates), tuple(dtypes),
                           overlap, tuple(state), batched, per_image)


def registry() -> dict:
    """{kind: OpDef} of every supported op."""
    for family in FAMILIES:
        importlib.import_module(f"codegen.ops.{family}")
    return _OPS


def definition(kind: str) -> OpDef | None:
    return registry().get(kind)


def supported_ops() -> list:
    return sorted(registry())


def macs(op) -> int:
    d = definition(op.kind)
    return int(d.macs(op)) if d is not None and d.macs is not None else 0


def load(path):
    """Read a .tflite model (codegen.model.tflite) and derive every op's parameters: the graph each
    command loads once and passes down."""
    from codegen.model.tflite import read

    graph = read(path)
    prepare(graph)
    return graph


def graph_of(model):
    """`model` as a prepared graph: a graph passed down as it is, a path loaded."""
    if isinstance(model, Graph):
        return model
    if not Path(model).is_file():
        raise MlcError(f"{model}: no such model file")
    return load(model)


def prepare(graph) -> None:
    """Fill op.params for every op; collect the unsupported ones on graph.unsupported."""
    ops = registry()
    graph.unsupported = []
    made_by = {id(t): op for op in graph.ops for t in op.outputs}
    ends = {id(t) for t in list(graph.inputs) + list(graph.outputs)}
    for op in graph.ops:
        d = ops.get(op.kind)
        refusal = _float_refusal(op, d, ops)
        if refusal:
            graph.unsupported.append((op.index, op.kind, refusal))
            continue
        if d is None:
            graph.unsupported.append((op.index, op.kind, f"{op.kind} on {_dtypes(op)} is not supported yet "
                                                         f"(supported: {', '.join(sorted(ops))})"))
            continue
        try:
            _check_structure(op, d.arity)
            _check_batch(op, d.batched or d.per_image, made_by, ends)
            _check_state(op, d.state)
            op.params = d.derive(op)
            op.macs = macs(op)
        except MlcError as err:
            graph.unsupported.append((op.index, op.kind, str(err)))
        except (IndexError, KeyError, ValueError, ZeroDivisionError, OverflowError) as err:  # corrupt models
            graph.unsupported.append((op.index, op.kind, f"malformed layer ({type(err).__name__}: {err})"))
    _check_io_dtypes(graph)


# float32 ops TFLM computes with libm (std::exp, std::log, std::tanh, ...): results differ between C libraries
LIBM = ("EXP", "LOG", "TANH", "LOGISTIC", "SOFTMAX", "LOG_SOFTMAX", "ELU", "GELU", "POW", "SIN", "COS", "HARD_SWISH")


def _float_refusal(op, d, ops) -> str | None:
    """Why a float32 layer (an island between DEQUANTIZE and QUANTIZE) is refused, or None."""
    if not is_float_layer(op) or (d is not None and "float32" in d.dtypes):
        return None
    if op.kind in LIBM:
        return (f"{op.kind} on float32 is not supported: TFLM computes it with libm, whose results differ between C "
                "libraries, so mlc cannot make it bit-exact on the device; quantize it to int8")
    taken = sorted(k for k, x in ops.items() if "float32" in x.dtypes and k not in ("QUANTIZE", "DEQUANTIZE"))
    return f"{op.kind} on float32 is not supported yet (mlc's float32 ops: {', '.join(taken)})"


def is_float_layer(op) -> bool:
    """The op computes in float32 (float32 activations in and out)."""
    return bool(op.outputs) and op.outputs[0] is not None and op.outputs[0].dtype == "float32" and any(
        t is not None and not t.is_const and t.dtype == "float32" for t in op.inputs)


def _check_state(op, positions) -> None:
    """Variable tensors only where the op keeps its state, and its state only in variable tensors."""
    for i, t in enumerate(op.inputs):
        if t is None:
            continue
        if t.variable and i not in positions:
            raise MlcError(f"{op.kind} reads state tensor '{t.name}' (a variable kept across invokes) as input {i}, "
                           "where mlc's kernel takes no state")
        if i in positions and not t.variable:
            raise MlcError(f"{op.kind} input {i} '{t.name}' is its state but not marked variable in the file; "
                           "the model is corrupt")
    for t in op.outputs:
        if t.variable:
            raise MlcError(f"{op.kind} writes variable tensor '{t.name}' as its output; mlc keeps state only "
                           "as an op's own state input")


IO_DTYPES = ("int8", "int16", "int32", "float32")


def _dtypes(op) -> str:
    """The op's activation dtypes, as a user reads them: "int8", "int16 -> int32"."""
    def kinds(tensors):
        return "/".join(dict.fromkeys(t.dtype for t in tensors if t is not None and not t.is_const and not t.variable)) or "constants"
    ins, outs = kinds(op.inputs), kinds(op.outputs)
    return ins if ins == outs else f"{ins} -> {outs}"


def _check_io_dtypes(graph) -> None:
    """Model inputs and outputs mlc's C API and serial protocol cannot carry: refused at the layer that
    reads or writes them (unless that layer is unsupported anyway)."""
    refused = {index for index, _, _ in graph.unsupported}
    for t in list(graph.inputs) + list(graph.outputs):
        if t.dtype in IO_DTYPES:
            continue
        role = "input" if t in graph.inputs else "output"
        op = next((o for o in graph.ops if any(x is t for x in (o.inputs if role == "input" else o.outputs))), None)
        if op is not None and op.index not in refused:
            graph.unsupported.append((op.index, op.kind, f"model {role} '{t.name}' is {t.dtype}; mlc supports "
                                                         f"{', '.join(IO_DTYPES)} model inputs and outputs, {t.dtype} not yet"))
            refused.add(op.index)
    graph.unsupported.sort(key=lambda u: u[0])


def _check_structure(op, arity) -> None:
    least, most = arity
    present = [t for t in op.inputs[:least] if t is not None]
    if len(present) < least or len(op.inputs) > most or len(op.outputs) != 1:
        raise MlcError(f"malformed layer: {len(op.inputs)} inputs and {len(op.outputs)} outputs "
                       f"({op.kind} takes {least}..{most} inputs and 1 output)")


def _check_batch(op, batched: bool, made_by: dict, ends: set) -> None:
    """The batch-of-one layout the kernels assume (hostsim stacks inputs on a new leading axis): model inputs
    and outputs, and the activations of every op not `batched`, have a leading 1. A batch over 1 inside the
    graph (SPACE_TO_BATCH_ND makes one) flows only through batched ops; another op reading it is refused.
    A scalar inside the graph (a REDUCE_MAX over every axis, FILL's value) is one element, as a batch of one."""
    for t in [*op.inputs, op.outputs[0]]:
        if t is None or t.is_const or t.variable or (t.shape and t.shape[0] == 1) or (not t.shape and id(t) not in ends):
            continue
        maker = made_by.get(id(t)) if t is not op.outputs[0] else None
        if t.shape and not batched and maker is not None:
            raise MlcError(f"input '{t.name}' has a batch of {t.shape[0]} (from layer {maker.index}, {maker.kind}); "
                           f"mlc's {op.kind} needs a leading batch dimension of 1")
        if (t is op.inputs[0] or t is op.outputs[0]) and (not t.shape or not batched or id(t) in ends):
            raise MlcError(f"tensor '{t.name}' has shape {t.shape}; mlc needs a leading batch dimension of 1 "
                           "(convert the model with batch size 1)")


def float_layers(graph) -> list:
    """The layers that compute in float32 (the islands between DEQUANTIZE and QUANTIZE)."""
    return [op for op in graph.ops if is_float_layer(op)]


def require_supported(graph) -> None:
    if graph.unsupported:
        index, kind, reason = graph.unsupported[0]
        more = f" (and {len(graph.unsupported) - 1} more)" if len(graph.unsupported) > 1 else ""
        raise MlcError(f"{graph.path}: layer {index} ({kind}): {reason}{more}")


def per_tensor_quantized(op, tensor, dtypes=("int8",)) -> None:
    """Activations in the integer path: per-tensor quantized, of one of `dtypes`, with a zero point
    the dtype can hold (a larger one only comes from a corrupt model)."""
    if tensor.dtype not in dtypes and tensor.dtype in ("int16", "int8") and tensor.quant is not None:
        raise MlcError(f"{op.kind} on {tensor.dtype} (tensor '{tensor.name}') is not supported yet; "
                       f"mlc's {op.kind} takes {' or '.join(dtypes)} activations")
    if tensor.dtype not in dtypes or tensor.quant is None or tensor.quant.per_channel:
        raise MlcError(f"tensor '{tensor.name}' is {tensor.dtype}{'' if tensor.quant else ' without quantization'}; "
                       f"{op.kind} needs per-tensor quantized {' or '.join(dtypes)} activations")
    info = np.iinfo(tensor.dtype)
    if not info.min <= tensor.quant.zp <= info.max:
        raise MlcError(f"tensor '{tensor.name}' has zero point {tensor.quant.zp}, outside {tensor.dtype}; the model is corrupt")



def plan_kernel(op, isa: str, reference: bool = False, inplace: bool = False, alone: bool = True):
    """The op's KernelPlan for one instruction set (codegen.ops.kernel_plan.ISAS); alone: the library
    holds only this ISA's kernels (else its ISAs share one flash copy of each weight array)."""
    from codegen.ops.kernel_plan import default_plan

    make = definition(op.kind).plan or default_plan
    return make(op, isa, reference, inplace, alone)
