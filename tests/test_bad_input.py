"""Bad input to `mlc inspect` / `mlc simulate`: one clear line naming the file and the problem,
exit status 2, and never a traceback. Run through `python -m codegen` in a subprocess, as a user would."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tflite_builder import ModelBuilder, quantize_symmetric, run_tflm
from paths import MODELS

REPO = Path(__file__).parents[1]
KWS = MODELS / "kws_ref_model.tflite"


def mlc(*args):
    """Run the CLI; return (exit status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "codegen", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def assert_one_line_error(command, args, *words):
    """Exit 2 with exactly one stderr line `mlc CMD: error: ...` containing every word."""
    code, out, err = mlc(command, *args)
    assert "Traceback" not in err + out, err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert lines[0].startswith(f"mlc {command}: error: "), lines[0]
    for word in words:
        assert str(word).lower() in lines[0].lower(), (word, lines[0])
    return lines[0]


def _float_fc(weights_dtype: str) -> bytes:
    """float input -> FULLY_CONNECTED -> float output, with float32 (a float model) or int8
    (a hybrid model, as the converter's dynamic-range quantization makes) weights."""
    b = ModelBuilder()
    x = b.input([1, 8], dtype="float32")
    w = np.random.default_rng(0).normal(size=(4, 8))
    if weights_dtype == "int8":
        wq, ws = quantize_symmetric(w, axis=0)
        weights = b.const_int8(wq, scales=ws, axis=0)
    else:
        weights = b.const(w.astype(np.float32), "float32")
    out = b._tensor([1, 4], "float32")  # the builder's op helpers make int8 outputs only
    b.output(b._op("FULLY_CONNECTED", [x, weights, None], out, ("FullyConnectedOptions", {})))
    return b.finish()


@pytest.fixture(scope="module")
def x_good(tmp_path_factory):
    path = tmp_path_factory.mktemp("x") / "x.npy"
    np.save(path, np.zeros((3, 49, 10, 1), np.int8))
    return path


# -- the model file
def test_missing_model(tmp_path):
    assert_one_line_error("inspect", [tmp_path / "nope.tflite"], "nope.tflite", "no such file")


def test_truncated_model(tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(KWS.read_bytes()[:2000])
    assert_one_line_error("inspect", [path], "truncated.tflite", "corrupt")


def test_corrupt_model(tmp_path):
    path = tmp_path / "corrupt.tflite"
    data = bytearray(KWS.read_bytes())
    data[8:200] = np.random.default_rng(3).integers(0, 256, 192, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    assert_one_line_error("inspect", [path], "corrupt.tflite", "corrupt")


@pytest.mark.parametrize("name, content", [
    ("picture.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)),
    ("notes.txt", b"this is not a model\n"),
    ("empty.tflite", b""),
])
def test_not_a_tflite_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error("inspect", [path], name, "not a tflite model")


def test_float_only_model(tmp_path):
    path = tmp_path / "float.tflite"
    path.write_bytes(_float_fc("float32"))
    assert_one_line_error("inspect", [path], "float.tflite", "float-only", "int8")


def test_hybrid_model(tmp_path):
    path = tmp_path / "hybrid.tflite"
    path.write_bytes(_float_fc("int8"))
    assert_one_line_error("simulate", [path, "-i", "x.npy", "-o", tmp_path / "y.npy"], "hybrid.tflite", "hybrid", "int8")


def test_activation_zero_point_outside_int8(tmp_path):
    """The int8 spec bounds activation zero points to [-128, 127]; a larger one means a corrupt model."""
    from tflite_builder import ModelBuilder

    b = ModelBuilder()
    x = b.input([1, 4], scale=0.1, zero_point=300)
    w = b.const_int8(np.ones((2, 4), np.int8), scales=0.01)
    b.output(b.fully_connected(x, w, None, out_scale=0.2, out_zero_point=0))
    path = tmp_path / "zp.tflite"
    path.write_bytes(b.finish())
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.int8))
    assert_one_line_error("simulate", [path, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"], "zp.tflite",
                          "zero point 300", "corrupt")


def test_model_is_a_directory(tmp_path):
    assert_one_line_error("inspect", [tmp_path], str(tmp_path), "cannot read")


# -- the simulator's input and output files
def test_input_wrong_shape(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 49, 11, 1), np.int8))
    assert_one_line_error("simulate", [KWS, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"],
                          "x.npy", "(3, 49, 11, 1)", "(1, 49, 10, 1)")


def test_input_wrong_dtype(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 49, 10, 1), np.float32))
    assert_one_line_error("simulate", [KWS, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"], "x.npy", "float32", "int8")


@pytest.mark.parametrize("content", [b"1 2 3\n", b"", b"\x93NUMPY\x01\x00garbage"])
def test_input_not_npy(tmp_path, content):
    (tmp_path / "x.npy").write_bytes(content)
    assert_one_line_error("simulate", [KWS, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"], "x.npy", ".npy")


def test_input_npz_archive(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros((1, 49, 10, 1), np.int8))
    assert_one_line_error("simulate", [KWS, "-i", tmp_path / "x.npz", "-o", tmp_path / "y.npy"], "x.npz", "npz")


def test_input_missing(tmp_path):
    assert_one_line_error("simulate", [KWS, "-i", tmp_path / "none.npy", "-o", tmp_path / "y.npy"], "none.npy", "cannot read")


@pytest.mark.parametrize("where", ["missing folder", "a directory"])
def test_unwritable_output(tmp_path, x_good, where):
    out = tmp_path / "no" / "such" / "y.npy" if where == "missing folder" else tmp_path
    line = assert_one_line_error("simulate", [KWS, "-i", x_good, "-o", out], str(out))
    assert "does not exist" in line or "directory" in line


def test_unsupported_op_refused_by_simulate_but_listed_by_inspect(tmp_path, x_good):
    model = MODELS / "audio_preprocessor_int8.tflite"
    np.save(tmp_path / "x.npy", np.zeros((1, 480), np.int16))
    assert_one_line_error("simulate", [model, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"],
                          "audio_preprocessor_int8.tflite", "SignalWindow", "not supported")
    code, out, err = mlc("inspect", model)
    assert code == 0 and "Traceback" not in err, err
    assert "unsupported layer 0 (CUSTOM:SignalWindow)" in out


def test_float_islands_refused_for_avr_boards(tmp_path):
    """avr-libc's float arithmetic is not verified exact: mlc build refuses float32 layers for the Uno."""
    b = ModelBuilder()
    x = b.input([1, 6], scale=0.05, zero_point=1)
    b.output(b.quantize(b.float_op("NEG", b.dequantize(x)), 0.05, -1))
    path = tmp_path / "neg.tflite"
    path.write_bytes(b.finish())
    assert_one_line_error("build", [path, "--board", "uno", "-o", tmp_path / "fw"], "layer 1 (NEG)", "float32", "avr-libc")


def test_generate_into_an_unwritable_place(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_one_line_error("generate", [KWS, "-o", blocker / "lib"], str(blocker / "lib"), "cannot write", "-o")


# -- models TFLM runs that mlc does not support yet: one line naming the layer, the op and its dtype
def _cumsum() -> bytes:
    b = ModelBuilder()
    x = b.input([1, 3, 3, 2], scale=0.05, zero_point=-3)
    out = b._activation_tensor([1, 3, 3, 2], 0.5, -3)
    b.output(b._op("CUMSUM", [x, b.const_int32([2])], out, ("CumsumOptions", dict(Exclusive=False, Reverse=False))))
    return b.finish()


def _int16_squared_difference() -> bytes:
    """int16 in, int16 out (TensorFlow's 16x8 quantization): TFLM has the kernel, mlc only int8."""
    b = ModelBuilder(act_dtype="int16")
    x = b.input([1, 8], scale=0.001, zero_point=0, dtype="int16")
    y = b.const(np.arange(8, dtype=np.int16).reshape(1, 8), "int16", 0.001, 0)
    b.output(b.squared_difference(x, y, 0.002, 0))
    return b.finish()


def _float_logistic() -> bytes:
    """LOGISTIC left in float32 between DEQUANTIZE and QUANTIZE: TFLM runs it with libm's exp."""
    b = ModelBuilder()
    x = b.input([1, 6], scale=0.05, zero_point=1)
    y = b._op("LOGISTIC", [b.dequantize(x)], b._tensor([1, 6], "float32"), None)
    b.output(b.quantize(y, 1 / 256, -128))
    return b.finish()


def _batched_pool() -> bytes:
    """SPACE_TO_BATCH_ND -> MAX_POOL_2D -> BATCH_TO_SPACE_ND: TFLM pools the batch of 4, mlc's MAX_POOL_2D takes a
    batch of 1 (its convolutions take more)."""
    b = ModelBuilder()
    x = b.input([1, 6, 6, 3], scale=0.05, zero_point=-3)
    y = b.max_pool_2d(b.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]), (2, 2), padding="SAME")
    b.output(b.batch_to_space_nd(y, [2, 2], [[0, 0], [0, 0]]))
    return b.finish()


@pytest.mark.parametrize("make, shape, dtype, words", [
    (_cumsum, (1, 3, 3, 2), np.int8, ["layer 0", "CUMSUM", "int8", "not supported yet"]),
    (_int16_squared_difference, (1, 8), np.int16, ["layer 0", "SQUARED_DIFFERENCE", "int16", "not supported"]),
    (_float_logistic, (1, 6), np.int8, ["layer 1", "LOGISTIC", "float32", "libm", "bit-exact"]),
    (_batched_pool, (1, 6, 6, 3), np.int8, ["layer 1", "MAX_POOL_2D", "batch of 4", "layer 0, SPACE_TO_BATCH_ND"]),
], ids=["cumsum", "int16_squared_difference", "float_logistic", "batched_pool"])
def test_models_tflm_runs_are_refused_naming_the_op(make, shape, dtype, words, tmp_path):
    model = make()
    path = tmp_path / f"{make.__name__.strip('_')}.tflite"
    path.write_bytes(model)
    x = np.zeros(shape, dtype)
    run_tflm(model, [x])  # TFLM takes it
    np.save(tmp_path / "x.npy", x)
    line = assert_one_line_error("simulate", [path, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy"], path.name, *words)
    for wrong in ("before any layer writes it", "is int32", "hybrid"):
        assert wrong not in line, line
    code, out, err = mlc("inspect", path)  # the rest of the model is still shown
    assert code == 0 and "Traceback" not in err, err
    assert f"unsupported {words[0]} ({words[1]})" in out


def _gather_nd_out_of_range() -> bytes:
    b = ModelBuilder()
    x = b.input([1, 4, 3], scale=0.05, zero_point=2)
    b.output(b.gather_nd(x, [[[0, 1], [0, 4]]]))  # axis 1 has 4 rows: index 4 is past them
    return b.finish()


def _batch_matmul_depths_differ() -> bytes:
    b = ModelBuilder()
    x, y = b.input([1, 3, 5], 0.05, 1), b.input([1, 4, 2], 0.05, -3)
    out = b._activation_tensor([1, 3, 2], 0.1, 0)
    b.output(b._op("BATCH_MATMUL", [x, y], out, ("BatchMatMulOptions", dict(AdjX=False, AdjY=False))))
    return b.finish()


@pytest.mark.parametrize("make, words", [
    (_gather_nd_out_of_range, ["layer 0", "GATHER_ND", "outside input shape"]),
    (_batch_matmul_depths_differ, ["layer 0", "BATCH_MATMUL", "depths 5 and 4 differ"]),
], ids=["gather_nd_out_of_range", "batch_matmul_depths"])
def test_malformed_new_ops_refused_in_one_line(make, words, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(make())
    assert_one_line_error("generate", [path, "-o", tmp_path / "out"], path.name, *words)
