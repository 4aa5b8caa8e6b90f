"""`mlc monitor --port PORT [--baud N] [--csv FILE]`: show the device's predictions (classify app) or its
windows, inferences and events (streaming apps) as they arrive.

Survives garbage on the line, device resets and disconnects (it reopens the port until it is back)."""
from __future__ import annotations

import csv
import datetime
import sys
import time

from codegen.errors import MlcError
from codegen.device.protocol import (PORT_ERRORS, Prediction, Ready, StreamDecoder, StreamRecord, TextLine, open_port,
                                     parse_line)

NAME = "monitor"
HELP = "Show a device's predictions (label, score, latency) over serial, optionally appending them to a CSV."
READ_TIMEOUT_S = 0.1
IDLE_FLUSH_S = 0.3  # a frame still incomplete after this long will not complete
RECONNECT_DELAY_S = 0.2
CSV_FIELDS = ["time", "n", "index", "label", "score", "cycles", "latency_ms", "source"]
STREAM_CSV_FIELDS = ["time_ms", "label", "score", "event"]  # as `mlc simulate --app ... --csv` writes them


def add_arguments(parser):
    parser.add_argument("--port", "-p", required=True,
                        help="serial device (/dev/ttyACM0) or pyserial URL (socket://127.0.0.1:PORT for an emulated board)")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    parser.add_argument("--csv", help="append every prediction to this CSV file as it arrives")
    parser.add_argument("--board", help="board id, to turn cycles into milliseconds (default: the board the "
                        "device names when it starts)")
    parser.add_argument("--count", type=int, help="stop after this many predictions")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--plot", metavar="PNG", help="streaming apps: at the end, draw the scores and events seen "
                        "(needs matplotlib: pip install 'mlc[plot]')")


class CsvLog:
    def __init__(self, path, fields=CSV_FIELDS):
        self.path = path
        try:
            new = not _nonempty(path)
            self.file = open(path, "a", newline="")
        except OSError as err:
            raise MlcError(f"{path}: cannot write the CSV ({err.strerror})") from None
        self.writer = csv.DictWriter(self.file, fieldnames=fields)
        if new:
            self.writer.writeheader()
            self.file.flush()

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.file.flush()  # a crash or Ctrl-C loses nothing already shown

    def close(self) -> None:
        self.file.close()


def _nonempty(path) -> bool:
    try:
        with open(path, "rb") as f:
            return bool(f.read(1))
    except FileNotFoundError:
        return False


def _latency_ms(cycles, clock_hz):
    return None if cycles is None or not clock_hz else 1000.0 * cycles / clock_hz


def _board_clock(board_id: str):
    from codegen.targets.boards import all_boards

    board = all_boards().get(board_id)
    return board.clock_hz if board else None


def format_prediction(p: Prediction, latency_ms) -> str:
    cycles = "cycles n/a" if p.cycles is None else f"{p.cycles:,} cycles"
    latency = f" = {latency_ms:.2f} ms" if latency_ms is not None else ""
    label = p.label if p.label != "-" else f"#{p.index}"
    return f"#{p.n:<5} {label:<12} score {p.score: .4f}  {cycles}{latency}  ({p.source})"


def format_record(r: StreamRecord) -> str:
    event = f"  << {r.event.upper()}" if r.event != "-" else ""
    return f"{r.time_ms / 1000:9.2f} s  #{r.n:<6} {r.label:<12} score {r.score}{event}"


def monitor(url: str, baud: int = 115200, csv_path=None, clock_hz=None, count=None, duration=None,
            out=print) -> list:
    """Read until count predictions (or stream records) or duration seconds (or Ctrl-C); returns what was
    seen. The CSV's columns follow the first item: a prediction's, or a stream record's."""
    log = [None]  # opened at the first item, with that item's columns

    def write_csv(fields, row) -> None:
        if csv_path:
            log[0] = log[0] or CsvLog(csv_path, fields)
            log[0].write(row)

    decoder = StreamDecoder()
    seen: list = []
    deadline = time.monotonic() + duration if duration else None
    port = None
    waiting_said = False
    clock = [clock_hz]  # learnt from the device's start-up line when not given

    def done() -> bool:
        return (count is not None and len(seen) >= count) or (deadline is not None and time.monotonic() > deadline)

    def handle(events) -> None:
        for ev in events:
            if not isinstance(ev, TextLine):
                continue  # frames answer some other tool's requests
            item = parse_line(ev.text)
            if isinstance(item, Ready):
                out(f"device started: model={item.model} board={item.board} "
                    f"input {item.input_bytes} B, output {item.output_bytes} B")
                clock[0] = clock[0] or _board_clock(item.board)
            elif isinstance(item, Prediction):
                latency = _latency_ms(item.cycles, clock[0])
                seen.append(item)
                out(format_prediction(item, latency))
                write_csv(CSV_FIELDS, {"time": datetime.datetime.now().isoformat(timespec="milliseconds"),
                                       "n": item.n, "index": item.index, "label": item.label, "score": item.score,
                                       "cycles": "" if item.cycles is None else item.cycles,
                                       "latency_ms": "" if latency is None else f"{latency:.3f}",
                                       "source": item.source})
            elif isinstance(item, StreamRecord):
                seen.append(item)
                out(format_record(item))
                write_csv(STREAM_CSV_FIELDS, {"time_ms": item.time_ms, "label": item.label, "score": item.score,
                                              "event": "" if item.event == "-" else item.event})

    try:
        last_data = time.monotonic()
        while not done():
            if port is None:
                try:
                    port = open_port(url, baud, READ_TIMEOUT_S)
                    out(f"connected to {url}")
                    waiting_said = False
                except PORT_ERRORS as err:
                    if not waiting_said:
                        out(f"waiting for {url} ({err})")
                        waiting_said = True
                    time.sleep(RECONNECT_DELAY_S)
                    continue
            try:
                data = port.read(4096)  # pyserial raises on a closed socket or a vanished device
            except PORT_ERRORS as err:
                out(f"disconnected ({err}); reconnecting")
                handle(decoder.flush())  # complete lines held behind a frame that will never finish
                decoder.reset()
                try:
                    port.close()
                except Exception:  # the peer is already gone
                    pass
                port = None
                continue
            now = time.monotonic()
            if data:
                last_data = now
                handle(decoder.feed(data))
            elif now - last_data > IDLE_FLUSH_S:
                handle(decoder.flush())
    except KeyboardInterrupt:
        pass
    finally:
        if port is not None:
            port.close()
        if log[0]:
            log[0].close()
    return seen


def run(args) -> int:
    clock_hz = None
    if args.board:
        from codegen.targets.boards import get_board

        clock_hz = get_board(args.board).clock_hz
    seen = monitor(args.port, args.baud, args.csv, clock_hz, args.count, args.duration,
                   out=lambda s: print(s, flush=True))
    print(f"{len(seen)} prediction(s)" if not seen or isinstance(seen[0], Prediction) else f"{len(seen)} record(s)",
          file=sys.stderr)
    records = [r for r in seen if isinstance(r, StreamRecord)]
    if args.plot and records:
        from codegen.cli.apps import plot_stream

        plot_stream(args.plot, [r.time_ms / 1000 for r in records], [float(r.score) for r in records],
                    [r.event for r in records])
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
