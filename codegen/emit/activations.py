"""SOFTMAX, LOGISTIC and TANH (templates/kernels/activations_s8.c.j2).

The optimized variant ("table") reads flash tables that hostsim computes here at generation time,
so C and hostsim share one definition of the numbers: LOGISTIC/TANH become a 256-byte lookup of
the output, SOFTMAX a 1 KB table of exp() per input difference (no exp() left at run time).
"""
import numpy as np

from codegen.emit import emits
from codegen.errors import MlcError
from hostsim.kernels.activations import int8_table, softmax_exp_table

INT8_SPAN = 256  # |x - y| of two int8 values is at most 255: wider bounds change nothing


def _inplace(op):
    return True  # every element is read before the same element is written, nothing else after


def _enum(name: str, value: int) -> int:
    if not -32767 <= value <= 32767:  # int is 16 bits on AVR
        raise MlcError(f"{name} {value} is too large for mlc's C kernels (at most 32767)")
    return value


@emits("SOFTMAX", inplace=_inplace)
def softmax(layer):
    p = layer.p
    variant = "reference" if layer.reference else "table"
    fn = layer.kernel("activations_s8.c.j2", "softmax_s8", kind="SOFTMAX", variant=variant, outer=p["outer"],
                      depth=_enum("softmax depth", p["depth"]), multiplier=p["input_multiplier"],
                      left_shift=p["input_left_shift"], diff_min=max(p["diff_min"], -INT8_SPAN))
    if variant == "table":
        data = layer.const("exp_table", softmax_exp_table(p).astype(np.int32), "int32_t")
    else:
        data = layer.const("q", np.array([p["input_multiplier"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {data});"


@emits("LOGISTIC", "TANH", inplace=_inplace)
def sigmoid_like(layer):
    op, p = layer.op, layer.p
    variant = "reference" if layer.reference else "table"
    fn = layer.kernel("activations_s8.c.j2", f"{op.kind.lower()}_s8", kind=op.kind, variant=variant, size=p["size"],
                      zero_point=p["input_zero_point"], radius=min(p["input_range_radius"], INT8_SPAN),
                      multiplier=p["input_multiplier"], left_shift=p["input_left_shift"])
    if variant == "table":
        data = layer.const("lut", int8_table(op), "int8_t")
    else:
        data = layer.const("q", np.array([p["input_multiplier"]], np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {data});"
