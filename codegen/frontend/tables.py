"""Constant tables of TFLM's front end arithmetic that live in TFLM's code rather than in the .tflite file:
kissfft's twiddles (computed at generation time exactly as kiss_fft_alloc / kiss_fftr_alloc compute them at
start-up in FIXED_POINT 16) and SignalFilterBankLog's segment table."""
from __future__ import annotations

import math

import numpy as np

Q15_ONE = 32767  # kissfft's SAMP_MAX
LOG_SEGMENTS_LOG2 = 7
LOG_SCALE_LOG2 = 16
LOG_COEFF = 45426  # ln(2) in Q16
# signal/src/log.cc: log2(1 + x) - x in Q16 at 128 segments (two trailing entries for the interpolation).
LOG_LUT = (
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087, 3224, 3358,
    3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001, 5063, 5123,
    5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641,
    5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156,
    5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848,
    3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090, 1971, 1851,
    1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0, 0)


def _cexp(phase: np.ndarray) -> np.ndarray:
    """kf_cexp in FIXED_POINT 16: floor(0.5 + 32767 * cos / sin) in double, as (n, 2) int16 [re, im]."""
    return np.stack([np.floor(0.5 + Q15_ONE * np.cos(phase)), np.floor(0.5 + Q15_ONE * np.sin(phase))],
                    axis=-1).astype(np.int16)


def twiddles(n: int) -> np.ndarray:
    """The n-point complex FFT's twiddles exp(-2 pi i k / n), k < n (kiss_fft_alloc, forward)."""
    return _cexp(-2 * math.pi * np.arange(n, dtype=np.float64) / n)


def super_twiddles(n: int) -> np.ndarray:
    """The real split's twiddles for an n-point complex FFT (kiss_fftr_alloc): n / 2 of them."""
    return _cexp(-math.pi * ((np.arange(n // 2, dtype=np.float64) + 1) / n + 0.5))


def radices(n: int) -> list[tuple[int, int]]:
    """kf_factor for a power of two: [(radix, remaining length m), ...], outermost stage first (4s, then a 2)."""
    out = []
    while n > 1:
        p = 4 if n % 4 == 0 else 2
        n //= p
        out.append((p, n))
    return out


def input_order(n: int) -> np.ndarray:
    """kf_work's reading order for an n-point complex FFT: slot i of the first stage takes input order[i]."""
    order, stages = np.empty(n, np.int64), radices(n)

    def work(out: int, first: int, fstride: int, level: int) -> None:
        p, m = stages[level]
        for q in range(p):
            if m == 1:
                order[out + q] = first + q * fstride
            else:
                work(out + q * m, first + q * fstride, fstride * p, level + 1)

    work(0, 0, 1, 0)
    return order


def stage_twiddles(n: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The twiddles each stage of the n-point complex FFT reads, in the order it reads them: for stage (p, m,
    fstride) and k < m, w[q * k * fstride] for q = 1 .. p - 1 (the same values as kissfft's one table, laid
    out so a butterfly walks one pointer). Returns (all of them (count, 2) int16, [(p, m, fstride, first row)]
    innermost stage first)."""
    table, rows, stages = twiddles(n), [], []
    for p, m in reversed(radices(n)):
        fstride = n // (p * m)
        stages.append((p, m, fstride, len(rows)))
        rows += [table[q * k * fstride] for k in range(m) for q in range(1, p)]
    return np.array(rows, np.int16), stages
