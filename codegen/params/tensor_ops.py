"""Ops that move or requantize data without weights: RESHAPE, CONCATENATION, PAD, MEAN, QUANTIZE, DEQUANTIZE."""
from codegen.params import derives


@derives("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(op):
    if op.inputs[0].size != op.outputs[0].size:
        from codegen.errors import MlcError

        raise MlcError(f"cannot reshape {op.inputs[0].shape} into {op.outputs[0].shape}")
    return {}
