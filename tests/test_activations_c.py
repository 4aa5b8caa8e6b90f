"""The C side of SOFTMAX, LOGISTIC and TANH: the gemmlowp helpers in mlc_fixedpoint.h equal their
hostsim twins (codegen/model/fixedpoint.py) bit for bit on random and extreme values; the generated
kernels (reference and table variants) equal hostsim on drawn single-op models and on the two
reference models that end in SOFTMAX, random and extreme inputs; everything compiles warning-free
for the host, Cortex-M and AVR (16-bit int)."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c_harness import banded_layers, build_harness, compare, generate_lib, random_inputs
from codegen.model import fixedpoint as fp
from tflite_builder import ModelBuilder
from paths import MODELS

VARIANTS = {"table": False, "reference": True}  # name -> generate(reference=...)

KERNELS = Path(__file__).resolve().parents[1] / "templates" / "kernels"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(KERNELS)]
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1

# One line per call: "<function> <arg> <arg>", one result per line. Every function takes two args.
HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "mlc_fixedpoint.h"

int main(void)
{
    char name[64];
    long a, b;
    while (scanf("%63s %ld %ld", name, &a, &b) == 3) {
        const int32_t x = (int32_t)a;
        const int n = (int)b;
        int bits = 0;
        long r;
        if (!strcmp(name, "srmbpot")) r = mlc_saturating_rounding_multiply_by_pot(x, n);
        else if (!strcmp(name, "half_sum")) r = mlc_rounding_half_sum(x, (int32_t)b);
        else if (!strcmp(name, "exp")) r = mlc_exp_on_negative_values(x, n);
        else if (!strcmp(name, "recip")) r = mlc_one_over_one_plus_x_for_x_in_0_1(x);
        else if (!strcmp(name, "one_minus")) r = mlc_one_minus_x_over_one_plus_x_for_x_in_0_1(x);
        else if (!strcmp(name, "logistic")) r = mlc_fixed_logistic(x, n);
        else if (!strcmp(name, "tanh")) r = mlc_fixed_tanh(x, n);
        else if (!strcmp(name, "clz")) r = mlc_count_leading_zeros32(x);
        else if (!strcmp(name, "get_reciprocal")) { r = mlc_get_reciprocal(x, n, &bits); r = r * 64 + bits + 32; }
        else return 2;
        printf("%ld\n", r);
    }
    return 0;
}
"""


def _values(rng, lo, hi, n=400):
    """Random int32 values in [lo, hi] plus the ends, zero and powers of two inside the range."""
    special = [lo, hi, lo + 1, hi - 1, 0, 1, -1] + [s * (1 << k) + d for k in range(31) for s in (1, -1) for d in (-1, 0, 1)]
    special = [v for v in special if lo <= v <= hi]
    return np.concatenate([np.array(special, np.int64), rng.integers(lo, hi, n, endpoint=True)])


def _cases(rng):
    """(C name, python function of (x, n), x values, n values)."""
    get_reciprocal = lambda x, n: (lambda s, b: s * 64 + b + 32)(*fp.get_reciprocal(x, n))  # noqa: E731
    return [
        ("srmbpot", lambda x, n: fp.saturating_rounding_multiply_by_pot(x, int(n)), _values(rng, I32_MIN, I32_MAX),
         [e for e in range(-31, 31)]),
        ("exp", lambda x, n: fp.exp_on_negative_values(x, int(n)), _values(rng, I32_MIN, 0), range(0, 13)),
        ("recip", lambda x, n: fp.one_over_one_plus_x_for_x_in_0_1(x), _values(rng, 0, I32_MAX, 2000), [0]),
        ("one_minus", lambda x, n: fp.one_minus_x_over_one_plus_x_for_x_in_0_1(x), _values(rng, 0, I32_MAX, 2000), [0]),
        ("logistic", lambda x, n: fp.fixed_logistic(x, int(n)), _values(rng, I32_MIN + 1, I32_MAX), range(0, 11)),
        ("tanh", lambda x, n: fp.fixed_tanh(x, int(n)), _values(rng, I32_MIN + 1, I32_MAX), range(0, 11)),
        ("clz", lambda x, n: fp.count_leading_zeros32(x), _values(rng, I32_MIN, I32_MAX), [0]),
        ("get_reciprocal", lambda x, n: get_reciprocal(x, int(n)), _values(rng, 1, I32_MAX), [0, 5, 12, 31]),
    ]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    folder = tmp_path_factory.mktemp("fixedpoint_c")
    (folder / "harness.c").write_text(HARNESS)
    exe = folder / "harness"
    subprocess.run(["gcc", *CFLAGS, "-O2", "-fsanitize=undefined", "-fno-sanitize-recover=all",
                    str(folder / "harness.c"), "-o", str(exe)], check=True)
    return exe


def test_c_helpers_equal_python_helpers(harness):
    rng = np.random.default_rng(3)
    lines, want, labels = [], [], []
    for name, fn, xs, ns in _cases(rng):
        for n in ns:
            expected = np.asarray(fn(xs, np.int64(n)), np.int64)
            lines += [f"{name} {x} {n}" for x in xs]
            want.append(np.broadcast_to(expected, xs.shape))
            labels += [(name, n, x) for x in xs]
    done = subprocess.run([str(harness)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    got = np.array(done.stdout.split(), np.int64)
    want = np.concatenate(want)
    assert got.shape == want.shape, done.stderr
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size}/{want.size} differ; first {labels[bad[0]]}: C {got[bad[0]]}, python {want[bad[0]]}"


@pytest.mark.parametrize("compiler, flags", [
    ("gcc", ["-O2"]),
    ("arm-none-eabi-gcc", ["-O2", "-mcpu=cortex-m4", "-mthumb"]),
    ("avr-gcc", ["-Os", "-mmcu=atmega328p"]),
])
def test_header_compiles_warning_free(tmp_path, compiler, flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = tmp_path / "use.c"
    src.write_text('#include "mlc_fixedpoint.h"\n'
                   "int32_t use(int32_t x, int n);\n"
                   "int32_t use(int32_t x, int n)\n{\n    int bits;\n"
                   "    return mlc_fixed_logistic(x, n) + mlc_fixed_tanh(x, n) + mlc_get_reciprocal(x, n, &bits) + bits;\n}\n")
    subprocess.run([compiler, *CFLAGS, *flags, "-c", str(src), "-o", str(tmp_path / "use.o")], check=True)


def check_with_extremes(model, work: Path, reference: bool, n: int = 100) -> int:
    """Generate and build the library, then compare with hostsim on n random inputs plus the
    all -128 and all 127 inputs."""
    result, graph = generate_lib(model, work, name="m", reference=reference)
    exe = build_harness(result.out_dir, "m")
    x = random_inputs(graph, n)
    extremes = np.stack([np.full(x.shape[1:], -128, np.int8), np.full(x.shape[1:], 127, np.int8)])
    return compare(graph, exe, np.concatenate([x, extremes]), banded_layers(result))


@st.composite
def activation_models(draw) -> bytes:
    """One SOFTMAX, LOGISTIC or TANH layer, batch 1, of any rank up to 4 and wide quantization."""
    op = draw(st.sampled_from(["SOFTMAX", "LOGISTIC", "TANH"]))
    shape = [1] + draw(st.lists(st.integers(1, 9), min_size=1, max_size=3))
    b = ModelBuilder()
    x = b.input(shape, float(np.float32(2.0 ** draw(st.floats(-12.0, 6.0)))), draw(st.integers(-128, 127)))
    if op == "SOFTMAX":
        y = b.softmax(x, float(np.float32(draw(st.floats(0.1, 4.0)))))
    else:
        y = b.logistic(x) if op == "LOGISTIC" else b.tanh(x)
    b.output(y)
    return b.finish()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(model=activation_models(), variant=st.sampled_from(sorted(VARIANTS)))
def test_kernels_equal_hostsim(model, variant, tmp_path_factory):
    assert check_with_extremes(model, tmp_path_factory.mktemp("act"), VARIANTS[variant], n=20) == 22


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("model", ["kws_ref_model", "micro_speech_quantized"])
def test_reference_models_equal_hostsim(model, variant, tmp_path):
    assert check_with_extremes(MODELS / f"{model}.tflite", tmp_path / "lib", VARIANTS[variant]) == 102


def _chain() -> bytes:
    """TANH -> LOGISTIC -> SOFTMAX, with odd sizes (3 rows of 7)."""
    b = ModelBuilder()
    x = b.input([1, 3, 7], 0.05, 3)
    b.output(b.softmax(b.logistic(b.tanh(x)), beta=0.7))
    return b.finish()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chain_equals_hostsim_and_compiles_for_targets(variant, tmp_path):
    assert check_with_extremes(_chain(), tmp_path / "lib", VARIANTS[variant]) == 102
    source = tmp_path / "lib" / "m.c"
    targets = [("arm-none-eabi-gcc", ["-mthumb", "-mcpu=cortex-m0plus"]), ("arm-none-eabi-gcc", ["-mthumb", "-mcpu=cortex-m4"]),
               ("avr-gcc", ["-mmcu=atmega328p"])]
    for compiler, flags in targets:
        if shutil.which(compiler) is None:
            continue
        proc = subprocess.run([compiler, *CFLAGS, "-Os", *flags, "-c", str(source), "-o", str(tmp_path / "m.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{compiler} {flags}: {proc.stderr}"
