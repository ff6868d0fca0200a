"""Businesses and their members (shared/docs/management-api.md, "Authentication and access")."""

import base64

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role, User
from tests.factories import PASSWORD, make_member

BUSINESSES = "/api/v1/businesses/"
ACCEPT = "/api/v1/invitations/accept/"
NEW_PASSWORD = "a-fresh-passphrase-for-2025"


def members_url(business) -> str:
    return f"/api/v1/businesses/{business.pk}/members/"


def member_url(membership) -> str:
    return f"/api/v1/businesses/{membership.business_id}/members/{membership.pk}/"


def membership_of(user, business) -> Membership:
    return Membership.objects.get(user=user, business=business)


def basic_client(email: str, password: str) -> APIClient:
    client = APIClient()
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


# --- businesses -------------------------------------------------------------------------------


def test_you_see_your_businesses_with_your_role_in_each(api, owner, business, outsider):
    other = make_member(business_name="Initech", role="viewer", email=owner.email).business

    response = api(owner).get(BUSINESSES)

    assert response.status_code == 200
    body = response.json()
    assert [(b["id"], b["name"], b["role"]) for b in body] == [
        (business.pk, "Acme", "admin"),
        (other.pk, "Initech", "viewer"),
    ]
    assert set(body[0]) == {"id", "name", "role", "created_at"}


def test_a_business_shows_your_role(api, developer, business):
    response = api(developer).get(f"{BUSINESSES}{business.pk}/")

    assert response.status_code == 200
    assert response.json()["name"] == "Acme"
    assert response.json()["role"] == "developer"


def test_someone_elses_business_is_not_found(api, outsider, business):
    assert api(outsider).get(f"{BUSINESSES}{business.pk}/").status_code == 404
    assert api(outsider).get(members_url(business)).status_code == 404
    assert api(outsider).get(f"{BUSINESSES}999999/").json() == {"detail": "No such business."}


def test_a_superuser_sees_every_business_as_an_admin(api, business, outsider):
    root = User.objects.create_superuser(email="root@example.com", password="x-very-long-password-1")
    response = basic_client("root@example.com", "x-very-long-password-1").get(BUSINESSES)

    assert {(b["name"], b["role"]) for b in response.json()} == {("Acme", "admin"), ("Globex", "admin")}
    assert root.memberships.count() == 0


def test_a_business_id_that_is_not_a_number_is_not_found(api, owner):
    response = api(owner).get(f"{BUSINESSES}acme/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_out_of_range_business_id_is_not_found(api, owner):
    assert api(owner).get(f"{BUSINESSES}{10**30}/").status_code == 404


# --- members: list ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "developer", "viewer"])
def test_every_member_can_list_the_members(api, role, owner, developer, viewer, business):
    user = {"admin": owner, "developer": developer, "viewer": viewer}[role]

    response = api(user).get(members_url(business))

    assert response.status_code == 200
    rows = response.json()
    assert sorted((r["email"], r["role"]) for r in rows) == sorted(
        [(owner.email, "admin"), (developer.email, "developer"), (viewer.email, "viewer")]
    )
    assert set(rows[0]) == {"id", "email", "full_name", "role", "invited", "created_at"}
    assert not any(r["invited"] for r in rows)


def test_one_member_can_be_read(api, viewer, developer, business):
    membership = membership_of(developer, business)

    response = api(viewer).get(member_url(membership))

    assert response.status_code == 200
    assert response.json()["email"] == developer.email


def test_a_membership_of_another_business_is_not_found_through_yours(api, owner, business, outsider):
    foreign = outsider.memberships.get()

    response = api(owner).get(f"/api/v1/businesses/{business.pk}/members/{foreign.pk}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such member."}


# --- members: add -----------------------------------------------------------------------------


def test_inviting_answers_the_same_whether_or_not_the_address_has_an_account(api, owner, business, outsider):
    known = api(owner).post(members_url(business), {"email": outsider.email, "role": "developer"})
    unknown = api(owner).post(members_url(business), {"email": "nobody.yet@example.com", "role": "developer"})

    assert known.status_code == unknown.status_code == 201

    def shape(body):
        invitation = body.pop("invitation")
        assert invitation["token"] and invitation["accept_url"] and invitation["expires_at"]
        return {k: v for k, v in body.items() if k not in ("email", "created_at")}

    assert shape(known.json()) == shape(unknown.json()) == {
        "id": None, "full_name": "", "role": "developer", "invited": True,
    }  # fmt: skip
    # Nobody joins without accepting: the outsider is not a member yet.
    assert not Membership.objects.filter(user=outsider, business=business).exists()
    assert api(outsider).get(f"{BUSINESSES}{business.pk}/").status_code == 404
    assert not User.objects.filter(email="nobody.yet@example.com").exists()


def test_an_existing_account_joins_by_accepting_with_its_own_password(api, owner, business, outsider):
    token = (
        api(owner)
        .post(members_url(business), {"email": outsider.email, "role": "developer"})
        .json()["invitation"]["token"]
    )

    accepted = APIClient().post(ACCEPT, {"token": token, "password": PASSWORD})

    assert accepted.status_code == 200
    assert accepted.json() == {"email": outsider.email}
    assert membership_of(outsider, business).role == Role.DEVELOPER
    assert api(outsider).get(f"{BUSINESSES}{business.pk}/").json()["role"] == "developer"
    # Still a member of their own business, with the same password.
    assert sorted(b["name"] for b in api(outsider).get(BUSINESSES).json()) == ["Acme", "Globex"]


def test_the_email_address_is_matched_without_regard_to_case(api, owner, business, outsider):
    response = api(owner).post(members_url(business), {"email": outsider.email.upper(), "role": "viewer"})

    assert response.status_code == 201
    assert response.json()["email"] == outsider.email
    assert User.objects.filter(email__iexact=outsider.email).count() == 1


def test_a_new_person_is_invited_and_sets_a_password_with_the_token(api, owner, business):
    response = api(owner).post(members_url(business), {"email": "New.Person@Example.com", "role": "viewer"})

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new.person@example.com"
    assert body["invited"] is True
    invitation = body["invitation"]
    assert invitation["accept_url"] == f"http://testserver/accounts/invitations/{invitation['token']}/"
    assert invitation["expires_at"]
    # There is no account until the person accepts.
    assert basic_client("new.person@example.com", "").get(BUSINESSES).status_code == 401

    accepted = APIClient().post(ACCEPT, {"token": invitation["token"], "password": NEW_PASSWORD})

    assert accepted.status_code == 200
    assert accepted.json() == {"email": "new.person@example.com"}
    businesses = basic_client("new.person@example.com", NEW_PASSWORD).get(BUSINESSES)
    assert businesses.status_code == 200
    assert [(b["name"], b["role"]) for b in businesses.json()] == [("Acme", "viewer")]
    listed = api(owner).get(members_url(business)).json()
    assert [m["invited"] for m in listed if m["email"] == "new.person@example.com"] == [False]


def test_an_invitation_works_only_once(api, owner, business):
    token = (
        api(owner).post(members_url(business), {"email": "once@example.com"}).json()["invitation"]["token"]
    )
    APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD})

    again = APIClient().post(ACCEPT, {"token": token, "password": "someone-elses-password-9"})

    assert again.status_code == 400
    assert list(again.json()) == ["token"]
    assert basic_client("once@example.com", NEW_PASSWORD).get(BUSINESSES).status_code == 200


@pytest.mark.parametrize(
    "token", ["", "garbage", "MQ.nope", "////.x", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA.a-b"]
)
def test_a_bad_invitation_token_is_refused(db, token):
    response = APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["token"]


def test_a_password_reset_token_is_not_an_invitation_token(api, owner, business, outsider):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    api(owner).post(members_url(business), {"email": outsider.email})
    reset_token = (
        f"{urlsafe_base64_encode(force_bytes(outsider.pk))}.{default_token_generator.make_token(outsider)}"
    )

    response = APIClient().post(ACCEPT, {"token": reset_token, "password": NEW_PASSWORD})

    assert response.status_code == 400
    assert list(response.json()) == ["token"]
    assert not Membership.objects.filter(user=outsider, business=business).exists()


def test_an_invited_person_must_choose_a_decent_password(api, owner, business):
    token = (
        api(owner).post(members_url(business), {"email": "weak@example.com"}).json()["invitation"]["token"]
    )

    response = APIClient().post(ACCEPT, {"token": token, "password": "password"})

    assert response.status_code == 400
    assert list(response.json()) == ["password"]
    # The token still works for a better attempt.
    assert APIClient().post(ACCEPT, {"token": token, "password": NEW_PASSWORD}).status_code == 200


def test_accepting_ignores_whatever_credentials_come_along(api, owner, business):
    token = api(owner).post(members_url(business), {"email": "x@example.com"}).json()["invitation"]["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")

    assert client.post(ACCEPT, {"token": token, "password": NEW_PASSWORD}).status_code == 200


def test_the_role_defaults_to_viewer(api, owner, business):
    response = api(owner).post(members_url(business), {"email": "quiet@example.com"}, format="json")

    assert response.status_code == 201
    assert response.json()["role"] == "viewer"


def test_an_existing_member_is_not_added_twice(api, owner, viewer, business):
    response = api(owner).post(members_url(business), {"email": viewer.email, "role": "admin"})

    assert response.status_code == 409
    assert response.json() == {"email": ["This person is already a member of the business."]}
    assert membership_of(viewer, business).role == Role.VIEWER


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@example.com", "role": "owner"}, "role"),
        ({"email": "a@example.com", "role": None}, "role"),
        ({"email": ["a@example.com"]}, "email"),
    ],
)
def test_bad_member_input_is_a_field_error(api, owner, business, payload, field):
    response = api(owner).post(members_url(business), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Membership.objects.filter(business=business).count() == 1


def test_a_disabled_account_is_invited_like_anyone_but_cannot_accept(api, owner, business, outsider):
    User.objects.filter(pk=outsider.pk).update(is_active=False)

    response = api(owner).post(members_url(business), {"email": outsider.email})
    accepted = APIClient().post(
        ACCEPT, {"token": response.json()["invitation"]["token"], "password": PASSWORD}
    )

    assert response.status_code == 201
    assert accepted.status_code == 400
    assert list(accepted.json()) == ["password"]
    assert not Membership.objects.filter(user=outsider, business=business).exists()


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_only_admins_add_members(api, role, developer, viewer, business):
    user = developer if role == "developer" else viewer

    response = api(user).post(members_url(business), {"email": "new@example.com", "role": "admin"})

    assert response.status_code == 403
    assert response.json() == {"detail": "Only business admins may manage members."}
    assert not User.objects.filter(email="new@example.com").exists()


# --- members: change role, remove -------------------------------------------------------------


def test_an_admin_changes_a_members_role(api, owner, viewer, business):
    membership = membership_of(viewer, business)

    response = api(owner).patch(member_url(membership), {"role": "developer"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "developer"
    membership.refresh_from_db()
    assert membership.role == Role.DEVELOPER


def test_the_last_admin_cannot_step_down(api, owner, business):
    response = api(owner).patch(member_url(membership_of(owner, business)), {"role": "viewer"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"role": ["A business must keep at least one admin."]}
    assert membership_of(owner, business).role == Role.ADMIN


def test_an_admin_may_step_down_when_another_admin_remains(api, owner, developer, business):
    api(owner).patch(member_url(membership_of(developer, business)), {"role": "admin"}, format="json")

    response = api(owner).patch(member_url(membership_of(owner, business)), {"role": "viewer"}, format="json")

    assert response.status_code == 200
    assert membership_of(owner, business).role == Role.VIEWER
    # No longer an admin: membership changes are now refused.
    assert api(owner).delete(member_url(membership_of(developer, business))).status_code == 403


def test_an_admin_removes_a_member(api, owner, viewer, business, connector):
    response = api(owner).delete(member_url(membership_of(viewer, business)))

    assert response.status_code == 204
    assert not Membership.objects.filter(user=viewer, business=business).exists()
    assert User.objects.filter(pk=viewer.pk).exists()
    # The former member no longer sees the business or its connectors.
    assert api(viewer).get(f"{BUSINESSES}{business.pk}/").status_code == 404
    assert api(viewer).get(f"/api/v1/connectors/{connector.pk}/").status_code == 404


def test_the_last_admin_cannot_be_removed(api, owner, business):
    response = api(owner).delete(member_url(membership_of(owner, business)))

    assert response.status_code == 409
    assert response.json() == {"detail": "A business must keep at least one admin."}
    assert membership_of(owner, business).role == Role.ADMIN


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_only_admins_change_or_remove_members(api, role, owner, developer, viewer, business):
    user = developer if role == "developer" else viewer
    target = member_url(membership_of(owner, business))

    changed = api(user).patch(target, {"role": "viewer"}, format="json")
    removed = api(user).delete(target)

    assert changed.status_code == 403
    assert removed.status_code == 403
    assert membership_of(owner, business).role == Role.ADMIN


def test_an_outsider_cannot_touch_members(api, owner, outsider, business):
    target = member_url(membership_of(owner, business))

    assert api(outsider).patch(target, {"role": "viewer"}, format="json").status_code == 404
    assert api(outsider).delete(target).status_code == 404
    assert api(outsider).post(members_url(business), {"email": outsider.email}).status_code == 404
    assert membership_of(owner, business).role == Role.ADMIN


def test_a_role_change_needs_a_known_role(api, owner, viewer, business):
    response = api(owner).patch(member_url(membership_of(viewer, business)), {"role": "root"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["role"]


def test_anonymous_requests_are_unauthorised(client, business):
    response = client.get(members_url(business))

    assert response.status_code == 401
    assert response.json()["detail"]
