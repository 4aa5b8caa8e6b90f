"""The numpy twin of mlc's fused audio front end: TFLM's Signal-op preprocessing, bit-exact, streaming.

    fe = codegen.frontend.load("audio_preprocessor_int8.tflite")
    state = State.fresh(fe)                     # the noise estimate, zero as TFLM's Prepare leaves it
    result = run(fe, frames(audio, fe, 320), state)  # (N, 40) int8 features; state moves on N frames
    result.stages["filter bank"]                # every stage's output, stacked, named as fe.tensors

Every stage is one small function over a stack of frames. Only the spectral subtraction's noise estimate
carries from frame to frame, so that stage alone loops over frames; the state is explicit and is never
reset unless the caller makes a fresh one. The arithmetic traps of TFLM's kernels are reproduced, not
fixed (see the stages' docstrings); values are held in int64 / uint64 and wrapped where C stores them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from codegen.frontend.params import Frontend
from codegen.frontend.recognise import truncating_div
from codegen.frontend.tables import LOG_COEFF, LOG_LUT, LOG_SCALE_LOG2, LOG_SEGMENTS_LOG2
from hostsim.frontend.fft import fft_auto_scale, msb32, rfft_q15, wrap16

U32 = 0xFFFFFFFF
PCAN_SNR_BITS = 12  # signal/src/pcan_argc_fixed.h
PCAN_OUTPUT_BITS = 6


@dataclass
class State:
    """What the front end keeps between frames: the spectral subtraction's noise estimate (uint32 per channel)."""

    noise_estimate: np.ndarray

    @classmethod
    def fresh(cls, fe: Frontend) -> "State":
        return cls(np.zeros(fe.num_channels, np.uint32))


@dataclass
class Result:
    features: np.ndarray  # (N, channels) int8
    stages: dict = field(default_factory=dict)  # stage name -> (N, ...) values, in the dtype of TFLM's tensor


def frames(audio: np.ndarray, fe: Frontend, step: int) -> np.ndarray:
    """The (N, frame_length) int16 windows of a 1-D clip, one every `step` samples (whole windows only)."""
    audio = np.asarray(audio, np.int16).reshape(-1)
    n = 0 if audio.size < fe.frame_length else (audio.size - fe.frame_length) // step + 1
    index = np.arange(n)[:, None] * step + np.arange(fe.frame_length)[None, :]
    return audio[index]


def window(fe: Frontend, x: np.ndarray) -> np.ndarray:
    """SignalWindow: (x * w) >> shift in int32, saturated to int16."""
    y = (np.asarray(x, np.int64) * fe.window.weights.astype(np.int64)) >> fe.window.shift
    return np.clip(y, -32768, 32767).astype(np.int16)


def energy(fe: Frontend, re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """SignalEnergy: re^2 + im^2 of the bins [start, end), in int32 (which overflows at (-32768, -32768))
    then read as uint32. TFLM leaves the other bins unwritten; they are 0 here."""
    re, im = re.astype(np.int64), im.astype(np.int64)
    e = np.zeros(re.shape, np.uint32)
    lo, hi = fe.energy_start, fe.energy_end
    e[..., lo:hi] = ((re[..., lo:hi] ** 2 + im[..., lo:hi] ** 2) & U32).astype(np.uint32)
    return e


def keep(fe: Frontend, e: np.ndarray) -> np.ndarray:
    """The int32 glue after SignalEnergy (CAST, STRIDED_SLICE, CONCATENATION with zeros, CAST): bins outside
    [keep_start, keep_end) become 0."""
    out = np.zeros_like(e)
    out[..., fe.keep_start:fe.keep_end] = e[..., fe.keep_start:fe.keep_end]
    return out


def filter_bank(fe: Frontend, e: np.ndarray) -> np.ndarray:
    """SignalFilterBank: uint64 sums of weighted bins; channel c gets band c + 1's weights and band c's
    unweights (TFLM's carry), band 0's weights are dropped with its work area's first slot. A band's sum is the
    difference of two prefix sums over all bands' taps (exact modulo 2^64, as TFLM's uint64 accumulators)."""
    fb = fe.filter_bank
    spans = list(zip(fb.frequency_starts.tolist(), fb.weight_starts.tolist(), fb.widths.tolist()))
    bins = np.array([f + j for f, _, n in spans for j in range(n)], np.int64)
    taps = np.array([s + j for _, s, n in spans for j in range(n)], np.int64)
    ends = np.cumsum([n for _, _, n in spans])
    starts = ends - fb.widths
    e = np.asarray(e, np.uint64)[..., bins]

    def band_sums(weights: np.ndarray) -> np.ndarray:
        terms = e * weights[taps].astype(np.int64).astype(np.uint64)  # int16 widens to uint64 modulo 2^64, as in C
        prefix = np.concatenate([np.zeros((*e.shape[:-1], 1), np.uint64), np.cumsum(terms, axis=-1, dtype=np.uint64)], -1)
        return prefix[..., ends] - prefix[..., starts]

    return band_sums(fb.weights)[..., 1:] + band_sums(fb.unweights)[..., :-1]


def _isqrt(x: np.ndarray) -> np.ndarray:
    return np.frompyfunc(math.isqrt, 1, 1)(x.astype(object))


def square_root(x: np.ndarray, scale_bits: np.ndarray) -> np.ndarray:
    """SignalFilterBankSquareRoot: Sqrt64 rounded to nearest, >> scale_bits. Below 2^32 Sqrt64 falls back to
    Sqrt32, whose uint16 result caps the rounding at 0xFFFF (0xFFFFFFFF above)."""
    x = np.asarray(x, np.uint64)
    root = _isqrt(x)
    cap = np.where(x >> np.uint64(32) == 0, 0xFFFF, U32)
    rounded = np.where((x.astype(object) - root * root > root) & (root != cap), root + 1, root)
    return (rounded.astype(np.uint64) >> np.asarray(scale_bits, np.uint64)[..., None]).astype(np.uint32)


def spectral_subtraction(fe: Frontend, x: np.ndarray, state: State) -> tuple[np.ndarray, np.ndarray]:
    """SignalFilterBankSpectralSubtraction, frame after frame: the noise estimate is smoothed in uint64 from
    the signal shifted up in uint32 (which wraps), subtracted, and floored at min_signal_remaining.
    Returns (signal, noise estimate after each frame); `state` ends at the last frame's estimate."""
    p = fe.spectral_subtraction
    odd = np.arange(fe.num_channels) % 2 == 1
    smoothing = np.where(odd, p.alternate_smoothing, p.smoothing).astype(np.uint64)
    keep_old = np.where(odd, p.alternate_one_minus_smoothing, p.one_minus_smoothing).astype(np.uint64)
    up_bits, bits = np.uint64(p.smoothing_bits), np.uint64(p.spectral_subtraction_bits)
    noise = state.noise_estimate.astype(np.uint64)
    signal, estimates = np.empty(x.shape, np.uint32), np.empty(x.shape, np.uint32)
    for f, row in enumerate(np.asarray(x, np.uint64).reshape(-1, fe.num_channels)):
        scaled_up = (row << up_bits) & np.uint64(U32)
        noise = ((scaled_up * smoothing + noise * keep_old) >> bits) & np.uint64(U32)
        estimate = np.minimum(noise, scaled_up)
        if p.clamping:
            noise = estimate
        floor = ((row * np.uint64(p.min_signal_remaining)) >> bits) & np.uint64(U32)
        signal.reshape(-1, fe.num_channels)[f] = np.maximum((scaled_up - estimate) >> up_bits, floor)
        estimates.reshape(-1, fe.num_channels)[f] = noise
    state.noise_estimate = noise.astype(np.uint32)
    return signal, estimates


def wide_dynamic_gain(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """PCAN's WideDynamicFunction: the gain for a noise estimate from a piecewise quadratic table (int16)."""
    x = np.asarray(x, np.int64)
    lut = lut.astype(np.int64)
    interval = msb32(x)
    base = np.clip(4 * interval - 6, 0, lut.size - 3)
    up = (x << np.clip(11 - interval, 0, 31)) & U32
    frac = np.where(interval < 11, up, x >> np.clip(interval - 11, 0, 31)) & 0x3FF
    r = (lut[base + 2] * frac) >> 5
    r = (r + lut[base + 1] * 32) * frac
    r = ((r + (1 << 14)) >> 15) + lut[base]
    return np.where(x <= 2, lut[np.minimum(x, 2)], wrap16(r))


def pcan(fe: Frontend, x: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """SignalPCAN: signal * gain >> snr_shift in uint64 (the int16 gain widened to uint32, sign and all),
    then PcanShrink's square law below 2 << 12 and linear above."""
    gain = wide_dynamic_gain(noise, fe.pcan.gain_lut) & U32
    snr = ((np.asarray(x, np.uint64) * gain.astype(np.uint64)) >> np.uint64(fe.pcan.snr_shift)).astype(np.int64) & U32
    shrunk = np.where(snr < (2 << PCAN_SNR_BITS), (snr * snr) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS),
                      (snr >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS))
    return (shrunk & U32).astype(np.uint32)


def log(fe: Frontend, x: np.ndarray) -> np.ndarray:
    """SignalFilterBankLog: x << correction bits (uint32, wraps), Log32 by the 7-bit segment table, times
    output_scale in uint32 (which wraps), clamped to INT16_MAX; 0 for inputs <= 1."""
    lut = np.array(LOG_LUT, np.int64)
    scaled = (np.asarray(x, np.int64) << fe.log.input_correction_bits) & U32
    integer = msb32(scaled) - 1
    frac = scaled - (np.int64(1) << np.clip(integer, 0, 31))
    frac = np.where(integer < LOG_SCALE_LOG2, frac << np.clip(LOG_SCALE_LOG2 - integer, 0, 31),
                    frac >> np.clip(integer - LOG_SCALE_LOG2, 0, 31))
    seg = frac >> (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)
    seg = np.clip(seg, 0, lut.size - 2)
    c0, c1 = lut[seg], lut[seg + 1]
    rel = ((c1 - c0) * (frac - (seg << (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)))) >> LOG_SCALE_LOG2
    log2 = ((integer << LOG_SCALE_LOG2) + frac + c0 + rel) & U32
    half = 1 << (LOG_SCALE_LOG2 - 1)
    loge = ((LOG_COEFF * log2 + half) >> LOG_SCALE_LOG2) & U32
    out = (((fe.log.output_scale * loge) + half) & U32) >> LOG_SCALE_LOG2
    return np.where(scaled > 1, np.minimum(out, 32767), 0).astype(np.int16)


def glue(fe: Frontend, x: np.ndarray) -> list:
    """The int32 ops after the log ((x * 256 + 333) / 666 - 128, clamped, in TFLM's micro_speech front end), one
    array per step (the recogniser has checked that none overflows int32)."""
    ops = {"MUL": np.multiply, "ADD": np.add, "SUB": np.subtract, "MINIMUM": np.minimum, "MAXIMUM": np.maximum,
           "DIV": truncating_div}
    values, v = [], np.asarray(x, np.int64)
    for step in fe.steps:
        v = ops[step.op](v, step.constant)
        values.append(v.astype(np.int32))
    return values


def run(fe: Frontend, x: np.ndarray, state: State | None = None) -> Result:
    """The front end on N frames (N, frame_length) int16, in order; `state` (fresh if None) moves on N frames."""
    state = state or State.fresh(fe)
    x = np.asarray(x, np.int16).reshape(-1, fe.frame_length)
    s = {"windowed": window(fe, x)}
    s["scaled frame"], s["scale bits"] = fft_auto_scale(s["windowed"])
    re, im = rfft_q15(s["scaled frame"], fe.fft_length)
    s["spectrum"] = np.stack([re, im], axis=-1).reshape(len(x), -1)
    s["energy"] = energy(fe, re, im)
    s["kept energy"] = keep(fe, s["energy"])
    s["filter bank"] = filter_bank(fe, s["kept energy"])
    s["square root"] = square_root(s["filter bank"], s["scale bits"])
    s["subtracted"], s["noise estimate"] = spectral_subtraction(fe, s["square root"], state)
    s["pcan"] = pcan(fe, s["subtracted"], s["noise estimate"])
    s["log"] = log(fe, s["pcan"])
    for i, values in enumerate(glue(fe, s["log"])):
        s[f"step {i}"] = values
    last = s[f"step {len(fe.steps) - 1}"] if fe.steps else s["log"]
    s["features"] = last.astype(np.int8)
    return Result(features=s["features"], stages=s)
