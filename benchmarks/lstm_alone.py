"""The first UNIDIRECTIONAL_SEQUENCE_LSTM of a model as a model of its own (the same tensors, weights and
quantization), so that one TFLM Invoke() counts that layer alone and compares with `mlc bench`'s per-layer count.

    python benchmarks/lstm_alone.py tests/data/models/trained_lstm_int8.tflite /tmp/lstm_alone.tflite"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from codegen.ops import load  # noqa: E402
from codegen.ops.lstm import BIAS, CELL, HIDDEN  # noqa: E402
from tflite_builder import ModelBuilder  # noqa: E402


def lstm_alone(model: Path) -> bytes:
    op = next(op for op in load(model).ops if op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    x, out, p = op.inputs[0], op.outputs[0], op.params
    b = ModelBuilder(act_dtype=x.dtype)
    xin = b.input(x.shape, x.quant.s, x.quant.zp)
    weights = [b.const_int8(op.inputs[i].data, op.inputs[i].quant.s) for i in range(1, 9)]
    biases = [b.const(op.inputs[i].data, BIAS[x.dtype], op.inputs[i].quant.s, 0) for i in range(12, 16)]
    hidden, cell = (b.variable(op.inputs[i].shape, op.inputs[i].dtype, op.inputs[i].quant.s, op.inputs[i].quant.zp)
                    for i in (HIDDEN, CELL))
    b.output(b.unidirectional_sequence_lstm(xin, weights, biases, hidden, cell, out.quant.s, out.quant.zp,
                                            time_major=p["time_major"], cell_clip=op.options.get("cell_clip", 0.0)))
    return b.finish()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    a = ap.parse_args()
    a.out.write_bytes(lstm_alone(a.model))
