"""UNIDIRECTIONAL_SEQUENCE_LSTM with int8 weights and an int16 cell state, as TFLM's lstm_eval
(PrepareGateParametersInteger / EvalLstm), for its two integer variants: int8 activations with int32
biases and sums, and 16x8 (int16 activations, hidden state and output) with int64 biases and sums
requantized by the int64 MultiplyByQuantizedMultiplier. Per gate two FULLY_CONNECTED products (input
and hidden state) requantized to int16 at 2^-12 (Q3.12), added with saturation, then int16 sigmoid (tanh
for the cell gate); the cell update c = f * c + i * g and the hidden update h = o * tanh(c) as TFLM's
int16 MulElementwise, every multiplier and shift derived here at generation time. The int8 kernel's fast
variant (lstm_plan) folds the input and hidden offsets into per-row biases, so its gate FCs are
FULLY_CONNECTED's plain dot products."""
import math

import numpy as np

from codegen.errors import MlcError
from codegen.csyntax import c_type
from codegen.model.fixedpoint import SIGMOID_TABLE_UINT16
from codegen.model.quant import quantize_multiplier
from codegen.ops import define, per_tensor_quantized
from codegen.ops.kernel_plan import KernelPlan
from codegen.ops.requant import short_requant

GATES = ("input", "forget", "cell", "output")  # TFLite's order of the weight and bias inputs
GATE_IN = 2.0 ** -12  # the gate FCs' output scale (Q3.12, the int16 sigmoid/tanh input)
GATE_OUT = 2.0 ** -15  # the int16 sigmoid/tanh output scale (Q0.15)
HIDDEN, CELL = 18, 19  # the state inputs (variables)
BIAS = {"int8": "int32", "int16": "int64"}  # EvalLstm<int8, int8, int16, int32> and <int16, int8, int16, int64>
_ABSENT = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection", 17: "projection",
           20: "layer norm", 21: "layer norm", 22: "layer norm", 23: "layer norm"}


def _tensor(op, i):
    return op.inputs[i] if i < len(op.inputs) else None


def _weights(op, i, rows, cols):
    w = _tensor(op, i)
    if w is None:
        raise MlcError(f"input {i} (a gate's weights) is missing; mlc's LSTM needs all four gates (no CIFG), as TFLM's does")
    if w.dtype != "int8" or not w.is_const or w.quant is None or w.quant.per_channel or w.quant.zp != 0:
        raise MlcError(f"weights '{w.name}' must be constant per-tensor symmetric int8 (TFLM's integer LSTM takes no other)")
    if tuple(w.shape) != (rows, cols):
        raise MlcError(f"weights '{w.name}' have shape {w.shape}; expected ({rows}, {cols})")
    return w


def _fc_multiplier(x, w):
    """TFLM's CalculateOpDataFullyConnected for a per-tensor gate FC into Q3.12: the scale product is
    taken in float32 (GetQuantizedConvolutionMultipler), then divided in double."""
    return quantize_multiplier(float(np.float32(x.quant.s) * np.float32(w.quant.s)) / GATE_IN)


def _mul_multiplier(scale1, scale2, out_scale):
    """CreateInterGateMulParams: (scale1 * scale2) / out_scale in double."""
    return quantize_multiplier(float(np.float64(scale1) * np.float64(scale2)) / float(np.float64(out_scale)))


def _int16_nonlinear_input(left_shift: int):
    """TFLM's int16 Logistic/Tanh input step, x * multiplier + round >> shift, for a Q3.12-relative left
    shift (lstm_eval's Tanh): a power-of-two input scale becomes multiplier 3 << shift, or 3 and a
    rounding right shift."""
    if left_shift >= 0:
        return 3 << left_shift, 0
    return 3, -left_shift


def lstm_params(op):
    x, out = op.inputs[0], op.outputs[0]
    for i, what in _ABSENT.items():
        if _tensor(op, i) is not None:
            raise MlcError(f"input {i} ({what}) is set; mlc supports the standard LSTM only (as TFLM's kernel)")
    hidden, cell = _tensor(op, HIDDEN), _tensor(op, CELL)
    if hidden is None or cell is None or not hidden.variable or not cell.variable:
        raise MlcError("the hidden and cell state (inputs 18 and 19) must be variable tensors")
    if x.dtype not in BIAS or cell.dtype != "int16":
        raise MlcError(f"UNIDIRECTIONAL_SEQUENCE_LSTM on {x.dtype} with an {cell.dtype} cell state is not supported "
                       "(mlc, as TFLM's integer LSTM, takes int8 or int16 activations with an int16 cell state)")
    for t in (x, out, hidden):  # TFLM: the hidden state and the output have the input's type
        per_tensor_quantized(op, t, (x.dtype,))
    per_tensor_quantized(op, cell, ("int16",))
    o = op.options
    if len(x.shape) != 3 or len(out.shape) != 3:
        raise MlcError(f"input shape {x.shape} / output shape {out.shape}: the LSTM needs 3-D sequences")
    time_major = bool(o.get("time_major", False))
    batch, steps = (x.shape[1], x.shape[0]) if time_major else (x.shape[0], x.shape[1])
    depth, units = x.shape[2], hidden.shape[-1]
    if hidden.size != batch * units or cell.size != batch * units or tuple(out.shape) != (*x.shape[:2], units):
        raise MlcError(f"state shapes {hidden.shape}, {cell.shape} and output shape {out.shape} do not fit input {x.shape}")
    activation = o.get("activation", "TANH")
    if activation != "TANH":  # TFLM's integer kernel asserts on any other (the format cannot say SIGMOID)
        raise MlcError(f"cell activation {activation}: TFLM's integer LSTM takes TANH only")
    if hidden.quant.zp != out.quant.zp or hidden.quant.s != out.quant.s:
        raise MlcError(f"the hidden state '{hidden.name}' and the output '{out.name}' are quantized differently; "
                       "TFLM copies one into the other")
    gates = {}
    for g, name in enumerate(GATES):
        wx, wh = _weights(op, 1 + g, units, depth), _weights(op, 5 + g, units, units)
        bias = _tensor(op, 12 + g)
        if bias is None or bias.dtype != BIAS[x.dtype] or not bias.is_const or bias.size != units:
            raise MlcError(f"the {name} gate's bias (input {12 + g}) must be a constant {BIAS[x.dtype]} of {units} "
                           f"values ({x.dtype} activations)")
        (xm, xs), (hm, hs) = _fc_multiplier(x, wx), _fc_multiplier(hidden, wh)
        gates[name] = {"x_multiplier": xm, "x_shift": xs, "h_multiplier": hm, "h_shift": hs,
                       "bias": bias.data.astype(np.int64).ravel(), "x_weights": 1 + g, "h_weights": 5 + g}
    cell_scale = cell.quant.s
    power = int(round(math.log2(float(cell_scale))))  # TFLM's CheckedLog2 (the scale is a power of two)
    clip = float(o.get("cell_clip", 0.0))
    return {
        "batch": int(batch), "steps": int(steps), "depth": int(depth), "units": int(units), "time_major": time_major,
        "dtype": x.dtype, "input_offset": -x.quant.zp, "hidden_offset": -hidden.quant.zp, "output_offset": out.quant.zp,
        "gates": gates,
        # the gates' own nonlinearity reads Q3.12: TFLM's Tanh(-12) / Logistic(0, 0)
        "gate_nonlinear": _int16_nonlinear_input(0),
        "cell_tanh": _int16_nonlinear_input(15 + power - 3),
        "forget_mul": _mul_multiplier(GATE_OUT, cell_scale, cell_scale),
        "input_mul": _mul_multiplier(GATE_OUT, GATE_OUT, cell_scale),
        "output_mul": _mul_multiplier(GATE_OUT, GATE_OUT, hidden.quant.s),
        # CreateLstmCellStateInfo: static_cast<int16_t>(clamp(clip / scale)), 0 = no clipping
        "cell_clip": int(min(max(np.float64(np.float32(clip)) / np.float64(cell_scale), -32768.0), 32767.0)) if clip > 0 else 0,
    }


def _lstm_macs(op):
    p = op.params
    return p["batch"] * p["steps"] * 4 * p["units"] * (p["depth"] + p["units"])


def lstm_plan(op, isa, reference, inplace, alone):
    dtype, scratch = op.params["dtype"], lstm_scratch_bytes(op)
    if reference or dtype == "int16":
        sums = "int32" if dtype == "int8" else "int64"
        why = ("the reference loop nest was asked for" if reference else
               "16x8: int64 sums, which the int8 dot products do not make (FULLY_CONNECTED 16x8 has one loop nest too)")
        return KernelPlan(op.index, op.kind, "reference", isa, weights="[units][depth] int8 per gate", scratch=scratch,
                          why={"variant": f"TFLM's lstm_eval loop nest: per step four gates of two {dtype} x int8 "
                                          f"dot products each, summed in {sums}; {why}"})
    rq_fast = _short_requant(op)
    return KernelPlan(op.index, op.kind, "fast", isa, channels=2, unroll="a block per gate", weights="[units][depth] int8 per gate",
                      scratch=scratch,
                      why={"variant": "the gate FCs as FULLY_CONNECTED's dot products, the input and hidden offsets "
                                      "folded into a per-row bias each", "channels": "two units per pass",
                           "unroll": "the four gates' multipliers and shifts constants in the code",
                           "requantization": ("every gate FC's short form proved exact (right shifts, |acc| < 2^30)" if rq_fast
                                              else "TFLite's MultiplyByQuantizedMultiplier: the short form is not provably exact")},
                      options={"rq_fast": rq_fast})


def _short_requant(op) -> bool:
    """mlc_requantize_rs's arithmetic is exact for all eight gate FCs (codegen/ops/requant.py's proof; the
    output offset 0: the sum goes on to the int16 clamp)."""
    p = op.params
    fcs = [(q["bias"], p["input_offset"], q["x_multiplier"], q["x_shift"], op.inputs[q["x_weights"]].data)
           for q in p["gates"].values()]
    fcs += [(0, p["hidden_offset"], q["h_multiplier"], q["h_shift"], op.inputs[q["h_weights"]].data)
            for q in p["gates"].values()]
    return all(short_requant({"bias": b, "input_offset": off, "multiplier": m, "shift": s, "output_offset": 0},
                             p["units"], w) for b, off, m, s, w in fcs)


def lstm_scratch_bytes(op) -> int:
    """Four int16 gate vectors of one step (TFLM's four scratch buffers)."""
    p = op.params
    return 4 * p["units"] * (p["batch"] if p["time_major"] else 1) * 2


def lstm_c(layer):
    p, op = layer.p, layer.op
    gates = [p["gates"][g] for g in GATES]
    wx = np.stack([op.inputs[q["x_weights"]].data for q in gates])
    wh = np.stack([op.inputs[q["h_weights"]].data for q in gates])
    wide = p["dtype"] == "int16"  # 16x8: int16 activations, int64 biases and sums
    bias_type = BIAS[p["dtype"]]
    bias = np.stack([q["bias"] for q in gates])
    fast = layer.kernel_plan.variant == "fast"
    if fast:  # exact in int32 as FULLY_CONNECTED's folded bias: |offset * sum(w)| <= 255 * 127 * depth
        bias = bias + p["input_offset"] * wx.astype(np.int64).sum(axis=2)
        h_bias = p["hidden_offset"] * wh.astype(np.int64).sum(axis=2)
    b, t, d, u = p["batch"], p["steps"], p["depth"], p["units"]
    layout = ({"in_step": b * d, "out_step": b * u, "seq_stride": 1} if p["time_major"]
              else {"in_step": d, "out_step": u, "seq_stride": t})
    fn = layer.kernel("lstm_s8.c.j2", "lstm_s16" if wide else "lstm_s8", wide=wide, sequences=b, steps=t, depth=d, units=u, **layout,
                      input_offset=p["input_offset"], hidden_offset=p["hidden_offset"], output_offset=p["output_offset"],
                      cell_clip=p["cell_clip"],
                      x_mult=[q["x_multiplier"] for q in gates], x_shift=[q["x_shift"] for q in gates],
                      h_mult=[q["h_multiplier"] for q in gates], h_shift=[q["h_shift"] for q in gates],
                      gate_nonlinear=p["gate_nonlinear"], cell_tanh=p["cell_tanh"], forget_mul=p["forget_mul"],
                      input_mul=p["input_mul"], output_mul=p["output_mul"])
    hidden, cell = (layer.state(name, initial, c_type(initial.dtype.name))
                    for name, initial in zip(("hidden", "cell"), initial_state(op)))
    args = [layer.inp(0), layer.out(0), hidden, cell, f"(int16_t *)(void *){layer.scratch()}",
            layer.const("input_weights", wx, "int8_t"), layer.const("recurrent_weights", wh, "int8_t"),
            layer.const("bias", bias.astype(bias_type), c_type(bias_type)),
            layer.const("sigmoid_table", SIGMOID_TABLE_UINT16, "uint16_t")]
    if fast:
        args.append(layer.const("h_bias", h_bias.astype(np.int32), "int32_t"))
    return f"{fn}({', '.join(args)});"


def initial_state(op):
    """The state tensors' values at start-up and after a reset, as TFLM's ResetVariableTensors sets them:
    an int8 tensor's bytes to its zero point, any other's to 0."""
    return op.inputs[HIDDEN].reset_value(), op.inputs[CELL].reset_value()


define("UNIDIRECTIONAL_SEQUENCE_LSTM", arity=(1, 24), derive=lstm_params, emit=lstm_c, macs=_lstm_macs, plan=lstm_plan,
       templates=("lstm_s8.c.j2",), dtypes=("int8", "int16"), state=(HIDDEN, CELL))
