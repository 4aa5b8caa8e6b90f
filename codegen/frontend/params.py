"""The audio front end as one typed, frozen parameter record: every constant comes from the .tflite file.

codegen.frontend.recognise builds it from TFLM's Signal-op preprocessing graph; hostsim.frontend runs it
in numpy and codegen.frontend.emit renders it as fused fixed-point C, so both read the very same numbers.
Arrays are read-only numpy arrays of the dtype TFLM's kernels read them as.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frozen(values, dtype) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Window:
    weights: np.ndarray  # int16 (frame_length,)
    shift: int  # (x * w) >> shift, saturated to int16


@dataclass(frozen=True)
class FilterBank:
    num_channels: int
    weights: np.ndarray  # int16: the weight of a bin in its channel
    unweights: np.ndarray  # int16: its weight in the next channel
    frequency_starts: np.ndarray  # int16 (num_channels + 1,): first bin of each band
    weight_starts: np.ndarray  # int16 (num_channels + 1,): its first weight
    widths: np.ndarray  # int16 (num_channels + 1,): bins in the band


@dataclass(frozen=True)
class SpectralSubtraction:
    smoothing: int  # even channels, Q(spectral_subtraction_bits)
    one_minus_smoothing: int
    alternate_smoothing: int  # odd channels
    alternate_one_minus_smoothing: int
    min_signal_remaining: int
    smoothing_bits: int
    spectral_subtraction_bits: int
    clamping: bool


@dataclass(frozen=True)
class Pcan:
    snr_shift: int
    gain_lut: np.ndarray  # int16, the wide-dynamic-range function's segments


@dataclass(frozen=True)
class Log:
    input_correction_bits: int
    output_scale: int


@dataclass(frozen=True)
class Step:
    """One int32 glue op after the log: value = op(value, constant)."""

    op: str  # MUL, ADD, SUB, DIV (truncating), MINIMUM, MAXIMUM
    constant: int


@dataclass(frozen=True)
class Frontend:
    path: str
    frame_length: int  # int16 samples in
    window: Window
    fft_length: int
    energy_start: int  # SignalEnergy computes bins [energy_start, energy_end)
    energy_end: int
    keep_start: int  # bins the int32 glue keeps; the others are zeroed
    keep_end: int
    filter_bank: FilterBank
    spectral_subtraction: SpectralSubtraction
    pcan: Pcan
    log: Log
    steps: tuple  # of Step, the int32 glue from the log's int16 to the int8 output
    output_dtype: str  # int8
    tensors: tuple  # ((stage, tensor index in the file), ...): where TFLM keeps each stage's output

    @property
    def spectrum(self) -> int:
        return self.fft_length // 2 + 1

    @property
    def num_channels(self) -> int:
        return self.filter_bank.num_channels

    @property
    def live_bins(self) -> tuple[int, int]:
        """The bins the filter bank sees non-zero: computed by SignalEnergy and kept by the glue."""
        return max(self.energy_start, self.keep_start), min(self.energy_end, self.keep_end)

    @property
    def state_bytes(self) -> int:
        return 4 * self.num_channels  # the spectral subtraction's uint32 noise estimate
