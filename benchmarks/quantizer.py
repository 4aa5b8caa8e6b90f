"""mlc's post-training quantizer against TensorFlow's converter and onnxruntime, same calibration samples.

    python benchmarks/quantizer.py [--calib 200] [--seed 0] [--tasks digits residual keyword ad01 motor]

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
- keyword DS-CNN: a strided conv and three depthwise-separable blocks (BatchNorm, ReLU), global average
  pooling, dense, on 49 x 20 log-mel frames of ten words spoken by espeak-ng (8 voices x 3 variants, 2 speeds,
  2 pitches) in white or low-passed noise at 5-25 dB SNR; trained in PyTorch on two voice variants, scored on
  the third; ONNX export, Keras for TF as above.
- motor autoencoder: examples/motor/train.py's dense autoencoder on its own features of the example machine's
  healthy recordings (numpy training), scored by AUC on healthy against faulty windows; mlc's float IR of it
  written as a float .tflite, the same weights as a Keras model for TF.
For each: float, TF full-integer PTQ (run in TFLM), onnxruntime quantize_static (QDQ, per-channel,
MinMax) where an ONNX model exists, and mlc (its default: auto ranges, bias correction, equalization auto;
also without bias correction, with min/max ranges, without equalization, with AdaRound; and from the same
network saved as .keras), with output SQNR
against float (for classifiers also of the logits, the SOFTMAX input: the softmax output's fixed 1/256
step caps its SQNR) and top-1 agreement with float. Prints one markdown table, then how long mlc's quantize
took with equalization auto, with and without AdaRound.
"""
import argparse
import os
import sys
import tempfile
import time
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
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
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


WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = ("", "+f2", "+m3")
RATE, CLIP = 16000, 16000  # 1 s clips at 16 kHz


def _speak(word, voice, speed, pitch):
    """espeak-ng's utterance of a word (22.05 kHz int16 WAV on stdout) resampled to 16 kHz floats."""
    import subprocess

    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
                         capture_output=True, check=True).stdout
    x = np.frombuffer(wav[44:len(wav) - (len(wav) - 44) % 2], np.int16).astype(np.float32) / 32768
    return np.interp(np.arange(0, len(x) * RATE / 22050) * 22050 / RATE, np.arange(len(x)), x).astype(np.float32)


def _log_mel(clips, frames=49, bins=20):
    """Log-mel features (frames x bins): 30 ms Hann windows every 20 ms, 512-point FFT, triangular mel filters
    60 Hz - 7.6 kHz, log(energy + 1e-6)."""
    window, hop, n_fft = 480, 320, 512
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(60), mel(7600), bins + 2) / 2595) - 1)
    fft_hz = np.fft.rfftfreq(n_fft, 1 / RATE)
    filters = np.maximum(0, np.minimum((fft_hz - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
                                       (edges[2:, None] - fft_hz) / (edges[2:, None] - edges[1:-1, None])))
    idx = np.arange(frames)[:, None] * hop + np.arange(window)
    spec = np.abs(np.fft.rfft(clips[:, idx] * np.hanning(window), n_fft)) ** 2
    return np.log(spec @ filters.T + 1e-6).astype(np.float32)


def _keyword_data(rng, seed):
    """Every word in every voice at 2 speeds and 2 pitches, each utterance placed at a random offset in a 1 s
    clip with a random gain over white and low-passed noise at 5-25 dB SNR, 2 clips per utterance;
    the utterances of the last voice variant ('+m3') held out for testing."""
    clips, labels, held_out = [], [], []
    for label, word in enumerate(WORDS):
        for voice in VOICES:
            for variant in VARIANTS:
                for speed in (140, 180):
                    for pitch in (35, 65):
                        speech = _speak(word, voice + variant, speed, pitch)[:CLIP]
                        for _ in range(2):
                            clip = np.zeros(CLIP, np.float32)
                            start = rng.integers(0, CLIP - len(speech) + 1)
                            clip[start:start + len(speech)] = speech * rng.uniform(0.3, 1.0)
                            noise = rng.normal(0, 1, CLIP + 8)
                            noise = noise[:CLIP] if rng.random() < 0.5 else np.convolve(noise, np.ones(8) / 8, "valid")[:CLIP]
                            snr = rng.uniform(5, 25)
                            power = np.mean(speech ** 2) * rng.uniform(0.3, 1.0) ** 2
                            clips.append(clip + noise * np.sqrt(power / 10 ** (snr / 10) / np.mean(noise ** 2)))
                            labels.append(label)
                            held_out.append(variant == VARIANTS[-1])
    x = _log_mel(np.stack(clips))
    x = (x - x.mean()) / x.std()
    return x[:, None], np.array(labels), np.array(held_out)


def keyword_task(tmp: Path, seed: int, n_calib: int):
    """A DS-CNN (MLPerf Tiny's keyword model in small: a strided conv, three depthwise-separable blocks with
    BatchNorm and ReLU, global average pooling, dense) on espeak-ng's words in noise."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y, held_out = _keyword_data(rng, seed)
    nn = torch.nn

    def separable(c):
        return [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU()]

    c = 32
    net = nn.Sequential(nn.Conv2d(1, c, (5, 3), stride=2, padding=(2, 1)), nn.BatchNorm2d(c), nn.ReLU(),
                        *separable(c), *separable(c), *separable(c),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, len(WORDS)), nn.Softmax(dim=1))
    x_train, y_train = x[~held_out], y[~held_out]
    path = _train_and_export(net, x_train, y_train, 25, tmp / "ds_cnn.onnx")
    calib = x_train[rng.choice(len(x_train), n_calib, replace=False)]
    return dict(name="keyword DS-CNN", path=path, calib=calib, x=x[held_out], labels=y[held_out], metric="accuracy")


def motor_task(tmp: Path, seed: int, n_calib: int):
    """The motor example's autoencoder (examples/motor/train.py: its features, training and float network, here
    trained on 4 minutes of healthy recordings of the example machine, 40 epochs); scored by the AUC of the
    reconstruction error on windows of 2 other healthy recordings against windows of 5 recordings (one per
    fault type) after the fault reached its documented severity."""
    sys.path.insert(0, str(ROOT / "examples" / "motor"))
    from train import features_of, float_graph, train_autoencoder
    from vibration import FAULTS, Fault, Machine, simulate

    from codegen.apps.anomaly import AnomalyConfig
    from codegen.model.tflite_write import write_graph

    cfg = AnomalyConfig()
    rng = np.random.default_rng(seed)
    hop_s = cfg.hop / cfg.rate_hz

    def features(name, seconds, faults=(), i=0):
        rec = simulate(Machine(shaft_hz=float(rng.uniform(25.0, 32.0))), seconds, faults, seed=seed * 1000 + i)
        np.save(tmp / f"{name}.npy", rec.samples)
        return features_of([tmp / f"{name}.npy"], cfg)[0]

    train = np.concatenate([features(f"healthy_{i}", 60, i=i) for i in range(4)])
    normal = np.concatenate([features(f"normal_{i}", 40, i=10 + i) for i in range(2)])
    faulty = []
    for i, kind in enumerate(FAULTS):
        fault = Fault(kind, onset_s=10, growth_s=20)
        faulty.append(features(kind, 40, (fault,), 20 + i)[int(fault.at_level_s / hop_s):])
    faulty = np.concatenate(faulty)
    path = tmp / "motor_ae.tflite"
    path.write_bytes(write_graph(float_graph(train_autoencoder(train, 40, seed)), "float motor autoencoder"))
    return dict(name="motor autoencoder", path=path, calib=train[rng.choice(len(train), n_calib, replace=False)],
                x=np.concatenate([normal, faulty]), labels=np.r_[np.zeros(len(normal)), np.ones(len(faulty))].astype(int),
                metric="AUC")


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


def mlc_ptq(path, calib, x, tmp, method, bias_correction=True, equalize="auto", adaround=False):
    """((output, logits) on x, seconds `quantize` took)."""
    model = load_float(path)
    start = time.perf_counter()
    result = quantize(model, calib, method, bias_correction=bias_correction, equalize=equalize, adaround=adaround)
    seconds = time.perf_counter() - start
    out = tmp / f"mlc_{method}_{bias_correction}_{equalize}_{adaround}.tflite"
    out.write_bytes(result.model)
    g = load(out)
    xq = _quantize_input(g.inputs[0], model.inputs(x, "evaluation data"))
    values = hostsim_run_all(g, xq)
    q = values[g.outputs[0].index]
    # hostsim equals TFLM byte for byte (tests/test_quantize.py); checked here on a few inputs too
    assert np.array_equal(tflm.run(out, xq[:8]).outputs[0].reshape(q[:8].shape), q[:8])
    logits = _softmax_input(g)
    return (_dequantize(g.outputs[0], q), logits and _dequantize(logits, values[logits.index])), seconds


TASKS = {"digits": digits_task, "residual": residual_task, "keyword": keyword_task, "ad01": ad01_task, "motor": motor_task}


def main() -> int:
    args = _args()
    rows, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.tasks:
            task = TASKS[name](tmp, args.seed, args.calib)
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
            for method, correct, equalize, adaround in (("auto", False, "off", False), ("minmax", True, "off", False),
                                                        ("auto", True, "off", False), ("auto", True, "auto", False),
                                                        ("auto", True, "auto", True)):
                result, seconds = mlc_ptq(task["path"], task["calib"], task["x"], tmp, method, correct, equalize, adaround)
                label = (f"{method}{', bias correction' if correct else ''}{', equalize auto' if equalize == 'auto' else ''}"
                         f"{', adaround' if adaround else ''}")
                rows.append(_row(task, f"mlc ({label})", x_model, ref, result))
                if equalize == "auto":
                    times.append(f"{task['name']}: mlc ({label}) {seconds:.1f} s")
            if str(task["path"]).endswith(".onnx"):  # the same network and weights given to mlc as Keras
                keras_path = tmp / "model.keras"
                keras_model(model.graph).save(keras_path)
                rows.append(_row(task, "mlc (auto, bias correction, equalize auto) from Keras", x_model, ref,
                                 mlc_ptq(keras_path, calib_model, x_model, tmp, "auto")[0]))
    print("| model | quantizer | accuracy / AUC | output SQNR dB | logits SQNR dB | top-1 agreement |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        score = f"{r['score']:.4f}" if r["model"].endswith("autoencoder") else f"{100 * r['score']:.2f} %"
        quantized = r["quantizer"] != "float"
        sqnr = f"{r['sqnr']:.1f}" if quantized else ""
        logit_sqnr = f"{r['logit_sqnr']:.1f}" if quantized and r["logit_sqnr"] is not None else ""
        top1 = "" if r["top1"] is None else f"{100 * r['top1']:.1f} %"
        print(f"| {r['model']} | {r['quantizer']} | {score} | {sqnr} | {logit_sqnr} | {top1} |")
    print("\ntime `quantize` took: " + "; ".join(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
