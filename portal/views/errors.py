"""Pages of the portal host. Until the portal's pages exist, its error pages are plain: the
platform's templates link to the platform (its home page, log-in), which a portal host does
not have."""

from django.http import HttpResponse, JsonResponse

from core import api


def _plain(request, status: int, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def bad_request(request, exception):
    """``handler400`` of portal hosts (JSON under ``/api/``, as ``core.api.bad_request``)."""
    status, message = api.client_error(exception) or (400, "Bad request.")
    return _plain(request, status, message)


def page_not_found(request, exception):
    """``handler404`` of portal hosts."""
    return _plain(request, 404, "Not found.")


def server_error(request):
    """``handler500`` of portal hosts."""
    return _plain(request, 500, "Internal error.")
