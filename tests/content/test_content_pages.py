"""The Content tab and the firmware pages of the web UI (Django's test client)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from connectors.models import ContentItem
from firmware.models import Rollout
from tests.factories import make_device


def content_url(connector, *rest) -> str:
    return f"/connectors/{connector.pk}/content/" + "".join(f"{r}/" for r in rest)


def test_the_content_tab_lists_items_with_their_details(web, owner, connector, upload):
    upload("fw-1.bin", b"\x00" * 2048, description="First release")

    page = web(owner).get(content_url(connector))

    assert page.status_code == 200
    html = page.content.decode()
    assert "fw-1.bin" in html
    assert "First release" in html
    assert "2 KB" in html
    assert "+ New content" in html
    assert f"/api/v1/connectors/{connector.pk}/content/" in html  # the upload form's API target


def test_a_viewer_sees_the_items_without_upload_or_delete(web, viewer, connector, upload):
    upload("fw-1.bin", b"data")

    html = web(viewer).get(content_url(connector)).content.decode()

    assert "fw-1.bin" in html
    assert "+ New content" not in html
    assert "/delete/" not in html


def test_the_upload_form_works_without_javascript(web, owner, connector):
    response = web(owner, enforce_csrf=True).get(content_url(connector))
    token = response.cookies["csrftoken"].value
    client = web(owner, enforce_csrf=True)
    client.cookies["csrftoken"] = token

    response = client.post(
        content_url(connector, "upload"),
        {
            "csrfmiddlewaretoken": token,
            "file": SimpleUploadedFile("app.bin", b"firmware"),
            "id": "",
            "description": "Mine",
        },
    )

    assert response.status_code == 302
    item = ContentItem.objects.get()
    assert (item.content_id, item.size, item.description) == ("app.bin", 8, "Mine")


def test_the_upload_form_checks_csrf(web, owner, connector):
    response = web(owner, enforce_csrf=True).post(
        content_url(connector, "upload"), {"file": SimpleUploadedFile("a", b"x")}
    )

    assert response.status_code == 403
    assert not ContentItem.objects.exists()


def test_the_upload_form_shows_errors_next_to_the_fields(web, owner, connector, settings):
    settings.CONTENT_MAX_BYTES = 1_000
    client = web(owner)

    bad_id = client.post(
        content_url(connector, "upload"), {"file": SimpleUploadedFile("a b", b"x"), "id": "../x"}
    )
    too_big = client.post(content_url(connector, "upload"), {"file": SimpleUploadedFile("big", b"x" * 1_001)})

    assert bad_id.status_code == 400
    assert "starting with a letter" in bad_id.content.decode()
    assert too_big.status_code == 413
    assert "smaller than 1,001 bytes" in too_big.content.decode()
    assert not ContentItem.objects.exists()


def test_deleting_asks_first(web, owner, connector, upload):
    upload("old.bin", b"data")
    client = web(owner)

    confirm = client.get(content_url(connector, "old.bin", "delete"))
    deleted = client.post(content_url(connector, "old.bin", "delete"))

    assert confirm.status_code == 200
    assert "Delete content" in confirm.content.decode()
    assert deleted.status_code == 302
    assert not ContentItem.objects.exists()


def test_viewers_and_outsiders_cannot_change_content(web, viewer, outsider, connector, upload):
    upload("fw.bin", b"data")

    assert web(viewer).post(content_url(connector, "fw.bin", "delete")).status_code == 403
    assert (
        web(viewer)
        .post(content_url(connector, "upload"), {"file": SimpleUploadedFile("a", b"x")})
        .status_code
        == 403
    )
    assert web(outsider).get(content_url(connector)).status_code == 404
    assert web(outsider).post(content_url(connector, "fw.bin", "delete")).status_code == 404
    assert ContentItem.objects.count() == 1


# --- firmware pages ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_firmware_page_turns_updates_on_and_starts_a_rollout(web, owner, connector, upload):
    from tests.firmware.conftest import package_document

    client = web(owner)
    firmware_url = f"/connectors/{connector.pk}/firmware/"
    assert "Turn firmware updates on" in client.get(firmware_url).content.decode()
    client.post(firmware_url + "settings/", {"enabled": "1"})
    upload("fw-2.0.0.bin", b"image")
    upload("package_fw", package_document(), name="p.json")
    for identity in ("d-1", "d-2"):
        make_device(connector=connector, identity=identity)

    page = client.get(firmware_url).content.decode()
    started = client.post(firmware_url, {"package": "package_fw", "target": "devices", "devices": "d-1\nd-2",
                                         "wave_size": "1", "success_threshold": "100"})  # fmt: skip

    assert "Release 2.0.0" in page
    rollout = Rollout.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"{firmware_url}rollouts/{rollout.pk}/"
    detail = client.get(started["Location"]).content.decode()
    assert "SENT" in detail and "QUEUED" in detail
    paused = client.post(f"{firmware_url}rollouts/{rollout.pk}/state/", {"state": "paused"})
    assert paused.status_code == 302
    rollout.refresh_from_db()
    assert rollout.state == "paused"


@pytest.mark.django_db(transaction=True)
def test_the_firmware_form_shows_the_services_errors(web, owner, connector):
    client = web(owner)
    firmware_url = f"/connectors/{connector.pk}/firmware/"
    client.post(firmware_url + "settings/", {"enabled": "1"})

    response = client.post(firmware_url, {"message": "{nope", "target": "devices", "devices": "ghost"})
    missing = client.post(
        firmware_url,
        {
            "message": '{"version": "1", "name": "n", "type": "JSON", "payload": {}}',
            "target": "devices",
            "devices": "ghost",
        },
    )

    assert response.status_code == 400
    assert "Not valid JSON" in response.content.decode()
    assert missing.status_code == 400
    assert "no such devices in this connector: ghost" in missing.content.decode()
    assert not Rollout.objects.exists()


def test_a_viewer_cannot_start_updates_from_the_page(web, viewer, connector):
    response = web(viewer).post(
        f"/connectors/{connector.pk}/firmware/", {"target": "devices", "devices": "x"}
    )

    assert response.status_code == 403
