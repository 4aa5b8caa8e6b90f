"""Cross-layer equalization (codegen/quantize/equalize.py): the float model unchanged, the pairs it may and may not
rescale, and the int8 model of a depthwise-separable net with badly balanced channels closer to float, run in
TFLM's interpreter."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codegen.model import tflm
from codegen.ops import load
from codegen.quantize import executor
from codegen.quantize.equalize import equalize, pairs
from codegen.quantize.pipeline import load_float, quantize
from codegen.quantize.report import sqnr_db
from hostsim import run

CHANNELS = 12


def _ds_net(path, activation="Relu", seed=3):
    """Conv(3x3) -> ReLU -> depthwise Conv(3x3) -> ACT -> pointwise Conv(1x1) -> ReLU -> GlobalAveragePool -> Gemm
    (the logits: a softmax output's fixed 1/256 step would hide the differences), the depthwise channels' scales spread over 400x (each undone by the pointwise weights, as
    training with BatchNorm folded leaves them), so the per-tensor activation between them is badly balanced."""
    rng = np.random.default_rng(seed)
    c = CHANNELS
    spread = np.geomspace(0.05, 20, c).astype(np.float32)
    rng.shuffle(spread)
    w = {"w1": rng.standard_normal((c, 1, 3, 3)) * 0.5, "b1": rng.standard_normal(c) * 0.1,
         "w2": rng.standard_normal((c, 1, 3, 3)) * 0.5 * spread[:, None, None, None], "b2": rng.standard_normal(c) * 0.1 * spread,
         "w3": rng.standard_normal((c, c, 1, 1)) * 0.5 / spread[None, :, None, None], "b3": rng.standard_normal(c) * 0.1,
         "w4": rng.standard_normal((4, c)), "b4": rng.standard_normal(4) * 0.1}
    act = [helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"])] if activation == "Clip" else [helper.make_node(activation, ["c2"], ["r2"])]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=c),
             *act,
             helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
             helper.make_node("Relu", ["c3"], ["r3"]),
             helper.make_node("GlobalAveragePool", ["r3"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w4", "b4"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()]
    inits += [numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
    graph = helper.make_graph(nodes, "ds", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 10, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_equalization_keeps_the_float_model_and_balances_the_weights(tmp_path):
    model = load_float(_ds_net(tmp_path / "ds.onnx"))
    graph, n = equalize(model.graph)
    assert n == len(pairs(model.graph)) == 2  # conv -> depthwise, depthwise -> pointwise; not into the dense layer
    x = np.random.default_rng(0).standard_normal((32, 10, 10, 1)).astype(np.float32)
    for a, b in zip(model.graph.ops, graph.ops):  # every layer's output the same, including the rescaled ones' next
        if b.kind in ("MEAN", "FULLY_CONNECTED"):
            ya, yb = executor.run_all(model.graph, x)[id(a.outputs[0])], executor.run_all(graph, x)[id(b.outputs[0])]
            np.testing.assert_allclose(yb, ya, rtol=1e-4, atol=1e-5)
    dw = next(op for op in graph.ops if op.kind == "DEPTHWISE_CONV_2D").inputs[1].data
    pw = next(op for op in graph.ops if op.kind == "CONV_2D" and op.inputs[1].data.shape[1] == 1).inputs[1].data
    r1, r2 = np.abs(dw).max(axis=(0, 1, 2)), np.abs(pw).max(axis=(0, 1, 2))
    np.testing.assert_allclose(r1, r2, rtol=1e-2)  # equal ranges across the pair
    before = np.abs(next(op for op in model.graph.ops if op.kind == "DEPTHWISE_CONV_2D").inputs[1].data).max(axis=(0, 1, 2))
    assert before.max() / before.min() > 100 and r1.max() / r1.min() < before.max() / before.min() / 10


def test_relu6_pairs_are_left_alone(tmp_path):
    model = load_float(_ds_net(tmp_path / "ds6.onnx", activation="Clip"))
    kinds = [(a.kind, b.kind) for a, b in pairs(model.graph)]
    assert kinds == [("CONV_2D", "DEPTHWISE_CONV_2D")]  # the depthwise layer's ReLU6 would move its clamp


def _tflm_sqnr(path, x_float, y_float):
    graph = load(path)
    t, out = graph.inputs[0], graph.outputs[0]
    xq = np.clip(np.round(x_float / t.quant.s) + t.quant.zp, -128, 127).astype(np.int8)
    got = tflm.run(path, xq).outputs[0].reshape(len(x_float), -1)
    assert np.array_equal(run(graph, xq).reshape(got.shape), got)  # hostsim equals TFLM byte for byte
    return sqnr_db(y_float, (got.astype(np.float64) - out.quant.zp) * out.quant.s)


@pytest.mark.parametrize("bias_correction", [False, True])
def test_equalization_raises_the_int8_models_sqnr_in_tflm(tmp_path, bias_correction):
    model = load_float(_ds_net(tmp_path / "ds.onnx"))
    rng = np.random.default_rng(1)
    calib, x = rng.standard_normal((128, 1, 10, 10)), rng.standard_normal((200, 1, 10, 10))
    x_nhwc = model.inputs(x)
    y = executor.run(model.graph, x_nhwc).reshape(len(x), -1)
    sqnr = {}
    for choice in ("off", "on", "auto"):
        result = quantize(model, calib, bias_correction=bias_correction, equalize=choice)
        path = tmp_path / f"ds_{choice}.tflite"
        path.write_bytes(result.model)
        sqnr[choice] = _tflm_sqnr(path, x_nhwc, y)
        assert any("equalization" in n for n in result.notes) == (choice != "off")
    print(sqnr)
    assert sqnr["on"] > sqnr["off"] + 3, sqnr
    assert sqnr["auto"] == sqnr["on"]


def test_cli_equalize_choices(tmp_path, capsys):
    from codegen.cli import main

    path = _ds_net(tmp_path / "ds.onnx")
    np.save(tmp_path / "x.npy", np.random.default_rng(2).standard_normal((32, 1, 10, 10)).astype(np.float32))
    for choice in ("on", "off"):
        out = tmp_path / f"ds_{choice}.tflite"
        assert main(["quantize", str(path), "--calib", str(tmp_path / "x.npy"), "--equalize", choice, "-o", str(out)]) == 0
        said = capsys.readouterr().out
        assert ("cross-layer equalization rescaled 2 layer pair(s)" in said) == (choice == "on") and out.is_file()


def test_auto_leaves_a_network_without_depthwise_layers_as_it_is(tmp_path):
    """Dense -> ReLU -> dense has a pair equalization may rescale, but auto equalizes depthwise-separable
    networks only (on the motor autoencoder, equalization chosen on healthy windows cost SQNR on faulty ones)."""
    rng = np.random.default_rng(4)
    w = {"w1": rng.standard_normal((16, 8)) * np.geomspace(0.05, 20, 16)[:, None], "b1": rng.standard_normal(16) * 0.1,
         "w2": rng.standard_normal((4, 16)), "b2": rng.standard_normal(4) * 0.1}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "mlp.onnx")
    model = load_float(tmp_path / "mlp.onnx")
    assert len(pairs(model.graph)) == 1
    calib = rng.standard_normal((64, 8))
    for choice, equalized in (("auto", False), ("on", True)):
        notes = quantize(model, calib, equalize=choice).notes
        assert any("equalization" in n for n in notes) == equalized, (choice, notes)
