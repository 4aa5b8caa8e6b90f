"""The Helium (MVE) kernel paths (MLC_MVE in templates/kernels/mlc_port.h) run only on Cortex-M55: each
single-layer model is built for qemu-cortex-m55 and `mlc verify`-checked byte for byte against hostsim
(which test_kernels_fast / test_generate hold to TFLM). The shapes reach every MVE loop: dot products
shorter than, equal to and longer than a 16-byte vector with predicated tails, odd unit/channel/pixel
counts (scalar remainders), the unrolled short fully connected, 1x1 in place and strided, im2col;
depthwise 4-channel groups (two output pixels per pass, odd widths, strided), in place and out of place,
at the requantization's bounds and with exact halves, tap pairs for depth multipliers 4, 8 and 64, and TRANSPOSE_CONV's
fast kernel (rows shorter than and over a vector, odd channels, outputs no tap lands on); those also run on the host,
with and without the DSP path."""
import re
import subprocess

import pytest

from c_harness import check_model
from codegen.targets.boards import get_board
from codegen.cli.build import build
from codegen.model.arrays import random_inputs
from codegen.cli.verify import verify_on_device
from codegen.device.emulator import Emulator
from codegen.device.protocol import Device
from codegen.ops import load
from test_kernels_fast import MODELS as KERNEL_MODELS, _conv_model, _dw_model, _fc_model

BOARD = "qemu-cortex-m55"
N_INPUTS = 20


# depth multiplier 4 and 8: the MVE tap-pair path (unrolled window with borders, odd width, the ring)
DW_PAIRS = {
    "dw-mult4-3x3": lambda: _dw_model(6, 5, 2, 4, (3, 3)),
    "dw-mult8-odd-width-strided": lambda: _dw_model(7, 6, 1, 8, (2, 3), stride=(2, 2), per_tensor=True),
    "dw-mult4-dilated": lambda: _dw_model(7, 7, 3, 4, (2, 2), dilation=(2, 2)),
    "dw-mult8-ring": lambda: _dw_model(12, 9, 1, 8, (5, 4), stride=(2, 2)),
}

MODELS = {
    "fc-unrolled-7": lambda: _fc_model(7, 5),
    "fc-unrolled-16": lambda: _fc_model(16, 4),
    "fc-unrolled-29": lambda: _fc_model(29, 3),
    "fc-loop-33": lambda: _fc_model(33, 6, per_tensor=True),
    "fc-loop-100": lambda: _fc_model(100, 9),
    **{k: v for k, v in KERNEL_MODELS.items() if k.startswith(("conv-", "dw-", "tconv-"))},
    "conv-1x1-wide": lambda: _conv_model(4, 3, 37, 9, (1, 1)),
    "conv-im2col-long": lambda: _conv_model(6, 5, 5, 6, (3, 3)),
    **DW_PAIRS,
}


@pytest.mark.device
@pytest.mark.parametrize("name", MODELS)
def test_mve_kernel_on_m55(name, tmp_path):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(MODELS[name]())
    project, report = build(path, BOARD, tmp_path / "fw", quiet=True)
    assert not re.search(r"warning:", (project.dir / "build.log").read_text())
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(project.elf)], capture_output=True, text=True).stdout
    assert "Tag_MVE_arch: MVE Integer" in attrs, "the m55 firmware must be built with MVE (MLC_MVE)"
    graph = load(path)
    x = random_inputs(graph, N_INPUTS, seed=2)
    with Emulator(get_board(BOARD), project.elf) as emu, Device(emu.url) as dev:
        y, mismatches, _ = verify_on_device(dev, graph, x, out=lambda s: None)
    assert mismatches == [], f"{name} on {BOARD}: inputs {mismatches[:10]} differ from hostsim"
    assert y.shape[0] == N_INPUTS


@pytest.mark.parametrize("defines", [(), ("MLC_DSP_EMULATE",)], ids=["portable", "dsp-emulated"])
@pytest.mark.parametrize("name", DW_PAIRS)
def test_dw_pairs_on_host(name, defines, tmp_path):
    assert check_model(DW_PAIRS[name](), tmp_path, n=40, name="f", defines=defines) == 40
