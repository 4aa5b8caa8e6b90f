"""AVERAGE_POOL_2D and MAX_POOL_2D: no requantization (TFLite requires equal input and output
quantization), only the fused-activation clamp and the window geometry."""
from codegen.errors import MlcError
from codegen.params import derives, int8_activation
from codegen.params.conv import window_geometry
from codegen.quant import activation_range


@derives("AVERAGE_POOL_2D", "MAX_POOL_2D")
def pool_2d(op):
    x, out = op.inputs[0], op.outputs[0]
    int8_activation(op, x)
    int8_activation(op, out)
    if x.quant.zp != out.quant.zp or x.quant.s != out.quant.s:
        raise MlcError("input and output quantization differ; TFLite int8 pooling requires them equal")
    k_hw = (op.options["filter_height"], op.options["filter_width"])
    act_min, act_max = activation_range(op.options.get("activation", "NONE"), out.quant.s, out.quant.zp)
    return {**window_geometry(op, x.shape[1:3], k_hw), "filter_h": k_hw[0], "filter_w": k_hw[1],
            "act_min": act_min, "act_max": act_max}
