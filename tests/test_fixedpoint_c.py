"""mlc_fixedpoint.h (C) against codegen/model/fixedpoint.py on random and extreme int32 values."""

import numpy as np
import pytest

from c_harness import compile_c
from codegen.assets import asset_dir
from codegen.model import fixedpoint as fp

PROGRAM = r"""
#include <stdio.h>
#include "mlc_fixedpoint.h"
/* stdin: rows of int32 (x, multiplier, shift, exponent); stdout: rows of
   srdhm(x, multiplier), rdbpot(x, exponent), mbqm(x, multiplier, shift), requantize(x, m, shift, 3, -100, 120) */
int main(void)
{
    int32_t row[4];
    while (fread(row, 4, 4, stdin) == 4) {
        int32_t res[4];
        res[0] = mlc_saturating_rounding_doubling_high_mul(row[0], row[1]);
        res[1] = mlc_rounding_divide_by_pot(row[0], (int)row[3]);
        res[2] = mlc_multiply_by_quantized_multiplier(row[0], row[1], (int)row[2]);
        res[3] = mlc_requantize(row[0], row[1], (int)row[2], 3, -100, 120);
        fwrite(res, 4, 4, stdout);
    }
    return 0;
}
"""
I32 = np.iinfo(np.int32)
EXTREMES = np.array([I32.min, I32.min + 1, -(1 << 30), -65536, -2, -1, 0, 1, 2, 3, 65535, 1 << 30, I32.max - 1, I32.max],
                    np.int64)


@pytest.fixture(scope="module", params=[(), ("MLC_NO_LONG_MUL",)], ids=["int64", "no-long-multiply"])
def program(request, tmp_path_factory):
    """Built twice: with int64 products, and with the Thumb-1 cores' products from 16-bit halves."""
    work = tmp_path_factory.mktemp("fixedpoint")
    (work / "fp_test.c").write_text(PROGRAM)
    return compile_c([work / "fp_test.c"], work / "fp_test", include_dirs=[asset_dir("templates") / "kernels"],
                     defines=request.param)


def _cases(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.integers(I32.min, I32.max, n, endpoint=True), np.repeat(EXTREMES, len(EXTREMES))])
    m = np.concatenate([rng.integers(I32.min, I32.max, n, endpoint=True), np.tile(EXTREMES, len(EXTREMES))])
    exponent = rng.integers(0, 32, x.size)
    exponent[:64] = [0, 31] * 32  # the extremes of the exponent
    # TFLite multipliers are in [2^30, 2^31) (or 0) and shifts in [-31, 30]
    qm = np.where(rng.random(x.size) < 0.9, rng.integers(1 << 30, (1 << 31) - 1, x.size, endpoint=True), m)
    shift = rng.integers(-31, 31, x.size)
    shift[:64] = [-31, 30] * 32
    return x, m, qm, shift, exponent


def _run(program, rows: np.ndarray) -> np.ndarray:
    import subprocess

    proc = subprocess.run([str(program)], input=rows.astype(np.int32).tobytes(), capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.int32).reshape(-1, 4).astype(np.int64)


def test_srdhm_and_rounding_divide_match_hostsim(program):
    x, m, _, shift, exponent = _cases()
    got = _run(program, np.stack([x, m, np.zeros_like(x), exponent], 1))
    np.testing.assert_array_equal(got[:, 0], fp.saturating_rounding_doubling_high_mul(x, m))
    np.testing.assert_array_equal(got[:, 1], fp.rounding_divide_by_pot(x, exponent))
    assert got[-1, 0] != 0 and fp.saturating_rounding_doubling_high_mul(I32.min, I32.min) == I32.max


def test_multiply_by_quantized_multiplier_and_requantize_match_hostsim(program):
    x, _, qm, shift, _ = _cases(seed=1)
    left = np.maximum(shift, 0)
    overflowing = (x << left < I32.min) | (x << left > I32.max)
    assert overflowing.sum() > 1000  # both sides wrap x << shift in int32, as TFLM does
    got = _run(program, np.stack([x, qm, shift, np.zeros_like(x)], 1))
    np.testing.assert_array_equal(got[:, 2], fp.multiply_by_quantized_multiplier(x, qm, shift))
    np.testing.assert_array_equal(got[:, 3], fp.requantize(x, qm, shift, 3, -100, 120))


INT16_PROGRAM = r"""
#include <stdio.h>
#include "mlc_fixedpoint.h"
/* stdin: int32 multiplier, shift, then 513 int16 LUT entries; stdout: for every int16 x, int16
   mlc_int16_logistic(x), mlc_int16_tanh(x) (on the given multiplier and shift) and mlc_lut_lookup_int16(x, lut) */
int main(void)
{
    int32_t q[2];
    int16_t lut[513];
    uint16_t table[256];
    int32_t x;
    if (fread(q, 4, 2, stdin) != 2 || fread(lut, 2, 513, stdin) != 513 || fread(table, 2, 256, stdin) != 256) {
        return 1;
    }
    for (x = -32768; x <= 32767; ++x) {
        int16_t res[3];
        res[0] = mlc_int16_logistic(x, q[0], (int)q[1], table);
        res[1] = mlc_int16_tanh(x, q[0], (int)q[1], table);
        res[2] = mlc_lut_lookup_int16(x, lut);
        fwrite(res, 2, 3, stdout);
    }
    return 0;
}
"""


@pytest.mark.parametrize("multiplier, shift", [(3, 0), (6, 0), (24576, 12), (32767, 31), (30198, 13), (19660, 4)])
def test_int16_logistic_tanh_and_lut_lookup_match_hostsim(multiplier, shift, tmp_path):
    """TFLite's int16 LOGISTIC/TANH on every int16 input (the multipliers and shifts their Prepare makes), and the
    513-entry LUT lookup of int16 SOFTMAX on a random table with slopes of both signs."""
    import subprocess

    (tmp_path / "int16_test.c").write_text(INT16_PROGRAM)
    exe = compile_c([tmp_path / "int16_test.c"], tmp_path / "int16_test", include_dirs=[asset_dir("templates") / "kernels"])
    lut = np.random.default_rng(shift).integers(-32768, 32768, 513).astype(np.int16)
    stdin = np.array([multiplier, shift], np.int32).tobytes() + lut.tobytes() + fp.SIGMOID_TABLE_UINT16.astype(np.uint16).tobytes()
    got = np.frombuffer(subprocess.run([str(exe)], input=stdin, capture_output=True, check=True).stdout, np.int16).reshape(-1, 3)
    xs = np.arange(-32768, 32768)
    np.testing.assert_array_equal(got[:, 0], fp.int16_logistic(xs, multiplier, shift))
    np.testing.assert_array_equal(got[:, 1], fp.int16_tanh(xs, multiplier, shift))
    np.testing.assert_array_equal(got[:, 2], fp.lut_lookup_int16(xs, lut))


LOG_PROGRAM = r"""
#include <stdio.h>
#include "mlc_fixedpoint.h"
/* stdin: int32 x > 0; stdout: mlc_log_x_for_x_greater_than_or_equal_to_1(x) read in Q12, written in Q5 (LOG_SOFTMAX's) */
int main(void)
{
    int32_t x;
    while (fread(&x, 4, 1, stdin) == 1) {
        const int32_t res = mlc_log_x_for_x_greater_than_or_equal_to_1(x, 12, 5);
        fwrite(&res, 4, 1, stdout);
    }
    return 0;
}
"""


def test_log_x_matches_hostsim_and_log(tmp_path):
    """TFLite's fixed-point log of LOG_SOFTMAX's sums of exps (Q12.19, 1 and up; also the smaller positive values,
    which it takes too): C equals Python, and both are log(x) to within 2^-20."""
    import subprocess

    (tmp_path / "log_test.c").write_text(LOG_PROGRAM)
    exe = compile_c([tmp_path / "log_test.c"], tmp_path / "log_test", include_dirs=[asset_dir("templates") / "kernels"])
    rng = np.random.default_rng(5)
    xs = np.concatenate([rng.integers(1 << 19, I32.max, 20000, endpoint=True), rng.integers(1, 1 << 19, 2000),
                         [1, 2, (1 << 19) - 1, 1 << 19, (1 << 19) + 1, 1 << 30, I32.max]])
    got = np.frombuffer(subprocess.run([str(exe)], input=xs.astype(np.int32).tobytes(), capture_output=True,
                                       check=True).stdout, np.int32).astype(np.int64)
    want = fp.log_x_for_x_greater_than_or_equal_to_1(xs, 12, 5)
    np.testing.assert_array_equal(got, want)
    at_least_one = xs >= 1 << 19
    assert np.max(np.abs(want[at_least_one] / 2.0 ** 26 - np.log(xs[at_least_one] / 2.0 ** 19))) < 2.0 ** -20


INV_SQRT_PROGRAM = r"""
#include <stdio.h>
#include "mlc_fixedpoint.h"
/* stdin: int32 value >= 0; stdout: int32 multiplier and right shift of mlc_inv_sqrt_quantized_multiplier_exp */
int main(void)
{
    int32_t v;
    while (fread(&v, 4, 1, stdin) == 1) {
        int shift;
        int32_t res[2];
        res[0] = mlc_inv_sqrt_quantized_multiplier_exp(v, &shift);
        res[1] = shift;
        fwrite(res, 4, 2, stdout);
    }
    return 0;
}
"""


def test_inv_sqrt_matches_hostsim(tmp_path):
    """TFLite's GetInvSqrtQuantizedMultiplierExp (L2_NORMALIZATION's row sums of squares): 0, 1, the small values
    whose shift turns negative, random ones and the int32 extremes."""
    import subprocess

    (tmp_path / "inv_sqrt.c").write_text(INV_SQRT_PROGRAM)
    exe = compile_c([tmp_path / "inv_sqrt.c"], tmp_path / "inv_sqrt", include_dirs=[asset_dir("templates") / "kernels"])
    xs = np.concatenate([np.arange(0, 5000), np.random.default_rng(7).integers(5000, I32.max, 5000, endpoint=True),
                         [(1 << 29) - 1, 1 << 29, I32.max]])
    got = np.frombuffer(subprocess.run([str(exe)], input=xs.astype(np.int32).tobytes(), capture_output=True,
                                       check=True).stdout, np.int32).reshape(-1, 2).astype(np.int64)
    want = np.array([fp.inv_sqrt_quantized_multiplier_exp(int(v)) for v in xs], np.int64)
    assert (want[:, 1] == 0).sum() > 10  # the shift-negative path (left-shifted multipliers) is covered
    np.testing.assert_array_equal(got, want)
