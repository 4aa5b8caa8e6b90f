"""Write TFLM Signal-op audio front ends as .tflite bytes, for tests (no TensorFlow needed).

    data = preprocessor(frame_length=400, fft_length=512, channels=32)   # the micro_speech graph, other constants
    data = preprocessor(**options_of(codegen.frontend.load(path)))        # the same graph as a file's record

The graph is the one audio_preprocessor_int8.tflite holds (SignalWindow, RESHAPE, SignalFftAutoScale, SignalRfft,
SignalEnergy, the CAST / STRIDED_SLICE / CONCATENATION / CAST that zero unused bins, SignalFilterBank, its
square root, spectral subtraction, PCAN, log, then CAST and the int32 glue to int8). Filter banks are designed
as TFLM's python/tflite_micro/signal/ops/filter_bank_ops.py designs them (mel spacing, 12-bit weights).
"""
from __future__ import annotations

import flatbuffers
import numpy as np
import tflite
from flatbuffers import flexbuffers

_TYPES = {"int8": tflite.TensorType.INT8, "int16": tflite.TensorType.INT16, "int32": tflite.TensorType.INT32,
          "uint32": tflite.TensorType.UINT32, "uint64": tflite.TensorType.UINT64}
MICRO_SPEECH_GLUE = (("MUL", 256), ("ADD", 333), ("DIV", 666), ("ADD", -128), ("MINIMUM", 127), ("MAXIMUM", -128))


def _mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def filter_bank_tables(fft_length: int, channels: int, rate: int = 16000, lower: float = 125.0, upper: float = 7500.0):
    """(start, end, weights, unweights, frequency starts, weight starts, widths), as filter_bank_ops.py makes them."""
    spectrum = fft_length // 2 + 1
    centers = np.float32(_mel(lower)) + np.float32((_mel(upper) - _mel(lower)) / (channels + 1)) * np.arange(
        1, channels + 2, dtype=np.float32)
    hz_per_bin = (rate / 2) / (spectrum - 1)
    start = round(1 + lower / hz_per_bin)
    starts, widths, first = [], [], start
    for band in range(channels + 1):
        f = first
        while _mel(f * hz_per_bin) <= centers[band]:
            f += 1
        starts.append(first)
        widths.append(f - first)
        first = f
    weight_starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int16)
    weights, unweights = np.zeros(sum(widths), np.int16), np.zeros(sum(widths), np.int16)
    for band in range(channels + 1):
        low = _mel(lower) if band == 0 else centers[band - 1]
        for j in range(widths[band]):
            w = np.float32(centers[band] - _mel((starts[band] + j) * hz_per_bin)) / np.float32(centers[band] - low)
            weights[weight_starts[band] + j] = int(w * 4096)
            unweights[weight_starts[band] + j] = int((1 - w) * 4096)
    end = starts[-1] + widths[-1]
    return start, end, weights, unweights, np.array(starts, np.int16), weight_starts, np.array(widths, np.int16)


def micro_speech_gain_lut() -> np.ndarray:
    """PCAN's gain table of TFLM's micro_speech front end (strength 0.95, offset 80, gain bits 21)."""
    from codegen.frontend import load
    from frontend_corpus import PREPROCESSOR

    return load(PREPROCESSOR).pcan.gain_lut


def hann_q12(n: int) -> np.ndarray:
    return np.round(4096 * (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n) + 0.5) / n))).astype(np.int16)


def options_of(fe) -> dict:
    """preprocessor()'s keyword arguments that rebuild a Frontend record's graph."""
    fb, ss = fe.filter_bank, fe.spectral_subtraction
    return dict(frame_length=fe.frame_length, fft_length=fe.fft_length, channels=fb.num_channels,
                window=fe.window.weights, shift=fe.window.shift, energy=(fe.energy_start, fe.energy_end),
                keep=(fe.keep_start, fe.keep_end),
                bank=(fb.weights, fb.unweights, fb.frequency_starts, fb.weight_starts, fb.widths),
                spectral_subtraction={k: getattr(ss, k) for k in ss.__dataclass_fields__},
                snr_shift=fe.pcan.snr_shift, gain_lut=fe.pcan.gain_lut,
                log=(fe.log.input_correction_bits, fe.log.output_scale),
                glue=tuple((s.op, s.constant) for s in fe.steps))


class Graph:
    def __init__(self):
        self.tensors, self.buffers, self.ops = [], [b""], []
        self.inputs, self.outputs = [0], None  # the model's inputs and outputs (default: the last tensor)

    def tensor(self, shape, dtype, data=None, name=None) -> int:
        buffer = 0
        if data is not None:
            self.buffers.append(np.asarray(data, dtype).astype(np.dtype(dtype).newbyteorder("<")).tobytes())
            buffer = len(self.buffers) - 1
        self.tensors.append((list(shape), dtype, buffer, name or f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def const(self, values, dtype) -> int:
        values = np.asarray(values)
        return self.tensor(values.shape, dtype, values)

    def op(self, kind: str, inputs, outputs, options=None):
        self.ops.append((kind, list(inputs), list(outputs), options))
        return outputs[0] if len(outputs) == 1 else outputs

    def finish(self) -> bytes:
        fb = flatbuffers.Builder(4096)
        ivec = lambda v: fb.CreateNumpyVector(np.asarray(v, np.int32))  # noqa: E731

        def offsets(start, items):
            start(fb, len(items))
            for item in reversed(items):
                fb.PrependUOffsetTRelative(item)
            return fb.EndVector()

        buffers = []
        for data in self.buffers:
            vec = fb.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
            tflite.BufferStart(fb)
            if vec is not None:
                tflite.BufferAddData(fb, vec)
            buffers.append(tflite.BufferEnd(fb))
        tensors = []
        for shape, dtype, buffer, name in self.tensors:
            name, shape = fb.CreateString(name), ivec(shape)
            tflite.TensorStart(fb)
            tflite.TensorAddShape(fb, shape)
            tflite.TensorAddType(fb, _TYPES[dtype])
            tflite.TensorAddBuffer(fb, buffer)
            tflite.TensorAddName(fb, name)
            tensors.append(tflite.TensorEnd(fb))
        kinds = sorted({op[0] for op in self.ops})
        operators = []
        for kind, ins, outs, options in self.ops:
            custom = fb.CreateNumpyVector(np.frombuffer(flexbuffers.Dumps(options), np.uint8)) \
                if kind.startswith("Signal") else None
            ins, outs = ivec(ins), ivec(outs)
            tflite.OperatorStart(fb)
            tflite.OperatorAddOpcodeIndex(fb, kinds.index(kind))
            tflite.OperatorAddInputs(fb, ins)
            tflite.OperatorAddOutputs(fb, outs)
            if custom is not None:
                tflite.OperatorAddCustomOptions(fb, custom)
            operators.append(tflite.OperatorEnd(fb))
        codes = []
        for kind in kinds:
            custom = fb.CreateString(kind) if kind.startswith("Signal") else None
            code = tflite.BuiltinOperator.CUSTOM if custom else getattr(tflite.BuiltinOperator, kind)
            tflite.OperatorCodeStart(fb)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(fb, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(fb, code)
            if custom is not None:
                tflite.OperatorCodeAddCustomCode(fb, custom)
            codes.append(tflite.OperatorCodeEnd(fb))
        tensor_vec = offsets(tflite.SubGraphStartTensorsVector, tensors)
        op_vec = offsets(tflite.SubGraphStartOperatorsVector, operators)
        ins, outs = ivec(self.inputs), ivec(self.outputs or [len(self.tensors) - 1])
        tflite.SubGraphStart(fb)
        tflite.SubGraphAddTensors(fb, tensor_vec)
        tflite.SubGraphAddInputs(fb, ins)
        tflite.SubGraphAddOutputs(fb, outs)
        tflite.SubGraphAddOperators(fb, op_vec)
        subgraph = tflite.SubGraphEnd(fb)
        code_vec = offsets(tflite.ModelStartOperatorCodesVector, codes)
        sg_vec = offsets(tflite.ModelStartSubgraphsVector, [subgraph])
        buf_vec = offsets(tflite.ModelStartBuffersVector, buffers)
        tflite.ModelStart(fb)
        tflite.ModelAddVersion(fb, 3)
        tflite.ModelAddOperatorCodes(fb, code_vec)
        tflite.ModelAddSubgraphs(fb, sg_vec)
        tflite.ModelAddBuffers(fb, buf_vec)
        fb.Finish(tflite.ModelEnd(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def preprocessor(frame_length=480, fft_length=512, channels=40, window=None, shift=12, energy=None, keep=None,
                 bank=None, spectral_subtraction=None, snr_shift=6, gain_lut=None, log=(3, 64),
                 glue=MICRO_SPEECH_GLUE, rfft_type=7, extra_options=None) -> bytes:
    """The front end graph's .tflite bytes; anything not given is designed for the given sizes.
    extra_options {op kind: {key: value}} adds or overrides custom options (to make refused variants)."""
    g = Graph()
    design = filter_bank_tables(fft_length, channels)
    energy = energy or design[:2]
    keep = keep or energy
    weights, unweights, starts, weight_starts, widths = bank or design[2:]
    ss = dict(smoothing=409, one_minus_smoothing=15975, alternate_smoothing=983, alternate_one_minus_smoothing=15401,
              min_signal_remaining=819, smoothing_bits=10, spectral_subtraction_bits=14, clamping=False)
    ss.update(spectral_subtraction or {})
    extra = extra_options or {}

    def opts(kind, **values):
        return {**values, **extra.get(kind, {})}

    bins = fft_length // 2 + 1
    x = g.tensor([1, frame_length], "int16", name="audio")
    w = g.op("SignalWindow", [x, g.const(hann_q12(frame_length) if window is None else window, "int16")],
             [g.tensor([1, frame_length], "int16")], opts("SignalWindow", shift=shift))
    w = g.op("RESHAPE", [w, g.const([frame_length], "int32")], [g.tensor([frame_length], "int16")])
    scaled, bits = g.op("SignalFftAutoScale", [w], [g.tensor([frame_length], "int16"), g.tensor([], "int32")],
                        opts("SignalFftAutoScale"))
    spectrum = g.op("SignalRfft", [scaled], [g.tensor([fft_length + 2], "int16")],
                    opts("SignalRfft", T=rfft_type, fft_length=fft_length))
    e = g.op("SignalEnergy", [spectrum], [g.tensor([bins], "uint32")],
             opts("SignalEnergy", start_index=energy[0], end_index=energy[1]))
    e = g.op("CAST", [e], [g.tensor([bins], "int32")])
    kept = g.op("STRIDED_SLICE", [e, g.const([keep[0]], "int32"), g.const([keep[1]], "int32"), g.const([1], "int32")],
                [g.tensor([keep[1] - keep[0]], "int32")])
    e = g.op("CONCATENATION", [g.const(np.zeros(keep[0]), "int32"), kept, g.const(np.zeros(bins - keep[1]), "int32")],
             [g.tensor([bins], "int32")])
    e = g.op("CAST", [e], [g.tensor([bins], "uint32")])
    tables = [g.const(t, "int16") for t in (weights, unweights, starts, weight_starts, widths)]
    fb = g.op("SignalFilterBank", [e, *tables], [g.tensor([channels], "uint64")],
              opts("SignalFilterBank", num_channels=channels))
    root = g.op("SignalFilterBankSquareRoot", [fb, bits], [g.tensor([channels], "uint32")],
                opts("SignalFilterBankSquareRoot"))
    signal, noise = g.op("SignalFilterBankSpectralSubtraction", [root],
                         [g.tensor([channels], "uint32"), g.tensor([channels], "uint32")],
                         opts("SignalFilterBankSpectralSubtraction", num_channels=channels, **ss))
    agc = g.op("SignalPCAN", [signal, noise, g.const(micro_speech_gain_lut() if gain_lut is None else gain_lut, "int16")],
               [g.tensor([channels], "uint32")], opts("SignalPCAN", snr_shift=snr_shift))
    logs = g.op("SignalFilterBankLog", [agc], [g.tensor([channels], "int16")],
                opts("SignalFilterBankLog", input_correction_bits=log[0], output_scale=log[1]))
    v = g.op("CAST", [logs], [g.tensor([channels], "int32")])
    for kind, constant in glue:
        v = g.op(kind, [v, g.const(np.int32(constant), "int32")], [g.tensor([channels], "int32")])
    g.op("CAST", [v], [g.tensor([channels], "int8", name="features")])
    return g.finish()
