"""SOFTMAX, LOGISTIC and TANH, int8 in and int8 out, as TFLM's micro kernels prepare them.

In the current tflite-micro all three int8->int8 cases take the gemmlowp fixed-point path (LUTs
are only built for int16 inputs): softmax rescales input differences to Q5.26 and sums exp() in
Q12.19 (softmax_common.cc); logistic and tanh rescale the input to Q4.27 (logistic_common.cc,
tanh.cc) and saturate outside `input_range_radius`.
"""
from codegen.errors import MlcError
from codegen.params import derives, int8_activation
from codegen.quant import calculate_input_radius, frexp_multiplier, preprocess_softmax_scaling

SOFTMAX_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits
SIGMOID_INPUT_INTEGER_BITS = 4  # kInputIntegerBits of int8 LOGISTIC and TANH


def _int8_in_out(op):
    x, out = op.inputs[0], op.outputs[0]
    if x.dtype == "int8" and out.dtype != "int8":
        raise MlcError(f"{op.kind} with int8 input and {out.dtype} output '{out.name}' is not supported; "
                       f"only int8 -> int8 is (requantize the output to int8)")
    int8_activation(op, x)
    int8_activation(op, out)
    return x, out


@derives("SOFTMAX")
def softmax(op):
    x, out = _int8_in_out(op)
    if len(x.shape) < 1 or tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"SOFTMAX input shape {x.shape} and output shape {out.shape} differ")
    # TFLM's Prepare rejects anything but the int8 softmax output quantization (exact compare).
    if out.quant.zp != -128 or float(out.quant.s) != 1.0 / 256:
        raise MlcError(f"SOFTMAX output '{out.name}' has scale {float(out.quant.s):g} and zero point {out.quant.zp}; "
                       f"TFLite int8 softmax needs scale 1/256 and zero point -128 (re-convert the model)")
    beta = float(op.options.get("beta", 1.0))
    try:
        multiplier, left_shift = preprocess_softmax_scaling(beta, x.quant.s, SOFTMAX_DIFF_INTEGER_BITS)
    except ValueError as err:
        raise MlcError(f"SOFTMAX input '{x.name}': {err}; use a larger beta or input scale") from None
    depth = x.shape[-1]
    return {"input_multiplier": multiplier, "input_left_shift": left_shift,
            "diff_min": -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift),
            "depth": depth, "outer": x.size // depth}


@derives("LOGISTIC", "TANH")
def sigmoid_like(op):
    x, out = _int8_in_out(op)
    if tuple(x.shape) != tuple(out.shape):
        raise MlcError(f"{op.kind} input shape {x.shape} and output shape {out.shape} differ")
    # TFLM checks only the LOGISTIC output zero point; the kernels assume the spec's output scale
    # (1/256 and 1/128) whatever the tensor says, and so do we, to stay bit-exact.
    if op.kind == "LOGISTIC" and out.quant.zp != -128:
        raise MlcError(f"LOGISTIC output '{out.name}' has zero point {out.quant.zp}; TFLite int8 logistic needs -128")
    multiplier, shift = frexp_multiplier(float(x.quant.s) * (1 << (31 - SIGMOID_INPUT_INTEGER_BITS)))
    if shift < 0:
        raise MlcError(f"{op.kind} input '{x.name}' scale {float(x.quant.s):g} is below 2^-28, where TFLite's "
                       f"input radius is undefined; requantize the input")
    return {"input_zero_point": x.quant.zp, "input_multiplier": multiplier, "input_left_shift": shift,
            "input_range_radius": calculate_input_radius(SIGMOID_INPUT_INTEGER_BITS, shift), "size": x.size}
