"""The branding files on a portal host, at the seed's paths: ``/vendor/branding.json`` (the
complete document), ``/vendor/brandlogo.png``, ``/vendor/device.png``, ``/vendor/favicon.ico``
(the uploaded image from storage, or our default), and ``/theme.css`` (``portal.theme``).

Caching: pages link to the images and the theme with a version in the query
(``portal.branding.asset_urls``, ``theme_css_url``); the current version is cached for a year,
anything else (no version, an old one, ``branding.json``) is revalidated each time with its
``ETag`` (``If-None-Match`` → 304)."""

import hashlib
import json

from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from django.views.decorators.http import require_safe

from portal.branding import ASSET_NAMES, assets_of, branding_of, theme_css_url
from portal.services import DEFAULT_ASSET_TYPES, asset_default, asset_storage
from portal.theme import theme_css as theme_css_text

BRANDING_JSON = "branding.json"
CACHE_VERSIONED = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"
DEFAULT_VERSION = "default"


def _etag(digest: str) -> str:
    return f'"{digest}"'


def _not_modified(request, etag: str) -> bool:
    wanted = parse_etags(request.headers.get("If-None-Match", ""))
    return "*" in wanted or etag in wanted


def _finish(response: HttpResponse, *, etag: str, versioned: bool) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_VERSIONED if versioned else CACHE_REVALIDATE
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _respond(request, *, etag: str, versioned: bool, make) -> HttpResponse:
    if _not_modified(request, etag):
        return _finish(HttpResponseNotModified(), etag=etag, versioned=versioned)
    return _finish(make(), etag=etag, versioned=versioned)


@require_safe
def vendor_file(request, name):
    """``/vendor/<name>``: ``branding.json`` or one of the three images; any other name is 404."""
    connector = request.portal_connector
    if name == BRANDING_JSON:
        body = json.dumps(branding_of(connector), ensure_ascii=False).encode()
        return _respond(
            request,
            etag=_etag(hashlib.sha256(body).hexdigest()),
            versioned=False,
            make=lambda: HttpResponse(body, content_type="application/json"),
        )
    if name not in ASSET_NAMES:
        raise Http404("No such file.")
    asset = assets_of(connector).get(name)
    version = request.GET.get("v")
    if asset is None:
        data, digest = asset_default(name)
        return _respond(
            request,
            etag=_etag(digest),
            versioned=version == DEFAULT_VERSION,
            make=lambda: HttpResponse(data, content_type=DEFAULT_ASSET_TYPES[name]),
        )

    def stream() -> FileResponse:
        try:
            file = asset_storage().open(asset.storage_name, "rb")
        except FileNotFoundError:
            raise Http404("No such file.") from None
        response = FileResponse(file, content_type=asset.content_type)
        response["Content-Length"] = str(asset.size)
        return response

    return _respond(request, etag=_etag(asset.sha256), versioned=version == asset.sha256[:12], make=stream)


@require_safe
def theme_css(request):
    """``/theme.css``: the branding's colours as CSS custom properties (``portal.theme``)."""
    connector = request.portal_connector
    css = theme_css_text(branding_of(connector)).encode()
    current = theme_css_url(connector).partition("?v=")[2]
    return _respond(
        request,
        etag=_etag(hashlib.sha256(css).hexdigest()),
        versioned=request.GET.get("v") == current,
        make=lambda: HttpResponse(css, content_type="text/css; charset=utf-8"),
    )
