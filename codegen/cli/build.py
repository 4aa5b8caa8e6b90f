"""`mlc build MODEL --board B [--app classify] [-o DIR]`: render a PlatformIO project and build it."""
from pathlib import Path

from codegen.cli.apps import STREAM_APPS, add_stream_arguments, app_module
from codegen.cli.quantize import add_calibration_arguments, default_output, quantize_file
from codegen.csyntax import identifier_from
from codegen.targets.boards import DEFAULT_BOARD, get_board
from codegen.errors import MlcError
from codegen.ops import graph_of

NAME = "build"
HELP = "Render a PlatformIO project (app + generated model library) for a board and build it."


def add_arguments(parser):
    parser.add_argument("model", help="the int8 .tflite model; or a float .tflite, ONNX or Keras model with --calib")
    parser.add_argument("--board", "-b", default=DEFAULT_BOARD, help=f"board id from `mlc boards` (default {DEFAULT_BOARD})")
    parser.add_argument("--app", default="classify", help="firmware app (default classify; "
                        f"streaming apps: {', '.join(STREAM_APPS) or 'none'})")
    parser.add_argument("--output", "-o", help="project folder (default mlc-build/NAME-BOARD)")
    parser.add_argument("--name", help="C name of the model (default from the file name)")
    parser.add_argument("--labels", help="text file with one class label per line")
    parser.add_argument("--demo-inputs", metavar="X.npy|X.npz", help="inputs (stacked like `mlc simulate`'s) that the app "
                        "runs and reports while no host talks to it (default: a few random inputs)")
    parser.add_argument("--no-build", action="store_true", help="only render the project")
    parser.add_argument("--patches", choices=("auto", "off"), default="auto",
                        help="run the memory-heavy first layers in row bands (patches) where that shrinks the arena "
                             "by 10%% or more (auto, the default), or never (off)")
    parser.add_argument("--fit-check", action="store_true", help="instead of the board's official PlatformIO platform, "
                        "build the app and model with mlc's local platform (the system cross compiler) and the board's "
                        "flags, linked against its flash and RAM (works offline for real boards; leaves out the board "
                        "framework's own code)")
    add_calibration_arguments(parser, required=False)
    add_stream_arguments(parser, NAME)


def default_dir(model, board_id: str) -> Path:
    return Path("mlc-build") / f"{identifier_from(Path(model).stem)}-{board_id}"


def read_demo_inputs(model, path):
    """A stack of valid inputs of `model` (a prepared graph, or a .tflite path) from X.npy, checked against
    the model like `mlc simulate` checks them; X.npz: one such stack per model input, a list in the model's order."""
    if not path:
        return None
    from codegen.model.arrays import read_inputs
    from hostsim.runner import model_inputs

    try:
        xs = model_inputs(graph_of(model), read_inputs(path))
        return xs[0] if len(xs) == 1 else xs
    except MlcError as err:
        raise MlcError(f"{path}: {err}") from None


def build(model, board_id, out_dir=None, app="classify", name=None, labels=None, compile_=True, quiet=False,
          demo=None, app_sources=None, patches="auto"):
    """Render and (unless compile_ is False) build `model` (a prepared graph, or a .tflite path), with what a
    streaming app adds (app_sources); patches: generate's; returns (project, size report or None)."""
    from codegen.device.bench import plan_stack
    from codegen.targets.project import AppSources, build_project, render_project, unmeasured_stack

    graph = graph_of(model)
    board = get_board(board_id)
    project = render_project(graph, board, out_dir or default_dir(graph.path, board_id), app=app, name=name,
                             labels=labels, demo=demo, app_sources=app_sources or AppSources(),
                             stack_plan=plan_stack if compile_ else unmeasured_stack, patches=patches)
    if not compile_:
        return project, None
    from codegen.cli.progress import status

    if not quiet:
        print(f"building {project.dir} for {board.id} ({board.platformio.platform}) ...", flush=True)
    with status(f"PlatformIO is building {project.dir}"):
        return project, build_project(project)


def run(args) -> int:
    if args.calib or Path(args.model).suffix.lower() in (".onnx", ".keras", ".h5"):  # quantize it first
        output = default_output(args.model)
        _, result, _ = quantize_file(args.model, args.calib, output, args.method, args.float_io, args.equalize,
                                     args.adaround)
        for note in result.notes:
            print(f"note: {note}")
        print(f"quantized: {output}")
        args.model = str(output)
    if args.fit_check:
        from codegen.device.bench import plan_stack
        from codegen.targets.project import AppSources, fit_check

        board = get_board(args.board)
        graph = graph_of(args.model)
        sources = app_module(args.app).sources(graph, board, args) if args.app in STREAM_APPS else AppSources()
        report = fit_check(graph, board, args.output or default_dir(args.model, board.id), args.name,
                           args.labels, stack_plan=plan_stack, app=args.app, app_sources=sources)
        print(f"fit check for {board.id} ({' '.join(board.machine_flags())}): fits")
        for line in report.lines():
            print(line)
        print("(app + model + mlc runtime; the board framework's own code comes on top)")
        return 0
    graph = graph_of(args.model)
    sources = app_module(args.app).sources(graph, get_board(args.board), args) if args.app in STREAM_APPS else None
    project, report = build(graph, args.board, args.output, args.app, args.name, args.labels,
                            compile_=not args.no_build, demo=read_demo_inputs(graph, args.demo_inputs),
                            app_sources=sources, patches=args.patches)
    print(f"project: {project.dir}")
    if report:
        print(f"firmware: {project.elf}")
        for line in report.lines():
            print(line)
    return 0
