"""A recording for the demo: the example machine runs healthy, then an outer-race bearing defect starts and
grows to its documented severity.

    python examples/motor/demo_recording.py OUT.npy [--seconds 30] [--fault bearing_outer]
"""
import argparse

import numpy as np

from vibration import FAULTS, Fault, Machine, simulate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fault", choices=FAULTS, default="bearing_outer")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    fault = Fault(args.fault, onset_s=args.seconds / 3, growth_s=args.seconds / 2)
    np.save(args.out, simulate(Machine(shaft_hz=28.5), args.seconds, [fault], seed=args.seed).samples)
    print(f"{args.out}: {args.seconds:g} s, healthy, then {args.fault} from {fault.onset_s:g} s, at its documented "
          f"severity at {fault.at_level_s:g} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
