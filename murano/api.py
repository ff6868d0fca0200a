"""Shared pieces of the management API: error format and helpers."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Answer every error as JSON: ``{"detail": ...}`` or ``{"field": [...]}``; never a traceback."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
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
