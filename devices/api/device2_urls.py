from django.urls import path

from devices.api import device2
from murano import api as _converters  # noqa: F401  (registers <segment:> and <rest:>)

app_name = "device2"

_identity = "service/<segment:connector_id>/device2/identity/<segment:identity>"

urlpatterns = [
    path(_identity, device2.Device2IdentityView.as_view(), name="identity"),
    path(_identity + "/state", device2.Device2StateView.as_view(), name="identity-state"),
]
