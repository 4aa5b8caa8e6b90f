"""The converter-made models (tests/models/make_keras_models.py) run in tflite-micro and compute
roughly what the float Keras model computes; together they cover the op list mlc supports."""
import sys
from pathlib import Path

import numpy as np
import pytest
import tflite

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tflite_builder import dequantize, quantize, run_tflm  # noqa: E402

HERE = Path(__file__).resolve().parent
MODELS = sorted((HERE / "keras").glob("*.tflite"))
MISMATCH = sorted((HERE / "keras_tflm_mismatch").glob("*.tflite"))
OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
REQUIRED_OPS = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
    "MUL", "SOFTMAX", "LOGISTIC", "TANH", "RESHAPE", "CONCATENATION", "MEAN", "PAD", "QUANTIZE",
    "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK"}
# Error of the int8 model against the float Keras model, relative to the largest |output|
# (random untrained weights, calibrated on the same distribution): 1.8% seen at most.
REL_TOL = 0.06
# Sized like MLPerf Tiny's nets (ResNet-8 alone holds 78 K int8 weights); every other model stays small.
MLPERF_SIZED = {"mobilenet_v1_like", "resnet8_like", "streaming_conv1d_like"}


def model_info(data):
    """(op names, input quant, output quant) with quant = (dtype, scale, zero_point)."""
    m = tflite.Model.GetRootAsModel(data, 0)
    g = m.Subgraphs(0)

    def q(i):
        t = g.Tensors(i)
        if t.Type() == tflite.TensorType.FLOAT32:
            return "float32", None, None
        if t.Type() == tflite.TensorType.INT32:  # indices (ARG_MAX), not quantized
            return "int32", None, None
        dtype = "int16" if t.Type() == tflite.TensorType.INT16 else "int8"  # 16x8 models
        return dtype, float(t.Quantization().Scale(0)), int(t.Quantization().ZeroPoint(0))
    ops = [OP_NAMES[m.OperatorCodes(g.Operators(i).OpcodeIndex()).BuiltinCode()]
           for i in range(g.OperatorsLength())]
    return ops, q(g.Inputs(0)), q(g.Outputs(0))


def to_real(values, quant):
    dtype, scale, zp = quant
    return values.astype(np.float64) if dtype == "float32" else dequantize(values, scale, zp)


def test_there_are_enough_small_models_covering_the_op_list():
    assert len(MODELS) >= 15
    assert all(p.stat().st_size < (120_000 if p.stem in MLPERF_SIZED else 50_000) for p in MODELS + MISMATCH)
    seen = set()
    for p in MODELS:
        seen |= set(model_info(p.read_bytes())[0])
    assert REQUIRED_OPS <= seen, REQUIRED_OPS - seen


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_runs_in_tflm_close_to_keras(path):
    data = path.read_bytes()
    ops, qin, qout = model_info(data)
    assert (qin[0] == "float32") == path.stem.startswith("float_io")
    ref = np.load(path.with_suffix(".npz"))
    span = np.abs(ref["y"]).max()  # quantization error scales with the output's range, not one sample's
    for x, y in zip(ref["x"], ref["y"]):
        xin = x[None] if qin[0] == "float32" else quantize(x[None], *qin[1:], dtype=qin[0])
        (got,) = run_tflm(data, [xin])
        if qout[0] != "float32" and (qout[0] == "int32" or not qout[1]):  # indices (ARG_MAX, maybe CAST to int8):
            # int8 rounding may only flip near ties
            assert np.mean(got.reshape(y.shape) == y) >= 0.8, (ops, got, y)
            continue
        err = np.abs(to_real(got, qout).reshape(y.shape) - y).max()
        assert err <= REL_TOL * span + 2 * (qout[1] or 0), (ops, err)


@pytest.mark.parametrize("path", MISMATCH, ids=[p.stem for p in MISMATCH])
def test_tflm_mismatch_models_keep_a_tflite_reference(path):
    """TFLM is no reference for these (see keras_tflm_mismatch/README.md); TFLite's is."""
    ops, qin, qout = model_info(path.read_bytes())
    ref = np.load(path.with_suffix(".npz"))
    np.testing.assert_array_equal(ref["x_q"], quantize(ref["x"], *qin[1:], dtype=qin[0]))
    y = to_real(ref["y_tflite"], qout)
    assert np.abs(y - ref["y"]).max() <= REL_TOL * np.abs(ref["y"]).max()
    assert {"SPACE_TO_BATCH_ND", "REDUCE_PROD", "FILL"} & set(ops)
