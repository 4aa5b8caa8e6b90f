"""`mlc generate`: write the model as a self-contained C99 library."""
from pathlib import Path

NAME = "generate"
HELP = "Generate a self-contained C99 library (NAME.h, NAME.c) for an int8 .tflite model."


def add_arguments(parser):
    parser.add_argument("model", help="the int8 .tflite model")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the library into")
    parser.add_argument("--name", help="C prefix for every symbol (default: the model file's stem as a C identifier)")
    parser.add_argument("--labels", metavar="FILE", help="class labels, one per line, compiled in as NAME_labels[]")
    parser.add_argument("--board", help="only this board's core's kernel paths (default: a portable library with "
                                        "every path under #if MLC_MVE / MLC_DSP; see `mlc boards`)")
    parser.add_argument("--reference-kernels", action="store_true",
                        help="use the plain reference loop nests (for debugging; larger arena, slower)")
    parser.add_argument("--patches", choices=("auto", "off"), default="auto",
                        help="run the memory-heavy first layers in row bands (patches) where that shrinks the arena "
                             "by 10%% or more (auto, the default), or never (off)")


def run(args) -> int:
    from codegen.lower.generate import generate
    from codegen.ops.kernel_plan import isa_of
    from codegen.targets.boards import get_board

    board = get_board(args.board) if args.board else None
    result = generate(args.model, Path(args.output), name=args.name, labels=args.labels,
                      reference=args.reference_kernels, isa=isa_of(board) if board else None,
                      flash_bytes=board.flash_bytes if board else None, patches=args.patches)
    print(result.summary())
    return 0
