"""The example machine's vibration (examples/motor/vibration.py) carries each fault's documented
signature, in physical units, and is deterministic."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "motor"))
from vibration import FAULT_LEVELS_G, FAULTS, G_COUNTS, RATE_HZ, Fault, Machine, simulate  # noqa: E402

MACHINE = Machine()
SECONDS = 20


def _spectrum(samples, axis):
    x = samples[:, axis].astype(np.float64) / G_COUNTS
    amplitude = np.abs(np.fft.rfft(x * np.hanning(len(x)))) * 4 / len(x)  # peak g of a sinusoid
    return np.fft.rfftfreq(len(x), 1 / RATE_HZ), amplitude


def _near(freqs, amp, f, width=1.0):
    return amp[np.abs(freqs - f) <= width].max()


@pytest.fixture(scope="module")
def recordings():
    # severity 1.0 from the start: the fault at its documented level for the whole recording
    healthy = simulate(MACHINE, SECONDS, seed=3)
    faulty = {k: simulate(MACHINE, SECONDS, [Fault(k, onset_s=-1e-9, growth_s=1e-9)], seed=3) for k in FAULTS}
    return healthy, faulty


def test_units_rate_and_determinism(recordings):
    healthy, _ = recordings
    assert healthy.samples.shape == (SECONDS * RATE_HZ, 3) and healthy.samples.dtype == np.int16
    assert 0.005 < healthy.samples.std() / G_COUNTS < 0.1  # a quiet machine: a few hundredths of g
    np.testing.assert_array_equal(simulate(MACHINE, SECONDS, seed=3).samples, healthy.samples)
    assert not np.array_equal(simulate(MACHINE, SECONDS, seed=4).samples, healthy.samples)


def test_each_fault_shows_its_signature(recordings):
    healthy, faulty = recordings
    f1 = MACHINE.shaft_hz
    spec = {k: [_spectrum(r.samples, a) for a in range(3)] for k, r in {"healthy": healthy, **faulty}.items()}

    def gain(kind, axis, f, width=1.0):
        (freqs, amp), (_, base) = spec[kind][axis], spec["healthy"][axis]
        return _near(freqs, amp, f, width) / _near(freqs, base, f, width)

    assert gain("unbalance", 0, f1) > 4 and gain("unbalance", 1, f1) > 4 and gain("unbalance", 2, f1) < 2
    assert gain("misalignment", 2, 2 * f1) > 8 and gain("misalignment", 2, f1) > 8  # axial 1x and 2x
    assert gain("looseness", 0, 0.5 * f1) > 10 and gain("looseness", 0, 5 * f1) > 10  # sub- and higher harmonics
    for kind in ("bearing_outer", "bearing_inner"):  # the housing resonance rings
        assert gain(kind, 0, MACHINE.resonance_hz, 40) > 10, kind
    # impacts repeat at the defect frequency: the spectrum of the resonance band's envelope peaks there
    for kind, f_defect in (("bearing_outer", MACHINE.bpfo(f1)), ("bearing_inner", MACHINE.bpfi(f1))):
        x = np.fft.rfft(faulty[kind].samples[:, 0].astype(np.float64))
        freqs = np.fft.rfftfreq(len(faulty[kind].samples), 1 / RATE_HZ)
        x[np.abs(freqs - MACHINE.resonance_hz) > 150] = 0
        envelope = np.abs(np.fft.irfft(x, len(faulty[kind].samples)))
        freqs, amp = np.fft.rfftfreq(len(envelope), 1 / RATE_HZ), np.abs(np.fft.rfft(envelope - envelope.mean()))
        band = (freqs > 20) & (freqs < 400)
        assert abs(freqs[band][np.argmax(amp[band])] - f_defect) < 2.0, kind


def test_faults_grow_from_their_onset():
    fault = Fault("unbalance", onset_s=5, growth_s=10)
    rec = simulate(MACHINE, 20, [fault], seed=1)
    rms = lambda a, b: rec.samples[int(a * RATE_HZ):int(b * RATE_HZ), 0].std() / G_COUNTS  # noqa: E731
    assert rms(0, 5) < rms(9, 10) < rms(14, 15) < rms(19, 20)
    assert fault.at_level_s == 15 and FAULT_LEVELS_G["unbalance"] > 0
