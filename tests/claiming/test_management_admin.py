"""End users in the back office: no password or key hash shown, blocking through the service."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from claiming.models import EndUser, EndUserSession
from claiming.services import end_user_create, session_start
from connectors.services import connector_update
from tests.factories import PASSWORD

END_USER_PASSWORD = "an-end-user-passphrase-7"


@pytest.fixture
def staff(db):
    client = Client()
    client.force_login(User.objects.create_superuser(email="root@example.com", password=PASSWORD))
    return client


@pytest.fixture
def end_user(connector):
    connector_update(connector=connector, changes={"claiming_enabled": True})
    user = end_user_create(
        connector=connector, email="ann@example.com", password=END_USER_PASSWORD, verified=True
    )
    session_start(connector=connector, email="ann@example.com", password=END_USER_PASSWORD)
    return EndUser.objects.get(pk=user.pk)


def test_the_end_user_page_says_a_password_is_set_and_shows_no_hash(staff, end_user):
    html = staff.get(reverse("admin:claiming_enduser_change", args=[end_user.pk])).content.decode()

    assert "ann@example.com" in html and "Password set" in html
    assert end_user.password_hash not in html and "pbkdf2" not in html and "argon2" not in html
    session = EndUserSession.objects.get(user=end_user)
    session_html = staff.get(
        reverse("admin:claiming_endusersession_change", args=[session.pk])
    ).content.decode()
    assert session.key_hash not in session_html


def test_blocking_in_the_admin_ends_the_users_sessions(staff, end_user):
    response = staff.post(
        reverse("admin:claiming_enduser_changelist"), {"action": "block", "_selected_action": [end_user.pk]}
    )

    assert response.status_code == 302
    end_user.refresh_from_db()
    assert end_user.blocked
    assert not EndUserSession.objects.filter(user=end_user).exists()


def test_an_end_user_cannot_be_deleted_around_the_service(staff, end_user):
    response = staff.post(reverse("admin:claiming_enduser_delete", args=[end_user.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert EndUser.objects.filter(pk=end_user.pk).exists()
