"""CONV_2D and DEPTHWISE_CONV_2D as TFLM's reference_integer_ops (per-channel).

Padding contributes nothing to the sum, which is the same as padding (x + input_offset) with zeros.
CONV_2D sums through BLAS in floating point, which is exact: every partial sum of int8 x (int8 +
offset) products is an integer below 2^24 (float32) or 2^53 (float64), whatever the summation order.
DEPTHWISE_CONV_2D sums its few taps in int32. `requantize` is the hot path of every weighted layer.
"""
import functools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from codegen.model import fixedpoint
from hostsim.kernels import kernel

_PRODUCT_MAX = 255 * 128  # |x + input_offset| * |w| for int8 x and w
_PRODUCT_MAX16 = 32768 * 128  # |x| * |w| for int16 x (zero point 0) and int8 w
_CHUNK = 1 << 15  # elements per requantize step: the int64 temporaries stay in cache
_SLICE = 1 << 16  # output elements per slice of the input stack, for the same reason


def padded(x, p, kh, kw, out_hw, dtype, fill=0, offset=0) -> np.ndarray:
    """x + offset, padded with `fill` to cover every window of the output (NHWC)."""
    n, h, w, c = x.shape
    need_h = (out_hw[0] - 1) * p["stride_h"] + (kh - 1) * p["dilation_h"] + 1
    need_w = (out_hw[1] - 1) * p["stride_w"] + (kw - 1) * p["dilation_w"] + 1
    out = np.full((n, max(need_h, p["pad_h"] + h), max(need_w, p["pad_w"] + w), c), fill, dtype)
    inner = out[:, p["pad_h"]:p["pad_h"] + h, p["pad_w"]:p["pad_w"] + w, :]
    np.add(x, np.asarray(offset, dtype), out=inner, casting="unsafe")
    return out


def tap(xp, p, i: int, j: int, out_hw) -> np.ndarray:
    """The (N, OH, OW, C) input slice that kernel tap (i, j) reads for every output position."""
    top, left = i * p["dilation_h"], j * p["dilation_w"]
    return xp[:, top:top + (out_hw[0] - 1) * p["stride_h"] + 1:p["stride_h"],
              left:left + (out_hw[1] - 1) * p["stride_w"] + 1:p["stride_w"], :]


def windows(xp, p, kh, kw, out_hw) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) view of every window of a padded input."""
    sn, sh, sw, sc = xp.strides
    return as_strided(xp, (xp.shape[0], *out_hw, kh, kw, xp.shape[3]),
                      (sn, sh * p["stride_h"], sw * p["stride_w"], sh * p["dilation_h"], sw * p["dilation_w"], sc),
                      writeable=False)


def requantize(acc, p) -> np.ndarray:
    """A weighted layer's output from its accumulators (output channels along the last axis): the bias,
    then fixedpoint.requantize, a few chunks at a time so the int64 temporaries stay in cache."""
    channels = acc.shape[-1]
    flat = acc.reshape(-1, channels)
    wide = p.get("dtype") == "int16"  # int64 sums, TFLM's int64 MultiplyByQuantizedMultiplier
    out = np.empty(flat.shape, np.int16 if wide else np.int8)
    bias = np.asarray(p["bias"], np.int64)
    step = max(1, _CHUNK // channels)
    for start in range(0, len(flat), step):
        chunk = flat[start:start + step] + bias
        out[start:start + step] = (fixedpoint.requantize_s16(chunk, p["multiplier"], p["shift"], p["act_min"], p["act_max"])
                                   if wide else fixedpoint.requantize(chunk, p["multiplier"], p["shift"], p["output_offset"],
                                                                      p["act_min"], p["act_max"]))
    return out.reshape(acc.shape)


def in_slices(fn):
    """Run a kernel on slices of the input stack small enough for its temporaries to stay in cache."""
    @functools.wraps(fn)
    def run(op, x, *rest):
        per = max(1, _SLICE // max(1, op.outputs[0].size))
        if len(x) <= per:
            return fn(op, x, *rest)
        return np.concatenate([fn(op, x[i:i + per], *rest) for i in range(0, len(x), per)])

    return run


def per_image(fn):
    """A leading batch over 1 (after SPACE_TO_BATCH_ND): the images of every stacked value stacked as inputs."""
    @functools.wraps(fn)
    def run(op, x, *rest):
        images = op.inputs[0].shape[0]
        if images == 1:
            return fn(op, x, *rest)
        return fn(op, x.reshape(-1, *op.inputs[0].shape[1:]), *rest).reshape(len(x), *op.outputs[0].shape)

    return run


def product_max(x) -> int:
    return _PRODUCT_MAX16 if x.dtype == np.int16 else _PRODUCT_MAX


def exact_float(k: int, x=None):
    """The cheapest float type in which sums of k products of int8 weights and x's dtype are exact."""
    return np.float32 if k * (_PRODUCT_MAX if x is None else product_max(x)) < (1 << 24) else np.float64


@kernel("CONV_2D")
@per_image
@in_slices
def conv_2d(op, x, *_):
    p = op.params
    w = op.inputs[1].data  # (OC, KH, KW, IC)
    oc, kh, kw, ic = w.shape
    out_hw = tuple(op.outputs[0].shape[1:3])
    dtype = exact_float(kh * kw * ic, x)
    pointwise = (kh, kw, p["stride_h"], p["stride_w"], p["pad_h"], p["pad_w"]) == (1, 1, 1, 1, 0, 0) and out_hw == x.shape[1:3]
    if pointwise:  # 1x1 convolution: a plain matrix product
        cols = x.reshape(-1, ic) + np.asarray(p["input_offset"], dtype)
    else:
        xp = padded(x, p, kh, kw, out_hw, dtype, offset=p["input_offset"])
        cols = windows(xp, p, kh, kw, out_hw).reshape(-1, kh * kw * ic)
    acc = (cols @ w.reshape(oc, -1).T.astype(dtype)).astype(np.int64)
    return requantize(acc, p).reshape(x.shape[0], *out_hw, oc)


@kernel("DEPTHWISE_CONV_2D")
@per_image
@in_slices
def depthwise_conv_2d(op, x, *_):
    p = op.params
    w = op.inputs[1].data[0]  # (KH, KW, IC * M)
    kh, kw, oc = w.shape
    out_hw = tuple(op.outputs[0].shape[1:3])
    if x.shape[3] == 1:  # one input channel (a typical first layer): a plain convolution, through BLAS
        dtype = exact_float(kh * kw, x)
        xp = padded(x, p, kh, kw, out_hw, dtype, offset=p["input_offset"])
        acc = windows(xp, p, kh, kw, out_hw).reshape(-1, kh * kw) @ w.reshape(kh * kw, oc).astype(dtype)
        return requantize(acc.astype(np.int64), p).reshape(x.shape[0], *out_hw, oc)
    dtype = np.int32 if kh * kw * product_max(x) < (1 << 31) else np.int64
    xp = padded(x, p, kh, kw, out_hw, dtype, offset=p["input_offset"])
    if p["depth_multiplier"] > 1:  # output channel c*m + j reads input channel c
        xp = np.repeat(xp, p["depth_multiplier"], axis=3)
    w = w.astype(dtype)
    acc = np.zeros((x.shape[0], *out_hw, oc), dtype)
    for i in range(kh):  # one vectorised multiply-add per kernel tap
        for j in range(kw):
            acc += tap(xp, p, i, j, out_hw) * w[i, j]
    return requantize(acc, p)


@kernel("TRANSPOSE_CONV")
def transpose_conv(op, _shape, w, x, *_):
    """TFLM reference_integer_ops::TransposeConv: every input pixel scatters (x + offset) * w into the
    output window it covers (int32 sums, wrapping; 16x8: int64), then bias and per-channel requantization."""
    p = op.params
    n, out_h, out_w, out_c = (x.shape[0], *op.outputs[0].shape[1:])
    _, kh, kw, _ = w.shape
    xs = x.reshape(x.shape[0], *op.inputs[2].shape[1:]).astype(np.int64) + p["input_offset"]
    in_h, in_w = xs.shape[1:3]
    sh, sw = p["stride_h"], p["stride_w"]
    full_h = max((in_h - 1) * sh + kh, p["pad_h"] + out_h)
    full_w = max((in_w - 1) * sw + kw, p["pad_w"] + out_w)
    acc = np.zeros((n, full_h, full_w, out_c), np.int64)
    wt = w.astype(np.int64)
    for fy in range(kh):
        for fx in range(kw):
            acc[:, fy:fy + (in_h - 1) * sh + 1:sh, fx:fx + (in_w - 1) * sw + 1:sw] += xs @ wt[:, fy, fx, :].T
    acc = acc[:, p["pad_h"]:p["pad_h"] + out_h, p["pad_w"]:p["pad_w"] + out_w]
    acc = acc if p["dtype"] == "int16" else fixedpoint.wrap32(acc)
    out = requantize(acc, p)
    return out.reshape(x.shape[0], *op.outputs[0].shape[1:]) if op.outputs[0].shape[0] == 1 else out
