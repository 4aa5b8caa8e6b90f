"""AdaRound (codegen/quantize/adaround.py) on drawn layers: the learned rounding against nearest rounding on
the layer's output, at the same per-channel scales."""
import numpy as np
import pytest

from codegen.model.ir import Op, Tensor
from codegen.quantize import adaround, executor
from codegen.quantize.int8 import WEIGHT_AXIS, _dequantized, _fake_quantize, _per_tensor, quantize_weights

SAMPLES = 200


def _layer(kind, rng, cin=8, cout=12):
    """A drawn layer with a ReLU on 6x6 inputs (dense: 32 inputs)."""
    shapes = {"CONV_2D": ((cout, 3, 3, cin), cout), "DEPTHWISE_CONV_2D": ((1, 3, 3, cin), cin),
              "FULLY_CONNECTED": ((cout, 32), cout)}
    wshape, channels = shapes[kind]
    w = rng.standard_normal(wshape).astype(np.float32)
    b = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    dense = kind == "FULLY_CONNECTED"
    x = Tensor(index=0, name="x", shape=(1, 32) if dense else (1, 6, 6, cin), dtype="float32")
    y = Tensor(index=3, name="y", shape=(1, channels) if dense else (1, 6, 6, channels), dtype="float32")
    options = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
                   depth_multiplier=1, activation="RELU")
    return Op(index=0, kind=kind, options=options, outputs=[y],
              inputs=[x, Tensor(index=1, name="w", shape=w.shape, dtype="float32", data=w),
                      Tensor(index=2, name="b", shape=b.shape, dtype="float32", data=b)])


def _inputs(op, rng, n):
    """ReLU activations whose channels share a common part (as real feature maps do; with independent inputs
    nearest rounding is already what minimises the expected error), and the same quantized to int8."""
    shape = (n, *op.inputs[0].shape[1:])
    x = np.maximum(rng.standard_normal((*shape[:-1], 1)) + 0.3 * rng.standard_normal(shape), 0).astype(np.float32)
    return x, _fake_quantize(x, _per_tensor(float(x.max()) / 255, -128))


def _error(op, q, scales, x, x_q):
    axis = WEIGHT_AXIS[op.kind]
    ref = executor.run_op(op, [x, op.inputs[1].data, op.inputs[2].data])
    got = executor.run_op(op, [x_q, _dequantized(q, scales, axis), op.inputs[2].data])
    return float(np.mean((ref - got) ** 2))


@pytest.mark.parametrize("kind", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"])
def test_learned_rounding_lowers_the_layer_error_against_nearest_rounding(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    op = _layer(kind, rng)
    x, x_q = _inputs(op, rng, SAMPLES)
    nearest, scales = quantize_weights(op.inputs[1].data, WEIGHT_AXIS[kind])
    learned = adaround.round_weights(op, x, x_q, scales)
    scaled = op.inputs[1].data / scales.reshape([-1 if i == WEIGHT_AXIS[kind] else 1 for i in range(nearest.ndim)])
    assert np.all((learned == np.floor(scaled)) | (learned == np.ceil(scaled)))  # only the rounding changes
    assert np.any(learned != nearest)
    assert _error(op, learned, scales, x, x_q) < _error(op, nearest, scales, x, x_q)
    if kind == "CONV_2D":  # 36 output pixels per sample: enough rows that the rounding holds on other inputs
        x_test, x_test_q = _inputs(op, rng, SAMPLES)
        assert _error(op, learned, scales, x_test, x_test_q) < _error(op, nearest, scales, x_test, x_test_q)
