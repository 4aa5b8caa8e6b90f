"""What the kws app costs on qemu-cortex-m4, from exact instruction counts: the firmware built with
`mlc build --app kws`, run in QEMU with mlc's counting plugin while the 20-second test stream (or --feed X.wav)
is streamed to it; every SAMPLES request's kws_push_samples is one counted run (front end, ring, model,
detector, record framing and REC formatting; the UART's byte pushing, mlc_hal_write, and the SysTick handler
are left out, as they depend on the line and on QEMU's virtual time).

    python benchmarks/kws_app_cost.py [--every K] [--feed X.wav] [--board qemu-cortex-m4] [--clock-mhz 64]

Prints instructions per second of audio and the CPU load at the given clock taking one instruction per
cycle (a floor: flash wait states and multi-cycle loads only add), and the firmware's flash and RAM."""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from codegen.apps.kws import configure, read_wav  # noqa: E402
from codegen.cli.app_kws import project_sources, stream_to_device  # noqa: E402
from codegen.cli.build import build  # noqa: E402
from codegen.device import bench  # noqa: E402
from codegen.device.emulator import Emulator, command  # noqa: E402
from codegen.model.labels import read_labels  # noqa: E402
from codegen.targets.boards import get_board  # noqa: E402
from codegen.targets.project import read_symbols  # noqa: E402
from kws_stream import frontend, model, stream  # noqa: E402
from paths import MODELS  # noqa: E402


class CountingEmulator(Emulator):
    """QEMU with the UART on a TCP port and the counting plugin loaded."""

    def __init__(self, board, elf, plugin_config: Path):
        super().__init__(board, elf)
        self.plugin_config = plugin_config

    def start(self):
        esc = lambda p: str(p).replace(",", ",,")  # noqa: E731
        cmd = command(self.board, self.elf, self.port) + ["-plugin", f"{esc(bench.plugin())},config={esc(self.plugin_config)}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()
        return self


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--feed", help="a 16 kHz wav (default: the 20-second test stream)")
    ap.add_argument("--board", default="qemu-cortex-m4")
    ap.add_argument("--clock-mhz", type=float, default=64.0, help="the target's clock (Nano 33 BLE Sense: 64)")
    ap.add_argument("--chunk", type=int, default=320)
    args = ap.parse_args(argv)
    fe, graph = frontend(), model()
    labels = MODELS / "micro_speech_labels.txt"
    cfg = configure(fe, graph, read_labels(labels), None, args.every)
    audio = read_wav(args.feed) if args.feed else stream()
    board = get_board(args.board)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        project, report = build(graph, board.id, tmp / "p", app="kws", labels=labels,
                                app_sources=project_sources(fe, cfg), quiet=True)
        sym = read_symbols(project.elf, board)
        (entry, _), (caller, caller_size) = sym["kws_push_samples"], sym["kws_on_frame"]
        skips = "".join(f"skip {sym[s][0]:#x} {sym[s][0] + sym[s][1]:#x}\n" for s in ("mlc_hal_write", "SysTick_Handler"))
        out = tmp / "counts.txt"
        (tmp / "cfg").write_text(f"out {out}\nbuckets 1\nstart {entry:#x}\nstop {caller:#x} {caller + caller_size:#x}\n"
                                 + skips)
        with CountingEmulator(board, project.elf, tmp / "cfg") as emu:
            records = stream_to_device(emu.url, cfg, audio, args.chunk)
        counts = [int(line.split()[1]) for line in out.read_text().splitlines() if line.startswith("run ")]
    seconds = len(audio) / cfg.sample_rate
    total = sum(counts)
    per_s = total / seconds
    print(f"{board.id}, K={args.every}: {len(records)} inferences on {seconds:g} s of audio in {len(counts)} requests "
          f"of {args.chunk} samples")
    print(f"instructions: {total:,} in all, {per_s:,.0f} per second of audio, {total / max(len(records), 1):,.0f} "
          f"per inference (front end included)")
    print(f"CPU load at {args.clock_mhz:g} MHz (1 instruction per cycle): {100 * per_s / (args.clock_mhz * 1e6):.1f} %")
    print(f"firmware: flash {report.flash_used:,} B, RAM {report.ram_used:,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
