"""`mlc flash DIR`: upload a built project with PlatformIO (on an emulated board: run it)."""
from codegen.errors import MlcError

NAME = "flash"
HELP = "Upload a project made by `mlc build` to its board (pio run -t upload)."


def add_arguments(parser):
    parser.add_argument("project", help="project folder made by `mlc build`")
    parser.add_argument("--port", help="upload port (default: PlatformIO finds the board)")


def run(args) -> int:
    from codegen.targets.project import load_project
    from codegen.targets.toolchain import run_pio

    project = load_project(args.project)
    extra = ["--upload-port", args.port] if args.port else []
    result = run_pio(["run", "-e", project.board.id, "-t", "upload", *extra], project.dir, capture=False)
    if result.returncode != 0:
        raise MlcError(f"uploading {project.dir} to {project.board.id} failed (PlatformIO output above)")
    return 0
