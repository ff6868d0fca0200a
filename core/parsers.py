"""The management API's request parsers (settings ``DEFAULT_PARSER_CLASSES``).

A module of its own: DRF resolves its parser setting while ``rest_framework.views`` is being
imported, so the module it names must not import that (``core.api`` does).
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, held to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` as Django holds form bodies
    (DRF reads a JSON body whole, whatever its size): a larger one answers 413."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if stream is None or limit is None:
            return super().parse(stream, media_type, parser_context)
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(body.decode(encoding), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


def _refuse_constant(name: str):
    # NaN and Infinity are not JSON (DRF refuses them too when strict).
    raise ValueError(f"{name} is not valid JSON")
