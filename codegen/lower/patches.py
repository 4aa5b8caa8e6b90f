"""Patch-based execution (MCUNetV2) of a model's memory-heavy first layers: the leading chain of CONV_2D /
DEPTHWISE_CONV_2D layers runs band by band (full width, a band of the chain's last output rows at a time),
so the large early feature maps never exist whole. Each band's layers read exactly the rows their outputs'
receptive field needs (neighbouring bands recompute the overlap), with that band's own top padding; the
bottom padding is the band input's end, where the kernels clip their taps as at the tensor's. The
arithmetic is the layers' own, so the results are bit-exact with the unsplit model.

The split is a graph rewrite before the arena plan: band tensors are ordinary tensors; the first layer
reads a view (a row range) of the model input and the last writes a view of the chain's whole output."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op, Tensor

PATCH_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D")
MIN_SAVING = 0.10  # auto: split only where the arena shrinks by at least this share
MODES = ("auto", "off")


@dataclass(frozen=True)
class Patches:
    layers: tuple  # the model's layer indices that run in bands
    bands: int
    rows: int  # output rows of the chain's last layer per band (the last band may have fewer)
    extra_macs: int  # the recomputed overlap
    arena_whole: int  # the arena without patches
    arena_bytes: int

    def summary(self) -> dict:
        return {"layers": list(self.layers), "bands": self.bands, "band_rows": self.rows,
                "extra_macs": self.extra_macs, "arena_whole": self.arena_whole, "arena_patched": self.arena_bytes}

    def line(self) -> str:
        return (f"patches: layers {self.layers[0]}-{self.layers[-1]} in {self.bands} bands of {self.rows} output rows, "
                f"+{self.extra_macs:,} MACs recomputed; arena {self.arena_whole:,} -> {self.arena_bytes:,} B")


def leading_chain(graph) -> list:
    """The ops from the first on, each reading only the previous one's output (read by nothing else),
    that may run in bands: int8 CONV_2D / DEPTHWISE_CONV_2D on 4-D tensors."""
    chain, x = [], None
    for op in graph.ops:
        if op.kind not in PATCH_KINDS or op.inputs[0].dtype != "int8" or len(op.inputs[0].shape) != 4:
            break
        if chain and (op.inputs[0] is not x or graph.consumers(x) != [op] or any(x is t for t in graph.outputs)):
            break
        if not chain and (not any(op.inputs[0] is t for t in graph.inputs) or op.inputs[0].shape[0] != 1):
            break
        if sum(t is op.inputs[0] for t in op.inputs) != 1:
            break
        chain.append(op)
        x = op.outputs[0]
    return chain


def _input_rows(op, lo: int, hi: int) -> tuple[int, int]:
    """The input rows [a, b) that output rows [lo, hi) of a sliding window read."""
    p = op.params
    k_h = op.inputs[1].shape[1]
    in_h = op.inputs[0].shape[1]
    a = lo * p["stride_h"] - p["pad_h"]
    b = (hi - 1) * p["stride_h"] - p["pad_h"] + (k_h - 1) * p["dilation_h"] + 1
    return max(0, a), min(in_h, b)


def _rows_view(t, a: int, b: int, index: int) -> Tensor:
    """Rows [a, b) of 4-D tensor t as a tensor of its own that lives in t's bytes."""
    row = t.nbytes // t.shape[1]
    return Tensor(index, f"{t.name} rows {a}-{b}", (1, b - a) + tuple(t.shape[2:]), t.dtype, t.quant,
                  view=(t, a * row))


def split(graph, n: int, rows: int, definition) -> tuple[Graph, int]:
    """The graph with its first n ops (leading_chain) run in bands of `rows` output rows of op n-1, and the
    MACs the bands add. Ops are renumbered in execution order; graph.origin maps each op that writes a
    whole tensor of the model to its layer index there."""
    chain = graph.ops[:n]
    out_h = chain[-1].outputs[0].shape[1]
    tensors = list(graph.tensors)
    ops, origin, bands_of = [], {}, {}

    def tensor(make):
        t = make(len(tensors))
        tensors.append(t)
        return t

    count = -(-out_h // rows)
    for b in range(count):
        ranges = [None] * n  # output rows of each chain op in this band
        ranges[-1] = (b * rows, min(out_h, (b + 1) * rows))
        for i in range(n - 1, 0, -1):
            ranges[i - 1] = _input_rows(chain[i], *ranges[i])
        x = None
        for i, op in enumerate(chain):
            lo, hi = ranges[i]
            a, a_end = _input_rows(op, lo, hi)
            if i == 0:
                x = tensor(lambda k: _rows_view(op.inputs[0], a, a_end, k))
            y0 = op.outputs[0]
            if i == n - 1:
                y = tensor(lambda k: _rows_view(y0, lo, hi, k))
            else:
                y = tensor(lambda k: Tensor(k, f"{y0.name} band {b}", (1, hi - lo) + tuple(y0.shape[2:]), y0.dtype, y0.quant))
            pad_h = op.params["pad_h"] - lo * op.params["stride_h"] + a
            options = {**op.options, "padding": "EXPLICIT", "explicit_padding": (pad_h, op.params["pad_w"])}
            band = Op(len(ops), op.kind, [x] + list(op.inputs[1:]), [y], options)
            d = definition(op.kind)
            band.params = d.derive(band)
            band.macs = int(d.macs(band))
            bands_of[band.index] = (op.index, b, count, lo, hi)
            if i == n - 1 and b == count - 1:
                origin[band.index] = op.index
            ops.append(band)
            x = y
    for op in graph.ops[n:]:
        moved = copy.copy(op)
        moved.index = len(ops)
        origin[moved.index] = op.index
        ops.append(moved)
    extra = sum(op.macs for op in ops[:len(ops) - len(graph.ops) + n]) - sum(op.macs for op in chain)
    patched = Graph(graph.name, graph.path, tensors, ops, graph.inputs, graph.outputs,
                    signature_names=graph.signature_names, origin=origin, bands=bands_of)
    return patched, extra


def choose(graph, mode: str, definition, arena, estimate) -> tuple[Graph, Patches | None]:
    """mode "off": the graph as it is; "auto": the split (chain length, band rows) with the smallest arena
    (ties: fewest recomputed MACs), where it is at least MIN_SAVING smaller than the whole graph's.
    arena(graph) -> its arena bytes; estimate(graph) -> a quicker upper bound (no overlapped layers) that
    ranks the candidates."""
    if mode not in MODES:
        raise MlcError(f"--patches {mode}: choose one of {', '.join(MODES)}")
    chain = leading_chain(graph)
    if mode == "off" or len(chain) < 2:
        return graph, None
    best = None
    for n in range(2, len(chain) + 1):
        out_h = chain[n - 1].outputs[0].shape[1]
        for rows in sorted({-(-out_h // count) for count in range(2, out_h + 1)}):
            patched, extra = split(graph, n, rows, definition)
            key = (estimate(patched), extra)
            if best is None or key < best[0]:
                best = (key, n, rows, patched)
    (_, extra), n, rows, patched = best
    whole, bytes_ = arena(graph), arena(patched)
    if bytes_ > (1 - MIN_SAVING) * whole:
        return graph, None
    return patched, Patches(tuple(op.index for op in chain[:n]), -(-chain[n - 1].outputs[0].shape[1] // rows), rows,
                            extra, whole, bytes_)
