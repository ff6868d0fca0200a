"""End users' accounts on the portal's pages: sign-up, verification, log-in, password reset, the
account page — what a visitor sees and what reaches their mailbox."""

import re

import pytest
from django.core import mail

from claiming.authentication import PORTAL_SESSION_COOKIE
from claiming.models import EndUser
from claiming.services import end_user_create, end_user_update, link_create
from tests.portal.pages_client import HOST, PageClient, log_in
from tests.portal_fixtures import PORTAL_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-password-42"


def client() -> PageClient:
    return PageClient()


def link_in(message, path: str) -> str:
    """The portal path of the link ``/<path>/<key>/…`` in an e-mail's text."""
    match = re.search(rf"https?://{re.escape(HOST)}(?::\d+)?(/{path}/[^\s\"<]+)", message.body)
    assert match, message.body
    return match.group(1).replace("&amp;", "&")


def test_sign_up_sends_welcome_and_verify_link_works_once_on_post(claiming_connector):
    c = client()
    page = c.get("/signup/?next=/claim/%3Fclaim%3DABC").content.decode()
    for field in ("email", "name"):
        assert f'<label for="id_{field}">' in page
    assert 'name="password"' not in page  # chosen from the e-mail's link, by the mailbox's owner
    response = c.post(
        "/signup/", {"email": "carol@example.com", "name": "Carol", "next": "/claim/?claim=ABC"}
    )
    assert response.status_code == 200
    assert "Check your e-mail" in response.content.decode()
    user = EndUser.objects.get(connector=claiming_connector, email="carol@example.com")
    assert not user.verified
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carol@example.com"]
    link = link_in(mail.outbox[0], "verify")
    assert "next=/claim/" in link

    # GET (a mail scanner) does not use the link.
    page = c.get(link)
    assert page.status_code == 200 and "Confirm carol@example.com" in page.content.decode()
    assert '<label for="id_password">' in page.content.decode()
    user.refresh_from_db()
    assert not user.verified and not user.password_hash

    assert c.post(link, {}).status_code == 400  # the password is required
    response = c.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/claim/?claim=ABC"
    assert response.cookies[PORTAL_SESSION_COOKIE].value
    user.refresh_from_db()
    assert user.verified
    assert "carol@example.com" in c.get("/account/").content.decode()
    assert log_in(client(), "carol@example.com", NEW_PASSWORD).status_code == 302

    # The link works once.
    gone = client().get(link)
    assert gone.status_code == 404
    assert "This link has expired or was already used" in gone.content.decode()


def test_the_password_chosen_on_the_verify_page_follows_the_rules(claiming_connector):
    user = end_user_create(connector=claiming_connector, email="dan@example.com")
    key = link_create(user=user, purpose="verify")
    c = client()
    response = c.post(f"/verify/{key}/", {"password": "123", "password_confirm": "1234"})
    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    response = c.post(f"/verify/{key}/", {"password": "12345678", "password_confirm": "12345678"})
    assert response.status_code == 400
    assert "too common" in response.content.decode() or "entirely numeric" in response.content.decode()
    user.refresh_from_db()
    assert not user.verified and not user.password_hash  # the link is still unused


def test_whoever_signs_an_address_up_first_does_not_hold_its_owners_account(claiming_connector, end_user):
    # Mallory signed up Victor's address before him, with a password of hers (say through the
    # management API, or an older sign-up form): the account is unverified.
    end_user(claiming_connector, "victor@example.com", verified=False)
    client().post("/signup/", {"email": "victor@example.com"})
    [welcome] = mail.outbox
    link = link_in(welcome, "verify")
    c = client()
    # Victor confirms from his mailbox: he must choose the password, which replaces hers.
    assert '<label for="id_password">' in c.get(link).content.decode()
    assert c.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).status_code == 302
    assert log_in(client(), "victor@example.com").status_code != 302  # PORTAL_PASSWORD: Mallory's
    assert log_in(client(), "victor@example.com", NEW_PASSWORD).status_code == 302


def test_sign_up_does_not_reveal_existing_addresses(claiming_connector, alice, end_user):
    end_user(claiming_connector, "unverified@example.com", verified=False)
    pages = []
    for email in ("new@example.com", "alice@example.com", "unverified@example.com"):
        response = client().post("/signup/", {"email": email})
        assert response.status_code == 200
        pages.append(response.content.decode().replace(email, "EMAIL"))
    assert pages[0] == pages[1] == pages[2]
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {"new@example.com", "alice@example.com", "unverified@example.com"}
    assert "already has an account" in by_address["alice@example.com"].body
    assert "/password-reset/" in by_address["alice@example.com"].body
    assert "/verify/" in by_address["unverified@example.com"].body
    # Alice's password did not change.
    assert log_in(client(), "alice@example.com").status_code == 302


def test_sign_ups_are_throttled_per_client_address(claiming_connector, settings):
    settings.PORTAL_SIGNUPS_PER_ADDRESS = 2
    for i in range(2):
        response = client().post("/signup/", {"email": f"u{i}@example.com"})
        assert response.status_code == 200
    response = client().post("/signup/", {"email": "u9@example.com"})
    assert response.status_code == 429
    assert "Too many sign-ups from this network; try again in" in response.content.decode()
    assert not EndUser.objects.filter(email="u9@example.com").exists()


def test_verify_asks_a_password_of_a_user_without_one(claiming_connector):
    user = end_user_create(connector=claiming_connector, email="erin@example.com")
    key = link_create(user=user, purpose="verify")
    c = client()
    page = c.get(f"/verify/{key}/").content.decode()
    assert '<label for="id_password">' in page and '<label for="id_password_confirm">' in page
    response = c.post(f"/verify/{key}/", {"password": NEW_PASSWORD, "password_confirm": "other-password-99"})
    assert response.status_code == 400 and "The two passwords differ." in response.content.decode()
    response = c.post(f"/verify/{key}/", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert log_in(client(), "erin@example.com", NEW_PASSWORD).status_code == 302


def test_unknown_verify_link_is_a_clear_page(claiming_connector):
    response = client().get("/verify/nope/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "This link has expired or was already used" in page
    assert 'href="/login/#resend"' in page


def test_log_in_goes_to_next_and_log_out(claiming_connector, alice):
    c = client()
    page = c.get("/login/?next=/claim/").content.decode()
    assert '<label for="id_email">' in page and 'autocomplete="current-password"' in page
    response = log_in(c, "alice@example.com", next_path="/claim/?claim=X")
    assert response.status_code == 302 and response["Location"] == "/claim/?claim=X"
    assert "My devices" in c.get("/").content.decode()
    # Not to another site.
    response = log_in(client(), "alice@example.com", next_path="//evil.example/")
    assert response.headers["Location"] == "/devices/"
    assert c.get("/logout/").status_code == 200
    response = c.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert c.get("/devices/").status_code == 302


def test_wrong_passwords_are_throttled_with_a_message(claiming_connector, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    for _ in range(2):
        response = log_in(client(), "alice@example.com", "wrong-password")
        assert response.status_code == 401
        assert "Wrong e-mail address or password." in response.content.decode()
    response = log_in(client(), "alice@example.com")
    assert response.status_code == 429
    page = response.content.decode()
    assert re.search(r"Too many failed log-ins; try again in \d+ minutes?\.", page)
    assert '<form method="post" action="/login/" id="login-form"' in page  # the full page


def test_unverified_user_can_ask_for_the_email_again(claiming_connector, end_user):
    end_user(claiming_connector, "frank@example.com", verified=False)
    response = log_in(client(), "frank@example.com")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Confirm your e-mail address first" in page
    assert 'id="resend-form"' in page
    known = client().post("/login/", {"action": "resend", "email": "frank@example.com"})
    unknown = client().post("/login/", {"action": "resend", "email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.content.decode().replace("frank@", "X@") == unknown.content.decode().replace("nobody@", "X@")
    assert [m.to for m in mail.outbox] == [["frank@example.com"]]


def test_blocked_user_cannot_log_in_and_its_cookie_stops_working(claiming_connector, alice):
    c = client()
    log_in(c, "alice@example.com")
    assert c.get("/devices/").status_code == 200
    end_user_update(user=alice, blocked=True)
    for path in ("/devices/", "/account/", "/apps/", "/claim/"):
        response = c.get(path)
        assert response.status_code in (200, 302)
        assert "alice@example.com" not in response.content.decode()
        if response.status_code == 200:
            assert 'id="nav-login"' in response.content.decode()
    response = log_in(client(), "alice@example.com")
    assert response.status_code == 403
    assert "This account is blocked." in response.content.decode()


def test_password_reset_same_answer_link_once_sessions_end(claiming_connector, alice):
    old = client()
    log_in(old, "alice@example.com")
    known = client().post("/password-reset/", {"email": "alice@example.com"})
    unknown = client().post("/password-reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    text = "If an account exists for"
    assert text in known.content.decode()
    assert known.content.decode().replace("alice@", "X@") == unknown.content.decode().replace("nobody@", "X@")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    assert "Reset your password" in mail.outbox[0].subject
    link = link_in(mail.outbox[0], "password-reset")

    c = client()
    page = c.get(link).content.decode()
    assert '<label for="id_password">' in page
    response = c.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "Your password is changed" in c.get("/login/").content.decode()
    # Used once.
    assert (
        "This link has expired or was already used"
        in client()
        .post(link, {"password": "x-" + NEW_PASSWORD, "password_confirm": "x-" + NEW_PASSWORD})
        .content.decode()
    )
    # The old session has ended; the new password works, the old one does not.
    assert old.get("/devices/").status_code == 302
    assert log_in(client(), "alice@example.com").status_code == 401
    assert log_in(client(), "alice@example.com", NEW_PASSWORD).status_code == 302


def test_password_reset_is_throttled_per_address(claiming_connector, alice, settings):
    settings.PORTAL_RESETS_PER_EMAIL = 1
    assert client().post("/password-reset/", {"email": "alice@example.com"}).status_code == 200
    response = client().post("/password-reset/", {"email": "alice@example.com"})
    assert response.status_code == 429
    assert "Too many password reset requests" in response.content.decode()
    assert len(mail.outbox) == 1


def test_account_settings_password_and_logout_everywhere(claiming_connector, alice):
    c, other = client(), client()
    log_in(c, "alice@example.com")
    log_in(other, "alice@example.com")
    page = c.get("/account/").content.decode()
    assert "E-mail me about new firmware" in page
    response = c.post("/account/", {"action": "settings", "name": "Alice B."})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.name == "Alice B." and alice.firmware_emails is False

    response = c.post("/account/", {
        "action": "password", "current_password": "wrong", "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    })  # fmt: skip
    assert response.status_code == 400 and "This is not your current password." in response.content.decode()
    response = c.post("/account/", {
        "action": "password", "current_password": PORTAL_PASSWORD, "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    })  # fmt: skip
    assert response.status_code == 302
    assert c.get("/account/").status_code == 200  # this browser stays logged in
    assert other.get("/account/").status_code == 302  # the other session ended

    log_in(other, "alice@example.com", NEW_PASSWORD)
    response = c.post("/account/", {"action": "logout_all"})
    assert response.status_code == 302
    assert c.get("/account/").status_code == 302
    assert other.get("/account/").status_code == 302


def test_a_fields_error_is_tied_to_it_for_screen_readers(claiming_connector):
    response = client().post("/signup/", {"email": "not an address"})
    assert response.status_code == 400
    page = response.content.decode()
    field = re.search(r"<input[^>]*id=\"id_email\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="id_email_error"' in field
    assert re.search(r'<ul class="errorlist" id="id_email_error"><li>[^<]+</li>', page)
