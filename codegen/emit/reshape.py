"""RESHAPE, SQUEEZE, EXPAND_DIMS: aliased by the memory plan (no code); a copy only when the
input and output cannot share bytes (e.g. the output is the caller's buffer)."""
from codegen.emit import emits


@emits("RESHAPE", "SQUEEZE", "EXPAND_DIMS", alias=True)
def reshape(layer):
    return f"memcpy({layer.out(0)}, {layer.inp(0)}, {layer.op.outputs[0].nbytes});"
