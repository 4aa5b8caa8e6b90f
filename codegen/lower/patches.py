"""Patch-based execution of a model's memory-heavy first layers (MCUNetV2's idea, without its recomputation):
the leading chain of CONV_2D / DEPTHWISE_CONV_2D layers runs row by row, full width, so the large early
feature maps never exist whole. Each intermediate output lives in a row buffer that holds only the rows its
next layer still reads; a step computes a few new rows of one layer, the deepest whose input rows are ready,
reading exactly the rows their windows need, with the step's own top padding (the bottom padding is the
step input's end, where the kernels clip their taps as at the tensor's). Each row is computed once and the
arithmetic is the layers' own, so the results are bit-exact with the unsplit model.

The split is a graph rewrite before the arena plan: steps read and write views (row ranges) of the model
input, the row buffers and the chain's whole output, which may lie over the model input's consumed rows."""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op, Tensor

PATCH_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D")
MIN_SAVING = 0.10  # auto: split only where the arena shrinks by at least this share
MODES = ("auto", "off")
ROW_STEPS = (1, 2, 4)  # auto's candidate rows per step: more rows, fewer kernel calls and moves, larger buffers


@dataclass(frozen=True)
class Patches:
    layers: tuple  # the model's layer indices that run row by row
    bands: int  # steps of the chain's last layer
    rows: int  # output rows per step (a layer's last step may have fewer)
    extra_macs: int  # over the chain's: 0, or fewer where a layer's last rows are read by nothing
    moved_bytes: int  # rows moved to their buffer's top per inference
    arena_whole: int  # the arena without patches
    arena_bytes: int

    def summary(self) -> dict:
        return {"layers": list(self.layers), "bands": self.bands, "band_rows": self.rows,
                "extra_macs": self.extra_macs, "moved_bytes": self.moved_bytes, "arena_whole": self.arena_whole,
                "arena_patched": self.arena_bytes}

    def line(self) -> str:
        return line(self.summary())


def line(summary: dict) -> str:
    """The one line mlc generate, build and inspect --plan give a split (Patches.summary)."""
    macs = f", {summary['extra_macs']:+,} MACs (rows no layer reads)" if summary["extra_macs"] else ""
    return (f"patches: layers {summary['layers'][0]}-{summary['layers'][-1]} row by row, {summary['band_rows']} output "
            f"row{'s' * (summary['band_rows'] > 1)} per step, each row computed once ({summary['moved_bytes']:,} B of rows moved{macs}); arena "
            f"{summary['arena_whole']:,} -> {summary['arena_patched']:,} B")


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


def _steps(chain, rows: int) -> list:
    """The chain's schedule, (op, first row, end row) in execution order: each step computes `rows` more output
    rows of one op (fewer at its end), the deepest op whose inputs are ready first, so each intermediate holds
    only the rows its next op still reads. An op computes only the rows the next op reads."""
    n = len(chain)
    need = [_input_rows(chain[i + 1], 0, chain[i + 1].outputs[0].shape[1])[1] for i in range(n - 1)]
    need.append(chain[-1].outputs[0].shape[1])
    done, steps = [0] * n, []
    while done[-1] < need[-1]:
        for i in range(n - 1, -1, -1):
            lo, hi = done[i], min(need[i], done[i] + rows)
            if lo < hi and (i == 0 or _input_rows(chain[i], lo, hi)[1] <= done[i - 1]):
                steps.append((i, lo, hi))
                done[i] = hi
                break
    return steps


def split(graph, n: int, rows: int, definition) -> tuple[Graph, int]:
    """The graph with its first n ops (leading_chain) run row by row, `rows` output rows per step (the
    schedule of _steps), and the MACs that adds over the chain's (none, or fewer where an op's last rows are
    read by nothing: each row is computed once). Each intermediate output lives in a row buffer of its own
    that holds the rows its next op still reads: before a step writes new rows there, the rows still to be
    read move to the buffer's top (graph.moves). Ops are renumbered in execution order; graph.origin maps
    each op that writes a whole tensor of the model to its layer index there."""
    chain = graph.ops[:n]
    steps = _steps(chain, rows)
    tensors = list(graph.tensors)
    ops, origin, bands_of, moves = [], {}, {}, {}

    fresh = itertools.count(max(t.index for t in tensors) + 1)  # past every index the graph uses (not contiguous)

    def tensor(make):
        t = make(next(fresh))
        tensors.append(t)
        return t

    # the buffers' tops (the first row each holds) as the schedule runs: a step of op i moves buffer i's top to
    # the first row op i+1 reads next (or to the step's first row, where op i+1 skips the rows between)
    done, tops, spans = [0] * n, [0] * n, [0] * n
    schedule = []
    for i, lo, hi in steps:
        top = tops[i]
        if i < n - 1:
            nxt = done[i + 1]
            top = min(lo, _input_rows(chain[i + 1], nxt, nxt + 1)[0])
            spans[i] = max(spans[i], hi - top)
        schedule.append((i, lo, hi, tops[i], top, tops[i - 1] if i else 0))
        tops[i], done[i] = top, hi
    buffers = [tensor(lambda k: Tensor(k, f"{op.outputs[0].name} row buffer", (1, spans[i]) + tuple(op.outputs[0].shape[2:]),
                                       op.outputs[0].dtype, op.outputs[0].quant))
               for i, op in enumerate(chain[:-1])]
    counts = [sum(1 for s in steps if s[0] == i) for i in range(n)]
    seen = [0] * n
    for i, lo, hi, old_top, top, in_top in schedule:
        op = chain[i]
        a, a_end = _input_rows(op, lo, hi)
        source, at = (op.inputs[0], a) if i == 0 else (buffers[i - 1], a - in_top)
        x = tensor(lambda k: _rows_view(source, at, at + a_end - a, k))
        whole, at = (op.outputs[0], lo) if i == n - 1 else (buffers[i], lo - top)
        y = tensor(lambda k: _rows_view(whole, at, at + hi - lo, k))
        pad_h = op.params["pad_h"] - lo * op.params["stride_h"] + a
        options = {**op.options, "padding": "EXPLICIT", "explicit_padding": (pad_h, op.params["pad_w"])}
        band = Op(len(ops), op.kind, [x] + list(op.inputs[1:]), [y], options)
        d = definition(op.kind)
        band.params = d.derive(band)
        band.macs = int(d.macs(band))
        bands_of[band.index] = (op.index, seen[i], counts[i], lo, hi)
        seen[i] += 1
        if i < n - 1 and top > old_top and lo > top:  # rows [top, lo) are read again
            row = whole.nbytes // whole.shape[1]
            moves[band.index] = [(whole, (top - old_top) * row, (lo - top) * row)]
        if i == n - 1 and hi == chain[-1].outputs[0].shape[1]:
            origin[band.index] = op.index
        ops.append(band)
    overlay = _overlay(graph, chain, ops, bands_of)
    for op in graph.ops[n:]:
        moved = copy.copy(op)
        moved.index = len(ops)
        origin[moved.index] = op.index
        ops.append(moved)
    extra = sum(op.macs for op in ops[:len(ops) - len(graph.ops) + n]) - sum(op.macs for op in chain)
    patched = Graph(graph.name, graph.path, tensors, ops, graph.inputs, graph.outputs,
                    signature_names=graph.signature_names, origin=origin, bands=bands_of, moves=moves,
                    overlay=overlay)
    return patched, extra


def _overlay(graph, chain, ops, bands_of):
    """(model input, chain output, gap): the chain's whole output may start `gap` bytes before the input, in
    its bytes, because each band writes its output rows only over input rows no later band reads; None where
    the input is read by more than the chain or is a model output."""
    x, y = chain[0].inputs[0], chain[-1].outputs[0]
    if graph.consumers(x) != [chain[0]] or any(t is x or t is y for t in graph.outputs):
        return None
    y_row = y.nbytes // y.shape[1]
    gap = 0
    for k, op in enumerate(ops):
        if op.outputs[0].view[0] is y:
            later = next((o.inputs[0].view[1] for o in ops[k + 1:] if o.inputs[0].view[0] is x), None)
            if later is not None:
                gap = max(gap, bands_of[op.index][4] * y_row - later)
    return x, y, gap


def choose(graph, mode: str, definition, arena, estimate) -> tuple[Graph, Patches | None]:
    """mode "off": the graph as it is; "auto": the split (chain length, rows per step in ROW_STEPS) with the
    smallest arena (ties: fewest MACs, then fewest steps), where it is at least MIN_SAVING smaller than the
    whole graph's. arena(graph) -> its arena bytes; estimate(graph) -> a quicker upper bound (no overlapped
    layers) that ranks the candidates."""
    if mode not in MODES:
        raise MlcError(f"--patches {mode}: choose one of {', '.join(MODES)}")
    chain = leading_chain(graph)
    if mode == "off" or len(chain) < 2:
        return graph, None
    best = None
    for n in range(2, len(chain) + 1):
        for rows in ROW_STEPS:
            patched, extra = split(graph, n, rows, definition)
            key = (estimate(patched), extra, len(patched.ops))
            if best is None or key < best[0]:
                best = (key, n, rows, patched)
    (_, extra, _), n, rows, patched = best
    whole, bytes_ = arena(graph), arena(patched)
    if bytes_ > (1 - MIN_SAVING) * whole:
        return graph, None
    moved = sum(count for moves in patched.moves.values() for _, _, count in moves)
    return patched, Patches(tuple(op.index for op in chain[:n]), -(-chain[n - 1].outputs[0].shape[1] // rows), rows,
                            extra, moved, whole, bytes_)
