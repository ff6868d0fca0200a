"""What the portal's management API reads and answers. The branding document is checked by
``portal.services.branding_clean`` (one set of rules for the API and the Portal tab); its schema
here documents the same limits for clients."""

from rest_framework import serializers

from core.api import StrictTypes
from core.openapi import NONBLANK_TEXT_PATTERN, TEXT_PATTERN, documented
from portal import services
from portal.branding import DEFAULT_BRANDING


def _text(max_length: int, description: str = "") -> dict:
    schema = {"type": "string", "maxLength": max_length, "pattern": TEXT_PATTERN}
    return {**schema, "description": description} if description else schema


def _object(properties: dict, *, complete: bool) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {**schema, "required": list(properties)} if complete else schema


def branding_schema(*, complete: bool) -> dict:
    """The seed's ``branding.json``; ``complete``: as answered (every field), else as sent
    (missing fields take the defaults)."""
    colour = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "description": "#rrggbb"}
    link = _text(services.LINK_MAX_LENGTH, "an http:// or https:// address, or empty")
    limits = services.TEXT_LIMITS
    schema = _object(
        {
            "title": _text(limits["title"]),
            "description": _text(limits["description"]),
            "companyName": _text(limits["companyName"]),
            "theme": _object({name: colour for name in DEFAULT_BRANDING["theme"]}, complete=complete),
            "themeType": {"type": "string", "enum": list(services.THEME_TYPES)},
            "links": _object({name: link for name in DEFAULT_BRANDING["links"]}, complete=complete),
            "landingPage": _object(
                {
                    "mainSlogan": _text(limits["landingPage.mainSlogan"]),
                    "secondarySlogan": _text(limits["landingPage.secondarySlogan"]),
                    "deviceName": _text(limits["landingPage.deviceName"]),
                    "deviceSpecs": {
                        "type": "array",
                        "maxItems": services.SPECS_MAX_ITEMS,
                        "items": _text(services.SPEC_MAX_LENGTH),
                    },
                },
                complete=complete,
            ),
        },
        complete=complete,
    )
    schema["example"] = DEFAULT_BRANDING
    return schema


class EmailTemplateSerializer(StrictTypes, serializers.Serializer):
    """The welcome e-mail: ``<%NAME%>`` variables (``EMAIL``, ``NAME``, ``LINK``, ``TITLE``,
    ``COMPANY``, ``PORTAL_URL``) are replaced by their values, HTML-escaped in ``html``. The
    subject is one line; ``html`` must have ``<%LINK%>``. (Blank text is the service's to refuse:
    "cannot render: the subject is empty".)"""

    subject = documented(
        serializers.CharField(
            max_length=services.SUBJECT_MAX_LENGTH, allow_blank=True, trim_whitespace=False
        ),
        {"type": "string", "maxLength": services.SUBJECT_MAX_LENGTH, "pattern": NONBLANK_TEXT_PATTERN},
    )
    html = serializers.CharField(max_length=services.EMAIL_HTML_MAX_LENGTH, trim_whitespace=False)
