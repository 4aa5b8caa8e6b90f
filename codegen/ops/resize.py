"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR on int8 NHWC, as TFLM's reference kernels.
Nearest: each output row and column reads the input row and column GetNearestNeighbor picks (float32
scale, align_corners and half_pixel_centers as TFLite defines them) and copies that pixel's channels.
Bilinear (ResizeBilinearInteger): each output row and column has two input neighbours and a weight with
10 fractional bits. The index maps are derived here; hostsim uses them and the C kernels read them
from flash."""
import math

import numpy as np

from codegen.errors import MlcError
from codegen.ops import define, per_tensor_quantized


def nearest(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> list:
    """TFLM GetNearestNeighbor for every output index: float32 arithmetic, round half away or floor."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5 if half_pixel_centers else 0.0)
    picked = []
    for i in range(out_size):
        v = np.float32(np.float32(i) + offset) * np.float32(scale)
        j = int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v))) if align_corners else math.floor(float(v))
        j = min(j, in_size - 1)
        picked.append(max(j, 0) if half_pixel_centers else j)
    return picked


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def bilinear(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> list:
    """TFLM ComputeInterpolationValuesInteger for every output index: (lower, upper, fraction of 1024)."""
    scale = _cdiv(1024 * in_size + out_size // 2, out_size)
    if align_corners and out_size > 1:
        scale = _cdiv(1024 * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    picked = []
    for i in range(out_size):
        v = i * scale + _cdiv(scale, 2) - 512 if half_pixel_centers else i * scale
        lo = max(_cdiv(v, 1024), 0)
        picked.append((lo, min(_cdiv(v + 1023, 1024), in_size - 1), v - 1024 * lo))
    return picked


def _size_and_options(op):
    x, size, out = op.inputs[0], op.inputs[1], op.outputs[0]
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
    if len(x.shape) != 4 or size is None or not size.is_const or size.dtype != "int32" or size.size != 2:
        raise MlcError(f"{op.kind} needs a 4-D input and a constant int32 size of 2 values "
                       f"(TFLite Micro's limits); input {x.shape}")
    h, w = (int(v) for v in size.data.ravel())
    if tuple(out.shape) != (x.shape[0], h, w, x.shape[3]) or h < 1 or w < 1:
        raise MlcError(f"output '{out.name}' has shape {out.shape}, the size {h}x{w} gives {(x.shape[0], h, w, x.shape[3])}")
    return h, w, bool(op.options.get("align_corners", False)), bool(op.options.get("half_pixel_centers", False))


def resize_params(op):
    x = op.inputs[0]
    h, w, align, half = _size_and_options(op)
    rows = nearest(h, x.shape[1], align, half)
    cols = nearest(w, x.shape[2], align, half)
    if min(rows + cols) < 0:
        raise MlcError("RESIZE_NEAREST_NEIGHBOR picks an input index below 0 (TFLite reads outside the input)")
    return {"rows": rows, "cols": cols, "depth": x.shape[3], "in_h": x.shape[1], "in_w": x.shape[2]}


def resize_c(layer):
    op, p = layer.op, layer.p
    depth, in_w = p["depth"], p["in_w"]
    rows = layer.const("rows", np.array([r * in_w * depth for r in p["rows"]], np.int32), "int32_t")
    cols = layer.const("cols", np.array([c * depth for c in p["cols"]], np.int32), "int32_t")
    fn = layer.kernel("resize_s8.c.j2", "resize_nearest_s8", bilinear=False, out_h=len(p["rows"]), out_w=len(p["cols"]), depth=depth,
                      batches=op.inputs[0].shape[0], batch_size=p["in_h"] * in_w * depth, const=op.inputs[0].is_const)
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {rows}, {cols});"


def bilinear_params(op):
    x = op.inputs[0]
    h, w, align, half = _size_and_options(op)
    if align and half:
        raise MlcError("RESIZE_BILINEAR with both align_corners and half_pixel_centers (TFLite Micro refuses it)")
    rows, cols = bilinear(h, x.shape[1], align, half), bilinear(w, x.shape[2], align, half)
    if max(lo for lo, _, _ in rows) >= x.shape[1] or max(lo for lo, _, _ in cols) >= x.shape[2]:
        raise MlcError("RESIZE_BILINEAR picks an input index past the input's end (TFLite reads outside the input)")
    return {"rows": rows, "cols": cols, "depth": x.shape[3], "in_h": x.shape[1], "in_w": x.shape[2]}


def bilinear_c(layer):
    op, p = layer.op, layer.p
    depth, in_w = p["depth"], p["in_w"]
    rows = layer.const("rows", np.array([[lo * in_w * depth, hi * in_w * depth, f] for lo, hi, f in p["rows"]],
                                        np.int32).ravel(), "int32_t")
    cols = layer.const("cols", np.array([[lo * depth, hi * depth, f] for lo, hi, f in p["cols"]], np.int32).ravel(),
                       "int32_t")
    fn = layer.kernel("resize_s8.c.j2", "resize_bilinear_s8", bilinear=True, out_h=len(p["rows"]),
                      out_w=len(p["cols"]), depth=depth, batches=op.inputs[0].shape[0],
                      batch_size=p["in_h"] * in_w * depth, const=op.inputs[0].is_const)
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {rows}, {cols});"


define("RESIZE_NEAREST_NEIGHBOR", arity=(2, 2), derive=resize_params, emit=resize_c, templates=("resize_s8.c.j2",))
define("RESIZE_BILINEAR", arity=(2, 2), derive=bilinear_params, emit=bilinear_c, templates=("resize_s8.c.j2",))
