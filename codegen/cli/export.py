"""`mlc export MODEL --arduino [-o DIR | --zip]`: the model as an Arduino library (and PlatformIO library)."""
from pathlib import Path

from codegen.errors import MlcError
from codegen.ops import load, require_supported

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


def run(args) -> int:
    from codegen.cli.build import read_demo_inputs
    from codegen.targets.arduino import export_arduino, zip_library

    graph = load(args.model)
    require_supported(graph)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise MlcError(f"{out}: not a folder; -o names the folder the library goes into")
    root = export_arduino(graph, out, args.name, args.labels, read_demo_inputs(graph, args.demo_inputs), args.url)
    print(f"Arduino library: {root}")
    for f in ("library.properties", "library.json", f"src/{root.name}.h"):
        print(f"  {f}")
    for sketch in sorted((root / "examples").glob("*/*.ino")):
        print(f"  {sketch.relative_to(root)}")
    if args.zip:
        print(f"zip: {zip_library(root)}")
    return 0
