"""Charts as inline SVG, drawn on the server (no chart library, nothing from a CDN): a
histogram's buckets as bars, a latency trend as lines on a log scale, and a book's
cumulative depth. Each returns Markup for a template; every text in it is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BID, ASK = "#2e86de", "#e67e22"
INK, GRID = "#445", "#e3e6ea"


def seconds_label(value: float) -> str:
    """10e-6 -> "10µs", 0.0025 -> "2.5ms", inf -> "+Inf"."""
    if math.isinf(value):
        return "+Inf"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale or unit == "µs":
            return f"{value / scale:.3g}{unit}"
    return f"{value:g}s"  # pragma: no cover


def _svg(width: int, height: int, body: list[str], label: str, cls: str) -> Markup:
    head = (
        f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    )
    return Markup(head + "".join(body) + "</svg>")


def histogram_bars(
    bounds: Sequence[float],
    total: Sequence[float],
    recent: Sequence[float] | None,
    label: str,
    width: int = 560,
    height: int = 190,
) -> Markup:
    """Per-bucket counts (not cumulative) as bars, as a share of all observations: light
    bars since the venue started, dark ones for the recent window (when there is one)."""
    left, bottom, top = 36, 34, 10
    plot_w, plot_h = width - left - 6, height - bottom - top
    n = max(len(bounds), 1)
    slot = plot_w / n
    shares = [_shares(total)] + ([_shares(recent)] if recent is not None and any(recent) else [])
    peak = max((max(s) for s in shares if s), default=0) or 1.0
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 6}" y2="{top + plot_h}" '
            f'stroke="{INK}"/>']  # fmt: skip
    for frac in (0.5, 1.0):
        y = top + plot_h - frac * plot_h
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{INK}">{100 * frac * peak:.0f}%</text>'
        )
    colors = ("#aac8e8", "#1d5fa0")
    for series, (share, color) in enumerate(zip(shares, colors, strict=False)):
        bar_w = (slot - 4) / len(shares)
        for i, value in enumerate(share):
            if not value:
                continue
            h = plot_h * value / peak
            x = left + i * slot + 2 + series * bar_w
            kind = "since start" if series == 0 else "recent"
            body.append(
                f'<rect class="hbar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>le {escape(seconds_label(bounds[i]))}: '
                f"{100 * value:.1f}% {kind}</title></rect>"
            )
    for i, bound in enumerate(bounds):
        x = left + i * slot + slot / 2
        body.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="9" text-anchor="middle" '
            f'fill="{INK}">{escape(seconds_label(bound))}</text>'
        )
    legend = "light: since start" + ("; dark: last window" if len(shares) > 1 else "")
    body.append(
        f'<text x="{left}" y="{height - 4}" font-size="10" fill="{INK}">{escape(legend)}</text>'
    )
    return _svg(width, height, body, label, "chart histogram")


def _shares(counts: Sequence[float] | None) -> list[float]:
    total = sum(counts or ())
    return [c / total for c in counts] if counts and total else [0.0] * len(counts or ())


def trend_lines(
    points: Sequence[tuple[float, float | None, float | None]],
    label: str,
    span: float,
    width: int = 560,
    height: int = 150,
    low: float = 10e-6,
    high: float = 0.1,
) -> Markup:
    """p50 and p99 per window over the last `span` seconds: (time, p50, p99), log y axis."""
    left, bottom, top = 44, 18, 8
    plot_w, plot_h = width - left - 6, height - bottom - top
    now = points[-1][0] if points else 0.0

    def y_of(v: float) -> float:
        v = min(max(v, low), high)
        return top + plot_h * (1 - math.log10(v / low) / math.log10(high / low))

    body = []
    decade = low
    while decade <= high * 1.0001:
        y = y_of(decade)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{INK}">{escape(seconds_label(decade))}</text>'
        )
        decade *= 10
    for index, color, name in ((1, "#1d5fa0", "p50"), (2, "#c0392b", "p99")):
        xy = [
            (left + plot_w * (1 - (now - t) / span), y_of(p[index]))  # type: ignore[arg-type]
            for p in points
            if (t := p[0]) >= now - span and p[index] is not None
        ]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            body.append(
                f'<polyline class="line {name}" points="{path}" fill="none" stroke="{color}" '
                f'stroke-width="1.5"/>'
            )
        body.extend(
            f'<circle class="dot {name}" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>'
            for x, y in xy
        )
    body.append(
        f'<text x="{left}" y="{height - 4}" font-size="10" fill="{INK}">last {span:.0f} s: '
        f'<tspan fill="#1d5fa0">p50</tspan> <tspan fill="#c0392b">p99</tspan></text>'
    )
    return _svg(width, height, body, label, "chart trend")


def depth_chart(
    bids: Sequence[Sequence[object]],
    asks: Sequence[Sequence[object]],
    label: str,
    width: int = 300,
    height: int = 160,
) -> Markup:
    """Cumulative depth: bids (best first) stepping left of the spread, asks right; price
    on the x axis, cumulative quantity up. Levels are [price text, qty, orders]."""
    left, bottom, top = 8, 18, 8
    plot_w, plot_h = width - 2 * left, height - bottom - top
    bid = [(float(str(p)), int(str(q))) for p, q, *_ in bids]
    ask = [(float(str(p)), int(str(q))) for p, q, *_ in asks]
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" '
            f'stroke="{INK}"/>']  # fmt: skip
    if not bid and not ask:  # a short strip, not an empty frame
        body = [
            f'<text x="{width / 2}" y="16" font-size="11" text-anchor="middle" '
            f'fill="{INK}">no orders</text>'
        ]
        return _svg(width, 24, body, label, "chart depth")
    prices = [p for p, _ in bid + ask]
    lo, hi = min(prices), max(prices)
    pad = (hi - lo) * 0.05 or max(abs(hi) * 0.001, 0.01)
    lo, hi = lo - pad, hi + pad
    deepest = max(sum(q for _, q in bid), sum(q for _, q in ask), 1)

    def x_of(price: float) -> float:
        return left + plot_w * (price - lo) / (hi - lo)

    def y_of(qty: float) -> float:
        return top + plot_h * (1 - qty / deepest)

    base = float(top + plot_h)
    for side, levels, edge, color in (("bid", bid, lo, BID), ("ask", ask, hi, ASK)):
        if not levels:
            continue
        pts = [(x_of(levels[0][0]), base)]
        cum = 0
        for i, (price, qty) in enumerate(levels):
            cum += qty
            pts.append((x_of(price), y_of(cum)))
            nxt = levels[i + 1][0] if i + 1 < len(levels) else edge
            pts.append((x_of(nxt), y_of(cum)))
        pts.append((x_of(edge), base))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        body.append(
            f'<polygon class="depth {side}" points="{path}" fill="{color}" fill-opacity="0.35" '
            f'stroke="{color}" stroke-width="1.5"><title>{side}s: {cum} in {len(levels)} '
            f"levels</title></polygon>"
        )
    for best, anchor in (
        (bid[0][0] if bid else None, "end"),
        (ask[0][0] if ask else None, "start"),
    ):
        if best is not None:
            x, price = x_of(best), best
            body.append(
                f'<text x="{x:.1f}" y="{height - 4}" font-size="10" text-anchor="{anchor}" '
                f'fill="{INK}">{price:g}</text>'
            )
    body.append(f'<text x="{left + 2}" y="{top + 10}" font-size="10" fill="{INK}">{deepest}</text>')
    return _svg(width, height, body, label, "chart depth")
