"""The portal's JSON API (shared/docs/claiming-and-portal.md), under ``api/`` of a portal host."""

from django.urls import path

from claiming.api import portal

app_name = "portal-api"

urlpatterns = [
    path("session", portal.SessionView.as_view(), name="session"),
    path("devices", portal.DeviceListView.as_view(), name="device-list"),
    path("claim", portal.ClaimView.as_view(), name="claim"),
    path("devices/<path:identity>/state", portal.DeviceStateView.as_view(), name="device-state"),
    path("devices/<path:identity>/history", portal.DeviceHistoryView.as_view(), name="device-history"),
    path("devices/<path:identity>", portal.DeviceView.as_view(), name="device"),
    path("firmware", portal.FirmwareListView.as_view(), name="firmware-list"),
    path("firmware/update", portal.FirmwareUpdateView.as_view(), name="firmware-update"),
]
