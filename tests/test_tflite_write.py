"""The one .tflite writer: a model read by codegen.model.tflite, written back, reads back equal."""
import numpy as np
import pytest

from codegen.model.tflite import parse, read
from codegen.model.tflite_write import write_graph
from paths import MODELS



def _same(a, b):
    assert [(t.name, t.shape, t.dtype) for t in a.tensors] == [(t.name, t.shape, t.dtype) for t in b.tensors]
    for x, y in zip(a.tensors, b.tensors):
        assert (x.data is None) == (y.data is None) and (x.data is None or np.array_equal(x.data, y.data)), x.name
        assert (x.quant is None) == (y.quant is None), x.name
        if x.quant is not None:
            assert np.array_equal(x.quant.scale, y.quant.scale) and np.array_equal(x.quant.zero_point, y.quant.zero_point)
            assert x.quant.axis == y.quant.axis or not x.quant.per_channel
    assert [(op.kind, op.options, [t.index if t else -1 for t in op.inputs], [t.index for t in op.outputs])
            for op in a.ops] == [(op.kind, op.options, [t.index if t else -1 for t in op.inputs], [t.index for t in op.outputs])
                                 for op in b.ops]


@pytest.mark.parametrize("name", ["ad01_int8", "hello_world_int8", "kws_ref_model"])
def test_reference_model_round_trip(name, tmp_path):
    original = read(MODELS / f"{name}.tflite")
    out = tmp_path / "copy.tflite"
    out.write_bytes(write_graph(original))
    _same(original, read(out))


def test_float_model_round_trip():
    original = read(MODELS / "ad01_fp32.tflite", float_model=True)
    _same(original, parse(write_graph(original), "copy.tflite"))


def test_float_reading_is_only_for_the_quantizer():
    from codegen.errors import MlcError

    with pytest.raises(MlcError, match="float-only model"):
        read(MODELS / "ad01_fp32.tflite")
    with pytest.raises(MlcError, match="the quantizer takes a float32 model"):
        read(MODELS / "ad01_int8.tflite", float_model=True)


@pytest.mark.parametrize("name", ["ad01_int8", "kws_ref_model"])
def test_weights_stored_after_the_flatbuffer_are_read(name, tmp_path):
    """ai-edge-quantizer (litert-quantizer) stores weights past the flatbuffer once they total 256 KiB: buffers
    with an offset from the file's start and a size. mlc reads them (TFLM runs them with garbage:
    tensorflow/tflite-micro#3196), so the oracle runs the inline copy of the same model."""
    from codegen.cli import main
    from codegen.model import tflm
    from codegen.model.arrays import random_inputs
    from codegen.ops import load
    from hostsim import run

    original = read(MODELS / f"{name}.tflite")
    external, inline = tmp_path / "external.tflite", tmp_path / "inline.tflite"
    external.write_bytes(write_graph(original, external_buffers=True))
    inline.write_bytes(write_graph(original))
    flatbuffer_end = len(inline.read_bytes())
    assert len(external.read_bytes()) > flatbuffer_end  # the weights follow the flatbuffer
    _same(original, read(external))
    loaded = load(external)  # with each layer's parameters, as every command loads a model
    x = random_inputs(loaded, 8, 0)
    assert np.array_equal(run(loaded, x), tflm.run(inline, x).outputs[0].reshape(run(loaded, x).shape))
    np.save(tmp_path / "x.npy", x)
    assert main(["simulate", str(external), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 0


def test_weights_past_the_end_of_a_truncated_file_are_an_error(tmp_path, capsys):
    from codegen.cli import main

    data = write_graph(read(MODELS / "ad01_int8.tflite"), external_buffers=True)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[:-100])
    assert main(["inspect", str(cut)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "past its end" in err and "truncated file?" in err
