"""mlc's post-training quantizer against TensorFlow's converter and onnxruntime, same calibration samples.

    python benchmarks/quantizer.py [--calib 200] [--seed 0]

Needs the bench-quantizer extra (pip install ".[bench-quantizer]": tensorflow-cpu, torch, onnx,
onnxruntime, scikit-learn). Tasks:
- digits: a small CNN (conv-BN-ReLU, a depthwise-separable block, max pool, conv, dense) on scikit-learn's 8x8 digits,
  trained here in PyTorch and exported to ONNX; scored by test accuracy. TF's converter gets the same
  network as a Keras model carrying the same (BatchNorm-folded) weights.
- residual CNN: two residual blocks (conv-BN-ReLU-conv-BN + skip, ReLU), global average pooling, dense, on
  32x32 RGB images of four shapes drawn here; trained in PyTorch, ONNX export, Keras for TF as above.
- ad01: MLPerf Tiny's float anomaly-detection autoencoder (tests/data/models/ad01_fp32.tflite, the Keras
  model rebuilt from its weights for TF's converter); scored by the AUC of the reconstruction error
  on synthetic "normal" log-mel frames of one machine (a fixed spectral envelope, level jitter, 1 dB
  noise) against perturbed ones (a tonal bump over 4 mel bins). No ONNX export of it here.
For each: float, TF full-integer PTQ (run in TFLM), onnxruntime quantize_static (QDQ, per-channel,
MinMax) where an ONNX model exists, and mlc (its default: auto ranges, bias correction; also without
bias correction, and min/max ranges; and from the same network saved as .keras), with output SQNR
against float (for classifiers also of the logits, the SOFTMAX input: the softmax output's fixed 1/256
step caps its SQNR) and top-1 agreement with float. Prints one markdown table.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from codegen.model import tflm  # noqa: E402
from codegen.ops import load  # noqa: E402
from codegen.quantize import executor  # noqa: E402
from codegen.quantize.pipeline import load_float, quantize  # noqa: E402
from codegen.quantize.report import sqnr_db  # noqa: E402
from hostsim import run_all as hostsim_run_all  # noqa: E402
from tests.paths import MODELS  # noqa: E402



def _args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=200, help="calibration samples (the same for every quantizer)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# ----------------------------------------------------------------------------- tasks
def _train_and_export(net, x, y, epochs, path):
    """Adam on the softmax output's log-likelihood, batches of 64, one thread (the same weights on every
    run); then the ONNX export (opset 13, batch of one)."""
    import torch

    torch.set_num_threads(1)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.nll_loss(torch.log(net(xt[idx]) + 1e-9), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    torch.onnx.export(net, torch.zeros(1, *x.shape[1:]), str(path), opset_version=13, dynamo=False)
    return path


def digits_task(tmp: Path, seed: int, n_calib: int):
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(seed)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # NCHW
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.3, random_state=seed)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU6(),
                        nn.Conv2d(16, 32, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(32 * 4 * 4, 10), nn.Softmax(dim=1))
    path = _train_and_export(net, x_train, y_train, 40, tmp / "digits_cnn.onnx")
    rng = np.random.default_rng(seed)
    calib = x_train[rng.choice(len(x_train), n_calib, replace=False)]
    return dict(name="digits CNN", path=path, calib=calib, x=x_test, labels=y_test, metric="accuracy")


def _ad01_frames(rng, n, anomalous):
    """Log-mel frames (5 x 128 bins, dB-like) of one "machine": a fixed spectral envelope, a level that varies
    per sample and 1 dB of noise; anomalous ones carry a 4-bin tonal bump of 8-16 dB in all 5 frames."""
    bins = np.linspace(0, 1, 128)
    envelope = -20 - 15 * bins + 3 * np.cos(3 * np.pi * bins) + 2 * np.cos(7 * np.pi * bins)
    x = envelope + rng.normal(0, 1.5, (n, 1, 1)) + rng.normal(0, 1.0, (n, 5, 128))
    if anomalous:
        for i in range(n):
            lo = rng.integers(0, 124)
            x[i, :, lo:lo + 4] += rng.uniform(8, 16)
    return x.reshape(n, 640).astype(np.float32)


def ad01_task(tmp: Path, seed: int, n_calib: int):
    rng = np.random.default_rng(seed)
    normal, anomalous = _ad01_frames(rng, 500, False), _ad01_frames(rng, 500, True)
    return dict(name="ad01 autoencoder", path=MODELS / "ad01_fp32.tflite", calib=_ad01_frames(rng, n_calib, False),
                x=np.concatenate([normal, anomalous]), labels=np.r_[np.zeros(500), np.ones(500)].astype(int), metric="AUC")


def _shapes(rng, n):
    """32x32 RGB images of four shapes (disc, square, triangle, cross) of random size, place and colour on a
    noisy background."""
    yy, xx = np.mgrid[:32, :32]
    labels = rng.integers(0, 4, n)
    images = rng.normal(0.2, 0.1, (n, 3, 32, 32))
    for i, label in enumerate(labels):
        cy, cx, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(5, 9)
        dy, dx = yy - cy, xx - cx
        mask = [dy ** 2 + dx ** 2 < r ** 2, (abs(dy) < r * 0.8) & (abs(dx) < r * 0.8),
                (dy < r * 0.7) & (dy > -r) & (abs(dx) < (dy + r) * 0.6), (abs(dy) < r / 4) | (abs(dx) < r / 4)][label]
        if label == 3:
            mask &= (abs(dy) < r) & (abs(dx) < r)
        images[i][:, mask] = rng.uniform(0.5, 1.0, (3, 1))
    return images.astype(np.float32), labels


def residual_task(tmp: Path, seed: int, n_calib: int):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = _shapes(rng, 3000)
    x_test, y_test = _shapes(rng, 600)
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.body(x))

    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), Block(16),
                        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(), Block(32),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4), nn.Softmax(dim=1))
    path = _train_and_export(net, x_train, y_train, 8, tmp / "residual_cnn.onnx")
    calib = x_train[rng.choice(len(x_train), n_calib, replace=False)]
    return dict(name="residual CNN", path=path, calib=calib, x=x_test, labels=y_test, metric="accuracy")


# ----------------------------------------------------------------------------- scoring
def _auc(scores, labels):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(labels, scores)


def _score(task, x_model, y):
    """Accuracy, or AUC of the reconstruction error, of outputs y on the task's evaluation inputs."""
    if task["metric"] == "accuracy":
        return float(np.mean(y.argmax(1) == task["labels"]))
    return _auc(np.mean((y - x_model.reshape(len(y), -1)) ** 2, axis=1), task["labels"])


def _row(task, quantizer, x_model, reference, result):
    """reference and result: (output, logits or None), logits being the input of a classifier's SOFTMAX."""
    (y_float, logits_float), (y, logits) = reference, result
    y = y.reshape(y_float.shape)
    row = dict(model=task["name"], quantizer=quantizer, score=_score(task, x_model, y), sqnr=sqnr_db(y_float, y),
               logit_sqnr=None if logits is None else sqnr_db(logits_float, logits.reshape(logits_float.shape)))
    row["top1"] = float(np.mean(y.argmax(1) == y_float.argmax(1))) if task["metric"] == "accuracy" else None
    return row


def _softmax_input(graph):
    return next((op.inputs[0] for op in graph.ops if op.kind == "SOFTMAX"), None)


def _dequantize(t, q):
    return (q.astype(np.float64) - t.quant.zp) * float(t.quant.s)


def _quantize_input(t, x):
    return np.clip(np.round(x / t.quant.s) + t.quant.zp, -128, 127).astype(np.int8)


# ----------------------------------------------------------------------------- the quantizers
def keras_model(graph):
    """The float graph (NHWC, BatchNorm folded) as a Keras model carrying its weights."""
    import tensorflow as tf

    layers = tf.keras.layers
    inputs = tf.keras.Input(graph.inputs[0].shape[1:], batch_size=1)
    values = {id(graph.inputs[0]): inputs}
    acts = {"NONE": None, "RELU": "relu", "RELU6": tf.nn.relu6}
    for op in graph.ops:
        o, x = op.options, values[id(op.inputs[0])]
        w = op.inputs[1].data if len(op.inputs) > 1 and op.inputs[1] is not None and op.inputs[1].is_const else None
        act = acts[o.get("activation", "NONE")]
        if op.kind == "CONV_2D":
            layer = layers.Conv2D(w.shape[0], w.shape[1:3], (o["stride_h"], o["stride_w"]), o["padding"].lower(),
                                  dilation_rate=(o["dilation_h_factor"], o["dilation_w_factor"]), activation=act)
            y = layer(x)
            layer.set_weights([w.transpose(1, 2, 3, 0), op.inputs[2].data])
        elif op.kind == "DEPTHWISE_CONV_2D":
            layer = layers.DepthwiseConv2D(w.shape[1:3], (o["stride_h"], o["stride_w"]), o["padding"].lower(),
                                           depth_multiplier=o["depth_multiplier"], activation=act)
            y = layer(x)
            layer.set_weights([w.reshape(*w.shape[1:3], -1, o["depth_multiplier"]), op.inputs[2].data])
        elif op.kind == "FULLY_CONNECTED":
            layer = layers.Dense(w.shape[0], activation=act)
            y = layer(x)
            layer.set_weights([w.T, op.inputs[2].data])
        elif op.kind == "MAX_POOL_2D":
            y = layers.MaxPool2D((o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"]), o["padding"].lower())(x)
        elif op.kind == "ADD":
            y = layers.Add()([x, values[id(op.inputs[1])]])
            y = layers.Activation(act)(y) if act else y
        elif op.kind == "PAD":
            y = layers.ZeroPadding2D([tuple(int(v) for v in p) for p in op.inputs[1].data[1:3]])(x)
        elif op.kind == "MEAN":
            y = layers.GlobalAveragePooling2D(keepdims=bool(o.get("keep_dims")))(x)
        elif op.kind == "RESHAPE":
            y = layers.Flatten()(x)
        elif op.kind == "SOFTMAX":
            y = layers.Softmax()(x)
        else:
            raise SystemExit(f"keras_model: {op.kind} not handled")
        values[id(op.outputs[0])] = y
    return tf.keras.Model(inputs, values[id(graph.outputs[0])])


def tf_ptq(graph, calib_nhwc, x_nhwc, tmp):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model(graph))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([c[None]] for c in calib_nhwc)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp / "tf_ptq.tflite"
    path.write_bytes(converter.convert())
    g = load(path)
    logits = _softmax_input(g)
    run = tflm.run(path, _quantize_input(g.inputs[0], x_nhwc), tensors=[logits.index] if logits else ())
    return _dequantize(g.outputs[0], run.outputs[0]), logits and _dequantize(logits, run.tensors[logits.index])


def ort_ptq(onnx_path, calib_nchw, x_nchw, tmp):
    """onnxruntime's static QDQ quantization; a classifier's logits made a second output first, so that they
    can be compared too (they are quantized like any other activation)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre, out = tmp / "ort_pre.onnx", tmp / "ort_int8.onnx"
    model = onnx.load(str(onnx_path))
    softmax = next((node for node in model.graph.node if node.op_type == "Softmax"), None)
    if softmax is not None:
        model.graph.output.append(onnx.helper.make_tensor_value_info(softmax.input[0], onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(tmp / "ort_float.onnx"))
    quant_pre_process(str(tmp / "ort_float.onnx"), str(pre))
    name = ort.InferenceSession(str(pre)).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(calib_nchw)

        def get_next(self):
            c = next(self.samples, None)
            return None if c is None else {name: c[None]}

    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    results = [session.run(None, {name: x_nchw[i:i + 1]}) for i in range(len(x_nchw))]
    return tuple(np.concatenate([r[k] for r in results]) if k < len(results[0]) else None for k in (0, 1))


def mlc_ptq(path, calib, x, tmp, method, bias_correction=True):
    model = load_float(path)
    result = quantize(model, calib, method, bias_correction=bias_correction)
    out = tmp / f"mlc_{method}_{bias_correction}.tflite"
    out.write_bytes(result.model)
    g = load(out)
    xq = _quantize_input(g.inputs[0], model.inputs(x, "evaluation data"))
    values = hostsim_run_all(g, xq)
    q = values[g.outputs[0].index]
    # hostsim equals TFLM byte for byte (tests/test_quantize.py); checked here on a few inputs too
    assert np.array_equal(tflm.run(out, xq[:8]).outputs[0].reshape(q[:8].shape), q[:8])
    logits = _softmax_input(g)
    return _dequantize(g.outputs[0], q), logits and _dequantize(logits, values[logits.index])


def main() -> int:
    args = _args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tasks = (digits_task(tmp, args.seed, args.calib), residual_task(tmp, args.seed, args.calib),
                 ad01_task(tmp, args.seed, args.calib))
        for task in tasks:
            model = load_float(task["path"])
            x_model, calib_model = model.inputs(task["x"]), model.inputs(task["calib"])
            values = executor.run_all(model.graph, x_model)
            y_float = values[id(model.graph.outputs[0])].astype(np.float64)
            logits = _softmax_input(model.graph)
            ref = (y_float.reshape(len(y_float), -1), logits and values[id(logits)].astype(np.float64))
            rows.append(_row(task, "float", x_model, ref, ref))
            rows.append(_row(task, "TF converter PTQ (TFLM)", x_model, ref, tf_ptq(model.graph, calib_model, x_model, tmp)))
            if str(task["path"]).endswith(".onnx"):
                rows.append(_row(task, "onnxruntime QDQ per-channel MinMax", x_model, ref,
                                 ort_ptq(task["path"], task["calib"], task["x"], tmp)))
            for method, correct in (("auto", False), ("minmax", True), ("auto", True)):
                result = mlc_ptq(task["path"], task["calib"], task["x"], tmp, method, correct)
                rows.append(_row(task, f"mlc ({method}{', bias correction' if correct else ''})", x_model, ref, result))
            if str(task["path"]).endswith(".onnx"):  # the same network and weights given to mlc as Keras
                keras_path = tmp / "model.keras"
                keras_model(model.graph).save(keras_path)
                rows.append(_row(task, "mlc (auto, bias correction) from Keras", x_model, ref,
                                 mlc_ptq(keras_path, calib_model, x_model, tmp, "auto")))
    print("| model | quantizer | accuracy / AUC | output SQNR dB | logits SQNR dB | top-1 agreement |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        score = f"{r['score']:.4f}" if r["model"].startswith("ad01") else f"{100 * r['score']:.2f} %"
        quantized = r["quantizer"] != "float"
        sqnr = f"{r['sqnr']:.1f}" if quantized else ""
        logit_sqnr = f"{r['logit_sqnr']:.1f}" if quantized and r["logit_sqnr"] is not None else ""
        top1 = "" if r["top1"] is None else f"{100 * r['top1']:.1f} %"
        print(f"| {r['model']} | {r['quantizer']} | {score} | {sqnr} | {logit_sqnr} | {top1} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
