"""The project's one fixed-point FFT: TFLM's SignalFftAutoScale and SignalRfft, bit-exact, on stacks of frames.

    scaled, bits = fft_auto_scale(frames)          # int16 (..., L) -> int16 (..., L), int32 (...)
    re, im = rfft_q15(scaled, fft_length)         # int16 (..., fft_length // 2 + 1) each

rfft_q15 is kissfft v130 in FIXED_POINT 16 as TFLM builds it: the fft_length-point real FFT as an
fft_length / 2-point complex FFT (radix 4 stages, then one radix 2 when needed) and kiss_fftr's split.
Every butterfly first divides its inputs by its radix by multiplying with 32767 / radix and rounding
((x * (32767 / p) + 2^14) >> 15), so the output is about DFT(x) / fft_length: log2(fft_length) bits
below the input's scale, which the auto scale's shift makes up for. Sums wrap in int16 as kissfft's do.
Values are held in int32 (kissfft's products and their sums fit: |a.r * b.r - a.i * b.i| + 2^14 < 2^31)
and wrapped explicitly wherever kissfft stores to an int16.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from codegen.frontend.tables import Q15_ONE, input_order, radices, super_twiddles, twiddles


def wrap16(x: np.ndarray) -> np.ndarray:
    """A store to int16: two's complement wrap-around (numpy's cast wraps), kept in x's dtype."""
    x = np.asarray(x)
    return x.astype(np.int16).astype(x.dtype)


def msb32(x: np.ndarray) -> np.ndarray:
    """TFLM's MostSignificantBit32 as GCC builds it: bit length of a uint32, and 32 (not 0) for 0."""
    x = np.asarray(x, np.int64) & 0xFFFFFFFF
    bits = np.zeros(x.shape, np.int64)
    for shift in (16, 8, 4, 2, 1):
        big = x >= (1 << shift)
        bits += np.where(big, shift, 0)
        x = np.where(big, x >> shift, x)
    return np.where(x == 0, 32, bits + x)


def max_abs16(frames: np.ndarray) -> np.ndarray:
    """MaxAbs16 exactly as TFLM writes it: `if (v > max) max = v; else if (-v > max) max = -v;` on an int16
    max, so a -32768 is stored back as -32768 and any later sample then replaces it."""
    frames = np.asarray(frames, np.int64)
    # Without a -32768 the loop keeps the running max of |v|; only frames holding one need the loop.
    top = np.abs(frames).max(axis=-1, initial=0)
    trap = (frames == -32768).any(axis=-1)
    if trap.any():
        rows = frames[trap]
        t = np.zeros(rows.shape[:-1], np.int64)
        for i in range(rows.shape[-1]):
            v = rows[..., i]
            t = np.where(v > t, v, np.where(-v > t, wrap16(-v), t))
        top[trap] = t
    return top


def fft_auto_scale(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SignalFftAutoScale: shift each frame up by 15 - bit length of its MaxAbs16 (at least 0; an all-zero
    frame, or one whose max is left at -32768, gets 0), wrapping in int16."""
    frames = np.asarray(frames, np.int64)
    bits = np.maximum(16 - msb32(max_abs16(frames)) - 1, 0)
    return wrap16(frames << bits[..., None]).astype(np.int16), bits.astype(np.int32)


def _round(x: np.ndarray) -> np.ndarray:
    """kissfft's sround: (x + 2^14) >> 15, stored to int16."""
    return wrap16((x + (1 << 14)) >> 15)


def _fixdiv(x: np.ndarray, radix: int) -> np.ndarray:
    """C_FIXDIV / DIVSCALAR: x * (32767 / radix) with rounding."""
    return _round(x * (Q15_ONE // radix))


def _cmul(ar, ai, br, bi):
    """C_MUL: one rounding per component."""
    return _round(ar * br - ai * bi), _round(ar * bi + ai * br)


@lru_cache(maxsize=None)
def _plan(n: int):
    """(radix, m, fstride, twiddle indices per leg) per stage, from the innermost (applied first) out."""
    plan = []
    for p, m in reversed(radices(n)):
        fstride = n // (p * m)
        plan.append((p, m, fstride, [q * np.arange(m) * fstride for q in range(p)]))
    return plan


def _butterflies(re: np.ndarray, im: np.ndarray, p: int, m: int, fstride: int, tw_index, tw: np.ndarray):
    """One kf_bfly4 / kf_bfly2 stage over every block of p * m outputs (in place on (..., fstride, p, m))."""
    shape = re.shape
    r = re.reshape(*shape[:-1], fstride, p, m)
    i = im.reshape(*shape[:-1], fstride, p, m)
    x = [(_fixdiv(r[..., q, :], p), _fixdiv(i[..., q, :], p)) for q in range(p)]
    t = [_cmul(*x[q], tw[tw_index[q], 0], tw[tw_index[q], 1]) for q in range(1, p)]
    if p == 2:
        (x0r, x0i), (tr, ti) = x[0], t[0]
        out = [(wrap16(x0r + tr), wrap16(x0i + ti)), (wrap16(x0r - tr), wrap16(x0i - ti))]
    else:
        (x0r, x0i), (s0r, s0i), (s1r, s1i), (s2r, s2i) = x[0], *t
        s5r, s5i = wrap16(x0r - s1r), wrap16(x0i - s1i)
        x0r, x0i = wrap16(x0r + s1r), wrap16(x0i + s1i)
        s3r, s3i = wrap16(s0r + s2r), wrap16(s0i + s2i)
        s4r, s4i = wrap16(s0r - s2r), wrap16(s0i - s2i)
        out = [(wrap16(x0r + s3r), wrap16(x0i + s3i)), (wrap16(s5r + s4i), wrap16(s5i - s4r)),
               (wrap16(x0r - s3r), wrap16(x0i - s3i)), (wrap16(s5r - s4i), wrap16(s5i + s4r))]
    re = np.stack([o[0] for o in out], axis=-2).reshape(shape)
    im = np.stack([o[1] for o in out], axis=-2).reshape(shape)
    return re, im


def cfft_q15(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """kiss_fft (forward, FIXED_POINT 16) of complex int16 frames (..., n), n a power of two."""
    n = re.shape[-1]
    order, tw = input_order(n), twiddles(n).astype(np.int32)
    re, im = np.asarray(re, np.int32)[..., order], np.asarray(im, np.int32)[..., order]
    for p, m, fstride, tw_index in _plan(n):
        re, im = _butterflies(re, im, p, m, fstride, tw_index, tw)
    return re, im


def rfft_q15(frames: np.ndarray, fft_length: int) -> tuple[np.ndarray, np.ndarray]:
    """kiss_fftr of int16 frames (..., L), L <= fft_length, zero-padded as SignalRfft does: (re, im) int16
    (..., fft_length // 2 + 1), about DFT / fft_length."""
    frames = np.asarray(frames, np.int32)
    pad = fft_length - frames.shape[-1]
    if pad < 0 or fft_length < 4 or fft_length & (fft_length - 1):
        raise ValueError(f"fft_length {fft_length} must be a power of two >= 4 and >= the frame ({frames.shape[-1]})")
    x = np.concatenate([frames, np.zeros((*frames.shape[:-1], pad), np.int32)], axis=-1)
    n = fft_length // 2
    zr, zi = cfft_q15(x[..., 0::2], x[..., 1::2])
    out_r = np.zeros((*x.shape[:-1], n + 1), np.int32)
    out_i = np.zeros_like(out_r)
    dc_r, dc_i = _fixdiv(zr[..., 0], 2), _fixdiv(zi[..., 0], 2)
    out_r[..., 0], out_r[..., n] = wrap16(dc_r + dc_i), wrap16(dc_r - dc_i)
    k = np.arange(1, n // 2 + 1)
    fk_r, fk_i = _fixdiv(zr[..., k], 2), _fixdiv(zi[..., k], 2)
    fnk_r, fnk_i = _fixdiv(zr[..., n - k], 2), _fixdiv(wrap16(-zi[..., n - k]), 2)
    f1_r, f1_i = wrap16(fk_r + fnk_r), wrap16(fk_i + fnk_i)
    f2_r, f2_i = wrap16(fk_r - fnk_r), wrap16(fk_i - fnk_i)
    stw = super_twiddles(n).astype(np.int32)
    tw_r, tw_i = _cmul(f2_r, f2_i, stw[k - 1, 0], stw[k - 1, 1])
    out_r[..., k], out_i[..., k] = (f1_r + tw_r) >> 1, (f1_i + tw_i) >> 1
    out_r[..., n - k], out_i[..., n - k] = (f1_r - tw_r) >> 1, (tw_i - f1_i) >> 1  # k = n/2: this one wins
    return wrap16(out_r).astype(np.int16), wrap16(out_i).astype(np.int16)
