"""The kws firmware (templates/app/kws) against its twin (hostsim.apps.kws): the app, front end and model
library compiled on the host (sanitizers on, -Werror) and fed SAMPLES frames, and the real firmware on
qemu-cortex-m4 over the serial protocol; records equal byte for byte (features, posteriors, detector)."""
import re
import subprocess

import numpy as np
import pytest

from codegen.apps.kws import Record
from codegen.cli.app_kws import first_difference, project_sources, stream_to_device
from codegen.cli.build import build
from codegen.device.protocol import (MSG_RECORD, MSG_SAMPLES, MSG_SAMPLES_ACK, MSG_STREAM_RESET, Frame,
                                     StreamDecoder, encode_frame)
from c_harness import compile_c
from hostsim.apps.kws import simulate
from kws_stream import frontend, model, stream
from test_kws import EVENTS_K1, EVENTS_K5, LABEL_NAMES, LABELS, cfg_of, events

HOST_HAL = r"""
#include <stdio.h>
#include "mlc/mlc_hal.h"
#include "mlc/mlc_protocol.h"
/* The HAL on a host: UART in from stdin, out to stdout; no clock, no cycle counter. */
void mlc_hal_init(void) {}
int mlc_hal_read(void) { int c = getchar(); return c == EOF ? -1 : c; }
void mlc_hal_write(const uint8_t *data, size_t len) { fwrite(data, 1, len, stdout); }
uint32_t mlc_hal_millis(void) { return 0; }
uint8_t mlc_hal_cycle_counter(void) { return MLC_COUNTER_NONE; }
void mlc_hal_cycles_start(void) {}
uint32_t mlc_hal_cycles_stop(void) { return MLC_CYCLES_NONE; }
int main(void) { mlc_app_setup(); while (!feof(stdin)) mlc_app_poll(); return 0; }
"""


def host_app(fe, graph, cfg, tmp_path):
    # rendered for the M3, whose model library is plain C (the M4's uses DSP intrinsics)
    project, _ = build(graph, "qemu-cortex-m3", tmp_path / "p", app="kws", labels=LABELS,
                       app_sources=project_sources(fe, cfg), compile_=False, quiet=True)
    src, lib = project.dir / "src", project.dir / "lib" / project.name
    (src / "host_hal.c").write_text(HOST_HAL)
    sources = [src / f"app_{project.name}.c", src / "kws_fe.c", src / "host_hal.c", src / "mlc" / "mlc_protocol.c",
               src / "mlc" / "mlc_text.c", *sorted(lib.glob("*.c"))]
    return compile_c(sources, tmp_path / "kws_host", include_dirs=[src, lib])


def run_host(exe, samples, chunk, resend_every=0) -> list[bytes]:
    """Stream the samples as SAMPLES frames (every resend_every-th one sent twice); the RECORD payloads."""
    frames, seq = [encode_frame(MSG_STREAM_RESET, 1)], 2
    for k, at in enumerate(range(0, len(samples), chunk)):
        payload = at.to_bytes(4, "little") + np.asarray(samples[at:at + chunk], "<i2").tobytes()
        frame = encode_frame(MSG_SAMPLES, seq & 0xFF, payload)
        frames += [frame, frame] if resend_every and k % resend_every == 0 else [frame]
        seq += 1
    proc = subprocess.run([str(exe)], input=b"".join(frames), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    decoder = StreamDecoder()
    got = [e for e in decoder.feed(proc.stdout) + decoder.flush() if isinstance(e, Frame)]
    acks = [e for e in got if e.type == MSG_SAMPLES_ACK]
    assert int.from_bytes(acks[-1].payload, "little") == len(samples)
    return [e.payload for e in got if e.type == MSG_RECORD]


@pytest.mark.parametrize("every, chunk", [(1, 321), (5, 160)])
def test_host_c_app_equals_twin(tmp_path, every, chunk):
    fe, graph = frontend(), model()
    cfg = cfg_of(fe, graph, every)
    audio = stream(8.0)
    exe = host_app(fe, graph, cfg, tmp_path)
    got = run_host(exe, audio, chunk, resend_every=7)  # resent chunks must be processed once
    want = simulate(cfg, fe, graph, audio)
    diff = first_difference([Record.parse(p, cfg) for p in got], [Record.parse(p, cfg) for p in want], cfg)
    assert diff is None, diff
    assert got == want
    assert events(got, cfg) == [e for e in (EVENTS_K1 if every == 1 else EVENTS_K5) if e[0] <= 8000]


def stateful_model(tmp_path):
    """A kws model with state: one SVDF (memory 8) over micro_speech's 49 x 40 input, 4 posteriors, so each
    inference's posteriors depend on the last 8 inferences' features through the state kept outside the arena."""
    from codegen.ops import load
    from tflite_builder import ModelBuilder

    rng = np.random.default_rng(3)
    inp = model().inputs[0]
    memory, units, depth = 8, len(LABEL_NAMES), inp.size
    b = ModelBuilder()
    x = b.input(list(inp.shape), float(inp.quant.scale[0]), int(inp.quant.zero_point[0]))
    wf = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    wt = rng.integers(-127, 128, (units, memory)).astype(np.int8)
    state_scale, wt_scale = 0.5, 1 / 127
    y = b.svdf(x, b.const_int8(wf, 2e-4), b.const(wt, "int8", wt_scale, 0),
               b.const_int32(np.zeros(units, np.int32), state_scale * wt_scale), (state_scale, 0), 0.05, 0)
    b.output(y)
    path = tmp_path / "kws_svdf.tflite"
    path.write_bytes(b.finish())
    return load(path)


@pytest.mark.parametrize("every, chunk", [(1, 321), (3, 2048)])
def test_host_c_app_with_a_stateful_model_equals_twin(tmp_path, every, chunk):
    """The front end's scratch is the model's arena: with a model whose state carries across inferences,
    the app equals the twin only if the scratch leaves the state (and the feature ring) alone."""
    fe, graph = frontend(), stateful_model(tmp_path)
    cfg = cfg_of(fe, graph, every)
    audio = stream(6.0)
    got = run_host(host_app(fe, graph, cfg, tmp_path), audio, chunk)
    want = simulate(cfg, fe, graph, audio)
    diff = first_difference([Record.parse(p, cfg) for p in got], [Record.parse(p, cfg) for p in want], cfg)
    assert diff is None, diff
    assert got == want
    posteriors = np.array([Record.parse(p, cfg).posteriors for p in want])
    assert len(np.unique(posteriors, axis=0)) > len(want) // 2  # the posteriors follow the audio and the state


def test_app_compiles_warning_free_for_arm(tmp_path):
    fe, graph = frontend(), model()
    cfg = cfg_of(fe, graph, 3)
    project, _ = build(graph, "qemu-cortex-m4", tmp_path / "p", app="kws", labels=LABELS,
                       app_sources=project_sources(fe, cfg), compile_=False, quiet=True)
    src, lib = project.dir / "src", project.dir / "lib" / project.name
    for c in (src / f"app_{project.name}.c", src / "kws_fe.c"):
        cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
               f"-I{src}", f"-I{lib}", "-c", str(c), "-o", str(tmp_path / "x.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.device
@pytest.mark.parametrize("board, every", [("qemu-cortex-m4", 1), ("qemu-cortex-m4", 5), ("qemu-cortex-m3", 1)])
def test_device_records_equal_twin_on_qemu(tmp_path, board, every):
    """The 20-second stream on qemu-cortex-m4 and -m3 (plain C kernels, no DSP instructions): every feature
    frame, posterior and event equals hostsim's."""
    fe, graph = frontend(), model()
    from codegen.device.emulator import Emulator
    from codegen.targets.boards import get_board

    cfg = cfg_of(fe, graph, every)
    audio = stream()
    project, report = build(graph, board, tmp_path / "p", app="kws", labels=LABELS,
                            app_sources=project_sources(fe, cfg), quiet=True)
    assert not re.search(r"warning:", (project.dir / "build.log").read_text())
    with Emulator(get_board(board), project.elf) as emu:
        device = stream_to_device(emu.url, cfg, audio, 2048)
    host = [Record.parse(p, cfg) for p in simulate(cfg, fe, graph, audio)]
    assert first_difference(device, host, cfg) is None
    assert len(device) == 999 // every
    assert [(r.time_ms(cfg), LABEL_NAMES[r.event]) for r in device if r.event != 0xFF] == \
        (EVENTS_K1 if every == 1 else EVENTS_K5)


@pytest.mark.device
def test_build_and_run_with_feed_as_a_user_would(tmp_path):
    """`mlc build --app kws` then `mlc run PROJECT --feed X.wav`: REC lines and the detection."""
    from codegen.apps.kws import write_wav
    from kws_stream import clip
    from test_bad_input import mlc
    from test_kws import MODEL, PRE

    wav = tmp_path / "yes.wav"
    write_wav(wav, np.concatenate([np.zeros(16000, np.int16), clip("yes"), np.zeros(16000, np.int16)]))
    code, out, err = mlc("build", MODEL, "--app", "kws", "--frontend", PRE, "--labels", LABELS, "--keywords", "yes,no",
                         "--board", "qemu-cortex-m4", "--every", "2", "-o", tmp_path / "p")
    assert code == 0, err
    code, out, err = mlc("run", tmp_path / "p", "--feed", wav, "--chunk", "1000")
    assert code == 0, err
    assert "<< YES" in out and "1 detection(s) in 74 inference(s)" in out, out[-2000:]


@pytest.mark.device
def test_kws_app_compiles_and_fits_the_nano_33_ble_sense(tmp_path):
    """The Nano 33 BLE Sense's compiler flags, flash and RAM (mlc's offline fit check), warning-free."""
    from codegen.device.bench import plan_stack
    from codegen.targets.boards import get_board
    from codegen.targets.project import fit_check

    fe, graph = frontend(), model()
    report = fit_check(graph, get_board("nano33ble"), tmp_path, labels=LABELS, stack_plan=plan_stack, app="kws",
                       app_sources=project_sources(fe, cfg_of(fe, graph)))
    assert "warning:" not in (tmp_path / "build.log").read_text()
    assert report.flash_used < 64 * 1024 and report.ram_used < 32 * 1024
