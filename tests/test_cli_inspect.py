"""`mlc inspect`: the table and the JSON, checked against the .tflite itself and TFLM's view of it."""
import json
from pathlib import Path

import numpy as np
import pytest
import tflite

from codegen.cli import main
from paths import MODELS

# MACs of one inference, as published with the models (tests/data/models/README.md).
MACS = {"hello_world_int8": 288, "micro_speech_quantized": 336_000, "kws_ref_model": 2_656_768, "ad01_int8": 264_192}
KEYS = {"model", "name", "inputs", "outputs", "layers", "totals", "unsupported"}
LAYER_KEYS = {"index", "op", "inputs", "outputs", "weights", "param_bytes", "macs", "activation_bytes", "supported"}


def inspect_json(capsys, path) -> dict:
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(MACS))
def test_json_totals_match_the_model(capsys, name):
    path = MODELS / f"{name}.tflite"
    s = inspect_json(capsys, path)
    assert set(s) == KEYS and all(set(layer) == LAYER_KEYS for layer in s["layers"])
    assert s["totals"]["macs"] == MACS[name] == sum(layer["macs"] for layer in s["layers"])
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = model.Subgraphs(0)
    used = {sg.Tensors(i).Buffer() for i in range(sg.TensorsLength())}  # not metadata buffers
    assert s["totals"]["param_bytes"] == sum(model.Buffers(b).DataLength() for b in used)  # each constant once
    assert [layer["op"] for layer in s["layers"]] == [
        tflite.opcode2name(model.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode()) for i in range(sg.OperatorsLength())]
    peak = max(layer["activation_bytes"] for layer in s["layers"])
    assert s["totals"]["peak_activation_bytes"] == peak and s["unsupported"] == []


def test_json_quantization_agrees_with_tflm(capsys):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    path = MODELS / "kws_ref_model.tflite"
    s = inspect_json(capsys, path)
    interp = runtime.Interpreter.from_file(str(path), arena_size=1 << 22)
    for mine, theirs in ((s["inputs"][0], interp.get_input_details(0)), (s["outputs"][0], interp.get_output_details(0))):
        q = theirs["quantization_parameters"]
        assert mine["shape"] == list(theirs["shape"]) and mine["dtype"] == np.dtype(theirs["dtype"]).name
        assert mine["quant"]["scale"] == pytest.approx(float(q["scales"][0]), rel=1e-7)
        assert mine["quant"]["zero_point"] == int(q["zero_points"][0]) and mine["quant"]["per_channel"] == 0
    conv = s["layers"][0]
    assert conv["op"] == "CONV_2D" and conv["weights"]["quant"]["per_channel"] == 64
    assert len(conv["weights"]["quant"]["scale"]) == 64 and conv["weights"]["shape"] == [64, 10, 4, 1]
    assert conv["activation_bytes"] == 49 * 10 + 25 * 5 * 64  # int8 input + output


def test_table(capsys):
    assert main(["inspect", str(MODELS / "kws_ref_model.tflite")]) == 0
    out = capsys.readouterr().out
    for text in ("DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SOFTMAX", "1x49x10x1", "1x25x5x64", "per-channel (64)",
                 "2,656,768", "0.5847 @ 83", "total"):
        assert text in out, text


def test_unsupported_ops_are_listed_and_inspect_succeeds(capsys):
    s = inspect_json(capsys, MODELS / "audio_preprocessor_int8.tflite")
    unsupported = {u["op"] for u in s["unsupported"]}
    assert {"CUSTOM:SignalWindow", "CUSTOM:SignalRfft"} <= unsupported
    assert all(u["reason"] for u in s["unsupported"])
    flagged = {layer["index"] for layer in s["layers"] if not layer["supported"]}
    assert flagged == {u["index"] for u in s["unsupported"]}


def test_inspect_into_a_closed_pipe_is_quiet():
    """`mlc inspect --json | head -1` must not end in a BrokenPipeError traceback: the reading end is
    closed before mlc writes anything, so its first write meets EPIPE."""
    import subprocess
    import sys

    model = MODELS / "kws_ref_model.tflite"
    proc = subprocess.Popen([sys.executable, "-m", "codegen", "inspect", "--json", str(model)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 0
    assert "Traceback" not in stderr and "Error" not in stderr
