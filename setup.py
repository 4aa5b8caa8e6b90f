"""Package layout: code packages are found; the top-level data folders install inside `codegen`
(codegen.assets finds them there, or beside the package in a checkout)."""
from setuptools import find_packages, setup

DATA = {"codegen.templates": "templates", "codegen.firmware": "firmware", "codegen.boards": "boards"}

setup(
    packages=find_packages(include=["codegen", "codegen.*", "hostsim", "hostsim.*"]) + list(DATA),
    package_dir=DATA,
    package_data={package: ["**/*"] for package in DATA},
    exclude_package_data={package: ["**/__pycache__/*", "**/.pio/**"] for package in DATA},
)
