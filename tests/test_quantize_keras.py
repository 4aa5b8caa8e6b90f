"""A Keras model through `mlc quantize` (TensorFlow's converter makes the float .tflite): BatchNorm folded,
the int8 model bit-exact between hostsim and TFLM. Marked extras: TensorFlow is an optional extra (train),
which scripts/test installs; the quick loop can leave it out with -m "not extras"."""
import numpy as np
import pytest

pytestmark = pytest.mark.extras
tf = pytest.importorskip("tensorflow", reason="TensorFlow (the bench-quantizer extra) is not installed")

from codegen.model import tflm  # noqa: E402
from codegen.ops import load  # noqa: E402
from codegen.quantize import executor  # noqa: E402
from codegen.quantize.pipeline import load_float, quantize  # noqa: E402
from hostsim import run  # noqa: E402


def test_keras_cnn_quantized_bit_exact(tmp_path):
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 1)), layers.Conv2D(8, 3, padding="same", use_bias=False),
                                 layers.BatchNormalization(), layers.ReLU(), layers.DepthwiseConv2D(3, strides=2, padding="same"),
                                 layers.ReLU(6.0), layers.Flatten(), layers.Dense(10), layers.Softmax()])
    rng = np.random.default_rng(0)
    bn = model.layers[1]
    bn.set_weights([rng.uniform(0.5, 2, 8), rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 8), rng.uniform(0.5, 2, 8)])
    path = tmp_path / "cnn.keras"
    model.save(path)
    float_model = load_float(path)
    assert [op.kind for op in float_model.graph.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    x = rng.uniform(0, 1, (64, 8, 8, 1)).astype(np.float32)
    out = tmp_path / "cnn_int8.tflite"
    out.write_bytes(quantize(float_model, x).model)
    graph = load(out)
    q = rng.integers(-128, 128, (20, 8, 8, 1)).astype(np.int8)
    assert np.array_equal(run(graph, q), tflm.run(out, q).outputs[0].reshape(20, 10))
    np.testing.assert_allclose(model.predict(x[:8], verbose=0), executor.run(float_model.graph, x[:8]), atol=1e-5)
