"""The host side of mlc's serial protocol (firmware/common/mlc_protocol.h is the device side), shared by
`mlc monitor` and `mlc verify`: framing, a resynchronising stream decoder that also yields the device's
text lines, prediction-line parsing, and a Device client that retries and reconnects."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from codegen.errors import MlcError
from codegen.targets.boards import CYCLE_COUNTERS

PROTOCOL_VERSION = 1
SYNC0, SYNC1 = 0xA5, 0x5A
HEADER_BYTES = 6  # SYNC0 SYNC1 TYPE SEQ LEN_LO LEN_HI
CRC_BYTES = 2
CRC_INIT = 0xFFFF
CYCLES_NONE = 0xFFFFFFFF
# The host accepts longer frames than any firmware sends; a header claiming more is garbage.
MAX_PAYLOAD = 16384

MSG_INFO_REQUEST = 0x01
MSG_INVOKE_REQUEST = 0x02
MSG_SAMPLES = 0x03
MSG_STREAM_RESET = 0x04
MSG_INFO = 0x81
MSG_RESULT = 0x82
MSG_SAMPLES_ACK = 0x83
MSG_RECORD = 0x84
MSG_ERROR = 0xEE
ERRORS = {1: "bad CRC", 2: "bad length", 3: "unknown message type", 4: "the model's invoke failed",
          5: "samples after a gap in the stream"}
RESULT_HEADER_BYTES = 4
SAMPLES_HEADER_BYTES = 4  # u32 index of the first sample frame
RECORD_INDEX_BYTES = 4  # every record starts with its u32 index
INFO_HEADER_BYTES = 6
INFO_TIMEOUT_S = 0.5
QUIET_FLUSH_S = 1.0  # the line quiet this long ends a partial frame (well within an attempt's timeout)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE, as mlc_crc16_update in the firmware."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("payload longer than 65535 bytes")
    body = bytes([msg_type, seq & 0xFF, len(payload) & 0xFF, len(payload) >> 8]) + bytes(payload)
    crc = crc16(body)
    return bytes([SYNC0, SYNC1]) + body + bytes([crc & 0xFF, crc >> 8])


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class TextLine:
    text: str


@dataclass(frozen=True)
class Prediction:
    n: int
    index: int
    label: str
    score: float
    cycles: int | None
    source: str


@dataclass(frozen=True)
class StreamRecord:
    """A streaming app's line per window or inference: `REC n=.. t=.. label=.. score=.. event=..`, event
    being `-` or what changed (alarm, clear, a keyword); the same fields as `mlc simulate --app`'s CSV."""
    n: int
    time_ms: int
    label: str
    score: str  # as the device printed it (an integer score, or a fixed-point decimal)
    event: str


@dataclass(frozen=True)
class Ready:
    model: str
    board: str
    input_bytes: int
    output_bytes: int


# Searched, not anchored at the start: garbage may precede a line on the wire.
_PRED = re.compile(r"PRED n=(\d+) index=(\d+) label=(\S+) score=(-?\d+\.\d+) cycles=(\d+|none) src=(\w+)\s*$")
_STREAM_LINE = re.compile(r"REC n=(\d+) t=(\d+) label=(\S+) score=(-?\d+(?:\.\d+)?) event=(\S+)\s*$")
_READY = re.compile(r"MLC READY model=(\w+) board=(\S+) in=(\d+) out=(\d+) cycles=(\w+)\s*$")


def parse_line(text: str):
    """A Prediction, StreamRecord or Ready for a well-formed device line, else None (noise, or a line hit by
    garbage)."""
    m = _PRED.search(text)
    if m:
        return Prediction(int(m.group(1)), int(m.group(2)), m.group(3), float(m.group(4)),
                          None if m.group(5) == "none" else int(m.group(5)), m.group(6))
    m = _STREAM_LINE.search(text)
    if m:
        return StreamRecord(int(m.group(1)), int(m.group(2)), m.group(3), m.group(4), m.group(5))
    m = _READY.search(text)
    if m:
        return Ready(m.group(1), m.group(2), int(m.group(3)), int(m.group(4)))
    return None


class StreamDecoder:
    """Splits the device's byte stream into Frames and TextLines.

    Unparsed bytes stay buffered; a frame that fails its CRC (or claims an impossible length) costs only its
    first byte, and everything after is scanned again, so a frame or line swallowed by a corrupt header is
    recovered."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._buf = bytearray()
        self._line = bytearray()
        self.bad_frames = 0

    def reset(self) -> None:
        """Forget partial frames and lines (after a disconnect: their other half is gone)."""
        self._buf.clear()
        self._line.clear()

    def feed(self, data: bytes) -> list:
        self._buf += data
        return self._parse(final=False)

    def flush(self) -> list:
        """The line went quiet: a partial frame will not complete, so rescan its bytes."""
        return self._parse(final=True)

    def _text(self, chunk: bytes, events: list) -> None:
        self._line += chunk
        while True:
            nl = self._line.find(b"\n")
            if nl < 0:
                break
            line = bytes(self._line[:nl]).decode("ascii", errors="replace").strip("\r")
            del self._line[:nl + 1]
            events.append(TextLine(line))

    def _parse(self, final: bool) -> list:
        events: list = []
        buf = self._buf
        while buf:
            if buf[0] != SYNC0:
                j = buf.find(SYNC0)
                j = len(buf) if j < 0 else j
                self._text(bytes(buf[:j]), events)
                del buf[:j]
                continue
            if len(buf) >= 2 and buf[1] != SYNC1:
                del buf[:1]  # a lone SYNC0 is noise (text is ASCII)
                continue
            if len(buf) < HEADER_BYTES:
                if final:
                    del buf[:1]
                    continue
                break
            length = buf[4] | (buf[5] << 8)
            if length > self.max_payload:
                self.bad_frames += 1
                del buf[:1]
                continue
            total = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < total:
                if final:
                    self.bad_frames += 1
                    del buf[:1]
                    continue
                break
            crc = crc16(bytes(buf[2:total - CRC_BYTES]))
            if buf[total - 2] | (buf[total - 1] << 8) != crc:
                self.bad_frames += 1
                del buf[:1]
                continue
            events.append(Frame(buf[2], buf[3], bytes(buf[HEADER_BYTES:total - CRC_BYTES])))
            del buf[:total]
        return events


@dataclass(frozen=True)
class DeviceInfo:
    version: int
    cycle_counter: str
    input_bytes: int
    output_bytes: int
    model: str


class DeviceError(MlcError):
    """The device did not answer usefully after every retry."""


def open_port(url: str, baud: int, timeout: float):
    """pyserial for a device path or any pyserial URL (socket://host:port for an emulated board).

    Unlike plain pyserial it keeps what arrived before open() returned: an emulator that waited for this
    connection sends its first line at once. Raises pyserial's or the OS's exception."""
    import serial

    port = serial.serial_for_url(url, baudrate=baud, timeout=timeout, do_not_open=True)
    port.reset_input_buffer = lambda: None  # open() would discard the start-up line
    try:
        port.open()
    finally:
        del port.reset_input_buffer
    return port


PORT_ERRORS = (OSError, ValueError)  # pyserial's SerialException is an OSError


class Device:
    """Request/response over the protocol; survives garbage, lost bytes and disconnects by resending.

    Retried requests keep their sequence number, and answers to an older sequence number are ignored, so a
    request answered twice is harmless (invoke is deterministic)."""

    def __init__(self, url: str, baud: int = 115200, attempt_timeout: float = 2.0, attempts: int = 8,
                 reconnect_timeout: float = 10.0, on_text=None):
        self.url, self.baud = url, baud
        self.attempt_timeout, self.attempts, self.reconnect_timeout = attempt_timeout, attempts, reconnect_timeout
        self.on_text = on_text
        self.decoder = StreamDecoder()
        self.port = None
        self.seq = 0
        self.retries = 0
        self.reconnects = 0
        self._frames: list = []
        self._last_data = 0.0

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self) -> None:
        deadline = time.monotonic() + self.reconnect_timeout
        while True:
            try:
                self.port = open_port(self.url, self.baud, timeout=0.05)
                self.decoder.reset()
                return
            except PORT_ERRORS as err:
                if time.monotonic() > deadline:
                    raise MlcError(f"cannot open serial port {self.url}: {err}") from None
                time.sleep(0.1)

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # closing a port whose peer vanished may fail; it is gone either way
                pass
            self.port = None

    def _reconnect(self) -> None:
        self._dispatch(self.decoder.flush())  # whole frames held behind one that will never finish
        self.close()
        self.reconnects += 1
        self.connect()

    def _read_events(self) -> None:
        try:
            data = self.port.read(max(1, self.port.in_waiting or 1))
        except PORT_ERRORS:
            self._reconnect()
            return
        now = time.monotonic()
        if data:
            self._last_data = now
            self._dispatch(self.decoder.feed(data))
        elif now - self._last_data > QUIET_FLUSH_S:
            # A partial frame still incomplete after this long will not complete (a corrupt header claimed too
            # many bytes): rescan its bytes. Not sooner: a busy host or emulator may pause mid-frame.
            self._dispatch(self.decoder.flush())

    def _dispatch(self, events) -> None:
        for ev in events:
            if isinstance(ev, Frame):
                self._frames.append(ev)
            elif self.on_text:
                self.on_text(ev.text)

    def request(self, msg_type: int, payload: bytes, answer_type: int, attempt_timeout: float | None = None,
                records: list | None = None) -> Frame:
        """Send a request until its answer comes; RECORD frames sent before the answer go to `records`."""
        attempt_timeout = attempt_timeout or self.attempt_timeout
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_frame(msg_type, self.seq, payload)
        last_problem = "no answer"
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
            try:
                self.port.write(frame)
                self.port.flush()
            except PORT_ERRORS:
                self._reconnect()
                continue
            deadline = time.monotonic() + attempt_timeout
            while time.monotonic() < deadline:
                self._read_events()
                answer = None
                while self._frames:
                    f = self._frames.pop(0)
                    if f.seq != self.seq:
                        continue  # a late answer to an earlier request, or an error for garbage
                    if f.type == answer_type:
                        return f
                    if f.type == MSG_RECORD and records is not None:
                        records.append(f.payload)
                        continue
                    if f.type == MSG_ERROR:
                        code = f.payload[0] if f.payload else 0
                        last_problem = f"device error: {ERRORS.get(code, code)}"
                        answer = f
                if answer is not None:
                    break  # resend at once
            else:
                last_problem = f"no answer within {attempt_timeout:g} s"
        raise DeviceError(f"{self.url}: request failed after {self.attempts} attempts ({last_problem})")

    def info(self) -> DeviceInfo:
        # Answered at once by a running firmware; a board still booting (or resetting because the port
        # was opened) drops what it got before its UART was up, so ask again soon.
        p = self.request(MSG_INFO_REQUEST, b"", MSG_INFO, attempt_timeout=INFO_TIMEOUT_S).payload
        if len(p) < INFO_HEADER_BYTES:
            raise DeviceError(f"{self.url}: short INFO answer")
        return DeviceInfo(p[0], CYCLE_COUNTERS[p[1]] if p[1] < len(CYCLE_COUNTERS) else "none", p[2] | (p[3] << 8), p[4] | (p[5] << 8),
                          p[INFO_HEADER_BYTES:].decode("ascii", errors="replace"))

    def invoke(self, input_bytes: bytes) -> tuple[bytes, int | None]:
        """Output tensor bytes and cycles (None where the board has no cycle counter)."""
        p = self.request(MSG_INVOKE_REQUEST, input_bytes, MSG_RESULT).payload
        cycles = int.from_bytes(p[:RESULT_HEADER_BYTES], "little")
        return p[RESULT_HEADER_BYTES:], None if cycles == CYCLES_NONE else cycles

    def reset_stream(self) -> None:
        """Put a streaming app back in its power-on state (ring, noise estimate, detector, stream position), or
        the classify app's model state (NAME_reset())."""
        p = self.request(MSG_STREAM_RESET, b"", MSG_SAMPLES_ACK).payload
        if int.from_bytes(p[:4], "little") != 0:
            raise DeviceError(f"{self.url}: the stream did not reset")

    def stream(self, samples, chunk: int, on_record=None) -> list[bytes]:
        """Send int16 samples (N, channels) (or int8 frames (N, bytes)) to a streaming app, `chunk` sample frames per request, in order;
        returns every record's payload (index first), in index order. A request resent after a lost answer
        is not processed twice (it carries the index of its first sample); a record lost on the wire is an
        error naming it, never a silent gap."""
        import numpy as np

        frames = np.ascontiguousarray(samples)
        if frames.dtype != np.int8:  # int8 frames (an app's "features in" mode) go as bytes, the rest as int16
            frames = frames.astype("<i2")
        frames = frames.reshape(len(frames), -1)
        got: dict[int, bytes] = {}
        for first in range(0, len(frames), chunk):
            part = frames[first:first + chunk]
            records: list = []
            ack = self.request(MSG_SAMPLES, first.to_bytes(4, "little") + part.tobytes(), MSG_SAMPLES_ACK,
                               records=records).payload
            consumed = int.from_bytes(ack[:4], "little")
            if consumed != first + len(part):
                raise DeviceError(f"{self.url}: the device consumed {consumed} sample frames, "
                                  f"expected {first + len(part)}")
            for payload in records:
                index = int.from_bytes(payload[:RECORD_INDEX_BYTES], "little")
                if index not in got:
                    got[index] = payload
                    if on_record:
                        on_record(payload)
        missing = next((i for i in range(len(got)) if i not in got), None)  # indices are 0..n-1 unless one is lost
        if missing is not None:
            raise DeviceError(f"{self.url}: record {missing} was lost on the wire; run it again")
        return [got[i] for i in range(len(got))]
