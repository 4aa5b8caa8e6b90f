"""Mutated reference models (bit flips, truncations, random overwrites, zeroed ranges; fixed seeds)
must never make mlc die with anything but MlcError: not while loading, inspecting, nor simulating.

Mutations land mostly outside the weight buffers, where they hit the flatbuffer's structure (tables,
vectors, shapes, options, indices) rather than just changing weights.
"""
import signal
from pathlib import Path

import numpy as np
import pytest
import tflite

from codegen.errors import MlcError
from codegen.model.summary import summarize
from codegen.ops import load
from hostsim import run
from paths import MODELS

# A numpy warning here means arithmetic on garbage (e.g. an inexact sum): mlc must refuse the model instead.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

NAMES = ["hello_world_int8", "ad01_int8", "micro_speech_quantized", "kws_ref_model"]
KINDS = ["bitflip", "truncate", "overwrite", "zero"]
PER_KIND = 60  # 4 models x 4 kinds x 60 = 960 mutated files
SECONDS = 20  # per mutated file: anything slower counts as a hang


def _structure_offsets(data: bytes) -> np.ndarray:
    """Byte offsets that are not inside a weight buffer's payload."""
    model = tflite.Model.GetRootAsModel(data, 0)
    inside = np.zeros(len(data), bool)
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            inside[start:start + buf.DataLength()] = True
    return np.flatnonzero(~inside)


def mutate(data: bytes, kind: str, rng: np.random.Generator, offsets: np.ndarray) -> bytes:
    b = bytearray(data)
    pos = int(rng.choice(offsets)) if rng.random() < 0.85 else int(rng.integers(len(b)))
    if kind == "bitflip":
        for _ in range(int(rng.integers(1, 9))):
            p = int(rng.choice(offsets))
            b[p] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        del b[int(rng.integers(len(b))):]
    elif kind == "overwrite":
        n = int(rng.integers(1, 17))
        b[pos:pos + n] = rng.integers(0, 256, len(b[pos:pos + n]), dtype=np.uint8).tobytes()
    else:
        n = int(rng.integers(1, 65))
        b[pos:pos + n] = bytes(len(b[pos:pos + n]))
    return bytes(b)


def _alarm(signum, frame):
    raise TimeoutError(f"took over {SECONDS} s")


def exercise(path: Path) -> str:
    """load + inspect + simulate as the CLI would; returns how far it got."""
    try:
        graph = load(path)
        summarize(graph)
        if graph.unsupported:
            return "inspected"
        t = graph.inputs[0]
        x = np.zeros((2, *t.shape[1:]), t.dtype)
        run(graph, x)
        return "simulated"
    except MlcError as err:
        assert "\n" not in str(err), f"multi-line error: {err!r}"
        return "refused"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_mutated_models_fail_cleanly(name, kind, tmp_path):
    data = (MODELS / f"{name}.tflite").read_bytes()
    offsets = _structure_offsets(data)
    rng = np.random.default_rng([NAMES.index(name), KINDS.index(kind)])
    outcomes = {}
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(PER_KIND):
            path = tmp_path / f"{name}_{kind}_{i}.tflite"
            path.write_bytes(mutate(data, kind, rng, offsets))
            signal.alarm(SECONDS)
            try:
                outcome = exercise(path)
            except Exception as err:  # noqa: BLE001 - the point: report what escaped, with the case
                raise AssertionError(f"{name} {kind} #{i}: {type(err).__name__}: {err}") from err
            finally:
                signal.alarm(0)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        signal.signal(signal.SIGALRM, old)
    assert sum(outcomes.values()) == PER_KIND
    if kind == "truncate":
        assert outcomes.get("refused", 0) >= PER_KIND // 2, outcomes
