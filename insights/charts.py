"""Charts drawn on the server as SVG, for PDFs (no JavaScript in a document)."""

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN = 640, 220, 36


def bar_chart(labels: Sequence[str], values: Sequence[float], colour: str = "#417690") -> str:
    """A bar per value, its label under it (every few when there are many), the largest
    value written at the top of the axis."""
    top = max([float(value) for value in values] + [0.0]) or 1.0
    count = max(1, len(values))
    slot = (WIDTH - 2 * MARGIN) / count
    every = max(1, count // 12)  # at most a dozen labels fit under the bars
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="9">',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="#666"/>',
        f'<text x="2" y="{MARGIN - 4}">{top:,.0f}</text>',
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = (HEIGHT - 2 * MARGIN) * float(value) / top
        x = MARGIN + index * slot
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{HEIGHT - MARGIN - height:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{height:.1f}" fill="{colour}"/>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - MARGIN + 12}" '
                f'text-anchor="middle">{escape(str(label))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
