"""`mlc bench MODEL --board B [--json]`: exact instructions per inference (total and per layer), MACs,
flash and RAM of the model's firmware on an emulated board."""
from codegen.targets.boards import DEFAULT_BOARD

NAME = "bench"
HELP = "Count the instructions of one inference (total and per layer) on an emulated board, with flash and RAM."


def add_arguments(parser):
    parser.add_argument("model", help="the .tflite model")
    parser.add_argument("--board", "-b", default=DEFAULT_BOARD, help=f"a qemu-* board from `mlc boards` (default {DEFAULT_BOARD})")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--output", "-o", metavar="DIR", help="keep the bench project here (default: a temporary folder)")
    parser.add_argument("--name", help="C name of the model (default from the file name)")
    parser.add_argument("--cflag", action="append", default=[], metavar="FLAG",
                        help="extra compiler flag for this measurement, e.g. --cflag=-O2 (repeatable)")
    parser.add_argument("--patches", choices=("auto", "off"), default="auto",
                        help="run the memory-heavy first layers in row bands (patches) where that shrinks the arena "
                             "by 10%% or more (auto, the default), or never (off)")
    parser.add_argument("--reference-kernels", action="store_true",
                        help="count the plain reference loop nests instead (what the optimized kernels save)")


def run(args) -> int:
    from codegen.cli.progress import status
    from codegen.device.bench import bench, to_json

    with status(f"building and counting {args.model} on {args.board}"):
        result = bench(args.model, args.board, out_dir=args.output, name=args.name, cflags=args.cflag, patches=args.patches,
                       reference=args.reference_kernels)
    print(to_json(result) if args.json else result.table())
    return 0
