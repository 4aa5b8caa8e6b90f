"""Patch-based execution (codegen.lower.patches): the leading layers run in row bands, the generated C equal
to hostsim byte for byte (host harness under ASan/UBSan; on emulated boards in test_firmware_verify.py)."""
from pathlib import Path

import numpy as np
import pytest

from c_harness import check_model
from codegen.lower import patches as patching
from codegen.lower.generate import plan_model, render
from codegen.ops import definition, load
from paths import MODELS

KERAS = Path(__file__).parent / "models" / "keras"
PATCHED = [MODELS / "person_detect.tflite", KERAS / "mobilenet_v2_like.tflite"]


@pytest.mark.parametrize("model", PATCHED, ids=lambda p: p.stem)
def test_patched_c_equals_hostsim(model, tmp_path):
    graph = load(model)
    _, banded, _ = plan_model(graph)
    assert banded is not None and banded.bands > 1, f"{model.stem}: auto should split it into patches"
    assert check_model(model, tmp_path, n=8) == 8


@pytest.mark.parametrize("model", PATCHED, ids=lambda p: p.stem)
def test_bands_write_every_output_row_once(model):
    """For each split: the chain's last layer's bands write each row of its whole output once, every band
    op reads inside its input, and the added MACs are the band ops' over the chain's."""
    graph = load(model)
    chain = patching.leading_chain(graph)
    n = min(3, len(chain))
    out = chain[n - 1].outputs[0]
    for rows in (1, 2, out.shape[1] // 2 + 1):
        split, extra = patching.split(graph, n, rows, definition)
        written = np.zeros(out.shape[1], int)
        band_macs = 0
        for op in split.ops:
            band = split.bands.get(op.index)
            if band is None:
                continue
            band_macs += op.macs
            x, y = op.inputs[0], op.outputs[0]
            if x.view:
                whole, offset = x.view
                assert offset + x.nbytes <= whole.nbytes
            if y.view:
                assert y.view[0] is out
                start = y.view[1] // (out.nbytes // out.shape[1])
                written[start:start + y.shape[1]] += 1
        assert (written == 1).all()
        assert extra == band_macs - sum(op.macs for op in chain[:n]) and (rows >= out.shape[1] or extra > 0)
        assert len(split.ops) == len(graph.ops) - n + n * -(-out.shape[1] // rows)


def test_off_and_auto(tmp_path):
    graph = load(KERAS / "mobilenet_v2_like.tflite")
    files, on = render(graph, "m", [])
    _, off = render(graph, "m", [], patches="off")
    assert off.patches is None and on.patches.arena_whole == off.arena_bytes
    assert on.arena_bytes <= (1 - patching.MIN_SAVING) * off.arena_bytes
    assert on.macs == off.macs  # the model's; the recomputed ones are reported apart
    assert "(patches)" in files["m.c"] and f"{on.patches.extra_macs:,} MACs recomputed" in files["m.c"]
