"""`mlc quantize MODEL --calib X.npy [-o OUT.tflite] [--method M] [--equalize E] [--adaround] [--eval X.npy [--labels Y.npy]] [--float-io]`:
post-training quantization of a float .tflite, ONNX or Keras (.keras, .h5; needs TensorFlow) model into a
TFLite int8 model, checked in hostsim and reported layer by layer against the float model (SQNR). An ONNX
model's 4-D input data comes NCHW (3-D: NCW, for Conv1d), as the ONNX model takes it; the int8 model's input is NHWC.

An ONNX model that is already quantized (QDQ or QOperator form, e.g. from onnxruntime's quantize_static)
keeps its own scales, zero points and integer weights, needs no --calib, and is reported with notes on where
its arithmetic and the TFLite int8 kernels' differ."""
import json
from pathlib import Path

import numpy as np

from codegen.errors import MlcError
from codegen.model.arrays import read_input, read_inputs
from codegen.quantize import ranges, report

NAME = "quantize"
HELP = "Quantize a float .tflite, ONNX or Keras model to a TFLite int8 model with calibration data."


def add_arguments(parser):
    parser.add_argument("model", help="a float32 .tflite, an ONNX model (opset 13 or later; NCHW input data) or a Keras .keras/.h5")
    add_calibration_arguments(parser, required=False)
    parser.add_argument("--output", "-o", help="the int8 .tflite to write (default MODEL_int8.tflite beside MODEL)")
    parser.add_argument("--eval", metavar="X.npy", help="float inputs to report on (default: the calibration data)")
    parser.add_argument("--labels", metavar="Y.npy", help="integer class labels of the --eval inputs: accuracy too")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", metavar="PNG", help="also draw each layer's SQNR as a chart (needs matplotlib: "
                        "pip install 'mlc[plot]')")


def add_calibration_arguments(parser, required: bool):
    parser.add_argument("--calib", metavar="X.npy", required=required,
                        help="float calibration inputs stacked (N, *input_shape[1:]), a few hundred samples; for a "
                             "model with several inputs an .npz with one such array per input "
                             "(not needed for an ONNX model that is already quantized)")
    parser.add_argument("--method", choices=ranges.CHOICES, default=ranges.DEFAULT_METHOD,
                        help="activation range estimator (default auto: MSE-optimal clipping, but min/max for the "
                             "model's input and outputs and SOFTMAX inputs)")
    parser.add_argument("--float-io", action="store_true", help="keep float32 input and output (QUANTIZE/DEQUANTIZE at the edges)")
    parser.add_argument("--equalize", choices=("auto", "on", "off"), default="auto",
                        help="cross-layer equalization of conv/depthwise/dense pairs joined by ReLU or no activation "
                             "(default auto: quantize with and without, keep the higher output SQNR on the calibration data)")
    parser.add_argument("--adaround", action="store_true",
                        help="learn each weight's rounding (up or down) from the layer's output on the calibration "
                             "data (AdaRound; at least 64 samples; seconds per layer)")


def default_output(model) -> Path:
    return Path(model).with_name(Path(model).stem + "_int8.tflite")


def quantize_file(model, calib_path, output, method, float_io, equalize="auto", adaround=False):
    """Quantize MODEL with the arrays in calib_path, write `output`; returns (float model, pipeline result,
    int8 graph as mlc loads it)."""
    from codegen.model.arrays import check_output
    from codegen.ops import load, require_supported
    from codegen.quantize.pipeline import load_float, quantize

    from codegen.cli.progress import status

    check_output(str(output))
    float_model = load_float(model)
    try:
        with status(f"calibrating and quantizing {model}"):
            result = quantize(float_model, read_inputs(calib_path) if calib_path else None, method, float_io,
                              equalize=equalize, adaround=adaround)
    except MlcError as err:
        raise MlcError(f"{calib_path or model}: {err}") from None
    Path(output).write_bytes(result.model)
    loaded = load(output)
    require_supported(loaded)
    return float_model, result, loaded


def model_inputs(graph, x):
    """Float inputs (an array, or one per input) as the int8 model takes them: each quantized by its input's
    parameters unless float I/O."""
    def one(t, xi):
        if t.dtype == "float32":
            return xi
        return np.clip(np.round(xi / float(t.quant.s)) + t.quant.zp, -128, 127).astype(np.int8)
    if isinstance(x, (list, tuple)):
        return [one(t, xi) for t, xi in zip(graph.inputs, x)]
    return one(graph.inputs[0], x)


def evaluate(result, int8, x: np.ndarray, labels=None) -> dict:
    from codegen.quantize import executor
    from hostsim import run_all

    float_values = executor.run_all(result.float_graph, x)
    int8_values = run_all(int8, model_inputs(int8, x))
    y_float = float_values[id(result.float_graph.outputs[0])]
    out = int8.outputs[0]
    y_int8 = report.dequantize(out, int8_values[out.index]) if out.dtype == "int8" else int8_values[out.index]
    return {"layers": report.layers(result.float_graph, float_values, int8, int8_values),
            **report.outputs(y_float, y_int8, labels, classifier=result.float_graph.ops[-1].kind == "SOFTMAX")}


def run(args) -> int:
    output = Path(args.output) if args.output else default_output(args.model)
    float_model, result, int8 = quantize_file(args.model, args.calib, output, args.method, args.float_io, args.equalize,
                                              args.adaround)
    for note in result.notes:
        print(f"note: {note}")
    if not (args.calib or args.eval):  # a model that brought its own quantization, and nothing to report on
        print(f"wrote {output} with the model's own quantization; give --eval X.npy for the SQNR report")
        return 0
    x = None
    if args.calib:
        xs = [result.values[id(t)] for t in result.float_graph.inputs]
        x = xs[0] if len(xs) == 1 else xs
    if args.eval:
        try:
            x = float_model.inputs(read_inputs(args.eval), "evaluation data")
        except MlcError as err:
            raise MlcError(f"{args.eval}: {err}") from None
    labels = None
    if args.labels:
        labels = read_input(args.labels).reshape(-1)
        samples = len(x if isinstance(x, np.ndarray) else x[0])
        if len(labels) != samples or not np.issubdtype(labels.dtype, np.integer):
            raise MlcError(f"{args.labels}: needs {samples} integer labels, one per evaluation input (has {len(labels)} {labels.dtype})")
    summary = {"model": str(args.model), "output": str(output), "method": args.method, **evaluate(result, int8, x, labels)}
    if args.plot:
        from codegen.report.plots import sqnr_chart

        sqnr_chart(summary["layers"], summary["output_sqnr_db"], f"{output.name}: SQNR per layer "
                   f"({summary['samples']} inputs)", args.plot)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print_report(summary)
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


def print_report(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if Console().is_terminal else 160)
    table = Table(title=f"{summary['output']}: SQNR against the float model ({summary['samples']} inputs)")
    for column in ("#", "op", "tensor", "shape", "scale", "zero point", "SQNR dB"):
        table.add_column(column, justify="right" if column in ("#", "scale", "zero point", "SQNR dB") else "left")
    for row in summary["layers"]:
        table.add_row(str(row["index"]), row["op"], row["tensor"], "x".join(map(str, row["shape"])),
                      f"{row['scale']:.3g}", str(row["zero_point"]), f"{row['sqnr_db']:.1f}")
    console.print(table)
    facts = [f"output SQNR {summary['output_sqnr_db']:.1f} dB"]
    if "top1_agreement" in summary:
        facts.append(f"top-1 agreement with float {100 * summary['top1_agreement']:.1f} %")
    if "int8_accuracy" in summary:
        facts.append(f"accuracy float {100 * summary['float_accuracy']:.2f} % / int8 {100 * summary['int8_accuracy']:.2f} %")
    console.print("; ".join(facts), highlight=False)
