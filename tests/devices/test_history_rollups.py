"""Five-minute roll-ups of value history on PostgreSQL (#19): a downsampled read that sums
roll-ups for most of its range and raw points for the rest gives the same buckets as the raw
points alone, points recorded late join their old blocks, and retention and deletion remove
roll-ups with the points."""

import random
import statistics
import time

import pytest

from devices.models import HistoryPurge, RollupRun, ValuePoint, ValueRollup
from devices.rollups import rollup_run
from devices.services import device_delete
from devices.services.history import history_maintain, history_purge
from tests.factories import make_device, make_resource

S = 1_000_000
NOW_US = int(time.time()) * S
DAY = 86_400 * S


@pytest.fixture
def device(connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="mode", format="string")
    return make_device(connector=connector, identity="sensor-1")


@pytest.fixture
def owner_api(api, owner):
    return api(owner)


def buckets(owner_api, connector, **query):
    response = owner_api.get(
        f"/api/v1/connectors/{connector.pk}/devices/sensor-1/history/", {"limit": 10000, **query}
    )
    assert response.status_code == 200, response.content
    return response.json()


def expected_numbers(points, every_s, since=None, until=None):
    groups = {}
    for ts, value in points:
        if (since is None or ts >= since) and (until is None or ts <= until):
            try:
                number = float(value)
            except ValueError:
                continue
            groups.setdefault(ts - ts % (every_s * S), []).append(number)
    return {t: (len(v), min(v), max(v), statistics.fmean(v)) for t, v in groups.items()}


def assert_numbers(got, expected):
    assert [b["t"] for b in got] == sorted(expected, reverse=True)
    for bucket in got:
        count, low, high, avg = expected[bucket["t"]]
        assert (bucket["count"], bucket["min"], bucket["max"]) == (
            count,
            pytest.approx(low),
            pytest.approx(high),
        )
        assert bucket["avg"] == pytest.approx(avg)


def roll_twice():
    """A run takes the marks, the next rolls up to them."""
    rollup_run()
    rollup_run()


def test_rolled_up_reads_match_the_raw_points(owner_api, connector, device):
    rng = random.Random(19)
    start = NOW_US - 3 * DAY
    points = [(start + i * 37 * S + rng.randrange(S), f"{rng.uniform(-40, 60):.3f}") for i in range(7000)]
    points.append((start + 5 * S, "broken"))  # not a number: out of the maths
    ValuePoint.objects.bulk_create(
        [ValuePoint(device=device, alias="temp", timestamp=t, value=v) for t, v in points]
    )
    roll_twice()
    progress = RollupRun.objects.order_by("-id").first()
    assert progress.rolled_until is not None and progress.rolled_until > start + 3 * DAY - 10 * 60 * S
    assert ValueRollup.objects.filter(device_id=device.pk).count() > 800  # the blocks exist
    for every in (300, 3600, 5400):
        assert_numbers(
            buckets(owner_api, connector, alias="temp", every=every), expected_numbers(points, every)
        )
    # A range whose ends fall inside blocks: raw points answer the edges.
    since, until = start + DAY + 123 * S, start + 2 * DAY + 4567 * S
    got = buckets(owner_api, connector, alias="temp", every=900, since=since, until=until)
    assert_numbers(got, expected_numbers(points, 900, since, until))
    # A width that is not whole blocks: raw points only, same maths.
    assert_numbers(buckets(owner_api, connector, alias="temp", every=7), expected_numbers(points, 7))


def test_points_newer_than_the_rollups_show_at_once(owner_api, connector, device):
    ValuePoint.objects.create(device=device, alias="temp", timestamp=NOW_US - DAY, value="10")
    roll_twice()
    ValuePoint.objects.create(device=device, alias="temp", timestamp=int(time.time() * S), value="30")
    got = buckets(owner_api, connector, alias="temp", every=DAY // S)
    assert sum(b["count"] for b in got) == 2
    assert max(b["max"] for b in got) == 30


def test_a_point_recorded_late_joins_its_block_once(owner_api, connector, device):
    old = NOW_US - 2 * DAY
    old -= old % (300 * S)
    ValuePoint.objects.create(device=device, alias="temp", timestamp=old + 10 * S, value="1")
    roll_twice()
    ValuePoint.objects.create(device=device, alias="temp", timestamp=old + 20 * S, value="5")  # late
    roll_twice()
    rollup_run()  # a further run adds nothing twice
    assert ValueRollup.objects.get(device_id=device.pk, start=old).count == 2
    (bucket,) = buckets(owner_api, connector, alias="temp", every=300)
    assert (bucket["t"], bucket["count"], bucket["min"], bucket["max"], bucket["avg"]) == (old, 2, 1, 5, 3)


def test_strings_keep_their_latest_value_across_rollups_and_raw(owner_api, connector, device):
    block = NOW_US - DAY
    block -= block % (3600 * S)
    ValuePoint.objects.bulk_create(
        [
            ValuePoint(device=device, alias="mode", timestamp=block + 10 * S, value="eco"),
            ValuePoint(device=device, alias="mode", timestamp=block + 400 * S, value="boost"),
            ValuePoint(
                device=device, alias="mode", timestamp=block + 400 * S, value="off"
            ),  # same time, later
        ]
    )
    roll_twice()
    ValuePoint.objects.create(device=device, alias="mode", timestamp=block + 200 * S, value="late")  # older
    got = buckets(owner_api, connector, alias="mode", every=3600)
    assert got == [{"t": block, "count": 3, "min": None, "max": None, "avg": None, "last": "off"}]


def test_deleting_a_device_and_retention_remove_rollups(
    connector, device, settings, django_capture_on_commit_callbacks
):
    settings.HISTORY_RETENTION_DAYS = 30
    other = make_device(connector=connector, identity="sensor-2")
    ValuePoint.objects.bulk_create(
        [
            ValuePoint(device=device, alias="temp", timestamp=NOW_US - DAY, value="1"),
            ValuePoint(device=other, alias="temp", timestamp=NOW_US - DAY, value="2"),
            ValuePoint(device=other, alias="temp", timestamp=NOW_US - 40 * DAY, value="3"),
        ]
    )
    roll_twice()
    assert ValueRollup.objects.count() == 3
    with django_capture_on_commit_callbacks(execute=False):
        device_delete(device=device)
    history_purge()
    assert not HistoryPurge.objects.exists()
    assert not ValueRollup.objects.filter(device_id=device.pk).exists()
    history_maintain()
    assert list(ValueRollup.objects.values_list("device_id", "count")) == [(other.pk, 1)]
