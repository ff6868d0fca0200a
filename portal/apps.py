from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The branded end-user portal of claiming connectors: its pages, branding and firmware
    notices. Follows other apps through hooks (connected in ``ready``)."""

    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        # Each receiver is connected on its own line (helpers add theirs).
        from claiming.hooks import welcome_email_compose
        from connectors.hooks import connector_deleting
        from portal import services as branding_services

        welcome_email_compose.connect(branding_services.welcome_email_compose)
        connector_deleting.connect(branding_services.assets_discard_on_commit)

        from connectors.hooks import package_uploaded
        from portal.notices import firmware_package_uploaded

        package_uploaded.connect(firmware_package_uploaded)  # owners hear of newer firmware
