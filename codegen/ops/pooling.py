"""AVERAGE_POOL_2D and MAX_POOL_2D: no requantization (TFLite requires equal input and output
quantization), only the fused-activation clamp and the window geometry."""
import numpy as np

from codegen.errors import MlcError
from codegen.model.quant import activation_range
from codegen.ops import define, per_tensor_quantized
from codegen.ops.conv import window_geometry


def pool_2d_params(op):
    x, out = op.inputs[0], op.outputs[0]
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
    if x.quant.zp != out.quant.zp or x.quant.s != out.quant.s:
        raise MlcError("input and output quantization differ; TFLite int8 pooling requires them equal")
    k_hw = (op.options["filter_height"], op.options["filter_width"])
    act_min, act_max = activation_range(op.options.get("activation", "NONE"), out.quant.s, out.quant.zp)
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


MAX_HALFWORD_WINDOW = 256  # |sum| <= 128 * 256 fits a halfword: the fast average sums in sxtab16 halves


def pool_2d_c(layer):
    op, p = layer.op, layer.p
    _, in_h, in_w, c = op.inputs[0].shape
    _, out_h, out_w, _ = op.outputs[0].shape
    base = "avg_pool_s8" if op.kind == "AVERAGE_POOL_2D" else "max_pool_s8"
    fast = (not layer.reference and op.kind == "AVERAGE_POOL_2D" and c % 4 == 0
            and p["filter_h"] * p["filter_w"] <= MAX_HALFWORD_WINDOW)
    variant = "fast" if fast else "reference"
    fn = layer.kernel("pooling_s8.c.j2", base, kind=op.kind, variant=variant, in_h=in_h, in_w=in_w, c=c,
                      out_h=out_h, out_w=out_w,
                      f_h=p["filter_h"], f_w=p["filter_w"], s_h=p["stride_h"], s_w=p["stride_w"],
                      p_h=p["pad_h"], p_w=p["pad_w"], act_min=p["act_min"], act_max=p["act_max"])
    return f"{fn}({layer.inp(0)}, {layer.out(0)});"


define("AVERAGE_POOL_2D", "MAX_POOL_2D", arity=(1, 1), derive=pool_2d_params, emit=pool_2d_c, inplace=_inplace, templates=("pooling_s8.c.j2",))
