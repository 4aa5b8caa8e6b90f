"""AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization"), in numpy.

Per CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED layer, each weight w = s * (floor(w / s) + r), r in [0, 1),
is rounded down or up as the layer's output on the calibration data asks, not to the nearest integer: a soft
rounding h(V) = clip(sigmoid(V) (ZETA - GAMMA) + GAMMA, 0, 1) per weight, started at r, is learned by Adam on

    || act(W x + b) - act(s (floor(W / s) + h(V)) x_q + b) ||^2 / ||act(W x + b)||^2 * C_out
        + LAMBDA * sum(1 - |2 h(V) - 1|^beta)

(x: the layer's float input, x_q: its input in the int8 graph simulated in float, so that the error of the
quantized layers before it is what this one learns to compensate; act: the fused activation), on random
batches of output pixels; the regulariser is off for the first WARMUP of the steps, then its beta anneals
from 20 to 2, pushing every h(V) to 0 or 1. The integer weight is floor(w / s) + (V >= 0). The scales stay
those of nearest rounding (symmetric per channel), so only the integers change. A layer with fewer output
pixels than ROWS_PER_WEIGHT per weight of a channel keeps nearest rounding: on so few rows the learned
rounding fits the calibration samples rather than the layer (measured on drawn dense layers).
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from codegen.model.ir import Op
from codegen.quantize import executor

ZETA, GAMMA = 1.1, -0.1
STEPS = 2000
BATCH = 2048  # output pixels per step
LEARNING_RATE = 1e-2
LAMBDA = 0.01
WARMUP = 0.2
BETAS = (20.0, 2.0)
MIN_SAMPLES = 64  # fewer calibration samples and the learned rounding fits them instead of the layer
ROWS_PER_WEIGHT = 4  # a layer with fewer output pixels per weight of a channel keeps nearest rounding
MAX_ROWS = 200_000  # output pixels kept (a random subset beyond), to bound memory


class _Layer:
    """The layer as a product of its input rows with a weight matrix (K, C_out) (depthwise: (taps, C_out),
    multiplied channel by channel), the per-channel scales along C_out."""

    def __init__(self, op: Op, w: np.ndarray):
        self.shape = w.shape
        self.depthwise = op.kind == "DEPTHWISE_CONV_2D"
        self.matrix = w.reshape(-1, w.shape[3]) if self.depthwise else w.reshape(w.shape[0], -1).T

    def forward(self, x, m):
        return np.einsum("rkc,kc->rc", x, m) if self.depthwise else x @ m

    def gradient(self, x, dy):
        """d(sum(dy * forward(x, m))) / dm."""
        return np.einsum("rkc,rc->kc", x, dy) if self.depthwise else x.T @ dy

    def weights(self, m):
        return m.reshape(self.shape) if self.depthwise else m.T.reshape(self.shape)


@threadpool_limits.wrap(limits=1, user_api="blas")
def round_weights(op: Op, x: np.ndarray, x_q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The layer's int8 weights (op.inputs[1]'s layout) rounded by AdaRound at the given per-channel scales;
    x and x_q: its stacked float input in the float graph and in the simulated int8 graph."""
    w = op.inputs[1].data.astype(np.float64)
    bias = op.inputs[2].data if len(op.inputs) > 2 and op.inputs[2] is not None else 0.0
    layer = _Layer(op, w)
    act = executor.ACTIVATIONS[op.options.get("activation", "NONE")]
    cout = layer.matrix.shape[1]
    target = executor.run_op(op, [x, op.inputs[1].data, bias]).reshape(-1, cout)
    rows = executor.patches(op, x_q.astype(np.float32))
    keep = np.random.default_rng(0).permutation(len(rows))[:MAX_ROWS]  # shuffled once: batches are slices
    rows, target = rows[keep], target[keep]
    scaled = layer.matrix / scales.astype(np.float64)
    if len(rows) < ROWS_PER_WEIGHT * len(scaled):
        return layer.weights(np.clip(np.round(scaled), -127, 127)).astype(np.int8)
    floor = np.floor(scaled)
    rest = scaled - floor
    v = -np.log((ZETA - GAMMA) / (rest - GAMMA) - 1)  # h(v) = rest: the soft rounding starts at w itself
    norm = cout / max(float(np.mean(target.astype(np.float64) ** 2)), 1e-30)
    m1, m2 = np.zeros_like(v), np.zeros_like(v)
    warm = int(WARMUP * STEPS)
    for step in range(STEPS):
        start = step * BATCH % max(len(rows) - BATCH, 1)
        xb, tb = rows[start:start + BATCH], target[start:start + BATCH]
        sig = 1 / (1 + np.exp(-v))
        soft = sig * (ZETA - GAMMA) + GAMMA
        h = np.clip(soft, 0, 1)
        q = floor + h
        inside = (q >= -127) & (q <= 127)
        m = (np.clip(q, -127, 127) * scales).astype(np.float32)
        pre = layer.forward(xb, m) + bias
        y = act(pre)
        dy = (2 * norm / len(xb)) * (y - tb) * (y == pre)  # the activation passes the gradient where it is identity
        grad_h = layer.gradient(xb, dy.astype(np.float32)) * scales * inside
        if step >= warm:
            beta = BETAS[1] + (BETAS[0] - BETAS[1]) * (1 - (step - warm) / max(STEPS - warm, 1))
            t = 2 * h - 1
            grad_h = grad_h - LAMBDA * beta * 2 * np.abs(t) ** (beta - 1) * np.sign(t)
        grad = grad_h * (soft > 0) * (soft < 1) * sig * (1 - sig) * (ZETA - GAMMA)
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad ** 2
        v = v - LEARNING_RATE * (m1 / (1 - 0.9 ** (step + 1))) / (np.sqrt(m2 / (1 - 0.999 ** (step + 1))) + 1e-8)
    return layer.weights(np.clip(floor + (v >= 0), -127, 127)).astype(np.int8)
