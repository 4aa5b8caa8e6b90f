"""The report's charts as inline SVG (no scripts, no network): the arena's memory timeline and stacked bars."""
from __future__ import annotations

from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
SCRATCH_COLOR = "#bab0ac"


def memory_timeline(buffers: list, n_layers: int, arena_bytes: int, names: dict, width: int = 900,
                    height: int = 320) -> str:
    """One rectangle per arena buffer: x spans the layers it lives through (first writer to last reader), y its
    bytes in the arena. buffers: dicts with first, last, offset, size, tensors (indices), scratch_of."""
    left, bottom, top, right = 70, 30, 10, 10
    plot_w, plot_h = width - left - right, height - top - bottom
    col = plot_w / max(n_layers, 1)
    scale = plot_h / max(arena_bytes, 1)
    parts = [f'<svg class="chart memory" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="arena memory timeline">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f7f7f7" stroke="#999"/>']
    for i, b in enumerate(buffers):
        first = max(b["first"], 0)  # the model's input lives from before the first layer
        x = left + first * col
        w = max((b["last"] - first + 1) * col - 1, 1)
        y = top + plot_h - (b["offset"] + b["size"]) * scale
        h = max(b["size"] * scale, 1)
        if b["scratch_of"] is not None:
            what, color = f"layer {b['scratch_of']} kernel scratch", SCRATCH_COLOR
        else:
            what, color = " = ".join(names.get(t, f"t{t}") for t in b["tensors"]), PALETTE[i % len(PALETTE)]
        tip = f"{what}: {b['size']:,} B at offset {b['offset']:,}, layers {b['first']}..{b['last']}"
        parts.append(f'<rect class="buffer" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                     f'fill="{color}" stroke="#333" stroke-width="0.5"><title>{escape(tip)}</title></rect>')
    for k in range(n_layers):
        if n_layers <= 40 or k % 5 == 0:
            parts.append(f'<text x="{left + (k + 0.5) * col:.1f}" y="{height - 12}" font-size="10" '
                         f'text-anchor="middle">{k}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 1}" font-size="11" text-anchor="middle">layer</text>')
    for frac in (0, 0.5, 1):
        y = top + plot_h - frac * plot_h
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{int(frac * arena_bytes):,} B</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def stacked_bar(parts: list, capacity: int, label: str, width: int = 900, height: int = 46) -> str:
    """A horizontal bar of (name, bytes) parts against the board's capacity."""
    left, bar_h = 0, 22
    scale = width / max(capacity, sum(b for _, b in parts), 1)
    out = [f'<svg class="chart bar" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">',
           f'<rect x="0" y="0" width="{capacity * scale:.1f}" height="{bar_h}" fill="#eee" stroke="#999"/>']
    x = left
    for i, (name, size) in enumerate(parts):
        w = size * scale
        out.append(f'<rect class="part" x="{x:.1f}" y="0" width="{max(w, 0.5):.1f}" height="{bar_h}" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(name)}: {size:,} B</title></rect>')
        x += w
    legend_x = 0
    for i, (name, size) in enumerate(parts):
        out.append(f'<rect x="{legend_x}" y="{bar_h + 8}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{legend_x + 14}" y="{bar_h + 17}" font-size="11">{escape(name)} {size:,} B</text>')
        legend_x += 30 + 7 * len(f"{name} {size:,} B")
    out.append("</svg>")
    return "\n".join(out)


def layer_bars(values: list, label: str, width: int = 900, height: int = 160) -> str:
    """Vertical bars, one per layer (instructions per layer)."""
    left, bottom = 70, 20
    plot_h = height - bottom - 6
    col = (width - left) / max(len(values), 1)
    peak = max(values, default=0) or 1
    out = [f'<svg class="chart layers" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i, v in enumerate(values):
        h = plot_h * v / peak
        out.append(f'<rect class="layer" x="{left + i * col:.1f}" y="{6 + plot_h - h:.1f}" width="{max(col - 1, 1):.1f}" '
                   f'height="{h:.1f}" fill="{PALETTE[0]}"><title>layer {i}: {v:,}</title></rect>')
    out.append(f'<text x="{left - 4}" y="14" font-size="10" text-anchor="end">{peak:,}</text>')
    out.append(f'<text x="{left + (width - left) / 2}" y="{height - 4}" font-size="11" text-anchor="middle">'
               f'{escape(label)} per layer</text>')
    out.append("</svg>")
    return "\n".join(out)
