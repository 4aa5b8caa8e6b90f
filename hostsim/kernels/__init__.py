"""Kernel registry: one module per operator family, each registering `fn(op, *inputs) -> output`.

Inputs and outputs carry a leading batch axis of any size N (the model's batch of 1 stacked N times),
so a whole stack of inputs runs in one vectorised pass.
"""
import importlib

from codegen.ops import FAMILIES  # the same families as the op definitions

KERNELS = {}


def kernel(*kinds):
    def register(fn):
        for kind in kinds:
            KERNELS[kind] = fn
        return fn

    return register


def load() -> dict:
    for family in FAMILIES:
        importlib.import_module(f"hostsim.kernels.{family}")
    return KERNELS
