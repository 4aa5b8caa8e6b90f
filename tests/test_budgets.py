"""Budgets that guard the speed: every reference model on every emulated Cortex-M board of the README's
performance table must take at most its budgeted instructions per inference (benchmarks/budgets.json) plus
the tolerance. QEMU's counts are exact, so any change beyond it is the code's. The budgets hold for the
compiler the kernels' hints were tuned with; with another one the test says so instead of comparing."""
import json

import pytest

from codegen.device.bench import bench, compiler_version
from codegen.targets.boards import get_board
from paths import BUDGETS, model_path

DATA = json.loads(BUDGETS.read_text())
CASES = [(model, board) for model, boards in sorted(DATA["instructions"].items()) for board in sorted(boards)]


@pytest.fixture(scope="module")
def tuned_compiler():
    cc, version = DATA["compiler"].split()
    found = compiler_version(get_board("qemu-cortex-m4"))
    if found != version and not found.startswith(version + "."):
        pytest.fail(f"{BUDGETS.name} holds counts for {cc} {version}, this machine has {cc} {found}: "
                    f"install {version} or re-measure the budgets with benchmarks/bench_models.py", pytrace=False)


def test_every_budget_has_a_model_and_board():
    assert len(CASES) == 45 and 0 < DATA["tolerance"] <= 0.01
    for model, board in CASES:
        assert model_path(model).is_file() and get_board(board).emulator.kind == "qemu"


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.parametrize("model, board", CASES, ids=[f"{m}-{b}" for m, b in CASES])
def test_instructions_within_budget(model, board, tuned_compiler, tmp_path):
    budget = DATA["instructions"][model][board]
    got = bench(model_path(model), board, out_dir=tmp_path).instructions
    assert got <= budget * (1 + DATA["tolerance"]), \
        f"{model} on {board}: {got:,} instructions, {got / budget - 1:+.2%} over its budget of {budget:,}"
