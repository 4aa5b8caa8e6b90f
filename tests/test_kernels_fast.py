"""The optimized kernel paths (templates/kernels, codegen/ops): the short requantization against
hostsim, and single-layer models shaped to reach each fast path (depthwise quads and tap pairs over the
ring of padded rows, in place, at the requantization's bounds; 1x1 and im2col in blocks of two or three
pixels, with and without the halfword expansion, odd channel and pixel counts; FC four units at a time;
average pooling in halfwords; TRANSPOSE_CONV's reordered taps), exact with and without the DSP path; test_mve.py runs them on the M55.
A second test checks that each model's kernel plan takes the path, and that its C has the line only that
path has."""
import numpy as np
import pytest

from c_harness import check_model, compile_c, generate_lib
from codegen.assets import asset_dir
from codegen.ops.thresholds import FAST_LIMIT
from codegen.ops.requant import fast_addend
from codegen.model import fixedpoint as fp
from tflite_builder import ModelBuilder

PROGRAM = r"""
#include <stdio.h>
#include "mlc_port.h"
/* stdin: rows of int32 (acc, multiplier, right shift, addend, act_min, act_max); stdout: mlc_requantize_rs(...) */
int main(void)
{
    int32_t row[6];
    while (fread(row, 4, 6, stdin) == 6) {
        const int32_t r = mlc_requantize_rs(row[0], row[1], row[2], row[3], row[4], row[5]);
        fwrite(&r, 4, 1, stdout);
    }
    return 0;
}
"""


@pytest.mark.parametrize("defines", [(), ("MLC_DSP_EMULATE",), ("MLC_NO_LONG_MUL",)],
                         ids=["portable", "dsp-emulated", "no-long-multiply"])
def test_requantize_rs_matches_hostsim(defines, tmp_path):
    """Exact where codegen/ops/requant.py uses it: |acc| < 2^30, shift in [-31, -1], |addend| < 2^30
    (the DSP path computes the high product and adds the addend with smmlar; Thumb-1 cores build it from
    16-bit halves)."""
    import subprocess

    (tmp_path / "rq.c").write_text(PROGRAM)
    exe = compile_c([tmp_path / "rq.c"], tmp_path / "rq", include_dirs=[asset_dir("templates") / "kernels"],
                    defines=defines)
    rng = np.random.default_rng(3)
    n = 20000
    lim = (1 << 30) - 1
    acc = np.concatenate([rng.integers(-lim, lim, n, endpoint=True), rng.integers(-4096, 4096, n),
                          [-lim, lim, 0, -1, 1]])
    mult = rng.integers(1 << 30, (1 << 31) - 1, acc.size, endpoint=True)
    mult[: n // 10] = 0
    shift = rng.integers(-22, 0, acc.size)  # |addend| < 2^30 up to a right shift of 22
    offset = rng.integers(-128, 128, acc.size)
    offset[:200], shift[:200] = np.resize([-128, 127], 200), np.resize([-22, -1], 200)
    addend = fast_addend(shift, offset)
    assert np.all(np.abs(addend) < FAST_LIMIT)
    odd = (offset & 1).astype(bool)
    rows = np.stack([acc, mult, -shift, addend, np.where(odd, -128, -100), np.where(odd, 127, 100)], 1).astype(np.int32)
    got = np.frombuffer(subprocess.run([str(exe)], input=rows.tobytes(), capture_output=True, check=True).stdout,
                        np.int32)
    want = np.where(odd, fp.requantize(acc, mult, shift, offset, -128, 127), fp.requantize(acc, mult, shift, offset, -100, 100))
    np.testing.assert_array_equal(got, want)


def _weights(rng, shape, axis, per_tensor=False):
    return rng.integers(-127, 128, shape), [0.01 + (0 if per_tensor else 0.002 * i) for i in range(shape[axis])]


def _dw_model(h, w, c, m, k, stride=(1, 1), dilation=(1, 1), padding="SAME", after_conv=False, seed=0,
              per_tensor=False, extreme=None, ties=False, in_place=False):
    """extreme: an output zero point; biases then reach +-2^29 and shifts 20..22, so the requantization
    works near its proven bounds (|acc| < 2^30, |addend| < 2^30) over all of int8. ties: weights in
    [-3, 3] and right shifts of 3..5, so many outputs fall exactly halfway (rounding away from zero).
    in_place: between a 1x1 conv and a 1x1 AVERAGE_POOL_2D, so the depthwise layer may run in place."""
    after_conv = after_conv or in_place
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input([1, h, w, c], scale=0.05, zero_point=-3)
    if after_conv:  # the depthwise layer then reads the arena and may run in place
        wq, ws = _weights(rng, (c, 1, 1, c), 0)
        x = b.conv_2d(x, b.const_int8(wq, ws, axis=0), b.const_int32(rng.integers(-500, 500, c), [0.05 * s for s in ws]),
                      out_scale=0.06, out_zero_point=5)
    wq, ws = _weights(rng, (1, *k, c * m), 3, per_tensor)
    bias = rng.integers(-(1 << 29), 1 << 29, c * m) if extreme is not None else rng.integers(-2000, 2000, c * m)
    out_scale = 0.05 * 0.01 * 2 ** 22 if extreme is not None else 0.07
    if ties:
        wq, bias, out_scale = wq % 7 - 3, bias // 20, 0.05 * 0.01 * 32
    y = b.depthwise_conv_2d(x, b.const_int8(wq, ws, axis=3), b.const_int32(bias, [x.scale * s for s in ws]),
                            out_scale=out_scale,
                            out_zero_point=-2 if extreme is None else extreme, depth_multiplier=m, stride=stride,
                            dilation=dilation, padding=padding,
                            activation="NONE" if ties or extreme is not None else "RELU6")
    b.output(b.average_pool_2d(y, (1, 1)) if in_place else y)
    return b.finish()


def _conv_model(h, w, cin, cout, k, stride=(1, 1), dilation=(1, 1), padding="SAME", seed=0, per_tensor=False,
                pool=False):
    """pool: a 1x1 AVERAGE_POOL_2D follows, so the conv's output is no model output and may overlap its input."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input([1, h, w, cin], scale=0.05, zero_point=7)
    wq, ws = _weights(rng, (cout, *k, cin), 0, per_tensor)
    y = b.conv_2d(x, b.const_int8(wq, ws, axis=0), b.const_int32(rng.integers(-3000, 3000, cout), [0.05 * s for s in ws]),
                  out_scale=0.2, out_zero_point=1, stride=stride, dilation=dilation, padding=padding)
    b.output(b.average_pool_2d(y, (1, 1)) if pool else y)
    return b.finish()


def _tconv_model(h, w, cin, cout, k, stride, padding="SAME", seed=0, per_tensor=False):
    """TRANSPOSE_CONV, the output size TFLite's converter gives (SAME: input x stride; VALID: + kernel - stride)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input([1, h, w, cin], scale=0.05, zero_point=-5)
    wq, ws = _weights(rng, (cout, *k, cin), 0, per_tensor)
    out_hw = [n * s + (0 if padding == "SAME" else max(kk - s, 0)) for n, s, kk in zip((h, w), stride, k)]
    b.output(b.transpose_conv(x, b.const_int8(wq, ws, axis=0), b.const_int32(rng.integers(-3000, 3000, cout),
                                                                               [0.05 * s for s in ws]),
                              0.3, 2, out_hw, stride, padding))
    return b.finish()


def _avg_pool_model(h, w, c, f, stride, padding="VALID", activation="NONE"):
    """A 1x1 conv (so the pooling reads the arena and may run in place), then AVERAGE_POOL_2D."""
    rng = np.random.default_rng(h * 11 + w)
    b = ModelBuilder()
    x = b.input([1, h, w, c], scale=0.05, zero_point=-1)
    wq, ws = _weights(rng, (c, 1, 1, c), 0)
    x = b.conv_2d(x, b.const_int8(wq, ws, axis=0), b.const_int32(rng.integers(-500, 500, c), [0.05 * s for s in ws]),
                  out_scale=0.3, out_zero_point=3)
    b.output(b.average_pool_2d(x, f, stride=stride, padding=padding, activation=activation))
    return b.finish()


def _fc_model(depth, units, seed=0, per_tensor=False, batches=1):
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input([1, batches, depth], scale=0.05, zero_point=-9)
    wq = rng.integers(-127, 128, (units, depth))
    ws = 0.01 if per_tensor else [0.01 + 0.001 * i for i in range(units)]
    bs = 0.05 * 0.01 if per_tensor else [0.05 * s for s in ws]
    y = b.fully_connected(x, b.const_int8(wq, ws, axis=None if per_tensor else 0),
                          b.const_int32(rng.integers(-3000, 3000, units), bs), out_scale=0.3, out_zero_point=4,
                          keep_num_dims=True)
    b.output(y)
    return b.finish()


MODELS = {
    "dw-quad-3x3-in-place": lambda: _dw_model(6, 5, 8, 1, (3, 3), after_conv=True),
    "dw-quad-3x3-stride2": lambda: _dw_model(7, 6, 12, 1, (3, 3), stride=(2, 2)),
    "dw-quad-dilated": lambda: _dw_model(7, 7, 4, 1, (3, 2), dilation=(2, 2)),
    "dw-pairs-5x5": lambda: _dw_model(6, 6, 6, 1, (5, 5)),
    "dw-mult3-over-16-taps": lambda: _dw_model(9, 8, 2, 3, (5, 4), stride=(2, 2)),
    "dw-mult2-valid": lambda: _dw_model(5, 6, 3, 2, (2, 3), padding="VALID"),
    "dw-mult4-tap-quads": lambda: _dw_model(12, 9, 1, 4, (5, 4), stride=(2, 2)),
    "dw-mult2-tap-quads-8-wide": lambda: _dw_model(9, 12, 1, 2, (3, 8), dilation=(2, 1)),
    "dw-mult64-far-weights": lambda: _dw_model(3, 12, 1, 64, (1, 10)),
    # in place with the channels in blocks (the ring would take over 1/8 of the tensor), last blocks partial
    "dw-in-place-blocks-36": lambda: _dw_model(6, 5, 36, 1, (3, 3), in_place=True),
    "dw-in-place-blocks-18-5x5": lambda: _dw_model(5, 7, 18, 1, (5, 5), in_place=True),
    "dw-in-place-blocks-18-partial": lambda: _dw_model(6, 7, 18, 1, (3, 3), in_place=True),
    "dw-in-place-blocks-7-dilated": lambda: _dw_model(6, 6, 7, 1, (3, 3), dilation=(2, 2), in_place=True),
    "dw-in-place-blocks-2x2": lambda: _dw_model(4, 6, 20, 1, (2, 2), in_place=True),
    "dw-in-place-blocks-1x1": lambda: _dw_model(3, 4, 24, 1, (1, 1), in_place=True),
    "dw-in-place-blocks-kws": lambda: _dw_model(25, 5, 64, 1, (3, 3), in_place=True),
    "dw-quad-extreme-requant": lambda: _dw_model(5, 4, 8, 1, (3, 3), extreme=-128),
    "dw-mult4-extreme-requant": lambda: _dw_model(5, 4, 2, 4, (3, 3), extreme=127),
    "dw-quad-ties": lambda: _dw_model(5, 4, 8, 1, (3, 3), ties=True),
    "dw-mult4-ties": lambda: _dw_model(5, 4, 2, 4, (3, 3), ties=True),
    "conv-1x1-q15-odd": lambda: _conv_model(3, 5, 8, 7, (1, 1)),
    "conv-1x1-strided": lambda: _conv_model(5, 5, 12, 6, (1, 1), stride=(2, 2)),
    "conv-1x1-unaligned-depth": lambda: _conv_model(3, 3, 6, 4, (1, 1)),
    "conv-1x1-q15-looped": lambda: _conv_model(3, 3, 72, 6, (1, 1)),
    "conv-1x1-whole-vectors": lambda: _conv_model(3, 5, 32, 6, (1, 1)),
    "conv-1x1-three-pixels-and-one": lambda: _conv_model(2, 5, 16, 7, (1, 1)),
    "conv-1x1-q15-looped-single-step": lambda: _conv_model(3, 3, 68, 5, (1, 1)),
    "conv-im2col-q15": lambda: _conv_model(7, 6, 4, 5, (3, 3), stride=(2, 1)),
    "conv-im2col-bytes": lambda: _conv_model(6, 5, 3, 4, (3, 3), dilation=(1, 2)),
    "conv-im2col-kws-like": lambda: _conv_model(13, 6, 1, 8, (10, 4), stride=(2, 2)),
    # the output starting before the input and overlapping it (conv_2d's overlap hook), each variant
    "conv-im2col-kws-like-overlapping": lambda: _conv_model(13, 6, 1, 8, (10, 4), stride=(2, 2), pool=True),
    "conv-im2col-valid-overlapping": lambda: _conv_model(9, 8, 3, 6, (3, 3), stride=(2, 2), padding="VALID", pool=True),
    "conv-im2col-dilated-overlapping": lambda: _conv_model(7, 7, 2, 5, (3, 3), dilation=(2, 2), pool=True),
    "conv-1x1-overlapping": lambda: _conv_model(4, 5, 3, 8, (1, 1), pool=True),
    "conv-generic-overlapping": lambda: _conv_model(3, 4, 232, 3, (3, 3), pool=True),
    "conv-1x1-per-tensor": lambda: _conv_model(3, 3, 8, 6, (1, 1), per_tensor=True),
    "conv-im2col-per-tensor": lambda: _conv_model(5, 4, 4, 3, (3, 3), per_tensor=True),
    # the halfword weight layout (a DSP-only library): odd channel counts (the last channel alone), pixel counts
    # that leave a partial block (it repeats the last pixel), strides, rows past the old 256-byte limit
    "conv-im2col-hw-looped-odd": lambda: _conv_model(5, 7, 20, 7, (3, 3), stride=(2, 1)),
    "conv-im2col-hw-288": lambda: _conv_model(4, 5, 32, 6, (3, 3)),
    "conv-im2col-hw-unrolled-clamped": lambda: _conv_model(5, 7, 4, 5, (3, 3), stride=(1, 2)),
    "conv-1x1-hw-in-place-clamped": lambda: _conv_model(2, 5, 16, 7, (1, 1), pool=True),
    "conv-im2col-hw-padded-27": lambda: _conv_model(6, 5, 3, 5, (3, 3), stride=(2, 2)),  # rows of 27 padded to 28
    "conv-im2col-hw-padded-looped": lambda: _conv_model(4, 5, 9, 6, (3, 3)),  # 81 padded to 84, one step a pass
    # TRANSPOSE_CONV's fast path: dot products shorter than a word and than a vector, over several vectors,
    # odd channel counts, outputs no tap lands on (stride over kernel), VALID borders, per tensor
    "tconv-k3-s2-short-rows": lambda: _tconv_model(5, 4, 3, 6, (3, 3), (2, 2)),
    "tconv-k4-s2-long-rows-odd": lambda: _tconv_model(4, 5, 20, 7, (4, 4), (2, 2)),
    "tconv-k3-s1-valid-per-tensor": lambda: _tconv_model(4, 4, 16, 5, (3, 3), (1, 1), "VALID", per_tensor=True),
    "tconv-stride-over-kernel": lambda: _tconv_model(3, 4, 5, 3, (2, 1), (3, 2)),
    "dw-per-tensor": lambda: _dw_model(5, 5, 8, 1, (3, 3), per_tensor=True),
    "avgpool-halfwords-same-borders": lambda: _avg_pool_model(7, 6, 8, (3, 3), (2, 2), "SAME", "RELU6"),
    "avgpool-halfwords-256-window": lambda: _avg_pool_model(16, 16, 4, (16, 16), (1, 1)),
    "avgpool-odd-channels-reference": lambda: _avg_pool_model(5, 5, 6, (2, 2), (1, 1)),
    "fc-four-units-33": lambda: _fc_model(33, 6, per_tensor=True),
    "fc-four-units-104": lambda: _fc_model(104, 9),
    "fc-four-units-70": lambda: _fc_model(70, 7),
    "fc-four-units-128-four-steps": lambda: _fc_model(128, 6),
    "fc-halfwords-looped-tail": lambda: _fc_model(70, 9),  # 17 steps: 4 passes of 4, 1 more step, 2 inputs
    "fc-halfwords-looped-whole": lambda: _fc_model(128, 12, per_tensor=True),
    "fc-halfwords-unrolled-batches": lambda: _fc_model(8, 13, batches=3),
    "fc-halfwords-one-step-and-one": lambda: _fc_model(5, 4),
}
HALFWORDS = [name for name in MODELS if name.startswith("fc-")]  # on a DSP-only library these take the halfword-weights path
CONV_HALFWORDS = [name for name in MODELS if name.startswith("conv-") and name not in  # DSP alone: the conv halfword path
                  ("conv-1x1-strided", "conv-1x1-unaligned-depth", "conv-generic-overlapping")]

# the path each model above exists to reach: its ISA, what the last layer's KernelPlan says (plan fields
# or template options), a line only that path's C has, and (a fourth "shared") when the path is one of
# a portable library's (several ISAs sharing one weight layout) rather than of a library for that ISA alone
REACHES = {
    "dw-mult4-tap-quads": ("dsp", {"tap_quads": True}, "one tap quad's loads at a time"),
    "dw-mult2-tap-quads-8-wide": ("dsp", {"tap_quads": True}, "one tap quad's loads at a time"),
    "dw-mult64-far-weights": ("dsp", {"pairs": True}, "mlc_load32((const int8_t *)(wk + 574))"),  # past ldrd's reach
    "dw-in-place-blocks-36": ("dsp", {"cb": 8, "inplace": True}, "for (c0 = 0; c0 < IN_C; c0 += CB)"),
    "dw-in-place-blocks-kws": ("dsp", {"cb": 32, "scratch": 3 * 7 * 32, "inplace": True}, "bias[c0 + grp * G + 3]"),
    "dw-in-place-blocks-18-partial": ("portable", {"cb": 4, "channels": 2, "inplace": True}, "if (n == CB)"),
    "dw-quad-3x3-in-place": ("mve", {"quad": True, "pixels": 2}, "vb0 = va0"),
    "conv-1x1-q15-looped": ("dsp", {"q15": True, "steps": 2}, "for (; xp < q + 72 / 2 * 2; xp += 8, wp += 32)"),
    "conv-1x1-q15-looped-single-step": ("dsp", {"q15": True, "steps": 1}, "for (; xp < q + 68 / 2 * 2; xp += 4, wp += 4)",
                                        "shared"),
    "conv-im2col-hw-looped-odd": ("dsp", {"hw": True, "steps": 1, "pixels": 2}, "MLC_Q15_WEIGHT1_HW(wp, 0);"),
    "conv-im2col-hw-288": ("dsp", {"hw": True, "steps": 2, "weights": "[O/2][K/4][2][4] int16 (0 2 1 3)"},
                           "MLC_Q15_WEIGHTS_HW(wp, 16);"),
    "conv-im2col-hw-unrolled-clamped": ("dsp", {"hw": True, "steps": "all", "pixels": 3},
                                        "p2 = p + 2 < PIXELS ? p + 2 : PIXELS - 1;"),
    "conv-im2col-hw-padded-27": ("dsp", {"hw": True, "row": 28, "pixels": 3}, "memset(scratch + 2 * K + K_H * K_W * IN_C, 0,"),
    "conv-im2col-hw-padded-looped": ("dsp", {"hw": True, "row": 84, "steps": 1}, "for (; xp < q + 84 / 2 * 2; xp += 4, wp += 16)"),
    "conv-1x1-hw-in-place-clamped": ("dsp", {"hw": True, "pixels": 3, "inplace": True},
                                     "memcpy(out + p * OUT_C, scratch, (PIXELS - p < 3 ? PIXELS - p : 3) * OUT_C);"),
    "conv-im2col-kws-like": ("dsp", {"q15": True, "steps": "all", "pixels": 3},  # pixel 2 of 3, the last of 10 steps
                             "MLC_Q15_PIXEL(xp, 232, a20, a21);"),
    "conv-1x1-whole-vectors": ("mve", {"quads": True, "whole_vectors": True}, "/* pixel 1 alone */"),
    "conv-1x1-three-pixels-and-one": ("dsp", {"pixels": 3}, "a20 = a00, a21 = a01"),
    "conv-im2col-per-tensor": ("dsp", {"pixels": 3}, "a20 = a00, a21 = a01"),
    "conv-1x1-unaligned-depth": ("portable", {"quads": True, "channels": 4}, "each input byte loaded once serves four products"),
    "tconv-k4-s2-long-rows-odd": ("dsp", {"q15": True, "scratch": 2 * 4 * 5 * 20}, "MLC_Q15_PIXEL1(xp, 32, a00);"),
    "tconv-k3-s2-short-rows": ("dsp", {"q15": False, "scratch": 0}, "(void)scratch;"),
    "avgpool-halfwords-same-borders": ("dsp", {"variant": "fast"}, "halfword sums of channels"),
    "avgpool-halfwords-256-window": ("dsp", {"variant": "fast"}, "halfword sums of channels"),
    "avgpool-odd-channels-reference": ("dsp", {"variant": "reference"}, "AVERAGE_POOL_2D reference"),
    "fc-four-units-33": ("dsp", {"quads": True}, "four units per pass", "shared"),
    "fc-four-units-104": ("dsp", {"quads": True}, "four units per pass", "shared"),
    "fc-four-units-70": ("portable", {"quads": True}, "four units per pass"),
    "fc-four-units-128-four-steps": ("dsp", {"quads": True}, "d + 15 < 128; d += 16", "shared"),
    "fc-halfwords-looped-tail": ("dsp", {"halfwords": True, "loop_steps": 4, "steps": 17}, "a2 += (int32_t)xp[1] * wp[9];"),
    "fc-halfwords-looped-whole": ("dsp", {"halfwords": True, "channels": 6}, "xp < x + 128; xp += 16, wp += 96"),
    "fc-halfwords-unrolled-batches": ("dsp", {"halfwords": True, "loop_steps": 0}, "MLC_LDRD(we, wo, wp, 88);"),
    "fc-halfwords-one-step-and-one": ("dsp", {"halfwords": True, "steps": 1}, "a3 += (int32_t)xp[0] * wp[12];"),
}


@pytest.mark.parametrize("name", REACHES)
def test_models_reach_their_fast_paths(name, tmp_path):
    from codegen.lower.generate import plan_layers

    isa, expect, line, *shared = REACHES[name]
    lib_isa = None if shared else isa
    result, graph = generate_lib(MODELS[name](), tmp_path, name="f", isa=lib_isa)
    plan = plan_layers(graph, isa=lib_isa).kernels[graph.ops[-1 if expect.get("inplace") is None else -2].index][isa]
    got = {key: getattr(plan, key) if hasattr(plan, key) else plan.options[key] for key in expect}
    assert got == expect, plan.why
    assert line in (result.out_dir / "f.c").read_text()


@pytest.mark.parametrize("defines", [(), ("MLC_DSP_EMULATE",)], ids=["portable", "dsp-emulated"])
@pytest.mark.parametrize("name", MODELS)
def test_fast_path_exact(name, defines, tmp_path):
    assert check_model(MODELS[name](), tmp_path, n=60, name="f", defines=defines) == 60


@pytest.mark.parametrize("name", HALFWORDS)
def test_fc_halfwords_path_exact(name, tmp_path):
    """A library for DSP cores alone: FULLY_CONNECTED's int16 weight groups (emulated DSP instructions)."""
    assert check_model(MODELS[name](), tmp_path, n=60, name="f", defines=("MLC_DSP_EMULATE",), isa="dsp") == 60


@pytest.mark.parametrize("name", CONV_HALFWORDS + [name for name in MODELS if name.startswith("tconv-")])
def test_conv_halfwords_path_exact(name, tmp_path):
    """A library for DSP cores alone: CONV_2D's int16 weight pairs, TRANSPOSE_CONV's too where IN_C % 4 == 0
    (its image widened to halfwords in scratch; the others its int8 dot2), on emulated DSP instructions."""
    assert check_model(MODELS[name](), tmp_path, n=60, name="f", defines=("MLC_DSP_EMULATE",), isa="dsp") == 60


def _still_read(op, variant, nb):
    """By tap enumeration: for each output pixel p, the lowest input byte read at or after p's write
    (im2col gathers a block's windows first: pixels after p; generic reads p's window per channel: from
    p; 1x1 reads its block's pixels while it writes them: from the block's first)."""
    p = op.params
    _, in_h, in_w, in_c = op.inputs[0].shape
    _, out_h, out_w, _ = op.outputs[0].shape
    _, k_h, k_w, _ = op.inputs[1].shape
    lowest = []
    for oy in range(out_h):
        for ox in range(out_w):
            taps = [(iy * in_w + ix) * in_c for ky in range(k_h) for kx in range(k_w)
                    for iy in [oy * p["stride_h"] - p["pad_h"] + ky * p["dilation_h"]]
                    for ix in [ox * p["stride_w"] - p["pad_w"] + kx * p["dilation_w"]]
                    if 0 <= iy < in_h and 0 <= ix < in_w]
            lowest.append(min(taps, default=1 << 40))
    full = len(lowest) // nb * nb
    since = {"im2col": lambda q: q + 1, "generic": lambda q: q, "1x1": lambda q: q - q % nb if q < full else q}[variant]
    return [min(lowest[since(q):], default=1 << 40) for q in range(len(lowest))]


@pytest.mark.parametrize("name", [n for n in MODELS if n.endswith("-overlapping")])
def test_conv_output_overlaps_only_input_already_read(name, tmp_path):
    """CONV_2D's overlap hook lets the output start `gap` bytes before its input, overlapping it (gap under
    the output's size), and no byte written through pixel p is one the kernel still reads, under every
    ISA's plan (the planner keeps the overlap where it makes the arena smaller)."""
    from codegen.ops import definition, plan_kernel

    _, graph = generate_lib(MODELS[name](), tmp_path, name="f")
    op = graph.ops[0]
    gap = definition(op.kind).overlap(op)
    assert 0 <= gap < op.outputs[0].nbytes
    for isa in ("portable", "dsp", "mve"):
        kp = plan_kernel(op, isa, False, False)
        for q, first in enumerate(_still_read(op, kp.variant, kp.pixels)):
            assert (q + 1) * op.outputs[0].shape[3] <= gap + first, (isa, kp.variant, q)
