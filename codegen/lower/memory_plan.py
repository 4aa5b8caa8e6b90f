"""Compile-time arena plan: every intermediate tensor and kernel scratch gets an offset in one arena.

Buffers come from tensors after two kinds of sharing: no-op layers (RESHAPE, ...) alias their output
onto their input (zero-copy), and layers whose kernel can run in place write their output over
input 0 when that input is not read afterwards. Each buffer lives from the layer that writes it to
the last layer that reads it; kernel scratch lives for its one layer. Placement is greedy
lowest-gap under several orderings; the smallest arena wins. The model's input and output tensors
are planned like every other tensor: the input lives from before the first layer to its last reader
(its bytes are reused once it is consumed, and a layer may run in place over it), the output from its
producer to the end of the inference (it may overlap tensors that are dead by then). A constant output
gets a buffer for the whole inference (the generated code copies the constant into it). State tensors
(variables an op keeps across invokes) are not planned: they persist, in their own static buffers.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

ALIGN = 4  # every buffer starts 4-byte aligned (int32 and float tensors, word loads)


@dataclass
class Location:
    base: str  # "arena": every tensor of the inference lives there
    offset: int = 0


@dataclass
class Buffer:
    size: int
    first: int
    last: int
    tensors: list = field(default_factory=list)  # tensor indices sharing these bytes
    at: dict = field(default_factory=dict)  # tensor index -> its start within the buffer, where not 0
    scratch_of: int | None = None  # op index, for kernel scratch
    offset: int = 0


@dataclass
class Plan:
    arena_bytes: int
    locations: dict  # tensor index -> Location
    scratch: dict  # op index -> (offset, bytes)
    inplace: set  # op indices running in place
    kernels: dict  # op index -> {isa: KernelPlan} (the ISAs the library is generated for)
    aliased: set  # alias op indices that need no code
    buffers: list  # the arena buffers, placed
    strategy: str = ""
    io: dict = field(default_factory=dict)  # tensor index -> ("input" / "output", k): at model input (output) k's bytes
    overlapped: frozenset = frozenset()  # op indices whose output starts before, and covers part of, their input


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _whole(t):
    """The tensor whose bytes t is: itself, or for a view (rows of it, codegen.lower.patches) the whole."""
    return t.view[0] if t.view else t


def _overlap(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def place(buffers: list, order: list) -> int:
    """Greedy: each buffer (in `order`) takes the lowest gap that no time-overlapping placed buffer uses."""
    placed = []
    peak = 0
    for buf in order:
        offset = 0
        for other in sorted((b for b in placed if _overlap(b, buf)), key=lambda b: b.offset):
            if offset + buf.size <= other.offset:
                break
            offset = max(offset, other.offset + other.size)
        buf.offset = offset
        placed.append(buf)
        peak = max(peak, offset + buf.size)
    return peak


ORDERINGS = {
    "size": lambda b: (-b.size, b.first),
    "first-use": lambda b: (b.first, -b.size),
    "last-use": lambda b: (-b.last, -b.size),
    "lifetime": lambda b: (-(b.last - b.first), -b.size),
    "area": lambda b: (-b.size * (b.last - b.first + 1), b.first),
}


def best_placement(buffers: list, shuffles: int = 16) -> tuple[int, str]:
    """Try the fixed orderings and a few seeded shuffles; keep the smallest arena (ties: first tried)."""
    candidates = [(name, sorted(buffers, key=key)) for name, key in ORDERINGS.items()]
    rng = random.Random(0)
    for i in range(shuffles if len(buffers) > 2 else 0):
        order = buffers[:]
        rng.shuffle(order)
        candidates.append((f"shuffle-{i}", order))
    best = None
    for name, order in candidates:
        peak = place(buffers, order)
        if best is None or peak < best[0]:
            best = (peak, name, [b.offset for b in buffers])
    peak, name, offsets = best
    for buf, off in zip(buffers, offsets):
        buf.offset = off
    return peak, name


def plan(graph, op_def, reference: bool = False, kernel_plans=None, overlaps: bool = True) -> Plan:
    """op_def(kind) -> codegen.ops.OpDef (its inplace/alias/overlap hooks) or None; kernel_plans(op, inplace)
    -> {isa: KernelPlan}: a layer's scratch is the most any of its plans needs (a portable library holds
    every ISA's kernel in one arena layout); by default the portable library's plans. Overlapping an output
    over its input is chosen layer by layer, in order: a layer overlaps only where that makes the arena
    smaller than without (a merged buffer lives as long as both tensors, which can cost more than it saves).
    overlaps False: no layer overlaps (one placement, for comparing many candidate graphs quickly)."""
    best = _plan(graph, op_def, reference, kernel_plans, frozenset())
    if graph.overlay:  # a banded chain's output over the model input (codegen.lower.patches): the quick
        first = next(op.index for op in graph.ops if _whole(op.outputs[0]) is graph.overlay[1])  # estimate too
        trial = _plan(graph, op_def, reference, kernel_plans, frozenset({first}))
        if trial.arena_bytes < best.arena_bytes or not overlaps:
            best = trial
    apart = frozenset()  # in-place layers whose output gets a buffer of its own
    for op in graph.ops if overlaps else ():  # without: a quick first estimate
        em = op_def(op.kind)
        trials = []
        if em is not None and em.overlap is not None and not reference:
            trials.append((best.overlapped | {op.index}, apart))
        # in place, a smaller output keeps its input's whole buffer alive as long as the output lives
        if op.index in best.inplace and op.outputs[0].nbytes < op.inputs[0].nbytes:  # (never a view: views are not in place)
            trials.append((best.overlapped, apart | {op.index}))
        for overlap, apart_ in trials:
            trial = _plan(graph, op_def, reference, kernel_plans, overlap, apart_)
            if trial.arena_bytes < best.arena_bytes:
                best, apart = trial, apart_
    return best


def _write_over(owner: dict, buf: Buffer, y, gap: int, last: int) -> None:
    """Tensor y starts `gap` bytes before buf's tensors, in one buffer with them."""
    buf.at = {i: gap + buf.at.get(i, 0) for i in buf.tensors}
    buf.size = max(gap + buf.size, y.nbytes)
    buf.tensors.append(y.index)
    buf.last = max(buf.last, last)
    owner[y.index] = buf


def _plan(graph, op_def, reference, kernel_plans, overlap: frozenset, apart: frozenset = frozenset()) -> Plan:
    """The plan in which the layers in `overlap` may write their output over their input, and those in
    `apart` do not run in place."""
    if kernel_plans is None:
        from codegen.ops.kernel_plan import ISAS
        from codegen.ops import plan_kernel

        def kernel_plans(op, inplace):
            return {isa: plan_kernel(op, isa, reference, inplace, alone=False) for isa in ISAS}
    ops = graph.ops
    outs = {t.index for t in graph.outputs}
    end = len(ops)
    owner = {}  # tensor index -> Buffer
    locations = {}
    last_read = {}
    for op in ops:
        for t in op.inputs:  # state (variable tensors) lives outside the arena, in NAME_state
            if t is not None and not t.is_const and not t.variable:
                last_read[_whole(t).index] = op.index
    for i in outs:
        last_read[i] = end

    def new_buffer(t, op_index):
        buf = Buffer(size=t.nbytes, first=op_index, last=max(op_index, last_read.get(t.index, op_index)), tensors=[t.index])
        owner[t.index] = buf
        return buf

    # the model's inputs are written before the first layer (index -1); a constant output is copied then
    buffers = [new_buffer(t, -1) for t in graph.inputs if t.index not in owner]
    buffers += [new_buffer(t, -1) for t in graph.outputs if t.is_const and t.index not in owner]
    aliased, inplace, overlapped, scratch_bufs, kernels = set(), set(), set(), {}, {}
    for op in ops:
        em = op_def(op.kind)
        x = op.inputs[0] if op.inputs else None
        y = op.outputs[0]
        if (x is not None and x.view) or y.view:  # rows of a whole tensor (patches): no sharing but its bytes
            em = None
        # the output gets a buffer of its own (it may still overlap dead tensors): written in place or as
        # an alias, its producers would write through NAME_run's output pointer, which costs them instructions
        if (em is not None and em.alias and x is not None and not x.is_const and x.index in owner
                and y.index not in owner and y.index not in outs and x.index not in outs):
            buf = owner[x.index]
            buf.tensors.append(y.index)
            buf.last = max(buf.last, last_read.get(y.index, op.index))
            owner[y.index] = buf
            aliased.add(op.index)
            continue
        one_image = x is None or not x.shape or x.shape[0] == 1  # a per-image kernel's images are not in place
        can_inplace = (em is not None and em.inplace is not None and x is not None and not x.is_const and one_image
                       and y.index not in owner and y.index not in outs and x.index in owner
                       and owner[x.index].last == op.index
                       and sum(t is x for t in op.inputs) == 1 and em.inplace(op) and not reference
                       and op.index not in apart)
        gap = (em.overlap(op) if op.index in overlap and em is not None and em.overlap is not None and not can_inplace and not reference
               and one_image
               and x is not None and not x.is_const and y.index not in owner and y.index not in outs
               and x.index in owner and owner[x.index].last == op.index and sum(t is x for t in op.inputs) == 1
               else None)
        if gap is not None and _align(gap) + owner[x.index].size < owner[x.index].size + y.nbytes:
            _write_over(owner, owner[x.index], y, _align(gap), last_read.get(y.index, op.index))
            overlapped.add(op.index)
        if op.index in overlap and graph.overlay and y.view and y.view[0] is graph.overlay[1]:
            model_in, whole, gap = graph.overlay  # the banded chain's output over the model input
            _write_over(owner, owner[model_in.index], whole, _align(gap), last_read.get(whole.index, op.index))
            overlapped.add(op.index)
        if can_inplace:  # the output from the input's first byte on
            _write_over(owner, owner[x.index], y, 0, last_read.get(y.index, op.index))
            inplace.add(op.index)
        for out in op.outputs:
            if _whole(out).index not in owner:  # a view's whole tensor lives from its first written rows on
                buffers.append(new_buffer(_whole(out), op.index))
        kernels[op.index] = kernel_plans(op, op.index in inplace)
        need = max(k.scratch for k in kernels[op.index].values())
        if need:
            scratch_bufs[op.index] = Buffer(size=need, first=op.index, last=op.index, scratch_of=op.index)
    for buf in buffers:
        buf.size = _align(buf.size)
    arena_bufs = buffers + list(scratch_bufs.values())
    for buf in scratch_bufs.values():
        buf.size = _align(buf.size)
    peak, strategy = best_placement(arena_bufs) if arena_bufs else (0, "empty")
    for buf in buffers:
        for i in buf.tensors:
            locations[i] = Location("arena", buf.offset + buf.at.get(i, 0))
    io = {}  # the tensors at a model output's bytes, then (where both) at an input's: (role, position)
    for role, tensors in (("output", graph.outputs), ("input", graph.inputs)):
        for k, t in enumerate(tensors):
            io.update({i: (role, k) for i in owner[t.index].tensors if locations[i].offset == locations[t.index].offset})
    return Plan(arena_bytes=peak, locations=locations,
                scratch={i: (b.offset, b.size) for i, b in scratch_bufs.items()},
                inplace=inplace, kernels=kernels, aliased=aliased, buffers=arena_bufs, strategy=strategy, io=io,
                overlapped=frozenset(overlapped))
