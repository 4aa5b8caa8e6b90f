"""RESIZE_NEAREST_NEIGHBOR as TFLM's reference kernel: a gather of input rows and columns by the index
maps codegen.ops.resize derives (GetNearestNeighbor)."""
import numpy as np

from hostsim.kernels import kernel
from hostsim.kernels.tensor_ops import full, stacked


@kernel("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest_neighbor(op, x, *_):
    p = op.params
    picked = full(x, op.inputs[0])[:, :, np.asarray(p["rows"])][:, :, :, np.asarray(p["cols"])]
    return stacked(np.ascontiguousarray(picked), op.outputs[0])
