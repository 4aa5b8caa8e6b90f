"""SVDF: TFLM's integer reference (svdf_common.cc EvalIntegerSvdfReference), int8 input and output, int8
feature weights, int8 or int16 time weights and activation state, int32 bias.

Each invoke shifts the state (filters x memory, the newest column last) left by one, writes the feature
matmul of the new input (requantized to the state's scale and dtype) into the last column, then takes
each filter's dot product with its time weights, sums `rank` filters per unit with the bias and
requantizes to int8. The state is the op's input 4, a variable tensor kept across invokes. TFLM's integer
path applies no fused activation (it ignores the RELU the converter records), nor do we.
"""
import numpy as np

from codegen.csyntax import c_type
from codegen.errors import MlcError
from codegen.model.quant import quantize_multiplier
from codegen.ops import define, per_tensor_quantized
from codegen.ops.kernel_plan import KernelPlan

STATE_INPUT = 4


def _const(op, t, role, dtypes):
    if t is None or not t.is_const or t.dtype not in dtypes or len(t.shape) != (1 if role == "bias" else 2):
        what = "missing" if t is None else f"{'constant ' if t.is_const else ''}{t.dtype} of shape {t.shape}"
        raise MlcError(f"SVDF {role} is {what}; TFLM's integer SVDF needs a constant {' or '.join(dtypes)} "
                       f"{'vector' if role == 'bias' else 'matrix'}")
    if t.quant is None or t.quant.per_channel:
        raise MlcError(f"SVDF {role} '{t.name}' needs one (per-tensor) scale")
    return t


def svdf_params(op):
    x, out, state = op.inputs[0], op.outputs[0], op.inputs[STATE_INPUT]
    per_tensor_quantized(op, x)
    per_tensor_quantized(op, out)
    per_tensor_quantized(op, state, ("int8", "int16"))
    wf = _const(op, op.inputs[1], "feature weights", ("int8",))
    wt = _const(op, op.inputs[2], "time weights", (state.dtype,))
    bias = _const(op, op.inputs[3], "bias", ("int32",))  # TFLM's Prepare reads the bias scale: not optional
    rank = int(op.options.get("rank", 1))
    filters, depth = wf.shape
    memory = wt.shape[1]
    if len(x.shape) != 2 or x.shape[1] != depth:
        raise MlcError(f"SVDF input shape {x.shape} does not fit feature weights of shape {wf.shape}")
    if rank < 1 or filters % rank or wt.shape[0] != filters:
        raise MlcError(f"SVDF rank {rank} does not divide {filters} filters, or time weights {wt.shape} do not match")
    units = filters // rank
    if tuple(out.shape) != (1, units) or bias.shape[0] != units or tuple(state.shape) != (1, memory * filters):
        raise MlcError(f"SVDF shapes do not fit: output {out.shape}, bias {bias.shape}, state {state.shape} for "
                       f"{units} units x rank {rank}, memory {memory}")
    f32, f64 = np.float32, np.float64  # the scales in double: the tflite-micro reference mlc is checked against
    scale_1 = f64(x.quant.s) * f64(wf.quant.s) / f64(state.quant.s)
    scale_2 = f64(state.quant.s) * f64(wt.quant.s) / f64(out.quant.s)
    if abs(float(bias.quant.s) - float(f32(state.quant.s) * f32(wt.quant.s))) >= 1e-5:
        raise MlcError(f"SVDF bias '{bias.name}' scale {float(bias.quant.s):g} is not state scale x time weights "
                       "scale; TFLM refuses the layer")
    m1, s1 = quantize_multiplier(float(scale_1))
    m2, s2 = quantize_multiplier(float(scale_2))
    info = np.iinfo(state.dtype)
    return {"rank": rank, "depth": depth, "filters": filters, "units": units, "memory": memory,
            "input_offset": -x.quant.zp, "output_offset": out.quant.zp, "state_zp": state.quant.zp,
            "state_min": int(info.min), "state_max": int(info.max), "state_dtype": state.dtype,
            "feature_multiplier": m1, "feature_shift": s1, "multiplier": m2, "shift": s2}


def _svdf_macs(op):
    p = op.params
    return p["filters"] * (p["depth"] + p["memory"])


def svdf_c(layer):
    p, op = layer.p, layer.op
    ctype = c_type(p["state_dtype"])
    fn = layer.kernel("svdf_s8.c.j2", "svdf_s8", depth=p["depth"], filters=p["filters"], units=p["units"],
                      rank=p["rank"], memory=p["memory"], in_offset=p["input_offset"], out_offset=p["output_offset"],
                      state_zp=p["state_zp"], state_min=p["state_min"], state_max=p["state_max"], state_type=ctype,
                      state_bits=8 * np.dtype(p["state_dtype"]).itemsize)
    q = layer.const("q", np.array([p["feature_multiplier"], p["feature_shift"], p["multiplier"], p["shift"]], np.int32),
                    "int32_t")
    w_feature = layer.const("w_feature", op.inputs[1].data, "int8_t")
    w_time = layer.const("w_time", op.inputs[2].data, ctype)
    bias = layer.const("bias", op.inputs[3].data, "int32_t")
    state = layer.state("state", op.inputs[STATE_INPUT].reset_value(), ctype)
    args = [layer.inp(0), layer.out(0), w_feature, w_time, bias, state, q]
    if layer.kernel_plan.variant == "fast":  # exact in int32: |offset * sum(w)| <= 255 * 127 * depth
        folded = p["input_offset"] * op.inputs[1].data.astype(np.int64).sum(axis=1)
        args.append(layer.const("feature_bias", folded.astype(np.int32), "int32_t"))
    return f"{fn}({', '.join(args)});"


def svdf_plan(op, isa, reference, inplace, alone):
    if reference:
        return KernelPlan(op.index, op.kind, "reference", isa, weights="[filters][depth] int8",
                          why={"variant": "the reference loop nest was asked for"})
    return KernelPlan(op.index, op.kind, "fast", isa, channels=2, unroll="loop", weights="[filters][depth] int8",
                      why={"variant": "feature matmul as FULLY_CONNECTED's dot products, input offset folded into a "
                                      "per-filter bias", "channels": "two filters per pass"})


define("SVDF", arity=(5, 5), derive=svdf_params, emit=svdf_c, macs=_svdf_macs, plan=svdf_plan, state=(STATE_INPUT,),
       templates=("svdf_s8.c.j2",))
