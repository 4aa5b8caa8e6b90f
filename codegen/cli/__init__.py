"""The `mlc` command line: one module per sub-command, codegen.cli.<name>, each defining NAME, HELP,
add_arguments(parser) and run(args) -> int; MlcError is reported as one line."""
import argparse
import importlib
import os
import sys

from codegen.errors import MlcError

COMMANDS = ["inspect", "simulate", "generate", "boards", "build", "flash", "run", "monitor", "verify", "bench", "quantize", "report", "export", "doctor", "calibrate"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlc", description="Compile int8 neural networks into bit-exact C for microcontrollers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"codegen.cli.{name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except MlcError as err:
        print(f"mlc {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `mlc inspect --json | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a file the command could not read or write, named by the OS
        where = f"{err.filename}: " if err.filename else ""
        print(f"mlc {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mlc {args.command}: interrupted", file=sys.stderr)
        return 130
