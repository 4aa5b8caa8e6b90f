"""The streaming apps' part of the command line (`--app anomaly`, `--app kws`).

Each streaming app has its firmware in templates/app/<app>/ and its commands in codegen/cli/app_<app>.py,
a module defining:

    add_arguments(group, command)          its own options of `mlc build`, `simulate`, `verify` or `run`
    sources(graph, board, args)            -> AppSources: what `mlc build --app <app>` adds to the project
    simulate(graph, args) -> int           `mlc simulate MODEL --app <app> --feed REC [--csv F] [--plot F]`
    verify(graph, args) -> int             `mlc verify MODEL --app <app> --feed REC`
    feed(project, args) -> int             `mlc run PROJECT --feed REC` for a project built with the app

The general commands add --app, --feed, --csv and --plot here and hand over to the app's module; every app
streams int16 samples to the device with codegen.device.protocol's Device.stream and reports one line per
window or inference as a protocol StreamRecord (`time_ms,label,score,event`, the rows of --csv)."""
import importlib
from pathlib import Path

STREAM_APPS = tuple(sorted(p.stem[len("app_"):] for p in Path(__file__).parent.glob("app_*.py")))


def app_module(app: str):
    return importlib.import_module(f"codegen.cli.app_{app}")


def add_option(group, *flags, **kwargs) -> None:
    """An app's option, unless the command or another streaming app already has it (then they share it)."""
    if not any(f in group._option_string_actions for f in flags):
        group.add_argument(*flags, **kwargs)


def add_stream_arguments(parser, command: str) -> None:
    """--feed (and on simulate/verify --app; on simulate --csv and --plot), then each app's own options."""
    if command in ("simulate", "verify"):
        parser.add_argument("--app", choices=STREAM_APPS, help="run a streaming app's whole pipeline on --feed "
                            "instead of the model alone")
    if STREAM_APPS:
        parser.add_argument("--feed", metavar="REC", help="a recording to stream through the app "
                            "(sensor samples or audio; see the app's help)")
    if command == "simulate":
        parser.add_argument("--csv", help="with --app: write one row per window or inference (time_ms,label,score,event)")
        parser.add_argument("--plot", metavar="PNG", help="with --app: draw the run (needs matplotlib: pip install 'mlc[plot]')")
    for app in STREAM_APPS:
        app_module(app).add_arguments(parser.add_argument_group(f"--app {app}"), command)


def plot_stream(path, times_s, scores, events, threshold=None) -> None:
    """--plot: the score over time, the threshold, alarm intervals (from an `alarm` event to a `clear`) shaded and
    other events (a keyword) marked; events are '' / '-' where nothing happened. Needs matplotlib (the plot extra)."""
    from codegen.errors import MlcError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MlcError("--plot needs matplotlib: pip install 'mlc[plot]'") from None
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(times_s, scores, lw=0.8, label="score")
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=0.8, label="threshold")
    start, shaded = None, False
    for t, event in zip(times_s, events):
        if event == "alarm":
            start = t
        elif event == "clear" and start is not None:
            ax.axvspan(start, t, color="red", alpha=0.2, label=None if shaded else "alarm")
            start, shaded = None, True
        elif event not in ("", "-", "clear"):
            ax.axvline(t, color="tab:green", lw=0.8)
            ax.annotate(event, (t, 1), xycoords=("data", "axes fraction"), fontsize=8, rotation=90, va="top")
    if start is not None and len(times_s):
        ax.axvspan(start, times_s[-1], color="red", alpha=0.2, label=None if shaded else "alarm")
    if min(scores, default=0) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
