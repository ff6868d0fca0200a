"""``devices.history_reads``: which history a chart reads (every point of a range, or buckets
of a round width), shared by the management UI's device page and the portal's."""

from datetime import timedelta

import pytest

from devices.history_reads import bucket_width, chart_history, duration_label, history_range
from devices.models import ValuePoint
from tests.factories import make_device

S = 1_000_000  # µs per second


@pytest.mark.parametrize(
    ("span", "width", "label"),
    [
        (timedelta(seconds=100), 1, "1 s"),
        (timedelta(hours=1), 15, "15 s"),
        (timedelta(hours=24), 300, "5 min"),
        (timedelta(days=7), 3600, "1 h"),
        (timedelta(days=30), 10800, "3 h"),
        (timedelta(days=400), 2 * 86400, "2 days"),
    ],
)
def test_a_range_is_cut_into_at_most_300_round_buckets(span, width, label):
    seconds = span.total_seconds()
    assert bucket_width(seconds) == width and duration_label(width) == label
    assert seconds / width <= 300


def test_durations_read_as_people_say_them():
    assert duration_label(8640) == "2 h 24 min"
    assert duration_label(86400 + 90) == "1 day 1 min 30 s"


def test_unknown_ranges_fall_back_to_the_default_or_none():
    assert history_range("7d", "24h")[0] == "7d"
    assert history_range("1y", "24h")[0] == "24h"
    assert history_range(None, None) is None


@pytest.mark.django_db
def test_every_point_up_to_the_limit_then_buckets_over_the_whole_range(connector):
    device = make_device(connector=connector, identity="sensor-1")
    now = 1_700_000_100 * S  # a multiple of 5 min: the buckets of a day are aligned on them
    ValuePoint.objects.bulk_create(
        [
            ValuePoint(device=device, alias="temp", timestamp=now - i * 60 * S, value=str(i))
            for i in range(120)
        ]
    )

    def read(since_us, max_points):
        return chart_history(
            device=device, alias="temp", resource_format="number", since_us=since_us, until_us=now,
            max_points=max_points,
        )  # fmt: skip

    few = read(now - 3600 * S, 100)  # 61 points in the last hour
    assert not few.bucketed and len(few.points) == 61 and few.summary == "every point"
    latest = read(None, 100)  # no range: the newest points, whatever their age
    assert not latest.bucketed and [p.value for p in latest.points[:2]] == ["0", "1"]
    assert len(latest.points) == 100
    day = read(now - 86400 * S, 100)
    assert day.bucketed and day.every == 300 and day.summary == "averaged per 5 min"
    assert sum(b.count for b in day.buckets) == 120
    oldest = min(day.buckets, key=lambda b: b.start_us)
    assert (oldest.count, oldest.min, oldest.max) == (4, 116, 119)  # 116 to 119 minutes ago
    assert now - 86400 * S <= oldest.start_us < oldest.middle_us < oldest.end_us <= now
    on_off = chart_history(
        device=device, alias="temp", resource_format="boolean", since_us=now - 86400 * S, until_us=now,
        max_points=100,
    )  # fmt: skip
    assert on_off.summary == "latest value per 5 min" and on_off.buckets[0].last == "0"
