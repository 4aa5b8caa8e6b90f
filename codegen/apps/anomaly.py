"""The anomaly app (`--app anomaly`): its parameters, the integer arithmetic both twins share, its records,
recordings and threshold files. The firmware is templates/app/anomaly/app.c.j2, the numpy twin
hostsim/apps/anomaly.py; this module holds what both take from one place.

The pipeline, per window of WINDOW sample frames every HOP frames (3 axes, int16 counts):

1. per axis, the window's mean (sum >> log2(WINDOW), an arithmetic shift: floor) is subtracted (saturating),
   which removes gravity and sensor offset;
2. a periodic Hann window in Q15: (x * w) >> 15, saturated to int16;
3. TFLM's SignalFftAutoScale (its MaxAbs16 quirks included) and the project's one fixed-point real FFT
   (hostsim/frontend/fft.py's rfft_q15, templates/frontend/rfft_q15.c.j2), WINDOW points;
4. per bin energy re^2 + im^2 (uint32; it cannot wrap: 2 * 2^30), summed into BANDS log-spaced bands (uint64);
5. a log: log2 of each band energy in Q5 (LOG_FRAC_BITS) -- the bit length less one, then the next five bits
   below the leading one as the fraction (a linear interpolation of log2 between powers of two), 0 for 0 --
   less 2 * scale_bits (the auto scale multiplied the amplitudes by 2^scale_bits), so a feature is
   log2(band energy) in Q5 independent of the auto scale;
6. quantized to the model's int8 input: zp + ((L * FEATURE_MULT + 2^15) >> 16), clamped, FEATURE_MULT =
   round(2^16 / (32 * input scale));
7. the int8 autoencoder (the generated model library's invoke);
8. the score: in steps of the coarser of the model's input and output scales (s_ref), each feature's error is
   d = (in - zp_in) * M_in - (out - zp_out) * M_out with M = round(64 * s / s_ref) (so d is in s_ref / 64),
   and score = floor(sum d^2 / (n_features * 2^8)): 16 x the mean squared error in s_ref steps (uint32);
9. over = score > threshold; the alarm rises when ALARM_N of the last ALARM_M windows are over and clears
   after CLEAR_K consecutive windows not over (the over-history is emptied on clearing).

A window's time is the end of its last sample frame: (index * HOP + WINDOW) * 1000 // RATE ms, from the samples
consumed, never from a clock.

Classifier mode (labels given; the model's output is one int8 score per class, e.g. a softmax): the score is
the top class's output less -128 (0..255; the first of equal scores wins), a window is over the threshold when its
top class is not the normal class and its score exceeds the threshold, the same N-of-M / K rule raises and clears
the alarm, and the alarm is named by the class of the window that raised it.

"Features in" mode (features_in = n > 0, e.g. MLPerf Tiny's ad01 with its 640 log-mel features): the host sends
the model's int8 inputs themselves, n bytes per SAMPLES frame; steps 1-6 are skipped, 7-9 are the same.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codegen.errors import MlcError

AXES = 3
HANN_FRAC_BITS = 15
LOG_FRAC_BITS = 5
FEATURE_SHIFT = 16
SCORE_DIFF_BITS = 6  # d is in s_ref / 2^6
SCORE_FRAC_BITS = 4  # score = 2^4 x the mean squared error in s_ref steps
EVENTS = ("-", "alarm", "clear")
FLAG_OVER = 1
FLAG_ALARM = 2
MAX_CHUNK = 128  # sample frames per SAMPLES request the firmware's receive buffer holds
DEFAULT_CHUNK = 64


@dataclass(frozen=True)
class AnomalyConfig:
    """What a build fixes (stored in mlc.json's app_config and in the threshold file)."""
    rate_hz: int = 1600
    counts_per_g: int = 4096
    window: int = 256
    hop: int = 128
    bands: int = 16  # per axis
    low_hz: float = 10.0
    threshold: int = 0
    alarm_n: int = 3
    alarm_m: int = 5
    clear_k: int = 25
    features_in: int = 0  # > 0: "features in" mode, the host sends this many int8 model inputs per record
    labels: tuple = ()  # a classifier's class names (classifier mode: the model's output is one score per class)
    normal_class: int = 0  # the class that is normal operation (never alarms)

    def check(self) -> "AnomalyConfig":
        if self.features_in:
            if not 1 <= self.features_in <= 4096:
                raise MlcError(f"features in: {self.features_in} features per record; 1 to 4096 are supported")
            return self._check_decision()
        if self.window < 16 or self.window > 1024 or self.window & (self.window - 1):
            raise MlcError(f"--window {self.window}: must be a power of two from 16 to 1024")
        if not 0 < self.hop <= self.window:
            raise MlcError(f"--hop {self.hop}: must be from 1 to the window ({self.window})")
        edges = band_edges(self)
        if len(edges) - 1 != self.bands:
            raise MlcError(f"{self.bands} bands do not fit between {self.low_hz:g} Hz and {self.rate_hz / 2:g} Hz "
                           f"at {self.window}-point resolution ({self.rate_hz / self.window:g} Hz per bin)")
        return self._check_decision()

    def _check_decision(self) -> "AnomalyConfig":
        if self.labels and not 0 <= self.normal_class < len(self.labels):
            raise MlcError(f"normal class {self.normal_class}: the classifier has {len(self.labels)} classes")
        if any(not label or any(c.isspace() for c in label) for label in self.labels):
            raise MlcError(f"class labels must be non-empty words without spaces: {list(self.labels)}")
        if self.rate_hz <= 0:
            raise MlcError(f"--rate {self.rate_hz}: must be positive")
        if not 1 <= self.alarm_n <= self.alarm_m <= 32:
            raise MlcError(f"alarm when N of M windows: need 1 <= N ({self.alarm_n}) <= M ({self.alarm_m}) <= 32")
        if self.clear_k < 1:
            raise MlcError(f"clear after K windows: K ({self.clear_k}) must be at least 1")
        if not 0 <= self.threshold < 2 ** 32:
            raise MlcError(f"threshold {self.threshold} must fit a uint32")
        return self

    @property
    def classifier(self) -> bool:
        return bool(self.labels)

    @property
    def features(self) -> int:
        return self.features_in or AXES * self.bands

    @property
    def frame_bytes(self) -> int:
        """Bytes of one SAMPLES frame: a sample of each axis, or (features in) one record's features."""
        return self.features_in or AXES * 2

    @property
    def max_chunk(self) -> int:
        """Frames per SAMPLES request the firmware's receive buffer holds."""
        return max(1, MAX_CHUNK * AXES * 2 // self.frame_bytes)

    @property
    def window_log2(self) -> int:
        return self.window.bit_length() - 1

    def time_ms(self, index) -> np.ndarray | int:
        return (np.asarray(index, np.int64) * self.hop + self.window) * 1000 // self.rate_hz

    @property
    def windows_per_hour(self) -> float:
        return 3600.0 * self.rate_hz / self.hop


def band_edges(cfg: AnomalyConfig) -> list[int]:
    """FFT bin edges of the bands: log-spaced from low_hz to the Nyquist bin (inclusive), each at least one bin;
    band b is bins [edges[b], edges[b + 1])."""
    bin_hz = cfg.rate_hz / cfg.window
    first = max(1, int(round(cfg.low_hz / bin_hz)))
    last = cfg.window // 2 + 1
    edges = [first]
    for k in range(1, cfg.bands + 1):
        want = int(round(first * (last / first) ** (k / cfg.bands)))
        edges.append(min(last, max(edges[-1] + 1, want)))
    while len(edges) > 1 and edges[-1] == edges[-2]:
        edges.pop()
    return edges


def hann_q15(n: int) -> np.ndarray:
    """The periodic Hann window in Q15: floor(0.5 + 32767 * (0.5 - 0.5 cos(2 pi i / n)))."""
    i = np.arange(n, dtype=np.float64)
    return np.floor(0.5 + 32767 * (0.5 - 0.5 * np.cos(2 * math.pi * i / n))).astype(np.int16)


@dataclass(frozen=True)
class ModelQuant:
    """The model's quantization as the pipeline uses it (int8 in, int8 out, n_features each)."""
    features: int
    in_scale: float
    in_zp: int
    out_scale: float
    out_zp: int
    outputs: int = 0  # a classifier's classes (0: an autoencoder, output the size of the input)

    @property
    def feature_mult(self) -> int:
        return int(round(2 ** FEATURE_SHIFT / (2 ** LOG_FRAC_BITS * self.in_scale)))

    @property
    def score_mults(self) -> tuple[int, int]:
        ref = max(self.in_scale, self.out_scale)
        return (max(1, int(round(2 ** SCORE_DIFF_BITS * self.in_scale / ref))),
                max(1, int(round(2 ** SCORE_DIFF_BITS * self.out_scale / ref))))

    @property
    def score_step(self) -> float:
        """One score unit as a real mean squared error (in the model's feature units squared)."""
        return max(self.in_scale, self.out_scale) ** 2 / 2 ** SCORE_FRAC_BITS


def model_quant(graph, cfg: AnomalyConfig | None = None) -> ModelQuant:
    """The int8 autoencoder's input/output parameters, checked against the pipeline (one-line errors)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise MlcError(f"{graph.path}: the anomaly app needs a model with one input and one output")
    x, y = graph.inputs[0], graph.outputs[0]
    n_in, n_out = int(np.prod(x.shape[1:])), int(np.prod(y.shape[1:]))
    for t in (x, y):
        if t.dtype != "int8" or t.quant is None:
            raise MlcError(f"{graph.path}: tensor '{t.name}' is {t.dtype}; the anomaly app needs int8 input and output "
                           "(quantize it: mlc quantize MODEL --calib X.npy)")
    if cfg is not None and cfg.classifier and n_out != len(cfg.labels):
        raise MlcError(f"{graph.path}: the model has {n_out} outputs and {len(cfg.labels)} class labels were given")
    if n_in != n_out and (cfg is None or not cfg.classifier):
        raise MlcError(f"{graph.path}: input has {n_in} values and output {n_out}; the anomaly app needs an "
                       "autoencoder (output the size of its input), or --labels for a classifier")
    if cfg is not None and cfg.features_in and n_in != cfg.features_in:
        raise MlcError(f"{graph.path}: the model takes {n_in} features, not {cfg.features_in}")
    if cfg is not None and n_in != cfg.features:
        raise MlcError(f"{graph.path}: the model takes {n_in} features; the pipeline makes {cfg.features} "
                       f"({AXES} axes x {cfg.bands} bands): give --bands {n_in // AXES} or the model trained for it")
    return ModelQuant(n_in, float(np.ravel(x.quant.s)[0]), int(np.ravel(x.quant.zp)[0]),
                      float(np.ravel(y.quant.s)[0]), int(np.ravel(y.quant.zp)[0]),
                      n_out if cfg is not None and cfg.classifier else 0)


@dataclass(frozen=True)
class Record:
    """One window, as the device sends it (MSG_RECORD) and hostsim computes it."""
    index: int
    features: bytes  # the model's int8 input
    score: int
    flags: int  # FLAG_OVER | FLAG_ALARM
    event: int  # index into EVENTS
    cls: int = 0  # a classifier's class: the window's top class; while alarmed, the class that raised the alarm

    def payload(self) -> bytes:
        return (self.index.to_bytes(4, "little") + self.features + self.score.to_bytes(4, "little")
                + bytes([self.flags, self.event, self.cls]))

    def label(self, cfg: AnomalyConfig) -> str:
        """normal/anomaly; for a classifier the alarm's class, or the normal class."""
        if cfg.classifier:
            return cfg.labels[self.cls if self.flags & FLAG_ALARM else cfg.normal_class]
        return "anomaly" if self.flags & FLAG_ALARM else "normal"

    def event_name(self, cfg: AnomalyConfig) -> str:
        """'', 'alarm' (for a classifier: the class that raised it) or 'clear'."""
        if self.event == 1 and cfg.classifier:
            return cfg.labels[self.cls]
        return "" if self.event == 0 else EVENTS[self.event]

    def row(self, cfg: AnomalyConfig) -> dict:
        return {"time_ms": int(cfg.time_ms(self.index)), "label": self.label(cfg), "score": self.score,
                "event": self.event_name(cfg)}


def record_bytes(features: int) -> int:
    return 4 + features + 4 + 3


def decode_record(payload: bytes, features: int) -> Record:
    if len(payload) != record_bytes(features):
        raise MlcError(f"a record of {len(payload)} bytes; this app's records have {record_bytes(features)}")
    score = int.from_bytes(payload[4 + features:8 + features], "little")
    return Record(int.from_bytes(payload[:4], "little"), bytes(payload[4:4 + features]), score,
                  payload[8 + features], payload[9 + features], payload[10 + features])


# -- recordings ------------------------------------------------------------------------------------------------

def read_recording(path, rate_hz: int) -> np.ndarray:
    """A recording as int16 (N, 3): .npy int16 (N, 3), .csv with columns x,y,z (and optional t in seconds),
    or a 3-channel 16-bit .wav; one-line errors for anything else (shape, dtype, rate, non-numbers)."""
    path = Path(path)
    if not path.is_file():
        raise MlcError(f"{path}: no such recording")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise MlcError(f"{path}: not a readable .npy ({err})") from None
        if x.dtype != np.int16:
            raise MlcError(f"{path}: samples are {x.dtype}; the anomaly app takes int16 accelerometer counts "
                           "(N, 3)")
    elif suffix == ".csv":
        x = _read_csv(path, rate_hz)
    elif suffix == ".wav":
        x = _read_wav(path, rate_hz)
    else:
        raise MlcError(f"{path}: recordings are .npy (int16, (N, 3)), .csv (x,y,z[,t]) or 3-channel .wav")
    if x.ndim != 2 or x.shape[1] != AXES:
        raise MlcError(f"{path}: shape {x.shape}; the anomaly app takes (N, {AXES}) samples (x, y, z)")
    return np.ascontiguousarray(x, np.int16)


def read_features(path, quant: ModelQuant) -> np.ndarray:
    """Features-in recordings: .npy (N, n) of int8 model inputs, or float features quantized here with the
    model's input scale and zero point (round half to even, clamped)."""
    path = Path(path)
    if not path.is_file():
        raise MlcError(f"{path}: no such feature file")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise MlcError(f"{path}: not a readable .npy of features ({err})") from None
    x = x.reshape(len(x), -1) if x.ndim > 2 else x
    if x.ndim != 2 or x.shape[1] != quant.features:
        raise MlcError(f"{path}: shape {x.shape}; features in takes (N, {quant.features}), the model's input")
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            raise MlcError(f"{path}: NaN or infinite features")
        return np.clip(np.round(x / quant.in_scale) + quant.in_zp, -128, 127).astype(np.int8)
    if x.dtype != np.int8:
        raise MlcError(f"{path}: features are {x.dtype}; give int8 model inputs or float features")
    return x


def read_feed(path, cfg: AnomalyConfig, quant: ModelQuant) -> np.ndarray:
    """What the app streams: accelerometer samples, or (features in) int8 features."""
    return read_features(path, quant) if cfg.features_in else read_recording(path, cfg.rate_hz)


def _read_csv(path: Path, rate_hz: int) -> np.ndarray:
    lines = path.read_text().splitlines()
    if not lines:
        raise MlcError(f"{path}: empty csv")
    header = [h.strip().lower() for h in lines[0].split(",")]
    if not {"x", "y", "z"} <= set(header):
        raise MlcError(f"{path}: the csv needs a header with columns x,y,z (and optionally t); it has {lines[0]!r}")
    cols = [header.index(c) for c in ("x", "y", "z")]
    t_col = header.index("t") if "t" in header else None
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            values = [float(cells[c]) for c in cols] + ([float(cells[t_col])] if t_col is not None else [])
        except (ValueError, IndexError):
            raise MlcError(f"{path}: line {n}: not a number in {line!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise MlcError(f"{path}: line {n}: NaN or infinite value in {line!r}")
        rows.append(values)
    data = np.array(rows, np.float64).reshape(-1, len(cols) + (t_col is not None))
    xyz = data[:, :3]
    if np.any(xyz != np.round(xyz)) or np.any(np.abs(xyz) > 32768) or np.any(xyz == 32768):
        raise MlcError(f"{path}: x,y,z must be integer int16 counts (-32768..32767)")
    if t_col is not None and len(data) > 1:
        rate = (len(data) - 1) / (data[-1, 3] - data[0, 3]) if data[-1, 3] > data[0, 3] else 0.0
        if abs(rate - rate_hz) > 0.01 * rate_hz:
            raise MlcError(f"{path}: the t column says {rate:.1f} Hz; the app is built for {rate_hz} Hz (--rate)")
    return xyz.astype(np.int16)


def _read_wav(path: Path, rate_hz: int) -> np.ndarray:
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(frames)
    except (wave.Error, EOFError) as err:
        raise MlcError(f"{path}: not a readable .wav ({err})") from None
    if width != 2:
        raise MlcError(f"{path}: {8 * width}-bit samples; the anomaly app takes 16-bit")
    if channels != AXES:
        raise MlcError(f"{path}: {channels} channels; the anomaly app takes {AXES} (x, y, z)")
    if rate != rate_hz:
        raise MlcError(f"{path}: sampled at {rate} Hz; the app is built for {rate_hz} Hz (--rate)")
    return np.frombuffer(data, "<i2").reshape(-1, channels)


# -- threshold files -------------------------------------------------------------------------------------------

def model_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def write_threshold_file(path, model_path, cfg: AnomalyConfig, extra: dict) -> None:
    doc = {"model": Path(model_path).name, "model_sha256": model_digest(model_path), "config": asdict(cfg), **extra}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def read_threshold_file(path, model_path) -> tuple[AnomalyConfig, dict]:
    """The configuration a threshold file holds, refused if it was calibrated for another model."""
    try:
        doc = json.loads(Path(path).read_text())
        cfg = AnomalyConfig(**{**doc["config"], "labels": tuple(doc["config"].get("labels", ()))})
        digest = doc["model_sha256"]
    except OSError as err:
        raise MlcError(f"{path}: cannot read the threshold file ({err.strerror})") from None
    except (ValueError, KeyError, TypeError):
        raise MlcError(f"{path}: not a threshold file written by `mlc calibrate` or train.py") from None
    if digest != model_digest(model_path):
        raise MlcError(f"{path}: calibrated for model {doc.get('model', '?')} (sha256 {digest}), not for "
                       f"{Path(model_path).name}: run `mlc calibrate {model_path} --normal REC ...` again")
    return cfg.check(), doc


FRAME_OVERHEAD = 8  # the protocol's header and CRC (codegen.device.protocol, firmware/common/mlc_protocol.h)


def app_ram(cfg: AnomalyConfig) -> dict:
    """The firmware's own static buffers (bytes), as templates/app/anomaly/app.c.j2 declares them."""
    rx = {"receive buffer": FRAME_OVERHEAD + 4 + cfg.max_chunk * cfg.frame_bytes, "features in/out": 2 * cfg.features}
    if cfg.features_in:
        return rx
    return {"sample ring": cfg.window * AXES * 2, "window": cfg.window * 2, "spectrum": (cfg.window // 2 + 1) * 4, **rx}


def c_context(cfg: AnomalyConfig, quant: ModelQuant) -> dict:
    """The template variables of templates/app/anomaly/app.c.j2 (besides the FFT's)."""
    from codegen.csyntax import c_array_body

    m_in, m_out = quant.score_mults
    tables = {} if cfg.features_in else dict(edges=c_array_body(band_edges(cfg), "uint16_t"),
                                              hann=c_array_body(hann_q15(cfg.window), "int16_t"))
    labels = ", ".join(f'"{label}"' for label in cfg.labels)
    return dict(cfg=cfg, **tables, feature_mult=quant.feature_mult, frame_bytes=cfg.frame_bytes, labels=labels,
                in_zp=quant.in_zp, out_zp=quant.out_zp, m_in=m_in, m_out=m_out, record_bytes=record_bytes(cfg.features),
                max_chunk=cfg.max_chunk, hann_frac_bits=HANN_FRAC_BITS, log_frac_bits=LOG_FRAC_BITS,
                feature_shift=FEATURE_SHIFT, score_shift=2 * SCORE_DIFF_BITS - SCORE_FRAC_BITS)


# -- threshold calibration -------------------------------------------------------------------------------------

MIN_EXCEEDANCES = 5  # the quantile needs this many normal windows above it to be estimated at all


def alarms(scores: np.ndarray, cfg: AnomalyConfig) -> int:
    """How many alarms the detector raises on one recording's scores (the C/hostsim decision rule)."""
    history = below = count = 0
    alarm = False
    mask = (1 << cfg.alarm_m) - 1
    for s in np.asarray(scores):
        over = int(s > cfg.threshold)
        history = ((history << 1) | over) & mask
        if not alarm:
            if bin(history).count("1") >= cfg.alarm_n:
                alarm, below, count = True, 0, count + 1
        else:
            below = 0 if over else below + 1
            if below >= cfg.clear_k:
                alarm, history = False, 0
    return count


def calibrate(recordings_scores: list, cfg: AnomalyConfig, false_alarms_per_hour: float) -> tuple[AnomalyConfig, dict]:
    """The threshold for a target false-alarm rate, from the scores of normal recordings (one array each).

    With windows over the threshold at rate p, an alarm starts where a window over the threshold makes N of
    the last M, about C(M-1, N-1) p^N per window; p is solved for the target and the threshold is the normal
    scores' (1 - p) quantile, then raised until the detector raises no alarm on the normal recordings
    themselves (their windows are not independent: load changes make exceedances come in runs)."""
    allscores = np.concatenate([np.asarray(s, np.int64) for s in recordings_scores]) if recordings_scores else np.zeros(0)
    per_window = false_alarms_per_hour / cfg.windows_per_hour / math.comb(cfg.alarm_m - 1, cfg.alarm_n - 1)
    p = min(0.5, per_window ** (1.0 / cfg.alarm_n))
    need = int(math.ceil(MIN_EXCEEDANCES / p))
    if len(allscores) < need:
        seconds = need * cfg.hop / cfg.rate_hz
        raise MlcError(f"normal data too short to calibrate: {len(allscores)} windows "
                       f"({len(allscores) * cfg.hop / cfg.rate_hz:.0f} s); {false_alarms_per_hour:g} false alarms per "
                       f"hour needs at least {need} ({seconds:.0f} s of normal recordings)")
    threshold = int(np.quantile(allscores, 1 - p, method="higher"))
    candidates = np.unique(allscores[allscores >= threshold])
    for t in candidates:
        trial = AnomalyConfig(**{**asdict(cfg), "threshold": int(t)})
        if sum(alarms(s, trial) for s in recordings_scores) == 0:
            threshold = int(t)
            break
    else:
        threshold = int(allscores.max())
    out = AnomalyConfig(**{**asdict(cfg), "threshold": threshold})
    info = {"false_alarms_per_hour": false_alarms_per_hour, "window_over_rate": p, "normal_windows": int(len(allscores)),
            "normal_seconds": round(len(allscores) * cfg.hop / cfg.rate_hz, 1),
            "over_fraction": float(np.mean(allscores > threshold)), "threshold": threshold}
    return out, info
