"""`mlc simulate MODEL.tflite --input X.npy --output Y.npy [--compare]`: run hostsim.

X holds N inputs stacked on a leading axis, (N, *input_shape[1:]), or one input of exactly the
model's input shape; its dtype is the model input's. Y is stacked the same way. A model with several
inputs takes X.npz, one array per input (by input name, or arr_0, arr_1, ... in order); with several
outputs Y.npz holds one array per output, by name. --compare also runs
TFLM's interpreter on every input and reports, layer by layer, on how many inputs the outputs match;
any mismatch exits with status 1.
"""
from codegen.cli.apps import add_stream_arguments, app_module
from codegen.model.arrays import check_output, read_inputs, write_outputs
from codegen.errors import MlcError
from codegen.ops import require_supported
from codegen.ops import load

NAME = "simulate"
HELP = "Run a model in mlc's bit-exact host simulator on inputs from a .npy file."


def add_arguments(parser):
    parser.add_argument("model", help="the .tflite model")
    parser.add_argument("--input", "-i", help="X.npy: inputs stacked on a leading axis (N, ...); X.npz: one such "
                        "array per model input")
    parser.add_argument("--output", "-o", help="Y.npy to write: outputs stacked the same way (Y.npz: one per output)")
    parser.add_argument("--compare", action="store_true", help="also run TFLM (pip install tflite-micro) and compare every layer")
    parser.add_argument("--json", action="store_true", help="print what was written (with --compare: the layer-by-layer comparison) as JSON")
    add_stream_arguments(parser, NAME)


def _report_json(layers, n: int) -> int:
    import json
    from dataclasses import asdict

    first = next((m for m in layers if not m.ok), None)
    print(json.dumps({"inputs": n, "bit_exact": first is None,
                      "first_mismatch": first.op_index if first else None,
                      "layers": [asdict(m) for m in layers]}, indent=2))
    return 0 if first is None else 1


def _report(layers, n: int) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if Console().is_terminal else 140)
    table = Table(title=f"hostsim vs TFLM on {n} input(s)")
    for col in ("#", "op", "output", "matching", "max |diff|"):
        table.add_column(col, justify="right" if col in ("#", "matching", "max |diff|") else "left",
                         max_width=60 if col == "output" else None, overflow="ellipsis")
    for m in layers:
        style = "" if m.ok else "red"
        table.add_row(str(m.op_index), m.kind, m.tensor, f"{m.matching}/{m.total}", f"{m.max_abs_diff:g}", style=style)
    console.print(table)
    first = next((m for m in layers if not m.ok), None)
    if first is None:
        console.print(f"bit-exact: all {n} input(s) match TFLM in every layer")
        return 0
    console.print(f"MISMATCH: first differing layer is {first.op_index} ({first.kind}) -> '{first.tensor}': "
                  f"{first.total - first.matching}/{first.total} input(s) differ, max |diff| {first.max_abs_diff:g}",
                  highlight=False)
    return 1


def run(args) -> int:
    from hostsim import run_all

    graph = load(args.model)
    require_supported(graph)
    if args.app:
        if not args.feed:
            raise MlcError(f"--app {args.app} needs --feed REC: the recording to run through it")
        return app_module(args.app).simulate(graph, args)
    if not (args.input and args.output):
        raise MlcError("give --input X.npy and --output Y.npy (or --app APP --feed REC)")
    x = read_inputs(args.input)
    check_output(args.output, len(graph.outputs))
    try:
        values = run_all(graph, x)
    except MlcError as err:  # the model is supported, so what is left is the input's shape or dtype
        raise MlcError(f"{args.input}: {err}") from None
    write_outputs(args.output, {t.name: values[t.index] for t in graph.outputs})
    y = values[graph.outputs[0].index]
    if not args.compare:
        outputs = [(t.name, values[t.index]) for t in graph.outputs]
        if args.json:
            import json

            print(json.dumps({"output": str(args.output), "count": len(y),
                              "outputs": [{"name": n, "shape": list(v.shape[1:]), "dtype": str(v.dtype)}
                                          for n, v in outputs]}))
        else:
            shapes = ", ".join(f"{tuple(v.shape[1:])} {v.dtype}" for _, v in outputs)
            print(f"{args.output}: {len(y)} output(s) of shape {shapes}")
        return 0
    from codegen.model import tflm as reference

    layers = reference.compare(graph, [values[t.index] for t in graph.inputs], sim=values)
    return (_report_json if args.json else _report)(layers, len(y))
