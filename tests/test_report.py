"""`mlc report`: a self-contained page with the model, layers, plans, memory timeline, sizes and verification,
rendered by a real headless browser without console errors."""
import re
import shutil
import subprocess

import pytest

from codegen.cli import main
from codegen.lower.generate import plan_layers
from codegen.ops import load
from paths import MODELS

KWS = MODELS / "kws_ref_model.tflite"


def _report(tmp_path, *args):
    out = tmp_path / "report.html"
    assert main(["report", str(KWS), "-o", str(out), "-n", "4", *args]) == 0
    return out, out.read_text()


def _self_contained(html: str):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html), "the page fetches something"
    assert "<script" not in html and "@import" not in html and "url(" not in html


def test_report_without_a_board(tmp_path):
    _, html = _report(tmp_path)
    _self_contained(html)
    graph = load(KWS)
    plan = plan_layers(graph)
    assert html.count('class="buffer"') == len(plan.buffers)  # one rectangle per arena buffer
    assert html.count("<tr>") == 1 + len(graph.ops)  # header + a row per layer
    assert f"{plan.arena_bytes:,} B ({len(plan.buffers)} buffers)" in html
    assert "4/4 inputs bit-exact</span> against TFLM" in html
    assert "dsp: im2col" in html  # layer 0's plan for each ISA of the portable library
    xs = [float(x) for x in re.findall(r'class="buffer" x="([\d.-]+)"', html)]
    assert min(xs) >= 70  # inside the plot: the input, live from before layer 0, starts at layer 0


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (scripts/bootstrap installs it)")
    return exe


@pytest.mark.device
@pytest.mark.slow
def test_report_on_the_emulated_m4_renders_in_chromium(tmp_path):
    path, html = _report(tmp_path, "--board", "qemu-cortex-m4")
    _self_contained(html)
    assert "4/4 inputs bit-exact</span> against the device (qemu-cortex-m4, emulated)" in html
    assert html.count('class="layer"') == len(load(KWS).ops)  # instructions per layer
    for chart in ("memory", "bar", "layers"):
        assert f'class="chart {chart}"' in html
    assert re.search(r"flash [\d,]+ of 4,194,304 B", html) and "arena" in html and "stack" in html
    browser = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--enable-logging=stderr", "--v=0", "--window-size=1300,2600"]
    png = tmp_path / "shot.png"
    shot = subprocess.run(browser + [f"--screenshot={png}", path.as_uri()], capture_output=True, text=True,
                          timeout=120)
    dom = subprocess.run(browser + ["--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in (shot.stderr + dom.stderr).splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert dom.stdout.count("<svg") == 4 and dom.stdout.count('class="buffer"') == html.count('class="buffer"')
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (2600, 1300) and pixels[..., :3].std() > 0.05  # drawn, not a blank page
