"""How close the int8 model is to the float one: per-layer SQNR, and task metrics on labelled data."""
from __future__ import annotations

import numpy as np

from codegen.model.ir import Graph


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (inf when equal)."""
    reference = np.asarray(reference, np.float64)
    noise = float(np.sum((reference - np.asarray(approx, np.float64)) ** 2))
    signal = float(np.sum(reference ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(max(signal, 1e-30) / noise)


def dequantize(t, q: np.ndarray) -> np.ndarray:
    return (q.astype(np.float64) - t.quant.zp) * float(t.quant.s) if t.dtype == "int8" else q.astype(np.float64)


def layers(float_graph: Graph, float_values: dict, int8_graph: Graph, int8_values: dict) -> list:
    """One row per int8 layer whose output has a float counterpart (by tensor name): its SQNR against float.
    int8_values maps tensor index -> stacked values (hostsim's run_all)."""
    by_name = {op.outputs[0].name: op.outputs[0] for op in float_graph.ops}
    rows = []
    for op in int8_graph.ops:
        out = op.outputs[0]
        ref = by_name.get(out.name)
        if ref is None or out.dtype != "int8":
            continue
        rows.append(dict(index=op.index, op=op.kind, tensor=out.name, shape=list(out.shape),
                         scale=float(out.quant.s), zero_point=out.quant.zp,
                         sqnr_db=round(sqnr_db(float_values[id(ref)], dequantize(out, int8_values[out.index])), 2)))
    return rows


def outputs(y_float: np.ndarray, y_int8: np.ndarray, labels: np.ndarray | None = None, classifier: bool = False) -> dict:
    """Output SQNR, and for classifiers (or with labels) top-1 agreement with float and accuracy of both."""
    y_float, y_int8 = y_float.reshape(len(y_float), -1), y_int8.reshape(len(y_int8), -1)
    result = {"samples": len(y_float), "output_sqnr_db": round(sqnr_db(y_float, y_int8), 2)}
    if y_float.shape[1] > 1 and (classifier or labels is not None):
        result["top1_agreement"] = round(float(np.mean(y_float.argmax(1) == y_int8.argmax(1))), 4)
        if labels is not None:
            result["float_accuracy"] = round(float(np.mean(y_float.argmax(1) == labels)), 4)
            result["int8_accuracy"] = round(float(np.mean(y_int8.argmax(1) == labels)), 4)
    return result
