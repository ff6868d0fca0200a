from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The branded end-user portal; pages arrive with the portal issue."""

    name = "portal"
    verbose_name = "Portal"
