from django.urls import path

from firmware.api import views

app_name = "firmware-api"

_firmware = "connectors/<segment:connector_id>/firmware/"

urlpatterns = [
    path(_firmware + "update/", views.FirmwareUpdateView.as_view(), name="firmware-update"),
    path(_firmware + "packages/", views.PackageListView.as_view(), name="package-list"),
    path(_firmware + "rollouts/", views.RolloutListView.as_view(), name="rollout-list"),
    path(_firmware + "rollouts/<int:rollout_id>/", views.RolloutDetailView.as_view(), name="rollout-detail"),
    path(
        _firmware + "rollouts/<int:rollout_id>/devices/",
        views.RolloutDeviceListView.as_view(),
        name="rollout-devices",
    ),
    path(
        _firmware + "devices/<segment:identity>/", views.DeviceFirmwareView.as_view(), name="device-firmware"
    ),
]
