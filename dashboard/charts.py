"""Charts as server-rendered SVG: no JavaScript, no CDN, readable by screen readers through
their titles and the tables beside them."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

COLOURS = {"running": "#8a5a00", "completed": "#17733a", "escalated": "#c2610c", "error": "#b42318"}
ORDER = ["completed", "escalated", "error", "running"]


def _n(value: float) -> str:
    return f"{value:.1f}"


def stacked_bars(series: list[dict], *, width: int = 640, height: int = 160) -> SafeString:
    if not series:
        return SafeString("")
    top = max((sum(b[s] for s in ORDER) for b in series), default=0) or 1
    step = width / len(series)
    bars = []
    for index, bucket in enumerate(series):
        y = height
        for status in ORDER:
            count = bucket[status]
            if not count:
                continue
            h = count / top * (height - 10)
            y -= h
            bars.append((_n(index * step + 1), _n(y), _n(max(step - 2, 1)), _n(h), COLOURS[status],
                         f"{bucket['start']:%Y-%m-%d %H:%M} UTC: {count} {status}"))
    rects = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                             "<title>{}</title></rect>", bars)
    return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="Runs over time by status, '
                       'peak {} per interval">{}</svg>', width, height, top, rects)


def duration_scatter(points: list[dict], since, until, *, width: int = 640, height: int = 160) -> SafeString:
    if not points:
        return SafeString("")
    span = (until - since).total_seconds() or 1
    top = max(p["ms"] for p in points) or 1
    dots = [(_n((p["at"] - since).total_seconds() / span * (width - 8) + 4),
             _n(height - 4 - p["ms"] / top * (height - 8)), COLOURS.get(p["status"], "#555"),
             f"{p['at']:%Y-%m-%d %H:%M:%S} UTC: {p['ms']} ms, {p['status']}") for p in points]
    circles = format_html_join("", '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}</title></circle>', dots)
    return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="Run durations, longest {} ms">'
                       "{}</svg>", width, height, top, circles)
