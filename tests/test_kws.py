"""The kws streaming app's host side: the twin (hostsim.apps.kws) on TFLM's test clips and a 20-second
stream, chunk-size invariance, TFLM's RecognizeCommands semantics, the wav rules, `mlc simulate --app kws`."""
import csv
import struct

import numpy as np
import pytest

from codegen.apps.kws import NO_LABEL, Record, configure, read_wav, write_wav
from codegen.errors import MlcError
from hostsim.apps.kws import Detector, Kws, simulate
from kws_stream import frontend, model, stream
from paths import MODELS, TESTDATA
from test_bad_input import assert_one_line_error, mlc

PRE = MODELS / "audio_preprocessor_int8.tflite"
MODEL = MODELS / "micro_speech_quantized.tflite"
LABELS = MODELS / "micro_speech_labels.txt"
LABEL_NAMES = ["silence", "unknown", "yes", "no"]
# The twin's events on kws_stream.stream() (time_ms, keyword): the stream has yes/no clips starting at
# 1.0, 3.0, 6.5, 9.5, 12.5, 14.0, 16.0, 18.0 s; the model also hears "yes" in TFLM's silence clip (5.5 s).
EVENTS_K1 = [(2350, "yes"), (4350, "no"), (6330, "yes"), (7990, "yes"), (10910, "no"), (14030, "yes"),
             (15370, "no"), (17430, "yes"), (19430, "no")]
EVENTS_K5 = [(2410, "yes"), (4410, "no"), (6410, "yes"), (8110, "yes"), (11010, "no"), (14110, "yes"),
             (15410, "no"), (17510, "yes"), (19510, "no")]


@pytest.fixture(scope="module")
def fe():
    return frontend()


@pytest.fixture(scope="module")
def graph():
    return model()


@pytest.fixture(scope="module")
def audio():
    return stream()


def cfg_of(fe, graph, every=1, keywords=None):
    return configure(fe, graph, LABEL_NAMES, keywords, every)


def events(records, cfg):
    parsed = [Record.parse(p, cfg) for p in records]
    return [(r.time_ms(cfg), cfg.labels[r.event]) for r in parsed if r.event != NO_LABEL]


def test_config_reads_the_ring_and_silence_from_the_model(fe, graph):
    cfg = cfg_of(fe, graph)
    assert (cfg.ring_frames, cfg.features, cfg.window, cfg.hop, cfg.silence) == (49, 40, 480, 320, -128)
    assert cfg.keywords == (2, 3)  # default: all but silence and unknown
    import hostsim.frontend
    silent = hostsim.frontend.run(fe, np.zeros((60, 480), np.int16)).features
    assert (silent == cfg.silence).all(), "the ring's start value is what the front end gives for digital silence"


def test_four_test_clips_give_yes_no_silence_silence(fe, graph):
    cfg = cfg_of(fe, graph)
    got = []
    for word in ("yes", "no", "silence", "noise"):
        records = [Record.parse(p, cfg) for p in simulate(cfg, fe, graph, read_wav(TESTDATA / f"{word}_1000ms.wav"))]
        assert len(records) == 49 and records[-1].first_frame == 48  # the 49th frame fills the ring
        got.append(LABEL_NAMES[int(np.argmax(records[-1].posteriors))])
    assert got == ["yes", "no", "silence", "silence"]


@pytest.mark.parametrize("every, expected", [(1, EVENTS_K1), (5, EVENTS_K5)])
def test_twenty_second_stream_events(fe, graph, audio, every, expected):
    cfg = cfg_of(fe, graph, every)
    records = simulate(cfg, fe, graph, audio)
    assert len(records) == 999 // every
    assert events(records, cfg) == expected
    parsed = [Record.parse(p, cfg) for p in records]
    assert all(r.label == NO_LABEL for r in parsed if r.first_frame + every < cfg.ring_frames)
    assert [r.first_frame for r in parsed] == list(range(0, 999 // every * every, every))


def test_chunk_size_changes_nothing(fe, graph, audio):
    cfg = cfg_of(fe, graph)
    whole = simulate(cfg, fe, graph, audio)
    for chunk in (1, 7, 160, 320, 321, 16000):
        assert simulate(cfg, fe, graph, audio, chunk) == whole, f"chunk {chunk}"


def test_events_only_for_the_keywords_asked(fe, graph, audio):
    cfg = cfg_of(fe, graph, keywords=["no"])
    assert events(simulate(cfg, fe, graph, audio[:16000 * 6]), cfg) == [(4350, "no")]


def test_features_persist_across_the_stream(fe, graph, audio):
    """The twin's frames are the front end's on the whole stream in one go: the noise estimate never resets."""
    import hostsim.frontend
    cfg = cfg_of(fe, graph)
    twin = Kws(cfg, fe, graph)
    for at in range(0, 16000 * 3, 1000):
        twin.push(audio[at:at + 1000])
    want = hostsim.frontend.run(fe, hostsim.frontend.frames(audio[:16000 * 3], fe, 320)).features
    assert np.array_equal(twin.features(), want)


# --- RecognizeCommands (TFLM's micro_speech before Oct 2023) -------------------------------------------------
def detector(**kw):
    class Cfg:
        average_window_ms, threshold, suppression_ms, minimum_count, max_results = 1000, 200, 1500, 3, 50
    for k, v in kw.items():
        setattr(Cfg, k, v)
    return Detector(Cfg)


YES = np.array([-128, -128, 127, -128], np.int8)
NO = np.array([-128, -128, -128, 127], np.int8)


def test_detector_needs_three_results_over_a_quarter_window():
    d = detector()
    assert d.process(YES, 0) == (0, 0, False)
    assert d.process(YES, 100) == (0, 0, False)
    assert d.process(YES, 200) == (0, 0, False)  # 3 results but only 200 ms < 250 ms
    assert d.process(YES, 250) == (2, 255, True)


def test_detector_suppresses_a_repeat_but_not_a_new_label():
    d = detector()
    fired = [t for t in range(0, 2000, 50) if d.process(YES, t)[2]]
    assert fired == [250, 1800]  # again only when more than 1500 ms have passed (1750 is exactly 1500)
    d = detector()
    for t in range(0, 300, 50):
        d.process(YES, t)
    # a new label fires at once, as soon as its mean is the top one above the threshold
    fired = [t for t in range(300, 2000, 50) if d.process(NO, t)[2]]
    assert fired and fired[0] < 1750 and d.previous_top == 3


def test_detector_queue_drops_a_result_when_full():
    d = detector(max_results=3, minimum_count=1)
    for t in (0, 10, 20):
        d.process(YES, t)
    d.process(NO, 30)  # full: dropped, as TFLM's PreviousResultsQueue::push_back does
    assert [t for t, _ in d.queue] == [0, 10, 20]


def test_detector_mean_is_integer_and_threshold_strict():
    d = detector(minimum_count=1, average_window_ms=0)
    assert d.process(np.array([-128, -128, 72, -128], np.int8), 0) == (2, 200, False)  # 200 is not > 200
    assert d.process(np.array([-128, -128, 73, -128], np.int8), 1) == (2, 201, True)


# --- wav rules -------------------------------------------------------------------------------------------
def _wav(path, data: bytes, channels=1, rate=16000, bits=16, tag=1):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_wav_mono_16_bit_as_is(tmp_path):
    x = np.array([0, 1, -1, 32767, -32768], np.int16)
    write_wav(tmp_path / "a.wav", x)
    assert np.array_equal(read_wav(tmp_path / "a.wav"), x)


def test_wav_conversions(tmp_path):
    stereo = np.array([[3, 4], [-3, -4], [32767, 32767], [-32768, 0]], "<i2")
    assert read_wav(_wav(tmp_path / "s.wav", stereo.tobytes(), channels=2)).tolist() == [3, -4, 32767, -16384]
    u8 = np.array([0, 128, 255], np.uint8)
    assert read_wav(_wav(tmp_path / "u.wav", u8.tobytes(), bits=8)).tolist() == [-32768, 0, 32512]
    f = np.array([0.0, 0.5, -1.0, 1.0, 2.0], "<f4")
    assert read_wav(_wav(tmp_path / "f.wav", f.tobytes(), bits=32, tag=3)).tolist() == [0, 16384, -32768, 32767, 32767]
    i24 = bytes([0x00, 0x01, 0x80, 0xFF, 0xFF, 0x7F])  # -0x7FFF00 -> -32767; 0x7FFFFF -> 32767
    assert read_wav(_wav(tmp_path / "i24.wav", i24, bits=24)).tolist() == [-32767, 32767]


def test_wav_refusals(tmp_path):
    with pytest.raises(MlcError, match="44100 Hz"):
        read_wav(_wav(tmp_path / "r.wav", b"\0\0" * 10, rate=44100))
    with pytest.raises(MlcError, match="not a wav"):
        (tmp_path / "x.wav").write_bytes(b"hello")
        read_wav(tmp_path / "x.wav")
    with pytest.raises(MlcError, match="not supported"):
        read_wav(_wav(tmp_path / "a.wav", b"\0" * 8, tag=6, bits=8))


# --- the command line --------------------------------------------------------------------------------------
def test_simulate_writes_csv_and_features(tmp_path):
    wav = tmp_path / "s.wav"
    write_wav(wav, stream(6.0))
    code, out, err = mlc("simulate", MODEL, "--app", "kws", "--frontend", PRE, "--labels", LABELS, "--feed", wav,
                         "--csv", tmp_path / "out.csv", "--features", tmp_path / "f.npy")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert list(rows[0]) == ["time_ms", "label", "score", "event"] and len(rows) == 299
    assert [(int(r["time_ms"]), r["event"]) for r in rows if r["event"]] == EVENTS_K1[:2]
    assert rows[0]["label"] == "-" and rows[-1]["label"] in LABEL_NAMES
    assert np.load(tmp_path / "f.npy").shape == (299, 40)
    assert "YES" in out and "2 detection(s)" in out


def test_bad_wav_is_one_line(tmp_path):
    wav = _wav(tmp_path / "r.wav", b"\0\0" * 100, rate=44100)
    assert_one_line_error("simulate", [MODEL, "--app", "kws", "--frontend", PRE, "--feed", wav], "44100 Hz", "r.wav")


def test_model_not_fed_by_the_front_end_is_one_line(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros(1600, np.int16))
    assert_one_line_error("simulate", [MODELS / "kws_ref_model.tflite", "--app", "kws", "--frontend", PRE,
                                       "--feed", wav], "kws_ref_model", "40 int8 features")


def test_missing_frontend_and_unknown_keyword_are_one_line(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros(1600, np.int16))
    assert_one_line_error("simulate", [MODEL, "--app", "kws", "--feed", wav], "--frontend")
    assert_one_line_error("simulate", [MODEL, "--app", "kws", "--frontend", PRE, "--labels", LABELS,
                                       "--keywords", "yes,maybe", "--feed", wav], "maybe")


def test_first_difference_names_the_frame(fe, graph, audio):
    from codegen.cli.app_kws import first_difference
    cfg = cfg_of(fe, graph, 5)
    host = [Record.parse(p, cfg) for p in simulate(cfg, fe, graph, audio[:16000 * 2])]
    assert first_difference(host, host, cfg) is None
    bad = bytearray(simulate(cfg, fe, graph, audio[:16000 * 2])[3])
    bad[9 + 2 * 40 + 7] ^= 1  # record 3 holds frames 15..19: feature 7 of frame 17
    device = host[:3] + [Record.parse(bytes(bad), cfg)] + host[4:]
    assert first_difference(device, host, cfg).startswith("feature frame 17 (370 ms), feature 7")
    assert "device sent 2 records" in first_difference(host[:2], host, cfg)


@pytest.mark.extras
def test_plot_draws_features_posteriors_and_detections(fe, graph, audio, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra: pip install 'mlc[plot]'")
    from codegen.cli.app_kws import plot
    cfg = cfg_of(fe, graph)
    twin = Kws(cfg, fe, graph)
    records = [Record.parse(p, cfg) for p in twin.push(audio[:16000 * 5])]
    plot(tmp_path / "kws.png", twin.features(), records, cfg)
    assert (tmp_path / "kws.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_and_chunk_out_of_range_are_one_line(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros(1600, np.int16))
    for every in ("0", "50"):
        assert_one_line_error("simulate", [MODEL, "--app", "kws", "--frontend", PRE, "--every", every, "--feed", wav],
                              "--every", "1..49")
