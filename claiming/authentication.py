"""Authentication of the portal's JSON API: an end user's session key.

``Authorization: Token <key>`` (the key ``POST /api/session`` answered), or the portal pages'
session cookie (``PORTAL_SESSION_COOKIE``, CSRF-checked on unsafe methods as Django's own
sessions are). The platform's user stays anonymous: ``request.end_user`` is who calls, and no
platform credential (a product manager's session or API token) opens the portal API; an end
user's key opens nothing of the platform either (its routes do not exist on a portal host, and
the management API does not know these keys).
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck, get_authorization_header
from rest_framework.permissions import BasePermission

from claiming.services import session_user

PORTAL_SESSION_COOKIE = "portal_session"
INVALID = "Invalid or expired session; log in again."


def request_session_key(request) -> tuple[str | None, bool]:
    """The session key a request carries and whether it came in the cookie."""
    header = get_authorization_header(request).split()
    if header and header[0].lower() == b"token":
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: Token <key>.")
        try:
            return header[1].decode(), False
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID) from None
    return request.COOKIES.get(PORTAL_SESSION_COOKIE) or None, True


class EndUserAuthentication(BaseAuthentication):
    """The end user of a live session of this portal's connector (``request.end_user``)."""

    def authenticate(self, request):
        key, from_cookie = request_session_key(request)
        if not key:
            return None
        user = session_user(key)
        connector = getattr(request._request, "portal_connector", None)
        if user is None or connector is None or user.connector_id != connector.pk:
            raise exceptions.AuthenticationFailed(INVALID)
        if from_cookie:
            check = CSRFCheck(lambda r: None)
            check.process_request(request._request)  # reads the CSRF cookie
            reason = check.process_view(request._request, None, (), {})
            if reason:
                raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")
        request._request.end_user = user
        request._request.end_user_session_key = key
        return AnonymousUser(), user

    def authenticate_header(self, request):
        return "Token"


class IsEndUser(BasePermission):
    """The caller is an end user of this portal (401 otherwise)."""

    def has_permission(self, request, view):
        return getattr(request._request, "end_user", None) is not None
