"""Security headers and cookies of the web side, as a browser behind (or around) a proxy sees them.

``X-Forwarded-Proto`` counts only from a peer in ``TRUSTED_PROXIES`` (the device API's rule): a
request it vouches for as HTTPS gets HSTS and Secure cookies; anyone else claiming HTTPS gets
neither. Every page carries a Content-Security-Policy of our own files only, so templates must
hold no inline script, style or event handler.
"""

import json
import os
import re
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest

from tests.factories import PASSWORD
from tests.live import ROOT

pytestmark = pytest.mark.django_db

PROXY, STRANGER = "10.0.0.7", "203.0.113.9"
HOST = "connect.example.com"


@pytest.fixture
def behind_a_proxy(settings):
    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/24")]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]


def get(client, path, *, peer, proto="https", host=HOST):
    return client.get(path, REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO=proto, HTTP_HOST=host)


def test_https_through_a_trusted_proxy_gets_hsts_and_secure_cookies(web, owner, behind_a_proxy):
    response = get(web(), "/accounts/login/", peer=PROXY)

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.cookies["csrftoken"]["secure"] is True

    logged_in = web().post(
        "/accounts/login/", {"username": owner.email, "password": PASSWORD},
        REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=HOST,
    )  # fmt: skip
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["secure"] is True


def test_an_untrusted_sender_claiming_https_gets_neither(web, owner, behind_a_proxy):
    response = get(web(), "/accounts/login/", peer=STRANGER)

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert not response.cookies["csrftoken"]["secure"]

    logged_in = web().post(
        "/accounts/login/", {"username": owner.email, "password": PASSWORD},
        REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=HOST,
    )  # fmt: skip
    assert logged_in.status_code == 302
    assert not logged_in.cookies["sessionid"]["secure"]


def test_the_proxy_saying_http_is_believed_too(web, behind_a_proxy):
    response = get(web(), "/accounts/login/", peer=PROXY, proto="http")

    assert "Strict-Transport-Security" not in response.headers
    assert not response.cookies["csrftoken"]["secure"]


def test_password_reset_links_use_the_scheme_only_a_trusted_proxy_vouches_for(
    web, owner, behind_a_proxy, mailoutbox
):
    for peer, scheme in ((PROXY, "https"), (STRANGER, "http")):
        web().post(
            "/accounts/password_reset/", {"email": owner.email},
            REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=HOST,
        )  # fmt: skip
        assert f"{scheme}://{HOST}/accounts/reset/" in mailoutbox[-1].body


def test_configured_secure_cookies_are_secure_over_plain_http_too(web, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True

    response = web().get("/accounts/login/")

    assert response.cookies["csrftoken"]["secure"] is True


def test_no_hsts_for_localhost_where_make_run_serves_plain_http(web, settings):
    # https://localhost:8443 (make run-tls) must not make browsers refuse http://localhost:8000.
    settings.TRUSTED_PROXIES = [ip_network("127.0.0.1/32")]

    response = get(web(), "/accounts/login/", peer="127.0.0.1", host="localhost:8443")

    assert response.cookies["csrftoken"]["secure"] is True
    assert "Strict-Transport-Security" not in response.headers


def test_the_environments_trusted_proxies_decide_in_a_configured_process(tmp_path):
    """The settings as a deployment gets them (``TRUSTED_PROXIES`` in the environment), in a
    process of their own: the proxy is believed, a stranger's claim is not."""
    script = """
import json, django
django.setup()
from django.test import Client
seen = {}
for peer in ("10.0.0.7", "203.0.113.9"):
    client = Client(HTTP_HOST="localhost.test", HTTP_X_FORWARDED_PROTO="https")
    r = client.get("/accounts/login/", REMOTE_ADDR=peer)
    secure = bool(r.cookies["csrftoken"]["secure"])
    seen[peer] = {"hsts": "Strict-Transport-Security" in r.headers, "secure": secure}
print(json.dumps(seen))
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "murano.settings",
        "MURANO_VAR_DIR": str(tmp_path),
        "TRUSTED_PROXIES": "10.0.0.0/24",
        "ALLOWED_HOSTS": "localhost.test",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "10.0.0.7": {"hsts": True, "secure": True},
        "203.0.113.9": {"hsts": False, "secure": False},
    }


# --- Content-Security-Policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/connectors/", "/admin/", "/api/docs/", "/no-such-page/"]
)
def test_pages_allow_only_the_platforms_own_scripts_and_styles(web, owner, path):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])

    response = web(owner).get(path)

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


INLINE_CODE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I), "a file from elsewhere"),
]


def test_templates_hold_no_inline_code_nor_outside_sources():
    """The policy refuses inline scripts, styles and handlers: a template with one would break."""
    problems = []
    for template in sorted(Path(ROOT, "templates").rglob("*.html")):
        text = template.read_text()
        for pattern, what in INLINE_CODE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{template.relative_to(ROOT)}:{line}: {what}")
    assert problems == []


def test_the_api_docs_page_is_served_from_the_platform(web):
    response = web().get("/api/docs/")
    html = response.content.decode()

    assert response.status_code == 200
    sources = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert sources and all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    script = web().get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
