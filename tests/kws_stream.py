"""A deterministic 20-second test stream for the kws app: TFLM's four 1-second test clips (yes, no, silence,
noise) at several levels, between stretches of digital silence and seeded low noise."""
import functools

import numpy as np

from codegen.apps.kws import read_wav
from paths import MODELS

TESTDATA = MODELS / "testdata"
RATE = 16000
# (clip or gap, gain): a gap is (seconds, noise rms in LSB)
PLAN = [((1.0, 0), 1), ("yes", 1.0), ((1.0, 30), 1), ("no", 1.0), ((1.5, 0), 1), ("silence", 1.0),
        ("yes", 0.5), ((1.0, 100), 1), ("noise", 1.0), ("no", 0.7), ((2.0, 10), 1), ("yes", 1.5),
        ((0.5, 0), 1), ("no", 1.0), ((1.0, 0), 1), ("yes", 1.0), ((1.0, 300), 1), ("no", 0.4), ((1.0, 0), 1)]


def clip(word: str) -> np.ndarray:
    return read_wav(TESTDATA / f"{word}_1000ms.wav")


def stream(seconds: float = 20.0) -> np.ndarray:
    """int16 mono at 16 kHz, exactly `seconds` long (padded with digital silence)."""
    rng = np.random.default_rng(12)
    parts = []
    for item, gain in PLAN:
        if isinstance(item, tuple):
            n, rms = int(item[0] * RATE), item[1]
            parts.append(np.round(rng.normal(0, rms, n)) if rms else np.zeros(n))
        else:
            parts.append(clip(item).astype(np.float64) * gain)
    x = np.concatenate(parts)
    n = int(seconds * RATE)
    x = np.concatenate([x, np.zeros(max(0, n - len(x)))])[:n]
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@functools.cache
def frontend():
    """TFLM's micro_speech front end, recognised (once per session)."""
    import codegen.frontend
    return codegen.frontend.load(MODELS / "audio_preprocessor_int8.tflite")


@functools.cache
def model():
    """micro_speech_quantized, loaded (once per session)."""
    from codegen.ops import load
    return load(MODELS / "micro_speech_quantized.tflite")
