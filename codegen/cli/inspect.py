"""`mlc inspect MODEL.tflite [--json]`: the per-layer summary of a model (see codegen.model.summary for
the JSON keys). Unsupported ops are listed with the reason; inspecting still succeeds.
`--plan [--board B]`: each layer's KernelPlan (codegen/ops/kernel_plan.py) instead: for the board's
core, or without a board for each ISA of the portable library."""
import json

from codegen.ops import supported_ops
from codegen.model.summary import summarize, table
from codegen.ops import load

NAME = "inspect"
HELP = "Show a model's layers: shapes, int8 quantization, parameter bytes, MACs, activation bytes."


def add_arguments(parser):
    parser.add_argument("model", help="the .tflite model")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (keys: see codegen/model/summary.py)")
    parser.add_argument("--plan", action="store_true", help="print each layer's kernel plan: variant, ISA path, blocking, "
                                                            "unrolling, weight layout, scratch, and why")
    parser.add_argument("--board", help="with --plan: the plans for this board's core (default: every ISA of a portable library)")
    parser.add_argument("--patches", choices=("auto", "off"), default="auto",
                        help="with --plan: as `mlc generate --patches` (each band's plans for layers run in patches)")


def plans(graph, board_id=None, patches="auto") -> list:
    """Every layer's KernelPlan summaries (dicts), in layer order, ISA by ISA. Layers run in patches
    (codegen.lower.patches) have a plan per band: "band" says which, and the split. With a board, the plans
    its build takes: the shared weight layouts where the ISA's own would not fit its flash (generate.render)."""
    from codegen.lower.generate import plan_model, render
    from codegen.ops.kernel_plan import isa_of
    from codegen.ops import require_supported
    from codegen.targets.boards import get_board

    require_supported(graph)
    board = get_board(board_id) if board_id else None
    isa = isa_of(board) if board else None
    own = render(graph, "model", [], isa=isa, flash_bytes=board.flash_bytes, patches=patches)[1].own_layouts if board else True
    split, banded, memory = plan_model(graph, isa=isa, own_layouts=own, patches=patches)
    rows = []
    for index in sorted(memory.kernels):
        band = split.bands.get(index)
        for p in memory.kernels[index].values():
            row = p.summary()
            if split.origin.get(index) is not None:
                row["index"] = split.origin[index]
            if band:
                row["index"] = band[0]
                row["band"] = {"band": band[1], "rows": [band[3], band[4]], **banded.summary()}
            rows.append(row)
    return rows


def _planned_arena(graph):
    """The portable library's arena (every input and output inside)."""
    from codegen.lower.generate import plan_layers

    return plan_layers(graph).arena_bytes


def _plan_table(rows):
    from rich.table import Table

    t = Table(title="kernel plans")
    for col, justify in [("layer", "right"), ("op", "left"), ("variant", "left"), ("isa", "left"), ("pixels", "right"),
                         ("channels", "right"), ("unroll", "left"), ("weights", "left"), ("scratch B", "right"),
                         ("in place", "left"), ("why", "left")]:
        t.add_column(col, justify=justify)
    for r in rows:
        why = "; ".join(f"{k}: {v}" for k, v in r["why"].items())
        band = r.get("band")
        if band:
            why = f"band {band['band'] + 1}/{band['bands']}, output rows {band['rows'][0]}-{band['rows'][1] - 1}; {why}"
        t.add_row(str(r["index"]), r["kind"], r["variant"] or "-", r["isa"], str(r["pixels"]), str(r["channels"]),
                  r["unroll"], r["weights"], f"{r['scratch']:,}", "yes" if r["inplace"] else "", why)
    return t


def run(args) -> int:
    graph = load(args.model)
    if args.plan or args.board:
        rows = plans(graph, args.board, args.patches)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            from rich.console import Console

            Console(width=None if Console().is_terminal else 200).print(_plan_table(rows))
            split = next((r["band"] for r in rows if "band" in r), None)
            if split:
                print(f"patches: layers {split['layers'][0]}-{split['layers'][-1]} in {split['bands']} bands of "
                      f"{split['band_rows']} output rows, +{split['extra_macs']:,} MACs recomputed; arena "
                      f"{split['arena_whole']:,} -> {split['arena_patched']:,} B")
        return 0
    summary = summarize(graph)
    arena = _planned_arena(graph) if not summary["unsupported"] else None
    if arena is not None:
        summary["totals"]["arena_bytes"] = arena  # the activation RAM mlc plans: every tensor incl. input and output
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    from rich.console import Console

    console = Console(width=None if Console().is_terminal else 160)
    console.print(table(summary))
    if arena is not None:
        from codegen.lower.generate import activation_ram_line, state_ram_line

        console.print(activation_ram_line(arena, [t.nbytes for t in graph.inputs], [t.nbytes for t in graph.outputs]),
                      highlight=False)
        state_bytes = sum(t.nbytes for t in graph.state_tensors())
        if state_bytes:
            console.print(state_ram_line(state_bytes), highlight=False)
    for u in summary["unsupported"]:
        reason = u["reason"].split(" (supported: ")[0]  # the list of supported ops is printed once below
        console.print(f"[yellow]unsupported[/yellow] layer {u['index']} ({u['op']}): {reason}", highlight=False)
    if summary["unsupported"]:
        console.print(f"mlc supports: {', '.join(supported_ops())}", highlight=False)
    return 0
