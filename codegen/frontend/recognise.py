"""Recognise TFLM's Signal-op audio preprocessing graph in a .tflite file and read it into a Frontend record.

The graph is walked in file order as a symbolic interpretation: every tensor gets a tag saying which stage of
the front end it holds ("windowed", "spectrum", "energy", ...), and every op must turn the tags of its inputs
into the next stage. So the same graph with other options and constants (channels, window, FFT length,
smoothing, PCAN and log settings, the int32 glue's constants) is read, and anything else is refused with one
line naming the layer, the op and the option. TFLM's kernels read custom options by position in the sorted
flexbuffer map, so a stage's option set must be exactly the expected one.
"""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.frontend.params import (FilterBank, Frontend, Log, Pcan, SpectralSubtraction, Step, Window,
                                     frozen)
from codegen.model.ir import Graph, Op, Tensor

INT16_TYPE = 7  # tflite.TensorType.INT16: SignalRfft's "T"
MAX_FFT_LENGTH = 4096
PCAN_LUT_MIN = 125  # WideDynamicFunction indexes up to 4 * 32 - 6 + 2 for a 32-bit noise estimate
INT32 = (-(1 << 31), (1 << 31) - 1)
# The stage outputs hostsim.frontend returns, named as here (the int32 glue's steps are "step <i>").
STAGE_OUTPUTS = ("windowed", "scaled frame", "scale bits", "spectrum", "energy", "kept energy", "filter bank",
                 "square root", "subtracted", "noise estimate", "pcan", "log", "features")
GLUE_OPS = ("MUL", "ADD", "SUB", "DIV", "MINIMUM", "MAXIMUM")
OPTIONS = {
    "CUSTOM:SignalWindow": {"shift"},
    "CUSTOM:SignalFftAutoScale": set(),
    "CUSTOM:SignalRfft": {"T", "fft_length"},
    "CUSTOM:SignalEnergy": {"start_index", "end_index"},
    "CUSTOM:SignalFilterBank": {"num_channels"},
    "CUSTOM:SignalFilterBankSquareRoot": set(),
    "CUSTOM:SignalFilterBankSpectralSubtraction": {
        "alternate_one_minus_smoothing", "alternate_smoothing", "clamping", "min_signal_remaining", "num_channels",
        "one_minus_smoothing", "smoothing", "smoothing_bits", "spectral_subtraction_bits"},
    "CUSTOM:SignalPCAN": {"snr_shift"},
    "CUSTOM:SignalFilterBankLog": {"input_correction_bits", "output_scale"},
}


def truncating_div(a, b: int):
    """C's integer division (rounds toward zero), as TFLM's int32 DIV does; a is an int or an int64 array."""
    q = np.abs(a) // abs(b)
    return np.where((np.asarray(a) < 0) == (b < 0), q, -q)


class _Refused(Exception):
    """A problem with one layer; recognise() adds the file, the layer and the op."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise _Refused(message)


def _options(op: Op) -> dict:
    want, have = OPTIONS[op.kind], set(op.options)
    _check(have == want, "options " + ", ".join(
        [f"'{k}' missing" for k in sorted(want - have)] + [f"'{k}' unknown" for k in sorted(have - want)]))
    return op.options


def _int_option(options: dict, key: str, lo: int, hi: int) -> int:
    value = options[key]
    _check(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
           f"option {key} = {value!r}: mlc needs an integer in [{lo}, {hi}]")
    return value


def _const(t: Tensor | None, dtype: str, what: str, rank1: bool = True):
    _check(t is not None and t.is_const, f"{what} must be a constant tensor")
    _check(t.dtype == dtype, f"{what} '{t.name}' is {t.dtype}; TFLM reads it as {dtype}")
    _check(not rank1 or len(t.shape) == 1, f"{what} '{t.name}' has shape {t.shape}; it must be 1-D")
    return t.data


def _scalar(t: Tensor | None) -> int | None:
    """The value of a constant int32 scalar (or one-element) tensor, else None."""
    if t is None or not t.is_const or t.dtype != "int32" or t.size != 1:
        return None
    return int(t.data.reshape(-1)[0])


class _Walk:
    """The tags of the tensors seen so far and the parameters gathered from each stage."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.tag = {graph.inputs[0].index: "audio"}
        self.found: dict = {}
        self.tensors: dict = {}
        self.glue_range = (0, 0)

    def expect(self, t: Tensor | None, *tags: str) -> str:
        got = self.tag.get(t.index) if t is not None else None
        _check(got in tags, f"input '{t.name if t else None}' is {got or 'not a front end stage'}; "
                            f"expected the {' or '.join(tags)}")
        return got

    def put(self, t: Tensor, tag: str, dtype: str, size: int | None = None) -> None:
        _check(t.dtype == dtype, f"output '{t.name}' is {t.dtype}; the {tag} is {dtype}")
        _check(size is None or t.size == size, f"output '{t.name}' has shape {t.shape}; the {tag} has {size} values")
        self.tag[t.index] = tag
        if tag in STAGE_OUTPUTS:
            self.tensors[tag] = t.index

    def arity(self, op: Op, n_in: int, n_out: int = 1) -> None:
        _check(len(op.inputs) == n_in and len(op.outputs) == n_out,
               f"{len(op.inputs)} inputs and {len(op.outputs)} outputs; TFLM's kernel takes {n_in} and {n_out}")

    # -- the stages, in pipeline order
    def window(self, op: Op) -> None:
        self.arity(op, 2)
        self.expect(op.inputs[0], "audio")
        options = _options(op)
        weights = _const(op.inputs[1], "int16", "the window weights")
        frame = op.inputs[0].size
        _check(weights.size == frame, f"{weights.size} window weights for a frame of {frame} samples; "
                                      "mlc's fused front end windows one frame")
        self.found["window"] = Window(frozen(weights, "int16"), _int_option(options, "shift", 0, 31))
        self.found["frame_length"] = frame
        self.put(op.outputs[0], "windowed", "int16", frame)

    def reshape(self, op: Op) -> None:
        tag = self.expect(op.inputs[0], "audio", "windowed")
        self.put(op.outputs[0], tag, op.inputs[0].dtype, op.inputs[0].size)

    def fft_auto_scale(self, op: Op) -> None:
        self.arity(op, 1, 2)
        _options(op)
        self.expect(op.inputs[0], "windowed")
        _check(len(op.inputs[0].shape) == 1, f"input shape {op.inputs[0].shape}; TFLM's kernel needs 1-D")
        self.put(op.outputs[0], "scaled frame", "int16", op.inputs[0].size)
        self.put(op.outputs[1], "scale bits", "int32", 1)

    def rfft(self, op: Op) -> None:
        self.arity(op, 1)
        self.expect(op.inputs[0], "scaled frame")
        options = _options(op)
        _check(options["T"] == INT16_TYPE, f"option T = {options['T']}: mlc's front end is the int16 FFT (T = 7)")
        n = _int_option(options, "fft_length", 4, MAX_FFT_LENGTH)
        _check(n & (n - 1) == 0, f"option fft_length = {n}: mlc's fixed-point FFT needs a power of two")
        _check(n >= self.found["frame_length"], f"option fft_length = {n} is shorter than the "
                                                f"{self.found['frame_length']}-sample frame")
        self.found["fft_length"] = n
        self.put(op.outputs[0], "spectrum", "int16", n + 2)

    def energy(self, op: Op) -> None:
        self.arity(op, 1)
        self.expect(op.inputs[0], "spectrum")
        options = _options(op)
        bins = self.found["fft_length"] // 2 + 1
        start = _int_option(options, "start_index", 0, bins - 1)
        self.found["energy"] = (start, _int_option(options, "end_index", start + 1, bins))
        self.found["keep"] = (0, bins)
        self.put(op.outputs[0], "energy", "uint32", bins)

    def cast(self, op: Op) -> None:
        self.arity(op, 1)
        source, out = op.inputs[0], op.outputs[0]
        tag = self.expect(source, "energy", "kept energy (int32)", "log", "glue")
        if tag == "energy":
            self.put(out, "energy (int32)", "int32", source.size)
        elif tag == "kept energy (int32)":
            self.put(out, "kept energy", "uint32", source.size)
        elif tag == "log":
            self.glue_range = (0, (1 << 15) - 1)  # the log is clamped to [0, INT16_MAX]
            self.put(out, "glue", "int32", source.size)
        else:
            lo, hi = self.glue_range
            _check(out.dtype == "int8", f"output '{out.name}' is {out.dtype}; mlc's front end outputs int8")
            _check(-128 <= lo and hi <= 127, f"the int32 values [{lo}, {hi}] would wrap in the cast to int8 "
                                             "(clamp them to [-128, 127] first)")
            self.put(out, "features", "int8", source.size)

    def strided_slice(self, op: Op) -> None:
        self.arity(op, 4)
        self.expect(op.inputs[0], "energy (int32)")
        begin, end, stride = (_scalar(t) for t in op.inputs[1:])
        o = op.options
        _check(None not in (begin, end, stride) and stride == 1 and not any(
            o.get(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask", "offset")),
            "mlc's front end keeps one run of bins: constant begin/end, stride 1, no masks")
        bins = op.inputs[0].size
        _check(0 <= begin < end <= bins, f"slice [{begin}, {end}) is not inside the {bins} bins")
        self.found["slice"] = (begin, end)
        self.put(op.outputs[0], "slice", "int32", end - begin)

    def concatenation(self, op: Op) -> None:
        _check(op.options.get("axis", 0) in (0, -1) and op.options.get("activation", "NONE") == "NONE",
               "mlc's front end concatenates 1-D bins (axis 0, no activation)")
        at, offset = None, 0
        for t in op.inputs:
            if t is not None and self.tag.get(t.index) == "slice":
                _check(at is None, "the slice appears twice")
                at = offset
            else:
                zeros = _const(t, "int32", "the padding around the kept bins")
                _check(not zeros.any(), f"padding '{t.name}' is not all zeros")
            offset += t.size
        _check(at is not None, "no input is the sliced energy")
        begin, end = self.found.pop("slice")
        bins = self.found["fft_length"] // 2 + 1
        _check(at == begin and offset == bins, f"the kept bins land at {at}..{at + end - begin} of {offset}; "
                                               f"mlc needs them where they were ({begin}..{end} of {bins})")
        e0, e1 = self.found["energy"]
        _check(e0 <= begin and end <= e1, f"it keeps bins {begin}..{end}, but SignalEnergy only writes {e0}..{e1}")
        self.found["keep"] = (begin, end)
        self.put(op.outputs[0], "kept energy (int32)", "int32", bins)

    def filter_bank(self, op: Op) -> None:
        self.arity(op, 6)
        self.expect(op.inputs[0], "energy", "kept energy")
        channels = _int_option(_options(op), "num_channels", 1, 1024)
        names = ("weights", "unweights", "channel frequency starts", "channel weight starts", "channel widths")
        tables = [_const(t, "int16", f"the filter bank's {name}") for t, name in zip(op.inputs[1:], names)]
        weights, unweights, starts, weight_starts, widths = tables
        _check(weights.size == unweights.size, f"{weights.size} weights but {unweights.size} unweights")
        for name, table in zip(names[2:], tables[2:]):
            _check(table.size == channels + 1, f"{table.size} {name} for {channels} channels (TFLM reads "
                                               f"{channels + 1})")
        bins = op.inputs[0].size
        unkept = self.tag[op.inputs[0].index] == "energy"  # no glue: bins outside SignalEnergy's are unwritten
        e0, e1 = self.found["energy"]
        for band in range(channels + 1):
            f, s, n = int(starts[band]), int(weight_starts[band]), int(widths[band])
            _check(n >= 0 and 0 <= f and f + n <= bins and 0 <= s and s + n <= weights.size,
                   f"band {band} (bins {f}..{f + n}, weights {s}..{s + n}) reaches outside the {bins} bins or "
                   f"{weights.size} weights")
            _check(not unkept or n == 0 or e0 <= f and f + n <= e1,
                   f"band {band} reads bins {f}..{f + n}, which SignalEnergy leaves unwritten (it computes {e0}..{e1})")
        self.found["filter_bank"] = FilterBank(channels, *(frozen(t, "int16") for t in tables))
        self.put(op.outputs[0], "filter bank", "uint64", channels)

    def square_root(self, op: Op) -> None:
        self.arity(op, 2)
        _options(op)
        self.expect(op.inputs[0], "filter bank")
        self.expect(op.inputs[1], "scale bits")
        self.put(op.outputs[0], "square root", "uint32", self.found["filter_bank"].num_channels)

    def spectral_subtraction(self, op: Op) -> None:
        self.arity(op, 1, 2)
        self.expect(op.inputs[0], "square root")
        options = _options(op)
        channels = self.found["filter_bank"].num_channels
        _check(options["num_channels"] == channels,
               f"option num_channels = {options['num_channels']} but the filter bank has {channels}")
        _check(isinstance(options["clamping"], bool), f"option clamping = {options['clamping']!r} is not a bool")
        u32 = (1 << 31) - 1  # TFLM reads each as int32 into a uint32: negative values are not meant
        self.found["spectral_subtraction"] = SpectralSubtraction(
            **{k: _int_option(options, k, 0, u32) for k in (
                "smoothing", "one_minus_smoothing", "alternate_smoothing", "alternate_one_minus_smoothing",
                "min_signal_remaining")},
            smoothing_bits=_int_option(options, "smoothing_bits", 0, 31),
            spectral_subtraction_bits=_int_option(options, "spectral_subtraction_bits", 0, 63),
            clamping=options["clamping"])
        self.put(op.outputs[0], "subtracted", "uint32", channels)
        self.put(op.outputs[1], "noise estimate", "uint32", channels)

    def pcan(self, op: Op) -> None:
        self.arity(op, 3)
        self.expect(op.inputs[0], "subtracted")
        self.expect(op.inputs[1], "noise estimate")
        lut = _const(op.inputs[2], "int16", "the PCAN gain table")
        _check(lut.size >= PCAN_LUT_MIN, f"the PCAN gain table has {lut.size} entries; TFLM reads up to "
                                         f"{PCAN_LUT_MIN} for 32-bit noise estimates")
        self.found["pcan"] = Pcan(_int_option(_options(op), "snr_shift", 0, 63), frozen(lut, "int16"))
        self.put(op.outputs[0], "pcan", "uint32", self.found["filter_bank"].num_channels)

    def log(self, op: Op) -> None:
        self.arity(op, 1)
        self.expect(op.inputs[0], "pcan")
        options = _options(op)
        self.found["log"] = Log(_int_option(options, "input_correction_bits", 0, 31),
                                _int_option(options, "output_scale", 0, (1 << 31) - 1))
        self.put(op.outputs[0], "log", "int16", self.found["filter_bank"].num_channels)

    def glue(self, op: Op) -> None:
        self.arity(op, 2)
        _check(op.options.get("activation", "NONE") == "NONE", f"fused activation {op.options.get('activation')}")
        a, b = op.inputs
        commutative = op.kind in ("MUL", "ADD", "MINIMUM", "MAXIMUM")
        if commutative and self.tag.get(b.index) == "glue" and _scalar(a) is not None:
            a, b = b, a
        self.expect(a, "glue")
        c = _scalar(b)
        _check(c is not None, f"input '{b.name}' must be a constant int32 scalar")
        lo, hi = self.glue_range
        if op.kind == "DIV":
            _check(c != 0, "division by zero")
        ends = {"MUL": lambda v: v * c, "ADD": lambda v: v + c, "SUB": lambda v: v - c,
                "DIV": lambda v: int(truncating_div(v, c)),
                "MINIMUM": lambda v: min(v, c), "MAXIMUM": lambda v: max(v, c)}[op.kind]
        lo, hi = sorted((ends(lo), ends(hi)))
        _check(INT32[0] <= lo and hi <= INT32[1], f"the values reach [{lo}, {hi}], beyond int32")
        self.glue_range = (lo, hi)
        steps = self.found.setdefault("steps", [])
        steps.append(Step(op.kind, c))
        self.put(op.outputs[0], "glue", "int32", a.size)
        self.tensors[f"step {len(steps) - 1}"] = op.outputs[0].index


HANDLERS = {
    "CUSTOM:SignalWindow": _Walk.window, "RESHAPE": _Walk.reshape, "CUSTOM:SignalFftAutoScale": _Walk.fft_auto_scale,
    "CUSTOM:SignalRfft": _Walk.rfft, "CUSTOM:SignalEnergy": _Walk.energy, "CAST": _Walk.cast,
    "STRIDED_SLICE": _Walk.strided_slice, "CONCATENATION": _Walk.concatenation,
    "CUSTOM:SignalFilterBank": _Walk.filter_bank, "CUSTOM:SignalFilterBankSquareRoot": _Walk.square_root,
    "CUSTOM:SignalFilterBankSpectralSubtraction": _Walk.spectral_subtraction, "CUSTOM:SignalPCAN": _Walk.pcan,
    "CUSTOM:SignalFilterBankLog": _Walk.log, **{kind: _Walk.glue for kind in GLUE_OPS},
}
STAGES = ("window", "fft_length", "energy", "filter_bank", "spectral_subtraction", "pcan", "log")


def recognise(graph: Graph) -> Frontend:
    """The Frontend record of a graph read by codegen.model.tflite.read; MlcError names what mlc cannot fuse."""
    path = graph.path
    if len(graph.inputs) != 1 or len(graph.outputs) != 1 or graph.inputs[0].dtype != "int16":
        raise MlcError(f"{path}: an audio front end has one int16 input and one output")
    walk = _Walk(graph)
    for op in graph.ops:
        handler = HANDLERS.get(op.kind)
        try:
            _check(handler is not None, "is not a stage of mlc's fused audio front end")
            handler(walk, op)
        except _Refused as err:
            raise MlcError(f"{path}: layer {op.index} ({op.kind}): {err}") from None
    missing = [s for s in STAGES if s not in walk.found]
    if missing:
        raise MlcError(f"{path}: not a complete Signal-op front end (no {missing[0].replace('_', ' ')} stage)")
    out = graph.outputs[0]
    if walk.tag.get(out.index) != "features":
        raise MlcError(f"{path}: the model output '{out.name}' is the {walk.tag.get(out.index, 'unknown')}, not the "
                       "int8 features")
    f = walk.found
    return Frontend(path=path, frame_length=f["frame_length"], window=f["window"], fft_length=f["fft_length"],
                    energy_start=f["energy"][0], energy_end=f["energy"][1], keep_start=f["keep"][0],
                    keep_end=f["keep"][1], filter_bank=f["filter_bank"],
                    spectral_subtraction=f["spectral_subtraction"], pcan=f["pcan"], log=f["log"],
                    steps=tuple(f.get("steps", ())), output_dtype="int8", tensors=tuple(walk.tensors.items()))


def load(path) -> Frontend:
    """Read a front end .tflite (custom Signal ops and all) and recognise it."""
    from codegen.model.tflite import read

    return recognise(read(path))
