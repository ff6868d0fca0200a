"""Device-side claiming through the real device API (``pdaas_*`` writes), the default claim
code of devices added to a claiming connector, and the resources claiming defines."""

import re

import httpx
import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from claiming.models import EndUser, LinkPurpose
from claiming.services import link_use
from connectors.models import Resource
from devices.events import events_recent
from devices.models import Device
from tests.claiming.conftest import PORTAL_PASSWORD, tags_of
from tests.conftest import device_host
from tests.factories import make_connector, make_device

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def device_api(claiming_connector):
    """``device_api(connector=claiming_connector)`` → an HTTP client of the device API."""
    from murano.wsgi import application

    clients = []

    def make(connector=claiming_connector) -> httpx.Client:
        transport = httpx.WSGITransport(app=application, remote_addr="203.0.113.9")
        client = httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}")
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def activated(device_api, identity: str) -> dict:
    response = device_api().post("/provision/activate", content=f"id={identity}")
    assert response.status_code == 200, response.text
    return {"X-Exosite-CIK": response.text}


def write(device_api, headers, body: str) -> None:
    response = device_api().post("/onep:v1/stack/alias", content=body, headers=headers)
    assert response.status_code == 204, response.text


def events_of(connector, type: str) -> list[dict]:
    return [e for e in events_recent(connector.pk) if e["type"] == type]


# --- turning claiming on ------------------------------------------------------------------------


def test_enabling_claiming_defines_the_pdaas_resources(api, owner, business):
    connector = make_connector(business=business, name="Plain")
    assert not Resource.objects.filter(connector=connector, alias__startswith="pdaas_").exists()
    response = api(owner).patch(
        f"/api/v1/connectors/{connector.pk}/", {"claiming": {"enabled": True}}, format="json"
    )
    assert response.status_code == 200, response.content
    resources = {
        r.alias: r.format for r in Resource.objects.filter(connector=connector, alias__startswith="pdaas_")
    }
    assert resources == {"pdaas_claim_code": "string", "pdaas_user_email": "string", "pdaas_reset": "boolean"}


# --- default claim codes ------------------------------------------------------------------------


def test_a_whitelisted_device_gets_its_identity_as_claim_code(claiming_connector):
    device = make_device(connector=claiming_connector, identity="thermo-1")
    given = make_device(
        connector=claiming_connector, identity="thermo-2", tags=[{"name": "claim_code", "value": "X"}]
    )
    assert tags_of(device, "claim_code") == ["thermo-1"]
    assert tags_of(given, "claim_code") == ["X"]


def test_no_claim_code_without_claiming(connector):
    assert tags_of(make_device(connector=connector, identity="plain-1"), "claim_code") == []


def test_imported_devices_get_a_default_claim_code(api, owner, claiming_connector, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    content = (
        b'ID,TLS Client Certificate,Tags\nimp-1,,\nimp-2,,"[{""name"": ""claim_code"", ""value"": ""K""}]"\n'
    )
    upload = SimpleUploadedFile("ids.csv", content, content_type="text/csv")
    url = f"/api/v1/connectors/{claiming_connector.pk}/devices/import/"
    response = api(owner).post(url, {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    assert tags_of(Device.objects.get(identity="imp-1"), "claim_code") == ["imp-1"]
    assert tags_of(Device.objects.get(identity="imp-2"), "claim_code") == ["K"]


def test_a_presented_identity_gets_a_claim_code_on_first_provisioning(device_api, claiming_connector):
    from connectors.services import connector_settings_change

    connector_settings_change(connector=claiming_connector, changes={"presenter_identity": True})
    activated(device_api, "presented-1")
    assert tags_of(Device.objects.get(identity="presented-1"), "claim_code") == ["presented-1"]


def test_provisioning_a_whitelisted_device_adds_no_code(device_api, claiming_connector):
    device = make_device(connector=claiming_connector, identity="listed-1")
    device.tags.filter(name="claim_code").update(value="CHOSEN")
    activated(device_api, "listed-1")
    assert tags_of(device, "claim_code") == ["CHOSEN"]


# --- pdaas_* writes -------------------------------------------------------------------------


@pytest.fixture
def talking(device_api, claiming_connector):
    make_device(connector=claiming_connector, identity="talker-1")
    return Device.objects.get(identity="talker-1"), activated(device_api, "talker-1")


def test_pdaas_claim_code_replaces_the_codes(device_api, talking, claiming_connector):
    device, headers = talking
    write(device_api, headers, "pdaas_claim_code=SHOWN-ON-SCREEN")
    assert tags_of(device, "claim_code") == ["SHOWN-ON-SCREEN"]
    assert events_of(claiming_connector, "claim_code_set")[-1]["identity"] == "talker-1"


def test_pdaas_user_email_makes_a_new_owner_with_a_welcome_email(
    device_api, talking, claiming_connector, portal
):
    device, headers = talking
    write(device_api, headers, "pdaas_user_email=Dana%40Example.com")
    dana = EndUser.objects.get(connector=claiming_connector, email__iexact="dana@example.com")
    assert not dana.verified
    assert tags_of(device, "users") == [str(dana.pk)]
    [message] = mail.outbox
    assert message.to == [dana.email]
    key = re.search(r"/verify/([^/]+)/", message.body).group(1)
    assert "acme.portal.localhost" in message.body
    # The link confirms the address and sets a password: then Dana logs in and sees the device.
    assert link_use(
        connector=claiming_connector, key=key, purpose=LinkPurpose.VERIFY, password=PORTAL_PASSWORD
    )
    assert link_use(connector=claiming_connector, key=key, purpose=LinkPurpose.VERIFY) is None  # once
    client = portal(claiming_connector, dana)
    assert [d["identity"] for d in client.get("/api/devices").json()] == ["talker-1"]
    event = events_of(claiming_connector, "owner_set")[-1]
    assert event["payload"]["email"] == dana.email and event["payload"]["created"] is True


def test_pdaas_user_email_changes_nothing_when_the_device_has_an_owner(
    device_api, talking, claiming_connector, alice
):
    device, headers = talking
    write(device_api, headers, f"pdaas_user_email={alice.email}")
    write(device_api, headers, "pdaas_user_email=mallory%40example.com")
    assert tags_of(device, "users") == [str(alice.pk)]
    assert not EndUser.objects.filter(email="mallory@example.com").exists()
    refused = events_of(claiming_connector, "owner_refused")[-1]
    assert refused["payload"]["reason"] == "the device already has an owner"


def test_pdaas_reset_removes_owners_and_apps_and_keeps_codes(device_api, talking, claiming_connector, alice):
    device, headers = talking
    write(device_api, headers, f"pdaas_user_email={alice.email}")
    device.tags.create(
        connector_id=device.connector_id, identity=device.identity, name="apps", value="energy"
    )
    write(device_api, headers, "pdaas_reset=false")
    assert tags_of(device, "users") == [str(alice.pk)]
    write(device_api, headers, "pdaas_reset=true")
    assert tags_of(device, "users") == [] and tags_of(device, "apps") == []
    assert tags_of(device, "claim_code") == ["talker-1"]
    assert events_of(claiming_connector, "device_reset")[-1]["identity"] == "talker-1"
