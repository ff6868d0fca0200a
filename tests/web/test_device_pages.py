"""The Devices tab and the device page: search, filters and pages of the fleet; whitelisting;
lock, revoke, delete; tags; cloud values; history charts."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import Device, DeviceState, Lifecycle, ValuePoint
from devices.services import device_update
from tests.factories import make_device, make_resource
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def identities(html: str) -> list[str]:
    """The identities listed in the device table, in order."""
    return re.findall(r'<td class="mono"><a href="/connectors/\w+/devices/[^/]+/">([^<]+)</a>', html)


@pytest.fixture
def devices_url(connector):
    return f"/connectors/{connector.pk}/devices/"


# --- the Devices tab ---------------------------------------------------------------------------


def test_devices_are_listed_with_status_icons_and_a_legend(web, owner, connector, devices_url):
    make_device(connector=connector, identity="fresh")
    locked = make_device(connector=connector, identity="shut", locked=True)
    make_device(connector=connector, identity="known", key=TOKEN)
    late = make_device(connector=connector, identity="late")
    Device.objects.filter(pk=late.pk).update(activation_deadline=timezone.now() - timedelta(hours=1))
    html = page_text(web(owner).get(devices_url))
    assert identities(html) == ["fresh", "known", "late", "shut"]
    for status in ["whitelisted", "provisioned", "expired", "locked"]:
        assert f'<span class="status status-{status}"' in html
    assert 'aria-label="Status legend"' in html and "Reprovision: credentials revoked" in html
    assert '<symbol id="status-devmode"' in html
    assert "4 devices." in html
    assert locked.identity in html


def test_the_tag_column_shows_names_or_the_values_of_the_chosen_tag(web, owner, connector, devices_url):
    make_device(connector=connector, identity="a", tags=[{"name": "site", "value": "paris"},
                                                           {"name": "batch", "value": "7"}])  # fmt: skip
    make_device(connector=connector, identity="b", tags=[{"name": "site", "value": "oslo"}])
    make_device(connector=connector, identity="c")
    client = web(owner)
    html = page_text(client.get(devices_url))
    assert (
        '<option value="batch">Tag: batch</option>' in html
        and '<option value="site">Tag: site</option>' in html
    )
    assert '<li class="tag">batch</li><li class="tag">site</li>' in html
    chosen = page_text(client.get(devices_url, {"tag": "site"}))
    assert identities(chosen) == ["a", "b"]  # devices with that tag only
    assert '<li class="tag">paris</li>' in chosen and '<li class="tag">oslo</li>' in chosen
    assert '<option value="site" selected>' in chosen
    assert "Search values of tag “site”" in chosen
    searched = page_text(client.get(devices_url, {"tag": "site", "q": "oslo"}))
    assert identities(searched) == ["b"]


def test_the_search_box_finds_identities_containing_the_text(web, owner, connector, devices_url):
    for identity in ["sensor-001", "sensor-002", "plug-001"]:
        make_device(connector=connector, identity=identity)
    html = page_text(web(owner).get(devices_url, {"q": "001"}))
    assert identities(html) == ["plug-001", "sensor-001"]
    assert 'value="001"' in html and "Clear filters" in html
    assert "No devices match these filters." in page_text(web(owner).get(devices_url, {"q": "nothing"}))


def test_the_status_filter(web, owner, connector, devices_url):
    make_device(connector=connector, identity="fresh")
    make_device(connector=connector, identity="known", key=TOKEN)
    make_device(connector=connector, identity="shut", locked=True)
    client = web(owner)
    assert identities(page_text(client.get(devices_url, {"status": "provisioned"}))) == ["known"]
    assert identities(page_text(client.get(devices_url, {"status": "locked"}))) == ["shut"]


def test_bad_filters_are_explained_not_failed(web, owner, connector, devices_url):
    make_device(connector=connector, identity="a")
    client = web(owner)
    response = client.get(devices_url, {"status": "sleeping"})
    assert response.status_code == 400
    assert "Status: must be one of whitelisted" in page_text(response)
    assert "aria-invalid" in page_text(response)
    response = client.get(devices_url, {"ordering": "colour"})
    assert response.status_code == 400 and "Sort by: must be one of" in page_text(response)
    response = client.get(devices_url, {"q": "x\x00y"})
    assert response.status_code == 400 and "must not contain NUL characters" in page_text(response)
    stale = client.get(devices_url, {"cursor": "not-a-cursor"})
    assert stale.status_code == 200
    assert "That page link no longer applies" in page_text(stale) and identities(page_text(stale)) == ["a"]


def test_pages_of_devices_follow_one_another(web, owner, connector, devices_url):
    for i in range(120):
        make_device(connector=connector, identity=f"dev-{i:03d}")
    client = web(owner)
    first = page_text(client.get(devices_url))
    assert identities(first) == [f"dev-{i:03d}" for i in range(50)]
    assert "120 devices." in first and "Previous" not in first
    next_link = re.search(r'href="(\?[^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = page_text(client.get(devices_url + next_link))
    assert identities(second) == [f"dev-{i:03d}" for i in range(50, 100)]
    third_link = re.search(r'href="(\?[^"]+)" rel="next"', second).group(1).replace("&amp;", "&")
    third = page_text(client.get(devices_url + third_link))
    assert identities(third) == [f"dev-{i:03d}" for i in range(100, 120)]
    assert 'rel="next"' not in third
    back = re.search(r'href="(\?[^"]+)" rel="prev"', third).group(1).replace("&amp;", "&")
    assert identities(page_text(client.get(devices_url + back))) == [f"dev-{i:03d}" for i in range(50, 100)]


def test_sorting_by_last_seen_and_identity(web, owner, connector, devices_url):
    now = timezone.now()
    for name, minutes in [("a", 5), ("b", None), ("c", 1)]:
        device = make_device(connector=connector, identity=name)
        if minutes is not None:
            Device.objects.filter(pk=device.pk).update(last_seen=now - timedelta(minutes=minutes))
    client = web(owner)
    assert identities(page_text(client.get(devices_url, {"ordering": "-last_seen"}))) == ["c", "a", "b"]
    assert identities(page_text(client.get(devices_url, {"ordering": "-identity"}))) == ["c", "b", "a"]
    html = page_text(client.get(devices_url, {"ordering": "-last_seen"}))
    assert '<option value="-last_seen" selected>' in html and "never" in html


def test_the_list_runs_as_many_queries_for_120_devices_as_for_60(web, owner, connector, devices_url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = web(owner)
    client.get(devices_url)  # session, caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(devices_url, {"tag": "g"})
        assert response.status_code == 200
        return len(captured.captured_queries)

    # Both more than a page: the first page then also counts the matches.
    for i in range(60):
        make_device(connector=connector, identity=f"d{i:03d}", tags=[{"name": "g", "value": str(i)}])
    few = queries()
    for i in range(60, 120):
        make_device(connector=connector, identity=f"d{i:03d}", tags=[{"name": "g", "value": str(i)}])
    assert queries() == few


# --- whitelisting from the dialog ---------------------------------------------------------------


def test_whitelisting_one_device(web, owner, connector, devices_url):
    client = web(owner)
    response = client.post(
        devices_url,
        {"identity": "new-1", "tags": "site=paris\nbatch = 7\nspare", "expire": "2099-01-02T03:04"},
    )
    assert response.status_code == 302 and response["Location"] == devices_url + "new-1/"
    device = Device.objects.get(identity="new-1")
    assert device.lifecycle == Lifecycle.WHITELISTED and not device.locked
    assert device.activation_deadline.isoformat() == "2099-01-02T03:04:00+00:00"
    assert sorted(device.tags.values_list("name", "value")) == [
        ("batch", "7"),
        ("site", "paris"),
        ("spare", ""),
    ]
    assert "Device “new-1” whitelisted." in page_text(client.get(response["Location"]))


def test_a_known_token_provisions_the_device_at_once(web, owner, connector, devices_url):
    web(owner).post(devices_url, {"identity": "factory-1", "key": TOKEN, "locked": "on"})
    device = Device.objects.get(identity="factory-1")
    assert device.lifecycle == Lifecycle.PROVISIONED and device.auth_type == "token" and device.locked
    assert device.token_hash and TOKEN not in device.token_hash


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"identity": ""}, "identity", "This field is required."),
        ({"identity": "has space"}, "identity", "identity contains characters that are not allowed"),
        ({"identity": "dup"}, "identity", "this identity is already whitelisted"),
        ({"identity": "x", "key": "short"}, "key", "key must be a 40-character hexadecimal token"),
        ({"identity": "x", "expire": "2001-01-01T00:00"}, "expire", "The deadline must be in the future."),
        ({"identity": "x", "expire": "tomorrow"}, "expire", "Enter a valid date/time."),
        ({"identity": "x", "tags": "=value"}, "tags", "Line 1: a tag needs a name"),
    ],
)
def test_whitelisting_errors_reopen_the_dialog_next_to_the_field(web, owner, connector, devices_url, body,
                                                                 field, message):  # fmt: skip
    make_device(connector=connector, identity="dup")
    response = web(owner).post(devices_url, {"tags": "site=kept", **body})
    assert response.status_code == 400
    html = page_text(response)
    assert "data-open-on-load" in html
    start = html.index(f'id="id_{field}_error"')
    assert message in html[start : start + 300]
    if field != "tags":
        assert "site=kept</textarea>" in html
    assert list(Device.objects.values_list("identity", flat=True)) == ["dup"]


def test_the_identity_format_of_the_connector_applies(web, owner, business, devices_url):
    from tests.factories import make_connector

    macs = make_connector(business=business, name="MAC only", identity_type="mac:colon")
    response = web(owner).post(f"/connectors/{macs.pk}/devices/", {"identity": "not-a-mac"})
    assert response.status_code == 400 and "identity is not of type mac:colon" in page_text(response)
    assert (
        web(owner).post(f"/connectors/{macs.pk}/devices/", {"identity": "00:11:22:33:44:55"}).status_code
        == 302
    )


def test_the_dialog_offers_the_csv_import_through_the_api(web, owner, connector, devices_url):
    html = page_text(web(owner).get(devices_url))
    assert f'data-import-url="/api/v1/connectors/{connector.pk}/devices/import/"' in html
    assert '<progress id="import-bar"' in html and "js/device_import.js" in html


# --- the device page ------------------------------------------------------------------------------


@pytest.fixture
def live_device(connector, device_client):
    """A device that provisioned and wrote values through the device API (plain HTTP, devmode)."""
    make_resource(connector=connector, alias="temp", format="float", unit="°C")
    make_resource(connector=connector, alias="mode", format="string", settable=True, allowed=["eco", "boost"])
    make_resource(connector=connector, alias="label", format="string")
    token = device_client.post("/provision/activate", content="id=dev-1").text
    headers = {"X-Exosite-CIK": token}
    for value in ["20.5", "21", "23.25"]:
        assert (
            device_client.post("/onep:v1/stack/alias", content=f"temp={value}", headers=headers).status_code
            == 204
        )
    device = Device.objects.get(identity="dev-1")
    device_update(device=device, tags=[{"name": "site", "value": "paris"}, {"name": "site", "value": "oslo"}])
    return device


def test_the_device_page_shows_status_credentials_state_and_history(web, owner, connector, live_device):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/devices/dev-1/"))
    assert '<span class="status status-devmode"' in html  # it authenticated over plain HTTP
    assert "<dt>Auth type</dt><dd>token</dd>" in html
    assert '<dd><span class="mono">203.0.113.7</span></dd>' in html and "online" in html
    state = html[html.index('id="state-title"') :]
    assert "23.25" in state and "(°C)" in state
    assert 'name="alias" value="mode"' in state and 'name="alias" value="temp"' not in state
    assert "device only" in state
    chart = html[html.index('<figure class="chart">') :]
    assert 'aria-label="temp: 3 values' in chart and "<polyline" in chart
    assert "between 20.5 and 23.25" in chart
    assert '<input id="tag-value-0" name="tag_value" value="oslo"' in html
    assert f'data-ws-path="/ws/connectors/{connector.pk}/logs/?identity=dev-1"' in html


def _charts(html: str) -> str:
    return html[html.index('<div class="charts">') : html.index('id="tags-title"')]


def test_a_month_of_points_is_charted_as_averages_over_the_whole_month(web, owner, connector, live_device):
    now_us = int(timezone.now().timestamp() * 1_000_000)
    day_us, bucket_us = 86_400_000_000, 3 * 3600 * 1_000_000  # 30 days in round buckets: 3 h
    # 2,000 points of the month before the last two hours: 20, 21, 22 °C, but 35 °C at first.
    start, step = now_us - 30 * day_us + 60_000_000, (30 * day_us - 2 * 3600 * 1_000_000) // 2000
    rows = [(start + i * step, "35" if i < 5 else str(20 + i % 3)) for i in range(2000)]
    ValuePoint.objects.bulk_create(
        [ValuePoint(device=live_device, alias="temp", timestamp=t, value=v) for t, v in rows]
    )
    client, page = web(owner), f"/connectors/{connector.pk}/devices/dev-1/"

    month = _charts(page_text(client.get(f"{page}?range=30d")))
    assert '<span class="chart-summary">averaged per 3 h</span>' in month
    marks = month.count('<circle class="mark"')
    assert 235 <= marks <= 241 and f'aria-label="temp: {marks} averages of 2003 values' in month
    assert '<polygon class="band"' in month
    middle = rows[1000][0] - rows[1000][0] % bucket_us
    values = [float(v) for t, v in rows if middle <= t < middle + bucket_us]
    average, low, high = f"{sum(values) / len(values):.6g}", f"{min(values):g}", f"{max(values):g}"
    assert f"<title>avg {average} (min {low}, max {high}) · {len(values)} points · " in month
    # The first hours' spike is drawn: the chart spans the month, not its newest points.
    assert "max 35) · " in month and "between 20 and 35" in month

    # The latest points (the default) are every point, whatever their age.
    latest = _charts(page_text(client.get(page)))
    assert '<span class="chart-summary">every point</span>' in latest
    assert 'aria-label="temp: 300 values' in latest and '<circle class="mark"' not in latest
    assert 'href="?range=latest#history" aria-current="true"' in page_text(client.get(page))
    # The last hour holds the device's own three points: every one drawn.
    hour = _charts(page_text(client.get(f"{page}?range=1h")))
    assert '<span class="chart-summary">every point</span>' in hour
    assert 'aria-label="temp: 3 values' in hour and "between 20.5 and 23.25" in hour
    # A range the page does not offer: the latest points.
    odd = client.get(f"{page}?range=1y")
    assert odd.status_code == 200 and 'aria-label="temp: 300 values' in page_text(odd)


def test_setting_a_cloud_value(web, owner, connector, live_device):
    client = web(owner)
    url = f"/connectors/{connector.pk}/devices/dev-1/state/"
    response = client.post(url, {"alias": "mode", "value": "boost"})
    assert response.status_code == 302
    assert DeviceState.objects.get(device=live_device, alias="mode").set == "boost"
    assert "mode set to “boost”." in page_text(client.get(response["Location"]))


def test_a_refused_cloud_value_is_explained_next_to_it(web, owner, connector, live_device):
    client = web(owner)
    url = f"/connectors/{connector.pk}/devices/dev-1/state/"
    response = client.post(url, {"alias": "mode", "value": "turbo"})
    assert response.status_code == 400
    html = page_text(response)
    assert "mode: &#x27;turbo&#x27; is not an allowed value" in html
    assert 'value="turbo"' in html and 'aria-invalid="true"' in html
    assert not DeviceState.objects.filter(device=live_device, alias="mode").exists()
    read_only = client.post(url, {"alias": "temp", "value": "1"})
    assert read_only.status_code == 400 and "this resource cannot be set from the cloud" in page_text(
        read_only
    )
    unknown = client.post(url, {"alias": "ghost", "value": "1"})
    assert unknown.status_code == 400 and "No resource “ghost” to set." in page_text(unknown)


def test_lock_and_unlock(web, owner, connector, live_device):
    client = web(owner)
    url = f"/connectors/{connector.pk}/devices/dev-1/"
    client.post(url + "lock/", {"locked": "1"})
    live_device.refresh_from_db()
    assert live_device.locked and ">Unlock</button>" in page_text(client.get(url))
    client.post(url + "lock/", {"locked": "0"})
    live_device.refresh_from_db()
    assert not live_device.locked


def test_revoking_credentials_asks_first_then_allows_a_new_activation(
    web, owner, connector, live_device, device_client
):
    client = web(owner)
    url = f"/connectors/{connector.pk}/devices/dev-1/revoke/"
    assert "Revoke credentials" in page_text(client.get(url))
    assert Device.objects.get(pk=live_device.pk).lifecycle == Lifecycle.PROVISIONED
    client.post(url)
    assert Device.objects.get(pk=live_device.pk).lifecycle == Lifecycle.REPROVISION
    assert device_client.post("/provision/activate", content="id=dev-1").status_code == 200


def test_deleting_a_device_asks_first(web, owner, connector, live_device):
    client = web(owner)
    url = f"/connectors/{connector.pk}/devices/dev-1/delete/"
    assert "This cannot be undone." in page_text(client.get(url))
    assert Device.objects.filter(pk=live_device.pk).exists()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/connectors/{connector.pk}/devices/"
    assert not Device.objects.filter(pk=live_device.pk).exists()
    assert client.get(f"/connectors/{connector.pk}/devices/dev-1/").status_code == 404


def test_tags_are_edited_added_and_deleted_in_one_save(web, owner, connector, live_device):
    url = f"/connectors/{connector.pk}/devices/dev-1/tags/"
    # Rows: oslo (renamed to bergen), paris (deleted), then the empty row filled in.
    rows = {"tag_name": ["site", "site", "batch"], "tag_value": ["bergen", "paris", "7"], "tag_delete": ["1"]}
    response = web(owner).post(url, rows)
    assert response.status_code == 302
    assert sorted(live_device.tags.values_list("name", "value")) == [("batch", "7"), ("site", "bergen")]


def test_a_tag_without_a_name_is_refused_and_nothing_changes(web, owner, connector, live_device):
    url = f"/connectors/{connector.pk}/devices/dev-1/tags/"
    response = web(owner).post(url, {"tag_name": ["site", ""], "tag_value": ["oslo", "orphan"]})
    assert response.status_code == 400
    html = page_text(response)
    assert "Row 2: a tag needs a name." in html and 'value="orphan"' in html
    assert live_device.tags.count() == 2


def test_a_device_that_never_connected(web, owner, connector):
    make_device(connector=connector, identity="quiet")
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/devices/quiet/"))
    assert "<dt>Last seen</dt><dd>never</dd>" in html and "Activation deadline" in html
    assert "No resources are defined." in html


def test_the_device_page_downloads_its_history_as_csv(web, owner, connector, live_device):
    client = web(owner)
    html = page_text(client.get(f"/connectors/{connector.pk}/devices/dev-1/"))
    start = html.index('id="history-csv" href="') + len('id="history-csv" href="')
    link = html[start : html.index('"', start)]
    assert link == f"/api/v1/connectors/{connector.pk}/devices/dev-1/history.csv"
    # The browser's session is enough: the link answers the file.
    response = client.get(link)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "timestamp,alias,value"
    values = [line.split(",", 2)[1:] for line in lines[1:]]
    assert values == [["temp", "20.5"], ["temp", "21"], ["temp", "23.25"]]
