"""Firmware package metadata (seed 003, ExoSense OTAU conventions).

A firmware package is a content item whose id starts with ``package_``: a JSON document
uploaded beside the firmware itself::

    {"author": "…", "product": "…",
     "config_otau": {"version": "1.0.1", "name": "…", "description": null,
                     "type": "FILE" | "JSON" | "URL_LIST", "payload": …}}

``config_otau`` is what a device receives in its ``config_otau`` resource when it is updated.
``payload`` by type: ``FILE`` — the id of a content item of this connector (or a list of
them) that the device downloads through ``/provision/download``; ``JSON`` — any JSON value;
``URL_LIST`` — a list of http(s) URLs. A package upload whose document does not fit is refused
whole (nothing stored).
"""

import json
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from connectors.models import CONTENT_ID_MAX_LENGTH

PACKAGE_PREFIX = "package_"
# Metadata documents are small; anything bigger is a mistake (a firmware named package_…).
PACKAGE_MAX_BYTES = 1024 * 1024
# config_otau travels in a string resource, whose values are at most 64 KB.
CONFIG_OTAU_MAX_BYTES = 65_536
OTAU_TYPES = ("FILE", "JSON", "URL_LIST")
MAX_URLS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTENT_ID = re.compile(rf"^[A-Za-z0-9_][A-Za-z0-9._\-]{{0,{CONTENT_ID_MAX_LENGTH - 1}}}$")


def is_package_id(content_id: str) -> bool:
    return content_id.startswith(PACKAGE_PREFIX)


def _text(value, path: str, *, max_length: int, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(
            f"{path} must be a non-empty string" if required else f"{path} must be a string"
        )
    if len(value) > max_length:
        raise ValidationError(f"{path} must be at most {max_length} characters")
    if _CONTROL.search(value):
        raise ValidationError(f"{path} must not contain control characters")
    return value


def config_otau_clean(config) -> dict:
    """A validated ``config_otau`` object (as given: devices get exactly what was authored).
    Raises ``ValidationError`` with a message naming the field."""
    if not isinstance(config, dict):
        raise ValidationError("config_otau must be a JSON object")
    _text(config.get("version"), "config_otau.version", max_length=64, required=True)
    _text(config.get("name"), "config_otau.name", max_length=200, required=True)
    _text(config.get("description"), "config_otau.description", max_length=2000, required=False)
    otau_type = config.get("type")
    if otau_type not in OTAU_TYPES:
        raise ValidationError(f"config_otau.type must be one of {', '.join(OTAU_TYPES)}")
    if "payload" not in config:
        raise ValidationError("config_otau.payload is required")
    payload = config["payload"]
    if otau_type == "FILE":
        ids = payload if isinstance(payload, list) else [payload]
        if not ids or not all(isinstance(i, str) and CONTENT_ID.match(i) for i in ids):
            raise ValidationError("config_otau.payload of a FILE package must name content ids")
    elif otau_type == "URL_LIST":
        if not isinstance(payload, list) or not 0 < len(payload) <= MAX_URLS:
            raise ValidationError(f"config_otau.payload of a URL_LIST package must list 1 to {MAX_URLS} URLs")
        for url in payload:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
                raise ValidationError(f"config_otau.payload: {str(url)[:80]!r} is not an http(s) URL")
    if len(config_otau_message(config).encode()) > CONFIG_OTAU_MAX_BYTES:
        raise ValidationError(f"config_otau must be at most 64 KB ({CONFIG_OTAU_MAX_BYTES:,} bytes) as JSON")
    return config


def config_otau_message(config: dict) -> str:
    """The ``config_otau`` value a device reads: compact JSON."""
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)


def config_otau_file_ids(config: dict) -> list[str]:
    """The content ids a FILE package's devices will download."""
    if config.get("type") != "FILE":
        return []
    payload = config.get("payload")
    return list(payload) if isinstance(payload, list) else [payload]


def package_metadata_parse(data: bytes) -> dict:
    """The validated metadata document of a ``package_`` item, or ``ValidationError``."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError("package metadata must be UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"package metadata is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(document, dict):
        raise ValidationError("package metadata must be a JSON object")
    _text(document.get("author"), "author", max_length=200, required=False)
    _text(document.get("product"), "product", max_length=200, required=False)
    if "config_otau" not in document:
        raise ValidationError("package metadata needs a config_otau object")
    config_otau_clean(document["config_otau"])
    return document
