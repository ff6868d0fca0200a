"""The URLs of a portal host (``portal.middleware``): the portal's JSON API under ``api/``.
Nothing of the platform is routed here."""

from django.urls import include, path

from core import api

handler400 = api.bad_request
handler404 = api.page_not_found
handler500 = api.server_error

urlpatterns = [
    path("api/", include("claiming.api.portal_urls")),
]
