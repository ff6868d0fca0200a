"""``GET …/history/?alias=&every=<seconds>``: one alias's points in buckets computed by the
database (shared/docs/management-api.md), checked against the raw points."""

import random
import statistics

import pytest

from devices.models import ValuePoint
from tests.factories import make_device, make_resource

S = 1_000_000  # µs per second


@pytest.fixture
def device(connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="mode", format="string")
    return make_device(connector=connector, identity="sensor-1")


def buckets(owner_api, connector, query: str):
    response = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/sensor-1/history/?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_numeric_buckets_match_the_raw_points(owner_api, connector, device):
    rng = random.Random(7)
    points = [(t * S + rng.randrange(S), round(rng.uniform(-50, 50), 3)) for t in range(0, 3600, 7)]
    ValuePoint.objects.bulk_create(
        [ValuePoint(device=device, alias="temp", timestamp=ts, value=str(v)) for ts, v in points]
        # Not numbers (recorded before the resource was numeric): left out of the maths.
        + [ValuePoint(device=device, alias="temp", timestamp=5 * S, value="broken")]
    )
    got = buckets(owner_api, connector, "alias=temp&every=600&limit=10000")
    expected = {}
    for ts, value in points:
        expected.setdefault(ts - ts % (600 * S), []).append(value)
    assert [b["t"] for b in got] == sorted(expected, reverse=True)  # newest first
    for bucket in got:
        values = expected[bucket["t"]]
        assert bucket["count"] == len(values)
        assert bucket["min"] == pytest.approx(min(values))
        assert bucket["max"] == pytest.approx(max(values))
        assert bucket["avg"] == pytest.approx(statistics.fmean(values))
        assert bucket["last"] is None


def test_string_buckets_give_the_latest_value(owner_api, connector, device):
    ValuePoint.objects.bulk_create(
        [
            ValuePoint(device=device, alias="mode", timestamp=10 * S, value="eco"),
            ValuePoint(device=device, alias="mode", timestamp=50 * S, value="boost"),
            ValuePoint(device=device, alias="mode", timestamp=70 * S, value="off"),
        ]
    )
    got = buckets(owner_api, connector, "alias=mode&every=60")
    assert got == [
        {"t": 60 * S, "count": 1, "min": None, "max": None, "avg": None, "last": "off"},
        {"t": 0, "count": 2, "min": None, "max": None, "avg": None, "last": "boost"},
    ]


def test_range_and_limit_apply_to_buckets(owner_api, connector, device):
    ValuePoint.objects.bulk_create(
        [ValuePoint(device=device, alias="temp", timestamp=t * S, value=str(t)) for t in range(0, 100)]
    )
    got = buckets(owner_api, connector, f"alias=temp&every=10&since={20 * S}&until={59 * S}&limit=3")
    assert [(b["t"], b["count"], b["min"], b["max"]) for b in got] == [
        (50 * S, 10, 50, 59), (40 * S, 10, 40, 49), (30 * S, 10, 30, 39),
    ]  # fmt: skip


@pytest.mark.parametrize("query", ["every=60", "alias=temp&every=0", "alias=temp&every=x"])
def test_every_needs_an_alias_and_a_positive_width(owner_api, connector, device, query):
    response = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/sensor-1/history/?{query}")
    assert response.status_code == 400
