"""Read a .tflite flatbuffer (through the `tflite` package) into the mlc graph IR.

Shape arithmetic the converter leaves in the graph (SHAPE -> STRIDED_SLICE -> PACK before RESHAPE)
is folded here, since every shape is static; SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND is folded
back into one dilated convolution. Then codegen.ops derives every op's integer parameters.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tflite
from flatbuffers import flexbuffers

from codegen.errors import MlcError
from codegen.model.fold import fold
from codegen.model.ir import Graph, Op, Quant, Tensor

_TENSOR_TYPES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_OPTION_CLASSES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_PADDINGS = {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")}
_DTYPES = {"INT8": "int8", "UINT8": "uint8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
           "FLOAT32": "float32", "BOOL": "bool"}
_OTHER_DTYPES = {"UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64", "FLOAT16": "float16", "FLOAT64": "float64"}
# Window options that TFLite divides by or steps with: anything below 1 is a corrupt model.
_POSITIVE_OPTIONS = ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor", "filter_height", "filter_width")
_OPTION_SKIP = {"Init"}
# Far beyond any microcontroller's RAM; refused before anything is allocated (a corrupt shape can
# otherwise ask hostsim for gigabytes).
MAX_ACTIVATION_BYTES = 16 << 20


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _read_custom_options(op) -> dict:
    """A custom op's options: the flexbuffer map the converter stores in custom_options."""
    if not op.CustomOptionsLength():
        return {}
    try:
        value = flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())
    except Exception as err:  # the flexbuffer decoder fails in many ways on corrupt bytes
        raise MlcError(f"custom options are not a readable flexbuffer ({type(err).__name__})") from None
    if not isinstance(value, dict):
        raise MlcError(f"custom options are a flexbuffer {type(value).__name__}, not a map")
    return value


def _read_options(op) -> dict:
    """All fields of an operator's builtin options table, as snake_case keys."""
    kind = _OPTION_CLASSES.get(op.BuiltinOptionsType())
    if kind in (None, "NONE"):
        return {}
    cls = getattr(tflite, kind)
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(cls):
        if attr.startswith("_") or attr in _OPTION_SKIP or attr.startswith("GetRootAs") or attr.endswith(("Length", "IsNone")):
            continue
        if attr.endswith("AsNumpy"):
            value = getattr(opts, attr)()
            out[_snake(attr[: -len("AsNumpy")])] = [] if isinstance(value, int) else value.tolist()
            continue
        if hasattr(cls, attr + "AsNumpy"):
            continue
        try:
            out[_snake(attr)] = getattr(opts, attr)()
        except TypeError:  # accessor needs an argument: a vector read through AsNumpy above
            continue
    if "fused_activation_function" in out:
        out["activation"] = _ACTIVATIONS[out.pop("fused_activation_function")]
    if "padding" in out:
        out["padding"] = _PADDINGS[out["padding"]]
    bad = [key for key in _POSITIVE_OPTIONS if key in out and out[key] < 1]
    if bad:
        raise MlcError(f"{bad[0]} is {out[bad[0]]}; it must be at least 1 (corrupt file?)")
    return out


def _read_quant(t, name: str, shape: tuple, const: bool) -> Quant | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = q.ScaleAsNumpy().astype(np.float32)
    zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros_like(scale, dtype=np.int64)
    axis = q.QuantizedDimension()
    if len(shape) == 1 and scale.size > 1 and shape[0] == scale.size:
        axis = 0  # a 1-D per-channel tensor (a bias) can only be quantized along axis 0; TFLM ignores the stored axis
    problem = None
    if not np.all(np.isfinite(scale)) or np.any(scale < 0) or (not const and np.any(scale == 0)):
        problem = f"scale {scale[:4].tolist()}"
    elif zp.size != scale.size:
        problem = f"{scale.size} scales but {zp.size} zero points"
    elif scale.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scale.size):
        problem = f"{scale.size} per-channel scales along axis {axis} of shape {shape}"
    if problem:
        raise MlcError(f"tensor '{name}' has invalid quantization ({problem}); corrupt file?")
    return Quant(scale=scale, zero_point=zp, axis=axis)


def _buffer_bytes(model, buf, data: bytes, name: str) -> bytes | None:
    """A constant's bytes: inline in the flatbuffer, or (Buffer.offset > 1) stored after it in the same file,
    as ai-edge-quantizer (litert-quantizer) writes weights once they total 256 KiB."""
    if buf is None:
        return None
    if buf.DataLength() > 0:
        return buf.DataAsNumpy().tobytes()
    offset, size = buf.Offset(), buf.Size()
    if offset <= 1:  # 0: no data; 1: the converter's placeholder for "no data yet"
        return None
    if offset + size > len(data):
        raise MlcError(f"constant tensor '{name}' is stored at bytes {offset}..{offset + size} of the file, past its "
                       f"end ({len(data)} bytes); truncated file?")
    return data[offset:offset + size]


def _read_tensor(model, sg, i: int, data: bytes) -> Tensor:
    t = sg.Tensors(i)
    type_name = _TENSOR_TYPES.get(t.Type(), str(t.Type()))
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    raw_name = t.Name().decode(errors="replace") if t.Name() else f"t{i}"
    name = "".join(c if c.isprintable() else "?" for c in raw_name)  # names end up in one-line messages
    dtype = _DTYPES.get(type_name) or _OTHER_DTYPES.get(type_name)
    if dtype is None:
        raise MlcError(f"tensor '{name}' has type {type_name}, which mlc does not support")
    if any(d < 0 for d in shape):
        raise MlcError(f"tensor '{name}' has a dynamic or negative shape {shape}; export the model with fixed shapes")
    values = None
    raw = _buffer_bytes(model, model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None, data, name)
    if raw:
        if dtype not in _DTYPES.values():
            raise MlcError(f"tensor '{name}' has unsupported type {type_name}")
        need = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        if len(raw) != need:
            raise MlcError(f"constant tensor '{name}' holds {len(raw)} bytes but its shape {shape} needs {need}")
        values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    elif int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize > MAX_ACTIVATION_BYTES:
        raise MlcError(f"tensor '{name}' of shape {shape} needs over {MAX_ACTIVATION_BYTES >> 20} MB; "
                       "that is far beyond a microcontroller (a corrupt file?)")
    return Tensor(index=i, name=name, shape=shape, dtype=dtype, quant=_read_quant(t, name, shape, values is not None),
                  data=values, variable=bool(t.IsVariable()))


def _op_kind(model, op) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return "CUSTOM:" + (code.CustomCode() or b"?").decode(errors="replace")
    return tflite.opcode2name(builtin)


def parse(data: bytes, path: str) -> Graph:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise MlcError(f"{path}: not a TFLite model (no TFL3 identifier); give a .tflite file from TensorFlow's converter")
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise MlcError(f"{path}: the model has no subgraph")
    sg = model.Subgraphs(0)
    try:
        tensors = [_read_tensor(model, sg, i, data) for i in range(sg.TensorsLength())]
    except MlcError as err:
        raise MlcError(f"{path}: {err}") from None

    def pick(indices, where: str, optional: bool = False) -> list:
        """Tensors by index; -1 marks an omitted optional input; anything else out of range is corruption."""
        picked = []
        for j in indices:
            if optional and j == -1:
                picked.append(None)
            elif 0 <= j < len(tensors):
                picked.append(tensors[j])
            else:
                raise MlcError(f"{path}: {where} refers to tensor {j}, but the model has {len(tensors)} tensors (corrupt file?)")
        return picked

    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if not 0 <= op.OpcodeIndex() < model.OperatorCodesLength():
            raise MlcError(f"{path}: layer {i} has operator code {op.OpcodeIndex()} of {model.OperatorCodesLength()} (corrupt file?)")
        kind = _op_kind(model, op)
        ins = pick(op.InputsAsNumpy(), f"layer {i} ({kind})", optional=True) if op.InputsLength() else []
        outs = pick(op.OutputsAsNumpy(), f"layer {i} ({kind})") if op.OutputsLength() else []
        try:
            options = _read_custom_options(op) if kind.startswith("CUSTOM:") else _read_options(op)
        except MlcError as err:
            raise MlcError(f"{path}: layer {i} ({kind}): {err}") from None
        ops.append(Op(index=i, kind=kind, inputs=ins, outputs=outs, options=options))
    inputs = pick(sg.InputsAsNumpy(), "the model input list") if sg.InputsLength() else []
    outputs = pick(sg.OutputsAsNumpy(), "the model output list") if sg.OutputsLength() else []
    return Graph(name=Path(path).stem, path=str(path), tensors=tensors, ops=ops, inputs=inputs, outputs=outputs,
                 signature_names=_signature_names(model))


def _signature_names(model) -> dict:
    """The first signature's names of the model's inputs and outputs (the converter's tensor names are
    'serving_default_x:0' and 'StatefulPartitionedCall:1'; the signature keeps the Keras layer names)."""
    if not model.SignatureDefsLength():
        return {}
    sig = model.SignatureDefs(0)
    maps = [sig.Inputs(i) for i in range(sig.InputsLength())] + [sig.Outputs(i) for i in range(sig.OutputsLength())]
    return {m.TensorIndex(): m.Name().decode("utf-8", errors="replace") for m in maps if m.Name()}


def read(path, float_model: bool = False) -> Graph:
    """Read and fold a .tflite model (codegen.ops.load also derives its parameters); every user-facing
    problem raises MlcError naming the file. float_model=True reads a float32 model for the quantizer
    instead, and refuses quantized ones."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise MlcError(f"{path}: cannot read the model ({err.strerror})") from None
    try:
        graph = parse(data, path)
    except MlcError:
        raise
    except Exception as err:  # the flatbuffer accessors fail in many ways on corrupt input
        raise MlcError(f"{path}: corrupt or truncated .tflite file ({type(err).__name__}); re-export the model") from None
    try:
        fold(graph)
    except MlcError as err:
        raise MlcError(f"{path}: {err}") from None
    if float_model:
        _check_float(graph)
    else:
        _check_io(graph)
    _check_dataflow(graph)
    return graph


def _check_dataflow(graph: Graph) -> None:
    """Every layer writes a tensor and reads only constants, model inputs or earlier layers' outputs."""
    written = {id(t) for t in graph.inputs} | {id(t) for t in graph.tensors if t.variable}  # state: the op's own
    for op in graph.ops:
        if not op.outputs:
            raise MlcError(f"{graph.path}: layer {op.index} ({op.kind}) has no output (corrupt file?)")
        for t in op.inputs:
            if t is not None and not t.is_const and id(t) not in written:
                raise MlcError(f"{graph.path}: layer {op.index} ({op.kind}) reads tensor '{t.name}' before any layer "
                               "writes it (corrupt file, or layers out of order)")
        for t in op.outputs:
            if t.is_const or id(t) in written:
                raise MlcError(f"{graph.path}: layer {op.index} ({op.kind}) overwrites tensor '{t.name}' (corrupt file?)")
            written.add(id(t))
    for t in graph.inputs + [t for op in graph.ops for t in op.outputs]:
        if t.size == 0:
            raise MlcError(f"{graph.path}: tensor '{t.name}' has an empty shape {t.shape} (corrupt file?)")
    for t in graph.outputs:
        if id(t) not in written:
            raise MlcError(f"{graph.path}: model output '{t.name}' is never written (corrupt file?)")


def _check_io(graph: Graph) -> None:
    if not graph.inputs or not graph.outputs:
        raise MlcError(f"{graph.path}: the model has no inputs or no outputs")
    # Model inputs and outputs of other dtypes (int32, ...) are refused per layer by codegen.ops.prepare, which
    # names the op that reads or writes them; `mlc inspect` still shows the model.
    quantized = [t for t in graph.tensors if not t.is_const and (t.dtype == "int8" or (t.dtype == "int16" and t.quant is not None))]
    # float32 constants belong only to float32 layers (the islands between DEQUANTIZE and QUANTIZE)
    float_weights = [op for op in graph.ops if any(t is not None and t.is_const and t.dtype == "float32" and t.size > 1 for t in op.inputs)
                     and not any(t is not None and not t.is_const and t.dtype == "float32" for t in op.inputs)]
    if not quantized:
        if any(t.is_const and t.dtype == "int8" for t in graph.tensors):
            raise MlcError(f"{graph.path}: hybrid model (float activations, int8 weights); convert it with full-integer "
                           "int8 quantization (a representative dataset)")
        raise MlcError(f"{graph.path}: float-only model; convert it with full-integer int8 quantization (a representative dataset)")
    if float_weights:
        op = float_weights[0]
        raise MlcError(f"{graph.path}: layer {op.index} ({op.kind}) has float32 weights (a hybrid or float model); "
                       "convert with full-integer int8 quantization")


def _check_float(graph: Graph) -> None:
    if not graph.inputs or not graph.outputs:
        raise MlcError(f"{graph.path}: the model has no inputs or no outputs")
    quantized = next((t for t in graph.tensors if t.dtype != "float32" and not t.is_const), None)
    if quantized is not None:
        raise MlcError(f"{graph.path}: tensor '{quantized.name}' is {quantized.dtype}; the quantizer takes a float32 "
                       "model (an int8 model goes straight to `mlc build`)")
