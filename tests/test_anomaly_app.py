"""The anomaly app (--app anomaly): hostsim's twin (hostsim/apps/anomaly.py) equals the firmware
(templates/app/anomaly/app.c.j2) window for window, on the host with sanitizers and on emulated boards;
records do not depend on how the samples are chunked; the command line works end to end."""
import csv
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from anomaly_harness import build_app_host, run_app_host
from c_harness import have
from codegen.apps.anomaly import EVENTS, calibrate, read_threshold_file
from codegen.ops import load
from hostsim.apps.anomaly import Stream, log2_q, simulate

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "motor" / "model" / "model.tflite"
THRESHOLD = MODEL.with_name("threshold.json")
sys.path.insert(0, str(ROOT / "examples" / "motor"))
from vibration import Fault, Machine, simulate as vibration  # noqa: E402

RNG = np.random.default_rng(11)


@pytest.fixture(scope="module")
def graph():
    return load(MODEL)


@pytest.fixture(scope="module")
def cfg():
    return read_threshold_file(THRESHOLD, MODEL)[0]


def mixed(seconds=12.0, kind="bearing_outer", seed=5):
    """Healthy, then a fault growing past its documented level (an alarm), then healthy again (a clear)."""
    machine = Machine(shaft_hz=27.0)
    faulty = vibration(machine, seconds, [Fault(kind, onset_s=seconds / 6, growth_s=seconds / 6)], seed=seed).samples
    healthy = vibration(machine, seconds / 2, seed=seed + 1).samples
    return np.concatenate([faulty, healthy])


def extremes(n=4000):
    """Full-scale, -32768 runs, silence and noise: the auto scale's and saturations' corner cases."""
    x = RNG.integers(-3000, 3000, (n, 3)).astype(np.int16)
    x[300:700] = 0
    x[1000:1300] = -32768
    x[1500:1800, 0] = np.tile([32767, -32768], 150)
    x[2000:2600] = RNG.integers(-32768, 32768, (600, 3))
    return x


def test_log2_q_matches_its_definition():
    x = np.array([0, 1, 2, 3, 31, 32, 33, 63, 64, 1000, 2 ** 31, 2 ** 40 + 12345, 2 ** 64 - 1], np.uint64)
    got = log2_q(x)
    for v, g in zip(x.tolist(), got.tolist()):
        if v == 0:
            assert g == 0
            continue
        top = v.bit_length() - 1
        frac = (v >> (top - 5) if top >= 5 else v << (5 - top)) & 31
        assert g == (top << 5) + frac


def test_records_do_not_depend_on_chunking(graph, cfg):
    x = mixed(6.0)
    whole = simulate(graph, cfg, x)
    stream = Stream(graph, cfg)
    parts, pos = [], 0
    while pos < len(x):
        n = int(RNG.integers(1, 500))
        parts += stream.feed(x[pos:pos + n])
        pos += n
    assert parts == whole and len(whole) == (len(x) - cfg.window) // cfg.hop + 1


def test_example_alarms_on_a_fault_and_clears_after(graph, cfg):
    records = simulate(graph, cfg, mixed())
    events = [(r.index, EVENTS[r.event]) for r in records if r.event]
    assert [e for _, e in events] == ["alarm", "clear"], events
    alarm_s = cfg.time_ms(events[0][0]) / 1000
    assert 2.0 < alarm_s < 4.5  # onset at 2 s, the documented level at 4 s: alarmed within 0.5 s of it


@pytest.mark.skipif(not have("gcc"), reason="needs gcc")
def test_firmware_on_host_equals_hostsim_for_random_chunks(graph, cfg, tmp_path):
    """The whole app, built with sanitizers: features, score, flags and events of every window, for a signal
    with the arithmetic's corner cases and a fault, in random chunks, some requests resent."""
    low = replace(cfg, threshold=int(cfg.threshold // 3))  # so that this short signal raises and clears alarms
    exe = build_app_host(MODEL, low, tmp_path)
    x = np.concatenate([extremes(), mixed(8.0)])
    want = simulate(graph, low, x)
    for chunks, repeat in (([1, 7, 128, 33], 3), ([128], 0), (RNG.integers(1, 129, 50), 5)):
        got, text, acks = run_app_host(exe, low, x, chunks, repeat)
        assert got == want
        assert acks[-1] == len(x)
    recs = [t for t in text if t.startswith("REC ")]
    assert len(recs) == len(want)
    assert any(e != "-" for e in (line.rsplit("event=", 1)[1] for line in recs))
    assert "LED red" in text and "LED green" in text


@pytest.mark.skipif(not have("gcc"), reason="needs gcc")
def test_generated_c_is_warning_free_with_arm_gcc_too(cfg, tmp_path):
    """-Wall -Wextra -Werror with the host gcc above; with arm-none-eabi-gcc for a Cortex-M4 here."""
    if not have("arm-none-eabi-gcc"):
        pytest.skip("needs arm-none-eabi-gcc")
    from codegen.cli.app_anomaly import sources
    from codegen.targets.boards import get_board
    from codegen.targets.project import render_project
    from anomaly_harness import args_for

    g = load(MODEL)
    board = get_board("qemu-cortex-m4")
    project = render_project(g, board, tmp_path / "p", app="anomaly", name="ae", app_sources=sources(g, board, args_for(cfg)))
    proc = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "-std=c99", "-Wall", "-Wextra",
                           "-Werror", f"-I{project.dir / 'src'}", f"-I{project.dir / 'lib' / 'ae'}", "-c",
                           str(project.dir / "src" / "app_ae.c"), "-o", str(tmp_path / "app.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_calibrate_sets_a_threshold_none_of_the_normal_data_alarms_on(cfg):
    rng = np.random.default_rng(0)
    scores = [rng.gamma(4, 400, 3000).astype(np.int64) for _ in range(2)]
    out, info = calibrate(scores, cfg, 1.0)
    assert info["over_fraction"] <= info["window_over_rate"] * 1.01
    from codegen.apps.anomaly import alarms
    assert all(alarms(s, out) == 0 for s in scores)


def _mlc(*args, cwd=None):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run([sys.executable, "-m", "codegen", *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT)


def test_mlc_simulate_writes_one_row_per_window(tmp_path, graph, cfg):
    x = mixed()
    np.save(tmp_path / "rec.npy", x)
    proc = _mlc("simulate", MODEL, "--app", "anomaly", "--feed", tmp_path / "rec.npy", "--csv", tmp_path / "out.csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    want = simulate(graph, cfg, x)
    assert [int(r["score"]) for r in rows] == [r.score for r in want]
    assert [r["event"] for r in rows if r["event"]] == ["alarm", "clear"]
    assert list(rows[0]) == ["time_ms", "label", "score", "event"]
    assert "alarm" in proc.stdout


def test_mlc_calibrate_writes_a_threshold_file_build_takes(tmp_path, graph):
    normal = vibration(Machine(shaft_hz=31.0), 120, seed=9).samples
    np.save(tmp_path / "normal.npy", normal)
    out = tmp_path / "t.json"
    proc = _mlc("calibrate", MODEL, "--normal", tmp_path / "normal.npy", "--false-alarms-per-hour", "2", "-o", out)
    assert proc.returncode == 0, proc.stderr
    cfg2, doc = read_threshold_file(out, MODEL)
    assert cfg2.threshold > 0 and doc["calibration"]["normal_windows"] == (len(normal) - 256) // 128 + 1
    assert "threshold" in proc.stdout


def test_train_py_on_a_short_recording(tmp_path):
    rec = vibration(Machine(shaft_hz=40.0, noise_g=0.03), 75, seed=2).samples  # not the example's machine
    np.save(tmp_path / "normal.npy", rec)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "motor" / "train.py"), "--normal", str(tmp_path / "normal.npy"),
                           "--out", str(tmp_path / "m"), "--epochs", "5", "--false-alarms-per-hour", "20"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cfg2, _ = read_threshold_file(tmp_path / "m" / "threshold.json", tmp_path / "m" / "model.tflite")
    assert cfg2.threshold > 0
    assert len(simulate(load(tmp_path / "m" / "model.tflite"), cfg2, rec[:16000])) == 124


@pytest.mark.device
@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-cortex-m3"])
def test_device_equals_hostsim_on_a_mixed_recording(board, tmp_path, cfg):
    if not have("qemu-system-arm"):
        pytest.skip("needs qemu-system-arm")
    np.save(tmp_path / "rec.npy", mixed(8.0))
    proc = _mlc("verify", MODEL, "--app", "anomaly", "--board", board, "--feed", tmp_path / "rec.npy", "-o", tmp_path / "p",
                "--chunk", "128")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bit-exact" in proc.stdout and "1 alarm(s)" in proc.stdout


@pytest.mark.device
def test_mlc_run_feed_shows_the_led_and_the_alarm(tmp_path):
    if not have("qemu-system-arm"):
        pytest.skip("needs qemu-system-arm")
    np.save(tmp_path / "rec.npy", mixed(4.0, kind="looseness"))
    built = _mlc("build", MODEL, "--app", "anomaly", "--board", "qemu-cortex-m4", "-o", tmp_path / "p")
    assert built.returncode == 0, built.stderr
    proc = _mlc("run", tmp_path / "p", "--feed", tmp_path / "rec.npy", "--chunk", "128")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "LED green" in lines[1] and any("ALARM" in line for line in lines) and any("LED red" in line for line in lines)
    assert lines[-1].endswith("1 alarm(s)")


def test_mlc_simulate_plot(tmp_path):
    pytest.importorskip("matplotlib")
    np.save(tmp_path / "rec.npy", mixed(6.0))
    proc = _mlc("simulate", MODEL, "--app", "anomaly", "--feed", tmp_path / "rec.npy", "--plot", tmp_path / "run.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


AD01 = ROOT / "tests" / "data" / "models" / "ad01_int8.tflite"


def _ad01_features(n=40):
    """ad01's 640 inputs: int8 frames that drift from one regime to another, so the score crosses a threshold."""
    base = RNG.integers(-60, 60, 640)
    drift = np.linspace(0, 1, n)[:, None] * RNG.integers(-60, 60, 640)
    return np.clip(base + drift + RNG.integers(-5, 6, (n, 640)), -128, 127).astype(np.int8)


@pytest.mark.skipif(not have("gcc"), reason="needs gcc")
def test_features_in_mode_with_ad01_on_host_equals_hostsim(tmp_path):
    from codegen.apps.anomaly import AnomalyConfig

    graph = load(AD01)
    x = _ad01_features()
    scores = [r.score for r in simulate(graph, AnomalyConfig(features_in=640, threshold=2 ** 31), x)]
    cfg = AnomalyConfig(features_in=640, threshold=int(np.median(scores)), clear_k=3)
    want = simulate(graph, cfg, x)
    assert any(r.event for r in want)
    exe = build_app_host(AD01, cfg, tmp_path, name="ad01")
    got, text, acks = run_app_host(exe, cfg, x, [1])
    assert got == want and acks[-1] == len(x)


@pytest.mark.device
def test_features_in_mode_with_ad01_on_qemu(tmp_path):
    if not have("qemu-system-arm"):
        pytest.skip("needs qemu-system-arm")
    np.save(tmp_path / "f.npy", _ad01_features(20))
    proc = _mlc("verify", AD01, "--app", "anomaly", "--features-in", "--threshold", "3000", "--board", "qemu-cortex-m4",
                "--feed", tmp_path / "f.npy", "-o", tmp_path / "p")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "20/20 windows bit-exact" in proc.stdout


@pytest.mark.skipif(not have("gcc"), reason="needs gcc")
def test_mlc_monitor_shows_logs_and_plots_the_firmwares_windows(graph, cfg, tmp_path):
    """The host-built firmware's own output (REC lines, LED lines, frames) played over TCP to `mlc monitor`."""
    pytest.importorskip("matplotlib")
    from anomaly_harness import frames_for
    from test_serial_robustness import ScriptedDevice

    exe = build_app_host(MODEL, cfg, tmp_path)
    x = mixed(6.0, kind="looseness")
    out = subprocess.run([str(exe)], input=frames_for(x, [128]), capture_output=True, check=True).stdout
    want = simulate(graph, cfg, x)
    device = ScriptedDevice([out])
    proc = _mlc("monitor", "--port", f"socket://127.0.0.1:{device.port}", "--count", len(want), "--duration", 60,
                "--csv", tmp_path / "m.csv", "--plot", tmp_path / "m.png")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert [int(r["score"]) for r in rows] == [r.score for r in want]
    assert [r["event"] for r in rows if r["event"]] == [r.event_name(cfg) for r in want if r.event]
    assert "ALARM" in proc.stdout
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


CLASSIFIER = ROOT / "examples" / "motor" / "classifier"


@pytest.mark.skipif(not have("gcc"), reason="needs gcc")
def test_classifier_mode_on_host_equals_hostsim_and_names_the_fault(tmp_path):
    """examples/motor/classifier (a softmax over normal and the fault types) in the same pipeline: the alarm
    is named by the class; the firmware built for the host equals hostsim window for window."""
    model = CLASSIFIER / "model.tflite"
    ccfg = read_threshold_file(CLASSIFIER / "threshold.json", model)[0]
    assert ccfg.classifier and ccfg.labels[ccfg.normal_class] == "normal"
    x = mixed(12.0, kind="looseness")
    want = simulate(load(model), ccfg, x)
    assert [r.event_name(ccfg) for r in want if r.event] == ["looseness", "clear"]
    exe = build_app_host(model, ccfg, tmp_path, name="faults")
    got, text, _ = run_app_host(exe, ccfg, x, [100, 128, 3])
    assert got == want
    assert any("label=looseness" in t and "event=looseness" in t for t in text)


@pytest.mark.device
def test_classifier_mode_on_qemu(tmp_path):
    if not have("qemu-system-arm"):
        pytest.skip("needs qemu-system-arm")
    np.save(tmp_path / "rec.npy", mixed(6.0, kind="unbalance"))
    proc = _mlc("verify", CLASSIFIER / "model.tflite", "--app", "anomaly", "--labels", CLASSIFIER / "labels.txt",
                "--board", "qemu-cortex-m3", "--feed", tmp_path / "rec.npy", "-o", tmp_path / "p", "--chunk", "128")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bit-exact" in proc.stdout and "1 alarm(s)" in proc.stdout


def test_train_classifier_py_on_short_labelled_recordings(tmp_path):
    motor = ROOT / "examples" / "motor"
    subprocess.run([sys.executable, str(motor / "generate.py"), "--out", str(tmp_path / "rec"), "--minutes", "1",
                    "--healthy", "1", "--seed", "4"], check=True, capture_output=True, cwd=motor)
    proc = subprocess.run([sys.executable, str(motor / "train_classifier.py"), "--recordings", str(tmp_path / "rec"),
                           "--out", str(tmp_path / "c"), "--epochs", "3", "--false-alarms-per-hour", "50"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ccfg, doc = read_threshold_file(tmp_path / "c" / "threshold.json", tmp_path / "c" / "model.tflite")
    assert ccfg.labels[0] == "normal" and len(ccfg.labels) == 6 and doc["held_out_accuracy"] > 0.5
    assert (tmp_path / "c" / "labels.txt").read_text().split() == list(ccfg.labels)
