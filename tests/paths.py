"""Where the suite's reference data lives: the TFLM and MLPerf Tiny models and audio kept in the repository
(tests/data/models, see its README for attribution). Tests and benchmarks take the folder from here only."""
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MODELS = DATA / "models"
TESTDATA = MODELS / "testdata"
