"""Run an emulated board's firmware: QEMU for the Cortex-M boards, a small libsimavr harness for uno-sim.

The UART goes to this terminal (run) or to a TCP server on 127.0.0.1 that holds the firmware until the
first client connects, so nothing it prints is lost (pyserial: socket://127.0.0.1:PORT)."""
from __future__ import annotations

import argparse
import hashlib
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from codegen.targets.boards import Board, get_board
from codegen.errors import MlcError

LISTEN_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0
HARNESS_SOURCE = Path(__file__).parent / "simavr" / "mlc_simavr.c"  # a host program on libsimavr
# Emulator chatter that says nothing to a user watching the UART.
STDERR_NOISE = (b"has no peer", b"terminating on signal", b"waiting for connection on")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise MlcError(f"{tool} is not installed: apt-get install {package}")
    return path


def simavr_harness() -> Path:
    """Compile codegen/device/simavr/mlc_simavr.c against libsimavr once per source version, in mlc's cache."""
    from codegen.targets.toolchain import cache_dir

    source = HARNESS_SOURCE
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    exe = cache_dir() / f"mlc_simavr-{digest}"
    if exe.is_file():
        return exe
    cc = _need("gcc", "gcc")
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        raise MlcError("simavr's headers are missing: apt-get install simavr libsimavr-dev")
    tmp = exe.with_suffix(".tmp")
    out = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-I/usr/include/simavr", "-o", str(tmp), str(source),
                          "-lsimavr"], capture_output=True, text=True)
    if out.returncode != 0:
        raise MlcError(f"building the simavr harness failed: {out.stderr.strip()[-400:]}")
    tmp.replace(exe)
    return exe


def command(board: Board, elf: Path, tcp_port: int | None) -> list[str]:
    emu = board.emulator
    if not emu:
        raise MlcError(f"{board.id} is a real board: use `mlc flash` and `mlc monitor --port /dev/ttyACM0`")
    if emu.kind == "qemu":
        qemu = _need("qemu-system-arm", "qemu-system-arm")
        serial = (f"tcp:127.0.0.1:{tcp_port},server=on,wait=on,nodelay=on" if tcp_port else "stdio")
        return [qemu, "-M", emu.machine, "-display", "none", "-monitor", "none", "-nodefaults",
                "-kernel", str(elf), "-serial", serial]
    if emu.kind == "simavr":
        return [str(simavr_harness()), "--mcu", emu.mcu, "--freq", str(board.clock_hz),
                *(["--tcp", str(tcp_port)] if tcp_port else []), str(elf)]
    raise MlcError(f"boards/{board.id}.json: unknown emulator '{emu.kind}'")


class Emulator:
    """An emulator process with its UART on a TCP port; a context manager that always stops it."""

    def __init__(self, board: Board, elf, port: int | None = None):
        self.board, self.elf = board, Path(elf)
        if not self.elf.is_file():
            raise MlcError(f"{self.elf}: firmware not found; run `mlc build` first")
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> "Emulator":
        self.proc = subprocess.Popen(command(self.board, self.elf, self.port), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        """Both emulators print a line naming the port once their server socket listens."""
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        seen = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (seen + self.proc.stderr.read()).decode(errors="replace").strip()
                raise MlcError(f"{self.board.id}: emulator exited at start ({err[-300:]})")
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.1)
            if ready:
                seen += self.proc.stderr.read1(4096)
                if b"waiting for connection" in seen:
                    return
        self.stop()
        raise MlcError(f"{self.board.id}: emulator did not open port {self.port} within {LISTEN_TIMEOUT_S:g} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _filter_stderr(stream) -> None:
    for line in iter(stream.readline, b""):
        if not any(noise in line for noise in STDERR_NOISE):
            sys.stderr.buffer.write(line)
            sys.stderr.flush()


def _interrupt(signum, frame):
    """`kill` (SIGTERM) or a closed terminal (SIGHUP) stops the emulator as Ctrl-C does."""
    raise KeyboardInterrupt


def run_foreground(board: Board, elf, tcp_port: int | None = None) -> int:
    """UART on this terminal (or on a TCP port) until the firmware ends or Ctrl-C; returns an exit code."""
    elf = Path(elf)
    if not elf.is_file():
        raise MlcError(f"{elf}: firmware not found; run `mlc build` first")
    cmd = command(board, elf, tcp_port)
    if tcp_port:
        print(f"{board.id}: UART on socket://127.0.0.1:{tcp_port} (e.g. mlc monitor --port "
              f"socket://127.0.0.1:{tcp_port}); Ctrl-C stops", file=sys.stderr, flush=True)
    # Own process group: Ctrl-C reaches only us, and we stop the emulator in order.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    threading.Thread(target=_filter_stderr, args=(proc.stderr,), daemon=True).start()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"\n{board.id}: stopped", file=sys.stderr)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv=None) -> int:
    """`python -m codegen.device.emulator --board B ELF`: what the mlc_emulated platform's upload target runs."""
    parser = argparse.ArgumentParser(prog="python -m codegen.device.emulator")
    parser.add_argument("--board", required=True)
    parser.add_argument("--tcp", type=int, help="serve the UART on this TCP port instead of the terminal")
    parser.add_argument("elf")
    args = parser.parse_args(argv)
    try:
        return run_foreground(get_board(args.board), args.elf, args.tcp)
    except MlcError as err:
        print(f"mlc: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
