"""Logging in and out, changing a forgotten or known password, and the e-mail settings."""

import re

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from murano.settings import _email_settings
from tests.factories import PASSWORD
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db


def test_logging_in_opens_the_connectors(web, owner, connector):
    client = web()
    page = page_text(client.get("/accounts/login/"))
    assert '<label for="id_username">E-mail address</label>' in page and 'name="csrfmiddlewaretoken"' in page
    response = client.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/connectors/"
    assert connector.name in page_text(client.get("/connectors/"))


def test_logging_in_returns_to_the_page_asked_for(web, owner, connector):
    client = web()
    wanted = f"/connectors/{connector.pk}/logs/"
    login = client.get(wanted)
    assert login["Location"] == f"/accounts/login/?next={wanted}"
    response = client.post(login["Location"], {"username": owner.email, "password": PASSWORD, "next": wanted})
    assert response["Location"] == wanted


def test_a_wrong_password_is_explained_and_the_email_kept(web, owner):
    response = web().post("/accounts/login/", {"username": owner.email, "password": "wrong"})
    assert response.status_code == 200
    html = page_text(response)
    assert "Please enter a correct e-mail address and password." in html
    assert f'value="{owner.email}"' in html


def test_logging_out_takes_a_post(web, owner):
    client = web(owner)
    html = page_text(client.get("/connectors/"))
    assert 'action="/accounts/logout/"' in html and owner.email in html
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/connectors/").status_code == 302


def test_changing_the_password(web, owner):
    client = web(owner)
    url = "/accounts/password_change/"
    short = client.post(url, {"old_password": PASSWORD, "new_password1": "abc", "new_password2": "abc"})
    assert short.status_code == 200 and "This password is too short." in page_text(short)
    new = "new-Secret-42-x"
    response = client.post(url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response["Location"] == "/accounts/password_change/done/"
    owner.refresh_from_db()
    assert owner.check_password("new-Secret-42-x")


def test_resetting_a_forgotten_password_by_email(web, owner):
    client = web()
    response = client.post("/accounts/password_reset/", {"email": owner.email.upper()})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner.email] and message.subject == "Reset your IoT Connector password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in page_text(form)
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "brand-New-pass-77",
                                                    "new_password2": "brand-New-pass-77"})  # fmt: skip
    assert done["Location"] == "/accounts/reset/done/"
    owner.refresh_from_db()
    assert owner.check_password("brand-New-pass-77")
    assert "This link no longer works" in page_text(client.get(link, follow=True))


def test_unknown_addresses_get_the_same_answer_and_no_mail(web):
    response = web().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


def test_email_goes_to_the_console_by_default(monkeypatch):
    for name in ["EMAIL_URL", "EMAIL_HOST"]:
        monkeypatch.delenv(name, raising=False)
    assert _email_settings() == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


def test_email_url_configures_smtp(monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "smtp://mailer%40example.com:p%40ss@smtp.example.com:2525?tls=0")
    assert _email_settings() == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "mailer@example.com",
        "EMAIL_HOST_PASSWORD": "p@ss",
        "EMAIL_USE_SSL": False,
        "EMAIL_USE_TLS": False,
    }
    monkeypatch.setenv("EMAIL_URL", "smtps://smtp.example.com")
    settings = _email_settings()
    assert settings["EMAIL_PORT"] == 465 and settings["EMAIL_USE_SSL"] and not settings["EMAIL_USE_TLS"]


def test_email_url_can_write_each_message_to_a_folder(monkeypatch, tmp_path, settings):
    monkeypatch.setenv("EMAIL_URL", f"file://{tmp_path}/mail")
    configured = _email_settings()
    assert configured == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": f"{tmp_path}/mail",
    }
    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = configured.values()
    from django.core.mail import send_mail

    send_mail("Hello", "The body.", "from@example.com", ["to@example.com"])
    [written] = (tmp_path / "mail").iterdir()
    assert "Subject: Hello" in written.read_text() and "The body." in written.read_text()


def test_email_host_settings_configure_smtp(monkeypatch):
    monkeypatch.delenv("EMAIL_URL", raising=False)
    monkeypatch.setenv("EMAIL_HOST", "mail.internal")
    monkeypatch.setenv("EMAIL_HOST_USER", "robot")
    settings = _email_settings()
    assert settings["EMAIL_HOST"] == "mail.internal" and settings["EMAIL_PORT"] == 587
    assert settings["EMAIL_USE_TLS"] and settings["EMAIL_HOST_USER"] == "robot"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"EMAIL_URL": "carrier-pigeon://coop"}, "unknown scheme"),
        ({"EMAIL_URL": "smtp://"}, "needs a host name"),
        ({"EMAIL_URL": "smtp://host:port"}, "port must be a number"),
        ({"EMAIL_URL": "file://relative/folder"}, "needs an absolute folder"),
        ({"EMAIL_HOST": "h", "EMAIL_PORT": "x"}, "EMAIL_PORT must be an integer"),
        ({"EMAIL_HOST": "h", "EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, "cannot both be on"),
    ],
)
def test_bad_email_settings_fail_at_start_up(monkeypatch, env, message):
    monkeypatch.delenv("EMAIL_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        _email_settings()
