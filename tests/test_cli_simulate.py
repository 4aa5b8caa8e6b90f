"""`mlc simulate`: Y.npy equals TFLM's outputs; --compare reports per layer and fails on a mismatch."""
import sys

import numpy as np
import pytest
from tflite_builder import ModelBuilder, quantize_symmetric

from codegen.model import tflm as reference
from codegen.cli import main
from hostsim.kernels import load as load_kernels
from paths import MODELS

KWS = MODELS / "kws_ref_model.tflite"
pytest.importorskip("tflite_micro")


def simulate(tmp_path, model, x, *extra):
    np.save(tmp_path / "x.npy", x)
    code = main(["simulate", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y"), *extra])
    return code, np.load(tmp_path / "y")  # the output name is kept as given (no .npy appended)


@pytest.mark.parametrize("name", ["hello_world_int8", "kws_ref_model"])
def test_stacked_inputs_match_tflm(tmp_path, name):
    model = MODELS / f"{name}.tflite"
    shape = {"hello_world_int8": (1,), "kws_ref_model": (49, 10, 1)}[name]
    x = np.random.default_rng(4).integers(-128, 128, (20, *shape), dtype=np.int8)
    code, y = simulate(tmp_path, model, x)
    assert code == 0
    want = reference.run(model, x).outputs[0]
    assert y.dtype == np.int8 and y.shape == want.shape and np.array_equal(y, want)


def test_single_unstacked_input(tmp_path):
    x = np.random.default_rng(5).integers(-128, 128, (1, 49, 10, 1), dtype=np.int8)
    code, y = simulate(tmp_path, KWS, x)
    assert code == 0 and y.shape == (1, 12)
    assert np.array_equal(y, reference.run(KWS, x).outputs[0])


def test_compare_reports_every_layer(tmp_path, capsys):
    x = np.random.default_rng(6).integers(-128, 128, (5, 49, 10, 1), dtype=np.int8)
    code, _ = simulate(tmp_path, KWS, x, "--compare")
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("5/5") == 13 and "bit-exact" in out  # one row per layer


def test_compare_names_first_differing_layer(tmp_path, capsys, monkeypatch):
    kernels = load_kernels()
    real = kernels["DEPTHWISE_CONV_2D"]

    def off_by_one(op, *args):  # a kernel bug on layer 3 only, so layer 1 must still match
        y = real(op, *args)
        return np.clip(y.astype(np.int16) + 1, -128, 127).astype(np.int8) if op.index == 3 else y

    monkeypatch.setitem(kernels, "DEPTHWISE_CONV_2D", off_by_one)
    x = np.random.default_rng(7).integers(-128, 128, (4, 49, 10, 1), dtype=np.int8)
    code, _ = simulate(tmp_path, KWS, x, "--compare")
    out = capsys.readouterr().out
    assert code == 1
    assert "first differing layer is 3 (DEPTHWISE_CONV_2D)" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "4/4" in rows["2"] and "0/4" in rows["3"]


def test_compare_without_tflite_micro(tmp_path, capsys, monkeypatch):
    for mod in [m for m in sys.modules if m.startswith("tflite_micro")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "tflite_micro", None)  # import now fails
    code, _ = simulate(tmp_path, KWS, np.zeros((1, 49, 10, 1), np.int8), "--compare")
    err = capsys.readouterr().err
    assert code == 2 and "pip install tflite-micro" in err and len(err.strip().splitlines()) == 1


def test_float_io_model(tmp_path):
    """float32 X and Y when the model quantizes its input and dequantizes its output."""
    b = ModelBuilder()
    x = b.input([1, 8], dtype="float32")
    q = b.quantize(x, 0.05, -3)
    wq, ws = quantize_symmetric(np.random.default_rng(8).normal(size=(4, 8)), axis=0)
    w = b.const_int8(wq, scales=ws, axis=0)
    bias = b.const_int32(np.arange(4) * 7, scales=0.05 * ws)
    b.output(b.dequantize(b.fully_connected(q, w, bias, 0.1, 2)))
    (tmp_path / "m.tflite").write_bytes(b.finish())
    xs = np.random.default_rng(9).normal(0, 3, (30, 8)).astype(np.float32)
    code, y = simulate(tmp_path, tmp_path / "m.tflite", xs, "--compare")
    assert code == 0 and y.dtype == np.float32 and y.shape == (30, 4)
    assert np.array_equal(y, reference.run(tmp_path / "m.tflite", xs).outputs[0])


def test_compare_as_json(tmp_path, capsys):
    import json

    x = np.random.default_rng(0).integers(-128, 128, size=(3, 49, 10, 1), dtype=np.int8)
    code, _ = simulate(tmp_path, KWS, x, "--compare", "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["inputs"] == 3 and report["first_mismatch"] is None
    assert [m["kind"] for m in report["layers"]][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert all(m["matching"] == 3 for m in report["layers"])


def test_progress_draws_only_on_a_terminal(capsys):
    from codegen.cli.progress import status, track

    with status("working"):
        assert list(track(iter(range(5)), 5, "items")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().out == ""  # pytest's stdout is no terminal: results only


def _two_in_two_out(path):
    """ADD and MUL of two int8 inputs, both results model outputs (sensor fusion's shape, in miniature)."""
    b = ModelBuilder()
    a = b.input([1, 6], 0.05, 3, name="audio")
    m = b.input([1, 6], 0.1, -7, name="imu")
    b.output(b.add(a, m, 0.12, 1))
    b.output(b.mul(a, m, 0.02, -2))
    path.write_bytes(b.finish())
    return path


def test_several_inputs_and_outputs_through_npz(tmp_path, capsys):
    from codegen.ops import load

    model = _two_in_two_out(tmp_path / "two.tflite")
    rng = np.random.default_rng(3)
    x = {"imu": rng.integers(-128, 128, (20, 6), dtype=np.int8), "audio": rng.integers(-128, 128, (20, 6), dtype=np.int8)}
    np.savez(tmp_path / "x.npz", **x)
    assert main(["simulate", str(model), "-i", str(tmp_path / "x.npz"), "-o", str(tmp_path / "y.npz"), "--compare"]) == 0
    assert "bit-exact: all 20 input(s) match TFLM in every layer" in capsys.readouterr().out
    y = np.load(tmp_path / "y.npz")
    assert len(y.files) == 2 and all(y[k].shape == (20, 6) for k in y.files)
    want = reference.run(model, [x["audio"], x["imu"]]).outputs  # TFLM takes them in the model's order
    assert sorted(y.files) == sorted(load(model).outputs[i].name for i in range(2))
    np.testing.assert_array_equal(y[load(model).outputs[0].name], want[0])
    np.testing.assert_array_equal(y[load(model).outputs[1].name], want[1])
    np.savez(tmp_path / "ordered.npz", x["audio"], x["imu"])  # arr_0, arr_1: in the model's order
    assert main(["simulate", str(model), "-i", str(tmp_path / "ordered.npz"), "-o", str(tmp_path / "y2.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y2.npz")[load(model).outputs[1].name], want[1])


def test_several_inputs_bad_archives_are_one_line(tmp_path, capsys):
    model = _two_in_two_out(tmp_path / "two.tflite")
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "one.npz", audio=rng.integers(-128, 128, (4, 6), dtype=np.int8))
    np.save(tmp_path / "x.npy", rng.integers(-128, 128, (4, 6), dtype=np.int8))
    np.savez(tmp_path / "uneven.npz", audio=np.zeros((4, 6), np.int8), imu=np.zeros((5, 6), np.int8))
    for x, out, what in (("one.npz", "y.npz", "the model's inputs are ['audio', 'imu']"),
                         ("x.npy", "y.npz", "hold 1 array(s), the model has 2 inputs (audio, imu)"),
                         ("uneven.npz", "y.npz", "different numbers of samples (4, 5)")):
        assert main(["simulate", str(model), "-i", str(tmp_path / x), "-o", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and what in err, err
    np.savez(tmp_path / "x2.npz", audio=np.zeros((4, 6), np.int8), imu=np.zeros((4, 6), np.int8))
    assert main(["simulate", str(model), "-i", str(tmp_path / "x2.npz"), "-o", str(tmp_path / "y.npy")]) == 2
    assert "the model has 2 outputs; give an .npz file" in capsys.readouterr().err
