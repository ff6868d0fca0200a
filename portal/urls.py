"""The URLs of a portal host (``portal.middleware``): the portal's JSON API under ``api/``.
Nothing of the platform is routed here."""

from django.urls import include, path

from portal import views

handler400 = views.bad_request
handler404 = views.page_not_found
handler500 = views.server_error

urlpatterns = [
    path("api/", include("claiming.api.portal_urls")),
]
