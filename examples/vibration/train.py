"""Train the default mlc example: a tiny 3-axis vibration classifier on synthetic data.

A machine's accelerometer (3 axes, 1 kHz, 128-sample windows = 128 ms) is classified as
    normal | imbalance | misalignment | bearing_fault
The data are simulated here (no download): shaft speed 20-40 Hz,
  imbalance      strong 1x shaft-speed sine on the radial axes (x, y 90 degrees apart),
  misalignment   strong 2x (and some 1x) component on the axial axis (z),
  bearing_fault  decaying 250-350 Hz ringing excited at the outer-race rate (~3.6x speed),
on top of a normal machine's small 1x, noise and random gains.

Model (int8, ~2 k weights): Conv2D(8, 5x1, stride 2, relu) -> MaxPool(2x1) -> Conv2D(8, 5x1,
stride 2, relu) -> MaxPool(2x1) -> Flatten -> Dense(16, relu) -> Dense(4) -> Softmax;
TFLite ops CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX. Input [1, 128, 1, 3]
(time, 1, axis) int8, output [1, 4] int8 probabilities (scale 1/256, zero point -128).

Run (TensorFlow needed; about 20 s on 2 cores), from the repo root:
    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python examples/vibration/train.py
Writes model.tflite, labels.txt and sample_inputs.npy (2 int8 windows per class, in label
order: sample i belongs to class i // 2) next to this file.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402

HERE = Path(__file__).resolve().parent
LABELS = ["normal", "imbalance", "misalignment", "bearing_fault"]
FS, N = 1000.0, 128  # sample rate (Hz), window length (samples)
SEED = 7


def synth(label: int, rng: np.random.Generator) -> np.ndarray:
    """One [N, 3] window (x, y radial; z axial) of class `label`, in g."""
    t = np.arange(N) / FS
    f0 = rng.uniform(20, 40)
    ph = rng.uniform(0, 2 * np.pi, 3)
    x = rng.normal(0, rng.uniform(0.05, 0.35), (N, 3))
    base = rng.uniform(0.05, 0.35)  # every machine has a small 1x
    for a in range(3):
        x[:, a] += base * np.sin(2 * np.pi * f0 * t + ph[a])
    if label == 1:  # imbalance: large 1x, radial, x/y in quadrature
        amp = rng.uniform(0.3, 1.5)
        x[:, 0] += amp * np.sin(2 * np.pi * f0 * t + ph[0])
        x[:, 1] += amp * np.cos(2 * np.pi * f0 * t + ph[0]) * rng.uniform(0.7, 1.0)
        x[:, 2] += 0.2 * amp * np.sin(2 * np.pi * f0 * t + ph[2])
    elif label == 2:  # misalignment: 2x (and 1x) mostly axial
        amp = rng.uniform(0.25, 1.2)
        x[:, 2] += amp * (np.sin(4 * np.pi * f0 * t + ph[1]) + 0.5 * np.sin(2 * np.pi * f0 * t))
        x[:, :2] += 0.3 * amp * np.sin(4 * np.pi * f0 * t + ph[2])[:, None]
    elif label == 3:  # bearing outer-race fault: ringing bursts at ~3.6x shaft speed
        bpfo, fr = f0 * rng.uniform(3.3, 3.9), rng.uniform(250, 350)
        amp = rng.uniform(0.25, 1.5)
        tau = t % (1 / bpfo)
        ring = amp * np.exp(-tau * rng.uniform(60, 120)) * np.sin(2 * np.pi * fr * tau)
        x += ring[:, None] * rng.uniform(0.3, 1.0, 3)
    return (x * rng.uniform(0.8, 1.25)).astype(np.float32)


def dataset(n_per_class: int, rng):
    y = np.repeat(np.arange(len(LABELS)), n_per_class)
    rng.shuffle(y)
    x = np.stack([synth(int(c), rng) for c in y])[:, :, None, :]  # [B, 128, 1, 3]
    return x, y


def make_model():
    return keras.Sequential([
        keras.Input((N, 1, 3), batch_size=1),  # fixed batch: Flatten becomes one RESHAPE
        L.Conv2D(8, (5, 1), strides=(2, 1), padding="same", activation="relu"),
        L.MaxPooling2D((2, 1)),
        L.Conv2D(8, (5, 1), strides=(2, 1), padding="same", activation="relu"),
        L.MaxPooling2D((2, 1)),
        L.Flatten(),
        L.Dense(16, activation="relu"),
        L.Dense(len(LABELS)),
        L.Softmax(),
    ])


def main():
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(SEED)
    x_train, y_train = dataset(1200, rng)
    x_test, y_test = dataset(200, rng)

    # Train with a batch dimension; the exported copy has batch 1 (same weights).
    train_model = keras.Sequential([keras.Input((N, 1, 3))] + make_model().layers)
    train_model.compile(optimizer=keras.optimizers.Adam(3e-3),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_model.fit(x_train, y_train, epochs=12, batch_size=64, verbose=2, shuffle=True)
    float_acc = train_model.evaluate(x_test, y_test, verbose=0)[1]
    model = make_model()
    model.set_weights(train_model.get_weights())

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x_train[i:i + 1]] for i in range(300))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    data = conv.convert()

    interp = tf.lite.Interpreter(model_content=data, experimental_op_resolver_type=(
        tf.lite.experimental.OpResolverType.BUILTIN_REF))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zp = inp["quantization"]

    def q(x):
        return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)

    def predict(xq):
        interp.set_tensor(inp["index"], xq[None])
        interp.invoke()
        return interp.get_tensor(out["index"])[0].astype(int)

    probs = np.stack([predict(q(x)) for x in x_test])
    pred = probs.argmax(1)
    int8_acc = float(np.mean(pred == y_test))
    confusion = np.zeros((len(LABELS),) * 2, int)
    np.add.at(confusion, (y_test, pred), 1)
    # The two test windows per class that the int8 model is surest of, in label order.
    samples = [q(x_test[i]) for c in range(len(LABELS))
               for i in np.flatnonzero(y_test == c)[np.argsort(-probs[y_test == c, c],
                                                               kind="stable")[:2]]]

    (HERE / "model.tflite").write_bytes(data)
    (HERE / "labels.txt").write_text("\n".join(LABELS) + "\n")
    np.save(HERE / "sample_inputs.npy", np.stack(samples))
    print(f"float accuracy {float_acc:.3f}, int8 accuracy {int8_acc:.3f}, "
          f"model {len(data)} bytes, input scale {scale:.6g} zero point {zp}\n"
          f"int8 confusion matrix (rows: true {LABELS}):\n{confusion}")


if __name__ == "__main__":
    main()
