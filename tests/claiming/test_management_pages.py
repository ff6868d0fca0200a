"""The web UI of claiming: the End Users tab, a device's claim panel and the claim codes page
(labels, CSV, generation). Who may open or post each page is tests/web/test_ui_access.py's."""

from urllib.parse import quote

import pytest

from claiming.models import EndUser
from claiming.services import claim_codes_replace, end_user_create
from connectors.services import connector_update
from tests.factories import make_device
from tests.web.conftest import page_text


@pytest.fixture
def claiming(connector):
    connector_update(connector=connector, changes={"claiming_enabled": True})
    connector.refresh_from_db()
    return connector


def test_the_end_users_tab_shows_only_when_claiming_is_on(web, owner, connector):
    devices_tab = f"/connectors/{connector.pk}/devices/"

    assert "End Users" not in page_text(web(owner).get(devices_tab))
    connector_update(connector=connector, changes={"claiming_enabled": True})
    assert "End Users" in page_text(web(owner).get(devices_tab))


def test_an_admin_creates_searches_and_edits_an_end_user(web, owner, claiming):
    client = web(owner)
    base = f"/connectors/{claiming.pk}/end-users/"

    created = client.post(base, {"email": "ann@example.com", "name": "Ann", "verified": "on"})
    user = EndUser.objects.get(email="ann@example.com")
    end_user_create(connector=claiming, email="bob@example.com", name="Bob")
    found = page_text(client.get(base, {"q": "ann"}))
    edited = client.post(f"{base}{user.pk}/", {"email": "ann@example.com", "name": "Ann B.", "blocked": "on",
                                               "user_data": '{"app_energy": {"default": true}}'})  # fmt: skip

    assert created.status_code == 302 and created["Location"] == f"{base}{user.pk}/"
    assert "ann@example.com" in found and "bob@example.com" not in found
    assert edited.status_code == 302
    user.refresh_from_db()
    assert user.name == "Ann B." and user.blocked and user.verified is False
    assert user.user_data == {"app_energy": {"default": True}}


def test_bad_input_is_shown_next_to_the_field(web, owner, claiming):
    user = end_user_create(connector=claiming, email="ann@example.com")
    end_user_create(connector=claiming, email="bob@example.com")
    url = f"/connectors/{claiming.pk}/end-users/{user.pk}/"

    bad_json = web(owner).post(url, {"email": "ann@example.com", "user_data": "[1, 2"})
    taken = web(owner).post(url, {"email": "BOB@example.com"})
    weak = web(owner).post(url + "password/", {"password": "abc"})

    assert bad_json.status_code == 400 and "Not JSON" in page_text(bad_json)
    assert taken.status_code == 400 and "already exists" in page_text(taken)
    assert weak.status_code == 400 and "too short" in page_text(weak)
    user.refresh_from_db()
    assert user.email == "ann@example.com" and not user.password_hash


def test_an_end_users_page_lists_their_devices_with_links(web, owner, claiming):
    user = end_user_create(connector=claiming, email="ann@example.com")
    make_device(connector=claiming, identity="th-9", tags=[{"name": "users", "value": str(user.pk)}])
    make_device(connector=claiming, identity="th-10")

    html = page_text(web(owner).get(f"/connectors/{claiming.pk}/end-users/{user.pk}/"))

    assert f'href="/connectors/{claiming.pk}/devices/th-9/"' in html
    assert "th-10" not in html


def test_a_viewer_sees_no_edit_controls(web, viewer, claiming):
    user = end_user_create(
        connector=claiming, email="ann@example.com", user_data={"app_x": {"default": True}}
    )

    listing = page_text(web(viewer).get(f"/connectors/{claiming.pk}/end-users/"))
    detail = page_text(web(viewer).get(f"/connectors/{claiming.pk}/end-users/{user.pk}/"))
    labels = page_text(web(viewer).get(f"/connectors/{claiming.pk}/claim-codes/"))

    assert "New end user" not in listing
    assert f'action="/connectors/{claiming.pk}/end-users/' not in detail
    assert "Set password" not in detail and "app_x" in detail
    assert "Generate new codes" not in labels and "Download codes and links" in labels


def test_the_device_page_shows_its_claim_panel(web, owner, claiming):
    ann = end_user_create(connector=claiming, email="ann@example.com")
    make_device(connector=claiming, identity="th-1", tags=[{"name": "users", "value": str(ann.pk)}])

    html = page_text(web(owner).get(f"/connectors/{claiming.pk}/devices/th-1/"))

    assert "Claiming" in html and "ann@example.com" in html
    assert f"/api/v1/connectors/{claiming.pk}/devices/th-1/claim/qr.svg?code=th-1" in html
    assert f"#/?claim=th-1&amp;product={claiming.pk}" in html
    assert "Copy link" in html
    assert "guess identities" in html  # the default code is the identity


def test_a_random_code_needs_no_warning(web, owner, claiming):
    device = make_device(connector=claiming, identity="th-2")
    claim_codes_replace(device=device, codes=["K7WX-9QPM"])

    html = page_text(web(owner).get(f"/connectors/{claiming.pk}/devices/th-2/"))

    assert "K7WX-9QPM" in html and "guess identities" not in html


def test_no_claim_panel_without_claiming(web, owner, connector):
    make_device(connector=connector, identity="th-3")

    assert "claim/qr.svg" not in page_text(web(owner).get(f"/connectors/{connector.pk}/devices/th-3/"))


def test_the_claim_codes_page_prints_a_label_per_code_of_the_matching_devices(web, owner, claiming):
    device = make_device(connector=claiming, identity="batch-1")
    claim_codes_replace(device=device, codes=["CODE A", "CODE-B"])
    make_device(connector=claiming, identity="other-1")

    response = web(owner).get(f"/connectors/{claiming.pk}/claim-codes/", {"q": "batch"})
    html = page_text(response)

    assert response.status_code == 200
    assert f"/devices/batch-1/claim/qr.svg?code={quote('CODE A', safe='').replace('%20', '+')}" in html
    assert "/devices/batch-1/claim/qr.svg?code=CODE-B" in html
    assert "other-1" not in html
    assert f"/api/v1/connectors/{claiming.pk}/claim-codes.csv?q=batch" in html
    assert f'data-generate-url="/api/v1/connectors/{claiming.pk}/claim-codes/?q=batch"' in html
    assert "@media print" in open("static/css/site.css").read()


def test_a_bad_filter_on_the_claim_codes_page_says_so(web, owner, claiming):
    response = web(owner).get(f"/connectors/{claiming.pk}/claim-codes/", {"status": "nonsense"})

    assert response.status_code == 400 and "status" in page_text(response)
