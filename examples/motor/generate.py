"""Write recordings of the example machine (examples/motor/vibration.py) as int16 .npy files (N, 3):
healthy ones at varying speed and load, and ones that run healthy and then develop each fault.

    python examples/motor/generate.py --out recordings/ [--minutes 1] [--seed 0]

recordings/manifest.json says, per file, the fault (if any), its onset and when it reaches its
documented severity (seconds from the start).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from vibration import FAULTS, Fault, Machine, simulate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each recording")
    parser.add_argument("--healthy", type=int, default=4, help="healthy recordings, each at another speed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    seconds = args.minutes * 60
    manifest = {}
    runs = [(f"healthy_{i}", ()) for i in range(args.healthy)]
    runs += [(kind, (Fault(kind, onset_s=seconds / 4, growth_s=seconds / 2),)) for kind in FAULTS]
    for i, (stem, faults) in enumerate(runs):
        machine = Machine(shaft_hz=float(rng.uniform(25.0, 32.0)))
        rec = simulate(machine, seconds, faults, seed=args.seed * 1000 + i)
        np.save(args.out / f"{stem}.npy", rec.samples)
        manifest[f"{stem}.npy"] = {"rate_hz": rec.rate_hz, "shaft_hz": machine.shaft_hz,
                                   "faults": [{"kind": f.kind, "onset_s": f.onset_s, "at_level_s": f.at_level_s}
                                              for f in faults]}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(runs)} recordings of {seconds:g} s to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
