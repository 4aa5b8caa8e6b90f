"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR as TFLM's reference kernels, on the index maps and weights
codegen.ops.resize derives (GetNearestNeighbor, ComputeInterpolationValuesInteger)."""
import numpy as np

from hostsim.kernels import kernel
from hostsim.kernels.tensor_ops import full, stacked


@kernel("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest_neighbor(op, x, *_):
    p = op.params
    picked = full(x, op.inputs[0])[:, :, np.asarray(p["rows"])][:, :, :, np.asarray(p["cols"])]
    return stacked(np.ascontiguousarray(picked), op.outputs[0])


@kernel("RESIZE_BILINEAR")
def resize_bilinear(op, x, *_):
    """ResizeBilinearInteger: int64 sum of the four neighbours weighted in 1/1024 per axis, rounded half
    away from zero and divided by 2^20 (truncating) as TFLM does without single rounding."""
    p = op.params
    lo_y, hi_y, fy = (np.asarray(v, np.int64) for v in zip(*p["rows"]))
    lo_x, hi_x, fx = (np.asarray(v, np.int64) for v in zip(*p["cols"]))
    v = full(x, op.inputs[0]).astype(np.int64)
    wy0, wy1 = (1024 - fy)[:, None, None], fy[:, None, None]
    wx0, wx1 = (1024 - fx)[None, :, None], fx[None, :, None]
    total = (v[:, :, lo_y][:, :, :, lo_x] * wy0 * wx0 + v[:, :, hi_y][:, :, :, lo_x] * wy1 * wx0
             + v[:, :, lo_y][:, :, :, hi_x] * wy0 * wx1 + v[:, :, hi_y][:, :, :, hi_x] * wy1 * wx1)
    rounded = total + np.where(total > 0, 1 << 19, -(1 << 19))
    out = np.sign(rounded) * (np.abs(rounded) >> 20)
    return stacked(out.astype(np.int8), op.outputs[0])
