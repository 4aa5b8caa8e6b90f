"""Per-op integer parameters, derived once at import and shared by hostsim and the C generator.

Each op family's module registers a `derive(op) -> dict` for its op kinds with @derives. Ops with no
registered derivation are unsupported: they are recorded on the graph (with the reason) so that
`mlc inspect` can list them, and simulation or code generation refuses the model naming the op.
"""
from __future__ import annotations

import importlib

import numpy as np

from codegen.errors import MlcError

_DERIVE = {}
_MACS = {}
# (required, most) inputs per op kind; optional inputs (bias, PADV2's constant) come last.
ARITY = {"CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "FULLY_CONNECTED": (2, 3), "ADD": (2, 2), "MUL": (2, 2),
         "AVERAGE_POOL_2D": (1, 1), "MAX_POOL_2D": (1, 1), "SOFTMAX": (1, 1), "LOGISTIC": (1, 1), "TANH": (1, 1),
         "RESHAPE": (1, 2), "SQUEEZE": (1, 1), "EXPAND_DIMS": (1, 2), "CONCATENATION": (1, 64), "PAD": (2, 2),
         "PADV2": (2, 3), "MEAN": (2, 2), "QUANTIZE": (1, 1), "DEQUANTIZE": (1, 1)}
FAMILIES = ["conv", "pooling", "elementwise", "activations", "tensor_ops"]


def derives(*kinds, macs=None):
    def register(fn):
        for kind in kinds:
            _DERIVE[kind] = fn
            if macs is not None:
                _MACS[kind] = macs
        return fn

    return register


def _load_families() -> None:
    for family in FAMILIES:
        importlib.import_module(f"codegen.params.{family}")


def supported_ops() -> list:
    _load_families()
    return sorted(_DERIVE)


def macs(op) -> int:
    fn = _MACS.get(op.kind)
    return int(fn(op)) if fn else 0


def prepare(graph) -> None:
    """Fill op.params for every op; collect the unsupported ones on graph.unsupported."""
    _load_families()
    graph.unsupported = []
    for op in graph.ops:
        derive = _DERIVE.get(op.kind)
        if derive is None:
            graph.unsupported.append((op.index, op.kind, f"{op.kind} is not supported (supported: {', '.join(sorted(_DERIVE))})"))
            continue
        try:
            _check_structure(op)
            op.params = derive(op)
        except MlcError as err:
            graph.unsupported.append((op.index, op.kind, str(err)))
        except (IndexError, KeyError, ValueError, ZeroDivisionError, OverflowError) as err:  # corrupt models
            graph.unsupported.append((op.index, op.kind, f"malformed layer ({type(err).__name__}: {err})"))


def _check_structure(op) -> None:
    """Arity and the batch-of-one layout every kernel assumes (hostsim stacks inputs on a new leading axis)."""
    least, most = ARITY.get(op.kind, (1, 1))
    present = [t for t in op.inputs[:least] if t is not None]
    if len(present) < least or len(op.inputs) > most or len(op.outputs) != 1:
        raise MlcError(f"malformed layer: {len(op.inputs)} inputs and {len(op.outputs)} outputs "
                       f"({op.kind} takes {least}..{most} inputs and 1 output)")
    for t in [op.inputs[0], op.outputs[0]]:
        if not t.is_const and (not t.shape or t.shape[0] != 1):
            raise MlcError(f"tensor '{t.name}' has shape {t.shape}; mlc needs a leading batch dimension of 1 "
                           "(convert the model with batch size 1)")


def require_supported(graph) -> None:
    if graph.unsupported:
        index, kind, reason = graph.unsupported[0]
        more = f" (and {len(graph.unsupported) - 1} more)" if len(graph.unsupported) > 1 else ""
        raise MlcError(f"{graph.path}: layer {index} ({kind}): {reason}{more}")


def per_tensor_quantized(op, tensor, dtypes=("int8",)) -> None:
    """Activations in the integer path: per-tensor quantized, of one of `dtypes`, with a zero point
    the dtype can hold (a larger one only comes from a corrupt model)."""
    if tensor.dtype not in dtypes or tensor.quant is None or tensor.quant.per_channel:
        raise MlcError(f"tensor '{tensor.name}' is {tensor.dtype}{'' if tensor.quant else ' without quantization'}; "
                       f"{op.kind} needs per-tensor quantized {' or '.join(dtypes)} activations")
    info = np.iinfo(tensor.dtype)
    if not info.min <= tensor.quant.zp <= info.max:
        raise MlcError(f"tensor '{tensor.name}' has zero point {tensor.quant.zp}, outside {tensor.dtype}; the model is corrupt")


def int8_activation(op, tensor) -> None:
    per_tensor_quantized(op, tensor)
