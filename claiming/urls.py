"""Web UI routes of claiming, under ``/connectors/``: the End Users tab, a device's claim QR
image, the printable sheet of claim labels and the claim code generation page."""

app_name = "claiming"

urlpatterns: list = []
