"""`mlc quantize` as a library: load a float model, clean it up, calibrate, write the int8 .tflite."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codegen.errors import MlcError
from codegen.model.arrays import per_input
from codegen.model.ir import Graph
from codegen.model.tflite_write import write_graph
from codegen.quantize import adaround as adaround_, cleanup, executor, ranges
from codegen.quantize.equalize import depthwise_separable, equalize as equalize_graph
from codegen.quantize.int8 import quantize_graph, simulate
from codegen.quantize.report import sqnr_db

MIN_SAMPLES = 16


@dataclass
class FloatModel:
    graph: Graph  # NHWC, cleaned up
    input_layouts: tuple = ()  # per input: an ONNX model's data comes "nchw" (or "ncw"), transposed to NHWC
    notes: list = field(default_factory=list)  # an already quantized model: where its arithmetic and TFLite's differ

    @property
    def prequantized(self) -> bool:
        """The model brings its own quantization (ONNX QDQ or QOperator): on its tensors, used as it stands."""
        return any(t.quant is not None for t in self.graph.tensors)

    def inputs(self, x, what: str = "calibration data"):
        """x (one array, or for several inputs a list in order or a dict by input name, as an .npz holds them)
        as the float graph's stacked float32 inputs (N, *input_shape[1:]): an array for a one-input model, else
        a list; checked, with one-line errors for wrong names, shapes, dtypes or values."""
        inputs = self.graph.inputs
        xs = per_input([t.name for t in inputs], x, what)
        layouts = self.input_layouts or ("plain",) * len(inputs)
        stacked = [self._input(t, xi, layout, what) for t, xi, layout in zip(inputs, xs, layouts)]
        if len({len(s) for s in stacked}) > 1:
            raise MlcError(f"{what} stacks different numbers of samples per input ({', '.join(str(len(s)) for s in stacked)})")
        return stacked[0] if len(stacked) == 1 else stacked

    @staticmethod
    def _input(t, x, layout: str, what: str) -> np.ndarray:
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise MlcError(f"{what} is {x.dtype}; it must be float32 values of the model's float input")
        want = tuple(t.shape[1:])  # (H, W, C)
        if layout == "nchw":
            want = (want[2], want[0], want[1])
        elif layout == "ncw":  # held as H = 1
            want = (want[2], want[1])
        note = f" ({layout.upper()}, as the ONNX model takes it)" if layout != "plain" else ""
        if x.ndim == len(want) and x.shape == want:
            x = x[None]
        if x.shape[1:] != want:
            raise MlcError(f"{what} has shape {x.shape}; model input '{t.name}' needs (N, {', '.join(map(str, want))}){note}")
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise MlcError(f"{what} holds NaN or infinite values")
        if layout == "ncw":
            return x.transpose(0, 2, 1)[:, None]
        return x.transpose(0, 2, 3, 1) if layout == "nchw" else x


def load_float(path) -> FloatModel:
    """The float graph of a .tflite, ONNX or Keras model, cleaned up (codegen.quantize.cleanup)."""
    path = str(path)
    if not Path(path).is_file():
        raise MlcError(f"{path}: no such model file")
    suffix = Path(path).suffix.lower()
    if suffix == ".tflite":
        from codegen.model.tflite import read

        model = FloatModel(read(path, float_model=True))
    elif suffix == ".onnx":
        from codegen.quantize.onnx_import import read

        model = FloatModel(*read(path))
    elif suffix in (".keras", ".h5"):
        from codegen.quantize.keras_import import read

        model = FloatModel(read(path))
    else:
        raise MlcError(f"{path}: the quantizer takes a float .tflite, an .onnx or a Keras .keras/.h5 model")
    cleanup.clean(model.graph)
    return model


@dataclass
class Result:
    float_graph: Graph
    int8_graph: Graph
    model: bytes  # the .tflite flatbuffer
    values: dict  # id(float tensor) -> float calibration values
    notes: list = field(default_factory=list)  # where the int8 model's arithmetic and the source model's differ


EQUALIZE = ("auto", "on", "off")


def _score(graph: Graph, int8: Graph, values: dict, xs: list) -> float:
    """Output SQNR of the int8 graph (simulated in float) on the calibration inputs; a classifier's by its
    logits, the SOFTMAX input (the softmax output's fixed 1/256 step hides small differences)."""
    sim = simulate(int8, xs)
    pick = [next((op.inputs[0] for op in g.ops if op.kind == "SOFTMAX" and op.outputs[0] is g.outputs[0]), None)
            for g in (graph, int8)]
    ref, got = (pick[0], pick[1]) if None not in pick else (graph.outputs[0], int8.outputs[0])
    if got.dtype == "float32":  # --float-io: the int8 tensor before the DEQUANTIZE
        got = next(op.inputs[0] for op in int8.ops if op.outputs[0] is got)
    return sqnr_db(values[id(ref)], sim[id(got)])


def quantize(model: FloatModel, calib: np.ndarray | None, method: str | None = None, float_io: bool = False,
             bias_correction: bool = True, equalize: str = "auto", adaround: bool = False) -> Result:
    """The int8 model of `model`. A model that brings its own quantization needs calibration data only for the
    tensors it left unquantized, and keeps its weights as they are (no bias correction, no equalization).
    equalize: "on" applies cross-layer equalization (codegen.quantize.equalize), "off" not, "auto" (for a
    depthwise-separable network, where depthwise channels' ranges spread) quantizes both ways and keeps the one
    whose output SQNR on the calibration data is higher. Elsewhere auto leaves the model as it is: on the
    motor autoencoder equalization raised the calibration SQNR but lowered it on the faulty windows.
    adaround: learn the weights' rounding on the calibration data (codegen.quantize.adaround)."""
    method = method or ranges.DEFAULT_METHOD
    if method not in ranges.CHOICES:
        raise MlcError(f"unknown calibration method '{method}' (choose from {', '.join(ranges.CHOICES)})")
    if equalize not in EQUALIZE:
        raise MlcError(f"unknown equalization choice '{equalize}' (choose from {', '.join(EQUALIZE)})")
    x = None
    if calib is not None:
        x = model.inputs(calib)
        samples = len(x if isinstance(x, np.ndarray) else x[0])
        if samples < MIN_SAMPLES:
            raise MlcError(f"calibration data has {samples} samples; give at least {MIN_SAMPLES} (a few hundred is better)")
        if adaround and not model.prequantized and samples < adaround_.MIN_SAMPLES:
            raise MlcError(f"calibration data has {samples} samples; AdaRound needs at least {adaround_.MIN_SAMPLES} "
                           "(fewer and it fits the rounding to them): give more or leave out --adaround")
    elif not model.prequantized:
        raise MlcError("a float model needs calibration data (--calib X.npy)")
    candidates = [(model.graph, 0)]
    wanted = equalize == "on" or (equalize == "auto" and depthwise_separable(model.graph))
    if wanted and not model.prequantized:
        equalized = equalize_graph(model.graph)
        if equalized[1]:
            candidates = [equalized] if equalize == "on" else candidates + [equalized]
    own = not model.prequantized
    learn = adaround and own and len(candidates) == 1
    best = None
    for graph, equalized_pairs in candidates:
        values = executor.run_all(graph, x) if x is not None else {}
        notes = list(model.notes)
        int8 = quantize_graph(graph, values, method, float_io, bias_correction and own, notes, learn)
        if equalized_pairs:
            notes.append(f"cross-layer equalization rescaled {equalized_pairs} layer pair(s)")
        score = _score(graph, int8, values, x if isinstance(x, list) else [x]) if len(candidates) > 1 else 0.0
        if best is None or score > best[0]:
            best = (score, graph, int8, values, notes)
    _, graph, int8, values, notes = best
    if adaround and own and not learn:  # equalization chosen with nearest rounding; AdaRound only on the choice
        int8 = quantize_graph(graph, values, method, float_io, bias_correction, list(notes), True)
    what = "the model's own quantization" if model.prequantized else method
    return Result(graph, int8, write_graph(int8, f"mlc quantize ({what})"), values, notes)
