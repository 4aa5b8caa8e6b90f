"""`mlc run DIR [--tcp PORT]`: run an emulated board's firmware, UART on the terminal or a TCP port."""
from codegen.cli.apps import STREAM_APPS, add_stream_arguments, app_module
from codegen.errors import MlcError

NAME = "run"
HELP = "Run a built project on its emulated board with the UART on this terminal (or a TCP port); Ctrl-C stops."


def add_arguments(parser):
    parser.add_argument("project", help="project folder made by `mlc build`")
    parser.add_argument("--tcp", type=int, metavar="PORT", help="serve the UART on 127.0.0.1:PORT for `mlc monitor`/`mlc verify`")
    add_stream_arguments(parser, NAME)


def run(args) -> int:
    from codegen.device.emulator import run_foreground
    from codegen.targets.project import load_project

    project = load_project(args.project)
    if not project.board.emulated:
        raise MlcError(f"{project.board.id} is a real board: `mlc flash {args.project}`, then `mlc monitor --port ...`")
    if getattr(args, "feed", None):  # --feed exists once a streaming app does
        if project.app not in STREAM_APPS:
            raise MlcError(f"{args.project}: built with --app {project.app}, which takes no --feed "
                           f"(streaming apps: {', '.join(STREAM_APPS) or 'none'})")
        return app_module(project.app).feed(project, args)
    return run_foreground(project.board, project.elf, args.tcp)
