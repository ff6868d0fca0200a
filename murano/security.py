"""Security headers and cookies of the web side (UI, management API, admin, API docs).

``WebSecurityMiddleware`` comes first in ``MIDDLEWARE``:

- on the way in it decides the request's scheme by the same rule as the device API
  (``core.proxies.client_scheme``): ``X-Forwarded-Proto`` is believed only from a peer in
  ``TRUSTED_PROXIES``. Django's own ``SECURE_PROXY_SSL_HEADER`` would believe any sender, so the
  settings point it at a key of ``request.META`` that only this middleware writes (no request
  header can produce it: headers arrive as ``HTTP_*``). Everything Django derives from the
  scheme follows: ``request.is_secure()``, HSTS (``SecurityMiddleware``), the CSRF referer check.
- on the way out it marks every cookie of an HTTPS request ``Secure`` (the session and CSRF
  cookies included; ``SESSION_COOKIE_SECURE`` makes them secure on every request), adds the
  Content-Security-Policy, and withholds HSTS from loopback names.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port

from core.proxies import client_scheme

# The request.META key that SECURE_PROXY_SSL_HEADER names (settings.py).
CLIENT_SCHEME_KEY = "MURANO_CLIENT_SCHEME"


def _is_loopback_name(request: HttpRequest) -> bool:
    # The raw Host header: get_host() raises for a host not in ALLOWED_HOSTS, and this runs on
    # the 400 page that says so too.
    host, _ = split_domain_port(request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", ""))
    return host == "localhost" or host.endswith(".localhost")


class WebSecurityMiddleware:
    """The request's scheme from trusted proxies only; Secure cookies over HTTPS; the CSP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # request.scheme is still the server's own here: the META key is not set yet.
        request.META[CLIENT_SCHEME_KEY] = client_scheme(
            request.META.get("REMOTE_ADDR", ""), request.scheme, request.META.get("HTTP_X_FORWARDED_PROTO")
        )
        response = self.get_response(request)
        if request.is_secure():
            for morsel in response.cookies.values():
                morsel["secure"] = True
            # A developer's browser that took HSTS from https://localhost:8443 (``make run-tls``)
            # would refuse ``make run``'s http://localhost:8000 for a year.
            if _is_loopback_name(request):
                response.headers.pop("Strict-Transport-Security", None)
        if "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response
