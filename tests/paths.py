"""Where the suite's reference data lives: the TFLM and MLPerf Tiny models and audio kept in the repository
(tests/data/models, see its README for attribution). Tests and benchmarks take the folder from here only."""
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MODELS = DATA / "models"
TESTDATA = MODELS / "testdata"
# Instruction budgets per model and board, for tests/test_budgets.py and benchmarks/bench_models.py.
BUDGETS = Path(__file__).resolve().parents[1] / "benchmarks" / "budgets.json"
# Converter-made models (tests/models/make_keras_models.py); some stand for MLPerf Tiny's nets in the benchmarks.
KERAS = Path(__file__).resolve().parent / "models" / "keras"


def model_path(name: str) -> Path:
    """A benchmarked model's file by its name: tests/data/models first, else the converter-made ones."""
    path = MODELS / f"{name}.tflite"
    return path if path.exists() else KERAS / f"{name}.tflite"
