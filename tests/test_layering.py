"""The pipeline's stages import one way: codegen.model <- codegen.ops <- codegen.quantize <- codegen.apps (streaming apps'
parameters, which hostsim's app twins share) <- hostsim <- codegen.lower <- codegen.targets
<- codegen.device <- codegen.cli, with the shared helpers (errors, assets, csyntax) below them all.
hostsim uses only the model and the op definitions; nothing in codegen but the command line (which
drives both) imports hostsim."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["codegen.errors", "codegen.assets", "codegen.csyntax", "codegen.model", "codegen.ops", "codegen.frontend", "codegen.quantize",
          "codegen.apps", "hostsim",
          "codegen.lower", "codegen.targets", "codegen.device", "codegen.report", "codegen.cli"]


def _stage(module: str) -> int | None:
    for rank, stage in reversed(list(enumerate(STAGES))):
        if module == stage or module.startswith(stage + "."):
            return rank
    return None


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
        elif isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)


def _modules():
    for path in sorted((ROOT / "codegen").rglob("*.py")) + sorted((ROOT / "hostsim").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


@pytest.mark.parametrize("module, path", list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_point_down_the_pipeline(module, path):
    own = _stage(module)
    if own is None:  # codegen/__init__.py, __main__.py: the package's entry points
        return
    upward = [f"line {line}: {name}" for name, line in _imports(path)
              if (rank := _stage(name)) is not None and rank > own]
    assert not upward, f"{module} imports a later stage: {upward}"


def test_hostsim_is_reached_from_the_command_line_only():
    users = sorted({module for module, path in _modules() if module.startswith("codegen")
                    for name, _ in _imports(path) if name.split(".")[0] == "hostsim"})
    assert users and all(module.startswith("codegen.cli") for module in users), users
