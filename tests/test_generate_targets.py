"""Generated libraries compile warning-free for the microcontroller targets, and hello_world runs
on an emulated ATmega328P (simavr) with the same outputs as hostsim for all 256 inputs."""
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from c_harness import compile_c, have
from codegen.lower.generate import generate_graph
from codegen.ops import load
from hostsim.runner import run
from paths import MODELS

REFERENCE_MODELS = ["hello_world_int8", "micro_speech_quantized", "kws_ref_model", "ad01_int8"]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Os"]
ARM_CPUS = ["cortex-m0plus", "cortex-m4", "cortex-m7"]


def generated(model: str, out: Path) -> Path:
    """The model's library; while a layer has no C kernel yet, the prefix of the graph before it."""
    generate_graph(load(MODELS / f"{model}.tflite"), out, name=model)
    return out / f"{model}.c"


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    return {m: generated(m, root / m) for m in REFERENCE_MODELS}


@pytest.mark.skipif(not have("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("cpu", ARM_CPUS)
def test_compiles_for_cortex_m(libraries, cpu, tmp_path):
    for model, source in libraries.items():
        obj = tmp_path / f"{model}.o"
        cmd = ["arm-none-eabi-gcc", *STRICT, "-mthumb", f"-mcpu={cpu}", "-c", str(source), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert obj.stat().st_size > 0


@pytest.mark.skipif(not have("avr-gcc"), reason="avr-gcc not installed")
def test_compiles_for_avr(libraries, tmp_path):
    """Every model that can fit an AVR compiles; ad01 (271 kB of weights) stops with a clear #error."""
    for model, source in libraries.items():
        cmd = ["avr-gcc", *STRICT, "-mmcu=atmega328p", "-c", str(source), "-o", str(tmp_path / f"{model}.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if model == "ad01_int8":
            assert proc.returncode != 0 and "does not fit" in proc.stderr and proc.stderr.count("error:") == 1
        else:
            assert proc.returncode == 0, proc.stderr


AVR_MAIN = r"""
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include "hello_world_int8.h"

static void put(char c)
{
    while (!(UCSR0A & (1 << UDRE0))) {
    }
    UDR0 = (uint8_t)c;
}

int main(void)
{
    static const char digits[] = "0123456789abcdef";
    int16_t i;
    int8_t in, out;
    UBRR0 = 8;
    UCSR0B = (1 << TXEN0);
    put('S');
    for (i = -128; i < 128; ++i) {
        in = (int8_t)i;
        if (hello_world_int8_invoke(&in, &out) != 0) {
            put('!');
        }
        put(digits[(uint8_t)out >> 4]);
        put(digits[(uint8_t)out & 15]);
    }
    put('E');
    put('\n'); /* simavr prints its UART line by line */
    cli();
    sleep_cpu(); /* simavr ends the simulation here */
    return 0;
}
"""


@pytest.mark.device
@pytest.mark.skipif(not (have("avr-gcc") and have("simavr")), reason="avr-gcc or simavr not installed")
def test_hello_world_runs_on_atmega328p(libraries, tmp_path):
    lib = libraries["hello_world_int8"].parent
    (tmp_path / "main.c").write_text(AVR_MAIN)
    elf = compile_c([tmp_path / "main.c", lib / "hello_world_int8.c"], tmp_path / "fw.elf", include_dirs=[lib],
                    cflags=[*STRICT, "-mmcu=atmega328p"], cc="avr-gcc")
    size = subprocess.run(["avr-size", str(elf)], capture_output=True, text=True, check=True).stdout.split("\n")[1].split()
    text, data, bss = map(int, size[:3])
    assert text + data <= 32 * 1024 and data + bss <= 2 * 1024 - 256  # flash; RAM leaves room for the stack
    proc = subprocess.run(["simavr", "-m", "atmega328p", "-f", "16000000", str(elf)], capture_output=True,
                          text=True, timeout=60)
    uart = re.sub(r"\x1b\[[0-9;]*m|\s", "", proc.stdout + proc.stderr)
    match = re.search(r"S([0-9a-f!]*)E", uart)
    assert match, uart[:500]
    got = np.frombuffer(bytes.fromhex(match.group(1)), np.int8)
    graph = load(MODELS / "hello_world_int8.tflite")
    want = run(graph, np.arange(-128, 128, dtype=np.int8).reshape(256, 1)).ravel()
    np.testing.assert_array_equal(got, want)


def test_two_models_link_into_one_program(tmp_path):
    """Two libraries (even of the same model) in one program: no symbol clashes, both run."""
    a, b = tmp_path / "a", tmp_path / "b"
    generate_graph(load(MODELS / "hello_world_int8.tflite"), a, name="sine_a")
    generate_graph(load(MODELS / "ad01_int8.tflite"), b, name="ad01")
    generate_graph(load(MODELS / "hello_world_int8.tflite"), tmp_path / "c", name="sine_c")
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "sine_a.h"
#include "sine_c.h"
#include "ad01.h"
int main(void)
{
    static int8_t x[ad01_INPUT_BYTES], y[ad01_OUTPUT_BYTES];
    int8_t s = 3, t = 0, u = 0;
    int rc = sine_a_invoke(&s, &t) | ad01_invoke(x, y) | sine_c_invoke(&s, &u);
    printf("%d %d %d %d\n", rc, t, u, y[0]);
    return rc;
}
""")
    includes = [a, b, tmp_path / "c"]
    exe = compile_c([tmp_path / "main.c", a / "sine_a.c", b / "ad01.c", tmp_path / "c" / "sine_c.c"],
                    tmp_path / "both", include_dirs=includes)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    hw = run(load(MODELS / "hello_world_int8.tflite"), np.array([[3]], np.int8)).ravel()[0]
    ad = run(load(MODELS / "ad01_int8.tflite"), np.zeros((1, 640), np.int8)).ravel()[0]
    assert out == ["0", str(hw), str(hw), str(ad)]
