"""`--app anomaly`: a 3-axis accelerometer watched by an int8 autoencoder (codegen/apps/anomaly.py documents the
pipeline; templates/app/anomaly/app.c.j2 is the firmware, hostsim/apps/anomaly.py its twin).

    mlc build MODEL --app anomaly --board B [--threshold-from threshold.json] [--rate HZ --window N --hop N ...]
    mlc simulate MODEL --app anomaly --feed REC [--csv out.csv]
    mlc run PROJECT --feed REC
    mlc verify MODEL --app anomaly --board B --feed REC

The configuration (rate, window, hop, bands, threshold, hysteresis) comes from --threshold-from (written by
`mlc calibrate` or examples/motor/train.py; refused for another model), else from a threshold.json beside
MODEL calibrated for it, and options given on the command line override it.
"""
from __future__ import annotations

import csv
import sys

import numpy as np
from dataclasses import asdict, replace
from pathlib import Path

from codegen.apps.anomaly import (DEFAULT_CHUNK, FLAG_ALARM, MAX_CHUNK, AnomalyConfig, app_ram, c_context, decode_record,
                                  model_quant, model_digest, read_feed, read_threshold_file)
from codegen.cli.apps import add_option
from codegen.errors import MlcError

OVERRIDES = {"rate": "rate_hz", "window": "window", "hop": "hop", "bands": "bands", "threshold": "threshold",
             "alarm_n": "alarm_n", "alarm_m": "alarm_m", "clear_k": "clear_k"}
CSV_FIELDS = ["time_ms", "label", "score", "event"]
APP_RAM_MARGIN = 512  # stack and the runtime's own, at the least


def add_arguments(group, command: str) -> None:
    if command in ("build", "simulate", "verify"):
        add_option(group, "--threshold-from", metavar="F.json", help="anomaly: the calibrated configuration (mlc calibrate, "
             "examples/motor/train.py); default: threshold.json beside MODEL if calibrated for it")
        add_option(group, "--rate", type=int, metavar="HZ", help="anomaly: sample rate (default 1600)")
        add_option(group, "--window", type=int, metavar="N", help="samples per window, a power of two (anomaly default 256)")
        add_option(group, "--hop", type=int, metavar="N", help="samples between windows (anomaly default 128)")
        add_option(group, "--bands", type=int, metavar="N", help="anomaly: log-spaced bands per axis (default 16)")
        add_option(group, "--threshold", type=int, metavar="SCORE", help="anomaly: the score threshold, overriding the file's")
        add_option(group, "--alarm-n", type=int, metavar="N", help="anomaly: alarm when N of the last M windows are over (default 3)")
        add_option(group, "--alarm-m", type=int, metavar="M", help="anomaly: ... of the last M windows (default 5)")
        add_option(group, "--clear-k", type=int, metavar="K", help="anomaly: clear after K windows not over (default 25)")
        add_option(group, "--labels", metavar="TXT", help="anomaly: a classifier's class names, one a line (classifier mode: "
             "the model scores classes; the alarm names the class)")
        add_option(group, "--normal-class", metavar="NAME", help="anomaly: the classifier's class of normal operation "
             "(default: 'normal' or 'healthy' if a label, else the first)")
        add_option(group, "--features-in", action="store_true", help="anomaly: the host sends the model's inputs (--feed: "
             ".npy (N, n) int8, or float quantized with the model's input scale) instead of accelerometer samples")
    if command in ("verify", "run"):
        add_option(group, "--chunk", type=int, default=DEFAULT_CHUNK, metavar="N",
             help=f"sample frames per SAMPLES request (default {DEFAULT_CHUNK}; anomaly takes up to {MAX_CHUNK})")


def classes(args) -> dict:
    """labels and normal_class from --labels / --normal-class (classifier mode), else nothing."""
    if not getattr(args, "labels", None):
        return {}
    try:
        labels = tuple(line.strip() for line in Path(args.labels).read_text().splitlines() if line.strip())
    except OSError as err:
        raise MlcError(f"{args.labels}: cannot read the labels ({err.strerror})") from None
    wanted = getattr(args, "normal_class", None)
    if wanted is not None and wanted not in labels:
        raise MlcError(f"--normal-class {wanted}: not one of the labels ({', '.join(labels)})")
    normal = wanted or next((x for x in ("normal", "healthy") if x in labels), labels[0] if labels else None)
    return {"labels": labels, "normal_class": labels.index(normal) if labels else 0}


def config(graph, args) -> tuple[AnomalyConfig, str]:
    """The build's configuration and where its threshold came from."""
    source = getattr(args, "threshold_from", None)
    beside = Path(graph.path).with_name("threshold.json")
    if source:
        cfg, _ = read_threshold_file(source, graph.path)
    elif beside.is_file():
        try:
            cfg, _ = read_threshold_file(beside, graph.path)
            source = str(beside)
        except MlcError:
            cfg, source = AnomalyConfig(), None
    else:
        cfg = AnomalyConfig()
    given = {field: getattr(args, opt) for opt, field in OVERRIDES.items() if getattr(args, opt, None) is not None}
    if getattr(args, "features_in", False):
        given["features_in"] = model_quant(graph).features
    given.update(classes(args))
    cfg = replace(cfg, **given).check()
    if "threshold" in given:
        source = "--threshold"
    if source is None:
        raise MlcError(f"{graph.path}: no calibrated threshold: give --threshold-from F.json (from `mlc calibrate "
                       f"{graph.path} --normal REC ...`) or --threshold SCORE")
    model_quant(graph, cfg)
    return cfg, source


def sources(graph, board, args):
    from codegen.frontend.emit import rfft_values
    from codegen.targets.project import AppSources

    cfg, source = config(graph, args)
    quant = model_quant(graph, cfg)
    parts = app_ram(cfg)
    if sum(parts.values()) + APP_RAM_MARGIN > board.ram_bytes:
        listed = " + ".join(f"{k} {v:,}" for k, v in parts.items())
        raise MlcError(f"{board.id}: the anomaly app needs {sum(parts.values()):,} B of RAM for its buffers ({listed}) "
                       f"plus the model and a stack, and the board has {board.ram_bytes:,} B; a smaller --window "
                       "makes the ring, window and spectrum smaller")
    what = (f"{cfg.features} features sent by the host (features in)" if cfg.features_in else
            f"{cfg.features} features ({cfg.bands} bands x 3 axes), window {cfg.window} hop {cfg.hop} at {cfg.rate_hz} Hz")
    print(f"anomaly: {what}, threshold {cfg.threshold} (from {source}), alarm {cfg.alarm_n} of {cfg.alarm_m}, "
          f"clear after {cfg.clear_k}")
    calibration = read_threshold_file(source, graph.path)[1].get("calibration") if source != "--threshold" else None
    if calibration:
        print(f"anomaly: calibrated for {calibration['false_alarms_per_hour']:g} false alarms per hour on "
              f"{calibration['normal_seconds']:g} s of normal recordings")
    return AppSources(context={**({} if cfg.features_in else rfft_values(cfg.window)), **c_context(cfg, quant)},
                      config={**asdict(cfg), "model_sha256": model_digest(graph.path), "features": cfg.features,
                              "threshold_source": source, "calibration": calibration})


def project_config(project) -> AnomalyConfig:
    keys = AnomalyConfig.__dataclass_fields__
    cfg = {k: v for k, v in project.app_config.items() if k in keys}
    return AnomalyConfig(**{**cfg, "labels": tuple(cfg.get("labels", ()))}).check()


def _summary(records, cfg: AnomalyConfig, out=print) -> None:
    for r in records:
        if r.event:
            out(f"{cfg.time_ms(r.index) / 1000:9.2f} s  window {r.index}: {r.event_name(cfg)} (score {r.score}, "
                f"threshold {cfg.threshold})")
    alarmed = sum(1 for r in records if r.flags & FLAG_ALARM)
    out(f"{len(records)} windows, {sum(1 for r in records if r.event == 1)} alarm(s), {alarmed} window(s) in alarm")


def simulate(graph, args) -> int:
    from hostsim.apps.anomaly import simulate as run

    cfg, _ = config(graph, args)
    samples = read_feed(args.feed, cfg, model_quant(graph, cfg))
    records = run(graph, cfg, samples)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(r.row(cfg) for r in records)
    _summary(records, cfg)
    if args.plot:
        plot(records, cfg, args.plot)
    return 0


def plot(records, cfg: AnomalyConfig, path) -> None:
    from codegen.cli.apps import plot_stream

    plot_stream(path, [cfg.time_ms(r.index) / 1000 for r in records], [r.score for r in records],
                [r.event_name(cfg) for r in records], cfg.threshold)
    print(f"wrote {path}")


def _chunk(args, cfg: AnomalyConfig) -> int:
    chunk = min(getattr(args, "chunk", DEFAULT_CHUNK) or DEFAULT_CHUNK, cfg.max_chunk) if cfg.features_in else \
        getattr(args, "chunk", DEFAULT_CHUNK) or DEFAULT_CHUNK
    if not 1 <= chunk <= cfg.max_chunk:
        raise MlcError(f"--chunk {chunk}: the anomaly firmware takes 1 to {cfg.max_chunk} frames per request")
    return chunk


def stream_to_device(url, cfg: AnomalyConfig, samples, chunk: int, baud: int = 115200, timeout: float = 5.0,
                     on_text=None):
    """Stream a recording into a running anomaly firmware from its power-on state; its records."""
    from codegen.device.protocol import Device

    with Device(url, baud, attempt_timeout=timeout, on_text=on_text) as device:
        device.reset_stream()
        payloads = device.stream(samples, chunk)
    return [decode_record(p, cfg.features) for p in payloads]


def first_difference(got, want, cfg: AnomalyConfig) -> str | None:
    """Names the first window whose record differs (features, score, decision), else None."""
    for g, w in zip(got, want):
        if g == w:
            continue
        at = f"window {w.index} (t={cfg.time_ms(w.index)} ms)"
        if g.features != w.features:
            k = next(i for i in range(len(w.features)) if g.features[i] != w.features[i])
            axis, band = divmod(k, cfg.bands)
            where = "" if cfg.features_in else f" (axis {'xyz'[axis]}, band {band})"
            return (f"{at}: feature {k}{where} device {np.int8(g.features[k] - 256 * (g.features[k] > 127))} vs "
                    f"hostsim {np.int8(w.features[k] - 256 * (w.features[k] > 127))}")
        if g.score != w.score:
            return f"{at}: score device {g.score} vs hostsim {w.score}"
        return (f"{at}: decision device flags {g.flags} event {g.event} class {g.cls} vs hostsim flags {w.flags} "
                f"event {w.event} class {w.cls}")
    if len(got) != len(want):
        return f"device sent {len(got)} windows, hostsim has {len(want)}"
    return None


def verify(graph, args) -> int:
    from codegen.cli.build import build
    from codegen.device.emulator import Emulator
    from codegen.targets.boards import get_board
    from hostsim.apps.anomaly import simulate as run

    board = get_board(args.board)
    cfg, _ = config(graph, args)
    samples = read_feed(args.feed, cfg, model_quant(graph, cfg))
    chunk = _chunk(args, cfg)
    want = run(graph, cfg, samples)
    url, emulator = args.port, None
    if not url:
        if not board.emulated:
            raise MlcError(f"{board.id} is a real board: build and flash it with --app anomaly, then pass --port")
        project, _ = build(graph, board.id, args.output, app="anomaly", quiet=True, app_sources=sources(graph, board, args))
        emulator = Emulator(board, project.elf).start()
        url = emulator.url
    try:
        got = stream_to_device(url, cfg, samples, chunk, args.baud, args.timeout)
    finally:
        if emulator:
            emulator.stop()
    problem = first_difference(got, want, cfg)
    if problem:
        print(f"device differs from hostsim at {problem}", file=sys.stderr)
        return 1
    alarms = sum(1 for r in want if r.event == 1)
    print(f"{len(want)}/{len(want)} windows bit-exact on {board.id} (features, score and decision), "
          f"{alarms} alarm(s)")
    return 0


def feed(project, args) -> int:
    from codegen.cli.monitor import format_record
    from codegen.device.emulator import Emulator
    from codegen.device.protocol import StreamRecord, parse_line

    from codegen.apps.anomaly import read_recording

    cfg = project_config(project)
    if cfg.features_in:
        raise MlcError(f"{project.dir}: built with --features-in; stream features with `mlc verify --app anomaly "
                       "--features-in --feed F.npy`")
    samples = read_recording(args.feed, cfg.rate_hz)
    chunk = _chunk(args, cfg)

    def show(text: str) -> None:
        line = parse_line(text)
        if isinstance(line, StreamRecord):
            if line.event != "-" or line.n % max(1, cfg.rate_hz // cfg.hop) == 0:
                print(format_record(line), flush=True)
        elif text.strip().startswith("LED "):
            print(f"          {text.strip()}", flush=True)

    print(f"streaming {args.feed} ({len(samples) / cfg.rate_hz:.1f} s) into {project.board.id}; one line a second "
          "and every event")
    with Emulator(project.board, project.elf, args.tcp) as emulator:
        records = stream_to_device(emulator.url, cfg, samples, chunk, on_text=show)
    _summary(records, cfg, out=lambda s: None)
    print(f"{len(records)} windows, {sum(1 for r in records if r.event == 1)} alarm(s)")
    return 0
