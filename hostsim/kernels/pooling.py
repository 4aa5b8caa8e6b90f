"""AVERAGE_POOL_2D and MAX_POOL_2D as TFLM's reference_integer_ops: windows are clipped to the
input (padding is not counted), the average rounds half away from zero."""
import numpy as np

from hostsim.fixedpoint import trunc_div
from hostsim.kernels import kernel
from hostsim.kernels.conv import windows


def _window(op, x, fill):
    p = op.params
    geometry = {**p, "input_offset": 0}
    shifted = x.astype(np.float64) - fill  # padding reads as `fill`
    return windows(shifted, geometry, p["filter_h"], p["filter_w"], op.outputs[0].shape[1:3]) + fill


@kernel("AVERAGE_POOL_2D")
def average_pool_2d(op, x):
    p = op.params
    total = np.rint(_window(op, x, 0).sum(axis=(3, 4))).astype(np.int64)
    count = np.rint(_window(op, np.ones_like(x[:1], dtype=np.float64), 0).sum(axis=(3, 4))).astype(np.int64)
    avg = np.where(total > 0, trunc_div(total + count // 2, count), trunc_div(total - count // 2, count))
    return np.clip(avg, p["act_min"], p["act_max"]).astype(np.int8)


@kernel("MAX_POOL_2D")
def max_pool_2d(op, x):
    p = op.params
    best = _window(op, x, -1e9).max(axis=(3, 4))
    return np.clip(best, p["act_min"], p["act_max"]).astype(np.int8)
