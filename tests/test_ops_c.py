"""The generated C for TRANSPOSE_CONV, ADD, SUB, MUL, SQUARED_DIFFERENCE, PRELU, MAXIMUM, MINIMUM, RELU, RELU6, LEAKY_RELU,
HARD_SWISH, ABS, RSQRT, ELU, TRANSPOSE, SLICE, STRIDED_SLICE, PACK, SPLIT/SPLIT_V/UNPACK, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR,
DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND (int8, float32), GATHER, GATHER_ND, MIRROR_PAD,
REDUCE_MAX, REDUCE_MIN (int8, float32), ARG_MAX, ARG_MIN, CONCATENATION, PAD/PADV2, MEAN, SUM, QUANTIZE
and DEQUANTIZE equals
hostsim byte for byte on every layer (host gcc with ASan/UBSan; tests/c_harness.py), on drawn
single-input models and the multi-op models of test_hostsim_ops, and compiles warning-free for
Cortex-M and AVR (16-bit int). hostsim itself is held to TFLM by test_hostsim_ops."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import strategies as S
from c_harness import check_model, compile_c, generate_lib, have
from test_hostsim_ops import (activations_model, batch_one_shapes, branches_model, concatenations, copies_model,
                              float_io_model, float_island_model, graph_of, int16_prelu_model, pads, refused_for_batch,
                              residual_model, space_batch_model)
from tflite_builder import ModelBuilder

pytestmark = pytest.mark.skipif(not have("gcc"), reason="gcc is not installed")
# Each example compiles a library (~1 s): few examples, and no shrinking (it would recompile for minutes).
C_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.reuse, Phase.generate])
TARGETS = {  # compile-only cross checks: (compiler, target flags)
    "cortex-m0plus": ("arm-none-eabi-gcc", ["-mcpu=cortex-m0plus", "-mthumb"]),
    "cortex-m4": ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]),
    "atmega328p": ("avr-gcc", ["-mmcu=atmega328p"]),
}


@st.composite
def binary_models(draw, ops=("ADD", "MUL"), dtype="int8"):
    """x op y where y is a broadcast constant, x requantized (same shape) or MEAN(x) (broadcast; int8)."""
    op = draw(st.sampled_from(ops))
    shape = [1] + draw(S.shapes(1, 3))
    b = ModelBuilder(act_dtype=dtype)
    x = b.input(shape, *draw(S.quant(dtype)))
    kind = draw(st.sampled_from(["const", "requantized", "mean"] if dtype == "int8" else ["const", "requantized"]))
    if kind == "const":
        other = [d if draw(st.booleans()) else 1 for d in shape][draw(st.integers(0, len(shape) - 1)):]
        info = np.iinfo(dtype)
        y = b.const(np.random.default_rng(draw(S.seeds)).integers(info.min, info.max + 1, other), dtype,
                    *draw(S.quant(dtype)))
    elif kind == "requantized":
        y = b.quantize(x, *draw(S.quant(dtype)), dtype=dtype)
    else:
        y = b.mean(x, list(range(1, len(shape))), True, *draw(S.quant()))
    a, c = (x, y) if draw(st.booleans()) else (y, x)
    out_scale = float(np.float32(a.scale + c.scale if op in ("ADD", "SUB") else a.scale * c.scale * S.half_range(dtype)))
    if op in ("MAXIMUM", "MINIMUM"):
        z = (b.maximum if op == "MAXIMUM" else b.minimum)(a, c)
    elif op == "PRELU":
        z = b.prelu(a, c, float(np.float32(a.scale)), draw(S.zero_points))
    elif op == "SQUARED_DIFFERENCE":
        z = b.squared_difference(a, c, out_scale, draw(S.zero_points))
    else:
        z = {"ADD": b.add, "SUB": b.sub, "MUL": b.mul}[op](a, c, out_scale, draw(S.quant(dtype))[1], draw(S.activations))
    b.output(z)
    return b.finish()


@st.composite
def packs(draw):
    """PACK along a non-batch axis of x, requantized copies of it and constants."""
    shape = [1] + draw(S.shapes(0, 3))
    axis = draw(st.integers(1, len(shape)))
    q = draw(S.quant())
    rng = np.random.default_rng(draw(S.seeds))
    b = ModelBuilder()
    x = b.input(shape, *q)
    parts = [x] + [b.quantize(x, *draw(S.quant())) if draw(st.booleans()) else b.const_int8(rng.integers(-128, 128, shape), *q)
                   for _ in range(draw(st.integers(0, 3)))]
    b.output(b.pack(parts, axis))
    return b.finish()


def _model(case):
    return case.model


SINGLE_INPUT = {  # drawn when the test runs, after batch_one_shapes
    "TRANSPOSE_CONV": lambda: S.transpose_conv_models().map(_model),
    "ADD/MUL": binary_models,
    "SUB": lambda: binary_models(("SUB",)),
    "SQUARED_DIFFERENCE": lambda: binary_models(("SQUARED_DIFFERENCE",)),
    "MAXIMUM/MINIMUM": lambda: binary_models(("MAXIMUM", "MINIMUM")),
    "PRELU": lambda: binary_models(("PRELU",)),
    "RELU": lambda: S.relu_models().map(_model),
    "RELU6": lambda: S.relu6_models().map(_model),
    "LEAKY_RELU": lambda: S.leaky_relu_models().map(_model),
    "HARD_SWISH": lambda: S.hard_swish_models().map(_model),
    "ABS": lambda: S.abs_models().map(_model),
    "RSQRT": lambda: S.rsqrt_models().map(_model),
    "ELU": lambda: S.elu_models().map(_model),
    "LOG_SOFTMAX": lambda: S.log_softmax_models().map(_model),
    "L2_NORMALIZATION": lambda: S.l2_normalization_models().map(_model),
    "CAST": lambda: S.cast_models().filter(  # a model of int32/float32 only is refused as a float model on load
        lambda c: {t.dtype for t in c.inputs + c.outputs} & {"int8", "int16"}).map(_model),
    "DEPTH_TO_SPACE": lambda: S.depth_space_models("DEPTH_TO_SPACE").map(_model),
    "SPACE_TO_DEPTH": lambda: S.depth_space_models("SPACE_TO_DEPTH").map(_model),
    **{f"{op}{suffix}": (lambda op=op, dtype=dtype: S.space_batch_models(op, dtype=dtype).map(_model))
       for op in ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND") for suffix, dtype in (("", "int8"), ("/float32", "float32"))},
    "SPACE_TO_BATCH_ND/conv": lambda: S.space_batch_models("SPACE_TO_BATCH_ND", middles=("CONV_2D", "DEPTHWISE_CONV_2D")).map(_model),
    "GATHER": lambda: S.gather_models().map(_model),
    "MIRROR_PAD": lambda: S.mirror_pad_models().map(_model),
    "REDUCE_MIN": lambda: S.reduce_min_models().map(_model),
    "ARG_MAX/ARG_MIN": lambda: st.sampled_from(["ARG_MAX", "ARG_MIN"]).flatmap(S.arg_min_max_models).map(_model),
    "TRANSPOSE": lambda: S.transpose_models().map(_model),
    "SLICE": lambda: S.slice_models().map(_model),
    "STRIDED_SLICE": lambda: S.strided_slice_models().map(_model),
    "RESIZE_NEAREST_NEIGHBOR": lambda: S.resize_nearest_neighbor_models().map(_model),
    "RESIZE_BILINEAR": lambda: S.resize_nearest_neighbor_models("RESIZE_BILINEAR").map(_model),
    "SPLIT/SPLIT_V/UNPACK": lambda: S.split_models().map(_model),
    "CONCATENATION": lambda: concatenations(single_input=True),
    "PACK": packs,
    "PAD": pads,
    "MEAN": lambda: S.mean_models().map(_model),
    "SUM": lambda: S.sum_models().map(_model),
    "REDUCE_MAX": lambda: S.reduce_max_models().map(_model),
    # float32 REDUCE_MAX / REDUCE_MIN on -0.0, +0.0, NaN and infinities (compared byte for byte)
    "REDUCE_MAX/REDUCE_MIN/float32 specials": lambda: st.sampled_from(["REDUCE_MAX", "REDUCE_MIN"]).flatmap(
        S.reduce_extreme_models).map(_model),
    "QUANTIZE": lambda: S.quantize_models().map(_model),
    "DEQUANTIZE": lambda: S.dequantize_models().map(_model),
    # 16x8: int16 activations (zero points 0), int8 weights, int64 bias
    **{f"{op}/int16": (lambda op=op: S.STRATEGIES[op](dtype="int16").map(_model))
       for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "TRANSPOSE", "SLICE", "STRIDED_SLICE", "PAD", "SPLIT",
                  "POOL_2D", "MEAN", "SUM", "RELU", "RELU6", "LEAKY_RELU", "SOFTMAX", "LOGISTIC", "TANH", "PRELU")},
    "ADD/SUB/MUL/int16": lambda: binary_models(("ADD", "SUB", "MUL"), "int16"),
    "BATCH_MATMUL": lambda: S.batch_matmul_models().map(_model),  # one or two inputs
    "BATCH_MATMUL/int16": lambda: S.batch_matmul_models(dtype="int16").map(_model),
    "BROADCAST_TO": lambda: S.broadcast_to_models().map(_model),
    "BROADCAST_TO/int16": lambda: S.broadcast_to_models(dtype="int16").map(_model),
    "GATHER_ND": lambda: S.gather_nd_models().map(_model),
}


@C_SETTINGS
@given(case=S.batch_matmul_models(), seed=S.seeds)
def test_batch_matmul_halfwords_c_equals_hostsim(case, seed, tmp_path_factory):
    """The DSP variant (operands widened to halfwords in scratch, SMLAD) on the host's emulated instructions."""
    check_model(case.model, tmp_path_factory.mktemp("c"), n=50, seed=seed % 1000, isa="dsp", defines=["MLC_DSP_EMULATE"])


@C_SETTINGS
@given(case=S.conv_2d_models(), seed=S.seeds)
def test_conv_halfwords_c_equals_hostsim(case, seed, tmp_path_factory):
    """A library for DSP cores alone: CONV_2D's halfword path (int16 weight pairs, inputs widened per block)
    wherever a row is whole steps of 4, on the host's emulated instructions."""
    assume(all(t.shape[0] == 1 for t in case.inputs + case.outputs))  # mlc takes batch-1 models only
    check_model(case.model, tmp_path_factory.mktemp("c"), n=50, seed=seed % 1000, isa="dsp", defines=["MLC_DSP_EMULATE"])


@C_SETTINGS
@given(case=S.transpose_conv_models(), seed=S.seeds)
def test_transpose_conv_dsp_c_equals_hostsim(case, seed, tmp_path_factory):
    """TRANSPOSE_CONV's fast kernel (reordered taps, folded bias) with the DSP extension's dot products, on the
    host's emulated instructions (the single-op test draws it portable and as the reference loop)."""
    check_model(case.model, tmp_path_factory.mktemp("c"), n=50, seed=seed % 1000, isa="dsp", defines=["MLC_DSP_EMULATE"])


@pytest.mark.parametrize("kind", SINGLE_INPUT)
def test_single_op_c_equals_hostsim(kind, tmp_path_factory, monkeypatch):
    batch_one_shapes(monkeypatch)

    @C_SETTINGS
    @given(model=SINGLE_INPUT[kind](), reference=st.booleans(), seed=S.seeds)
    def check(model, reference, seed):
        assume(not graph_of(model).unsupported)  # e.g. a MEAN over the batch axis
        check_model(model, tmp_path_factory.mktemp("c"), n=50, seed=seed % 1000, reference=reference)

    check()


MULTI = [residual_model, branches_model, float_io_model, activations_model, copies_model, int16_prelu_model, space_batch_model]


@pytest.mark.parametrize("make", MULTI)
@pytest.mark.parametrize("reference", [False, True])
def test_multi_op_c_equals_hostsim(make, reference, tmp_path):
    check_model(make(np.random.default_rng(3)), tmp_path, n=100, reference=reference)


CROSS_KERAS = ["conv_transpose", "attention_matmul", "int16x8_gram_matmul", "int16x8_sigmoid_tanh_softmax", "int16x8_conv_transpose", "log_softmax", "l2_normalize", "cast", "space_batch"]  # converter-made models of ops MULTI lacks


@pytest.mark.parametrize("target", TARGETS)
def test_cross_compiles_warning_free(target, tmp_path):
    cc, flags = TARGETS[target]
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed")
    cflags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-c", *flags]
    keras = Path(__file__).parent / "models" / "keras"
    models = {make.__name__: make(np.random.default_rng(3)) for make in MULTI}
    models.update({m: (keras / f"{m}.tflite").read_bytes() for m in CROSS_KERAS})
    for label, model in models.items():
        result, _ = generate_lib(model, tmp_path / label, name="m")
        compile_c([result.out_dir / "m.c"], result.out_dir / f"m_{target}.o", include_dirs=[result.out_dir],
                  cflags=cflags, cc=cc)


@pytest.mark.parametrize("op", [*S.FLOAT_OPS, *(f"{op}/float32" for op in S.FLOAT_COPY_OPS)])
def test_float_island_c_equals_hostsim(op, tmp_path_factory, monkeypatch):
    """The float32 ops, and the data-movement ops on float32 (their int8 copy kernels with float elements)."""
    batch_one_shapes(monkeypatch)
    kind, _, dtype = op.partition("/")
    models = S.STRATEGIES[kind](dtype=dtype) if dtype else S.float_island_models(op)

    @C_SETTINGS
    @given(case=models, reference=st.booleans(), seed=S.seeds)
    def check(case, reference, seed):
        if refused_for_batch(graph_of(case.model)):  # RESHAPE's drawn shapes
            return
        check_model(case.model, tmp_path_factory.mktemp("c"), n=50, seed=seed % 1000, reference=reference)

    check()


@pytest.mark.parametrize("reference", [False, True])
def test_float_island_model_c_equals_hostsim(reference, tmp_path):
    check_model(float_island_model(np.random.default_rng(3)), tmp_path, n=100, reference=reference)


@pytest.mark.parametrize("target", TARGETS)
def test_float_islands_cross_compile_without_contraction(target, tmp_path):
    """Cortex-M: warning-free, and with GCC's default contraction (gnu99, -O2) no fused multiply-add in the
    float32 kernels; AVR: refused with one line (avr-libc's float arithmetic is not verified exact)."""
    cc, flags = TARGETS[target]
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed")
    result, _ = generate_lib(float_island_model(np.random.default_rng(3)), tmp_path / "lib", name="m")
    cmd = [cc, "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-O2", "-c", *flags, f"-I{result.out_dir}",
           str(result.out_dir / "m.c"), "-o", str(tmp_path / "m.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if cc == "avr-gcc":
        assert proc.returncode != 0 and "float32 layers; avr-libc's float arithmetic is not verified" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    dump = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "m.o")], capture_output=True, text=True).stdout
    assert "_f32_" in dump and "vfma" not in dump and "vfms" not in dump


@pytest.mark.parametrize("float_input, back", [(True, True), (False, True), (False, False)])
def test_int16_quantize_c_equals_hostsim(float_input, back, tmp_path):
    """float32 or int8 -> int16 (QUANTIZE), then maybe int16 -> int8."""
    b = ModelBuilder()
    x = b.input([1, 4, 7], dtype="float32") if float_input else b.input([1, 4, 7], 0.05, 3)
    y = b.quantize(x, 0.0001, -300, dtype="int16")
    b.output(b.quantize(y, 0.04, 2) if back else y)
    check_model(b.finish(), tmp_path, n=50)
