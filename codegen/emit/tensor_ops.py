"""CONCATENATION, PAD/PADV2, MEAN, QUANTIZE and DEQUANTIZE: the loop structure of each layer is
worked out here from its shapes (codegen.params.tensor_ops), the kernels only walk it."""
import numpy as np

from codegen.emit import emits
from codegen.emit.layer import c_literal, c_type


def _strides(shape) -> list:
    return [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]


@emits("CONCATENATION")
def concatenation(layer):
    op, p = layer.op, layer.p
    inputs = [t for t in op.inputs if t is not None]
    fn = layer.kernel("concatenation_s8.c.j2", "concatenation_s8", outer=p["outer"], chunks=p["chunks"],
                      consts=[t.is_const for t in inputs])
    args = ", ".join(layer.inp(i) for i, t in enumerate(op.inputs) if t is not None)
    return f"{fn}({args}, {layer.out(0)});"


@emits("PAD", "PADV2")
def pad(layer):
    op, p = layer.op, layer.p
    in_shape, out_shape = op.inputs[0].shape, op.outputs[0].shape
    padded = [d for d, (before, after) in enumerate(p["paddings"]) if before or after]
    last = padded[-1] if padded else -1  # rows: from this axis inward, contiguous in input and output
    inner = int(np.prod(in_shape[last + 1:], dtype=np.int64))
    in_strides, out_strides = _strides(in_shape), _strides(out_shape)
    axes = [(in_shape[d], in_strides[d], out_strides[d], p["paddings"][d][0]) for d in range(last)
            if in_shape[d] > 1 or p["paddings"][d][0]]  # a size-1 axis padded after only adds no offset
    row = in_shape[last] * inner if last >= 0 else op.inputs[0].size
    row_offset = p["paddings"][last][0] * inner if last >= 0 else 0
    fn = layer.kernel("pad_s8.c.j2", "pad_s8", kind=op.kind, axes=axes, row=row, row_offset=row_offset,
                      rows=op.inputs[0].size // max(row, 1), out_size=op.outputs[0].size, pad_value=p["pad_value"])
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


def _mean_loops(shape, axes) -> tuple:
    """(kept, reduced) loops of (size, input stride), size-1 axes dropped, neighbours merged."""
    loops = {True: [], False: []}
    last = None
    for d, (size, stride) in enumerate(zip(shape, _strides(shape))):
        if size == 1:
            continue
        reduced = d in axes
        group = loops[reduced]
        if last == reduced and group and group[-1][1] == stride * size:
            group[-1] = (group[-1][0] * size, stride)
        else:
            group.append((size, stride))
        last = reduced
    return loops[False], loops[True] or [(1, 0)]


@emits("MEAN")
def mean(layer):
    op, p = layer.op, layer.p
    kept, reduced = _mean_loops(op.inputs[0].shape, p["axes"])
    fn = layer.kernel("mean_s8.c.j2", "mean_s8", kept=kept, reduced=reduced, count=p["count"],
                      in_zp=p["input_zp"], out_zp=p["output_zp"])
    q = layer.const("q", np.array([p["multiplier"], p["shift"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {q});"


def _narrowing(op):
    """In place when no output element is wider than its input element."""
    return np.dtype(op.outputs[0].dtype).itemsize <= np.dtype(op.inputs[0].dtype).itemsize


@emits("QUANTIZE", "DEQUANTIZE", inplace=_narrowing)
def quantize(layer):
    op, p = layer.op, layer.p
    x, y = op.inputs[0], op.outputs[0]
    mode = "dequantize" if op.kind == "DEQUANTIZE" else ("requantize" if p["requantize"] else "affine")
    args = {"mode": mode, "size": x.size, "in_type": c_type(x.dtype), "out_type": c_type(y.dtype)}
    if mode == "dequantize":
        args.update(scale=c_literal(p["scale"], "float"), zp=p["zero_point"])
    else:
        args.update(out_zp=p["output_zp"], qmin=p["qmin"], qmax=p["qmax"], in_zp=p.get("input_zp", 0),
                    scale=c_literal(p.get("scale", 1.0), "float"))
    fn = layer.kernel("quantize_s8.c.j2", f"{mode}_s8", **args)
    call = f"{fn}({layer.inp(0)}, {layer.out(0)}"
    if mode == "requantize":
        call += ", " + layer.const("q", np.array([p["multiplier"], p["shift"]], np.int32), "int32_t")
    return call + ");"
