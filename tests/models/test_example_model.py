"""The shipped default example (examples/vibration) is a small int8 model that tflite-micro runs
and that classifies its own sample inputs correctly."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_keras_models import model_info  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tflite_builder import run_tflm  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vibration"
ALLOWED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
               "MAX_POOL_2D", "ADD", "MUL", "SOFTMAX", "LOGISTIC", "TANH", "RESHAPE",
               "CONCATENATION", "MEAN", "PAD", "QUANTIZE", "DEQUANTIZE"}


@pytest.fixture(scope="module")
def model():
    return (EXAMPLE / "model.tflite").read_bytes()


def test_example_is_small_int8_and_uses_supported_ops(model):
    ops, qin, qout = model_info(model)
    assert set(ops) <= ALLOWED_OPS
    assert qin[0] == qout[0] == "int8" and qout[1:] == (1 / 256, -128)
    assert len(model) < 16_000
    labels = (EXAMPLE / "labels.txt").read_text().split()
    assert 2 <= len(labels) <= 6


def test_sample_inputs_are_classified_as_their_class_in_tflm(model):
    labels = (EXAMPLE / "labels.txt").read_text().split()
    samples = np.load(EXAMPLE / "sample_inputs.npy")
    assert samples.dtype == np.int8 and len(samples) == 2 * len(labels)
    for i, x in enumerate(samples):
        (probs,) = run_tflm(model, [x[None]])
        assert probs.shape == (1, len(labels))
        assert int(np.argmax(probs)) == i // 2, (labels[i // 2], probs)
