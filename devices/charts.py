"""Server-rendered SVG line charts of a numeric resource's history (no JavaScript needed).

A chart draws every point, or — for a long range, see ``devices.history_reads`` — one point per
bucket at its average, with the band between the bucket's min and max behind the line so that a
spike stays visible, and a ``<title>`` per bucket for hovering."""

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from devices.history_reads import ChartHistory, HistoryBucket

WIDTH, HEIGHT = 640, 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 28
# Zoom (``?since=&until=``): the narrowest and widest windows, and how many regions of a chart
# link to a closer look.
MIN_ZOOM_SECONDS = 60
MAX_ZOOM_SECONDS = 366 * 86400
ZOOM_REGIONS = 8
_US = 1_000_000


@dataclass(frozen=True)
class ZoomRegion:
    """A strip of a chart that links to a closer look at its time (``query``: since, until)."""

    x: float
    width: float
    query: str
    title: str


@dataclass(frozen=True)
class Mark:
    """A bucket's dot and what hovering it says."""

    x: float
    y: float
    title: str


@dataclass(frozen=True)
class LineChart:
    """What the template draws: a polyline in a ``WIDTH``×``HEIGHT`` box and its axis labels;
    when bucketed, the min–max ``band`` (a polygon) and a ``Mark`` per bucket."""

    points: str
    last_x: float
    last_y: float
    count: int  # points drawn (buckets, when bucketed)
    y_max: str
    y_min: str
    x_start: datetime
    x_end: datetime
    summary: str = "every point"
    values: int = 0  # recorded values the chart stands for
    band: str = ""
    marks: tuple[Mark, ...] = ()
    regions: tuple[ZoomRegion, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    left: int = _LEFT
    right: int = WIDTH - _RIGHT
    top: int = _TOP
    bottom: int = HEIGHT - _BOTTOM

    @property
    def bucketed(self) -> bool:
        return bool(self.marks)

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _label(value: float) -> str:
    return f"{value:.6g}"


def _when(us: int) -> str:
    return timezone.localtime(datetime.fromtimestamp(us / 1_000_000, tz=UTC)).strftime("%Y-%m-%d %H:%M")


def _bucket_title(bucket: HistoryBucket) -> str:
    points = f"{bucket.count:,} point{'s' if bucket.count != 1 else ''}"
    return (
        f"avg {_label(bucket.avg)} (min {_label(bucket.min)}, max {_label(bucket.max)}) · {points} · "
        f"{_when(bucket.start_us)} to {_when(bucket.end_us)}"
    )


def _draw(
    series, *, start_us: int | None, end_us: int | None, values: int, summary: str = "every point",
    titles: list[str] | None = None,
) -> LineChart:  # fmt: skip
    """``series``: ``(t µs, value, low, high)`` oldest first (low = high = value for a point).
    ``titles``: one per bucket, when the series is buckets."""
    t0 = start_us if start_us is not None else series[0][0]
    t1 = end_us if end_us is not None else series[-1][0]
    low, high = min(s[2] for s in series), max(s[3] for s in series)
    if low == high:
        # A flat line in the middle, with a little room above and below.
        low, high = low - 1, high + 1
    span_t = (t1 - t0) or 1
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x_of(t: int) -> float:
        if t1 == t0:
            return round(_LEFT + plot_w / 2, 1)
        return round(_LEFT + max(0.0, min(1.0, (t - t0) / span_t)) * plot_w, 1)

    def y_of(v: float) -> float:
        return round(_TOP + (high - v) / (high - low) * plot_h, 1)

    coords = [(x_of(t), y_of(v)) for t, v, _, _ in series]
    regions = _zoom_regions(t0, t1, plot_w) if t1 - t0 >= 2 * MIN_ZOOM_SECONDS * _US else ()
    band, marks = "", ()
    if titles is not None:
        # Along the maxima, then back along the minima.
        band = " ".join(
            [f"{x_of(t)},{y_of(top)}" for t, _, _, top in series]
            + [f"{x_of(t)},{y_of(bottom)}" for t, _, bottom, _ in reversed(series)]
        )
        marks = tuple(Mark(x=x, y=y, title=title) for (x, y), title in zip(coords, titles, strict=True))
    return LineChart(
        points=" ".join(f"{x},{y}" for x, y in coords),
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        count=len(series),
        y_max=_label(high),
        y_min=_label(low),
        x_start=datetime.fromtimestamp(t0 / 1_000_000, tz=UTC),
        x_end=datetime.fromtimestamp(t1 / 1_000_000, tz=UTC),
        summary=summary,
        values=values,
        band=band,
        marks=marks,
        regions=regions,
    )


def line_chart(points, *, start_us: int | None = None, end_us: int | None = None) -> LineChart | None:
    """A chart of ``points`` (``ValuePoint``s, any order); None when fewer than one number. The
    time axis spans ``start_us``..``end_us`` when given, else the first to the last point."""
    series = sorted((p.timestamp, value) for p in points if (value := _number(p.value)) is not None)
    if not series:
        return None
    return _draw([(t, v, v, v) for t, v in series], start_us=start_us, end_us=end_us, values=len(series))


def chart_of_history(history: ChartHistory, *, start_us: int | None, end_us: int | None) -> LineChart | None:
    """The chart of what ``devices.history_reads.chart_history`` read: every point, or a point
    per bucket at its average over ``start_us``..``end_us``."""
    if not history.bucketed:
        return line_chart(history.points, start_us=start_us, end_us=end_us)
    buckets = sorted((b for b in history.buckets if b.avg is not None), key=lambda b: b.start_us)
    if not buckets:
        return None
    return _draw(
        [(b.middle_us, b.avg, b.min, b.max) for b in buckets],
        start_us=start_us,
        end_us=end_us,
        values=sum(b.count for b in buckets),
        summary=history.summary,
        titles=[_bucket_title(b) for b in buckets],
    )


# --- zoom --------------------------------------------------------------------------------------


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / _US, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_query(since_us: int, until_us: int) -> str:
    """The query string of the window ``since_us``..``until_us`` (``since=…&until=…``, UTC)."""
    return urlencode({"since": _iso(since_us), "until": _iso(until_us)})


def zoom_window(since: str | None, until: str | None) -> tuple[int, int] | None:
    """``?since=&until=`` (ISO 8601; without a zone, UTC) as µs timestamps; None when either is
    missing or the pair is no window to chart: not dates, ``since`` not before ``until``, less
    than ``MIN_ZOOM_SECONDS`` or more than ``MAX_ZOOM_SECONDS`` apart, before 1970."""
    moments = []
    for text in (since, until):
        try:
            moment = parse_datetime((text or "").strip())
        except ValueError:
            moment = None
        if moment is None:
            return None
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        moments.append(int(moment.timestamp() * _US))
    since_us, until_us = moments
    if since_us < 0 or not MIN_ZOOM_SECONDS * _US <= until_us - since_us <= MAX_ZOOM_SECONDS * _US:
        return None
    return since_us, until_us


def zoom_in(since_us: int, until_us: int) -> tuple[int, int]:
    """The middle half of the window (at least ``MIN_ZOOM_SECONDS``)."""
    middle, half = (since_us + until_us) // 2, max((until_us - since_us) // 4, MIN_ZOOM_SECONDS * _US // 2)
    return middle - half, middle + half


def zoom_out(since_us: int, until_us: int, *, now_us: int) -> tuple[int, int]:
    """Twice the window around its middle (at most ``MAX_ZOOM_SECONDS``), moved back so that it
    does not end after ``now_us``, nor start before 1970."""
    span = min(2 * (until_us - since_us), MAX_ZOOM_SECONDS * _US)
    start = (since_us + until_us) // 2 - span // 2
    start = max(0, min(start, now_us - span))
    return start, start + span


def _zoom_regions(t0: int, t1: int, plot_w: int) -> tuple[ZoomRegion, ...]:
    """``ZOOM_REGIONS`` strips across the plot, each linking to a window twice its width around
    it (a closer look that keeps some context)."""
    step = (t1 - t0) / ZOOM_REGIONS
    regions = []
    for i in range(ZOOM_REGIONS):
        start, end = t0 + step * i, t0 + step * (i + 1)
        middle = (start + end) / 2
        since, until = int(middle - step), int(middle + step)
        if until - since < MIN_ZOOM_SECONDS * _US:
            half = MIN_ZOOM_SECONDS * _US // 2
            since, until = int(middle) - half, int(middle) + half
        regions.append(
            ZoomRegion(
                x=round(_LEFT + plot_w * i / ZOOM_REGIONS, 1),
                width=round(plot_w / ZOOM_REGIONS, 1),
                query=window_query(since, until),
                title=f"Zoom in on {_when(since)} to {_when(until)}",
            )
        )
    return tuple(regions)
