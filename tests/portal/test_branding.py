"""The portal's branding through the management API: ``branding.json`` (defaults for what is
missing, every field's bad input refused under its path, nothing changed), the three images
(checked by content, at most 1 MB, served back byte for byte, the default again on DELETE),
who may do what, and the stored files of a deleted connector."""

import io

import pytest
from PIL import Image

from connectors.services import connector_delete
from portal.branding import branding_default
from tests.factories import make_connector
from tests.portal_fixtures import portal_host


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded images land in this test's own directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def png(size=(8, 8), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def ico() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 120, 200, 255)).save(out, format="ICO", sizes=[(16, 16), (32, 32)])
    return out.getvalue()


def url(connector, rest: str) -> str:
    return f"/api/v1/connectors/{connector.pk}/portal/{rest}"


def put_image(client, connector, name: str, data: bytes, content_type="image/png"):
    return client.put(url(connector, f"assets/{name}"), data, content_type=content_type)


def stored_files(media_root) -> list[str]:
    root = media_root / "portal"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- branding.json --------------------------------------------------------------------------------


def test_a_connector_that_never_saved_one_has_the_defaults(api, owner, claiming_connector):
    response = api(owner).get(url(claiming_connector, "branding/"))
    assert response.status_code == 200
    assert response.json() == branding_default()


def test_put_stores_the_document_and_missing_fields_take_the_defaults(api, owner, claiming_connector):
    client = api(owner)
    document = {
        "title": "Thermo portal",
        "theme": {"primary": "#aa00ff"},
        "themeType": "light",
        "links": {"terms": "https://acme.example/terms"},
        "landingPage": {"deviceSpecs": ["Wi-Fi", "10 year battery"]},
    }

    response = client.put(url(claiming_connector, "branding/"), document, format="json")

    assert response.status_code == 200
    expected = branding_default()
    expected["title"] = "Thermo portal"
    expected["theme"]["primary"] = "#AA00FF"  # colours are stored in upper case
    expected["themeType"] = "light"
    expected["links"]["terms"] = "https://acme.example/terms"
    expected["landingPage"]["deviceSpecs"] = ["Wi-Fi", "10 year battery"]
    assert response.json() == expected
    assert client.get(url(claiming_connector, "branding/")).json() == expected


BAD_FIELDS = [
    ({"title": "x" * 201}, "title", "at most 200"),
    ({"title": 5}, "title", "string"),
    ({"description": "x" * 1001}, "description", "at most 1000"),
    ({"companyName": None}, "companyName", "string"),
    ({"companyName": "a\x00b"}, "companyName", "NUL"),
    ({"theme": "blue"}, "theme", "object"),
    ({"theme": {"primary": "red"}}, "theme.primary", "#rrggbb"),
    ({"theme": {"secondary": "#12345"}}, "theme.secondary", "#rrggbb"),
    ({"theme": {"accent": "#12345g"}}, "theme.accent", "#rrggbb"),
    ({"theme": {"error": "#1234567"}}, "theme.error", "#rrggbb"),
    ({"theme": {"success": "#fff;}body{x"}}, "theme.success", "#rrggbb"),
    ({"theme": {"tertiary": "#123456"}}, "theme.tertiary", "unknown field"),
    ({"themeType": "blue"}, "themeType", "dark"),
    ({"links": {"info": "javascript:alert(1)"}}, "links.info", "http"),
    ({"links": {"terms": "ftp://acme.example/"}}, "links.terms", "http"),
    ({"links": {"contactUs": "mailto:x@example.com"}}, "links.contactUs", "http"),
    ({"links": {"help": "//evil.example"}}, "links.help", "http"),
    ({"links": {"helpDevice": "https://a.example/\nx"}}, "links.helpDevice", "http"),
    ({"links": {"helpApp": "https://" + "a" * 2000}}, "links.helpApp", "at most 2000"),
    ({"links": {"blog": "https://a.example"}}, "links.blog", "unknown field"),
    ({"landingPage": {"mainSlogan": "x" * 201}}, "landingPage.mainSlogan", "at most 200"),
    ({"landingPage": {"secondarySlogan": "x" * 501}}, "landingPage.secondarySlogan", "at most 500"),
    ({"landingPage": {"deviceName": ["x"]}}, "landingPage.deviceName", "string"),
    ({"landingPage": {"deviceSpecs": "one"}}, "landingPage.deviceSpecs", "list"),
    ({"landingPage": {"deviceSpecs": ["x"] * 21}}, "landingPage.deviceSpecs", "at most 20"),
    ({"landingPage": {"deviceSpecs": ["ok", "x" * 201]}}, "landingPage.deviceSpecs.1", "at most 200"),
    ({"landingPage": {"deviceSpecs": ["ok", 3]}}, "landingPage.deviceSpecs.1", "string"),
    ({"landingPage": {"video": "x"}}, "landingPage.video", "unknown field"),
    ({"logo": "x"}, "logo", "unknown field"),
]


@pytest.mark.parametrize("document, path, message", BAD_FIELDS, ids=[case[1] for case in BAD_FIELDS])
def test_bad_input_is_refused_under_its_path_and_changes_nothing(
    api, owner, claiming_connector, document, path, message
):
    client = api(owner)
    saved = client.put(url(claiming_connector, "branding/"), {"title": "Saved"}, format="json").json()

    response = client.put(url(claiming_connector, "branding/"), {"title": "New", **document}, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert message in " ".join(errors[path])
    assert client.get(url(claiming_connector, "branding/")).json() == saved


@pytest.mark.parametrize("body", [[], "text", 5])
def test_a_document_that_is_not_an_object_is_refused(api, owner, claiming_connector, body):
    response = api(owner).put(url(claiming_connector, "branding/"), body, format="json")
    assert response.status_code == 400
    assert "JSON object" in str(response.json())


def test_delete_restores_the_defaults(api, owner, claiming_connector):
    client = api(owner)
    client.put(url(claiming_connector, "branding/"), {"title": "Gone soon"}, format="json")

    assert client.delete(url(claiming_connector, "branding/")).status_code == 204
    assert client.get(url(claiming_connector, "branding/")).json() == branding_default()


def test_text_with_markup_is_kept_as_data(api, owner, claiming_connector):
    script = "<script>alert(1)</script>"
    document = {"title": script, "landingPage": {"deviceSpecs": [script]}}
    response = api(owner).put(url(claiming_connector, "branding/"), document, format="json")
    assert response.json()["title"] == script
    assert response.json()["landingPage"]["deviceSpecs"] == [script]


# --- images ---------------------------------------------------------------------------------------


def test_a_real_png_is_accepted_and_served_back_byte_for_byte(api, owner, claiming_connector, media_root):
    client = api(owner)
    data = png()

    assert put_image(client, claiming_connector, "brandlogo.png", data).status_code == 204

    served = client.get(url(claiming_connector, "assets/brandlogo.png"))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served.content == data
    on_portal = client.get("/vendor/brandlogo.png", HTTP_HOST=portal_host(claiming_connector))
    assert on_portal["Content-Type"] == "image/png"
    assert b"".join(on_portal.streaming_content) == data
    assert len(stored_files(media_root)) == 1


def test_a_favicon_may_be_an_ico_or_a_png(api, owner, claiming_connector):
    client = api(owner)
    assert put_image(client, claiming_connector, "favicon.ico", ico(), "image/x-icon").status_code == 204
    served = client.get("/vendor/favicon.ico", HTTP_HOST=portal_host(claiming_connector))
    assert served["Content-Type"] == "image/vnd.microsoft.icon"
    assert put_image(client, claiming_connector, "favicon.ico", png()).status_code == 204
    served = client.get("/vendor/favicon.ico", HTTP_HOST=portal_host(claiming_connector))
    assert served["Content-Type"] == "image/png"


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="GIF")
    return out.getvalue()


NOT_PNG = {
    "html renamed": b"<!doctype html><html><script>alert(1)</script></html>",
    "svg renamed": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "text": b"just some text",
    "gif": None,  # made in the test
    "ico as device.png": None,
    "truncated png": None,
    "empty": b"",
}


@pytest.mark.parametrize("kind", list(NOT_PNG))
def test_what_is_not_a_png_is_refused(api, owner, claiming_connector, media_root, kind):
    made = {"gif": gif(), "ico as device.png": ico(), "truncated png": png((64, 64))[:60]}
    data = made.get(kind, NOT_PNG[kind])
    client = api(owner)

    response = put_image(client, claiming_connector, "device.png", data)

    assert response.status_code == 400
    assert "not a PNG image" in response.json()["file"][0]
    assert stored_files(media_root) == []
    default = client.get(url(claiming_connector, "assets/device.png"))
    assert default.content != data and default.content.startswith(b"\x89PNG")


def test_an_image_over_1_mb_is_refused_with_413(api, owner, claiming_connector, media_root):
    too_big = png() + b"\x00" * (1024 * 1024 + 1 - len(png()))
    assert len(too_big) == 1024 * 1024 + 1

    response = put_image(api(owner), claiming_connector, "brandlogo.png", too_big)

    assert response.status_code == 413
    assert stored_files(media_root) == []


def test_an_image_of_exactly_1_mb_is_checked_by_content(api, owner, claiming_connector):
    data = png() + b"\x00" * (1024 * 1024 - len(png()))  # a PNG with trailing bytes: still a PNG
    assert put_image(api(owner), claiming_connector, "brandlogo.png", data).status_code == 204


def test_huge_dimensions_are_refused(api, owner, claiming_connector):
    response = put_image(api(owner), claiming_connector, "device.png", png((5000, 10)))
    assert response.status_code == 400
    assert "pixels" in response.json()["file"][0]


def test_an_unknown_image_name_is_not_found(api, owner, claiming_connector):
    response = put_image(api(owner), claiming_connector, "evil.svg", png())
    assert response.status_code == 404


def test_replacing_deletes_the_old_file_and_delete_restores_the_default(
    api, owner, claiming_connector, media_root, django_capture_on_commit_callbacks
):
    client = api(owner)
    with django_capture_on_commit_callbacks(execute=True):
        put_image(client, claiming_connector, "device.png", png(colour=(1, 2, 3)))
    first = stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        put_image(client, claiming_connector, "device.png", png(colour=(4, 5, 6)))
    second = stored_files(media_root)
    assert len(first) == len(second) == 1 and first != second

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(url(claiming_connector, "assets/device.png")).status_code == 204

    assert stored_files(media_root) == []
    default = client.get("/vendor/device.png", HTTP_HOST=portal_host(claiming_connector))
    assert default.status_code == 200 and default.content.startswith(b"\x89PNG")
    assert default.content != png(colour=(4, 5, 6))


def test_deleting_the_connector_deletes_its_images(
    api, owner, claiming_connector, media_root, django_capture_on_commit_callbacks
):
    put_image(api(owner), claiming_connector, "brandlogo.png", png())
    assert len(stored_files(media_root)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        connector_delete(connector=claiming_connector)

    assert stored_files(media_root) == []


# --- who may ----------------------------------------------------------------------------------


def test_another_business_sees_nothing(api, outsider, owner, claiming_connector):
    client = api(outsider)
    api(owner).put(url(claiming_connector, "branding/"), {"title": "Secret"}, format="json")

    assert client.get(url(claiming_connector, "branding/")).status_code == 404
    mine = {"title": "Mine"}
    assert client.put(url(claiming_connector, "branding/"), mine, format="json").status_code == 404
    assert put_image(client, claiming_connector, "brandlogo.png", png()).status_code == 404
    assert client.get(url(claiming_connector, "email-template/")).status_code == 404
    assert api(owner).get(url(claiming_connector, "branding/")).json()["title"] == "Secret"


def test_a_viewer_reads_and_may_not_write(api, viewer, claiming_connector, media_root):
    client = api(viewer)
    assert client.get(url(claiming_connector, "branding/")).status_code == 200
    assert client.put(url(claiming_connector, "branding/"), {"title": "X"}, format="json").status_code == 403
    assert client.delete(url(claiming_connector, "branding/")).status_code == 403
    assert put_image(client, claiming_connector, "brandlogo.png", png()).status_code == 403
    assert client.delete(url(claiming_connector, "assets/brandlogo.png")).status_code == 403
    body = {"subject": "Hi", "html": "<%LINK%>"}
    assert client.put(url(claiming_connector, "email-template/"), body, format="json").status_code == 403
    assert client.get(url(claiming_connector, "branding/")).json() == branding_default()
    assert stored_files(media_root) == []


def test_each_connector_has_its_own_branding(api, owner, business, claiming_connector):
    other = make_connector(business=business, devmode=True, claiming_enabled=True, portal_subdomain="other")
    client = api(owner)
    client.put(url(claiming_connector, "branding/"), {"title": "Acme"}, format="json")
    put_image(client, claiming_connector, "brandlogo.png", png())

    assert client.get(url(other, "branding/")).json()["title"] == branding_default()["title"]
    served = client.get("/vendor/brandlogo.png", HTTP_HOST=portal_host(other))
    assert served.content != png()
    assert served["Content-Type"] == "image/png"
