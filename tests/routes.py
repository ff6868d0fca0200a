"""The API's routes as the URL resolver knows them, for tests that must cover every one."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ["get", "post", "put", "patch", "delete"]
API_PREFIXES = ("api/v1/", "api:1/")


def api_routes() -> dict[str, set[str]]:
    """``{pattern: methods}`` for every route under ``/api/v1/`` and ``/api:1/``, patterns as the
    resolver spells them (``api/v1/connectors/<segment:connector_id>/``), methods the ones the
    view implements."""
    routes = {}

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                if route.startswith(API_PREFIXES):
                    view = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
                    routes[route] = {m for m in HTTP_METHODS if view is None or hasattr(view, m)}

    walk(get_resolver().url_patterns)
    return routes


def openapi_path(route: str) -> str:
    """``api/v1/connectors/<segment:connector_id>/`` → ``/api/v1/connectors/{connector_id}/``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
