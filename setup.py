"""Package layout: code packages are found; the top-level data folders install inside `codegen`
(codegen.assets finds them there, or beside the package in a checkout); the host programs' sources
(the PlatformIO platform, the QEMU plugin, the simavr harness) sit in the packages that build them."""
from pathlib import Path

from setuptools import find_packages, setup

DATA = {"codegen.templates": "templates", "codegen.firmware": "firmware", "codegen.boards": "boards"}
HOST_TOOLS = {"codegen.targets": ["platformio/**/*"], "codegen.device": ["qemu_plugin/*", "simavr/*"]}
SKIP = {"__pycache__", ".pio"}


def data_subpackages() -> list:
    """Data subfolders (and the host programs' source folders) whose names Python could import:
    setuptools wants them listed as packages, or it warns that it would ignore them."""
    roots = {**DATA, **{package: package.replace(".", "/") for package in HOST_TOOLS}}
    found = []
    for package, folder in roots.items():
        for sub in sorted(p for p in Path(folder).rglob("*") if p.is_dir()):
            parts = sub.relative_to(folder).parts
            if all(part.isidentifier() for part in parts) and not SKIP & set(parts) and not (sub / "__init__.py").exists():
                found.append(".".join((package, *parts)))
    return found


setup(
    packages=find_packages(include=["codegen", "codegen.*", "hostsim", "hostsim.*"]) + list(DATA) + data_subpackages(),
    package_dir=DATA,
    package_data={**{package: ["**/*"] for package in DATA}, **HOST_TOOLS},
    exclude_package_data={package: ["**/__pycache__/*", "**/.pio/**"] for package in DATA},
)
