from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The branded end-user portal of claiming connectors: its pages, branding and firmware
    notices. Follows other apps through hooks (connected in ``ready``)."""

    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        # Each receiver is connected on its own line (helpers add theirs).
        from connectors.hooks import package_uploaded
        from portal.notices import firmware_package_uploaded

        package_uploaded.connect(firmware_package_uploaded)  # owners hear of newer firmware
