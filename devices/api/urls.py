from django.urls import path

from devices.api import views

app_name = "devices-api"

_device = "connectors/<str:connector_id>/devices/<str:identity>/"

urlpatterns = [
    path("connectors/<str:connector_id>/devices/", views.DeviceListView.as_view(), name="device-list"),
    path(_device, views.DeviceDetailView.as_view(), name="device-detail"),
    path(_device + "state/", views.DeviceStateView.as_view(), name="device-state"),
    path(_device + "history/", views.DeviceHistoryView.as_view(), name="device-history"),
]
