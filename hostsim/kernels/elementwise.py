"""ADD and MUL as TFLM's reference_integer_ops AddFunc / MulElementwise, with numpy broadcasting
(the same index mapping as TFLM's NdArrayDesc broadcast loops)."""
import numpy as np

from codegen.model.fixedpoint import multiply_by_quantized_multiplier, requantize
from hostsim.kernels import kernel
from hostsim.kernels.tensor_ops import full, stacked


def _operands(op, a, b):
    rank = len(op.outputs[0].shape)
    return (full(a, op.inputs[0], rank).astype(np.int64) + op.params["input1_offset"],
            full(b, op.inputs[1], rank).astype(np.int64) + op.params["input2_offset"])


def _finish(op, acc, multiplier, shift):
    p = op.params
    out = requantize(acc, multiplier, shift, p["output_offset"], p["act_min"], p["act_max"])
    return stacked(out, op.outputs[0])


@kernel("ADD")
def add(op, a, b):
    p = op.params
    x1, x2 = _operands(op, a, b)
    # Both inputs go to the common scale with left_shift bits of headroom, then the sum is rescaled.
    s1 = multiply_by_quantized_multiplier(x1 << p["left_shift"], p["input1_multiplier"], p["input1_shift"])
    s2 = multiply_by_quantized_multiplier(x2 << p["left_shift"], p["input2_multiplier"], p["input2_shift"])
    return _finish(op, s1 + s2, p["output_multiplier"], p["output_shift"])


@kernel("MUL")
def mul(op, a, b):
    x1, x2 = _operands(op, a, b)
    return _finish(op, x1 * x2, op.params["output_multiplier"], op.params["output_shift"])
