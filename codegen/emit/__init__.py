"""C emitters: one module per op family, each registering `fn(layer) -> str` with @emits.

An emitter returns the C statement(s) that run one layer inside NAME_invoke. It gets a
codegen.emit.layer.Layer, which gives the op, its params, pointers into the arena, flash
constants and specialised kernels rendered from templates/kernels/ (see templates/kernels/README.md).
The memory planner asks the same registration whether a kernel can run in place and how much
scratch it needs, so planning and emission agree.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

FAMILIES = ["conv", "fully_connected", "pooling", "reshape", "activations", "elementwise", "tensor_ops"]


@dataclass(frozen=True)
class Emitter:
    fn: Callable
    inplace: Callable | None = None  # (op) -> bool: output may overwrite input 0
    scratch: Callable | None = None  # (op, inplace: bool, reference: bool) -> bytes of kernel scratch
    alias: bool = False  # output is the input's bytes unchanged (RESHAPE): zero-copy


_EMITTERS: dict = {}


def emits(*kinds, inplace=None, scratch=None, alias=False):
    def register(fn):
        for kind in kinds:
            _EMITTERS[kind] = Emitter(fn, inplace, scratch, alias)
        return fn

    return register


def emitters() -> dict:
    for family in FAMILIES:
        try:
            importlib.import_module(f"codegen.emit.{family}")
        except ModuleNotFoundError as err:  # a family whose emitter is not written yet
            if err.name != f"codegen.emit.{family}":
                raise
    return _EMITTERS


def emitter(kind: str) -> Emitter | None:
    return emitters().get(kind)
