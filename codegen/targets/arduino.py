"""`mlc export --arduino`: the model as an Arduino library in the Library Specification 1.5 layout, which is
also a PlatformIO library (library.json), with an example sketch per app.

    mlc_NAME/library.properties, library.json
    mlc_NAME/src/          the portable model library (every kernel's ISA paths, picked by the preprocessor)
                           and mlc_NAME.h, the header a sketch includes
    mlc_NAME/examples/classify/classify.ino, src/   the classify app with mlc's serial protocol and the
                           Arduino board layer, as `mlc build` gives an Arduino board; likewise
    mlc_NAME/examples/anomaly/ or kws/   a streaming app's sketch, when the export asks for one
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from codegen.assets import asset_dir, templates
from codegen.csyntax import check_identifier, identifier_from
from codegen.errors import MlcError
from codegen.ops import graph_of
from codegen.targets.project import (COMMON_RUNTIME, AppSources, app_context, generate_library,
                                     read_library_macros)

ARDUINO_RUNTIME = [("common", f) for f in COMMON_RUNTIME] + [("arduino", "mlc_arduino.cpp")]
SKETCHES = {  # what each app's example sketch does, for its opening comment
    "classify": "runs {name} on the inputs a host sends over Serial (`mlc verify --port PORT`), prints a PRED line "
                "per inference, and shows the built-in demo inputs while the host is quiet.",
    "anomaly": "scores windows of the accelerometer samples a host streams over Serial (`mlc verify --app "
               "anomaly --port PORT`, `mlc run --feed`) with {name}, prints a REC line per window and an event "
               "when the alarm rises or clears, and shows it on the LED.",
    "kws": "turns the audio a host streams over Serial (`mlc verify --app kws --port PORT`) into feature frames, "
           "runs {name} on them and prints a REC line per inference and the keywords it detects.",
}


def library_name(name: str) -> str:
    return f"mlc_{name}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlc")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0.0.0"


class _AnyArduino:
    """The board the example sketch is rendered for: whichever Arduino the user compiles it for."""
    id = "arduino"


def export_arduino(model, out_dir, name: str | None = None, labels=None, demo=None, url: str = "",
                   apps: dict | None = None) -> Path:
    """Write the library of `model` (a prepared graph, or a .tflite path) as out_dir/mlc_NAME; returns that
    folder. Any folder of that name is replaced. Besides the classify sketch, one for each streaming app in
    `apps` ({app: AppSources}, as the app's command module makes them for `mlc build`)."""
    graph = graph_of(model)
    name = check_identifier(name) if name else identifier_from(Path(graph.path).stem)
    library = library_name(name)
    root = Path(out_dir) / library
    if root.exists():
        shutil.rmtree(root)
    src = root / "src"
    generate_library(graph, src, name, labels)  # no board: every ISA path, each under its own #if
    macros = read_library_macros(src, name)
    env = templates()
    ctx = {"library": library, "name": name, "version": _version(), "model_file": Path(graph.path).name,
           "arena_bytes": macros["ARENA_BYTES"], "macs": sum(op.macs for op in graph.ops), "url": url,
           "guard": f"{library.upper()}_LIBRARY_H_",
           "kernel_paths": "Helium, DSP-extension or plain C kernels, chosen by the compiler's target"}
    (src / f"{library}.h").write_text(env.get_template("arduino/library.h.j2").render(**ctx))
    (root / "library.properties").write_text(env.get_template("arduino/library.properties.j2").render(**ctx))
    (root / "library.json").write_text(env.get_template("arduino/library.json.j2").render(**ctx))
    firmware = asset_dir("firmware")
    for app, sources in {"classify": AppSources(), **(apps or {})}.items():
        sketch = root / "examples" / app
        runtime = sketch / "src" / "mlc"
        runtime.mkdir(parents=True)
        for family, filename in ARDUINO_RUNTIME:
            shutil.copyfile(firmware / family / filename, runtime / filename)
        (sketch / "src" / f"app_{name}.c").write_text(env.get_template(f"app/{app}/app.c.j2").render(
            **app_context(graph, name, _AnyArduino, macros, demo), **sources.context))
        for filename, text in sources.files.items():
            (sketch / "src" / filename).write_text(text)
        (sketch / f"{app}.ino").write_text(env.get_template("arduino/sketch.ino.j2").render(
            **ctx, app=app, what=SKETCHES[app].format(name=name)))
    return root


def zip_library(root: Path, zip_path: Path | None = None) -> Path:
    """The library folder as a zip with the folder at its top, as `arduino-cli lib install --zip-path` and the
    IDE's "Add .ZIP Library" take it."""
    zip_path = zip_path or root.with_suffix(".zip")
    try:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(root.parent).as_posix())
    except OSError as err:
        raise MlcError(f"{zip_path}: cannot write the zip ({err.strerror})") from None
    return zip_path
