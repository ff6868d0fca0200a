"""The device page's chart zoom (``?since=&until=``), "just now", and the Set forms that post to
the page's own URL (a refused value is shown there, not at the form's URL)."""

import html as html_lib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from devices.charts import MAX_ZOOM_SECONDS, zoom_in, zoom_out, zoom_window
from devices.models import DeviceState, ValuePoint
from tests.factories import make_device, make_resource
from tests.web.conftest import page_text

HOUR_US = 3600 * 1_000_000


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def charted(connector):
    """``dev-1`` with a point of ``temp`` every minute for the last six hours (1, 2, 3 … °C)."""
    make_resource(connector=connector, alias="temp", format="float")
    make_resource(connector=connector, alias="mode", format="string", settable=True, allowed=["eco", "boost"])
    device = make_device(connector=connector, identity="dev-1")
    now_us = int(timezone.now().timestamp() * 1_000_000)
    ValuePoint.objects.bulk_create(
        [
            ValuePoint(device=device, alias="temp", timestamp=now_us - i * 60_000_000, value=str(i))
            for i in range(360)
        ]
    )
    return device


def _chart_label(html: str) -> str:
    return html_lib.unescape(re.search(r'<svg [^>]*aria-label="([^"]+)"', html).group(1))


def test_a_zoomed_window_charts_that_time_only_with_links_to_zoom_in_and_out(web, owner, connector, charted):
    client, page = web(owner), f"/connectors/{connector.pk}/devices/dev-1/"
    until = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    since = until - timedelta(hours=1)
    html = page_text(client.get(f"{page}?since={_iso(since)}&until={_iso(until)}"))
    # An hour of points, one a minute: all 60 drawn (61 when one falls on both ends).
    assert re.match(r"temp: 6[01] values from ", _chart_label(html))
    assert f'Charts from <time datetime="{since.isoformat()}">' in html
    zoomed_in = re.search(r'href="\?([^"]+)#history">Zoom in</a>', html).group(1)
    middle = since + timedelta(minutes=30)
    expected_in = (
        f"since={_iso(middle - timedelta(minutes=15))}&amp;until={_iso(middle + timedelta(minutes=15))}"
    )
    assert zoomed_in.replace("%3A", ":") == expected_in
    closer = page_text(client.get(f"{page}?{html_lib.unescape(zoomed_in)}"))
    assert re.match(r"temp: (30|31) values from ", _chart_label(closer))
    # Each eighth of the chart links to a closer look (a mouse shortcut; the buttons are the keys').
    assert html.count('class="zoom-region"') == 8 and 'tabindex="-1"' in html


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday&until=today",
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",  # reversed
        "since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:30Z",  # under a minute
        "since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",  # over a year
        "since=2026-01-01T00:00:00Z",
    ],
)
def test_a_window_that_is_none_falls_back_on_the_latest_points(web, owner, connector, charted, query):
    response = web(owner).get(f"/connectors/{connector.pk}/devices/dev-1/?{query}")
    assert response.status_code == 200
    html = page_text(response)
    assert "That zoom range is not a valid time range" in html
    assert _chart_label(html).startswith("temp: 300 values")  # the latest points, as without it
    assert 'href="?range=latest#history" aria-current="true"' in html


def test_zoom_steps():
    hour = HOUR_US
    assert zoom_in(0, 4 * hour) == (hour, 3 * hour)
    assert zoom_in(0, 60_000_000) == (0, 60_000_000)  # a minute is as close as it gets
    now = 100 * hour
    assert zoom_out(10 * hour, 12 * hour, now_us=now) == (9 * hour, 13 * hour)
    assert zoom_out(98 * hour, 100 * hour, now_us=now) == (96 * hour, 100 * hour)  # not past now
    assert zoom_out(0, hour, now_us=now) == (0, 2 * hour)  # not before 1970
    widest = zoom_out(0, MAX_ZOOM_SECONDS * 1_000_000, now_us=10 * MAX_ZOOM_SECONDS * 1_000_000)
    assert widest[1] - widest[0] == MAX_ZOOM_SECONDS * 1_000_000
    assert zoom_window("2026-01-01T10:00", "2026-01-01T11:00") == (
        int(datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp()) * 1_000_000,
        int(datetime(2026, 1, 1, 11, tzinfo=UTC).timestamp()) * 1_000_000,
    )
    assert zoom_window("2026-01-01T10:00+02:00", "2026-01-01T11:00+02:00")[0] == (
        int(datetime(2026, 1, 1, 8, tzinfo=UTC).timestamp()) * 1_000_000
    )
    assert zoom_window("2026-13-01T10:00", "2026-01-01T11:00") is None


def test_a_refused_set_is_shown_at_the_device_pages_url(web, owner, connector, charted):
    client, page = web(owner), f"/connectors/{connector.pk}/devices/dev-1/"
    html = page_text(client.get(page))
    assert f'<form method="post" action="{page}#state-title" class="set-form"' in html
    # The input is as wide as its placeholder: the allowed values are never cut off.
    assert 'placeholder="eco, boost" size="12"' in html
    refused = client.post(page, {"alias": "mode", "value": "turbo"})
    assert refused.status_code == 400
    assert "mode: &#x27;turbo&#x27; is not an allowed value" in page_text(refused)
    accepted = client.post(page, {"alias": "mode", "value": "boost"})
    assert accepted.status_code == 302 and accepted["Location"] == page
    assert DeviceState.objects.get(device=charted, alias="mode").set == "boost"


def test_a_device_seen_seconds_ago_was_seen_just_now(web, owner, connector, charted):
    charted.last_seen = timezone.now() - timedelta(seconds=5)
    charted.save(update_fields=["last_seen"])
    client = web(owner)
    for url in (f"/connectors/{connector.pk}/devices/", f"/connectors/{connector.pk}/devices/dev-1/"):
        html = page_text(client.get(url))
        assert ">just now</time>" in html and "0 minutes ago" not in html
    charted.last_seen = timezone.now() - timedelta(minutes=3)
    charted.save(update_fields=["last_seen"])
    assert ">3\xa0minutes ago</time>" in page_text(client.get(f"/connectors/{connector.pk}/devices/"))
