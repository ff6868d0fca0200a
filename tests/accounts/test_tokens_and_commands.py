"""Authentication (HTTP Basic, session, personal API tokens), token management and the account
commands (shared/docs/management-api.md, "Authentication and access")."""

import base64
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken, Business, Membership, User
from tests.factories import PASSWORD, make_connector

TOKENS = "/api/v1/tokens/"
CONNECTORS = "/api/v1/connectors/"


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def basic_client(email: str, password: str) -> APIClient:
    client = APIClient()
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


# --- personal API tokens ---------------------------------------------------------------------


def test_a_new_token_shows_its_key_once(api, owner):
    client = api(owner)

    created = client.post(TOKENS, {"name": "CI"}, format="json")
    listed = client.get(TOKENS)

    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "name", "key_prefix", "created_at", "last_used_at", "key"}
    assert body["name"] == "CI"
    assert body["key"].startswith("mur_") and len(body["key"]) >= 40
    assert body["key"].startswith(body["key_prefix"])
    assert body["last_used_at"] is None
    assert listed.status_code == 200
    assert listed.json() == [{k: v for k, v in body.items() if k != "key"}]
    assert body["key"] not in listed.content.decode()


def test_a_token_needs_no_name(api, owner):
    response = api(owner).post(TOKENS, {}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == ""


def test_a_token_name_is_at_most_100_characters(api, owner):
    response = api(owner).post(TOKENS, {"name": "x" * 101}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert not ApiToken.objects.exists()


def test_the_key_is_not_stored_in_clear(api, owner):
    key = api(owner).post(TOKENS, {"name": "CI"}, format="json").json()["key"]

    row = ApiToken.objects.values().get()

    assert key not in {str(value) for value in row.values()}
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()


def test_each_token_has_its_own_key(api, owner):
    client = api(owner)

    keys = {client.post(TOKENS, {}, format="json").json()["key"] for _ in range(3)}

    assert len(keys) == 3
    assert len(client.get(TOKENS).json()) == 3


def test_a_token_authenticates_as_its_owner(api, owner, connector, outsider):
    make_connector(business=outsider.businesses.get(), name="Globex gadget")
    key = api(owner).post(TOKENS, {"name": "script"}, format="json").json()["key"]
    client = token_client(key)

    listed = client.get(CONNECTORS)
    created = client.post(CONNECTORS, {"name": "Made with a token"}, format="json")

    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [connector.pk]
    assert created.status_code == 201
    assert api(owner).get(TOKENS).json()[0]["last_used_at"] is not None


def test_a_token_carries_its_owners_role(api, viewer, connector):
    key = api(viewer).post(TOKENS, {}, format="json").json()["key"]
    client = token_client(key)

    assert client.get(f"{CONNECTORS}{connector.pk}/").status_code == 200
    assert client.patch(f"{CONNECTORS}{connector.pk}/", {"name": "x"}, format="json").status_code == 403


def test_a_revoked_token_stops_working(api, owner):
    client = api(owner)
    created = client.post(TOKENS, {}, format="json").json()

    revoked = client.delete(f"{TOKENS}{created['id']}/")

    assert revoked.status_code == 204
    assert client.get(TOKENS).json() == []
    response = token_client(created["key"]).get(CONNECTORS)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_tokens_are_personal(api, owner, developer):
    mine = api(owner).post(TOKENS, {"name": "mine"}, format="json").json()

    listed = api(developer).get(TOKENS)
    revoked = api(developer).delete(f"{TOKENS}{mine['id']}/")

    assert listed.json() == []
    assert revoked.status_code == 404
    assert set(revoked.json()) == {"detail"}
    assert token_client(mine["key"]).get(CONNECTORS).status_code == 200


def test_revoking_an_unknown_token_is_a_json_404(api, owner):
    for token_id in ("987654", "99999999999999999999999"):
        response = api(owner).delete(f"{TOKENS}{token_id}/")
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "header",
    [
        "Token mur_not-a-real-key",
        "Token",
        "Token a b",
        "token mur_not-a-real-key",
        "Basic " + base64.b64encode(b"nobody@example.com:wrong").decode(),
        "Basic !!!not-base64",
    ],
)
def test_bad_credentials_are_401_in_json(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(CONNECTORS)

    assert response.status_code == 401
    assert set(response.json()) == {"detail"}


def test_a_deactivated_users_token_and_password_stop_working(api, owner):
    key = api(owner).post(TOKENS, {}, format="json").json()["key"]
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert token_client(key).get(CONNECTORS).status_code == 401
    assert api(owner).get(CONNECTORS).status_code == 401


@pytest.mark.parametrize("method", ["get", "post"])
def test_token_routes_need_authentication(db, method):
    response = getattr(APIClient(), method)(TOKENS, {}, format="json")

    assert response.status_code == 401
    assert set(response.json()) == {"detail"}


# --- HTTP Basic and sessions -----------------------------------------------------------------


def test_http_basic_with_the_email_and_password(owner, connector):
    ok = basic_client(owner.email, PASSWORD).get(CONNECTORS)
    upper = basic_client(owner.email.upper(), PASSWORD).get(CONNECTORS)
    wrong = basic_client(owner.email, "not-the-password").get(CONNECTORS)

    assert ok.status_code == upper.status_code == 200
    assert [c["id"] for c in ok.json()] == [connector.pk]
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"detail"}


def test_a_forced_session_login_reads_and_writes(owner, connector):
    client = APIClient()
    client.force_login(owner)

    assert client.get(CONNECTORS).status_code == 200
    assert client.patch(f"{CONNECTORS}{connector.pk}/", {"name": "Renamed"}, format="json").status_code == 200


def test_session_login_with_email_and_password(owner, connector):
    client = APIClient()

    assert client.login(email=owner.email, password=PASSWORD)
    assert [c["id"] for c in client.get(CONNECTORS).json()] == [connector.pk]
    client.logout()
    assert client.get(CONNECTORS).status_code == 401


def test_session_writes_need_the_csrf_token_as_in_a_browser(owner, connector):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    url = f"{CONNECTORS}{connector.pk}/"

    without = client.patch(url, {"name": "Renamed"}, format="json")
    client.get("/admin/login/")  # a page with a form hands out the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    with_token = client.patch(url, {"name": "Renamed"}, format="json", HTTP_X_CSRFTOKEN=csrf)

    assert without.status_code == 403
    assert "CSRF" in without.json()["detail"]
    assert with_token.status_code == 200


def test_basic_auth_needs_no_csrf_token(owner, connector):
    client = APIClient(enforce_csrf_checks=True)
    raw = base64.b64encode(f"{owner.email}:{PASSWORD}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")

    response = client.patch(f"{CONNECTORS}{connector.pk}/", {"name": "Renamed"}, format="json")

    assert response.status_code == 200


# --- manage.py create_account ----------------------------------------------------------------


def create_account(**options) -> str:
    out = io.StringIO()
    args = [f"--{name}={value}" for name, value in options.items()]
    call_command("create_account", *args, stdout=out)
    return out.getvalue()


def test_create_account_makes_a_business_and_its_admin(db):
    output = create_account(email="Ann@Example.com", password=PASSWORD, business="Acme", role="admin")

    user = User.objects.get()
    assert user.email == "ann@example.com"
    assert user.check_password(PASSWORD)
    assert not user.is_superuser
    membership = Membership.objects.get()
    assert (membership.business.name, membership.role) == ("Acme", "admin")
    assert "ann@example.com is admin of business 'Acme'" in output
    assert basic_client("ann@example.com", PASSWORD).get(CONNECTORS).status_code == 200


def test_create_account_adds_members_to_an_existing_business(db):
    create_account(email="ann@example.com", password=PASSWORD, business="Acme", role="admin")
    create_account(email="bob@example.com", password=PASSWORD, business=" Acme ", role="viewer")

    assert Business.objects.count() == 1
    roles = dict(Membership.objects.values_list("user__email", "role"))
    assert roles == {"ann@example.com": "admin", "bob@example.com": "viewer"}


def test_create_account_changes_the_role_of_an_existing_member(db):
    create_account(email="ann@example.com", password=PASSWORD, business="Acme", role="viewer")

    create_account(email="ANN@example.com", password=PASSWORD, business="Acme", role="developer")

    assert User.objects.count() == 1
    assert Membership.objects.get().role == "developer"


def test_create_account_puts_one_person_in_two_businesses(db):
    create_account(email="ann@example.com", password=PASSWORD, business="Acme", role="admin")
    create_account(email="ann@example.com", password=PASSWORD, business="Globex", role="viewer")

    assert sorted(Membership.objects.values_list("business__name", "role")) == [
        ("Acme", "admin"),
        ("Globex", "viewer"),
    ]


def test_create_account_defaults_to_the_admin_role(db):
    call_command(
        "create_account",
        "--email=ann@example.com",
        f"--password={PASSWORD}",
        "--business=Acme",
        stdout=io.StringIO(),
    )

    assert Membership.objects.get().role == "admin"


@pytest.mark.parametrize(
    "options",
    [
        {"email": "ann@example.com", "password": PASSWORD, "business": "Acme", "role": "owner"},
        {"email": "ann@example.com", "password": "123", "business": "Acme", "role": "admin"},
        {"email": "ann@example.com", "password": "password", "business": "Acme", "role": "admin"},
        {"email": "not-an-email", "password": PASSWORD, "business": "Acme", "role": "admin"},
    ],
)
def test_create_account_refuses_bad_input_and_creates_nothing(db, options):
    with pytest.raises(CommandError):
        create_account(**options)

    assert not User.objects.exists()
    assert not Business.objects.exists()


def test_create_account_requires_email_password_and_business(db):
    with pytest.raises(CommandError):
        call_command("create_account", "--email=ann@example.com", stdout=io.StringIO())


# --- manage.py createsuperuser --noinput -----------------------------------------------------


def test_createsuperuser_noinput_reads_email_and_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Root@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    call_command("createsuperuser", "--noinput", stdout=io.StringIO())

    root = User.objects.get()
    assert root.email == "root@example.com"
    assert root.is_superuser and root.is_staff
    assert root.check_password(PASSWORD)


def test_the_superuser_logs_in_with_the_email_and_sees_every_connector(db, monkeypatch, business, outsider):
    mine = make_connector(business=business, name="Acme thing")
    theirs = make_connector(business=outsider.businesses.get(), name="Globex thing")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", stdout=io.StringIO())
    client = basic_client("root@example.com", PASSWORD)

    listed = client.get(CONNECTORS)
    changed = client.patch(f"{CONNECTORS}{theirs.pk}/", {"name": "Root was here"}, format="json")

    assert {c["id"] for c in listed.json()} == {mine.pk, theirs.pk}
    assert changed.status_code == 200


def test_createsuperuser_noinput_refuses_a_taken_email(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", stdout=io.StringIO())

    with pytest.raises(CommandError):
        call_command("createsuperuser", "--noinput", stdout=io.StringIO(), stderr=io.StringIO())

    assert User.objects.count() == 1
