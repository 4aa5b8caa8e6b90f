"""Instructions per inference of the reference models on the emulated Cortex-M boards, as a Markdown table.

    python benchmarks/bench_models.py [--models DIR] [--boards B ...] [--layers] [--json] [--cflag=-O2] [-j N]

Counts are exact instruction counts from QEMU (`mlc bench`), not time: QEMU's clocks are virtual.
By default the models of benchmarks/budgets.json (tests/data/models, else the converter-made ones), then each count against its budget; --models DIR
measures every .tflite in DIR. A model mlc cannot build for a board gets a row saying why."""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegen.device.bench import bench  # noqa: E402
from codegen.errors import MlcError  # noqa: E402
from tests.paths import BUDGETS, model_path  # noqa: E402

MAX_REASON = 110
BOARDS = ["qemu-cortex-m0", "qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m55"]


def measure(model: Path, board: str, cflags=()):
    try:
        return bench(model, board, cflags=cflags)
    except MlcError as err:
        first = str(err).splitlines()[0].replace(f"{model}: ", "").replace(f"{model} ", "")  # "PATH does not fit"
        return first if len(first) <= MAX_REASON else first[:MAX_REASON - 3] + "..."


def table(rows) -> str:
    out = ["| model | board | instructions | MACs | instr/MAC | flash B | RAM B | arena B | stack B |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model, board, r in rows:
        if isinstance(r, str):
            out.append(f"| {model.stem} | {board} | n/a: {r.replace('|', '/')} | | | | | | |")
        else:
            per = f"{r.instructions / r.macs:.2f}" if r.macs else "-"
            out.append(f"| {model.stem} | {board} | {r.instructions:,} | {r.macs:,} | {per} | {r.flash_bytes:,} "
                       f"| {r.ram_bytes:,} | {r.arena_bytes:,} | {r.stack_bytes:,} |")
    return "\n".join(out)


def against_budgets(rows, data: dict) -> list[str]:
    """One line per measurement with a budget: its change against the budget, and whether that fails the test."""
    out = [f"against {BUDGETS.name} (for {data['compiler']}; more than {data['tolerance']:.0%} over fails "
           "tests/test_budgets.py):"]
    for model, board, r in rows:
        budget = data["instructions"].get(model.stem, {}).get(board)
        if budget and not isinstance(r, str):
            change = r.instructions / budget - 1
            over = " OVER BUDGET" if change > data["tolerance"] else ""
            out.append(f"  {model.stem} on {board}: {r.instructions:,} vs {budget:,} ({change:+.2%}){over}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="measure every .tflite in this folder (default: the budgets' models)")
    parser.add_argument("--boards", nargs="+", default=BOARDS)
    parser.add_argument("--layers", action="store_true", help="also print each measurement's per-layer table")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    parser.add_argument("--cflag", action="append", default=[], metavar="FLAG", help="extra compiler flag, e.g. --cflag=-O2")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    data = json.loads(BUDGETS.read_text())
    models = sorted(args.models.glob("*.tflite")) if args.models else [model_path(m) for m in sorted(data["instructions"])]
    jobs = [(model, board) for model in models for board in args.boards]
    if not jobs:
        parser.error(f"no .tflite models in {args.models}")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda job: measure(*job, args.cflag), jobs))
    rows = [(model, board, r) for (model, board), r in zip(jobs, results)]
    if args.json:
        print(json.dumps([{"model": m.stem, "board": b, **({"error": r} if isinstance(r, str) else r.as_json())}
                          for m, b, r in rows], indent=2))
        return 0
    print(table(rows))
    print("\n" + "\n".join(against_budgets(rows, data)))
    if args.layers:
        for _, _, r in rows:
            if not isinstance(r, str):
                print("\n" + r.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
