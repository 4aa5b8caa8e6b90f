"""The one graph IR that hostsim, the memory planner and the C emitter all consume.

Tensors carry static shapes and TFLite-style quantization; ops carry their TFLite options plus
`params`: the integer parameters (multipliers, shifts, offsets, clamps, padding) derived once by
codegen.ops so that the simulator and the generated C use the very same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel along `axis`."""

    scale: np.ndarray  # float32, shape (n,)
    zero_point: np.ndarray  # int64, shape (n,)
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def zp(self) -> int:
        """The zero point of a per-tensor quantized tensor."""
        return int(self.zero_point[0])

    @property
    def s(self) -> float:
        """The scale of a per-tensor quantized tensor (as float32, like TFLite keeps it)."""
        return self.scale[0]


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: str  # numpy dtype name: int8, int16, int32, float32, ...
    quant: Quant | None = None
    data: np.ndarray | None = None  # constant tensors (weights, biases, shapes)
    variable: bool = False  # state an op keeps across invokes (LSTM, SVDF): written by the op that reads it
    view: tuple | None = None  # (whole Tensor, byte offset): rows of another tensor, in its bytes (patches)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def reset_value(self) -> np.ndarray:
        """A state tensor's value before the first invoke and after a reset, as TFLM's
        ResetVariableTensors writes it: int8 filled with its zero point, every other dtype with 0."""
        fill = self.quant.zp if self.dtype == "int8" and self.quant is not None else 0
        return np.full(self.shape, fill, self.dtype)


@dataclass
class Op:
    index: int
    kind: str  # TFLite builtin name, e.g. CONV_2D
    inputs: list  # Tensor or None (optional inputs)
    outputs: list
    options: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    macs: int = 0  # multiply-accumulates of one inference, set with params by codegen.ops.prepare


@dataclass
class Graph:
    name: str
    path: str
    tensors: list
    ops: list
    inputs: list
    outputs: list
    unsupported: list = field(default_factory=list)  # (op index, kind, reason)
    signature_names: dict = field(default_factory=dict)  # tensor index -> its name in the model's signature
    # a graph split into patches (codegen.lower.patches): op index -> the model's layer whose whole output
    # it writes, op index -> (model layer, band, bands, first row, end row) for the band ops, and op index ->
    # the row moves due before it: (row buffer tensor, from byte, bytes), moved to the buffer's first byte
    origin: dict = field(default_factory=dict)
    bands: dict = field(default_factory=dict)
    moves: dict = field(default_factory=dict)
    overlay: tuple | None = None  # (input, output, gap): the output may start gap bytes before the input

    def state_tensors(self) -> list:
        """The variable tensors the layers read and update in place, kept from one invoke to the next."""
        seen = {}
        for op in self.ops:
            for t in op.inputs:
                if t is not None and t.variable:
                    seen.setdefault(t.index, t)
        return list(seen.values())

    def consumers(self, tensor: Tensor) -> list:
        return [op for op in self.ops if any(t is tensor for t in op.inputs)]
