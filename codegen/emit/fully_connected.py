"""FULLY_CONNECTED: the fast variant folds the input offset into the bias at generation time."""
from codegen.emit import emits
from codegen.emit.requant import requant_consts, requant_vars


@emits("FULLY_CONNECTED")
def fully_connected(layer):
    p, w = layer.p, layer.op.inputs[1].data
    variant = "reference" if layer.reference else "fast"
    rq = requant_consts(layer, p["units"], w, folded=not layer.reference)
    fn = layer.kernel("fully_connected_s8.c.j2", f"fully_connected_s8_{variant}", variant=variant,
                      **rq, batches=p["batches"], depth=p["depth"], units=p["units"],
                      **requant_vars(p))
    weights = layer.const("weights", w, "int8_t")
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']});"
