"""The anomaly app on the example machine (examples/motor): detection quality and cost.

    python benchmarks/anomaly.py quality [--minutes 10] [--healthy-minutes 60] [--json out.json]
    python benchmarks/anomaly.py cost [--board qemu-cortex-m4] [--seconds 10]

quality: held-back recordings generated with seeds the example model never saw (training used
generate.py --seed 1; these use other seeds and other shaft speeds), scored in hostsim (bit-exact with the
device). Per fault type: the ROC AUC of the window score, fault windows being those after the fault reached its
documented severity and normal windows those of the healthy recordings; the detection delay (first alarm after
the documented severity; negative: before it); and the false alarms in --healthy-minutes of healthy recordings at
varying speed and load.

cost: builds the app for an emulated board, streams a recording into it under QEMU with mlc's counting plugin
(codegen/device/qemu_plugin) and reports the exact instructions per window (features / model / score, decision
and output), the CPU load at the board's clock and at the Nano 33 BLE Sense's 64 MHz, and flash and RAM of the
whole firmware.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "motor"))

from vibration import FAULTS, Fault, Machine, simulate as vibration  # noqa: E402

MODEL = ROOT / "examples" / "motor" / "model" / "model.tflite"
THRESHOLD = MODEL.with_name("threshold.json")
NANO_HZ = 64_000_000


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of a fault window > score of a normal window), ties counting half."""
    both = np.concatenate([pos, neg])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for v in np.unique(both):  # average ranks of ties
        tie = both == v
        ranks[tie] = ranks[tie].mean()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def quality(args) -> dict:
    from codegen.apps.anomaly import read_threshold_file
    from codegen.ops import load
    from hostsim.apps.anomaly import simulate

    graph = load(MODEL)
    cfg, _ = read_threshold_file(THRESHOLD, MODEL)
    rng = np.random.default_rng(1234)
    seconds = args.minutes * 60
    healthy_scores, false_alarms, healthy_s = [], 0, 0.0
    per_recording = 10 * 60.0
    n_healthy = max(1, int(round(args.healthy_minutes * 60 / per_recording)))
    for i in range(n_healthy):
        machine = Machine(shaft_hz=float(rng.uniform(25.0, 32.0)))
        rec = simulate(graph, cfg, vibration(machine, per_recording, seed=5000 + i).samples)
        healthy_scores.append(np.array([r.score for r in rec]))
        false_alarms += sum(1 for r in rec if r.event == 1)
        healthy_s += per_recording
    neg = np.concatenate(healthy_scores)
    rows = {}
    for k, kind in enumerate(FAULTS):
        machine = Machine(shaft_hz=float(rng.uniform(25.0, 32.0)))
        fault = Fault(kind, onset_s=seconds / 4, growth_s=seconds / 2)
        rec = simulate(graph, cfg, vibration(machine, seconds, [fault], seed=7000 + k).samples)
        t = cfg.time_ms(np.arange(len(rec))) / 1000
        s = np.array([r.score for r in rec])
        alarms_at = [t[i] for i, r in enumerate(rec) if r.event == 1]
        early = [a for a in alarms_at if a < fault.onset_s]
        after_onset = [a for a in alarms_at if a >= fault.onset_s]
        rows[kind] = {"auc": round(auc(s[t >= fault.at_level_s], neg), 4),
                      "delay_s": round(after_onset[0] - fault.at_level_s, 2) if after_onset else None,
                      "alarms_before_onset": len(early)}
    return {"threshold": cfg.threshold, "healthy_hours": round(healthy_s / 3600, 2), "false_alarms": false_alarms,
            "faults": rows}


class _CountingEmulator:
    """The board's QEMU with the counting plugin and its UART on a TCP port."""

    def __init__(self, board, elf, config_text: str, workdir: Path):
        from codegen.device.bench import plugin
        from codegen.device.emulator import Emulator, command

        self.out = workdir / "mlccount.out"
        cfg = workdir / "mlccount.cfg"
        cfg.write_text(f"out {self.out}\n" + config_text)
        self.emu = Emulator(board, elf)
        esc = lambda p: str(p).replace(",", ",,")  # noqa: E731 (QEMU option syntax doubles commas)
        self.cmd = command(board, elf, self.emu.port) + ["-plugin", f"{esc(plugin())},config={esc(cfg)}"]

    def __enter__(self):
        self.emu.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        self.emu._wait_listening()
        return self.emu

    def __exit__(self, *exc):
        self.emu.stop()


def cost(args) -> dict:
    from codegen.cli.app_anomaly import sources, stream_to_device
    from codegen.cli.build import build
    from codegen.apps.anomaly import read_threshold_file
    from codegen.ops import load
    from codegen.targets.boards import get_board
    from codegen.targets.project import read_symbols

    graph = load(MODEL)
    board = get_board(args.board)
    cfg, _ = read_threshold_file(THRESHOLD, MODEL)
    ns = argparse.Namespace(threshold_from=str(THRESHOLD), rate=None, window=None, hop=None, bands=None, threshold=None,
                            alarm_n=None, alarm_m=None, clear_k=None)
    work = Path(tempfile.mkdtemp(prefix="mlc-anomaly-cost-"))
    project, report = build(graph, board.id, work / "project", app="anomaly", name="ae", quiet=True,
                            app_sources=sources(graph, board, ns))
    symbols = read_symbols(project.elf, board)
    def symbol(name):  # GCC may clone a static function (an_score.constprop.0)
        return next(v for k, v in symbols.items() if k == name or k.startswith(name + "."))

    window, samples_fn, score_fn = (symbol(s) for s in ("an_window", "an_samples", "an_score"))
    run = symbol("ae_run")[0]
    tick = symbols.get("SysTick_Handler")
    config = "\n".join(["buckets 3", f"start {window[0]:#x}", f"stop {samples_fn[0]:#x} {samples_fn[0] + samples_fn[1]:#x}",
                        f"mark {run:#x} 1", f"mark {score_fn[0]:#x} 2"]
                       + ([f"skip {tick[0]:#x} {tick[0] + tick[1]:#x}"] if tick and tick[1] else [])) + "\n"
    machine = Machine()
    x = vibration(machine, args.seconds, [Fault("bearing_inner", args.seconds / 3, args.seconds / 3)], seed=3).samples
    counter = _CountingEmulator(board, project.elf, config, work)
    with counter as emu:
        records = stream_to_device(emu.url, cfg, x, 128)
    runs = np.array([[int(v) for v in line.split()[1:]] for line in counter.out.read_text().splitlines()
                     if line.startswith("run ")])
    total = runs[:, 0]
    per_s = cfg.rate_hz / cfg.hop
    flash, ram = (report.flash_used, report.ram_used) if report else (None, None)
    size = subprocess.run([board.toolchain_prefix + "size", "-A", str(project.elf)], capture_output=True, text=True).stdout
    return {"board": board.id, "windows": len(records), "counted": int(len(runs)),
            "instructions_per_window": {"max": int(total.max()), "min": int(total.min()), "median": int(np.median(total))},
            "features": int(np.median(runs[:, 1])), "model": int(np.median(runs[:, 2])),
            "score_decision_output": int(np.median(runs[:, 3])),
            "windows_per_s": per_s,
            "cpu_load_at_board_clock": round(total.max() * per_s / board.clock_hz, 4),
            "cpu_load_at_64MHz": round(total.max() * per_s / NANO_HZ, 4),
            "flash_bytes": flash, "ram_bytes": ram, "size": _sections(size), "project": str(project.dir)}


def _sections(size_text: str) -> dict:
    out = {}
    for line in size_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in (".text", ".data", ".bss", ".rodata", ".stack", ".heap"):
            out[parts[0]] = int(parts[1])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--minutes", type=float, default=4.0, help="length of each fault recording")
    q.add_argument("--healthy-minutes", type=float, default=60.0)
    c = sub.add_parser("cost")
    c.add_argument("--board", default="qemu-cortex-m4")
    c.add_argument("--seconds", type=float, default=10.0)
    for p in (q, c):
        p.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    result = quality(args) if args.what == "quality" else cost(args)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
