"""The Devices tab's bulk actions, CSV export and value column, server side (both backends: run
once on SQLite and once with ``DATABASE_URL=postgres://...``).

Bulk actions: a few ticked devices change in the request; "all matching the filter" (or a list
longer than ``BULK_IN_REQUEST_LIMIT``) is a job, run eagerly here. Viewers may not post (403),
an unknown action is refused (400 for the page's script, a message for a plain form)."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Device, DeviceTag, HistoryPurge, Lifecycle
from devices.services import BULK_IN_REQUEST_LIMIT, device_state_set, device_write
from jobs.models import Job, JobKind, JobState
from tests.factories import make_device, make_resource
from tests.web.conftest import page_text

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def shop(connector):
    """Ten devices: ``shop-0`` … ``shop-4`` tagged ``site=paris``, ``lab-0`` … ``lab-4`` ``site=lyon``."""
    for i in range(5):
        make_device(connector=connector, identity=f"shop-{i}", tags=[{"name": "site", "value": "paris"}])
        make_device(connector=connector, identity=f"lab-{i}", tags=[{"name": "site", "value": "lyon"}])
    return connector


def _bulk_url(connector) -> str:
    return f"/connectors/{connector.pk}/device-changes/"


def _locked(connector) -> set[str]:
    return set(Device.objects.filter(connector=connector, locked=True).values_list("identity", flat=True))


def test_ticked_devices_are_locked_in_the_request_and_the_list_says_so(web, owner, shop):
    client = web(owner)
    response = client.post(
        _bulk_url(shop),
        {"action": "lock", "device": ["shop-0", "shop-1"], "q": "shop", "ordering": "-identity"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/connectors/{shop.pk}/devices/?q=shop&ordering=-identity"
    assert _locked(shop) == {"shop-0", "shop-1"}
    assert "2 devices locked." in page_text(client.get(response["Location"]))

    again = client.post(_bulk_url(shop), {"action": "lock", "device": ["shop-0", "shop-2"]}, **JSON)
    assert again.status_code == 200
    assert again.json() == {
        "changed": 1,
        "message": "1 device locked (1 of those selected needed no change).",
    }
    assert _locked(shop) == {"shop-0", "shop-1", "shop-2"}
    client.post(_bulk_url(shop), {"action": "unlock", "device": ["shop-0", "shop-1", "shop-2"]})
    assert _locked(shop) == set()


def test_revoke_delete_and_tags_in_the_request(web, owner, shop):
    client = web(owner)
    provisioned = make_device(connector=shop, identity="live-1", key="a" * 40, auth_type="token")
    assert provisioned.lifecycle == Lifecycle.PROVISIONED
    client.post(_bulk_url(shop), {"action": "revoke", "device": ["live-1"]})
    provisioned.refresh_from_db()
    assert provisioned.lifecycle == Lifecycle.REPROVISION and provisioned.token_hash is None

    client.post(_bulk_url(shop), {"action": "tag_add", "device": ["shop-0", "lab-0"], "tag_name": "batch",
                                  "tag_value": "7"})  # fmt: skip
    tagged = DeviceTag.objects.filter(connector=shop, name="batch", value="7")
    assert set(tagged.values_list("identity", flat=True)) == {"shop-0", "lab-0"}
    removed = client.post(
        _bulk_url(shop),
        {"action": "tag_remove", "device": ["shop-0"], "tag_name": "batch", "tag_value": "7"},
        **JSON,
    )
    assert removed.json()["changed"] == 1
    assert set(tagged.values_list("identity", flat=True)) == {"lab-0"}

    deleted = client.post(
        _bulk_url(shop), {"action": "delete", "device": ["shop-3", "shop-4", "ghost"]}, **JSON
    )
    assert deleted.json()["changed"] == 2
    assert not Device.objects.filter(connector=shop, identity__in=["shop-3", "shop-4"]).exists()
    assert HistoryPurge.objects.count() == 2  # their history goes in the background


def test_another_connectors_devices_are_out_of_reach(web, owner, shop, business):
    from tests.factories import make_connector

    other = make_connector(business=business)
    make_device(connector=other, identity="shop-0")
    web(owner).post(_bulk_url(shop), {"action": "lock", "device": ["shop-0"]})
    assert Device.objects.get(connector=other, identity="shop-0").locked is False
    assert _locked(shop) == {"shop-0"}


def test_viewers_may_not_change_devices_and_see_no_bulk_controls(web, viewer, shop):
    client = web(viewer)
    response = client.post(_bulk_url(shop), {"action": "delete", "device": ["shop-0"]})
    assert response.status_code == 403
    assert Device.objects.filter(connector=shop).count() == 10
    html = page_text(client.get(f"/connectors/{shop.pk}/devices/"))
    assert "data-bulk-form" not in html and 'name="device"' not in html
    assert "Export CSV" in html  # reading is allowed


@pytest.mark.parametrize(
    "body, message",
    [
        (
            {"action": "explode", "device": ["shop-0"]},
            "Action: choose one of lock, unlock, revoke, delete, tag_add, tag_remove.",
        ),
        ({"action": "tag_add", "device": ["shop-0"], "tag_name": " "}, "Tag: give the name of the tag."),
        ({"action": "lock"}, "Select the devices to change first."),
    ],
)  # fmt: skip
def test_a_bad_bulk_request_is_refused_and_changes_nothing(web, owner, shop, body, message):
    client = web(owner)
    refused = client.post(_bulk_url(shop), body, **JSON)
    assert refused.status_code == 400 and refused.json() == {"detail": message}
    plain = client.post(_bulk_url(shop), body)
    assert plain.status_code == 302
    assert message in page_text(client.get(plain["Location"]))
    assert _locked(shop) == set() and Device.objects.filter(connector=shop).count() == 10
    assert not DeviceTag.objects.filter(connector=shop).exclude(name="site").exists()


def test_all_matching_the_filter_runs_as_a_job(web, owner, shop, django_capture_on_commit_callbacks):
    client = web(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _bulk_url(shop),
            {"action": "lock", "all": "1", "tag": "site", "q": "paris", "device": ["shop-0"]},
            **JSON,
        )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == JobKind.DEVICE_BULK and job.state == JobState.FINISHED
    assert (job.total, job.done, job.updated) == (5, 5, 5)
    assert job.params["filter"] == {"tag": ["site:paris"]}
    assert _locked(shop) == {f"shop-{i}" for i in range(5)}
    assert client.get(f"/api/v1/jobs/{job.pk}/").json()["state"] == "finished"


def test_a_job_deletes_every_matching_device_in_chunks(
    web, owner, connector, django_capture_on_commit_callbacks
):
    for i in range(BULK_IN_REQUEST_LIMIT + 20):
        make_device(connector=connector, identity=f"old-{i:04d}")
    make_device(connector=connector, identity="keep-me")
    identities = [f"old-{i:04d}" for i in range(BULK_IN_REQUEST_LIMIT + 20)]
    with django_capture_on_commit_callbacks(execute=True):
        # More ticked than the request takes: a job, too.
        response = web(owner).post(_bulk_url(connector), {"action": "delete", "device": identities}, **JSON)
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.state, job.total, job.done, job.updated) == (JobState.FINISHED, 520, 520, 520)
    assert list(Device.objects.filter(connector=connector).values_list("identity", flat=True)) == ["keep-me"]


def test_a_bad_filter_is_refused_before_a_job_is_queued(web, owner, shop):
    response = web(owner).post(_bulk_url(shop), {"action": "lock", "all": "1", "status": "sleepy"}, **JSON)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Status: must be one of whitelisted, ")
    assert not Job.objects.exists()


def test_the_export_is_the_filtered_devices_as_the_import_csv(web, viewer, shop):
    response = web(viewer).get(f"/connectors/{shop.pk}/devices.csv?tag=site&q=lyon")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{shop.pk}-devices.csv"'
    rows = list(csv.reader(io.StringIO(page_text(response))))
    assert rows[0] == ["ID", "TLS Client Certificate", "Tags"]
    assert [row[0] for row in rows[1:]] == [f"lab-{i}" for i in range(5)]
    assert rows[1][2] == '[{"name": "site", "value": "lyon"}]'
    everything = page_text(web(viewer).get(f"/connectors/{shop.pk}/devices.csv"))
    assert len(everything.splitlines()) == 11
    assert web(viewer).get(f"/connectors/{shop.pk}/devices.csv?status=sleepy").status_code == 400


def test_the_value_column_shows_each_devices_current_value_in_one_query(web, owner, connector):
    from connectors.runtime import connector_rules

    make_resource(connector=connector, alias="temp", format="float")
    make_resource(connector=connector, alias="mode", format="string", settable=True)
    rules = connector_rules(connector)
    client = web(owner)
    url = f"/connectors/{connector.pk}/devices/?value=temp"

    def add(first: int, n: int) -> None:
        for i in range(first, first + n):
            device = make_device(connector=connector, identity=f"dev-{i:02d}")
            device_write(device=device, values={"temp": f"{20 + i}.5"}, rules=connector_rules(connector))

    def queries(page: str) -> tuple[int, str]:
        client.get(page)  # the first fills what a running server keeps warm (the rules' cache)
        with CaptureQueriesContext(connection) as captured:
            html = page_text(client.get(page))
        return len(captured.captured_queries), html

    add(0, 2)
    few, html = queries(url)
    assert "20.5" in html and "21.5" in html and "selected>Value: temp</option>" in html
    add(2, 6)
    many, html = queries(url)
    assert "27.5" in html
    assert many == few  # one query for the page's values, not one per row
    without, _ = queries(f"/connectors/{connector.pk}/devices/")
    assert without == many - 1

    # A value set from the cloud and not reported yet is marked as such; an unknown alias is no column.
    device_state_set(device=Device.objects.get(identity="dev-00"), values={"mode": "eco"}, rules=rules)
    html = page_text(client.get(f"/connectors/{connector.pk}/devices/?value=mode"))
    assert 'eco</span> <span class="muted">(set)</span>' in html
    assert "selected>Value: " not in page_text(client.get(f"/connectors/{connector.pk}/devices/?value=ghost"))


def test_counts_have_thousands_separators_and_empty_cells_one_dash(web, owner, connector):
    Device.objects.bulk_create(
        [Device(connector=connector, identity=f"n-{i:05d}") for i in range(1234)], batch_size=500
    )
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/devices/"))
    assert "1,234 devices." in html
    assert html.count('<span class="none">—') >= 50 * 3  # last IP, auth and tags of every row
    assert "|default:" not in html and ">-<" not in html


def test_a_job_that_breaks_fails_with_a_reason_and_keeps_its_counts(
    web, owner, shop, django_capture_on_commit_callbacks
):
    """A job whose stored action no longer means anything (say, queued by another version):
    the worker ends it ``failed`` with a sentence, not ``running`` forever."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = web(owner).post(_bulk_url(shop), {"action": "lock", "all": "1"}, **JSON)
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    Job.objects.filter(pk=job.pk).update(params={**job.params, "action": "explode"})
    for callback in queued:
        callback()  # the worker takes it
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.detail.startswith("The change stopped on an internal error")
    assert _locked(shop) == set()
