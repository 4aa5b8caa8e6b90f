"""Activation RAM of mlc against TFLM's arena head, counted like for like, as a Markdown table.

    python benchmarks/ram_vs_tflm.py [--measure MODEL ...] [--write-readme]

mlc's figure is its one planned arena (`mlc generate`): every tensor, the model's input and output
included, and kernel scratch. TFLM's "head" (benchmarks/tflm_arena.json, from its RecordingMicroAllocator)
is its activation plan, input and output included. --measure takes a model's head and total from the
tflite-micro package's interpreter (its print_allocations()) and writes them to tflm_arena.json, saying so.
With --write-readme the table replaces the one between the ram-vs-tflm markers in README.md."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.errors import MlcError  # noqa: E402
from codegen.lower.generate import plan_model  # noqa: E402
from codegen.model.tflm import arena_usage  # noqa: E402
from codegen.ops import load  # noqa: E402
from tests.paths import model_path  # noqa: E402

TFLM_ARENA = Path(__file__).resolve().parent / "tflm_arena.json"
MARKS = ("<!-- ram-vs-tflm -->", "<!-- /ram-vs-tflm -->")


def measure(models: list[str]) -> None:
    """Adds each model's TFLM head and total to tflm_arena.json, with where the figures came from."""
    from importlib.metadata import version

    data = json.loads(TFLM_ARENA.read_text())
    for model in models:
        data["models"][model] = {**data["models"].get(model, {}), **arena_usage(model_path(model)), "source": (
            f"tflite-micro {version('tflite-micro')} print_allocations() on x86-64 (ram_vs_tflm.py --measure)")}
        print(f"{model}: {data['models'][model]}")
    rows = ",\n".join(f"    {json.dumps(m)}: {json.dumps(v)}" for m, v in data["models"].items())
    TFLM_ARENA.write_text(f'{{\n  "about": {json.dumps(data["about"])},\n  "models": {{\n{rows}\n  }}\n}}\n')


def rows() -> list:
    """(model, mlc arena, input bytes, output bytes, TFLM head) for every model of tflm_arena.json found."""
    out = []
    for model, tflm in json.loads(TFLM_ARENA.read_text())["models"].items():
        path = model_path(model)
        if not path.exists():
            continue
        try:
            graph = load(path)
        except MlcError:  # a model mlc does not read (yet) has no row
            continue
        if graph.unsupported or len(graph.inputs) != 1 or len(graph.outputs) != 1:
            continue
        out.append((model, plan_model(graph)[2].arena_bytes, graph.inputs[0].nbytes, graph.outputs[0].nbytes,
                    tflm["head"]))
    return out


def table(measured) -> str:
    lines = ["| model | mlc arena B (incl. input + output) | input B | output B | TFLM head B | ratio |",
             "|---|---:|---:|---:|---:|---:|"]
    for model, arena, x, y, head in measured:
        lines.append(f"| {model} | {arena:,} | {x:,} | {y:,} | {head:,} | {arena / head:.2f} |")
    return "\n".join(lines)


def write_readme(text: str, readme: Path = ROOT / "README.md", marks=MARKS) -> None:
    """Replace the block between the marks comments in the README with text."""
    body = readme.read_text()
    pattern = re.compile(re.escape(marks[0]) + r".*?" + re.escape(marks[1]), re.S)
    if not pattern.search(body):
        raise SystemExit(f"{readme}: no {marks[0]} ... {marks[1]} block to replace")
    readme.write_text(pattern.sub(lambda _: f"{marks[0]}\n{text}\n{marks[1]}", body))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs="+", default=[], metavar="MODEL",
                        help="take these models' TFLM head from tflite-micro into tflm_arena.json first")
    parser.add_argument("--write-readme", action="store_true", help="replace the table in README.md")
    args = parser.parse_args(argv)
    measure(args.measure)
    text = table(rows())
    print(text)
    if args.write_readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
