"""Web UI routes of devices: the Devices and Logs tabs and the device page (under ``/connectors/``)."""

from django.urls import path

from devices import views

app_name = "devices"

_device = "<segment:connector_id>/devices/<segment:identity>/"

urlpatterns = [
    path("<segment:connector_id>/devices/", views.device_list, name="device-list"),
    # Beside ``devices/``, not under it: any text may be an identity (``devices/<identity>/``).
    path("<segment:connector_id>/device-changes/", views.device_bulk, name="device-bulk"),
    path("<segment:connector_id>/devices.csv", views.device_export, name="device-export"),
    path("<segment:connector_id>/logs/", views.logs_page, name="logs"),
    path(_device, views.device_detail, name="device-detail"),
    path(_device + "lock/", views.device_lock, name="device-lock"),
    path(_device + "revoke/", views.device_revoke, name="device-revoke"),
    path(_device + "delete/", views.device_delete, name="device-delete"),
    path(_device + "tags/", views.device_tags, name="device-tags"),
    path(_device + "certificate/", views.device_certificate, name="device-certificate"),
    path(_device + "certificate/clear/", views.device_certificate_clear, name="device-certificate-clear"),
    path(_device + "state/", views.device_state_form, name="device-state"),
]
