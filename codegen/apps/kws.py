"""The keyword-spotting app's configuration (what `mlc build/simulate/verify --app kws` agree on), its
checks of the model against the front end, the record it sends per inference, and the wav reader.

The pipeline, the same in the firmware (templates/app/kws) and its twin (hostsim.apps.kws):

- audio: 16 kHz int16 mono, in chunks of any size; a window of the front end's frame length (480 samples,
  30 ms) every `hop` samples (320, 20 ms); the front end's noise estimate is never reset while streaming.
- a ring of the model's `ring_frames` (49) feature frames, oldest first, that starts filled with the model's
  input zero point (-128 for micro_speech: quantized 0.0, the least feature, and exactly what the front end
  gives for digital silence);
- the model after every `every`-th frame (frame counts K, 2K, ...); every inference is one record;
- TFLM's old RecognizeCommands (micro_speech before Oct 2023), fed only once the ring holds real frames
  only (frame count >= ring_frames): integer mean of score + 128 over the results of the last
  `average_window_ms`, no decision below `minimum_count` results or a span under a quarter window, a
  detection when the top mean > `threshold` and (a new label, or more than `suppression_ms` since the
  last; label 0, silence, never suppresses); its queue holds 50 results and drops a new one when full,
  as TFLM's does. An event is reported only for the labels in `keywords`.
- time of a frame = the end of its window in ms, from the samples consumed: ((n - 1) * hop + window) *
  1000 // rate for the n-th frame. No clock is read.
"""
from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codegen.errors import MlcError

SAMPLE_RATE = 16000
HOP = 320  # 20 ms
DEFAULT_EVERY = 1
AVERAGE_WINDOW_MS = 1000
THRESHOLD = 200
SUPPRESSION_MS = 1500
MINIMUM_COUNT = 3
MAX_RESULTS = 50  # TFLM's PreviousResultsQueue::kMaxResults
NO_LABEL = 0xFF  # a record's label or event field when there is none
RECORD_HEADER = struct.Struct("<IIB")  # record index, first feature frame's index, feature frames
RECORD_TRAILER = struct.Struct("<BBB")  # detector's label, its score (mean + 128, 0..255), event label
MAX_CHUNK = 2048  # sample frames in one SAMPLES request the firmware accepts


@dataclass(frozen=True)
class KwsConfig:
    labels: tuple
    keywords: tuple  # label indices that may fire an event
    window: int  # samples per front end frame
    features: int  # int8 features per frame
    ring_frames: int
    silence: int  # the ring's initial value
    every: int = DEFAULT_EVERY
    hop: int = HOP
    sample_rate: int = SAMPLE_RATE
    average_window_ms: int = AVERAGE_WINDOW_MS
    threshold: int = THRESHOLD
    suppression_ms: int = SUPPRESSION_MS
    minimum_count: int = MINIMUM_COUNT
    max_results: int = MAX_RESULTS

    def frame_time_ms(self, count: int) -> int:
        """The end of the count-th frame's window (count from 1), in ms of audio."""
        return ((count - 1) * self.hop + self.window) * 1000 // self.sample_rate

    def record_bytes(self) -> int:
        return RECORD_HEADER.size + self.every * self.features + len(self.labels) + RECORD_TRAILER.size

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "KwsConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class Record:
    """One inference: the feature frames since the previous record, the posteriors and the detector."""
    index: int
    first_frame: int
    features: np.ndarray  # (every, features) int8
    posteriors: np.ndarray  # (labels,) int8
    label: int  # the detector's label, NO_LABEL before it is fed
    score: int
    event: int  # the label that fired, NO_LABEL if none

    @classmethod
    def parse(cls, payload: bytes, cfg: KwsConfig) -> "Record":
        if len(payload) != cfg.record_bytes():
            raise MlcError(f"a kws record of {len(payload)} bytes, expected {cfg.record_bytes()}: the firmware "
                           "was built with other settings")
        index, first, n = RECORD_HEADER.unpack_from(payload)
        at = RECORD_HEADER.size
        feats = np.frombuffer(payload, np.int8, n * cfg.features, at).reshape(n, cfg.features)
        at += n * cfg.features
        post = np.frombuffer(payload, np.int8, len(cfg.labels), at)
        label, score, event = RECORD_TRAILER.unpack_from(payload, at + len(cfg.labels))
        return cls(index, first, feats, post, label, score, event)

    def time_ms(self, cfg: KwsConfig) -> int:
        return cfg.frame_time_ms(self.first_frame + len(self.features))

    def row(self, cfg: KwsConfig) -> dict:
        """The CSV row (and REC line fields): time_ms, the detector's label and score, the event."""
        return {"time_ms": self.time_ms(cfg), "label": "-" if self.label == NO_LABEL else cfg.labels[self.label],
                "score": self.score, "event": "" if self.event == NO_LABEL else cfg.labels[self.event]}


def configure(frontend, graph, labels=None, keywords=None, every: int = DEFAULT_EVERY) -> KwsConfig:
    """The app's settings for a front end record and a model graph; MlcError (one line) if they do not fit."""
    inp, out = graph.inputs[0], graph.outputs[0]
    f = frontend.num_channels
    where = Path(graph.path).name
    if inp.dtype != "int8" or inp.size % f or frontend.output_dtype != "int8":
        raise MlcError(f"{where}: input '{inp.name}' is {inp.dtype} {tuple(inp.shape)}, but the front end "
                       f"{Path(frontend.path).name} gives {f} {frontend.output_dtype} features per frame: the model "
                       f"must take int8 frames x {f} features")
    if out.dtype != "int8" or len(graph.outputs) != 1:
        raise MlcError(f"{where}: output '{out.name}' is {out.dtype}; the kws app reads int8 posteriors")
    n = out.size
    labels = tuple(labels) if labels else tuple(f"class{i}" for i in range(n))
    if len(labels) != n:
        raise MlcError(f"{len(labels)} labels for the model's {n} outputs")
    if keywords is None:  # every label but silence (0) and unknown
        kw = tuple(i for i, s in enumerate(labels) if i and s.strip("_").lower() != "unknown")
    else:
        missing = [k for k in keywords if k not in labels]
        if missing:
            raise MlcError(f"--keywords: {missing[0]!r} is not a label (labels: {', '.join(labels)})")
        kw = tuple(sorted({labels.index(k) for k in keywords}))
    ring = inp.size // f
    if not 1 <= every <= ring:
        raise MlcError(f"--every {every}: run the model every 1..{ring} frames")
    zero = int(np.asarray(inp.quant.zero_point).reshape(-1)[0]) if inp.quant is not None else 0
    return KwsConfig(labels=labels, keywords=kw, window=frontend.frame_length, features=f, ring_frames=ring,
                     silence=zero, every=every)


# --- wav input ---------------------------------------------------------------------------------------
WAV_PCM, WAV_FLOAT, WAV_EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A wav file as int16 mono samples. Accepted as is: PCM 16-bit mono at `rate`. Converted: several
    channels -> the floor of their mean; 8-bit unsigned -> (v - 128) * 256; 24/32-bit PCM -> the top 16
    bits (arithmetic shift); 32/64-bit float -> round(v * 32768) clamped to int16. Refused with one line:
    other sample rates (mlc does not resample), other encodings, broken files."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise MlcError(f"{path}: cannot read the wav ({err.strerror})") from None
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MlcError(f"{path}: not a wav file (no RIFF/WAVE header)")
    chunks, at = {}, 12
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        chunks.setdefault(cid, data[at + 8:at + 8 + size])
        at += 8 + size + (size & 1)
    if b"fmt " not in chunks or b"data" not in chunks or len(chunks[b"fmt "]) < 16:
        raise MlcError(f"{path}: a wav without a fmt or data chunk")
    tag, channels, file_rate, _, block, bits = struct.unpack_from("<HHIIHH", chunks[b"fmt "])
    if tag == WAV_EXTENSIBLE and len(chunks[b"fmt "]) >= 26:
        tag = struct.unpack_from("<H", chunks[b"fmt "], 24)[0]
    if file_rate != rate:
        raise MlcError(f"{path}: {file_rate} Hz audio; the kws app takes {rate} Hz (resample it first, "
                       f"e.g. sox {Path(path).name} -r {rate} out.wav)")
    kinds = {(WAV_PCM, 8): "u1", (WAV_PCM, 16): "<i2", (WAV_PCM, 32): "<i4", (WAV_FLOAT, 32): "<f4",
             (WAV_FLOAT, 64): "<f8"}
    raw = chunks[b"data"]
    if channels < 1 or (tag, bits) not in kinds and (tag, bits) != (WAV_PCM, 24):
        raise MlcError(f"{path}: {bits}-bit {'float' if tag == WAV_FLOAT else f'format {tag}'} wav with "
                       f"{channels} channel(s) is not supported (PCM 8/16/24/32-bit or float 32/64-bit)")
    width = bits // 8
    raw = raw[:len(raw) // (width * channels) * width * channels]
    if bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 16  # sign from the top byte, top 16 bits kept
    else:
        v = np.frombuffer(raw, kinds[(tag, bits)])
        if tag == WAV_FLOAT:
            v = np.clip(np.round(v.astype(np.float64) * 32768), -32768, 32767)
        elif bits == 8:
            v = (v.astype(np.int32) - 128) * 256
        elif bits == 32:
            v = v >> 16
    v = v.astype(np.int64).reshape(-1, channels)
    return (v.sum(axis=1) // channels).astype(np.int16)  # floor of the mean for several channels


def write_wav(path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """A mono 16-bit PCM wav (for tests and examples)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
