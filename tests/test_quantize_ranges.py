"""Calibration range estimators on known distributions, and the int8 parameters of a range."""
import numpy as np
import pytest

from codegen.quantize import ranges
from codegen.quantize.int8 import quantize_weights


def test_affine_holds_zero_exactly():
    for lo, hi in [(-1.0, 3.0), (0.5, 2.0), (-4.0, -1.0), (-0.3, 0.0)]:
        scale, zp = ranges.affine(lo, hi)
        assert -128 <= zp <= 127 and isinstance(zp, int)
        slack = scale / 2 + 1e-6  # the zero point is nudged to an integer, as TensorFlow's converter does
        assert scale * (-128 - zp) <= min(lo, 0) + slack and scale * (127 - zp) >= max(hi, 0) - slack
    assert ranges.affine(0.0, 6.0) == (pytest.approx(6 / 255), -128)  # ReLU6: real 0 is the lowest code


def test_minmax_and_percentile_on_uniform_with_outliers():
    x = np.random.default_rng(0).uniform(-1, 1, 200_000)
    x[:5] = [40, -30, 25, 35, -20]
    assert ranges.minmax(x) == (-30, 40)
    lo, hi = ranges.percentile(x)
    assert -1.01 < lo < -0.99 and 0.99 < hi < 1.01


@pytest.mark.parametrize("dist, gain", [("standard_normal", 0.9), ("laplace", 0.8)])
def test_mse_clips_long_tails_and_beats_minmax(dist, gain):
    x = getattr(np.random.default_rng(1), dist)(size=200_000)
    lo, hi = ranges.mse(x)
    mm = ranges.minmax(x)
    assert 2.0 < -lo < -mm[0] and 2.0 < hi < mm[1]  # clipped, but not into the bulk
    assert ranges.quant_error(x, lo, hi) < gain * ranges.quant_error(x, *mm)


def test_mse_keeps_the_range_of_a_uniform():
    x = np.random.default_rng(2).uniform(0, 6, 100_000)
    lo, hi = ranges.mse(x)
    assert lo == 0 and 5.7 < hi <= 6


def test_symmetric_per_channel_weights():
    w = np.random.default_rng(3).standard_normal((4, 3, 3, 2)).astype(np.float32) * [[[[1]]], [[[10]]], [[[0.1]]], [[[0]]]]
    q, s = quantize_weights(w, axis=0)
    assert q.dtype == np.int8 and s.shape == (4,) and q.min() >= -127
    assert np.all(np.abs(q[:3]).reshape(3, -1).max(axis=1) == 127) and not q[3].any()
    assert np.abs(q * s[:, None, None, None] - w).max() <= s.max() / 2 + 1e-6
