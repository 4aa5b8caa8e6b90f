"""`mlc report MODEL [--board B] [-o report.html]`: one self-contained HTML page a person reads.

Without a board: the model, its layers and kernel plans, the arena's memory timeline, and hostsim checked
against TFLM's interpreter on random inputs (when tflite-micro is installed). With an emulated board it also
builds and benchmarks the firmware (instructions and .text per layer, flash and RAM against the board) and
verifies it on the emulator; for a real board, the build's flash and RAM."""
from __future__ import annotations

import tempfile
from pathlib import Path

from codegen.errors import MlcError
from codegen.targets.boards import get_board

NAME = "report"
HELP = "Write an HTML report: layers, kernel plans, memory timeline, flash/RAM and verification."
DEFAULT_CHECKS = 20


def add_arguments(parser):
    parser.add_argument("model", help="the int8 .tflite model")
    parser.add_argument("--board", "-b", help="also build, benchmark and verify for this board")
    parser.add_argument("--output", "-o", help="the HTML file (default NAME-report.html)")
    parser.add_argument("-n", type=int, default=DEFAULT_CHECKS, help=f"random inputs to verify (default {DEFAULT_CHECKS})")


def _verify(graph, board, project, n: int):
    from codegen.model.arrays import random_inputs
    from codegen.report import Verification

    x = random_inputs(graph, n, 0)
    if board is None:
        import hostsim
        from codegen.model import tflm

        try:
            layers = tflm.compare(graph, x, sim=hostsim.run_all(graph, x))
        except MlcError as err:  # no tflite-micro: say so in the page rather than fail the report
            return Verification("TFLM's interpreter", 0, 0, note=str(err))
        first_bad = next((m for m in layers if not m.ok), None)
        return Verification("TFLM's interpreter (hostsim)", layers[-1].matching, layers[-1].total,
                            note=f"first differing layer: {first_bad.op_index}" if first_bad else "every layer equal")
    if not board.emulated:
        return None
    from codegen.cli.verify import verify_on_device
    from codegen.device.emulator import Emulator
    from codegen.device.protocol import Device

    emulator = Emulator(board, project.elf).start()
    try:
        with Device(emulator.url) as device:
            _, mismatches, _ = verify_on_device(device, graph, x, out=lambda s: None)
    finally:
        emulator.stop()
    return Verification(f"the device ({board.id}, emulated)", n - len(mismatches), n)


def run(args) -> int:
    from codegen.cli.inspect import plans
    from codegen.lower.generate import plan_layers
    from codegen.ops import load, require_supported
    from codegen.ops.kernel_plan import isa_of
    from codegen.report import page

    graph = load(args.model)
    require_supported(graph)
    if args.n < 1:
        raise MlcError("-n must be at least 1")
    board = get_board(args.board) if args.board else None
    output = Path(args.output or f"{Path(args.model).stem}-report.html")
    bench = size = project = None
    with tempfile.TemporaryDirectory(prefix="mlc-report-") as tmp:
        if board:
            from codegen.cli.build import build

            print(f"building for {board.id} ...", flush=True)
            project, size = build(graph, board.id, Path(tmp) / "project", quiet=True)
            if board.emulated and board.emulator.kind == "qemu":
                from codegen.device.bench import bench as run_bench

                print("counting instructions ...", flush=True)
                bench = run_bench(graph, board.id)
        print(f"verifying {args.n} inputs ...", flush=True)
        verification = _verify(graph, board, project, args.n)
    memory = plan_layers(graph, isa=isa_of(board) if board else None)
    html = page(graph, memory, plans(graph, board.id if board else None), board, bench, size, verification)
    output.write_text(html)
    print(f"report: {output}" + (f" ({verification.passed}/{verification.total} bit-exact against "
                                 f"{verification.against})" if verification and verification.total else ""))
    return 0
