"""Train a fault classifier for the anomaly app's classifier mode: the same features (hostsim's twin of the
firmware), a small dense network ending in a softmax over normal and the fault types, quantized with mlc's own
quantizer; the alarm then names the fault.

    python examples/motor/generate.py --out rec --minutes 3 --seed 2
    python examples/motor/train_classifier.py --recordings rec --out DIR

Labels come from rec/manifest.json (generate.py writes it): windows of healthy recordings and those before a
fault's onset are "normal", windows after the fault reached its documented severity are the fault's, the ones
in between are left out. DIR gets model.tflite, labels.txt and threshold.json (for `mlc build DIR/model.tflite
--app anomaly --labels DIR/labels.txt --threshold-from DIR/threshold.json`); the threshold is calibrated from
the last HOLD_OUT of the normal windows, as for the autoencoder.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from codegen.apps.anomaly import LOG_FRAC_BITS, AnomalyConfig, calibrate, read_recording, write_threshold_file  # noqa: E402
from train import float_graph, run_training  # noqa: E402

HOLD_OUT = 0.3
HIDDEN = 32


def labelled_windows(folder: Path, cfg: AnomalyConfig):
    """(features (N, F) float32, class index (N,), per recording the sample index where its held-out part starts,
    labels)."""
    from hostsim.apps.anomaly import all_log_features

    manifest = json.loads((folder / "manifest.json").read_text())
    labels = ["normal"] + sorted({f["kind"] for m in manifest.values() for f in m["faults"]})
    xs, ys = [], []
    for name, meta in sorted(manifest.items()):
        feats = all_log_features(read_recording(folder / name, cfg.rate_hz), cfg).astype(np.float32) / 2 ** LOG_FRAC_BITS
        t = cfg.time_ms(np.arange(len(feats))) / 1000
        y = np.zeros(len(feats), np.int64)
        for fault in meta["faults"]:
            y[t >= fault["onset_s"]] = -1  # growing: left out
            y[t >= fault["at_level_s"]] = labels.index(fault["kind"])
        xs.append(feats[y >= 0])
        ys.append(y[y >= 0])
    return np.concatenate(xs), np.concatenate(ys), labels


def train_softmax(x, y, classes: int, epochs: int, seed: int = 0, lr: float = 3e-3, batch: int = 64):
    rng = np.random.default_rng(seed)
    mu, sigma = x.mean(0), x.std(0) + 1e-3
    z = (x - mu) / sigma
    w1 = rng.normal(0, np.sqrt(2 / x.shape[1]), (HIDDEN, x.shape[1]))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0, np.sqrt(1 / HIDDEN), (classes, HIDDEN))
    b2 = np.zeros(classes)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(z))
        for start in range(0, len(z), batch):
            idx = order[start:start + batch]
            h = np.maximum(z[idx] @ params[0].T + params[1], 0)
            logits = h @ params[2].T + params[3]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            g = p / len(idx)
            gh = (g @ params[2]) * (h > 0)
            grads = [gh.T @ z[idx], gh.sum(0), g.T @ h, g.sum(0)]
            step += 1
            for k, gk in enumerate(grads):
                m[k] = 0.9 * m[k] + 0.1 * gk
                v[k] = 0.999 * v[k] + 0.001 * gk * gk
                params[k] = params[k] - lr * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
    w1, b1, w2, b2 = params
    return [((w1 / sigma).astype(np.float32), (b1 - (w1 / sigma) @ mu).astype(np.float32)),
            (w2.astype(np.float32), b2.astype(np.float32))]


def classifier_graph(layers):
    """float_graph's dense layers with a SOFTMAX on the class scores."""
    from codegen.model.ir import Op, Tensor

    graph = float_graph(layers, name="motor_faults")
    logits = graph.outputs[0]
    probs = Tensor(len(graph.tensors), "probabilities", logits.shape, "float32")
    graph.tensors.append(probs)
    graph.ops.append(Op(len(graph.ops), "SOFTMAX", [logits], [probs], {"beta": 1.0}))
    graph.outputs = [probs]
    return graph


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", required=True, type=Path, help="a folder with manifest.json (generate.py)")
    return run_training(parser, argv, _train, epochs=30)


def _train(args) -> int:
    from codegen.ops import load
    from codegen.quantize.pipeline import FloatModel, quantize
    from codegen.apps.anomaly import model_quant
    from hostsim import run
    from hostsim.apps.anomaly import quantize_features

    cfg = AnomalyConfig()
    x, y, labels = labelled_windows(args.recordings, cfg)
    rng = np.random.default_rng(args.seed)
    held = rng.random(len(x)) < HOLD_OUT
    layers = train_softmax(x[~held], y[~held], len(labels), args.epochs, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    result = quantize(FloatModel(classifier_graph(layers)), x[~held][rng.permutation(int((~held).sum()))[:2000]])
    model = args.out / "model.tflite"
    model.write_bytes(result.model)
    (args.out / "labels.txt").write_text("\n".join(labels) + "\n")
    cfg = replace(cfg, labels=tuple(labels), normal_class=0, threshold=0)
    graph = load(model)
    q = quantize_features(np.round(x[held] * 2 ** LOG_FRAC_BITS).astype(np.int64), model_quant(graph, cfg))
    out = run(graph, q)
    best = out.argmax(1)
    accuracy = float(np.mean(best == y[held]))
    normal = y[held] == 0
    scores = np.where(best[normal] != 0, out[normal][np.arange(normal.sum()), best[normal]].astype(np.int64) + 128, 0)
    cfg, info = calibrate([scores], cfg, args.false_alarms_per_hour)
    write_threshold_file(args.out / "threshold.json", model, cfg, {"calibration": info, "held_out_accuracy": accuracy})
    print(f"classes {labels}; held-out window accuracy {accuracy:.3f}; threshold {cfg.threshold}")
    print(f"wrote {model}, {args.out / 'labels.txt'} and {args.out / 'threshold.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
