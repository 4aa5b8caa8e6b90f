"""Patch-based execution (codegen.lower.patches): the leading layers run in row bands, the generated C equal
to hostsim byte for byte (host harness under ASan/UBSan; on emulated boards in test_firmware_verify.py)."""
from pathlib import Path

import numpy as np
import pytest

from c_harness import check_graph, check_model
from codegen.lower import patches as patching
from codegen.lower.generate import plan_model, render
from codegen.ops import definition, load
from paths import MODELS
from tflite_builder import ModelBuilder, quantize_symmetric

KERAS = Path(__file__).parent / "models" / "keras"
PATCHED = [MODELS / "person_detect.tflite", KERAS / "mobilenet_v2_like.tflite"]


@pytest.mark.parametrize("model", PATCHED, ids=lambda p: p.stem)
def test_patched_c_equals_hostsim(model, tmp_path):
    graph = load(model)
    _, banded, _ = plan_model(graph)
    assert banded is not None and banded.bands > 1, f"{model.stem}: auto should split it into patches"
    assert check_model(model, tmp_path, n=8) == 8


@pytest.mark.parametrize("model", PATCHED, ids=lambda p: p.stem)
def test_each_row_is_computed_once(model):
    """For each split: every chain layer's steps compute its rows from 0 on, each once and in order, up to
    the last its next layer reads; the last layer's steps write each row of its whole output once; every step
    reads and writes inside its tensors; a row move keeps rows of its own buffer; and the MACs are the
    chain's, less any rows no layer reads."""
    graph = load(model)
    chain = patching.leading_chain(graph)
    for n in (2, 3, len(chain) // 2):
        out = chain[n - 1].outputs[0]
        for rows in patching.ROW_STEPS:
            split, extra = patching.split(graph, n, rows, definition)
            done = {op.index: 0 for op in chain[:n]}
            band_macs = 0
            for op in split.ops:
                band = split.bands.get(op.index)
                if band is None:
                    continue
                layer, _, _, lo, hi = band
                assert lo == done[layer] and hi > lo
                done[layer] = hi
                band_macs += op.macs
                for t in (op.inputs[0], op.outputs[0]):
                    whole, offset = t.view
                    assert offset >= 0 and offset + t.nbytes <= whole.nbytes
                if op.outputs[0].view[0] is out:
                    assert op.outputs[0].view[1] == lo * (out.nbytes // out.shape[1])
                for buffer, start, count in split.moves.get(op.index, ()):
                    assert buffer is op.outputs[0].view[0] and start > 0 and start + count <= buffer.nbytes
            assert done[chain[n - 1].index] == out.shape[1]
            for i, op in enumerate(chain[:n - 1]):  # the rows the next layer reads, and no more
                nxt = chain[i + 1]
                assert done[op.index] == patching._input_rows(nxt, 0, nxt.outputs[0].shape[1])[1]
            assert extra == band_macs - sum(op.macs for op in chain[:n]) <= 0


def _chain_model(rng) -> bytes:
    """Strides, a dilation, VALID windows that leave input rows unread, a 1x1 and a 5x5: every way a row
    schedule can go wrong, then a layer after the chain."""
    b = ModelBuilder()
    x = b.input([1, 29, 19, 3], 0.03, -7)
    layers = [("conv", 5, 3, (2, 2), (1, 1), "SAME"), ("dw", None, 3, (1, 1), (2, 2), "SAME"),
              ("conv", 6, 1, (1, 1), (1, 1), "VALID"), ("dw", None, 5, (2, 1), (1, 1), "VALID"),
              ("conv", 4, 3, (1, 1), (1, 1), "VALID"), ("conv", 3, 2, (2, 2), (1, 1), "VALID")]
    for kind, cout, k, stride, dilation, padding in layers:
        cin = x.shape[3]
        cout = cout or cin
        shape = [cout, k, k, cin] if kind == "conv" else [1, k, k, cout]
        wq, ws = quantize_symmetric(rng.standard_normal(shape), axis=0 if kind == "conv" else 3)
        bias = b.bias(np.round(rng.standard_normal(cout) * 0.2 / (x.scale * ws)), x.scale * ws)
        scale = float(np.float32(x.scale * np.mean(ws) * 9 * np.sqrt(k * k * (cin if kind == "conv" else 1))))
        w = b.const_int8(wq, ws, axis=0 if kind == "conv" else 3)
        make = b.conv_2d if kind == "conv" else b.depthwise_conv_2d
        x = make(x, w, bias, scale, int(rng.integers(-20, 20)), stride=stride, dilation=dilation, padding=padding,
                 activation="RELU")
    b.output(x)
    return b.finish()


@pytest.mark.parametrize("n, rows", [(2, 1), (3, 2), (4, 1), (6, 1), (6, 4)])
def test_drawn_chain_c_equals_hostsim(n, rows, tmp_path, monkeypatch):
    """The C of a drawn chain run row by row, for several chain lengths and rows per step, equals hostsim's."""
    path = tmp_path / "chain.tflite"
    path.write_bytes(_chain_model(np.random.default_rng(n * 10 + rows)))
    graph = load(path)

    def forced(g, mode, definition, arena, estimate):
        split, extra = patching.split(g, n, rows, definition)
        return split, patching.Patches(tuple(range(n)), 1, rows, extra, 0, arena(g), arena(split))
    monkeypatch.setattr(patching, "choose", forced)
    assert check_graph(graph, tmp_path, n=20) == 20


def test_off_and_auto(tmp_path):
    graph = load(KERAS / "mobilenet_v2_like.tflite")
    files, on = render(graph, "m", [])
    _, off = render(graph, "m", [], patches="off")
    assert off.patches is None and on.patches.arena_whole == off.arena_bytes
    assert on.arena_bytes <= (1 - patching.MIN_SAVING) * off.arena_bytes
    assert on.macs == off.macs and on.patches.extra_macs == 0  # each row is computed once
    assert "(patches)" in files["m.c"] and "row by row" in files["m.c"] and "memmove(" in files["m.c"]
