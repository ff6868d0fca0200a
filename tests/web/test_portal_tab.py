"""The Portal tab of a claiming connector: the portal's link and QR code, the branding form
(saved, errors on their fields, reset), its live preview (the portal's landing page with the
unsaved branding, framed by the tab only), the images, branding.json download and upload, the
welcome e-mail's editor, preview and test, the managed apps, and what a viewer may do."""

import io
import json

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from connectors.services import connector_update
from portal.branding import branding_default, branding_of
from portal.services import email_template_of
from tests.web.conftest import page_text


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def tab(connector) -> str:
    return f"/connectors/{connector.pk}/portal/"


def form_fields(**changes) -> dict:
    """The branding form's fields for the default branding, with ``changes``."""
    d = branding_default()
    fields = {
        "title": d["title"], "description": d["description"], "companyName": d["companyName"],
        "themeType": d["themeType"], "mainSlogan": d["landingPage"]["mainSlogan"],
        "secondarySlogan": d["landingPage"]["secondarySlogan"], "deviceName": d["landingPage"]["deviceName"],
        "deviceSpecs": "\n".join(d["landingPage"]["deviceSpecs"]),
        **{f"theme_{k}": v for k, v in d["theme"].items()},
        **{f"links_{k}": v for k, v in d["links"].items()},
    }  # fmt: skip
    return {**fields, **changes}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (6, 6), (0, 200, 0)).save(out, format="PNG")
    return out.getvalue()


def test_the_tab_shows_the_portal_link_qr_code_and_every_part(web, owner, claiming_connector):
    connector_update(
        connector=claiming_connector,
        changes={"managed_apps": [{"id": "ext_1", "name": "Energy", "url": "https://energy.example"}]},
    )
    response = web(owner).get(tab(claiming_connector))

    html = page_text(response)
    assert response.status_code == 200
    assert 'aria-current="page">Portal</a>' in html
    assert "http://acme.portal.localhost" in html
    assert f"#/?claim=&amp;product={claim_id(claiming_connector)}" in html
    for part in ("Branding", "Images", "Welcome e-mail", "Managed applications", "Send me a test"):
        assert part in html
    assert "Energy" in html and "ext_1" in html
    qr = web(owner).get(tab(claiming_connector) + "qr.svg")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.content


def claim_id(connector) -> str:
    return connector.pk


def test_the_tab_is_shown_only_with_claiming_on(web, owner, connector, claiming_connector):
    assert "Portal</a>" not in page_text(web(owner).get(f"/connectors/{connector.pk}/settings/"))
    assert "Portal</a>" in page_text(web(owner).get(f"/connectors/{claiming_connector.pk}/settings/"))


def test_saving_the_branding_form(web, owner, claiming_connector):
    fields = form_fields(title="Thermo", theme_primary="#ff0000", themeType="light", deviceSpecs="A\n\nB\n")
    client = web(owner)
    response = client.post(tab(claiming_connector) + "branding/", fields)

    assert response.status_code == 302
    saved = branding_of(claiming_connector)
    assert saved["title"] == "Thermo" and saved["theme"]["primary"] == "#FF0000"
    assert saved["themeType"] == "light"
    assert saved["landingPage"]["deviceSpecs"] == ["A", "B"]
    assert "Branding saved." in page_text(client.get(response["Location"]))


def test_the_services_errors_show_on_their_fields_and_nothing_is_saved(web, owner, claiming_connector):
    fields = form_fields(theme_accent="orange", links_terms="javascript:alert(1)", title="x" * 201,
                         deviceSpecs="ok\n" + "y" * 201)  # fmt: skip
    response = web(owner).post(tab(claiming_connector) + "branding/", fields)

    html = page_text(response)
    assert response.status_code == 400
    assert "must be a colour #rrggbb" in html
    assert "must be an http:// or https:// address" in html
    assert "at most 200 characters" in html
    assert "line 2: at most 200 characters" in html
    assert 'value="javascript:alert(1)"' in html  # shown again to be corrected, as text
    assert branding_of(claiming_connector) == branding_default()


def test_reset_restores_the_defaults(web, owner, claiming_connector):
    client = web(owner)
    client.post(tab(claiming_connector) + "branding/", form_fields(title="Changed"))
    assert client.post(tab(claiming_connector) + "branding/reset/").status_code == 302
    assert branding_of(claiming_connector) == branding_default()


def test_the_preview_shows_unsaved_branding_in_a_frame_of_the_tab_only(web, owner, claiming_connector):
    fields = form_fields(
        title="<script>alert(1)</script>Unsaved", mainSlogan="Hot and cold", theme_primary="#00ff00"
    )
    response = web(owner).get(tab(claiming_connector) + "preview/", fields)

    html = page_text(response)
    assert response.status_code == 200
    assert "Hot and cold" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Unsaved" in html
    assert "<script>alert(1)" not in html
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert branding_of(claiming_connector) == branding_default()  # nothing saved
    theme = web(owner).get(tab(claiming_connector) + "preview/theme.css", {"theme_primary": "#00FF00"})
    assert "--brand-primary: #00FF00;" in theme.content.decode()
    # The tab itself is never framed.
    assert "frame-ancestors 'none'" in web(owner).get(tab(claiming_connector))["Content-Security-Policy"]


def test_the_preview_of_bad_input_shows_the_saved_branding(web, owner, claiming_connector):
    client = web(owner)
    client.post(tab(claiming_connector) + "branding/", form_fields(mainSlogan="Saved slogan"))
    html = page_text(client.get(tab(claiming_connector) + "preview/", form_fields(theme_primary="nope")))
    assert "Saved slogan" in html
    css = client.get(tab(claiming_connector) + "preview/theme.css", {"theme_primary": "red;}body{"}).content
    assert b"red" not in css and b"--brand-primary: #2C9DB6;" in css


def test_images_upload_restore_and_refusal(web, owner, claiming_connector):
    client = web(owner)
    upload = SimpleUploadedFile("logo.png", png(), content_type="image/png")
    response = client.post(tab(claiming_connector) + "images/brandlogo.png/", {"file": upload})
    assert response.status_code == 302
    served = client.get(f"/api/v1/connectors/{claiming_connector.pk}/portal/assets/brandlogo.png")
    assert served.content == png()

    html_file = SimpleUploadedFile("evil.png", b"<html><script>alert(1)</script>", content_type="image/png")
    refused = client.post(tab(claiming_connector) + "images/device.png/", {"file": html_file})
    assert refused.status_code == 400
    assert "not a PNG image" in page_text(refused)

    assert client.post(tab(claiming_connector) + "images/brandlogo.png/restore/").status_code == 302
    assert (
        client.get(f"/api/v1/connectors/{claiming_connector.pk}/portal/assets/brandlogo.png").content != png()
    )
    assert client.post(tab(claiming_connector) + "images/other.png/", {}).status_code == 404


def test_branding_json_download_and_upload(web, owner, claiming_connector):
    client = web(owner)
    client.post(tab(claiming_connector) + "branding/", form_fields(title="Round trip"))
    download = client.get(tab(claiming_connector) + "branding.json")
    assert download["Content-Disposition"] == 'attachment; filename="branding.json"'
    document = json.loads(download.content)
    assert document["title"] == "Round trip"

    document["title"] = "Uploaded"
    upload = SimpleUploadedFile(
        "branding.json", json.dumps(document).encode(), content_type="application/json"
    )
    assert client.post(tab(claiming_connector) + "branding/upload/", {"file": upload}).status_code == 302
    assert branding_of(claiming_connector)["title"] == "Uploaded"

    bad = SimpleUploadedFile(
        "branding.json", b'{"theme": {"primary": "blue"}}', content_type="application/json"
    )
    response = client.post(tab(claiming_connector) + "branding/upload/", {"file": bad})
    assert response.status_code == 400
    assert "theme.primary: must be a colour #rrggbb" in page_text(response)
    not_json = SimpleUploadedFile("branding.json", b"title: x", content_type="text/plain")
    response = client.post(tab(claiming_connector) + "branding/upload/", {"file": not_json})
    assert response.status_code == 400 and "not JSON" in page_text(response)
    assert branding_of(claiming_connector)["title"] == "Uploaded"


def test_the_email_editor_preview_and_test_send(web, owner, claiming_connector):
    client = web(owner)
    template = {"subject": "Hi <%NAME%>", "html": "<p>Welcome to <%TITLE%>: <a href='<%LINK%>'>go</a></p>"}
    assert client.post(tab(claiming_connector) + "email/", template).status_code == 302
    assert email_template_of(claiming_connector).subject == "Hi <%NAME%>"

    preview = client.get(tab(claiming_connector) + "email/preview/")
    assert preview.status_code == 200
    assert "Welcome to Product portal" in page_text(preview)
    assert "sandbox" in preview["Content-Security-Policy"]
    assert preview["X-Frame-Options"] == "SAMEORIGIN"

    response = client.post(tab(claiming_connector) + "email/test/")
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == [owner.email] and message.subject == "[Test] Hi Jane Doe"
    assert f"Sent to {owner.email}." in page_text(client.get(response["Location"]))

    refused = client.post(tab(claiming_connector) + "email/", {"subject": "", "html": "no link"})
    assert refused.status_code == 400
    assert "cannot render: the subject is empty" in page_text(refused)
    assert "cannot render: the e-mail needs the link" in page_text(refused)
    assert email_template_of(claiming_connector).subject == "Hi <%NAME%>"

    assert client.post(tab(claiming_connector) + "email/reset/").status_code == 302
    assert email_template_of(claiming_connector).subject == "Welcome to <%TITLE%>"


def test_a_viewer_sees_everything_read_only(web, viewer, claiming_connector):
    client = web(viewer)
    html = page_text(client.get(tab(claiming_connector)))
    assert "Branding" in html and "Welcome e-mail" in html
    assert "Save branding" not in html and "Send me a test" not in html and "Upload brandlogo.png" not in html
    assert "<fieldset disabled>" in html
    assert client.post(tab(claiming_connector) + "branding/", form_fields(title="No")).status_code == 403
    assert client.post(tab(claiming_connector) + "email/test/").status_code == 403
    assert branding_of(claiming_connector) == branding_default()
    assert mail.outbox == []


def test_another_business_gets_not_found(web, outsider, claiming_connector):
    client = web(outsider)
    assert client.get(tab(claiming_connector)).status_code == 404
    assert client.get(tab(claiming_connector) + "preview/").status_code == 404
    assert client.post(tab(claiming_connector) + "branding/", form_fields(title="Mine")).status_code == 404
