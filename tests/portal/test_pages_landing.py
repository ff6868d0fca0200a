"""The portal's landing page: the device maker's branding, phone-ready, with its own CSP."""

import pytest
from django.test import Client

from portal.branding import branding_default
from portal.models import Branding

pytestmark = pytest.mark.django_db

HOST = "acme.portal.localhost"


def test_landing_shows_branding_and_sign_up(claiming_connector):
    response = Client(HTTP_HOST=HOST).get("/")
    assert response.status_code == 200
    page = response.content.decode()
    defaults = branding_default()
    assert f"<title>Welcome · {defaults['title']}</title>" in page
    assert defaults["landingPage"]["mainSlogan"] in page
    assert defaults["landingPage"]["deviceSpecs"][0] in page
    assert 'name="viewport"' in page
    assert 'href="/signup/"' in page and 'href="/login/"' in page
    assert 'href="/claim/"' in page  # the no-JavaScript way to a claim
    assert "/vendor/device.png?v=" in page and "/vendor/brandlogo.png?v=" in page
    assert "/static/portal/landing.js" in page


def test_landing_has_portal_csp(claiming_connector):
    response = Client(HTTP_HOST=HOST).get("/")
    csp = response["Content-Security-Policy"]
    assert "img-src 'self' data: https:" in csp
    assert "base-uri 'none'" in csp
    assert "frame-ancestors 'none'" in csp


def test_branding_script_is_escaped(claiming_connector):
    evil = "<script>alert(1)</script>"
    document = branding_default()
    document["title"] = evil
    document["companyName"] = evil
    document["description"] = evil
    document["landingPage"] = {
        "mainSlogan": evil,
        "secondarySlogan": evil,
        "deviceName": evil,
        "deviceSpecs": [evil],
    }
    Branding.objects.create(connector=claiming_connector, document=document)
    page = Client(HTTP_HOST=HOST).get("/").content.decode()
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_links_show_when_set_and_only_http_ones(claiming_connector):
    document = branding_default()
    document["links"] = {
        **document["links"],
        "help": "https://help.example.com",
        "terms": "javascript:alert(1)",
    }
    Branding.objects.create(connector=claiming_connector, document=document)
    page = Client(HTTP_HOST=HOST).get("/").content.decode()
    assert 'href="https://help.example.com"' in page
    assert "javascript:" not in page and ">Terms<" not in page and ">About<" not in page


def test_landing_for_a_logged_in_user_links_my_devices(claiming_connector, alice):
    from tests.portal.pages_client import PageClient, log_in

    browser = PageClient()
    log_in(browser, alice.email)
    page = browser.get("/").content.decode()
    assert 'id="landing-devices"' in page and 'id="landing-signup"' not in page
    assert 'id="nav-logout"' in page


def test_branding_script_is_escaped_on_other_pages_and_in_the_emails(claiming_connector, alice):
    from django.core import mail

    from tests.portal.pages_client import PageClient

    evil = "<script>alert(1)</script>"
    document = branding_default()
    document["title"] = evil
    document["companyName"] = evil
    Branding.objects.create(connector=claiming_connector, document=document)
    browser = PageClient()
    for path in ("/login/", "/signup/", "/claim/?claim=<b>x</b>", "/no/such/page/"):
        page = browser.get(path).content.decode()
        assert evil not in page and "<b>x</b>" not in page, path
        assert "&lt;script&gt;" in page, path
    assert browser.post("/password-reset/", {"email": alice.email}).status_code == 200
    browser.post(
        "/signup/",
        {"email": alice.email, "password": "a-long-pass-987", "password_confirm": "a-long-pass-987"},
    )
    assert [m.to for m in mail.outbox] == [[alice.email], [alice.email]]
    for message in mail.outbox:
        html = message.alternatives[0][0]
        assert evil not in html and "&lt;script&gt;" in html
        assert evil in message.body  # the plain-text part is text, not HTML
