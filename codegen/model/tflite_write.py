"""Write .tflite flatbuffers (the `tflite` schema through `flatbuffers`), weights inline (or, for tests of
the readers, after the flatbuffer, as ai-edge-quantizer stores large models).

`Writer` is the serialisation core: tensors as dicts, buffers as bytes, operators with their builtin
options table; tests/tflite_builder.py builds single-op test models on it. `write_graph` writes an mlc
IR graph (the quantizer's output), options as codegen.model.tflite reads them.
"""
from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
import tflite

from codegen.model.ir import Graph

TFL_TYPES = {"int8": tflite.TensorType.INT8, "int16": tflite.TensorType.INT16,
             "int32": tflite.TensorType.INT32, "int64": tflite.TensorType.INT64,
             "float32": tflite.TensorType.FLOAT32, "uint8": tflite.TensorType.UINT8, "bool": tflite.TensorType.BOOL}
# The builtin options table of each op kind the writer emits (ops without options have none).
OPTIONS_TABLES = {"CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
                  "FULLY_CONNECTED": "FullyConnectedOptions", "AVERAGE_POOL_2D": "Pool2DOptions",
                  "MAX_POOL_2D": "Pool2DOptions", "ADD": "AddOptions", "MUL": "MulOptions",
                  "SOFTMAX": "SoftmaxOptions", "RESHAPE": "ReshapeOptions",
                  "CONCATENATION": "ConcatenationOptions", "PAD": "PadOptions", "PADV2": "PadV2Options",
                  "MEAN": "ReducerOptions", "QUANTIZE": "QuantizeOptions", "DEQUANTIZE": "DequantizeOptions",
                  "SQUEEZE": "SqueezeOptions", "EXPAND_DIMS": "ExpandDimsOptions",
                  "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions"}


@dataclass
class WrittenOp:
    code: int  # tflite.BuiltinOperator value
    inputs: list  # tensor indices, -1 for an omitted optional input
    outputs: list
    options: tuple | None  # (OptionsTableName, {FieldName: value})


class Writer:
    """One subgraph's tensors and operators; `finish()` serialises the model."""

    def __init__(self, description: str):
        self.description = description
        self._tensors: list[dict] = []
        self._buffers: list[bytes] = [b""]  # buffer 0 is the empty sentinel
        self._ops: list[WrittenOp] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []

    def add_tensor(self, shape, dtype: str, scale=None, zero_point=None, axis=None, data=None, name=None,
                   variable: bool = False) -> int:
        """A tensor (a constant when data is given; a variable: state an op keeps across invokes); scale and
        zero_point per tensor or per channel along axis."""
        buf = 0
        if data is not None:
            arr = np.asarray(data, dtype)
            assert arr.size == int(np.prod(shape)), (arr.shape, shape)
            self._buffers.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
            buf = len(self._buffers) - 1
        idx = len(self._tensors)
        self._tensors.append(dict(shape=[int(s) for s in shape], dtype=dtype, buffer=buf, scale=scale,
                                  zero_point=zero_point, axis=axis, name=name or f"t{idx}",
                                  variable=variable))
        return idx

    def add_input(self, index: int) -> None:
        self._inputs.append(index)

    def add_output(self, index: int) -> None:
        self._outputs.append(index)

    def add_op(self, kind: str, inputs, outputs, options=None) -> None:
        self._ops.append(WrittenOp(getattr(tflite.BuiltinOperator, kind), list(inputs), list(outputs), options))

    def finish(self, external_buffers: bool = False) -> bytes:
        """The model; external_buffers stores each constant after the flatbuffer (16-byte aligned), the buffer
        giving its offset from the file's start and its size, instead of inline."""
        if not external_buffers:
            return self._serialise(None)
        size = len(self._serialise([1 << 40] * len(self._buffers)))  # fixed-width fields: same size either way
        offsets, end = [], size
        for data in self._buffers:
            end = (end + 15) // 16 * 16
            offsets.append(end)
            end += len(data)
        model = bytearray(self._serialise(offsets))
        assert len(model) == size
        for offset, data in zip(offsets, self._buffers):
            model += bytes(offset - len(model)) + data
        return bytes(model)

    def _serialise(self, offsets) -> bytes:
        assert self._inputs and self._outputs, "declare inputs and outputs"
        fb = flatbuffers.Builder(1024)

        def vec(start_fn, items, prepend):
            start_fn(fb, len(items))
            for it in reversed(items):
                prepend(it)
            return fb.EndVector()

        def ivec(values, dtype=np.int32):
            return fb.CreateNumpyVector(np.asarray(values, dtype).ravel())

        def table(name, fields):
            fields = {k: (ivec(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
                      for k, v in fields.items()}
            getattr(tflite, name + "Start")(fb)
            for k, v in fields.items():
                getattr(tflite, f"{name}Add{k}")(fb, v)
            return getattr(tflite, name + "End")(fb)

        # Buffers (data 16-byte aligned, as the converter does).
        buffers = []
        for i, data in enumerate(self._buffers):
            dvec = None
            if data and offsets is not None:
                tflite.BufferStart(fb)
                tflite.BufferAddOffset(fb, offsets[i])
                tflite.BufferAddSize(fb, len(data))
                buffers.append(tflite.BufferEnd(fb))
                continue
            if data:
                fb.StartVector(1, len(data), 16)
                fb.head -= len(data)
                fb.Bytes[fb.head:fb.head + len(data)] = data
                fb.vectorNumElems = len(data)
                dvec = fb.EndVector()
            tflite.BufferStart(fb)
            if dvec is not None:
                tflite.BufferAddData(fb, dvec)
            buffers.append(tflite.BufferEnd(fb))

        tensors = []
        for t in self._tensors:
            quant = None
            if t["scale"] is not None:
                q = dict(Scale=fb.CreateNumpyVector(np.atleast_1d(t["scale"]).astype(np.float32)),
                         ZeroPoint=fb.CreateNumpyVector(np.atleast_1d(t["zero_point"]).astype(np.int64)))
                if t["axis"]:
                    q["QuantizedDimension"] = t["axis"]
                quant = table("QuantizationParameters", q)
            name, shape = fb.CreateString(t["name"]), ivec(t["shape"])
            tflite.TensorStart(fb)
            tflite.TensorAddShape(fb, shape)
            tflite.TensorAddType(fb, TFL_TYPES[t["dtype"]])
            tflite.TensorAddBuffer(fb, t["buffer"])
            tflite.TensorAddName(fb, name)
            if t["variable"]:
                tflite.TensorAddIsVariable(fb, True)
            if quant is not None:
                tflite.TensorAddQuantization(fb, quant)
            tensors.append(tflite.TensorEnd(fb))

        codes = sorted({op.code for op in self._ops})
        operators = []
        for op in self._ops:
            opts = table(*op.options) if op.options else None
            ins, outs = ivec(op.inputs), ivec(op.outputs)
            tflite.OperatorStart(fb)
            tflite.OperatorAddOpcodeIndex(fb, codes.index(op.code))
            tflite.OperatorAddInputs(fb, ins)
            tflite.OperatorAddOutputs(fb, outs)
            if opts is not None:
                tflite.OperatorAddBuiltinOptionsType(fb, getattr(tflite.BuiltinOptions, op.options[0]))
                tflite.OperatorAddBuiltinOptions(fb, opts)
            operators.append(tflite.OperatorEnd(fb))

        sg_fields = dict(
            Tensors=vec(tflite.SubGraphStartTensorsVector, tensors, fb.PrependUOffsetTRelative),
            Inputs=ivec(self._inputs), Outputs=ivec(self._outputs),
            Operators=vec(tflite.SubGraphStartOperatorsVector, operators, fb.PrependUOffsetTRelative),
            Name=fb.CreateString("main"))
        tflite.SubGraphStart(fb)
        for k, v in sg_fields.items():
            getattr(tflite, "SubGraphAdd" + k)(fb, v)
        subgraph = tflite.SubGraphEnd(fb)

        opcodes = [table("OperatorCode", dict(DeprecatedBuiltinCode=min(c, 127), BuiltinCode=c, Version=1))
                   for c in codes]
        m_fields = dict(
            OperatorCodes=vec(tflite.ModelStartOperatorCodesVector, opcodes, fb.PrependUOffsetTRelative),
            Subgraphs=vec(tflite.ModelStartSubgraphsVector, [subgraph], fb.PrependUOffsetTRelative),
            Description=fb.CreateString(self.description),
            Buffers=vec(tflite.ModelStartBuffersVector, buffers, fb.PrependUOffsetTRelative))
        tflite.ModelStart(fb)
        tflite.ModelAddVersion(fb, 3)
        for k, v in m_fields.items():
            getattr(tflite, "ModelAdd" + k)(fb, v)
        fb.Finish(tflite.ModelEnd(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def _options_table(kind: str, options: dict) -> tuple | None:
    """IR options (snake_case, as the reader makes them) as a schema table: (TableName, {FieldName: value})."""
    name = OPTIONS_TABLES.get(kind)
    if name is None or not options:  # no table: the op's defaults (as the converter leaves some RESHAPEs)
        return None
    fields = {}
    for key, value in options.items():
        if key == "activation":
            key, value = "fused_activation_function", getattr(tflite.ActivationFunctionType, value)
        elif key == "padding":
            value = getattr(tflite.Padding, value)
        field = "".join(part.capitalize() for part in key.split("_"))
        if not hasattr(tflite, f"{name}Add{field}"):
            raise ValueError(f"{kind}: option '{key}' is not a field of {name}")
        fields[field] = value
    return name, fields


def write_graph(graph: Graph, description: str = "mlc quantize", external_buffers: bool = False) -> bytes:
    """The graph as a .tflite flatbuffer: every tensor an op or the model touches, constants inline (or after
    the flatbuffer: Writer.finish)."""
    writer = Writer(description)
    used = {id(t): t for op in graph.ops for t in op.inputs + op.outputs if t is not None}
    used.update({id(t): t for t in graph.inputs + graph.outputs})
    index = {}
    for t in graph.tensors:
        if id(t) not in used:
            continue
        q = t.quant
        index[id(t)] = writer.add_tensor(
            t.shape, t.dtype, scale=None if q is None else q.scale, zero_point=None if q is None else q.zero_point,
            axis=None if q is None else q.axis, data=t.data, name=t.name, variable=t.variable)
    for op in graph.ops:
        writer.add_op(op.kind, [-1 if t is None else index[id(t)] for t in op.inputs],
                      [index[id(t)] for t in op.outputs], _options_table(op.kind, op.options))
    for t in graph.inputs:
        writer.add_input(index[id(t)])
    for t in graph.outputs:
        writer.add_output(index[id(t)])
    return writer.finish(external_buffers)
