"""Charts as server-rendered SVG: no JavaScript, no CDN, readable by screen readers through
their titles and the tables beside them."""

from datetime import datetime, time

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


def columns(points: list[tuple[str, float | None]], *, name: str, unit: str, width: int = 640,
            height: int = 160) -> SafeString:
    """One column per period (label, value); a period without a value has no column."""
    if not any(value is not None for _, value in points):
        return SafeString("")
    top = max(value for _, value in points if value is not None) or 1
    step = width / len(points)
    bars = [(_n(index * step + 1), _n(height - value / top * (height - 10)), _n(max(step - 2, 1)),
             _n(value / top * (height - 10)), f"{label}: {value:g} {unit}")
            for index, (label, value) in enumerate(points) if value is not None]
    rects = format_html_join("", '<rect class="column" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                             bars)
    return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{} per period, highest {} {}">'
                       "{}</svg>", width, height, name, f"{top:g}", unit, rects)


def report_charts(series: list[dict]) -> dict[str, SafeString]:
    """The reports page's charts from a report's series (inquiries/reports.py)."""
    outcomes = [{"start": datetime.combine(s["start"], time.min), "completed": s["automated"],
                 "escalated": s["escalated"], "error": s["finished"] - s["automated"] - s["escalated"],
                 "running": s["runs"] - s["finished"]} for s in series]
    label = [f"{s['start']:%Y-%m-%d}" for s in series]

    def percent(value):
        return None if value is None else round(value * 100, 1)

    return {
        "outcomes": stacked_bars(outcomes) if any(s["runs"] for s in series) else SafeString(""),
        "automation": columns([(day, percent(s["automation_rate"])) for day, s in zip(label, series, strict=True)],
                              name="Automation rate", unit="%"),
        "first_response": columns([(day, s["first_response"]["p50_seconds"]) for day, s in
                                   zip(label, series, strict=True)], name="Median time to first response", unit="s"),
        "resolution": columns([(day, s["resolution"]["p50_seconds"]) for day, s in zip(label, series, strict=True)],
                              name="Median time to resolution", unit="s"),
    }
