"""The anomaly app's pipeline in numpy, bit-exact with templates/app/anomaly/app.c.j2 (the arithmetic is
documented in codegen/apps/anomaly.py).

    stream = Stream(graph, cfg)          # or Stream(None, cfg) for features only (training)
    records = stream.feed(samples)       # int16 (n, 3), any n: the same records whatever the chunking
    log_features(windows, cfg)           # int32 (N, 3 * bands): log2 band energies in Q5 (training's features)
"""
from __future__ import annotations

import numpy as np

from codegen.apps.anomaly import (AXES, FEATURE_SHIFT, FLAG_ALARM, FLAG_OVER, HANN_FRAC_BITS, LOG_FRAC_BITS,
                                  SCORE_DIFF_BITS, SCORE_FRAC_BITS, AnomalyConfig, ModelQuant, Record, band_edges,
                                  hann_q15, model_quant)
from hostsim.frontend.fft import fft_auto_scale, rfft_q15
from hostsim.runner import run


def _sat16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -32768, 32767)


def log2_q(x: np.ndarray) -> np.ndarray:
    """log2 of uint64 values in Q5: (bit length - 1) << 5 plus the 5 bits below the leading one; 0 for 0."""
    x = np.asarray(x, np.uint64)
    top = np.zeros(x.shape, np.int64)
    v = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = v >= np.uint64(1 << shift)
        top += np.where(big, shift, 0)
        v = np.where(big, v >> np.uint64(shift), v)
    mask = (1 << LOG_FRAC_BITS) - 1
    down = np.maximum(top - LOG_FRAC_BITS, 0).astype(np.uint64)
    up = np.maximum(LOG_FRAC_BITS - top, 0).astype(np.uint64)
    frac = ((x >> down) << up).astype(np.int64) & mask
    return np.where(x == 0, 0, (top << LOG_FRAC_BITS) + frac)


def log_features(windows: np.ndarray, cfg: AnomalyConfig) -> np.ndarray:
    """Windows int16 (N, window, 3) -> log2 band energies in Q5, int32 (N, 3 * bands), axis-major."""
    w = np.asarray(windows, np.int64).transpose(0, 2, 1)  # (N, 3, window)
    mean = w.sum(axis=-1, keepdims=True) >> cfg.window_log2  # floor, as the C's arithmetic shift
    centred = _sat16(w - mean)
    x = _sat16((centred * hann_q15(cfg.window).astype(np.int64)) >> HANN_FRAC_BITS)
    scaled, bits = fft_auto_scale(x)
    re, im = rfft_q15(scaled, cfg.window)
    energy = (re.astype(np.int64) ** 2 + im.astype(np.int64) ** 2).astype(np.uint64)
    edges = band_edges(cfg)
    bands = np.stack([energy[..., a:b].sum(axis=-1, dtype=np.uint64) for a, b in zip(edges[:-1], edges[1:])], axis=-1)
    logs = log2_q(bands) - (2 * bits.astype(np.int64) << LOG_FRAC_BITS)[..., None]
    return logs.reshape(len(w), -1).astype(np.int32)


def quantize_features(logs: np.ndarray, quant: ModelQuant) -> np.ndarray:
    q = quant.in_zp + ((np.asarray(logs, np.int64) * quant.feature_mult + (1 << (FEATURE_SHIFT - 1))) >> FEATURE_SHIFT)
    return np.clip(q, -128, 127).astype(np.int8)


def scores(features: np.ndarray, outputs: np.ndarray, quant: ModelQuant) -> np.ndarray:
    m_in, m_out = quant.score_mults
    d = (features.astype(np.int64) - quant.in_zp) * m_in - (outputs.astype(np.int64) - quant.out_zp) * m_out
    total = (d * d).sum(axis=-1)
    shift = 2 * SCORE_DIFF_BITS - SCORE_FRAC_BITS
    return np.minimum(total // (features.shape[-1] << shift), 2 ** 32 - 1)


class Detector:
    """N of the last M windows over the threshold raise the alarm; K consecutive not over clear it."""

    def __init__(self, cfg: AnomalyConfig):
        self.cfg = cfg
        self.history = 0
        self.alarm = False
        self.below = 0

    def step(self, over: int) -> tuple[int, int]:
        cfg = self.cfg
        self.history = ((self.history << 1) | over) & ((1 << cfg.alarm_m) - 1)
        event = 0
        if not self.alarm:
            if bin(self.history).count("1") >= cfg.alarm_n:
                self.alarm, self.below, event = True, 0, 1
        else:
            self.below = 0 if over else self.below + 1
            if self.below >= cfg.clear_k:
                self.alarm, self.history, event = False, 0, 2
        return over * FLAG_OVER | (FLAG_ALARM if self.alarm else 0), event


class Stream:
    """The device's state machine: samples in (any chunking), one Record per completed window."""

    def __init__(self, graph, cfg: AnomalyConfig):
        self.graph, self.cfg = graph, cfg.check()
        self.quant = model_quant(graph, cfg) if graph is not None else None
        self.reset()

    def reset(self) -> None:
        self.buffer = np.zeros((0, AXES), np.int16)
        self.buffer_start = 0  # absolute index of buffer[0]
        self.consumed = 0
        self.next_window = 0
        self.detector = Detector(self.cfg)
        self.alarm_class = 0

    def windows(self, samples: np.ndarray) -> np.ndarray:
        """Append samples; the newly completed windows (K, window, 3)."""
        cfg = self.cfg
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, np.int16).reshape(-1, AXES)])
        self.consumed += len(samples)
        count = max(0, (self.consumed - cfg.window) // cfg.hop + 1 - self.next_window)
        starts = (self.next_window + np.arange(count)) * cfg.hop - self.buffer_start
        out = self.buffer[starts[:, None] + np.arange(cfg.window)] if count else np.zeros((0, cfg.window, AXES), np.int16)
        self.next_window += count
        drop = self.next_window * cfg.hop - self.buffer_start
        self.buffer, self.buffer_start = self.buffer[drop:], self.buffer_start + drop
        return out

    def feed(self, samples: np.ndarray) -> list[Record]:
        """Samples int16 (n, 3); in features-in mode int8 model inputs (n, features)."""
        first = self.next_window
        if self.cfg.features_in:
            features = np.asarray(samples, np.int8).reshape(-1, self.cfg.features_in)
            self.next_window += len(features)
            self.consumed += len(features)
        else:
            windows = self.windows(samples)
            features = quantize_features(log_features(windows, self.cfg), self.quant) if len(windows) else windows
        if not len(features):
            return []
        out = run(self.graph, features.reshape(len(features), *self.graph.inputs[0].shape[1:])).reshape(len(features), -1)
        if self.cfg.classifier:
            best = out.argmax(axis=-1)  # the first of equal scores, as the C's strict >
            s = out[np.arange(len(out)), best].astype(np.int64) + 128
            over = (best != self.cfg.normal_class) & (s > self.cfg.threshold)
        else:
            best = np.zeros(len(out), np.int64)
            s = scores(features, out, self.quant)
            over = s > self.cfg.threshold
        records = []
        for k, (f, score) in enumerate(zip(features, s)):
            flags, event = self.detector.step(int(over[k]))
            if event == 1:
                self.alarm_class = int(best[k])
            cls = self.alarm_class if flags & FLAG_ALARM else int(best[k])
            records.append(Record(first + k, f.tobytes(), int(score), flags, event, cls))
        return records


def simulate(graph, cfg: AnomalyConfig, samples: np.ndarray, block: int = 1 << 16) -> list[Record]:
    """Every record of a whole recording (fed in blocks to bound memory)."""
    stream = Stream(graph, cfg)
    out = []
    for start in range(0, len(samples), block):
        out += stream.feed(samples[start:start + block])
    return out


def all_log_features(samples: np.ndarray, cfg: AnomalyConfig, block: int = 1 << 16) -> np.ndarray:
    """log_features of every window of a recording (int32 (N, features))."""
    stream = Stream(None, cfg)
    parts = [log_features(w, cfg) for start in range(0, len(samples), block)
             if len(w := stream.windows(samples[start:start + block]))]
    return np.concatenate(parts) if parts else np.zeros((0, cfg.features), np.int32)
