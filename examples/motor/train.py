"""Train the anomaly app's autoencoder on recordings of normal operation only, quantize it with mlc's own
quantizer and calibrate its threshold; writes what `mlc build --app anomaly` needs.

    python examples/motor/train.py --normal rec1.npy [rec2.npy ...] --out DIR [--false-alarms-per-hour 0.1]

DIR gets model.tflite (int8) and threshold.json (the pipeline's configuration with the calibrated threshold,
for `mlc build model.tflite --app anomaly --threshold-from threshold.json`). The features are the app's own
(hostsim's twin of the firmware), computed from the recordings alone: nothing here knows the example
machine, so normal recordings of any machine at the configured rate work. The network is a small dense
autoencoder trained with plain numpy (Adam, mean squared error; seconds on a laptop), its input
standardisation folded into the first and last layers so the model takes and returns the raw features.
The last HOLD_OUT of every recording is held out of training; the threshold comes from those windows.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from codegen.apps.anomaly import LOG_FRAC_BITS, AnomalyConfig, calibrate, read_recording, write_threshold_file  # noqa: E402
from codegen.errors import MlcError  # noqa: E402

HOLD_OUT = 0.3
HIDDEN = (24, 8, 24)


def features_of(paths, cfg):
    from hostsim.apps.anomaly import all_log_features

    return [all_log_features(read_recording(p, cfg.rate_hz), cfg).astype(np.float32) / 2 ** LOG_FRAC_BITS for p in paths]


def train_autoencoder(x: np.ndarray, epochs: int, seed: int = 0, lr: float = 2e-3, batch: int = 64):
    """A dense autoencoder (ReLU hidden layers, linear output) on standardized x; returns [(W (out, in), b)]
    acting on raw x (standardisation folded in)."""
    rng = np.random.default_rng(seed)
    mu, sigma = x.mean(0), x.std(0) + 1e-3
    z = (x - mu) / sigma
    sizes = [x.shape[1], *HIDDEN, x.shape[1]]
    params = [[rng.normal(0, np.sqrt(2 / a), (b, a)).astype(np.float32), np.zeros(b, np.float32)]
              for a, b in zip(sizes[:-1], sizes[1:])]
    moments = [[np.zeros_like(p) for p in layer for _ in range(2)] for layer in params]  # m, v per parameter
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(z))
        for start in range(0, len(z), batch):
            xb = z[order[start:start + batch]]
            acts = [xb]
            for k, (w, b) in enumerate(params):
                y = acts[-1] @ w.T + b
                acts.append(np.maximum(y, 0) if k < len(params) - 1 else y)
            grad = 2 * (acts[-1] - xb) / xb.size
            step += 1
            for k in reversed(range(len(params))):
                w, b = params[k]
                if k < len(params) - 1:
                    grad = grad * (acts[k + 1] > 0)
                gw, gb = grad.T @ acts[k], grad.sum(0)
                grad = grad @ w
                for j, g in enumerate((gw, gb)):
                    m, v = moments[k][2 * j], moments[k][2 * j + 1]
                    m[...] = 0.9 * m + 0.1 * g
                    v[...] = 0.999 * v + 0.001 * g * g
                    params[k][j] = params[k][j] - lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    (w0, b0), (wl, bl) = params[0], params[-1]
    params[0] = [w0 / sigma, b0 - (w0 / sigma) @ mu]
    params[-1] = [wl * sigma[:, None], bl * sigma + mu]
    return [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]


def float_graph(layers, name="anomaly_ae"):
    """The autoencoder as mlc's float IR (FULLY_CONNECTED layers), for codegen.quantize."""
    from codegen.model.ir import Graph, Op, Tensor

    tensors, ops = [], []

    def tensor(tname, shape, data=None):
        t = Tensor(len(tensors), tname, tuple(shape), "float32", data=data)
        tensors.append(t)
        return t

    x = tensor("features", (1, layers[0][0].shape[1]))
    inputs, h = [x], x
    for k, (w, b) in enumerate(layers):
        out = tensor(f"dense_{k}", (1, w.shape[0]))
        act = "RELU" if k < len(layers) - 1 else "NONE"
        ops.append(Op(len(ops), "FULLY_CONNECTED", [h, tensor(f"dense_{k}_w", w.shape, w), tensor(f"dense_{k}_b", b.shape, b)],
                      [out], {"activation": act, "keep_num_dims": False}))
        h = out
    return Graph(name=name, path=f"{name}.tflite", tensors=tensors, ops=ops, inputs=inputs, outputs=[h])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--normal", nargs="+", required=True, help="recordings of normal operation (.npy/.csv/.wav)")
    parser.add_argument("--rate", type=int, default=AnomalyConfig.rate_hz)
    parser.add_argument("--window", type=int, default=AnomalyConfig.window)
    parser.add_argument("--hop", type=int, default=AnomalyConfig.hop)
    parser.add_argument("--bands", type=int, default=AnomalyConfig.bands)
    return run_training(parser, argv, _train, epochs=40)


def run_training(parser, argv, train, epochs: int) -> int:
    """The options every training script shares, then train(args) with mlc's one-line errors."""
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--false-alarms-per-hour", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        return train(args)
    except MlcError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2


def _train(args) -> int:
    from codegen.ops import load
    from codegen.quantize.pipeline import FloatModel, quantize
    from hostsim.apps.anomaly import simulate

    cfg = AnomalyConfig(rate_hz=args.rate, window=args.window, hop=args.hop, bands=args.bands).check()
    feats = features_of(args.normal, cfg)
    split = [int(len(f) * (1 - HOLD_OUT)) for f in feats]
    train = np.concatenate([f[:s] for f, s in zip(feats, split)])
    if len(train) < 64:
        raise MlcError(f"{len(train)} training windows from {len(args.normal)} recording(s); give at least "
                       f"{int(64 / (1 - HOLD_OUT) * cfg.hop / cfg.rate_hz) + 1} s of normal recordings")
    layers = train_autoencoder(train, args.epochs, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    result = quantize(FloatModel(float_graph(layers)), train[np.random.default_rng(args.seed).permutation(len(train))[:2000]])
    model = args.out / "model.tflite"
    model.write_bytes(result.model)
    graph = load(model)
    held = []
    for path, s in zip(args.normal, split):
        samples = read_recording(path, cfg.rate_hz)
        start = s * cfg.hop  # the held-out windows' samples (the pipeline restarts there)
        held.append(np.array([r.score for r in simulate(graph, cfg, samples[start:])]))
    cfg, info = calibrate(held, cfg, args.false_alarms_per_hour)
    write_threshold_file(args.out / "threshold.json", model, cfg, {"calibration": info})
    print(f"trained on {len(train)} windows; threshold {cfg.threshold} for {args.false_alarms_per_hour:g} false alarms "
          f"per hour from {info['normal_windows']} held-out windows ({info['normal_seconds']} s)")
    print(f"wrote {model} and {args.out / 'threshold.json'}")
    print(asdict(replace(cfg)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
