"""Portal hosts: ``<portal_subdomain>.<PORTAL_DOMAIN>`` is a connector's end-user portal.

A request for such a host is answered from ``portal.urls`` only (``request.urlconf``), so
nothing of the platform (``/connectors/``, ``/admin/``, ``/api/v1/``) exists there, and carries
``request.portal_connector``: the connector with that sub-domain and claiming turned on. A
sub-domain that names none is a 404 (JSON under ``/api/``). Other hosts pass untouched.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import split_domain_port

from connectors.models import Connector

NOT_FOUND = "No such portal."


def portal_subdomain(request: HttpRequest) -> str | None:
    """The sub-domain of a portal host (one DNS label before ``PORTAL_DOMAIN``), or None."""
    # The raw Host header: get_host() would refuse hosts outside ALLOWED_HOSTS (its 400 is
    # Django's to give, later).
    host, _ = split_domain_port(request.META.get("HTTP_HOST") or "")
    suffix = "." + settings.PORTAL_DOMAIN
    if not host.endswith(suffix):
        return None
    sub = host[: -len(suffix)]
    return sub if sub and "." not in sub else None


class PortalHostMiddleware:
    """Route portal hosts to the portal's URLs, with their connector."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sub = portal_subdomain(request)
        if sub is None:
            return self.get_response(request)
        connector = Connector.objects.filter(portal_subdomain=sub, claiming_enabled=True).first()
        if connector is None:
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NOT_FOUND}, status=404)
            return HttpResponse(NOT_FOUND, status=404, content_type="text/plain; charset=utf-8")
        request.urlconf = "portal.urls"
        request.portal_connector = connector
        return self.get_response(request)
