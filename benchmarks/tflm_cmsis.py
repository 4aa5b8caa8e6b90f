"""Instructions per inference of TFLM + CMSIS-NN against mlc on qemu-cortex-m4, as a Markdown table.

    python benchmarks/tflm_cmsis.py [--write-readme] [MODEL ...]

TFLM's figures are benchmarks/tflm_cmsis.json: one MicroInterpreter::Invoke() (the second of two on the same
input, which counted the same) of TFLM built with its CMSIS-NN kernels as bare-metal firmware for the same
board (mps2-an386, arm-none-eabi-gcc 12, -O2, mlc's start-up code and linker script, a MicroMutableOpResolver of
the model's ops), counted by mlc's QEMU plugin from Invoke's entry to its return, on the input `mlc bench` uses.
The file names the TFLM, CMSIS-NN and CMSIS commits, and whether Invoke returned kTfLiteOk with outputs equal to
hostsim's. TFLM and CMSIS-NN are third-party code and are not part of this repository, so that firmware is
built outside it. mlc's figures are measured now with `mlc bench` (codegen.device.bench.bench); with
--write-readme they are stored in the JSON beside TFLM's and the table replaces the one between the
tflm-cmsis markers in README.md."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ram_vs_tflm import write_readme  # noqa: E402
from codegen.device.bench import bench  # noqa: E402
from tests.paths import model_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "tflm_cmsis.json"
BOARD = "qemu-cortex-m4"
MARKS = ("<!-- tflm-cmsis -->", "<!-- /tflm-cmsis -->")


def table(data: dict) -> str:
    lines = ["| model | TFLM + CMSIS-NN instructions | mlc instructions | mlc / TFLM | TFLM output = hostsim |",
             "|---|---:|---:|---:|---|"]
    for name, row in data["models"].items():
        tflm, mlc = row["instructions"], row["mlc_instructions"]
        same = "yes" if row["outputs_equal_hostsim"] else "no"
        lines.append(f"| {name} | {tflm:,} | {mlc:,} | {mlc / tflm:.2f} | {same} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", action="store_true",
                        help="store mlc's counts in tflm_cmsis.json and replace the table in README.md")
    parser.add_argument("models", nargs="*", help="models of tflm_cmsis.json to measure (default: all)")
    args = parser.parse_args(argv)
    data = json.loads(RESULTS.read_text())
    unknown = [m for m in args.models if m not in data["models"]]
    if unknown:
        raise SystemExit(f"{RESULTS.name} has no TFLM figures for {', '.join(unknown)}")
    for name in args.models or list(data["models"]):
        data["models"][name]["mlc_instructions"] = bench(model_path(name), BOARD).instructions
    text = table(data)
    print(text)
    if args.write_readme:
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
        write_readme(text, marks=MARKS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
