"""Bad input to the anomaly app's commands (mlc simulate/calibrate/build --app anomaly): one line naming the
file and the problem, exit status 2, never a traceback, nothing written."""
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from test_bad_input import assert_one_line_error

MODEL = Path(__file__).resolve().parents[1] / "examples" / "motor" / "model" / "model.tflite"
RNG = np.random.default_rng(3)


def _simulate(feed, *extra):
    return [MODEL, "--app", "anomaly", "--feed", feed, *extra]


def test_recording_with_two_axes(tmp_path):
    np.save(tmp_path / "r.npy", RNG.integers(-100, 100, (5000, 2)).astype(np.int16))
    assert_one_line_error("simulate", _simulate(tmp_path / "r.npy"), "r.npy", "shape (5000, 2)", "(N, 3)")


def test_recording_of_floats(tmp_path):
    np.save(tmp_path / "r.npy", RNG.normal(size=(5000, 3)).astype(np.float32))
    assert_one_line_error("simulate", _simulate(tmp_path / "r.npy"), "r.npy", "float32", "int16")


def test_wav_at_another_rate(tmp_path):
    with wave.open(str(tmp_path / "r.wav"), "wb") as w:
        w.setnchannels(3)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(RNG.integers(-100, 100, (4000, 3)).astype("<i2").tobytes())
    assert_one_line_error("simulate", _simulate(tmp_path / "r.wav"), "r.wav", "8000 Hz", "1600 Hz")


def test_csv_whose_time_column_says_another_rate(tmp_path):
    rows = "\n".join(f"{i / 1000:.4f},1,2,3" for i in range(3000))
    (tmp_path / "r.csv").write_text("t,x,y,z\n" + rows + "\n")
    assert_one_line_error("simulate", _simulate(tmp_path / "r.csv"), "r.csv", "1000.0 Hz", "--rate")


def test_nan_in_a_csv(tmp_path):
    (tmp_path / "r.csv").write_text("x,y,z\n1,2,3\n4,nan,6\n")
    assert_one_line_error("simulate", _simulate(tmp_path / "r.csv"), "r.csv", "line 3", "nan")


def test_csv_without_axes(tmp_path):
    (tmp_path / "r.csv").write_text("a,b\n1,2\n")
    assert_one_line_error("simulate", _simulate(tmp_path / "r.csv"), "r.csv", "x,y,z")


def test_threshold_file_for_another_model(tmp_path):
    doc = json.loads(MODEL.with_name("threshold.json").read_text())
    doc["model_sha256"] = "0" * 16
    doc["model"] = "other.tflite"
    (tmp_path / "t.json").write_text(json.dumps(doc))
    np.save(tmp_path / "r.npy", np.zeros((2000, 3), np.int16))
    assert_one_line_error("simulate", _simulate(tmp_path / "r.npy", "--threshold-from", tmp_path / "t.json"),
                          "t.json", "other.tflite", "mlc calibrate")


def test_not_a_threshold_file(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    np.save(tmp_path / "r.npy", np.zeros((2000, 3), np.int16))
    assert_one_line_error("simulate", _simulate(tmp_path / "r.npy", "--threshold-from", tmp_path / "t.json"),
                          "t.json", "not a threshold file")


def test_normal_data_too_short_to_calibrate(tmp_path):
    np.save(tmp_path / "n.npy", RNG.integers(-500, 500, (16000, 3)).astype(np.int16))
    out = tmp_path / "t.json"
    assert_one_line_error("calibrate", [MODEL, "--normal", tmp_path / "n.npy", "-o", out], "too short", "124 windows",
                          "s of normal recordings")
    assert not out.exists()


@pytest.mark.parametrize("option, words", [(["--window", "300"], ["--window 300", "power of two"]),
                                           (["--hop", "0"], ["--hop 0"]),
                                           (["--bands", "8"], ["48 features", "--bands 16"])])
def test_pipeline_options_that_cannot_work(tmp_path, option, words):
    np.save(tmp_path / "r.npy", np.zeros((2000, 3), np.int16))
    assert_one_line_error("simulate", _simulate(tmp_path / "r.npy", *option), *words)


def test_chunk_larger_than_the_firmware_takes(tmp_path):
    np.save(tmp_path / "r.npy", np.zeros((2000, 3), np.int16))
    assert_one_line_error("verify", [MODEL, "--app", "anomaly", "--feed", tmp_path / "r.npy", "--chunk", "500",
                                     "-o", tmp_path / "p"], "--chunk 500", "128")


def test_board_too_small_says_why_in_numbers(tmp_path):
    assert_one_line_error("build", [MODEL, "--app", "anomaly", "--board", "uno-sim", "--no-build", "-o", tmp_path / "p"],
                          "uno-sim", "1,536", "2,048 B", "--window")
