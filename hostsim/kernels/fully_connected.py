"""FULLY_CONNECTED as TFLM's reference_integer_ops (per-tensor or per-channel weights)."""
import numpy as np

from hostsim.fixedpoint import requantize
from hostsim.kernels import kernel


@kernel("FULLY_CONNECTED")
def fully_connected(op, x, *_):
    p = op.params
    w = op.inputs[1].data.astype(np.float64)  # (units, depth)
    rows = x.reshape(-1, p["depth"]).astype(np.float64) + p["input_offset"]
    acc = np.rint(rows @ w.T).astype(np.int64) + p["bias"]
    out = requantize(acc, p["multiplier"], p["shift"], p["output_offset"], p["act_min"], p["act_max"])
    return out.reshape(x.shape[0], *op.outputs[0].shape[1:])
