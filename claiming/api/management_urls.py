"""Management API routes of claiming, under ``/api/v1/`` (claiming.api.management)."""

from django.urls import path

from claiming.api import management as views

app_name = "claiming-api"

_connector = "connectors/<segment:connector_id>/"
_user = _connector + "end-users/<int:user_id>/"
_claim = _connector + "devices/<segment:identity>/claim/"

urlpatterns = [
    path(_connector + "end-users/", views.EndUserListView.as_view(), name="end-user-list"),
    path(_user, views.EndUserDetailView.as_view(), name="end-user-detail"),
    path(_user + "password/", views.EndUserPasswordView.as_view(), name="end-user-password"),
    path(_claim, views.ClaimInfoView.as_view(), name="claim-info"),
    path(_claim + "qr.svg", views.ClaimQrSvgView.as_view(), name="claim-qr-svg"),
    path(_claim + "qr.png", views.ClaimQrPngView.as_view(), name="claim-qr-png"),
    path(_connector + "claim-codes/", views.ClaimCodesView.as_view(), name="claim-codes"),
    path(_connector + "claim-codes.csv", views.ClaimCodesCsvView.as_view(), name="claim-codes-csv"),
]
