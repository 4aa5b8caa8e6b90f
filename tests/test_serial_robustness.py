"""A bad serial line: garbage, a dropped byte and a disconnect in the middle of a frame. The verifier
(against the real firmware in QEMU, through a fault-injecting TCP proxy) and the monitor (against a scripted
device) lose no valid answer or prediction and do not crash."""
import csv
import socket
import threading
import time

import pytest

from codegen.targets.boards import get_board
from codegen.cli.build import build
from codegen.cli.monitor import monitor
from codegen.model.arrays import random_inputs
from codegen.cli.verify import verify_on_device
from codegen.device.emulator import Emulator
from codegen.device.protocol import MSG_RESULT, Device, encode_frame
from codegen.ops import load
from paths import MODELS

BOARD = "qemu-cortex-m4"


class FaultProxy:
    """TCP proxy between a client and an emulator's UART port that damages the device->host stream at given
    byte offsets: inject garbage, drop a byte, or cut the connection (both sides) in the middle of a frame."""

    def __init__(self, upstream_port: int, garbage_at=(), drop_at=(), cut_at=(), drop_up_at=()):
        self.upstream_port = upstream_port
        self.garbage_at, self.drop_at, self.cut_at = set(garbage_at), set(drop_at), set(cut_at)
        self.drop_up_at = set(drop_up_at)
        self.down = self.up = 0  # bytes seen each way over all connections
        self.cuts = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.upstream = None
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return f"socket://127.0.0.1:{self.port}"

    def _serve(self):
        while not self._stop:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.upstream is None:  # one emulator connection for the whole test, like a USB cable
                self.upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            alive = threading.Event()
            alive.set()
            threading.Thread(target=self._pump_up, args=(client, alive), daemon=True).start()
            self._pump_down(client, alive)

    def _pump_up(self, client, alive):
        while alive.is_set():
            try:
                data = client.recv(4096)
            except OSError:
                return
            if not data:
                return
            out = bytearray()
            for b in data:
                if self.up not in self.drop_up_at:
                    out.append(b)
                self.up += 1
            self.upstream.sendall(out)

    def _pump_down(self, client, alive):
        self.upstream.settimeout(0.05)
        while alive.is_set():
            try:
                data = self.upstream.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            out = bytearray()
            for b in data:
                if self.down in self.cut_at:
                    self.cuts += 1
                    self.down += 1
                    try:
                        client.sendall(out)
                    except OSError:
                        pass
                    alive.clear()
                    client.close()  # the rest of this chunk is lost with the connection
                    return
                if self.down in self.garbage_at:
                    out += b"\xa5\x5a\x82\x00\x10\x00\x13\x37junk\xa5\xff\n"
                if self.down not in self.drop_at:
                    out.append(b)
                self.down += 1
            try:
                client.sendall(out)
            except OSError:
                alive.clear()
                return

    def close(self):
        self._stop = True
        self.server.close()
        if self.upstream:
            self.upstream.close()


@pytest.fixture(scope="module")
def hello_m4(tmp_path_factory):
    project, _ = build(MODELS / "hello_world_int8.tflite", BOARD, tmp_path_factory.mktemp("hw-m4"), quiet=True)
    return project


@pytest.mark.device
def test_verify_survives_garbage_dropped_bytes_and_disconnects(hello_m4):
    graph = load(MODELS / "hello_world_int8.tflite")
    x = random_inputs(graph, 50, seed=3)
    with Emulator(get_board(BOARD), hello_m4.elf) as emu:
        # A result frame is 13 bytes and a prediction line about 60: these offsets land inside both.
        proxy = FaultProxy(emu.port, garbage_at=[120, 700, 1500], drop_at=[300, 305, 1200, 2500],
                           cut_at=[900, 2000], drop_up_at=[40, 200])
        try:
            with Device(proxy.url, attempt_timeout=0.5, reconnect_timeout=5) as dev:
                y, mismatches, cycles = verify_on_device(dev, graph, x, out=lambda s: None)
        finally:
            proxy.close()
    assert mismatches == []
    assert len(y) == 50
    assert proxy.cuts == 2 and dev.reconnects >= 2
    assert dev.retries >= 3  # each damaged answer or request was asked again
    assert dev.decoder.bad_frames >= 1


class ScriptedDevice:
    """A TCP 'device' that plays one scripted byte string per connection, then hangs up."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        for script in self.scripts:
            conn, _ = self.server.accept()
            for i in range(0, len(script), 7):  # dribble, so lines and frames arrive in pieces
                conn.sendall(script[i:i + 7])
                time.sleep(0.001)
            time.sleep(0.1)
            conn.close()
        self.server.close()


def pred(n, label="yes", cycles="none", src="demo"):
    return f"PRED n={n} index=1 label={label} score=0.{n:04d} cycles={cycles} src={src}\r\n".encode()


def test_monitor_keeps_every_valid_prediction(tmp_path):
    ready = b"\r\nMLC READY model=kws board=qemu-cortex-m4 in=490 out=12 cycles=none\r\n"
    dropped = bytearray(encode_frame(MSG_RESULT, 5, bytes(16)))
    del dropped[9]
    first = (ready + pred(1) + b"\x00\xff\xfe garbage \xa5" + pred(2) + encode_frame(MSG_RESULT, 1, b"abc")
             + pred(3, cycles="123456", src="host") + bytes(dropped) + pred(4)
             + bytes([0xA5, 0x5A, 0x82, 0, 0x00, 0x02]) + pred(5) + pred(6)  # a fake header claiming 512 bytes
             + encode_frame(MSG_RESULT, 2, bytes(40))[:20])  # the line drops in the middle of a frame
    second = ready + pred(1) + pred(2, label="no")  # the device was reset while away
    device = ScriptedDevice([first, second])
    csv_path = tmp_path / "preds.csv"
    lines = []
    seen = monitor(f"socket://127.0.0.1:{device.port}", csv_path=csv_path, clock_hz=25_000_000, count=8,
                   duration=20, out=lines.append)
    assert [(p.n, p.label) for p in seen] == [(1, "yes"), (2, "yes"), (3, "yes"), (4, "yes"), (5, "yes"),
                                              (6, "yes"), (1, "yes"), (2, "no")]
    assert seen[2].cycles == 123456 and seen[0].cycles is None
    assert sum("device started" in s for s in lines) == 2
    assert any("disconnected" in s for s in lines)
    assert any("4.94 ms" in s for s in lines)  # 123456 cycles at 25 MHz
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 8 and rows[2]["cycles"] == "123456" and rows[0]["cycles"] == ""


@pytest.mark.device
def test_monitor_follows_real_firmware_through_a_reset(hello_m4):
    """Demo predictions from the firmware; the emulator is restarted (a device reset) on the same port."""
    board = get_board(BOARD)
    emu = Emulator(board, hello_m4.elf).start()
    lines, seen = [], []

    def watch():
        seen.extend(monitor(emu.url, count=4, duration=30, out=lines.append))

    t = threading.Thread(target=watch)
    t.start()
    deadline = time.monotonic() + 15
    while sum(s.startswith("#") for s in lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    emu.stop()
    emu = Emulator(board, hello_m4.elf, port=emu.port).start()
    t.join(30)
    emu.stop()
    assert len(seen) == 4 and all(p.source == "demo" for p in seen)
    assert sum("device started" in s for s in lines) == 2
