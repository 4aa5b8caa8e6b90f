"""The serial protocol: Python framing and decoder, and the firmware's C receiver fed the same streams."""
import random
import re
import shutil
import subprocess

import pytest

from codegen.assets import asset_dir
from codegen.device.protocol import (MSG_INVOKE_REQUEST, MSG_RESULT, Frame, Prediction, Ready,
                                     StreamDecoder, TextLine, crc16, encode_frame, parse_line)

PRED_LINE = b"PRED n=3 index=2 label=yes score=0.8711 cycles=none src=demo\r\n"


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE


def test_frame_layout():
    f = encode_frame(MSG_RESULT, 7, b"\x01\x02")
    assert f[:6] == bytes([0xA5, 0x5A, MSG_RESULT, 7, 2, 0]) and len(f) == 10
    assert StreamDecoder().feed(f) == [Frame(MSG_RESULT, 7, b"\x01\x02")]


def test_byte_by_byte_frames_and_lines():
    stream = b"MLC READY model=m board=b in=1 out=1 cycles=none\r\n" + encode_frame(MSG_RESULT, 1, b"xyz") + PRED_LINE
    dec = StreamDecoder()
    events = [ev for b in stream for ev in dec.feed(bytes([b]))]
    assert events == [TextLine("MLC READY model=m board=b in=1 out=1 cycles=none"), Frame(MSG_RESULT, 1, b"xyz"),
                      TextLine(PRED_LINE.decode().strip())]


def test_garbage_dropped_byte_and_fake_header_lose_nothing_valid():
    good = [encode_frame(MSG_RESULT, i, bytes(range(i, i + 20))) for i in range(5)]
    broken = bytearray(encode_frame(MSG_RESULT, 99, bytes(30)))
    del broken[12]  # a byte lost on the line
    fake_header = bytes([0xA5, 0x5A, MSG_RESULT, 0, 0x00, 0x01])  # claims 256 bytes: swallows what follows
    stream = (b"\x00\xff\xa5garbage" + good[0] + bytes(broken) + good[1] + fake_header + PRED_LINE + good[2]
              + b"\xa5\xa5\x5a" + good[3] + PRED_LINE + good[4])
    dec = StreamDecoder()
    events = dec.feed(stream) + dec.flush()
    frames = [e for e in events if isinstance(e, Frame)]
    preds = [parse_line(e.text) for e in events if isinstance(e, TextLine)]
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
    assert sum(isinstance(p, Prediction) for p in preds) == 2
    assert dec.bad_frames >= 2


def test_prediction_line_after_garbage_still_parses():
    p = parse_line("\x13\ufffdPRED n=12 index=0 label=- score=-0.0456 cycles=48938 src=host")
    assert p == Prediction(12, 0, "-", -0.0456, 48938, "host")
    assert parse_line("PRED n=12 index=0 lab") is None
    assert isinstance(parse_line("MLC READY model=kws board=qemu-cortex-m4 in=490 out=12 cycles=none"), Ready)


HOST_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mlc_protocol.h"
static void on_frame(struct mlc_rx *rx, uint8_t type, uint8_t seq, const uint8_t *p, uint16_t len)
{
    (void)rx;
    printf("F %u %u ", type, seq);
    for (uint16_t i = 0; i < len; i++) printf("%02x", p[i]);
    printf("\n");
}
static void on_error(struct mlc_rx *rx, uint8_t seq, uint8_t code) { (void)rx; (void)seq; printf("E %u\n", code); }
int main(int argc, char **argv)
{
    const uint16_t capacity = (uint16_t)(argc > 1 ? atoi(argv[1]) : 72);
    uint8_t *buf = malloc(capacity);
    struct mlc_rx rx;
    mlc_rx_init(&rx, buf, capacity, on_frame, on_error);
    int c;
    while ((c = getchar()) != EOF) mlc_rx_push(&rx, (uint8_t)c);
    return 0;
}
"""


def _protocol_harness(tmp_path_factory, name: str, source: str):
    """A host program of `source` linked with the firmware's mlc_protocol.c, warnings as errors."""
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    d = tmp_path_factory.mktemp(name)
    (d / "harness.c").write_text(source)
    common = asset_dir("firmware") / "common"
    exe = d / name
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(common), "-o", str(exe),
                    str(d / "harness.c"), str(common / "mlc_protocol.c")], check=True)
    return exe


@pytest.fixture(scope="module")
def c_receiver(tmp_path_factory):
    return _protocol_harness(tmp_path_factory, "rx", HOST_HARNESS)


@pytest.mark.parametrize("seed", range(20))
def test_c_receiver_agrees_with_python(c_receiver, seed):
    """Random frames cut by garbage and lost bytes: the firmware's receiver and the host's decoder find the
    same frames and reject the same number of bad ones."""
    rng = random.Random(seed)
    capacity = 64 + 8
    stream = bytearray()
    for i in range(30):
        frame = bytearray(encode_frame(MSG_INVOKE_REQUEST, i, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 65)))))
        fault = rng.random()
        if fault < 0.15:
            del frame[rng.randrange(len(frame))]
        elif fault < 0.3:
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        elif fault < 0.4:
            stream += bytes(rng.choice([0xA5, 0x5A, 0x00, 0x41, 0xFF]) for _ in range(rng.randrange(1, 8)))
        stream += frame
    out = subprocess.run([str(c_receiver), str(capacity)], input=bytes(stream), capture_output=True, check=True).stdout
    c_frames = [line.split() for line in out.decode().splitlines() if line.startswith("F")]
    c_errors = [line for line in out.decode().splitlines() if line.startswith("E")]
    dec = StreamDecoder(max_payload=capacity - 8)
    py_frames = [e for e in dec.feed(bytes(stream)) + dec.flush() if isinstance(e, Frame)]
    assert [(int(t), int(s), bytes.fromhex(p[0]) if p else b"") for _, t, s, *p in c_frames] == \
        [(f.type, f.seq, f.payload) for f in py_frames]
    assert len(py_frames) >= 15
    # The device also reports the bad frames it saw (its tail may still wait for bytes: flush counts those).
    assert len(c_errors) <= dec.bad_frames


def test_the_c_header_and_the_python_protocol_agree():
    """Every number both sides of the protocol must share, read from mlc_protocol.h."""
    from codegen.device import protocol as py
    from codegen.targets.boards import CYCLE_COUNTERS

    header = (asset_dir("firmware") / "common" / "mlc_protocol.h").read_text()
    c = {name: int(value, 0) for name, value in re.findall(r"\b(MLC_[A-Z0-9_]+)\s*(?:=|\s)\s*(0x[0-9A-Fa-f]+|\d+)u?l?\b", header)}
    assert {name[len("MLC_MSG_"):]: value for name, value in c.items() if name.startswith("MLC_MSG_")} == \
        {name[len("MSG_"):]: getattr(py, name) for name in dir(py) if name.startswith("MSG_")}
    assert sorted(value for name, value in c.items() if name.startswith("MLC_ERR_")) == sorted(py.ERRORS)
    assert [c[f"MLC_COUNTER_{name.upper()}"] for name in CYCLE_COUNTERS] == list(range(len(CYCLE_COUNTERS)))
    assert (c["MLC_PROTOCOL_VERSION"], c["MLC_SYNC0"], c["MLC_SYNC1"], c["MLC_HEADER_BYTES"], c["MLC_CRC_BYTES"],
            c["MLC_CRC_INIT"], c["MLC_CYCLES_NONE"]) == \
        (py.PROTOCOL_VERSION, py.SYNC0, py.SYNC1, py.HEADER_BYTES, py.CRC_BYTES, py.CRC_INIT, py.CYCLES_NONE)




SAMPLES_HARNESS = r"""
#include <stdio.h>
#include "mlc_protocol.h"

/* argv: consumed frame_bytes first n_bytes_of_samples; prints "status count code". */
int main(int argc, char **argv)
{
    (void)argc;
    unsigned long consumed, frame_bytes, first, n;
    sscanf(argv[1], "%lu", &consumed); sscanf(argv[2], "%lu", &frame_bytes);
    sscanf(argv[3], "%lu", &first); sscanf(argv[4], "%lu", &n);
    uint8_t payload[4 + 64] = { (uint8_t)first, (uint8_t)(first >> 8), (uint8_t)(first >> 16), (uint8_t)(first >> 24) };
    const uint8_t *samples = 0;
    uint16_t count = 0;
    uint8_t code = 0;
    int status = mlc_samples_accept((uint32_t)consumed, payload, (uint16_t)(4 + n), (uint16_t)frame_bytes, &samples, &count, &code);
    printf("%d %u %u %d\n", status, count, code, samples == payload + 4);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_samples(tmp_path_factory):
    return _protocol_harness(tmp_path_factory, "samples", SAMPLES_HARNESS)


@pytest.mark.parametrize("consumed, first, n_bytes, want", [
    (0, 0, 12, "0 2 0 1"),      # new: two 3-axis int16 sample frames
    (10, 10, 6, "0 1 0 1"),     # new, continuing the stream
    (10, 4, 6, "1 0 0 0"),      # a resent request already processed: ACK only
    (10, 12, 6, "2 0 5 0"),     # starts after a gap: MLC_ERR_GAP
    (10, 8, 18, "2 0 5 0"),     # overlaps the consumed samples
    (0, 0, 7, "2 0 2 0"),       # not whole sample frames: MLC_ERR_LENGTH
])
def test_samples_request_is_accepted_once_and_in_order(c_samples, consumed, first, n_bytes, want):
    out = subprocess.run([str(c_samples), str(consumed), "6", str(first), str(n_bytes)], capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == want.split()


def test_stream_record_lines_parse():
    from codegen.device.protocol import StreamRecord

    assert parse_line("REC n=12 t=1920 label=normal score=341 event=-\r") == StreamRecord(12, 1920, "normal", "341", "-")
    assert parse_line("xx\x00REC n=3 t=60 label=yes score=0.8711 event=yes") == StreamRecord(3, 60, "yes", "0.8711", "yes")
    assert parse_line("REC n=3 t=60 label=yes score=abc event=yes") is None
