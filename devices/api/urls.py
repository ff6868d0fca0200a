from django.urls import path

from devices.api import imports, views

app_name = "devices-api"

_device = "connectors/<segment:connector_id>/devices/<segment:identity>/"

urlpatterns = [
    path("connectors/<segment:connector_id>/devices/", views.DeviceListView.as_view(), name="device-list"),
    path(
        "connectors/<segment:connector_id>/devices/import/",
        imports.DeviceImportView.as_view(),
        name="device-import",
    ),
    path(_device, views.DeviceDetailView.as_view(), name="device-detail"),
    path(_device + "state/", views.DeviceStateView.as_view(), name="device-state"),
    path(_device + "history/", views.DeviceHistoryView.as_view(), name="device-history"),
    path(_device + "history.csv", views.DeviceHistoryCsvView.as_view(), name="device-history-csv"),
]
