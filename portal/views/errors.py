"""Error pages of portal hosts: branded pages (the portal's header, footer and theme) for 400,
403, 404 and 500, and ``{"detail": …}`` under ``/api/`` as the JSON API answers. Nothing here
links to the platform (its home page, log-in), which a portal host does not have.

``csrf_failure`` is the ``CSRF_FAILURE_VIEW``: on a portal host a branded "this form has
expired" page, elsewhere Django's own view with the platform's ``403_csrf.html``."""

import logging

from django.http import HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as platform_csrf_failure

from core import api
from portal.presenters import render_page

logger = logging.getLogger(__name__)


def _page(request, status: int, heading: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    try:
        return render_page(
            request, "portal/error.html", {"heading": heading, "message": message}, status=status
        )
    except Exception:  # the page needs the database: an error page must not fail in turn
        logger.exception("portal error page %s could not be rendered", status)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def bad_request(request, exception):
    """``handler400`` of portal hosts (JSON under ``/api/``, as ``core.api.bad_request``)."""
    status, message = api.client_error(exception) or (400, "Bad request.")
    return _page(request, status, "Bad request", message)


def permission_denied(request, exception):
    """``handler403`` of portal hosts."""
    return _page(request, 403, "Not allowed", "You are not allowed to do this.")


def page_not_found(request, exception):
    """``handler404`` of portal hosts."""
    return _page(request, 404, "Not found", "Not found.")


def server_error(request):
    """``handler500`` of portal hosts."""
    return _page(request, 500, "Something went wrong", "Internal error.")


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: the portal's page on portal hosts, Django's elsewhere."""
    if getattr(request, "portal_connector", None) is None:
        return platform_csrf_failure(request, reason=reason)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "CSRF check failed."}, status=403)
    return _page(
        request, 403, "This form has expired",
        "The page was open too long or cookies are blocked. Go back, reload the page and try again.",
    )  # fmt: skip
