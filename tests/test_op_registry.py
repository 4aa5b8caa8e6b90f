"""One definition per operator family: every op mlc supports has every part (parameters, MACs where it
multiplies, a C emitter and its template, a hostsim kernel of the same family), and the registry is
the one list every stage reads."""
import inspect
from pathlib import Path

from codegen.assets import asset_dir
from codegen.ops import FAMILIES, registry, supported_ops
from hostsim.kernels import load as hostsim_kernels

WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def test_every_op_has_every_part():
    kernels = hostsim_kernels()
    assert set(kernels) == set(registry()), "hostsim and the op definitions disagree on the supported ops"
    for kind, d in registry().items():
        assert d.family in FAMILIES and callable(d.derive) and callable(d.emit), kind
        assert kernels[kind].__module__ == f"hostsim.kernels.{d.family}", f"{kind}: hostsim has it in another family"
        least, most = d.arity
        assert 1 <= least <= most, kind
        assert d.alias or d.templates, f"{kind} renders no kernel template"
        for template in d.templates:
            assert (asset_dir("templates") / "kernels" / template).is_file(), f"{kind}: no templates/kernels/{template}"
            assert template in inspect.getsource(d.emit), f"{kind}: its emitter does not render {template}"
        if kind in WEIGHTED:
            assert d.macs is not None, f"{kind} multiplies but counts no MACs"


def test_the_readme_names_every_supported_op():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## Supported operators"):readme.index("## Performance")]
    assert supported_ops() == sorted(registry())
    assert [kind for kind in supported_ops() if kind not in table] == []


def test_the_readme_op_table_is_what_the_registry_generates():
    from codegen.ops import coverage

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert coverage.BEGIN in readme and coverage.END in readme
    assert coverage.replace_in(readme) == readme, "run `python -m codegen.ops.coverage --write README.md`"
    rows = {r["op"]: r for r in coverage.rows()}
    assert set(rows) == set(registry())
    assert rows["CONV_2D"]["dsp"] and rows["CONV_2D"]["helium"] and not rows["AVERAGE_POOL_2D"]["dsp"]
    assert rows["RESHAPE"]["c"] == "zero-copy" and "int16" in rows["QUANTIZE"]["dtypes"]
