"""Management API routes of the portal, under ``/api/v1/`` (portal.api.views)."""

from django.urls import path

from portal.api import views

app_name = "portal-api"

_portal = "connectors/<segment:connector_id>/portal/"

urlpatterns = [
    path(_portal + "branding/", views.BrandingView.as_view(), name="branding"),
    path(_portal + "assets/<str:asset_name>", views.AssetView.as_view(), name="asset"),
    path(_portal + "email-template/", views.EmailTemplateView.as_view(), name="email-template"),
]
