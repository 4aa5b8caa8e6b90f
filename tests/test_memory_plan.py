"""The arena planner: live buffers never overlap, the multi-ordering search beats a single ordering,
in-place and aliasing decisions hold on the reference models."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.lower import memory_plan
from codegen.ops import definition
from codegen.lower.memory_plan import ORDERINGS, Buffer, best_placement, place
from codegen.ops import load
from paths import MODELS


def assert_no_live_overlap(buffers):
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


def lower_bound(buffers) -> int:
    """No plan can beat the largest total of simultaneously live sizes."""
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    return max(sum(b.size for b in buffers if b.first <= t <= b.last) for t in steps)


buffer_lists = st.lists(st.tuples(st.integers(1, 64).map(lambda n: n * 4), st.integers(0, 12), st.integers(0, 4)),
                        min_size=1, max_size=14).map(
    lambda xs: [Buffer(size=s, first=f, last=f + d) for s, f, d in xs])


@settings(max_examples=60, deadline=None)
@given(buffer_lists)
def test_placement_never_overlaps_live_buffers(buffers):
    peak, _ = best_placement(buffers)
    assert_no_live_overlap(buffers)
    assert peak == max(b.offset + b.size for b in buffers) >= lower_bound(buffers)
    for key in ORDERINGS.values():  # the search is at least as good as every single ordering
        trial = [Buffer(b.size, b.first, b.last) for b in buffers]
        assert peak <= place(trial, sorted(trial, key=key))


def test_search_beats_size_order():
    """Size-first greedy (TFLM's order) leaves a hole here that another ordering avoids."""
    buffers = [Buffer(40, 0, 1), Buffer(32, 1, 2), Buffer(24, 2, 3), Buffer(48, 3, 4), Buffer(16, 0, 4)]
    by_size = place([Buffer(b.size, b.first, b.last) for b in buffers],
                    sorted([Buffer(b.size, b.first, b.last) for b in buffers], key=ORDERINGS["size"]))
    peak, strategy = best_placement(buffers)
    assert_no_live_overlap(buffers)
    assert peak == lower_bound(buffers) < by_size, (peak, by_size, strategy)


@pytest.mark.parametrize("model", ["hello_world_int8", "micro_speech_quantized", "kws_ref_model", "ad01_int8"])
def test_reference_model_plans(model):
    graph = load(MODELS / f"{model}.tflite")
    plan = memory_plan.plan(graph, definition)
    assert_no_live_overlap(plan.buffers)
    assert plan.arena_bytes == max((b.offset + b.size for b in plan.buffers), default=0)
    for op in graph.ops:  # every tensor an op touches has a home in the arena, the model's input and output too
        for t in [*op.inputs, *op.outputs]:
            if t is not None and not t.is_const:
                assert plan.locations[t.index].base == "arena"
                assert plan.locations[t.index].offset + t.nbytes <= plan.arena_bytes
    (x,), (y,) = graph.inputs, graph.outputs
    assert plan.io[x.index] == ("input", 0) and plan.io[y.index] == ("output", 0)
    out_buf = next(b for b in plan.buffers if y.index in b.tensors)
    assert out_buf.last == len(graph.ops)  # the output stays until the caller has read it
    reshapes = {op.index for op in graph.ops if op.kind == "RESHAPE"}
    assert plan.aliased == reshapes  # zero-copy
    if model == "kws_ref_model":  # every depthwise, 1x1 conv and the pooling after the first layer
        assert plan.inplace == {1, 2, 3, 4, 5, 6, 7, 8, 9}
        # one tensor + the depthwise ring of 3 padded rows of one block of 32 channels (of 64); the input
        # inside the first layer's output
        assert plan.arena_bytes == 25 * 5 * 64 + 3 * 7 * 32
        assert plan.locations[x.index].offset + x.nbytes <= 25 * 5 * 64


def test_reference_kernels_never_in_place():
    graph = load(MODELS / "kws_ref_model.tflite")
    plan = memory_plan.plan(graph, definition, reference=True)
    assert plan.inplace == set() and plan.scratch == {}
    assert_no_live_overlap(plan.buffers)


def test_input_and_output_are_planned_in_the_arena():
    """hello_world: input and output fit beside the two 16-byte hidden tensors (arena 32, TFLM's head);
    micro_speech: the first depthwise layer's output starts before its input and overlaps it, but no output
    row covers an input row the kernel has not yet copied into its ring."""
    hello = load(MODELS / "hello_world_int8.tflite")
    assert memory_plan.plan(hello, definition).arena_bytes == 32
    graph = load(MODELS / "micro_speech_quantized.tflite")
    plan = memory_plan.plan(graph, definition)
    op = next(op for op in graph.ops if op.kind == "DEPTHWISE_CONV_2D")
    x, y = op.inputs[0], op.outputs[0]
    at_x, at_y = plan.locations[x.index].offset, plan.locations[y.index].offset
    assert at_y < at_x < at_y + y.nbytes  # overlapping
    _, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    k_h, s_h, p_h = op.inputs[1].shape[1], op.params["stride_h"], op.params["pad_h"]
    for oy in range(out_h):
        copied = min(in_h, oy * s_h - p_h + k_h)
        if copied < in_h:
            assert at_y + (oy + 1) * out_w * out_c <= at_x + copied * in_w * in_c
    assert plan.arena_bytes == 4460  # the output, the ring; the input inside the output's span


def test_smaller_output_in_place_only_where_it_pays(tmp_path):
    """x (1,024 B) -> 1x1 conv a (256 B, read again by the ADD at the end) -> 1x1 b (1,024 B) -> 1x1 c (256 B)
    -> ADD(a, c). Run in place, a would keep x's 1,024 B buffer alive until the ADD, beside b's; in a buffer
    of its own the arena is the most that is ever live (x + a, then a + b, with the output and scratch)."""
    import numpy as np
    from tflite_builder import ModelBuilder, quantize_symmetric

    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.input([1, 8, 8, 16], 0.05, 3)

    def pointwise(t, cout):
        wq, ws = quantize_symmetric(rng.standard_normal([cout, 1, 1, t.shape[3]]), axis=0)
        bias = b.bias(np.zeros(cout), t.scale * ws)
        return b.conv_2d(t, b.const_int8(wq, ws, axis=0), bias, 0.1, 0)
    a = pointwise(x, 4)
    c = pointwise(pointwise(a, 16), 4)
    b.output(b.add(a, c, 0.2, 0))
    path = tmp_path / "pointwise.tflite"
    path.write_bytes(b.finish())
    graph = load(path)
    plan = memory_plan.plan(graph, definition)
    assert_no_live_overlap(plan.buffers)
    every_in_place = memory_plan._plan(graph, definition, False, None, frozenset())
    assert 0 in every_in_place.inplace and 0 not in plan.inplace and 2 in plan.inplace
    assert plan.arena_bytes == lower_bound(plan.buffers) <= every_in_place.arena_bytes - 768
