"""Charts as PNG files (`--plot`), drawn with matplotlib, the optional `plot` extra."""
from __future__ import annotations

from pathlib import Path

from codegen.errors import MlcError


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a one-line error naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise MlcError("--plot needs matplotlib: pip install 'mlc[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> Path:
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as err:
        raise MlcError(f"{path}: cannot write the plot ({err.strerror})") from None
    finally:
        fig.clf()
    return Path(path)


def sqnr_chart(rows: list, output_sqnr: float, title: str, path) -> Path:
    """One bar per quantized layer: its SQNR against the float model, with the output's as a line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(rows) + 2), 3.6))
    labels = [f"{r['index']} {r['op'].replace('_2D', '').lower()}" for r in rows]
    values = [min(r["sqnr_db"], 99.0) for r in rows]  # an exact layer (inf dB) drawn at the top
    ax.bar(range(len(rows)), values, color="#4e79a7")
    ax.axhline(output_sqnr, color="#e15759", linestyle="--", label=f"model output {output_sqnr:.1f} dB")
    ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("SQNR against float (dB)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)
