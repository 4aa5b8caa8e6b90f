"""`mlc export MODEL --arduino [-o DIR | --zip] [--app APP ...]`: the model as an Arduino library (and PlatformIO
library) with a classify sketch, and a streaming app's sketch when --app names one (with that app's options,
as `mlc build --app` takes them)."""
from pathlib import Path

from codegen.cli.apps import STREAM_APPS, app_module
from codegen.errors import MlcError
from codegen.ops import load, require_supported
from codegen.targets.boards import get_board

SIZING_BOARD = "nano33ble"  # the board whose RAM a streaming app's buffers are checked against by default

NAME = "export"
HELP = "Export a model as an Arduino library (Library Specification 1.5, also a PlatformIO library) with example sketches."


def add_arguments(parser):
    parser.add_argument("model", help="the int8 .tflite model")
    parser.add_argument("--arduino", action="store_true", required=True, help="an Arduino library (the one format so far)")
    parser.add_argument("--output", "-o", default=".", help="folder to write mlc_NAME/ into (default: here)")
    parser.add_argument("--zip", action="store_true", help="also zip it (mlc_NAME.zip beside the folder), for the "
                        "IDE's Add .ZIP Library and `arduino-cli lib install --zip-path`")
    parser.add_argument("--name", help="C name of the model (default from the file name)")
    parser.add_argument("--labels", help="text file with one class label per line")
    parser.add_argument("--demo-inputs", metavar="X.npy", help="inputs the example sketch shows while no host talks to it")
    parser.add_argument("--url", default="", help="the library's url in library.properties")
    parser.add_argument("--app", choices=STREAM_APPS, help="also a sketch of this streaming app")
    parser.add_argument("--board", "-b", default=SIZING_BOARD, help="with --app: the board whose RAM the app's "
                        f"buffers must fit (default {SIZING_BOARD})")
    for app in STREAM_APPS:
        app_module(app).add_arguments(parser.add_argument_group(f"--app {app}"), "build")


def run(args) -> int:
    from codegen.cli.build import read_demo_inputs
    from codegen.targets.arduino import export_arduino, zip_library

    graph = load(args.model)
    require_supported(graph)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise MlcError(f"{out}: not a folder; -o names the folder the library goes into")
    apps = {args.app: app_module(args.app).sources(graph, get_board(args.board), args)} if args.app else {}
    root = export_arduino(graph, out, args.name, args.labels, read_demo_inputs(graph, args.demo_inputs), args.url, apps)
    print(f"Arduino library: {root}")
    for f in ("library.properties", "library.json", f"src/{root.name}.h"):
        print(f"  {f}")
    for sketch in sorted((root / "examples").glob("*/*.ino")):
        print(f"  {sketch.relative_to(root)}")
    if args.zip:
        print(f"zip: {zip_library(root)}")
    return 0
