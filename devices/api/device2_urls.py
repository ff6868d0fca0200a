from django.urls import path

from devices.api import device2

app_name = "device2"

_identity = "service/<str:connector_id>/device2/identity/<str:identity>"

urlpatterns = [
    path(_identity, device2.Device2IdentityView.as_view(), name="identity"),
    path(_identity + "/state", device2.Device2StateView.as_view(), name="identity-state"),
]
