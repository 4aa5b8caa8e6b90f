"""AVERAGE_POOL_2D and MAX_POOL_2D: no requantization (TFLite requires equal input and output
quantization), only the fused-activation clamp and the window geometry."""
import numpy as np

from codegen.errors import MlcError
from codegen.model.quant import activation_range
from codegen.ops.kernel_plan import KernelPlan
from codegen.ops.thresholds import MAX_HALFWORD_WINDOW
from codegen.ops import define, per_tensor_quantized
from codegen.ops.conv import window_geometry


def pool_2d_params(op):
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x, ("int8", "int16"))
    per_tensor_quantized(op, out, (x.dtype,))
    if x.quant.zp != out.quant.zp or x.quant.s != out.quant.s:
        raise MlcError(f"input and output quantization differ; TFLite {x.dtype} pooling requires them equal")
    k_hw = (op.options["filter_height"], op.options["filter_width"])
    info = np.iinfo(out.dtype)
    act_min, act_max = activation_range(op.options.get("activation", "NONE"), out.quant.s, out.quant.zp, info.min, info.max)
    return {**window_geometry(op, x.shape[1:3], k_hw), "filter_h": k_hw[0], "filter_w": k_hw[1],
            "act_min": act_min, "act_max": act_max}


def _inplace(op) -> bool:
    """Output pixel q (written to pixel slot q, channel by channel after its window is read) may
    overwrite the input when no later window reads a slot below its own index: the first pixel
    each window reads is at or after its output index."""
    p = op.params
    _, in_h, in_w, c = op.inputs[0].shape
    _, out_h, out_w, c_out = op.outputs[0].shape
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    first = np.maximum(oy * p["stride_h"] - p["pad_h"], 0) * in_w + np.maximum(ox * p["stride_w"] - p["pad_w"], 0)
    return c == c_out and bool(np.all(first >= oy * out_w + ox))


def pool_2d_plan(op, isa, reference, inplace, alone):
    p, c = op.params, op.inputs[0].shape[3]
    window = p["filter_h"] * p["filter_w"]
    wide = op.inputs[0].dtype == "int16"
    fast = (not reference and not wide and isa != "portable" and op.kind == "AVERAGE_POOL_2D" and c % 4 == 0
            and window <= MAX_HALFWORD_WINDOW)
    if fast:
        why = f"four channels per word, summed in halfwords (window {window} <= {MAX_HALFWORD_WINDOW})"
    else:
        why = ("the reference loop nest was asked for" if reference else "int16: no halfword sums" if wide
               else "no DSP extension" if isa == "portable"
               else "the channel loop: nothing to gain" if op.kind == "MAX_POOL_2D"
               else f"{c} channels or a window of {window}: no halfword sums")
    return KernelPlan(op.index, op.kind, "fast" if fast else "reference", isa, channels=4 if fast else 1,
                      inplace=inplace, why={"variant": why}, options={})


def pool_2d_c(layer):
    op, p = layer.op, layer.p
    _, in_h, in_w, c = op.inputs[0].shape
    _, out_h, out_w, _ = op.outputs[0].shape
    wide = op.inputs[0].dtype == "int16"
    base = f"{'avg' if op.kind == 'AVERAGE_POOL_2D' else 'max'}_pool_{'s16' if wide else 's8'}"
    fn = layer.kernel("pooling_s8.c.j2", base, kind=op.kind, in_h=in_h, in_w=in_w, c=c, t="int16_t" if wide else "int8_t",
                      lowest=-32768 if wide else -128,
                      out_h=out_h, out_w=out_w,
                      f_h=p["filter_h"], f_w=p["filter_w"], s_h=p["stride_h"], s_w=p["stride_w"],
                      p_h=p["pad_h"], p_w=p["pad_w"], act_min=p["act_min"], act_max=p["act_max"])
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


define("AVERAGE_POOL_2D", "MAX_POOL_2D", arity=(1, 1), derive=pool_2d_params, emit=pool_2d_c, inplace=_inplace, plan=pool_2d_plan, templates=("pooling_s8.c.j2",),
       dtypes=("int8", "int16"))
