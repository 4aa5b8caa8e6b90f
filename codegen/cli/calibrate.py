"""`mlc calibrate MODEL --normal REC [REC ...] [--false-alarms-per-hour F] [-o threshold.json]`: run the anomaly
app's pipeline in hostsim over recordings of normal operation and set its threshold for a target false-alarm
rate (codegen/apps/anomaly.py's calibrate says how); writes the configuration file `mlc build --app anomaly
--threshold-from` takes, tied to this model."""
from dataclasses import replace
from pathlib import Path

from codegen.errors import MlcError

NAME = "calibrate"
HELP = "Set the anomaly app's threshold from recordings of normal operation for a target false-alarm rate."
DEFAULT_RATE = 0.1


def add_arguments(parser):
    from codegen.cli.app_anomaly import add_arguments as app_arguments

    parser.add_argument("model", help="the int8 autoencoder (.tflite)")
    parser.add_argument("--normal", nargs="+", required=True, metavar="REC",
                        help="recordings of normal operation (.npy int16 (N, 3), .csv x,y,z or 3-channel .wav)")
    parser.add_argument("--false-alarms-per-hour", type=float, default=DEFAULT_RATE,
                        help=f"target false-alarm rate (default {DEFAULT_RATE})")
    parser.add_argument("--output", "-o", help="threshold file to write (default threshold.json beside MODEL)")
    app_arguments(parser.add_argument_group("pipeline (default: --threshold-from's, else the app's defaults)"), "build")


def run(args) -> int:
    from codegen.apps.anomaly import AnomalyConfig, calibrate, model_quant, read_feed, read_threshold_file
    from codegen.apps.anomaly import write_threshold_file
    from codegen.cli.app_anomaly import OVERRIDES, classes
    from codegen.ops import load, require_supported
    from hostsim.apps.anomaly import simulate

    if not args.false_alarms_per_hour > 0:
        raise MlcError(f"--false-alarms-per-hour {args.false_alarms_per_hour}: must be positive")
    graph = load(args.model)
    require_supported(graph)
    cfg = read_threshold_file(args.threshold_from, args.model)[0] if args.threshold_from else AnomalyConfig()
    given = {f: getattr(args, o) for o, f in OVERRIDES.items() if o != "threshold" and getattr(args, o, None) is not None}
    if args.features_in:
        given["features_in"] = model_quant(graph).features
    given.update(classes(args))
    cfg = replace(cfg, **given).check()
    quant = model_quant(graph, cfg)
    from codegen.cli.progress import track

    scores = []
    for path in track(args.normal, len(args.normal), "calibrating on the normal recordings"):
        samples = read_feed(path, cfg, quant)
        # a classifier's windows of the normal class are never over the threshold: they count as score 0
        scores.append([r.score if not cfg.classifier or r.cls != cfg.normal_class else 0
                       for r in simulate(graph, cfg, samples)])
    cfg, info = calibrate(scores, cfg, args.false_alarms_per_hour)
    out = Path(args.output) if args.output else Path(args.model).with_name("threshold.json")
    write_threshold_file(out, args.model, cfg, {"calibration": info})
    print(f"threshold {cfg.threshold} for {args.false_alarms_per_hour:g} false alarms per hour "
          f"({info['normal_windows']} normal windows, {info['normal_seconds']:g} s; {100 * info['over_fraction']:.2f} % "
          f"of them over it; alarm {cfg.alarm_n} of {cfg.alarm_m}, clear after {cfg.clear_k})")
    print(f"wrote {out}: mlc build {args.model} --app anomaly --threshold-from {out}")
    return 0
