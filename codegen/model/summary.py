"""A model's per-layer summary: shapes, int8 quantization, parameter bytes, MACs, activation bytes.

`mlc inspect` prints it (a rich table or JSON); generate and bench reuse `summarize`. The JSON
form (`summarize(graph)`) has these keys, all always present:

    model, name            the file and its stem
    inputs, outputs        [tensor]; tensor = {name, shape, dtype, quant}
    layers                 [layer], in execution order (after import-time folding), each with
        index              the op's index in the .tflite (as in error messages)
        op                 TFLite builtin name (CUSTOM:<name> for custom ops)
        inputs, outputs    [tensor] of the activations (constants are counted in param_bytes)
        weights            tensor or null: the op's first constant input with quantization
        param_bytes        bytes of the op's constant inputs (weights, bias, ...)
        macs               multiply-accumulates of one inference
        activation_bytes   bytes of the op's activation inputs and outputs (live while it runs)
        supported          false when mlc cannot run the op (see unsupported)
    totals                 {layers, param_bytes (each constant counted once), macs,
                            activation_bytes (all activation tensors, each once),
                            peak_activation_bytes (largest layer activation_bytes)}
    unsupported            [{index, op, reason}]

quant is null for an unquantized tensor, else {scale, zero_point, per_channel, axis}: scale and
zero_point are numbers for per-tensor quantization and lists for per-channel quantization, where
per_channel is the channel count (0 for per-tensor).
"""
from __future__ import annotations

from codegen.model.ir import Graph, Tensor


def quant_dict(t: Tensor) -> dict | None:
    q = t.quant
    if q is None:
        return None
    if q.per_channel:
        return {"scale": [float(s) for s in q.scale], "zero_point": [int(z) for z in q.zero_point],
                "per_channel": int(q.scale.size), "axis": int(q.axis)}
    return {"scale": float(q.s), "zero_point": q.zp, "per_channel": 0, "axis": int(q.axis)}


def tensor_dict(t: Tensor) -> dict:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "quant": quant_dict(t)}


def summarize(graph: Graph) -> dict:
    unsupported = {index for index, _, _ in graph.unsupported}
    layers, params, activations = [], {}, {}
    for op in graph.ops:
        consts = [t for t in op.inputs if t is not None and t.is_const]
        acts = [t for t in op.inputs + op.outputs if t is not None and not t.is_const]
        weights = next((t for t in consts if t.quant is not None and t.dtype == "int8"), None)
        params.update((id(t), t.nbytes) for t in consts)
        activations.update((id(t), t.nbytes) for t in acts)
        layers.append({
            "index": op.index, "op": op.kind,
            "inputs": [tensor_dict(t) for t in op.inputs if t is not None and not t.is_const],
            "outputs": [tensor_dict(t) for t in op.outputs],
            "weights": tensor_dict(weights) if weights is not None else None,
            "param_bytes": sum(t.nbytes for t in consts),
            "macs": op.macs if op.index not in unsupported else 0,
            "activation_bytes": sum(t.nbytes for t in acts),
            "supported": op.index not in unsupported,
        })
    return {
        "model": graph.path, "name": graph.name,
        "inputs": [tensor_dict(t) for t in graph.inputs], "outputs": [tensor_dict(t) for t in graph.outputs],
        "layers": layers,
        "totals": {"layers": len(layers), "param_bytes": sum(params.values()), "macs": sum(l["macs"] for l in layers),
                   "activation_bytes": sum(activations.values()),
                   "peak_activation_bytes": max((l["activation_bytes"] for l in layers), default=0)},
        "unsupported": [{"index": i, "op": kind, "reason": reason} for i, kind, reason in graph.unsupported],
    }


def quant_text(q: dict | None) -> str:
    """'0.0123 @ -5' per tensor, 'per-channel (64)' per channel, '-' when unquantized."""
    if q is None:
        return "-"
    if q["per_channel"]:
        return f"per-channel ({q['per_channel']})"
    return f"{q['scale']:.4g} @ {q['zero_point']}"


def _shapes(tensors: list) -> str:
    return " ".join("x".join(map(str, t["shape"])) or "scalar" for t in tensors) or "-"


def table(summary: dict):
    """The summary as a rich Table."""
    from rich.table import Table

    t = Table(title=f"{summary['name']}: {summary['totals']['layers']} layers")
    for col, right in (("#", True), ("op", False), ("input", False), ("output", False), ("in quant", False),
                       ("out quant", False), ("weights", False), ("params B", True), ("MACs", True), ("act B", True)):
        t.add_column(col, justify="right" if right else "left")
    for layer in summary["layers"]:
        first_in = layer["inputs"][0]["quant"] if layer["inputs"] else None
        w = layer["weights"]
        t.add_row(str(layer["index"]), layer["op"] + ("" if layer["supported"] else " [red](unsupported)[/red]"),
                  _shapes(layer["inputs"]), _shapes(layer["outputs"]), quant_text(first_in),
                  quant_text(layer["outputs"][0]["quant"] if layer["outputs"] else None),
                  quant_text(w["quant"]) if w else "-",
                  f"{layer['param_bytes']:,}", f"{layer['macs']:,}", f"{layer['activation_bytes']:,}")
    tot = summary["totals"]
    t.add_section()
    t.add_row("", "total", "", "", "", "", "", f"{tot['param_bytes']:,}", f"{tot['macs']:,}",
              f"peak {tot['peak_activation_bytes']:,}")
    return t
