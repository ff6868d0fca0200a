"""What a history chart reads: every point of a time range when it holds a few hundred, else
buckets computed in the database (issue #19: a device writing once a second records 2.6 M points
a month, and a chart of the newest 500 would show the last 8 minutes of a 30-day range).

One rule for both charts (the management UI's device page, ``devices.views``, and the portal's,
``portal.views.pages``): read the range's newest ``max_points + 1`` points (cheap: by index); when
there are more than ``max_points``, read ``devices.selectors.device_history_buckets`` instead, as
wide as the smallest round width that cuts the range into at most ``MAX_BUCKETS``.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from connectors.values import NUMERIC_FORMATS
from devices.models import Device, ValuePoint
from devices.selectors import device_history, device_history_buckets

# The time ranges charts offer: (query value, label, length).
HISTORY_RANGES = [
    ("1h", "1 hour", timedelta(hours=1)),
    ("24h", "24 hours", timedelta(hours=24)),
    ("7d", "7 days", timedelta(days=7)),
    ("30d", "30 days", timedelta(days=30)),
]
# A bucketed chart draws at most this many buckets: a few hundred is as much as a chart's width
# shows apart, and one query of that many groups stays cheap.
MAX_BUCKETS = 300
# Bucket widths in seconds, round ones so that a bucket is a clock's hour or quarter of an hour
# (buckets are aligned on multiples of their width since the epoch); past a day, whole days.
_ROUND_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_DAY = 86400


@dataclass(frozen=True)
class HistoryBucket:
    """The points of one bucket inside the range read (``start_us``..``end_us``, the bucket
    clipped to the range). ``min``, ``max`` and ``avg`` of the numbers of a numeric resource;
    ``last``, the latest value, for the others (on/off values: a mean of true and false means
    nothing, the latest state does)."""

    start_us: int
    end_us: int
    count: int
    min: float | None
    max: float | None
    avg: float | None
    last: str | None

    @property
    def middle_us(self) -> int:
        """Where a chart draws the bucket."""
        return (self.start_us + self.end_us) // 2


@dataclass(frozen=True)
class ChartHistory:
    """What a chart of one alias draws: ``points`` (every point, newest first) or, when
    ``every`` (bucket width, seconds) is set, ``buckets`` (newest first)."""

    points: list[ValuePoint]
    buckets: list[HistoryBucket]
    every: int | None = None
    averaged: bool = False  # the buckets have min, max and avg (a numeric resource), not last

    @property
    def bucketed(self) -> bool:
        return self.every is not None

    @property
    def summary(self) -> str:
        """What a point of the chart is, for its caption: "every point", "averaged per 3 h"."""
        if not self.bucketed:
            return "every point"
        how = "averaged" if self.averaged else "latest value"
        return f"{how} per {duration_label(self.every)}"


def history_range(key: str | None, default: str | None) -> tuple[str, str, timedelta] | None:
    """The range of ``HISTORY_RANGES`` named ``key``, else ``default``'s (None for None)."""
    for name, label, length in HISTORY_RANGES:
        if name == key:
            return name, label, length
    return None if default is None else history_range(default, None)


def bucket_width(span_s: float) -> int:
    """The bucket width (seconds) cutting ``span_s`` into at most ``MAX_BUCKETS``: the smallest
    round one, at least 1 s."""
    smallest = max(1, math.ceil(span_s / MAX_BUCKETS))
    for width in _ROUND_WIDTHS:
        if width >= smallest:
            return width
    return math.ceil(smallest / _DAY) * _DAY


def duration_label(seconds: int) -> str:
    """``seconds`` for people: "15 s", "5 min", "2 h 24 min", "3 days"."""
    days, rest = divmod(seconds, _DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{n} {unit}" for n, unit in ((hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return " ".join(parts) or "0 s"


def chart_history(
    *, device: Device, alias: str, resource_format: str, since_us: int | None, until_us: int | None,
    max_points: int,
) -> ChartHistory:  # fmt: skip
    """The history a chart of ``alias`` draws. Without ``since_us``, the newest ``max_points``
    points (the latest, whatever their age); with it, every point of the range when there are
    at most ``max_points``, else buckets over the whole range (up to ``until_us``, else now)."""
    points = list(
        device_history(device=device, alias=alias, since_us=since_us, until_us=until_us, limit=max_points + 1)
    )
    if since_us is None or len(points) <= max_points:
        return ChartHistory(points=points[:max_points], buckets=[])
    end_us = until_us if until_us is not None else int(timezone.now().timestamp() * 1_000_000)
    every = bucket_width((end_us - since_us) / 1_000_000)
    every_us = every * 1_000_000
    numeric = resource_format in NUMERIC_FORMATS
    rows = device_history_buckets(
        device=device, alias=alias, numeric=numeric, every_us=every_us,
        since_us=since_us, until_us=until_us, limit=(end_us - since_us) // every_us + 2,
    )  # fmt: skip
    buckets = []
    for row in rows:
        start = max(row["t"], since_us)
        # (A point stamped ahead of the server's clock keeps its bucket: then the clip is empty.)
        end = max(min(row["t"] + every_us, end_us), start)
        buckets.append(
            HistoryBucket(start_us=start, end_us=end, count=row["count"], min=row["min"],
                          max=row["max"], avg=row["avg"], last=row["last"])
        )  # fmt: skip
    return ChartHistory(points=[], buckets=buckets, every=every, averaged=numeric)
