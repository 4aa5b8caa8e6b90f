"""UNIDIRECTIONAL_SEQUENCE_LSTM as TFLM's lstm_eval (int8 weights, int16 cell state; int8 activations with
int32 sums, or 16x8: int16 activations with int64 sums and the int64 requantization).

The hidden and cell state are variable tensors: TFLM keeps them across invokes. hostsim's runner runs the
N stacked inputs one after another and hands the kernel the state arrays, which it updates in place (the
first invoke starts from the tensors' reset values), as N invokes of one TFLM interpreter do."""
import numpy as np

from codegen.model.fixedpoint import (int16_logistic, int16_tanh, multiply_by_quantized_multiplier,
                                     multiply_by_quantized_multiplier_64)
from codegen.ops.lstm import CELL, HIDDEN
from hostsim.kernels import kernel

_INT16 = (-32768, 32767)
# the gate FCs' requantization: int8 activations sum in int32, int16 ones (16x8) in int64
_REQUANT = {"int8": multiply_by_quantized_multiplier, "int16": multiply_by_quantized_multiplier_64}


def _fc16(x, w, bias, offset, requant, multiplier, shift):
    """A gate's FULLY_CONNECTED into int16 (reference_integer_ops::FullyConnected, int16 output)."""
    acc = (x.astype(np.int64) + offset) @ w.T.astype(np.int64) + bias
    return np.clip(requant(acc, multiplier, shift), *_INT16)


def _mul(a, b, mul, offset=0, bounds=_INT16):
    """MulElementwise of two int16 vectors (offsets 0) into `bounds`."""
    multiplier, shift = mul
    return np.clip(multiply_by_quantized_multiplier(a.astype(np.int64) * b, multiplier, shift) + offset, *bounds)


def _gate(op, g, x, h, nonlinear, p):
    q, requant = p["gates"][g], _REQUANT[p["dtype"]]
    fx = _fc16(x, op.inputs[q["x_weights"]].data, q["bias"], p["input_offset"], requant, q["x_multiplier"], q["x_shift"])
    fh = _fc16(h, op.inputs[q["h_weights"]].data, 0, p["hidden_offset"], requant, q["h_multiplier"], q["h_shift"])
    return nonlinear(np.clip(fx + fh, *_INT16), *p["gate_nonlinear"]).astype(np.int64)


def lstm_sequence(op, x, h, c):
    """One invoke: x (B, T, D) int8 or int16 (batch-major view), state h (B, U) of x's type and c (B, U)
    int16. Returns the outputs (B, T, U) and the new state."""
    p = op.params
    act = np.dtype(p["dtype"])
    bounds = (np.iinfo(act).min, np.iinfo(act).max)
    out = np.empty((x.shape[0], x.shape[1], p["units"]), act)
    c = c.astype(np.int64)
    for t in range(x.shape[1]):
        xt = x[:, t]
        f = _gate(op, "forget", xt, h, int16_logistic, p)
        i = _gate(op, "input", xt, h, int16_logistic, p)
        g = _gate(op, "cell", xt, h, int16_tanh, p)
        c = np.clip(_mul(f, c, p["forget_mul"]) + _mul(i, g, p["input_mul"]), *_INT16)
        if p["cell_clip"]:
            c = np.clip(c, -p["cell_clip"], p["cell_clip"])
        o = _gate(op, "output", xt, h, int16_logistic, p)
        h = _mul(int16_tanh(c, *p["cell_tanh"]).astype(np.int64), o, p["output_mul"], p["output_offset"], bounds).astype(act)
        out[:, t] = h
    return out, h, c.astype(np.int16)


@kernel("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(op, x, *rest):
    p = op.params
    given = [id(t) for t in op.inputs[1:] if t is not None]  # rest holds these inputs' values, the state among them
    h_state, c_state = (rest[given.index(id(op.inputs[i]))] for i in (HIDDEN, CELL))
    h, c = h_state.reshape(p["batch"], p["units"]), c_state.reshape(p["batch"], p["units"])
    outs = []
    for sample in x:
        seq = sample.reshape(op.inputs[0].shape)  # (T, B, D) time major or (B, T, D)
        seq = seq.swapaxes(0, 1) if p["time_major"] else seq
        out, h, c = lstm_sequence(op, seq, h, c)
        outs.append(out.swapaxes(0, 1) if p["time_major"] else out)
    h_state[...], c_state[...] = h.reshape(h_state.shape), c.reshape(c_state.shape)  # the runner keeps them
    return np.stack(outs).reshape(len(x), *op.outputs[0].shape[1:])
