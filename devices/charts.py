"""Server-rendered SVG line charts of a numeric resource's history (no JavaScript needed)."""

from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH, HEIGHT = 640, 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True)
class LineChart:
    """What the template draws: a polyline in a ``WIDTH``×``HEIGHT`` box and its axis labels."""

    points: str
    last_x: float
    last_y: float
    count: int
    y_max: str
    y_min: str
    x_start: datetime
    x_end: datetime
    width: int = WIDTH
    height: int = HEIGHT
    left: int = _LEFT
    right: int = WIDTH - _RIGHT
    top: int = _TOP
    bottom: int = HEIGHT - _BOTTOM


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _label(value: float) -> str:
    return f"{value:.6g}"


def line_chart(points) -> LineChart | None:
    """A chart of ``points`` (``ValuePoint``s, any order); None when fewer than one number."""
    series = sorted((p.timestamp, value) for p in points if (value := _number(p.value)) is not None)
    if not series:
        return None
    t0, t1 = series[0][0], series[-1][0]
    values = [v for _, v in series]
    low, high = min(values), max(values)
    if low == high:
        # A flat line in the middle, with a little room above and below.
        low, high = low - 1, high + 1
    span_t = (t1 - t0) or 1
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    coords = []
    for t, v in series:
        x = _LEFT + (t - t0) / span_t * plot_w if t1 != t0 else _LEFT + plot_w / 2
        y = _TOP + (high - v) / (high - low) * plot_h
        coords.append((round(x, 1), round(y, 1)))
    return LineChart(
        points=" ".join(f"{x},{y}" for x, y in coords),
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        count=len(series),
        y_max=_label(high),
        y_min=_label(low),
        x_start=datetime.fromtimestamp(t0 / 1_000_000, tz=UTC),
        x_end=datetime.fromtimestamp(t1 / 1_000_000, tz=UTC),
    )
