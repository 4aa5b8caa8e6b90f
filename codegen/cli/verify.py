"""`mlc verify MODEL --board B [--port PORT] [-n N] [--inputs X.npy|X.npz] [--save Y.npy|Y.npz]`: device-in-the-loop check.

Sends inputs to the firmware over serial (a model's several inputs as one frame, back to back in the model's
order), reads the outputs back (likewise) and compares them byte for byte with hostsim, naming the output
that differs.
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
    parser.add_argument("--inputs", help="X.npy: send these inputs instead, stacked (N, ...) like `mlc simulate` "
                        "(X.npz: one such array per model input)")
    parser.add_argument("--save", help="Y.npy: write the device's outputs, stacked like `mlc simulate` (Y.npz: one "
                        "array per output, by name)")
    parser.add_argument("--output", "-o", help="project folder for the build (default mlc-build/NAME-BOARD)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for one answer before resending")
    add_stream_arguments(parser, NAME)


def _first_difference(got: bytes, want: bytes, outputs) -> str:
    """Where a device's result frame first differs from hostsim's, naming the output (for several)."""
    if len(got) != len(want):
        return f"device sent {len(got)} bytes, hostsim {len(want)}"
    k = next(i for i in range(len(got)) if got[i] != want[i])
    start = 0
    for j, t in enumerate(outputs):
        if k < start + t.nbytes:
            break
        start += t.nbytes
    where = f"output {j} '{t.name}': " if len(outputs) > 1 else ""
    return f"{where}first difference at byte {k - start}: device 0x{got[k]:02x}, hostsim 0x{want[k]:02x}"


def verify_on_device(device, graph, x, out=print):
    """Run every input through the device: x is a stacked array (a one-input model) or one per model input
    (a list in the model's order, or a dict by name), sent as one frame of all inputs each. Returns (the
    device's outputs stacked: an array for a one-output model, else a list in the model's order, the
    mismatching input indices, the cycles list)."""
    from hostsim import run_all
    from codegen.model.arrays import frames, unframe

    values = run_all(graph, x)
    sent = frames([values[t.index] for t in graph.inputs])
    expected = frames([values[t.index] for t in graph.outputs])
    info = device.info()
    in_bytes, out_bytes = sent.shape[1], expected.shape[1]
    if info.input_bytes != in_bytes or info.output_bytes != out_bytes:
        raise MlcError(f"the firmware on {device.url} runs model '{info.model}' ({info.input_bytes} B in, "
                       f"{info.output_bytes} B out), not this model ({in_bytes} B in, {out_bytes} B out); "
                       "build and flash it first")
    from codegen.cli.progress import track

    if graph.state_tensors():  # the inputs are one sequence from the model's initial state, as hostsim runs them
        device.reset_stream()
    got_frames, mismatches, cycles = [], [], []
    for i in track(range(len(sent)), len(sent), f"verifying on {device.url}"):
        got, cyc = device.invoke(sent[i].tobytes())
        cycles.append(cyc)
        want = expected[i].tobytes()
        if got != want:
            if not mismatches:
                out(f"MISMATCH on input {i}: {_first_difference(got, want, graph.outputs)}")
            mismatches.append(i)
        got_frames.append(got if len(got) == len(want) else bytes(len(want)))
    per_output = [np.stack(ys) for ys in zip(*(unframe(f, graph.outputs) for f in got_frames))]
    return (per_output[0] if len(per_output) == 1 else per_output), mismatches, cycles


def run(args) -> int:
    from codegen.model.arrays import check_output, random_model_inputs, read_inputs, write_outputs
    from codegen.device.protocol import Device
    from codegen.ops import load

    board = get_board(args.board)
    graph = load(args.model)
    if args.save:
        check_output(args.save, len(graph.outputs))
    if args.app:
        if not args.feed:
            raise MlcError(f"--app {args.app} needs --feed REC: the recording to stream to the device")
        return app_module(args.app).verify(graph, args)
    if args.inputs:
        import hostsim.runner

        try:
            x = hostsim.runner.model_inputs(graph, read_inputs(args.inputs))
        except MlcError as err:
            raise MlcError(f"{args.inputs}: {err}") from None
    else:
        if args.n < 1:
            raise MlcError("-n must be at least 1")
        x = random_model_inputs(graph, args.n, args.seed)

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
    n = len(cycles)
    print(f"{n - len(mismatches)}/{n} bit-exact" + (f" on {board.id}" if board else ""))
    known = [c for c in cycles if c is not None]
    if known:
        print(f"cycles per inference: min {min(known):,}, max {max(known):,} "
              f"({1000 * min(known) / board.clock_hz:.2f} ms at {board.clock_hz / 1e6:g} MHz)")
    if device.retries or device.reconnects:
        print(f"line trouble recovered: {device.retries} resend(s), {device.reconnects} reconnect(s)")
    if args.save:
        write_outputs(args.save, {t.name: v for t, v in zip(graph.outputs, y if isinstance(y, list) else [y])})
    if mismatches:
        print(f"{len(mismatches)} mismatching input(s): {', '.join(map(str, mismatches[:20]))}", file=sys.stderr)
        return 1
    return 0
