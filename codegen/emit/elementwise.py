"""ADD and MUL: the broadcast index maps (codegen.params.elementwise strides) are collapsed to as
few loops as the layout allows; the multipliers go to flash."""
import numpy as np

from codegen.emit import emits


def collapse(dims, *strides) -> tuple:
    """Drop size-1 axes and merge neighbours that every input walks contiguously (or not at all)."""
    kept = [(d, [s[i] for s in strides]) for i, d in enumerate(dims) if d > 1] or [(1, [0] * len(strides))]
    merged = [kept[0]]
    for d, s in kept[1:]:
        outer_d, outer_s = merged[-1]
        if all(so == si * d for so, si in zip(outer_s, s)):
            merged[-1] = (outer_d * d, s)
        else:
            merged.append((d, s))
    return [d for d, _ in merged], *([s[k] for _, s in merged] for k in range(len(strides)))


def _inplace(op):
    """Output element i is written after input 1's element i is read: fine unless in1 is broadcast."""
    return tuple(op.inputs[0].shape) == tuple(op.outputs[0].shape)


@emits("ADD", "MUL", inplace=_inplace)
def binary(layer):
    op, p = layer.op, layer.p
    dims, s1, s2 = collapse(p["out_shape"], p["input1_strides"], p["input2_strides"])
    if op.kind == "ADD":
        q = [p["input1_multiplier"], p["input1_shift"], p["input2_multiplier"], p["input2_shift"],
             p["output_multiplier"], p["output_shift"]]
    else:
        q = [p["output_multiplier"], p["output_shift"]]
    fn = layer.kernel("elementwise_s8.c.j2", f"{op.kind.lower()}_s8", kind=op.kind, dims=dims, s1=s1, s2=s2,
                      const1=op.inputs[0].is_const, const2=op.inputs[1].is_const, left_shift=p.get("left_shift", 0),
                      in1_offset=p["input1_offset"], in2_offset=p["input2_offset"], out_offset=p["output_offset"],
                      act_min=p["act_min"], act_max=p["act_max"])
    qs = layer.const("q", np.array(q, np.int32), "int32_t")
    return f"{fn}({layer.inp(0)}, {layer.inp(1)}, {layer.out(0)}, {qs});"
