"""Graph rewrites done once at import: constant folding, dense and dilated-convolution recovery.

TensorFlow's converter emits SHAPE -> STRIDED_SLICE -> PACK in front of RESHAPE for a Keras Flatten
with a dynamic batch (and SHAPE -> GATHER -> REDUCE_PROD for a Dense on a rank-3 input, around
RESHAPE -> FULLY_CONNECTED -> RESHAPE), and SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND for a
dilated convolution. With static shapes the shape arithmetic is a constant, the dense is one
FULLY_CONNECTED with keep_num_dims, and the convolution is one dilated convolution. SPLIT, SPLIT_V
and UNPACK become one SLICE per output.
"""
from __future__ import annotations

import numpy as np

from codegen.errors import MlcError
from codegen.model.ir import Graph, Op, Tensor


def _strided_slice(op: Op, x, begin, end, strides):
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
        raise MlcError(f"layer {op.index} (STRIDED_SLICE): ellipsis and new-axis masks are not supported")
    index = []
    for axis in range(len(begin)):
        if (o.get("shrink_axis_mask", 0) >> axis) & 1:
            index.append(int(begin[axis]))
            continue
        b = None if (o.get("begin_mask", 0) >> axis) & 1 else int(begin[axis])
        e = None if (o.get("end_mask", 0) >> axis) & 1 else int(end[axis])
        index.append(slice(b, e, int(strides[axis])))
    return np.asarray(x[tuple(index)])


# Evaluators for ops whose inputs are all known at import time.
_CONSTANT = {
    "SHAPE": lambda op, x: np.array(op.inputs[0].shape, dtype=np.int32),
    "STRIDED_SLICE": lambda op, x, b, e, s: _strided_slice(op, x, b, e, s),
    "PACK": lambda op, *xs: np.stack(xs, axis=op.options.get("axis", 0)),
    "CONCATENATION": lambda op, *xs: np.concatenate(xs, axis=op.options.get("axis", 0)) if op.inputs[0].dtype == "int32" else None,
    "RESHAPE": lambda op, x, *shape: x.reshape(op.outputs[0].shape) if op.inputs[0].dtype == "int32" else None,
    "GATHER": lambda op, x, i: np.take(x, i, axis=op.options.get("axis", 0)) if not op.options.get("batch_dims") else None,
    "REDUCE_PROD": lambda op, x, axes: np.prod(x, axis=tuple(np.ravel(axes)), keepdims=bool(op.options.get("keep_dims"))),
    # a constant FILL is the bytes TFLM's FILL writes (TFLM itself refuses the dims a dynamic-batch SHAPE gives)
    "FILL": lambda op, dims, value: np.full(np.ravel(dims), value) if np.ndim(value) == 0 else None,
}


def _fold_constants(graph: Graph) -> None:
    kept = []
    for op in graph.ops:
        fn = _CONSTANT.get(op.kind)
        known = all(t is None or t.is_const for t in op.inputs)
        if fn is not None and (op.kind == "SHAPE" or known) and not any(t is o for o in op.outputs for t in graph.outputs):
            try:
                value = fn(op, *[t.data if t is not None else None for t in op.inputs])
                if value is not None:  # its shape is the truth (dynamic-batch models carry stale static ones)
                    out = op.outputs[0]
                    out.data = np.asarray(value).astype(out.dtype)
                    out.shape = out.data.shape
                    continue
            except (TypeError, ValueError, IndexError) as err:  # wrong arity or shapes: a malformed layer
                raise MlcError(f"layer {op.index} ({op.kind}) cannot be evaluated at import: {err}") from None
        kept.append(op)
    graph.ops = kept


def _single_consumer(graph: Graph, tensor):
    users = graph.consumers(tensor)
    return users[0] if len(users) == 1 and tensor not in graph.outputs else None


def _well_formed(op: Op, inputs: int) -> bool:
    """One output and the first `inputs` inputs present: malformed layers are left for codegen.ops to refuse."""
    return len(op.outputs) == 1 and len(op.inputs) >= inputs and all(t is not None for t in op.inputs[:inputs])


def _fold_flattened_dense(graph: Graph) -> None:
    """RESHAPE(x to rows of depth) -> FULLY_CONNECTED -> RESHAPE(to (*x.shape[:-1], units)), as a Keras
    Dense on a rank-3+ input converts, is one FULLY_CONNECTED with keep_num_dims on x itself."""
    removed = set()
    for fc in [op for op in graph.ops if op.kind == "FULLY_CONNECTED" and _well_formed(op, 2)]:
        flatten = next((op for op in graph.ops if op.kind == "RESHAPE" and _well_formed(op, 1)
                        and op.outputs[0] is fc.inputs[0]), None)
        restore = _single_consumer(graph, fc.outputs[0])
        if flatten is None or _single_consumer(graph, fc.inputs[0]) is not fc or restore is None \
                or restore.kind != "RESHAPE" or not _well_formed(restore, 1):
            continue
        x, target, weights = flatten.inputs[0], restore.outputs[0], fc.inputs[1]
        if len(weights.shape) != 2 or len(x.shape) < 3 or x.shape[-1] != weights.shape[1]:
            continue
        if tuple(target.shape) != (*x.shape[:-1], weights.shape[0]):
            continue
        fc.inputs[0], fc.outputs[0] = x, target
        fc.options["keep_num_dims"] = True
        removed.update((id(flatten), id(restore)))
    graph.ops = [op for op in graph.ops if id(op) not in removed]


def _remove_dead_ops(graph: Graph) -> None:
    """Ops whose results nothing reads (shape arithmetic left behind by the rewrites)."""
    while True:
        read = {id(t) for op in graph.ops for t in op.inputs if t is not None} | {id(t) for t in graph.outputs}
        live = [op for op in graph.ops if any(id(t) in read for t in op.outputs)]
        if len(live) == len(graph.ops):
            return
        graph.ops = live


def _dilated_chain(graph: Graph, s2b: Op):
    """SPACE_TO_BATCH_ND -> [EXPAND_DIMS] -> conv -> [RESHAPE | SQUEEZE] -> BATCH_TO_SPACE_ND (a Conv1D
    brings the optional pair) as (expand, conv, squeeze, b2s), or None."""
    nxt = _single_consumer(graph, s2b.outputs[0])
    expand = nxt if nxt is not None and nxt.kind == "EXPAND_DIMS" and _well_formed(nxt, 2) else None
    conv = _single_consumer(graph, expand.outputs[0]) if expand else nxt
    if conv is None or conv.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D") or not _well_formed(conv, 2):
        return None
    nxt = _single_consumer(graph, conv.outputs[0])
    squeeze = nxt if expand and nxt is not None and nxt.kind in ("RESHAPE", "SQUEEZE") and _well_formed(nxt, 1) else None
    b2s = _single_consumer(graph, squeeze.outputs[0]) if squeeze else nxt
    if b2s is None or b2s.kind != "BATCH_TO_SPACE_ND" or not _well_formed(b2s, 3) or (expand is None) != (squeeze is None):
        return None
    return expand, conv, squeeze, b2s


def _fold_dilated_convs(graph: Graph) -> None:
    """SPACE_TO_BATCH_ND(block, pads) -> conv(stride 1) -> BATCH_TO_SPACE_ND(block, crops) == dilated conv.
    The padded, split input seen with stride 1 is the original seen with dilation `block`; the crops
    move the window start, so the conv keeps explicit leading pads of pads - crops (+ its own SAME pad)."""
    removed = set()
    for s2b in [op for op in graph.ops if op.kind == "SPACE_TO_BATCH_ND" and _well_formed(op, 3)]:
        chain = _dilated_chain(graph, s2b)
        if chain is None or not all(t.is_const for t in s2b.inputs[1:] + chain[3].inputs[1:]):
            continue
        expand, conv, squeeze, b2s = chain
        block = s2b.inputs[1].data.ravel()
        pads, crops = s2b.inputs[2].data.reshape(-1, 2), b2s.inputs[2].data.reshape(-1, 2)
        if not np.array_equal(block, b2s.inputs[1].data.ravel()) or len(pads) != len(block) or len(crops) != len(block):
            continue
        if expand is None and len(block) == 2:
            spatial = [0, 1]  # conv axes (H, W) that the block's axes map to
        elif expand is not None and len(block) == 1 and expand.inputs[1].is_const:
            inserted = int(expand.inputs[1].data.ravel()[0]) % (len(s2b.inputs[0].shape) + 1)
            if inserted not in (1, 2):  # the new axis must be H or W of the conv
                continue
            spatial = [2 - inserted]  # the sequence sits on the other spatial axis
        else:
            continue
        o = conv.options
        if (o.get("stride_h", 1), o.get("stride_w", 1), o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)) != (1, 1, 1, 1):
            continue
        kernel = conv.inputs[1].shape[1:3]
        dilation, explicit = [1, 1], [0, 0]
        for i, axis in enumerate(spatial):
            inner = (kernel[axis] - 1) // 2 if o.get("padding") == "SAME" else 0
            dilation[axis] = int(block[i])
            explicit[axis] = int(pads[i][0] + inner * block[i] - crops[i][0])
        if min(explicit) < 0:
            continue
        x, out = s2b.inputs[0], b2s.outputs[0]
        if expand is None:
            conv.inputs[0], conv.outputs[0] = x, out
        else:  # the Conv1D's 4-D views get the un-split shapes
            expand.inputs[0] = x
            expand.outputs[0].shape = tuple(int(d) for d in np.insert(x.shape, inserted, 1))
            conv.outputs[0].shape = tuple(int(d) for d in np.insert(out.shape, inserted, 1))
            squeeze.outputs[0] = out
        o.update(dilation_h_factor=dilation[0], dilation_w_factor=dilation[1], padding="EXPLICIT",
                 explicit_padding=tuple(explicit))
        removed.update((id(s2b), id(b2s)))
    graph.ops = [op for op in graph.ops if id(op) not in removed]


def _const_int(op, tensor):
    return None if tensor is None or not tensor.is_const or tensor.dtype not in ("int32", "int64") else tensor.data.ravel()


SPLITS = ("SPLIT", "SPLIT_V", "UNPACK")  # rewritten by _split_into_slices (the README's op table names them)


def _split_parts(op: Op):
    """(input, [(begin, size) per output]) of a SPLIT, SPLIT_V or UNPACK whose split is known, else None."""
    if op.kind == "SPLIT" and len(op.inputs) == 2:
        axis, x = _const_int(op, op.inputs[0]), op.inputs[1]
    elif op.kind == "SPLIT_V" and len(op.inputs) == 3:
        x, sizes, axis = op.inputs[0], _const_int(op, op.inputs[1]), _const_int(op, op.inputs[2])
    elif op.kind == "UNPACK" and len(op.inputs) == 1:
        x, axis = op.inputs[0], np.array([op.options.get("axis", 0)])
    else:
        return None
    if x is None or x.is_const or axis is None or axis.size != 1 or not op.outputs:
        return None
    rank = len(x.shape)
    a = int(axis[0]) + (rank if int(axis[0]) < 0 else 0)
    if not 0 <= a < rank:
        return None
    n = len(op.outputs)
    if op.kind == "SPLIT_V":
        if sizes is None or len(sizes) != n:
            return None
        sizes = [int(v) for v in sizes]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = x.shape[a] - (sum(sizes) + 1)
    else:
        sizes = [x.shape[a] // n] * n
    if sum(sizes) != x.shape[a] or min(sizes) < 0:
        return None
    parts, start = [], 0
    for size in sizes:
        begin = [start if d == a else 0 for d in range(rank)]
        parts.append((begin, [size if d == a else -1 for d in range(rank)]))
        start += size
    return x, parts


def _split_into_slices(graph: Graph) -> None:
    """SPLIT, SPLIT_V and UNPACK write several outputs; each output is one SLICE of the input (the same
    bytes: TFLM's kernels copy them unchanged), so every layer keeps one output. The first slice keeps
    the layer's index, the others take the next ones and the layers after move up: layer indices stay
    increasing in graph order (the memory plan's lifetimes count in them)."""
    ops = []
    for op in graph.ops:
        split = _split_parts(op)
        if split is None:
            ops.append(op)
            continue
        x, parts = split
        for j, (out, (begin, size)) in enumerate(zip(op.outputs, parts)):
            consts = []
            for what, values in (("begin", begin), ("size", size)):
                t = Tensor(index=len(graph.tensors), name=f"{out.name}/{what}", shape=(len(values),), dtype="int32",
                           data=np.array(values, np.int32))
                graph.tensors.append(t)
                consts.append(t)
            ops.append(Op(index=op.index, kind="SLICE", inputs=[x, *consts], outputs=[out], options={"split_of": op.kind}))
    last = -1
    for op in ops:
        op.index = max(op.index, last + 1)
        last = op.index
    graph.ops = ops


def fold(graph: Graph) -> None:
    _fold_constants(graph)
    _split_into_slices(graph)
    _fold_flattened_dense(graph)
    _fold_dilated_convs(graph)
    _remove_dead_ops(graph)
    live = {id(t) for op in graph.ops for t in op.inputs + op.outputs if t is not None}
    live |= {id(t) for t in graph.inputs + graph.outputs}
    graph.tensors = [t for t in graph.tensors if id(t) in live]
