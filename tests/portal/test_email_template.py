"""The welcome e-mail's template through the management API, and the e-mails end users get with
it: variables filled (HTML-escaped in the body), templates that cannot render refused, and the
welcome e-mail a device sends through ``pdaas_user_email`` (tests/claiming/test_device_side.py)
carrying the connector's template and branding."""

import re

import httpx
import pytest
from django.core import mail

from claiming.models import EndUser
from connectors.selectors import portal_url
from portal.services import DEFAULT_EMAIL_SUBJECT, email_test_send
from tests.claiming.test_device_side import activated, write
from tests.conftest import device_host
from tests.factories import make_device


def url(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/portal/email-template/"


def test_the_built_in_template_until_one_is_saved(api, owner, claiming_connector):
    response = api(owner).get(url(claiming_connector))
    assert response.status_code == 200
    assert response.json()["subject"] == DEFAULT_EMAIL_SUBJECT
    assert "<%LINK%>" in response.json()["html"]


def test_put_saves_the_template(api, owner, claiming_connector):
    client = api(owner)
    body = {"subject": "Hello from <%COMPANY%>", "html": "<p>Hi <%NAME%>: <a href='<%LINK%>'>go</a></p>"}

    response = client.put(url(claiming_connector), body, format="json")

    assert response.status_code == 200
    assert response.json() == body
    assert client.get(url(claiming_connector)).json() == body


CANNOT_RENDER = [
    ({"subject": "", "html": "<%LINK%>"}, "subject", "empty"),
    ({"subject": "   ", "html": "<%LINK%>"}, "subject", ""),
    ({"subject": "Hi <%FIRSTNAME%>", "html": "<%LINK%>"}, "subject", "unknown variable <%FIRSTNAME%>"),
    ({"subject": "Hi <%NAME", "html": "<%LINK%>"}, "subject", "not closed"),
    ({"subject": "Hi", "html": "<p>no link here</p>"}, "html", "<%LINK%>"),
    ({"subject": "Hi", "html": "<%LINK%> <%%NAME%%>"}, "html", "unknown variable"),
    ({"subject": "Hi", "html": "<%LINK%> <% open"}, "html", "not closed"),
    ({"subject": "Hi", "html": "<%link%>"}, "html", "unknown variable"),
    ({"subject": "x" * 201, "html": "<%LINK%>"}, "subject", "200"),
    ({"subject": "Hi", "html": 5}, "html", "string"),
]


@pytest.mark.parametrize("body, field, message", CANNOT_RENDER)
def test_a_template_that_cannot_render_is_refused_and_changes_nothing(
    api, owner, claiming_connector, body, field, message
):
    client = api(owner)
    saved = {"subject": "Saved", "html": "<%LINK%>"}
    client.put(url(claiming_connector), saved, format="json")

    response = client.put(url(claiming_connector), body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert client.get(url(claiming_connector)).json() == saved


def test_a_missing_field_is_refused(api, owner, claiming_connector):
    response = api(owner).put(url(claiming_connector), {"subject": "Hi"}, format="json")
    assert response.status_code == 400
    assert "html" in response.json()


# --- the welcome e-mail a device sends ------------------------------------------------------------


@pytest.fixture
def device_api(claiming_connector):
    """``device_api()`` → an HTTP client of the device API for the claiming connector."""
    from murano.wsgi import application

    transport = httpx.WSGITransport(app=application, remote_addr="203.0.113.9")
    with httpx.Client(transport=transport, base_url=f"http://{device_host(claiming_connector)}") as client:
        yield lambda: client


@pytest.fixture
def talking(device_api, claiming_connector):
    make_device(connector=claiming_connector, identity="talker-1")
    return activated(device_api, "talker-1")


def test_the_welcome_email_uses_the_template_and_the_branding(
    api, owner, device_api, talking, claiming_connector, django_capture_on_commit_callbacks
):
    client = api(owner)
    client.put(
        f"/api/v1/connectors/{claiming_connector.pk}/portal/branding/",
        {"title": "Thermo <b>Cloud</b>", "companyName": "Acme & Sons"},
        format="json",
    )
    template = {
        "subject": "<%TITLE%> welcomes <%EMAIL%>",
        "html": '<h1><%TITLE%></h1><p><%COMPANY%> · <%PORTAL_URL%></p><a href="<%LINK%>"><%LINK%></a>',
    }
    assert client.put(url(claiming_connector), template, format="json").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        write(device_api, talking, "pdaas_user_email=dana%40example.com")

    [message] = mail.outbox
    assert message.to == ["dana@example.com"]
    assert message.subject == "Thermo <b>Cloud</b> welcomes dana@example.com"  # plain text
    html = message.alternatives[0][0]
    assert "<h1>Thermo &lt;b&gt;Cloud&lt;/b&gt;</h1>" in html
    assert "Acme &amp; Sons · http://acme.portal.localhost" in html
    link = re.search(r'href="([^"]+)"', html).group(1)
    assert link.startswith("http://acme.portal.localhost") and "/verify/" in link
    assert EndUser.objects.filter(connector=claiming_connector, email="dana@example.com").exists()


def test_markup_in_the_name_and_email_is_escaped(api, owner, claiming_connector, end_user):
    from claiming.emails import welcome_email_send

    api(owner).put(
        url(claiming_connector), {"subject": "Hi <%NAME%>", "html": "<p><%NAME%> <%EMAIL%> <%LINK%></p>"},
        format="json",
    )  # fmt: skip
    user = end_user(claiming_connector, "x@example.com", name="<script>alert(1)</script>\nEvil")

    welcome_email_send(user=user, link_key="k3y")

    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\n" not in message.subject and message.subject.startswith("Hi <script>")


def test_the_default_template_is_a_branded_email_with_the_link(claiming_connector, end_user):
    from claiming.emails import welcome_email_send

    user = end_user(claiming_connector, "y@example.com", name="Yan")
    welcome_email_send(user=user, link_key="k3y")

    [message] = mail.outbox
    assert message.subject == "Welcome to Product portal"
    html = message.alternatives[0][0]
    link = portal_url(claiming_connector) + "verify/k3y/"
    assert link.startswith("http://acme.portal.localhost")
    assert f'href="{link}"' in html
    assert "Hello Yan," in html and "Exosite" in html
    assert link in message.body  # the plain text part


def test_a_test_send_goes_to_the_product_manager_with_sample_values(owner, claiming_connector):
    email_test_send(connector=claiming_connector, to=owner.email)

    [message] = mail.outbox
    assert message.to == [owner.email]
    assert message.subject == "[Test] Welcome to Product portal"
    assert "jane.doe@example.com" in message.alternatives[0][0]
