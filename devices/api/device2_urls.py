from django.urls import path

from devices.api import device2, imports

app_name = "device2"

_device2 = "service/<segment:connector_id>/device2"
_identity = _device2 + "/identity/<segment:identity>"

urlpatterns = [
    path(_device2, device2.Device2GatewayView.as_view(), name="gateway"),
    path(_device2 + "/identity/", device2.Device2IdentityListView.as_view(), name="identity-list"),
    path(
        "service/<segment:connector_id>/device2/identities",
        imports.Device2IdentitiesView.as_view(),
        name="identities",
    ),
    path(_identity, device2.Device2IdentityView.as_view(), name="identity"),
    path(_identity + "/state", device2.Device2StateView.as_view(), name="identity-state"),
]
