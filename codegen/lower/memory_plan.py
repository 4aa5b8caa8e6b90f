"""Compile-time arena plan: every intermediate tensor and kernel scratch gets an offset in one arena.

Buffers come from tensors after two kinds of sharing: no-op layers (RESHAPE, ...) alias their output
onto their input (zero-copy), and layers whose kernel can run in place write their output over
input 0 when that input is not read afterwards. Each buffer lives from the layer that writes it to
the last layer that reads it; kernel scratch lives for its one layer. Placement is greedy
lowest-gap under several orderings; the smallest arena wins. The model's input and output tensors
are the caller's buffers and take no arena space.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

ALIGN = 4  # every buffer starts 4-byte aligned (int32 and float tensors, word loads)


@dataclass
class Location:
    base: str  # "input", "output" (the caller's buffers) or "arena"
    offset: int = 0


@dataclass
class Buffer:
    size: int
    first: int
    last: int
    tensors: list = field(default_factory=list)  # tensor indices sharing these bytes
    scratch_of: int | None = None  # op index, for kernel scratch
    offset: int = 0


@dataclass
class Plan:
    arena_bytes: int
    locations: dict  # tensor index -> Location
    scratch: dict  # op index -> (offset, bytes)
    inplace: set  # op indices running in place
    aliased: set  # alias op indices that need no code
    buffers: list  # the arena buffers, placed
    strategy: str = ""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


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


def plan(graph, op_def, reference: bool = False) -> Plan:
    """op_def(kind) -> codegen.ops.OpDef (its inplace/scratch/alias hooks) or None."""
    ops = graph.ops
    ins = {t.index for t in graph.inputs}
    outs = {t.index for t in graph.outputs}
    end = len(ops)
    owner = {}  # tensor index -> Buffer (caller's tensors get none)
    locations = {i: Location("input") for i in ins}
    locations.update({i: Location("output") for i in outs})
    last_read = {}
    for op in ops:
        for t in op.inputs:
            if t is not None and not t.is_const:
                last_read[t.index] = op.index
    for i in outs:
        last_read[i] = end

    def new_buffer(t, op_index):
        buf = Buffer(size=t.nbytes, first=op_index, last=max(op_index, last_read.get(t.index, op_index)), tensors=[t.index])
        owner[t.index] = buf
        return buf

    buffers, aliased, inplace, scratch_bufs = [], set(), set(), {}
    caller_alias = {}  # tensor index -> "input" for aliases of the (read-only) model input
    for op in ops:
        em = op_def(op.kind)
        x = op.inputs[0] if op.inputs else None
        y = op.outputs[0]
        if (em is not None and em.alias and x is not None and not x.is_const
                and y.index not in outs and x.index not in outs):
            if x.index in ins or x.index in caller_alias:
                caller_alias[y.index] = "input"
                locations[y.index] = Location("input")
            else:
                buf = owner[x.index]
                buf.tensors.append(y.index)
                buf.last = max(buf.last, last_read.get(y.index, op.index))
                owner[y.index] = buf
            aliased.add(op.index)
            continue
        can_inplace = (em is not None and em.inplace is not None and x is not None and not x.is_const
                       and y.index not in outs and x.index in owner and owner[x.index].last == op.index
                       and sum(t is x for t in op.inputs) == 1 and em.inplace(op) and not reference)
        if can_inplace:
            buf = owner[x.index]
            buf.size = max(buf.size, y.nbytes)
            buf.tensors.append(y.index)
            buf.last = max(buf.last, last_read.get(y.index, op.index))
            owner[y.index] = buf
            inplace.add(op.index)
        for out in op.outputs:
            if out.index not in owner and out.index not in outs:
                buffers.append(new_buffer(out, op.index))
        need = em.scratch(op, op.index in inplace, reference) if em is not None and em.scratch else 0
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
            locations[i] = Location("arena", buf.offset)
    return Plan(arena_bytes=peak, locations=locations,
                scratch={i: (b.offset, b.size) for i, b in scratch_bufs.items()},
                inplace=inplace, aliased=aliased, buffers=arena_bufs, strategy=strategy)
