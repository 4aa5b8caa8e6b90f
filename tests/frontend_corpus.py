"""Audio for the front end tests, made deterministically (seeded) rather than committed, and TFLM's own run of it.

    clips = corpus()                      # [(name, int16 16 kHz audio)], about 11,600 frames of 480 every 320
    ref = tflm_frontend(PREPROCESSOR, x)  # TFLM on frames x (N, 480) in order: features and every stage

The corpus: espeak-ng voices at several speeds and pitches (clean, in noise at several SNRs, and quiet), white
and brown noise at levels down to -40 dBFS, full-scale and clipped signals, alternating +-32767 / -32768,
silence, DC, lone -32768 samples, tones, sweeps and impulses.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from paths import MODELS, TESTDATA

PREPROCESSOR = MODELS / "audio_preprocessor_int8.tflite"
MICRO_SPEECH = MODELS / "micro_speech_quantized.tflite"
WAVS = {name: TESTDATA / f"{name}_1000ms.wav" for name in ("yes", "no", "silence", "noise")}
RATE = 16000
FRAME, STEP = 480, 320
VOICES = ("en-us", "en-gb", "en-us+f3", "en+m7", "en-gb-scotland+f5", "en-029")
WORDS = "yes. no. up, down. left right. on off, stop go. yes no yes."


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE), path
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


def have_speech() -> bool:
    return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def speech(voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's rendering of WORDS, resampled to 16 kHz by sox."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "16k.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), WORDS],
                       check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-b", "16", "-c", "1", str(out)], check=True,
                       capture_output=True)
        return read_wav(out)


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _db(dbfs: float) -> float:
    return 32768.0 * 10 ** (dbfs / 20)


def synthetic(rng: np.random.Generator) -> list:
    t = np.arange(RATE) / RATE
    clips = []
    for level in (-40, -30, -20, -10, -3):  # noise RMS in dBFS
        white = rng.standard_normal(RATE)
        brown = np.cumsum(rng.standard_normal(RATE))
        brown = (brown - brown.mean()) / brown.std()
        clips += [(f"white {level} dBFS", _int16(white * _db(level))), (f"brown {level} dBFS", _int16(brown * _db(level)))]
    for f0 in (125, 1000, 3900, 7900):
        for level in (-40, -6, 0):
            clips.append((f"tone {f0} Hz {level} dBFS", _int16(np.sin(2 * np.pi * f0 * t) * _db(level) * 0.9999)))
    clips.append(("sweep 20-8000 Hz", _int16(np.sin(2 * np.pi * (20 * t + (8000 - 20) / 2 * t ** 2)) * 20000)))
    clips.append(("log sweep", _int16(np.sin(2 * np.pi * 50 * (160 ** t - 1) / np.log(160)) * 32767)))
    clips.append(("clipped sine", _int16(np.clip(np.sin(2 * np.pi * 440 * t) * 90000, -32768, 32767))))
    clips.append(("full-scale square", np.where(np.sin(2 * np.pi * 300 * t) >= 0, 32767, -32768).astype(np.int16)))
    clips.append(("alternating extremes", np.tile(np.array([32767, -32768], np.int16), RATE // 2)))
    clips.append(("all -32768", np.full(RATE // 2, -32768, np.int16)))
    clips.append(("silence", np.zeros(RATE, np.int16)))
    clips.append(("dc", np.concatenate([np.full(RATE // 4, v, np.int16) for v in (1, -1, 100, 32767)])))
    lone = _int16(rng.standard_normal(RATE) * _db(-40))
    lone[rng.choice(RATE, 40, replace=False)] = -32768  # a full-scale negative sample in quiet frames
    clips.append(("lone -32768", lone))
    impulses = np.zeros(RATE, np.int16)
    impulses[::797], impulses[400::1201] = 32767, -32768
    clips.append(("impulses", impulses))
    return clips


def corpus(seed: int = 12) -> list:
    """[(name, int16 audio)]: the synthetic clips, and the speech ones when espeak-ng and sox are installed."""
    rng = np.random.default_rng(seed)
    clips = synthetic(rng)
    if have_speech():
        for i, voice in enumerate(VOICES):
            for speed, pitch in ((120, 30), (175, 50), (260, 85)):
                voiced = speech(voice, speed, pitch).astype(np.float64)
                clips.append((f"{voice} {speed} wpm pitch {pitch}", _int16(voiced)))
                rms = np.sqrt(np.mean(voiced ** 2)) + 1e-9
                noise = rng.standard_normal(voiced.size) * rms
                snr = (20, 10, 0)[(i + speed // 60) % 3]
                clips.append((f"{voice} {speed} wpm in noise at {snr} dB", _int16(voiced + noise * 10 ** (-snr / 20))))
                clips.append((f"{voice} {speed} wpm at -40 dBFS", _int16(voiced / np.abs(voiced).max() * _db(-40))))
    return clips


def tflm_frontend(model: Path, x: np.ndarray, tensors: dict, interp=None) -> dict:
    """TFLM's interpreter on frames x (N, frame) in order (its noise estimate carries from frame to frame):
    {stage: (N, ...) values} for the {stage: tensor index} asked for."""
    from codegen.model.tflm import interpreter

    interp = interp or interpreter(model, preserve_all=True)
    out = {name: [] for name in tensors}
    for frame in np.asarray(x, np.int16):
        interp.set_input(frame.reshape(1, -1), 0)
        interp.invoke()
        for name, index in tensors.items():
            out[name].append(np.array(interp.GetTensor(index, 0)["tensor_data"]).reshape(-1))
    return {name: np.stack(v) for name, v in out.items()}
