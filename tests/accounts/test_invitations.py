"""Invitations across businesses (issue #11, item 1), and the page where an invitation is accepted.

An invitation grants membership in the business that issued it and nothing else; it never sets
the password of an account that exists; businesses' pending invitations to one address coexist.
"""

import pytest
from rest_framework.test import APIClient

from accounts.models import Invitation, Membership, User
from tests.factories import PASSWORD
from tests.web.conftest import page_text

ACCEPT = "/api/v1/invitations/accept/"
BUSINESSES = "/api/v1/businesses/"
CHOSEN = "a-fresh-passphrase-for-2025"
ATTACKER_CHOSEN = "attacker-chosen-passphrase-77"


def invite(api, admin, email: str, role: str = "admin") -> dict:
    business = admin.businesses.get()
    response = api(admin).post(f"/api/v1/businesses/{business.pk}/members/", {"email": email, "role": role})
    assert response.status_code == 201, response.content
    return response.json()["invitation"]


def accept(token: str, password: str):
    return APIClient().post(ACCEPT, {"token": token, "password": password}, format="json")


def business_names(api_client) -> list[str]:
    return sorted(b["name"] for b in api_client.get(BUSINESSES).json())


@pytest.fixture
def login_as():
    import base64

    def make(email: str, password: str) -> APIClient:
        client = APIClient()
        raw = base64.b64encode(f"{email}:{password}".encode()).decode()
        client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
        return client

    return make


# --- across businesses ------------------------------------------------------------------------


def test_another_businesss_invitation_gives_no_membership_in_the_first(api, owner, outsider, login_as):
    invite(api, owner, "x@corp.example", role="admin")  # Acme invites x as an admin
    token_b = invite(api, outsider, "x@corp.example", role="viewer")["token"]  # so does Globex

    # Whoever holds Globex's token accepts it, choosing x's password.
    response = accept(token_b, ATTACKER_CHOSEN)

    assert response.status_code == 200
    assert business_names(login_as("x@corp.example", ATTACKER_CHOSEN)) == ["Globex"]
    assert not Membership.objects.filter(user__email="x@corp.example", business__name="Acme").exists()
    # Acme's invitation is still pending, for the real x to accept.
    assert Invitation.objects.get(business__name="Acme", email="x@corp.example").accepted_at is None


def test_a_pending_invitation_survives_another_business_inviting_the_same_address(
    api, owner, outsider, login_as
):
    token_a = invite(api, owner, "x@corp.example", role="developer")["token"]
    invite(api, outsider, "x@corp.example", role="admin")

    response = accept(token_a, CHOSEN)

    assert response.status_code == 200
    # Acme's token still works, and gives Acme only: Globex's invitation waits for its own token.
    assert business_names(login_as("x@corp.example", CHOSEN)) == ["Acme"]
    assert Invitation.objects.get(business__name="Globex").accepted_at is None


def test_an_invitation_never_sets_the_password_of_an_existing_account(
    api, owner, business, outsider, login_as
):
    token = invite(api, owner, outsider.email, role="admin")["token"]

    refused = accept(token, ATTACKER_CHOSEN)

    assert refused.status_code == 400
    assert list(refused.json()) == ["password"]
    assert login_as(outsider.email, ATTACKER_CHOSEN).get(BUSINESSES).status_code == 401
    assert business_names(login_as(outsider.email, PASSWORD)) == ["Globex"]
    # The account holder accepts with their own password; it stays what it was.
    assert accept(token, PASSWORD).status_code == 200
    assert business_names(login_as(outsider.email, PASSWORD)) == ["Acme", "Globex"]


def test_an_account_created_through_one_invitation_must_log_in_to_accept_another(
    api, owner, outsider, login_as
):
    token_a = invite(api, owner, "x@corp.example")["token"]
    token_b = invite(api, outsider, "x@corp.example")["token"]
    accept(token_b, ATTACKER_CHOSEN)

    # Acme's token with a password of someone's choosing does not take the account over.
    refused = accept(token_a, "yet-another-passphrase-31")

    assert refused.status_code == 400
    assert list(refused.json()) == ["password"]
    assert login_as("x@corp.example", "yet-another-passphrase-31").get(BUSINESSES).status_code == 401
    assert business_names(login_as("x@corp.example", ATTACKER_CHOSEN)) == ["Globex"]


def test_an_accepted_invitation_cannot_be_used_again(api, owner, outsider):
    token = invite(api, owner, outsider.email)["token"]
    assert accept(token, PASSWORD).status_code == 200

    again = accept(token, PASSWORD)

    assert again.status_code == 400
    assert list(again.json()) == ["token"]


def test_inviting_again_renews_the_businesss_own_invitation(api, owner, business):
    first = invite(api, owner, "x@corp.example", role="viewer")["token"]
    second = invite(api, owner, "x@corp.example", role="developer")["token"]

    assert accept(first, CHOSEN).status_code == 400
    assert accept(second, CHOSEN).status_code == 200
    assert Membership.objects.get(business=business, user__email="x@corp.example").role == "developer"


def test_an_expired_invitation_is_refused(api, owner):
    token = invite(api, owner, "late@example.com")["token"]
    Invitation.objects.update(expires_at="2000-01-01T00:00:00Z")

    response = accept(token, CHOSEN)

    assert response.status_code == 400
    assert list(response.json()) == ["token"]
    assert not User.objects.filter(email="late@example.com").exists()


# --- the invitation page ----------------------------------------------------------------------


def page_url(invitation: dict) -> str:
    return invitation["accept_url"].removeprefix("http://testserver")


def test_a_new_person_chooses_a_password_on_the_invitation_page(api, web, owner):
    url = page_url(invite(api, owner, "new@example.com", role="developer"))
    client = web()

    page = page_text(client.get(url))
    assert "Join Acme" in page and "Choose a password" in page
    mismatch = client.post(url, {"password1": CHOSEN, "password2": CHOSEN + "x"})
    assert mismatch.status_code == 400 and "The two passwords differ." in page_text(mismatch)
    weak = client.post(url, {"password1": "password", "password2": "password"})
    assert weak.status_code == 400 and "This password is too common." in page_text(weak)

    response = client.post(url, {"password1": CHOSEN, "password2": CHOSEN}, follow=True)

    assert response.redirect_chain[0][0] == "/connectors/"
    assert "You are now a member of Acme (Developer)." in page_text(response)
    assert User.objects.get(email="new@example.com").check_password(CHOSEN)
    assert "This invitation no longer works" in page_text(client.get(url))


def test_an_invitee_with_an_account_logs_in_and_comes_back_to_accept(api, web, owner, business, outsider):
    url = page_url(invite(api, owner, outsider.email, role="viewer"))
    client = web()

    page = page_text(client.get(url))
    assert f"Log in as {outsider.email} to accept it." in page and "Choose a password" not in page
    # Posting a password here does nothing: only logging in does.
    client.post(url, {"password1": CHOSEN, "password2": CHOSEN})
    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD)

    logged_in = client.post(
        "/accounts/login/", {"username": outsider.email, "password": PASSWORD, "next": url}
    )
    assert logged_in["Location"] == url
    assert "Join Acme</button>" in page_text(client.get(url))
    client.post(url)

    assert Membership.objects.get(user=outsider, business=business).role == "viewer"


def test_someone_else_logged_in_cannot_accept(api, web, owner, business, outsider, viewer):
    url = page_url(invite(api, owner, outsider.email))
    client = web(viewer)

    page = page_text(client.get(url))
    client.post(url)

    assert f"This invitation is for {outsider.email}" in page and "Join Acme</button>" not in page
    assert not Membership.objects.filter(user=outsider, business=business).exists()
    assert Invitation.objects.get(email=outsider.email).accepted_at is None


def test_an_unknown_invitation_link_says_it_no_longer_works(web, db):
    response = web().get("/accounts/invitations/inv_nothing-like-this/")

    assert response.status_code == 404
    assert "This invitation no longer works" in page_text(response)
