"""Models made by TensorFlow's real converter (tests/models/keras): hostsim equals TFLM byte for byte,
on the output and on every layer, after the importer's folding (Flatten's SHAPE/STRIDED_SLICE/PACK
chain, QUANTIZE/DEQUANTIZE edges, BatchNorm folded into convs, ...)."""
from pathlib import Path

import numpy as np
import pytest

from codegen.model import tflm as reference
from codegen.model.arrays import random_inputs
from codegen.ops import load
from hostsim import run, run_all

MODELS = Path(__file__).parent / "models"
KERAS = sorted((MODELS / "keras").glob("*.tflite"))


def inputs_with_extremes(graph, n, seed):
    x = random_inputs(graph, n, seed)
    if x.dtype in (np.int8, np.int16):
        info = np.iinfo(x.dtype)
        x[0], x[1] = info.min, info.max
    return x


@pytest.mark.parametrize("path", KERAS, ids=[p.stem for p in KERAS])
def test_converter_model_bit_exact(path):
    graph = load(path)
    assert not graph.unsupported, graph.unsupported
    x = inputs_with_extremes(graph, 100, seed=len(path.stem))
    want = reference.run(path, x).outputs[0]
    got = run(graph, x)
    assert got.dtype == want.dtype
    assert np.array_equal(got, want.reshape(got.shape)), f"{path.stem}: first differing input {np.argmax((got != want.reshape(got.shape)).reshape(len(x), -1).any(axis=1))}"


@pytest.mark.parametrize("path", KERAS[::4], ids=[p.stem for p in KERAS[::4]])
def test_converter_model_every_layer(path):
    graph = load(path)
    x = inputs_with_extremes(graph, 4, seed=7)
    bad = [m for m in reference.compare(graph, x, run_all(graph, x)) if not m.ok]
    assert not bad, f"first differing layer: {bad[0]}"


def test_flatten_shape_chain_is_folded():
    """Keras Flatten with a dynamic batch: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE becomes one RESHAPE."""
    folded = [p for p in KERAS if any(op.kind == "RESHAPE" for op in load(p).ops)]
    assert folded
    for p in folded:
        kinds = {op.kind for op in load(p).ops}
        assert not kinds & {"SHAPE", "STRIDED_SLICE", "PACK"}, p.stem


@pytest.mark.parametrize("stem", ["dynbatch_conv_dilated", "dynbatch_conv1d_causal_dilated"])
def test_dynamic_batch_dilated_conv_is_recovered(stem, tmp_path):
    """SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND (with EXPAND_DIMS ... RESHAPE inside for a Conv1D)
    folds into one dilated CONV_2D. TFLM computes these models wrongly (tests/models/keras_tflm_mismatch/
    README.md), so the reference is TensorFlow Lite's BUILTIN_REF output stored beside each; the
    generated C matches hostsim."""
    from c_harness import check_model

    path = MODELS / "keras_tflm_mismatch" / f"{stem}.tflite"
    graph = load(path)
    conv = next(op for op in graph.ops if op.kind == "CONV_2D")
    assert max(conv.params["dilation_h"], conv.params["dilation_w"]) == 2
    assert not {op.kind for op in graph.ops} & {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} and not graph.unsupported
    stored = np.load(path.with_suffix(".npz"))
    assert np.array_equal(run(graph, stored["x_q"]), stored["y_tflite"])
    assert check_model(path, tmp_path, n=50) == 50


def test_dynamic_batch_dense_on_a_sequence_is_one_fully_connected(tmp_path):
    """Keras Dense on a (time, features) input with a dynamic batch converts to SHAPE/GATHER/REDUCE_PROD
    shape arithmetic around RESHAPE -> FULLY_CONNECTED -> RESHAPE, with stale static shapes. mlc folds it
    to one FULLY_CONNECTED (keep_num_dims) and matches TensorFlow Lite's stored output (TFLM lacks
    REDUCE_PROD); the generated C matches hostsim."""
    from c_harness import check_model

    path = MODELS / "keras_tflm_mismatch" / "dynbatch_dense_rank3.tflite"
    graph = load(path)
    assert [op.kind for op in graph.ops] == ["FULLY_CONNECTED", "ADD"] and not graph.unsupported
    assert graph.ops[0].options["keep_num_dims"] and graph.ops[0].outputs[0].shape == (1, 6, 7)
    stored = np.load(path.with_suffix(".npz"))
    assert np.array_equal(run(graph, stored["x_q"]), stored["y_tflite"])
    assert check_model(path, tmp_path, n=50) == 50


def test_dynamic_batch_fill_is_a_constant(tmp_path):
    """tf.fill(tf.shape(x), 0.5) with a dynamic batch converts to SHAPE -> FILL; TFLM refuses FILL's non-constant
    dims. mlc folds SHAPE, then the FILL of a constant (CONCATENATION reads it from flash), and matches
    TensorFlow Lite's stored output; the generated C matches hostsim."""
    from c_harness import check_model

    path = MODELS / "keras_tflm_mismatch" / "dynbatch_fill.tflite"
    graph = load(path)
    assert [op.kind for op in graph.ops] == ["CONV_2D", "CONCATENATION"] and not graph.unsupported
    fill = graph.ops[1].inputs[1]
    assert fill.is_const and np.all(fill.data == fill.data.ravel()[0])
    stored = np.load(path.with_suffix(".npz"))
    assert np.array_equal(run(graph, stored["x_q"]), stored["y_tflite"])
    assert check_model(path, tmp_path, n=50) == 50
