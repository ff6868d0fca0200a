"""Firmware notices: when a product manager uploads a newer firmware package, the owners of the
connector's devices (made by claiming through the portal API) get a notice on their portal and
an e-mail they can turn off. Packages are uploaded through the management API's content route,
with the upload's on-commit work run (the task runs eagerly in tests)."""

import json

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404

from claiming.models import EndUser
from claiming.services import end_user_update
from connectors.services import connector_update
from portal.branding import branding_default
from portal.models import Branding
from portal.notices import notice_dismiss, notices_for, version_key
from portal.tasks import firmware_notices_task
from tests.factories import make_connector, make_device


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded content lands in this test's own directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


def package_document(version: str, name: str = "", description: str | None = None) -> bytes:
    config = {"version": version, "name": name or f"Release {version}", "description": description,
              "type": "URL_LIST", "payload": [f"https://fw.example.com/{version}.bin"]}  # fmt: skip
    return json.dumps({"author": "Acme firmware team", "config_otau": config}).encode()


@pytest.fixture
def firmware_connector(claiming_connector):
    """The claiming connector (acme.portal.localhost) with firmware updates on."""
    connector_update(connector=claiming_connector, changes={"firmware_update_enabled": True})
    claiming_connector.refresh_from_db()
    return claiming_connector


@pytest.fixture
def upload_package(api, owner, django_capture_on_commit_callbacks):
    """``upload_package(connector, content_id, version, **config)``: the product manager uploads a
    package through the management API; what the upload queues on commit runs."""
    client = api(owner)

    def send(connector, content_id: str, version: str, **config):
        document = package_document(version, **config)
        body = {"id": content_id, "file": SimpleUploadedFile("package.json", document, "application/json")}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/connectors/{connector.pk}/content/", body, format="multipart")
        assert response.status_code in (200, 201), response.content
        return response

    return send


@pytest.fixture
def claimed(portal, coded_devices):
    """``claimed(connector, user, code, n)``: ``user`` claims ``n`` new devices through the portal API."""

    def claim(connector, user, code: str, n: int = 1):
        coded_devices(code, n)
        response = portal(connector, user).post("/api/claim", {"claim_code": code}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["claimed"]

    return claim


@pytest.fixture
def owners(firmware_connector, end_user, alice, bob, claimed):
    """Alice owns two devices, Bob one and turned firmware e-mails off, Carol none."""
    claimed(firmware_connector, alice, "BOX-A", 2)
    claimed(firmware_connector, bob, "BOX-B", 1)
    # The /account/ page's checkbox (the portal's pages) sets this; the notices only read it.
    EndUser.objects.filter(pk=bob.pk).update(firmware_emails=False)
    carol = end_user(firmware_connector, "carol@example.com", name="Carol")
    return {"alice": alice, "bob": bob, "carol": carol}


def versions(user) -> list[str]:
    return [notice.version for notice in notices_for(user)]


def test_owners_get_a_notice_and_an_email(firmware_connector, owners, upload_package):
    mail.outbox.clear()
    upload_package(firmware_connector, "package_fw_2", "2.0.0", description="Faster Wi-Fi reconnects.")

    [notice] = notices_for(owners["alice"])
    assert (notice.package_id, notice.version, notice.dismissed_at) == ("package_fw_2", "2.0.0", None)
    assert versions(owners["bob"]) == ["2.0.0"]  # the notice, without the e-mail
    assert versions(owners["carol"]) == []  # owns no device

    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert email.subject == "New firmware 2.0.0 for Product portal"  # the default branding's title
    assert "Release 2.0.0, version 2.0.0" in email.body
    assert "Faster Wi-Fi reconnects." in email.body
    assert "http://acme.portal.localhost" in email.body and "/devices/" in email.body
    assert "/account/" in email.body and "turn these e-mails off" in email.body.lower()
    [(html, mime)] = email.alternatives
    assert mime == "text/html"
    assert 'href="http://acme.portal.localhost' in html and "Turn these e-mails off" in html


def test_the_branding_title_names_the_product(firmware_connector, owners, upload_package):
    # As the Portal tab saves it (the branding API's own tests cover that route).
    document = {**branding_default(), "title": "Acme Thermo"}
    Branding.objects.create(connector=firmware_connector, document=document)
    mail.outbox.clear()
    upload_package(firmware_connector, "package_fw_2", "2.0.0")
    assert [email.subject for email in mail.outbox] == ["New firmware 2.0.0 for Acme Thermo"]


def test_users_of_another_connector_are_not_told(business, firmware_connector, owners, end_user, portal,
                                                 upload_package):  # fmt: skip
    other = make_connector(business=business, devmode=True, claiming_enabled=True, portal_subdomain="other",
                           firmware_update_enabled=True)  # fmt: skip
    dave = end_user(other, "dave@example.com")
    make_device(connector=other, identity="other-1", tags=[{"name": "claim_code", "value": "OTHER"}])
    assert portal(other, dave).post("/api/claim", {"claim_code": "OTHER"}, format="json").status_code == 200
    mail.outbox.clear()

    upload_package(firmware_connector, "package_fw_2", "2.0.0")

    assert versions(dave) == []
    assert [email.to for email in mail.outbox] == [["alice@example.com"]]


def test_an_older_version_uploaded_after_a_newer_one_tells_nobody(firmware_connector, owners, upload_package):
    upload_package(firmware_connector, "package_fw_9", "9.0.0")
    mail.outbox.clear()

    upload_package(firmware_connector, "package_fw_8", "8.5.1")
    upload_package(firmware_connector, "package_fw_9_again", "9.0")  # the same version, another id

    assert versions(owners["alice"]) == ["9.0.0"]
    assert mail.outbox == []

    upload_package(firmware_connector, "package_fw_10", "10.0.0")  # newer as a number, not as text
    assert versions(owners["alice"]) == ["10.0.0", "9.0.0"]
    assert [email.subject for email in mail.outbox] == ["New firmware 10.0.0 for Product portal"]


def test_versions_compare_numerically_where_they_can():
    assert version_key("1.10") > version_key("1.9")
    assert version_key("2.0") == version_key("2.0.0")
    assert version_key("2.0.0-rc1") > version_key("2.0.0")  # text parts: compared as text


def test_firmware_updates_off_tells_nobody(claiming_connector, alice, claimed, upload_package):
    claimed(claiming_connector, alice, "BOX-A", 1)
    mail.outbox.clear()

    upload_package(claiming_connector, "package_fw_2", "2.0.0")

    assert versions(alice) == []
    assert mail.outbox == []


def test_a_second_delivery_or_the_same_upload_again_sends_nothing(firmware_connector, owners, upload_package):
    mail.outbox.clear()
    upload_package(firmware_connector, "package_fw_2", "2.0.0")
    assert len(mail.outbox) == 1

    firmware_notices_task.apply(args=(firmware_connector.pk, "package_fw_2"))  # delivered again
    upload_package(firmware_connector, "package_fw_2", "2.0.0")  # the same document again

    assert len(mail.outbox) == 1
    assert versions(owners["alice"]) == ["2.0.0"]


def test_a_package_replaced_by_a_newer_version_is_news_again(firmware_connector, owners, upload_package):
    upload_package(firmware_connector, "package_fw_latest", "2.0.0")
    alice = owners["alice"]
    notice_dismiss(user=alice, notice_id=notices_for(alice)[0].pk)
    mail.outbox.clear()

    upload_package(firmware_connector, "package_fw_latest", "2.1.0")

    assert versions(alice) == ["2.1.0"]
    assert [email.subject for email in mail.outbox] == ["New firmware 2.1.0 for Product portal"]


def test_the_package_name_is_escaped_in_the_email(firmware_connector, owners, upload_package):
    mail.outbox.clear()
    upload_package(firmware_connector, "package_fw_2", "2.0.0", name="<script>alert(1)</script>",
                   description='<img src=x onerror="alert(2)">')  # fmt: skip

    [email] = mail.outbox
    [(html, _)] = email.alternatives
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    assert "<script>alert(1)</script>" in email.body  # plain text shows what was written


def test_dismissing_hides_the_notice_and_another_users_is_not_found(firmware_connector, owners,
                                                                   upload_package):  # fmt: skip
    upload_package(firmware_connector, "package_fw_2", "2.0.0")
    alice, bob = owners["alice"], owners["bob"]
    [notice] = notices_for(alice)

    with pytest.raises(Http404):
        notice_dismiss(user=bob, notice_id=notice.pk)
    assert notices_for(alice) == [notice]

    notice_dismiss(user=alice, notice_id=notice.pk)
    assert notices_for(alice) == []
    notice_dismiss(user=alice, notice_id=notice.pk)  # twice: still fine
    with pytest.raises(Http404):
        notice_dismiss(user=alice, notice_id=notice.pk + 1000)


def test_blocked_or_unverified_owners_get_the_notice_without_an_email(firmware_connector, owners,
                                                                     upload_package):  # fmt: skip
    end_user_update(user=owners["alice"], blocked=True)
    end_user_update(user=owners["carol"], verified=False)
    # Carol (unverified now) owns a device the product manager tagged by hand.
    make_device(connector=firmware_connector, identity="hand-1",
                tags=[{"name": "users", "value": str(owners["carol"].pk)}])  # fmt: skip
    mail.outbox.clear()

    upload_package(firmware_connector, "package_fw_2", "2.0.0")

    assert versions(owners["alice"]) == ["2.0.0"] and versions(owners["carol"]) == ["2.0.0"]
    assert mail.outbox == []


def test_content_that_is_not_a_valid_package_tells_nobody(firmware_connector, owners, api, owner,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    mail.outbox.clear()
    url = f"/api/v1/connectors/{firmware_connector.pk}/content/"
    with django_capture_on_commit_callbacks(execute=True):
        image = SimpleUploadedFile("fw.bin", b"\x00" * 64, "application/octet-stream")
        stored = api(owner).post(url, {"id": "fw-3.0.0.bin", "file": image}, format="multipart")
        no_name = b'{"config_otau": {"version": "3.0.0"}}'
        broken = SimpleUploadedFile("package.json", no_name, "application/json")
        refused = api(owner).post(url, {"id": "package_fw_3", "file": broken}, format="multipart")
    assert (stored.status_code, refused.status_code) == (201, 400)
    assert versions(owners["alice"]) == []
    assert mail.outbox == []
