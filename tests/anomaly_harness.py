"""The anomaly app's firmware (templates/app/anomaly/app.c.j2, exactly as `mlc build` renders it) compiled for the
host with sanitizers, its board layer replaced by stdin/stdout: protocol frames in, frames and text out.

    exe = build_app_host(model, cfg, tmp_path)
    records, text = run_app_host(exe, cfg, samples, chunks=[...])   # records decoded from RECORD frames
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from c_harness import HOST_CFLAGS, compile_c

HOST_HAL = r"""
#include <stdio.h>
#include "mlc/mlc_hal.h"
#include "mlc/mlc_protocol.h"

static int at_eof;
void mlc_hal_init(void) {}
int mlc_hal_read(void)
{
    int c = getchar();
    if (c == EOF) at_eof = 1;
    return c == EOF ? -1 : c;
}
void mlc_hal_write(const uint8_t *data, size_t len) { fwrite(data, 1, len, stdout); }
uint32_t mlc_hal_millis(void) { return 0; }
uint8_t mlc_hal_cycle_counter(void) { return MLC_COUNTER_NONE; }
void mlc_hal_cycles_start(void) {}
uint32_t mlc_hal_cycles_stop(void) { return MLC_CYCLES_NONE; }
void mlc_hal_led(uint8_t alarm) { fputs(alarm ? "LED red\r\n" : "LED green\r\n", stdout); }

int main(void)
{
    mlc_app_setup();
    while (!at_eof) mlc_app_poll();
    return 0;
}
"""


def args_for(cfg, threshold_from=None, labels_file=None):
    """What codegen/cli/app_anomaly.sources reads from the command line, for cfg."""
    return SimpleNamespace(threshold_from=threshold_from, labels=labels_file,
                           normal_class=cfg.labels[cfg.normal_class] if cfg.labels else None, rate=cfg.rate_hz, window=cfg.window, hop=cfg.hop,
                           bands=cfg.bands, threshold=cfg.threshold, alarm_n=cfg.alarm_n, alarm_m=cfg.alarm_m,
                           clear_k=cfg.clear_k, features_in=bool(cfg.features_in))


def build_app_host(model, cfg, work: Path, cflags=HOST_CFLAGS, cc="gcc", name="ae") -> Path:
    from codegen.cli.app_anomaly import sources
    from codegen.ops import load
    from codegen.targets.boards import get_board
    from codegen.targets.project import render_project

    graph = load(model)
    board = get_board("qemu-cortex-m3")
    labels_file = None
    if cfg.labels:
        labels_file = work / "labels.txt"
        labels_file.write_text("\n".join(cfg.labels) + "\n")
    project = render_project(graph, board, work / "project", app="anomaly", name=name,
                             app_sources=sources(graph, board, args_for(cfg, labels_file=labels_file)))
    src = project.dir / "src"
    (src / "host_hal.c").write_text(HOST_HAL)
    lib = project.dir / "lib" / name
    return compile_c([src / f"app_{name}.c", src / "host_hal.c", src / "mlc" / "mlc_protocol.c", src / "mlc" / "mlc_text.c",
                      lib / f"{name}.c"], work / "anomaly_host", include_dirs=[src, lib], cflags=cflags, cc=cc)


def frames_for(samples: np.ndarray, chunks, repeat_every: int = 0) -> bytes:
    """A RESET then SAMPLES requests of the given chunk sizes (cycled); every repeat_every-th one sent twice."""
    from codegen.device.protocol import MSG_SAMPLES, MSG_STREAM_RESET, encode_frame

    out = [encode_frame(MSG_STREAM_RESET, 1)]
    first, k = 0, 0
    samples = np.ascontiguousarray(samples, np.int8 if samples.dtype == np.int8 else "<i2")
    while first < len(samples):
        n = int(chunks[k % len(chunks)])
        frame = encode_frame(MSG_SAMPLES, (k + 2) & 0xFF, first.to_bytes(4, "little") + samples[first:first + n].tobytes())
        out.append(frame)
        if repeat_every and k % repeat_every == 0:
            out.append(frame)
        first += n
        k += 1
    return b"".join(out)


def run_app_host(exe: Path, cfg, samples: np.ndarray, chunks, repeat_every: int = 0):
    """(records, text lines, acks) of the host-built firmware fed `samples`."""
    from codegen.apps.anomaly import decode_record
    from codegen.device.protocol import MSG_RECORD, MSG_SAMPLES_ACK, Frame, StreamDecoder, TextLine

    proc = subprocess.run([str(exe)], input=frames_for(samples, chunks, repeat_every), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    decoder = StreamDecoder()
    events = decoder.feed(proc.stdout) + decoder.flush()
    records, text, acks = {}, [], []
    for ev in events:
        if isinstance(ev, Frame) and ev.type == MSG_RECORD:
            r = decode_record(ev.payload, cfg.features)
            records.setdefault(r.index, r)
        elif isinstance(ev, Frame) and ev.type == MSG_SAMPLES_ACK:
            acks.append(int.from_bytes(ev.payload[:4], "little"))
        elif isinstance(ev, TextLine):
            text.append(ev.text)
    return [records[i] for i in sorted(records)], text, acks
