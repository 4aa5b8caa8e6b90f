"""The same front end graph with other constants and options (frame and FFT lengths, channel counts, smoothing,
clamping, PCAN, log, the int32 glue): mlc reads every constant from the file, and hostsim equals TFLM stage by
stage, and the C equals hostsim, on every frame. Graphs mlc cannot fuse are refused in one line naming the
layer, the op and the option."""
import numpy as np
import pytest

from codegen.errors import MlcError
from codegen.frontend import load
from codegen.frontend.emit import generate
from codegen.model.tflite import parse
from codegen.frontend import recognise
from frontend_builder import options_of, preprocessor
from frontend_corpus import PREPROCESSOR, STEP, WAVS, read_wav, synthetic, tflm_frontend
from hostsim.frontend import frames, run
from test_frontend import assert_same_stages
from test_frontend_c import MAIN, NAME, assert_c_equals_hostsim, run_c
from c_harness import HOST_CFLAGS, compile_c

pytest.importorskip("tflite_micro")
VARIANTS = {
    "400-sample frames, 32 channels": dict(frame_length=400, channels=32),
    "256-point FFT (a radix-2 stage), 20 channels, other PCAN and log": dict(
        frame_length=256, fft_length=256, channels=20, shift=11, snr_shift=5, log=(2, 128)),
    "1024-point FFT, 640-sample frames": dict(frame_length=640, fft_length=1024, channels=40),
    "clamped noise estimate, other smoothing and glue": dict(
        spectral_subtraction=dict(smoothing=2048, one_minus_smoothing=14336, alternate_smoothing=1024,
                                  alternate_one_minus_smoothing=15360, min_signal_remaining=2000, smoothing_bits=8,
                                  clamping=True),
        glue=(("MUL", 100), ("SUB", 50), ("DIV", 400), ("MAXIMUM", -128), ("MINIMUM", 127))),
}


def clip_frames(fe) -> np.ndarray:
    """The yes clip and some synthetic clips (noise, full scale, lone -32768s, a sweep), as one stream."""
    rng = np.random.default_rng(5)
    audio = [read_wav(WAVS["yes"])] + [a for name, a in synthetic(rng)
                                       if name in ("white -20 dBFS", "lone -32768", "sweep 20-8000 Hz", "clipped sine")]
    return np.concatenate([frames(a, fe, STEP) for a in audio])


def test_rebuilt_micro_speech_graph_has_the_same_record_and_output(tmp_path):
    fe = load(PREPROCESSOR)
    path = tmp_path / "rebuilt.tflite"
    path.write_bytes(preprocessor(**options_of(fe)))
    again = load(path)
    assert options_of(again).keys() == options_of(fe).keys()
    for key, value in options_of(fe).items():
        assert str(options_of(again)[key]) == str(value), key
    x = frames(read_wav(WAVS["no"]), fe, STEP)
    ours = tflm_frontend(path, x, {"features": dict(again.tensors)["features"]})["features"]
    assert np.array_equal(ours, tflm_frontend(PREPROCESSOR, x, {"features": dict(fe.tensors)["features"]})["features"])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_equals_tflm_and_c_equals_hostsim(variant, tmp_path):
    path = tmp_path / "variant.tflite"
    path.write_bytes(preprocessor(**VARIANTS[variant]))
    fe = load(path)
    x = clip_frames(fe)
    got = run(fe, x)
    assert_same_stages(fe, got.stages, tflm_frontend(path, x, dict(fe.tensors)), variant)
    generate(fe, tmp_path, NAME)
    (tmp_path / "main.c").write_text(MAIN)
    exe = compile_c([tmp_path / "main.c", tmp_path / f"{NAME}.c"], tmp_path / "fe_host", include_dirs=[tmp_path],
                    defines=[f"{NAME}_DEBUG_DUMP"], cflags=HOST_CFLAGS)
    assert_c_equals_hostsim(fe, run_c(exe, x), got.stages, variant)


REFUSED = [
    (dict(extra_options={"SignalRfft": {"fft_length": 480}}),
     r"layer 3 \(CUSTOM:SignalRfft\): option fft_length = 480: mlc's fixed-point FFT needs a power of two"),
    (dict(rfft_type=1), r"layer 3 \(CUSTOM:SignalRfft\): option T = 1"),
    (dict(extra_options={"SignalWindow": {"gain": 2}}), r"layer 0 \(CUSTOM:SignalWindow\): options 'gain' unknown"),
    (dict(extra_options={"SignalFilterBankSpectralSubtraction": {"num_channels": 39}}),
     r"\(CUSTOM:SignalFilterBankSpectralSubtraction\): option num_channels = 39 but the filter bank has 40"),
    (dict(extra_options={"SignalFilterBankLog": {"output_scale": -1}}),
     r"\(CUSTOM:SignalFilterBankLog\): option output_scale = -1"),
    (dict(glue=(("MUL", 1 << 20), ("MINIMUM", 127), ("MAXIMUM", -128))), r"\(MUL\): the values reach .* beyond int32"),
    (dict(glue=(("MUL", 256),)), r"\(CAST\): the int32 values \[0, 8388352\] would wrap in the cast to int8"),
    (dict(glue=(("DIV", 0),)), r"\(DIV\): division by zero"),
]


@pytest.mark.parametrize("kwargs, message", REFUSED, ids=[m[:40] for _, m in REFUSED])
def test_unfusable_graphs_are_refused_in_one_line(kwargs, message):
    with pytest.raises(MlcError, match=message) as err:
        recognise(parse(preprocessor(**kwargs), "pre.tflite"))
    assert "\n" not in str(err.value) and str(err.value).startswith("pre.tflite: ")


def test_an_op_that_is_no_stage_is_named():
    graph = parse(preprocessor(), "pre.tflite")
    graph.ops[5].kind = "CUSTOM:SignalStacker"
    with pytest.raises(MlcError, match=r"layer 5 \(CUSTOM:SignalStacker\): is not a stage of mlc's fused audio front end"):
        recognise(graph)


def test_mlc_build_still_refuses_the_front_end_as_a_model(tmp_path, capsys):
    from codegen.cli import main

    assert main(["build", str(PREPROCESSOR), "-o", str(tmp_path / "p")]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "CUSTOM:SignalWindow on int16 is not supported" in err

