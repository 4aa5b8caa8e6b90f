"""`mlc verify MODEL --board B [--port PORT] [-n N] [--inputs X.npy] [--save Y.npy]`: device-in-the-loop check.

Sends inputs to the firmware over serial, reads the outputs back and compares them byte for byte with hostsim.
For an emulated board without --port it builds the firmware and starts the emulator itself."""
from __future__ import annotations

import sys

import numpy as np

from codegen.cli.apps import add_stream_arguments, app_module
from codegen.targets.boards import DEFAULT_BOARD, get_board
from codegen.errors import MlcError

NAME = "verify"
HELP = "Run inputs on the device over serial and check its outputs are bit-exact with hostsim."
DEFAULT_COUNT = 50
DEFAULT_SEED = 0


def add_arguments(parser):
    parser.add_argument("model", help="the .tflite model the firmware was built from")
    parser.add_argument("--board", "-b", default=DEFAULT_BOARD, help=f"board id (default {DEFAULT_BOARD})")
    parser.add_argument("--port", "-p", help="serial device or pyserial URL of a running board "
                        "(default for an emulated board: build and start it)")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("-n", type=int, default=DEFAULT_COUNT, help=f"random inputs to send (default {DEFAULT_COUNT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed for the inputs")
    parser.add_argument("--inputs", help="X.npy: send these inputs instead, stacked (N, ...) like `mlc simulate`")
    parser.add_argument("--save", help="Y.npy: write the device's outputs, stacked like `mlc simulate`")
    parser.add_argument("--output", "-o", help="project folder for the build (default mlc-build/NAME-BOARD)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for one answer before resending")
    add_stream_arguments(parser, NAME)


def _first_difference(got: bytes, want: bytes) -> str:
    if len(got) != len(want):
        return f"device sent {len(got)} bytes, hostsim {len(want)}"
    k = next(i for i in range(len(got)) if got[i] != want[i])
    return f"first difference at byte {k}: device 0x{got[k]:02x}, hostsim 0x{want[k]:02x}"


def verify_on_device(device, graph, x: np.ndarray, out=print):
    """Run every input through the device; returns (device outputs stacked, mismatch indices, cycles list)."""
    import hostsim

    expected = hostsim.run(graph, x)
    out_t = graph.outputs[0]
    info = device.info()
    in_bytes = x[0].nbytes
    if info.input_bytes != in_bytes or info.output_bytes != expected[0].nbytes:
        raise MlcError(f"the firmware on {device.url} runs model '{info.model}' ({info.input_bytes} B in, "
                       f"{info.output_bytes} B out), not this model ({in_bytes} B in, {expected[0].nbytes} B out); "
                       "build and flash it first")
    from codegen.cli.progress import track

    if graph.state_tensors():  # the inputs are one sequence from the model's initial state, as hostsim runs them
        device.reset_stream()
    outputs, mismatches, cycles = [], [], []
    for i in track(range(len(x)), len(x), f"verifying on {device.url}"):
        got, cyc = device.invoke(np.ascontiguousarray(x[i]).tobytes())
        cycles.append(cyc)
        want = np.ascontiguousarray(expected[i]).tobytes()
        if got != want:
            if not mismatches:
                out(f"MISMATCH on input {i}: {_first_difference(got, want)}")
            mismatches.append(i)
        outputs.append(np.frombuffer(got, dtype=out_t.dtype).reshape(expected[i].shape) if len(got) == len(want)
                       else np.zeros_like(expected[i]))
    return np.stack(outputs), mismatches, cycles


def run(args) -> int:
    from codegen.model.arrays import check_output, random_inputs, read_input, write
    from codegen.device.protocol import Device
    from codegen.ops import load

    board = get_board(args.board)
    if args.save:
        check_output(args.save)
    graph = load(args.model)
    if args.app:
        if not args.feed:
            raise MlcError(f"--app {args.app} needs --feed REC: the recording to stream to the device")
        return app_module(args.app).verify(graph, args)
    if args.inputs:
        import hostsim.runner

        x = hostsim.runner.stack_inputs(graph, read_input(args.inputs))
    else:
        if args.n < 1:
            raise MlcError("-n must be at least 1")
        x = random_inputs(graph, args.n, args.seed)

    emulator = None
    url = args.port
    if not url:
        if not board.emulated:
            raise MlcError(f"{board.id} is a real board: flash it (`mlc build`, `mlc flash`) and pass --port")
        from codegen.cli.build import build
        from codegen.device.emulator import Emulator

        project, _ = build(graph, board.id, args.output)
        emulator = Emulator(board, project.elf).start()
        url = emulator.url
    try:
        with Device(url, args.baud, attempt_timeout=args.timeout) as device:
            y, mismatches, cycles = verify_on_device(device, graph, x)
    finally:
        if emulator:
            emulator.stop()
    n = len(x)
    print(f"{n - len(mismatches)}/{n} bit-exact" + (f" on {board.id}" if board else ""))
    known = [c for c in cycles if c is not None]
    if known:
        print(f"cycles per inference: min {min(known):,}, max {max(known):,} "
              f"({1000 * min(known) / board.clock_hz:.2f} ms at {board.clock_hz / 1e6:g} MHz)")
    if device.retries or device.reconnects:
        print(f"line trouble recovered: {device.retries} resend(s), {device.reconnects} reconnect(s)")
    if args.save:
        write(args.save, y)
    if mismatches:
        print(f"{len(mismatches)} mismatching input(s): {', '.join(map(str, mismatches[:20]))}", file=sys.stderr)
        return 1
    return 0
