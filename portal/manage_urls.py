"""Web UI routes of the Portal tab, under ``/connectors/`` (``portal.manage_views``)."""

from django.urls import path

from portal import manage_views as views

app_name = "portal-manage"

_portal = "<segment:connector_id>/portal/"
_asset = _portal + "images/<str:asset_name>/"

urlpatterns = [
    path(_portal, views.portal_page, name="portal"),
    path(_portal + "qr.svg", views.claim_qr, name="claim-qr"),
    path(_portal + "branding/", views.branding_save, name="branding-save"),
    path(_portal + "branding/reset/", views.branding_reset, name="branding-reset"),
    path(_portal + "branding.json", views.branding_download, name="branding-download"),
    path(_portal + "branding/upload/", views.branding_upload, name="branding-upload"),
    path(_portal + "preview/", views.landing_preview, name="preview"),
    path(_portal + "preview/theme.css", views.preview_theme, name="preview-theme"),
    path(_asset, views.asset_upload, name="asset-upload"),
    path(_asset + "restore/", views.asset_restore, name="asset-restore"),
    path(_portal + "email/", views.email_save, name="email-save"),
    path(_portal + "email/reset/", views.email_reset, name="email-reset"),
    path(_portal + "email/test/", views.email_test, name="email-test"),
    path(_portal + "email/preview/", views.email_preview, name="email-preview"),
]
