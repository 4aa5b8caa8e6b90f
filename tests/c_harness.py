"""Compile generated C on the host (sanitizers on) and compare it with hostsim, layer by layer.

    from tests.c_harness import check_model            # or: from c_harness import ...
    check_model(path_or_bytes, tmp_path, n=100)        # generate, build, run N random inputs, assert

check_model asserts that the C output bytes equal hostsim's for every input; on a mismatch the
message names the first layer whose output differs (the build has NAME_DEBUG_DUMP, which reports
every layer's output). Lower-level pieces: generate_lib, build_harness, run_harness, compile_c.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from codegen.model.arrays import random_inputs, random_model_inputs  # noqa: F401 (the generated-C tests take their inputs from here)

HOST_CFLAGS = ["-std=c99", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-fno-omit-frame-pointer",
               "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "{name}.h"

/* stdin: N frames of every input back to back (in the model's order). stdout, per frame: every layer's
   output as (int32 layer, int32 bytes, data), then (-1, OUTPUT_BYTES, every output back to back). */
#ifndef RESET_AT
#define RESET_AT (-1L)
#endif
static void put(int32_t layer, const void *data, int32_t bytes)
{{
    fwrite(&layer, 4, 1, stdout);
    fwrite(&bytes, 4, 1, stdout);
    fwrite(data, 1, (size_t)bytes, stdout);
}}

int main(void)
{{
    static unsigned char in[{name}_INPUT_BYTES], out[{name}_OUTPUT_BYTES];
    long n = 0;
    {name}_set_dump(put);
    while (fread(in, 1, sizeof in, stdin) == sizeof in) {{
        if (n++ == RESET_AT) {{ /* -DRESET_AT=k: the model's state reset before input k */
            {name}_reset();
        }}
{body}
        put(-1, out, (int32_t)sizeof out);
    }}
    return 0;
}}
"""

FORMS = ("copying", "zero-copy")  # NAME_invoke with the caller's buffers; NAME_run on the arena's places


def _main_body(name: str, inputs: list, outputs: list, form: str) -> str:
    """The harness's per-frame code: inputs and outputs are (C name, bytes) per tensor (Result.inputs)."""
    at = lambda ios: [(fn, sum(b for _, b in ios[:k])) for k, (fn, _) in enumerate(ios)]  # noqa: E731
    if form == "copying":
        args = [f"in + {o}" for _, o in at(inputs)] + [f"out + {o}" for _, o in at(outputs)]
        return f"        if ({name}_invoke({', '.join(args)}) != 0) {{\n            return 3;\n        }}"
    lines = [f"        memcpy({name}_{fn}(), in + {o}, {b});" for (fn, o), (_, b) in zip(at(inputs), inputs)]
    lines.append(f"        if ({name}_run() != 0) {{\n            return 3;\n        }}")
    lines += [f"        memcpy(out + {o}, {name}_{fn}(), {b});" for (fn, o), (_, b) in zip(at(outputs), outputs)]
    return "\n".join(lines)


def compile_c(sources, exe: Path, include_dirs=(), defines=(), cflags=HOST_CFLAGS, cc="gcc") -> Path:
    """Compile and link C sources into an executable; raise AssertionError with the compiler's output."""
    cmd = [cc, *cflags, *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines),
           *map(str, sources), "-o", str(exe), "-lm"]  # sqrtf of the float32 layers
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return exe


def generate_lib(model, out_dir: Path, name: str = "m", **kwargs):
    """Generate the library for a model path or .tflite bytes; returns (codegen.lower.generate.Result, graph)."""
    from codegen.lower.generate import generate
    from codegen.ops import load

    out_dir = Path(out_dir)
    if isinstance(model, (bytes, bytearray)):
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir.parent / f"{name}_{out_dir.name}.tflite"
        path.write_bytes(model)
        model = path
    result = generate(model, out_dir, name=name, **kwargs)
    return result, load(model)


def build_harness(lib_dir: Path, name: str, defines=(), result=None, form: str = "copying") -> Path:
    """The test executable; defines e.g. ["MLC_DSP_EMULATE"] (the Cortex-M DSP path, emulated in C). For a
    model with several inputs or outputs pass its generate Result; form is one of FORMS."""
    lib_dir = Path(lib_dir)
    main = lib_dir / "harness_main.c"
    if result is None and form != "copying":
        raise ValueError("the zero-copy form needs the Result (its tensors' sizes)")
    inputs, outputs = (result.inputs, result.outputs) if result else ([("input", 0)], [("output", 0)])
    main.write_text(_MAIN.format(name=name, body=_main_body(name, inputs, outputs, form)))
    return compile_c([main, lib_dir / f"{name}.c"], lib_dir / "harness", include_dirs=[lib_dir],
                     defines=[f"{name}_DEBUG_DUMP", *defines])


def run_harness(exe: Path, inputs) -> tuple[np.ndarray, dict]:
    """Run N inputs (a stacked array, or a list of them, one per model input): (outputs as raw bytes
    (N, OUTPUT_BYTES), {layer: (N, bytes) uint8})."""
    from codegen.model.arrays import frames

    data = frames(inputs if isinstance(inputs, list) else [inputs])
    proc = subprocess.run([str(exe)], input=data.tobytes(), capture_output=True)
    assert proc.returncode == 0, f"{exe} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-4000:]}"
    data, pos = proc.stdout, 0
    outputs, layers = [], {}
    while pos < len(data):
        layer, nbytes = np.frombuffer(data, np.int32, 2, pos)
        pos += 8
        chunk = np.frombuffer(data, np.uint8, nbytes, pos)
        pos += nbytes
        if layer < 0:
            outputs.append(chunk)
        else:
            layers.setdefault(int(layer), []).append(chunk)
    return np.array(outputs), {k: np.array(v) for k, v in layers.items()}


def compare(graph, exe: Path, inputs, banded=()) -> int:
    """Assert C == hostsim byte for byte on every input; returns the number of inputs compared. banded: the
    layers run in patches whose outputs never exist whole (the chain's last one is compared)."""
    from codegen.model.arrays import frames
    from hostsim.runner import run_all

    outputs, layers = run_harness(exe, inputs)
    want = run_all(graph, inputs)
    n = len(inputs[0] if isinstance(inputs, list) else inputs)
    assert set(layers) == {op.index for op in graph.ops} - set(banded)
    for op in graph.ops:  # first differing layer, in execution order
        if op.index in banded:
            continue
        y = op.outputs[0]
        expect = np.ascontiguousarray(want[y.index]).view(np.uint8).reshape(n, -1)
        got = layers[op.index]
        if not np.array_equal(got, expect):
            bad = np.argwhere(got != expect)[0]
            raise AssertionError(f"layer {op.index} ({op.kind}) output '{y.name}' differs from hostsim first at "
                                 f"input {bad[0]}, byte {bad[1]}: C {got[tuple(bad)]} vs hostsim {expect[tuple(bad)]} "
                                 f"({int((got != expect).sum())} bytes differ)")
    expect = frames([want[t.index] for t in graph.outputs])
    assert np.array_equal(outputs, expect), "model output differs from hostsim although every layer matched"
    return n


def check_model(model, work: Path, n: int = 100, name: str = "m", seed: int = 0, defines=(), form: str = "copying",
                **kwargs) -> int:
    """Generate (kwargs go to codegen.lower.generate.generate), build with sanitizers (and `defines`),
    compare N random inputs (for every model input) through `form` (FORMS) of the C API."""
    result, graph = generate_lib(model, Path(work) / name, name=name, **kwargs)
    exe = build_harness(result.out_dir, name, defines, result=result, form=form)
    return compare(graph, exe, random_model_inputs(graph, n, seed), banded_layers(result))


def check_graph(graph, work: Path, n: int = 100, name: str = "m", seed: int = 0, defines=(), **kwargs) -> int:
    """check_model for a loaded graph (e.g. one cut short with truncate())."""
    from codegen.lower.generate import generate_graph

    result = generate_graph(graph, Path(work) / name, name=name, **kwargs)
    exe = build_harness(result.out_dir, name, defines, result=result)
    return compare(graph, exe, random_model_inputs(graph, n, seed), banded_layers(result))


def banded_layers(result) -> tuple:
    """The layers a library runs in patches that write no whole output of their own."""
    return result.patches.layers[:-1] if result.patches else ()


def truncate(graph, n_ops: int):
    """The graph's first n_ops layers, the last one's output becoming the model output."""
    graph.ops = graph.ops[:n_ops]
    graph.outputs = [graph.ops[-1].outputs[0]]
    graph.unsupported = [u for u in graph.unsupported if u[0] < n_ops]
    return graph


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
