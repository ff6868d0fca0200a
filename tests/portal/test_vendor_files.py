"""The branding files a portal host serves at the seed's paths (``/vendor/branding.json`` and
the three images) and its theme (``/theme.css``): what a browser on the portal gets, its caching
(versioned URLs, ETag and 304) and that nothing else is there."""

import io
import json
import re

import pytest
from django.test import Client
from PIL import Image

from portal.branding import asset_urls, branding_default, theme_css_url
from portal.theme import contrast
from tests.portal_fixtures import portal_host


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def browser(claiming_connector):
    return Client(HTTP_HOST=portal_host(claiming_connector))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def set_branding(api, owner, connector, document):
    response = api(owner).put(f"/api/v1/connectors/{connector.pk}/portal/branding/", document, format="json")
    assert response.status_code == 200, response.content


def test_branding_json_is_the_complete_document(browser):
    response = browser.get("/vendor/branding.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.json() == branding_default()


def test_branding_json_carries_markup_as_data(api, owner, claiming_connector, browser):
    script = "<script>alert('x')</script>"
    set_branding(api, owner, claiming_connector, {"title": script, "companyName": script})
    response = browser.get("/vendor/branding.json")
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["title"] == script


@pytest.mark.parametrize(
    "name, content_type", [("brandlogo.png", "image/png"), ("device.png", "image/png"),
                           ("favicon.ico", "image/vnd.microsoft.icon")]
)  # fmt: skip
def test_the_default_images_are_served_until_one_is_uploaded(browser, name, content_type):
    response = browser.get(f"/vendor/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    with Image.open(io.BytesIO(response.content)) as image:
        image.verify()


@pytest.mark.parametrize("name", ["logo.png", "branding.js", "..%2Fsettings.py", "brandlogo.PNG"])
def test_any_other_name_is_not_found(browser, name):
    assert browser.get(f"/vendor/{name}").status_code == 404


def test_writes_are_not_allowed(browser):
    assert browser.post("/vendor/branding.json").status_code == 405
    assert browser.put("/vendor/brandlogo.png", png(), content_type="image/png").status_code == 405


def test_the_current_version_is_cached_long_and_others_revalidate(api, owner, claiming_connector, browser):
    upload = f"/api/v1/connectors/{claiming_connector.pk}/portal/assets/brandlogo.png"
    assert api(owner).put(upload, png(), content_type="image/png").status_code == 204
    versioned = asset_urls(claiming_connector)["brandlogo.png"]
    assert versioned != "/vendor/brandlogo.png?v=default"

    response = browser.get(versioned)
    assert "max-age=31536000" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == png()
    stale = browser.get("/vendor/brandlogo.png?v=default")
    assert stale["Cache-Control"] == "no-cache"
    assert browser.get("/vendor/branding.json")["Cache-Control"] == "no-cache"


def test_etag_answers_304_when_unchanged(api, owner, claiming_connector, browser):
    for path in ["/vendor/branding.json", "/vendor/device.png", "/theme.css"]:
        first = browser.get(path)
        etag = first["ETag"]
        again = browser.get(path, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304, path
        assert again.content == b""
    etag = browser.get("/vendor/branding.json")["ETag"]
    set_branding(api, owner, claiming_connector, {"title": "Changed"})
    changed = browser.get("/vendor/branding.json", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["title"] == "Changed"


def _variables(css: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", css))


def test_theme_css_has_the_colours_and_readable_text_on_each(api, owner, claiming_connector, browser):
    set_branding(
        api, owner, claiming_connector,
        {"theme": {"primary": "#ffee00", "secondary": "#101010", "accent": "#777777"}, "themeType": "light"},
    )  # fmt: skip

    response = browser.get(theme_css_url(claiming_connector))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "max-age=31536000" in response["Cache-Control"]
    variables = _variables(response.content.decode())
    assert variables["--brand-primary"] == "#FFEE00"
    assert variables["--brand-primary-text"] == "#000000"  # black on yellow
    assert variables["--brand-secondary-text"] == "#FFFFFF"  # white on near-black
    for name in ("primary", "secondary", "accent", "error", "success"):
        colour, text = variables[f"--brand-{name}"], variables[f"--brand-{name}-text"]
        assert contrast(colour, text) >= 4.5, name
    assert variables["--page-bg"] == "#FFFFFF"  # light
    for background in ("--page-bg", "--surface-bg"):
        for text in ("--page-text", "--muted-text", "--brand-link"):
            assert contrast(variables[background], variables[text]) >= 4.5, (background, text)
    assert "color-scheme: light" in response.content.decode()


def test_theme_css_follows_dark_theme(browser):
    variables = _variables(browser.get("/theme.css").content.decode())
    assert variables["--page-bg"] == "#14161F"
    for text in ("--page-text", "--muted-text", "--brand-link"):
        assert contrast(variables["--page-bg"], variables[text]) >= 4.5


def test_another_portal_serves_its_own_files(business, api, owner, claiming_connector):
    from tests.factories import make_connector

    other = make_connector(business=business, devmode=True, claiming_enabled=True, portal_subdomain="globex")
    set_branding(api, owner, claiming_connector, {"title": "Acme only"})
    response = Client(HTTP_HOST=portal_host(other)).get("/vendor/branding.json")
    assert response.json()["title"] == branding_default()["title"]
