"""A Keras .keras/.h5 model as a float .tflite through TensorFlow's own converter (no quantization), so
Keras models take the same path as float .tflite files. TensorFlow is an optional extra (train)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from codegen.errors import MlcError
from codegen.model.ir import Graph


def read(path: str) -> Graph:
    from codegen.model.tflite import read as read_tflite

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise MlcError("reading Keras models needs TensorFlow; run `pip install 'mlc[train]'` (TensorFlow, the train extra)") from None
    try:
        model = tf.keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many kinds on unreadable files
        raise MlcError(f"{path}: Keras cannot load the model ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / (Path(path).stem + ".tflite")
        converted.write_bytes(data)
        graph = read_tflite(converted, float_model=True)
    graph.path = str(path)
    return graph
