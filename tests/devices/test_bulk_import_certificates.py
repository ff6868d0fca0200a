"""The CSV's ``TLS Client Certificate`` column on existing devices follows the rules of pinning a
certificate on one device (``PATCH .../devices/<id>/`` with ``auth.type = certificate``): a
device provisioned with a token or a password is refused on its line with the API's own message,
a whitelisted device gets the new pin, and a revoked one is whitelisted again for it.

Every import goes through ``POST /api/v1/connectors/<id>/devices/import/`` and its job (run
eagerly once the upload commits); what the tests compare is what ``GET`` on the job and on the
devices answers.
"""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from devices.models import Device, DeviceTag
from tests.factories import make_device
from tests.pki.certs import make_leaf

TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def client(api, owner):
    return api(owner)


@pytest.fixture
def import_job(client, django_capture_on_commit_callbacks):
    """``import_job(connector, rows)`` → the finished job, as ``GET /api/v1/jobs/<id>/`` shows it."""

    def run(connector, rows: list[str]) -> dict:
        content = ("ID,TLS Client Certificate,Tags\n" + "\n".join(rows) + "\n").encode()
        upload = SimpleUploadedFile("identities.csv", content, content_type="text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/connectors/{connector.pk}/devices/import/", {"file": upload}, format="multipart"
            )
        assert response.status_code == 202, response.content
        job = client.get(f"/api/v1/jobs/{response.json()['id']}/")
        assert job.status_code == 200, job.content
        return job.json()

    return run


def device_url(connector, identity: str) -> str:
    return f"/api/v1/connectors/{connector.pk}/devices/{identity}/"


def cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def seen(client, connector, identity: str) -> dict:
    """What the API shows of a device's credentials and lifecycle."""
    body = client.get(device_url(connector, identity)).json()
    return {name: body[name] for name in ("status", "auth", "reprovision")}


def pin_through_the_api(client, connector, identity: str, pem: str):
    return client.patch(
        device_url(connector, identity), {"auth": {"type": "certificate", "key": pem}}, format="json"
    )


def test_a_certificate_for_a_token_provisioned_device_is_refused_on_its_line_as_the_api_refuses_it(
    client, import_job, connector
):
    make_device(connector=connector, identity="tok-api", auth_type="token", key=TOKEN)
    make_device(connector=connector, identity="tok-csv", auth_type="token", key=TOKEN[::-1])
    make_device(connector=connector, identity="plain-1", tags=[{"name": "group", "value": "g1"}])
    refused_by_api = pin_through_the_api(client, connector, "tok-api", make_leaf("tok-api").pem)
    assert refused_by_api.status_code == 400
    message = refused_by_api.json()["auth"][0]
    assert message == "the device is provisioned with a token: revoke its credentials first"
    pinned = make_leaf("plain-1")

    job = import_job(
        connector,
        [
            f'tok-csv,{cell(make_leaf("tok-csv").pem)},"[{{""name"": ""group"", ""value"": ""g2""}}]"',
            f'plain-1,{cell(pinned.pem)},"[{{""name"": ""group"", ""value"": ""g2""}}]"',
            "new-1,,",
        ],
    )

    assert job["state"] == "finished"
    assert job["errors"] == [{"line": 2, "identity": "tok-csv", "reason": message}]
    counts = {name: job[name] for name in ("total", "done", "created", "updated", "unchanged", "error_count")}
    assert counts == {"total": 3, "done": 3, "created": 1, "updated": 1, "unchanged": 0, "error_count": 1}
    # The refused row changed nothing, its tags included; the device still works with its token.
    assert seen(client, connector, "tok-csv") == seen(client, connector, "tok-api")
    assert seen(client, connector, "tok-csv") == {
        "status": "provisioned", "auth": {"type": "token"}, "reprovision": False,
    }  # fmt: skip
    refused = Device.objects.get(connector=connector, identity="tok-csv")
    assert (refused.certificate_fingerprint, refused.token_hash is not None) == ("", True)
    assert not DeviceTag.objects.filter(device=refused).exists()
    # The rest of the file was imported.
    assert Device.objects.get(connector=connector, identity="plain-1").certificate_fingerprint == (
        pinned.fingerprint
    )
    assert client.get(device_url(connector, "plain-1")).json()["tags"] == [{"name": "group", "value": "g2"}]
    assert Device.objects.filter(connector=connector, identity="new-1").exists()


def test_a_whitelisted_devices_certificate_is_replaced_as_a_patch_replaces_it(client, import_job, connector):
    # Whitelisted with a remembered auth type (token), then with a pinned certificate: pinning
    # through the CSV leaves them as pinning through the API does.
    make_device(connector=connector, identity="wl-api", auth_type="token")
    make_device(connector=connector, identity="wl-csv", auth_type="token")
    for identity in ("pem-api", "pem-csv"):
        make_device(
            connector=connector, identity=identity, auth_type="certificate", key=make_leaf(identity).pem
        )
    new = {identity: make_leaf(identity) for identity in ("wl-api", "wl-csv", "pem-api", "pem-csv")}
    for identity in ("wl-api", "pem-api"):
        assert pin_through_the_api(client, connector, identity, new[identity].pem).status_code == 200

    job = import_job(
        connector, [f"{identity},{cell(new[identity].pem)}," for identity in ("wl-csv", "pem-csv")]
    )

    assert (job["state"], job["updated"], job["errors"]) == ("finished", 2, [])
    for kind in ("wl", "pem"):
        assert seen(client, connector, f"{kind}-csv") == seen(client, connector, f"{kind}-api")
        assert seen(client, connector, f"{kind}-csv") == {
            "status": "whitelisted", "auth": {"type": "certificate"}, "reprovision": False,
        }  # fmt: skip
        device = Device.objects.get(connector=connector, identity=f"{kind}-csv")
        assert (device.certificate, device.certificate_fingerprint) == (
            new[f"{kind}-csv"].pem,
            new[f"{kind}-csv"].fingerprint,
        )


def test_a_certificate_for_a_revoked_device_whitelists_it_again_within_the_activation_window(
    client, import_job, connector
):
    for identity, token in (("rev-api", TOKEN), ("rev-csv", TOKEN[::-1])):
        make_device(connector=connector, identity=identity, auth_type="token", key=token)
        revoked = client.patch(device_url(connector, identity), {"auth": {"expire": 0}}, format="json")
        assert revoked.json()["status"] == "reprovision"
    new = make_leaf("rev-csv")
    assert pin_through_the_api(client, connector, "rev-api", make_leaf("rev-api").pem).status_code == 200
    before = timezone.now()

    job = import_job(connector, [f"rev-csv,{cell(new.pem)},"])

    assert (job["state"], job["updated"], job["errors"]) == ("finished", 1, [])
    assert seen(client, connector, "rev-csv") == seen(client, connector, "rev-api")
    assert seen(client, connector, "rev-csv") == {
        "status": "whitelisted", "auth": {"type": "certificate"}, "reprovision": False,
    }  # fmt: skip
    device = Device.objects.get(connector=connector, identity="rev-csv")
    window = timedelta(hours=connector.activation_window_hours)
    assert before + window - timedelta(minutes=1) <= device.activation_deadline <= timezone.now() + window
    assert device.certificate_fingerprint == new.fingerprint


def test_a_new_device_whitelisted_with_a_certificate_shows_the_certificate_auth_type(
    client, import_job, connector
):
    certificate = make_leaf("fresh-csv")
    assert (
        client.post(
            f"/api/v1/connectors/{connector.pk}/devices/",
            {"identity": "fresh-api", "auth": {"type": "certificate", "key": make_leaf("fresh-api").pem}},
            format="json",
        ).status_code
        == 201
    )

    job = import_job(connector, [f"fresh-csv,{cell(certificate.pem)},", "bare-csv,,"])

    assert (job["created"], job["errors"]) == (2, [])
    assert seen(client, connector, "fresh-csv") == seen(client, connector, "fresh-api")
    assert seen(client, connector, "bare-csv")["auth"] == {"type": None}


def test_the_same_certificate_again_changes_nothing_and_refuses_nothing(client, import_job, connector):
    # A re-import of the factory file is idempotent, whatever became of the devices since.
    certificate = make_leaf("again-1")
    import_job(connector, [f"again-1,{cell(certificate.pem)},"])
    assert (
        client.patch(device_url(connector, "again-1"), {"auth": {"expire": 0}}, format="json").status_code
        == 200
    )

    job = import_job(connector, [f"again-1,{cell(certificate.pem)},"])

    assert (job["updated"], job["unchanged"], job["errors"]) == (0, 1, [])
    assert seen(client, connector, "again-1")["status"] == "reprovision"
