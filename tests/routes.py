"""Routes as the URL resolver knows them, for tests that must cover every one, and the access
rules the route tables (API and web UI) name."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ["get", "post", "put", "patch", "delete"]
API_PREFIXES = ("api/v1/", "api:1/")

# Access rules of the route tables, and the business roles each allows.
PUBLIC = "public"  # no login needed
PERSONAL = "personal"  # any logged-in user, on their own things or their own view (lists)
READ = "read"  # any member of the owning business
WRITE = "write"  # admins and developers of the owning business
ADMIN = "admin"  # admins of the owning business only (membership, deleting a connector)
ALLOWED_ROLES = {
    READ: {"admin", "developer", "viewer"},
    WRITE: {"admin", "developer"},
    ADMIN: {"admin"},
}


def url_patterns():
    """Every URL pattern of the project: ``(route, pattern)``, the route as the resolver spells
    it (``api/v1/connectors/<segment:connector_id>/``)."""

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry

    return list(walk(get_resolver().url_patterns))


def api_routes() -> dict[str, set[str]]:
    """``{pattern: methods}`` for every route under ``/api/v1/`` and ``/api:1/``, patterns as the
    resolver spells them (``api/v1/connectors/<segment:connector_id>/``), methods the ones the
    view implements."""
    routes = {}
    for route, entry in url_patterns():
        if route.startswith(API_PREFIXES):
            view = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
            routes[route] = {m for m in HTTP_METHODS if view is None or hasattr(view, m)}
    return routes


def openapi_path(route: str) -> str:
    """``api/v1/connectors/<segment:connector_id>/`` → ``/api/v1/connectors/{connector_id}/``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
