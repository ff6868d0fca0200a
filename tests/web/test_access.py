"""What each role is shown on a connector's pages: viewers read every tab without edit controls,
only admins are offered to delete the connector, an outsider's connector list holds nothing of
ours; every form needs its CSRF token; unknown pages and methods answer without a traceback.

Who may open and post each page (status codes per route and role, and that a refused post
changes nothing) is tests/web/test_ui_access.py's table.
"""

import pytest

from connectors.models import Connector
from devices.models import Device
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db


def pages(c, *paths: str) -> list[str]:
    """The URLs of ``paths`` below connector ``c``'s pages."""
    return [f"/connectors/{c.pk}/{path}" for path in paths]


def read_pages(c):
    return pages(c, "devices/", "devices/dev-1/", "resources/", "content/", "logs/", "settings/")


def posts(c):
    """Every form post of a connector's pages, with a body that would succeed."""
    base = f"/connectors/{c.pk}/"
    return [
        (base + "devices/", {"identity": "new-1"}),
        (base + "devices/dev-1/lock/", {"locked": "1"}),
        (base + "devices/dev-1/revoke/", {}),
        (base + "devices/dev-1/tags/", {"tag_name": ["a"], "tag_value": ["b"]}),
        (base + "devices/dev-1/state/", {"alias": "mode", "value": "eco"}),
        (base + "devices/dev-1/delete/", {}),
        (base + "resources/new/", {"alias": "temp", "format": "number", "sync": "on"}),
        (base + "resources/mode/edit/", {"format": "string", "unit": "x", "sync": "on"}),
        (base + "resources/mode/delete/", {}),
        (base + "settings/", {"name": "Renamed", "identity_type": "opaque", "identity_casing": "mixed",
                              "auth_type": "token", "activation_window_hours": "48"}),
        (base + "delete/", {}),
    ]  # fmt: skip


def test_the_connector_list_shows_an_outsider_nothing_of_ours(web, outsider, fleet):
    html = page_text(web(outsider).get("/connectors/"))

    assert fleet.pk not in html


def test_viewers_read_every_tab_without_edit_controls(web, viewer, fleet):
    client = web(viewer)
    for url in read_pages(fleet):
        response = client.get(url)
        assert response.status_code == 200, url
        html = page_text(response)
        assert "+ New device(s)" not in html and "+ New resource" not in html, url
        assert "Save settings" not in html and "Save tags" not in html, url
        assert "Delete connector" not in html and ">Lock<" not in html, url
    settings_form = page_text(client.get(f"/connectors/{fleet.pk}/settings/"))
    assert 'name="name"' in settings_form and "disabled" in settings_form
    assert "New connector" not in page_text(client.get("/connectors/"))


def test_only_admins_are_offered_to_delete_the_connector_which_takes_its_devices(
    web, developer, owner, fleet
):
    assert "Delete connector" not in page_text(web(developer).get(f"/connectors/{fleet.pk}/settings/"))

    admin = web(owner)
    assert "Delete connector" in page_text(admin.get(f"/connectors/{fleet.pk}/settings/"))
    response = admin.post(f"/connectors/{fleet.pk}/delete/", {"name": fleet.name})
    assert response.status_code == 302 and response["Location"] == "/connectors/"
    assert not Connector.objects.filter(pk=fleet.pk).exists()
    assert not Device.objects.filter(identity="dev-1").exists()


def test_every_form_needs_its_csrf_token(web, owner, fleet):
    client = web(owner, enforce_csrf=True)
    for url, body in posts(fleet):
        response = client.post(url, body)
        assert response.status_code == 403, url
        assert "This form has expired" in page_text(response)
    assert not Device.objects.get(identity="dev-1").locked
    # The pages themselves carry the token in every form.
    for url in read_pages(fleet):
        html = page_text(client.get(url))
        assert html.count("<form") <= html.count('name="csrfmiddlewaretoken"') + html.count('method="get"'), (
            url
        )


def test_unknown_pages_and_methods_answer_without_a_traceback(web, owner, fleet):
    client = web(owner)
    missing = client.get(f"/connectors/{fleet.pk}/devices/no-such-device/")
    assert missing.status_code == 404 and "Traceback" not in page_text(missing)
    assert client.get(f"/connectors/{fleet.pk}/resources/nope/edit/").status_code == 404
    assert client.get("/connectors/nosuchconnector00/devices/").status_code == 404
    assert client.get(f"/connectors/{fleet.pk}/devices/dev-1/lock/").status_code == 405
    assert client.delete(f"/connectors/{fleet.pk}/settings/").status_code == 405


def test_a_superuser_sees_every_connector(web, fleet, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x" * 20)
    client = web(admin)
    assert fleet.name in page_text(client.get("/connectors/"))
    assert client.get(f"/connectors/{fleet.pk}/devices/dev-1/").status_code == 200
