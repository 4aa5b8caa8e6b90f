"""`--app kws`: keyword spotting on 16 kHz audio (codegen.apps.kws describes the pipeline).

    mlc build MODEL --app kws --frontend PRE.tflite --labels L.txt --board B [--keywords yes,no] [--every K]
    mlc simulate MODEL --app kws --frontend PRE.tflite [--labels L.txt] --feed X.wav [--csv out.csv] [--features F.npy]
    mlc run PROJECT --feed X.wav [--chunk N]
    mlc verify MODEL --app kws --frontend PRE.tflite [--labels L.txt] --board B --feed X.wav
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from codegen.apps.kws import DEFAULT_EVERY, HOP, MAX_CHUNK, NO_LABEL, KwsConfig, Record, configure, read_wav
from codegen.cli.apps import add_option
from codegen.errors import MlcError

APP = "kws"
FRONTEND_NAME = "kws_fe"
DEFAULT_CHUNK = HOP  # sample frames per SAMPLES request
CSV_FIELDS = ["time_ms", "label", "score", "event"]


def add_arguments(group, command: str) -> None:
    if command in ("build", "simulate", "verify"):
        add_option(group, "--frontend", metavar="PRE.tflite", help="kws: the audio front end (TFLM's Signal-op "
             "preprocessor, e.g. audio_preprocessor_int8.tflite)")
        add_option(group, "--labels", help="text file with one class label per line (label 0 is silence)")
        add_option(group, "--keywords", help="kws: comma-separated labels that fire events (default: all but the "
             "first and 'unknown')")
        add_option(group, "--every", type=int, default=DEFAULT_EVERY, metavar="K",
             help=f"kws: run the model every K feature frames of 20 ms (default {DEFAULT_EVERY})")
    if command == "simulate":
        add_option(group, "--features", metavar="F.npy", help="kws: save the feature frames (N, 40) int8")
    if command in ("run", "verify"):
        add_option(group, "--chunk", type=int, default=DEFAULT_CHUNK, metavar="N",
             help=f"samples per SAMPLES request to the device (1..{MAX_CHUNK}, default {DEFAULT_CHUNK})")


def _config(graph, args):
    import codegen.frontend
    from codegen.model.labels import read_labels

    if not getattr(args, "frontend", None):
        raise MlcError("--app kws needs --frontend PRE.tflite: the audio front end the model's features come from")
    fe = codegen.frontend.load(args.frontend)
    labels = read_labels(args.labels) if getattr(args, "labels", None) else None
    keywords = [k.strip() for k in args.keywords.split(",") if k.strip()] if getattr(args, "keywords", None) else None
    return fe, configure(fe, graph, labels, keywords, getattr(args, "every", DEFAULT_EVERY))


def sources(graph, board, args):
    fe, cfg = _config(graph, args)
    return project_sources(fe, cfg)


def project_sources(fe, cfg):
    """What the kws app adds to a project: the generated front end, the settings for app.c.j2 and mlc.json."""
    from codegen.frontend.emit import render
    from codegen.targets.project import AppSources

    rendered = render(fe, FRONTEND_NAME)
    return AppSources(context={"cfg": cfg, "fe": FRONTEND_NAME, "max_chunk": MAX_CHUNK}, files=rendered.files,
                      config={"kws": cfg.to_json(), "frontend": str(Path(fe.path).resolve())})


def _print_events(records, cfg, out=print) -> None:
    events = [r for r in records if r.event != NO_LABEL]
    for r in events:
        out(f"{r.time_ms(cfg) / 1000:8.2f} s  {cfg.labels[r.event].upper()} (score {r.score})")
    out(f"{len(events)} detection(s) in {len(records)} inference(s)")


def simulate(graph, args) -> int:
    from hostsim.apps.kws import Kws

    fe, cfg = _config(graph, args)
    samples = read_wav(args.feed, cfg.sample_rate)
    twin = Kws(cfg, fe, graph)
    records = [Record.parse(p, cfg) for p in twin.push(samples)]
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            w.writerows(r.row(cfg) for r in records)
    if args.features:
        np.save(args.features, twin.features())
    if getattr(args, "plot", None):
        plot(args.plot, twin.features(), records, cfg)
    _print_events(records, cfg)
    return 0


def plot(path, features, records, cfg) -> None:
    """The spectrogram (features over time), the posteriors and the detections, in one PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MlcError("--plot needs matplotlib: pip install 'mlc[plot]'") from None
    times = [r.time_ms(cfg) / 1000 for r in records]
    end = cfg.frame_time_ms(len(features)) / 1000 if len(features) else 1
    fig, (a, b) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    a.imshow(features.T, aspect="auto", origin="lower", extent=(0, end, 0, cfg.features), cmap="magma")
    a.set_ylabel("feature")
    post = np.array([r.posteriors for r in records]).reshape(len(records), -1).astype(int) + 128
    for i, label in enumerate(cfg.labels):
        b.plot(times, post[:, i] if len(post) else [], label=label)
    for r in records:
        if r.event != NO_LABEL:
            b.axvline(r.time_ms(cfg) / 1000, color="k", ls="--")
            b.text(r.time_ms(cfg) / 1000, 260, cfg.labels[r.event], ha="center")
    b.set_ylabel("posterior + 128")
    b.set_xlabel("time (s)")
    b.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)


def _chunk(args) -> int:
    chunk = getattr(args, "chunk", DEFAULT_CHUNK)
    if not 1 <= chunk <= MAX_CHUNK:
        raise MlcError(f"--chunk {chunk}: the firmware takes 1..{MAX_CHUNK} samples per request")
    return chunk


def stream_to_device(url, cfg, samples, chunk, on_record=None, baud=115200, timeout=5.0) -> list:
    """Reset the device's stream and send the samples; its records, parsed."""
    from codegen.device.protocol import Device

    with Device(url, baud, attempt_timeout=timeout) as device:
        device.reset_stream()
        payloads = device.stream(samples, chunk, on_record=(lambda p: on_record(Record.parse(p, cfg)))
                                 if on_record else None)
    return [Record.parse(p, cfg) for p in payloads]


def _format(r: Record, cfg) -> str:
    from codegen.cli.monitor import format_record
    from codegen.device.protocol import StreamRecord

    row = r.row(cfg)
    return format_record(StreamRecord(r.index, row["time_ms"], row["label"], str(row["score"]), row["event"] or "-"))


def feed(project, args) -> int:
    from codegen.device.emulator import Emulator

    cfg = KwsConfig.from_json(project.app_config["kws"])
    samples = read_wav(args.feed, cfg.sample_rate)
    with Emulator(project.board, project.elf, args.tcp) as emu:
        records = stream_to_device(emu.url, cfg, samples, _chunk(args),
                                   on_record=lambda r: print(_format(r, cfg), flush=True))
    _print_events(records, cfg)
    return 0


def first_difference(device: list, host: list, cfg) -> str | None:
    """None if the records are equal byte for byte; else where they first differ (frame and field)."""
    for d, h in zip(device, host):
        for k, (fd, fh) in enumerate(zip(d.features, h.features)):
            if not np.array_equal(fd, fh):
                j = int(np.argmax(fd != fh))
                return (f"feature frame {d.first_frame + k} ({cfg.frame_time_ms(d.first_frame + k + 1)} ms), "
                        f"feature {j}: device {int(fd[j])}, hostsim {int(fh[j])}")
        if not np.array_equal(d.posteriors, h.posteriors):
            return f"inference {d.index} ({d.time_ms(cfg)} ms): posteriors device {d.posteriors.tolist()}, " \
                   f"hostsim {h.posteriors.tolist()}"
        if (d.label, d.score, d.event) != (h.label, h.score, h.event):
            return f"inference {d.index} ({d.time_ms(cfg)} ms): detector device {d.row(cfg)}, hostsim {h.row(cfg)}"
        if (d.index, d.first_frame) != (h.index, h.first_frame):
            return f"record {d.index}: device frame {d.first_frame}, hostsim {h.index} frame {h.first_frame}"
    if len(device) != len(host):
        return f"device sent {len(device)} records, hostsim made {len(host)}"
    return None


def verify(graph, args) -> int:
    from codegen.cli.build import build
    from codegen.device.emulator import Emulator
    from codegen.targets.boards import get_board
    from hostsim.apps.kws import Kws

    fe, cfg = _config(graph, args)
    board = get_board(args.board)
    samples = read_wav(args.feed, cfg.sample_rate)
    host = [Record.parse(p, cfg) for p in Kws(cfg, fe, graph).push(samples)]
    chunk = _chunk(args)
    if args.port:
        device = stream_to_device(args.port, cfg, samples, chunk, baud=args.baud, timeout=args.timeout)
    else:
        if not board.emulated:
            raise MlcError(f"{board.id} is a real board: flash it (`mlc build --app kws`, `mlc flash`) and pass --port")
        project, _ = build(graph, board.id, args.output, app=APP, labels=getattr(args, "labels", None),
                           app_sources=sources(graph, board, args), quiet=True)
        with Emulator(board, project.elf) as emu:
            device = stream_to_device(emu.url, cfg, samples, chunk, timeout=args.timeout)
    diff = first_difference(device, host, cfg)
    frames = sum(len(r.features) for r in host)
    if diff:
        print(f"MISMATCH at {diff}", file=sys.stderr)
        return 1
    events = sum(r.event != NO_LABEL for r in host)
    print(f"bit-exact on {board.id}: {frames} feature frames, {len(host)} inferences (posteriors), "
          f"{events} event(s) equal to hostsim's")
    return 0
