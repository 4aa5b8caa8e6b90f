"""Activation ranges from calibration values, and the TFLite int8 affine parameters of a range.

minmax takes the extremes; percentile clips to the 0.01st / 99.99th percentiles; mse searches the
clipping range (both ends shrunk independently) that minimises the squared quantization error on the
values' histogram, with the min/max range among the candidates, so it is never worse than minmax on
that error. The default, auto, is decided per tensor in codegen.quantize.int8.
"""
from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
PERCENTILE = 99.99
_BINS = 2048
_SHRINK = np.linspace(0.2, 1.0, 41)


def affine(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) of int8 over [lo, hi] widened to hold 0, the zero point nudged to an integer as
    TensorFlow's converter does, so that real 0 (padding, ReLU) is exact."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return 1.0 / 255, 0  # a constant-zero tensor: any scale represents it
    scale = (hi - lo) / (INT8_MAX - INT8_MIN)
    zero_point = int(np.clip(round(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX))
    return float(np.float32(scale)), zero_point


def _histogram_error(centers, counts, lo, hi):
    """Squared int8 quantization error of the histogram for every candidate range (lo[i], hi[i])."""
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    scale = np.maximum(hi - lo, 1e-12) / (INT8_MAX - INT8_MIN)
    zp = np.clip(np.round(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX)
    q = np.clip(np.round(centers[None] / scale[:, None]) + zp[:, None], INT8_MIN, INT8_MAX)
    err = (q - zp[:, None]) * scale[:, None] - centers[None]
    return (err ** 2 * counts[None]).sum(axis=1)


def minmax(x: np.ndarray) -> tuple[float, float]:
    return float(x.min()), float(x.max())


def percentile(x: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(x, [100 - PERCENTILE, PERCENTILE])
    return float(lo), float(hi)


def mse(x: np.ndarray) -> tuple[float, float]:
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    if hi - lo < 1e-12:
        return lo, hi
    counts, edges = np.histogram(x, bins=_BINS, range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2
    los, his = np.meshgrid(lo * _SHRINK, hi * _SHRINK, indexing="ij")
    errors = _histogram_error(centers, counts.astype(np.float64), los.ravel(), his.ravel())
    best = int(np.argmin(errors))
    return float(los.ravel()[best]), float(his.ravel()[best])


METHODS = {"minmax": minmax, "percentile": percentile, "mse": mse}
# auto: mse for hidden activations, minmax where clipping changes the answer (see codegen.quantize.int8)
CHOICES = ("auto", *METHODS)
DEFAULT_METHOD = "auto"


def quant_error(x: np.ndarray, lo: float, hi: float) -> float:
    """Mean squared error of x quantized to int8 over [lo, hi] (for tests and reports)."""
    scale, zp = affine(lo, hi)
    q = np.clip(np.round(x / scale) + zp, INT8_MIN, INT8_MAX)
    return float(np.mean(((q - zp) * scale - x) ** 2))
