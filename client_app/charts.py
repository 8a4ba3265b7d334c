"""Charts as inline SVG drawn on the server: no CDN, no script, readable without JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 220, 36


def bars(series: Sequence[tuple[str, float]], *, title: str, fmt: str = "{:.3f}") -> Markup:
    """One bar per (label, value)."""
    if not series:
        return Markup(f'<p class="muted">{escape(title)}: no data yet</p>')
    top = max(v for _, v in series) or 1.0
    width = (WIDTH - 2 * PAD) / len(series)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">']
    parts.append(f'<text x="{PAD}" y="16">{escape(title)}</text>')
    for i, (label, value) in enumerate(series):
        h = (HEIGHT - 2 * PAD - 10) * value / top
        x = PAD + i * width + width * 0.15
        y = HEIGHT - PAD - h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{width * 0.7:.1f}" height="{h:.1f}"/>')
        parts.append(f'<text x="{x:.1f}" y="{y - 3:.1f}">{escape(fmt.format(value))}</text>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}">{escape(label[:18])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped(groups: Sequence[str], series: dict[str, Sequence[float]], *, title: str) -> Markup:
    """For each group (e.g. recall@k), one bar per series (e.g. a run or a baseline)."""
    if not groups or not series:
        return Markup(f'<p class="muted">{escape(title)}: no data yet</p>')
    top = max((max(v) for v in series.values() if v), default=1.0) or 1.0
    names = list(series)
    slot = (WIDTH - 2 * PAD) / len(groups)
    bar = slot * 0.8 / len(names)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 20 * len(names)}" role="img" aria-label="{escape(title)}">'
    ]
    parts.append(f'<text x="{PAD}" y="16">{escape(title)}</text>')
    shades = ["#2563eb", "#16a34a", "#f59e0b", "#94a3b8", "#a855f7", "#ef4444", "#0ea5e9"]
    for g, group in enumerate(groups):
        for s, name in enumerate(names):
            value = series[name][g]
            h = (HEIGHT - 2 * PAD - 10) * value / top
            x = PAD + g * slot + slot * 0.1 + s * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar * 0.9:.1f}" height="{h:.1f}" '
                f'fill="{shades[s % len(shades)]}"><title>{escape(name)} {escape(group)}: {value:.4f}</title></rect>'
            )
        parts.append(f'<text x="{PAD + g * slot + slot * 0.3:.1f}" y="{HEIGHT - PAD + 14}">{escape(group)}</text>')
    for s, name in enumerate(names):
        y = HEIGHT + 20 * s
        parts.append(f'<rect x="{PAD}" y="{y - 9}" width="10" height="10" fill="{shades[s % len(shades)]}"/>')
        parts.append(f'<text x="{PAD + 16}" y="{y}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line(points: Sequence[tuple[str, float]], *, title: str, fmt: str = "{:,.0f}") -> Markup:
    """A line over labelled points (e.g. days), first and last labels shown."""
    if len(points) < 2:
        return bars(points, title=title, fmt=fmt)
    top = max(v for _, v in points) or 1.0
    step = (WIDTH - 2 * PAD) / (len(points) - 1)
    coords = " ".join(
        f"{PAD + i * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top:.1f}" for i, (_, v) in enumerate(points)
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<text x="{PAD}" y="16">{escape(title)} (max {escape(fmt.format(top))})</text>'
        f'<polyline class="line" points="{coords}"/>'
        f'<text x="{PAD}" y="{HEIGHT - 8}">{escape(points[0][0])}</text>'
        f'<text x="{WIDTH - PAD - 70}" y="{HEIGHT - 8}">{escape(points[-1][0])}</text></svg>'
    )


def lines(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str, fmt: str = "{:,.1f}") -> Markup:
    """Several lines over the same labelled points (e.g. p50 and p99 per day), with a legend."""
    if not labels or not series:
        return Markup(f'<p class="muted">{escape(title)}: no data yet</p>')
    top = max((max(v) for v in series.values() if v), default=1.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(labels) - 1, 1)
    shades = ["#2563eb", "#ef4444", "#16a34a", "#f59e0b"]
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 20}" role="img" aria-label="{escape(title)}">',
        f'<text x="{PAD}" y="16">{escape(title)} (max {escape(fmt.format(top))})</text>',
    ]
    for s, (name, values) in enumerate(series.items()):
        points = [
            (PAD + i * step if len(labels) > 1 else WIDTH / 2, HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top)
            for i, v in enumerate(values)
        ]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        shade = shades[s % len(shades)]
        parts.append(f'<polyline class="line series-{s % len(shades)}" points="{coords}"/>')
        for (x, y), label, v in zip(points, labels, values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{shade}">'
                f"<title>{escape(name)} {escape(label)}: {escape(fmt.format(v))}</title></circle>"
            )
        parts.append(f'<rect x="{PAD + 90 * s}" y="{HEIGHT + 2}" width="10" height="10" fill="{shade}"/>')
        parts.append(f'<text x="{PAD + 90 * s + 14}" y="{HEIGHT + 11}">{escape(name)}</text>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}">{escape(labels[0])}</text>')
    parts.append(f'<text x="{WIDTH - PAD - 70}" y="{HEIGHT - 8}">{escape(labels[-1])}</text></svg>')
    return Markup("".join(parts))
