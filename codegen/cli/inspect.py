"""`mlc inspect MODEL.tflite [--json]`: the per-layer summary of a model (see codegen.model.summary for
the JSON keys). Unsupported ops are listed with the reason; inspecting still succeeds."""
import json

from codegen.ops import supported_ops
from codegen.model.summary import summarize, table
from codegen.ops import load

NAME = "inspect"
HELP = "Show a model's layers: shapes, int8 quantization, parameter bytes, MACs, activation bytes."


def add_arguments(parser):
    parser.add_argument("model", help="the .tflite model")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (keys: see codegen/model/summary.py)")


def run(args) -> int:
    summary = summarize(load(args.model))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    from rich.console import Console

    console = Console(width=None if Console().is_terminal else 160)
    console.print(table(summary))
    for u in summary["unsupported"]:
        reason = u["reason"].split(" (supported: ")[0]  # the list of supported ops is printed once below
        console.print(f"[yellow]unsupported[/yellow] layer {u['index']} ({u['op']}): {reason}", highlight=False)
    if summary["unsupported"]:
        console.print(f"mlc supports: {', '.join(supported_ops())}", highlight=False)
    return 0
