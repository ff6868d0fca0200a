"""What the portal's pages show: the context every page gets (branding, who is logged in, their
firmware notices) and small read-only views of devices for the templates.

Pages render through ``render_page`` so that the base template (``portal/base.html``) always has
``branding``, ``asset_urls``, ``theme_css_url``, ``portal_connector``, ``end_user`` and
``notices``. The Portal tab's live preview renders ``portal/landing.html`` from ``preview_context``
instead (no request, no user)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from connectors.models import Connector
from portal.branding import asset_urls, branding_of, theme_css_url
from portal.notices import notices_for
from portal.security import portal_csp
from portal.sessions import page_end_user


def branding_context(connector: Connector) -> dict:
    """The branding part of a page's context (also what a preview needs)."""
    return {
        "branding": branding_of(connector),
        "asset_urls": asset_urls(connector),
        "theme_css_url": theme_css_url(connector),
        "portal_connector": connector,
    }


def preview_context(connector: Connector) -> dict:
    """The context of a page rendered without a request (the Portal tab's preview)."""
    return {**branding_context(connector), "end_user": None, "notices": [], "preview": True}


def page_context(request: HttpRequest) -> dict:
    """The context every portal page gets."""
    user = page_end_user(request)
    return {
        **branding_context(request.portal_connector),
        "end_user": user,
        "notices": notices_for(user) if user is not None else [],
        "preview": False,
    }


def render_page(
    request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200
) -> HttpResponse:
    """A portal page: ``template`` with the page context and ``context``, under the portal's
    Content-Security-Policy."""
    return portal_csp(render(request, template, {**page_context(request), **(context or {})}, status=status))
