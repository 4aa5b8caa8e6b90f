"""hostsim: a bit-exact numpy simulator of mlc's integer kernels (TFLM reference arithmetic)."""
from hostsim.runner import run, run_all

__all__ = ["run", "run_all"]
