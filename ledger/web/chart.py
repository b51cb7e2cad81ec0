"""The vote chart: horizontal bars as inline SVG, drawn here (no chart library).

Bars are sized in the SVG's own coordinates and the SVG scales to its container
(``width="100%"``), so it never makes a narrow screen scroll sideways. The chart
is an image with a text alternative; the same figures are in a table beside it.
"""

from __future__ import annotations

from html import escape

__all__ = ["bar_chart"]

WIDTH = 320  # viewBox units; the SVG scales to its container
BAR_HEIGHT = 22
GAP = 10
LABEL_HEIGHT = 16
COLOURS = ("#1b5e9e", "#b3261e", "#2e7d32", "#8e24aa", "#ef6c00", "#00838f")


def bar_chart(bars: list[tuple[str, int, str]], label: str) -> str:
    """An SVG of ``bars`` (name, value, value as the reader writes it), titled ``label``."""
    largest = max((value for _, value, _ in bars), default=0) or 1
    row = LABEL_HEIGHT + BAR_HEIGHT + GAP
    height = max(row * len(bars), row)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="100%" '
        f'viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
    ]
    for i, (name, value, shown) in enumerate(bars):
        y = i * row
        width = round((WIDTH - 2) * value / largest, 1)
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<text x="0" y="{y + LABEL_HEIGHT - 4}" font-size="11">{escape(name)} — '
            f"{escape(shown)}</text>"
            f'<rect x="0" y="{y + LABEL_HEIGHT}" width="{width}" height="{BAR_HEIGHT}" '
            f'fill="{colour}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
