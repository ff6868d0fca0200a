"""Issue #17, connectors part, on the server: the connector list's device counts by status, last
activity and App Link; deleting a connector only with its name typed; the New resource dialog
posted to the Resources tab; the Settings sections that scripts may fold."""

import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.content.services import content_upload
from connectors.models import Connector, Resource
from devices.models import Device
from tests.factories import make_connector, make_device, make_resource
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def row_of(html: str, connector) -> str:
    """The connector list's row of ``connector``."""
    match = re.search(rf'<tr data-connector="{connector.pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {connector.pk}"
    return match.group(1)


def test_the_list_counts_each_connectors_devices_by_status_and_shows_the_last_activity(web, owner, connector):
    make_device(connector=connector, identity="fresh-1")
    make_device(connector=connector, identity="fresh-2")
    make_device(connector=connector, identity="known", key=TOKEN)
    make_device(connector=connector, identity="shut", locked=True)
    late = make_device(connector=connector, identity="late")
    Device.objects.filter(pk=late.pk).update(activation_deadline=timezone.now() - timedelta(hours=1))
    seen = timezone.now() - timedelta(minutes=5)
    Device.objects.filter(identity="known").update(last_seen=seen)
    Device.objects.filter(identity="fresh-1").update(last_seen=seen - timedelta(days=2))
    quiet = make_connector(business=connector.business, name="Quiet plug")

    html = page_text(web(owner).get("/connectors/"))
    row = row_of(html, connector)
    assert re.search(r"<strong>5</strong> devices", row)
    shown = re.findall(r'\?status=(\w+)">(\d+) (\w+)</a>', row)
    assert shown == [("whitelisted", "2", "whitelisted"), ("provisioned", "1", "provisioned"),
                     ("expired", "1", "expired"), ("locked", "1", "locked")]  # fmt: skip
    assert f'<time datetime="{seen.isoformat()}"' in row
    assert re.search(r"5\s+minutes ago", row)  # timesince writes a no-break space
    quiet_row = row_of(html, quiet)
    assert "No devices" in quiet_row and "—" in quiet_row


def test_the_list_shows_the_app_link_as_a_url_with_the_scheme_and_port_as_reached(web, owner, connector):
    safe = make_connector(business=connector.business, name="Production model")  # not in devmode
    client = web(owner)
    html = page_text(client.get("/connectors/", HTTP_HOST="127.0.0.1:8000"))
    assert f"http://{connector.pk}.devices.localhost:8000</code>" in row_of(html, connector)
    assert 'data-copy="#app-link-' in row_of(html, connector)
    # Plain HTTP reaches only connectors in developer mode: the others' devices need HTTPS.
    assert "Devices need HTTPS here" in row_of(html, safe)
    assert "Devices need HTTPS here" not in row_of(html, connector)
    secure = page_text(client.get("/connectors/", HTTP_HOST="127.0.0.1:8443", secure=True))
    assert f"https://{safe.pk}.devices.localhost:8443</code>" in row_of(secure, safe)
    assert "Devices need HTTPS here" not in secure


def test_the_list_reads_the_device_counts_in_one_query_for_all_connectors(web, owner, business):
    client = web(owner)

    def queries() -> int:
        client.get("/connectors/")  # warm: the session, the user
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/connectors/").status_code == 200
        return len(captured)

    for i in range(2):
        make_device(connector=make_connector(business=business, name=f"c{i}"), identity="d")
    few = queries()
    for i in range(2, 8):
        connector = make_connector(business=business, name=f"c{i}")
        make_device(connector=connector, identity="d")
        make_device(connector=connector, identity="e", locked=True)
    assert queries() == few


@pytest.fixture
def stocked(connector, settings, tmp_path):
    """The connector with 3 devices, 2 resources and a content item."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    for identity in ("a", "b", "c"):
        make_device(connector=connector, identity=identity)
    make_resource(connector=connector, alias="temp", format="float")
    make_resource(connector=connector, alias="mode")
    content_upload(connector=connector, content_id="app.bin", stream=io.BytesIO(b"firmware"))
    return connector


def test_the_delete_page_says_what_goes_and_asks_for_the_name(web, owner, stocked):
    html = page_text(web(owner).get(f"/connectors/{stocked.pk}/delete/"))
    assert "<strong>3</strong> devices" in html
    assert "<strong>2</strong> resources" in html
    assert "<strong>1</strong> content item " in html
    assert "Type the connector&#x27;s name to confirm" in html


@pytest.mark.parametrize("typed", ["", "Thermostat 2", "thermostat"])
def test_a_wrong_name_deletes_nothing(web, owner, stocked, typed):
    response = web(owner).post(f"/connectors/{stocked.pk}/delete/", {"name": typed})
    assert response.status_code == 400
    html = page_text(response)
    error_start = html.index('id="id_name_error"')
    expected = "This field is required." if not typed else "That is not this connector&#x27;s name"
    assert expected in html[error_start : error_start + 300]
    assert Connector.objects.filter(pk=stocked.pk).exists()
    assert Device.objects.filter(connector=stocked).count() == 3


def test_the_name_deletes_the_connector_with_everything(web, owner, stocked):
    client = web(owner)
    response = client.post(f"/connectors/{stocked.pk}/delete/", {"name": " Thermostat "})
    assert response.status_code == 302 and response["Location"] == "/connectors/"
    assert not Connector.objects.filter(pk=stocked.pk).exists()
    assert not Device.objects.filter(identity__in=["a", "b", "c"]).exists()
    assert not Resource.objects.filter(alias="temp").exists()
    assert "Connector “Thermostat” and its devices were deleted." in page_text(client.get("/connectors/"))


def test_a_developer_may_not_delete_even_with_the_name(web, developer, stocked):
    response = web(developer).post(f"/connectors/{stocked.pk}/delete/", {"name": "Thermostat"})
    assert response.status_code == 403
    assert Connector.objects.filter(pk=stocked.pk).exists()


def test_the_new_resource_dialog_posts_to_the_list(web, owner, connector):
    client = web(owner)
    url = f"/connectors/{connector.pk}/resources/"
    html = page_text(client.get(url))
    assert '<dialog id="new-resource"' in html and 'data-dialog-open="#new-resource"' in html
    assert "data-open-on-load" not in html
    response = client.post(url, {"alias": "temp", "format": "float", "unit": "°C", "sync": "on"})
    assert response.status_code == 302 and response["Location"] == url
    assert Resource.objects.get(connector=connector, alias="temp").unit == "°C"
    assert "Resource “temp” created." in page_text(client.get(url))


def test_a_refused_resource_opens_the_dialog_again_with_the_reason(web, owner, connector):
    url = f"/connectors/{connector.pk}/resources/"
    response = web(owner).post(url, {"alias": "level", "format": "integer", "allowed": "0-100\nlots"})
    assert response.status_code == 400
    html = page_text(response)
    assert '<dialog id="new-resource" aria-labelledby="new-resource-title" open data-open-on-load>' in html
    assert "&#x27;lots&#x27; is neither an integer nor a range" in html
    assert 'value="level"' in html
    assert not Resource.objects.filter(connector=connector).exists()


def test_viewers_get_no_dialog_and_may_not_post(web, viewer, connector):
    url = f"/connectors/{connector.pk}/resources/"
    assert "new-resource" not in page_text(web(viewer).get(url))
    assert web(viewer).post(url, {"alias": "temp", "format": "float"}).status_code == 403
    assert not Resource.objects.filter(connector=connector).exists()


def test_settings_mark_the_fields_each_toggle_shows(web, owner, business):
    safe = make_connector(business=business, name="Production model")
    html = page_text(web(owner).get(f"/connectors/{safe.pk}/settings/"))
    shown_by = {
        "presenter_identity": "provisioning_enabled",
        "ip_whitelist": "ip_whitelisting_enabled",
        "pki_ca_certificate": "pki_enabled",
        "portal_subdomain": "claiming_enabled",
    }
    for field, toggle in shown_by.items():
        wrapper = html[: html.index(f'id="id_{field}"')].rsplit('<div class="settings-field', 1)[1]
        assert f'data-shown-by="id_{toggle}"' in wrapper, field
    # Not in developer mode: the warning is there for when the box gets ticked, once.
    assert html.count("Security:") == 1 and 'data-shown-by="id_devmode"' in html
    assert "js/settings.js" in html and "sticky-actions" in html
