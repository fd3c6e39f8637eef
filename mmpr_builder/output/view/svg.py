"""Inline SVG charts for the report (no plotting library, no script): bar histograms and stacked bars.

Each function returns one ``<figure>`` element: the title, an ``<svg>`` whose bars carry
a ``<title>`` with their exact count (shown on hover), and a caption with the note.
"""

from __future__ import annotations

from html import escape

from .stats import Breakdown, Histogram

PALETTE = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
_W, _H, _LEFT, _BOTTOM, _TOP = 560, 240, 44, 46, 12


def _empty(title: str, note: str) -> str:
    return (f'<figure class="plot"><figcaption class="ptitle">{escape(title)}</figcaption>'
            f'<p class="empty">nothing to plot{": " + escape(note) if note else ""}</p></figure>')


def _legend(names: list[str], colors: list[str], x0: int, y: int) -> str:
    out, x = [], x0
    for name, color in zip(names, colors):
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{y}" class="legend">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    return "".join(out)


def histogram_svg(title: str, hist: Histogram, *, xlabel: str, ylabel: str, plot_id: str) -> str:
    """Grouped bars: one group per bin, one bar per series (same colours as the legend).

    Returns a ``<figure id=plot_id>``; a histogram with no counts gives a figure saying so.
    """
    if not hist.labels or not any(any(v) for v in hist.series.values()):
        return _empty(title, hist.note).replace('<figure class="plot">', f'<figure class="plot" id="{plot_id}">')
    names = list(hist.series)
    colors = [PALETTE[k % len(PALETTE)] for k in range(len(names))]
    top = max(max(v) for v in hist.series.values())
    plot_w, plot_h = _W - _LEFT - 10, _H - _BOTTOM - _TOP
    group_w = plot_w / len(hist.labels)
    bar_w = max(1.0, group_w * 0.8 / len(names))
    parts = [f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_W - 10}" y2="{_TOP + plot_h}" class="axis"/>',
             f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}" class="axis"/>',
             f'<text x="{_LEFT - 4}" y="{_TOP + 4}" class="tick" text-anchor="end">{top}</text>',
             f'<text x="{_LEFT - 4}" y="{_TOP + plot_h}" class="tick" text-anchor="end">0</text>']
    step = max(1, -(-len(hist.labels) // 8))  # at most 8 tick labels
    wide = max(len(label) for label in hist.labels) * 6 > group_w * step
    for b, label in enumerate(hist.labels):
        gx = _LEFT + b * group_w
        for s, name in enumerate(names):
            v = hist.series[name][b]
            h = plot_h * v / top
            parts.append(f'<rect class="bar" x="{gx + group_w * 0.1 + s * bar_w:.1f}" y="{_TOP + plot_h - h:.1f}" '
                         f'width="{bar_w:.1f}" height="{h:.1f}" fill="{colors[s]}">'
                         f'<title>{escape(name)} {escape(label)}: {v}</title></rect>')
        if b % step == 0:
            parts.append(f'<text x="{gx + group_w / 2:.1f}" y="{_TOP + plot_h + 13}" class="tick" '
                         f'text-anchor="middle">{escape(label.split("-")[0] if wide else label)}</text>')
    parts.append(f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_H - 18}" class="label" text-anchor="middle">'
                 f'{escape(xlabel)}</text>')
    parts.append(f'<text x="12" y="{_TOP + plot_h / 2:.0f}" class="label" text-anchor="middle" '
                 f'transform="rotate(-90 12 {_TOP + plot_h / 2:.0f})">{escape(ylabel)}</text>')
    if len(names) > 1:
        parts.append(_legend(names, colors, _LEFT, _H - 3))
    return _figure(plot_id, title, "".join(parts), _H, hist.note)


def stacked_svg(title: str, data: Breakdown, *, plot_id: str) -> str:
    """Horizontal stacked bars: one bar per category (source), one segment per part, widths as shares.

    Each bar is labelled with its category and total; each segment's ``<title>`` gives its count.
    """
    rows = {k: v for k, v in data.rows.items() if sum(v.values())}
    if not rows:
        return _empty(title, data.note).replace('<figure class="plot">', f'<figure class="plot" id="{plot_id}">')
    parts_used = [p for p in data.parts if any(p in v for v in rows.values())]
    colors = {p: PALETTE[k % len(PALETTE)] for k, p in enumerate(parts_used)}
    label_w, bar_h, gap = 110, 18, 8
    height = _TOP + len(rows) * (bar_h + gap) + 30
    plot_w = _W - label_w - 60
    out = []
    for r, (cat, counts) in enumerate(rows.items()):
        y = _TOP + r * (bar_h + gap)
        total = sum(counts.values())
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" class="tick" text-anchor="end">{escape(cat[:18])}</text>')
        x = float(label_w)
        for p in parts_used:
            v = counts.get(p, 0)
            if not v:
                continue
            w = plot_w * v / total
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colors[p]}">'
                       f'<title>{escape(cat)} {escape(p)}: {v} ({v / total:.1%})</title></rect>')
            x += w
        out.append(f'<text x="{label_w + plot_w + 4}" y="{y + 13}" class="tick">{total}</text>')
    out.append(_legend(parts_used, [colors[p] for p in parts_used], 8, height - 8))
    return _figure(plot_id, title, "".join(out), height, data.note)


def _figure(plot_id: str, title: str, body: str, height: int, note: str) -> str:
    return (f'<figure class="plot" id="{plot_id}"><figcaption class="ptitle">{escape(title)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height}" width="{_W}" height="{height}" '
            f'role="img" aria-label="{escape(title)}">{body}</svg>'
            f'<figcaption class="note">{escape(note)}</figcaption></figure>')
