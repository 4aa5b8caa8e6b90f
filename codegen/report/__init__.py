"""`mlc report`'s page: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched) with the
model summary, a row per layer (shapes, quantization, MACs, parameters, kernel plan, instructions), the arena's
memory timeline, flash and RAM against the board's capacity, and the verification result."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from codegen.assets import templates
from codegen.model.summary import quant_text, summarize
from codegen.report import svg


@dataclass(frozen=True)
class Verification:
    """What was checked and how it came out: `passed` of `total` inputs bit-exact against `against`."""
    against: str  # "the device (qemu-cortex-m4)" or "TFLM's interpreter"
    passed: int
    total: int
    note: str = ""


def _shape(tensors: list) -> str:
    return ", ".join("x".join(map(str, t["shape"])) + f" {t['dtype']}" for t in tensors)


def _plan_text(plans: list) -> str:
    return "; ".join(f"{p['isa']}: {p['variant'] or 'generic'}" + (f", unroll {p['unroll']}" if p["unroll"] else "")
                     + (f", scratch {p['scratch']:,} B" if p["scratch"] else "") + (", in place" if p["inplace"] else "")
                     for p in plans)


def page(graph, memory, plans: list, board=None, bench=None, size=None, verification: Verification | None = None) -> str:
    """The report of `graph` (prepared) with its arena plan `memory`, its KernelPlan summaries `plans`, and,
    when a board was given, the bench result (codegen.device.bench.BenchResult), the app build's SizeReport and
    the verification."""
    summary = summarize(graph)
    per_layer = {}
    for p in plans:
        per_layer.setdefault(p["index"], []).append(p)
    counts = {c.index: c for c in bench.layers} if bench else {}
    rows = []
    for layer in summary["layers"]:
        c = counts.get(layer["index"])
        rows.append({"index": layer["index"], "op": layer["op"], "inputs": _shape(layer["inputs"]),
                     "outputs": _shape(layer["outputs"]),
                     "quant": quant_text(layer["outputs"][0]["quant"]) if layer["outputs"] else "",
                     "macs": layer["macs"], "params": layer["param_bytes"],
                     "plan": _plan_text(per_layer.get(layer["index"], [])),
                     "instructions": c.instructions if c else None,
                     "per_mac": c.per_mac if c else None, "text": c.text_bytes if c else None})
    names = {t.index: t.name for t in graph.tensors}
    buffers = [{"first": b.first, "last": b.last, "offset": b.offset, "size": b.size, "tensors": list(b.tensors),
                "scratch_of": b.scratch_of} for b in memory.buffers]
    charts = {"memory": svg.memory_timeline(buffers, len(graph.ops), memory.arena_bytes, names)}
    flash = ram = None
    if bench:
        charts["instructions"] = svg.layer_bars([c.instructions for c in bench.layers], "instructions")
    if size:
        weights = summary["totals"]["param_bytes"]
        code = bench.kernel_text_bytes + bench.invoke_text_bytes if bench else 0
        flash = [("weights", weights)] + ([("kernels + invoke", code)] if code else []) + \
            [("app, runtime and start-up", max(size.flash_used - weights - code, 0))]
        names = {"arena": "arena (input and output inside)", "io": "app buffers"}
        ram = ([(names.get(k, k), v) for k, v in size.ram_parts.items()] if size.ram_parts
               else [("data + bss", size.ram_used)])
        charts["flash"] = svg.stacked_bar(flash, size.flash_total, "flash")
        charts["ram"] = svg.stacked_bar(ram, size.ram_total, "RAM")
    return templates().get_template("report/report.html.j2").render(
        name=graph.name or Path(graph.path).stem, model=Path(graph.path).name, summary=summary, rows=rows,
        arena=memory.arena_bytes, buffers=len(buffers), board=board, bench=bench, size=size, flash=flash, ram=ram,
        verification=verification, charts=charts,
        made=datetime.datetime.now().isoformat(timespec="seconds"))
