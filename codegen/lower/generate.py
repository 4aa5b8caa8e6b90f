"""`mlc generate`: a .tflite model -> a self-contained C99 library (NAME.h, NAME.c and two shared
headers) in a folder. The folder is written in a temporary sibling and moved into place, so a
failure leaves nothing half-written."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codegen.lower import memory_plan, patches as patching
from codegen.assets import asset_dir
from codegen.csyntax import c_array_body, c_count, c_type, check_identifier, identifier_from, io_identifiers
from codegen.lower.layer import Layer, Unit, offset_name
from codegen.errors import MlcError
from codegen.ops.kernel_plan import ISAS
from codegen.ops.thresholds import OWN_LAYOUT_FLASH_SHARE
from codegen.model.labels import read_labels
from codegen.ops import definition, plan_kernel, require_supported

SHARED_HEADERS = ("mlc_port.h", "mlc_fixedpoint.h")


@dataclass
class Result:
    name: str
    out_dir: Path
    files: list
    arena_bytes: int
    weight_bytes: int
    input_bytes: int  # all inputs (outputs), as one serial frame carries them
    output_bytes: int
    macs: int
    state_bytes: int = 0  # variable tensors kept across invokes (static, outside the arena)
    inputs: list = field(default_factory=list)  # (C name, bytes) per model input, in the model's order
    outputs: list = field(default_factory=list)
    inplace_layers: list = field(default_factory=list)
    aliased_layers: list = field(default_factory=list)
    patches: patching.Patches | None = None  # the leading layers run in bands (codegen.lower.patches)
    own_layouts: bool = True  # the ISA's own weight layouts (False: the shared ones, where the board's flash is short)

    def summary(self) -> str:
        lines = [f"{self.name}: wrote {', '.join(self.files)} to {self.out_dir}",
                 f"  {activation_ram_line(self.arena_bytes, [b for _, b in self.inputs], [b for _, b in self.outputs])}",
                 f"          ({len(self.inplace_layers)} layers in place, {len(self.aliased_layers)} aliased)",
                 f"  weights {self.weight_bytes:>8,} B  (flash)"]
        if self.patches:
            lines.insert(3, f"  {self.patches.line()}")
        if self.state_bytes:
            lines.insert(3, f"  {state_ram_line(self.state_bytes)} (reset by {self.name}_reset())")
        return "\n".join(lines)


def activation_ram_line(arena_bytes: int, input_sizes: list, output_sizes: list) -> str:
    """The one figure of a model's activation RAM, as mlc inspect, generate, build and bench print it; the
    sizes are the bytes of each model input and output (all of them live in the arena)."""
    def tensors(what: str, sizes: list) -> str:
        if len(sizes) == 1:
            return f"{what} ({sizes[0]:,} B)"
        return f"{len(sizes)} {what}s ({' + '.join(f'{b:,}' for b in sizes)} B)"
    return (f"arena   {arena_bytes:>8,} B  activation RAM: every tensor incl. the {tensors('input', input_sizes)} and "
            f"{tensors('output', output_sizes)}, and kernel scratch")



def state_ram_line(state_bytes: int) -> str:
    """The RAM a stateful model keeps from one inference to the next, besides the arena."""
    return f"state   {state_bytes:>8,} B  RAM kept across invokes (SVDF, LSTM state), outside the arena"


def _io(t, role: str, ident: str, k: int, offset: str) -> dict:
    """One model input or output as the templates name it: a model with one of each keeps NAME_INPUT_*,
    NAME_input() (ident ""); with several, each is NAME_INPUT_<ident>_*, NAME_input_<ident>()."""
    quantized = t.quant is not None and not t.quant.per_channel
    scale = f"{float(np.float32(t.quant.s))!r}f" if quantized else None
    suffix = f"_{ident}" if ident else ""
    return {"macro": role.upper() + suffix, "fn": role + suffix, "role": role, "suffix": suffix, "position": k,
            "tensor_name": t.name.replace("*/", "* /"), "bytes": t.nbytes, "count": t.size,
            "shape": list(t.shape) or [1], "dtype": t.dtype, "ctype": c_type(t.dtype), "quantized": quantized,
            "scale": scale, "zero_point": t.quant.zp if quantized else 0, "offset": offset, "index": t.index}


def model_io(graph, name: str) -> tuple[list, list]:
    """The template descriptions (_io) of the model's inputs and of its outputs, in the model's order."""
    several = len(graph.inputs) > 1 or len(graph.outputs) > 1
    result = []
    for role, tensors, fallback in (("input", graph.inputs, "in"), ("output", graph.outputs, "out")):
        names = [graph.signature_names.get(t.index, t.name) for t in tensors]
        idents = io_identifiers(names, fallback) if several else [""]
        ios = [_io(t, role, ident, k, offset_name(name, t)) for k, (t, ident) in enumerate(zip(tensors, idents))]
        for k, io in enumerate(ios):  # where it starts in a frame of all of them (mlc's serial protocol)
            io["frame_offset"] = sum(other["bytes"] for other in ios[:k])
        result.append(ios)
    return result[0], result[1]


def _c_string(text: str) -> str:
    """A C99 string literal: printable ASCII as is, everything else (UTF-8 bytes) as octal escapes."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':  # ? too: no trigraphs
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _shape(t) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def _layer_comment(graph, op, plan) -> str:
    ins = ", ".join(_shape(t) for t in op.inputs if t is not None and not t.is_const)
    how = " (aliased, no code)" if op.index in plan.aliased else (" (in place)" if op.index in plan.inplace else "")
    macs = f", {op.macs:,} MACs" if op.macs else ""
    band = graph.bands.get(op.index)  # a patches step: (layer, step, steps, first row, end row)
    where = ""
    if band:
        rows = f"row {band[3]}" if band[4] - band[3] == 1 else f"rows {band[3]}-{band[4] - 1}"
        where = f"layer {band[0]} output {rows} (its step {band[1] + 1}/{band[2]}): "
    return f"{where}{op.kind} {ins} -> {_shape(op.outputs[0])}{macs}{how}"


def plan_layers(graph, reference: bool = False, isa: str | None = None, own_layouts: bool = True,
                overlaps: bool = True):
    """The arena plan with every layer's KernelPlans ({isa: plan} in plan.kernels): for one ISA, or
    (isa None) for each of a portable library's. own_layouts: one ISA's kernels may take weight layouts of
    their own (a portable library's ISAs always share one). overlaps: memory_plan.plan's."""
    isas = (isa,) if isa else ISAS
    alone = own_layouts and len(isas) == 1
    return memory_plan.plan(graph, definition, reference=reference, overlaps=overlaps,
                            kernel_plans=lambda op, inplace: {i: plan_kernel(op, i, reference, inplace, alone=alone)
                                                              for i in isas})


def plan_model(graph, reference: bool = False, isa: str | None = None, own_layouts: bool = True,
               patches: str = "auto"):
    """(the graph as generated: split into patches or not, its patching.Patches or None, its arena plan);
    patches: render's."""
    graph, banded = patching.choose(
        graph, patches, definition, arena=lambda g: plan_layers(g, reference, isa, own_layouts).arena_bytes,
        estimate=lambda g: plan_layers(g, reference, isa, own_layouts, overlaps=False).arena_bytes)
    return graph, banded, plan_layers(graph, reference, isa, own_layouts)


def render(graph, name: str, labels: list, reference: bool = False, isa: str | None = None,
           flash_bytes: int | None = None, patches: str = "auto") -> tuple[dict, Result]:
    """All generated files as {filename: text}, plus the figures. isa ("portable", "dsp", "mve"): only
    that core's kernels; None: a portable library (each kernel's ISA variants under #if). flash_bytes (the
    board's): where the ISA's own weight layouts would take more than OWN_LAYOUT_FLASH_SHARE of it, the
    shared ones instead (ad01's halfword FULLY_CONNECTED weights, 541 KB, do not fit a 512 KB part).
    patches (codegen.lower.patches.MODES): "auto" runs the leading layers in bands where that shrinks the arena
    by patches.MIN_SAVING or more."""
    files, result = _render(graph, name, labels, reference, isa, own_layouts=True, patches=patches)
    if flash_bytes is not None and result.weight_bytes > OWN_LAYOUT_FLASH_SHARE * flash_bytes:
        shared = _render(graph, name, labels, reference, isa, own_layouts=False, patches=patches)
        if shared[1].weight_bytes < result.weight_bytes:
            return shared
    return files, result


def _render(graph, name: str, labels: list, reference: bool, isa: str | None, own_layouts: bool,
            patches: str = "auto") -> tuple[dict, Result]:
    require_supported(graph)
    _check_io(graph)
    model = graph
    graph, banded, plan = plan_model(graph, reference, isa, own_layouts, patches)
    inputs, outputs = model_io(graph, name)
    unit = Unit(name, reference=reference, isa=isa, io_vars={(io["role"], io["position"]): io["fn"] for io in inputs + outputs})
    layers, pinned = [], set()
    for op in graph.ops:
        # bench's per-layer marks and the debug dump name the model's layers: each band of a banded layer is
        # marked as that layer's (L_bB), so its instructions count to it
        band = graph.bands.get(op.index)
        dump = graph.origin.get(op.index) if graph.origin else op.index
        mark = dump if band is None else f"{band[0]}_b{band[1]}"
        layer = Layer(unit, op, plan)
        y = op.outputs[0]
        code = [] if op.index in plan.aliased else definition(op.kind).emit(layer).splitlines()
        if layer.images > 1:
            code = ["{", "    int32_t image;", f"    for (image = 0; image < INT32_C({layer.images}); ++image) {{",
                    *(f"        {line}" for line in code), "    }", "}"]
        for buffer, start, count in graph.moves.get(op.index, ()):  # a row buffer's rows read again (patches)
            p = layer.ptr(buffer)
            rows = count // (buffer.nbytes // buffer.shape[1])
            code = [f"memmove({p}, {p} + {start}, {count}); /* the {rows} row{'s' * (rows > 1)} the next layer "
                    "reads again, to the buffer's top */"] + code
        for t in op.outputs:  # an output's pointer made opaque where it is first written, not before (registers)
            io = plan.io.get((t.view[0] if t.view else t).index)  # (a step writes rows of it: patches)
            if io and io[0] == "output" and io not in pinned:
                pinned.add(io)
                var = unit.io_vars[io]
                code = [f"void *{var} = {name}_{var}();", f"MLC_PIN({var});"] + code
        whole = y.view[0] if y.view else y
        layers.append({"index": op.index, "mark": mark, "dump": dump, "comment": _layer_comment(graph, op, plan),
                       "code": code, "result": layer.result(0), "result_bytes": whole.nbytes})
    offsets = _arena_offsets(graph, plan, name)
    for io, t in zip(outputs, graph.outputs):  # a constant output: copied from flash into its place in the arena
        io["const"] = unit.const(f"{name}_{io['fn']}_value", t.data, c_type(t.dtype)) if t.is_const else None
    consts = [(sym, ctype, c_count(v, ctype), c_array_body(v, ctype)) for sym, ctype, v in unit.consts]
    state = [(sym, ctype, c_count(v, ctype), int(v.flat[0]) if v.size else 0) for sym, ctype, v in unit.state]
    macs = sum(op.macs for op in model.ops)  # the model's (patches: banded.extra_macs apart)
    ctx = {"name": name, "guard": f"{name.upper()}_H_", "version": _version(), "model_file": Path(graph.path).name.replace("*/", "* /"),
           "model_file_literal": _c_string(Path(graph.path).name),
           "layer_count": len(model.ops), "macs": macs, "patches": banded, "weight_bytes": unit.weight_bytes(),
           "arena_bytes": plan.arena_bytes, "inputs": inputs, "outputs": outputs, "several": len(inputs + outputs) > 2,
           "input_bytes": sum(io["bytes"] for io in inputs), "output_bytes": sum(io["bytes"] for io in outputs),
           "labels": [_c_string(s) for s in labels],
           "invoke_params": ", ".join([f"const void *{io['fn']}" for io in inputs] + [f"void *{io['fn']}" for io in outputs]),
           "includes": unit.includes, "strategy": plan.strategy, "offsets": offsets, "consts": consts, "state": state,
           "kernels": unit.kernels, "layers": layers,
           "largest_const": max((int(v.nbytes) for _, _, v in unit.consts), default=0),
           "state_bytes": sum(int(v.nbytes) for _, _, v in unit.state)}
    env = unit.env
    files = {f"{name}.h": env.get_template("model/model.h.j2").render(**ctx),
             f"{name}.c": env.get_template("model/model.c.j2").render(**ctx)}
    for header in SHARED_HEADERS + tuple(unit.includes):
        files[header] = (asset_dir("templates") / "kernels" / header).read_text()
    result = Result(name=name, out_dir=Path(), files=sorted(files), arena_bytes=plan.arena_bytes,
                    weight_bytes=unit.weight_bytes(), input_bytes=ctx["input_bytes"],
                    output_bytes=ctx["output_bytes"], macs=macs, inputs=[(io["fn"], io["bytes"]) for io in inputs],
                    outputs=[(io["fn"], io["bytes"]) for io in outputs], state_bytes=ctx["state_bytes"],
                    inplace_layers=sorted(plan.inplace), aliased_layers=sorted(plan.aliased), patches=banded,
                    own_layouts=own_layouts)
    return files, result


def _check_io(graph) -> None:
    """The C API gives every input and output its own place: refuse a tensor that is two of them."""
    seen = {}
    for role, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for k, t in enumerate(tensors):
            if t.index in seen:
                raise MlcError(f"{graph.path}: tensor '{t.name}' is both {seen[t.index]} and {role} {k} of the model; "
                               "mlc generates models whose inputs and outputs are distinct tensors")
            seen[t.index] = f"{role} {k}"


def _arena_offsets(graph, plan, name: str) -> list:
    """(enum symbol, byte offset, comment) for every arena tensor and kernel scratch."""
    offsets = []
    for t in graph.tensors:  # constants have no place in the arena, but for a constant output
        loc = plan.locations.get(t.index)
        if loc is not None:
            label = t.name if len(t.name) <= 60 else t.name[:28] + "..." + t.name[-29:]
            offsets.append((offset_name(name, t), loc.offset, f"'{label}' {_shape(t)} {t.dtype}".replace("*/", "* /")))
    for index, (offset, size) in sorted(plan.scratch.items()):
        offsets.append((f"{name}_L{index}_SCRATCH", offset, f"layer {index} kernel scratch, {size} B"))
    return offsets


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mlc")
    except Exception:  # running from a checkout that is not installed
        return "dev"


def write_atomically(files: dict, out_dir: Path) -> None:
    """Write into a temporary sibling folder, then move it into place (replacing our own files only)."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as err:
        raise MlcError(f"{out_dir}: cannot write there ({err.strerror}); choose another -o") from None
    try:
        for filename, text in files.items():
            (tmp / filename).write_text(text)
        if not out_dir.exists():
            os.replace(tmp, out_dir)
            return
        if not out_dir.is_dir():
            raise MlcError(f"{out_dir} exists and is not a folder; choose another -o")
        for filename in files:  # an existing folder keeps its other files; ours are replaced one by one
            os.replace(tmp / filename, out_dir / filename)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generate(model_path, out_dir, name: str | None = None, labels=None, reference: bool = False,
             isa: str | None = None, flash_bytes: int | None = None, patches: str = "auto") -> Result:
    """Generate the C library for `model_path` into `out_dir`. `labels`: a file (one label a line) or a
    list of strings. `reference=True` uses the plain reference loop nests (no in-place layers).
    `isa` (codegen.ops.kernel_plan.ISAS): only that core's kernel paths; None: all of them. flash_bytes:
    the board's (render). patches: render's."""
    from codegen.ops import load

    graph = load(model_path)
    return generate_graph(graph, out_dir, name=name if name is not None else identifier_from(Path(model_path).stem),
                          labels=labels, reference=reference, isa=isa, flash_bytes=flash_bytes, patches=patches)


def generate_graph(graph, out_dir, name: str, labels=None, reference: bool = False, isa: str | None = None,
                   flash_bytes: int | None = None, patches: str = "auto") -> Result:
    """generate() for an already loaded (or edited) graph; flash_bytes, patches: render's."""
    name = check_identifier(name)
    label_list = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else list(labels or [])
    if label_list and len(label_list) != graph.outputs[0].size:
        raise MlcError(f"{labels}: {len(label_list)} labels for {graph.outputs[0].size} output values; "
                       "give one label per output value")
    files, result = render(graph, name, label_list, reference=reference, isa=isa, flash_bytes=flash_bytes,
                           patches=patches)
    write_atomically(files, Path(out_dir))
    result.out_dir = Path(out_dir)
    return result
