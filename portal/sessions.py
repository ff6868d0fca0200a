"""Who is on a portal page: the end user of the portal's session cookie.

The portal's pages and its JSON API share one session cookie (``PORTAL_SESSION_COOKIE``), set
at log-in on the portal host only (host-only, HttpOnly, SameSite=Lax): it is never sent to the
platform or to another connector's portal, and the platform's own session cookie is never read
here. Forms carry Django's CSRF token, whose cookie is host-only too.
"""

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from claiming.authentication import PORTAL_SESSION_COOKIE
from claiming.models import EndUser
from claiming.services import session_user


def page_end_user(request: HttpRequest) -> EndUser | None:
    """The end user of the request's session cookie on this portal (None: none, expired,
    blocked, or another connector's). Sets ``request.end_user``."""
    if not hasattr(request, "end_user"):
        user = session_user(request.COOKIES.get(PORTAL_SESSION_COOKIE, ""))
        if user is not None and user.connector_id != request.portal_connector.pk:
            user = None
        request.end_user = user
    return request.end_user


def session_cookie_set(response: HttpResponse, key: str) -> None:
    """Log the browser in: the session key in the portal's cookie (this host only)."""
    response.set_cookie(
        PORTAL_SESSION_COOKIE,
        key,
        max_age=settings.PORTAL_SESSION_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def session_cookie_clear(response: HttpResponse) -> None:
    response.delete_cookie(PORTAL_SESSION_COOKIE, samesite="Lax")


def safe_next(path: str | None, default: str = "/devices/") -> str:
    """A path of this portal to go to after logging in (never another site: ``//host``,
    ``http://…`` and backslashes fall back to ``default``)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


def login_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """To the log-in page, coming back to this page afterwards."""
    return HttpResponseRedirect("/login/?" + urlencode({"next": request.get_full_path()}))


def end_user_required(view):
    """A page for logged-in end users: anyone else goes to the log-in page (and comes back)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if page_end_user(request) is None:
            response = login_redirect(request)
            if request.COOKIES.get(PORTAL_SESSION_COOKIE):
                session_cookie_clear(response)  # a stale or revoked session: forget it
            return response
        return view(request, *args, **kwargs)

    return wrapper
