"""AVERAGE_POOL_2D and MAX_POOL_2D as TFLM's reference_integer_ops: windows are clipped to the
input (padding is not counted), the average rounds half away from zero."""
import numpy as np

from codegen.model.fixedpoint import trunc_div
from hostsim.kernels import kernel
from hostsim.kernels.conv import padded, windows


def _window_reduce(op, x, dtype, fill, reduce):
    p = op.params
    k, out_hw = (p["filter_h"], p["filter_w"]), tuple(op.outputs[0].shape[1:3])
    geometry = {**p, "dilation_h": 1, "dilation_w": 1}
    xp = padded(x, geometry, *k, out_hw, dtype, fill=fill)
    return reduce(windows(xp, geometry, *k, out_hw), axis=(3, 4))


@kernel("AVERAGE_POOL_2D")
def average_pool_2d(op, x):
    p = op.params
    total = _window_reduce(op, x, np.int32, 0, np.sum).astype(np.int64)
    count = _window_reduce(op, np.ones((1, *x.shape[1:3], 1), np.int32), np.int32, 0, np.sum).astype(np.int64)
    avg = np.where(total > 0, trunc_div(total + count // 2, count), trunc_div(total - count // 2, count))
    return np.clip(avg, p["act_min"], p["act_max"]).astype(x.dtype)


@kernel("MAX_POOL_2D")
def max_pool_2d(op, x):
    p = op.params
    # Padding reads as the lowest value, which never beats a real one: every window holds at least one.
    best = _window_reduce(op, x, x.dtype, np.iinfo(x.dtype).min, np.max)
    return np.clip(best, p["act_min"], p["act_max"]).astype(x.dtype)
