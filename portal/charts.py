"""The device page's history chart: a numeric value's recorded points as an inline SVG, drawn on
the server (no script, no inline styles: the CSP allows neither; colours come from classes in
``static/portal/portal.css``).

``history_chart`` returns what the template draws — the plot's points and line, the axes' ticks
with their labels (time and value), one ``<title>`` per point for hovering — and the points as
rows for the screen-reader table next to it."""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone

# The time ranges the page offers: (query value, label, length).
RANGES = [
    ("1h", "1 hour", timedelta(hours=1)),
    ("24h", "24 hours", timedelta(hours=24)),
    ("7d", "7 days", timedelta(days=7)),
    ("30d", "30 days", timedelta(days=30)),
]
DEFAULT_RANGE = "24h"
# At most this many points are read and drawn (the newest ones of the range).
MAX_POINTS = 500

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
NUMERIC_FORMATS = ("number", "integer", "float", "boolean")


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class PlotPoint:
    x: float
    y: float
    when: datetime
    value: str


@dataclass
class Chart:
    alias: str
    range_key: str
    range_label: str
    unit: str
    points: list[PlotPoint] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    skipped: int = 0  # points whose value is not a number

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def line(self) -> str:
        """The ``points`` attribute of the ``<polyline>`` (oldest first)."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def label(self) -> str:
        """The chart's ``aria-label``."""
        if not self.points:
            return f"History of {self.alias} over the last {self.range_label}: no data."
        values = [float(p.value) for p in self.points]
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"History of {self.alias} over the last {self.range_label}: {len(values)} points, "
            f"from {_number(min(values))}{unit} to {_number(max(values))}{unit}."
        )


def range_of(key: str | None) -> tuple[str, str, timedelta]:
    """The range named ``key`` (the default for anything else)."""
    for name, label, length in RANGES:
        if name == key:
            return name, label, length
    return range_of(DEFAULT_RANGE)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _as_number(text: str) -> float | None:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return 1.0 if lowered == "true" else 0.0
    try:
        number = float(lowered)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``low``..``high`` (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        low, high = low - 1, high + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _time_label(when: datetime, length: timedelta) -> str:
    local = timezone.localtime(when)
    if length <= timedelta(hours=24):
        return local.strftime("%H:%M")
    return local.strftime("%b %d")


def history_chart(*, points, alias: str, unit: str, range_key: str, now: datetime | None = None) -> Chart:
    """The chart of ``points`` (``ValuePoint`` rows of ``alias``, any order) over the range."""
    range_key, range_label, length = range_of(range_key)
    now = now or timezone.now()
    start = now - length
    chart = Chart(alias=alias, range_key=range_key, range_label=range_label, unit=unit)
    parsed = []
    for point in points:
        number = _as_number(point.value)
        if number is None:
            chart.skipped += 1
            continue
        parsed.append((point.timestamp, number, point.value))
    if not parsed:
        return chart
    parsed.sort()
    ticks = nice_ticks(min(n for _, n, _ in parsed), max(n for _, n, _ in parsed))
    low, high = ticks[0], ticks[-1]
    span_us = length.total_seconds() * 1_000_000
    start_us = start.timestamp() * 1_000_000
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top

    def x_of(us: float) -> float:
        return chart.left + max(0.0, min(1.0, (us - start_us) / span_us)) * plot_w

    def y_of(number: float) -> float:
        return chart.bottom - (number - low) / (high - low) * plot_h

    for timestamp, number, text in parsed:
        when = datetime.fromtimestamp(timestamp / 1_000_000, tz=UTC)
        chart.points.append(PlotPoint(x=x_of(timestamp), y=y_of(number), when=when, value=text))
    chart.y_ticks = [Tick(position=y_of(v), label=_number(v)) for v in ticks]
    chart.x_ticks = [
        Tick(position=x_of(start_us + span_us * i / 4), label=_time_label(start + length * i / 4, length))
        for i in range(5)
    ]
    return chart
