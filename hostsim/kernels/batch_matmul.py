"""BATCH_MATMUL as TFLM's reference BatchMatMul (codegen/ops/batch_matmul.py): exact integer sums in
float64 (every partial sum is an integer below 2^53), then the per-tensor requantization."""
import numpy as np

from codegen.model import fixedpoint
from hostsim.kernels import kernel


def _operand(t, value, rank, offset, adj):
    """value + offset at the extended rank after the stack axis (1 for a constant), (m, k) / (k, n) in the
    last two axes."""
    ones = [1] * (rank - len(t.shape))
    shape = [1 if t.is_const else value.shape[0], *ones, *t.shape]
    value = np.asarray(value, np.float64).reshape(shape) + offset
    return np.swapaxes(value, -1, -2) if adj else value


@kernel("BATCH_MATMUL")
def batch_matmul(op, lhs, rhs):
    p = op.params
    a = _operand(op.inputs[0], lhs, p["rank"], p["lhs_offset"], p["adj_x"])
    b = _operand(op.inputs[1], rhs, p["rank"], p["rhs_offset"], p["adj_y"])
    acc = np.matmul(a, b).astype(np.int64).reshape(-1, *op.outputs[0].shape[1:])
    if p["dtype"] == "int16":
        return fixedpoint.requantize_s16(acc, p["multiplier"], p["shift"], p["act_min"], p["act_max"])
    return fixedpoint.requantize(acc, p["multiplier"], p["shift"], p["output_offset"], p["act_min"], p["act_max"])
