"""Each arithmetic trap of TFLM's Signal kernels, driven with crafted values (ones audio rarely reaches): TFLM's
kernel alone in a one-op model against hostsim.frontend's stage, and the generated C's helpers against hostsim
(the C file compiled into a test program, sanitizers on)."""
import dataclasses
import subprocess

import numpy as np
import pytest

from c_harness import HOST_CFLAGS, compile_c
from codegen.frontend import load
from codegen.frontend.emit import generate
from frontend_builder import Graph
from frontend_corpus import PREPROCESSOR
from hostsim import frontend as hf
from hostsim.frontend.fft import fft_auto_scale, rfft_q15

pytest.importorskip("tflite_micro")
RNG = np.random.default_rng(21)
U32_EDGES = np.array([0, 1, 2, 3, 4, 7, 8, 1023, 1024, 2047, 2048, 8191, 8192, 65535, 65536, (1 << 22) - 1, 1 << 22,
                      (1 << 31) - 1, 1 << 31, (1 << 32) - 1], np.uint64)


@pytest.fixture(scope="module")
def fe():
    return load(PREPROCESSOR)


def one_op(kind: str, args, outs, options=None):
    """TFLM's kernel alone: args are ("in", example array) model inputs or ("const", array); outs (shape, dtype).
    Returns run(*inputs) -> [outputs], one interpreter (so kernel state carries between calls)."""
    from codegen.model.tflm import interpreter

    g = Graph()
    g.inputs = []
    ins = []
    for role, value in args:
        value = np.asarray(value)
        ins.append(g.tensor(value.shape, value.dtype.name) if role == "in" else g.const(value, value.dtype.name))
        if role == "in":
            g.inputs.append(ins[-1])
    g.outputs = [g.tensor(shape, dtype) for shape, dtype in outs]
    g.op(kind, ins, g.outputs, options or {})
    interp = interpreter(g.finish())

    def call(*inputs):
        for i, x in enumerate(inputs):
            interp.set_input(np.ascontiguousarray(x), i)
        interp.invoke()
        return [interp.get_output(i).copy() for i in range(len(outs))]
    return call


def test_auto_scale_max_abs16_and_msb_of_zero():
    frames = np.array([np.zeros(64), np.full(64, -32768), np.r_[-32768, np.full(63, 3)], np.r_[np.full(63, 3), -32768],
                       np.r_[100, -32768, -5, -3, -10, np.zeros(59)], np.r_[-32768, 0, np.zeros(62)],
                       np.r_[1, np.zeros(63)], np.r_[32767, np.zeros(63)], *RNG.integers(-40, 40, (8, 64))], np.int16)
    kernel = one_op("SignalFftAutoScale", [("in", frames[0])], [((64,), "int16"), ((), "int32")])
    scaled, bits = fft_auto_scale(frames)
    for f, frame in enumerate(frames):
        want_scaled, want_bits = kernel(frame)
        assert int(bits[f]) == int(want_bits) and np.array_equal(scaled[f], want_scaled), f


@pytest.mark.parametrize("fft_length", [64, 256, 512])
def test_rfft_wraps_as_kissfft_does(fft_length):
    n = fft_length
    frames = np.array([np.full(n, -32768), np.full(n, 32767), np.tile([32767, -32768], n // 2),
                       np.r_[-32768, np.zeros(n - 1)], np.where(np.arange(n) % 4 < 2, -32768, 32767),
                       *RNG.integers(-32768, 32768, (12, n))], np.int16)
    kernel = one_op("SignalRfft", [("in", frames[0])], [((n + 2,), "int16")], {"T": 7, "fft_length": n})
    re, im = rfft_q15(frames, n)
    for f, frame in enumerate(frames):
        (want,) = kernel(frame)
        assert np.array_equal(np.stack([re[f], im[f]], -1).reshape(-1), want), f


def test_energy_overflows_in_int32(fe):
    spectrum = np.array([[-32768, -32768], [32767, -32768], [-32768, 0], [0, 0], *RNG.integers(-32768, 32768, (253, 2))],
                        np.int16).reshape(-1)
    (want,) = one_op("SignalEnergy", [("in", spectrum)], [((257,), "uint32")],
                     {"start_index": 0, "end_index": 257})(spectrum)
    everything = dataclasses.replace(fe, energy_start=0, energy_end=257)
    assert np.array_equal(hf.energy(everything, spectrum[0::2][None], spectrum[1::2][None])[0], want)


def test_square_root_falls_back_to_sqrt32_and_its_cap():
    values = np.array([0, 1, 2, 3, 65535 ** 2, 65535 ** 2 + 65535, 65535 ** 2 + 65536, (1 << 32) - 1, 1 << 32,
                       (1 << 32) + 1, (1 << 64) - 1, (1 << 63) + 12345, 0xFFFFFFFF ** 2 + 0xFFFFFFFF,
                       *(RNG.integers(0, 1 << 63, 50, dtype=np.int64) >> RNG.integers(0, 63, 50))], np.uint64)
    for bits in (0, 3):
        (want,) = one_op("SignalFilterBankSquareRoot", [("in", values), ("const", np.int32(bits))],
                         [((values.size,), "uint32")])(values)
        got = hf.square_root(values[None], np.array([bits]))[0]
        assert np.array_equal(got, want), np.flatnonzero(got != want)


@pytest.mark.parametrize("clamping", [False, True])
def test_spectral_subtraction_wraps_and_keeps_state(fe, clamping):
    ss = dataclasses.replace(fe.spectral_subtraction, clamping=clamping)
    options = {**{k: getattr(ss, k) for k in ss.__dataclass_fields__}, "num_channels": 40}
    x = np.concatenate([np.tile(U32_EDGES, 2)[:40][None], RNG.integers(0, 1 << 32, (30, 40), dtype=np.uint64),
                        np.zeros((5, 40), np.uint64)]).astype(np.uint32)
    kernel = one_op("SignalFilterBankSpectralSubtraction", [("in", x[0])], [((40,), "uint32"), ((40,), "uint32")], options)
    state = hf.State.fresh(fe)
    signal, noise = hf.spectral_subtraction(dataclasses.replace(fe, spectral_subtraction=ss), x, state)
    for f in range(len(x)):
        want_signal, want_noise = kernel(x[f])
        assert np.array_equal(signal[f], want_signal) and np.array_equal(noise[f], want_noise), f


@pytest.mark.parametrize("lut", ["file", "negative"])
def test_pcan_gain_widens_int16_to_uint32(fe, lut):
    table = fe.pcan.gain_lut if lut == "file" else RNG.integers(-32768, 32768, 125).astype(np.int16)
    signal = np.tile(U32_EDGES, 3)[:40].astype(np.uint32)
    noise = np.roll(np.tile(U32_EDGES, 3)[:40], 7).astype(np.uint32)
    kernel = one_op("SignalPCAN", [("in", signal), ("in", noise), ("const", table)], [((40,), "uint32")],
                    {"snr_shift": 6})
    variant = dataclasses.replace(fe, pcan=dataclasses.replace(fe.pcan, gain_lut=table))
    for _ in range(4):
        (want,) = kernel(signal, noise)
        assert np.array_equal(hf.pcan(variant, signal[None], noise[None])[0], want)
        signal, noise = RNG.integers(0, 1 << 32, 40, dtype=np.uint64).astype(np.uint32), np.roll(noise, 1)


@pytest.mark.parametrize("correction_bits, output_scale", [(3, 64), (0, 1), (10, 1 << 20)])
def test_log_segments_wrap_and_clamp(fe, correction_bits, output_scale):
    x = np.concatenate([U32_EDGES, RNG.integers(0, 1 << 32, 60, dtype=np.uint64)]).astype(np.uint32)
    (want,) = one_op("SignalFilterBankLog", [("in", x)], [((x.size,), "int16")],
                     {"input_correction_bits": correction_bits, "output_scale": output_scale})(x)
    variant = dataclasses.replace(fe, log=dataclasses.replace(fe.log, input_correction_bits=correction_bits,
                                                              output_scale=output_scale))
    assert np.array_equal(hf.log(variant, x[None])[0], want)


C_MAIN = r"""
#include <stdio.h>
#include "fe.c"

/* stdin: (uint64 x, uint32 y) pairs; stdout per pair: sqrt64(x), pcan gain(y), log32(y | 2) as int64s. */
int main(void)
{
    uint64_t x;
    uint32_t y;
    while (fread(&x, 8, 1, stdin) == 1 && fread(&y, 4, 1, stdin) == 1) {
        int64_t out[3] = {fe_sqrt64(x), fe_pcan_gain(y), fe_log32(y | 2)};
        fwrite(out, 8, 3, stdout);
    }
    return 0;
}
"""


def test_c_helpers_equal_hostsim_on_crafted_values(fe, tmp_path):
    """The C's Sqrt64, WideDynamicFunction and Log32 on edge values (the stages above check hostsim's on TFLM)."""
    generate(fe, tmp_path, "fe")
    (tmp_path / "main.c").write_text(C_MAIN)
    exe = compile_c([tmp_path / "main.c"], tmp_path / "helpers", include_dirs=[tmp_path], cflags=HOST_CFLAGS)
    xs = np.array([0, 1, 3, 65535 ** 2, 65535 ** 2 + 65535, 65535 ** 2 + 65536, (1 << 32) - 1, 1 << 32, (1 << 64) - 1,
                   0xFFFFFFFF ** 2 + 0xFFFFFFFF, *(RNG.integers(0, 1 << 63, 80, dtype=np.int64) >> RNG.integers(0, 63, 80))],
                  np.uint64)
    squares = np.arange(0, 65536, 7, dtype=np.uint64) ** 2  # Newton's root below 2^32: squares and their neighbours
    xs = np.concatenate([xs, squares, squares + 1, squares - 1, squares + np.arange(squares.size, dtype=np.uint64) % 131,
                         RNG.integers(0, 1 << 32, 20000, dtype=np.uint64)])
    ys = np.concatenate([U32_EDGES, RNG.integers(0, 1 << 32, xs.size - U32_EDGES.size, dtype=np.uint64)]).astype(np.uint32)
    records = np.zeros(xs.size, dtype=[("x", "<u8"), ("y", "<u4")])
    records["x"], records["y"] = xs, ys
    packed = b"".join(r.tobytes() for r in records)  # no padding: 12 bytes a pair
    proc = subprocess.run([str(exe)], input=packed, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = np.frombuffer(proc.stdout, np.int64).reshape(-1, 3)
    sqrt = hf.square_root(xs[None], np.array([0]))[0]
    gain = hf.wide_dynamic_gain(ys.astype(np.int64), fe.pcan.gain_lut)
    raw = dataclasses.replace(fe, log=dataclasses.replace(fe.log, input_correction_bits=0))
    logs = hf.log(raw, (ys | 2)[None])[0]
    assert np.array_equal(got[:, 0], sqrt.astype(np.int64))
    assert np.array_equal(got[:, 1], gain)
    assert np.array_equal(np.minimum(got[:, 2], 32767), logs.astype(np.int64))


FFT_MAIN = r"""
#include <stdio.h>
#include "rfft_q15.c"

/* stdin: (int32 bits, FE_FFT int16 samples) records; stdout: FE_N + 1 bins per record. */
int main(void)
{
    static int16_t x[FE_FFT];
    static fe_cpx y[FE_N + 1];
    int32_t bits;
    while (fread(&bits, 4, 1, stdin) == 1 && fread(x, sizeof x, 1, stdin) == 1) {
        fe_rfft_q15(x, bits, y);
        fwrite(y, sizeof y, 1, stdout);
    }
    return 0;
}
"""


@pytest.mark.parametrize("fft_length", [16, 64, 512, 1024])
def test_c_rfft_alone_equals_hostsim(fft_length, tmp_path):
    """templates/frontend/rfft_q15.c.j2 rendered on its own (as another app would include it)."""
    from codegen.assets import templates
    from codegen.frontend.emit import rfft_values
    from hostsim.frontend.fft import wrap16

    (tmp_path / "rfft_q15.c").write_text(templates().get_template("frontend/rfft_q15.c.j2").render(**rfft_values(fft_length)))
    (tmp_path / "main.c").write_text(FFT_MAIN)
    exe = compile_c([tmp_path / "main.c"], tmp_path / "rfft", include_dirs=[tmp_path], cflags=HOST_CFLAGS)
    n = fft_length
    x = np.array([np.full(n, -32768), np.tile([32767, -32768], n // 2), *RNG.integers(-32768, 32768, (20, n))], np.int16)
    bits = RNG.integers(0, 16, len(x)).astype(np.int32)
    bits[:2] = 0
    records = b"".join(np.int32(b).tobytes() + row.tobytes() for b, row in zip(bits, x))
    proc = subprocess.run([str(exe)], input=records, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = np.frombuffer(proc.stdout, np.int16).reshape(len(x), n // 2 + 1, 2)
    re, im = rfft_q15(wrap16(x.astype(np.int64) << bits[:, None].astype(np.int64)), n)
    assert np.array_equal(got[..., 0], re) and np.array_equal(got[..., 1], im)
