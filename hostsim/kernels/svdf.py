"""SVDF as TFLM's EvalIntegerSvdfReference, updating the state array it is given in place (the runner
keeps it from one invoke to the next). int32 sums wrap as the reference's int32 accumulators do."""
import numpy as np

from codegen.model.fixedpoint import multiply_by_quantized_multiplier, wrap32
from hostsim.kernels import kernel


@kernel("SVDF")
def svdf(op, x, w_feature, w_time, bias, state):
    p = op.params
    flat = state.reshape(-1)
    flat[:-1] = flat[1:].copy()  # the whole buffer moves left by one; each filter's last column is rewritten
    s = state.reshape(-1, p["filters"], p["memory"])
    acc = (x.reshape(len(s), p["depth"]).astype(np.int64) + p["input_offset"]) @ w_feature.T.astype(np.int64)
    acc = multiply_by_quantized_multiplier(wrap32(acc), p["feature_multiplier"], p["feature_shift"])
    # clamped to the state's range, then the zero point added and narrowed (wrapping) to the state's dtype
    s[:, :, -1] = (np.clip(acc, p["state_min"], p["state_max"]) + p["state_zp"]).astype(s.dtype)
    per_filter = ((s.astype(np.int64) - p["state_zp"]) * w_time.astype(np.int64)).sum(axis=-1)
    units = bias.astype(np.int64) + per_filter.reshape(len(s), p["units"], p["rank"]).sum(axis=-1)
    y = multiply_by_quantized_multiplier(wrap32(units), p["multiplier"], p["shift"]) + p["output_offset"]
    return np.clip(y, -128, 127).astype(np.int8).reshape(x.shape[0], p["units"])
