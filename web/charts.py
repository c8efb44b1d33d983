"""Charts drawn on the server as SVG (no script, no CDN; works with JavaScript off),
each with its data as a table for screen readers and for reading the figures.

``bar_chart(points, title=…, unit=…)`` takes ``[(label, value), …]`` and returns
``{"svg": SafeString, "rows": [...], "title", "summary"}``; templates render it with
``{% include "web/chart.html" with chart=… %}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 600, 220, 8, 40, 16


def bar_chart(points: Sequence[tuple[str, int | float]], *, title: str,
              fmt: Callable[[int | float], str] = str) -> dict:
    values = [max(0, v) for _, v in points]
    top = max(values, default=0) or 1
    n = max(len(points), 1)
    slot = (WIDTH - PAD_LEFT) / n
    bar_w = min(64.0, max(2.0, slot * 0.7))  # a few values: slim bars, not slabs
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title-{id(points)}"'
             f' preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-title-{id(points)}">{escape(title)}</title>',
             f'<line x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - PAD_BOTTOM}" '
             f'stroke="#555" stroke-width="1"/>']
    usable = HEIGHT - PAD_BOTTOM - PAD_TOP
    for i, ((label, value), v) in enumerate(zip(points, values, strict=True)):
        h = usable * v / top
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        y = HEIGHT - PAD_BOTTOM - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="#1f5fbf">'
                     f'<title>{escape(label)}: {escape(fmt(value))}</title></rect>')
        if n <= 16 or i % max(1, n // 8) == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" font-size="12" '
                         f'text-anchor="middle" fill="#222">{escape(label)}</text>')
    parts.append("</svg>")
    total = sum(v for _, v in points)
    return {"svg": mark_safe("".join(parts)), "title": title,
            "rows": [{"label": label, "value": fmt(value)} for label, value in points],
            "summary": f"{len(points)} values, total {fmt(total)}" if points else "No data yet."}
