"""KernelPlan: how one layer's kernel is built for one instruction set, decided in Python before any C
is rendered. The op definition's `plan` hook makes it; the memory planner takes its scratch bytes and
the emitter renders its template from it (`options` are the template's variables), so the two cannot
disagree. `mlc inspect --plan` prints the plans. Every hook is told whether its ISA is alone in the library
(`alone`): only then may it give the weights a layout of that ISA's own (a portable library keeps one
flash copy of each weight array, which every ISA's kernel reads)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# instruction sets, in the order a portable library tests them (#if MLC_MVE ... #elif MLC_DSP ... #else)
ISAS = ("mve", "dsp", "portable")


def isa_of(board) -> str:
    """The kernels a board's core runs (boards/*.json "dsp", "mve"): Helium (MVE), the DSP extension
    (SMLAD and friends), or portable C."""
    return "mve" if board.mve else "dsp" if board.dsp else "portable"


@dataclass(frozen=True)
class KernelPlan:
    index: int  # op index
    kind: str
    variant: str  # the template's variant ("reference", "1x1", "fast", ...); "" for kernels without variants
    isa: str  # "portable", "dsp" or "mve"
    pixels: int = 1  # output pixels per block
    channels: int = 1  # output channels per pass of the widest loop
    unroll: str = "none"  # how far the inner loop is unrolled
    unroll_budget: int = 0  # the most lines the unrolled function may take (thresholds.MAX_FUNCTION_LINES)
    weights: str = "as stored"  # the flash weight layout
    scratch: int = 0  # bytes of kernel scratch in the arena
    inplace: bool = False
    why: dict = field(default_factory=dict)  # choice -> the reason, in a few words
    options: dict = field(default_factory=dict, repr=False)  # the template variables the choices come to

    def summary(self) -> dict:
        d = asdict(self)
        del d["options"]
        return d


def default_plan(op, isa: str, reference: bool, inplace: bool, alone: bool) -> KernelPlan:
    """For ops whose kernel has no choices to make."""
    return KernelPlan(op.index, op.kind, "reference" if reference else "", isa, inplace=inplace)
