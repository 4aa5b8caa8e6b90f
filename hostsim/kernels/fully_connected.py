"""FULLY_CONNECTED as TFLM's reference_integer_ops (per-tensor or per-channel weights)."""
import numpy as np

from hostsim.kernels import kernel
from hostsim.kernels.conv import exact_float, requantize


@kernel("FULLY_CONNECTED")
def fully_connected(op, x, *_):
    p = op.params
    dtype = exact_float(p["depth"], x)  # exact integer sums through BLAS (see conv.py)
    rows = x.reshape(-1, p["depth"]) + np.asarray(p["input_offset"], dtype)
    acc = (rows @ op.inputs[1].data.T.astype(dtype)).astype(np.int64)
    return requantize(acc, p).reshape(x.shape[0], *op.outputs[0].shape[1:])
