"""OpenAPI generation: every operation documents the errors it can answer, in one place.

Views describe their own successes (and their own conflicts, 409) with ``extend_schema``; the
error responses all views share (shared/docs/management-api.md, "Errors") are added here, from what the
operation takes: any request can be refused as malformed (400: invalid input, or more than
``DATA_UPLOAD_MAX_NUMBER_FIELDS`` query or form fields) or ask for another media type than JSON
(406), a body can be too large (413) or of a media type the operation does not take (415), a
login is needed (401) and repeated wrong passwords are throttled (429), a write can be beyond
one's role (403), a named object can be missing or someone else's (404).

Request bodies are documented as JSON, the API's format (form and multipart bodies cannot
carry its nested objects); uploads document ``multipart/form-data`` themselves.
"""

import copy
import re

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    """An error that is not about one field."""

    detail = serializers.CharField()


# Field errors: ``{"field": ["message", ...]}``, nested like the request for nested objects and
# lists, or ``{"detail": "..."}`` when the problem is not about one field.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'Messages per field (`{"field": ["..."]}`, nested like the request), or `{"detail": "..."}`.'
    ),
    "additionalProperties": {},
    "example": {"name": ["This field is required."]},
}

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# What DRF's text fields take, as patterns (ECMA, as Python reads them too): never a NUL, and
# unless blank is allowed, something besides the whitespace DRF trims.
# The whitespace Python trims (str.strip) and matches (re's \s), spelled out for patterns: their
# \s is ECMA's, which differs (it leaves out \x1c-\x1f and \x85, takes \ufeff).
WHITESPACE = r"\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = "^[^\\u0000]*$"
NONBLANK_TEXT_PATTERN = rf"^[^\u0000]*[^{WHITESPACE}\u0000][^\u0000]*$"


def documented(field: serializers.Field, schema: dict) -> serializers.Field:
    """``field``, documented with ``schema`` instead of what drf-spectacular makes of it (its
    validators still add their bounds). The schema rides on a subclass: DRF copies declared
    fields by instantiating their class again."""
    cls = type(field)
    documented_cls = extend_schema_field(schema)(type(cls.__name__, (cls,), {"__module__": cls.__module__}))
    # Copied as DRF copies fields: a child field given is bound to the first one already.
    args = [copy.deepcopy(arg) for arg in field._args]
    kwargs = {k: v if k in ("validators", "regex") else copy.deepcopy(v) for k, v in field._kwargs.items()}
    return documented_cls(*args, **kwargs)


def field_errors(description: str) -> OpenApiResponse:
    """An error answered as field errors (the ``ValidationError`` component, which every
    operation's 400 registers)."""
    return OpenApiResponse({"$ref": "#/components/schemas/ValidationError"}, description=description)


def conflict(description: str) -> OpenApiResponse:
    """409: the request conflicts with what exists; field errors say with what."""
    return field_errors(description)


def text_schema(*, max_length: int | None = None, pattern: str | None = TEXT_PATTERN, **extra) -> dict:
    """A text parameter as the views read it: never a NUL (refused with 400)."""
    schema = {"type": "string", **extra}
    if pattern and "enum" not in extra and "format" not in extra:
        schema["pattern"] = pattern
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def integer_schema(minimum: int, maximum: int, *, blank: bool = False) -> dict:
    """An integer parameter; ``blank``: an empty value is taken as absent (the default)."""
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return {"anyOf": [schema, {"type": "string", "enum": [""]}]} if blank else schema


def query(name: str, schema: dict, description: str = "", **kwargs) -> OpenApiParameter:
    """A query parameter with its whole schema: the bounds and patterns the view enforces."""
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description, **kwargs)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, JSON request bodies, plus the shared error responses."""

    def _map_basic_serializer(self, serializer, direction):
        self._direction = direction
        return super()._map_basic_serializer(serializer, direction)

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        blank_or_pattern = schema.get("oneOf", [None, None])[1] == {"type": "string", "maxLength": 0}
        if blank_or_pattern:
            # drf-spectacular's "pattern, or blank" for fields that allow blank. Where the pattern
            # takes blank itself, the pattern alone says it (and oneOf would refuse blank).
            pattern, other = schema.pop("oneOf")
            if re.search(pattern.get("pattern", "."), "") and not pattern.get("minLength"):
                schema.update(pattern)
            else:
                schema["anyOf"] = [pattern, other]
        text = schema.get("type") == "string" and not {"pattern", "format", "enum"} & set(schema)
        validated = any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
        if text and validated and getattr(self, "_direction", None) == "request":
            blank = getattr(field, "allow_blank", True) or not getattr(field, "trim_whitespace", False)
            schema["pattern"] = TEXT_PATTERN if blank else NONBLANK_TEXT_PATTERN

    def map_parsers(self):
        media_types = super().map_parsers()
        return ["application/json"] if "application/json" in media_types else media_types

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        authenticated = not any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        errors = {"400": (self._validation_error_ref(), "Invalid input, or a malformed request.")}
        if "requestBody" in operation:
            errors["413"] = (self._error_ref(), "The request body is too large.")
            errors["415"] = (self._error_ref(), "A body of a media type this operation does not take.")
        if all(
            set(response.get("content", {})) <= {"application/json"}
            for code, response in operation["responses"].items()
            if code.startswith("2")
        ):
            errors["406"] = (self._error_ref(), "The Accept header refuses JSON, all this answers.")
        if authenticated:
            errors["401"] = (self._error_ref(), "Not logged in, or bad credentials.")
            if self.method not in _SAFE_METHODS:
                errors["403"] = (
                    self._error_ref(),
                    "Not allowed: beyond your role in the business (or a session write without CSRF token).",
                )
            errors["429"] = (self._error_ref(), "Too many wrong passwords: try again after Retry-After.")
        if any(p["in"] == "path" for p in parameters):
            errors["404"] = (self._error_ref(), "No such object, or not one of yours.")
        for code, (schema, description) in errors.items():
            operation["responses"].setdefault(
                code, {"content": {"application/json": {"schema": schema}}, "description": description}
            )
        operation["responses"] = dict(sorted(operation["responses"].items()))
        return operation

    def _error_ref(self):
        return self.resolve_serializer(ErrorSerializer, "response").ref

    def _validation_error_ref(self):
        component = ResolvedComponent(
            name="ValidationError",
            type=ResolvedComponent.SCHEMA,
            object="ValidationError",
            schema=VALIDATION_ERROR_SCHEMA,
        )
        self.registry.register_on_missing(component)
        return component.ref
