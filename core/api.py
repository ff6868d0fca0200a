"""Shared pieces of the management API: error format and helpers.

Every error answers JSON, ``{"detail": "..."}`` or field errors ``{"field": ["..."]}``
(shared/docs/management-api.md, "Errors"), never an HTML page or a traceback, and never a 500 for something
the client sent: 400 for a request that does not match the schema (or that Django refuses:
too many fields or files, a malformed multipart body, a bad Host header, a body that cannot be
read), 404 for an object that does not exist or is not yours, 409 when the request conflicts
with what exists (a duplicate, a state that does not allow it), 413 for a body too large.
"""

import logging
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse, QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.views import defaults
from rest_framework import exceptions, renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

# The code of a Django ValidationError that is a conflict with what exists (answered 409), not
# bad input: ``ValidationError({"alias": ValidationError("...", code=CONFLICT)})``.
CONFLICT = "conflict"


class Conflict(exceptions.ValidationError):
    """409: the request is well formed but conflicts with what exists (``{"field": [...]}``)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = CONFLICT


def client_error(exc: BaseException) -> tuple[int, str] | None:
    """The status and message for an exception Django raises about what the client sent (a
    request it refuses to parse), or None for any other exception."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "The request body is too large."
    if isinstance(exc, TooManyFieldsSent):
        return 400, f"Too many fields: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} (query and form)."
    if isinstance(exc, TooManyFilesSent):
        return 400, f"Too many files: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES}."
    if isinstance(exc, DisallowedHost):
        return 400, "Invalid Host header."
    if isinstance(exc, SuspiciousOperation):
        return 400, "Malformed request."
    if isinstance(exc, MultiPartParserError):
        return 400, "Malformed multipart body."
    if isinstance(exc, UnreadablePostError):
        return 400, "The request body could not be read."
    if isinstance(exc, BadRequest):
        return 400, str(exc) or "Bad request."
    return None


def _log_client_error(exc: BaseException) -> None:
    # Where Django logs them outside the API, so operators' logging settings see both.
    if isinstance(exc, SuspiciousOperation):
        logging.getLogger(f"django.security.{exc.__class__.__name__}").warning("%s", exc)


def _is_conflict(exc: DjangoValidationError) -> bool:
    if hasattr(exc, "error_dict"):
        errors = [error for field_errors in exc.error_dict.values() for error in field_errors]
    else:
        errors = exc.error_list
    return bool(errors) and all(error.code == CONFLICT for error in errors)


def api_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's ValidationError as the API answers it: ``{"field": ["..."]}``, or
    ``{"detail": "..."}`` when it is not about one field; 409 when it is a conflict."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    if set(errors) == {"detail"}:
        errors = {"detail": " ".join(errors["detail"])}
    return Conflict(errors) if _is_conflict(exc) else exceptions.ValidationError(errors)


def exception_handler(exc, context):
    """Answer every error as JSON: ``{"detail": ...}`` or ``{"field": [...]}``; never a traceback."""
    request = context.get("request")
    if request is not None and getattr(request, "accepted_renderer", None) is None:
        # Content negotiation itself failed (it reads the query string: too many fields), so
        # nothing chose a renderer yet: errors are JSON, whatever the view renders otherwise.
        request.accepted_renderer, request.accepted_media_type = renderers.JSONRenderer(), "application/json"
    if isinstance(exc, DjangoValidationError):
        exc = api_validation_error(exc)
    refused = client_error(exc)
    if refused is not None:
        _log_client_error(exc)
        set_rollback()
        return Response({"detail": refused[1]}, status=refused[0])
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    logger.exception("Unhandled API error", exc_info=exc)
    return Response({"detail": "Internal error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _json_type_errors(field, value):
    """Where ``value``, as decoded from JSON, is not of the JSON type ``field`` documents:
    DRF-shaped errors, or None. DRF coerces (``0`` → ``"0"``, ``"yes"`` → true, ``"5"`` → 5);
    the API takes the types its schema documents."""
    if value is None or field.read_only:
        return None  # null: the field's own allow_null decides
    if isinstance(field, serializers.ListSerializer):
        if not isinstance(value, list):
            return None  # DRF reports it
        errors = [_json_type_errors(field.child, item) or {} for item in value]
        return errors if any(errors) else None
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, Mapping):
            return None
        errors = {}
        for name, child in field.fields.items():
            if name in value and (error := _json_type_errors(child, value[name])):
                errors[name] = error
        return errors or None
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return None
        errors = {i: e for i, item in enumerate(value) if (e := _json_type_errors(field.child, item))}
        return errors or None
    if isinstance(field, serializers.DictField):
        if not isinstance(value, Mapping):
            return None
        errors = {k: e for k, item in value.items() if (e := _json_type_errors(field.child, item))}
        return errors or None
    expected = getattr(field, "json_types", None)
    if expected is None:
        expected = next((types for cls, types in _JSON_TYPES if isinstance(field, cls)), None)
    if expected is None:
        return None
    if isinstance(value, expected) and (bool in expected or not isinstance(value, bool)):
        return _text_too_long(field, value)
    if expected == (int,) and isinstance(value, float) and value.is_integer():
        return None  # 5.0 is an integer to JSON Schema (and to DRF)
    if isinstance(field, serializers.ChoiceField) and "invalid_choice" in field.error_messages:
        return [field.error_messages["invalid_choice"].format(input=value)]
    if "invalid" in field.error_messages and not hasattr(field, "json_types"):
        return [field.error_messages["invalid"]]  # DRF's own words: "Must be a valid boolean."
    names = {str: "a string", int: "a number", float: "a number", bool: "true or false", list: "a list"}
    return ["Must be " + " or ".join(dict.fromkeys(names[t] for t in expected)) + "."]


def _text_too_long(field, value):
    # DRF counts a text's length once trimmed; the schema's maxLength counts what was sent.
    limit = getattr(field, "max_length", None)
    if isinstance(field, serializers.CharField) and isinstance(value, str) and limit and len(value) > limit:
        return [field.error_messages["max_length"].format(max_length=limit)]
    return None


# The JSON types of DRF's fields (the first match counts: subclasses first).
_JSON_TYPES = [
    (serializers.BooleanField, (bool,)),
    (serializers.IntegerField, (int,)),
    (serializers.FloatField, (int, float)),
    (serializers.DecimalField, (int, float)),
    (serializers.MultipleChoiceField, (list,)),
    (serializers.ChoiceField, (str,)),
    (serializers.CharField, (str,)),
]


# A serializer mixin for JSON input: a value of another JSON type than the field's (the schema's)
# is refused with 400 instead of coerced. Form and multipart input (all text) is left to DRF. A
# field may name the JSON types it takes in ``json_types``. (A comment, not a docstring: the
# schema would describe every serializer without a docstring of its own with it.)
class StrictTypes:
    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors = _json_type_errors(self, data)
            if errors:
                raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)


def _is_api_path(request) -> bool:
    return request.path.startswith(("/api/", "/api:1/"))


def bad_request(request, exception):
    """``handler400``: what Django refuses outside a view (a bad Host header, a body too large
    or with too many fields) answers JSON on API paths; a body too large answers 413."""
    refused = client_error(exception) or (400, "Bad request.")
    if _is_api_path(request):
        return JsonResponse({"detail": refused[1]}, status=refused[0])
    if refused[0] == 413:
        response = defaults.bad_request(request, exception, template_name="413.html")
        response.status_code = 413
        return response
    return defaults.bad_request(request, exception)


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
