"""Where the suite's reference data lives: the TFLM and MLPerf Tiny models and audio kept in the repository
(tests/data/models, see its README for attribution). Tests and benchmarks take the folder from here only."""
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MODELS = DATA / "models"
TESTDATA = MODELS / "testdata"
# Instruction budgets per model and board, for tests/test_budgets.py and benchmarks/bench_models.py.
BUDGETS = Path(__file__).resolve().parents[1] / "benchmarks" / "budgets.json"
