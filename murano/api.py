"""Shared pieces of the management API: error format and helpers."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.urls import register_converter
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Answer every error as JSON: ``{"detail": ...}`` or ``{"field": [...]}``; never a traceback."""
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        if set(errors) == {"detail"}:
            # Not about one field: the usual {"detail": "..."} shape.
            set_rollback()
            return Response({"detail": " ".join(errors["detail"])}, status=status.HTTP_400_BAD_REQUEST)
        exc = exceptions.ValidationError(errors)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    logger.exception("Unhandled API error", exc_info=exc)
    return Response({"detail": "Internal error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def connector_for_request(request, connector_id: str, *, action: str = "read"):
    """The connector named in the URL, if the user may see it (else 404) and may do ``action``
    (``read``, ``write`` or ``admin``; else 403). One place for every API view's access rule."""
    from accounts.selectors import role_can_administer, role_can_write
    from connectors.selectors import connector_get_for_user

    connector, role = connector_get_for_user(user=request.user, connector_id=connector_id)
    if action == "write" and not role_can_write(role):
        raise exceptions.PermissionDenied("Your role in this business is read-only.")
    if action == "admin" and not role_can_administer(role):
        raise exceptions.PermissionDenied("Only business admins may do this.")
    return connector


def action_for_method(method: str) -> str:
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


class UrlSegment:
    """``<segment:...>``: one path segment (ids, identities). Never a NUL, which names nothing
    and which PostgreSQL refuses even in a lookup: such a path is simply not found."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class UrlRest(UrlSegment):
    """``<rest:...>``: the rest of the path, slashes included (aliases may hold a ``/``)."""

    regex = "[^\x00]+"


register_converter(UrlSegment, "segment")
register_converter(UrlRest, "rest")


def _is_api_path(request) -> bool:
    return request.path.startswith(("/api/", "/api:1/"))


def page_not_found(request, exception):
    """``handler404``: API paths that match no route answer JSON too, never an HTML page."""
    if _is_api_path(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """``handler500``: an error outside DRF views still answers JSON on API paths."""
    if _is_api_path(request):
        return JsonResponse({"detail": "Internal error."}, status=500)
    return defaults.server_error(request)
