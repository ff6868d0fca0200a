"""The device page's history chart: a numeric value's recorded points as an inline SVG, drawn on
the server (no script, no inline styles: the CSP allows neither; colours come from classes in
``static/portal/portal.css``).

``history_chart`` returns what the template draws — the plot's points and line, the axes' ticks
with their labels (time and value), one ``<title>`` per point for hovering — and the points as
rows for the screen-reader table next to it. A range holding more than ``MAX_POINTS`` points is
drawn from buckets (``devices.history_reads``): a point per bucket at its average, over the band
of the bucket's min and max so that spikes stay visible (on/off values: the bucket's latest)."""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from devices.history_reads import HISTORY_RANGES, ChartHistory, history_range

# The time ranges the page offers: (query value, label, length).
RANGES = HISTORY_RANGES
DEFAULT_RANGE = "24h"
# Up to this many points of a range are drawn one by one; a range holding more is bucketed.
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
    """A recorded point, or a bucket: ``value`` its average (or latest value), from ``when`` to
    ``until``, ``count`` points between ``low`` and ``high`` (drawn at ``low_y``..``high_y``)."""

    x: float
    y: float
    when: datetime
    value: str
    until: datetime | None = None
    count: int = 1
    low: str | None = None
    high: str | None = None
    low_y: float | None = None
    high_y: float | None = None

    @property
    def count_label(self) -> str:
        return f"{self.count:,} point{'s' if self.count != 1 else ''}"


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
    summary: str = "every point"  # or "averaged per 3 h": what a point of the chart is
    bucketed: bool = False
    averaged: bool = False  # bucketed, with min, max and avg (else the buckets' latest values)

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
    def band(self) -> str:
        """The ``points`` of the min–max ``<polygon>``: along the maxima, back along the minima."""
        if not self.averaged:
            return ""
        return " ".join(
            [f"{p.x:.1f},{p.high_y:.1f}" for p in self.points]
            + [f"{p.x:.1f},{p.low_y:.1f}" for p in reversed(self.points)]
        )

    @property
    def label(self) -> str:
        """The chart's ``aria-label``."""
        if not self.points:
            return f"History of {self.alias} over the last {self.range_label}: no data."
        unit = f" {self.unit}" if self.unit else ""
        if self.averaged:
            low = min(float(p.low) for p in self.points)
            high = max(float(p.high) for p in self.points)
        else:
            low = min(_as_number(p.value) for p in self.points)
            high = max(_as_number(p.value) for p in self.points)
        what = f"{len(self.points)} points"
        if self.bucketed:
            recorded = sum(p.count for p in self.points)
            what = f"{self.summary}: {len(self.points)} periods of {recorded:,} points"
        return (
            f"History of {self.alias} over the last {self.range_label}: {what}, "
            f"from {_number(low)}{unit} to {_number(high)}{unit}."
        )


def range_of(key: str | None) -> tuple[str, str, timedelta]:
    """The range named ``key`` (the default for anything else)."""
    return history_range(key, DEFAULT_RANGE)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _reading(value: float) -> str:
    """A bucket's average, min or max for people: four significant digits, no exponent."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


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


def history_chart(
    *, history: ChartHistory, alias: str, unit: str, range_key: str, now: datetime | None = None
) -> Chart:
    """The chart of ``history`` (``devices.history_reads.chart_history`` of ``alias`` over the
    range): every point, or a point per bucket."""
    range_key, range_label, length = range_of(range_key)
    now = now or timezone.now()
    start = now - length
    chart = Chart(
        alias=alias, range_key=range_key, range_label=range_label, unit=unit, summary=history.summary,
        bucketed=history.bucketed, averaged=history.averaged,
    )  # fmt: skip
    # (t µs, number, its text, low, high, bucket or None), oldest first.
    parsed = []
    if history.averaged:
        parsed = [(b.middle_us, b.avg, _reading(b.avg), b.min, b.max, b) for b in history.buckets]
    elif history.bucketed:
        for bucket in history.buckets:
            number = _as_number(bucket.last or "")
            if number is not None:
                parsed.append((bucket.middle_us, number, bucket.last, number, number, bucket))
    else:
        for point in history.points:
            number = _as_number(point.value)
            if number is None:
                chart.skipped += 1
                continue
            parsed.append((point.timestamp, number, point.value, number, number, None))
    if not parsed:
        return chart
    parsed.sort(key=lambda row: row[0])
    ticks = nice_ticks(min(row[3] for row in parsed), max(row[4] for row in parsed))
    low, high = ticks[0], ticks[-1]
    span_us = length.total_seconds() * 1_000_000
    start_us = start.timestamp() * 1_000_000
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top

    def x_of(us: float) -> float:
        return chart.left + max(0.0, min(1.0, (us - start_us) / span_us)) * plot_w

    def y_of(number: float) -> float:
        return chart.bottom - (number - low) / (high - low) * plot_h

    def when(us: int) -> datetime:
        return datetime.fromtimestamp(us / 1_000_000, tz=UTC)

    for timestamp, number, text, bottom, top, bucket in parsed:
        point = PlotPoint(x=x_of(timestamp), y=y_of(number), when=when(timestamp), value=text)
        if bucket is not None:
            point.when, point.until, point.count = when(bucket.start_us), when(bucket.end_us), bucket.count
        if history.averaged:
            point.low, point.high = _reading(bottom), _reading(top)
            point.low_y, point.high_y = y_of(bottom), y_of(top)
        chart.points.append(point)
    chart.y_ticks = [Tick(position=y_of(v), label=_number(v)) for v in ticks]
    chart.x_ticks = [
        Tick(position=x_of(start_us + span_us * i / 4), label=_time_label(start + length * i / 4, length))
        for i in range(5)
    ]
    return chart
