"""mlc quantize end to end on small ONNX graphs made with onnx.helper and on MLPerf Tiny's float ad01 (tests/data/models):
the clean-up passes against onnxruntime (onnx's own reference evaluator gets BatchNormalization wrong), the int8 model in TFLM's interpreter against
hostsim byte for byte, `mlc build` on an ONNX model, and bad input as one line with exit status 2."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package (a test dependency) is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (a test dependency) is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from codegen.cli import main  # noqa: E402
from codegen.model import tflm  # noqa: E402
from codegen.ops import load  # noqa: E402
from codegen.quantize import executor  # noqa: E402
from codegen.quantize.pipeline import load_float, quantize  # noqa: E402
from hostsim import run  # noqa: E402
from paths import MODELS  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name, shape, scale=0.5):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def _save(path, nodes, inits, in_shape, out_shape, opset=13, in_dims=None):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_dims or list(in_shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def _classifier(path, **kw):
    """Conv -> BatchNorm -> Relu -> depthwise Conv -> Clip(0, 6) -> GlobalAveragePool -> Flatten -> Gemm -> Softmax."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn"], name="bn1", epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw", kernel_shape=[3, 3], group=4, strides=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=-1),
    ]
    inits = [_init("w1", (4, 2, 3, 3)), _init("b1", (4,)), numpy_helper.from_array(RNG.uniform(0.5, 2, 4).astype(np.float32), "g"),
             _init("beta", (4,)), _init("mu", (4,)), numpy_helper.from_array(RNG.uniform(0.5, 2, 4).astype(np.float32), "var"),
             _init("w2", (4, 1, 3, 3)), _init("b2", (4,)), numpy_helper.from_array(np.float32(0), "lo"),
             numpy_helper.from_array(np.float32(6), "hi"), _init("w3", (3, 4), 2.0), _init("b3", (3,))]
    return _save(path, nodes, inits, (1, 2, 8, 8), (1, 3), **kw)


def _float_matches_onnx(path, in_shape):
    x = RNG.standard_normal((5, *in_shape[1:])).astype(np.float32)
    model = load_float(path)
    session = ort.InferenceSession(str(path))
    want = np.concatenate([session.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    got = executor.run(model.graph, model.inputs(x))
    if want.ndim == 4:  # mlc's activations are NHWC
        want = want.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-5)
    return model.graph


def test_batchnorm_folded_and_activations_fused(tmp_path):
    graph = _float_matches_onnx(_classifier(tmp_path / "m.onnx"), (1, 2, 8, 8))
    assert [op.kind for op in graph.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert [graph.ops[0].options["activation"], graph.ops[1].options["activation"]] == ["RELU", "RELU6"]
    assert graph.ops[1].options["padding"] == "SAME" and graph.ops[1].inputs[1].shape == (1, 3, 3, 4)


def test_flatten_of_nchw_is_folded_into_the_dense_weights(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc")]
    path = _save(tmp_path / "m.onnx", nodes, [_init("w1", (3, 2, 3, 3)), _init("w2", (3 * 4 * 3, 5))], (1, 2, 6, 5), (1, 5))
    graph = _float_matches_onnx(path, (1, 2, 6, 5))
    assert [op.kind for op in graph.ops] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]


def test_layout_transposes_are_removed(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Transpose", ["c"], ["nhwc"], name="to_nhwc", perm=[0, 2, 3, 1]),
             helper.make_node("Transpose", ["nhwc"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
             helper.make_node("Relu", ["nchw"], ["y"], name="relu")]
    graph = _float_matches_onnx(_save(tmp_path / "m.onnx", nodes, [_init("w1", (3, 2, 1, 1))], (1, 2, 4, 4), (1, 3, 4, 4)),
                                (1, 2, 4, 4))
    assert [(op.kind, op.options["activation"]) for op in graph.ops] == [("CONV_2D", "RELU")]


def _bit_exact(path, n=40):
    graph = load(path)
    t = graph.inputs[0]
    x = RNG.standard_normal((n, *t.shape[1:])).astype(np.float32)
    if t.dtype == "int8":
        x = RNG.integers(-128, 128, x.shape).astype(np.int8)
    got = run(graph, x)
    want = tflm.run(path, x).outputs[0].reshape(got.shape)
    assert np.array_equal(got, want), f"{path}: hostsim differs from TFLM on {np.sum(got != want)} values"
    return graph


@pytest.mark.parametrize("float_io,adaround", [(False, False), (True, False), (False, True)])
def test_onnx_model_quantized_runs_in_tflm_bit_exact(tmp_path, float_io, adaround):
    model = load_float(_classifier(tmp_path / "m.onnx"))
    result = quantize(model, RNG.standard_normal((64, 2, 8, 8)), float_io=float_io, adaround=adaround)
    out = tmp_path / "m_int8.tflite"
    out.write_bytes(result.model)
    graph = _bit_exact(out)
    kinds = [op.kind for op in graph.ops]
    assert kinds == (["QUANTIZE"] if float_io else []) + [op.kind for op in model.graph.ops] + (["DEQUANTIZE"] if float_io else [])
    softmax = next(op for op in graph.ops if op.kind == "SOFTMAX")
    out, logits = softmax.outputs[0], softmax.inputs[0]
    assert (float(out.quant.s), out.quant.zp) == (1 / 256, -128)  # fixed by the int8 spec, not calibrated
    seen = result.values[id(result.float_graph.ops[-1].inputs[0])]  # the logits are not clipped: the top one decides
    step = float(logits.quant.s)
    assert (-128 - logits.quant.zp) * step <= seen.min() + step / 2 and (127 - logits.quant.zp) * step >= seen.max() - step / 2
    assert graph.ops[kinds.index("CONV_2D")].inputs[1].quant.per_channel


def test_float_ad01_quantized_close_to_float_and_bit_exact(tmp_path):
    model = load_float(MODELS / "ad01_fp32.tflite")
    calib = RNG.standard_normal((200, 640)).astype(np.float32)
    result = quantize(model, calib)
    out = tmp_path / "ad01_q.tflite"
    out.write_bytes(result.model)
    graph = _bit_exact(out, n=20)
    from codegen.quantize.report import sqnr_db

    x = RNG.standard_normal((50, 640)).astype(np.float32)
    t, y = graph.inputs[0], graph.outputs[0]
    q = run(graph, np.clip(np.round(x / t.quant.s) + t.quant.zp, -128, 127).astype(np.int8))
    assert sqnr_db(executor.run(model.graph, x), (q.astype(np.float64) - y.quant.zp) * y.quant.s) > 35


def test_cli_quantize_then_build_renders(tmp_path, capsys):
    path = _classifier(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", RNG.standard_normal((32, 2, 8, 8)).astype(np.float32))
    assert main(["quantize", str(path), "--calib", str(tmp_path / "x.npy"), "--json"]) == 0
    assert '"output_sqnr_db"' in capsys.readouterr().out and (tmp_path / "m_int8.tflite").is_file()
    assert main(["build", str(path), "--calib", str(tmp_path / "x.npy"), "--board", "qemu-cortex-m4", "--no-build",
                 "-o", str(tmp_path / "fw")]) == 0
    assert (tmp_path / "fw" / "platformio.ini").is_file()


def test_cli_adaround_changes_only_the_weights_rounding(tmp_path, capsys):
    path = _classifier(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", RNG.standard_normal((64, 2, 8, 8)).astype(np.float32))
    graphs = {}
    for flag in ([], ["--adaround"]):
        out = tmp_path / f"m{len(flag)}.tflite"
        assert main(["quantize", str(path), "--calib", str(tmp_path / "x.npy"), "-o", str(out), "--json", *flag]) == 0
        assert '"output_sqnr_db"' in capsys.readouterr().out
        graphs[bool(flag)] = load(out)
    weights = [[op.inputs[1] for op in graphs[a].ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
               for a in (False, True)]
    assert all(np.array_equal(n.quant.scale, a.quant.scale) for n, a in zip(*weights))
    assert all(np.abs(n.data.astype(int) - a.data).max() <= 1 for n, a in zip(*weights))
    assert any(np.any(n.data != a.data) for n, a in zip(*weights))
    np.save(tmp_path / "few.npy", RNG.standard_normal((32, 2, 8, 8)).astype(np.float32))
    err = _error(capsys, ["quantize", str(path), "--calib", str(tmp_path / "few.npy"), "--adaround"])
    assert "has 32 samples; AdaRound needs at least 64" in err


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_bad_calibration_data(tmp_path, capsys):
    path = str(_classifier(tmp_path / "m.onnx"))
    cases = {"shape.npy": (np.zeros((32, 8, 8, 2), np.float32), "needs (N, 2, 8, 8) (NCHW"),
             "dtype.npy": (np.zeros((32, 2, 8, 8), bool), "is bool"),
             "few.npy": (np.zeros((3, 2, 8, 8), np.float32), "has 3 samples; give at least 16"),
             "nan.npy": (np.full((32, 2, 8, 8), np.nan, np.float32), "NaN or infinite")}
    for name, (x, message) in cases.items():
        np.save(tmp_path / name, x)
        assert message in _error(capsys, ["quantize", path, "--calib", str(tmp_path / name)])


def test_bad_models(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((32, 2, 4, 4), np.float32))
    calib = str(tmp_path / "x.npy")
    leaky = _save(tmp_path / "leaky.onnx", [helper.make_node("LeakyRelu", ["x"], ["y"], name="act7")], [], (1, 2, 4, 4), (1, 2, 4, 4))
    assert "node 'act7' (LeakyRelu): LeakyRelu is not supported" in _error(capsys, ["quantize", str(leaky), "--calib", calib])
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    dynamic = _save(tmp_path / "dyn.onnx", relu, [], (1, 2, 4, 4), (1, 2, 4, 4), in_dims=["N", 2, "H", 4])
    assert "dynamic dimensions" in _error(capsys, ["quantize", str(dynamic), "--calib", calib])
    batch = _save(tmp_path / "batch.onnx", relu, [], (4, 2, 4, 4), (4, 2, 4, 4))
    assert "batch of 4" in _error(capsys, ["quantize", str(batch), "--calib", calib])
    old = _save(tmp_path / "old.onnx", relu, [], (1, 2, 4, 4), (1, 2, 4, 4), opset=11)
    assert "opset 11" in _error(capsys, ["quantize", str(old), "--calib", calib])
    w = numpy_helper.from_array(np.full((3, 2, 1, 1), np.nan, np.float32), "w")
    nan = _save(tmp_path / "nan.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[1, 1])], [w],
                (1, 2, 4, 4), (1, 3, 4, 4))
    assert "NaN or infinite" in _error(capsys, ["quantize", str(nan), "--calib", calib])
    assert "float-only model" in _error(capsys, ["build", str(MODELS / "ad01_fp32.tflite"), "--no-build", "-o", str(tmp_path / "b")])


def test_residual_concat_pad_pool_gates_bit_exact(tmp_path):
    """ADD of two activations (a residual), CONCATENATION, explicit PAD, AVERAGE_POOL_2D, a convolution with
    padding TFLite's SAME cannot express, LOGISTIC x TANH, MEAN and a dense layer."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["r1", "c2"], ["s"], name="residual"),
        helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
        helper.make_node("Concat", ["r2", "r1"], ["cat"], name="cat", axis=1),
        helper.make_node("Pad", ["cat", "pads"], ["p"], name="pad", mode="constant"),
        helper.make_node("AveragePool", ["p"], ["ap"], name="avg", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["ap", "w3", "b3"], ["c3"], name="conv3", kernel_shape=[3, 3], pads=[2, 2, 0, 0]),
        helper.make_node("Sigmoid", ["c3"], ["sg"], name="sigmoid"),
        helper.make_node("Tanh", ["c3"], ["th"], name="tanh"),
        helper.make_node("Mul", ["sg", "th"], ["gate"], name="gate"),
        helper.make_node("ReduceMean", ["gate"], ["m"], name="mean", axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["m", "w4", "b4"], ["y"], name="fc", transB=1),
    ]
    inits = [_init("w1", (4, 3, 3, 3)), _init("b1", (4,)), _init("w2", (4, 4, 3, 3)), _init("b2", (4,)),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
             _init("w3", (6, 8, 3, 3)), _init("b3", (6,)), _init("w4", (5, 6)), _init("b4", (5,))]
    path = _save(tmp_path / "m.onnx", nodes, inits, (1, 3, 8, 8), (1, 5))
    graph = _float_matches_onnx(path, (1, 3, 8, 8))
    assert [op.kind for op in graph.ops] == ["CONV_2D", "CONV_2D", "ADD", "CONCATENATION", "PAD", "AVERAGE_POOL_2D", "PAD",
                                             "CONV_2D", "LOGISTIC", "TANH", "MUL", "MEAN", "FULLY_CONNECTED"]
    out = tmp_path / "m_int8.tflite"
    out.write_bytes(quantize(load_float(path), RNG.standard_normal((64, 3, 8, 8))).model)
    int8 = _bit_exact(out)
    cat = next(op for op in int8.ops if op.kind == "CONCATENATION")
    assert all((t.quant.s, t.quant.zp) == (cat.outputs[0].quant.s, cat.outputs[0].quant.zp) for t in cat.inputs)


def test_quantize_plot_draws_the_sqnr_chart(tmp_path, capsys):
    matplotlib_image = pytest.importorskip("matplotlib.image", reason="matplotlib (the plot extra) is not installed")
    path = _classifier(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", RNG.standard_normal((32, 2, 8, 8)).astype(np.float32))
    png = tmp_path / "sqnr.png"
    assert main(["quantize", str(path), "--calib", str(tmp_path / "x.npy"), "--plot", str(png)]) == 0
    assert f"plot: {png}" in capsys.readouterr().out
    pixels = matplotlib_image.imread(png)
    assert pixels.shape[0] > 200 and pixels[..., :3].std() > 0.05  # a drawn chart, not an empty canvas


def test_plot_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    path = _classifier(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", RNG.standard_normal((32, 2, 8, 8)).astype(np.float32))
    err = _error(capsys, ["quantize", str(path), "--calib", str(tmp_path / "x.npy"), "--plot", str(tmp_path / "p.png")])
    assert "pip install 'mlc[plot]'" in err


def _conv1d_net(path):
    """PyTorch's Conv1d stack: Conv1d -> BatchNorm1d -> ReLU -> MaxPool1d -> depthwise Conv1d -> ReLU6 ->
    pad -> Conv1d -> ReLU -> AdaptiveAvgPool1d(1) -> Flatten -> Linear -> Softmax, on (N, C=3, W=32)."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[5], pads=[2, 2]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2], strides=[2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="dw", kernel_shape=[3], group=8, pads=[1, 1]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
        helper.make_node("Pad", ["r2", "pads"], ["padded"], name="pad"),
        helper.make_node("Conv", ["padded", "w3", "b3"], ["c3"], name="conv3", kernel_shape=[3], strides=[2]),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w4", "b4"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=-1),
    ]
    inits = [_init("w1", (8, 3, 5)), _init("b1", (8,)), numpy_helper.from_array(RNG.uniform(0.5, 2, 8).astype(np.float32), "g"),
             _init("beta", (8,)), _init("mu", (8,)), numpy_helper.from_array(RNG.uniform(0.5, 2, 8).astype(np.float32), "var"),
             _init("w2", (8, 1, 3)), _init("b2", (8,)), numpy_helper.from_array(np.float32(0), "lo"),
             numpy_helper.from_array(np.float32(6), "hi"), numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 1], np.int64), "pads"),
             _init("w3", (6, 8, 3)), _init("b3", (6,)), _init("w4", (4, 6), 2.0), _init("b4", (4,))]
    return _save(path, nodes, inits, (1, 3, 32), (1, 4))


def test_conv1d_onnx_model_is_held_with_a_height_of_one_and_quantized_bit_exact(tmp_path):
    path = _conv1d_net(tmp_path / "conv1d.onnx")
    graph = _float_matches_onnx(path, (1, 3, 32))
    assert graph.inputs[0].shape == (1, 1, 32, 3)  # NCW as NHWC with H = 1, as TFLite holds Keras's Conv1D
    assert [op.kind for op in graph.ops] == ["CONV_2D", "MAX_POOL_2D", "DEPTHWISE_CONV_2D", "PAD", "CONV_2D",
                                              "MEAN", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]  # BatchNorm folded
    model = load_float(path)
    result = quantize(model, RNG.standard_normal((64, 3, 32)))
    out = tmp_path / "conv1d_int8.tflite"
    out.write_bytes(result.model)
    _bit_exact(out)


def _two_input_net(path):
    """Sensor fusion in miniature: an image branch (Conv -> Relu -> GlobalAveragePool -> Flatten) and a
    vector branch (Gemm -> Relu), concatenated, then a dense head."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 2, 8, 8])
    v = helper.make_tensor_value_info("imu", TensorProto.FLOAT, [1, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["r1"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["f1"], name="flatten"),
        helper.make_node("Gemm", ["imu", "w2", "b2"], ["d2"], name="imu_fc", transB=1),
        helper.make_node("Relu", ["d2"], ["r2"], name="relu2"),
        helper.make_node("Concat", ["f1", "r2"], ["cat"], name="cat", axis=1),
        helper.make_node("Gemm", ["cat", "w3", "b3"], ["y"], name="head", transB=1),
    ]
    inits = [_init("w1", (4, 2, 3, 3)), _init("b1", (4,)), _init("w2", (5, 6)), _init("b2", (5,)),
             _init("w3", (3, 9)), _init("b3", (3,))]
    graph = helper.make_graph(nodes, "fusion", [x, v], [y], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_two_input_model_calibrated_from_an_npz_runs_bit_exact(tmp_path, capsys):
    path = _two_input_net(tmp_path / "fusion.onnx")
    calib = {"image": RNG.standard_normal((40, 2, 8, 8)).astype(np.float32),
             "imu": RNG.standard_normal((40, 6)).astype(np.float32)}
    np.savez(tmp_path / "calib.npz", **calib)
    out = tmp_path / "fusion_int8.tflite"
    assert main(["quantize", str(path), "--calib", str(tmp_path / "calib.npz"), "-o", str(out), "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["output_sqnr_db"] > 25
    session = ort.InferenceSession(str(path))  # the float graph mlc quantized is the ONNX model's
    model = load_float(path)
    want = np.concatenate([session.run(None, {k: v[i:i + 1] for k, v in calib.items()})[0] for i in range(8)])
    got = executor.run(model.graph, model.inputs({k: v[:8] for k, v in calib.items()}))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    graph = load(out)
    assert [t.name for t in graph.inputs] == ["image", "imu"]
    xs = [RNG.integers(-128, 128, (16, *t.shape[1:])).astype(np.int8) for t in graph.inputs]
    from hostsim import run_all

    assert all(m.ok for m in tflm.compare(graph, xs, sim=run_all(graph, xs)))


def test_npz_calibration_with_the_wrong_names_is_one_line(tmp_path, capsys):
    path = _two_input_net(tmp_path / "fusion.onnx")
    np.savez(tmp_path / "calib.npz", image=np.zeros((20, 2, 8, 8), np.float32), audio=np.zeros((20, 6), np.float32))
    err = _error(capsys, ["quantize", str(path), "--calib", str(tmp_path / "calib.npz")])
    assert "the model's inputs are ['image', 'imu']" in err
