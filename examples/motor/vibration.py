"""Vibration of a rotating machine (a motor driving a load through a coupling, on rolling bearings),
as a 3-axis accelerometer on the bearing housing records it: x and y radial, z axial.

Healthy machines show a small once-per-revolution (1x) component from residual unbalance, some 2x,
a magnetic component at twice the line frequency, and broadband noise; the shaft speed drifts and
the load changes, which scales the rotating forces. Faults grow from an onset, each with the
signature the vibration-analysis literature gives it:

- unbalance: 1x, radial, the two radial axes in quadrature (a rotating force vector) [1, 2];
- misalignment: 2x (with 1x) and a strong axial component, 1x and 2x axial in phase opposition
  across the coupling [1, 2];
- mechanical looseness: many harmonics of 1x and half-order sub-harmonics (0.5x, 1.5x, ...), from
  a response that is clipped each revolution [1, 2];
- rolling-bearing defects: a train of impacts at the outer-race (BPFO) or inner-race (BPFI) defect
  frequency, each ringing a structural resonance; an inner-race defect turns with the shaft through
  the load zone, so its impacts are amplitude-modulated at 1x [3]. With n rolling elements of
  diameter d on a pitch diameter D and contact angle phi, BPFO = n/2 f (1 - d/D cos phi) and
  BPFI = n/2 f (1 + d/D cos phi).

[1] ISO 13373-3:2015, Condition monitoring and diagnostics of machines: vibration condition monitoring,
    guidelines for vibration diagnosis. [2] R. B. Randall, Vibration-based Condition Monitoring, Wiley
    2011, ch. 1-2. [3] R. B. Randall and J. Antoni, "Rolling element bearing diagnostics: a tutorial",
    Mechanical Systems and Signal Processing 25 (2011) 485-520.

Severity is a fault's amplitude relative to its documented level (FAULT_LEVELS_G): 1.0 is the level at
which the example's detector must alarm; a fault grows linearly from 0 at its onset to 1.0 after
`growth_s`, and keeps growing beyond.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

G_COUNTS = 4096  # counts per g: a BMI270 at +-8 g
RATE_HZ = 1600
FAULTS = ("unbalance", "misalignment", "looseness", "bearing_outer", "bearing_inner")
# Acceleration amplitude (g) of each fault's main component at severity 1.0, the "documented severity":
# a 1x of 0.25 g at 30 Hz is about 13 mm/s peak velocity, ISO 10816-3 zone C/D for a medium machine.
FAULT_LEVELS_G = {"unbalance": 0.25, "misalignment": 0.2, "looseness": 0.12, "bearing_outer": 0.6, "bearing_inner": 0.6}


@dataclass(frozen=True)
class Machine:
    shaft_hz: float = 29.6  # a 4-pole motor on 60 Hz under load, ~1776 rpm
    line_hz: float = 60.0
    speed_drift: float = 0.01  # relative random-walk drift of the shaft speed over a minute
    load: tuple = (0.4, 1.0)  # the load wanders between these fractions of full load
    load_period_s: float = 40.0
    unbalance_g: float = 0.03  # residual unbalance at full load
    harmonic_2x_g: float = 0.012
    magnetic_g: float = 0.008  # at twice the line frequency
    noise_g: float = 0.02  # broadband, per axis
    balls: int = 9
    ball_pitch_ratio: float = 0.24  # d/D
    contact_deg: float = 0.0
    resonance_hz: float = 520.0  # the housing's mode the bearing impacts ring
    resonance_damping: float = 0.04  # fraction of critical
    axis_gain: tuple = (1.0, 0.85, 0.6)  # x, y radial and z axial mounting stiffness

    def bpfo(self, f: float) -> float:
        return self.balls / 2 * f * (1 - self.ball_pitch_ratio * np.cos(np.radians(self.contact_deg)))

    def bpfi(self, f: float) -> float:
        return self.balls / 2 * f * (1 + self.ball_pitch_ratio * np.cos(np.radians(self.contact_deg)))


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULTS
    onset_s: float
    growth_s: float = 60.0  # from onset to severity 1.0

    def severity(self, t: np.ndarray) -> np.ndarray:
        return np.clip((t - self.onset_s) / self.growth_s, 0.0, None)

    @property
    def at_level_s(self) -> float:
        """When the fault reaches its documented severity."""
        return self.onset_s + self.growth_s


@dataclass(frozen=True)
class Recording:
    samples: np.ndarray  # int16 (N, 3), counts
    rate_hz: int
    faults: tuple = field(default_factory=tuple)


def _smooth_walk(rng, n: int, rate_hz: float, period_s: float) -> np.ndarray:
    """A slow random process in [-1, 1]: white noise low-passed to about 1/period_s."""
    knots = max(2, int(n / rate_hz / period_s * 4) + 2)
    values = rng.uniform(-1, 1, knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), values)


def _impacts(times: np.ndarray, rate: float, t: np.ndarray, machine: Machine) -> np.ndarray:
    """Unit impacts at `times` (s), each ringing the structural resonance (a damped sinusoid)."""
    out = np.zeros_like(t)
    wn = 2 * np.pi * machine.resonance_hz
    decay = machine.resonance_damping * wn
    ring = np.arange(int(rate * 8 / decay)) / rate  # until e^-8
    kernel = np.exp(-decay * ring) * np.sin(wn * np.sqrt(1 - machine.resonance_damping ** 2) * ring)
    starts = np.searchsorted(t, times)
    for s in starts[starts < len(t)]:
        end = min(len(t), s + len(kernel))
        out[s:end] += kernel[:end - s]
    return out


def simulate(machine: Machine, duration_s: float, faults=(), seed: int = 0, rate_hz: int = RATE_HZ) -> Recording:
    """duration_s of 3-axis vibration at rate_hz, in int16 counts (G_COUNTS per g, saturating)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate_hz))
    t = np.arange(n) / rate_hz
    speed = machine.shaft_hz * (1 + machine.speed_drift * _smooth_walk(rng, n, rate_hz, 60.0))
    phase = 2 * np.pi * np.cumsum(speed) / rate_hz + rng.uniform(0, 2 * np.pi)
    lo, hi = machine.load
    load = lo + (hi - lo) * (0.5 + 0.5 * _smooth_walk(rng, n, rate_hz, machine.load_period_s))
    x, y, z = (np.zeros(n) for _ in range(3))
    # Healthy: rotating residual unbalance (x, y in quadrature), 2x, the magnetic 2x line, noise.
    u = machine.unbalance_g * load
    x += u * np.cos(phase)
    y += u * np.sin(phase)
    h2 = machine.harmonic_2x_g * load
    x += h2 * np.cos(2 * phase + 0.7)
    z += 0.5 * h2 * np.cos(2 * phase + 1.9)
    mag = machine.magnetic_g * np.cos(2 * np.pi * 2 * machine.line_hz * t)
    x += mag
    y += 0.6 * mag
    for fault in faults:
        level = FAULT_LEVELS_G[fault.kind] * fault.severity(t)
        if fault.kind == "unbalance":
            x += level * load * np.cos(phase + 0.3)
            y += level * load * np.sin(phase + 0.3)
        elif fault.kind == "misalignment":
            x += level * (0.5 * np.cos(phase) + np.cos(2 * phase))
            y += level * 0.7 * np.cos(2 * phase + 0.5)
            z += level * (1.2 * np.cos(phase + np.pi) + 0.8 * np.cos(2 * phase))  # strong axial
        elif fault.kind == "looseness":
            # clipped once per revolution: a rich series of 1x harmonics and half orders
            for order in (0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9, 10):
                a = level / order ** 0.5 * (0.6 if order % 1 else 1.0)
                x += a * np.cos(order * phase + order)
                y += 0.8 * a * np.cos(order * phase + 2 * order)
        else:
            f_defect = machine.bpfo(machine.shaft_hz) if fault.kind == "bearing_outer" else machine.bpfi(machine.shaft_hz)
            # impact times follow the actual speed, with 1% slip jitter as real rolling elements show
            ratio = f_defect / machine.shaft_hz
            turns = phase * ratio / (2 * np.pi)
            ticks = np.flatnonzero(np.diff(np.floor(turns)) > 0) + 1
            times = t[ticks] + rng.normal(0, 0.01 / f_defect, len(ticks))
            ring = _impacts(np.sort(times), rate_hz, t, machine)
            if fault.kind == "bearing_inner":  # through the load zone once a revolution
                ring *= 0.55 + 0.45 * np.cos(phase)
            x += level * ring
            y += 0.7 * level * ring
            z += 0.3 * level * ring
    axes = np.stack([x, y, z], axis=1) * np.asarray(machine.axis_gain)
    axes += rng.normal(0, machine.noise_g, axes.shape)
    counts = np.clip(np.round(axes * G_COUNTS), -32768, 32767).astype(np.int16)
    return Recording(counts, rate_hz, tuple(faults))


def random_machine(rng) -> Machine:
    """Another machine: other speed, bearing, resonance, mounting and noise (for training on one and
    testing on others)."""
    return Machine(shaft_hz=float(rng.uniform(14.0, 50.0)), line_hz=float(rng.choice([50.0, 60.0])),
                   speed_drift=float(rng.uniform(0.003, 0.02)),
                   load=(float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.8, 1.0))),
                   unbalance_g=float(rng.uniform(0.01, 0.05)), harmonic_2x_g=float(rng.uniform(0.005, 0.02)),
                   magnetic_g=float(rng.uniform(0.002, 0.015)), noise_g=float(rng.uniform(0.01, 0.04)),
                   balls=int(rng.integers(7, 13)), ball_pitch_ratio=float(rng.uniform(0.18, 0.3)),
                   resonance_hz=float(rng.uniform(350, 700)), axis_gain=tuple(rng.uniform(0.5, 1.0, 3).round(3)))
