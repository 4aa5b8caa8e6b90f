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
