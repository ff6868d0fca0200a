"""The management API of claiming: a connector's end users, a device's claim codes, links and
QR codes, and claim codes in bulk (shared/docs/claiming-and-portal.md). Who may call each route
is tests/test_access_control.py's; this file checks what the answers hold."""

import csv
import io
from urllib.parse import quote

import pytest

from claiming.codes import CODE_ALPHABET
from claiming.models import EndUser
from claiming.services import claim_codes_replace, end_user_create
from devices.models import DeviceTag
from devices.services import device_update
from tests.factories import make_connector, make_device

LOOK_ALIKES = set("0O1lI")


@pytest.fixture
def claiming(api, owner, connector):
    """The connector with claiming on, as its admin turns it on."""
    response = api(owner).patch(
        f"/api/v1/connectors/{connector.pk}/", {"claiming": {"enabled": True}}, format="json"
    )
    assert response.status_code == 200, response.content
    connector.refresh_from_db()
    return connector


@pytest.fixture
def users_url(claiming):
    return f"/api/v1/connectors/{claiming.pk}/end-users/"


def _tags(device, name):
    return sorted(DeviceTag.objects.filter(device=device, name=name).values_list("value", flat=True))


# --- end users --------------------------------------------------------------------------------


def test_an_admin_creates_an_end_user_and_reads_it_back(api, owner, users_url):
    response = api(owner).post(
        users_url,
        {
            "email": "ann@example.com",
            "name": "Ann",
            "verified": True,
            "user_data": {"app_x": {"default": True}},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == {"id", "email", "name", "verified", "blocked", "created_at", "last_login",
                            "user_data", "device_count"}  # fmt: skip
    assert created["email"] == "ann@example.com" and created["verified"] is True
    assert created["user_data"] == {"app_x": {"default": True}} and created["device_count"] == 0
    shown = api(owner).get(f"{users_url}{created['id']}/").json()
    assert shown == created


def test_a_taken_email_is_a_conflict_whatever_its_case(api, owner, users_url, claiming):
    end_user_create(connector=claiming, email="ann@example.com")

    response = api(owner).post(users_url, {"email": "ANN@example.com"}, format="json")

    assert response.status_code == 409
    assert "email" in response.json()


def test_changing_to_a_taken_email_is_a_conflict(api, owner, users_url, claiming):
    end_user_create(connector=claiming, email="ann@example.com")
    bob = end_user_create(connector=claiming, email="bob@example.com")

    response = api(owner).patch(f"{users_url}{bob.pk}/", {"email": "ann@example.com"}, format="json")

    assert response.status_code == 409
    assert "email" in response.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-address"}, "email"),
        ({}, "email"),
        ({"email": "a@example.com", "name": "x" * 201}, "name"),
        ({"email": "a@example.com", "verified": "yes please"}, "verified"),
        ({"email": "a@example.com", "user_data": ["not", "an", "object"]}, "user_data"),
        ({"email": "a@example.com", "password": "short"}, "password"),
    ],
)
def test_bad_input_on_create_names_the_field(api, owner, users_url, body, field):
    response = api(owner).post(users_url, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not EndUser.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "nope"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"verified": "maybe"}, "verified"),
        ({"blocked": 3}, "blocked"),
        ({"user_data": "text"}, "user_data"),
    ],
)
def test_bad_input_on_change_names_the_field(api, owner, users_url, claiming, body, field):
    user = end_user_create(connector=claiming, email="ann@example.com")

    response = api(owner).patch(f"{users_url}{user.pk}/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_block_rename_and_set_a_password(api, owner, users_url, claiming):
    user = end_user_create(connector=claiming, email="ann@example.com")

    changed = api(owner).patch(f"{users_url}{user.pk}/", {"blocked": True, "name": "Ann B."}, format="json")
    password = api(owner).post(f"{users_url}{user.pk}/password/", {"password": "a-long-fresh-passphrase-9"},
                               format="json")  # fmt: skip
    too_short = api(owner).post(f"{users_url}{user.pk}/password/", {"password": "abc"}, format="json")

    assert (
        changed.status_code == 200
        and changed.json()["blocked"] is True
        and changed.json()["name"] == "Ann B."
    )
    assert password.status_code == 204
    assert too_short.status_code == 400 and "password" in too_short.json()
    user.refresh_from_db()
    assert user.password_hash and "a-long-fresh-passphrase-9" not in user.password_hash


def test_the_list_searches_email_and_name_and_pages_with_cursors(api, owner, users_url, claiming):
    for n in range(5):
        end_user_create(connector=claiming, email=f"user{n}@example.com", name=f"Person {n}")
    end_user_create(connector=claiming, email="zed@example.com", name="Zed Smith")

    by_name = api(owner).get(users_url, {"q": "smith"}).json()
    by_email = api(owner).get(users_url, {"q": "USER3"}).json()
    first = api(owner).get(users_url, {"limit": 4}).json()
    second = api(owner).get(first["next"]).json()
    back = api(owner).get(second["previous"]).json()

    assert [u["email"] for u in by_name["results"]] == ["zed@example.com"]
    assert [u["email"] for u in by_email["results"]] == ["user3@example.com"]
    assert [u["email"] for u in first["results"]] == [f"user{n}@example.com" for n in range(4)]
    assert first["previous"] is None
    assert [u["email"] for u in second["results"]] == ["user4@example.com", "zed@example.com"]
    assert second["next"] is None
    assert back["results"] == first["results"]


def test_a_bad_cursor_or_limit_is_refused_naming_it(api, owner, users_url):
    assert "cursor" in api(owner).get(users_url, {"cursor": "garbage!"}).json()
    assert "limit" in api(owner).get(users_url, {"limit": "0"}).json()


def test_device_count_counts_the_devices_a_user_owns(api, owner, users_url, claiming):
    user = end_user_create(connector=claiming, email="ann@example.com")
    for identity in ("a-1", "a-2"):
        make_device(connector=claiming, identity=identity, tags=[{"name": "users", "value": str(user.pk)}])

    listed = api(owner).get(users_url).json()["results"]

    assert listed[0]["device_count"] == 2


def test_deleting_an_end_user_frees_their_devices(api, owner, users_url, claiming):
    user = end_user_create(connector=claiming, email="ann@example.com")
    device = make_device(connector=claiming, identity="a-1", tags=[{"name": "users", "value": str(user.pk)}])

    response = api(owner).delete(f"{users_url}{user.pk}/")

    assert response.status_code == 204
    assert not EndUser.objects.filter(pk=user.pk).exists()
    assert _tags(device, "users") == []


def test_another_connectors_end_user_is_not_reachable_here(api, owner, business, users_url, claiming):
    other = make_connector(business=business, name="Other")
    stranger = end_user_create(connector=other, email="stranger@example.com")
    url = f"{users_url}{stranger.pk}/"

    assert api(owner).get(url).status_code == 404
    assert api(owner).patch(url, {"name": "x"}, format="json").status_code == 404
    assert (
        api(owner)
        .post(url + "password/", {"password": "a-long-fresh-passphrase-9"}, format="json")
        .status_code
        == 404
    )
    assert api(owner).delete(url).status_code == 404
    assert EndUser.objects.filter(pk=stranger.pk, name="").exists()
    assert api(owner).get(users_url).json()["results"] == []


def test_an_outsider_sees_no_end_users(api, outsider, users_url, claiming):
    user = end_user_create(connector=claiming, email="ann@example.com")

    assert api(outsider).get(users_url).status_code == 404
    assert api(outsider).get(f"{users_url}{user.pk}/").status_code == 404


# --- one device's claim codes ------------------------------------------------------------------


def test_claim_info_lists_codes_links_expiry_and_owners(api, owner, claiming):
    ann = end_user_create(connector=claiming, email="ann@example.com")
    device = make_device(connector=claiming, identity="th-1")
    claim_codes_replace(device=device, codes=["AB CD/1", "XYZ"])
    device_update(device=device, tags=[*({"name": n, "value": v} for n, v in DeviceTag.objects.filter(
        device=device).values_list("name", "value")), {"name": "users", "value": str(ann.pk)},
        {"name": "expires", "value": "1900000000"}])  # fmt: skip

    info = api(owner).get(f"/api/v1/connectors/{claiming.pk}/devices/th-1/claim/").json()

    portal = f"http://{claiming.portal_host}/"
    assert info["claim_codes"] == ["AB CD/1", "XYZ"]
    assert info["claim_urls"] == [
        f"{portal}#/?claim={quote('AB CD/1', safe='')}&product={claiming.pk}",
        f"{portal}#/?claim=XYZ&product={claiming.pk}",
    ]
    assert info["exosense_codes"] == [f"{claiming.pk}.AB CD/1", f"{claiming.pk}.XYZ"]
    assert info["expires"] == 1900000000
    assert info["owners"] == [{"id": ann.pk, "email": "ann@example.com"}]


def test_a_new_device_of_a_claiming_connector_is_claimed_by_its_identity(api, owner, claiming):
    make_device(connector=claiming, identity="th-2")

    info = api(owner).get(f"/api/v1/connectors/{claiming.pk}/devices/th-2/claim/").json()

    assert info["claim_codes"] == ["th-2"] and info["owners"] == [] and info["expires"] is None


def test_qr_codes_are_images_of_the_claim_link(api, owner, claiming):
    device = make_device(connector=claiming, identity="th-3")
    claim_codes_replace(device=device, codes=["FIRST", "SECOND"])
    base = f"/api/v1/connectors/{claiming.pk}/devices/th-3/claim/"

    svg = api(owner).get(base + "qr.svg", {"code": "SECOND"})
    png = api(owner).get(base + "qr.png")
    unknown = api(owner).get(base + "qr.svg", {"code": "NOT-MINE"})

    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert f"#/?claim=SECOND&amp;product={claiming.pk}".encode() in svg.content
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert unknown.status_code == 404 and unknown["Content-Type"] == "application/json"


def test_claim_routes_of_an_unknown_device_are_404(api, owner, claiming):
    base = f"/api/v1/connectors/{claiming.pk}/devices/nobody/claim/"

    assert api(owner).get(base).status_code == 404
    assert api(owner).get(base + "qr.png").status_code == 404


# --- claim codes in bulk -----------------------------------------------------------------------


@pytest.fixture
def fleet(claiming):
    devices = [make_device(connector=claiming, identity=f"batch-{n}") for n in range(3)]
    devices.append(make_device(connector=claiming, identity="other-1"))
    return devices


def test_generating_codes_replaces_the_matching_devices_codes(
    api, owner, claiming, fleet, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(
            f"/api/v1/connectors/{claiming.pk}/claim-codes/?identity=batch-",
            {"generate": True},
            format="json",
        )

    assert response.status_code == 202, response.content
    job = api(owner).get(response["Location"]).json()
    assert job["kind"] == "claim_codes" and job["state"] == "finished"
    assert job["total"] == 3 and job["done"] == 3
    seen = set()
    for device in fleet[:3]:
        (code,) = _tags(device, "claim_code")
        assert code != device.identity and len(code) >= 10
        assert set(code) <= set(CODE_ALPHABET) and not set(code) & LOOK_ALIKES
        seen.add(code)
    assert len(seen) == 3
    assert _tags(fleet[3], "claim_code") == ["other-1"]


@pytest.mark.parametrize(
    "query, body, field",
    [
        ("", {"generate": False}, "generate"),
        ("", {}, "generate"),
        ("?status=nonsense", {"generate": True}, "status"),
    ],
)
def test_a_bad_generation_request_names_the_field(api, owner, claiming, fleet, query, body, field):
    response = api(owner).post(f"/api/v1/connectors/{claiming.pk}/claim-codes/{query}", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert _tags(fleet[0], "claim_code") == ["batch-0"]


def test_the_csv_lists_each_code_with_its_link(api, owner, claiming, fleet):
    claim_codes_replace(device=fleet[0], codes=["=HYPERLINK(1)", "PLAIN"])

    response = api(owner).get(f"/api/v1/connectors/{claiming.pk}/claim-codes.csv", {"identity": "batch-"})

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    portal = f"http://{claiming.portal_host}/"
    assert rows[0] == ["identity", "claim_code", "claim_url"]
    assert rows[1:] == [
        [
            "batch-0",
            "'=HYPERLINK(1)",
            f"{portal}#/?claim={quote('=HYPERLINK(1)', safe='')}&product={claiming.pk}",
        ],
        ["batch-0", "PLAIN", f"{portal}#/?claim=PLAIN&product={claiming.pk}"],
        ["batch-1", "batch-1", f"{portal}#/?claim=batch-1&product={claiming.pk}"],
        ["batch-2", "batch-2", f"{portal}#/?claim=batch-2&product={claiming.pk}"],
    ]


def test_a_bad_csv_filter_is_refused_naming_it(api, owner, claiming):
    response = api(owner).get(f"/api/v1/connectors/{claiming.pk}/claim-codes.csv", {"ip": "not-an-ip"})

    assert response.status_code == 400
    assert "ip" in response.json()
