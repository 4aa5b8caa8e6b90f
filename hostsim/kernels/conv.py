"""CONV_2D and DEPTHWISE_CONV_2D as TFLM's reference_integer_ops (per-channel).

Padding contributes nothing to the sum, which is the same as padding (x + input_offset) with zeros.
The sums are formed in float64 through BLAS: every partial sum of int8 x int9 products stays far below
2^53, so the float result is the exact integer.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from hostsim.fixedpoint import requantize
from hostsim.kernels import kernel


def windows(x, p, kh, kw, out_hw) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) view of the zero-padded (x + input_offset) under every output position."""
    n, h, w, c = x.shape
    oh, ow = out_hw
    need_h = (oh - 1) * p["stride_h"] + (kh - 1) * p["dilation_h"] + 1
    need_w = (ow - 1) * p["stride_w"] + (kw - 1) * p["dilation_w"] + 1
    padded = np.zeros((n, max(need_h, p["pad_h"] + h), max(need_w, p["pad_w"] + w), c), np.float64)
    padded[:, p["pad_h"]:p["pad_h"] + h, p["pad_w"]:p["pad_w"] + w, :] = x.astype(np.float64) + p["input_offset"]
    sn, sh, sw, sc = padded.strides
    return as_strided(padded, (n, oh, ow, kh, kw, c),
                      (sn, sh * p["stride_h"], sw * p["stride_w"], sh * p["dilation_h"], sw * p["dilation_w"], sc),
                      writeable=False)


def _finish(op, acc):
    p = op.params
    acc = np.rint(acc).astype(np.int64) + p["bias"]
    return requantize(acc, p["multiplier"], p["shift"], p["output_offset"], p["act_min"], p["act_max"])


@kernel("CONV_2D")
def conv_2d(op, x, *_):
    w = op.inputs[1].data  # (OC, KH, KW, IC)
    oc, kh, kw, ic = w.shape
    out_hw = op.outputs[0].shape[1:3]
    cols = windows(x, op.params, kh, kw, out_hw).reshape(-1, kh * kw * ic)
    acc = cols @ w.reshape(oc, -1).T.astype(np.float64)
    return _finish(op, acc).reshape(x.shape[0], *out_hw, oc)


@kernel("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(op, x, *_):
    w = op.inputs[1].data  # (1, KH, KW, IC * M)
    _, kh, kw, oc = w.shape
    m = op.params["depth_multiplier"]
    win = windows(x, op.params, kh, kw, op.outputs[0].shape[1:3])
    if m > 1:  # output channel c*m + j reads input channel c
        win = np.repeat(win, m, axis=5)
    acc = np.einsum("nhwijc,ijc->nhwc", win, w[0].astype(np.float64), optimize=True)
    return _finish(op, acc)
